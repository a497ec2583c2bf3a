//! tracehound's address clustering: which addresses belong to one entity, and the txs that
//! prove it.
//!
//! - [`union_find`]: disjoint sets over a chain's dense address ids (the store's interning).
//! - [`coinjoin`]: the guard that keeps CoinJoins (Whirlpool, Wasabi, JoinMarket) from
//!   merging their participants, each flag with a rule and a reason.
//! - [`change`]: the optional change-address heuristic, with a confidence.
//! - [`Clusterer`]: co-spend (every input of a tx has one owner) over txs in chain order,
//!   recording for each merge the tx that made it ([`Evidence`]).
//! - [`deposit`]: EVM deposit addresses (Victor 2020): an address that forwards what it
//!   receives to one exchange's labelled hot wallet joins that exchange.
//! - [`Clustering`]: the result per chain — address id → entity id (the entity's smallest
//!   address id), evidence edges, figures — saved as `cluster-<chain>.bin` in the data dir;
//!   [`Clustering::evidence_path`] is the chain of txs joining an address to its entity.
//! - [`store`]: builds a chain's clustering from tracehound's store ([`cluster_chain`]) and
//!   describes an entity with its members, labels and evidence ([`describe`]).
//! - [`score`]: pairwise precision and recall against a ground truth of owners.
#![warn(clippy::unwrap_used)]

pub mod change;
mod clustering;
pub mod coinjoin;
pub mod deposit;
mod engine;
pub mod score;
pub mod store;
pub mod synth;
pub mod union_find;

use std::path::PathBuf;

pub use clustering::{Clustering, EntityStats, Evidence, EvidenceKind, Figures};
pub use engine::{CO_SPEND_CONFIDENCE, Clusterer, Options};
pub use store::{EntityView, EvidenceView, LabelView, MemberView, cluster_chain, describe};
pub use union_find::UnionFind;

/// An input of a UTXO tx, as clustering sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxIn {
    /// Address id of the spent output (`None`: it paid no address).
    pub addr: Option<u32>,
    /// Script template of the spent output, if known.
    pub kind: Option<tracehound_core::ScriptKind>,
}

/// An output of a UTXO tx, as clustering sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOut {
    /// Address id of the payee (`None`: `OP_RETURN` and the like).
    pub addr: Option<u32>,
    /// Value in base units.
    pub value: u64,
    /// Script template.
    pub kind: tracehound_core::ScriptKind,
}

/// A UTXO tx, as clustering sees it.
#[derive(Debug, Clone, Copy)]
pub struct TxShape<'a> {
    /// Its position on the chain (the store's tx seq), recorded as evidence.
    pub tx: u64,
    /// Whether it is a coinbase (no inputs to join).
    pub coinbase: bool,
    /// Inputs in order.
    pub inputs: &'a [TxIn],
    /// Outputs in order.
    pub outputs: &'a [TxOut],
}

/// What went wrong while clustering.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] tracehound_store::StoreError),
    /// Reading the label store failed.
    #[error(transparent)]
    Labels(#[from] tracehound_labels::LabelError),
    /// A clustering file could not be read or written.
    #[error("clustering file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A clustering file is damaged or from another version.
    #[error("clustering file {path} is unreadable: {what} (rebuild it with `tracehound cluster`)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A request that cannot be answered (unknown address or entity, chain not clustered).
    #[error("{0}")]
    Input(String),
}
