//! The detectors kept up to date block by block, for the live watch (issue #8: detectors run
//! incrementally per block).
//!
//! [`Incremental`] takes each block's new flows and redoes only what they touch: the fan,
//! structuring and mixer groups of the addresses they name, the peel chains they link, the
//! rapid runs they join, and the gather-scatters of the fans that changed. Its detections are
//! [`detect_all`](crate::detect_all)'s over every flow pushed, the same in the same order
//! (tested on random flows split into blocks, and along live traces by `tracehound bench
//! live`).
//!
//! What makes that possible is what holds of real chains: each push's flows are later than
//! every flow of their chain pushed before (a new block), and a tx id names one tx (its flows
//! are on one chain, at one height). Every detector then depends only on each chain's flows in
//! chain order, and a new block only adds to the end of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tracehound_trace::link::LinkKind;

use crate::PatternsError;
use crate::detect::{
    Config, Detection, Fan, FanWindow, Peel, Side, StructuringKey, coinjoin, counts_in_fans,
    gather_scatter_at, in_structuring_band, is_mixer_category, link_hop, mixer_link,
    mixer_payments, peel_chain_of, peel_links, rank, rapid_link, rapid_reported, rapid_run,
    scatter_gather_of, structured, unseen_hop,
};
use crate::graph::{Flow, FlowGraph, sort_flows, steps_of};

/// A chain and an address on it.
type At = (String, String);

/// Detections over a growing set of flows, updated per push. See the module docs.
#[derive(Debug)]
pub struct Incremental {
    config: Config,
    /// Every flow pushed: each chain's in chain order (pushes interleave chains).
    flows: Vec<Flow>,
    /// The highest height pushed, per chain.
    tips: HashMap<String, u64>,
    categories: HashMap<At, String>,
    coinjoins: HashMap<String, String>,
    /// Every flow by its payer (a scatter-gather reads what its payees paid on).
    by_payer: HashMap<At, Vec<usize>>,
    fan_windows: HashMap<(Side, At), FanWindow>,
    fans: HashMap<(Side, At), (Fan, Arc<Detection>)>,
    /// Gather-scatters, by hub.
    gathers: HashMap<At, Arc<Detection>>,
    /// Scatter-gathers, by the fan-out's payer.
    scatters: HashMap<At, Vec<Arc<Detection>>>,
    /// Fan-outs (by payer) that each address was scattered to, with the last height a flow
    /// out of it may gather for them.
    scattered_to: HashMap<At, HashMap<At, u64>>,
    peels: HashMap<String, PeelChains>,
    rapid: RapidRuns,
    /// Flows not carried by a mixer link, by payee: payments into a mixer once it is labeled.
    by_payee: HashMap<At, Vec<usize>>,
    mixer_payments: HashMap<At, Arc<Detection>>,
    /// Mixer links and CoinJoins: a tx's flows come in one push, so each is found once.
    mixer_txs: Vec<Arc<Detection>>,
    link_hops: Vec<Arc<Detection>>,
    /// Each chain's first flow.
    firsts: BTreeMap<String, usize>,
    bridged: bool,
    structuring: HashMap<StructuringKey, Vec<usize>>,
    structured: HashMap<StructuringKey, Arc<Detection>>,
}

/// What a push touched, to be found again.
#[derive(Default)]
struct Touched {
    fans: BTreeSet<(Side, At)>,
    /// Hubs whose fan-in or fan-out changed.
    hubs: BTreeSet<At>,
    /// Fan-outs (by payer) whose scatter-gathers may have changed.
    scatters: BTreeSet<At>,
    mixers: BTreeSet<At>,
    structuring: BTreeSet<StructuringKey>,
}

