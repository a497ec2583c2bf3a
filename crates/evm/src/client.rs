//! The client the store and the CLI call: connect to a node, check its chain, find out what
//! it offers, and fetch blocks with every transfer in them.
//!
//! ```no_run
//! # async fn run() -> Result<(), tracehound_evm::EvmError> {
//! use tracehound_core::Chain;
//! use tracehound_evm::{ClientOptions, EvmClient};
//! let client = EvmClient::connect("http://127.0.0.1:8545", Chain::Evm(31337), ClientOptions::default()).await?;
//! if let Some(why) = client.trace_note() {
//!     eprintln!("{why}");
//! }
//! for block in client.fetch_blocks(0..=client.tip().await?).await? {
//!     println!("{} {} transfers", block.block.height, block.transfers.len());
//! }
//! # Ok(()) }
//! ```
//!
//! What the node offers is found once, at [`EvmClient::connect`]:
//! - the chain id (`eth_chainId`), which must be the requested chain's;
//! - which trace flavour answers — Parity `trace_block`, then
//!   `trace_replayBlockTransactions`, then geth `debug_traceBlockByNumber` with `callTracer`.
//!   Each is asked about a block far beyond the tip: a node that has the method answers "no
//!   such block" (or `null`), one that lacks it "method not found", and neither costs a trace.
//!   With none, [`EvmClient::trace_note`] says so and blocks come without internal transfers
//!   ([`EvmBlock::traces`] is `None`).
//!
//! `eth_getBlockReceipts` is used until the node says it lacks it; then receipts are asked
//! tx by tx. Receipts the node does not have yet (it answers `null`) are asked again every
//! [`RpcOptions::receipt_poll_interval`] for up to [`RpcOptions::receipt_wait`].

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use alloy::primitives::{Address as EvmAddress, Bytes, U64};
use alloy::sol_types::SolValue;
use futures_util::StreamExt;
use serde_json::json;
use tracehound_core::{Address, AssetId, Chain, Hash32};

use crate::error::{EvmError, Location, Result};
use crate::extract::{self, Answers, OversizedAmounts, Settings};
use crate::links::LinkDecoder;
use crate::logs::known_wrapped_native;
use crate::model::{EvmBlock, TokenMetadata, TraceFlavour, address};
use crate::rpc::{Answer, Call, Rpc, RpcOptions, is_unsupported};
use crate::traces::{self, BlockTraces, ForkRules, GethTxTrace, ParityReplay, ParityTrace};
use crate::wire::{WireBlock, WireReceipt};

/// Which trace flavour to use.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum TraceMode {
    /// The first the node offers (Parity block, Parity replay, geth); none is not an error.
    #[default]
    Auto,
    /// This one; the node lacking it is an error at connect.
    Require(TraceFlavour),
    /// No traces: no internal transfers, no block rewards.
    Off,
}

/// Everything [`EvmClient::connect`] can be told.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Transport limits, retries and waits.
    pub rpc: RpcOptions,
    /// Which trace flavour to use.
    pub traces: TraceMode,
    /// Skip `name`/`symbol`/`decimals` lookups ([`EvmBlock::tokens`] stays empty).
    pub no_token_metadata: bool,
    /// Wrapped-native contracts besides the chain's well-known one (WETH on Ethereum, WBNB on
    /// BSC, …): their `Deposit`/`Withdrawal` logs count as wraps and unwraps.
    pub wrapped_native: Vec<Address>,
    /// What to do with token amounts beyond 128 bits.
    pub oversized: OversizedAmounts,
    /// Bridges, vaults, mixers and swap events whose links to decode, besides the built-in
    /// ones (see [`crate::links`]); checked at connect.
    pub links: tracehound_core::LinkConfig,
}

/// A connection to one EVM node for one chain.
#[derive(Debug)]
pub struct EvmClient {
    rpc: Rpc,
    chain: Chain,
    flavour: Option<TraceFlavour>,
    trace_note: Option<String>,
    block_receipts: AtomicBool,
    /// Whether blocks are fetched as headers with tx hashes only, the tx fields taken from
    /// receipts and top-level traces (much cheaper for the node). Turned off for good the
    /// first time a receipt or trace lacks what that needs.
    headers_only: AtomicBool,
    wrapped_native: HashSet<EvmAddress>,
    token_metadata: bool,
    oversized: OversizedAmounts,
    links: LinkDecoder,
    tokens: Mutex<HashMap<EvmAddress, TokenMetadata>>,
}

