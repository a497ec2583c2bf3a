//! `tracehound ingest btc`: blocks from Core's files or JSON-RPC into the store.
//!
//! Both sources run the same loop: find where the store and the source agree (unwinding the
//! store to the fork point if the source's best chain moved), then a producer thread reads
//! and decodes blocks in height order while this thread writes them in batches. Each batch is
//! one store transaction with its checkpoint, so `kill -9` loses at most one batch, and running
//! the same command again continues after the last committed block.
//!
//! Every block's link facts (deposits to and payouts from the link config's bridge wallets and
//! vaults, by their memos) are filled in before it is stored; the report counts them, and
//! what could not be linked, by reason.

use std::io::IsTerminal;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tracehound_btc::blk::{BlkReader, ScanNote};
use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
use tracehound_core::{Chain, Hash32, LinkConfig, UtxoBlock};
use tracehound_store::{BatchStats, Store};

use crate::args::{Global, IngestBtcArgs};
use crate::links::LinkStats;
use crate::output;

/// What an ingest run did.
/// Decoded blocks that may wait for the writer: enough to cover a batch's commit, so the
/// decoders keep working while the store writes (a few hundred MB at mainnet block sizes).
const DECODED_BLOCKS_AHEAD: usize = 512;

#[derive(Debug, Default, Serialize)]
pub(crate) struct IngestReport {
    pub(crate) chain: String,
    pub(crate) source: String,
    /// First height written in this run (none if already up to date).
    pub(crate) from_height: Option<u32>,
    /// The store's tip after the run.
    pub(crate) tip_height: Option<u32>,
    pub(crate) blocks: u64,
    pub(crate) txs: u64,
    pub(crate) inputs: u64,
    pub(crate) outputs: u64,
    /// Blocks unwound because the source's best chain had moved (a reorg).
    pub(crate) unwound: u64,
    pub(crate) seconds: f64,
    /// Link facts stored and links not made, by kind and reason.
    pub(crate) links: crate::links::LinkStats,
    /// EVM: what reading opening balances did (none when turned off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) opening_balances: Option<crate::opening::OpeningStats>,
    pub(crate) notes: Vec<String>,
}

impl IngestReport {
    fn record(&mut self, from: u32, s: BatchStats) {
        self.from_height = Some(from);
        self.blocks = s.blocks;
        self.txs = s.txs;
        self.inputs = s.inputs;
        self.outputs = s.outputs;
    }
}

pub(crate) fn open_store(global: &Global) -> anyhow::Result<Store> {
    Ok(global.data().open_store()?)
}

pub(crate) fn run_btc(global: &Global, args: &IngestBtcArgs) -> anyhow::Result<()> {
    let links = crate::links::load(args.links.as_deref())?;
    let store = open_store(global)?;
    let chain = args.network.chain();
    let report = match (&args.blocks_dir, &args.rpc) {
        (Some(dir), _) => {
            let reader = BlkReader::open(dir, chain)?;
            ingest_blk(
                &store,
                &reader,
                args.to_height,
                args.batch_txs,
                !global.json,
                &links,
            )?
        }
        (None, Some(url)) => {
            let auth = rpc_auth(&args.rpc_cookie, &args.rpc_user, &args.rpc_password);
            let client = RpcClient::new(url.clone(), auth, RpcOptions::default());
            ingest_rpc(
                &store,
                &client,
                chain,
                args.to_height,
                args.batch_txs,
                !global.json,
                &links,
            )?
        }
        (None, None) => bail!("give --blocks-dir or --rpc"),
    };
    print_report(global, &report)
}

/// How to authenticate to a Core node: its cookie file, else user and password, else not.
pub(crate) fn rpc_auth(
    cookie: &Option<std::path::PathBuf>,
    user: &Option<String>,
    password: &Option<String>,
) -> RpcAuth {
    match (cookie, user, password) {
        (Some(cookie), _, _) => RpcAuth::CookieFile(cookie.clone()),
        (None, Some(user), Some(password)) => RpcAuth::UserPass {
            user: user.clone(),
            password: password.clone(),
        },
        _ => RpcAuth::None,
    }
}

