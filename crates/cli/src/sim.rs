//! `tracehound sim`: play a heist scenario with known ground truth (crate `tracehound-sim`),
//! and score a result against it.

use anyhow::Context;
use serde::Serialize;
use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
use tracehound_sim::{
    Config, EvmFilesConfig, FilesConfig, ResultFile, Scenario, Score, read_truth, run_on_nodes,
    write_evm_to_files, write_to_files,
};

use crate::args::{Global, SimRunArgs, SimScoreArgs};
use crate::output;

#[derive(Serialize)]
struct SimReport {
    seed: u64,
    txs: usize,
    blocks: usize,
    utxo_txs: usize,
    utxo_blocks: usize,
    truth: String,
    labels: String,
    /// The services' link config, for `ingest evm|btc --links`.
    links: String,
}

#[derive(Serialize)]
struct EvmFilesReport {
    #[serde(flatten)]
    summary: tracehound_sim::EvmFilesSummary,
    transfers_per_minute: f64,
    transfers_csv: String,
    truth: String,
    labels: String,
}

pub(crate) fn run(global: &Global, args: &SimRunArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.to_files {
        return to_files(global, args, dir);
    }
    let rpc = args.rpc.clone().unwrap_or_default();
    let mut config = match &args.config {
        Some(path) => Config::from_json_file(path)?,
        None => Config::default(),
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    // Without a UTXO node the scenario is the EVM half alone.
    config.utxo &= args.ltc_rpc.is_some();
    let plan = Scenario::plan(&config)?;
    let auth = match (
        &args.ltc_rpc_cookie,
        &args.ltc_rpc_user,
        &args.ltc_rpc_password,
    ) {
        (Some(cookie), _, _) => RpcAuth::CookieFile(cookie.clone()),
        (None, Some(user), Some(password)) => RpcAuth::UserPass {
            user: user.clone(),
            password: password.clone(),
        },
        _ => RpcAuth::None,
    };
    let ltc = RpcClient::new(
        args.ltc_rpc.clone().unwrap_or_default(),
        auth,
        RpcOptions::default(),
    );
    let nodes = match &args.ltc_rpc {
        Some(url) => format!("{rpc} and {url}"),
        None => rpc.clone(),
    };
    let truth = run_on_nodes(&rpc, &ltc, &plan)
        .with_context(|| format!("playing the scenario on {nodes}"))?;
    truth
        .write(&args.out)
        .with_context(|| format!("writing the ground truth to {}", args.out.display()))?;
    let report = SimReport {
        seed: config.seed,
        txs: plan.steps().count(),
        blocks: plan.blocks.len(),
        utxo_txs: plan.utxo.as_ref().map_or(0, |u| u.steps().count()),
        utxo_blocks: plan.utxo.as_ref().map_or(0, |u| u.blocks.len()),
        truth: args.out.join("truth.json").display().to_string(),
        labels: args.out.join("labels.csv").display().to_string(),
        links: args.out.join("links.toml").display().to_string(),
    };
    if global.json {
        return output::json(&report);
    }
    println!(
        "played {} EVM txs in {} blocks and {} UTXO txs in {} blocks (seed {}) on {nodes}; ground truth in {}, labels in {}, link config in {}",
        report.txs,
        report.blocks,
        report.utxo_txs,
        report.utxo_blocks,
        report.seed,
        report.truth,
        report.labels,
        report.links
    );
    Ok(())
}

#[derive(Serialize)]
struct FilesReport {
    seed: u64,
    #[serde(flatten)]
    summary: tracehound_sim::FilesSummary,
    transfers_per_minute: f64,
    blocks_dir: String,
    truth: String,
    labels: String,
    /// The EVM side, when written.
    evm: Option<EvmFilesReport>,
}

/// `--to-files`: the benchmark-scale UTXO heist as blk files.
fn to_files(global: &Global, args: &SimRunArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    if args.config.is_some() {
        anyhow::bail!(
            "--config describes a scenario on nodes; with --to-files give --seed, --blocks, --txs-per-block, --users"
        );
    }
    let defaults = FilesConfig::default();
    let config = FilesConfig {
        seed: args.seed.unwrap_or(defaults.seed),
        blocks: args.blocks.unwrap_or(defaults.blocks),
        txs_per_block: args.txs_per_block.unwrap_or(defaults.txs_per_block),
        users: args.users.unwrap_or(defaults.users),
        ..defaults
    };
    let (summary, truth) = write_to_files(dir, &config)
        .with_context(|| format!("writing the scenario's blocks to {}", dir.display()))?;
    truth
        .write(&args.out)
        .with_context(|| format!("writing the ground truth to {}", args.out.display()))?;
    let transfers = (summary.inputs + summary.outputs) as f64;
    let evm_defaults = EvmFilesConfig::default();
    let evm_blocks = args.evm_blocks.unwrap_or(evm_defaults.blocks);
    let evm = if evm_blocks == 0 {
        None
    } else {
        let config = EvmFilesConfig {
            seed: config.seed,
            blocks: evm_blocks,
            txs_per_block: args.evm_txs_per_block.unwrap_or(evm_defaults.txs_per_block),
            users: args.users.unwrap_or(evm_defaults.users),
            swap_percent: args.evm_swap_percent.unwrap_or(evm_defaults.swap_percent),
            ..evm_defaults
        };
        let evm_dir = dir.join("evm");
        let (summary, truth) = write_evm_to_files(&evm_dir, &config)
            .with_context(|| format!("writing the scenario's EVM side to {}", evm_dir.display()))?;
        let out = args.out.join("evm");
        truth
            .write(&out)
            .with_context(|| format!("writing the EVM ground truth to {}", out.display()))?;
        Some(EvmFilesReport {
            transfers_per_minute: summary.transfers as f64 / summary.seconds.max(1e-9) * 60.0,
            summary,
            transfers_csv: evm_dir.join("transfers.csv").display().to_string(),
            truth: out.join("truth.json").display().to_string(),
            labels: out.join("labels.csv").display().to_string(),
        })
    };
    let report = FilesReport {
        seed: config.seed,
        transfers_per_minute: transfers / summary.seconds.max(1e-9) * 60.0,
        summary,
        blocks_dir: dir.join("blocks").display().to_string(),
        truth: args.out.join("truth.json").display().to_string(),
        labels: args.out.join("labels.csv").display().to_string(),
        evm,
    };
    if global.json {
        return output::json(&report);
    }
    println!(
        "wrote {} blocks, {} txs, {} inputs and {} outputs ({} bytes in {} files) to {} in {:.1} s ({:.0} transfers/min); ground truth in {}",
        report.summary.blocks,
        report.summary.txs,
        report.summary.inputs,
        report.summary.outputs,
        report.summary.bytes,
        report.summary.files,
        report.blocks_dir,
        report.summary.seconds,
        report.transfers_per_minute,
        report.truth
    );
    if let Some(evm) = &report.evm {
        println!(
            "wrote the EVM side: {} blocks, {} transfers ({} bytes) to {} in {:.1} s ({:.0} transfers/min); ground truth in {} (load it with: tracehound import transfers {})",
            evm.summary.blocks,
            evm.summary.transfers,
            evm.summary.bytes,
            evm.transfers_csv,
            evm.summary.seconds,
            evm.transfers_per_minute,
            evm.truth,
            evm.transfers_csv
        );
    }
    Ok(())
}

/// `sim score`: a result against the ground truth.
pub(crate) fn score(global: &Global, args: &SimScoreArgs) -> anyhow::Result<()> {
    let truth = read_truth(&args.truth)?;
    let result = ResultFile::read(&args.result)?;
    let score = tracehound_sim::score(&truth, &result);
    if global.json {
        return output::json(&score);
    }
    print!(
        "{}",
        score_table(&score, &args.result.display().to_string())
    );
    Ok(())
}

/// The score as a table: one row overall, one per resting-place kind.
pub(crate) fn score_table(score: &Score, result: &str) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} result {result} against the ground truth: {} resting places, {} result places",
        score.result_kind, score.overall.places, score.overall.found_places
    );
    let _ = writeln!(
        o,
        "{:<22} {:>6} {:>6} {:>7} {:>6}  {:>13} {:>16}  {:>13} {:>16}",
        "",
        "places",
        "exact",
        "partial",
        "missed",
        "recall(value)",
        "precision(value)",
        "recall(count)",
        "precision(count)"
    );
    let rows = std::iter::once(("overall".to_string(), &score.overall)).chain(
        score.by_kind.iter().map(|k| {
            let name = serde_json::to_value(k.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (name, &k.figures)
        }),
    );
    for (name, f) in rows {
        let _ = writeln!(
            o,
            "{name:<22} {:>6} {:>6} {:>7} {:>6}  {:>12.2}% {:>15.2}%  {:>12.2}% {:>15.2}%",
            f.places,
            f.exact,
            f.partial,
            f.missed,
            f.value_recall * 100.0,
            f.value_precision * 100.0,
            f.count_recall * 100.0,
            f.count_precision * 100.0
        );
    }
    let matched: u128 = score.overall.matched_value;
    let _ = writeln!(
        o,
        "value: {matched} of {} stolen base units found at the right places; the result puts {} there and elsewhere",
        score.overall.truth_value, score.overall.result_value
    );
    if !score.unmatched.is_empty() {
        let _ = writeln!(
            o,
            "{} result places the truth does not know, largest first:",
            score.unmatched.len()
        );
        for u in score.unmatched.iter().take(5) {
            let _ = writeln!(o, "  {} {} {} {}", u.chain, u.address, u.asset, u.amount);
        }
    }
    for n in &score.notes {
        let _ = writeln!(o, "note: {n}");
    }
    o
}

