//! The traversal: forward from the incident, hop by hop in chain order, applying one policy,
//! until every tainted unit has stopped somewhere (an endpoint, with the reason and its proof).
//!
//! - **UTXO** ([`trace_utxo`]): tainted outputs wait for their spending tx; txs are processed in
//!   (height, index) order, so when a tx is split every tainted input it has is known. A tx's
//!   taint goes to its outputs and its fee by [`split_tx`].
//! - **Account** ([`trace_account`]): each tainted address gets a [`Ledger`] per asset, seeded
//!   with the clean balance its history gives just before its first tainted receipt. Every
//!   transfer touching a tainted address is applied once, in global (block, tx, fees last,
//!   sub-index) order, driven by a heap of each address's next transfer: the sender's ledger
//!   says how much of it is tainted, the receiver's ledger takes it in.
//!
//! Stop rules, each recorded on the endpoint ([`Stop`]): a labeled service (a mixer is dark),
//! the hop limit, the dust threshold of the asset, the time limit, a fee, and value that has
//! not moved. Caps bound memory on absurd requests, with the flag that raises them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use tracehound_core::Chain;
use tracehound_labels::{Category, TraceRole};

use crate::TraceError;
use crate::graph::{AccountEvent, AccountGraph, EventKey, UtxoGraph, UtxoTx};
use crate::labels::Labels;
use crate::link::EdgeKind;
use crate::policy::{Ledger, Parcel, Policy, split_tx};
use crate::result::{Endpoint, Hop, Stop, TraceResult, freezer_of, summarize};

/// Bounds on the work one trace may do (never an out-of-memory on an absurd request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Tainted places (outputs, addresses per asset) tracked at once.
    pub max_nodes: usize,
    /// Hops recorded in the trace graph.
    pub max_edges: usize,
    /// Transfers of one address read into memory.
    pub max_history: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            max_nodes: 2_000_000,
            max_edges: 4_000_000,
            max_history: 2_000_000,
        }
    }
}

/// How to trace.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The taint policy.
    pub policy: Policy,
    /// Hops to follow after the theft (the theft itself is hop 1).
    pub max_hops: u32,
    /// Ignore everything after this time (unix seconds).
    pub until: Option<u64>,
    /// Dust thresholds per asset (`native` or token contract), base units: less taint than
    /// this is not followed.
    pub dust: HashMap<String, u128>,
    /// Labels: a labeled address stops the trace.
    pub labels: Labels,
    /// Caps.
    pub caps: Caps,
}

impl Rules {
    /// Rules with `policy`, 64 hops, no time limit, no dust threshold, no labels.
    pub fn new(policy: Policy) -> Rules {
        Rules {
            policy,
            max_hops: 64,
            until: None,
            dust: HashMap::new(),
            labels: Labels::new(),
            caps: Caps::default(),
        }
    }

    fn dust_of(&self, asset: &str) -> u128 {
        self.dust.get(asset).copied().unwrap_or(0)
    }

    /// Whether an address stops the trace by its label, by the category's
    /// [`TraceRole`](tracehound_labels::TraceRole): a mixer or a privacy-chain exit is dark, a
    /// service a service; a party that is no service (hacker, scam, sanctioned person) does
    /// not stop it, since stolen value moving on from there is still to be followed.
    /// Categories outside the vocabulary stop it as a service (any labeled place was a stop
    /// before the vocabulary). MWEB peg-ins leave the transparent chain (dark).
    fn stop_at(&self, chain: Chain, address: &str) -> Option<Stop> {
        if address.starts_with("mweb:") {
            return Some(Stop::Dark);
        }
        let l = self.labels.get(chain, address)?;
        match Category::from_term(&l.category).map(Category::trace_role) {
            Some(TraceRole::Dark) => Some(Stop::Dark),
            Some(TraceRole::Party) => None,
            Some(TraceRole::Service) | None => Some(Stop::Service),
        }
    }
}

/// A tainted place. Text is shared (`Arc<str>`): a trace of a million hops names the same
/// addresses, txs and assets over and over, and must not allocate for each naming.
struct Node {
    chain: Chain,
    address: Arc<str>,
    asset: Arc<str>,
    depth: u32,
    /// The inflow that carried the most taint (the first such): the proof path runs through
    /// it. Kept as the hops come, so no node holds a list.
    best_in: Option<usize>,
    best_taint: u128,
    inflows: usize,
}

