//! Graphs from the store: the flows around an address, N hops out, on a UTXO or an account
//! chain; and the CoinJoin guard's verdict on the UTXO txs of any graph (a trace's hops carry
//! no tx shape, the store does).

use std::collections::{BTreeSet, VecDeque};
use std::str::FromStr;

use tracehound_cluster::coinjoin;
use tracehound_cluster::{TxIn, TxOut, TxShape};
use tracehound_core::{Address, Chain, ChainFamily, Hash32, ScriptKind};
use tracehound_store::Store;
use tracehound_store::{TxLinks, UtxoLinks};
use tracehound_trace::Labels;

use crate::PatternsError;
use crate::graph::{Flow, FlowGraph};

/// How far [`around`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Hops out from the address (1: its own txs only).
    pub hops: u32,
    /// Most txs (or transfers) read per address: the newest are kept, so an exchange's hot
    /// wallet on the way does not pull in its whole history.
    pub per_address: usize,
    /// Most txs (or transfers) in the graph.
    pub total: usize,
}

impl Default for Reach {
    fn default() -> Reach {
        Reach {
            hops: 2,
            per_address: 200,
            total: 20_000,
        }
    }
}

/// The flows around `address`: its txs, then those of every address they touch, `reach.hops`
/// deep; with label categories from `labels` and CoinJoins flagged.
pub fn around(
    store: &Store,
    labels: &Labels,
    address: &Address,
    reach: Reach,
) -> Result<FlowGraph, PatternsError> {
    let chain = address.chain();
    let mut g = FlowGraph::default();
    match chain.family() {
        ChainFamily::Utxo => utxo_around(store, address, reach, &mut g)?,
        ChainFamily::Account => account_around(store, address, reach, &mut g)?,
    }
    for f in &g.flows {
        for a in [&f.from, &f.to] {
            if let Some(l) = labels.get(chain, a) {
                g.categories
                    .insert((f.chain.clone(), a.clone()), l.category.clone());
            }
        }
    }
    g.sort();
    Ok(g)
}

