//! Exposure to labeled addresses (sanctioned, mixer): a bounded walk, N hops forward (who
//! received value that came from the origin: their *incoming* exposure) and N hops backward
//! (who sent value that reached the origin: their *outgoing* exposure).
//!
//! **The integer rule (a haircut per hop).** Each node of the walk carries a share `s` in basis
//! points (the origin: 10,000). A flow is the part of a tx attributable to one payer and one
//! payee: for a UTXO tx, output value × the payer's inputs ÷ all inputs (rounded down); for an
//! account transfer, its amount. A flow of `x` from a node of share `s` exposes its counterparty
//! to `⌊x · s / 10,000⌋`. A counterparty's exposure is the sum over the flows reaching it at the
//! hop it is first reached (later hops never add to it: the nearest hop is the graver one), and
//! its own share for the next hop is that exposure over everything it received (forward) or sent
//! (backward) in the asset, in basis points rounded down ([`crate::record::share_bps`]). So
//! value is diluted hop by hop exactly as haircut taint would be, with no floats.
//!
//! Time is respected: forward, a node's flows count from the first time exposed value reached
//! it; backward, up to the last time it sent value on towards the origin.
//!
//! Bounds: the walk does not pass through services and dark places (exchanges, mixers …: their
//! flows are other customers' money), nor through addresses with more than `max_history` txs;
//! each hop keeps at most `max_frontier` nodes (the most exposed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use tracehound_core::{Address, Chain, TransferKind};
use tracehound_store::{Store, UtxoLinks};

use crate::ScreenError;
use crate::record::{Direction, Exposure, Origin, Step, share_bps};

/// Value moved between a node and one counterparty by one tx (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The other side.
    pub counterparty: String,
    /// `native` or the token contract.
    pub asset: String,
    /// The part of the tx attributable to this payer and payee, base units.
    pub amount: u128,
    /// Block time.
    pub time: u64,
    /// Tx id.
    pub tx: String,
    /// `height:index` or `height:tx:sub`.
    pub at: String,
}

/// An address's flows, shared with the cache.
pub type Flows = Rc<[Flow]>;

/// What the walk reads: a chain's flows by address.
pub trait FlowGraph {
    /// What `address` paid others (`None`: its history is over the cap).
    fn outflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError>;
    /// What others paid `address` (`None`: its history is over the cap).
    fn inflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError>;
    /// Everything `address` received and sent in `asset`, if known.
    fn totals(&mut self, address: &str, asset: &str) -> Result<Option<(u128, u128)>, ScreenError>;
}

/// How far the walk goes.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    /// Hops from the origin.
    pub hops: u32,
    /// Nodes kept per hop (the most exposed).
    pub max_frontier: usize,
}

/// One labeled origin.
#[derive(Debug, Clone)]
pub struct WalkOrigin {
    /// The chain.
    pub chain: Chain,
    /// Canonical address.
    pub address: String,
    /// Sanctioned or mixer.
    pub origin: Origin,
    /// Its label.
    pub label: Option<String>,
}

/// A node reached: its exposure so far and how it was reached.
struct Reached {
    amount: u128,
    /// Forward: earliest arrival; backward: latest departure.
    time: u64,
    /// The heaviest flow that reached it, and the node it came from.
    best: Option<(u128, Step, String)>,
}

