//! The traversal: forward from the incident, hop by hop in chain order, applying one policy,
//! until every tainted unit has stopped somewhere (an endpoint, with the reason and its proof).
//!
//! - **UTXO** ([`UtxoWalk`]): tainted outputs wait for their spending tx; txs are processed in
//!   (height, index) order, so when a tx is split every tainted input it has is known. A tx's
//!   taint goes to its outputs and its fee by [`split_tx`].
//! - **Account** ([`AccountWalk`]): each tainted address gets a [`Ledger`] per asset, seeded
//!   with the clean balance its history gives just before its first tainted receipt. Every
//!   transfer touching a tainted address is applied once, in global (block, tx, fees last,
//!   sub-index) order, driven by a heap of each address's next transfer: the sender's ledger
//!   says how much of it is tainted, the receiver's ledger takes it in.
//! - **Links** ([`crate::follow`]): taint entering a swap, wrap, bridge, chain swap or mixer by
//!   a leg the store has a link fact for does not stay with the pool or contract: it crosses
//!   to the link's out leg at the link's own rate ([`Link::carry`]), maybe on another chain.
//!   [`run`] steps every chain's walk in time order (the walk whose next event is earliest
//!   goes first), so value bridged from one chain is picked up by the other's walk when it
//!   arrives there. An entry whose other side is not found stops as dark (a mixer) or
//!   unresolved (a bridge), never guessed.
//!
//! Stop rules, each recorded on the endpoint ([`Stop`]): a labeled service (a mixer is dark),
//! the hop limit, the dust threshold of the asset, the time limit, a fee, and value that has
//! not moved. Caps bound memory on absurd requests, with the flag that raises them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use tracehound_core::{Chain, ChainFamily, LinkFact, LinkKind, LinkLeg};
use tracehound_labels::{Category, TraceRole};
use tracehound_store::FactRef;

use crate::TraceError;
use crate::follow::{Linker, Matched};
use crate::graph::{AccountEvent, AccountGraph, EventKey, UtxoGraph, UtxoTx};
use crate::labels::Labels;
use crate::link::{Carried, EdgeKind, Link};
use crate::policy::{Ledger, Parcel, Policy, split_tx};
use crate::result::{Endpoint, Hop, LinkUse, Stop, TraceResult, freezer_of, summarize};

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
#[derive(Debug, Clone, PartialEq)]
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
    /// How links (swaps, bridges, mixers …) are followed.
    pub links: crate::follow::LinkRules,
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
            links: crate::follow::LinkRules::default(),
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
#[derive(Clone)]
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

#[derive(Clone)]
struct Edge {
    from: Option<usize>,
    /// Shared with every proof path through it: a path is a list of pointers, and copying it
    /// touches one counter per hop, not every string of every hop.
    hop: Arc<Hop>,
}

/// The trace graph under construction, shared by every chain of an incident.
#[derive(Clone)]
pub struct Tracker {
    rules: Rules,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// (node, amount, stop) of every place taint stopped.
    ends: Vec<(usize, u128, Stop)>,
    stolen: BTreeMap<(String, String), u128>,
    notes: Vec<String>,
    partial: u64,
    /// Taint that crossed a link, waiting to be picked up by the walk of its out leg's chain.
    crossings: Vec<Crossing>,
    /// Per (chain, asset): taint that left through links, and that arrived through them.
    link_flows: BTreeMap<(String, String), (u128, u128)>,
    /// Links crossed, aggregated.
    link_uses: BTreeMap<(LinkKind, String, String, String, String, String), LinkUse>,
    /// Crossings from one chain to another so far.
    chain_hops: u64,
}

