//! The whole heist traced across both chains through its links, on a real anvil and a real
//! `litecoind -regtest` started here: the simulator plays its playbook (drain, fan-out, DEX
//! swaps, mixer, bridge and chain-swap hops to the UTXO chain and back, peel chains,
//! CoinJoin, exchange deposits); both chains are ingested with the simulator's `links.toml`;
//! the incident is traced under LIFO (the truth's own rule) and haircut.
//!
//! Figures, printed and checked against the ground truth:
//! - share of stolen value located at the truth's resting places, per asset;
//! - link precision and recall per kind: the links the trace crossed (kind, tx in, tx out)
//!   against the truth's links that stolen value crossed;
//! - the per-asset summary adds up with the link flows, and names each link crossed.
#![cfg(all(feature = "test-litecoind", feature = "test-anvil"))]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tracehound_btc::testnode::Litecoind;
use tracehound_core::link::normal_ref;
use tracehound_evm::testnode::Anvil;

use crate::common::tracehound;

fn ok(out: std::process::Output) -> String {
    String::from_utf8(crate::common::ok(out).stdout).unwrap()
}

fn units(v: &Value) -> u128 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    }
}

/// Per asset: (stolen at truth places, of which located there by the trace).
fn located(truth: &Value, trace: &Value) -> BTreeMap<String, (u128, u128)> {
    let asset_of: BTreeMap<String, String> = truth["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let ours = match a["contract"].as_str() {
                Some(c) => c.to_ascii_lowercase(),
                None => "native".into(),
            };
            (a["id"].as_str().unwrap().to_string(), ours)
        })
        .collect();
    let mut found: BTreeMap<(String, String), u128> = BTreeMap::new();
    let mut fees: BTreeMap<String, u128> = BTreeMap::new();
    for e in trace["endpoints"].as_array().unwrap() {
        let amount = units(&e["amount"]);
        let asset = e["asset"].as_str().unwrap().to_ascii_lowercase();
        if e["stop"] == "fee" {
            *fees
                .entry(format!("{}/{asset}", e["chain"].as_str().unwrap()))
                .or_default() += amount;
        } else {
            *found
                .entry((e["address"].as_str().unwrap().to_ascii_lowercase(), asset))
                .or_default() += amount;
        }
    }
    let mut out: BTreeMap<String, (u128, u128)> = BTreeMap::new();
    for r in truth["resting"].as_array().unwrap() {
        let id = r["asset"].as_str().unwrap();
        let asset = asset_of[id].clone();
        let stolen = units(&r["stolen"]);
        let chain = if id == "ltc" {
            "litecoin-regtest"
        } else {
            "evm-31337"
        };
        let here = match r["address"].as_str() {
            None => fees.get(&format!("{chain}/{asset}")).copied().unwrap_or(0),
            Some(a) => found
                .get(&(a.to_ascii_lowercase(), asset.clone()))
                .copied()
                .unwrap_or(0),
        };
        let e = out.entry(id.to_string()).or_default();
        e.0 += stolen;
        e.1 += stolen.min(here);
    }
    out
}

