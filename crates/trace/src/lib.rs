//! tracehound's taint engine: given an incident, say how much stolen value sits where, which
//! of those places can freeze it, and prove each figure with the path of txs behind it.
//!
//! - [`policy`]: poison, haircut, FIFO, LIFO, TIHO over UTXO txs and account ledgers, exact
//!   integer arithmetic ([`arith`]), each documented with its source and worked example;
//! - [`link`]: the edge model, including the cross-asset links (swap, bridge, wrap, mixer);
//! - [`engine`]: the traversal, forward in chain order across every chain at once, with stop
//!   rules and caps; [`follow`]: pairing link facts (swap, wrap, bridge, chain swap, mixer);
//! - [`graph`]: what the engine reads, as data behind two traits; [`store`] implements them
//!   over tracehound's store and resolves an [`Incident`] against it;
//! - [`live`]: a trace kept open and extended as the chains grow (the watch);
//! - [`result`]: endpoints with proof, the summary (parts add up to the stolen total), and
//!   table / JSON / CSV / DOT output.
//!
//! TRACING.md (in the project's shared design docs) is the specification of the policies.
#![warn(clippy::unwrap_used)]

pub mod arith;
pub mod engine;
pub mod follow;
pub mod graph;
pub mod incident;
pub mod labels;
pub mod link;
pub mod live;
pub mod policy;
pub mod prices;
pub mod result;
pub mod store;

pub use engine::{
    AccountSeed, AccountWalk, Caps, Graphs, Rules, Tracker, UtxoSeed, UtxoWalk, run, trace_account,
    trace_utxo,
};
pub use follow::{LinkRules, LinkView, Linker};
pub use incident::{Incident, SourceItem, StolenItem};
pub use labels::{Label, Labels, LabelsError};
pub use live::{Advance, LiveTrace};
pub use policy::{Ledger, Parcel, Policy, split_tx};
pub use result::{Endpoint, EntityTag, Hop, LinkUse, Stop, Summary, TraceResult};
pub use store::trace;

/// Why a trace could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The incident is wrong (unknown tx, address or asset, nothing sent, …).
    #[error("incident: {0}")]
    Incident(String),
    /// Something the trace needed is not in the store.
    #[error("not in the store: {0}")]
    Unknown(String),
    /// The data contradicts itself (a tx spending more than it has, a missing transfer).
    #[error("inconsistent data: {0}")]
    Data(String),
    /// A cap was reached.
    #[error("trace stopped: more than {limit} {what} (raise the cap with {flag})")]
    Cap {
        /// What overflowed.
        what: String,
        /// The cap.
        limit: u64,
        /// The command-line flag that raises it.
        flag: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] tracehound_store::StoreError),
}
