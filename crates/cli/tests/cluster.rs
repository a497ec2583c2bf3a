//! `tracehound cluster` and `tracehound entity show` end to end on the simulator's files
//! mode: both chains of a small heist ingested (blk files, transfer list), labels imported
//! (the EVM side's hot wallets only, so deposit addresses must be found, not read), then
//! clustering scored against the truth's owners and entities shown with labels and evidence.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use tracehound_cluster::Clustering;
use tracehound_cluster::score::pairwise;
use tracehound_core::Chain;
use tracehound_sim::GroundTruth;
use tracehound_store::{Store, StoreOptions};

fn tracehound(data_dir: &Path, args: &[&str]) -> Output {
    common::ok(common::tracehound(data_dir, args))
}

fn json(out: Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn truth(path: &Path) -> GroundTruth {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn cluster_and_entity_show_on_a_simulated_heist() {
    let work = tempfile::tempdir().unwrap();
    let sim = common::SimFiles::generate(work.path());
    let (truth_dir, data) = (sim.truth.clone(), sim.data.clone());
    sim.ingest_utxo();
    sim.import_evm();
    // UTXO labels as written; EVM labels: hot wallets only.
    let utxo_labels = truth_dir.join("labels.csv");
    tracehound(
        &data,
        &[
            "labels",
            "import",
            utxo_labels.to_str().unwrap(),
            "--format",
            "csv",
        ],
    );
    let evm_labels = std::fs::read_to_string(truth_dir.join("evm").join("labels.csv")).unwrap();
    let mut lines = evm_labels.lines();
    let mut hot = format!("{}\n", lines.next().unwrap());
    for l in lines.filter(|l| l.contains("hot wallet")) {
        hot.push_str(l);
        hot.push('\n');
    }
    let hot_csv = work.path().join("hot.csv");
    std::fs::write(&hot_csv, hot).unwrap();
    tracehound(
        &data,
        &[
            "labels",
            "import",
            hot_csv.to_str().unwrap(),
            "--format",
            "csv",
        ],
    );

    // Text output names the figures.
    let text = String::from_utf8(tracehound(&data, &["cluster"]).stdout).unwrap();
    assert!(
        text.contains("litecoin-regtest: ") && text.contains("coinjoins skipped"),
        "{text}"
    );
    assert!(text.contains("inputs/s"), "{text}");
    let runs = json(tracehound(&data, &["--json", "cluster"]));
    let by_chain: HashMap<&str, &serde_json::Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["chain"].as_str().unwrap(), r))
        .collect();
    let ltc = by_chain["litecoin-regtest"];
    assert!(ltc["merges"].as_u64().unwrap() > 0);
    assert!(ltc["coinjoins_skipped"].as_u64().unwrap() >= 1, "{ltc}");
    let evm = by_chain["evm-31337"];
    assert!(evm["deposit_merges"].as_u64().unwrap() > 0, "{evm}");

    // Scores against the truth's owners.
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    let score = |chain: Chain, truth: &GroundTruth, texts: &[String], only: &str| {
        let c = Clustering::load(&Clustering::path_in(&data, chain)).unwrap();
        let owner: HashMap<String, &str> = truth
            .addresses
            .iter()
            .filter(|a| a.entity.starts_with(only))
            .map(|a| (a.address.to_lowercase(), a.entity.as_str()))
            .collect();
        pairwise(texts.iter().enumerate().filter_map(|(id, a)| {
            owner
                .get(&a.to_lowercase())
                .map(|o| (c.entity_of(id as u32).unwrap(), *o))
        }))
    };
    let ltc_truth = truth(&truth_dir.join("truth.json"));
    let links = store.utxo_links(Chain::LitecoinRegtest).unwrap();
    let texts: Vec<String> = (0..links.address_count().unwrap())
        .map(|id| links.address(id).unwrap())
        .collect();
    let s = score(Chain::LitecoinRegtest, &ltc_truth, &texts, "");
    println!(
        "litecoin-regtest co-spend: precision {:.4}, recall {:.4} over {} addresses",
        s.precision, s.recall, s.addresses
    );
    assert_eq!(s.precision, 1.0);
    let evm_truth = truth(&truth_dir.join("evm").join("truth.json"));
    let texts: Vec<String> = store
        .account_addresses(Chain::Evm(31_337))
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    println!("evm-31337 run: {evm}");
    let x = score(Chain::Evm(31_337), &evm_truth, &texts, "exchange:");
    println!(
        "evm-31337 deposits, exchanges' addresses only: precision {:.4}, recall {:.4} over {} addresses ({} of {} true pairs)",
        x.precision, x.recall, x.addresses, x.correct_pairs, x.true_pairs
    );
    let s = score(Chain::Evm(31_337), &evm_truth, &texts, "");
    println!(
        "evm-31337 deposits: precision {:.4}, recall {:.4} over {} addresses ({} of {} true pairs)",
        s.precision, s.recall, s.addresses, s.correct_pairs, s.true_pairs
    );
    assert!(s.precision >= 0.99, "{s:?}");
    drop(store);
    // The simulator sweeps random amounts, not balances: a looser forwarding share finds more.
    let loose = json(tracehound(
        &data,
        &[
            "--json",
            "cluster",
            "--chain",
            "evm-31337",
            "--forwarded-pct",
            "50",
        ],
    ));
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    let x = score(Chain::Evm(31_337), &evm_truth, &texts, "exchange:");
    println!(
        "evm-31337 deposits at --forwarded-pct 50: {} found; exchanges' addresses only: precision {:.4}, recall {:.4}",
        loose[0]["deposit_merges"], x.precision, x.recall
    );
    assert!(x.precision >= 0.99, "{x:?}");
    drop(store);

    // An exchange deposit address that was swept: its entity is the exchange, labelled, with
    // the txs that joined it.
    let dep = evm_truth
        .addresses
        .iter()
        .find(|a| a.role.starts_with("deposit for user"))
        .map(|a| a.address.clone());
    let mut shown = 0;
    for a in evm_truth
        .addresses
        .iter()
        .filter(|a| a.role.starts_with("deposit for user"))
    {
        let v = json(tracehound(
            &data,
            &[
                "--json",
                "entity",
                "show",
                &a.address,
                "--chain",
                "evm-31337",
            ],
        ));
        if v["size"].as_u64().unwrap() < 2 {
            continue;
        }
        let label = v["labels"][0]["label"].as_str().unwrap();
        assert!(
            label.ends_with("hot wallet") && label.starts_with(&a.entity),
            "{v}"
        );
        let ev = v["evidence"].as_array().unwrap();
        if v["entity_address"].as_str().unwrap() != a.address.to_lowercase() {
            // Deposit → hot wallet (→ the deposit whose id names the entity).
            assert!(!ev.is_empty(), "{v}");
            assert!(
                ev.iter().all(
                    |e| e["kind"] == "deposit" && e["txid"].as_str().unwrap().starts_with("0x")
                ),
                "{v}"
            );
            assert_eq!(ev[0]["from"], a.address.to_lowercase().as_str());
            assert_eq!(ev[ev.len() - 1]["to"], v["entity_address"]);
        }
        shown += 1;
    }
    assert!(shown > 0, "some deposit of {dep:?} joined its exchange");
    // UTXO: a swept deposit's entity holds the deposits swept with it, labelled exchange,
    // with the co-spend that joined them; text output.
    let v = ltc_truth
        .addresses
        .iter()
        .filter(|a| a.role.starts_with("ltc deposit for user"))
        .map(|a| json(tracehound(&data, &["--json", "entity", "show", &a.address])))
        .find(|v| v["size"].as_u64().unwrap() > 1)
        .expect("a swept deposit");
    let member = v["members"][1]["address"].as_str().unwrap().to_string();
    let text =
        String::from_utf8(tracehound(&data, &["entity", "show", &member, "--limit", "3"]).stdout)
            .unwrap();
    assert!(
        text.contains("labels (strongest first):") && text.contains("[exchange]"),
        "{text}"
    );
    assert!(
        text.contains("evidence joining") && text.contains("co-spend (confidence 90) tx "),
        "{text}"
    );
    let id = v["entity"].as_u64().unwrap().to_string();
    let by_id = json(tracehound(
        &data,
        &[
            "--json",
            "entity",
            "show",
            &id,
            "--chain",
            "litecoin-regtest",
        ],
    ));
    assert_eq!(by_id["size"], v["size"]);
    // --truth scores each chain it knows (the UTXO side here).
    let scored = json(tracehound(
        &data,
        &[
            "--json",
            "cluster",
            "--chain",
            "litecoin-regtest",
            "--truth",
            truth_dir.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        scored[0]["score"]["precision"].as_f64(),
        Some(1.0),
        "{scored}"
    );
    // Errors name what is wrong.
    let out = common::tracehound(&data, &["entity", "show", "12"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --chain"));
    // The bench runs on the store too.
    let b = json(tracehound(
        &data,
        &[
            "--json",
            "bench",
            "cluster",
            "--inputs",
            "200000",
            "--addresses",
            "100000",
        ],
    ));
    assert!(b["union_find_inputs_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(b["store"].as_array().unwrap().len(), 1);

    // A trace's endpoints carry their entity: the same id and size `entity show` gives.
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(truth_dir.join("truth.json")).unwrap())
            .unwrap();
    let stolen_tx = raw["incident"]["txs"][0].as_str().unwrap();
    let incident = work.path().join("incident.json");
    std::fs::write(
        &incident,
        serde_json::json!({
            "name": "cluster test heist",
            "stolen": [{"chain": "litecoin-regtest", "tx": stolen_tx}]
        })
        .to_string(),
    )
    .unwrap();
    let traced = json(tracehound(
        &data,
        &["--json", "trace", "--incident", incident.to_str().unwrap()],
    ));
    let tagged: Vec<&serde_json::Value> = traced["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity"].is_object())
        .collect();
    assert!(!tagged.is_empty(), "{traced}");
    assert!(
        tagged
            .iter()
            .any(|e| e["entity"]["size"].as_u64() > Some(1)),
        "some endpoint sits in an entity of several addresses: {traced}"
    );
    for e in tagged.iter().take(5) {
        let shown = json(tracehound(
            &data,
            &["--json", "entity", "show", e["address"].as_str().unwrap()],
        ));
        assert_eq!(e["entity"]["id"], shown["entity"], "{e}");
        assert_eq!(e["entity"]["size"], shown["size"], "{e}");
    }
}
