//! `tracehound ingest evm`: an EVM chain from a JSON-RPC node into the store.
//!
//! Like UTXO ingest: find where the store and the node agree (unwinding the store to the fork
//! point if the node's chain moved), then fetch blocks in batches (the client batches and
//! overlaps requests) and commit each batch with its checkpoint, so `kill -9` loses at most one
//! batch and re-running continues after the last committed block. A reorg that happens while
//! ingesting shows up as a block that no longer extends the stored tip; the loop then
//! reconciles again.
//!
//! Before each batch is committed, the opening balance of every account and token holding
//! that first appears in it is read from the node and stored with the block it first appears
//! in (see [`crate::opening`]), so stored balances are absolute; `--no-opening-balances`
//! turns that off (balances are then net flows since the start block).
//!
//! Link facts (swaps, wraps, bridge and vault entries and exits, mixer deposits and
//! withdrawals) are decoded with the blocks under the built-in link config and `--links`; the
//! report counts them, and what could not be linked, by reason.

use std::time::Instant;

use anyhow::{Context, bail};
use tracehound_core::{AccountBlock, Address, Chain, ChainFamily, LinkConfig};
use tracehound_evm::{BlockingEvmClient, ClientOptions, EvmBlock};
use tracehound_store::{BatchStats, Store, StoreError};

use crate::args::{Global, IngestEvmArgs};
use crate::ingest::{IngestReport, open_store, print_report, progress};
use crate::links::LinkStats;
use crate::opening::{self, OpeningStats};

/// How often a reorg during one run is followed before giving up.
const MAX_REORGS_FOLLOWED: u32 = 8;

pub(crate) fn run(global: &Global, args: &IngestEvmArgs) -> anyhow::Result<()> {
    let links = crate::links::load(args.links.as_deref())?;
    let store = open_store(global)?;
    let client = connect(
        args.chain,
        &args.rpc,
        &args.wrapped_native,
        args.rpc_concurrency,
        links,
    )?;
    let report = ingest(
        &store,
        &client,
        &EvmIngestOptions {
            from: args.from,
            to: args.to,
            batch_blocks: args.batch_blocks,
            batch_txs: args.batch_txs,
            opening_balances: !args.no_opening_balances,
            show: !global.json,
        },
    )?;
    print_report(global, &report)
}

pub(crate) fn connect(
    chain: Chain,
    url: &str,
    wrapped_native: &[String],
    concurrency: usize,
    links: LinkConfig,
) -> anyhow::Result<BlockingEvmClient> {
    if chain.family() != ChainFamily::Account {
        bail!("{chain} is not an EVM chain: use `tracehound ingest btc` for it");
    }
    let options = ClientOptions {
        wrapped_native: wrapped_native
            .iter()
            .map(|a| Address::parse(chain, a))
            .collect::<Result<_, _>>()?,
        rpc: tracehound_evm::RpcOptions {
            concurrency: concurrency.max(1),
            ..tracehound_evm::RpcOptions::default()
        },
        links,
        ..ClientOptions::default()
    };
    BlockingEvmClient::connect(url, chain, options)
        .with_context(|| format!("connecting to the {chain} node at {url}"))
}

/// The height to fetch next: after the last block the store and the node agree on, unwinding
/// the store's blocks past it. `None` when the node is behind the store.
fn reconcile(
    store: &Store,
    client: &BlockingEvmClient,
    from: Option<u32>,
    node_top: u32,
    report: &mut IngestReport,
) -> anyhow::Result<Option<u32>> {
    let chain = client.chain();
    let Some(tip) = store.tip(chain)? else {
        return Ok(Some(from.unwrap_or(0)));
    };
    if let Some(f) = from.filter(|&f| f != tip.height + 1) {
        report.notes.push(format!(
            "--from {f} ignored: the store holds {chain} up to height {}, ingest continues after it",
            tip.height
        ));
    }
    let mut h = tip.height.min(node_top);
    loop {
        let ours = store.block_at(chain, h)?.map(|b| b.hash);
        let Some(ours) = ours else {
            bail!(
                "the node's {chain} chain and the store share no block: the store's blocks from its first one up to height {} all differ from the node's (is it the same network?)",
                tip.height
            );
        };
        if client.block_hash(u64::from(h))? == Some(ours) {
            break;
        }
        if h == 0 {
            bail!("the node's {chain} genesis differs from the store's: is it the same network?");
        }
        h -= 1;
    }
    if h == node_top && h < tip.height {
        report.notes.push(format!(
            "the node is behind the store (its tip {node_top}, the store's {}): nothing to ingest",
            tip.height
        ));
        return Ok(None);
    }
    if h < tip.height {
        tracing::warn!(%chain, fork = h, tip = tip.height, "the node's chain differs from the store: unwinding");
        report.unwound += store.unwind_to(chain, h)?;
    }
    Ok(Some(h + 1))
}

/// What one EVM ingest run is asked to do.
pub(crate) struct EvmIngestOptions {
    /// First height, for a chain not yet in the store.
    pub(crate) from: Option<u32>,
    /// Last height (default: the node's tip).
    pub(crate) to: Option<u32>,
    /// Most blocks per committed batch.
    pub(crate) batch_blocks: u32,
    /// Txs per committed batch (batches hold about this many, within `batch_blocks`).
    pub(crate) batch_txs: u32,
    /// Read and store opening balances.
    pub(crate) opening_balances: bool,
    /// Show a progress bar.
    pub(crate) show: bool,
}

