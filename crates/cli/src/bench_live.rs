//! `tracehound bench live`: the watch's live trace, extended block by block, against a full
//! trace of the same store after each block.
//!
//! The demo's recorded cross-chain heist (swaps, a mixer, a bridge, a chain swap, peel chains
//! on the UTXO side) is served as live nodes standing at the drain ([`LiveNodes`]); each later
//! block, in the order the two chains made them, is ingested into a fresh data dir, the
//! incident's [`LiveTrace`] is advanced, and a full trace is run. Any difference between the
//! two results (apart from the order of the trace graph's edges) is an error. The report says
//! how long each took and why the live trace started over when it did.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use tracehound_trace::{LiveTrace, Policy, TraceResult};

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
    let temp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let say = |s: String| {
        if !global.json {
            eprintln!("{s}");
        }
    };
    let cross = dir.join("cross");
    crate::demo_cross::run(global, &cross, Policy::Haircut, &|_| {})
        .context("ingesting the demo's recorded heist")?;
    let nodes = LiveNodes::start(global, &cross)?;
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
    let rules_of = |p: Policy| {
        let mut r = base.clone();
        r.policy = p;
        r
    };
    say(format!(
        "replaying {} blocks after the drain; live and full trace under {} after {}",
        nodes.schedule.len(),
        policies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        if args.every == 1 {
            "each block".to_string()
        } else {
            format!("every {} blocks", args.every)
        }
    ));
    let mut lives = Vec::new();
    for &p in &policies {
        lives.push(LiveTrace::start(&store, &incident, rules_of(p))?);
    }
    let mut stats: Vec<Stats> = policies.iter().map(|_| Stats::default()).collect();
    let steps = nodes.schedule.len();
    for (i, &(chain, height)) in nodes.schedule.iter().enumerate() {
        nodes.show(chain, height);
        nodes.ingest(&store, chain, &links)?;
        let compare = (i + 1) % args.every == 0 || i + 1 == steps;
        for ((live, &policy), st) in lives.iter_mut().zip(&policies).zip(&mut stats) {
            let t0 = Instant::now();
            let adv = live.advance(&store, &incident, rules_of(policy))?;
            let result = live.result();
            st.live_ms.push(ms(t0));
            match adv.restarted {
                Some(why) => *st.restarts.entry(reason_kind(&why)).or_default() += 1,
                None => st.extended += 1,
            }
            if !compare {
                continue;
            }
            let t0 = Instant::now();
            let full = tracehound_trace::trace(&store, &incident, rules_of(policy))?;
            st.full_ms.push(ms(t0));
            st.compared += 1;
            if let Some(diff) = difference(&result, &full) {
                st.differences += 1;
                if st.first_difference.is_none() {
                    st.first_difference = Some(format!("{chain} block {height}: {diff}"));
                }
            }
        }
    }
    let report: Vec<Value> = policies
        .iter()
        .zip(&stats)
        .map(|(p, st)| st.report(*p))
        .collect();
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"blocks": steps, "policies": report}))?
        );
    } else {
        for (p, st) in policies.iter().zip(&stats) {
            println!(
                "{p}: {} blocks, {} extended, restarts {:?}; live p50 {:.1} ms p99 {:.1} ms, \
                 full p50 {:.1} ms p99 {:.1} ms; {} compared, {} different",
                steps,
                st.extended,
                st.restarts,
                pct(&st.live_ms, 50),
                pct(&st.live_ms, 99),
                pct(&st.full_ms, 50),
                pct(&st.full_ms, 99),
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

/// One policy's figures.
#[derive(Default)]
struct Stats {
    live_ms: Vec<f64>,
    full_ms: Vec<f64>,
    extended: u64,
    restarts: BTreeMap<String, u64>,
    compared: u64,
    differences: u64,
    first_difference: Option<String>,
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
            "live_ms": times(&self.live_ms),
            "full_ms": times(&self.full_ms),
            "compared": self.compared,
            "differences": self.differences,
            "first_difference": self.first_difference,
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

/// A restart's reason without its particulars (block heights, counts), to count them by kind.
fn reason_kind(why: &str) -> String {
    why.split(|c: char| c.is_ascii_digit())
        .next()
        .unwrap_or(why)
        .trim()
        .to_string()
}

/// Where `live` differs from `full`, if it does: every field compared as JSON, the trace
/// graph's edges and the notes as multisets (their order follows the order the chains were
/// walked in, which an extended trace takes differently).
fn difference(live: &TraceResult, full: &TraceResult) -> Option<String> {
    let canon = |r: &TraceResult| -> Value {
        let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
        for key in ["edges", "notes"] {
            if let Some(Value::Array(a)) = v.get_mut(key) {
                a.sort_by_cached_key(Value::to_string);
            }
        }
        v
    };
    let (a, b) = (canon(live), canon(full));
    if a == b {
        return None;
    }
    let fields = [
        "endpoints",
        "summary",
        "edges",
        "notes",
        "policy",
        "incident",
    ];
    let differ: Vec<&str> = fields.into_iter().filter(|f| a[f] != b[f]).collect();
    let endpoints = |v: &Value| v["endpoints"].as_array().map_or(0, Vec::len);
    Some(format!(
        "{} differ (endpoints: live {}, full {})",
        differ.join(", "),
        endpoints(&a),
        endpoints(&b)
    ))
}