pub(crate) fn print_report(global: &Global, r: &IngestReport) -> anyhow::Result<()> {
    if global.json {
        return output::json(r);
    }
    for note in &r.notes {
        eprintln!("note: {note}");
    }
    match r.from_height {
        None => println!(
            "{} is up to date at height {} ({})",
            r.chain,
            fmt_opt(r.tip_height),
            r.source
        ),
        Some(from) => {
            let secs = r.seconds.max(1e-9);
            let account = r
                .chain
                .parse::<Chain>()
                .is_ok_and(|c| c.family() == tracehound_core::ChainFamily::Account);
            // Account chains count transfers where UTXO chains count inputs and outputs.
            let (moved, rate) = if account {
                (
                    format!("{} transfers", r.inputs),
                    format!("{:.0} transfers/s", r.inputs as f64 / secs),
                )
            } else {
                (
                    format!("{} inputs resolved, {} outputs", r.inputs, r.outputs),
                    format!("{:.0} txs/s", r.txs as f64 / secs),
                )
            };
            println!(
                "{}: ingested {} blocks ({}..={}), {} txs, {moved} in {:.1}s ({:.0} blocks/s, {rate}) from {}",
                r.chain,
                r.blocks,
                from,
                fmt_opt(r.tip_height),
                r.txs,
                r.seconds,
                r.blocks as f64 / secs,
                r.source,
            );
            if let Some(line) = r.links.line() {
                println!("{line}");
            }
            if let Some(o) = &r.opening_balances {
                println!(
                    "opening balances: {} accounts and {} token holdings read, {} non-zero recorded, {} unreadable",
                    o.accounts_read, o.token_holdings_read, o.recorded, o.token_unreadable
                );
            }
        }
    }
    Ok(())
}

fn fmt_opt(h: Option<u32>) -> String {
    h.map_or_else(|| "-".into(), |h| h.to_string())
}