/// An endpoint being aggregated: (amount, heaviest node, its amount, fewest hops, inflows).
type Agg = (u128, usize, u128, u32, usize);

struct Edge {
    from: Option<usize>,
    /// Shared with every proof path through it: a path is a list of pointers, and copying it
    /// touches one counter per hop, not every string of every hop.
    hop: Arc<Hop>,
}

/// The trace graph under construction, shared by every chain of an incident.
pub struct Tracker {
    rules: Rules,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// (node, amount, stop) of every place taint stopped.
    ends: Vec<(usize, u128, Stop)>,
    stolen: BTreeMap<(String, String), u128>,
    notes: Vec<String>,
    partial: u64,
}

impl Tracker {
    /// An empty trace with `rules`.
    pub fn new(rules: Rules) -> Tracker {
        Tracker {
            rules,
            nodes: Vec::new(),
            edges: Vec::new(),
            ends: Vec::new(),
            stolen: BTreeMap::new(),
            notes: Vec::new(),
            partial: 0,
        }
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Adds a caveat to the result.
    pub fn note(&mut self, n: String) {
        self.notes.push(n);
    }

    fn node(
        &mut self,
        chain: Chain,
        address: Arc<str>,
        asset: Arc<str>,
        depth: u32,
    ) -> Result<usize, TraceError> {
        if self.nodes.len() >= self.rules.caps.max_nodes {
            return Err(TraceError::Cap {
                what: "tainted places".into(),
                limit: self.rules.caps.max_nodes as u64,
                flag: "--max-nodes",
            });
        }
        self.nodes.push(Node {
            chain,
            address,
            asset,
            depth,
            best_in: None,
            best_taint: 0,
            inflows: 0,
        });
        Ok(self.nodes.len() - 1)
    }

    fn edge(&mut self, from: Option<usize>, to: usize, hop: Hop) -> Result<(), TraceError> {
        if self.edges.len() >= self.rules.caps.max_edges {
            return Err(TraceError::Cap {
                what: "hops in the trace graph".into(),
                limit: self.rules.caps.max_edges as u64,
                flag: "--max-edges",
            });
        }
        let id = self.edges.len();
        if let Some(n) = self.nodes.get_mut(to) {
            n.inflows += 1;
            if n.best_in.is_none() || hop.tainted > n.best_taint {
                n.best_in = Some(id);
                n.best_taint = hop.tainted;
            }
        }
        self.edges.push(Edge {
            from,
            hop: Arc::new(hop),
        });
        Ok(())
    }

    fn add_stolen(&mut self, chain: Chain, asset: &str, amount: u128) {
        *self
            .stolen
            .entry((chain.name(), asset.to_string()))
            .or_default() += amount;
    }

    fn sub_stolen(&mut self, chain: Chain, asset: &str, amount: u128) {
        let s = self
            .stolen
            .entry((chain.name(), asset.to_string()))
            .or_default();
        *s = s.saturating_sub(amount);
    }

    fn end(&mut self, node: usize, amount: u128, stop: Stop) {
        if amount > 0 {
            self.ends.push((node, amount, stop));
        }
    }

    /// The heaviest path of hops into `node`.
    fn path(&self, node: usize) -> Vec<Arc<Hop>> {
        let mut out = Vec::new();
        // Paths are short (about the hop limit): a list is checked faster than a set is
        // built; a long one (an account cycle) moves to a set.
        let mut seen: Vec<usize> = Vec::new();
        let mut seen_set: HashSet<usize> = HashSet::new();
        let mut at = Some(node);
        while let Some(n) = at {
            let again = if seen.len() < 64 {
                let again = seen.contains(&n);
                seen.push(n);
                again
            } else {
                if seen_set.is_empty() {
                    seen_set.extend(seen.iter().copied());
                }
                !seen_set.insert(n)
            };
            if again || out.len() >= 10_000 {
                break;
            }
            let Some(best) = self.nodes[n].best_in else {
                break;
            };
            let e = &self.edges[best];
            out.push(Arc::clone(&e.hop));
            at = e.from;
        }
        out.reverse();
        out
    }

    /// The result: endpoints aggregated per (chain, address, asset, stop), largest first.
    pub fn finish(self, incident: &str) -> TraceResult {
        let mut agg: BTreeMap<(String, Arc<str>, Arc<str>, Stop), Agg> = BTreeMap::new();
        let mut chain_names: HashMap<Chain, String> = HashMap::new();
        for &(n, amount, stop) in &self.ends {
            let node = &self.nodes[n];
            let chain_name = chain_names
                .entry(node.chain)
                .or_insert_with(|| node.chain.name())
                .clone();
            let e = agg
                .entry((
                    chain_name,
                    Arc::clone(&node.address),
                    Arc::clone(&node.asset),
                    stop,
                ))
                .or_insert((0, n, 0, node.depth, 0));
            e.0 += amount;
            if amount > e.2 {
                e.1 = n;
                e.2 = amount;
            }
            e.3 = e.3.min(node.depth);
            e.4 += node.inflows;
        }
        let mut endpoints: Vec<Endpoint> = agg
            .into_iter()
            .map(
                |((chain, address, asset, stop), (amount, n, _, hops, inflows))| {
                    let c = self.nodes[n].chain;
                    let label = self.rules.labels.get(c, &address);
                    let mut freezable_by = label
                        .filter(|_| stop == Stop::Service)
                        .and_then(|l| freezer_of(&l.category))
                        .map(str::to_string);
                    if freezable_by.is_none()
                        && matches!(stop, Stop::Unmoved | Stop::TimeLimit | Stop::HopLimit)
                    {
                        // A token held anywhere can be frozen by its issuer, if the issuer can.
                        freezable_by = self
                            .rules
                            .labels
                            .get(c, &asset)
                            .filter(|l| Category::from_term(&l.category) == Some(Category::Issuer))
                            .map(|_| "issuer".to_string());
                    }
                    Endpoint {
                        chain,
                        label: label.map(|l| l.label.clone()),
                        category: label.map(|l| l.category.clone()),
                        freezable_by,
                        address: address.to_string(),
                        asset: asset.to_string(),
                        amount,
                        stop,
                        hops,
                        path: self.path(n),
                        inflows,
                        fiat: None,
                        entity: None,
                        patterns: Vec::new(),
                    }
                },
            )
            .collect();
        endpoints.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.address.cmp(&b.address)));
        let summary = summarize(self.rules.policy, &self.stolen, &endpoints);
        let mut notes = self.notes;
        if self.partial > 0 {
            notes.push(format!(
                "{} tainted address(es) sent more than their known receipts: the excess is \
                 treated as clean value that was already there (TRACING.md, partial data)",
                self.partial
            ));
        }
        TraceResult {
            incident: incident.to_string(),
            policy: self.rules.policy,
            endpoints,
            summary,
            edges: self.edges.into_iter().map(|e| e.hop).collect(),
            notes,
        }
    }
}