/// Walks from `o` in `direction` over `graph`; `passes(address)` says whether the walk may go
/// on through an address (not a service). Returns `(address, exposure)` pairs.
pub fn walk(
    graph: &mut dyn FlowGraph,
    o: &WalkOrigin,
    direction: Direction,
    limits: WalkLimits,
    passes: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, Exposure)>, ScreenError> {
    let chain = o.chain.name();
    let mut out = Vec::new();
    // (address, asset) → path from the origin, for every node reached at an earlier hop.
    let mut paths: HashMap<(String, String), Vec<Step>> = HashMap::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    // Frontier: (address, asset or None for every asset, share bps, time bound).
    let mut frontier: Vec<(String, Option<String>, u32, u64)> = vec![(
        o.address.clone(),
        None,
        10_000,
        match direction {
            Direction::Incoming => 0,
            Direction::Outgoing => u64::MAX,
        },
    )];
    for hop in 1..=limits.hops {
        let mut reached: BTreeMap<(String, String), Reached> = BTreeMap::new();
        for (node, asset, share, bound) in &frontier {
            let flows = match direction {
                Direction::Incoming => graph.outflows(node)?,
                Direction::Outgoing => graph.inflows(node)?,
            };
            let Some(flows) = flows else { continue };
            for f in flows.iter() {
                if f.counterparty == *node || f.counterparty == o.address {
                    continue;
                }
                if asset.as_ref().is_some_and(|a| *a != f.asset) {
                    continue;
                }
                let in_time = match direction {
                    Direction::Incoming => f.time >= *bound,
                    Direction::Outgoing => f.time <= *bound,
                };
                let key = (f.counterparty.clone(), f.asset.clone());
                if !in_time || seen.contains(&key) {
                    continue;
                }
                // Exact for any amount (a meme token's supply times a share overflows u128).
                let carried =
                    tracehound_trace::arith::mul_div_floor(f.amount, u128::from(*share), 10_000);
                if carried == 0 {
                    continue;
                }
                let r = reached.entry(key).or_insert(Reached {
                    amount: 0,
                    time: f.time,
                    best: None,
                });
                r.amount += carried;
                r.time = match direction {
                    Direction::Incoming => r.time.min(f.time),
                    Direction::Outgoing => r.time.max(f.time),
                };
                if r.best.as_ref().is_none_or(|b| carried > b.0) {
                    let (from, to) = match direction {
                        Direction::Incoming => (node.clone(), f.counterparty.clone()),
                        Direction::Outgoing => (f.counterparty.clone(), node.clone()),
                    };
                    let step = Step {
                        tx: f.tx.clone(),
                        at: f.at.clone(),
                        from,
                        to,
                        amount: carried,
                    };
                    r.best = Some((carried, step, node.clone()));
                }
            }
        }
        let mut next = Vec::new();
        for ((address, asset), r) in reached {
            let Some((_, step, via)) = r.best else {
                continue;
            };
            let before = paths.get(&(via, asset.clone()));
            // Paths read from the origin's side to the address's: forward the new step comes
            // last, backward (the address paid towards the origin) first.
            let path: Vec<Step> = match direction {
                Direction::Incoming => before
                    .into_iter()
                    .flatten()
                    .cloned()
                    .chain([step])
                    .collect(),
                Direction::Outgoing => [step]
                    .into_iter()
                    .chain(before.into_iter().flatten().cloned())
                    .collect(),
            };
            let total = graph
                .totals(&address, &asset)?
                .map(|(received, sent)| match direction {
                    Direction::Incoming => received,
                    Direction::Outgoing => sent,
                });
            let share = total.and_then(|t| share_bps(r.amount, t));
            seen.insert((address.clone(), asset.clone()));
            if hop < limits.hops && share.is_some_and(|s| s > 0) && passes(&address) {
                next.push((
                    r.amount,
                    (
                        address.clone(),
                        Some(asset.clone()),
                        share.unwrap_or(0),
                        r.time,
                    ),
                ));
                paths.insert((address.clone(), asset.clone()), path.clone());
            }
            out.push((
                address,
                Exposure {
                    origin: o.origin,
                    direction,
                    source: o.address.clone(),
                    label: o.label.clone(),
                    chain: chain.clone(),
                    asset,
                    amount: r.amount,
                    share_bps: share,
                    hops: hop,
                    path,
                },
            ));
        }
        // The most exposed go on; ties by address for a stable index.
        next.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.0.cmp(&b.1.0)));
        next.truncate(limits.max_frontier);
        frontier = next.into_iter().map(|(_, n)| n).collect();
        if frontier.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// Flows and totals kept across walks: the walks from many labeled origins meet at the same