impl Incremental {
    /// No flows yet.
    pub fn new(config: Config) -> Incremental {
        Incremental {
            config,
            flows: Vec::new(),
            tips: HashMap::new(),
            categories: HashMap::new(),
            coinjoins: HashMap::new(),
            by_payer: HashMap::new(),
            fan_windows: HashMap::new(),
            fans: HashMap::new(),
            gathers: HashMap::new(),
            scatters: HashMap::new(),
            scattered_to: HashMap::new(),
            peels: HashMap::new(),
            rapid: RapidRuns::default(),
            by_payee: HashMap::new(),
            mixer_payments: HashMap::new(),
            mixer_txs: Vec::new(),
            link_hops: Vec::new(),
            firsts: BTreeMap::new(),
            bridged: false,
            structuring: HashMap::new(),
            structured: HashMap::new(),
        }
    }

    /// The flows pushed so far (each chain's in chain order).
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The highest height pushed on `chain`.
    pub fn tip(&self, chain: &str) -> Option<u64> {
        self.tips.get(chain).copied()
    }

    /// Adds new blocks: `batch.flows` are the new flows, each above every height pushed before
    /// on its chain; `batch.categories` are the label categories known now, of every address
    /// (they replace the ones before: an address may gain or lose one); `batch.coinjoins` flag
    /// the batch's own txs. Refused, with nothing changed, when a flow is not above its
    /// chain's last push.
    pub fn push(&mut self, mut batch: FlowGraph) -> Result<(), PatternsError> {
        for f in &batch.flows {
            if let Some(&tip) = self.tips.get(&f.chain)
                && f.height <= tip
            {
                return Err(PatternsError::OutOfOrder {
                    chain: f.chain.clone(),
                    height: f.height,
                    tip,
                });
            }
        }
        sort_flows(&mut batch.flows);
        let start = self.flows.len();
        self.flows.append(&mut batch.flows);
        self.coinjoins.extend(batch.coinjoins);
        let mut touched = Touched::default();
        for (at, category) in &batch.categories {
            if self.categories.get(at) != Some(category) {
                touched.mixers.insert(at.clone());
            }
        }
        for at in self.categories.keys() {
            if !batch.categories.contains_key(at) {
                touched.mixers.insert(at.clone());
            }
        }
        self.categories = batch.categories;
        self.index(start, &mut touched);
        self.link_peels(start);
        self.rapid.push(&self.flows, start, &self.config);
        self.refresh(touched);
        Ok(())
    }

    /// Every detection, as [`detect_all`](crate::detect_all) lists them (shared: the list is
    /// made again after every push, its detections mostly not).
    pub fn detections(&self) -> Vec<Arc<Detection>> {
        let mut out: Vec<Arc<Detection>> = self
            .peels
            .values()
            .flat_map(|p| p.found.values())
            .chain(self.gathers.values())
            .chain(self.scatters.values().flatten())
            .chain(self.fans.values().map(|(_, d)| d))
            .chain(self.rapid.found.values().flatten())
            .chain(self.mixer_payments.values())
            .chain(&self.mixer_txs)
            .chain(&self.link_hops)
            .chain(self.structured.values())
            .cloned()
            .collect();
        let firsts: BTreeMap<&str, &Flow> = self
            .firsts
            .iter()
            .map(|(c, &i)| (c.as_str(), &self.flows[i]))
            .collect();
        out.extend(unseen_hop(&firsts, self.bridged).map(Arc::new));
        rank(&mut out);
        out
    }

