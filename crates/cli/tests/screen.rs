//! `tracehound screen` end to end on a small simulated heist (the demo's scenario, kept with
//! its store): an exchange deposit that received traced stolen funds is flagged with exactly
//! the amount and path of an independent `tracehound trace`; an address the trace never
//! reached is `none`; a sanctioned label makes its direct counterparties, both ways, severe;
//! bad input (an invalid address, an unknown chain, an empty file, no index) is named in the
//! error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::tracehound;
use serde_json::Value;

fn ok(out: Output) -> String {
    String::from_utf8(common::ok(out).stdout).unwrap()
}

fn err(out: Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn json(out: Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn units(v: &Value) -> u128 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .unwrap()
}

const CHAIN: &str = "litecoin-regtest";

/// The demo's scenario (generated, ingested, its labels imported into the label store), in
/// a fixed directory under the target dir, replaced on each run.
struct Scenario {
    root: PathBuf,
    dir: PathBuf,
    store: PathBuf,
}

fn scenario() -> &'static Scenario {
    static S: OnceLock<Scenario> = OnceLock::new();
    S.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screen-test");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let dir = root.join("scenario");
        let store = root.join("store");
        ok(tracehound(
            &store,
            &[
                "demo",
                "--out",
                dir.to_str().unwrap(),
                "--blocks",
                "300",
                "--txs-per-block",
                "30",
                "--users",
                "400",
                "--seed",
                "7",
            ],
        ));
        let labels = dir.join("labels.csv");
        ok(tracehound(
            &store,
            &[
                "labels",
                "import",
                labels.to_str().unwrap(),
                "--format",
                "csv",
            ],
        ));
        Scenario { root, dir, store }
    })
}

/// A copy of the scenario's store for one test (each builds its own index).
fn data_dir(name: &str) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).unwrap();
            }
        }
    }
    let s = scenario();
    let d = s.root.join(name);
    let _ = std::fs::remove_dir_all(&d);
    copy(&s.store, &d);
    d
}

fn truth() -> Value {
    serde_json::from_slice(&std::fs::read(scenario().dir.join("truth.json")).unwrap()).unwrap()
}

fn screen(data: &Path, address: &str) -> Value {
    let v = json(tracehound(data, &["--json", "screen", address]));
    v.as_array().unwrap()[0].clone()
}