/// A stolen UTXO output: `taint` of it (at most its value) stolen, or all of it if `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoSeed {
    /// Tx.
    pub txid: String,
    /// Output.
    pub vout: u32,
    /// Stolen part (`None`: all).
    pub amount: Option<u128>,
    /// Whether the output is a source address's holding (it leaves in its spending tx, which
    /// is then hop 1) rather than the theft's output (hop 1 itself).
    pub at_source: bool,
}

struct OutState {
    taint: u128,
    depth: u32,
    node: usize,
}

/// The UTXO traversal's state: tainted outputs waiting for their spender, spenders waiting in
/// chain order, and the text of the txs and addresses named so far (each looked up once).
struct UtxoWalk {
    tainted: HashMap<u64, OutState>,
    pending: BTreeMap<(u32, u32), UtxoTx>,
    queued: HashSet<u64>,
    txids: HashMap<u64, Arc<str>>,
    addrs: HashMap<u64, Arc<str>>,
    /// `{policy}: output {vout}` per vout, made once.
    output_rules: Vec<Arc<str>>,
}

impl UtxoWalk {
    fn txid(&mut self, graph: &mut dyn UtxoGraph, id: u64) -> Result<Arc<str>, TraceError> {
        if let Some(s) = self.txids.get(&id) {
            return Ok(Arc::clone(s));
        }
        let s: Arc<str> = graph.txid(id)?.into();
        self.txids.insert(id, Arc::clone(&s));
        Ok(s)
    }