fn utxo_around(
    store: &Store,
    address: &Address,
    reach: Reach,
    g: &mut FlowGraph,
) -> Result<(), PatternsError> {
    let chain = address.chain();
    let links = store.utxo_links(chain)?;
    let Some(start) = links.address_id(address)? else {
        return Err(PatternsError::UnknownAddress(address.as_str().to_string()));
    };
    let mut seen_addr = BTreeSet::from([start]);
    let mut seen_tx = BTreeSet::new();
    let mut queue = VecDeque::from([(start, 0u32)]);
    while let Some((id, depth)) = queue.pop_front() {
        let seqs = links.address_txs(id)?;
        let skip = seqs.len().saturating_sub(reach.per_address);
        for seq in seqs.into_iter().skip(skip) {
            if seen_tx.len() >= reach.total || !seen_tx.insert(seq) {
                continue;
            }
            let t = links.tx_without_spenders(seq)?;
            let txid = links.txid(seq)?.to_string();
            push_utxo(&links, chain, &txid, &t, g)?;
            if depth + 1 < reach.hops {
                let ids = t
                    .inputs
                    .iter()
                    .filter_map(|i| i.addr)
                    .chain(t.outputs.iter().filter_map(|o| o.addr));
                for a in ids {
                    if seen_addr.insert(a) {
                        queue.push_back((a, depth + 1));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Adds UTXO tx `t`'s flows (one per output, from its largest input's address) and its
/// CoinJoin verdict.
fn push_utxo(
    links: &UtxoLinks<'_>,
    chain: Chain,
    txid: &str,
    t: &TxLinks,
    g: &mut FlowGraph,
) -> Result<(), PatternsError> {
    let Some(payer) = t
        .inputs
        .iter()
        .filter(|i| i.addr.is_some())
        .max_by_key(|i| i.value)
        .and_then(|i| i.addr)
    else {
        return Ok(()); // coinbase or no address: nothing a detector reads
    };
    let from = links.address(payer)?;
    for o in &t.outputs {
        let Some(a) = o.addr else { continue };
        g.flows.push(Flow {
            chain: chain.to_string(),
            tx: txid.to_string(),
            height: u64::from(t.height),
            index: u64::from(t.index),
            time: t.time,
            from: from.clone(),
            to: links.address(a)?,
            asset: "native".into(),
            value: u128::from(o.value),
            utxo: true,
            link: None,
        });
    }
    if let Some(cj) = coinjoin_of(t) {
        g.coinjoins.insert(txid.to_string(), cj);
    }
    Ok(())
}

/// The CoinJoin guard's reason for `t`, if it flags it.
fn coinjoin_of(t: &TxLinks) -> Option<String> {
    let inputs: Vec<TxIn> = t
        .inputs
        .iter()
        .map(|i| TxIn {
            addr: i.addr.and_then(|a| u32::try_from(a).ok()),
            kind: None,
        })
        .collect();
    let outputs: Vec<TxOut> = t
        .outputs
        .iter()
        .map(|o| TxOut {
            addr: o.addr.and_then(|a| u32::try_from(a).ok()),
            value: o.value,
            // The guard reads values and payees; the template is not stored in links.
            kind: ScriptKind::P2wpkh,
        })
        .collect();
    coinjoin::detect(&TxShape {
        tx: t.seq,
        coinbase: t.coinbase,
        inputs: &inputs,
        outputs: &outputs,
    })
    .map(|c| format!("{} ({})", c.rule, c.reason))
}

fn account_around(
    store: &Store,
    address: &Address,
    reach: Reach,
    g: &mut FlowGraph,
) -> Result<(), PatternsError> {
    let chain = address.chain();
    let mut seen_addr = BTreeSet::from([address.as_str().to_string()]);
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([(address.clone(), 0u32)]);
    while let Some((a, depth)) = queue.pop_front() {
        let Some(view) = store.account(&a)? else {
            if depth == 0 {
                return Err(PatternsError::UnknownAddress(a.as_str().to_string()));
            }
            continue;
        };
        let n = usize::try_from(view.transfers).unwrap_or(usize::MAX);
        let offset = n.saturating_sub(reach.per_address);
        for r in store.account_flows(chain, view.id, offset, reach.per_address)? {
            if seen.len() >= reach.total
                || !seen.insert((r.height, r.tx_index, r.sub_index, r.txid))
            {
                continue;
            }
            g.flows.push(Flow {
                chain: chain.to_string(),
                tx: r.txid.to_string(),
                height: u64::from(r.height),
                index: u64::from(r.tx_index),
                time: r.time,
                from: r.from.clone(),
                to: r.to.clone(),
                asset: r.asset.clone(),
                value: r.received.units().max(r.sent.units()),
                utxo: false,
                link: None,
            });
            if depth + 1 < reach.hops {
                for other in [&r.from, &r.to] {
                    if seen_addr.insert(other.clone())
                        && let Ok(next) = Address::parse(chain, other)
                    {
                        queue.push_back((next, depth + 1));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Flags the UTXO txs of `g` the CoinJoin guard flags, reading their shapes from the store.
pub fn mark_coinjoins(store: &Store, g: &mut FlowGraph) -> Result<(), PatternsError> {
    let txs: BTreeSet<(String, String)> = g
        .flows
        .iter()
        .filter(|f| f.utxo)
        .map(|f| (f.chain.clone(), f.tx.clone()))
        .collect();
    let mut current: Option<(String, UtxoLinks<'_>)> = None;
    for (chain_name, tx) in txs {
        let Ok(chain) = Chain::from_str(&chain_name) else {
            continue;
        };
        let Ok(hash) = Hash32::from_str(&tx) else {
            continue;
        };
        if current.as_ref().is_none_or(|c| c.0 != chain_name) {
            current = Some((chain_name.clone(), store.utxo_links(chain)?));
        }
        let Some((_, links)) = &current else { continue };
        let Some(seq) = links.find(&hash)? else {
            continue;
        };
        if let Some(cj) = coinjoin_of(&links.tx_without_spenders(seq)?) {
            g.coinjoins.insert(tx, cj);
        }
    }
    Ok(())
}
