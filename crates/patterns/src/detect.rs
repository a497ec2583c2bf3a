//! The detectors. Each reads a [`FlowGraph`] and returns [`Detection`]s naming their txs and
//! addresses, with an integer score 0–100 and a one-line explanation with the figures.
//!
//! The rules follow the typologies of the AML literature and of analysts' public write-ups
//! (FATF's red-flag indicators for virtual assets, 2020; Möser and Narayanan's peel-chain and
//! change studies; the "layering" typologies: smurfing, fan-out/fan-in, pass-through
//! accounts). Thresholds are integers in [`Config`]; every score formula is in the detector's
//! docs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use tracehound_trace::link::LinkKind;

use crate::graph::{Flow, FlowGraph, Step};

/// A pattern kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Small payments peeled off a large balance that moves on as change, hop after hop.
    PeelChain,
    /// One source to many destinations.
    FanOut,
    /// Many sources into one.
    FanIn,
    /// Fan-in, then fan-out through one address.
    GatherScatter,
    /// Fan-out, then the destinations fan back in to one address.
    ScatterGather,
    /// Value leaving within a few blocks of arriving, several hops in a row.
    RapidHops,
    /// Value into a mixer, CoinJoin or privacy pool.
    Mixer,
    /// Value crossing chains (bridge) or assets (swap), or a trace spanning two chains.
    ChainHop,
    /// Several amounts just below a reporting threshold.
    Structuring,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 9] = [
        Kind::PeelChain,
        Kind::FanOut,
        Kind::FanIn,
        Kind::GatherScatter,
        Kind::ScatterGather,
        Kind::RapidHops,
        Kind::Mixer,
        Kind::ChainHop,
        Kind::Structuring,
    ];

    /// The name used in JSON, tables and endpoint tags.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PeelChain => "peel_chain",
            Kind::FanOut => "fan_out",
            Kind::FanIn => "fan_in",
            Kind::GatherScatter => "gather_scatter",
            Kind::ScatterGather => "scatter_gather",
            Kind::RapidHops => "rapid_hops",
            Kind::Mixer => "mixer",
            Kind::ChainHop => "chain_hop",
            Kind::Structuring => "structuring",
        }
    }
}

/// One pattern found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// What kind.
    pub kind: Kind,
    /// How strongly it matches, 0–100.
    pub score: u8,
    /// Chain (the first, for chain hops).
    pub chain: String,
    /// Its txs, in chain order.
    pub txs: Vec<String>,
    /// Its addresses (source first for fan-out, target last for fan-in, in order for chains).
    pub addresses: Vec<String>,
    /// One line with the figures.
    pub explanation: String,
}

/// The detectors' thresholds (all integers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Peel chain: fewest links (peeling spends) in a row.
    pub peel_min_links: usize,
    /// Peel chain: the peeled payment is at most this percent of the spend.
    pub peel_max_percent: u128,
    /// Fan-out / fan-in: fewest distinct counterparties.
    pub fan_min: usize,
    /// Fan-out / fan-in: window in blocks.
    pub fan_window: u64,
    /// Gather-scatter / scatter-gather: most blocks between the two halves.
    pub gather_window: u64,
    /// Scatter-gather: fewest scattered addresses that gather again.
    pub scatter_gather_min: usize,
    /// Rapid hops: value leaves within this many blocks of arriving.
    pub rapid_blocks: u64,
    /// Rapid hops: fewest consecutive hops.
    pub rapid_min_hops: usize,
    /// Structuring: thresholds in base units by `chain:asset`, or by `asset` for any chain.
    pub thresholds: BTreeMap<String, u128>,
    /// Structuring: "just below" means within this percent under the threshold.
    pub structuring_band_percent: u128,
    /// Structuring: fewest such amounts by one payer or to one payee.
    pub structuring_min: usize,
}

/// Default structuring thresholds: 10 coins of 8 decimals (LTC, BTC) on the simulator's
/// Litecoin and on Bitcoin, 10 ether on the simulator's EVM chain. With no prices, a fiat
/// threshold cannot be used; give others with `--threshold CHAIN:ASSET=UNITS`.
pub const DEFAULT_THRESHOLDS: [(&str, u128); 4] = [
    ("litecoin-regtest:native", 1_000_000_000),
    ("bitcoin:native", 1_000_000_000),
    ("litecoin:native", 1_000_000_000),
    ("evm-31337:native", 10_000_000_000_000_000_000),
];

impl Default for Config {
    fn default() -> Config {
        Config {
            peel_min_links: 3,
            peel_max_percent: 25,
            fan_min: 5,
            fan_window: 6,
            gather_window: 200,
            scatter_gather_min: 3,
            rapid_blocks: 3,
            rapid_min_hops: 3,
            thresholds: DEFAULT_THRESHOLDS
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            structuring_band_percent: 10,
            structuring_min: 3,
        }
    }
}

impl Config {
    /// The structuring threshold of `asset` on `chain`, if one is set.
    pub fn threshold(&self, chain: &str, asset: &str) -> Option<u128> {
        self.thresholds
            .get(&format!("{chain}:{asset}"))
            .or_else(|| self.thresholds.get(asset))
            .copied()
    }
}

