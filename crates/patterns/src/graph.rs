//! The small graph view every detector reads: value flows (payer → payee, one asset, one
//! amount, at a block height), the same shape for UTXO txs and account transfers, built from a
//! trace's hops or from the store around an address.
//!
//! A UTXO tx becomes one flow per output, from the tx's main payer (the trace names the input
//! that carried the taint; the store view names the largest input). An account transfer is one
//! flow. Detectors that look at "one spend" group flows into [`Step`]s: a UTXO tx, or an
//! account's transfers out in one block (a wallet that pays and moves its change on an account
//! chain sends two transfers, usually in one block).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tracehound_trace::link::{EdgeKind, LinkKind};
use tracehound_trace::{Hop, TraceResult};

/// One movement of value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Chain name.
    pub chain: String,
    /// Tx id / hash.
    pub tx: String,
    /// Block height.
    pub height: u64,
    /// Position in the block (tx index).
    pub index: u64,
    /// Block time (unix seconds).
    pub time: u64,
    /// Payer address.
    pub from: String,
    /// Payee address.
    pub to: String,
    /// Asset (`native` or a token contract).
    pub asset: String,
    /// Base units.
    pub value: u128,
    /// Whether it is part of a UTXO tx (else an account transfer).
    pub utxo: bool,
    /// A cross-chain or cross-asset link that carried it (bridge, swap, wrap, mixer).
    pub link: Option<LinkKind>,
}

/// The flows with what is known about their txs and addresses.
#[derive(Debug, Clone, Default)]
pub struct FlowGraph {
    /// Flows, in (height, index) order once [`FlowGraph::sort`] ran.
    pub flows: Vec<Flow>,
    /// Label category of an address, by (chain, address) (`mixer`, `exchange` …).
    pub categories: HashMap<(String, String), String>,
    /// UTXO txs the CoinJoin guard flagged, with its reason.
    pub coinjoins: HashMap<String, String>,
}

/// One spend: the flows out of one payer in one UTXO tx, or one account's transfers out in
/// one block.
#[derive(Debug, Clone)]
pub struct Step {
    /// Payer.
    pub from: String,
    /// Chain.
    pub chain: String,
    /// Height.
    pub height: u64,
    /// Indices into [`FlowGraph::flows`], payees other than the payer itself.
    pub flows: Vec<usize>,
}

impl FlowGraph {
    /// The flows of a trace: every taint-carrying hop but the incident's own (whose payer is
    /// the placeholder `incident`), with the payer's address as the trace names it.
    pub fn from_trace(result: &TraceResult) -> FlowGraph {
        FlowGraph::from_trace_after(result, &Heights::default()).0
    }

    /// The flows of a trace above a height on each chain (`after`, by chain name; a chain not
    /// in it gives all its flows), with the categories of every endpoint: what a live trace's
    /// new blocks add, for [`crate::Incremental`]. Also, from the same pass over the hops
    /// (a large trace's cost is in reading them), what was seen of them.
    pub fn from_trace_after(result: &TraceResult, after: &Heights) -> (FlowGraph, Seen) {
        let mut g = FlowGraph::default();
        let mut seen = BTreeSet::new();
        let mut hops = Seen::default();
        for h in &result.edges {
            let (height, index) = parse_at(&h.at);
            hops.heights.raise(&h.chain, height);
            if after.get(&h.chain).is_some_and(|a| height <= a) {
                hops.at_or_below += 1;
                continue;
            }
            if !seen.insert((h.tx.clone(), h.from.clone(), h.to.clone(), h.asset.clone())) {
                continue;
            }
            let link = match &h.edge {
                EdgeKind::Link(l) => Some(l.link),
                _ => None,
            };
            // The incident's placeholder payer and UTXO fees are no addresses.
            if matches!(h.edge, EdgeKind::Fee) || &*h.from == "incident" || &*h.to == "fee" {
                continue;
            }
            g.flows.push(Flow {
                chain: h.chain.to_string(),
                tx: h.tx.to_string(),
                height,
                index,
                time: h.time,
                from: h.from.to_string(),
                to: h.to.to_string(),
                asset: h.asset.to_string(),
                value: h.value,
                utxo: matches!(h.edge, EdgeKind::UtxoTx),
                link,
            });
        }
        for e in &result.endpoints {
            if let Some(c) = &e.category {
                g.categories
                    .insert((e.chain.clone(), e.address.clone()), c.clone());
            }
        }
        g.sort();
        (g, hops)
    }

    /// Sorts flows into chain order.
    pub fn sort(&mut self) {
        sort_flows(&mut self.flows);
    }

    /// The label category of `address` on `chain`, if known.
    pub fn category(&self, chain: &str, address: &str) -> Option<&str> {
        self.categories
            .get(&(chain.to_string(), address.to_string()))
            .map(String::as_str)
    }