/// (kind, tx in, tx out) of every link the trace crossed.
fn crossed(trace: &Value) -> BTreeSet<(String, String, String)> {
    trace["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["edge"]["kind"] == "link")
        .map(|h| {
            (
                h["edge"]["link"].as_str().unwrap().to_string(),
                normal_ref(h["edge"]["tx_in"].as_str().unwrap()),
                normal_ref(h["tx"].as_str().unwrap()),
            )
        })
        .collect()
}

#[test]
fn heist_traced_across_both_chains_through_swaps_bridges_and_mixer() {
    let anvil = Anvil::start().unwrap();
    let ltc = Litecoind::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let truth_dir = work.path().join("truth");
    let config = work.path().join("small.json");
    std::fs::write(
        &config,
        r#"{"users": 6, "background_blocks": 4, "fan_out": 12, "consolidators": 2,
            "hops": 2, "utxo_hops": 3, "coinjoin_peers": 3}"#,
    )
    .unwrap();
    let cookie = ltc.cookie_file();
    let data = work.path().join("store");
    ok(tracehound(
        &data,
        &[
            "sim",
            "run",
            "--on-nodes",
            "--rpc",
            anvil.url(),
            "--ltc-rpc",
            ltc.rpc_url(),
            "--ltc-rpc-cookie",
            cookie.to_str().unwrap(),
            "--out",
            truth_dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--seed",
            "11",
        ],
    ));
    let links = truth_dir.join("links.toml");
    assert!(
        links.exists(),
        "the simulator writes its services' links.toml"
    );
    let links = links.to_str().unwrap();
    let (user, password) = ltc.credentials();
    ok(tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "litecoin-regtest",
            "--rpc",
            ltc.rpc_url(),
            "--rpc-user",
            user,
            "--rpc-password",
            password,
            "--links",
            links,
        ],
    ));
    ok(tracehound(
        &data,
        &[
            "ingest",
            "evm",
            "--chain",
            "31337",
            "--rpc",
            anvil.url(),
            "--links",
            links,
        ],
    ));
    let truth: Value =
        serde_json::from_slice(&std::fs::read(truth_dir.join("truth.json")).unwrap()).unwrap();
    let truth_links: Vec<&Value> = truth["links"].as_array().unwrap().iter().collect();
    let kinds: BTreeSet<&str> = truth_links
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    for k in ["swap", "mixer", "bridge", "chain_swap"] {
        assert!(kinds.contains(k), "the scenario has no {k} link: {kinds:?}");
    }

    let mut create = vec!["incident", "create", "sim-heist", "--chain", "evm-31337"];
    for tx in truth["incident"]["txs"].as_array().unwrap() {
        create.extend(["--tx", tx.as_str().unwrap()]);
    }
    ok(tracehound(&data, &create));

    let labels = truth_dir.join("labels.csv");
    let mut report = Vec::new();
    for policy in ["lifo", "haircut"] {
        let trace: Value = serde_json::from_str(&ok(tracehound(
            &data,
            &[
                "--json",
                "trace",
                "--incident",
                "sim-heist",
                "--policy",
                policy,
                "--labels",
                labels.to_str().unwrap(),
                "--links",
                links,
            ],
        )))
        .unwrap();
        // Per asset, the parts add up with what links brought in and took out.
        for s in trace["summary"]["assets"].as_array().unwrap() {
            let placed: u128 = [
                "intervention",
                "still_moving",
                "dark",
                "dust",
                "fees",
                "unresolved",
                "linked_out",
            ]
            .iter()
            .map(|k| units(&s[k]))
            .sum();
            assert_eq!(placed, units(&s["stolen"]) + units(&s["linked_in"]), "{s}");
        }
        let assets: BTreeSet<&str> = trace["summary"]["assets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["chain"].as_str().unwrap())
            .collect();
        assert!(
            assets.contains("litecoin-regtest"),
            "{policy}: the trace never reached the UTXO chain"
        );

        for (asset, (stolen, found)) in located(&truth, &trace) {
            report.push(format!(
                "{policy} {asset}: {found} of {stolen} stolen located at the truth's resting places ({:.2}%)",
                found as f64 * 100.0 / stolen.max(1) as f64
            ));
        }

        // Link precision and recall per kind (links stolen value crossed in the truth).
        let got = crossed(&trace);
        let want: BTreeSet<(String, String, String)> = truth_links
            .iter()
            .filter(|l| units(&l["stolen_in"]) > 0)
            .map(|l| {
                (
                    l["kind"].as_str().unwrap().to_string(),
                    normal_ref(l["in_tx"].as_str().unwrap()),
                    normal_ref(l["out_tx"].as_str().unwrap()),
                )
            })
            .collect();
        for kind in ["swap", "mixer", "bridge", "chain_swap"] {
            let g: BTreeSet<_> = got.iter().filter(|l| l.0 == kind).collect();
            let w: BTreeSet<_> = want.iter().filter(|l| l.0 == kind).collect();
            let hit = g.intersection(&w).count();
            report.push(format!(
                "{policy} {kind} links: precision {hit}/{} recall {hit}/{}",
                g.len(),
                w.len()
            ));
            if kind == "mixer" {
                // A mixer link to a withdrawal that did carry stolen value pairs the right
                // owner's notes even when it pairs the wrong two (equal denominations): report
                // both figures.
                let outs: BTreeSet<&String> = w.iter().map(|l| &l.2).collect();
                let owner_hit = g.iter().filter(|l| outs.contains(&l.2)).count();
                report.push(format!(
                    "{policy} mixer links to a withdrawal of stolen value: {owner_hit}/{}",
                    g.len()
                ));
                assert_eq!(
                    owner_hit,
                    g.len(),
                    "{policy}: a mixer link to a clean withdrawal"
                );
            }
            if kind != "mixer" {
                // Swaps (one tx) and id-matched bridges and chain swaps: every one the truth's
                // stolen value crossed. Under LIFO (the truth's rule) no other; haircut also
                // sends a share of taint over links LIFO leaves clean.
                assert_eq!(hit, w.len(), "{policy} {kind}: {g:?} vs {w:?}");
                if policy == "lifo" {
                    assert_eq!(g.len(), w.len(), "{policy} {kind}: {g:?} vs {w:?}");
                }
            }
        }
        let table = ok(tracehound(
            &data,
            &[
                "trace",
                "--incident",
                "sim-heist",
                "--policy",
                policy,
                "--labels",
                labels.to_str().unwrap(),
                "--links",
                links,
            ],
        ));
        assert!(table.contains("links crossed:"), "{table}");
        assert!(table.contains("bridged"), "{table}");
    }
    // Per-detector precision and recall against the truth's patterns, on the trace's flow
    // (LIFO): a truth pattern is found when a detection of its kind shares a tx with it; a
    // detection is right when it shares a tx with a truth pattern of a kind it stands for.
    let detected: Value = serde_json::from_str(&ok(tracehound(
        &data,
        &[
            "--json",
            "patterns",
            "--incident",
            "sim-heist",
            "--policy",
            "lifo",
            "--labels",
            labels.to_str().unwrap(),
        ],
    )))
    .unwrap();
    let detections = detected["detections"].as_array().unwrap();
    let kind_for = |truth_kind: &str| -> &'static str {
        match truth_kind {
            "fan_out" => "fan_out",
            "fan_in" => "fan_in",
            "peel_chain" => "peel_chain",
            "mixer" | "coinjoin" | "privacy_exit" => "mixer",
            _ => "chain_hop", // swap, bridge_hop, chain_swap
        }
    };
    let txs_of = |v: &Value| -> BTreeSet<String> {
        v["txs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| normal_ref(t.as_str().unwrap()))
            .collect()
    };
    let truth_patterns = truth["patterns"].as_array().unwrap();
    let mut by_kind: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    for p in truth_patterns {
        let kind = kind_for(p["kind"].as_str().unwrap());
        let txs = txs_of(p);
        let found = detections
            .iter()
            .any(|d| d["kind"] == kind && !txs_of(d).is_disjoint(&txs));
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 += usize::from(found);
    }
    for d in detections {
        let kind = d["kind"].as_str().unwrap();
        let txs = txs_of(d);
        let right = truth_patterns
            .iter()
            .any(|p| kind_for(p["kind"].as_str().unwrap()) == kind && !txs_of(p).is_disjoint(&txs));
        let e = by_kind
            .entry(match kind {
                "fan_out" => "fan_out",
                "fan_in" => "fan_in",
                "peel_chain" => "peel_chain",
                "mixer" => "mixer",
                "chain_hop" => "chain_hop",
                "gather_scatter" => "gather_scatter",
                "scatter_gather" => "scatter_gather",
                "rapid_hops" => "rapid_hops",
                _ => "structuring",
            })
            .or_default();
        e.2 += 1;
        e.3 += usize::from(right);
    }
    for (kind, (truth_n, found, det_n, right)) in &by_kind {
        report.push(format!(
            "detector {kind}: recall {found}/{truth_n}, precision {right}/{det_n}"
        ));
    }
    // Floors at what this version measures (the README has the figures): this scenario's EVM
    // peel chains have 2 hops, under the detector's 3-link minimum.
    for (kind, floor) in [("fan_out", 1.0), ("mixer", 1.0), ("chain_hop", 0.75)] {
        let (truth_n, found, _, _) = by_kind[kind];
        assert!(
            found as f64 >= floor * truth_n as f64,
            "{kind} recall: {}",
            report.join("\n")
        );
    }

    // The bridge without ids: the release event's source tx left out of the config, so the
    // UTXO-to-EVM crossings are matched by destination and time alone (lower confidence).
    let no_ids = work.path().join("links-no-ids.toml");
    let text = std::fs::read_to_string(links).unwrap();
    assert!(text.contains("id = \"sourceTx\""), "{text}");
    std::fs::write(&no_ids, text.replace("id = \"sourceTx\"\n", "")).unwrap();
    let no_ids = no_ids.to_str().unwrap();
    let data2 = work.path().join("store-no-ids");
    ok(tracehound(
        &data2,
        &[
            "ingest",
            "btc",
            "--network",
            "litecoin-regtest",
            "--rpc",
            ltc.rpc_url(),
            "--rpc-user",
            user,
            "--rpc-password",
            password,
            "--links",
            no_ids,
        ],
    ));
    ok(tracehound(
        &data2,
        &[
            "ingest",
            "evm",
            "--chain",
            "31337",
            "--rpc",
            anvil.url(),
            "--links",
            no_ids,
        ],
    ));
    ok(tracehound(&data2, &create));
    let trace: Value = serde_json::from_str(&ok(tracehound(
        &data2,
        &[
            "--json",
            "trace",
            "--incident",
            "sim-heist",
            "--policy",
            "lifo",
            "--labels",
            labels.to_str().unwrap(),
            "--links",
            no_ids,
        ],
    )))
    .unwrap();
    let bridges: Vec<&Value> = trace["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["edge"]["kind"] == "link" && h["edge"]["link"] == "bridge")
        .collect();
    let want: BTreeSet<(String, String)> = truth_links
        .iter()
        .filter(|l| l["kind"] == "bridge" && units(&l["stolen_in"]) > 0)
        .map(|l| {
            (
                normal_ref(l["in_tx"].as_str().unwrap()),
                normal_ref(l["out_tx"].as_str().unwrap()),
            )
        })
        .collect();
    let mut hit = 0;
    for h in &bridges {
        let pair = (
            normal_ref(h["edge"]["tx_in"].as_str().unwrap()),
            normal_ref(h["tx"].as_str().unwrap()),
        );
        hit += usize::from(want.contains(&pair));
        report.push(format!(
            "no-id bridge link {} → {}: confidence {} ({})",
            pair.0, pair.1, h["edge"]["confidence"], h["edge"]["evidence"]
        ));
    }
    report.push(format!(
        "bridge links without ids (heuristic for UTXO → EVM): precision {hit}/{} recall {hit}/{}",
        bridges.len(),
        want.len()
    ));
    assert_eq!(hit, want.len(), "{}", report.join("\n"));
    assert!(
        bridges
            .iter()
            .any(|h| h["edge"]["confidence"].as_u64().unwrap() < 100),
        "no heuristic match was made: {}",
        report.join("\n")
    );
    eprintln!("{}", report.join("\n"));
    // Value through swaps, wraps and id-matched bridges is located in full; what goes through
    // the mixer is matched by heuristics or reported dark (see the figures above).
    for line in &report {
        if line.contains("located") {
            let pct: f64 = line
                .rsplit('(')
                .next()
                .unwrap()
                .trim_end_matches("%)")
                .parse()
                .unwrap();
            assert!(pct >= 95.0, "{line}");
        }
    }
}
