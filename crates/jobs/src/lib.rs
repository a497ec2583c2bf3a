//! tracehound's batch jobs as DataFusion plans over the Parquet dataset (issue #11): the same
//! SQL runs embedded (DataFusion in this process) or distributed (a Ballista cluster's
//! `SessionContext`), and gives the native engines' results exactly.
//!
//! - [`dataset`]: checks a dataset's manifest and registers its tables ([`register`]);
//! - [`balances`]: received, sent, balance and tx count per address (and asset);
//! - [`cluster`]: co-spend clustering with the CoinJoin guard, as iterated connected
//!   components (alternating large-star and small-star rounds);
//! - [`trace`]: poison and haircut taint from an incident over UTXO chains (an iterated
//!   fixpoint of joins) and account chains (per-address ledgers in a window function,
//!   iterated to a fixpoint);
//! - [`exposure`]: screening exposure to labeled origins for all addresses, the labeled
//!   walk N hops forward and backward with the haircut share per hop;
//! - [`work`]: where results and iteration state go (Parquet files, renamed into place when
//!   complete) and how rows come back.
//!
//! Every job takes a caller's [`SessionContext`]. All use built-in functions only, except the
//! trace over account chains: its ledger is a window function of ours ([`window_functions`]),
//! which a Ballista scheduler and executor must have registered (`tracehound-ballista` does;
//! a stock Ballista node does not). Iteration state lives in
//! Parquet files registered as listing tables, never in memory tables, because executors read
//! tables by path. Amounts stay exact integers: `UInt64` base units on UTXO chains,
//! `Decimal128(38, 0)` on account chains and in results that mix both.
//!
//! ```no_run
//! # async fn run() -> Result<(), tracehound_jobs::JobError> {
//! use datafusion::prelude::SessionContext;
//! let ctx = SessionContext::new();
//! let dataset = tracehound_jobs::register(&ctx, "export".as_ref()).await?;
//! let out = tracehound_jobs::balances::run(&ctx, &dataset, "jobs-out".as_ref()).await?;
//! println!("{} addresses", out.result.len());
//! # Ok(()) }
//! ```
#![warn(clippy::unwrap_used)]

pub mod balances;
pub mod cluster;
pub mod dataset;
pub mod exposure;
pub mod location;
pub mod trace;
pub mod work;

use std::path::PathBuf;

pub use dataset::{Dataset, DatasetError, register};
pub use location::Location;
pub use work::Output;

/// The window functions the jobs call, to register on every node of a cluster that runs them
/// (a session of this process registers them itself when a job needs them).
pub fn window_functions() -> Vec<datafusion::logical_expr::WindowUDF> {
    vec![trace::ledger::account_ledger()]
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The dataset cannot be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A query failed.
    #[error("job {job}: {step}: {source}")]
    Engine {
        /// The job.
        job: &'static str,
        /// What it was doing.
        step: String,
        /// Why.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A file or directory of the output could not be written.
    #[error("job output {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An object store location is malformed, unsupported or failed.
    #[error("{location}: {what}")]
    Location {
        /// The location (a URL).
        location: String,
        /// What is wrong.
        what: String,
    },
    /// A result came back in a shape the job did not ask for (a bug, or a context that maps
    /// types differently).
    #[error("job {job}: result column {column}: {what}")]
    Shape {
        /// The job.
        job: &'static str,
        /// The column.
        column: String,
        /// What is wrong.
        what: String,
    },
    /// The request is wrong (unknown incident tx, bad option).
    #[error("job {job}: {what}")]
    Input {
        /// The job.
        job: &'static str,
        /// What is wrong.
        what: String,
    },
    /// An iterative job did not settle within its iteration bound.
    #[error("job {job}: no fixpoint after {iterations} iterations")]
    NoFixpoint {
        /// The job.
        job: &'static str,
        /// Iterations run.
        iterations: u32,
    },
}