/// busy addresses, and each read of them costs every tx of their history. Bounded by
/// `max_flows` cached flows (then it starts over).
pub struct Cached<G> {
    inner: G,
    flows: HashMap<(String, bool), Option<Flows>>,
    totals: HashMap<(String, String), Option<(u128, u128)>>,
    held: usize,
    max_flows: usize,
}

impl<G: FlowGraph> Cached<G> {
    /// `inner`, cached up to `max_flows` flows.
    pub fn new(inner: G, max_flows: usize) -> Self {
        Cached {
            inner,
            flows: HashMap::new(),
            totals: HashMap::new(),
            held: 0,
            max_flows,
        }
    }

    fn get(&mut self, address: &str, out: bool) -> Result<Option<Flows>, ScreenError> {
        if let Some(f) = self.flows.get(&(address.to_string(), out)) {
            return Ok(f.clone());
        }
        let f = if out {
            self.inner.outflows(address)?
        } else {
            self.inner.inflows(address)?
        };
        let n = f.as_ref().map_or(1, |f| f.len().max(1));
        if self.held + n > self.max_flows {
            self.flows.clear();
            self.totals.clear();
            self.held = 0;
        }
        self.held += n;
        self.flows.insert((address.to_string(), out), f.clone());
        Ok(f)
    }
}

impl<G: FlowGraph> FlowGraph for Cached<G> {
    fn outflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError> {
        self.get(address, true)
    }

    fn inflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError> {
        self.get(address, false)
    }

    fn totals(&mut self, address: &str, asset: &str) -> Result<Option<(u128, u128)>, ScreenError> {
        let key = (address.to_string(), asset.to_string());
        if let Some(t) = self.totals.get(&key) {
            return Ok(*t);
        }
        let t = self.inner.totals(address, asset)?;
        self.totals.insert(key, t);
        Ok(t)
    }
}

/// A UTXO chain of the store as flows (see the module docs for a flow's amount).
pub struct UtxoFlows<'s> {
    store: &'s Store,
    links: UtxoLinks<'s>,
    max_history: usize,
    ids: HashMap<String, Option<u64>>,
}

impl<'s> UtxoFlows<'s> {
    /// Reads `chain` of `store`; addresses with more than `max_history` txs are not expanded.
    pub fn new(store: &'s Store, chain: Chain, max_history: usize) -> Result<Self, ScreenError> {
        Ok(UtxoFlows {
            store,
            links: store.utxo_links(chain)?,
            max_history,
            ids: HashMap::new(),
        })
    }

    fn id(&mut self, address: &str) -> Result<Option<u64>, ScreenError> {
        if let Some(id) = self.ids.get(address) {
            return Ok(*id);
        }
        let a = Address::from_canonical(self.links.chain(), address.to_string());
        let id = self.links.address_id(&a)?;
        self.ids.insert(address.to_string(), id);
        Ok(id)
    }

    /// The txs of `address` (`None` over the cap or unknown), each as ids.
    fn txs(&mut self, address: &str) -> Result<Option<(u64, Vec<u64>)>, ScreenError> {
        let Some(id) = self.id(address)? else {
            return Ok(None);
        };
        let seqs = self.links.address_txs(id)?;
        if seqs.len() > self.max_history {
            return Ok(None);
        }
        Ok(Some((id, seqs)))
    }

