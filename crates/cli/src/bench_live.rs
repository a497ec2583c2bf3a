//! `tracehound bench live`: the watch's live trace, extended block by block, against a full
//! trace of the same store after each block.
//!
//! The demo's recorded cross-chain heist (swaps, a mixer, a bridge, a chain swap, peel chains
//! on the UTXO side) is served as live nodes standing at the drain ([`LiveNodes`]); each later
//! block, in the order the two chains made them, is ingested into a fresh data dir, the
//! incident's [`LiveTrace`] is advanced, and a full trace is run. Any difference between the
//! two results (apart from the order of the trace graph's edges) is an error, as is any
//! difference between the patterns kept up to date block by block ([`LivePatterns`]) and those
//! found on the full trace from scratch. The report says how long each took and why the live
//! trace started over when it did.
//!
//! [`LivePatterns`]: tracehound_app::LivePatterns

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use tracehound_trace::{LiveTrace, Policy, Rules, TraceResult};

use crate::args::{BenchLiveArgs, Global};
use crate::demo_live::LiveNodes;

pub(crate) fn run(global: &Global, args: &BenchLiveArgs) -> anyhow::Result<()> {
    ensure!(args.every > 0, "--every must be at least 1");
    let policies: Vec<Policy> = if args.policy.is_empty() {
        vec![Policy::Haircut]
    } else {
        args.policy
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|e: String| anyhow::anyhow!("--policy: {e}"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let say = |s: String| {
        if !global.json {
            eprintln!("{s}");
        }
    };
    let (blocks, stats) = match &args.blocks_dir {
        Some(dir) => blk_replay(global, args, dir, &policies, &say)?,
        None => demo_replay(global, args, &policies, &say)?,
    };
    let report: Vec<Value> = policies
        .iter()
        .zip(&stats)
        .map(|(p, st)| st.report(*p))
        .collect();
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"blocks": blocks, "policies": report}))?
        );
    } else {
        for (p, st) in policies.iter().zip(&stats) {
            println!(
                "{p}: {blocks} blocks, {} extended, restarts {:?}; extend p50 {:.1} ms, live with \
                 result p50 {:.1} ms p99 {:.1} ms, full p50 {:.1} ms p99 {:.1} ms; patterns \
                 ({} detections) live p50 {:.1} ms p99 {:.1} ms, full p50 {:.1} ms p99 {:.1} ms; \
                 {} compared, {} different",
                st.extended,
                st.restarts,
                pct(&st.advance_ms, 50),
                pct(&st.live_ms, 50),
                pct(&st.live_ms, 99),
                pct(&st.full_ms, 50),
                pct(&st.full_ms, 99),
                st.detections,
                pct(&st.patterns_live_ms, 50),
                pct(&st.patterns_live_ms, 99),
                pct(&st.patterns_full_ms, 50),
                pct(&st.patterns_full_ms, 99),
                st.compared,
                st.differences
            );
        }
    }
    for (p, st) in policies.iter().zip(&stats) {
        if let Some(d) = &st.first_difference {
            anyhow::bail!(
                "{p}: the live trace differs from a full trace at {} of {} compared blocks; first at {d}",
                st.differences,
                st.compared
            );
        }
    }
    Ok(())
}

/// The demo's heist, from the drain on: returns the blocks replayed and each policy's figures.
fn demo_replay(
    global: &Global,
    args: &BenchLiveArgs,
    policies: &[Policy],
    say: &dyn Fn(String),
) -> anyhow::Result<(usize, Vec<Stats>)> {
    let temp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let cross = dir.join("cross");
    crate::demo_cross::run(global, &cross, Policy::Haircut, &|_| {})
        .context("ingesting the demo's recorded heist")?;
    let mut nodes = LiveNodes::start(global, &cross)?;
    if args.by_chain {
        let evm = nodes.evm;
        nodes.schedule.sort_by_key(|&(c, h)| (c != evm, h));
    }
    let live_dir = cross.join("live");
    if live_dir.exists() {
        std::fs::remove_dir_all(&live_dir)
            .with_context(|| format!("removing {}", live_dir.display()))?;
    }
    let base = nodes.prepare(global, &cross, &live_dir)?;
    let data = tracehound_app::DataDir::new(&live_dir, global.store_options());
    let store = data.open_store()?;
    let incident = data.read_incident(&data.saved_incident_path(crate::demo_cross::INCIDENT)?)?;
    let links = base.links.config.clone();
    say(format!(
        "replaying the demo's {} blocks after the drain",
        nodes.schedule.len()
    ));
    let stats = replay(
        &store,
        &incident,
        &base,
        policies,
        args.every,
        nodes.schedule.len(),
        |i| {
            let (chain, height) = nodes.schedule[i];
            nodes.show(chain, height);
            nodes.ingest(&store, chain, &links)?;
            Ok(format!("{chain} block {height}"))
        },
    )?;
    Ok((nodes.schedule.len(), stats))
}

