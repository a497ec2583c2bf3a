//! tracehound's labels: who an address belongs to, and who can freeze what sits there.
//!
//! - [`import`]: GraphSense tagpacks, OFAC lists, Etherscan-family dumps and CSV read into
//!   [`Tag`]s, each keeping its source, the source's own category and confidence terms, and
//!   where in the file it was; bad records are errors naming file, line (or entry) and value,
//!   or are skipped and counted.
//! - [`category`]: the vocabulary ([`Category`]) and the one table mapping every source's
//!   terms onto it; which categories can freeze ([`Category::freezable_by`]) and what a trace
//!   does at each ([`Category::trace_role`]).
//! - [`confidence`]: the 0..=100 scale and what each source's terms mean on it.
//! - [`normalize`]: canonical addresses per chain (EIP-55 checked, bech32 lower case,
//!   base58check validated) and the chain of a currency code.
//! - [`LabelStore`]: the persistent store (`labels.redb` in the data dir): idempotent
//!   imports that replace a source's tags, analysts' own labels and notes kept apart.
//! - [`LabelIndex`]: the strongest tag of every address in memory, for screening and traces.
//!
//! ```no_run
//! use std::path::Path;
//! use tracehound_labels::{Format, ImportOptions, LabelStore, import};
//! let store = LabelStore::open_in(Path::new("/tmp/data"))?;
//! let parsed = import::read_file(
//!     Path::new("sanctioned_addresses_ETH.txt"),
//!     Format::Ofac,
//!     &ImportOptions::default(),
//! )?;
//! let report = store.import(&parsed, Format::Ofac, "sanctioned_addresses_ETH.txt")?;
//! println!("{} imported, {} skipped", report.imported, report.skipped);
//! # Ok::<(), tracehound_labels::LabelError>(())
//! ```
#![warn(clippy::unwrap_used)]

pub mod category;
pub mod confidence;
pub mod import;
mod index;
pub mod normalize;
mod store;
mod tag;

pub use category::{Category, Freezer, TraceRole, UnknownCategory};
pub use import::{Format, ImportOptions, Parsed, Problem};
pub use index::LabelIndex;
pub use store::{FILE_NAME, Filter, ImportReport, LabelStore, SourceInfo};
pub use tag::{ANALYST_PREFIX, Tag, now};

/// What went wrong with labels.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A bad record or file: where, what and the value.
    #[error("{0}")]
    Invalid(Problem),
    /// The label store failed.
    #[error("label store {path}: {message}")]
    Store {
        /// Its file.
        path: String,
        /// What failed.
        message: String,
    },
    /// A request that cannot be carried out (bad argument).
    #[error("{0}")]
    Input(String),
}
