//! Why an extraction failed. Every error names where: the node's URL and the call for node
//! trouble; the block, the transaction and the field for bad data.

use std::time::Duration;

use tracehound_core::Hash32;

/// Where in the chain a data error sits: a block, and the transaction when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Block height.
    pub block: u64,
    /// The transaction, when the error is about one.
    pub tx: Option<Hash32>,
    /// The log's block-wide index, when the error is about a log.
    pub log_index: Option<u64>,
    /// The trace's position in its transaction's call tree, when the error is about a trace.
    pub trace_address: Option<Vec<usize>>,
}

impl Location {
    /// A block as a whole.
    pub fn block(block: u64) -> Location {
        Location {
            block,
            tx: None,
            log_index: None,
            trace_address: None,
        }
    }

    /// A transaction of a block.
    pub fn tx(block: u64, tx: Hash32) -> Location {
        Location {
            tx: Some(tx),
            ..Location::block(block)
        }
    }

    /// The same place, narrowed to a log.
    pub fn with_log(mut self, log_index: u64) -> Location {
        self.log_index = Some(log_index);
        self
    }

    /// The same place, narrowed to a trace.
    pub fn with_trace(mut self, trace_address: &[usize]) -> Location {
        self.trace_address = Some(trace_address.to_vec());
        self
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "block {}", self.block)?;
        if let Some(tx) = &self.tx {
            write!(f, ", tx 0x{tx}")?;
        }
        if let Some(log) = self.log_index {
            write!(f, ", log index {log}")?;
        }
        if let Some(trace) = &self.trace_address {
            write!(f, ", trace address {trace:?}")?;
        }
        Ok(())
    }
}

/// Why a call or an extraction failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvmError {
    /// The URL given for the node is not a usable http(s) URL.
    #[error("invalid node url {url:?}: {detail}")]
    BadUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A setting that cannot work (a non-EVM chain, a malformed contract address).
    #[error("invalid setting: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
    /// The node could not be reached, or kept failing, after every retry.
    #[error(
        "cannot reach the node at {url} for {method} ({target}) after {attempts} attempt(s): {cause} (is the node running at {url}?)"
    )]
    Transport {
        /// The node's URL.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// What the call was about (a block, a tx).
        target: String,
        /// How many times it was tried.
        attempts: u32,
        /// The last failure.
        cause: String,
    },
    /// The node answered the call with a JSON-RPC error.
    #[error("{method} ({target}) at {url}: node error {code}: {message}")]
    Rpc {
        /// The node's URL.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// What the call was about.
        target: String,
        /// The JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The node serves another chain than the one asked for.
    #[error(
        "the node at {url} serves chain id {actual}, not the requested chain id {expected}: check --chain and --rpc"
    )]
    ChainMismatch {
        /// The node's URL.
        url: String,
        /// The chain id asked for.
        expected: u64,
        /// The node's `eth_chainId`.
        actual: u64,
    },
    /// The node has no such block (yet).
    #[error(
        "{method} at {url}: block {block} not found (the node's tip is lower, or it is pruned)"
    )]
    BlockNotFound {
        /// The node's URL.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// The block height asked for.
        block: u64,
    },
    /// An answer does not have the expected shape (a field is missing or of the wrong type).
    #[error("{method} ({target}) at {url}: malformed answer at `{field}`: {detail}")]
    Malformed {
        /// The node's URL.
        url: String,
        /// The JSON-RPC method.
        method: String,
        /// What the call was about.
        target: String,
        /// The path of the offending field in the answer (`transactions[3].value`).
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// Answers that contradict each other or the chain's rules: a receipt for a tx not in the
    /// block, a gap in log indices, a block hash that differs between block and receipts (a
    /// reorganisation while fetching gives this too: fetching again resolves it).
    #[error("inconsistent node data at {at}, field `{field}`: {detail}")]
    Inconsistent {
        /// Where (boxed: keeps every `Result` of this crate small).
        at: Box<Location>,
        /// The field that disagrees.
        field: String,
        /// What disagrees with what.
        detail: String,
    },
    /// A value does not fit the 128-bit amounts of the store; it is refused, never truncated.
    #[error("value of `{field}` at {at} does not fit 128 bits: {value}")]
    AmountOverflow {
        /// Where (boxed: keeps every `Result` of this crate small).
        at: Box<Location>,
        /// Which field.
        field: String,
        /// The value, in decimal.
        value: String,
    },
    /// Receipts the node still did not have after polling.
    #[error(
        "the node at {url} has no receipt for {at} after waiting {} s (is it still indexing?)",
        .waited.as_secs()
    )]
    ReceiptsUnavailable {
        /// The node's URL.
        url: String,
        /// The block (and tx, when one receipt is missing).
        at: Box<Location>,
        /// How long the client polled.
        waited: Duration,
    },
    /// A trace flavour was required by the options but the node does not offer it.
    #[error("the node at {url} does not offer {method} ({detail}), which the options require")]
    TraceUnsupported {
        /// The node's URL.
        url: String,
        /// The missing method.
        method: String,
        /// The node's own words.
        detail: String,
    },
}

impl EvmError {
    /// Whether this error may go away by itself (a dead or busy node, a node still indexing),
    /// so that fetching again later is worth it. [`EvmError::Inconsistent`] is not counted,
    /// though a reorganisation while fetching causes one: the caller knows whether the tip moved.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EvmError::Transport { .. }
                | EvmError::ReceiptsUnavailable { .. }
                | EvmError::BlockNotFound { .. }
        )
    }
}

/// The result of every fallible call of this crate.
pub type Result<T, E = EvmError> = std::result::Result<T, E>;