    /// The text of address `id` (empty for none).
    fn addr(&mut self, graph: &mut dyn UtxoGraph, id: Option<u64>) -> Result<Arc<str>, TraceError> {
        let Some(id) = id else {
            return Ok(Arc::from(""));
        };
        if let Some(s) = self.addrs.get(&id) {
            return Ok(Arc::clone(s));
        }
        let s: Arc<str> = graph.address(id)?.into();
        self.addrs.insert(id, Arc::clone(&s));
        Ok(s)
    }

    /// The place an output pays: its address, or `txid:vout` when it pays none.
    fn place(
        &mut self,
        graph: &mut dyn UtxoGraph,
        tx: &UtxoTx,
        vout: u32,
    ) -> Result<Arc<str>, TraceError> {
        match tx.outputs.get(vout as usize).and_then(|o| o.addr) {
            Some(a) => self.addr(graph, Some(a)),
            None => Ok(format!("{}:{vout}", self.txid(graph, tx.id)?).into()),
        }
    }

    fn output_rule(&mut self, policy: Policy, vout: u32) -> Arc<str> {
        let v = vout as usize;
        while self.output_rules.len() <= v {
            let n = self.output_rules.len();
            self.output_rules
                .push(format!("{policy}: output {n}").into());
        }
        Arc::clone(&self.output_rules[v])
    }
}

/// Traces UTXO chain `chain` from `seeds`.
pub fn trace_utxo(
    t: &mut Tracker,
    graph: &mut dyn UtxoGraph,
    chain: Chain,
    seeds: &[UtxoSeed],
) -> Result<(), TraceError> {
    const ASSET: &str = "native";
    let asset: Arc<str> = Arc::from(ASSET);
    let mut w = UtxoWalk {
        tainted: HashMap::new(),
        pending: BTreeMap::new(),
        queued: HashSet::new(),
        txids: HashMap::new(),
        addrs: HashMap::new(),
        output_rules: Vec::new(),
    };
    let mut seeded: HashSet<u64> = HashSet::new();
    let policy = t.rules.policy;
    let chain_name: Arc<str> = chain.name().into();
    let fee_place: Arc<str> = Arc::from("fee");
    let fee_rule: Arc<str> = format!("{policy}: fee share").into();
    for s in seeds {
        let id = graph.find(&s.txid)?;
        let tx = graph.tx(id)?;
        let out = tx.outputs.get(s.vout as usize).ok_or_else(|| {
            TraceError::Incident(format!(
                "{chain} tx {} has {} outputs, no output {}",
                s.txid,
                tx.outputs.len(),
                s.vout
            ))
        })?;
        let amount = s.amount.unwrap_or(out.value);
        if amount > out.value {
            return Err(TraceError::Incident(format!(
                "{chain} output {}:{} holds {}, less than the {amount} said stolen",
                s.txid, s.vout, out.value
            )));
        }
        if !seeded.insert(out.id) {
            continue;
        }
        let value = out.value;
        t.add_stolen(chain, ASSET, amount);
        let depth = u32::from(!s.at_source);
        let addr = w.place(graph, &tx, s.vout)?;
        let node = t.node(chain, Arc::clone(&addr), Arc::clone(&asset), depth)?;
        let hop = Hop {
            chain: Arc::clone(&chain_name),
            tx: w.txid(graph, id)?,
            at: format!("{}:{}", tx.height, tx.index).into(),
            time: tx.time,
            from: "incident".into(),
            to: addr,
            asset: Arc::clone(&asset),
            value,
            tainted: amount,
            rule: "incident: stolen output".into(),
            edge: EdgeKind::UtxoTx,
        };
        t.edge(None, node, hop)?;
        settle(t, graph, chain, &mut w, (&tx, s.vout), amount, depth, node)?;
    }
    let mut parcels = Vec::new();
    let mut values = Vec::new();
    while let Some((_, tx)) = w.pending.pop_first() {
        parcels.clear();
        let mut depth = u32::MAX;
        let mut best: Option<(u128, usize, Option<u64>)> = None;
        for i in &tx.inputs {
            let taint = match w.tainted.remove(&i.prev) {
                Some(st) => {
                    depth = depth.min(st.depth);
                    if best.as_ref().is_none_or(|b| st.taint > b.0) {
                        best = Some((st.taint, st.node, i.addr));
                    }
                    st.taint
                }
                None => 0,
            };
            parcels.push(Parcel::new(i.value, taint));
        }
        let Some((_, from_node, from_addr)) = best else {
            continue;
        };
        let depth = depth.saturating_add(1);
        values.clear();
        values.extend(tx.outputs.iter().map(|o| o.value));
        let txid = w.txid(graph, tx.id)?;
        let split = split_tx(policy, &parcels, &values)
            .map_err(|e| TraceError::Data(format!("{chain} tx {txid}: {e}")))?;
        let from_addr = w.addr(graph, from_addr)?;
        let at: Arc<str> = format!("{}:{}", tx.height, tx.index).into();
        let hop = |to: Arc<str>, value: u128, tainted: u128, rule: Arc<str>| Hop {
            chain: Arc::clone(&chain_name),
            tx: Arc::clone(&txid),
            at: Arc::clone(&at),
            time: tx.time,
            from: Arc::clone(&from_addr),
            to,
            asset: Arc::clone(&asset),
            value,
            tainted,
            rule,
            edge: EdgeKind::UtxoTx,
        };
        for (vout, (o, &taint)) in tx.outputs.iter().zip(&split.outputs).enumerate() {
            let vout = u32::try_from(vout).unwrap_or(u32::MAX);
            let taint = if seeded.contains(&o.id) {
                // Taint back at a source's output: it was counted stolen when seeded.
                t.sub_stolen(chain, ASSET, taint);
                0
            } else {
                taint
            };
            if taint == 0 {
                continue;
            }
            let addr = w.place(graph, &tx, vout)?;
            let node = t.node(chain, Arc::clone(&addr), Arc::clone(&asset), depth)?;
            let rule = w.output_rule(policy, vout);
            t.edge(Some(from_node), node, hop(addr, o.value, taint, rule))?;
            settle(t, graph, chain, &mut w, (&tx, vout), taint, depth, node)?;
        }
        if split.fee > 0 {
            let node = t.node(chain, Arc::clone(&fee_place), Arc::clone(&asset), depth)?;
            let fee = tx.inputs.iter().map(|i| i.value).sum::<u128>() - values.iter().sum::<u128>();
            t.edge(
                Some(from_node),
                node,
                hop(
                    Arc::clone(&fee_place),
                    fee,
                    split.fee,
                    Arc::clone(&fee_rule),
                ),
            )?;
            t.end(node, split.fee, Stop::Fee);
        }
    }
    Ok(())
}

