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

use crate::common::{located, ok_text, tracehound, units};

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
    let data = work.path().join("store");
    let truth_dir = crate::heist::play(work.path(), &data, &anvil, &ltc).truth_dir;
    let links = truth_dir.join("links.toml");
    assert!(
        links.exists(),
        "the simulator writes its services' links.toml"
    );
    let links = links.to_str().unwrap();
    crate::heist::ingest_both(&data, &anvil, &ltc, Some(links));
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
    ok_text(tracehound(&data, &create));

    let labels = truth_dir.join("labels.csv");
    let mut report = Vec::new();
    for policy in ["lifo", "haircut"] {
        let trace: Value = serde_json::from_str(&ok_text(tracehound(
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
        let table = ok_text(tracehound(
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
    let detected: Value = serde_json::from_str(&ok_text(tracehound(
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
    crate::heist::ingest_both(&data2, &anvil, &ltc, Some(no_ids));
    ok_text(tracehound(&data2, &create));
    let trace: Value = serde_json::from_str(&ok_text(tracehound(
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
