//! EVM chains (Ethereum and any chain by chain id and JSON-RPC URL): blocks read from a node
//! into tracehound's model, with every movement of value as a [`tracehound_core::Transfer`].
//!
//! - [`client`]: [`EvmClient`] connects to a node, checks its chain id, detects its trace
//!   flavour and fetches blocks ([`EvmClient::fetch_block`], [`EvmClient::fetch_blocks`]);
//!   [`BlockingEvmClient`] is the same for synchronous callers.
//! - [`model`]: what comes out, [`EvmBlock`] with its txs, transfers (native, internal, fee,
//!   token, NFT), wrap links and token metadata; the module docs say how each movement is
//!   represented so that balances reconcile exactly.
//! - [`extract`]: the pure step from node answers to an [`EvmBlock`], with the consistency
//!   checks.
//! - [`traces`]: internal transfers from Parity traces or geth's `callTracer`.
//! - [`links`]: link facts (swaps, wraps, bridges, chain-swap memos, mixers) during
//!   extraction, under a link config ([`ClientOptions::links`]).
//! - [`logs`]: token events (ERC-20, WETH, ERC-721, ERC-1155) from receipt logs.
//! - [`rpc`]: the transport (batching, bounded concurrency, rate limit, retries).
//! - `testnode` (feature `test-utils`): a real `anvil` for tests.
#![warn(clippy::unwrap_used)]

pub mod blocking;
pub mod client;
pub mod error;
pub mod extract;
pub mod links;
pub mod logs;
pub mod model;
pub mod rpc;
#[cfg(feature = "test-utils")]
pub mod testnode;
pub mod traces;
mod wire;

pub use blocking::BlockingEvmClient;
pub use client::{ClientOptions, EvmClient, TraceMode};
pub use error::{EvmError, Location, Result};
pub use extract::OversizedAmounts;
pub use links::LinkDecoder;
pub use model::{
    BLOCK_LEVEL_TX_INDEX, BurnKind, EvmBlock, EvmTransfer, EvmTx, FeePart, LogEvent, MintKind,
    OPENING_TX_INDEX, TokenMetadata, TraceAction, TraceFlavour, TransferSource, TxStatus,
    WrapDirection, WrapLink, burn_address, mint_address, wrap_address,
};
pub use rpc::RpcOptions;
