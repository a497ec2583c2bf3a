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
pub mod incremental;
pub mod store;

pub use detect::{Config, Detection, Kind, detect_all};
pub use graph::{Flow, FlowGraph, Step};
pub use incremental::Incremental;

use std::collections::HashMap;

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
    /// Flows pushed to an [`Incremental`] at or below a height already pushed on their chain.
    #[error(
        "flows of {chain} at height {height} come after height {tip} was pushed: an \
         incremental detector takes each chain's blocks in order (start it again after a reorg)"
    )]
    OutOfOrder {
        /// Chain.
        chain: String,
        /// The flow's height.
        height: u64,
        /// The chain's highest height pushed.
        tip: u64,
    },
}

/// Detections indexed by the addresses and txs they name, to tag many trace endpoints at
/// once (a scan of every detection per endpoint is quadratic on large traces).
pub struct Touching<'d> {
    by_address: HashMap<&'d str, Vec<Kind>>,
    by_tx: HashMap<&'d str, Vec<Kind>>,
}

impl<'d> Touching<'d> {
    /// The index of `detections`.
    pub fn new(detections: impl IntoIterator<Item = &'d Detection>) -> Self {
        let mut by_address: HashMap<&str, Vec<Kind>> = HashMap::new();
        let mut by_tx: HashMap<&str, Vec<Kind>> = HashMap::new();
        for d in detections {
            for a in &d.addresses {
                by_address.entry(a).or_default().push(d.kind);
            }
            for t in &d.txs {
                by_tx.entry(t).or_default().push(d.kind);
            }
        }
        Touching { by_address, by_tx }
    }

    /// The pattern kinds touching a trace endpoint: detections naming its address or sharing
    /// a tx with its proof path, by name, each once.
    pub fn kinds(&self, address: &str, path_txs: &[&str]) -> Vec<String> {
        let on_path = path_txs.iter().filter_map(|t| self.by_tx.get(t));
        let mut kinds: Vec<Kind> = self
            .by_address
            .get(address)
            .into_iter()
            .chain(on_path)
            .flatten()
            .copied()
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds.into_iter().map(|k| k.name().to_string()).collect()
    }
}
