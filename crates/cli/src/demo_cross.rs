//! `tracehound demo`, second part: the cross-chain heist, traced through its links.
//!
//! The simulator played its whole playbook on real nodes — an anvil (EVM, chain 31337) and a
//! `litecoind -regtest` — with seed 11: a DeFi service's hot wallet drained of ether and its
//! stablecoin, the loot fanned out, swapped on the DEX, part deposited into the mixer, part
//! bridged and chain-swapped to the UTXO chain and laundered there (peel chains, CoinJoin,
//! a privacy exit), part brought back, and cashed out at exchanges. `sim record` recorded what
//! `ingest evm` and `ingest btc` asked of those nodes; the recording ships inside the binary
//! (`demo/`). Here it is served on loopback ([`crate::replay`]) and the same `tracehound ingest`
//! commands read it with the simulator's `links.toml`, so the link facts come from the real
//! decoders over real node answers. Then the incident (the drain txs) is traced across both
//! chains, the laundering patterns on its flow are detected, and the result is scored against
//! the ground truth.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, ensure};
use serde::Serialize;
use serde_json::Value;
use tracehound_core::Amount;
use tracehound_sim::{Asset as SimAsset, GroundTruth, ResultFile, Score};
use tracehound_trace::{Incident, Labels, Policy, Rules, StolenItem, TraceResult};

use crate::args::Global;
use crate::replay::{Mode, Recording, RpcServer};

/// The recorded scenario, embedded.
const FILES: [(&str, &[u8]); 5] = [
    ("evm-rpc.json", include_bytes!("../demo/evm-rpc.json")),
    ("ltc-rpc.json", include_bytes!("../demo/ltc-rpc.json")),
    ("truth.json", include_bytes!("../demo/truth.json")),
    ("labels.csv", include_bytes!("../demo/labels.csv")),
    ("links.toml", include_bytes!("../demo/links.toml")),
];

/// What the second part found (`--json`).
#[derive(Serialize)]
pub(crate) struct CrossReport {
    /// `ingest --json` of each chain.
    ingested: BTreeMap<String, Value>,
    /// The trace, as `trace.json` holds it (the endpoints' paths are positions in its
    /// `edges`).
    trace: Value,
    /// Pattern kinds on the trace's flow, with how many of each.
    patterns: BTreeMap<String, usize>,
    /// Against the ground truth.
    score: Score,
    seconds: f64,
}