/// Runs every detector, strongest first.
pub fn detect_all(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let mut out = Vec::new();
    out.extend(peel_chains(g, c));
    let fo = fans(&g.flows, c, Side::Out);
    let fi = fans(&g.flows, c, Side::In);
    out.extend(gather_scatter_of_fans(g, c, &fi, &fo));
    out.extend(fo.into_iter().map(|(_, d)| d));
    out.extend(fi.into_iter().map(|(_, d)| d));
    out.extend(rapid_hops(g, c));
    out.extend(mixer_use(g));
    out.extend(chain_hops(g));
    out.extend(structuring(g, c));
    rank(&mut out);
    out
}

/// Orders detections strongest first; ties in a fixed order (kind, txs, then the rest), so
/// the same flows always list the same detections the same way, however they were found.
pub(crate) fn rank<D: std::borrow::Borrow<Detection>>(out: &mut [D]) {
    out.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        b.score
            .cmp(&a.score)
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.txs.cmp(&b.txs))
            .then_with(|| a.chain.cmp(&b.chain))
            .then_with(|| a.addresses.cmp(&b.addresses))
            .then_with(|| a.explanation.cmp(&b.explanation))
    });
}

/// Unique values in first-seen order.
fn uniq<I: IntoIterator<Item = String>>(it: I) -> Vec<String> {
    let mut seen = BTreeSet::new();
    it.into_iter().filter(|x| seen.insert(x.clone())).collect()
}

fn score(v: usize) -> u8 {
    u8::try_from(v.min(100)).unwrap_or(100)
}

/// One peeling spend: its payer, and its small and large payees' flows.
#[derive(Debug, Clone)]
pub(crate) struct Peel {
    pub(crate) from: String,
    pub(crate) chain: String,
    pub(crate) height: u64,
    pub(crate) small: usize,
    pub(crate) large: usize,
}

impl Peel {
    /// The peeling spend `s` is, if it is one.
    pub(crate) fn of(flows: &[Flow], s: Step, c: &Config) -> Option<Peel> {
        let [a, b] = s.flows[..] else { return None };
        let (fa, fb) = (&flows[a], &flows[b]);
        if fa.asset != fb.asset || fa.to == fb.to {
            return None;
        }
        let (small, large) = if fa.value <= fb.value { (a, b) } else { (b, a) };
        let (vs, vl) = (flows[small].value, flows[large].value);
        // small > p % of (small + large) ⟺ small·(100 − p) > large·p, exact at any size.
        let p = c.peel_max_percent;
        if (vs == 0 && vl == 0)
            || (p < 100
                && tracehound_trace::arith::cmp_products(vs, 100 - p, vl, p)
                    == std::cmp::Ordering::Greater)
        {
            return None;
        }
        Some(Peel {
            from: s.from,
            chain: s.chain,
            height: s.height,
            small,
            large,
        })
    }

    /// Whether `self` (unlinked so far) may carry on `prev`'s change, by the rule of
    /// [`peel_chains`].
    pub(crate) fn follows(&self, prev: &Peel) -> bool {
        self.height >= prev.height
    }
}

/// The peels linked from `start` (a peel nothing links to) by `next`, in order.
pub(crate) fn peel_links(start: usize, next: &[Option<usize>]) -> Vec<usize> {
    let mut links = vec![start];
    let mut at = start;
    while let Some(n) = next[at] {
        // A peel has one predecessor at most, so from a first peel there is no cycle; the
        // bound only keeps a broken `next` from looping.
        if links.len() > next.len() {
            break;
        }
        links.push(n);
        at = n;
    }
    links
}

/// The detection of the peels `links` (in order), if they are enough for a chain.
pub(crate) fn peel_chain_of(
    flows: &[Flow],
    peels: &[Peel],
    links: &[usize],
    c: &Config,
) -> Option<Detection> {
    let (&start, &end) = (links.first()?, links.last()?);
    if links.len() < c.peel_min_links {
        return None;
    }
    let first = &peels[start];
    let last = &peels[end];
    let peeled: u128 = links.iter().map(|&i| flows[peels[i].small].value).sum();
    let txs = uniq(links.iter().flat_map(|&i| {
        [
            flows[peels[i].small].tx.clone(),
            flows[peels[i].large].tx.clone(),
        ]
    }));
    let mut addresses: Vec<String> = links.iter().map(|&i| peels[i].from.clone()).collect();
    addresses.push(flows[last.large].to.clone());
    Some(Detection {
        kind: Kind::PeelChain,
        score: score(40 + 10 * links.len()),
        chain: first.chain.clone(),
        explanation: format!(
            "{} peeling spends in a row from {}: {} {} peeled off, {} left at {}",
            links.len(),
            first.from,
            peeled,
            flows[first.small].asset,
            flows[last.large].value,
            flows[last.large].to
        ),
        txs,
        addresses: uniq(addresses),
    })
}