pub(crate) fn progress(total: u64, show: bool, what: &str) -> ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Writes blocks from `rx` in batches of about `batch_txs` transactions.
fn consume(
    store: &Store,
    chain: Chain,
    rx: Receiver<anyhow::Result<UtxoBlock>>,
    batch_txs: usize,
    bar: &ProgressBar,
) -> anyhow::Result<BatchStats> {
    // Batches of about `batch_txs` txs, cut from the stream of decoded blocks. A read error
    // ends the stream after the blocks read before it, which are valid and get stored.
    let mut read_error = None;
    let mut rx = rx.into_iter();
    let batches = std::iter::from_fn(|| {
        if read_error.is_some() {
            return None;
        }
        let mut batch: Vec<UtxoBlock> = Vec::new();
        let mut txs = 0;
        for item in rx.by_ref() {
            match item {
                Ok(block) => {
                    txs += block.txs.len();
                    batch.push(block);
                    if txs >= batch_txs || batch.len() >= 50_000 {
                        break;
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        (!batch.is_empty()).then_some(batch)
    });
    let stored = store.apply_utxo_stream(chain, batches, |batch, s| {
        bar.inc(s.blocks);
        bar.set_message(format!(
            "height {}",
            batch.last().map_or(0, |b| b.block.height)
        ));
    });
    match (stored, read_error) {
        (Ok(total), None) => Ok(total),
        (Ok(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
        (Err(e), Some(read)) => Err(anyhow::Error::from(e)
            .context(format!("while saving the blocks read before: {read:#}"))),
    }
}

fn write_all(
    store: &Store,
    chain: Chain,
    rx: Receiver<anyhow::Result<UtxoBlock>>,
    producer: std::thread::JoinHandle<()>,
    batch_txs: usize,
    bar: &ProgressBar,
    role: &str,
) -> anyhow::Result<BatchStats> {
    let stats = consume(store, chain, rx, batch_txs, bar);
    let joined = producer.join();
    bar.finish_and_clear();
    let stats = stats?;
    if joined.is_err() {
        bail!(
            "the block {role} stopped unexpectedly (a panic; please report it): ingest stopped at height {}",
            fmt_opt(store.tip(chain)?.map(|t| t.height))
        );
    }
    Ok(stats)
}

/// Finds the highest height where the store agrees with the source (`source_hash(h)`),
/// unwinding the store above it. Returns the next height to ingest and blocks unwound.
fn reconcile(
    store: &Store,
    chain: Chain,
    source_top: Option<u32>,
    source_work: Option<[u8; 32]>,
    mut source_hash: impl FnMut(u32) -> anyhow::Result<Option<Hash32>>,
) -> anyhow::Result<(u32, u64)> {
    let Some(tip) = store.tip(chain)? else {
        return Ok((0, 0));
    };
    let mut h = tip.height.min(source_top.unwrap_or(0));
    if source_top.is_none() {
        bail!(
            "the source has no blocks of {chain} but the store holds {chain} up to height {}",
            tip.height
        );
    }
    loop {
        let stored = store.block_at(chain, h)?.map(|b| b.hash);
        let theirs = source_hash(h)?;
        if stored.is_some() && stored == theirs {
            break;
        }
        if h == 0 {
            bail!(
                "the source and the store share no {chain} block (stored tip {} at {}): is it the same network?",
                tip.hash,
                tip.height
            );
        }
        h -= 1;
    }
    if Some(h) == source_top && h < tip.height {
        // The source agrees with the store as far as it goes; it is only behind (a node still
        // syncing, an older copy of the files). That is no reason to drop stored blocks.
        tracing::warn!(%chain, source_top = h, tip = tip.height, "the source is behind the store; nothing to ingest");
        return Ok((tip.height + 1, 0));
    }
    if h < tip.height
        && let (Some(theirs), Some(ours)) = (source_work, tip.chainwork.map(|w| w.0))
        && theirs < ours
    {
        bail!(
            "the source's best chain forks from the store at height {h} but has less work ({}) than the stored chain ({} at height {}): \
             not unwinding {} stored blocks for it; point at an up-to-date node or blocks directory",
            Hash32(theirs),
            Hash32(ours),
            tip.height,
            tip.height - h
        );
    }
    let unwound = if h < tip.height {
        tracing::warn!(%chain, fork = h, tip = tip.height, "source's best chain differs from the store: unwinding");
        store.unwind_to(chain, h)?
    } else {
        0
    };
    Ok((h + 1, unwound))
}

/// Ingests the best chain found in a blk directory.
pub(crate) fn ingest_blk(
    store: &Store,
    reader: &BlkReader,
    to_height: Option<u32>,
    batch_txs: usize,
    show: bool,
    links: &LinkConfig,
) -> anyhow::Result<IngestReport> {
    let chain = reader.chain();
    let started = Instant::now();
    let files = reader.files().len() as u64;
    let scan_bar = progress(files, show, "scanning blk files");
    let index = reader.scan(|_| scan_bar.inc(1))?;
    scan_bar.finish_and_clear();
    let genesis: Hash32 = chain
        .utxo_params()
        .map(|p| p.genesis)
        .unwrap_or_default()
        .parse()?;
    let stored_tip = store.tip(chain)?;
    let anchor = stored_tip.as_ref().map(|t| (t.hash, t.height));
    let best = index.best_chain(genesis, anchor);
    let mut report = IngestReport {
        chain: chain.name(),
        source: format!(
            "{} blk files in {}",
            files,
            reader
                .files()
                .first()
                .and_then(|f| f.parent())
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        ..IngestReport::default()
    };
    for note in &index.notes {
        report.notes.push(match note {
            ScanNote::PartialLastRecord { path, offset } => {
                format!("{} ends in a partly written block at byte {offset} (ignored; Core was writing it)", path.display())
            }
            ScanNote::Duplicate { hash } => format!("block {hash} is stored twice; the first copy is used"),
        });
    }
    if !best.detached.is_empty() {
        report.notes.push(format!(
            "{} blocks in the files have no known parent (an incomplete download) and were skipped",
            best.detached.len()
        ));
    }
    if best.stale > 0 {
        report.notes.push(format!(
            "{} stale blocks (off the best chain) were skipped",
            best.stale
        ));
    }
    if best.blocks.is_empty() {
        bail!(
            "no {chain} chain in the files: they hold neither the genesis block {genesis}{}",
            anchor.map_or_else(String::new, |(h, height)| format!(
                " nor a child of the stored tip {h} at height {height}"
            ))
        );
    }
    let top = best.start_height + u32::try_from(best.blocks.len() - 1)?;
    // Total work per block; for a pruned directory anchored on the stored tip, counted on top of
    // the tip's stored total.
    let total_work =
        best.total_chainwork(stored_tip.as_ref().and_then(|t| t.chainwork).map(|w| w.0));
    let source_work = total_work.as_ref().and_then(|w| w.last().copied());
    let (next, unwound) = reconcile(store, chain, Some(top), source_work, |h| {
        // A chain anchored on the stored tip (pruned files) starts just above it: the tip
        // itself is where they agree.
        if let Some((hash, _)) = anchor.filter(|a| a.1 + 1 == best.start_height && a.1 == h) {
            return Ok(Some(hash));
        }
        Ok(h.checked_sub(best.start_height)
            .and_then(|i| best.blocks.get(i as usize))
            .map(|l| l.hash))
    })?;
    report.unwound = unwound;
    let end = to_height.map_or(top, |t| t.min(top));
    if next > end {
        report.tip_height = store.tip(chain)?.map(|t| t.height);
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    if next < best.start_height {
        bail!(
            "the files start at height {} but the store needs height {next} next",
            best.start_height
        );
    }
    let first = (next - best.start_height) as usize;
    let last = (end - best.start_height) as usize;
    let locations: Vec<_> = best.blocks.get(first..=last).unwrap_or_default().to_vec();
    let works: Vec<[u8; 32]> = total_work
        .as_deref()
        .and_then(|w| w.get(first..=last))
        .unwrap_or_default()
        .to_vec();
    let bar = progress(locations.len() as u64, show, "ingesting");
    let (tx, rx) = mpsc::sync_channel(DECODED_BLOCKS_AHEAD);
    let reader = reader.clone();
    let tally = Arc::new(Mutex::new(LinkStats::default()));
    let (links, producer_tally) = (links.clone(), tally.clone());
    let mut services = ServiceOutputs::new(store, chain, &links)?;
    let producer = std::thread::spawn(move || {
        // Two decoding workers: the store writer on this thread is the third party.
        let sent = reader.read_in_order(&locations, next, 2, |mut block| -> anyhow::Result<()> {
            block.block.chainwork = works.get((block.block.height - next) as usize).copied();
            add_links(&mut block, &links, &mut services, &producer_tally);
            tx.send(Ok(block))
                .map_err(|_| anyhow::anyhow!("the writer stopped"))
        });
        if let Err(e) = sent {
            let _ = tx.send(Err(e.context(format!("reading {chain} blocks"))));
        }
    });
    let stats = write_all(store, chain, rx, producer, batch_txs, &bar, "reader")?;
    report.record(next, stats);
    report.links = take(&tally);
    report.tip_height = store.tip(chain)?.map(|t| t.height);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The `chain` field of `getblockchaininfo` for a network.
fn rpc_chain_name(chain: Chain) -> &'static str {
    match chain {
        Chain::BitcoinMainnet | Chain::LitecoinMainnet => "main",
        Chain::BitcoinTestnet | Chain::LitecoinTestnet => "test",
        Chain::BitcoinTestnet4 => "testnet4",
        Chain::BitcoinSignet => "signet",
        _ => "regtest",
    }
}

/// Ingests from a node's JSON-RPC up to its tip (or `to_height`).
pub(crate) fn ingest_rpc(
    store: &Store,
    client: &RpcClient,
    chain: Chain,
    to_height: Option<u32>,
    batch_txs: usize,
    show: bool,
    links: &LinkConfig,
) -> anyhow::Result<IngestReport> {
    let started = Instant::now();
    let url = client.url().to_string();
    let info = client.get_blockchain_info()?;
    let want = rpc_chain_name(chain);
    if info.chain != want {
        bail!(
            "the node at {url} is on chain {:?}, but --network {} needs {want:?}",
            info.chain,
            chain.name()
        );
    }
    let genesis: Hash32 = chain
        .utxo_params()
        .map(|p| p.genesis)
        .unwrap_or_default()
        .parse()?;
    let node_genesis = client.get_block_hash(0)?;
    if node_genesis != genesis {
        bail!(
            "the node at {url} has genesis {node_genesis}, not {chain}'s {genesis}: wrong --network?"
        );
    }
    let mut report = IngestReport {
        chain: chain.name(),
        source: format!("JSON-RPC {url}"),
        ..IngestReport::default()
    };
    let top = info.blocks;
    let (next, unwound) = reconcile(store, chain, Some(top), info.chainwork.map(|w| w.0), |h| {
        Ok(Some(client.get_block_hash(h)?))
    })?;
    report.unwound = unwound;
    let end = to_height.map_or(top, |t| t.min(top));
    if next <= end {
        let bar = progress(u64::from(end - next + 1), show, "ingesting");
        let (tx, rx) = mpsc::sync_channel(64);
        let producer_client = client.clone();
        let tally = Arc::new(Mutex::new(LinkStats::default()));
        let (links, producer_tally) = (links.clone(), tally.clone());
        let mut services = ServiceOutputs::new(store, chain, &links)?;
        let producer = std::thread::spawn(move || {
            let mut h = next;
            while h <= end {
                let chunk_end = end.min(h.saturating_add(99));
                let hashes = match producer_client.get_block_hashes(h..chunk_end + 1) {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                        return;
                    }
                };
                for hash in hashes {
                    let item = producer_client
                        .get_block_verbose(&hash)
                        .map_err(anyhow::Error::from)
                        .and_then(|b| {
                            if b.height != h {
                                bail!(
                                    "getblock {hash} from {url}: height {} where {h} was asked",
                                    b.height
                                );
                            }
                            let mut block =
                                tracehound_btc::from_rpc::to_utxo_block(chain, &b, &url)?;
                            add_links(&mut block, &links, &mut services, &producer_tally);
                            Ok(block)
                        });
                    let failed = item.is_err();
                    if tx.send(item).is_err() || failed {
                        return;
                    }
                    h += 1;
                }
            }
        });
        let stats = write_all(store, chain, rx, producer, batch_txs, &bar, "fetcher")?;
        report.record(next, stats);
        report.links = take(&tally);
    }
    report.tip_height = store.tip(chain)?.map(|t| t.height);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The outputs paying a configured bridge wallet or vault of a UTXO chain, as the
/// prevouts of the txs that spend them: a service's payout is known by spending from the
/// service, and blocks come to the link decoder before the store resolves their inputs.
/// Seeded with the service addresses' unspent outputs already stored (a resumed ingest), then
/// kept up to date block by block.
pub(crate) struct ServiceOutputs {
    payees: std::collections::HashSet<tracehound_core::Payee>,
    unspent: std::collections::HashMap<tracehound_core::OutPoint, tracehound_core::ResolvedPrevout>,
}

impl ServiceOutputs {
    pub(crate) fn new(store: &Store, chain: Chain, links: &LinkConfig) -> anyhow::Result<Self> {
        let mut me = ServiceOutputs {
            payees: std::collections::HashSet::new(),
            unspent: std::collections::HashMap::new(),
        };
        // The chain's graph (its block index) is read once, and only when it has blocks.
        let graph = match store.tip(chain)? {
            Some(_) => Some(store.utxo_links(chain)?),
            None => None,
        };
        for (address, _, _) in links.utxo_services(&chain.name()) {
            let Ok(a) = tracehound_core::Address::parse(chain, &address) else {
                continue;
            };
            let Some(p) = a.to_payee() else { continue };
            me.payees.insert(p);
            let Some(g) = &graph else { continue };
            let Some(id) = g.address_id(&a)? else {
                continue;
            };
            for seq in g.address_txs(id)? {
                let t = g.tx(seq)?;
                let txid = g.txid(seq)?;
                for (vout, o) in t.outputs.iter().enumerate() {
                    if o.addr == Some(id) && o.spent_by.is_none() {
                        me.unspent.insert(
                            tracehound_core::OutPoint {
                                txid,
                                vout: u32::try_from(vout)?,
                            },
                            tracehound_core::ResolvedPrevout {
                                payee: Some(p),
                                kind: script_kind_of(&p),
                                value: tracehound_core::Amount::from_units(u128::from(o.value)),
                                height: t.height,
                                coinbase: false,
                            },
                        );
                    }
                }
            }
        }
        Ok(me)
    }

    /// Resolves the inputs of `block` that spend a service output, and takes in its new ones.
    fn resolve(&mut self, block: &mut UtxoBlock) {
        if self.payees.is_empty() {
            return;
        }
        let height = block.block.height;
        for tx in &mut block.txs {
            for i in &mut tx.inputs {
                if i.resolved.is_none()
                    && let Some(r) = self.unspent.remove(&i.prevout)
                {
                    i.resolved = Some(r);
                }
            }
            for (vout, o) in tx.outputs.iter().enumerate() {
                if let Some(p) = o.payee.filter(|p| self.payees.contains(p)) {
                    self.unspent.insert(
                        tracehound_core::OutPoint {
                            txid: tx.txid,
                            vout: u32::try_from(vout).unwrap_or(u32::MAX),
                        },
                        tracehound_core::ResolvedPrevout {
                            payee: Some(p),
                            kind: o.kind,
                            value: o.value,
                            height,
                            coinbase: tx.coinbase,
                        },
                    );
                }
            }
        }
    }
}

/// The script template of a payee, as far as its form tells (the link decoder reads only the
/// payee).
fn script_kind_of(p: &tracehound_core::Payee) -> tracehound_core::ScriptKind {
    use tracehound_core::{PayeeRepr, ScriptKind};
    match &p.repr {
        PayeeRepr::KeyHash(_) => ScriptKind::P2pkh,
        PayeeRepr::ScriptHash(_) => ScriptKind::P2sh,
        PayeeRepr::Witness { .. } => ScriptKind::WitnessUnknown,
        PayeeRepr::Multisig { .. } => ScriptKind::Multisig,
        _ => ScriptKind::NonStandard,
    }
}

/// Fills a UTXO block's link facts before it is stored, counting them.
fn add_links(
    block: &mut UtxoBlock,
    links: &LinkConfig,
    services: &mut ServiceOutputs,
    tally: &Mutex<LinkStats>,
) {
    services.resolve(block);
    let skips = tracehound_btc::links::add_link_facts(block, links);
    if let Ok(mut t) = tally.lock() {
        t.count_facts(&block.links);
        t.count_skips(&skips);
    }
}

fn take(tally: &Mutex<LinkStats>) -> LinkStats {
    tally.lock().map(|t| t.clone()).unwrap_or_default()
}