    /// Files each new flow in the groups it joins, noting which it changed.
    fn index(&mut self, start: usize, touched: &mut Touched) {
        let c = &self.config;
        let mut mixer_links: BTreeMap<&str, Vec<&Flow>> = BTreeMap::new();
        let mut joins: BTreeMap<&str, Vec<&Flow>> = BTreeMap::new();
        for (i, f) in self.flows.iter().enumerate().skip(start) {
            let tip = self.tips.entry(f.chain.clone()).or_insert(f.height);
            *tip = (*tip).max(f.height);
            let payer = (f.chain.clone(), f.from.clone());
            let payee = (f.chain.clone(), f.to.clone());
            self.by_payer.entry(payer.clone()).or_default().push(i);
            if counts_in_fans(f) {
                for (side, at) in [(Side::Out, &payer), (Side::In, &payee)] {
                    let key = (side, at.clone());
                    if self.fan_windows.entry(key.clone()).or_default().push(
                        &self.flows,
                        i,
                        side,
                        c,
                    ) {
                        touched.fans.insert(key);
                    }
                }
            }
            if let Some(fan_outs) = self.scattered_to.get(&payer) {
                for (fan_out, &until) in fan_outs {
                    if f.height <= until {
                        touched.scatters.insert(fan_out.clone());
                    }
                }
            }
            if f.link == Some(LinkKind::Mixer) {
                mixer_links.entry(&f.tx).or_default().push(f);
            } else {
                self.by_payee.entry(payee.clone()).or_default().push(i);
                touched.mixers.insert(payee);
            }
            if self.coinjoins.contains_key(&f.tx) {
                joins.entry(&f.tx).or_default().push(f);
            }
            if let Some(d) = link_hop(f) {
                self.link_hops.push(Arc::new(d));
            }
            self.bridged |= f.link == Some(LinkKind::Bridge);
            self.firsts.entry(f.chain.clone()).or_insert(i);
            if in_structuring_band(f, c) {
                for key in [
                    (f.chain.clone(), f.asset.clone(), f.from.clone(), true),
                    (f.chain.clone(), f.asset.clone(), f.to.clone(), false),
                ] {
                    self.structuring.entry(key.clone()).or_default().push(i);
                    touched.structuring.insert(key);
                }
            }
        }
        for (tx, fs) in mixer_links {
            self.mixer_txs.push(Arc::new(mixer_link(tx, &fs)));
        }
        for (tx, fs) in joins {
            let why = self.coinjoins.get(tx).map_or("", String::as_str);
            self.mixer_txs.push(Arc::new(coinjoin(tx, &fs, why)));
        }
    }

    /// Links the new flows' peeling spends, chain by chain.
    fn link_peels(&mut self, start: usize) {
        let mut by_chain: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, f) in self.flows.iter().enumerate().skip(start) {
            by_chain.entry(&f.chain).or_default().push(i);
        }
        for (chain, idx) in by_chain {
            let steps = steps_of(&self.flows, idx);
            self.peels
                .entry(chain.to_string())
                .or_default()
                .push(&self.flows, steps, &self.config);
        }
    }

    /// Finds again what the push touched: fans first, then what is made of them.
    fn refresh(&mut self, mut touched: Touched) {
        let c = &self.config;
        for key in std::mem::take(&mut touched.fans) {
            let (side, at) = &key;
            let fan = self.fan_windows[&key].fan(&self.flows, *side, c);
            if *side == Side::Out {
                if let Some((_, old)) = self.fans.get(&key) {
                    for payee in old.addresses.iter().skip(1) {
                        let payee = (at.0.clone(), payee.clone());
                        if let Some(set) = self.scattered_to.get_mut(&payee) {
                            set.remove(at);
                        }
                    }
                }
                if let Some(fan) = &fan {
                    let until = fan.span.1 + c.gather_window;
                    for &i in &fan.idx {
                        let payee = (at.0.clone(), self.flows[i].to.clone());
                        self.scattered_to
                            .entry(payee)
                            .or_default()
                            .insert(at.clone(), until);
                    }
                }
                touched.scatters.insert(at.clone());
            }
            touched.hubs.insert(at.clone());
            match fan {
                Some(fan) => {
                    let d = Arc::new(fan.detection(&self.flows));
                    self.fans.insert(key, (fan, d));
                }
                None => {
                    self.fans.remove(&key);
                }
            }
        }
        for hub in touched.hubs {
            let fi = self.fans.get(&(Side::In, hub.clone()));
            let fo = self.fans.get(&(Side::Out, hub.clone()));
            let found = fi
                .zip(fo)
                .and_then(|((fi, fid), (fo, fod))| gather_scatter_at((fi, fid), (fo, fod), c));
            set(&mut self.gathers, hub, found.map(Arc::new));
        }
        for payer in touched.scatters {
            let found = match self.fans.get(&(Side::Out, payer.clone())) {
                Some((fo, fod)) => {
                    let (o0, o1) = fo.span;
                    let until = o1 + c.gather_window;
                    let mut later: Vec<usize> = Vec::new();
                    for payee in fod.addresses.iter().skip(1) {
                        let Some(out) = self.by_payer.get(&(payer.0.clone(), payee.clone())) else {
                            continue;
                        };
                        // Each payer's flows are in chain order: the window is one slice.
                        let lo = out.partition_point(|&i| self.flows[i].height < o0);
                        let hi = out.partition_point(|&i| self.flows[i].height <= until);
                        later.extend(&out[lo..hi.max(lo)]);
                    }
                    later.sort_unstable();
                    let found =
                        scatter_gather_of((fo, fod), later.iter().map(|&i| &self.flows[i]), c);
                    (!found.is_empty()).then(|| found.into_iter().map(Arc::new).collect())
                }
                None => None,
            };
            set(&mut self.scatters, payer, found);
        }
        for at in touched.mixers {
            let category = self.categories.get(&at).map(String::as_str);
            let found = match self.by_payee.get(&at) {
                Some(idx) if is_mixer_category(category) => {
                    let fs: Vec<&Flow> = idx.iter().map(|&i| &self.flows[i]).collect();
                    Some(Arc::new(mixer_payments(
                        &at.0,
                        &at.1,
                        &fs,
                        category.unwrap_or("mixer"),
                    )))
                }
                _ => None,
            };
            set(&mut self.mixer_payments, at, found);
        }
        for key in touched.structuring {
            let fs: Vec<&Flow> = self.structuring[&key]
                .iter()
                .map(|&i| &self.flows[i])
                .collect();
            let found = structured((&key.0, &key.1, &key.2, key.3), &fs, c);
            set(&mut self.structured, key, found.map(Arc::new));
        }
    }
}

