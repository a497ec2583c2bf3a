//! `tracehound import transfers`: a transfer list from elsewhere lands in the store, balances
//! add up, a trace runs over it, and bad files are refused with file, line and field named,
//! leaving the store as it was.

mod common;

use std::path::Path;
use std::process::Output;

use common::{ok, tracehound};

use tracehound_store::{Store, StoreOptions};

const HEADER: &str = "chain,tx_hash,block,timestamp,log_index,from,to,asset,amount";
const VICTIM: &str = "0x1000000000000000000000000000000000000001";
const THIEF: &str = "0x2000000000000000000000000000000000000002";
const MULE1: &str = "0x3000000000000000000000000000000000000003";
const MULE2: &str = "0x4000000000000000000000000000000000000004";
const EXCHANGE: &str = "0x5000000000000000000000000000000000000005";
const TOKEN: &str = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48";

fn digest(data_dir: &Path) -> String {
    Store::open(data_dir, &StoreOptions::default())
        .unwrap()
        .digest()
        .unwrap()
}

fn row(tx: u8, block: u32, log: u32, from: &str, to: &str, asset: &str, amount: &str) -> String {
    format!(
        "evm-777,0x{:064x},{block},{},{log},{from},{to},{asset},{amount}",
        tx,
        1_700_000_000 + u64::from(block) * 12
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn imported_transfers_are_stored_balanced_and_traceable() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("store");
    let csv = work.path().join("heist.csv");
    let lines = [
        HEADER.to_string(),
        row(1, 100, 0, VICTIM, THIEF, "native", "1000000000000000000000"),
        row(1, 100, 1, VICTIM, THIEF, TOKEN, "5000000"),
        row(2, 103, 0, THIEF, MULE1, "native", "400000000000000000000"),
        row(3, 103, 0, THIEF, MULE2, "native", "500000000000000000000"),
        row(
            4,
            110,
            0,
            MULE1,
            EXCHANGE,
            "native",
            "400000000000000000000",
        ),
        row(5, 111, 2, THIEF, EXCHANGE, TOKEN, "5000000"),
    ];
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let out = ok(tracehound(
        &data,
        &["--json", "import", "transfers", csv.to_str().unwrap()],
    ));
    let report = json(&out);
    assert_eq!(report["rows"], 6);
    assert_eq!(report["txs"], 5);
    assert_eq!(report["blocks_with_transfers"], 4);
    assert_eq!(report["empty_blocks"], 8, "blocks 101-102 and 104-109");

    // Balances are the sums of the rows (the victim's is what left it: partial data).
    let address = |a: &str| json(&ok(tracehound(&data, &["--json", "address", a])));
    let text = address(MULE2).to_string();
    assert!(text.contains("500000000000000000000"), "{text}");
    let text = address(EXCHANGE).to_string();
    assert!(
        text.contains("400000000000000000000") && text.contains("5000000"),
        "{text}"
    );

    // A trace from the thief's address follows every unit that left it.
    let traced = json(&ok(tracehound(
        &data,
        &[
            "--json", "trace", "--chain", "evm-777", "--source", THIEF, "--asset", "native",
            "--policy", "fifo",
        ],
    )));
    let mut found: Vec<(String, u128)> = traced["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_lowercase(),
                e["amount"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (MULE2.to_string(), 500_000_000_000_000_000_000),
            (EXCHANGE.to_string(), 400_000_000_000_000_000_000),
        ]
    );

    // With a price table each endpoint also carries its value on the day it arrived (block
    // times are in 2023-11-14), next to its exact amount; a bad table names line and field.
    let prices = work.path().join("prices.csv");
    std::fs::write(
        &prices,
        "date,chain,asset,decimals,price\n2023-11-13,evm-777,native,18,1990\n2023-11-14,evm-777,native,18,2000.5\n",
    )
    .unwrap();
    let priced = json(&ok(tracehound(
        &data,
        &[
            "--json",
            "trace",
            "--chain",
            "evm-777",
            "--source",
            THIEF,
            "--asset",
            "native",
            "--policy",
            "fifo",
            "--prices",
            prices.to_str().unwrap(),
        ],
    )));
    let mut fiat: Vec<(String, String)> = priced["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["address"].as_str().unwrap().to_lowercase(),
                e["fiat"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    fiat.sort();
    assert_eq!(
        fiat,
        vec![
            (MULE2.to_string(), "1000250.00".to_string()),
            (EXCHANGE.to_string(), "800200.00".to_string()),
        ]
    );
    std::fs::write(
        &prices,
        "date,chain,asset,decimals,price\n2023-11-14,evm-777,native,18,2.000,5\n",
    )
    .unwrap();
    let bad = tracehound(
        &data,
        &[
            "trace",
            "--chain",
            "evm-777",
            "--source",
            THIEF,
            "--prices",
            prices.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("prices.csv:2: expected 5 fields"), "{err}");

    // The same rows again are refused (already stored), and the store is unchanged.
    let before = digest(&data);
    let again = tracehound(&data, &["import", "transfers", csv.to_str().unwrap()]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains(":2: field block") && err.contains("already stored"),
        "{err}"
    );
    assert_eq!(digest(&data), before);

    // Later rows continue the same chain.
    let more = work.path().join("more.csv");
    std::fs::write(
        &more,
        [
            HEADER.to_string(),
            row(
                6,
                120,
                0,
                MULE2,
                EXCHANGE,
                "native",
                "500000000000000000000",
            ),
        ]
        .join("\n"),
    )
    .unwrap();
    ok(tracehound(
        &data,
        &["import", "transfers", more.to_str().unwrap()],
    ));
    let mule2 = address(MULE2);
    let native = &mule2[0]["balances"][0];
    assert_eq!(
        (
            native["asset"].as_str(),
            native["balance"].as_u64(),
            native["transfers"].as_u64()
        ),
        (Some("native"), Some(0), Some(2)),
        "{mule2}"
    );
}

#[test]
fn bad_files_are_refused_with_line_and_field_and_store_nothing() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("store");
    let good = row(1, 100, 0, VICTIM, THIEF, "native", "1000");
    let cases = [
        (
            format!(
                "{HEADER}\n{good}\n{}",
                row(2, 101, 0, THIEF, MULE1, "native", "12.5")
            ),
            ":3: field amount",
        ),
        (
            format!(
                "{HEADER}\n{good}\n{}",
                row(2, 101, 0, THIEF, "0xnope", "native", "1")
            ),
            ":3: field to",
        ),
        (
            format!("{HEADER}\n{}", good.replace("evm-777", "litecoin")),
            "UTXO chain",
        ),
        (format!("chain,amount\n{good}"), ":1: the header"),
        (
            format!(
                "{HEADER}\n{}\n{good}",
                row(2, 150, 0, THIEF, MULE1, "native", "1")
            ),
            ":3: field block",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let csv = work.path().join(format!("bad{i}.csv"));
        std::fs::write(&csv, text).unwrap();
        let out = tracehound(&data, &["import", "transfers", csv.to_str().unwrap()]);
        assert!(!out.status.success(), "case {i} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "case {i}: {err}");
        assert!(
            err.contains(&format!("bad{i}.csv")),
            "names the file: {err}"
        );
    }
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    assert!(
        store
            .tip(tracehound_core::Chain::Evm(777))
            .unwrap()
            .is_none()
    );
}