/// The files of a recorded scenario (see [`crate::replay`]).
pub(crate) const RECORDED: [&str; 5] = [
    "evm-rpc.json",
    "ltc-rpc.json",
    "truth.json",
    "labels.csv",
    "links.toml",
];

/// `sim record`: ingests both chains of a played scenario through recording proxies (the
/// `tracehound` binary itself, as a user would run it) and writes what the nodes answered.
pub(crate) fn record(args: &crate::args::SimRecordArgs) -> anyhow::Result<()> {
    use anyhow::{Context, ensure};

    use crate::replay::{Mode, Recording, RpcServer};
    let cookie = std::fs::read_to_string(&args.ltc_rpc_cookie)
        .with_context(|| format!("reading {}", args.ltc_rpc_cookie.display()))?;
    let evm = RpcServer::start(Mode::Record {
        upstream: args.rpc.clone(),
        auth: None,
        recording: Recording::new("anvil (chain 31337) after `sim run --on-nodes`"),
    })?;
    let ltc = RpcServer::start(Mode::Record {
        upstream: args.ltc_rpc.clone(),
        auth: Some(cookie.trim().to_string()),
        recording: Recording::new("litecoind -regtest after `sim run --on-nodes`"),
    })?;
    let work = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let links = args.truth.join("links.toml");
    let mut runs: Vec<Vec<String>> = vec![
        vec![
            "ingest".into(),
            "btc".into(),
            "--network".into(),
            "litecoin-regtest".into(),
            "--rpc".into(),
            ltc.url().into(),
            "--rpc-user".into(),
            "demo".into(),
            "--rpc-password".into(),
            "demo".into(),
        ],
        vec![
            "ingest".into(),
            "evm".into(),
            "--chain".into(),
            "31337".into(),
            "--rpc".into(),
            evm.url().into(),
        ],
    ];
    if links.exists() {
        for r in &mut runs {
            r.extend(["--links".into(), links.display().to_string()]);
        }
    }
    for r in &runs {
        let out = std::process::Command::new(&exe)
            .arg("--data-dir")
            .arg(work.path())
            .args(r)
            .output()?;
        ensure!(
            out.status.success(),
            "tracehound {}: {}",
            r.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::create_dir_all(&args.out)?;
    for (server, file) in [(evm, "evm-rpc.json"), (ltc, "ltc-rpc.json")] {
        let Mode::Record { recording, .. } = server.finish()? else {
            anyhow::bail!("a recording proxy came back in replay mode");
        };
        println!("{file}: {} calls", recording.len());
        std::fs::write(args.out.join(file), serde_json::to_vec(&recording)?)?;
    }
    for f in &RECORDED[2..] {
        let from = args.truth.join(f);
        if from.exists() {
            std::fs::copy(&from, args.out.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    Ok(())
}

/// `sim replay`: serves a recording until the process is killed.
pub(crate) fn replay(path: &std::path::Path) -> anyhow::Result<()> {
    use crate::replay::{Mode, RpcServer};
    let recording = serde_json::from_slice(&std::fs::read(path)?)?;
    let server = RpcServer::start(Mode::Replay(recording))?;
    println!("{}", server.url());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