#[test]
fn deposit_receiving_stolen_funds_is_flagged_with_the_traced_amount_and_path() {
    let data = data_dir("stolen");
    let truth = truth();
    let theft = truth["incident"]["txs"][0].as_str().unwrap();
    // An open incident saved the ordinary way: all outputs of the theft tx.
    ok(tracehound(
        &data,
        &[
            "incident", "create", "heist", "--chain", CHAIN, "--tx", theft,
        ],
    ));
    let built = json(tracehound(&data, &["--json", "screen", "index"]));
    assert_eq!(built["meta"]["incidents"][0], "heist", "{built}");
    // The trace, computed on its own (same policy, same labels).
    let trace = json(tracehound(
        &data,
        &[
            "--json",
            "trace",
            "--incident",
            "heist",
            "--policy",
            "haircut",
        ],
    ));
    let deposits: Vec<&Value> = trace["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stop"] == "service")
        .filter(|e| e["label"].as_str().is_some_and(|l| l.contains("deposit")))
        .collect();
    assert!(deposits.len() >= 2, "{:?}", trace["endpoints"]);
    for d in deposits {
        let address = d["address"].as_str().unwrap();
        let s = screen(&data, address);
        assert_eq!(s["level"], "high", "{s}");
        let r = s["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["exposure"]["origin"] == "stolen")
            .unwrap_or_else(|| panic!("no stolen reason: {s}"));
        let e = &r["exposure"];
        assert_eq!(e["source"], "heist");
        assert_eq!(e["direction"], "incoming");
        // Exactly what the trace says reached it, and what its edges into it add up to.
        assert_eq!(units(&e["amount"]), units(&d["amount"]), "{address}");
        let into: u128 = trace["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["to"] == address && h["from"] != address)
            .map(|h| units(&h["tainted"]))
            .sum();
        assert_eq!(units(&e["amount"]), into);
        assert_eq!(e["hops"], d["hops"]);
        let txs = |p: &Value| -> Vec<String> {
            p.as_array()
                .unwrap()
                .iter()
                .map(|h| h["tx"].as_str().unwrap().to_string())
                .collect()
        };
        // The trace gives its path as positions in its edges.
        let edges = trace["edges"].as_array().unwrap();
        let trace_path: Value = d["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| edges[i.as_u64().unwrap() as usize].clone())
            .collect();
        assert_eq!(txs(&e["path"]), txs(&trace_path));
        assert_eq!(e["path"][0]["tx"], theft);
        assert_eq!(e["path"].as_array().unwrap().last().unwrap()["to"], address);
        let share = e["share_bps"].as_u64().unwrap();
        assert!(share > 0 && share <= 10_000, "{e}");
        assert!(
            s["labels"][0]["label"]
                .as_str()
                .unwrap()
                .contains("deposit")
        );
    }
    // A user the trace never reached is clean.
    let on_graph: std::collections::HashSet<&str> = trace["edges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| [h["from"].as_str().unwrap(), h["to"].as_str().unwrap()])
        .collect();
    let clean = truth["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["entity"].as_str().unwrap().starts_with("user:"))
        .map(|a| a["address"].as_str().unwrap())
        .find(|a| !on_graph.contains(a))
        .unwrap();
    let s = screen(&data, clean);
    assert_eq!(s["level"], "none", "{s}");
    assert!(s["reasons"].as_array().unwrap().is_empty());
    let text = ok(tracehound(&data, &["screen", clean]));
    assert!(
        text.contains(": none") && text.contains("no exposure found"),
        "{text}"
    );
}

#[test]
fn a_sanctioned_label_makes_its_direct_counterparties_severe_both_ways() {
    let data = data_dir("sanctioned");
    let truth = truth();
    let txs = truth["utxo_txs"].as_array().unwrap();
    let drain = &txs[0];
    assert_eq!(drain["purpose"], "drain");
    // The first hop of the heist, and who paid it (the victim, sole input of the drain).
    let x = drain["outputs"][0]["address"].as_str().unwrap();
    let victim = drain["inputs"][0]["address"].as_str().unwrap();
    let paid_x = units(&drain["outputs"][0]["amount"].to_string().into());
    ok(tracehound(
        &data,
        &[
            "labels",
            "add",
            x,
            "--chain",
            CHAIN,
            "--label",
            "OFAC test entry",
            "--category",
            "sanctioned",
            "--analyst",
            "test",
        ],
    ));
    let built = json(tracehound(
        &data,
        &["--json", "screen", "index", "--hops", "2"],
    ));
    assert_eq!(built["meta"]["labeled_origins"], 1, "{built}");

    // The address itself.
    let s = screen(&data, x);
    assert_eq!(s["level"], "severe");
    assert!(
        s["reasons"][0]["text"]
            .as_str()
            .unwrap()
            .contains("labeled sanctioned")
    );

    // Its payees: every other output of a tx spending it.
    let payees: Vec<&str> = txs
        .iter()
        .filter(|t| {
            t["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["address"] == x)
        })
        .flat_map(|t| t["outputs"].as_array().unwrap())
        .map(|o| o["address"].as_str().unwrap())
        .filter(|a| *a != x)
        .collect();
    assert!(!payees.is_empty());
    for p in payees {
        let s = screen(&data, p);
        assert_eq!(s["level"], "severe", "{p}: {s}");
        let e = &s["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["exposure"]["origin"] == "sanctioned" && r["exposure"]["hops"] == 1)
            .unwrap_or_else(|| panic!("{s}"))["exposure"];
        assert_eq!(e["direction"], "incoming");
        assert_eq!(e["source"], x);
        assert_eq!(e["label"], "OFAC test entry");
        assert_eq!(e["path"][0]["from"], x);
        assert_eq!(e["path"][0]["to"], p);
    }

    // The victim paid it directly: outgoing exposure, the whole output (sole input).
    let s = screen(&data, victim);
    assert_eq!(s["level"], "severe", "{s}");
    let e = &s["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["exposure"]["direction"] == "outgoing")
        .unwrap_or_else(|| panic!("{s}"))["exposure"];
    assert_eq!(e["hops"], 1);
    assert_eq!(units(&e["amount"]), paid_x);
    assert_eq!(e["path"][0]["tx"], drain["txid"]);
    assert_eq!(e["path"][0]["to"], x);
}

#[test]
fn bulk_file_screens_every_line_and_bad_input_is_named() {
    let data = data_dir("bulk");
    // No index yet.
    let e = err(tracehound(
        &data,
        &["screen", "rltc1qxt36fa03xpljftf0y4ta8e3gcdfpf7lc9yrdk7"],
    ));
    assert!(e.contains("screen index"), "{e}");
    ok(tracehound(&data, &["screen", "index"]));
    let truth = truth();
    let addrs: Vec<&str> = truth["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .take(50)
        .collect();
    let file = data.join("addrs.csv");
    let mut text = String::from("chain,address\n# a comment\n");
    for a in &addrs {
        text.push_str(&format!("{CHAIN},{a}\n"));
    }
    std::fs::write(&file, &text).unwrap();
    let out = common::ok(tracehound(
        &data,
        &["--json", "screen", "--file", file.to_str().unwrap()],
    ));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), addrs.len());
    assert!(String::from_utf8_lossy(&out.stderr).contains("addresses/s"));
    // Bad input names what is wrong, and where.
    let e = err(tracehound(&data, &["screen", "notanaddress"]));
    assert!(e.contains("notanaddress") && e.contains(CHAIN), "{e}");
    let e = err(tracehound(
        &data,
        &["screen", "--chain", "nochain", addrs[0]],
    ));
    assert!(e.contains("nochain"), "{e}");
    let bad = data.join("bad.csv");
    std::fs::write(&bad, format!("{}\nnochain,{}\n", addrs[0], addrs[1])).unwrap();
    let e = err(tracehound(
        &data,
        &["screen", "--file", bad.to_str().unwrap()],
    ));
    assert!(e.contains("line 2") && e.contains("nochain"), "{e}");
    std::fs::write(&bad, format!("{}\nxyz\n", addrs[0])).unwrap();
    let e = err(tracehound(
        &data,
        &["screen", "--file", bad.to_str().unwrap()],
    ));
    assert!(e.contains("line 2") && e.contains("xyz"), "{e}");
    let empty = data.join("empty.txt");
    std::fs::write(&empty, "\n# nothing\n").unwrap();
    let e = err(tracehound(
        &data,
        &["screen", "--file", empty.to_str().unwrap()],
    ));
    assert!(e.contains("empty.txt") && e.contains("no addresses"), "{e}");
    let e = err(tracehound(&data, &["screen"]));
    assert!(e.contains("--file"), "{e}");
}

#[test]
fn account_chain_counterparties_of_a_sanctioned_address_carry_exact_amounts() {
    let work = tempfile::tempdir().unwrap();
    let sim = common::SimFiles::generate(work.path());
    let (truth_dir, data) = (sim.truth.clone(), sim.data.clone());
    sim.import_evm();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(truth_dir.join("evm").join("truth.json")).unwrap())
            .unwrap();
    let drain = &truth["txs"][0]["transfers"][0];
    let thief = drain["to"].as_str().unwrap().to_lowercase();
    let victim = drain["from"].as_str().unwrap().to_lowercase();
    ok(tracehound(
        &data,
        &[
            "labels",
            "add",
            &thief,
            "--chain",
            "evm-31337",
            "--label",
            "sanctioned thief",
            "--category",
            "sanctioned",
            "--analyst",
            "test",
        ],
    ));
    ok(tracehound(&data, &["screen", "index", "--hops", "2"]));
    // What the thief paid each payee and was paid by each payer, per asset, straight from the
    // imported transfer list.
    let mut paid: std::collections::BTreeMap<(String, String), u128> = Default::default();
    let mut got: std::collections::BTreeMap<(String, String), u128> = Default::default();
    let text = std::fs::read_to_string(sim.transfers_csv()).unwrap();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (from, to, asset) = (
            f[5].to_lowercase(),
            f[6].to_lowercase(),
            f[7].to_lowercase(),
        );
        let amount: u128 = f[8].parse().unwrap();
        if from == thief && to != thief {
            *paid.entry((to, asset)).or_default() += amount;
        } else if to == thief && from != thief {
            *got.entry((from, asset)).or_default() += amount;
        }
    }
    assert!(!paid.is_empty() && got.contains_key(&(victim.clone(), "native".to_string())));
    for (map, direction) in [(&paid, "incoming"), (&got, "outgoing")] {
        for ((address, asset), amount) in map {
            let s = json(tracehound(
                &data,
                &["--json", "screen", "--chain", "evm-31337", address],
            ));
            let s = &s[0];
            assert_eq!(s["level"], "severe", "{address}: {s}");
            let e = &s["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r["exposure"]["direction"] == direction
                        && r["exposure"]["hops"] == 1
                        && r["exposure"]["asset"].as_str().unwrap().to_lowercase() == *asset
                })
                .unwrap_or_else(|| panic!("{address} {asset} {direction}: {s}"))["exposure"];
            assert_eq!(
                units(&e["amount"]),
                *amount,
                "{address} {asset} {direction}"
            );
            assert_eq!(e["source"], thief.as_str());
        }
    }
}
