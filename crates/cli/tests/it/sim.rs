//! `tracehound sim run --on-nodes` with both nodes (a real anvil and a real
//! `litecoind -regtest`, started here), then `tracehound ingest btc --rpc` and
//! `tracehound ingest evm`: the store must hold every UTXO tx of the ground truth with its
//! inputs, outputs (value and address) and OP_RETURN memo, and every EVM tx with every
//! ground-truth transfer and its fee. And `--to-files` (no node): its blk files ingested with
//! `--blocks-dir` hold every ground-truth tx.
#![cfg(all(feature = "test-litecoind", feature = "test-anvil"))]

use std::path::Path;
use std::process::{Command, Output};

use tracehound_core::Chain;
use tracehound_sim::GroundTruth;
use tracehound_store::{Store, StoreOptions};

fn tracehound(data_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tracehound {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[cfg(all(feature = "test-litecoind", feature = "test-anvil"))]
#[test]
fn simulated_heist_on_both_chains_ingests_with_every_truth_output_and_transfer() {
    use tracehound_btc::testnode::Litecoind;
    use tracehound_core::Hash32;
    use tracehound_evm::testnode::Anvil;
    use tracehound_sim::{Asset, ContractKind};
    let anvil = Anvil::start().unwrap();
    let ltc = Litecoind::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("store");
    let played = crate::heist::play(work.path(), &data, &anvil, &ltc);
    let (truth_dir, report) = (played.truth_dir, played.report);
    assert!(report["utxo_txs"].as_u64().unwrap() > 30, "{report}");
    let truth: GroundTruth =
        serde_json::from_slice(&std::fs::read(truth_dir.join("truth.json")).unwrap()).unwrap();
    truth.check().unwrap();
    assert_eq!(
        truth.utxo_txs.len() as u64,
        report["utxo_txs"].as_u64().unwrap()
    );

    crate::heist::ingest_both(&data, &anvil, &ltc, None);

    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    for tx in &truth.utxo_txs {
        let txid: Hash32 = tx.txid.parse().unwrap();
        let found = store.tx(Some(Chain::LitecoinRegtest), &txid).unwrap();
        assert_eq!(
            found.len(),
            1,
            "{} ({}) not in the store",
            tx.txid,
            tx.purpose
        );
        let view = &found[0];
        assert_eq!(
            (u64::from(view.height), view.index),
            (tx.height, tx.index),
            "{}",
            tx.txid
        );
        assert_eq!(view.fee.units(), u128::from(tx.fee), "fee of {}", tx.txid);
        for (i, input) in tx.inputs.iter().enumerate() {
            let got = &view.inputs[i];
            assert_eq!(got.prev_txid.to_string(), input.txid);
            assert_eq!(got.prev_vout, input.vout);
            assert_eq!(got.address, input.address);
            assert_eq!(got.value.units(), u128::from(input.amount));
        }
        for o in &tx.outputs {
            let got = &view.outputs[o.vout as usize];
            assert_eq!(got.address.as_deref(), Some(o.address.as_str()));
            assert_eq!(got.value.units(), u128::from(o.amount));
        }
        if let Some(memo) = &tx.memo {
            let got = &view.outputs[tx.outputs.len()];
            assert_eq!(
                got.data.as_deref(),
                Some(hex::encode(memo).as_str()),
                "{}",
                tx.txid
            );
        }
    }
    let token = truth.contracts[&ContractKind::Stablecoin].clone();
    for tx in &truth.txs {
        let found = store
            .account_tx(Some(Chain::Evm(31337)), &tx.hash.parse().unwrap())
            .unwrap();
        assert_eq!(found.len(), 1, "{} not in the store", tx.hash);
        let mut stored = found[0].transfers.clone();
        let fee: u128 = stored
            .iter()
            .filter(|t| t.source.starts_with("fee:"))
            .map(|t| t.amount.units())
            .sum();
        assert_eq!(fee, tx.fee, "fee of {}", tx.hash);
        for t in &tx.transfers {
            let asset = match t.asset {
                Asset::Susd => token.as_str(),
                _ => "native",
            };
            let pos = stored.iter().position(|s| {
                s.asset.eq_ignore_ascii_case(asset)
                    && s.from.eq_ignore_ascii_case(&t.from)
                    && s.to.eq_ignore_ascii_case(&t.to)
                    && s.amount.units() == t.amount
            });
            let pos =
                pos.unwrap_or_else(|| panic!("{} ({}): {t:?} not stored", tx.hash, tx.purpose));
            stored.remove(pos);
        }
    }
    let labels = std::fs::read_to_string(truth_dir.join("labels.csv")).unwrap();
    assert!(labels.contains("litecoin-regtest,") && labels.contains(",bridge,"));
}

/// `tracehound sim run --to-files` writes blk files that `tracehound ingest btc --blocks-dir`
/// reads into a store holding every ground-truth tx (no node at all).
#[test]
fn simulated_heist_to_files_ingests_with_every_truth_tx() {
    let work = tempfile::tempdir().unwrap();
    let files = work.path().join("files");
    let truth_dir = work.path().join("truth");
    let data = work.path().join("store");
    let out = tracehound(
        &data,
        &[
            "--json",
            "sim",
            "run",
            "--to-files",
            files.to_str().unwrap(),
            "--out",
            truth_dir.to_str().unwrap(),
            "--blocks",
            "300",
            "--txs-per-block",
            "40",
            "--users",
            "300",
            "--seed",
            "4",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["blocks"], 301, "{report}");
    let truth: GroundTruth =
        serde_json::from_slice(&std::fs::read(truth_dir.join("truth.json")).unwrap()).unwrap();
    truth.check().unwrap();
    tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "litecoin-regtest",
            "--blocks-dir",
            files.join("blocks").to_str().unwrap(),
        ],
    );
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    let status = store.status().unwrap();
    assert_eq!(status[0].txs, report["txs"].as_u64().unwrap());
    assert!(truth.utxo_txs.len() > 10);
    for tx in &truth.utxo_txs {
        let found = store
            .tx(Some(Chain::LitecoinRegtest), &tx.txid.parse().unwrap())
            .unwrap();
        assert_eq!(found.len(), 1, "{} ({})", tx.txid, tx.purpose);
        for o in &tx.outputs {
            let got = &found[0].outputs[o.vout as usize];
            assert_eq!(got.address.as_deref(), Some(o.address.as_str()));
            assert_eq!(got.value.units(), u128::from(o.amount));
        }
    }
}
