//! The simulator's errors: a config that cannot be played, a node that refuses the plan, a
//! ground truth that cannot be written.

use std::path::PathBuf;

/// Why a scenario could not be planned, played or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The config is impossible; nothing was sent.
    #[error("invalid scenario config: {0}")]
    Config(String),
    /// The config file could not be read or parsed.
    #[error("cannot read scenario config {path}: {detail}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A JSON-RPC call to the node failed.
    #[error("node {method}: {detail}")]
    Rpc {
        /// The method.
        method: String,
        /// What went wrong.
        detail: String,
    },
    /// The node did not do what the plan says (a tx missing from its block, reverted, …).
    #[error("step {step} ({action}): {detail}")]
    Execution {
        /// The plan step.
        step: usize,
        /// What the step does.
        action: String,
        /// What went wrong.
        detail: String,
    },
    /// The ground truth is inconsistent (a bug in the simulator).
    #[error("ground truth inconsistent: {0}")]
    Truth(String),
    /// Writing the ground truth failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// The simulator's result type.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