/// Decides what becomes of a tainted output: an endpoint, or a wait for its spending tx.
#[allow(clippy::too_many_arguments)]
fn settle(
    t: &mut Tracker,
    graph: &mut dyn UtxoGraph,
    chain: Chain,
    w: &mut UtxoWalk,
    (tx, vout): (&UtxoTx, u32),
    taint: u128,
    depth: u32,
    node: usize,
) -> Result<(), TraceError> {
    let Some(out) = tx.outputs.get(vout as usize) else {
        return Ok(());
    };
    if let Some(a) = out.addr {
        let text = w.addr(graph, Some(a))?;
        if let Some(stop) = t.rules.stop_at(chain, &text) {
            t.end(node, taint, stop);
            return Ok(());
        }
    }
    if taint < t.rules.dust_of("native") {
        t.end(node, taint, Stop::Dust);
        return Ok(());
    }
    let Some(spender) = graph.spender(tx, vout)? else {
        t.end(node, taint, Stop::Unmoved);
        return Ok(());
    };
    if depth > t.rules.max_hops {
        t.end(node, taint, Stop::HopLimit);
        return Ok(());
    }
    if !w.queued.contains(&spender) {
        let next = graph.tx(spender)?;
        if t.rules.until.is_some_and(|u| next.time > u) {
            t.end(node, taint, Stop::TimeLimit);
            return Ok(());
        }
        w.queued.insert(spender);
        w.pending.entry((next.height, next.index)).or_insert(next);
    }
    if w.tainted.len() >= t.rules.caps.max_nodes {
        return Err(TraceError::Cap {
            what: "tainted outputs waiting to be spent".into(),
            limit: t.rules.caps.max_nodes as u64,
            flag: "--max-nodes",
        });
    }
    w.tainted.insert(out.id, OutState { taint, depth, node });
    Ok(())
}