/// Taint crossing a link to a value movement (an account transfer or a UTXO output) that the
/// walk of its chain picks up.
#[derive(Clone)]
pub(crate) struct Crossing {
    chain: Chain,
    height: u32,
    leg: LinkLeg,
    /// In the out leg's asset.
    taint: u128,
    depth: u32,
    from: Option<usize>,
    hop: Hop,
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
            crossings: Vec::new(),
            link_flows: BTreeMap::new(),
            link_uses: BTreeMap::new(),
            chain_hops: 0,
        }
    }

    /// Crossings from one chain to another so far (the order of chains matters to them).
    pub(crate) fn chain_hops(&self) -> u64 {
        self.chain_hops
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

    /// Sends `taint` (of `asset` on `chain`) that entered link fact `fact` at `r` across it:
    /// to the out leg of a swap or wrap, to the matched exits of an entry (split by their
    /// amounts), or — when no exit is matched — to an endpoint at the service (dark for a
    /// mixer, unresolved otherwise). `from` is the tainted place it came from.
    #[allow(clippy::too_many_arguments)]
    fn follow(
        &mut self,
        linker: &mut Linker<'_>,
        funder_of: &mut crate::follow::FunderOf<'_>,
        (chain, r, fact): (Chain, FactRef, &LinkFact),
        taint: u128,
        depth: u32,
        from: (Option<usize>, &Arc<str>),
        time: u64,
    ) -> Result<(), TraceError> {
        let Some(input) = fact.input() else {
            return Ok(());
        };
        let taint = taint.min(input.amount);
        if taint == 0 {
            return Ok(());
        }
        let (kind, service) = (fact.kind(), fact.service().to_string());
        let exits: Vec<Matched> = match fact {
            LinkFact::Within {
                output, evidence, ..
            } => vec![Matched {
                chain,
                height: r.height,
                time,
                leg: output.clone(),
                service: service.clone(),
                confidence: 100,
                evidence: evidence.clone(),
            }],
            _ => linker.exits(r, fact, funder_of)?,
        };
        let total_out: u128 = exits.iter().map(|m| m.leg.amount).sum();
        let mut left = taint;
        for m in &exits {
            // The entry's share paying this exit, and its taint.
            let (share_in, taint_in) = if exits.len() == 1 {
                (input.amount, taint)
            } else {
                (
                    crate::arith::mul_div_floor(input.amount, m.leg.amount, total_out),
                    crate::arith::mul_div_floor(taint, m.leg.amount, total_out),
                )
            };
            let link = Link {
                link: kind,
                service: m.service.clone(),
                tx_in: input.tx.clone(),
                confidence: m.confidence,
                chain_in: chain.name(),
                asset_in: input.asset.clone(),
                amount_in: share_in,
                chain_out: m.chain.name(),
                asset_out: m.leg.asset.clone(),
                amount_out: Some(m.leg.amount),
                evidence: m.evidence.clone(),
            };
            let Carried::Out(out) = link.carry(taint_in) else {
                continue;
            };
            left -= taint_in;
            self.flow(
                (chain, &input.asset),
                (m.chain, &m.leg.asset),
                taint_in,
                out,
            );
            let u = self
                .link_uses
                .entry((
                    kind,
                    m.service.clone(),
                    chain.name(),
                    input.asset.clone(),
                    m.chain.name(),
                    m.leg.asset.clone(),
                ))
                .or_insert_with(|| LinkUse {
                    kind,
                    service: m.service.clone(),
                    chain_in: chain.name(),
                    asset_in: input.asset.clone(),
                    chain_out: m.chain.name(),
                    asset_out: m.leg.asset.clone(),
                    taint_in: 0,
                    taint_out: 0,
                    count: 0,
                    min_confidence: 100,
                    first_tx_in: input.tx.clone(),
                    first_tx_out: m.leg.tx.clone(),
                });
            u.taint_in += taint_in;
            u.taint_out += out;
            u.count += 1;
            u.min_confidence = u.min_confidence.min(m.confidence);
            let hop = Hop {
                chain: m.chain.name().into(),
                tx: m.leg.tx.as_str().into(),
                at: format!("{}:{}:{}", m.height, m.leg.tx_index, m.leg.leg).into(),
                time: m.time,
                from: Arc::clone(from.1),
                to: m.leg.party.as_str().into(),
                asset: m.leg.asset.as_str().into(),
                value: m.leg.amount,
                tainted: out,
                rule: format!(
                    "link: {kind} via {} (confidence {})",
                    m.service, m.confidence
                )
                .into(),
                edge: EdgeKind::Link(Box::new(link)),
            };
            if m.chain != chain {
                self.chain_hops += 1;
            }
            self.crossings.push(Crossing {
                chain: m.chain,
                height: m.height,
                leg: m.leg.clone(),
                taint: out,
                depth: depth.saturating_add(1),
                from: from.0,
                hop,
            });
        }
        if left > 0 {
            // No exit (or rounding between several): it stops at the service.
            let (contract, stop, why) = match fact {
                LinkFact::Entry { contract, .. } if kind == LinkKind::Mixer => (
                    contract.clone(),
                    Stop::Dark,
                    "in the mixer: no withdrawal linked",
                ),
                LinkFact::Entry { contract, .. } if exits.is_empty() => (
                    contract.clone(),
                    Stop::Unresolved,
                    "no exit found for this entry",
                ),
                LinkFact::Entry { contract, .. }
                | LinkFact::Within { contract, .. }
                | LinkFact::Exit { contract, .. } => {
                    (contract.clone(), Stop::Unresolved, "rounding between exits")
                }
            };
            let node = self.node(
                chain,
                contract.as_str().into(),
                input.asset.as_str().into(),
                depth.saturating_add(1),
            )?;
            self.edge(
                from.0,
                node,
                Hop {
                    chain: chain.name().into(),
                    tx: input.tx.as_str().into(),
                    at: format!("{}:{}:{}", r.height, input.tx_index, input.leg).into(),
                    time,
                    from: Arc::clone(from.1),
                    to: contract.as_str().into(),
                    asset: input.asset.as_str().into(),
                    value: input.amount,
                    tainted: left,
                    rule: format!("link: {kind} via {service}: {why}").into(),
                    edge: EdgeKind::Transfer,
                },
            )?;
            self.end(node, left, stop);
        }
        Ok(())
    }

    /// Counts `taint_in` leaving (chain, asset) `from` through a link and `out` arriving at
    /// `to`.
    fn flow(&mut self, from: (Chain, &str), to: (Chain, &str), taint_in: u128, out: u128) {
        self.link_flows
            .entry((from.0.name(), from.1.to_string()))
            .or_default()
            .0 += taint_in;
        self.link_flows
            .entry((to.0.name(), to.1.to_string()))
            .or_default()
            .1 += out;
    }

    /// Taint a link carried to a transfer after the time limit: it rests where it came from.
    fn end_linked_late(
        &mut self,
        chain: Chain,
        ev: &AccountEvent,
        l: &Linked,
    ) -> Result<(), TraceError> {
        let node = self.node(chain, Arc::clone(&ev.to), Arc::clone(&ev.asset), l.depth)?;
        let mut hop = l.hop.clone();
        hop.tainted = l.taint;
        self.edge(l.from, node, hop)?;
        self.end(node, l.taint, Stop::TimeLimit);
        Ok(())
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
        let endpoints: Vec<Endpoint> = agg
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
        let endpoints = by_amount(endpoints);
        let mut summary = summarize(self.rules.policy, &self.stolen, &endpoints);
        for ((chain, asset), (out, inn)) in &self.link_flows {
            let i = match summary
                .assets
                .iter()
                .position(|a| &a.chain == chain && &a.asset == asset)
            {
                Some(i) => i,
                None => {
                    summary
                        .assets
                        .push(crate::result::AssetSummary::empty(chain, asset, 0));
                    summary.assets.len() - 1
                }
            };
            summary.assets[i].linked_out += out;
            summary.assets[i].linked_in += inn;
        }
        summary
            .assets
            .sort_by(|a, b| (&a.chain, &a.asset).cmp(&(&b.chain, &b.asset)));
        summary.links = self.link_uses.into_values().collect();
        summary
            .links
            .sort_by(|a, b| b.taint_in.cmp(&a.taint_in).then(a.service.cmp(&b.service)));
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

/// Endpoints by amount, largest first, then by address, ties kept in the order given. An
/// order of indices is sorted rather than the endpoints themselves: a trace can have tens of
/// thousands, each with its path, and moving them through a merge sort costs more than the
/// comparisons.
fn by_amount(endpoints: Vec<Endpoint>) -> Vec<Endpoint> {
    let mut order: Vec<usize> = (0..endpoints.len()).collect();
    order.sort_unstable_by(|&i, &j| {
        let (a, b) = (&endpoints[i], &endpoints[j]);
        b.amount
            .cmp(&a.amount)
            .then_with(|| a.address.cmp(&b.address))
            .then(i.cmp(&j))
    });
    let mut slots: Vec<Option<Endpoint>> = endpoints.into_iter().map(Some).collect();
    order.iter().filter_map(|&i| slots[i].take()).collect()
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

#[derive(Clone)]
struct OutState {
    taint: u128,
    depth: u32,
    node: usize,
}

/// A tainted output not spent yet, in a live walk: its tx is kept to look for its spender
/// again when the chain grows.
struct Parked {
    tx: UtxoTx,
    vout: u32,
    state: OutState,
    /// Brought by a link: when the output is followed and another arrival already waits
    /// there, it adds to it (as [`UtxoWalk::cross`] does) instead of replacing it.
    via_link: bool,
}

/// One UTXO chain's traversal: tainted outputs waiting for their spender, spenders waiting in
/// chain order, and the text of the txs and addresses named so far (each looked up once).
pub struct UtxoWalk {
    chain: Chain,
    tainted: HashMap<u64, OutState>,
    pending: BTreeMap<(u32, u32), UtxoTx>,
    queued: HashSet<u64>,
    txids: HashMap<u64, Arc<str>>,
    addrs: HashMap<u64, Arc<str>>,
    /// `{policy}: output {vout}` per vout, made once.
    output_rules: Vec<Arc<str>>,
    /// Outputs seeded as stolen (taint coming back to them was counted when seeded).
    seeded: HashSet<u64>,
    /// Live ([`crate::live`]): unspent tainted outputs wait in `parked`, in the order they
    /// were reached, instead of ending where they are.
    live: bool,
    parked: Vec<Parked>,
    /// Live: every output taint reached (a UTXO source's output spent later becomes stolen;
    /// if taint had reached it, a full trace would have counted that taint otherwise).
    reached: HashSet<u64>,
    asset: Arc<str>,
    chain_name: Arc<str>,
    fee_place: Arc<str>,
    fee_rule: Arc<str>,
}

const UTXO_ASSET: &str = "native";

impl UtxoWalk {
    /// An empty walk of `chain` under `policy`.
    pub fn new(chain: Chain, policy: Policy) -> UtxoWalk {
        UtxoWalk {
            chain,
            tainted: HashMap::new(),
            pending: BTreeMap::new(),
            queued: HashSet::new(),
            txids: HashMap::new(),
            addrs: HashMap::new(),
            output_rules: Vec::new(),
            seeded: HashSet::new(),
            live: false,
            parked: Vec::new(),
            reached: HashSet::new(),
            asset: Arc::from(UTXO_ASSET),
            chain_name: chain.name().into(),
            fee_place: Arc::from("fee"),
            fee_rule: format!("{policy}: fee share").into(),
        }
    }

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

    /// Seeds the walk with stolen outputs.
    pub fn seed(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn UtxoGraph,
        linker: &mut Linker<'_>,
        seeds: &[UtxoSeed],
    ) -> Result<(), TraceError> {
        let chain = self.chain;
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
            if !self.seeded.insert(out.id) {
                continue;
            }
            let value = out.value;
            t.add_stolen(chain, UTXO_ASSET, amount);
            let depth = u32::from(!s.at_source);
            let addr = self.place(graph, &tx, s.vout)?;
            let node = t.node(chain, Arc::clone(&addr), Arc::clone(&self.asset), depth)?;
            let hop = Hop {
                chain: Arc::clone(&self.chain_name),
                tx: self.txid(graph, id)?,
                at: format!("{}:{}", tx.height, tx.index).into(),
                time: tx.time,
                from: "incident".into(),
                to: addr,
                asset: Arc::clone(&self.asset),
                value,
                tainted: amount,
                rule: "incident: stolen output".into(),
                edge: EdgeKind::UtxoTx,
            };
            t.edge(None, node, hop)?;
            self.settle(t, graph, linker, (&tx, s.vout), amount, depth, node)?;
        }
        Ok(())
    }

    /// Picks up taint a link carried to output `c.leg` of this chain.
    fn cross(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn UtxoGraph,
        linker: &mut Linker<'_>,
        c: Crossing,
    ) -> Result<(), TraceError> {
        let id = graph.find(&c.leg.tx)?;
        let tx = graph.tx(id)?;
        let Some(out) = tx.outputs.get(c.leg.leg as usize) else {
            return Err(TraceError::Data(format!(
                "{}: link exit {}:{} names an output the tx does not have",
                self.chain, c.leg.tx, c.leg.leg
            )));
        };
        let taint = c.taint.min(out.value);
        let place = self.place(graph, &tx, c.leg.leg)?;
        let node = t.node(
            self.chain,
            Arc::clone(&place),
            Arc::clone(&self.asset),
            c.depth,
        )?;
        let mut hop = c.hop;
        hop.to = place;
        hop.tainted = taint;
        t.edge(c.from, node, hop)?;
        // Taint already waiting at this output (two links paying one output) adds up.
        if let Some(st) = self.tainted.get_mut(&out.id) {
            st.taint = (st.taint + taint).min(out.value);
            st.depth = st.depth.min(c.depth);
            return Ok(());
        }
        let parked = self.parked.len();
        self.settle(t, graph, linker, (&tx, c.leg.leg), taint, c.depth, node)?;
        if self.parked.len() > parked
            && let Some(p) = self.parked.last_mut()
        {
            p.via_link = true;
        }
        Ok(())
    }

    /// When the next tx waiting to be processed happened.
    fn next_time(&self) -> Option<u64> {
        self.pending.first_key_value().map(|(_, tx)| tx.time)
    }

    /// Processes the next spending tx.
    fn step(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn UtxoGraph,
        linker: &mut Linker<'_>,
    ) -> Result<(), TraceError> {
        let Some((_, tx)) = self.pending.pop_first() else {
            return Ok(());
        };
        let chain = self.chain;
        let policy = t.rules.policy;
        let mut parcels = Vec::with_capacity(tx.inputs.len());
        let mut depth = u32::MAX;
        let mut best: Option<(u128, usize, Option<u64>)> = None;
        for i in &tx.inputs {
            let taint = match self.tainted.remove(&i.prev) {
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
            return Ok(());
        };
        let depth = depth.saturating_add(1);
        let values: Vec<u128> = tx.outputs.iter().map(|o| o.value).collect();
        let txid = self.txid(graph, tx.id)?;
        let split = split_tx(policy, &parcels, &values)
            .map_err(|e| TraceError::Data(format!("{chain} tx {txid}: {e}")))?;
        let from_addr = self.addr(graph, from_addr)?;
        let at: Arc<str> = format!("{}:{}", tx.height, tx.index).into();
        let chain_name = Arc::clone(&self.chain_name);
        let asset = Arc::clone(&self.asset);
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
            let taint = if self.seeded.contains(&o.id) {
                // Taint back at a source's output: it was counted stolen when seeded.
                t.sub_stolen(chain, UTXO_ASSET, taint);
                0
            } else {
                taint
            };
            if taint == 0 {
                continue;
            }
            let addr = self.place(graph, &tx, vout)?;
            let node = t.node(chain, Arc::clone(&addr), Arc::clone(&self.asset), depth)?;
            let rule = self.output_rule(policy, vout);
            t.edge(Some(from_node), node, hop(addr, o.value, taint, rule))?;
            self.settle(t, graph, linker, (&tx, vout), taint, depth, node)?;
        }
        if split.fee > 0 {
            let node = t.node(
                chain,
                Arc::clone(&self.fee_place),
                Arc::clone(&self.asset),
                depth,
            )?;
            let fee = tx.inputs.iter().map(|i| i.value).sum::<u128>() - values.iter().sum::<u128>();
            let rule = Arc::clone(&self.fee_rule);
            let place = Arc::clone(&self.fee_place);
            t.edge(Some(from_node), node, hop(place, fee, split.fee, rule))?;
            t.end(node, split.fee, Stop::Fee);
        }
        Ok(())
    }

    /// Decides what becomes of a tainted output: across a link, an endpoint, or a wait for
    /// its spending tx.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn UtxoGraph,
        linker: &mut Linker<'_>,
        (tx, vout): (&UtxoTx, u32),
        taint: u128,
        depth: u32,
        node: usize,
    ) -> Result<(), TraceError> {
        let chain = self.chain;
        let Some(out) = tx.outputs.get(vout as usize) else {
            return Ok(());
        };
        if self.live {
            self.reached.insert(out.id);
        }
        if let Some((r, fact)) = linker.input_at(chain, tx.height, tx.index, vout)? {
            let from = self.place(graph, tx, vout)?;
            t.follow(
                linker,
                &mut |_, _, _| Ok(None),
                (chain, r, &fact),
                taint,
                depth,
                (Some(node), &from),
                tx.time,
            )?;
            return Ok(());
        }
        if let Some(a) = out.addr {
            let text = self.addr(graph, Some(a))?;
            if let Some(stop) = t.rules.stop_at(chain, &text) {
                t.end(node, taint, stop);
                return Ok(());
            }
        }
        if taint < t.rules.dust_of(UTXO_ASSET) {
            t.end(node, taint, Stop::Dust);
            return Ok(());
        }
        let Some(spender) = graph.spender(tx, vout)? else {
            if self.live {
                self.parked.push(Parked {
                    tx: tx.clone(),
                    vout,
                    state: OutState { taint, depth, node },
                    via_link: false,
                });
            } else {
                t.end(node, taint, Stop::Unmoved);
            }
            return Ok(());
        };
        if depth > t.rules.max_hops {
            t.end(node, taint, Stop::HopLimit);
            return Ok(());
        }
        if !self.queued.contains(&spender) {
            let next = graph.tx(spender)?;
            if t.rules.until.is_some_and(|u| next.time > u) {
                t.end(node, taint, Stop::TimeLimit);
                return Ok(());
            }
            self.queued.insert(spender);
            self.pending
                .entry((next.height, next.index))
                .or_insert(next);
        }
        if self.tainted.len() >= t.rules.caps.max_nodes {
            return Err(TraceError::Cap {
                what: "tainted outputs waiting to be spent".into(),
                limit: t.rules.caps.max_nodes as u64,
                flag: "--max-nodes",
            });
        }
        self.tainted.insert(out.id, OutState { taint, depth, node });
        Ok(())
    }
}

impl UtxoWalk {
    /// Follows the parked outputs the chain's new txs spend (all of them looked up again when
    /// `spent` is `None`), in the order they were reached; the others stay parked, in order.
    fn resettle(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn UtxoGraph,
        linker: &mut Linker<'_>,
        spent: Option<&HashSet<u64>>,
    ) -> Result<(), TraceError> {
        let parked = std::mem::take(&mut self.parked);
        for p in parked {
            let Some(out) = p.tx.outputs.get(p.vout as usize) else {
                continue;
            };
            if spent.is_some_and(|s| !s.contains(&out.id)) {
                self.parked.push(p);
                continue;
            }
            let OutState { taint, depth, node } = p.state;
            if p.via_link
                && let Some(st) = self.tainted.get_mut(&out.id)
            {
                st.taint = (st.taint + taint).min(out.value);
                st.depth = st.depth.min(depth);
                continue;
            }
            self.settle(t, graph, linker, (&p.tx, p.vout), taint, depth, node)?;
        }
        Ok(())
    }

    /// Ends what is left in the walk: parked outputs rest unmoved; taint delivered to an
    /// output whose spending tx had already been processed (a clock tie between chains) would
    /// otherwise vanish, so it is counted where it is.
    fn rest(&self, t: &mut Tracker) {
        for p in &self.parked {
            t.end(p.state.node, p.state.taint, Stop::Unmoved);
        }
        let mut left: Vec<(&u64, &OutState)> = self.tainted.iter().collect();
        left.sort_by_key(|(id, _)| **id);
        if !left.is_empty() {
            t.note(format!(
                "{}: {} tainted output(s) were reached after their spending tx was processed; \
                 their taint is reported where it arrived (time limit)",
                self.chain,
                left.len()
            ));
        }
        for (_, st) in left {
            t.end(st.node, st.taint, Stop::TimeLimit);
        }
    }
}

/// Traces UTXO chain `chain` from `seeds`, following no links.
pub fn trace_utxo(
    t: &mut Tracker,
    graph: &mut dyn UtxoGraph,
    chain: Chain,
    seeds: &[UtxoSeed],
) -> Result<(), TraceError> {
    let mut linker = Linker::none();
    let mut w = UtxoWalk::new(chain, t.rules.policy);
    w.seed(t, graph, &mut linker, seeds)?;
    while w.next_time().is_some() {
        w.step(t, graph, &mut linker)?;
    }
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
    ledgers: foldhash::HashMap<Arc<str>, Ledger>,
    nodes: foldhash::HashMap<Arc<str>, usize>,
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

/// A tainted account's next transfer: its order, its time, the account, its index in the
/// account's history (the time rides along so the walks can be stepped in time order without
/// a lookup).
type NextTransfer = (EventKey, u64, Arc<str>, usize);

/// Taint a seed brings to a transfer: stolen there, or carried to it by links.
#[derive(Default)]
struct SeedIn {
    stolen: u128,
    linked: Vec<Linked>,
}

/// Taint a link carried to a transfer.
struct Linked {
    taint: u128,
    depth: u32,
    from: Option<usize>,
    hop: Hop,
}

/// One account chain's traversal: the tainted addresses with their ledgers, a heap of each
/// one's next transfer, and seeded transfers (stolen, or where links deliver taint).
pub struct AccountWalk {
    chain: Chain,
    /// The chain's name as every hop shows it, made once.
    chain_name: Arc<str>,
    accts: foldhash::HashMap<Arc<str>, Acct>,
    heap: BinaryHeap<Reverse<NextTransfer>>,
    seeds: BTreeMap<EventKey, (AccountEvent, SeedIn)>,
    /// The last transfer applied.
    now: Option<EventKey>,
}

impl AccountWalk {
    /// An empty walk of `chain`.
    pub fn new(chain: Chain) -> AccountWalk {
        AccountWalk {
            chain,
            chain_name: chain.name().into(),
            accts: foldhash::HashMap::default(),
            heap: BinaryHeap::new(),
            seeds: BTreeMap::new(),
            now: None,
        }
    }

    /// Seeds the walk with stolen transfers and sources.
    pub fn seed(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn AccountGraph,
        seeds: &[AccountSeed],
    ) -> Result<(), TraceError> {
        let chain = self.chain;
        let policy = t.rules.policy;
        let cap = t.rules.caps.max_history;
        for s in seeds {
            match s {
                AccountSeed::Transfer { event, stolen } => {
                    let e = self
                        .seeds
                        .entry(event.key())
                        .or_insert((event.clone(), SeedIn::default()));
                    e.1.stolen = (e.1.stolen + stolen).min(event.amount);
                }
                AccountSeed::Source {
                    address,
                    since,
                    assets,
                } => {
                    let hist = graph.history(address, cap)?;
                    let start = hist.partition_point(|e| e.time < *since);
                    let stolen_asset = |a: &str| {
                        assets.is_empty() || assets.iter().any(|x| x.eq_ignore_ascii_case(a))
                    };
                    if !hist[start..].iter().any(|e| {
                        *e.from == **address
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
                        self.heap
                            .push(Reverse((e.key(), e.time, address.as_str().into(), start)));
                    }
                    self.accts.insert(
                        address.as_str().into(),
                        Acct {
                            hist,
                            cursor: start,
                            ledgers,
                            nodes: foldhash::HashMap::default(),
                            depth: 0,
                            source_since: Some(*since),
                            source_assets: assets.clone(),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// When the next transfer to apply happened.
    fn next_time(&self) -> Option<u64> {
        let h = self.heap.peek().map(|Reverse((_, time, _, _))| *time);
        let s = self.seeds.first_key_value().map(|(_, (e, _))| e.time);
        match (h, s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Applies the next transfer.
    fn step(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn AccountGraph,
        linker: &mut Linker<'_>,
    ) -> Result<(), TraceError> {
        let from_heap = self.heap.peek().map(|Reverse((k, _, _, _))| *k);
        let from_seed = self.seeds.first_key_value().map(|(k, _)| *k);
        let (ev, seed) = match (from_heap, from_seed) {
            (None, None) => return Ok(()),
            (Some(h), s) if s.is_none_or(|s| h < s) => {
                let Some(Reverse((_, _, addr, cur))) = self.heap.pop() else {
                    return Ok(());
                };
                let Some(a) = self.accts.get(&addr) else {
                    return Ok(());
                };
                if a.cursor != cur {
                    return Ok(()); // stale: the transfer was applied from its other side
                }
                (a.hist[cur].clone(), None)
            }
            (h, Some(_)) => {
                let Some((k, (ev, seed))) = self.seeds.pop_first() else {
                    return Ok(());
                };
                // The same transfer may also be next for a tainted address: apply it once.
                if h == Some(k) {
                    self.heap.pop();
                }
                (ev, Some(seed))
            }
            (Some(_), None) => unreachable!("handled by the first arm"),
        };
        self.now = Some(self.now.map_or(ev.key(), |n| n.max(ev.key())));
        if t.rules.until.is_some_and(|u| ev.time > u) {
            if let Some(seed) = &seed {
                if seed.stolen > 0 {
                    t.note(format!(
                        "stolen transfer {} at {} is after the time limit: not traced",
                        ev.tx_text(),
                        ev.at()
                    ));
                }
                for l in &seed.linked {
                    t.end_linked_late(self.chain, &ev, l)?;
                }
            }
            return Ok(());
        }
        self.apply(t, graph, linker, &ev, seed)
    }

    /// Picks up taint a link carried to transfer `c.leg` of this chain.
    fn cross(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn AccountGraph,
        linker: &mut Linker<'_>,
        c: Crossing,
    ) -> Result<(), TraceError> {
        let key: EventKey = (c.height, c.leg.tx_index, 0, c.leg.leg);
        let hist = graph.history(&c.leg.party, t.rules.caps.max_history)?;
        let Some(idx) = hist.iter().position(|e| e.key() == key) else {
            return Err(TraceError::Data(format!(
                "{}: link exit {} ({}:{}:{}) is not a transfer to {} in the store",
                self.chain, c.leg.tx, c.height, c.leg.tx_index, c.leg.leg, c.leg.party
            )));
        };
        let ev = hist[idx].clone();
        let linked = Linked {
            taint: c.taint.min(ev.amount),
            depth: c.depth,
            from: c.from,
            hop: c.hop,
        };
        if self.now.is_none_or(|n| key > n) {
            let e = self.seeds.entry(key).or_insert((ev, SeedIn::default()));
            e.1.linked.push(linked);
            return Ok(());
        }
        // The out leg came before the in leg in the tx (a pool paying out before it is paid,
        // as Uniswap V3 does): taint the receipt after the fact.
        if let Some(a) = self.accts.get_mut(&ev.to)
            && a.hist
                .get(..a.cursor)
                .is_some_and(|h| h.iter().any(|e| e.key() == key))
        {
            let ledger = a
                .ledgers
                .entry(ev.asset.clone())
                .or_insert_with(|| Ledger::new(t.rules.policy));
            let taint = ledger.retaint(ev.amount, linked.taint);
            a.depth = a.depth.min(linked.depth);
            let node = match a.nodes.get(&ev.asset) {
                Some(&n) => n,
                None => {
                    let n = t.node(
                        self.chain,
                        Arc::clone(&ev.to),
                        Arc::clone(&ev.asset),
                        a.depth,
                    )?;
                    a.nodes.insert(ev.asset.clone(), n);
                    n
                }
            };
            let mut hop = linked.hop;
            hop.tainted = taint;
            hop.to = Arc::clone(&ev.to);
            return t.edge(linked.from, node, hop);
        }
        self.apply(
            t,
            graph,
            linker,
            &ev,
            Some(SeedIn {
                stolen: 0,
                linked: vec![linked],
            }),
        )
    }

    /// Reads the history of the tainted addresses in `touched` (every one if `None`) again
    /// (the chain has grown) and queues the next transfer of those that had applied all they
    /// had. A history that no longer starts with what was applied (the chain changed under the
    /// walk) is an error: the caller starts over.
    fn refresh(
        &mut self,
        graph: &mut dyn AccountGraph,
        cap: usize,
        touched: Option<&BTreeSet<String>>,
    ) -> Result<(), TraceError> {
        let chain = self.chain;
        for (name, a) in &mut self.accts {
            if touched.is_some_and(|t| !t.contains(&**name)) {
                continue;
            }
            let hist = graph.history(name, cap)?;
            let kept = a.hist.len();
            if hist.len() < kept
                || a.hist.last().map(AccountEvent::key)
                    != hist.get(kept.wrapping_sub(1)).map(AccountEvent::key)
            {
                return Err(TraceError::Data(format!(
                    "{chain}: the history of {name} no longer starts with the {kept} transfer(s) the trace applied"
                )));
            }
            let waiting = a.cursor == kept;
            a.hist = hist;
            if waiting && let Some(next) = a.hist.get(a.cursor) {
                self.heap
                    .push(Reverse((next.key(), next.time, Arc::clone(name), a.cursor)));
            }
        }
        Ok(())
    }

    /// What is left in tainted ledgers rests there.
    fn rest(&self, t: &mut Tracker) -> Result<(), TraceError> {
        let chain = self.chain;
        let mut names: Vec<&Arc<str>> = self.accts.keys().collect();
        names.sort();
        let mut rest = Vec::new();
        for name in names {
            let a = &self.accts[name];
            let moves_later = a.cursor < a.hist.len();
            let mut assets: Vec<(&Arc<str>, &Ledger)> = a.ledgers.iter().collect();
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
                None => t.node(chain, Arc::clone(&name), Arc::clone(&asset), depth)?,
            };
            t.end(node, taint, stop);
        }
        Ok(())
    }

    #[allow(clippy::too_many_lines)]
    fn apply(
        &mut self,
        t: &mut Tracker,
        graph: &mut dyn AccountGraph,
        linker: &mut Linker<'_>,
        ev: &AccountEvent,
        seed: Option<SeedIn>,
    ) -> Result<(), TraceError> {
        let chain = self.chain;
        let policy = t.rules.policy;
        let key = ev.key();
        let mut own = 0u128;
        let mut from_node = None;
        let mut from_depth = 0;
        let self_transfer = ev.from == ev.to;
        if let Some(a) = self.accts.get_mut(&ev.from).filter(|a| a.at(key)) {
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
                own = ev.amount;
                t.add_stolen(chain, &ev.asset, new);
            } else {
                own = carried;
            }
            from_depth = a.depth;
            if own > 0 {
                from_node = Some(match a.nodes.get(&ev.asset) {
                    Some(&n) => n,
                    None => {
                        let n =
                            t.node(chain, Arc::clone(&ev.from), Arc::clone(&ev.asset), a.depth)?;
                        a.nodes.insert(ev.asset.clone(), n);
                        n
                    }
                });
            }
            if !self_transfer {
                a.cursor += 1;
                if let Some(next) = a.hist.get(a.cursor) {
                    self.heap
                        .push(Reverse((next.key(), next.time, ev.from.clone(), a.cursor)));
                }
            }
        }
        // Taint entering a link by this transfer crosses it instead of staying with the pool,
        // mixer or bridge.
        if own > 0
            && !ev.fee
            && let Some((r, fact)) = linker.input_at(chain, ev.height, ev.tx, ev.sub)?
            && fact
                .input()
                .is_some_and(|i| i.asset.eq_ignore_ascii_case(&ev.asset))
        {
            let cap = t.rules.caps.max_history;
            let from_text: Arc<str> = Arc::clone(&ev.from);
            t.follow(
                linker,
                &mut |_, a, before| first_funder(&mut *graph, a, before, cap),
                (chain, r, &fact),
                own,
                from_depth,
                (from_node, &from_text),
                ev.time,
            )?;
            own = 0;
        }
        let mut parts: Vec<(Option<usize>, Hop, u32)> = Vec::new();
        let chain_name = Arc::clone(&self.chain_name);
        let hop = |tainted: u128, rule: String| Hop {
            chain: Arc::clone(&chain_name),
            tx: ev.tx_text().into(),
            at: ev.at().into(),
            time: ev.time,
            from: Arc::clone(&ev.from),
            to: Arc::clone(&ev.to),
            asset: Arc::clone(&ev.asset),
            value: ev.amount,
            tainted,
            rule: rule.into(),
            edge: if ev.fee {
                EdgeKind::Fee
            } else {
                EdgeKind::Transfer
            },
        };
        if own > 0 {
            let rule = if ev.fee {
                format!("{policy}: fee")
            } else {
                format!("{policy}: transfer")
            };
            parts.push((from_node, hop(own, rule), from_depth.saturating_add(1)));
        }
        let mut taint = own;
        if let Some(seed) = seed {
            if seed.stolen > 0 {
                let new = seed.stolen.min(ev.amount - taint);
                t.add_stolen(chain, &ev.asset, new);
                taint += new;
                parts.push((None, hop(new, "incident: stolen transfer".into()), 1));
            }
            for l in seed.linked {
                let x = l.taint.min(ev.amount - taint);
                taint += x;
                let mut h = l.hop;
                h.tainted = x;
                h.to = Arc::clone(&ev.to);
                parts.push((l.from, h, l.depth));
            }
        }
        let depth = parts.iter().map(|p| p.2).min().unwrap_or(1);
        if let Some(a) = self.accts.get_mut(&ev.to).filter(|a| a.at(key)) {
            a.ledgers
                .entry(ev.asset.clone())
                .or_insert_with(|| Ledger::new(policy))
                .receive(Parcel::new(ev.amount, taint));
            a.cursor += 1;
            if let Some(next) = a.hist.get(a.cursor) {
                self.heap
                    .push(Reverse((next.key(), next.time, ev.to.clone(), a.cursor)));
            }
            if taint > 0 {
                a.depth = a.depth.min(depth);
                let node = match a.nodes.get(&ev.asset) {
                    Some(&n) => n,
                    None => {
                        let n =
                            t.node(chain, Arc::clone(&ev.to), Arc::clone(&ev.asset), a.depth)?;
                        a.nodes.insert(ev.asset.clone(), n);
                        n
                    }
                };
                for (from, h, _) in parts {
                    if h.tainted > 0 {
                        t.edge(from, node, h)?;
                    }
                }
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
        let node = t.node(chain, Arc::clone(&ev.to), Arc::clone(&ev.asset), depth)?;
        for (from, h, _) in parts {
            if h.tainted > 0 {
                t.edge(from, node, h)?;
            }
        }
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
                ev.tx_text(),
                ev.at(),
                ev.to
            )));
        }
        if self.accts.len() >= t.rules.caps.max_nodes {
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
            self.heap
                .push(Reverse((next.key(), next.time, ev.to.clone(), idx + 1)));
        }
        let mut nodes = foldhash::HashMap::default();
        nodes.insert(ev.asset.clone(), node);
        self.accts.insert(
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
}

/// Who first paid `address` native value at or before `before` (not itself): the funder a
/// mixer heuristic looks for. A history too long to read (an exchange) answers none.
pub(crate) fn first_funder(
    graph: &mut dyn AccountGraph,
    address: &str,
    before: u64,
    cap: usize,
) -> Result<Option<String>, TraceError> {
    let hist = match graph.history(address, cap) {
        Ok(h) => h,
        Err(TraceError::Cap { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(hist
        .iter()
        .take_while(|e| e.time <= before)
        .find(|e| {
            !e.fee && &*e.asset == "native" && e.to.eq_ignore_ascii_case(address) && e.from != e.to
        })
        .map(|e| e.from.to_string()))
}

/// Traces account chain `chain` from `seeds`, following no links.
pub fn trace_account(
    t: &mut Tracker,
    graph: &mut dyn AccountGraph,
    chain: Chain,
    seeds: &[AccountSeed],
) -> Result<(), TraceError> {
    let mut linker = Linker::none();
    let mut w = AccountWalk::new(chain);
    w.seed(t, graph, seeds)?;
    while w.next_time().is_some() {
        w.step(t, graph, &mut linker)?;
    }
    w.rest(t)
}

/// Reads the graphs of every chain a trace crosses.
pub trait Graphs {
    /// UTXO chain `chain`.
    fn utxo(&mut self, chain: Chain) -> Result<&mut dyn UtxoGraph, TraceError>;
    /// Account chain `chain`.
    fn account(&mut self, chain: Chain) -> Result<&mut dyn AccountGraph, TraceError>;
}

/// Traces every chain at once from their seeds, following links between them: each step
/// takes the walk whose next event is earliest, and taint a link carries to another chain is
/// picked up by that chain's walk.
pub fn run(
    t: &mut Tracker,
    graphs: &mut dyn Graphs,
    linker: &mut Linker<'_>,
    utxo_seeds: &BTreeMap<Chain, Vec<UtxoSeed>>,
    account_seeds: &BTreeMap<Chain, Vec<AccountSeed>>,
) -> Result<(), TraceError> {
    let mut walks = Walks::new(false);
    walks.seed(t, graphs, linker, utxo_seeds, account_seeds)?;
    walks.drain(t, graphs, linker, &BTreeMap::new())?;
    walks.rest(t, linker.skipped())
}

/// Every chain's walk of one trace.
pub(crate) struct Walks {
    utxo: BTreeMap<Chain, UtxoWalk>,
    account: BTreeMap<Chain, AccountWalk>,
    /// Walks of a live trace ([`crate::live`]), which the chain's growth extends.
    live: bool,
}

impl Walks {
    pub(crate) fn new(live: bool) -> Walks {
        Walks {
            utxo: BTreeMap::new(),
            account: BTreeMap::new(),
            live,
        }
    }

    fn utxo(&mut self, chain: Chain, policy: Policy) -> &mut UtxoWalk {
        let live = self.live;
        self.utxo.entry(chain).or_insert_with(|| {
            let mut w = UtxoWalk::new(chain, policy);
            w.live = live;
            w
        })
    }

    fn account(&mut self, chain: Chain) -> &mut AccountWalk {
        self.account
            .entry(chain)
            .or_insert_with(|| AccountWalk::new(chain))
    }

    /// The chains walked so far.
    pub(crate) fn chains(&self) -> impl Iterator<Item = Chain> + '_ {
        self.utxo.keys().chain(self.account.keys()).copied()
    }

    /// Seeds the walks. A UTXO seed already seeded is skipped, so a live trace seeds again
    /// with every seed its incident resolves to now.
    pub(crate) fn seed(
        &mut self,
        t: &mut Tracker,
        graphs: &mut dyn Graphs,
        linker: &mut Linker<'_>,
        utxo_seeds: &BTreeMap<Chain, Vec<UtxoSeed>>,
        account_seeds: &BTreeMap<Chain, Vec<AccountSeed>>,
    ) -> Result<(), TraceError> {
        for (&chain, seeds) in utxo_seeds {
            self.utxo(chain, t.rules.policy)
                .seed(t, graphs.utxo(chain)?, linker, seeds)?;
        }
        for (&chain, seeds) in account_seeds {
            self.account(chain).seed(t, graphs.account(chain)?, seeds)?;
        }
        Ok(())
    }

    /// Steps the walks, earliest event first, until none has anything left. A crossing that
    /// lands at or below `settled`'s height of its chain (a live trace's walks that had gone
    /// past it) is not picked up: the reason is returned and the walks are not usable after.
    pub(crate) fn drain(
        &mut self,
        t: &mut Tracker,
        graphs: &mut dyn Graphs,
        linker: &mut Linker<'_>,
        settled: &BTreeMap<Chain, u32>,
    ) -> Result<Option<String>, TraceError> {
        loop {
            while let Some(c) = t.crossings.pop() {
                let chain = c.chain;
                if let Some(&h) = settled.get(&chain)
                    && c.height <= h
                {
                    return Ok(Some(format!(
                        "taint crossed a link to {chain} block {}, which its walk had passed",
                        c.height
                    )));
                }
                match chain.family() {
                    ChainFamily::Utxo => {
                        let policy = t.rules.policy;
                        self.utxo(chain, policy)
                            .cross(t, graphs.utxo(chain)?, linker, c)?;
                    }
                    ChainFamily::Account => {
                        self.account(chain)
                            .cross(t, graphs.account(chain)?, linker, c)?;
                    }
                }
            }
            let next_u = self
                .utxo
                .iter()
                .filter_map(|(c, w)| w.next_time().map(|x| (x, *c)))
                .min();
            let next_a = self
                .account
                .iter()
                .filter_map(|(c, w)| w.next_time().map(|x| (x, *c)))
                .min();
            match (next_u, next_a) {
                (None, None) => return Ok(None),
                (Some(u), a) if a.is_none_or(|a| u <= a) => {
                    if let Some(w) = self.utxo.get_mut(&u.1) {
                        w.step(t, graphs.utxo(u.1)?, linker)?;
                    }
                }
                (_, Some(a)) => {
                    if let Some(w) = self.account.get_mut(&a.1) {
                        w.step(t, graphs.account(a.1)?, linker)?;
                    }
                }
                (Some(_), None) => unreachable!("handled by the first arm"),
            }
        }
    }

    /// Makes the walks ready to go on over a grown store: the histories of the tainted
    /// addresses `touched` names (per account chain: the parties to its new transfers) read
    /// again, and the parked outputs that `spent` names (per UTXO chain: the outputs its new
    /// txs spend) followed, in the order they were reached. A chain in neither map has all its
    /// histories read again and all its parked outputs' spenders looked up again.
    pub(crate) fn regrow(
        &mut self,
        t: &mut Tracker,
        graphs: &mut dyn Graphs,
        linker: &mut Linker<'_>,
        touched: &BTreeMap<Chain, BTreeSet<String>>,
        spent: &BTreeMap<Chain, HashSet<u64>>,
    ) -> Result<(), TraceError> {
        let cap = t.rules.caps.max_history;
        for (&chain, w) in &mut self.account {
            w.refresh(graphs.account(chain)?, cap, touched.get(&chain))?;
        }
        for (&chain, w) in &mut self.utxo {
            w.resettle(t, graphs.utxo(chain)?, linker, spent.get(&chain))?;
        }
        Ok(())
    }

    /// Whether taint reached UTXO output `out` of `chain` in a live walk.
    pub(crate) fn reached(&self, chain: Chain, out: u64) -> bool {
        self.utxo
            .get(&chain)
            .is_some_and(|w| w.reached.contains(&out))
    }

    /// Whether UTXO output `out` of `chain` was seeded as stolen.
    pub(crate) fn seeded(&self, chain: Chain, out: u64) -> bool {
        self.utxo
            .get(&chain)
            .is_some_and(|w| w.seeded.contains(&out))
    }

    /// Ends what rests in every walk, and notes the links seen but not followed.
    pub(crate) fn rest(
        &self,
        t: &mut Tracker,
        skipped: &BTreeMap<String, u64>,
    ) -> Result<(), TraceError> {
        for w in self.account.values() {
            w.rest(t)?;
        }
        for w in self.utxo.values() {
            w.rest(t);
        }
        for (why, n) in skipped {
            t.note(format!("links: {n} × {why}"));
        }
        Ok(())
    }
}

/// Clean ledgers per asset from `address`'s transfers before it was first tainted.
fn prefix_ledgers(
    policy: Policy,
    address: &str,
    before: &[AccountEvent],
) -> foldhash::HashMap<Arc<str>, Ledger> {
    let mut bal: foldhash::HashMap<Arc<str>, u128> = foldhash::HashMap::default();
    for e in before {
        // Sent beyond the balance: clean value that was already there (partial data), so a
        // transfer to oneself leaves at least its amount.
        let b = bal.entry(e.asset.clone()).or_default();
        if *e.from == *address {
            *b = b.saturating_sub(e.amount);
        }
        if *e.to == *address {
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
