//! `tracehound watch`: follow one chain's tip over JSON-RPC and alert as tainted value moves.
//!
//! Each cycle ingests the node's new blocks through the same code as `tracehound ingest`
//! (unwinding the store where the node's best chain moved), then:
//! - retracts every alert raised on a block that is no longer on the chain (a reorg);
//! - extends every watched incident's live trace ([`LiveTrace`]) with the new blocks, under
//!   the settings it was last traced with, and compares the alerts that trace implies for
//!   the blocks after the watch of the incident began with those in force: new ones are
//!   pushed, ones it no longer supports retracted; then hands the result to the data dir's
//!   writer thread ([`crate::result_writer`]: a large result takes a while to write, and
//!   neither the alerts nor the next incident or block wait for it);
//! - alerts on new transfers of addresses labeled sanctioned;
//! - marks final each alert in force whose block reached its confirmation depth (a `final`
//!   event naming it);
//! - pushes the alerts into the data dir's outbox (`alerts.redb`), from which a task of the
//!   same process delivers them to the webhook subscriptions.
//!
//! A cycle starts every `poll_ms`, or at once when the node announces a new block: an EVM
//! node's websocket `newHeads` (`ws`; see [`crate::heads`]) or a Core node's ZMQ `hashblock`
//! (`zmq`; see [`crate::zmq`]).
//!
//! Crash safety comes from the comparison: an alert's id is derived from what it is about
//! (kind, rule, incident, chain, block hash, tx, address, asset, amount), so a cycle repeated
//! after a crash finds its alerts already in force and the outbox keeps each once.
//!
//! Taint is extended, not traced again: a live trace parks what has not moved and goes on from
//! there when the chains grow, and equals a full trace of the store (`tracehound bench live`
//! checks it block by block). It starts over, and the cycle counts it as `restarted`, when a
//! later block changes the past (a reorg, a link matched otherwise) or the settings change;
//! a watch that starts (or restarts after a crash) traces each incident once in full.
//! Tracing and ingesting do not overlap ([`Shared::gate`]), so a trace reads whole blocks.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tracehound_app::LivePatterns;
use tracehound_btc::rpc::{RpcClient, RpcOptions};
use tracehound_core::{Chain, ChainFamily, LinkConfig};
use tracehound_monitor::{Alert, AlertKind, DeliveryConfig, Outbox};
use tracehound_patterns::Detection;
use tracehound_server::WatchBoard;
use tracehound_store::Store;
use tracehound_trace::{Hop, Incident, LiveTrace, Rules, TraceResult};

use crate::args::{Global, WatchArgs};
use crate::ingest_evm::EvmIngestOptions;

/// The outbox of a data dir.
pub(crate) fn outbox_path(data_dir: &Path) -> PathBuf {
    tracehound_server::outbox_path(data_dir)
}

/// Where each watched incident's watermark (the height up to which it was alerted) lives.
fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("watch-state.json")
}

/// Watermarks per chain and incident: alerts were raised for blocks up to this height; and
/// per chain and sanctioned address, how many of its transfers or txs were seen.
#[derive(Debug, Default, Serialize, Deserialize)]
struct WatchState {
    marks: BTreeMap<String, BTreeMap<String, u32>>,
    #[serde(default)]
    sanctioned: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per chain, the height sanctioned transfers are alerted above (the first cycle's tip).
    #[serde(default)]
    sanctioned_start: BTreeMap<String, u32>,
}

impl WatchState {
    fn load(path: &Path) -> anyhow::Result<WatchState> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{}: not a watch state", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WatchState::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    }
}

/// One chain to follow: from `tracehound watch`'s flags or a `[[chain]]` of a watch config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainSpec {
    /// The chain's name (`bitcoin`, `litecoin-regtest`, `ethereum`, `evm-31337`, …).
    pub(crate) chain: String,
    /// The node's JSON-RPC URL.
    pub(crate) rpc: String,
    /// EVM node: its websocket URL; each new head it announces wakes the watch at once
    /// (polling goes on as the fallback).
    #[serde(default)]
    pub(crate) ws: Option<String>,
    /// UTXO node: the ZMQ endpoint it publishes blocks on (`-zmqpubhashblock`); each block it
    /// announces wakes the watch at once (polling goes on as the fallback).
    #[serde(default)]
    pub(crate) zmq: Option<String>,
    /// UTXO node: its cookie file.
    #[serde(default)]
    pub(crate) rpc_cookie: Option<PathBuf>,
    /// UTXO node: user and password.
    #[serde(default)]
    pub(crate) rpc_user: Option<String>,
    #[serde(default)]
    pub(crate) rpc_password: Option<String>,
    /// The link config the chain is ingested with.
    #[serde(default)]
    pub(crate) links: Option<PathBuf>,
    /// Only these saved incidents (default: every saved incident traced once).
    #[serde(default)]
    pub(crate) incidents: Vec<String>,
    /// How often to ask the node for new blocks.
    #[serde(default = "default_poll_ms")]
    pub(crate) poll_ms: u64,
    /// Confirmations an alert's block needs before the alert is final.
    #[serde(default = "default_confirmations")]
    pub(crate) confirmations: u32,
    /// Alert on an incident's whole trace the first time it is watched.
    #[serde(default)]
    pub(crate) alert_history: bool,
    /// Addresses whose exposure is watched (customers' deposit addresses, a client's
    /// wallets): each tainted arrival at one is an `exposure` alert.
    #[serde(default)]
    pub(crate) watch_addresses: Vec<String>,
    /// EVM: read opening balances of new accounts.
    #[serde(default = "default_true")]
    pub(crate) opening_balances: bool,
}

fn default_poll_ms() -> u64 {
    1000
}

fn default_confirmations() -> u32 {
    1
}

fn default_true() -> bool {
    true
}

/// A watch config: `[[chain]]` entries, one per chain followed at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchConfig {
    chain: Vec<ChainSpec>,
}