/// **Peel chain.** A peeling spend has exactly two payees in one asset (other than the payer):
/// a small payment of at most `peel_max_percent` % of the spend and the large rest, the
/// "change" that carries on. A chain is ≥ `peel_min_links` peeling spends where each spend's
/// large payee makes the next (the classic peel chain of Möser et al.: a big balance shedding
/// small payments, each time to a fresh change address). An ordinary payment with change
/// stops after one link. Score: min(100, 40 + 10 × links).
pub fn peel_chains(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let peels: Vec<Peel> = g
        .steps()
        .into_iter()
        .filter_map(|s| Peel::of(&g.flows, s, c))
        .collect();
    // Next link of each peel: the first later peel by its large payee.
    let mut by_from: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, p) in peels.iter().enumerate() {
        by_from.entry((&p.chain, &p.from)).or_default().push(i);
    }
    let mut next: Vec<Option<usize>> = vec![None; peels.len()];
    let mut has_prev = vec![false; peels.len()];
    for (i, p) in peels.iter().enumerate() {
        let to = &g.flows[p.large].to;
        if let Some(js) = by_from.get(&(p.chain.as_str(), to.as_str()))
            && let Some(&j) = js
                .iter()
                .find(|&&j| j != i && peels[j].follows(p) && !has_prev[j])
        {
            next[i] = Some(j);
            has_prev[j] = true;
        }
    }
    (0..peels.len())
        .filter(|&start| !has_prev[start])
        .filter_map(|start| peel_chain_of(&g.flows, &peels, &peel_links(start, &next), c))
        .collect()
}

/// Which side of its flows a fan is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Side {
    /// A payer's flows out (fan-out).
    Out,
    /// A payee's flows in (fan-in).
    In,
}

impl Side {
    /// The address a fan of this side is about.
    pub(crate) fn key(self, f: &Flow) -> &str {
        match self {
            Side::Out => &f.from,
            Side::In => &f.to,
        }
    }

    /// The counterparty counted.
    fn other(self, f: &Flow) -> &str {
        match self {
            Side::Out => &f.to,
            Side::In => &f.from,
        }
    }
}

/// Whether a flow counts toward fans: a payment between two addresses, not a link.
pub(crate) fn counts_in_fans(f: &Flow) -> bool {
    f.from != f.to && f.link.is_none()
}

/// A fan found: the window of one address's flows with the most distinct counterparties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fan {
    pub(crate) side: Side,
    pub(crate) chain: String,
    /// The payer (fan-out) or payee (fan-in).
    pub(crate) key: String,
    /// The window's flows, in chain order.
    pub(crate) idx: Vec<usize>,
    pub(crate) distinct: usize,
    /// Lowest and highest height of the window.
    pub(crate) span: (u64, u64),
}

/// The sliding window over one address's flows on one side, fed in chain order: the window
/// (of at most `fan_window` blocks) with the most distinct counterparties so far, the earliest
/// of equals.
#[derive(Debug, Clone, Default)]
pub(crate) struct FanWindow {
    idx: Vec<usize>,
    lo: usize,
    /// The window's counterparties, with how many of its flows each has.
    counts: HashMap<String, usize>,
    /// (distinct counterparties, first, last) positions in `idx`.
    best: Option<(usize, usize, usize)>,
}

impl FanWindow {
    /// Adds flow `i`; true when the best window changed.
    pub(crate) fn push(&mut self, flows: &[Flow], i: usize, side: Side, c: &Config) -> bool {
        self.idx.push(i);
        let hi = self.idx.len() - 1;
        let other = side.other(&flows[i]);
        match self.counts.get_mut(other) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(other.to_string(), 1);
            }
        }
        while flows[self.idx[hi]].height > flows[self.idx[self.lo]].height + c.fan_window {
            let gone = side.other(&flows[self.idx[self.lo]]);
            if let Some(n) = self.counts.get_mut(gone) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(gone);
                }
            }
            self.lo += 1;
        }
        let distinct = self.counts.len();
        if self.best.is_none_or(|b| distinct > b.0) {
            self.best = Some((distinct, self.lo, hi));
            return true;
        }
        false
    }

    /// The fan, if the best window has enough counterparties.
    pub(crate) fn fan(&self, flows: &[Flow], side: Side, c: &Config) -> Option<Fan> {
        let (distinct, lo, hi) = self.best?;
        if distinct < c.fan_min {
            return None;
        }
        let idx = self.idx[lo..=hi].to_vec();
        let f = &flows[idx[0]];
        Some(Fan {
            side,
            chain: f.chain.clone(),
            key: side.key(f).to_string(),
            span: span(flows, &idx),
            idx,
            distinct,
        })
    }
}

impl Fan {
    /// The fan-out or fan-in detection.
    pub(crate) fn detection(&self, flows: &[Flow]) -> Detection {
        let total: u128 = self.idx.iter().map(|&i| flows[i].value).sum();
        let (h0, h1) = self.span;
        let (n, key) = (self.distinct, &self.key);
        let txs = uniq(self.idx.iter().map(|&i| flows[i].tx.clone()));
        match self.side {
            Side::Out => Detection {
                kind: Kind::FanOut,
                score: score(10 * n),
                explanation: format!(
                    "{key} paid {n} distinct addresses in blocks {h0}–{h1} ({total} base units)"
                ),
                txs,
                addresses: uniq(
                    std::iter::once(key.clone())
                        .chain(self.idx.iter().map(|&i| flows[i].to.clone())),
                ),
                chain: self.chain.clone(),
            },
            Side::In => {
                let mut addresses = uniq(self.idx.iter().map(|&i| flows[i].from.clone()));
                addresses.push(key.clone());
                Detection {
                    kind: Kind::FanIn,
                    score: score(10 * n),
                    explanation: format!(
                        "{key} received from {n} distinct addresses in blocks {h0}–{h1} ({total} base units)"
                    ),
                    txs,
                    addresses,
                    chain: self.chain.clone(),
                }
            }
        }
    }
}