/// A blk directory: ingested into the data dir up to `--from`, then block by block.
fn blk_replay(
    global: &Global,
    args: &BenchLiveArgs,
    dir: &std::path::Path,
    policies: &[Policy],
    say: &dyn Fn(String),
) -> anyhow::Result<(usize, Vec<Stats>)> {
    let (Some(network), Some(from)) = (args.network, args.from) else {
        anyhow::bail!("--blocks-dir needs --network, --tx and --from");
    };
    let chain = network.chain();
    let reader = tracehound_btc::blk::BlkReader::open(dir, chain)?;
    let data = global.data();
    let store = data.open_store()?;
    let links = tracehound_core::LinkConfig::default();
    let at = store.tip(chain)?.map(|t| t.height);
    ensure!(
        at.is_none_or(|h| h <= from),
        "the data dir's {chain} is at block {}, past --from {from}: give an empty --data-dir",
        at.unwrap_or_default()
    );
    let genesis: tracehound_core::Hash32 = chain
        .utxo_params()
        .map(|p| p.genesis)
        .context("--network is not a UTXO chain")?
        .parse()?;
    let best = reader.scan(|_| {})?.best_chain(genesis, None);
    let tip = best.start_height + best.blocks.len().saturating_sub(1) as u32;
    ensure!(
        from < tip,
        "--from {from}: the blk files' best chain ends at block {tip}"
    );
    let steps = args.blocks.map_or(tip - from, |n| n.min(tip - from)) as usize;
    say(format!("ingesting {chain} up to block {from}"));
    crate::ingest::ingest_blk(&store, &reader, Some(from), 250_000, false, &links)?;
    let incident = tracehound_trace::Incident {
        name: "bench-live".into(),
        stolen: args
            .tx
            .iter()
            .map(|tx| tracehound_trace::StolenItem {
                chain: chain.name(),
                tx: tx.clone(),
                vout: None,
                sub_index: None,
                amount: None,
            })
            .collect(),
        ..tracehound_trace::Incident::default()
    };
    let mut base = Rules::new(Policy::Haircut);
    base.max_hops = args.max_hops;
    base.labels = data.trace_labels()?;
    say(format!(
        "replaying {chain} blocks {}..={}",
        from + 1,
        from + steps as u32
    ));
    let stats = replay(&store, &incident, &base, policies, args.every, steps, |i| {
        let height = from + 1 + i as u32;
        crate::ingest::ingest_blk(&store, &reader, Some(height), 250_000, false, &links)?;
        Ok(format!("{chain} block {height}"))
    })?;
    Ok((steps, stats))
}

/// Steps `steps` times (`step(i)` grows the store and names what it added); after each, every
/// policy's live trace is advanced and, every `every` steps and at the last, compared with a
/// full trace.
fn replay(
    store: &tracehound_store::Store,
    incident: &tracehound_trace::Incident,
    base: &Rules,
    policies: &[Policy],
    every: usize,
    steps: usize,
    mut step: impl FnMut(usize) -> anyhow::Result<String>,
) -> anyhow::Result<Vec<Stats>> {
    let rules_of = |p: Policy| {
        let mut r = base.clone();
        r.policy = p;
        r
    };
    let mut lives = Vec::new();
    for &p in policies {
        let trace = LiveTrace::start(store, incident, rules_of(p))?;
        lives.push((trace, tracehound_app::LivePatterns::default()));
    }
    let pattern_config = tracehound_patterns::Config::default();
    let mut stats: Vec<Stats> = policies.iter().map(|_| Stats::default()).collect();
    for i in 0..steps {
        let what = step(i)?;
        let compare = (i + 1) % every == 0 || i + 1 == steps;
        for (((live, patterns), &policy), st) in lives.iter_mut().zip(policies).zip(&mut stats) {
            let t0 = Instant::now();
            let adv = live.advance(store, incident, rules_of(policy))?;
            st.advance_ms.push(ms(t0));
            let result = live.result()?;
            st.live_ms.push(ms(t0));
            match adv.restarted {
                Some(why) => {
                    *st.restarts.entry(reason_kind(&why)).or_default() += 1;
                    *patterns = tracehound_app::LivePatterns::default();
                }
                None => st.extended += 1,
            }
            let t0 = Instant::now();
            let found = patterns.update(store, &base.labels, &result)?;
            st.patterns_live_ms.push(ms(t0));
            if !compare {
                continue;
            }
            let t0 = Instant::now();
            let full = tracehound_trace::trace(store, incident, rules_of(policy))?;
            st.full_ms.push(ms(t0));
            let t0 = Instant::now();
            let graph = tracehound_app::trace_graph(store, &base.labels, &full)?;
            let full_found = tracehound_patterns::detect_all(&graph, &pattern_config);
            st.patterns_full_ms.push(ms(t0));
            st.compared += 1;
            st.endpoints = full.endpoints.len();
            st.hops = full.edges.len();
            st.detections = full_found.len();
            let diff = difference(&result, &full).or_else(|| {
                (!found.iter().map(|d| &**d).eq(&full_found)).then(|| {
                    format!(
                        "the live patterns ({} detections) differ from the full trace's ({}); \
                         first differing: {:?}",
                        found.len(),
                        full_found.len(),
                        found
                            .iter()
                            .zip(&full_found)
                            .find(|(a, b)| ***a != **b)
                            .map(|(a, b)| (a.explanation.clone(), b.explanation.clone()))
                    )
                })
            });
            if let Some(diff) = diff {
                st.differences += 1;
                if st.first_difference.is_none() {
                    st.first_difference = Some(format!("{what}: {diff}"));
                }
            }
        }
    }
    Ok(stats)
}