/// The chains of a watch config file, each checked (names, URLs, auth).
pub(crate) fn load_config(path: &Path) -> anyhow::Result<Vec<ChainSpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading watch config {}", path.display()))?;
    let config: WatchConfig =
        toml::from_str(&text).with_context(|| format!("watch config {}", path.display()))?;
    if config.chain.is_empty() {
        bail!("watch config {}: no [[chain]] to follow", path.display());
    }
    let mut seen = HashSet::new();
    for (i, spec) in config.chain.iter().enumerate() {
        let at = || {
            format!(
                "watch config {}: [[chain]] #{} ({:?})",
                path.display(),
                i + 1,
                spec.chain
            )
        };
        let chain: Chain = spec
            .chain
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        if !seen.insert(chain) {
            bail!("{}: the chain is listed twice", at());
        }
        if !(spec.rpc.starts_with("http://") || spec.rpc.starts_with("https://")) {
            bail!("{}: rpc {:?} is no http(s) URL", at(), spec.rpc);
        }
        if spec.rpc_user.is_some() != spec.rpc_password.is_some() {
            bail!("{}: rpc_user and rpc_password go together", at());
        }
        if let Some(ws) = &spec.ws {
            crate::heads::check_ws_url(chain, ws).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        }
        if let Some(zmq) = &spec.zmq {
            crate::zmq::check_zmq_url(chain, zmq).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        }
        if spec.poll_ms == 0 {
            bail!("{}: poll_ms must be at least 1", at());
        }
        for a in &spec.watch_addresses {
            tracehound_core::Address::parse(chain, a)
                .map_err(|e| anyhow::anyhow!("{}: watch_addresses: {e}", at()))?;
        }
    }
    Ok(config.chain)
}

impl ChainSpec {
    /// The alert rules of a watch of `chain` from its first block (no node: for the alerts a
    /// watch would have raised over data already in the store).
    pub(crate) fn history(chain: Chain) -> ChainSpec {
        ChainSpec {
            chain: chain.name(),
            rpc: String::new(),
            ws: None,
            zmq: None,
            rpc_cookie: None,
            rpc_user: None,
            rpc_password: None,
            links: None,
            incidents: Vec::new(),
            poll_ms: default_poll_ms(),
            confirmations: default_confirmations(),
            alert_history: true,
            watch_addresses: Vec::new(),
            opening_balances: true,
        }
    }

    fn of_args(args: &WatchArgs) -> ChainSpec {
        ChainSpec {
            chain: args.chain.map(|c| c.name()).unwrap_or_default(),
            rpc: args.rpc.clone().unwrap_or_default(),
            ws: args.ws.clone(),
            zmq: args.zmq.clone(),
            rpc_cookie: args.rpc_cookie.clone(),
            rpc_user: args.rpc_user.clone(),
            rpc_password: args.rpc_password.clone(),
            links: args.links.clone(),
            incidents: args.incident.clone(),
            poll_ms: args.poll_ms,
            confirmations: args.confirmations,
            alert_history: args.alert_history,
            watch_addresses: args.watch_address.clone(),
            opening_balances: !args.no_opening_balances,
        }
    }
}

/// What every chain's loop shares: the data dir, its store and outbox, the watermarks, and
/// (in a server) the board the status endpoint reads.
pub(crate) struct Shared<'a> {
    pub(crate) data: &'a tracehound_app::DataDir,
    pub(crate) store: &'a Store,
    pub(crate) outbox: &'a Outbox,
    pub(crate) board: Option<&'a WatchBoard>,
    state: Mutex<WatchState>,
    state_file: PathBuf,
    /// Each chain's live trace of each watched incident (kept in memory: a new watch starts
    /// them afresh). Per chain, as each chain's loop traces with its own link config.
    live: Mutex<BTreeMap<(Chain, String), Live>>,
    /// Ingesting holds it shared (chains ingest side by side), tracing alone: a live trace
    /// must not read a block another chain's loop is halfway through storing.
    gate: RwLock<()>,
    /// Per chain, what the outbox holds of its alerts, read so far.
    outstanding: Mutex<BTreeMap<Chain, Outstanding>>,
    /// Keeps each incident's latest result on a thread of its own: a cycle does not wait on
    /// the disk.
    results: crate::result_writer::ResultWriter,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(
        data: &'a tracehound_app::DataDir,
        store: &'a Store,
        outbox: &'a Outbox,
        board: Option<&'a WatchBoard>,
    ) -> anyhow::Result<Shared<'a>> {
        let state_file = state_path(data.root());
        Ok(Shared {
            data,
            store,
            outbox,
            board,
            state: Mutex::new(WatchState::load(&state_file)?),
            state_file,
            live: Mutex::new(BTreeMap::new()),
            gate: RwLock::new(()),
            outstanding: Mutex::new(BTreeMap::new()),
            results: crate::result_writer::ResultWriter::start(data.clone())
                .context("starting the thread that keeps watched incidents' results")?,
        })
    }

    /// Hands `result` to the writer as `name`'s, unless this chain's loop handed over the
    /// same result last.
    fn save_result(
        &self,
        chain: Chain,
        name: &str,
        result: TraceResult,
        settings: &tracehound_app::TraceSettings,
    ) {
        let mut lives = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = lives.get_mut(&(chain, name.to_string()));
        if live
            .as_ref()
            .is_some_and(|l| l.saved.as_deref() == Some(&result))
        {
            return;
        }
        let result = Arc::new(result);
        if let Some(live) = live {
            live.saved = Some(Arc::clone(&result));
        }
        self.results.keep(name, result, settings.clone());
    }

    /// `incident`'s trace over the store as it is now, tagged, with the patterns on it: its
    /// live trace extended (or started, or started over) and its patterns brought up to date
    /// with the new blocks, with what was done counted in `report`.
    fn live_trace(
        &self,
        chain: Chain,
        name: &str,
        incident: &Incident,
        rules: Rules,
        report: &mut CycleReport,
    ) -> anyhow::Result<(TraceResult, Vec<Arc<Detection>>)> {
        let labels = rules.labels.clone();
        let mut lives = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (chain, name.to_string());
        let live = match lives.remove(&key) {
            Some(mut live) => {
                let advance = live.trace.advance(self.store, incident, rules)?;
                match advance.restarted {
                    Some(why) => {
                        tracing::info!(incident = name, "live trace started over: {why}");
                        report.restarted += 1;
                        live.patterns = LivePatterns::default();
                    }
                    None => report.extended += 1,
                }
                live
            }
            None => {
                report.started += 1;
                Live {
                    trace: LiveTrace::start(self.store, incident, rules)?,
                    patterns: LivePatterns::default(),
                    saved: None,
                }
            }
        };
        // Kept only when it advanced: a failed one is not offered to the next cycle.
        let live = lives.entry(key).or_insert(live);
        let mut result = live.trace.result()?;
        tracehound_app::tag_entities(self.data, self.store, &labels, &mut result)?;
        let found = live.patterns.update(self.store, &labels, &result);
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                // Not offered to the next cycle half-updated; the trace itself is fine.
                live.patterns = LivePatterns::default();
                return Err(e.into());
            }
        };
        tracehound_app::tag_with_patterns(&mut result, &found);
        Ok((result, found))
    }
}

