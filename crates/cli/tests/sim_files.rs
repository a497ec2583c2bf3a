//! The simulator's large mode, EVM side, end to end without a node: `tracehound sim run
//! --to-files` writes a transfer list and its truth, `tracehound import transfers` stores it
//! with every truth transfer, and a haircut trace from the thief finds the stolen ether at the
//! truth's resting places.

use std::collections::BTreeMap;
mod common;

use std::path::Path;
use std::process::Output;

use tracehound_core::Chain;
use tracehound_sim::{Asset, GroundTruth};
use tracehound_store::{Store, StoreOptions};

fn tracehound(data_dir: &Path, args: &[&str]) -> Output {
    common::ok(common::tracehound(data_dir, args))
}

#[test]
fn evm_files_import_and_trace_to_the_truths_resting_places() {
    let work = tempfile::tempdir().unwrap();
    let sim = common::SimFiles::generate(work.path());
    let (truth_dir, data) = (sim.truth.clone(), sim.data.clone());
    let truth: GroundTruth =
        serde_json::from_slice(&std::fs::read(truth_dir.join("evm").join("truth.json")).unwrap())
            .unwrap();
    truth.check().unwrap();
    sim.import_evm();

    // Every stolen-carrying transfer of the truth is stored as it is.
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    for tx in &truth.txs {
        let found = store
            .account_tx(Some(Chain::Evm(31_337)), &tx.hash.parse().unwrap())
            .unwrap();
        assert_eq!(found.len(), 1, "{} ({})", tx.hash, tx.purpose);
        let (t, s) = (&tx.transfers[0], &found[0].transfers[0]);
        assert!(s.from.eq_ignore_ascii_case(&t.from) && s.to.eq_ignore_ascii_case(&t.to));
        assert_eq!(s.amount.units(), t.amount);
    }
    drop(store);

    // A haircut trace from the thief puts the stolen ether where the truth says it rests.
    let thief = truth.txs[0].transfers[0].to.clone();
    let labels = truth_dir.join("evm").join("labels.csv");
    let traced: serde_json::Value = serde_json::from_slice(
        &tracehound(
            &data,
            &[
                "--json",
                "trace",
                "--chain",
                "evm-31337",
                "--source",
                &thief,
                "--asset",
                "native",
                "--policy",
                "haircut",
                "--labels",
                labels.to_str().unwrap(),
            ],
        )
        .stdout,
    )
    .unwrap();
    let mut found: BTreeMap<String, u128> = BTreeMap::new();
    for e in traced["endpoints"].as_array().unwrap() {
        *found
            .entry(e["address"].as_str().unwrap().to_lowercase())
            .or_default() += e["amount"].as_str().unwrap().parse::<u128>().unwrap();
    }
    let stolen: u128 = truth
        .incident
        .stolen
        .iter()
        .filter(|a| a.asset == Asset::Eth)
        .map(|a| a.amount)
        .sum();
    let located: u128 = truth
        .resting
        .iter()
        .filter(|r| r.asset == Asset::Eth)
        .map(|r| {
            let at = r.address.as_deref().unwrap_or_default().to_lowercase();
            r.stolen.min(found.get(&at).copied().unwrap_or(0))
        })
        .sum();
    // The launderer's addresses hold only stolen ether, so every policy locates all of it.
    assert_eq!(located, stolen, "{traced}");
    let summary = &traced["summary"]["assets"][0];
    assert_eq!(summary["stolen"].as_str().unwrap(), stolen.to_string());
}

/// The simulator's UTXO heist replayed block by block from the drain on (block 241 of 300): the
/// live trace, extended at each block (parked outputs followed as they are spent), equals a
/// full trace after every one, under haircut and FIFO, with no start-over (no links here).
#[test]
fn utxo_live_trace_equals_a_full_trace_after_every_block() {
    let work = tempfile::tempdir().unwrap();
    let sim = common::SimFiles::generate(work.path());
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.truth.join("truth.json")).unwrap()).unwrap();
    let stolen_tx = raw["incident"]["txs"][0].as_str().unwrap();
    let blocks = sim.files.join("blocks");
    let out = tracehound(
        &sim.data,
        &[
            "--json",
            "bench",
            "live",
            "--blocks-dir",
            blocks.to_str().unwrap(),
            "--network",
            "litecoin-regtest",
            "--tx",
            stolen_tx,
            "--from",
            "241",
            "--max-hops",
            "64",
            "--policy",
            "haircut",
            "--policy",
            "fifo",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = report["blocks"].as_u64().unwrap();
    assert_eq!(steps, 59, "{report}");
    for p in report["policies"].as_array().unwrap() {
        assert_eq!(p["compared"].as_u64(), Some(steps), "{p}");
        assert_eq!(p["differences"].as_u64(), Some(0), "{p}");
        assert_eq!(p["extended"].as_u64(), Some(steps), "{p}");
        assert!(
            p["endpoints"].as_u64().unwrap() > 10,
            "a trace worth extending: {p}"
        );
    }
}
