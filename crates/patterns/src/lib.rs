//! Laundering-pattern detectors (issue #8): peel chains, fan-out, fan-in, gather-scatter and
//! scatter-gather, rapid hops, mixer use, chain hops and structuring, found on a trace's flow
//! ([`FlowGraph::from_trace`]) or around an address in the store ([`store::around`]).
//!
//! Both chain shapes become one small graph of value flows ([`graph`]); every detector
//! ([`detect`]) reads only that, so each runs on UTXO and account chains alike. A detection
//! names its txs and addresses, carries an integer score 0–100 and explains itself in one
//! line with the figures.

pub mod detect;
pub mod graph;
pub mod store;

pub use detect::{Config, Detection, Kind, detect_all};
pub use graph::{Flow, FlowGraph, Step};

/// What went wrong reading the store for a pattern search.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatternsError {
    /// A store read failed.
    #[error("reading the store: {0}")]
    Store(#[from] tracehound_store::StoreError),
    /// The address is not in the store.
    #[error("address {0} is not in the store")]
    UnknownAddress(String),
}

/// The pattern kinds touching a trace endpoint: detections sharing a tx with the endpoint's
/// proof path, or naming its address.
pub fn kinds_touching(detections: &[Detection], address: &str, path_txs: &[&str]) -> Vec<String> {
    let mut kinds: Vec<Kind> = detections
        .iter()
        .filter(|d| {
            d.addresses.iter().any(|a| a == address)
                || d.txs.iter().any(|t| path_txs.contains(&t.as_str()))
        })
        .map(|d| d.kind)
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds.into_iter().map(|k| k.name().to_string()).collect()
}
