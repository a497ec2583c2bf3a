//! A blocking face of [`crate::EvmClient`] for synchronous callers (the CLI, the store's
//! ingest loop): it owns a small tokio runtime and waits on each call.
//!
//! Do not use it from inside an async runtime; use [`crate::EvmClient`] there.

use std::ops::RangeInclusive;

use tracehound_core::{Address, Chain};

use crate::client::{ClientOptions, EvmClient};
use crate::error::{EvmError, Result};
use crate::model::{EvmBlock, TokenMetadata, TraceFlavour};

/// [`EvmClient`] with blocking calls.
#[derive(Debug)]
pub struct BlockingEvmClient {
    runtime: tokio::runtime::Runtime,
    client: EvmClient,
}

impl BlockingEvmClient {
    /// See [`EvmClient::connect`].
    pub fn connect(url: &str, chain: Chain, options: ClientOptions) -> Result<BlockingEvmClient> {
        // Two workers: the work is waiting on the node, and the machines are small.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| EvmError::Config {
                detail: format!("cannot start the async runtime: {e}"),
            })?;
        let client = runtime.block_on(EvmClient::connect(url, chain, options))?;
        Ok(BlockingEvmClient { runtime, client })
    }

    /// The async client inside.
    pub fn inner(&self) -> &EvmClient {
        &self.client
    }

    /// See [`EvmClient::chain`].
    pub fn chain(&self) -> Chain {
        self.client.chain()
    }

    /// See [`EvmClient::trace_flavour`].
    pub fn trace_flavour(&self) -> Option<TraceFlavour> {
        self.client.trace_flavour()
    }

    /// See [`EvmClient::trace_note`].
    pub fn trace_note(&self) -> Option<&str> {
        self.client.trace_note()
    }

    /// See [`EvmClient::tip`].
    pub fn tip(&self) -> Result<u64> {
        self.runtime.block_on(self.client.tip())
    }

    /// See [`EvmClient::block_hash`].
    pub fn block_hash(&self, height: u64) -> Result<Option<tracehound_core::Hash32>> {
        self.runtime.block_on(self.client.block_hash(height))
    }

    /// See [`EvmClient::fetch_block`].
    pub fn fetch_block(&self, height: u64) -> Result<EvmBlock> {
        self.runtime.block_on(self.client.fetch_block(height))
    }

    /// See [`EvmClient::fetch_blocks`].
    pub fn fetch_blocks(&self, heights: RangeInclusive<u64>) -> Result<Vec<EvmBlock>> {
        self.runtime.block_on(self.client.fetch_blocks(heights))
    }

    /// See [`EvmClient::token_metadata`].
    pub fn token_metadata(&self, token: &Address) -> Result<TokenMetadata> {
        self.runtime.block_on(self.client.token_metadata(token))
    }

    /// See [`EvmClient::native_balances`].
    pub fn native_balances(&self, accounts: &[(Address, u64)]) -> Result<Vec<u128>> {
        self.runtime.block_on(self.client.native_balances(accounts))
    }

    /// See [`EvmClient::token_balances`].
    pub fn token_balances(&self, pairs: &[(Address, Address, u64)]) -> Result<Vec<Option<u128>>> {
        self.runtime.block_on(self.client.token_balances(pairs))
    }
}