/// Every fan of one side, with its detection, by (chain, address).
fn fans(flows: &[Flow], c: &Config, side: Side) -> Vec<(Fan, Detection)> {
    let mut by: BTreeMap<(&str, &str), FanWindow> = BTreeMap::new();
    for (i, f) in flows.iter().enumerate() {
        if counts_in_fans(f) {
            by.entry((&f.chain, side.key(f)))
                .or_default()
                .push(flows, i, side, c);
        }
    }
    by.values()
        .filter_map(|w| w.fan(flows, side, c))
        .map(|fan| {
            let d = fan.detection(flows);
            (fan, d)
        })
        .collect()
}

/// **Fan-out.** One payer to ≥ `fan_min` distinct payees within `fan_window` blocks (the
/// "scatter" or smurfing step of layering: loot split over fresh addresses). Score:
/// min(100, 10 × payees). Exchanges' batched withdrawals match too; a trace stops at
/// services, so this matters for the address view.
pub fn fan_outs(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    fans(&g.flows, c, Side::Out)
        .into_iter()
        .map(|(_, d)| d)
        .collect()
}

/// **Fan-in.** ≥ `fan_min` distinct payers into one payee within `fan_window` blocks
/// (consolidation, the "gather" step). Score: min(100, 10 × payers).
pub fn fan_ins(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    fans(&g.flows, c, Side::In)
        .into_iter()
        .map(|(_, d)| d)
        .collect()
}

fn span(flows: &[Flow], idx: &[usize]) -> (u64, u64) {
    let hs = idx.iter().map(|&i| flows[i].height);
    (hs.clone().min().unwrap_or(0), hs.max().unwrap_or(0))
}

/// **Gather-scatter / scatter-gather.** Gather-scatter: one address has a fan-in and then,
/// within `gather_window` blocks of its end, a fan-out (a pass-through hub). Scatter-gather:
/// a fan-out whose payees, ≥ `scatter_gather_min` of them, later pay one common address
/// within `gather_window` blocks (split, then re-assembled elsewhere). Scores: the mean of the
/// two fans' scores; min(100, 20 × regathered payees).
pub fn gather_scatter(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let fi = fans(&g.flows, c, Side::In);
    let fo = fans(&g.flows, c, Side::Out);
    gather_scatter_of_fans(g, c, &fi, &fo)
}

fn gather_scatter_of_fans(
    g: &FlowGraph,
    c: &Config,
    fan_ins: &[(Fan, Detection)],
    fan_outs: &[(Fan, Detection)],
) -> Vec<Detection> {
    let outs: HashMap<(&str, &str), &(Fan, Detection)> = fan_outs
        .iter()
        .map(|fo| ((fo.0.chain.as_str(), fo.0.key.as_str()), fo))
        .collect();
    let mut out = Vec::new();
    for (fi, fid) in fan_ins {
        if let Some((fo, fod)) = outs.get(&(fi.chain.as_str(), fi.key.as_str())) {
            out.extend(gather_scatter_at((fi, fid), (fo, fod), c));
        }
    }
    for (fo, fod) in fan_outs {
        out.extend(scatter_gather_of((fo, fod), g.flows.iter(), c));
    }
    out
}

/// The gather-scatter through the hub of fan-in `fi` and fan-out `fo` (one address), if the
/// fan-out starts within `gather_window` blocks after the fan-in ends.
pub(crate) fn gather_scatter_at(
    (fi, fid): (&Fan, &Detection),
    (fo, fod): (&Fan, &Detection),
    c: &Config,
) -> Option<Detection> {
    let (i0, i1) = fi.span;
    let (o0, _) = fo.span;
    if o0 < i0 || o0 > i1 + c.gather_window {
        return None;
    }
    Some(Detection {
        kind: Kind::GatherScatter,
        score: (fid.score / 2 + fod.score / 2).min(100),
        chain: fi.chain.clone(),
        txs: uniq(fid.txs.iter().chain(&fod.txs).cloned()),
        addresses: uniq(fid.addresses.iter().chain(&fod.addresses).cloned()),
        explanation: format!(
            "{} gathered from {} addresses then scattered to {} within {} blocks",
            fi.key,
            fid.addresses.len() - 1,
            fod.addresses.len() - 1,
            o0.saturating_sub(i1)
        ),
    })
}

/// The scatter-gathers of fan-out `fo`: `later` holds (at least) every flow out of its payees,
/// in chain order.
pub(crate) fn scatter_gather_of<'f>(
    (fo, fod): (&Fan, &Detection),
    later: impl Iterator<Item = &'f Flow>,
    c: &Config,
) -> Vec<Detection> {
    let (o0, o1) = fo.span;
    let scattered: BTreeSet<&str> = fod.addresses.iter().skip(1).map(String::as_str).collect();
    let mut into: BTreeMap<&str, (BTreeSet<&str>, Vec<String>)> = BTreeMap::new();
    for f in later {
        if f.chain == fo.chain
            && scattered.contains(f.from.as_str())
            && !scattered.contains(f.to.as_str())
            && f.to != fo.key
            && f.height >= o0
            && f.height <= o1 + c.gather_window
        {
            let e = into.entry(&f.to).or_default();
            e.0.insert(&f.from);
            e.1.push(f.tx.clone());
        }
    }
    let mut out = Vec::new();
    for (to, (froms, txs)) in into {
        if froms.len() < c.scatter_gather_min {
            continue;
        }
        let mut addresses = fod.addresses.clone();
        addresses.push(to.to_string());
        out.push(Detection {
            kind: Kind::ScatterGather,
            score: score(20 * froms.len()),
            chain: fo.chain.clone(),
            txs: uniq(fod.txs.iter().cloned().chain(txs)),
            addresses: uniq(addresses),
            explanation: format!(
                "{} scattered to {} addresses, {} of which paid {to} again",
                fo.key,
                scattered.len(),
                froms.len()
            ),
        });
    }
    out
}

