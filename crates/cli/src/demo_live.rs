//! `tracehound demo --serve --live`: the cross-chain heist as it happened, block by block.
//!
//! The recorded nodes' answers are served again, but as nodes whose tips start at the drain
//! ([`Mode::Live`]) and advance one block every `--live-ms`, the two chains interleaved in
//! the order of their blocks' times. A fresh data dir ingests up to the drain, the incident is
//! saved and traced there, and the server watches both nodes (`serve --watch`): as the
//! laundering continues, the web UI's alerts page and `GET /api/v1/alerts/stream` show each
//! move, each pattern and each deposit at an exchange within the block that made it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
use tracehound_core::{Chain, Hash32};
use tracehound_sim::GroundTruth;
use tracehound_store::Store;
use tracehound_trace::Rules;

use crate::args::Global;
use crate::demo_cross::INCIDENT;
use crate::ingest_evm::EvmIngestOptions;
use crate::replay::{Mode, Recording, RpcServer};

const LTC: Chain = Chain::LitecoinRegtest;

/// The recorded heist's nodes served live, standing at the drain, and the order the later
/// blocks of both chains came in (by their blocks' times).
pub(crate) struct LiveNodes {
    /// The EVM chain.
    pub(crate) evm: Chain,
    /// The blocks after the drain, in order.
    pub(crate) schedule: Vec<(Chain, u32)>,
    /// Where each chain's node stands at first: (EVM, litecoin).
    pub(crate) start: [(Chain, u32); 2],
    /// The heist's incident (the drain txs).
    incident: tracehound_trace::Incident,
    evm_tip: Arc<AtomicU32>,
    ltc_tip: Arc<AtomicU32>,
    evm_node: RpcServer,
    ltc_node: RpcServer,
}

impl LiveNodes {
    /// Serves the recording, reading the blocks' times from `cross_dir`'s `store/` (written
    /// by [`crate::demo_cross::run`], which holds the whole of both chains).
    pub(crate) fn start(global: &Global, cross_dir: &Path) -> anyhow::Result<LiveNodes> {
        let truth: GroundTruth =
            serde_json::from_slice(crate::demo_cross::embedded("truth.json")?)?;
        let evm = Chain::Evm(truth.chain_id);
        let full = Store::open(&cross_dir.join("store"), &global.store_options())?;
        let mut drain_height = 0;
        for tx in &truth.incident.txs {
            let hash: Hash32 = tx.parse().with_context(|| format!("drain tx {tx}"))?;
            for view in full.account_tx(Some(evm), &hash)? {
                drain_height = drain_height.max(view.height);
            }
        }
        let drain_time = full
            .block_at(evm, drain_height)?
            .context("the drain's block")?
            .time;
        let mut blocks: Vec<(u64, u8, Chain, u32)> = Vec::new();
        let mut start = [(evm, drain_height), (LTC, 0)];
        for (order, chain) in [(0u8, evm), (1u8, LTC)] {
            let tip = full.tip(chain)?.context("the recorded chain")?.height;
            for h in 0..=tip {
                let time = full.block_at(chain, h)?.map_or(0, |b| b.time);
                if chain == LTC && time <= drain_time {
                    start[1].1 = h;
                } else if chain == evm && h <= drain_height {
                    continue;
                } else {
                    blocks.push((time, order, chain, h));
                }
            }
        }
        blocks.retain(|&(_, _, c, h)| !(c == LTC && h <= start[1].1));
        blocks.sort_unstable();
        let read = |name: &str| -> anyhow::Result<Recording> {
            Ok(serde_json::from_slice(crate::demo_cross::embedded(name)?)?)
        };
        let evm_tip = Arc::new(AtomicU32::new(start[0].1));
        let ltc_tip = Arc::new(AtomicU32::new(start[1].1));
        Ok(LiveNodes {
            evm,
            schedule: blocks.into_iter().map(|(_, _, c, h)| (c, h)).collect(),
            start,
            incident: crate::demo_cross::incident_of(&truth, INCIDENT),
            evm_node: RpcServer::start(Mode::Live {
                recording: read("evm-rpc.json")?,
                tip: Arc::clone(&evm_tip),
            })?,
            ltc_node: RpcServer::start(Mode::Live {
                recording: read("ltc-rpc.json")?,
                tip: Arc::clone(&ltc_tip),
            })?,
            evm_tip,
            ltc_tip,
        })
    }

    /// Moves `chain`'s node to `height`.
    pub(crate) fn show(&self, chain: Chain, height: u32) {
        let tip = if chain == LTC {
            &self.ltc_tip
        } else {
            &self.evm_tip
        };
        tip.store(height, Ordering::Relaxed);
    }