/// Blocks of the first batch (its fetch overlaps nothing, so it is kept short).
const FIRST_BATCH_BLOCKS: u32 = 50;

pub(crate) fn ingest(
    store: &Store,
    client: &BlockingEvmClient,
    options: &EvmIngestOptions,
) -> anyhow::Result<IngestReport> {
    let &EvmIngestOptions {
        from,
        to,
        batch_blocks,
        batch_txs,
        opening_balances,
        show,
    } = options;
    let chain = client.chain();
    let started = Instant::now();
    let mut report = IngestReport {
        chain: chain.name(),
        source: format!("JSON-RPC {}", client.inner().url()),
        ..IngestReport::default()
    };
    if let Some(note) = client.trace_note() {
        report.notes.push(note.to_string());
    }
    let mut total = BatchStats::default();
    let mut openings = OpeningStats::default();
    let mut reorgs = 0;
    'outer: loop {
        let node_top = u32::try_from(client.tip()?).context("node tip beyond 32-bit heights")?;
        let end = to.map_or(node_top, |t| t.min(node_top));
        let Some(next) = reconcile(store, client, from, node_top, &mut report)? else {
            break;
        };
        if report.from_height.is_none() {
            report.from_height = Some(next);
        }
        if next > end {
            break;
        }
        let bar = progress(u64::from(end - next + 1), show, "ingesting");
        let range = |h: u32, n: u32| (h, end.min(h.saturating_add(n.max(1) - 1)));
        let fetch = |(h, last): (u32, u32)| -> anyhow::Result<(Vec<AccountBlock>, LinkStats)> {
            let blocks = client
                .fetch_blocks(u64::from(h)..=u64::from(last))
                .with_context(|| format!("fetching {chain} blocks {h}..={last}"))?;
            let mut links = LinkStats::default();
            let blocks = blocks
                .into_iter()
                .map(|b| {
                    links.count_facts(&b.links);
                    links.count_skips(&b.link_skips);
                    EvmBlock::into_account_block(b)
                })
                .collect();
            Ok((blocks, links))
        };
        let mut h = next;
        // Batches are sized by txs, not blocks: a few full blocks of mainnet make a batch,
        // hundreds of a quiet devnet's do. The first is small (nothing overlaps its fetch);
        // each next one is sized by the txs per block of the one before.
        let mut n = batch_blocks.clamp(1, FIRST_BATCH_BLOCKS);
        let (_, mut last) = range(h, n);
        let mut fetched = fetch(range(h, n));
        while h <= end {
            let (mut converted, batch_links) = fetched?;
            let txs: usize = converted.iter().map(|b| b.txs.len()).sum();
            n = u32::try_from(
                (batch_txs as u128 * converted.len() as u128 / txs.max(1) as u128)
                    .clamp(1, u128::from(batch_blocks.max(1))),
            )
            .unwrap_or(1);
            let next_range = range(last + 1, n);
            // The next batch is fetched while this one is applied: the node's answers and the
            // store's writes overlap. Opening balances need the store as this batch leaves it,
            // so they are read here, not ahead.
            let (applied, ahead) = std::thread::scope(|s| {
                let ahead = (last < end).then(|| s.spawn(|| fetch(next_range)));
                let applied = (|| {
                    let opened = if opening_balances {
                        opening::attach(store, client, &mut converted).with_context(|| {
                            format!("reading opening balances for {chain} blocks {h}..={last}")
                        })?
                    } else {
                        OpeningStats::default()
                    };
                    Ok::<_, anyhow::Error>((store.apply_account_blocks(&converted), opened))
                })();
                let ahead = ahead.map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("the block fetcher panicked")))
                });
                (applied, ahead)
            });
            let (result, opened) = applied?;
            match result {
                Ok(s) => {
                    total += s;
                    openings += opened;
                    report.links.add(&batch_links);
                    bar.inc(s.blocks);
                    bar.set_message(format!("height {last}"));
                }
                Err(StoreError::NotConnected { .. }) if reorgs < MAX_REORGS_FOLLOWED => {
                    // The node reorganized since the last batch: find the fork again (what was
                    // fetched ahead may be of the old branch: dropped).
                    reorgs += 1;
                    bar.finish_and_clear();
                    report.notes.push(format!(
                        "the node's chain reorganized near height {h}; followed"
                    ));
                    continue 'outer;
                }
                Err(e) => return Err(e.into()),
            }
            h = last + 1;
            last = next_range.1;
            fetched = ahead.unwrap_or_else(|| Ok((Vec::new(), LinkStats::default())));
        }
        bar.finish_and_clear();
        break;
    }
    if opening_balances {
        if openings.token_unreadable > 0 {
            report.notes.push(format!(
                "{} token holding(s) have no opening balance: their token answered no readable balanceOf",
                openings.token_unreadable
            ));
        }
        report.opening_balances = Some(openings);
    } else {
        report.notes.push(
            "opening balances not read (--no-opening-balances): balances are net flows from the first ingested block"
                .into(),
        );
    }
    report.blocks = total.blocks;
    report.txs = total.txs;
    report.inputs = total.inputs;
    report.tip_height = store.tip(chain)?.map(|t| t.height);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