/// Where account value was stolen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSeed {
    /// A stolen transfer: `stolen` of it (at most its amount) taken by its receiver.
    Transfer {
        /// The transfer.
        event: AccountEvent,
        /// Stolen part.
        stolen: u128,
    },
    /// Everything the address sends from `since` on is stolen.
    Source {
        /// The address.
        address: String,
        /// From this time (unix seconds).
        since: u64,
        /// Only these assets (all if empty).
        assets: Vec<String>,
    },
}

struct Acct {
    hist: std::sync::Arc<[AccountEvent]>,
    cursor: usize,
    ledgers: HashMap<String, Ledger>,
    nodes: HashMap<String, usize>,
    depth: u32,
    source_since: Option<u64>,
    /// A source's stolen assets (all if empty).
    source_assets: Vec<String>,
}

impl Acct {
    fn at(&self, key: EventKey) -> bool {
        self.hist.get(self.cursor).is_some_and(|e| e.key() == key)
    }
}

/// Traces account chain `chain` from `seeds`.
pub fn trace_account(
    t: &mut Tracker,
    graph: &mut dyn AccountGraph,
    chain: Chain,
    seeds: &[AccountSeed],
) -> Result<(), TraceError> {
    let policy = t.rules.policy;
    let mut accts: HashMap<String, Acct> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(EventKey, String, usize)>> = BinaryHeap::new();
    let mut seed_events: BTreeMap<EventKey, (AccountEvent, u128)> = BTreeMap::new();
    let cap = t.rules.caps.max_history;
    for s in seeds {
        match s {
            AccountSeed::Transfer { event, stolen } => {
                let e = seed_events.entry(event.key()).or_insert((event.clone(), 0));
                e.1 = (e.1 + stolen).min(event.amount);
            }
            AccountSeed::Source {
                address,
                since,
                assets,
            } => {
                let hist = graph.history(address, cap)?;
                let start = hist.partition_point(|e| e.time < *since);
                let stolen_asset =
                    |a: &str| assets.is_empty() || assets.iter().any(|x| x.eq_ignore_ascii_case(a));
                if !hist[start..].iter().any(|e| {
                    e.from == *address
                        && stolen_asset(&e.asset)
                        && t.rules.until.is_none_or(|u| e.time <= u)
                }) {
                    return Err(TraceError::Incident(format!(
                        "source {address} on {chain} sends nothing{} from time {since} on",
                        if assets.is_empty() {
                            String::new()
                        } else {
                            format!(" in {}", assets.join(", "))
                        }
                    )));
                }
                let ledgers = prefix_ledgers(policy, address, &hist[..start]);
                if let Some(e) = hist.get(start) {
                    heap.push(Reverse((e.key(), address.clone(), start)));
                }
                accts.insert(
                    address.clone(),
                    Acct {
                        hist,
                        cursor: start,
                        ledgers,
                        nodes: HashMap::new(),
                        depth: 0,
                        source_since: Some(*since),
                        source_assets: assets.clone(),
                    },
                );
            }
        }
    }
    loop {
        let from_heap = heap.peek().map(|Reverse((k, _, _))| *k);
        let from_seed = seed_events.first_key_value().map(|(k, _)| *k);
        let (ev, seed) = match (from_heap, from_seed) {
            (None, None) => break,
            (Some(h), s) if s.is_none_or(|s| h < s) => {
                let Some(Reverse((_, addr, cur))) = heap.pop() else {
                    break;
                };
                let Some(a) = accts.get(&addr) else { continue };
                if a.cursor != cur {
                    continue; // stale: the transfer was applied from its other side
                }
                (a.hist[cur].clone(), None)
            }
            (h, Some(_)) => {
                let Some((k, (ev, stolen))) = seed_events.pop_first() else {
                    break;
                };
                // The same transfer may also be next for a tainted address: apply it once.
                if h == Some(k) {
                    heap.pop();
                }
                (ev, Some(stolen))
            }
            (Some(_), None) => unreachable!("handled by the first arm"),
        };
        if t.rules.until.is_some_and(|u| ev.time > u) {
            if seed.is_some() {
                t.note(format!(
                    "stolen transfer {} at {} is after the time limit: not traced",
                    ev.txid,
                    ev.at()
                ));
            }
            continue;
        }
        apply(t, graph, chain, &mut accts, &mut heap, &ev, seed)?;
    }
    // What is left in tainted ledgers rests there.
    let mut names: Vec<&String> = accts.keys().collect();
    names.sort();
    let mut rest = Vec::new();
    for name in names {
        let a = &accts[name];
        let moves_later = a.cursor < a.hist.len();
        let mut assets: Vec<(&String, &Ledger)> = a.ledgers.iter().collect();
        assets.sort_by(|x, y| x.0.cmp(y.0));
        for (asset, l) in assets {
            if l.unknown() > 0 {
                t.partial += 1;
            }
            if l.taint() == 0 {
                continue;
            }
            let stop = if moves_later {
                Stop::TimeLimit
            } else {
                Stop::Unmoved
            };
            rest.push((
                name.clone(),
                asset.clone(),
                a.nodes.get(asset).copied(),
                a.depth,
                l.taint(),
                stop,
            ));
        }
    }
    for (name, asset, node, depth, taint, stop) in rest {
        let node = match node {
            Some(n) => n,
            None => t.node(chain, name.as_str().into(), asset.as_str().into(), depth)?,
        };
        t.end(node, taint, stop);
    }
    Ok(())
}