    /// The spends, in chain order of their first flow.
    pub fn steps(&self) -> Vec<Step> {
        steps_of(&self.flows, 0..self.flows.len())
    }
}

/// Sorts flows into chain order: by height and position in the block, then by what they are
/// (a total order, so any two sorts of the same flows agree).
pub(crate) fn sort_flows(flows: &mut [Flow]) {
    flows.sort_by(|a, b| {
        (
            a.height, a.index, &a.chain, &a.tx, &a.from, &a.to, &a.asset, a.value,
        )
            .cmp(&(
                b.height, b.index, &b.chain, &b.tx, &b.from, &b.to, &b.asset, b.value,
            ))
    });
}

/// The spends among the flows `idx` (in chain order), in chain order of their first flow.
pub(crate) fn steps_of(flows: &[Flow], idx: impl IntoIterator<Item = usize>) -> Vec<Step> {
    // Key: UTXO tx, or (payer, height) for account transfers; the chain keeps two chains
    // apart.
    let mut by: BTreeMap<(String, String, u64, String), Step> = BTreeMap::new();
    let mut order: Vec<(String, String, u64, String)> = Vec::new();
    for i in idx {
        let f = &flows[i];
        if f.from == f.to || f.link.is_some() {
            continue;
        }
        let key = if f.utxo {
            (f.chain.clone(), f.from.clone(), f.height, f.tx.clone())
        } else {
            (f.chain.clone(), f.from.clone(), f.height, String::new())
        };
        let s = by.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            Step {
                from: f.from.clone(),
                chain: f.chain.clone(),
                height: f.height,
                flows: Vec::new(),
            }
        });
        s.flows.push(i);
    }
    order.into_iter().filter_map(|k| by.remove(&k)).collect()
}

/// What [`FlowGraph::from_trace_after`] saw of a trace's hops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Hops at or below the heights asked for.
    pub at_or_below: usize,
    /// The highest height of each chain's hops.
    pub heights: Heights,
}

/// A height per chain, for the few chains of a trace: a short list, as it is looked up for
/// every hop of a large trace (hashing each hop's chain name cost more than the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heights(Vec<(String, u64)>);

impl Heights {
    /// `chain`'s height, if it has one.
    pub fn get(&self, chain: &str) -> Option<u64> {
        self.0.iter().find(|(c, _)| c == chain).map(|&(_, h)| h)
    }

    /// Raises `chain`'s height to `height` (sets it, if it has none).
    pub fn raise(&mut self, chain: &str, height: u64) {
        match self.0.iter_mut().find(|(c, _)| c == chain) {
            Some((_, h)) => *h = (*h).max(height),
            None => self.0.push((chain.to_string(), height)),
        }
    }
}

/// The height of a trace's hop (0 where its place is unreadable).
pub fn height_of(h: &Hop) -> u64 {
    parse_at(&h.at).0
}

/// `height:index` or `height:tx:sub` as (height, index); zeros where unreadable.
fn parse_at(at: &str) -> (u64, u64) {
    let mut p = at.split(':').map(|x| x.parse::<u64>().unwrap_or(0));
    (p.next().unwrap_or(0), p.next().unwrap_or(0))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A flow for hand-built test graphs.
    pub(crate) fn flow(tx: &str, h: u64, from: &str, to: &str, value: u128, utxo: bool) -> Flow {
        Flow {
            chain: if utxo {
                "litecoin-regtest"
            } else {
                "evm-31337"
            }
            .into(),
            tx: tx.into(),
            height: h,
            index: 0,
            time: h * 150,
            from: from.into(),
            to: to.into(),
            asset: "native".into(),
            value,
            utxo,
            link: None,
        }
    }

    /// A graph of `flows`, sorted.
    pub(crate) fn graph(flows: Vec<Flow>) -> FlowGraph {
        let mut g = FlowGraph {
            flows,
            ..FlowGraph::default()
        };
        g.sort();
        g
    }

    #[test]
    fn steps_group_utxo_by_tx_and_accounts_by_block() {
        let g = graph(vec![
            flow("t1", 1, "a", "b", 10, true),
            flow("t1", 1, "a", "c", 90, true),
            flow("x1", 2, "p", "q", 5, false),
            flow("x2", 2, "p", "r", 95, false),
            flow("x3", 3, "p", "r", 1, false),
        ]);
        let steps = g.steps();
        let sizes: Vec<usize> = steps.iter().map(|s| s.flows.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[test]
    fn at_parses_both_shapes() {
        assert_eq!(parse_at("241:23"), (241, 23));
        assert_eq!(parse_at("7:3:1"), (7, 3));
        assert_eq!(parse_at("x"), (0, 0));
    }
}