/// Receipts and traces of a run of blocks, already fetched.
type Fetched = (Vec<Vec<WireReceipt>>, Vec<Option<BlockTraces>>);

/// A block height as a JSON-RPC quantity.
fn hex(height: u64) -> String {
    format!("{height:#x}")
}

impl EvmClient {
    /// Connects to the node at `url`, checks that it serves `chain`, and detects its trace
    /// flavour.
    pub async fn connect(url: &str, chain: Chain, options: ClientOptions) -> Result<EvmClient> {
        let Chain::Evm(expected) = chain else {
            return Err(EvmError::Config {
                detail: format!("{chain} is not an EVM chain"),
            });
        };
        let rpc = Rpc::new(url, options.rpc.clone())?;
        let call = Call::new("eth_chainId", json!([]), "chain id");
        let answer = rpc.call(call.clone()).await?;
        let actual: U64 = decode_required(&rpc, &call, answer)?;
        let actual = actual.to::<u64>();
        if actual != expected {
            return Err(EvmError::ChainMismatch {
                url: url.to_string(),
                expected,
                actual,
            });
        }
        let mut wrapped_native: HashSet<EvmAddress> = known_wrapped_native(expected)
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        for a in &options.wrapped_native {
            let parsed = a.as_str().parse().map_err(|_| EvmError::Config {
                detail: format!("wrapped-native contract {a} is not an EVM address"),
            })?;
            wrapped_native.insert(parsed);
        }
        let mut client = EvmClient {
            rpc,
            chain,
            flavour: None,
            trace_note: None,
            block_receipts: AtomicBool::new(true),
            headers_only: AtomicBool::new(true),
            wrapped_native,
            token_metadata: !options.no_token_metadata,
            oversized: options.oversized,
            links: LinkDecoder::new(chain, &options.links).map_err(|e| EvmError::Config {
                detail: e.to_string(),
            })?,
            tokens: Mutex::new(HashMap::new()),
        };
        client.detect_traces(options.traces).await?;
        Ok(client)
    }