/// Clean ledgers per asset from `address`'s transfers before it was first tainted.
fn prefix_ledgers(
    policy: Policy,
    address: &str,
    before: &[AccountEvent],
) -> HashMap<String, Ledger> {
    let mut bal: HashMap<String, u128> = HashMap::new();
    for e in before {
        // Sent beyond the balance: clean value that was already there (partial data), so a
        // transfer to oneself leaves at least its amount.
        let b = bal.entry(e.asset.clone()).or_default();
        if e.from == address {
            *b = b.saturating_sub(e.amount);
        }
        if e.to == address {
            *b += e.amount;
        }
    }
    bal.into_iter()
        .map(|(asset, b)| {
            let mut l = Ledger::new(policy);
            l.receive(Parcel::new(b, 0));
            (asset, l)
        })
        .collect()
}

fn apply(
    t: &mut Tracker,
    graph: &mut dyn AccountGraph,
    chain: Chain,
    accts: &mut HashMap<String, Acct>,
    heap: &mut BinaryHeap<Reverse<(EventKey, String, usize)>>,
    ev: &AccountEvent,
    seed: Option<u128>,
) -> Result<(), TraceError> {
    let policy = t.rules.policy;
    let key = ev.key();
    let mut taint = 0u128;
    let mut from_node = None;
    let mut from_depth = 0;
    let self_transfer = ev.from == ev.to;
    if let Some(a) = accts.get_mut(&ev.from).filter(|a| a.at(key)) {
        let ledger = a
            .ledgers
            .entry(ev.asset.clone())
            .or_insert_with(|| Ledger::new(policy));
        let carried = ledger.send(ev.amount);
        let stolen_asset = a.source_assets.is_empty()
            || a.source_assets
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&ev.asset));
        if stolen_asset && a.source_since.is_some_and(|s| ev.time >= s) {
            // A source: all it sends is stolen; what came back tainted is not stolen twice.
            let new = if policy.conserves() {
                ev.amount - carried.min(ev.amount)
            } else {
                ev.amount
            };
            taint = ev.amount;
            t.add_stolen(chain, &ev.asset, new);
        } else {
            taint = carried;
        }
        from_depth = a.depth;
        if taint > 0 {
            from_node = Some(match a.nodes.get(&ev.asset) {
                Some(&n) => n,
                None => {
                    let n = t.node(
                        chain,
                        ev.from.as_str().into(),
                        ev.asset.as_str().into(),
                        a.depth,
                    )?;
                    a.nodes.insert(ev.asset.clone(), n);
                    n
                }
            });
        }
        if !self_transfer {
            a.cursor += 1;
            if let Some(next) = a.hist.get(a.cursor) {
                heap.push(Reverse((next.key(), ev.from.clone(), a.cursor)));
            }
        }
    }
    if let Some(stolen) = seed {
        let new = stolen.min(ev.amount - taint);
        t.add_stolen(chain, &ev.asset, new);
        taint += new;
    }
    let rule = if seed.is_some() {
        "incident: stolen transfer".to_string()
    } else if ev.fee {
        format!("{policy}: fee")
    } else {
        format!("{policy}: transfer")
    };
    let hop = Hop {
        chain: chain.name().into(),
        tx: ev.txid.as_str().into(),
        at: ev.at().into(),
        time: ev.time,
        from: ev.from.as_str().into(),
        to: ev.to.as_str().into(),
        asset: ev.asset.as_str().into(),
        value: ev.amount,
        tainted: taint,
        rule: rule.into(),
        edge: if ev.fee {
            EdgeKind::Fee
        } else {
            EdgeKind::Transfer
        },
    };
    let depth = if seed.is_some() {
        1
    } else {
        from_depth.saturating_add(1)
    };
    if let Some(a) = accts.get_mut(&ev.to).filter(|a| a.at(key)) {
        a.ledgers
            .entry(ev.asset.clone())
            .or_insert_with(|| Ledger::new(policy))
            .receive(Parcel::new(ev.amount, taint));
        a.cursor += 1;
        if let Some(next) = a.hist.get(a.cursor) {
            heap.push(Reverse((next.key(), ev.to.clone(), a.cursor)));
        }
        if taint > 0 {
            a.depth = a.depth.min(depth);
            let node = match a.nodes.get(&ev.asset) {
                Some(&n) => n,
                None => {
                    let n = t.node(
                        chain,
                        ev.to.as_str().into(),
                        ev.asset.as_str().into(),
                        a.depth,
                    )?;
                    a.nodes.insert(ev.asset.clone(), n);
                    n
                }
            };
            t.edge(from_node, node, hop)?;
        }
        return Ok(());
    }
    if taint == 0 {
        return Ok(());
    }
    let stop = if ev.fee {
        Some(Stop::Fee)
    } else if let Some(s) = t.rules.stop_at(chain, &ev.to) {
        Some(s)
    } else if taint < t.rules.dust_of(&ev.asset) {
        Some(Stop::Dust)
    } else if depth > t.rules.max_hops {
        Some(Stop::HopLimit)
    } else {
        None
    };
    let node = t.node(
        chain,
        ev.to.as_str().into(),
        ev.asset.as_str().into(),
        depth,
    )?;
    t.edge(from_node, node, hop)?;
    if let Some(stop) = stop {
        t.end(node, taint, stop);
        return Ok(());
    }
    // A new tainted address: its clean balance up to here, then this receipt.
    let hist = graph.history(&ev.to, t.rules.caps.max_history)?;
    let idx = hist.partition_point(|e| e.key() < key);
    if hist.get(idx).is_none_or(|e| e.key() != key) {
        return Err(TraceError::Data(format!(
            "{chain}: transfer {} ({}) is missing from the history of its receiver {}",
            ev.txid,
            ev.at(),
            ev.to
        )));
    }
    if accts.len() >= t.rules.caps.max_nodes {
        return Err(TraceError::Cap {
            what: "tainted addresses".into(),
            limit: t.rules.caps.max_nodes as u64,
            flag: "--max-nodes",
        });
    }
    let mut ledgers = prefix_ledgers(policy, &ev.to, &hist[..idx]);
    let ledger = ledgers
        .entry(ev.asset.clone())
        .or_insert_with(|| Ledger::new(policy));
    if self_transfer {
        // A stolen transfer to oneself first leaves the (clean) balance.
        ledger.send(ev.amount);
    }
    ledger.receive(Parcel::new(ev.amount, taint));
    if let Some(next) = hist.get(idx + 1) {
        heap.push(Reverse((next.key(), ev.to.clone(), idx + 1)));
    }
    let mut nodes = HashMap::new();
    nodes.insert(ev.asset.clone(), node);
    accts.insert(
        ev.to.clone(),
        Acct {
            hist,
            cursor: idx + 1,
            ledgers,
            nodes,
            depth,
            source_since: None,
            source_assets: Vec::new(),
        },
    );
    Ok(())
}
