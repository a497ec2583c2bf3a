//! `tracehound labels`: imports with counts, idempotence, bad input named, analysts' labels
//! added and removed, and a trace whose endpoints are labeled from the data dir's store.

mod common;

use std::process::Output;

use common::{ok, tracehound};
use tracehound_core::fixtures::shared_data;

const HEADER: &str = "chain,tx_hash,block,timestamp,log_index,from,to,asset,amount";
const VICTIM: &str = "0x1000000000000000000000000000000000000001";
const THIEF: &str = "0x2000000000000000000000000000000000000002";
const MULE1: &str = "0x3000000000000000000000000000000000000003";
const MULE2: &str = "0x4000000000000000000000000000000000000004";
const EXCHANGE: &str = "0x5000000000000000000000000000000000000005";

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn row(tx: u8, block: u32, from: &str, to: &str, amount: &str) -> String {
    format!(
        "evm-777,0x{tx:064x},{block},{},0,{from},{to},native,{amount}",
        1_700_000_000 + u64::from(block) * 12
    )
}

#[test]
fn imports_count_and_repeat_without_duplicating() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path();
    let eth = shared_data("labels/ofac/sanctioned_addresses_ETH.txt");
    let eth = eth.to_str().unwrap();
    let r = json(&ok(tracehound(
        data,
        &["--json", "labels", "import", eth, "--format", "ofac"],
    )));
    assert_eq!(r[0]["report"]["imported"], 152);
    let again = json(&ok(tracehound(
        data,
        &["--json", "labels", "import", eth, "--format", "ofac"],
    )));
    assert_eq!(again[0]["report"]["imported"], 152);
    assert_eq!(again[0]["report"]["replaced"], 152);
    let listed = json(&ok(tracehound(
        data,
        &["--json", "labels", "list", "--category", "sanctioned"],
    )));
    assert_eq!(listed.as_array().unwrap().len(), 152);

    // A bad file: the first bad record stops it, naming file, line and value; with
    // --skip-invalid the rest imports and the skip is counted.
    let csv = work.path().join("mine.csv");
    std::fs::write(
        &csv,
        format!(
            "chain,address,label,category,source,confidence\nethereum,{EXCHANGE},Bex,exchange,me,0.9\nethereum,0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD,typo,exchange,me,1\n"
        ),
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let bad = tracehound(data, &["labels", "import", csv, "--format", "csv"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("mine.csv line 3") && err.contains("checksum") && err.contains("BeAeD"),
        "{err}"
    );
    let out = ok(tracehound(
        data,
        &["labels", "import", csv, "--format", "csv", "--skip-invalid"],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 imported, 1 skipped, 0 duplicates"),
        "{text}"
    );
    let shown = json(&ok(tracehound(
        data,
        &[
            "--json",
            "labels",
            "show",
            &EXCHANGE.to_uppercase().replace("0X", "0x"),
            "--chain",
            "ethereum",
        ],
    )));
    assert_eq!(shown[0]["label"], "Bex");
    assert_eq!(shown[0]["confidence"], 90);
    assert_eq!(shown[0]["raw_confidence"], "0.9");
}

#[test]
fn analyst_labels_and_a_trace_labeled_from_the_store() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("store");
    let transfers = work.path().join("heist.csv");
    let lines = [
        HEADER.to_string(),
        row(1, 100, VICTIM, THIEF, "1000000000000000000000"),
        row(2, 103, THIEF, MULE1, "400000000000000000000"),
        row(3, 103, THIEF, MULE2, "600000000000000000000"),
        row(4, 110, MULE1, EXCHANGE, "400000000000000000000"),
    ];
    std::fs::write(&transfers, lines.join("\n") + "\n").unwrap();
    ok(tracehound(
        &data,
        &["import", "transfers", transfers.to_str().unwrap()],
    ));
    // MULE1 is a known hacker address (imported): a party, so the trace goes through it.
    let csv = work.path().join("intel.csv");
    std::fs::write(
        &csv,
        format!("chain,address,label,category,source,confidence\nevm-777,{MULE1},Heist mule,exploit,report,forensic\n"),
    )
    .unwrap();
    ok(tracehound(
        &data,
        &["labels", "import", csv.to_str().unwrap(), "--format", "csv"],
    ));
    // The analyst knows EXCHANGE is a deposit address of an exchange.
    let added = ok(tracehound(
        &data,
        &[
            "labels",
            "add",
            EXCHANGE,
            "--chain",
            "evm-777",
            "--label",
            "Bex deposit",
            "--category",
            "deposit_address",
            "--note",
            "subpoena 42",
            "--analyst",
            "ana",
        ],
    ));
    assert!(String::from_utf8_lossy(&added.stdout).contains("added"));
    // Every output that shows an address names it: `address` lists its labels, `tx` the
    // strongest label of each address it touches.
    let shown = json(&ok(tracehound(
        &data,
        &["--json", "address", EXCHANGE, "--chain", "evm-777"],
    )));
    assert_eq!(shown[0]["labels"][0]["label"], "Bex deposit", "{shown}");
    assert_eq!(shown[0]["labels"][0]["source"], "analyst:ana", "{shown}");
    let text = ok(tracehound(
        &data,
        &["address", EXCHANGE, "--chain", "evm-777"],
    ));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("label Bex deposit [deposit_address]"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let hash = shown[0]["history"][0]["txid"].as_str().unwrap().to_string();
    let tx = json(&ok(tracehound(&data, &["--json", "tx", &hash])));
    assert_eq!(
        tx[0]["labels"][EXCHANGE], "Bex deposit [deposit_address]",
        "{tx}"
    );
    assert_eq!(tx[0]["labels"][MULE1], "Heist mule [hacker]", "{tx}");
    let trace = |extra: &[&str]| {
        let mut args = vec![
            "--json", "trace", "--chain", "evm-777", "--source", THIEF, "--asset", "native",
            "--policy", "fifo",
        ];
        args.extend_from_slice(extra);
        json(&ok(tracehound(&data, &args)))
    };
    let t = trace(&[]);
    let ends = t["endpoints"].as_array().unwrap();
    let at = |a: &str| ends.iter().find(|e| e["address"] == a).cloned();
    let ex = at(EXCHANGE).expect("the exchange is an endpoint");
    assert_eq!(ex["label"], "Bex deposit");
    assert_eq!(ex["category"], "deposit_address");
    assert_eq!(ex["freezable_by"], "exchange");
    assert_eq!(ex["stop"], "service");
    assert_eq!(ex["amount"], "400000000000000000000");
    assert!(
        at(MULE1).is_none(),
        "a hacker's address does not stop the trace"
    );
    assert!(at(MULE2).is_some());

    // --labels CSV still works and wins over the store for the same address.
    let over = work.path().join("over.csv");
    std::fs::write(
        &over,
        format!("chain,address,label,category,source,confidence\nevm-777,{EXCHANGE},Bex (file),exchange,f,1\n"),
    )
    .unwrap();
    let t = trace(&["--labels", over.to_str().unwrap()]);
    let ex = t["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["address"] == EXCHANGE)
        .cloned()
        .unwrap();
    assert_eq!(ex["label"], "Bex (file)");

    // Removing the analyst's label: the exchange is no longer known, nothing is freezable.
    ok(tracehound(
        &data,
        &[
            "labels",
            "remove",
            EXCHANGE,
            "--chain",
            "evm-777",
            "--analyst",
            "ana",
        ],
    ));
    let gone = tracehound(
        &data,
        &[
            "labels",
            "remove",
            EXCHANGE,
            "--chain",
            "evm-777",
            "--analyst",
            "ana",
        ],
    );
    assert!(!gone.status.success());
    let t = trace(&[]);
    assert!(
        t["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["freezable_by"].is_null()),
        "{t}"
    );
}