/// The longest rapid run ending with flow `i` (its length and the flow before it), given the
/// runs of earlier flows (`len`) and the flows that arrived at `i`'s payer before it, in chain
/// order (`arrivals`).
pub(crate) fn rapid_link(
    flows: &[Flow],
    len: &[usize],
    arrivals: &[usize],
    i: usize,
    c: &Config,
) -> (usize, Option<usize>) {
    let f = &flows[i];
    let (mut best, mut pred) = (1, None);
    // Newest first: of equally long runs, the latest arrival.
    for &p in arrivals.iter().rev() {
        let pf = &flows[p];
        if pf.height + c.rapid_blocks < f.height {
            break;
        }
        if pf.tx != f.tx && len[p] + 1 > best {
            best = len[p] + 1;
            pred = Some(p);
        }
    }
    (best, pred)
}

/// The rapid runs reported among those ending at `ends` (longest first, then in chain order):
/// a run is skipped when the ones before it already named all its txs (`tx`: one key per tx).
pub(crate) fn rapid_reported<K: std::hash::Hash + Eq>(
    pred: &[Option<usize>],
    ends: &[usize],
    tx: impl Fn(usize) -> K,
) -> Vec<usize> {
    let mut covered: HashSet<K> = HashSet::new();
    // Flows whose run back to its start was walked for an earlier end: every tx from there
    // back is covered (that run was reported, or skipped because they were), so a run is
    // walked only as far as the first of them.
    let mut walked: HashSet<usize> = HashSet::new();
    let mut out = Vec::new();
    for &end in ends {
        let mut fresh = Vec::new();
        let mut at = Some(end);
        while let Some(i) = at {
            if !walked.insert(i) {
                break;
            }
            fresh.push(tx(i));
            at = pred[i];
        }
        if fresh.iter().all(|k| covered.contains(k)) {
            continue;
        }
        covered.extend(fresh);
        out.push(end);
    }
    out
}

/// The detection of the rapid run ending at `end`.
pub(crate) fn rapid_run(
    flows: &[Flow],
    pred: &[Option<usize>],
    end: usize,
    c: &Config,
) -> Detection {
    let mut run = vec![end];
    let mut at = end;
    while let Some(p) = pred[at] {
        run.push(p);
        at = p;
    }
    run.reverse();
    let txs = uniq(run.iter().map(|&i| flows[i].tx.clone()));
    let first = &flows[run[0]];
    let last = &flows[end];
    let mut addresses: Vec<String> = run.iter().map(|&i| flows[i].from.clone()).collect();
    addresses.push(last.to.clone());
    Detection {
        kind: Kind::RapidHops,
        score: score(25 * run.len()),
        chain: first.chain.clone(),
        explanation: format!(
            "{} hops from {} to {} in blocks {}–{}, each leaving within {} blocks of arrival",
            run.len(),
            first.from,
            last.to,
            first.height,
            last.height,
            c.rapid_blocks
        ),
        txs,
        addresses: uniq(addresses),
    }
}

/// **Rapid hops.** Value that leaves an address within `rapid_blocks` blocks of arriving
/// there, over ≥ `rapid_min_hops` consecutive hops (pass-through addresses that never rest:
/// the speed typology of FATF's red flags). Each maximal run is reported once; runs whose txs
/// a longer one already names are dropped. Score: min(100, 25 × hops).
pub fn rapid_hops(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let n = g.flows.len();
    let mut into: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    let mut len = vec![1usize; n];
    let mut pred: Vec<Option<usize>> = vec![None; n];
    let mut is_pred = vec![false; n];
    for (i, f) in g.flows.iter().enumerate() {
        if f.from == f.to {
            continue;
        }
        if let Some(ins) = into.get(&(f.chain.as_str(), f.from.as_str())) {
            (len[i], pred[i]) = rapid_link(&g.flows, &len, ins, i, c);
        }
        if let Some(p) = pred[i] {
            is_pred[p] = true;
        }
        into.entry((&f.chain, &f.to)).or_default().push(i);
    }
    let mut ends: Vec<usize> = (0..n)
        .filter(|&i| !is_pred[i] && len[i] >= c.rapid_min_hops)
        .collect();
    ends.sort_by_key(|&i| std::cmp::Reverse(len[i]));
    rapid_reported(&pred, &ends, |i| g.flows[i].tx.as_str())
        .into_iter()
        .map(|end| rapid_run(&g.flows, &pred, end, c))
        .collect()
}

/// Label categories that mean a mixer or privacy pool.
pub const MIXER_CATEGORIES: [&str; 4] = ["mixer", "coinjoin", "privacy", "tumbler"];

/// Whether a label category means a mixer.
pub(crate) fn is_mixer_category(c: Option<&str>) -> bool {
    c.is_some_and(|c| MIXER_CATEGORIES.contains(&c))
}

