//! `tracehound demo --serve --live`: the recorded heist replayed block by block while the
//! server watches it. The alerts in force at the end are exactly those one trace of the whole
//! chain raises for the blocks after the drain (what changed on the way was retracted), the
//! kept result equals a fresh trace's, and the API served the watch's progress and a stream.
//! `tracehound bench live`: the watch's live trace equals a full trace after every block of
//! the replay, under every policy.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The demo server, killed if the test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Value {
    ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .into_json()
        .unwrap()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The alerts of a data dir's outbox.
fn alerts(data_dir: &Path) -> Vec<Value> {
    let out = common::ok(common::tracehound(
        data_dir,
        &["--json", "alerts", "list", "--limit", "100000"],
    ));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter().map(|r| r["alert"].clone()).collect()
}

/// What identifies an alert's event, without its block's place in the watch.
fn event(a: &Value) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        a["kind"], a["chain"], a["height"], a["block_hash"], a["tx"], a["address"], a["amount"]
    ) + &a["rule"].to_string()
}

#[test]
fn live_alerts_in_force_equal_one_trace_of_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .args(["demo", "--out", out.to_str().unwrap(), "--serve", "--live"])
        // A block every 150 ms against the watch's 100 ms poll: most blocks get a cycle of
        // their own, so the trace is extended block by block (at 20 ms a cycle took several
        // blocks at once, and on a loaded machine the few cycles left were mostly the starts
        // and link rematches).
        .args(["--live-ms", "150", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
    }
    let mut server = Server(child);
    let seen = |needle: &str| lines.lock().unwrap().iter().any(|l| l.contains(needle));
    wait_for("the server", Duration::from_secs(300), || {
        seen(" on http://")
    });
    let url = {
        let lines = lines.lock().unwrap();
        let line = lines.iter().find(|l| l.contains(" on http://")).unwrap();
        let at = line.find("http://").unwrap();
        line[at..].split_whitespace().next().unwrap().to_string()
    };
    wait_for("the end of the recording", Duration::from_secs(300), || {
        seen("laundering is over")
    });
    // Caught up: both chains at their last block, and a cycle since without news.
    let mut last = 0;
    wait_for("the watch to catch up", Duration::from_secs(120), || {
        let status = get(&format!("{url}/api/v1/status"));
        let watching = status["watching"].as_array().cloned().unwrap_or_default();
        let tips: BTreeSet<(String, u64)> = watching
            .iter()
            .map(|w| {
                (
                    w["chain"].as_str().unwrap().to_string(),
                    w["tip"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let stored: BTreeSet<(String, u64)> = status["chains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["chain"].as_str().unwrap().to_string(),
                    c["tip"]["height"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let n = get(&format!("{url}/api/v1/alerts?limit=1000"))
            .as_array()
            .unwrap()
            .len();
        let settled = watching.len() == 2 && tips == stored && n == last && n > 0;
        last = n;
        settled
    });
    let status = get(&format!("{url}/api/v1/status"));
    for w in status["watching"].as_array().unwrap() {
        assert_eq!(w["node_reachable"], true, "{w}");
        assert!(w["blocks"].as_u64().unwrap() > 0, "{w}");
        assert_eq!(w["error"], Value::Null, "{w}");
        // Polled, not over a websocket: the field is absent.
        assert!(w.get("heads_subscribed").is_none(), "{w}");
    }
    // The incident's trace was extended block by block, and traced in full far less often
    // (at the start, and when a later block matched a mixer or bridge entry otherwise).
    let count = |field: &str| -> u64 {
        status["watching"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w[field].as_u64().unwrap())
            .sum()
    };
    assert!(
        count("traces_extended") > count("traces_started"),
        "{status}"
    );
    // The stream gives what the list gives.
    let stream = ureq::get(&format!("{url}/api/v1/alerts/stream?after=0&seconds=1"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(
        stream.matches("event: alert").count(),
        last,
        "{stream:.300}"
    );
    let sent = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    wait_for("the server to stop", Duration::from_secs(30), || {
        server.0.try_wait().unwrap().is_some()
    });

    let cross = out.join("cross-chain");
    let live = alerts(&cross.join("live"));
    let retracted: BTreeSet<&str> = live
        .iter()
        .filter(|a| a["kind"] == "retraction")
        .map(|a| a["retracts"].as_str().unwrap())
        .collect();
    let in_force: BTreeSet<String> = live
        .iter()
        .filter(|a| a["kind"] != "retraction" && !retracted.contains(a["id"].as_str().unwrap()))
        .map(event)
        .collect();
    // One trace of the whole chain, as a watch from the first block would raise it (the demo's
    // other data dir), for the blocks after the watch began: the drain's block on the EVM side.
    let watch_state: Value = serde_json::from_slice(
        &std::fs::read(cross.join("live").join("watch-state.json")).unwrap(),
    )
    .unwrap();
    let start = |chain: &str| {
        watch_state["marks"][chain]["cross-chain-heist"]
            .as_u64()
            .unwrap()
    };
    let once: BTreeSet<String> = alerts(&cross.join("store"))
        .iter()
        .filter(|a| a["height"].as_u64().unwrap() > start(a["chain"].as_str().unwrap()))
        .map(event)
        .collect();
    assert!(once.len() > 100, "{}", once.len());
    let kinds: BTreeSet<String> = live.iter().map(|a| a["kind"].to_string()).collect();
    for k in ["reached_service", "taint_moved", "pattern"] {
        assert!(
            kinds.contains(&format!("\"{k}\"")),
            "no {k} alert: {kinds:?}"
        );
    }
    let missing: Vec<&String> = once.difference(&in_force).collect();
    let extra: Vec<&String> = in_force.difference(&once).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}"
    );

    // The kept result of the last cycle is a fresh trace of the whole chain.
    let kept = |d: &str| -> Value {
        serde_json::from_slice(
            &std::fs::read(
                cross
                    .join(d)
                    .join("incidents/cross-chain-heist.result.json"),
            )
            .unwrap(),
        )
        .unwrap()
    };
    let (live_result, fresh) = (kept("live"), kept("store"));
    // Paths are positions in each result's edges, which an extended trace lists in another
    // order: compared as the hops they name.
    let endpoints = |r: &Value| -> Vec<Value> {
        let edges = r["edges"].as_array().unwrap();
        r["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                let hops: Vec<Value> = e["path"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| edges[i.as_u64().unwrap() as usize].clone())
                    .collect();
                e["path"] = Value::Array(hops);
                e
            })
            .collect()
    };
    assert_eq!(endpoints(&live_result), endpoints(&fresh));
    assert_eq!(live_result["summary"], fresh["summary"]);
}

/// After each block of the replay the live trace, extended, equals a full trace of the store
/// under every policy, and so do the patterns on it, kept up to date block by block; most
/// blocks extend the trace, and each start-over names a link rematched.
#[test]
fn the_live_trace_equals_a_full_trace_after_every_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--json",
        "bench",
        "live",
        "--dir",
        dir.path().to_str().unwrap(),
    ];
    for p in ["poison", "haircut", "fifo", "lifo", "tiho"] {
        args.extend(["--policy", p]);
    }
    let out = common::ok(common::tracehound(&dir.path().join("unused"), &args));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = report["blocks"].as_u64().unwrap();
    assert!(blocks > 40, "{report}");
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 5);
    for p in policies {
        assert_eq!(p["compared"].as_u64(), Some(blocks), "{p}");
        assert_eq!(p["differences"].as_u64(), Some(0), "{p}");
        // The patterns kept up to date block by block were compared too, and there were some.
        assert!(p["detections"].as_u64().unwrap() >= 5, "{p}");
        let extended = p["extended"].as_u64().unwrap();
        let restarts: u64 = p["restarts"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(extended + restarts, blocks, "{p}");
        assert!(extended * 2 > blocks, "most blocks extend the trace: {p}");
        // The heist's mixer and bridge make the only start-overs: a later block matched an
        // entry already crossed otherwise.
        for reason in p["restarts"].as_object().unwrap().keys() {
            assert!(
                reason.contains("mixer entry") || reason.contains("bridge entry"),
                "{reason}"
            );
        }
    }
}

/// The same with the chains out of step (every EVM block first, then the UTXO chain's): the
/// live trace starts over where the order could matter and is equal after every block.
#[test]
fn the_live_trace_equals_a_full_trace_with_chains_out_of_step() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--json",
        "bench",
        "live",
        "--by-chain",
        "--dir",
        dir.path().to_str().unwrap(),
        "--policy",
        "haircut",
        "--policy",
        "poison",
    ];
    let out = common::ok(common::tracehound(&dir.path().join("unused"), &args));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = report["blocks"].as_u64().unwrap();
    for p in report["policies"].as_array().unwrap() {
        assert_eq!(p["compared"].as_u64(), Some(blocks), "{p}");
        assert_eq!(p["differences"].as_u64(), Some(0), "{p}");
        assert!(p["extended"].as_u64().unwrap() > 0, "{p}");
    }
}