/// Runs the second part in `dir` (its own store under it).
pub(crate) fn run(
    global: &Global,
    dir: &Path,
    policy: Policy,
    say: &dyn Fn(String),
) -> anyhow::Result<CrossReport> {
    let start = Instant::now();
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in FILES {
        std::fs::write(dir.join(name), bytes)
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    let truth: GroundTruth = serde_json::from_slice(embedded("truth.json")?)?;
    let links_path = dir.join("links.toml");
    let links = crate::links::load(Some(&links_path))?;
    let eth_stolen = stolen_of(&truth, SimAsset::Eth);
    let susd_stolen = stolen_of(&truth, SimAsset::Susd);
    say(format!(
        "\n5. the cross-chain heist: the simulator played its playbook on real nodes (anvil, \
         chain 31337, and litecoind -regtest; seed {}): a hot wallet drained of {} ETH and {} \
         SUSD, then fan-out, DEX swaps, the mixer, a bridge and a memo-routed chain swap to \
         Litecoin and back, peel chains, a CoinJoin, exchange deposits. The nodes' answers were \
         recorded; they are replayed on loopback and read by `tracehound ingest`.",
        truth.seed,
        Amount::from_units(eth_stolen).to_decimal_string(18),
        Amount::from_units(susd_stolen).to_decimal_string(6),
    ));

    // Ingest both chains with the binary itself, as a user would.
    let read =
        |name: &str| -> anyhow::Result<Recording> { Ok(serde_json::from_slice(embedded(name)?)?) };
    let evm = RpcServer::start(Mode::Replay(read("evm-rpc.json")?))?;
    let ltc = RpcServer::start(Mode::Replay(read("ltc-rpc.json")?))?;
    let store_dir = dir.join("store");
    let exe = std::env::current_exe()?;
    let links_arg = links_path.display().to_string();
    let mut ingested = BTreeMap::new();
    for (chain, args) in [
        (
            "litecoin-regtest",
            vec![
                "ingest",
                "btc",
                "--network",
                "litecoin-regtest",
                "--rpc",
                ltc.url(),
                "--rpc-user",
                "demo",
                "--rpc-password",
                "demo",
                "--links",
                &links_arg,
            ],
        ),
        (
            "evm-31337",
            vec![
                "ingest",
                "evm",
                "--chain",
                "31337",
                "--rpc",
                evm.url(),
                "--links",
                &links_arg,
            ],
        ),
    ] {
        let out = std::process::Command::new(&exe)
            .arg("--data-dir")
            .arg(&store_dir)
            .arg("--json")
            .args(&args)
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        ensure!(
            out.status.success(),
            "tracehound {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("the ingest report of {chain}"))?;
        ingested.insert(chain.to_string(), report);
    }
    drop((evm, ltc));
    let store = tracehound_store::Store::open(&store_dir, &global.store_options())?;
    for s in store.status()? {
        let links = store.link_counts(s.chain)?;
        say(format!(
            "   {}: {} blocks, {} txs, {} addresses; link facts: {}",
            s.chain,
            s.tip.as_ref().map_or(0, |t| t.height + 1),
            s.txs,
            s.addresses,
            if links.is_empty() {
                "none".to_string()
            } else {
                links
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }

    // Trace the drain across both chains.
    let incident = incident_of(&truth, &format!("cross-chain heist (seed {})", truth.seed));
    let mut rules = Rules::new(policy);
    rules.labels = Labels::from_csv_file(&dir.join("labels.csv"))?;
    rules.links.config = links;
    let settings = tracehound_app::TraceSettings::of(&rules);
    let t = Instant::now();
    let result = tracehound_trace::trace(&store, &incident, rules)
        .with_context(|| format!("tracing {:?}", incident.name))?;
    let t_trace = t.elapsed().as_secs_f64();
    let flow = tracehound_patterns::FlowGraph::from_trace(&result);
    let detections =
        tracehound_patterns::detect_all(&flow, &tracehound_patterns::Config::default());
    let mut patterns: BTreeMap<String, usize> = BTreeMap::new();
    for d in &detections {
        *patterns.entry(d.kind.name().to_string()).or_default() += 1;
    }
    let trace_json = serde_json::to_string(&result)?;
    let score = tracehound_sim::score(
        &truth,
        &ResultFile::parse(&trace_json, Path::new("(the demo's cross-chain trace)"))?,
    );
    say(format!(
        "6. traced across both chains under {policy} in {t_trace:.2} s: {} endpoints, {} hops",
        result.endpoints.len(),
        result.edges.len()
    ));
    print_summary(&truth, &result, say);
    say(format!(
        "   laundering patterns on the trace's flow: {}",
        patterns
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    say(format!(
        "   against the ground truth (attributed by {}), per asset: share of the stolen value \
         found at its true resting places, and of what the trace places there that is right:",
        truth.policy.split(" (").next().unwrap_or("its policy")
    ));
    for a in &score.by_asset {
        let sym = asset_symbol(&truth, &a.chain, &a.asset).0;
        say(format!(
            "      {sym:<5} on {:<17} recall {:>7.2} %  precision {:>7.2} %  ({} of {} places exactly)",
            a.chain,
            a.figures.value_recall * 100.0,
            a.figures.value_precision * 100.0,
            a.figures.exact,
            a.figures.places
        ));
    }
    let trace = serde_json::to_value(&result)?;
    std::fs::write(dir.join("trace.json"), &trace_json)?;
    keep_for_serving(
        &store,
        &store_dir,
        &dir.join("labels.csv"),
        &incident,
        result,
        &settings,
    )?;
    Ok(CrossReport {
        ingested,
        trace,
        patterns,
        score,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// An embedded file of the recorded scenario.
pub(crate) fn embedded(name: &str) -> anyhow::Result<&'static [u8]> {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
        .with_context(|| format!("the recorded scenario has no {name}"))
}

/// The truth's stolen amount of `asset`.
fn stolen_of(truth: &GroundTruth, asset: SimAsset) -> u128 {
    truth
        .incident
        .stolen
        .iter()
        .filter(|s| s.asset == asset)
        .map(|s| s.amount)
        .sum()
}

/// The ticker and decimals of `asset` on `chain` in the simulator's world.
fn asset_symbol(truth: &GroundTruth, chain: &str, asset: &str) -> (String, u8) {
    if chain.starts_with("litecoin") {
        return ("LTC".into(), 8);
    }
    truth
        .assets
        .iter()
        .find(|a| match &a.contract {
            Some(c) => c.eq_ignore_ascii_case(asset),
            None => asset == "native",
        })
        .map_or((asset.to_string(), 0), |a| (a.symbol.clone(), a.decimals))
}

/// Per (chain, asset): where the value is, in the asset's own units, and the links crossed.
fn print_summary(truth: &GroundTruth, r: &TraceResult, say: &dyn Fn(String)) {
    let symbol = |chain: &str, asset: &str| asset_symbol(truth, chain, asset);
    for s in &r.summary.assets {
        let (sym, dec) = symbol(&s.chain, &s.asset);
        let v = |x: u128| format!("{} {sym}", Amount::from_units(x).to_decimal_string(dec));
        let mut parts = vec![
            format!("at points of intervention {}", v(s.intervention)),
            format!("still moving / held {}", v(s.still_moving)),
            format!("dark {}", v(s.dark)),
        ];
        if s.unresolved > 0 {
            parts.push(format!("unresolved {}", v(s.unresolved)));
        }
        if s.fees > 0 {
            parts.push(format!("fees {}", v(s.fees)));
        }
        if s.dust > 0 {
            parts.push(format!("dust {}", v(s.dust)));
        }
        if s.linked_out > 0 {
            parts.push(format!("left through links {}", v(s.linked_out)));
        }
        let head = match (s.stolen, s.linked_in) {
            (st, 0) => format!("stolen {}", v(st)),
            (0, li) => format!("arrived through links {}", v(li)),
            (st, li) => format!("stolen {}, arrived through links {}", v(st), v(li)),
        };
        say(format!("   {} {sym}: {head}", s.chain));
        say(format!("      {}", parts.join("; ")));
        for p in s.intervention_points.iter().take(3) {
            say(format!(
                "        {} at {} ({}), freezable by {}",
                v(p.amount),
                p.address,
                p.label.as_deref().unwrap_or("unlabeled"),
                p.freezable_by
            ));
        }
    }
    if !r.summary.links.is_empty() {
        say("   links crossed:".into());
        for l in &r.summary.links {
            let (si, di) = symbol(&l.chain_in, &l.asset_in);
            let (so, d_o) = symbol(&l.chain_out, &l.asset_out);
            say(format!(
                "      {} {} {si} on {} → {} {so} on {} via {} ({}×, confidence ≥ {}; first tx {} → {})",
                l.kind,
                Amount::from_units(l.taint_in).to_decimal_string(di),
                l.chain_in,
                Amount::from_units(l.taint_out).to_decimal_string(d_o),
                l.chain_out,
                l.service,
                l.count,
                l.min_confidence,
                short(&l.first_tx_in),
                short(&l.first_tx_out)
            ));
        }
    }
}

fn short(tx: &str) -> String {
    if tx.len() > 14 {
        format!("{}…", &tx[..14])
    } else {
        tx.to_string()
    }
}

/// The saved incident's name in the demo's data dir (what `demo --serve` shows).
pub(crate) const INCIDENT: &str = "cross-chain-heist";

/// The heist as an incident named `name`: every transfer of the drain txs is stolen.
pub(crate) fn incident_of(truth: &GroundTruth, name: &str) -> Incident {
    Incident {
        name: name.into(),
        notes: Some(format!("drained from {}", truth.incident.victim)),
        assets: Vec::new(),
        stolen: truth
            .incident
            .txs
            .iter()
            .map(|tx| StolenItem {
                chain: format!("evm-{}", truth.chain_id),
                tx: tx.clone(),
                vout: None,
                sub_index: None,
                amount: None,
            })
            .collect(),
        sources: Vec::new(),
    }
}

/// Imports the simulator's labels into `data`'s label store (source `tracehound-sim`).
pub(crate) fn import_labels(
    data: &tracehound_app::DataDir,
    labels_csv: &Path,
) -> anyhow::Result<()> {
    let opts = tracehound_labels::ImportOptions {
        chain: None,
        skip_invalid: false,
        source: Some("tracehound-sim".into()),
        actors: None,
    };
    let parsed =
        tracehound_labels::import::read_file(labels_csv, tracehound_labels::Format::Csv, &opts)?;
    data.open_labels()?.import(
        &parsed,
        tracehound_labels::Format::Csv,
        &labels_csv.display().to_string(),
    )?;
    Ok(())
}

/// Leaves the demo's data dir as an investigator's would be after this trace: the labels in
/// its label store, the incident saved, its result (tagged with patterns) kept, so that
/// `tracehound serve` (and `demo --serve`) shows it.
fn keep_for_serving(
    store: &tracehound_store::Store,
    store_dir: &Path,
    labels_csv: &Path,
    incident: &Incident,
    mut result: tracehound_trace::TraceResult,
    settings: &tracehound_app::TraceSettings,
) -> anyhow::Result<()> {
    let data = tracehound_app::DataDir::new(store_dir, tracehound_store::StoreOptions::default());
    import_labels(&data, labels_csv)?;
    let labels = data.trace_labels()?;
    let graph = tracehound_app::trace_graph(store, &labels, &result)?;
    let found = tracehound_patterns::detect_all(&graph, &tracehound_patterns::Config::default());
    tracehound_app::tag_with_patterns(&mut result, &found);
    let saved = Incident {
        name: INCIDENT.into(),
        ..incident.clone()
    };
    data.save_incident(&saved, None, true)?;
    data.save_result(INCIDENT, &result, settings)?;
    // The alerts a watch of the heist from its first block would have raised (`tracehound
    // alerts list`, the UI's alerts page).
    let outbox = tracehound_monitor::Outbox::open(&crate::watch::outbox_path(store_dir))?;
    for chain in store.chains()? {
        let spec = crate::watch::ChainSpec::history(chain);
        let mut alerts =
            crate::watch::alerts_of(store, chain, INCIDENT, &result, 0, &spec, &|_| true)?;
        alerts.extend(crate::watch::pattern_alerts(
            store, chain, INCIDENT, &result, &found, 0, 1,
        )?);
        for alert in alerts {
            outbox.push(&alert)?;
        }
    }
    // Both chains clustered (co-spend; EVM deposit addresses from the exchange labels), so
    // addresses show their entities.
    let labels_store = data.open_labels()?;
    for chain in store.chains()? {
        let (clustering, _) = tracehound_cluster::cluster_chain(
            store,
            chain,
            tracehound_cluster::Options::default(),
            Some(&labels_store),
            &tracehound_cluster::deposit::DepositRules::default(),
        )?;
        clustering.save(&tracehound_cluster::Clustering::path_in(store_dir, chain))?;
    }
    // The exposure index, so that screening answers for the demo's addresses.
    let tags = labels_store.strongest_all()?;
    tracehound_screen::build(
        store,
        store_dir,
        &[saved],
        &tags,
        &tracehound_screen::BuildOptions::default(),
    )?;
    Ok(())
}
