//! `tracehound patterns` end to end on the simulator's files mode: both chains of a small
//! heist ingested with their labels, both incidents traced and searched for patterns, recall
//! measured against the truth's pattern list per kind, detections on txs that carry no stolen
//! value counted as false positives, background users' neighbourhoods searched through
//! `--address`, and the endpoint tags of `trace --json` checked.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use tracehound_sim::GroundTruth;

fn tracehound(data_dir: &Path, args: &[&str]) -> Output {
    common::ok(common::tracehound(data_dir, args))
}

fn json(out: Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn truth(path: &Path) -> GroundTruth {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The detector kind that covers a truth pattern kind (`swap` and the cross-chain kinds do
/// not occur in files mode).
fn covered_by(truth_kind: &str) -> Option<&'static str> {
    Some(match truth_kind {
        "peel_chain" => "peel_chain",
        "fan_out" => "fan_out",
        "fan_in" => "fan_in",
        "coinjoin" | "mixer" | "privacy_exit" => "mixer",
        "bridge_hop" | "chain_swap" | "swap" => "chain_hop",
        _ => return None,
    })
}

/// Per truth kind: (found, listed); and the detections naming no stolen-carrying tx.
fn score(
    truth: &GroundTruth,
    stolen_txs: &BTreeSet<String>,
    detections: &[serde_json::Value],
) -> (BTreeMap<String, (usize, usize)>, usize) {
    let txs_of = |d: &serde_json::Value| -> BTreeSet<String> {
        d["txs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_lowercase())
            .collect()
    };
    let mut recall: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for p in &truth.patterns {
        let Some(kind) = covered_by(&p.kind) else {
            continue;
        };
        let want: BTreeSet<String> = p.txs.iter().map(|t| t.to_lowercase()).collect();
        // Found: a detection of the covering kind naming at least half of its txs.
        let found = detections
            .iter()
            .any(|d| d["kind"] == kind && 2 * txs_of(d).intersection(&want).count() >= want.len());
        let r = recall.entry(p.kind.clone()).or_default();
        r.0 += usize::from(found);
        r.1 += 1;
    }
    let false_positives = detections
        .iter()
        .filter(|d| txs_of(d).is_disjoint(stolen_txs))
        .count();
    (recall, false_positives)
}

#[test]
fn patterns_on_a_simulated_heist() {
    let work = tempfile::tempdir().unwrap();
    let sim = common::SimFiles::generate(work.path());
    let (truth_dir, data) = (sim.truth.clone(), sim.data.clone());
    sim.ingest_utxo();
    sim.import_evm();
    // Labels by file per chain (each incident's own, as `--labels`).
    let ltc_labels = truth_dir.join("labels.csv");
    let evm_labels = truth_dir.join("evm").join("labels.csv");
    let (ltc_labels, evm_labels) = (ltc_labels.to_str().unwrap(), evm_labels.to_str().unwrap());
    let ltc = truth(&truth_dir.join("truth.json"));
    let evm = truth(&truth_dir.join("evm").join("truth.json"));
    for (name, chain, t) in [
        ("ltc-heist", "litecoin-regtest", &ltc),
        ("evm-heist", "evm-31337", &evm),
    ] {
        let mut args = vec!["incident", "create", name, "--chain", chain];
        for tx in &t.incident.txs {
            args.extend(["--tx", tx.as_str()]);
        }
        tracehound(&data, &args);
    }

    // Along the traced flows: recall per truth kind, false positives.
    let mut figures = Vec::new();
    for (name, t, labels) in [
        ("ltc-heist", &ltc, ltc_labels),
        ("evm-heist", &evm, evm_labels),
    ] {
        // LIFO, the truth's own attribution rule, so the trace sees what the truth lists.
        let out = json(tracehound(
            &data,
            &[
                "--json",
                "patterns",
                "--incident",
                name,
                "--policy",
                "lifo",
                "--labels",
                labels,
            ],
        ));
        let detections = out["detections"].as_array().unwrap();
        for d in detections {
            let s = d["score"].as_u64().unwrap();
            assert!(s <= 100, "{d}");
            assert!(!d["addresses"].as_array().unwrap().is_empty(), "{d}");
            assert!(!d["explanation"].as_str().unwrap().is_empty(), "{d}");
        }
        let stolen: BTreeSet<String> = t
            .utxo_txs
            .iter()
            .map(|x| x.txid.to_lowercase())
            .chain(t.txs.iter().map(|x| x.hash.to_lowercase()))
            .collect();
        let (recall, fp) = score(t, &stolen, detections);
        println!(
            "{name}: {} detections, recall {recall:?}, {fp} on txs carrying no stolen value",
            detections.len()
        );
        for (kind, (found, listed)) in &recall {
            assert_eq!(found, listed, "{name}: {kind} found {found} of {listed}");
        }
        // The trace follows stolen value only: nothing it sees is background.
        assert_eq!(fp, 0, "{name}");
        figures.push(recall);
    }
    assert!(figures[0].contains_key("peel_chain") && figures[0].contains_key("coinjoin"));
    assert!(figures[1].contains_key("peel_chain") && figures[1].contains_key("fan_out"));

    // The text table names the kinds.
    let text = String::from_utf8(
        tracehound(
            &data,
            &[
                "patterns",
                "--incident",
                "ltc-heist",
                "--labels",
                ltc_labels,
            ],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("peel_chain") && text.contains("mixer"),
        "{text}"
    );

    // Around an address: the middle of a UTXO peel chain shows that chain.
    let chain = ltc
        .patterns
        .iter()
        .find(|p| p.kind == "peel_chain")
        .unwrap();
    let middle = &chain.addresses[chain.addresses.len() / 2];
    let around = json(tracehound(
        &data,
        &[
            "--json",
            "patterns",
            "--address",
            middle,
            "--chain",
            "litecoin-regtest",
            "--hops",
            "4",
        ],
    ));
    let want: BTreeSet<&str> = chain.txs.iter().map(String::as_str).collect();
    assert!(
        around["detections"].as_array().unwrap().iter().any(|d| {
            d["kind"] == "peel_chain"
                && d["txs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| want.contains(t.as_str().unwrap()))
                    .count()
                    == want.len()
        }),
        "{around}"
    );

    // Background: users' own neighbourhoods (one hop) carry no peel chain or mixer use.
    let users: Vec<&str> = ltc
        .addresses
        .iter()
        .filter(|a| a.entity.starts_with("user") && !a.entity.contains("cj"))
        .map(|a| a.address.as_str())
        .take(20)
        .collect();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for u in &users {
        let out = common::tracehound(
            &data,
            &["--json", "patterns", "--address", u, "--hops", "1"],
        );
        if !out.status.success() {
            continue; // an address that never got a payment is not stored
        }
        for d in json(out)["detections"].as_array().unwrap() {
            *by_kind
                .entry(d["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    println!(
        "background: {} users, detections by kind {by_kind:?}",
        users.len()
    );
    assert_eq!(by_kind.get("peel_chain"), None, "{by_kind:?}");

    // `trace --json` tags endpoints with the patterns on their paths.
    let traced = json(tracehound(
        &data,
        &[
            "--json",
            "trace",
            "--incident",
            "ltc-heist",
            "--labels",
            ltc_labels,
        ],
    ));
    let tagged: Vec<&serde_json::Value> = traced["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("patterns").is_some())
        .collect();
    assert!(!tagged.is_empty(), "{traced}");
    assert!(
        tagged.iter().any(|e| e["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "peel_chain")),
        "{traced}"
    );
    assert!(
        tagged.iter().any(|e| e["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "mixer")),
        "{traced}"
    );
}
