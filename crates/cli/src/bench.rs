//! `tracehound bench`: the ingest hot path measured on generated Core-format blk files, with
//! the figures the README quotes (blocks/s, txs/s, inputs resolved/s, peak RSS).

use serde::Serialize;
use tracehound_btc::blk::BlkReader;
use tracehound_btc::synth::{self, SynthConfig};
use tracehound_store::Store;

use crate::args::{
    BenchGenArgs, BenchIngestArgs, BenchIngestEvmArgs, BenchParseArgs, BenchTraceArgs, Global,
};
use crate::{ingest, output};

#[derive(Serialize)]
struct IngestBench {
    tool: &'static str,
    blocks: u64,
    txs: u64,
    inputs: u64,
    outputs: u64,
    seconds: f64,
    blocks_per_s: f64,
    txs_per_s: f64,
    inputs_per_s: f64,
    peak_rss_bytes: u64,
    store_bytes: u64,
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub(crate) fn ingest(global: &Global, args: &BenchIngestArgs) -> anyhow::Result<()> {
    let dir = match &global.data_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let store = Store::open(dir.path(), &global.store_options())?;
    let reader = BlkReader::open(&args.blocks_dir, args.network.chain())?;
    let r = ingest::ingest_blk(
        &store,
        &reader,
        None,
        args.batch_txs,
        !global.json,
        &crate::links::load(None)?,
    )?;
    let secs = r.seconds.max(1e-9);
    let out = IngestBench {
        tool: concat!("tracehound ", env!("CARGO_PKG_VERSION")),
        blocks: r.blocks,
        txs: r.txs,
        inputs: r.inputs,
        outputs: r.outputs,
        seconds: r.seconds,
        blocks_per_s: r.blocks as f64 / secs,
        txs_per_s: r.txs as f64 / secs,
        inputs_per_s: r.inputs as f64 / secs,
        peak_rss_bytes: peak_rss(),
        store_bytes: dir_bytes(dir.path()),
    };
    if global.json {
        return output::json(&out);
    }
    println!(
        "{} blocks, {} txs, {} inputs in {:.1}s: {:.0} blocks/s, {:.0} txs/s, {:.0} inputs/s; peak RSS {} MiB; store {} MiB",
        out.blocks,
        out.txs,
        out.inputs,
        out.seconds,
        out.blocks_per_s,
        out.txs_per_s,
        out.inputs_per_s,
        out.peak_rss_bytes >> 20,
        out.store_bytes >> 20
    );
    Ok(())
}

pub(crate) fn parse(global: &Global, args: &BenchParseArgs) -> anyhow::Result<()> {
    let chain = args.network.chain();
    let started = std::time::Instant::now();
    let reader = BlkReader::open(&args.blocks_dir, chain)?;
    let genesis = chain
        .utxo_params()
        .map(|p| p.genesis)
        .unwrap_or_default()
        .parse()?;
    let best = reader.scan(|_| {})?.best_chain(genesis, None);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let (mut txs, mut inputs, mut outputs, mut in_value, mut out_value) =
        (0u64, 0u64, 0u64, 0u128, 0u128);
    let resolver = tracehound_btc::resolve::read_resolved(&reader, &best, threads, |b| {
        for tx in &b.txs {
            txs += 1;
            inputs += tx.inputs.len() as u64;
            outputs += tx.outputs.len() as u64;
            in_value += tx.input_value().map_or(0, |v| v.units());
            out_value += tx.output_value().units();
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let blocks = best.blocks.len() as u64;
    let secs = seconds.max(1e-9);
    let out = serde_json::json!({
        "tool": concat!("tracehound ", env!("CARGO_PKG_VERSION"), " parse+resolve"),
        "threads": threads,
        "blocks": blocks, "txs": txs, "inputs": inputs, "outputs": outputs, "seconds": seconds,
        "blocks_per_s": blocks as f64 / secs, "txs_per_s": txs as f64 / secs, "inputs_per_s": inputs as f64 / secs,
        "peak_rss_bytes": peak_rss(), "unspent": resolver.len(),
        "input_value": in_value.to_string(), "output_value": out_value.to_string(),
    });
    if global.json {
        return output::json(&out);
    }
    println!(
        "{blocks} blocks, {txs} txs, {inputs} inputs resolved in {seconds:.1}s on {threads} threads: {:.0} txs/s, {:.0} inputs/s; peak RSS {} MiB; {} unspent",
        txs as f64 / secs,
        inputs as f64 / secs,
        peak_rss() >> 20,
        resolver.len()
    );
    Ok(())
}

pub(crate) fn generate(global: &Global, args: &BenchGenArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let cfg = SynthConfig {
        chain: args.network.chain(),
        blocks: args.blocks,
        txs_per_block: args.txs_per_block,
        seed: args.seed,
        xor_key: args
            .xor
            .then_some([0x3a, 0x91, 0x0c, 0x5e, 0xd2, 0x47, 0x88, 0x1f]),
        ..SynthConfig::default()
    };
    let started = std::time::Instant::now();
    let bar = if global.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(u64::from(args.blocks))
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "generating [{elapsed_precise}] {wide_bar} {pos}/{len} blocks ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let s = synth::write_blk_dir_with_progress(&args.dir, &cfg, |_| bar.inc(1))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if global.json {
        return output::json(&serde_json::json!({
            "blocks": s.blocks, "txs": s.txs, "inputs": s.inputs, "outputs": s.outputs,
            "bytes": s.bytes, "files": s.files, "seconds": secs,
        }));
    }
    println!(
        "wrote {} blocks, {} txs ({} inputs, {} outputs), {} MiB in {} files to {} in {:.1}s ({:.0} txs/min)",
        s.blocks,
        s.txs,
        s.inputs,
        s.outputs,
        s.bytes >> 20,
        s.files,
        args.dir.display(),
        secs,
        s.txs as f64 / secs * 60.0
    );
    Ok(())
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}

#[derive(Serialize)]
struct IngestEvmBench {
    tool: &'static str,
    blocks: u64,
    txs: u64,
    transfers: u64,
    seconds: f64,
    blocks_per_s: f64,
    transfers_per_s: f64,
    peak_rss_bytes: u64,
    store_bytes: u64,
}

pub(crate) fn ingest_evm(global: &Global, args: &BenchIngestEvmArgs) -> anyhow::Result<()> {
    let dir = match &global.data_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let store = Store::open(dir.path(), &global.store_options())?;
    let client = crate::ingest_evm::connect(
        args.chain,
        &args.rpc,
        &[],
        args.rpc_concurrency,
        crate::links::load(None)?,
    )?;
    let r = crate::ingest_evm::ingest(
        &store,
        &client,
        &crate::ingest_evm::EvmIngestOptions {
            from: None,
            to: args.to,
            batch_blocks: args.batch_blocks,
            batch_txs: args.batch_txs,
            opening_balances: !args.no_opening_balances,
            show: !global.json,
        },
    )?;
    let secs = r.seconds.max(1e-9);
    let out = IngestEvmBench {
        tool: concat!("tracehound ", env!("CARGO_PKG_VERSION")),
        blocks: r.blocks,
        txs: r.txs,
        transfers: r.inputs,
        seconds: r.seconds,
        blocks_per_s: r.blocks as f64 / secs,
        transfers_per_s: r.inputs as f64 / secs,
        peak_rss_bytes: peak_rss(),
        store_bytes: dir_bytes(dir.path()),
    };
    if global.json {
        return output::json(&out);
    }
    println!(
        "{} blocks, {} txs, {} transfers in {:.1}s: {:.0} blocks/s, {:.0} transfers/s; peak RSS {} MiB; store {} MiB",
        out.blocks,
        out.txs,
        out.transfers,
        out.seconds,
        out.blocks_per_s,
        out.transfers_per_s,
        out.peak_rss_bytes >> 20,
        out.store_bytes >> 20
    );
    Ok(())
}

#[derive(Serialize)]
struct TraceBench {
    chain: String,
    store_txs: u64,
    store_inputs_outputs: u64,
    incident: String,
    incident_height: Option<u32>,
    sources: usize,
    max_hops: u32,
    runs: Vec<TracePolicyRun>,
}

#[derive(Serialize)]
struct TracePolicyRun {
    policy: String,
    seconds: f64,
    peak_rss_bytes: u64,
    endpoints: usize,
    hops: usize,
    stolen: String,
    /// With `--patterns`: the detectors on the trace's flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    patterns: Option<PatternsRun>,
}

#[derive(Serialize)]
struct PatternsRun {
    flows: usize,
    detections: usize,
    /// Building the flow graph from the trace and running every detector.
    seconds: f64,
    flows_per_second: f64,
}

/// Resets the peak-RSS counter (`VmHWM`) so each run reports its own peak; a no-op where the
/// kernel does not allow it.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `tracehound bench trace`: traces an incident of `--sources` addresses — the first distinct
/// payees, with spent outputs, of the block at `--height` — over the store, `--max-hops` hops,
/// under each policy, and reports time, peak RSS and endpoints.
pub(crate) fn trace(global: &Global, args: &BenchTraceArgs) -> anyhow::Result<()> {
    use tracehound_core::ChainFamily;
    use tracehound_trace::{Incident, SourceItem};

    let store = ingest::open_store(global)?;
    let mut labels = crate::labels::trace_labels(global)?;
    if let Some(path) = &args.labels {
        labels.merge(tracehound_trace::Labels::from_csv_file(path)?);
    }
    let dust = crate::trace::parse_dust(&args.dust)?;
    let chain = args.chain;
    if let Some(path) = &args.incident {
        let incident = tracehound_trace::Incident::from_file(path)?;
        let chain_name = incident
            .sources
            .first()
            .map(|s| s.chain.clone())
            .or_else(|| incident.stolen.first().map(|s| s.chain.clone()))
            .unwrap_or_default();
        let size = incident.sources.len() + incident.stolen.len();
        return run_trace_bench(
            global,
            &store,
            &incident,
            args,
            labels,
            dust,
            TraceBenchHead {
                chain: chain_name,
                incident_height: None,
                sources: size,
            },
        );
    }
    if chain.family() != ChainFamily::Utxo {
        anyhow::bail!("bench trace reads a UTXO chain; {chain} is an account chain");
    }
    let status = store
        .status()?
        .into_iter()
        .find(|s| s.chain == chain)
        .ok_or_else(|| anyhow::anyhow!("the store has no {chain} (ingest it first)"))?;
    let tip = status.tip.as_ref().map_or(0, |t| t.height);
    let height = args.height.unwrap_or(tip / 2);
    let block = store
        .block_at(chain, height)?
        .ok_or_else(|| anyhow::anyhow!("the store has no {chain} block at height {height}"))?;
    let mut sources: Vec<String> = Vec::new();
    'txs: for index in 0..block.tx_count {
        for o in store.tx_at(chain, height, index)?.outputs {
            if sources.len() >= args.sources {
                break 'txs;
            }
            if let (Some(a), Some(_)) = (o.address, o.spent_by)
                && !sources.contains(&a)
            {
                sources.push(a);
            }
        }
    }
    if sources.len() < args.sources {
        anyhow::bail!(
            "block {height} pays only {} distinct addresses with spent outputs; pick another --height",
            sources.len()
        );
    }
    let incident = Incident {
        name: format!("{} addresses paid in block {height}", sources.len()),
        sources: sources
            .iter()
            .map(|a| SourceItem {
                chain: chain.to_string(),
                address: a.clone(),
                since: Some(block.time),
            })
            .collect(),
        ..Incident::default()
    };
    run_trace_bench(
        global,
        &store,
        &incident,
        args,
        labels,
        dust,
        TraceBenchHead {
            chain: chain.to_string(),
            incident_height: Some(height),
            sources: sources.len(),
        },
    )
}

/// What the trace benchmark reports about its incident.
struct TraceBenchHead {
    chain: String,
    incident_height: Option<u32>,
    sources: usize,
}

fn run_trace_bench(
    global: &Global,
    store: &Store,
    incident: &tracehound_trace::Incident,
    args: &BenchTraceArgs,
    labels: tracehound_trace::Labels,
    dust: std::collections::HashMap<String, u128>,
    head: TraceBenchHead,
) -> anyhow::Result<()> {
    use tracehound_trace::{Policy, Rules};
    let policies: Vec<Policy> = if args.policy.is_empty() {
        Policy::ALL.to_vec()
    } else {
        args.policy
            .iter()
            .map(|p| p.parse().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?
    };
    let mut runs = Vec::new();
    for policy in policies {
        let mut rules = Rules::new(policy);
        rules.max_hops = args.max_hops;
        rules.labels = labels.clone();
        rules.dust = dust.clone();
        reset_peak_rss();
        let t0 = std::time::Instant::now();
        let r = tracehound_trace::trace(store, incident, rules)?;
        let seconds = t0.elapsed().as_secs_f64();
        let patterns = args.patterns.then(|| {
            let t = std::time::Instant::now();
            let g = tracehound_patterns::FlowGraph::from_trace(&r);
            let found =
                tracehound_patterns::detect_all(&g, &tracehound_patterns::Config::default());
            let seconds = t.elapsed().as_secs_f64();
            PatternsRun {
                flows: g.flows.len(),
                detections: found.len(),
                seconds,
                flows_per_second: g.flows.len() as f64 / seconds.max(1e-9),
            }
        });
        let run = TracePolicyRun {
            policy: policy.to_string(),
            seconds,
            peak_rss_bytes: peak_rss(),
            endpoints: r.endpoints.len(),
            hops: r.edges.len(),
            stolen: r
                .summary
                .assets
                .iter()
                .map(|a| a.stolen.to_string())
                .collect::<Vec<_>>()
                .join(","),
            patterns,
        };
        if !global.json {
            println!(
                "{:<8} {:>8.3}s  peak RSS {:>5} MiB  {:>7} endpoints  {:>8} hops  stolen {}",
                run.policy,
                run.seconds,
                run.peak_rss_bytes >> 20,
                run.endpoints,
                run.hops,
                run.stolen
            );
            if let Some(p) = &run.patterns {
                println!(
                    "         patterns: {} flows, {} detections in {:.3}s ({:.0} flows/s)",
                    p.flows, p.detections, p.seconds, p.flows_per_second
                );
            }
        }
        runs.push(run);
    }
    let status = store
        .status()?
        .into_iter()
        .find(|s| s.chain.to_string() == head.chain);
    let out = TraceBench {
        chain: head.chain,
        store_txs: status.as_ref().map_or(0, |s| s.txs),
        store_inputs_outputs: status.as_ref().map_or(0, |s| s.inputs + s.outputs),
        incident: incident.name.clone(),
        incident_height: head.incident_height,
        sources: head.sources,
        max_hops: args.max_hops,
        runs,
    };
    if global.json {
        return output::json(&out);
    }
    println!(
        "{}: {} txs, {} inputs+outputs in the store; incident: {} ({} items), {} hops",
        out.chain, out.store_txs, out.store_inputs_outputs, out.incident, out.sources, out.max_hops
    );
    Ok(())
}
