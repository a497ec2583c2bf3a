//! `tracehound sim`: play a heist scenario with known ground truth (crate `tracehound-sim`).

use anyhow::Context;
use serde::Serialize;
use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
use tracehound_sim::{Config, Scenario, run_on_nodes};

use crate::args::{Global, SimRunArgs};
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
}

pub(crate) fn run(global: &Global, args: &SimRunArgs) -> anyhow::Result<()> {
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
        Some(url) => format!("{} and {url}", args.rpc),
        None => args.rpc.clone(),
    };
    let truth = run_on_nodes(&args.rpc, &ltc, &plan)
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
    };
    if global.json {
        return output::json(&report);
    }
    println!(
        "played {} EVM txs in {} blocks and {} UTXO txs in {} blocks (seed {}) on {nodes}; ground truth in {}, labels in {}",
        report.txs,
        report.blocks,
        report.utxo_txs,
        report.utxo_blocks,
        report.seed,
        report.truth,
        report.labels
    );
    Ok(())
}