/// Payments `fs` into `to`, labeled `category`.
pub(crate) fn mixer_payments(chain: &str, to: &str, fs: &[&Flow], category: &str) -> Detection {
    let total: u128 = fs.iter().map(|f| f.value).sum();
    Detection {
        kind: Kind::Mixer,
        score: 90,
        chain: chain.to_string(),
        txs: uniq(fs.iter().map(|f| f.tx.clone())),
        addresses: uniq(fs.iter().map(|f| f.from.clone()).chain([to.to_string()])),
        explanation: format!(
            "{} payment(s) of {total} base units into {to}, labeled {category}",
            fs.len(),
        ),
    }
}

/// The mixer link of tx `tx`, carried by `fs`.
pub(crate) fn mixer_link(tx: &str, fs: &[&Flow]) -> Detection {
    Detection {
        kind: Kind::Mixer,
        score: 100,
        chain: fs[0].chain.clone(),
        txs: vec![tx.to_string()],
        addresses: uniq(fs.iter().flat_map(|f| [f.from.clone(), f.to.clone()])),
        explanation: format!("mixer link: {} base units in", fs[0].value),
    }
}

/// The CoinJoin `tx` (flagged for `why`), with its flows `fs`.
pub(crate) fn coinjoin(tx: &str, fs: &[&Flow], why: &str) -> Detection {
    Detection {
        kind: Kind::Mixer,
        score: 80,
        chain: fs[0].chain.clone(),
        txs: vec![tx.to_string()],
        addresses: uniq(fs.iter().flat_map(|f| [f.from.clone(), f.to.clone()])),
        explanation: format!("CoinJoin {tx}: {why}"),
    }
}

/// **Mixer use.** Value paid to an address labeled `mixer`, `coinjoin`, `privacy` or
/// `tumbler` (score 90), carried by a mixer link (score 100), or spent in a UTXO tx the
/// cluster crate's CoinJoin guard flags (score 80: a CoinJoin is a mixer by design, but the
/// guard's equal-output rule also matches some batch payments).
pub fn mixer_use(g: &FlowGraph) -> Vec<Detection> {
    let mut out = Vec::new();
    let mut into: BTreeMap<(&str, &str), Vec<&Flow>> = BTreeMap::new();
    let mut links: BTreeMap<&str, Vec<&Flow>> = BTreeMap::new();
    let mut joins: BTreeMap<&str, Vec<&Flow>> = BTreeMap::new();
    for f in &g.flows {
        if f.link == Some(LinkKind::Mixer) {
            links.entry(&f.tx).or_default().push(f);
        } else if is_mixer_category(g.category(&f.chain, &f.to)) {
            into.entry((&f.chain, &f.to)).or_default().push(f);
        }
        if g.coinjoins.contains_key(&f.tx) {
            joins.entry(&f.tx).or_default().push(f);
        }
    }
    for ((chain, to), fs) in into {
        let category = g.category(chain, to).unwrap_or("mixer");
        out.push(mixer_payments(chain, to, &fs, category));
    }
    for (tx, fs) in links {
        out.push(mixer_link(tx, &fs));
    }
    for (tx, fs) in joins {
        let why = g.coinjoins.get(tx).map_or("", String::as_str);
        out.push(coinjoin(tx, &fs, why));
    }
    out
}

/// The chain hop a flow carried by a bridge or swap link is.
pub(crate) fn link_hop(f: &Flow) -> Option<Detection> {
    let (score, what) = match f.link {
        Some(LinkKind::Bridge) => (90, "bridge"),
        Some(LinkKind::Swap) => (60, "swap"),
        _ => return None,
    };
    Some(Detection {
        kind: Kind::ChainHop,
        score,
        chain: f.chain.clone(),
        txs: vec![f.tx.clone()],
        addresses: uniq([f.from.clone(), f.to.clone()]),
        explanation: format!("{what}: {} {} in at {}", f.value, f.asset, f.from),
    })
}