/// Puts or removes `key`'s finding.
fn set<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, found: Option<V>) {
    match found {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

/// One chain's peeling spends and how they link, as [`peel_chains`](crate::detect::peel_chains)
/// links them: each takes the first later peel by its change's payee that nothing took yet.
#[derive(Debug, Default)]
struct PeelChains {
    peels: Vec<Peel>,
    next: Vec<Option<usize>>,
    has_prev: Vec<bool>,
    /// The first peel of the chain each peel is on.
    start_of: Vec<usize>,
    by_payer: HashMap<String, Vec<usize>>,
    /// Unlinked peels by the payee of their change: a new peel by it may link them.
    waiting: HashMap<String, Vec<usize>>,
    /// Chains long enough, by their first peel.
    found: HashMap<usize, Arc<Detection>>,
}

impl PeelChains {
    fn push(&mut self, flows: &[Flow], steps: Vec<crate::Step>, c: &Config) {
        let first = self.peels.len();
        for p in steps.into_iter().filter_map(|s| Peel::of(flows, s, c)) {
            let i = self.peels.len();
            self.by_payer.entry(p.from.clone()).or_default().push(i);
            self.peels.push(p);
            self.next.push(None);
            self.has_prev.push(false);
            self.start_of.push(i);
        }
        if self.peels.len() == first {
            return;
        }
        // Who may link now, in the order the full detector links them: unlinked peels whose
        // change a new peel spends, and the new peels. An older peel cannot be the next of
        // either: those were all taken or ruled out when the older unlinked ones were looked
        // at, and the new ones are later than all of them.
        let mut todo: BTreeSet<usize> = (first..self.peels.len()).collect();
        for j in first..self.peels.len() {
            if let Some(w) = self.waiting.remove(&self.peels[j].from) {
                todo.extend(w);
            }
        }
        let mut starts: BTreeSet<usize> = BTreeSet::new();
        for &i in &todo {
            let to = &flows[self.peels[i].large].to;
            let j = self.by_payer.get(to).and_then(|js| {
                let from = js.partition_point(|&j| j < first);
                js[from..]
                    .iter()
                    .find(|&&j| {
                        j != i && self.peels[j].follows(&self.peels[i]) && !self.has_prev[j]
                    })
                    .copied()
            });
            match j {
                Some(j) => {
                    self.next[i] = Some(j);
                    self.has_prev[j] = true;
                    if i < first {
                        starts.insert(self.start_of[i]);
                    }
                }
                None => self.waiting.entry(to.clone()).or_default().push(i),
            }
        }
        starts.extend((first..self.peels.len()).filter(|&j| !self.has_prev[j]));
        for start in starts {
            let links = peel_links(start, &self.next);
            for &k in &links {
                self.start_of[k] = start;
            }
            set(
                &mut self.found,
                start,
                peel_chain_of(flows, &self.peels, &links, c).map(Arc::new),
            );
        }
    }
}

/// Rapid runs over every chain, grouped into parts that share no tx (runs sharing a flow or
/// a tx are in one part): which runs are reported depends only on the others in their part,
/// so a push finds again only the parts its flows joined.
#[derive(Debug, Default)]
struct RapidRuns {
    /// Flows by (chain, payee): what arrived at an address.
    arrivals: HashMap<At, Vec<usize>>,
    len: Vec<usize>,
    pred: Vec<Option<usize>>,
    is_pred: Vec<bool>,
    /// Union-find over flows.
    parent: Vec<usize>,
    size: Vec<usize>,
    /// A flow of each tx, by (chain, tx).
    tx_flow: HashMap<At, usize>,
    /// Per part (by root): its flows long enough to end a reported run.
    long: HashMap<usize, Vec<usize>>,
    /// Per part (by root): its runs reported.
    found: HashMap<usize, Vec<Arc<Detection>>>,
    /// Each flow's tx, as the first flow of it.
    tx_of: Vec<usize>,
    /// Runs reported, by their last flow (a run ending at a flow never changes).
    runs: HashMap<usize, Arc<Detection>>,
}

impl RapidRuns {
    fn push(&mut self, flows: &[Flow], start: usize, c: &Config) {
        let mut joined = Vec::new();
        for (i, f) in flows.iter().enumerate().skip(start) {
            self.len.push(1);
            self.pred.push(None);
            self.is_pred.push(false);
            self.parent.push(i);
            self.size.push(1);
            joined.push(i);
            let first = *self
                .tx_flow
                .entry((f.chain.clone(), f.tx.clone()))
                .or_insert(i);
            self.tx_of.push(first);
            self.union(i, first);
            if f.from == f.to {
                // No hop, but a run of one when runs of one count.
                if c.rapid_min_hops <= 1 {
                    let root = self.find(i);
                    self.long.entry(root).or_default().push(i);
                }
                continue;
            }
            let payer = (f.chain.clone(), f.from.clone());
            if let Some(ins) = self.arrivals.get(&payer) {
                (self.len[i], self.pred[i]) = rapid_link(flows, &self.len, ins, i, c);
            }
            if let Some(p) = self.pred[i] {
                self.is_pred[p] = true;
                self.union(i, p);
            }
            if self.len[i] >= c.rapid_min_hops {
                let root = self.find(i);
                self.long.entry(root).or_default().push(i);
            }
            self.arrivals
                .entry((f.chain.clone(), f.to.clone()))
                .or_default()
                .push(i);
        }
        let roots: BTreeSet<usize> = joined.into_iter().map(|i| self.find(i)).collect();
        for root in roots {
            let mut ends: Vec<usize> = self
                .long
                .get(&root)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| !self.is_pred[i])
                .collect();
            ends.sort_unstable_by_key(|&i| (std::cmp::Reverse(self.len[i]), i));
            let reported = rapid_reported(&self.pred, &ends, |i| self.tx_of[i]);
            let runs: Vec<Arc<Detection>> = reported
                .into_iter()
                .map(|end| {
                    self.runs
                        .entry(end)
                        .or_insert_with(|| Arc::new(rapid_run(flows, &self.pred, end, c)))
                        .clone()
                })
                .collect();
            set(&mut self.found, root, (!runs.is_empty()).then_some(runs));
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// Joins two parts (the caller finds the runs of the joined part again).
    fn union(&mut self, a: usize, b: usize) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra] < self.size[rb] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra;
        self.size[ra] += self.size[rb];
        if let Some(mut long) = self.long.remove(&rb) {
            self.long.entry(ra).or_default().append(&mut long);
        }
        self.found.remove(&rb);
    }
}