/// One incident's live trace on one chain and the patterns on it.
struct Live {
    trace: LiveTrace,
    patterns: LivePatterns,
    /// The result this chain's loop last handed to the writer, if any: a block that leaves it
    /// as it was is not written again.
    saved: Option<Arc<TraceResult>>,
}

/// The node being followed.
enum Source {
    Utxo(RpcClient),
    Evm(Box<tracehound_evm::BlockingEvmClient>),
}

/// What one cycle did (printed per cycle with --json, for scripts and tests).
#[derive(Debug, Default, Serialize)]
struct CycleReport {
    chain: String,
    tip: Option<u32>,
    blocks: u64,
    unwound: u64,
    retracted: usize,
    alerts: usize,
    /// Alerts marked final (their block reached its confirmation depth).
    finals: usize,
    incidents: usize,
    /// Incidents whose live trace was extended with the new blocks.
    extended: usize,
    /// Incidents traced in full: first seen by this watch …
    started: usize,
    /// … or started over (a reorg, a link matched otherwise, other settings).
    restarted: usize,
    millis: u128,
}

pub(crate) fn run(global: &Global, args: &WatchArgs) -> anyhow::Result<()> {
    let specs = match (&args.config, &args.chain, &args.rpc) {
        (Some(path), _, _) => load_config(path)?,
        (None, Some(chain), Some(_)) => {
            for a in &args.watch_address {
                tracehound_core::Address::parse(*chain, a)
                    .map_err(|e| anyhow::anyhow!("--watch-address {a}: {e}"))?;
            }
            if let Some(ws) = &args.ws {
                crate::heads::check_ws_url(*chain, ws).map_err(|e| anyhow::anyhow!("--{e}"))?;
            }
            if let Some(zmq) = &args.zmq {
                crate::zmq::check_zmq_url(*chain, zmq).map_err(|e| anyhow::anyhow!("--{e}"))?;
            }
            vec![ChainSpec::of_args(args)]
        }
        _ => bail!("give --chain and --rpc, or --config FILE"),
    };
    let data = global.data();
    let store = data.open_store()?;
    let outbox = Arc::new(
        Outbox::open(&outbox_path(data.root()))
            .context("opening the alert outbox of the data dir")?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    watch_signals(&runtime, &stop);
    let delivery = (!args.no_deliver)
        .then(|| runtime.spawn(deliver_until(Arc::clone(&outbox), Arc::clone(&stop))));
    let shared = Shared::new(&data, &store, &outbox, None)?;
    let results: Vec<anyhow::Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| {
                let (shared, stop) = (&shared, &stop);
                s.spawn(move || {
                    let r = follow(shared, spec, stop, args.once, global.json);
                    if r.is_err() && !args.once {
                        // One chain failing for good stops the others: the watch is one job.
                        stop.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a chain's watch panicked")))
            })
            .collect()
    });
    if args.once && delivery.is_some() {
        // One pass over what is due, so `--once` delivers what it raised.
        let client = tracehound_monitor::client()?;
        runtime.block_on(tracehound_monitor::deliver_due(
            &outbox,
            &client,
            &DeliveryConfig::default(),
            unix_now_ms(),
        ))?;
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(d) = delivery {
        runtime.block_on(d)??;
    }
    results.into_iter().collect()
}

/// Delivers webhooks until `stop` is set.
pub(crate) async fn deliver_until(
    outbox: Arc<Outbox>,
    stop: Arc<AtomicBool>,
) -> Result<(), tracehound_monitor::MonitorError> {
    tracehound_monitor::deliver(outbox, DeliveryConfig::default(), async move {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Follows one chain until `stop` is set (or for one cycle with `once`): a node that cannot
/// be reached is waited for, loudly; anything else ends the watch of this chain. With a
/// websocket (`ws`) or ZMQ endpoint (`zmq`), a thread next to the loop wakes it at each new
/// block.
pub(crate) fn follow(
    shared: &Shared<'_>,
    spec: &ChainSpec,
    stop: &AtomicBool,
    once: bool,
    json: bool,
) -> anyhow::Result<()> {
    let chain: Chain = spec.chain.parse().map_err(anyhow::Error::msg)?;
    let node = redacted(&spec.rpc);
    let board = |f: &dyn Fn(&mut tracehound_server::ChainWatch)| {
        if let Some(b) = shared.board {
            b.update(&chain.name(), |w| {
                w.node.clone_from(&node);
                f(w);
            });
        }
    };
    let wake = crate::heads::Wake::default();
    let heads = Mutex::new(Heads::default());
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let feed = match (&spec.ws, &spec.zmq) {
            (Some(ws), _) => Some(Feed::Heads(ws)),
            (None, Some(zmq)) => Some(Feed::Zmq(zmq)),
            (None, None) => None,
        };
        if let (Some(feed), false) = (feed, once) {
            board(&|w| w.heads_subscribed = Some(false));
            let (wake, heads, done, board) = (&wake, &heads, &done, &board);
            s.spawn(move || {
                let quit = || stop.load(Ordering::Relaxed) || done.load(Ordering::Relaxed);
                let report = |status: crate::heads::FeedStatus<'_>| {
                    let mut h = heads
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    h.subscribed = matches!(status, crate::heads::FeedStatus::Up);
                    h.error = match status {
                        crate::heads::FeedStatus::Up => None,
                        crate::heads::FeedStatus::Down(why) => Some(why.to_string()),
                    };
                    let h = h.clone();
                    board(&|w| {
                        w.heads_subscribed = Some(h.subscribed);
                        w.error.clone_from(&h.error);
                    });
                };
                match feed {
                    Feed::Heads(ws) => crate::heads::follow_heads(chain, ws, wake, &quit, &report),
                    Feed::Zmq(zmq) => crate::zmq::follow_blocks(chain, zmq, wake, &quit, &report),
                }
            });
        }
        let r = follow_polling(shared, spec, chain, stop, once, json, &wake, &heads, &board);
        done.store(true, Ordering::Relaxed);
        r
    })
}

/// What wakes the watch at a new block besides its poll: an EVM node's websocket or a Core
/// node's ZMQ.
enum Feed<'a> {
    Heads(&'a str),
    Zmq(&'a str),
}

/// The wake-up's state (websocket or ZMQ), for the status board: whether it is up, and why
/// not when it failed (shown as the chain's error while the watch polls).
#[derive(Debug, Clone, Default)]
struct Heads {
    subscribed: bool,
    error: Option<String>,
}

/// Writes a change to this chain's entry of the status board (if the watch runs in a server).
type Board<'a> = dyn Fn(&dyn Fn(&mut tracehound_server::ChainWatch)) + Sync + 'a;

/// The watch loop of [`follow`]: a cycle, then a wait for the poll interval or a new head.
#[allow(clippy::too_many_arguments)]
fn follow_polling(
    shared: &Shared<'_>,
    spec: &ChainSpec,
    chain: Chain,
    stop: &AtomicBool,
    once: bool,
    json: bool,
    wake: &crate::heads::Wake,
    heads: &Mutex<Heads>,
    board: &Board<'_>,
) -> anyhow::Result<()> {
    let links = crate::links::load(spec.links.as_deref())?;
    let node = redacted(&spec.rpc);
    let mut source = None;
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let outcome = (|| {
            if source.is_none() {
                source = Some(connect(chain, spec, &links)?);
            }
            let Some(src) = &source else {
                bail!("no source");
            };
            cycle(shared, chain, src, spec, &links, first)
        })();
        let report = match outcome {
            Ok(r) => r,
            Err(e) if is_connection(&e) && !once => {
                let text = format!("{e:#}");
                board(&|w| {
                    w.node_reachable = false;
                    w.error = Some(text.clone());
                });
                eprintln!("watch {chain}: the node at {node} is unreachable ({e:#}); retrying");
                wake.wait(stop, Duration::from_millis(spec.poll_ms.max(1000)));
                continue;
            }
            Err(e) => {
                let text = format!("{e:#}");
                board(&|w| w.error = Some(text.clone()));
                return Err(e.context(format!("watching {chain}")));
            }
        };
        {
            let state = shared
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.save(&shared.state_file)?;
        }
        first = false;
        let heads_error = heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .error
            .clone();
        board(&|w| {
            w.node_reachable = true;
            w.error.clone_from(&heads_error);
            w.tip = report.tip;
            w.cycles += 1;
            w.blocks += report.blocks;
            w.unwound += report.unwound;
            w.alerts += report.alerts as u64;
            w.retracted += report.retracted as u64;
            w.traces_extended += report.extended as u64;
            w.traces_started += (report.started + report.restarted) as u64;
            w.last_cycle_at = Some(unix_now());
            w.last_cycle_ms = Some(u64::try_from(report.millis).unwrap_or(u64::MAX));
        });
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else if report.blocks > 0 || report.unwound > 0 || report.alerts > 0 || report.finals > 0
        {
            eprintln!(
                "watch {chain}: tip {}, {} new blocks, {} unwound, {} alerts, {} retracted, {} \
                 final ({} ms)",
                report.tip.map_or("-".into(), |t| t.to_string()),
                report.blocks,
                report.unwound,
                report.alerts,
                report.retracted,
                report.finals,
                report.millis
            );
        }
        if once {
            break;
        }
        wake.wait(stop, Duration::from_millis(spec.poll_ms));
    }
    Ok(())
}

/// A URL without its user and password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn connect(chain: Chain, spec: &ChainSpec, links: &LinkConfig) -> anyhow::Result<Source> {
    Ok(match chain.family() {
        ChainFamily::Utxo => {
            let auth =
                crate::ingest::rpc_auth(&spec.rpc_cookie, &spec.rpc_user, &spec.rpc_password);
            Source::Utxo(RpcClient::new(
                spec.rpc.clone(),
                auth,
                RpcOptions::default(),
            ))
        }
        ChainFamily::Account => Source::Evm(Box::new(crate::ingest_evm::connect(
            chain,
            &spec.rpc,
            &[],
            16,
            links.clone(),
        )?)),
    })
}

/// One cycle: catch up with the node, retract what a reorg removed, alert on new taint.
fn cycle(
    shared: &Shared<'_>,
    chain: Chain,
    source: &Source,
    spec: &ChainSpec,
    links: &LinkConfig,
    first: bool,
) -> anyhow::Result<CycleReport> {
    let started = Instant::now();
    let (data, store, outbox) = (shared.data, shared.store, shared.outbox);
    let before = store.tip(chain)?.map(|t| t.height);
    let ingesting = shared
        .gate
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ingested = match source {
        Source::Utxo(client) => {
            crate::ingest::ingest_rpc(store, client, chain, None, 250_000, false, links)?
        }
        Source::Evm(client) => crate::ingest_evm::ingest(
            store,
            client,
            &EvmIngestOptions {
                from: None,
                to: None,
                batch_blocks: 1000,
                batch_txs: 20_000,
                opening_balances: spec.opening_balances,
                show: false,
            },
        )?,
    };
    drop(ingesting);
    let tip = store.tip(chain)?.map(|t| t.height);
    let mut report = CycleReport {
        chain: chain.name(),
        tip,
        blocks: ingested.blocks,
        unwound: ingested.unwound,
        ..CycleReport::default()
    };
    if ingested.unwound > 0 || first {
        report.retracted = retract_stale(store, outbox, chain, &shared.outstanding)?;
    }
    let mut state = shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(tip) = tip else {
        return Ok(report);
    };
    let changed = tip != before.unwrap_or(u32::MAX) || ingested.unwound > 0 || first;
    if !changed {
        report.millis = started.elapsed().as_millis();
        return Ok(report);
    }
    // Tracing waits for other chains' ingest in progress (and holds theirs back).
    let tracing = shared
        .gate
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let incidents = watched_incidents(data, &spec.incidents)?;
    report.incidents = incidents.len();
    let labels = data.trace_labels()?;
    // What was raised on this chain so far, read once for every incident of the cycle and
    // for the finals after them.
    let Outstanding {
        kept: raised,
        mut retracted,
        finalised,
        ..
    } = in_force(&shared.outstanding, outbox, chain)?;
    // Alerts are for blocks after the watch of an incident started: its history is in its
    // trace, not in alerts. A new incident's start is kept before anything is raised, so a
    // watch killed in this cycle starts it here again, not at a later tip.
    let marks = state.marks.entry(chain.name()).or_default();
    let mut new = false;
    for name in &incidents {
        if !marks.contains_key(name) {
            marks.insert(name.clone(), if spec.alert_history { 0 } else { tip });
            new = true;
        }
    }
    let marks = marks.clone();
    if new {
        state.save(&shared.state_file)?;
    }
    // The alerts this cycle raises, to be made final with those read above (blocks caught up
    // with can be deep already).
    let mut pushed = Vec::new();
    for name in incidents {
        let start = marks.get(&name).copied().unwrap_or(tip);
        let path = data.saved_incident_path(&name)?;
        let incident = data.read_incident(&path)?;
        let settings = data.load_settings(&name)?;
        let rules = settings.rules(labels.clone(), links.clone())?;
        // Traced even with nothing to alert yet (the watch's first cycle): the next block
        // then only extends it.
        let (result, patterns) = shared
            .live_trace(chain, &name, &incident, rules, &mut report)
            .with_context(|| format!("tracing incident {name:?} on"))?;
        if start >= tip {
            continue;
        }
        // What this trace says happened after the start, against what was alerted: new
        // alerts go out, and alerts the trace no longer supports are retracted (a later block
        // can change how a link or a mixer was matched, and patterns come and go).
        let alerted = alerted_of(&raised, &retracted, &name);
        // Only what is not in force yet is pushed, and needs its evidence.
        let to_push = |id: &str| !matches!(alerted.get(id), Some(Alerted { live: Some(_), .. }));
        let mut want = alerts_of(store, chain, &name, &result, start, spec, &to_push)?;
        want.extend(pattern_alerts(
            store,
            chain,
            &name,
            &result,
            &patterns,
            start,
            spec.confirmations,
        )?);
        let wanted: HashSet<&str> = want.iter().map(|a| a.id.as_str()).collect();
        for alert in &want {
            let again = match alerted.get(&alert.id) {
                Some(Alerted { live: Some(_), .. }) => continue,
                // Supported again after a retraction: raised again under a new revision.
                Some(Alerted {
                    live: None,
                    revision,
                }) => alert.reissued(revision + 1),
                None => alert.clone(),
            };
            if outbox.push(&again)?.is_some() {
                report.alerts += 1;
                pushed.push(again);
            }
        }
        let reason = format!(
            "no longer in the trace as of {chain} block {tip} (a later block changed how value \
             was matched through a link or mixer, or the pattern is gone)"
        );
        for (base, a) in &alerted {
            let Some(live) = a.live.as_ref().filter(|_| !wanted.contains(base.as_str())) else {
                continue;
            };
            let reason = retraction_reason(live, reason.clone(), &finalised);
            if outbox
                .push(&Alert::retraction(live, &reason, unix_now()))?
                .is_some()
            {
                report.retracted += 1;
            }
            retracted.insert(live.id.clone());
        }
        // Kept after its alerts are pushed, and written on the writer's thread: writing a
        // large result (hundreds of MB of JSON) holds back neither the alerts of the block nor
        // the next incident and block.
        shared.save_result(chain, &name, result, &settings);
    }
    drop(tracing);
    let start = *state
        .sanctioned_start
        .entry(chain.name())
        .or_insert(if spec.alert_history { 0 } else { tip });
    let seen = state.sanctioned.entry(chain.name()).or_default();
    let reread = ingested.unwound > 0;
    for alert in sanctioned_alerts(store, chain, &labels, seen, start, reread, spec)? {
        if outbox.push(&alert)?.is_some() {
            report.alerts += 1;
            pushed.push(alert);
        }
    }
    drop(state);
    report.finals = finalise(
        store,
        outbox,
        chain,
        tip,
        raised.iter().chain(&pushed),
        &retracted,
        &finalised,
    )?;
    report.millis = started.elapsed().as_millis();
    Ok(report)
}

/// Marks final every alert of `raised` (this cycle's read of the outbox and what it pushed
/// since) not retracted whose block is now at least its `confirmations_needed` deep and
/// still the store's block at its height. An alert that asked for 1 confirmation was final
/// when raised: no event follows it.
fn finalise<'a>(
    store: &Store,
    outbox: &Outbox,
    chain: Chain,
    tip: u32,
    raised: impl Iterator<Item = &'a Alert>,
    retracted: &HashSet<String>,
    finalised: &HashSet<String>,
) -> anyhow::Result<usize> {
    let now = unix_now();
    let mut n = 0;
    let mut hashes: BTreeMap<u32, Option<String>> = BTreeMap::new();
    for a in raised {
        if a.confirmations_needed <= 1
            || retracted.contains(&a.id)
            || finalised.contains(&a.id)
            || a.height > tip
        {
            continue;
        }
        let depth = tip - a.height + 1;
        if depth < a.confirmations_needed {
            continue;
        }
        let current = match hashes.get(&a.height) {
            Some(h) => h.clone(),
            None => {
                let h = store
                    .block_at(chain, a.height)?
                    .map(|b| block_hash_text(chain, &b.hash));
                hashes.insert(a.height, h.clone());
                h
            }
        };
        // A block no longer on the chain is for `retract_stale`, never final.
        if current.as_deref() != Some(a.block_hash.as_str()) {
            continue;
        }
        if outbox.push(&Alert::finality(a, depth, now))?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Laundering patterns detected on an incident's trace (`found`) whose latest tx is in a
/// block of `chain` above `mark`: one alert per pattern and its txs.
pub(crate) fn pattern_alerts<D: std::borrow::Borrow<Detection>>(
    store: &Store,
    chain: Chain,
    name: &str,
    result: &TraceResult,
    found: &[D],
    mark: u32,
    confirmations: u32,
) -> anyhow::Result<Vec<Alert>> {
    let chain_name = chain.name();
    let heights: BTreeMap<&str, u32> = result
        .edges
        .iter()
        .filter(|h| *h.chain == *chain_name)
        .filter_map(|h| Some((&*h.tx, height_of(h)?)))
        .collect();
    let mut out = Vec::new();
    for d in found
        .iter()
        .map(std::borrow::Borrow::borrow)
        .filter(|d: &&Detection| d.chain == chain_name)
    {
        let Some((tx, height)) = d
            .txs
            .iter()
            .filter_map(|t| Some((t, *heights.get(t.as_str())?)))
            .max_by_key(|(_, h)| *h)
        else {
            continue;
        };
        if height <= mark {
            continue;
        }
        let Some(block) = store.block_at(chain, height)? else {
            continue;
        };
        let mut alert = Alert::builder(
            AlertKind::Pattern,
            &chain_name,
            height,
            block_hash_text(chain, &block.hash),
        )
        .incident(name)
        .rule(d.kind.name())
        .tx(tx.clone())
        .summary(format!(
            "incident {name}: {} (score {}): {}",
            d.kind.name(),
            d.score,
            d.explanation
        ))
        .evidence(serde_json::json!({
            "pattern": d.kind.name(),
            "score": d.score,
            "txs": d.txs,
            "addresses": d.addresses,
            "explanation": d.explanation,
        }))
        .confirmations_needed(confirmations);
        if let Some(first) = d.addresses.first() {
            alert = alert.address(first.clone());
        }
        out.push(alert.raised_at(unix_now()).build());
    }
    Ok(out)
}

/// Transfers of addresses labeled sanctioned on `chain` that the watch has not seen yet
/// (`seen`: per address, how many of its transfers or txs were seen; an address seen for the
/// first time is counted, not alerted, unless the chain's `alert_history` is on).
#[allow(clippy::too_many_arguments)]
fn sanctioned_alerts(
    store: &Store,
    chain: Chain,
    labels: &tracehound_trace::Labels,
    seen: &mut BTreeMap<String, u64>,
    start: u32,
    reread: bool,
    spec: &ChainSpec,
) -> anyhow::Result<Vec<Alert>> {
    let chain_name = chain.name();
    let mut out = Vec::new();
    for (c, address, label) in labels.iter() {
        if c != chain || label.category != "sanctioned" {
            continue;
        }
        let addr = tracehound_core::Address::from_canonical(chain, address.to_string());
        // (id, how many entries its history has now)
        let now = match chain.family() {
            ChainFamily::Utxo => store.address(&addr)?.map(|v| (v.id, v.tx_count)),
            ChainFamily::Account => store.account(&addr)?.map(|v| (v.id, v.transfers)),
        };
        let Some((id, count)) = now else {
            // Not active yet: whatever it does from now on is new.
            seen.entry(address.to_string()).or_insert(0);
            continue;
        };
        let before = match seen.get(address) {
            // After a reorg the history is read again whole: a transfer the new branch
            // carries again is in a new block (a new alert), the old one's was retracted.
            _ if reread => 0,
            Some(&n) => n.min(count),
            None if spec.alert_history => 0,
            None => count,
        };
        seen.insert(address.to_string(), count);
        if count <= before {
            continue;
        }
        let offset = usize::try_from(before).unwrap_or(usize::MAX);
        let limit = usize::try_from(count - before)
            .unwrap_or(usize::MAX)
            .min(10_000);
        // (height, tx, asset, received, sent)
        let rows: Vec<(u32, String, String, u128, u128)> = match chain.family() {
            ChainFamily::Utxo => store
                .address_history(chain, id, offset, limit)?
                .into_iter()
                .map(|r| {
                    (
                        r.height,
                        r.txid.to_string(),
                        "native".to_string(),
                        r.received.units(),
                        r.sent.units(),
                    )
                })
                .collect(),
            ChainFamily::Account => store
                .account_history(chain, id, offset, limit)?
                .into_iter()
                .map(|r| {
                    let f = r.flow;
                    (
                        f.height,
                        format!("0x{}", f.txid),
                        f.asset,
                        f.received.units(),
                        f.sent.units(),
                    )
                })
                .collect(),
        };
        for (height, tx, asset, received, sent) in rows {
            if height <= start {
                continue;
            }
            let Some(block) = store.block_at(chain, height)? else {
                continue;
            };
            let (verb, amount) = if sent > 0 {
                ("sent", sent)
            } else {
                ("received", received)
            };
            out.push(
                Alert::builder(
                    AlertKind::Sanctioned,
                    &chain_name,
                    height,
                    block_hash_text(chain, &block.hash),
                )
                .tx(tx.clone())
                .address(address)
                .amount(&asset, amount)
                .summary(format!(
                    "sanctioned address {address} ({}, per {}) {verb} {amount} {asset} in tx {tx}",
                    label.label, label.source
                ))
                .evidence(serde_json::json!({
                    "label": label.label,
                    "source": label.source,
                    "received": received.to_string(),
                    "sent": sent.to_string(),
                }))
                .confirmations_needed(spec.confirmations)
                .raised_at(unix_now())
                .build(),
            );
        }
    }
    Ok(out)
}

/// The incidents to re-trace: those named, else every saved incident traced at least once.
fn watched_incidents(
    data: &tracehound_app::DataDir,
    named: &[String],
) -> anyhow::Result<Vec<String>> {
    if !named.is_empty() {
        for name in named {
            data.load_settings(name).with_context(|| {
                format!("incident {name:?} has no kept trace: run `tracehound trace --incident {name}` once")
            })?;
        }
        return Ok(named.to_vec());
    }
    Ok(data
        .list_incidents()?
        .into_iter()
        .map(|i| i.name)
        .filter(|n| data.load_settings(n).is_ok())
        .collect())
}

/// What was alerted of one event (an alert's first id): its alert now in force, if one is,
/// and its latest revision.
struct Alerted {
    live: Option<Alert>,
    revision: u32,
}

/// Of the alerts a trace raised (`raised`: moves, services reached, patterns, exposures),
/// those of incident `name`, by the id of their first revision.
fn alerted_of(
    raised: &[Alert],
    retracted: &HashSet<String>,
    name: &str,
) -> BTreeMap<String, Alerted> {
    let mut out: BTreeMap<String, Alerted> = BTreeMap::new();
    for a in raised
        .iter()
        .filter(|a| a.incident.as_deref() == Some(name))
    {
        let base = a.reissued(0).id;
        let entry = out.entry(base).or_insert(Alerted {
            live: None,
            revision: 0,
        });
        entry.revision = entry.revision.max(a.revision);
        if !retracted.contains(&a.id) {
            entry.live = Some(a.clone());
        }
    }
    out
}

/// What the outbox holds: the alerts `keep` keeps (never retractions or finals) without their
/// evidence, and the ids of every alert retracted and of every alert finalised; read up to
/// sequence `after`.
#[derive(Debug, Clone, Default)]
struct Outstanding {
    kept: Vec<Alert>,
    retracted: HashSet<String>,
    finalised: HashSet<String>,
    after: u64,
}

impl Outstanding {
    /// Reads what the outbox has gained since the last read: it only grows (alerts are
    /// appended in sequence and never removed), so a watch reads each alert once, not the
    /// whole outbox every cycle.
    fn refresh(&mut self, outbox: &Outbox, keep: impl Fn(&Alert) -> bool) -> anyhow::Result<()> {
        loop {
            let page = outbox.alerts(self.after, 1000)?;
            let Some(&(last, _)) = page.last() else {
                return Ok(());
            };
            self.after = last;
            for (_, a) in page {
                match (a.kind, &a.retracts, &a.finalises) {
                    (AlertKind::Retraction, Some(of), _) => {
                        self.retracted.insert(of.clone());
                    }
                    (AlertKind::Final, _, Some(of)) => {
                        self.finalised.insert(of.clone());
                    }
                    (AlertKind::Retraction | AlertKind::Final, _, _) => {}
                    _ if keep(&a) => {
                        // Retractions and finals are built from the subject and summary: the
                        // evidence (proof paths) would only make what is kept as big as the
                        // outbox.
                        let mut a = a;
                        a.evidence = serde_json::Value::Null;
                        self.kept.push(a);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What the outbox holds for `chain`'s alerts, brought up to date from `cache` (each chain's
/// read so far).
fn in_force(
    cache: &Mutex<BTreeMap<Chain, Outstanding>>,
    outbox: &Outbox,
    chain: Chain,
) -> anyhow::Result<Outstanding> {
    let name = chain.name();
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let read = cache.entry(chain).or_default();
    read.refresh(outbox, |a| a.chain == name)?;
    Ok(read.clone())
}

/// Why `a` is retracted, with a word that it had been final when it had: only a reorg deeper
/// than the confirmations it asked for (or a trace changed after them) does that.
fn retraction_reason(a: &Alert, why: String, finalised: &HashSet<String>) -> String {
    if finalised.contains(&a.id) {
        format!(
            "{why}; it had been final at {} confirmations",
            a.confirmations_needed
        )
    } else {
        why
    }
}

/// Retracts every alert of `chain` whose block is no longer the store's block at its height.
fn retract_stale(
    store: &Store,
    outbox: &Outbox,
    chain: Chain,
    cache: &Mutex<BTreeMap<Chain, Outstanding>>,
) -> anyhow::Result<usize> {
    let Outstanding {
        kept: live,
        retracted,
        finalised,
        ..
    } = in_force(cache, outbox, chain)?;
    let now = unix_now();
    let mut n = 0;
    for a in live.iter().filter(|a| !retracted.contains(&a.id)) {
        let current = store
            .block_at(chain, a.height)?
            .map(|b| block_hash_text(chain, &b.hash));
        if current.as_deref() == Some(a.block_hash.as_str()) {
            continue;
        }
        let reason = match current {
            Some(h) => format!(
                "block {} at height {} was replaced by {h}",
                a.block_hash, a.height
            ),
            None => format!(
                "block {} at height {} is no longer on the chain",
                a.block_hash, a.height
            ),
        };
        let reason = retraction_reason(a, reason, &finalised);
        if outbox.push(&Alert::retraction(a, &reason, now))?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// The alerts of a trace of incident `name` for blocks of `chain` above `mark`: a point of
/// intervention reached, and each tainted hop.
///
/// `needs_evidence` says, by id, which alerts get their evidence (proof path, hop): a cycle
/// builds the alerts of every hop since the watch began to compare them with what was
/// alerted, and only those it will push need it (the id does not depend on it).
pub(crate) fn alerts_of(
    store: &Store,
    chain: Chain,
    name: &str,
    result: &TraceResult,
    mark: u32,
    spec: &ChainSpec,
    needs_evidence: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Vec<Alert>> {
    let confirmations = spec.confirmations;
    let watched: HashSet<String> = spec
        .watch_addresses
        .iter()
        .filter_map(|a| tracehound_core::Address::parse(chain, a).ok())
        .map(|a| a.as_str().to_string())
        .collect();
    let chain_name = chain.name();
    let mut hashes: BTreeMap<u32, String> = BTreeMap::new();
    let mut hash_at = |h: u32| -> anyhow::Result<String> {
        if let Some(x) = hashes.get(&h) {
            return Ok(x.clone());
        }
        let Some(b) = store.block_at(chain, h)? else {
            bail!("{chain}: a traced hop is in block {h}, which the store does not hold");
        };
        let x = block_hash_text(chain, &b.hash);
        hashes.insert(h, x.clone());
        Ok(x)
    };
    let now = unix_now();
    let mut out = Vec::new();
    // Each tainted arrival at a service is an alert of its own, for the amount that hop
    // brought: what happened in that block, not the balance as of this trace (which later
    // blocks change), so watching block by block raises what one trace of the end raises.
    let services: BTreeMap<&str, &tracehound_trace::Endpoint> = result
        .endpoints
        .iter()
        .filter(|e| e.chain == chain_name && (e.freezable_by.is_some() || e.category.is_some()))
        .map(|e| (e.address.as_str(), e))
        .collect();
    for hop in &result.edges {
        let Some(e) = services.get(&*hop.to) else {
            continue;
        };
        if &*hop.chain != chain_name.as_str() || hop.tainted == 0 || *hop.asset != *e.asset {
            continue;
        }
        let Some(height) = height_of(hop).filter(|h| *h > mark) else {
            continue;
        };
        let who = e.label.as_deref().unwrap_or(&e.address);
        let summary = format!(
            "incident {name}: {} reached {who}{}{} in tx {}",
            shown(store, chain, &e.asset, hop.tainted),
            e.category
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            e.freezable_by
                .as_deref()
                .map(|f| format!(", which the {f} can freeze"))
                .unwrap_or_default(),
            hop.tx
        );
        let mut alert = Alert::builder(
            AlertKind::ReachedService,
            &chain_name,
            height,
            hash_at(height)?,
        )
        .incident(name)
        .tx(&*hop.tx)
        .address(&e.address)
        .amount(&e.asset, hop.tainted)
        .summary(summary)
        .confirmations_needed(confirmations)
        .raised_at(now)
        .build();
        if needs_evidence(&alert.id) {
            alert.evidence = serde_json::json!({
                "label": e.label,
                "category": e.category,
                "freezable_by": e.freezable_by,
                "arrival": hop,
                "resting_now": e.amount.to_string(),
                "hops": e.hops,
                "path": e.path,
            });
        }
        out.push(alert);
    }
    // Each tainted hop is a move, and also an exposure when it lands at a watched address.
    for hop in &result.edges {
        if &*hop.chain != chain_name.as_str() || hop.tainted == 0 {
            continue;
        }
        let Some(height) = height_of(hop).filter(|h| *h > mark) else {
            continue;
        };
        let amount = shown(store, chain, &hop.asset, hop.tainted);
        let mut kinds = vec![(
            AlertKind::TaintMoved,
            format!(
                "incident {name}: {amount} tainted moved {} → {} in tx {}",
                hop.from, hop.to, hop.tx
            ),
        )];
        if watched.contains(&*hop.to) {
            kinds.push((
                AlertKind::Exposure,
                format!(
                    "incident {name}: watched address {} received {amount} tainted in tx {}",
                    hop.to, hop.tx
                ),
            ));
        }
        for (kind, summary) in kinds {
            let mut alert = Alert::builder(kind, &chain_name, height, hash_at(height)?)
                .incident(name)
                .tx(&*hop.tx)
                .address(&*hop.to)
                .amount(&*hop.asset, hop.tainted)
                .summary(summary)
                .confirmations_needed(confirmations)
                .raised_at(now)
                .build();
            if needs_evidence(&alert.id) {
                alert.evidence = serde_json::json!({ "hop": hop });
            }
            out.push(alert);
        }
    }
    Ok(out)
}

/// `amount` of `asset` as people read it: with the asset's decimals and symbol when the
/// store knows them, else in base units with the asset named (the alert's `amount` field
/// stays the exact integer either way).
fn shown(store: &Store, chain: Chain, asset: &str, amount: u128) -> String {
    match store.asset_info(chain, asset) {
        Ok((symbol, Some(decimals))) => format!(
            "{} {}",
            tracehound_report::format_units(amount, decimals),
            symbol.unwrap_or_else(|| asset.to_string())
        ),
        _ => format!("{amount} base units of {asset}"),
    }
}

/// A block hash as the chain's users write it: `0x`-prefixed on account chains.
fn block_hash_text(chain: Chain, hash: &tracehound_core::Hash32) -> String {
    match chain.family() {
        ChainFamily::Account => format!("0x{hash}"),
        ChainFamily::Utxo => hash.to_string(),
    }
}

/// A hop's block height (its `at` starts with it).
fn height_of(hop: &Hop) -> Option<u32> {
    hop.at.split(':').next()?.parse().ok()
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether `e` is a node that cannot be reached (worth waiting for) rather than bad data.
fn is_connection(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}").to_lowercase();
    [
        "connection refused",
        "connect",
        "timed out",
        "unreachable",
        "reset by peer",
    ]
    .iter()
    .any(|w| text.contains(w))
}

fn watch_signals(runtime: &tokio::runtime::Runtime, stop: &Arc<AtomicBool>) {
    let stop = Arc::clone(stop);
    runtime.spawn(async move {
        crate::serve::stop_signal().await;
        stop.store(true, Ordering::Relaxed);
    });
}
