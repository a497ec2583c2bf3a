//! `tracehound sim`: play a heist scenario with known ground truth (crate `tracehound-sim`).

use anyhow::Context;
use serde::Serialize;
use tracehound_sim::{Config, Scenario, run_on_anvil};

use crate::args::{Global, SimRunArgs};
use crate::output;

#[derive(Serialize)]
struct SimReport {
    seed: u64,
    txs: usize,
    blocks: usize,
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
    let plan = Scenario::plan(&config)?;
    let truth = run_on_anvil(&args.rpc, &plan)
        .with_context(|| format!("playing the scenario on {}", args.rpc))?;
    truth
        .write(&args.out)
        .with_context(|| format!("writing the ground truth to {}", args.out.display()))?;
    let report = SimReport {
        seed: config.seed,
        txs: plan.steps().count(),
        blocks: plan.blocks.len(),
        truth: args.out.join("truth.json").display().to_string(),
        labels: args.out.join("labels.csv").display().to_string(),
    };
    if global.json {
        return output::json(&report);
    }
    println!(
        "played {} txs in {} blocks (seed {}) on {}; ground truth in {}, labels in {}",
        report.txs, report.blocks, report.seed, args.rpc, report.truth, report.labels
    );
    Ok(())
}