/// The hop seen only by its two sides: flows on two or more chains (`firsts`: each chain's
/// first flow) and no bridge link among them.
pub(crate) fn unseen_hop(firsts: &BTreeMap<&str, &Flow>, bridged: bool) -> Option<Detection> {
    if firsts.len() < 2 || bridged {
        return None;
    }
    Some(Detection {
        kind: Kind::ChainHop,
        score: 50,
        chain: firsts
            .keys()
            .next()
            .map_or(String::new(), |c| c.to_string()),
        txs: firsts.values().map(|f| f.tx.clone()).collect(),
        addresses: firsts.values().map(|f| f.to.clone()).collect(),
        explanation: format!(
            "flows on {} chains: {}",
            firsts.len(),
            firsts.keys().copied().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// **Chain hop.** A bridge link (score 90) or a swap link (score 60: an asset hop on one
/// chain) in the flows; and, when the flows span two or more chains with no bridge link
/// between them, one detection naming each chain's first flow (score 50: the hop itself
/// was not seen, only both sides).
pub fn chain_hops(g: &FlowGraph) -> Vec<Detection> {
    let mut out: Vec<Detection> = g.flows.iter().filter_map(link_hop).collect();
    let bridged = g.flows.iter().any(|f| f.link == Some(LinkKind::Bridge));
    let mut firsts: BTreeMap<&str, &Flow> = BTreeMap::new();
    for f in &g.flows {
        firsts.entry(&f.chain).or_insert(f);
    }
    out.extend(unseen_hop(&firsts, bridged));
    out
}

/// Which group of structured amounts a flow in the band joins: (chain, asset, address, whether
/// the address paid).
pub(crate) type StructuringKey = (String, String, String, bool);

/// Whether `f`'s amount is in the structuring band below its asset's threshold.
pub(crate) fn in_structuring_band(f: &Flow, c: &Config) -> bool {
    let Some(t) = c.threshold(&f.chain, &f.asset) else {
        return false;
    };
    let floor = t - t * c.structuring_band_percent.min(100) / 100;
    f.value >= floor && f.value < t && f.from != f.to
}

/// The structuring detection of amounts `fs` (all in the band) by or to one address.
pub(crate) fn structured(
    (chain, asset, who, payer): (&str, &str, &str, bool),
    fs: &[&Flow],
    c: &Config,
) -> Option<Detection> {
    if fs.len() < c.structuring_min {
        return None;
    }
    let t = c.threshold(chain, asset).unwrap_or(0);
    let addresses = if payer {
        uniq(
            [who.to_string()]
                .into_iter()
                .chain(fs.iter().map(|f| f.to.clone())),
        )
    } else {
        let mut a = uniq(fs.iter().map(|f| f.from.clone()));
        a.push(who.to_string());
        uniq(a)
    };
    Some(Detection {
        kind: Kind::Structuring,
        score: score(30 + 15 * fs.len()),
        chain: chain.to_string(),
        txs: uniq(fs.iter().map(|f| f.tx.clone())),
        addresses,
        explanation: format!(
            "{} amounts of {asset} {} {who} within {}% below the threshold {t}",
            fs.len(),
            if payer { "paid by" } else { "paid to" },
            c.structuring_band_percent
        ),
    })
}

/// **Structuring.** ≥ `structuring_min` amounts by one payer, or to one payee, each in the band
/// `[T − T × structuring_band_percent / 100, T)` below the asset's threshold `T` (the
/// "smurfing" of cash AML, kept under a reporting line). Score: min(100, 30 + 15 × amounts).
pub fn structuring(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let mut by: BTreeMap<(&str, &str, &str, bool), Vec<&Flow>> = BTreeMap::new();
    for f in g.flows.iter().filter(|f| in_structuring_band(f, c)) {
        by.entry((&f.chain, &f.asset, &f.from, true))
            .or_default()
            .push(f);
        by.entry((&f.chain, &f.asset, &f.to, false))
            .or_default()
            .push(f);
    }
    by.into_iter()
        .filter_map(|(key, fs)| structured(key, &fs, c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::{flow, graph};

    fn kinds(ds: &[Detection]) -> Vec<Kind> {
        ds.iter().map(|d| d.kind).collect()
    }

    /// A peel chain of `n` links on a UTXO chain: a0 → (shop, a1) → (shop, a2) …
    fn peel(n: u64, utxo: bool) -> Vec<Flow> {
        let mut v = Vec::new();
        let mut left = 1_000_000u128;
        for k in 0..n {
            let small = left / 10;
            let (t1, t2) = if utxo {
                (format!("p{k}"), format!("p{k}"))
            } else {
                (format!("p{k}a"), format!("p{k}b"))
            };
            v.push(flow(
                &t1,
                10 + k,
                &format!("a{k}"),
                &format!("shop{k}"),
                small,
                utxo,
            ));
            v.push(flow(
                &t2,
                10 + k,
                &format!("a{k}"),
                &format!("a{}", k + 1),
                left - small,
                utxo,
            ));
            left -= small;
        }
        v
    }

    #[test]
    fn peel_chain_found_on_both_shapes() {
        for utxo in [true, false] {
            let d = peel_chains(&graph(peel(5, utxo)), &Config::default());
            assert_eq!(d.len(), 1, "{d:?}");
            assert_eq!(d[0].addresses.len(), 6);
            assert_eq!(d[0].score, 90);
            assert_eq!(d[0].txs.len(), if utxo { 5 } else { 10 });
        }
    }

    #[test]
    fn peel_chain_of_whale_amounts_does_not_overflow() {
        // Each spend's total is past u128::MAX / 100; the small part is 10 % of it.
        let mut v = Vec::new();
        let mut left = u128::MAX - 7;
        for k in 0..4u64 {
            let small = left / 10;
            v.push(flow(
                &format!("w{k}"),
                10 + k,
                &format!("w{k}"),
                &format!("shop{k}"),
                small,
                true,
            ));
            v.push(flow(
                &format!("w{k}"),
                10 + k,
                &format!("w{k}"),
                &format!("w{}", k + 1),
                left - small,
                true,
            ));
            left -= small;
        }
        let d = peel_chains(&graph(v), &Config::default());
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].addresses.len(), 5);
    }

    #[test]
    fn ordinary_payment_with_change_is_no_peel_chain() {
        let g = graph(vec![
            flow("t1", 1, "alice", "bob", 400, true),
            flow("t1", 1, "alice", "alice2", 600, true),
            flow("t2", 5, "alice2", "carol", 300, true),
        ]);
        assert!(peel_chains(&g, &Config::default()).is_empty());
        // Two links only: under the minimum of three.
        assert!(peel_chains(&graph(peel(2, true)), &Config::default()).is_empty());
    }

    #[test]
    fn fan_out_and_fan_in_need_enough_counterparties_in_the_window() {
        let mut f: Vec<Flow> = (0..6)
            .map(|k| flow("s", 1, "src", &format!("d{k}"), 10, true))
            .collect();
        f.extend((0..6).map(|k| flow(&format!("c{k}"), 3, &format!("d{k}"), "sink", 10, true)));
        let g = graph(f);
        let c = Config::default();
        let fo = fan_outs(&g, &c);
        assert_eq!(kinds(&fo), vec![Kind::FanOut]);
        assert_eq!(fo[0].score, 60);
        assert_eq!(fo[0].addresses[0], "src");
        let fi = fan_ins(&g, &c);
        assert_eq!(kinds(&fi), vec![Kind::FanIn]);
        assert_eq!(fi[0].addresses.last().map(String::as_str), Some("sink"));
        // Scattered to d0..d5, gathered again at sink.
        let sg = gather_scatter(&g, &c);
        assert_eq!(kinds(&sg), vec![Kind::ScatterGather]);
        // Four payees, or six spread over 60 blocks: no fan-out.
        let few = graph(
            (0..4)
                .map(|k| flow("s", 1, "src", &format!("d{k}"), 10, true))
                .collect(),
        );
        assert!(fan_outs(&few, &c).is_empty());
        let slow = graph(
            (0..6)
                .map(|k| flow(&format!("s{k}"), 10 * k, "src", &format!("d{k}"), 10, false))
                .collect(),
        );
        assert!(fan_outs(&slow, &c).is_empty());
    }

    #[test]
    fn gather_scatter_through_a_hub() {
        let mut f: Vec<Flow> = (0..5)
            .map(|k| flow(&format!("i{k}"), 1, &format!("s{k}"), "hub", 10, false))
            .collect();
        f.extend((0..5).map(|k| flow(&format!("o{k}"), 4, "hub", &format!("d{k}"), 10, false)));
        let g = graph(f);
        let c = Config::default();
        let d = gather_scatter(&g, &c);
        assert_eq!(kinds(&d), vec![Kind::GatherScatter]);
        assert_eq!(d[0].txs.len(), 10);
    }

    #[test]
    fn rapid_hops_need_quick_consecutive_moves() {
        let fast = graph(vec![
            flow("h1", 1, "a", "b", 100, false),
            flow("h2", 2, "b", "c", 99, false),
            flow("h3", 2, "c", "d", 98, false),
            flow("h4", 5, "d", "e", 97, false),
        ]);
        let d = rapid_hops(&fast, &Config::default());
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].txs, vec!["h1", "h2", "h3", "h4"]);
        assert_eq!(d[0].score, 100);
        // The same hops a week apart: value rests, no rapid hops.
        let slow = graph(vec![
            flow("h1", 1, "a", "b", 100, false),
            flow("h2", 100, "b", "c", 99, false),
            flow("h3", 200, "c", "d", 98, false),
        ]);
        assert!(rapid_hops(&slow, &Config::default()).is_empty());
    }

    #[test]
    fn mixer_use_by_label_link_and_coinjoin() {
        let mut g = graph(vec![
            flow("m1", 1, "a", "tornado", 100, false),
            flow("pay", 1, "a", "shop", 100, false),
            flow("cj", 2, "x", "y", 100, true),
        ]);
        g.categories
            .insert(("evm-31337".into(), "tornado".into()), "mixer".into());
        g.coinjoins.insert("cj".into(), "equal_outputs (…)".into());
        let d = mixer_use(&g);
        let txs: Vec<&str> = d.iter().map(|d| d.txs[0].as_str()).collect();
        assert_eq!(txs, vec!["m1", "cj"]);
        assert_eq!((d[0].score, d[1].score), (90, 80));
    }

    #[test]
    fn chain_hop_by_bridge_or_two_chains() {
        let mut f = flow("b1", 1, "a", "bridge", 100, false);
        f.link = Some(LinkKind::Bridge);
        let d = chain_hops(&graph(vec![f, flow("u1", 3, "x", "y", 5, true)]));
        assert_eq!(kinds(&d), vec![Kind::ChainHop]);
        assert_eq!(d[0].score, 90);
        let both = chain_hops(&graph(vec![
            flow("e1", 1, "a", "b", 100, false),
            flow("u1", 3, "x", "y", 5, true),
        ]));
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].score, 50);
        assert!(chain_hops(&graph(vec![flow("e1", 1, "a", "b", 1, false)])).is_empty());
    }

    #[test]
    fn structuring_just_below_the_threshold() {
        let t = 1_000_000_000u128;
        let below = [t - 1, t - 20_000_000, t - 50_000_000];
        let g = graph(
            below
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    flow(
                        &format!("s{k}"),
                        k as u64,
                        "smurf",
                        &format!("x{k}"),
                        *v,
                        true,
                    )
                })
                .collect(),
        );
        let d = structuring(&g, &Config::default());
        assert_eq!(kinds(&d), vec![Kind::Structuring]);
        assert_eq!(d[0].score, 75);
        assert_eq!(d[0].addresses[0], "smurf");
        // At or over the threshold, or far below it: nothing.
        let g = graph(vec![
            flow("s0", 1, "p", "x0", t, true),
            flow("s1", 2, "p", "x1", t / 2, true),
            flow("s2", 3, "p", "x2", t - 1, true),
        ]);
        assert!(structuring(&g, &Config::default()).is_empty());
    }

    #[test]
    fn detect_all_orders_by_score() {
        let d = detect_all(&graph(peel(6, true)), &Config::default());
        assert!(d.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(kinds(&d).contains(&Kind::PeelChain));
        assert!(kinds(&d).contains(&Kind::RapidHops));
    }
}