    fn flows(&mut self, address: &str, out: bool) -> Result<Option<Flows>, ScreenError> {
        let Some((id, seqs)) = self.txs(address)? else {
            return Ok(None);
        };
        let mut flows = Vec::new();
        for seq in seqs {
            let t = self.links.tx_without_spenders(seq)?;
            let total_in: u128 = t.inputs.iter().map(|i| u128::from(i.value)).sum();
            if total_in == 0 {
                continue;
            }
            let mine_in: u128 = t
                .inputs
                .iter()
                .filter(|i| i.addr == Some(id))
                .map(|i| u128::from(i.value))
                .sum();
            let mine_out: u128 = t
                .outputs
                .iter()
                .filter(|o| o.addr == Some(id))
                .map(|o| u128::from(o.value))
                .sum();
            // Per counterparty: (its outputs, for outflows) or (its inputs, for inflows).
            let mut parts: BTreeMap<u64, u128> = BTreeMap::new();
            if out && mine_in > 0 {
                for o in &t.outputs {
                    if let Some(a) = o.addr.filter(|&a| a != id) {
                        *parts.entry(a).or_default() += u128::from(o.value);
                    }
                }
            } else if !out && mine_out > 0 {
                for i in &t.inputs {
                    if let Some(a) = i.addr.filter(|&a| a != id) {
                        *parts.entry(a).or_default() += u128::from(i.value);
                    }
                }
            }
            if parts.is_empty() {
                continue;
            }
            let tx = self.links.txid(seq)?.to_string();
            let at = format!("{}:{}", t.height, t.index);
            for (a, v) in parts {
                // Outflow: their outputs × my share of the inputs; inflow: my outputs × their
                // share of the inputs.
                let amount = if out {
                    v * mine_in / total_in
                } else {
                    mine_out * v / total_in
                };
                flows.push(Flow {
                    counterparty: self.links.address(a)?,
                    asset: "native".into(),
                    amount,
                    time: t.time,
                    tx: tx.clone(),
                    at: at.clone(),
                });
            }
        }
        Ok(Some(flows.into()))
    }
}

impl FlowGraph for UtxoFlows<'_> {
    fn outflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError> {
        self.flows(address, true)
    }

    fn inflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError> {
        self.flows(address, false)
    }

    fn totals(&mut self, address: &str, _asset: &str) -> Result<Option<(u128, u128)>, ScreenError> {
        let a = Address::from_canonical(self.links.chain(), address.to_string());
        Ok(self
            .store
            .address(&a)?
            .map(|v| (v.received.units(), v.sent.units())))
    }
}

/// An account chain of the store as flows (a transfer's amount; fees and NFTs left out).
pub struct AccountFlows<'s> {
    store: &'s Store,
    chain: Chain,
    max_history: usize,
}

impl<'s> AccountFlows<'s> {
    /// Reads `chain` of `store`; accounts with more than `max_history` transfers are not
    /// expanded.
    pub fn new(store: &'s Store, chain: Chain, max_history: usize) -> Self {
        AccountFlows {
            store,
            chain,
            max_history,
        }
    }

    fn flows(&mut self, address: &str, out: bool) -> Result<Option<Flows>, ScreenError> {
        let a = Address::from_canonical(self.chain, address.to_string());
        let Some(view) = self.store.account(&a)? else {
            return Ok(None);
        };
        if view.transfers > self.max_history as u64 {
            return Ok(None);
        }
        let rows = self
            .store
            .account_flows(self.chain, view.id, 0, self.max_history)?;
        Ok(Some(
            rows.into_iter()
                .filter(|r| r.kind != TransferKind::Fee && r.kind != TransferKind::Nft)
                .filter(|r| {
                    if out {
                        r.from == address
                    } else {
                        r.to == address
                    }
                })
                .map(|r| Flow {
                    counterparty: if out { r.to.clone() } else { r.from.clone() },
                    amount: r.received.units().max(r.sent.units()),
                    time: r.time,
                    tx: format!("0x{}", r.txid),
                    at: format!("{}:{}:{}", r.height, r.tx_index, r.sub_index),
                    asset: r.asset,
                })
                .collect::<Vec<_>>()
                .into(),
        ))
    }
}

