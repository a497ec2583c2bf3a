//! Throughput of each job on the largest simulator data that builds in a minute or two:
//! `cargo test -p tracehound-jobs --release --test it -- --ignored --nocapture bench`.
//! Prints rows read per second (the tables a job scans) for each job.

use std::time::Instant;

use tracehound_core::Chain;
use tracehound_jobs::trace::{Policy, StolenOutput, TraceRequest};
use tracehound_sim::FilesConfig;

use crate::fixture::{child, session, sim_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run it with --ignored --nocapture"]
async fn bench_jobs_on_a_large_simulation() {
    let blocks: u32 = std::env::var("BENCH_BLOCKS")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(1_000);
    let started = Instant::now();
    let (stored, truth) = sim_store(&FilesConfig {
        seed: 11,
        blocks,
        txs_per_block: 200,
        users: 5_000,
        ..FilesConfig::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, dataset) = session(&stored.store, &child(&tmp, "dataset")).await;
    let rows = |t: &[&str]| t.iter().filter_map(|t| dataset.rows(t)).sum::<u64>();
    println!(
        "dataset: {} blocks, {} txs, {} inputs, {} outputs (built and exported in {:.1} s)",
        rows(&["blocks"]),
        rows(&["txs"]),
        rows(&["inputs"]),
        rows(&["outputs"]),
        started.elapsed().as_secs_f64()
    );
    let out = child(&tmp, "out");
    let report = |job: &str, read: u64, seconds: f64, iterations: u32, result: usize| {
        println!(
            "{job}: {read} rows read in {seconds:.2} s = {:.0} rows/s ({iterations} iterations, {result} result rows)",
            read as f64 / seconds
        );
    };
    let o = tracehound_jobs::balances::run(&ctx, &dataset, &out)
        .await
        .unwrap();
    report(
        "balances",
        rows(&["inputs", "outputs"]),
        o.seconds,
        o.iterations,
        o.result.len(),
    );
    let o = tracehound_jobs::cluster::run(&ctx, &dataset, &out)
        .await
        .unwrap();
    let members = o.result.chains.iter().map(|(_, m)| m.len()).sum();
    report(
        "cluster",
        rows(&["inputs", "outputs"]),
        o.seconds,
        o.iterations,
        members,
    );
    for policy in [Policy::Haircut, Policy::Poison] {
        let request = TraceRequest {
            stolen: truth
                .incident
                .txs
                .iter()
                .map(|t| StolenOutput {
                    chain: Chain::LitecoinRegtest.name(),
                    txid: t.clone(),
                    vout: None,
                    sub_index: None,
                    amount: None,
                })
                .collect(),
            sources: Vec::new(),
            policy,
            max_hops: 64,
            dust: Default::default(),
            assets: Vec::new(),
        };
        let o = tracehound_jobs::trace::run(&ctx, &dataset, &out, &request)
            .await
            .unwrap();
        report(
            &format!("trace ({policy:?})"),
            rows(&["inputs", "outputs", "txs"]),
            o.seconds,
            o.iterations,
            o.result.hops.len(),
        );
    }
}
