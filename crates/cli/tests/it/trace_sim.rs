//! Accuracy of `tracehound trace` on the heist simulator's ground truth, on a real `anvil`:
//! play a scenario without swaps and mixers (those are links, issue #8), ingest it, trace the
//! incident under LIFO (the truth's own rule) and haircut, and measure the share of stolen
//! value found at the truth's resting places. Also: every endpoint's JSON shape, the summary's
//! parts adding up to the stolen total, CSV and DOT output, and the `incident` commands.
#![cfg(feature = "test-anvil")]

use serde_json::{Value, json};
use tracehound_evm::testnode::Anvil;

use crate::common::{located, ok_text, tracehound, units};

#[test]
fn trace_finds_the_simulated_heist_at_its_resting_places() {
    let node = Anvil::start().unwrap();
    let url = node.url().to_string();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("store");
    let truth_dir = work.path().join("truth");
    // No swaps, and a mixer denomination larger than anything stolen: no links to cross.
    let config = work.path().join("config.json");
    std::fs::write(
        &config,
        json!({"swap_percent": 0, "mixer_denominations": [1_000_000_000_000_000_000_000_000_000u128], "dark_percent": 0})
            .to_string(),
    )
    .unwrap();
    ok_text(tracehound(
        work.path(),
        &[
            "sim",
            "run",
            "--rpc",
            &url,
            "--out",
            truth_dir.to_str().unwrap(),
            "--seed",
            "11",
            "--config",
            config.to_str().unwrap(),
        ],
    ));
    ok_text(tracehound(
        &data,
        &[
            "ingest",
            "evm",
            "--chain",
            "31337",
            "--rpc",
            &url,
            "--wrapped-native",
            "0x0000000000000000000000000000000000000001",
        ],
    ));
    let truth: Value =
        serde_json::from_slice(&std::fs::read(truth_dir.join("truth.json")).unwrap()).unwrap();
    assert!(
        truth["links"].as_array().unwrap().is_empty(),
        "the scenario crossed links"
    );

    // The incident, saved with `incident create` and read back with `incident show`.
    let mut create = vec!["incident", "create", "sim-heist", "--chain", "evm-31337"];
    for tx in truth["incident"]["txs"].as_array().unwrap() {
        create.extend(["--tx", tx.as_str().unwrap()]);
    }
    ok_text(tracehound(&data, &create));
    let shown: Value = serde_json::from_str(&ok_text(tracehound(
        &data,
        &["--json", "incident", "show", "sim-heist"],
    )))
    .unwrap();
    assert_eq!(
        shown["stolen"].as_array().unwrap().len(),
        truth["incident"]["txs"].as_array().unwrap().len()
    );
    assert!(ok_text(tracehound(&data, &["incident", "list"])).contains("sim-heist"));

    let labels = truth_dir.join("labels.csv");
    let mut report = Vec::new();
    for policy in ["lifo", "haircut"] {
        let out = ok_text(tracehound(
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
            ],
        ));
        let trace: Value = serde_json::from_str(&out).unwrap();
        // Shape: every endpoint carries its proof; the summary adds up per asset.
        for e in trace["endpoints"].as_array().unwrap() {
            for k in [
                "chain", "address", "asset", "amount", "label", "stop", "path",
            ] {
                assert!(e.get(k).is_some(), "endpoint without {k}: {e}");
            }
            let path = e["path"].as_array().unwrap();
            assert!(!path.is_empty(), "{e}");
            // Positions in the trace graph, each a hop that carried taint.
            let edges = trace["edges"].as_array().unwrap();
            let hop = |i: &Value| &edges[i.as_u64().unwrap() as usize];
            assert_eq!(hop(&path[0])["rule"], "incident: stolen transfer", "{e}");
            assert!(path.iter().all(|i| hop(i)["tainted"] != "0"), "{e}");
            assert_eq!(hop(path.last().unwrap())["to"], e["address"], "{e}");
        }
        for s in trace["summary"]["assets"].as_array().unwrap() {
            let parts: u128 = ["intervention", "still_moving", "dark", "dust", "fees"]
                .iter()
                .map(|k| units(&s[k]))
                .sum();
            assert_eq!(parts, units(&s["stolen"]), "{s}");
        }
        // The stolen totals are the truth's.
        for st in truth["incident"]["stolen"].as_array().unwrap() {
            let want = units(&st["amount"]);
            let got: u128 = trace["summary"]["assets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| (st["asset"] == "eth") == (s["asset"] == "native"))
                .map(|s| units(&s["stolen"]))
                .sum();
            assert_eq!(got, want, "{policy}: stolen {st}");
        }
        for (asset, (stolen, located)) in located(&truth, &trace) {
            let share = located as f64 / stolen as f64;
            report.push(format!(
                "{policy} {asset}: {located} of {stolen} stolen at the right resting places ({:.4}%)",
                share * 100.0
            ));
            assert!(
                share >= 0.99,
                "{policy} {asset}: only {:.4}% located",
                share * 100.0
            );
        }
    }
    eprintln!("{}", report.join("\n"));

    // CSV and DOT render the same endpoints.
    let csv = ok_text(tracehound(
        &data,
        &[
            "trace",
            "--incident",
            "sim-heist",
            "--policy",
            "lifo",
            "--csv",
            "--labels",
            labels.to_str().unwrap(),
        ],
    ));
    assert!(csv.starts_with("chain,address,asset,amount,label"), "{csv}");
    let dot = ok_text(tracehound(
        &data,
        &[
            "trace",
            "--incident",
            "sim-heist",
            "--policy",
            "lifo",
            "--dot",
        ],
    ));
    assert!(
        dot.starts_with("digraph trace {") && dot.contains("->"),
        "{dot}"
    );
    let table = ok_text(tracehound(
        &data,
        &[
            "trace",
            "--incident",
            "sim-heist",
            "--labels",
            labels.to_str().unwrap(),
        ],
    ));
    assert!(table.contains("at points of intervention"), "{table}");

    // The shortcut: all that left the thief from the theft on.
    let thief = truth["txs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["heist"] == true)
        .map(|t| t["transfers"][0]["to"].as_str().unwrap().to_string())
        .unwrap();
    let out = ok_text(tracehound(
        &data,
        &[
            "--json",
            "trace",
            "--chain",
            "evm-31337",
            "--source",
            &thief,
            "--policy",
            "lifo",
        ],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(!v["endpoints"].as_array().unwrap().is_empty());

    // Bad input: an unknown tx and a silent source fail with a clear message.
    let bad = tracehound(
        &data,
        &[
            "trace",
            "--chain",
            "evm-31337",
            "--source",
            "0x00000000000000000000000000000000000000ee",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not in the store"));
    let f = work.path().join("bad.toml");
    std::fs::write(
        &f,
        "name = \"x\"\n[[stolen]]\nchain = \"evm-31337\"\ntx = \"0x00000000000000000000000000000000000000000000000000000000000000ab\"\n",
    )
    .unwrap();
    let bad = tracehound(&data, &["trace", "--incident", f.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not in the store: stolen tx"));
    // An absurd request is capped with a message naming the flag.
    let capped = tracehound(
        &data,
        &[
            "trace",
            "--incident",
            "sim-heist",
            "--max-hops",
            "1000000000",
            "--max-nodes",
            "3",
        ],
    );
    let err = String::from_utf8_lossy(&capped.stderr);
    assert!(
        !capped.status.success() && err.contains("--max-nodes"),
        "{err}"
    );
}