impl FlowGraph for AccountFlows<'_> {
    fn outflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError> {
        self.flows(address, true)
    }

    fn inflows(&mut self, address: &str) -> Result<Option<Flows>, ScreenError> {
        self.flows(address, false)
    }

    fn totals(&mut self, address: &str, asset: &str) -> Result<Option<(u128, u128)>, ScreenError> {
        let a = Address::from_canonical(self.chain, address.to_string());
        Ok(self.store.account(&a)?.and_then(|v| {
            v.balances
                .iter()
                .find(|b| b.asset == asset)
                .map(|b| (b.received.units(), b.sent.units()))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph given as (from, to, amount, time) account transfers.
    struct Fixed(Vec<(&'static str, &'static str, u128, u64)>);

    impl FlowGraph for Fixed {
        fn outflows(&mut self, a: &str) -> Result<Option<Flows>, ScreenError> {
            Ok(Some(self.flows(a, true).into()))
        }
        fn inflows(&mut self, a: &str) -> Result<Option<Flows>, ScreenError> {
            Ok(Some(self.flows(a, false).into()))
        }
        fn totals(&mut self, a: &str, _: &str) -> Result<Option<(u128, u128)>, ScreenError> {
            let r = self.0.iter().filter(|t| t.1 == a).map(|t| t.2).sum();
            let s = self.0.iter().filter(|t| t.0 == a).map(|t| t.2).sum();
            Ok(Some((r, s)))
        }
    }

    impl Fixed {
        fn flows(&self, a: &str, out: bool) -> Vec<Flow> {
            self.0
                .iter()
                .enumerate()
                .filter(|(_, t)| if out { t.0 == a } else { t.1 == a })
                .map(|(n, t)| Flow {
                    counterparty: (if out { t.1 } else { t.0 }).to_string(),
                    asset: "native".into(),
                    amount: t.2,
                    time: t.3,
                    tx: format!("t{n}"),
                    at: format!("{n}:0:0"),
                })
                .collect()
        }
    }

    fn origin() -> WalkOrigin {
        WalkOrigin {
            chain: Chain::Evm(1),
            address: "s".into(),
            origin: Origin::Sanctioned,
            label: Some("bad".into()),
        }
    }

    #[test]
    fn forward_exposure_is_diluted_by_an_integer_haircut_per_hop() {
        // s pays a 30 at t=1; a also got 70 clean (t=0), then pays b 50 at t=2; b pays c 10
        // at t=0, before it was exposed (not counted).
        let mut g = Fixed(vec![
            ("s", "a", 30, 1),
            ("x", "a", 70, 0),
            ("a", "b", 50, 2),
            ("b", "c", 10, 0),
        ]);
        let limits = WalkLimits {
            hops: 3,
            max_frontier: 100,
        };
        let got = walk(&mut g, &origin(), Direction::Incoming, limits, &|_| true).unwrap();
        let by: HashMap<&str, &Exposure> = got.iter().map(|(a, e)| (a.as_str(), e)).collect();
        assert_eq!(by["a"].amount, 30);
        assert_eq!(by["a"].hops, 1);
        assert_eq!(by["a"].share_bps, Some(3000));
        // 50 × 3,000 / 10,000 = 15, reached at hop 2 through a.
        assert_eq!(by["b"].amount, 15);
        assert_eq!(by["b"].hops, 2);
        assert_eq!(by["b"].path.len(), 2);
        assert_eq!(by["b"].path[0].tx, "t0");
        assert_eq!(by["b"].path[1].tx, "t2");
        assert!(!by.contains_key("c"), "{got:?}");
        assert!(!by.contains_key("x"));
    }

    #[test]
    fn backward_exposure_follows_senders_before_they_paid_and_stops_at_services() {
        let mut g = Fixed(vec![
            ("a", "s", 40, 5),
            ("b", "a", 100, 3),
            ("c", "a", 100, 9),
            ("ex", "s", 10, 5),
            ("d", "ex", 10, 1),
        ]);
        let limits = WalkLimits {
            hops: 2,
            max_frontier: 100,
        };
        let got = walk(&mut g, &origin(), Direction::Outgoing, limits, &|a| {
            a != "ex"
        })
        .unwrap();
        let by: HashMap<&str, &Exposure> = got.iter().map(|(a, e)| (a.as_str(), e)).collect();
        assert_eq!(by["a"].amount, 40);
        assert_eq!(by["a"].share_bps, Some(10_000));
        assert_eq!(by["b"].amount, 100);
        assert_eq!(by["b"].path[0].from, "b");
        assert_eq!(by["b"].path[1].to, "s");
        assert!(!by.contains_key("c"), "paid a after a's payment: {got:?}");
        assert_eq!(by["ex"].hops, 1);
        assert!(!by.contains_key("d"), "the walk stops at services: {got:?}");
    }
}