/// One policy's figures.
#[derive(Default)]
struct Stats {
    /// Extending (or starting over) alone, then with the result made.
    advance_ms: Vec<f64>,
    live_ms: Vec<f64>,
    full_ms: Vec<f64>,
    extended: u64,
    restarts: BTreeMap<String, u64>,
    compared: u64,
    differences: u64,
    first_difference: Option<String>,
    /// The last full trace's endpoints and hops.
    endpoints: usize,
    hops: usize,
    /// Patterns brought up to date with each block (incremental).
    patterns_live_ms: Vec<f64>,
    /// Patterns found on a full trace's result from scratch (its flow graph and detectors).
    patterns_full_ms: Vec<f64>,
    /// The last full trace's detections.
    detections: usize,
}

impl Stats {
    fn report(&self, policy: Policy) -> Value {
        let times = |v: &[f64]| {
            json!({
                "p50": pct(v, 50),
                "p99": pct(v, 99),
                "max": pct(v, 100),
                "total": v.iter().sum::<f64>(),
            })
        };
        json!({
            "policy": policy.to_string(),
            "extended": self.extended,
            "restarts": self.restarts,
            "advance_ms": times(&self.advance_ms),
            "live_ms": times(&self.live_ms),
            "full_ms": times(&self.full_ms),
            "compared": self.compared,
            "differences": self.differences,
            "first_difference": self.first_difference,
            "endpoints": self.endpoints,
            "hops": self.hops,
            "patterns_live_ms": times(&self.patterns_live_ms),
            "patterns_full_ms": times(&self.patterns_full_ms),
            "detections": self.detections,
        })
    }
}

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1000.0
}

/// The `p`th percentile (nearest rank) of `v`, 0 if empty.
fn pct(v: &[f64], p: usize) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = (p * s.len()).div_ceil(100).clamp(1, s.len());
    s[rank - 1]
}

/// A restart's reason without its particulars (every word with a digit in it: heights,
/// counts, chain ids, txids), to count them by kind.
fn reason_kind(why: &str) -> String {
    why.split(' ')
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                "…"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where `live` differs from `full`, if it does: endpoints (with their paths) and summary as
/// they are, the trace graph's edges and the notes as multisets (their order follows the
/// order the chains were walked in, which an extended trace takes differently).
fn difference(live: &TraceResult, full: &TraceResult) -> Option<String> {
    let mut differ = Vec::new();
    if live.incident != full.incident || live.policy != full.policy {
        differ.push("incident or policy");
    }
    if live.endpoints != full.endpoints {
        differ.push("endpoints");
    }
    if live.summary != full.summary {
        differ.push("summary");
    }
    if sorted_edges(live) != sorted_edges(full) {
        differ.push("edges");
    }
    let sorted_notes = |r: &TraceResult| {
        let mut n = r.notes.clone();
        n.sort();
        n
    };
    if sorted_notes(live) != sorted_notes(full) {
        differ.push("notes");
    }
    (!differ.is_empty()).then(|| {
        format!(
            "{} differ (endpoints: live {}, full {})",
            differ.join(", "),
            live.endpoints.len(),
            full.endpoints.len()
        )
    })
}

/// A result's edges in a fixed order.
fn sorted_edges(r: &TraceResult) -> Vec<&tracehound_trace::Hop> {
    let mut e: Vec<&tracehound_trace::Hop> = r.edges.iter().map(AsRef::as_ref).collect();
    e.sort_by(|a, b| {
        (
            &a.chain, &a.at, &a.tx, &a.from, &a.to, &a.asset, a.tainted, &a.rule,
        )
            .cmp(&(
                &b.chain, &b.at, &b.tx, &b.from, &b.to, &b.asset, b.tainted, &b.rule,
            ))
    });
    e
}