    /// Ingests what `chain`'s node shows into `store`, as `tracehound ingest` does.
    pub(crate) fn ingest(
        &self,
        store: &Store,
        chain: Chain,
        links: &tracehound_core::LinkConfig,
    ) -> anyhow::Result<()> {
        if chain == LTC {
            let client = RpcClient::new(
                self.ltc_node.url().to_string(),
                RpcAuth::UserPass {
                    user: "demo".into(),
                    password: "demo".into(),
                },
                RpcOptions::default(),
            );
            crate::ingest::ingest_rpc(store, &client, LTC, None, 250_000, false, links)?;
        } else {
            let client =
                crate::ingest_evm::connect(self.evm, self.evm_node.url(), &[], 16, links.clone())?;
            crate::ingest_evm::ingest(
                store,
                &client,
                &EvmIngestOptions {
                    from: None,
                    to: None,
                    batch_blocks: 1000,
                    batch_txs: 20_000,
                    opening_balances: true,
                    show: false,
                },
            )?;
        }
        Ok(())
    }

    /// A fresh data dir at `live_dir` holding both chains up to the drain, the labels, and the
    /// incident saved and traced (haircut). Returns its trace rules.
    pub(crate) fn prepare(
        &self,
        global: &Global,
        cross_dir: &Path,
        live_dir: &Path,
    ) -> anyhow::Result<Rules> {
        let links = crate::links::load(Some(&cross_dir.join("links.toml")))?;
        let data = tracehound_app::DataDir::new(live_dir, global.store_options());
        let store = data.open_store()?;
        self.ingest(&store, LTC, &links)?;
        self.ingest(&store, self.evm, &links)?;
        crate::demo_cross::import_labels(&data, &cross_dir.join("labels.csv"))?;
        data.save_incident(&self.incident, None, true)?;
        let mut rules = Rules::new(tracehound_trace::Policy::Haircut);
        rules.labels = data.trace_labels()?;
        rules.links.config = links;
        let settings = tracehound_app::TraceSettings::of(&rules);
        let result = data.trace(&store, &self.incident, rules.clone())?;
        data.save_result(INCIDENT, &result, &settings)?;
        Ok(rules)
    }
}

/// Serves the heist live from `cross_dir` (written by [`crate::demo_cross::run`], whose
/// `store/` holds the whole of both chains: only their block times are read from it).
pub(crate) fn serve(
    global: &Global,
    cross_dir: &Path,
    bind: std::net::SocketAddr,
    tick: Duration,
    say: &dyn Fn(String),
) -> anyhow::Result<()> {
    let nodes = Arc::new(LiveNodes::start(global, cross_dir)?);
    let (evm, start) = (nodes.evm, nodes.start);
    // A fresh data dir up to the drain, with the labels, the incident and its first trace.
    let live_dir = cross_dir.join("live");
    let links_path = cross_dir.join("links.toml");
    nodes.prepare(global, cross_dir, &live_dir)?;
    let (ltc_url, evm_url) = (
        nodes.ltc_node.url().to_string(),
        nodes.evm_node.url().to_string(),
    );
    let config = live_dir.join("watch.toml");
    std::fs::write(
        &config,
        format!(
            "# What `tracehound demo --serve --live` watches: the recorded nodes, replayed live.\n\
             [[chain]]\nchain = \"{LTC}\"\nrpc = \"{}\"\nrpc_user = \"demo\"\nrpc_password = \"demo\"\n\
             links = {:?}\npoll_ms = 100\n\n\
             [[chain]]\nchain = \"{evm}\"\nrpc = \"{}\"\nlinks = {:?}\npoll_ms = 100\n",
            ltc_url,
            links_path.display().to_string(),
            evm_url,
            links_path.display().to_string(),
        ),
    )?;
    say(format!(
        "7. live: the nodes stand at the drain (evm block {}, litecoin block {}); {} more blocks \
         follow, one every {} ms, while the server watches them: open the alerts page",
        start[0].1,
        start[1].1,
        nodes.schedule.len(),
        tick.as_millis()
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let clock = {
        let (stop, nodes) = (Arc::clone(&stop), Arc::clone(&nodes));
        std::thread::spawn(move || {
            for &(chain, height) in &nodes.schedule {
                std::thread::sleep(tick);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                nodes.show(chain, height);
            }
            eprintln!("   the recorded laundering is over: both nodes stand at their last block");
        })
    };
    let mut served = global.clone();
    served.data_dir = Some(live_dir);
    let mut args = crate::args::ServeArgs::local(bind, Some(links_path));
    args.watch = Some(config);
    let result = crate::serve::run(&served, &args);
    stop.store(true, Ordering::Relaxed);
    let _ = clock.join();
    drop(nodes);
    result
}