    async fn detect_traces(&mut self, mode: TraceMode) -> Result<()> {
        let candidates: &[TraceFlavour] = match mode {
            TraceMode::Off => {
                self.trace_note = Some(
                    "traces are off: internal transfers and block rewards are not extracted".into(),
                );
                return Ok(());
            }
            TraceMode::Require(f) => &[f][..],
            TraceMode::Auto => &[
                TraceFlavour::ParityBlock,
                TraceFlavour::ParityReplay,
                TraceFlavour::GethCallTracer,
            ],
        };
        // Far beyond any tip: the node says "no such block" if it has the method.
        let probe = self.tip().await?.saturating_add(1 << 40);
        let mut refusals = Vec::new();
        for &flavour in candidates {
            match self.rpc.call(trace_call(flavour, probe)).await {
                Ok(_) => {
                    self.flavour = Some(flavour);
                    return Ok(());
                }
                Err(e) if is_unsupported(&e) => {
                    let EvmError::Rpc { message, .. } = &e else {
                        unreachable!("is_unsupported matched an Rpc error")
                    };
                    refusals.push(format!("{}: {message}", flavour.method()));
                    if let TraceMode::Require(_) = mode {
                        return Err(EvmError::TraceUnsupported {
                            url: self.rpc.url().to_string(),
                            method: flavour.method().to_string(),
                            detail: message.clone(),
                        });
                    }
                }
                // Any other answer to a block that does not exist means the method is there.
                Err(EvmError::Rpc { .. }) => {
                    self.flavour = Some(flavour);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        let note = format!(
            "the node at {} offers no call traces ({}): extracting without internal transfers (contract-to-account ETH, CREATE endowments, SELFDESTRUCT balances) and without block rewards, so native balances of contracts will not reconcile; use a node with the trace or debug namespace enabled",
            self.rpc.url(),
            refusals.join("; ")
        );
        tracing::warn!("{note}");
        self.trace_note = Some(note);
        Ok(())
    }

    /// The chain this client reads.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// The trace flavour in use; `None` when the node offers none (or traces are off).
    pub fn trace_flavour(&self) -> Option<TraceFlavour> {
        self.flavour
    }

    /// Why internal transfers are missing, when they are.
    pub fn trace_note(&self) -> Option<&str> {
        self.trace_note.as_deref()
    }

    /// The node's latest block height (`eth_blockNumber`).
    pub async fn tip(&self) -> Result<u64> {
        let call = Call::new("eth_blockNumber", json!([]), "tip");
        let answer = self.rpc.call(call.clone()).await?;
        let tip: U64 = decode_required(&self.rpc, &call, answer)?;
        Ok(tip.to::<u64>())
    }

    /// The hash of the node's block at `height` (header only; `None` above its tip), for
    /// finding where a store and the node's chain part.
    pub async fn block_hash(&self, height: u64) -> Result<Option<Hash32>> {
        #[derive(serde::Deserialize)]
        struct Header {
            hash: alloy::primitives::B256,
        }
        let call = Call::new(
            "eth_getBlockByNumber",
            json!([hex(height), false]),
            format!("block {height}"),
        );
        let answer = self.rpc.call(call.clone()).await?;
        match answer {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => {
                let h: Header = self.rpc.decode(&call, &raw)?;
                Ok(Some(Hash32(h.hash.0)))
            }
        }
    }

    /// Fetches and extracts one block.
    pub async fn fetch_block(&self, height: u64) -> Result<EvmBlock> {
        let mut blocks = self.fetch_chunk(height..=height).await?;
        blocks.pop().ok_or_else(|| EvmError::BlockNotFound {
            url: self.rpc.url().to_string(),
            method: "eth_getBlockByNumber".into(),
            block: height,
        })
    }

    /// Fetches and extracts a range of blocks, in order: blocks go together in batches of
    /// [`RpcOptions::blocks_per_request`], several batches at once.
    pub async fn fetch_blocks(&self, heights: RangeInclusive<u64>) -> Result<Vec<EvmBlock>> {
        let (start, end) = (*heights.start(), *heights.end());
        if start > end {
            return Ok(Vec::new());
        }
        let per = self.rpc.options.blocks_per_request.max(1) as u64;
        let chunks = (start..=end)
            .step_by(usize::try_from(per).unwrap_or(usize::MAX))
            .map(|from| from..=end.min(from.saturating_add(per - 1)));
        let mut results = futures_util::stream::iter(chunks.map(|c| self.fetch_chunk(c)))
            .buffered(self.rpc.options.concurrency.max(1));
        let mut blocks = Vec::with_capacity(usize::try_from(end - start + 1).unwrap_or(0));
        while let Some(chunk) = results.next().await {
            blocks.extend(chunk?);
        }
        Ok(blocks)
    }

    async fn fetch_chunk(&self, heights: RangeInclusive<u64>) -> Result<Vec<EvmBlock>> {
        if self.flavour.is_some() && self.headers_only.load(Ordering::Relaxed) {
            if let Some(blocks) = self.fetch_chunk_headers_only(heights.clone()).await? {
                return Ok(blocks);
            }
            self.headers_only.store(false, Ordering::Relaxed);
            tracing::info!("receipts or traces lack tx fields: fetching full blocks from now on");
        }
        let blocks = self.fetch_wire_blocks(heights, true).await?;
        self.extract_blocks(blocks, None).await
    }

    /// Blocks as headers plus tx hashes, the txs filled in from receipts and top-level traces;
    /// `None` if some receipt or trace lacks a field that needs (then the caller fetches full
    /// blocks).
    async fn fetch_chunk_headers_only(
        &self,
        heights: RangeInclusive<u64>,
    ) -> Result<Option<Vec<EvmBlock>>> {
        let mut blocks = self.fetch_wire_blocks(heights, false).await?;
        let (receipts, traces) =
            futures_util::future::join(self.receipts(&blocks), self.traces(&blocks)).await;
        let (receipts, traces) = (receipts?, traces?);
        for ((block, receipts), traces) in blocks.iter_mut().zip(&receipts).zip(&traces) {
            let Some(traces) = traces else {
                if block.transactions.is_empty() {
                    continue;
                }
                return Ok(None);
            };
            for (position, tx) in block.transactions.iter_mut().enumerate() {
                let receipt = receipts.iter().find(|r| r.transaction_hash == tx.hash);
                let top = traces.txs.get(position);
                let hash_matches = top.is_none_or(|t| t.tx_hash.is_none_or(|h| h == tx.hash));
                match (receipt, top) {
                    (Some(r), Some(t))
                        if hash_matches
                            && r.from.is_some()
                            && r.effective_gas_price.is_some()
                            && t.top_value.is_some() =>
                    {
                        tx.from = r.from.unwrap_or_default();
                        tx.to = r.to;
                        tx.value = t.top_value.unwrap_or_default();
                        tx.tx_type = r.tx_type;
                        tx.gas_price = r.effective_gas_price;
                        tx.input = t.top_memo.clone();
                    }
                    _ => return Ok(None),
                }
            }
        }
        Ok(Some(
            self.extract_blocks(blocks, Some((receipts, traces)))
                .await?,
        ))
    }

    /// `eth_getBlockByNumber` for each height, with full txs or (`full == false`) with tx
    /// hashes only, the txs then holding just their hash until filled in.
    async fn fetch_wire_blocks(
        &self,
        heights: RangeInclusive<u64>,
        full: bool,
    ) -> Result<Vec<WireBlock>> {
        let calls: Vec<Call> = heights
            .clone()
            .map(|h| {
                Call::new(
                    "eth_getBlockByNumber",
                    json!([hex(h), full]),
                    format!("block {h}"),
                )
            })
            .collect();
        let answers = self.rpc.calls(&calls).await;
        let mut blocks = Vec::with_capacity(calls.len());
        for ((call, answer), height) in calls.iter().zip(answers).zip(heights) {
            let Some(raw) = answer? else {
                return Err(EvmError::BlockNotFound {
                    url: self.rpc.url().to_string(),
                    method: call.method.into(),
                    block: height,
                });
            };
            let block: WireBlock = if full {
                self.rpc.decode(call, &raw)?
            } else {
                let h: crate::wire::WireHeader = self.rpc.decode(call, &raw)?;
                WireBlock {
                    number: h.number,
                    hash: h.hash,
                    parent_hash: h.parent_hash,
                    timestamp: h.timestamp,
                    miner: h.miner,
                    base_fee_per_gas: h.base_fee_per_gas,
                    excess_blob_gas: h.excess_blob_gas,
                    difficulty: h.difficulty,
                    transactions: h
                        .transactions
                        .into_iter()
                        .enumerate()
                        .map(|(i, hash)| crate::wire::WireTx {
                            hash,
                            block_hash: Some(h.hash),
                            transaction_index: Some(U64::from(i)),
                            from: EvmAddress::ZERO,
                            to: None,
                            value: alloy::primitives::U256::ZERO,
                            gas_price: None,
                            max_fee_per_gas: None,
                            max_priority_fee_per_gas: None,
                            tx_type: None,
                            input: None,
                        })
                        .collect(),
                    withdrawals: h.withdrawals,
                }
            };
            if block.number.to::<u64>() != height {
                return Err(EvmError::Inconsistent {
                    at: Box::new(Location::block(height)),
                    field: "number".into(),
                    detail: format!(
                        "asked for block {height}, the node answered block {}",
                        block.number
                    ),
                });
            }
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// Extracts `blocks`, fetching their receipts and traces unless `fetched` holds them.
    async fn extract_blocks(
        &self,
        blocks: Vec<WireBlock>,
        fetched: Option<Fetched>,
    ) -> Result<Vec<EvmBlock>> {
        let (receipts, traces) = match fetched {
            Some(f) => f,
            None => {
                let (receipts, traces) =
                    futures_util::future::join(self.receipts(&blocks), self.traces(&blocks)).await;
                (receipts?, traces?)
            }
        };
        let settings = Settings {
            chain: self.chain,
            wrapped_native: &self.wrapped_native,
            oversized: self.oversized,
            links: &self.links,
        };
        let mut out = Vec::with_capacity(blocks.len());
        for ((block, receipts), traces) in blocks.into_iter().zip(receipts).zip(traces) {
            let traces = traces.map(|t| (self.flavour.unwrap_or(TraceFlavour::ParityBlock), t));
            out.push(extract::extract(
                &settings,
                Answers {
                    block,
                    receipts,
                    traces,
                },
            )?);
        }
        if self.token_metadata {
            self.attach_token_metadata(&mut out).await?;
        }
        Ok(out)
    }

    /// Receipts of each block (in any order; extraction matches them to txs).
    async fn receipts(&self, blocks: &[WireBlock]) -> Result<Vec<Vec<WireReceipt>>> {
        let mut out: Vec<Option<Vec<WireReceipt>>> = blocks
            .iter()
            .map(|b| b.transactions.is_empty().then(Vec::new))
            .collect();
        let deadline = tokio::time::Instant::now() + self.rpc.options.receipt_wait;
        loop {
            let pending: Vec<usize> = (0..blocks.len())
                .filter(|&i| out.get(i).is_some_and(Option::is_none))
                .collect();
            if pending.is_empty() {
                break;
            }
            if self.block_receipts.load(Ordering::Relaxed) {
                let calls: Vec<Call> = pending
                    .iter()
                    .filter_map(|&i| blocks.get(i))
                    .map(|b| {
                        let h = b.number.to::<u64>();
                        Call::new(
                            "eth_getBlockReceipts",
                            json!([hex(h)]),
                            format!("block {h}"),
                        )
                    })
                    .collect();
                let answers = self.rpc.calls(&calls).await;
                for ((&i, call), answer) in pending.iter().zip(&calls).zip(answers) {
                    match answer {
                        Ok(Some(raw)) => {
                            let receipts: Vec<WireReceipt> = self.rpc.decode(call, &raw)?;
                            let slot = out.get_mut(i);
                            let expected = blocks.get(i).map_or(0, |b| b.transactions.len());
                            // An incomplete list is a node still indexing: ask again.
                            if receipts.len() >= expected
                                && let Some(slot) = slot
                            {
                                *slot = Some(receipts);
                            }
                        }
                        Ok(None) => {}
                        Err(e) if is_unsupported(&e) => {
                            tracing::info!(
                                "{}: eth_getBlockReceipts unavailable, asking receipts tx by tx",
                                self.rpc.url()
                            );
                            self.block_receipts.store(false, Ordering::Relaxed);
                        }
                        Err(e) => return Err(e),
                    }
                }
                if !self.block_receipts.load(Ordering::Relaxed) {
                    continue;
                }
            } else {
                let mut fetched = self.receipts_by_tx(blocks, &pending).await?;
                for (&i, receipts) in pending.iter().zip(&mut fetched) {
                    if let (Some(slot), Some(r)) = (out.get_mut(i), receipts.take()) {
                        *slot = Some(r);
                    }
                }
            }
            if out.iter().all(Option::is_some) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let missing = out
                    .iter()
                    .position(Option::is_none)
                    .and_then(|i| blocks.get(i));
                return Err(EvmError::ReceiptsUnavailable {
                    url: self.rpc.url().to_string(),
                    at: Box::new(Location::block(missing.map_or(0, |b| b.number.to::<u64>()))),
                    waited: self.rpc.options.receipt_wait,
                });
            }
            tokio::time::sleep(self.rpc.options.receipt_poll_interval).await;
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// `eth_getTransactionReceipt` for every tx of the `pending` blocks; a block whose
    /// receipts are not all there yet gives `None`.
    async fn receipts_by_tx(
        &self,
        blocks: &[WireBlock],
        pending: &[usize],
    ) -> Result<Vec<Option<Vec<WireReceipt>>>> {
        let mut calls = Vec::new();
        for b in pending.iter().filter_map(|&i| blocks.get(i)) {
            let h = b.number.to::<u64>();
            for tx in &b.transactions {
                calls.push(Call::new(
                    "eth_getTransactionReceipt",
                    json!([tx.hash]),
                    format!("tx {} in block {h}", tx.hash),
                ));
            }
        }
        let mut answers = self.rpc.calls(&calls).await.into_iter().zip(calls.iter());
        let mut out = Vec::with_capacity(pending.len());
        for b in pending.iter().filter_map(|&i| blocks.get(i)) {
            let mut receipts = Some(Vec::with_capacity(b.transactions.len()));
            for _ in &b.transactions {
                let Some((answer, call)) = answers.next() else {
                    break;
                };
                match answer? {
                    Some(raw) => {
                        let r: WireReceipt = self.rpc.decode(call, &raw)?;
                        if let Some(list) = receipts.as_mut() {
                            list.push(r);
                        }
                    }
                    None => receipts = None,
                }
            }
            out.push(receipts);
        }
        Ok(out)
    }

    /// Traces of each block, reduced; `None` for every block when the node has none.
    async fn traces(&self, blocks: &[WireBlock]) -> Result<Vec<Option<BlockTraces>>> {
        let Some(flavour) = self.flavour else {
            return Ok(blocks.iter().map(|_| None).collect());
        };
        // Only Parity's trace_block lists rewards, which empty blocks have too.
        let wanted: Vec<usize> = (0..blocks.len())
            .filter(|&i| {
                flavour == TraceFlavour::ParityBlock
                    || blocks.get(i).is_some_and(|b| !b.transactions.is_empty())
            })
            .collect();
        let calls: Vec<Call> = wanted
            .iter()
            .filter_map(|&i| blocks.get(i))
            .map(|b| trace_call(flavour, b.number.to::<u64>()))
            .collect();
        let answers = self.rpc.calls(&calls).await;
        let mut out: Vec<Option<BlockTraces>> = blocks
            .iter()
            .map(|_| Some(BlockTraces::default()))
            .collect();
        for ((&i, call), answer) in wanted.iter().zip(&calls).zip(answers) {
            let Some(block) = blocks.get(i) else { continue };
            let raw = answer?.ok_or_else(|| EvmError::Malformed {
                url: self.rpc.url().to_string(),
                method: call.method.into(),
                target: call.target.clone(),
                field: "(result)".into(),
                detail: "null: the node has no traces for this block (pruned state?)".into(),
            })?;
            let reduced = self.reduce_traces(flavour, call, &raw, block)?;
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(reduced);
            }
        }
        Ok(out)
    }

    fn reduce_traces(
        &self,
        flavour: TraceFlavour,
        call: &Call,
        raw: &serde_json::value::RawValue,
        block: &WireBlock,
    ) -> Result<BlockTraces> {
        let rules = ForkRules {
            cancun: block.excess_blob_gas.is_some(),
        };
        let reduced = match flavour {
            TraceFlavour::ParityBlock => {
                let t: Vec<ParityTrace> = self.rpc.decode(call, raw)?;
                // A reorganisation between the block and its traces shows here.
                let height = block.number.to::<u64>();
                if is_real_block(block)
                    && let Some(other) = t
                        .iter()
                        .filter_map(|t| t.block_hash)
                        .find(|h| *h != block.hash)
                {
                    return Err(EvmError::Inconsistent {
                        at: Box::new(Location::block(height)),
                        field: "blockHash".into(),
                        detail: format!(
                            "trace_block answered for block {other}, the block is {}",
                            block.hash
                        ),
                    });
                }
                traces::from_parity_block(&t, rules)
            }
            TraceFlavour::ParityReplay => {
                let t: Vec<ParityReplay> = self.rpc.decode(call, raw)?;
                traces::from_parity_replay(&t, rules)
            }
            TraceFlavour::GethCallTracer => {
                let t: Vec<GethTxTrace> = self.rpc.decode(call, raw)?;
                traces::from_geth(&t, rules)
            }
        };
        let height = block.number.to::<u64>();
        reduced.map_err(|e| {
            let mut at = Location::block(height);
            at.tx = block
                .transactions
                .get(e.tx_position)
                .map(|t| tracehound_core::Hash32(t.hash.0));
            at.trace_address = Some(e.trace_address.iter().map(|&i| i as usize).collect());
            EvmError::Inconsistent {
                at: Box::new(at),
                field: flavour.method().into(),
                detail: e.detail,
            }
        })
    }

    /// The raw traces of a block in one flavour, reduced to value movements (for checks and
    /// comparisons; [`EvmClient::fetch_block`] does this itself).
    pub async fn block_traces(
        &self,
        height: u64,
        flavour: TraceFlavour,
        rules: ForkRules,
    ) -> Result<BlockTraces> {
        let call = trace_call(flavour, height);
        let raw = self
            .rpc
            .call(call.clone())
            .await?
            .ok_or_else(|| EvmError::BlockNotFound {
                url: self.rpc.url().to_string(),
                method: call.method.into(),
                block: height,
            })?;
        let block = WireBlock {
            number: U64::from(height),
            hash: Default::default(),
            parent_hash: Default::default(),
            timestamp: U64::ZERO,
            miner: EvmAddress::ZERO,
            base_fee_per_gas: None,
            excess_blob_gas: rules.cancun.then_some(U64::ZERO),
            difficulty: None,
            transactions: Vec::new(),
            withdrawals: None,
        };
        self.reduce_traces(flavour, &call, &raw, &block)
    }

    /// The native balance (`eth_getBalance`) of each account in the state after the block at
    /// its height, in order: ingest's opening balances. Many go out together in batches.
    /// A balance beyond 128 bits is refused, never truncated; a node that cannot answer (a
    /// pruned state, a dead node) is an error naming the account and the block.
    pub async fn native_balances(&self, accounts: &[(Address, u64)]) -> Result<Vec<u128>> {
        let calls: Vec<Call> = accounts
            .iter()
            .map(|(a, h)| {
                Call::new(
                    "eth_getBalance",
                    json!([a.as_str(), hex(*h)]),
                    format!("balance of {a} at block {h}"),
                )
            })
            .collect();
        let answers = self.rpc.calls(&calls).await;
        let mut out = Vec::with_capacity(accounts.len());
        for ((call, answer), (_, h)) in calls.iter().zip(answers).zip(accounts) {
            let value: alloy::primitives::U256 = decode_required(&self.rpc, call, answer?)?;
            out.push(u128::try_from(value).map_err(|_| EvmError::AmountOverflow {
                at: Box::new(Location::block(*h)),
                field: call.target.clone(),
                value: value.to_string(),
            })?);
        }
        Ok(out)
    }

    /// `balanceOf(holder)` of each (token, holder) pair in the state after the block at its
    /// height, in order: ingest's opening token balances. `Some(0)` when the token had no code
    /// at that height (it was created later); `None` when the contract does not answer a
    /// readable balance (it reverts, answers something that is not one word, or more than
    /// 128 bits). Only a failing node is an error.
    pub async fn token_balances(
        &self,
        pairs: &[(Address, Address, u64)],
    ) -> Result<Vec<Option<u128>>> {
        let calls: Vec<Call> = pairs
            .iter()
            .map(|(token, holder, h)| {
                // balanceOf(address): selector, then the holder as a left-padded word.
                let data = format!(
                    "0x70a08231000000000000000000000000{}",
                    holder.as_str().trim_start_matches("0x")
                );
                Call::new(
                    "eth_call",
                    json!([{"to": token.as_str(), "data": data}, hex(*h)]),
                    format!("balanceOf({holder}) of token {token} at block {h}"),
                )
            })
            .collect();
        let answers = self.rpc.calls(&calls).await;
        let mut out = Vec::with_capacity(pairs.len());
        for answer in answers {
            out.push(match answer {
                Ok(Some(raw)) => match crate::rpc::decode::<Bytes>(raw.get()) {
                    Ok(b) if b.is_empty() => Some(0),
                    Ok(b) if b.len() == 32 => {
                        u128::try_from(alloy::primitives::U256::from_be_slice(&b)).ok()
                    }
                    _ => None,
                },
                Ok(None) => None,
                Err(EvmError::Rpc { message, .. }) if !state_unavailable(&message) => None,
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    }

    /// Name, symbol and decimals of a token contract (cached). A call that reverts or answers
    /// nonsense leaves that field `None`; only a failing node is an error.
    pub async fn token_metadata(&self, token: &Address) -> Result<TokenMetadata> {
        let parsed: EvmAddress = token.as_str().parse().map_err(|_| EvmError::Config {
            detail: format!("{token} is not an EVM address"),
        })?;
        let mut found = self.lookup_tokens(&[parsed]).await?;
        found.pop().ok_or_else(|| EvmError::Malformed {
            url: self.rpc.url().to_string(),
            method: "eth_call".into(),
            target: format!("token {token}"),
            field: "(result)".into(),
            detail: "no answer".into(),
        })
    }

    async fn lookup_tokens(&self, tokens: &[EvmAddress]) -> Result<Vec<TokenMetadata>> {
        let missing: Vec<EvmAddress> = {
            let cache = self
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tokens
                .iter()
                .filter(|t| !cache.contains_key(*t))
                .copied()
                .collect()
        };
        if !missing.is_empty() {
            // name(), symbol(), decimals()
            const SELECTORS: [&str; 3] = ["0x06fdde03", "0x95d89b41", "0x313ce567"];
            let calls: Vec<Call> = missing
                .iter()
                .flat_map(|t| {
                    SELECTORS.iter().map(move |sel| {
                        Call::new(
                            "eth_call",
                            json!([{"to": t, "data": sel}, "latest"]),
                            format!("token {t}"),
                        )
                    })
                })
                .collect();
            let mut answers = self.rpc.calls(&calls).await.into_iter();
            let mut found = Vec::with_capacity(missing.len());
            for t in &missing {
                let mut next = || -> Result<Option<Bytes>> {
                    match answers.next() {
                        Some(Ok(Some(raw))) => Ok(crate::rpc::decode::<Bytes>(raw.get()).ok()),
                        Some(Ok(None)) | None => Ok(None),
                        // A revert or any refusal of this call: the contract lacks the function.
                        Some(Err(EvmError::Rpc { .. })) => Ok(None),
                        Some(Err(e)) => Err(e),
                    }
                };
                let (name, symbol, decimals) = (next()?, next()?, next()?);
                found.push(TokenMetadata {
                    address: address(self.chain, t),
                    name: name.as_ref().and_then(|b| read_text(b)),
                    symbol: symbol.as_ref().and_then(|b| read_text(b)),
                    decimals: decimals.as_ref().and_then(|b| read_decimals(b)),
                });
            }
            let mut cache = self
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (t, m) in missing.iter().zip(found) {
                cache.insert(*t, m);
            }
        }
        let cache = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(tokens
            .iter()
            .filter_map(|t| cache.get(t).cloned())
            .collect())
    }

    async fn attach_token_metadata(&self, blocks: &mut [EvmBlock]) -> Result<()> {
        let mut seen: Vec<EvmAddress> = Vec::new();
        let mut per_block: Vec<Vec<EvmAddress>> = Vec::with_capacity(blocks.len());
        for b in blocks.iter() {
            let mut mine: Vec<EvmAddress> = Vec::new();
            for t in &b.transfers {
                if let AssetId::Contract(c) = &t.transfer.asset
                    && let Ok(a) = c.as_str().parse::<EvmAddress>()
                    && !mine.contains(&a)
                {
                    mine.push(a);
                }
            }
            for a in &mine {
                if !seen.contains(a) {
                    seen.push(*a);
                }
            }
            per_block.push(mine);
        }
        self.lookup_tokens(&seen).await?;
        let cache = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (b, mine) in blocks.iter_mut().zip(per_block) {
            b.tokens = mine.iter().filter_map(|a| cache.get(a).cloned()).collect();
        }
        Ok(())
    }
}

/// Whether a node's error answer to a call says the state at the block asked for is not there
/// (a pruned node, an unknown block), rather than the call itself failing (a revert).
fn state_unavailable(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "missing trie node",
        "header not found",
        "not found",
        "pruned",
        "historical state",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// Whether `block` is a real block (not the stand-in of [`EvmClient::block_traces`]).
fn is_real_block(block: &WireBlock) -> bool {
    !block.hash.is_zero()
}

fn trace_call(flavour: TraceFlavour, height: u64) -> Call {
    let params = match flavour {
        TraceFlavour::ParityBlock => json!([hex(height)]),
        TraceFlavour::ParityReplay => json!([hex(height), ["trace"]]),
        TraceFlavour::GethCallTracer => json!([hex(height), {"tracer": "callTracer"}]),
    };
    Call::new(flavour.method(), params, format!("block {height}"))
}

fn decode_required<T: serde::de::DeserializeOwned>(
    rpc: &Rpc,
    call: &Call,
    answer: Answer,
) -> Result<T> {
    let raw = answer.ok_or_else(|| EvmError::Malformed {
        url: rpc.url().to_string(),
        method: call.method.into(),
        target: call.target.clone(),
        field: "(result)".into(),
        detail: "null where a value is required".into(),
    })?;
    rpc.decode(call, &raw)
}

/// A `name()`/`symbol()` answer: an ABI `string`, or a `bytes32` (MKR, EOS and other early
/// tokens), with trailing NULs dropped; `None` when empty or not text.
fn read_text(data: &[u8]) -> Option<String> {
    let text = match String::abi_decode(data) {
        Ok(s) => s,
        Err(_) if data.len() == 32 => String::from_utf8(data.to_vec()).ok()?,
        Err(_) => return None,
    };
    let text = text.trim_end_matches('\0').trim();
    (!text.is_empty() && !text.contains('\0')).then(|| text.to_string())
}

/// A `decimals()` answer: a word holding a number below 256 (some tokens declare `uint256`).
fn read_decimals(data: &[u8]) -> Option<u8> {
    let word = data.get(..32)?;
    let value = alloy::primitives::U256::from_be_slice(word);
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_in_both_forms() {
        let bytes32 =
            alloy::hex::decode("454f530000000000000000000000000000000000000000000000000000000000")
                .unwrap();
        assert_eq!(read_text(&bytes32).as_deref(), Some("EOS"));
        assert_eq!(read_text(&[0u8; 32]), None);
        let abi = "ETH".to_string().abi_encode();
        assert_eq!(read_text(&abi).as_deref(), Some("ETH"));
        assert_eq!(read_text(&[]), None);
        let mut word = [0u8; 32];
        word[31] = 18;
        assert_eq!(read_decimals(&word), Some(18));
        word[0] = 1;
        assert_eq!(read_decimals(&word), None);
        assert_eq!(read_decimals(&[1, 2]), None);
    }
}
