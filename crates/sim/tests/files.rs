//! `--to-files`: the UTXO heist written straight into Core-format blk files. The files must
//! read back as a best chain from the real `litecoin-regtest` genesis and go into the store,
//! which must then hold every ground-truth tx with its inputs and outputs; the truth must be
//! consistent and cover every part of the playbook; the same seed must write byte-identical
//! files and truth; impossible configs are refused before anything is written.

use tracehound_btc::fixtures::best_chain_blocks;
use tracehound_core::{Chain, Hash32};
use tracehound_sim::truth::RestingKind;
use tracehound_sim::{Asset, FilesConfig, write_to_files};
use tracehound_store::{Store, StoreOptions};

fn small(seed: u64) -> FilesConfig {
    FilesConfig {
        seed,
        blocks: 320,
        txs_per_block: 60,
        users: 400,
        exchanges: 3,
        fan_out: 6,
        hops: 4,
        coinjoin_peers: 4,
        ..FilesConfig::default()
    }
}

#[test]
fn files_read_back_into_the_store_with_every_truth_tx() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, truth) = write_to_files(dir.path(), &small(3)).unwrap();
    eprintln!("{summary:?}");
    truth.check().unwrap();
    assert_eq!(summary.blocks, 321);
    // Background traffic runs once the faucet has funded the world (block 221).
    assert!(summary.txs > 100 * 30, "{summary:?}");

    let blocks = best_chain_blocks(&dir.path().join("blocks"), Chain::LitecoinRegtest);
    assert_eq!(blocks.len() as u64, summary.blocks);
    let txs: u64 = blocks.iter().map(|b| b.txs.len() as u64).sum();
    assert_eq!(txs, summary.txs);
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_dir.path(), &StoreOptions::default()).unwrap();
    store.apply_utxo_blocks(&blocks).unwrap();
    for tx in &truth.utxo_txs {
        let txid: Hash32 = tx.txid.parse().unwrap();
        let found = store.tx(Some(Chain::LitecoinRegtest), &txid).unwrap();
        assert_eq!(found.len(), 1, "{} ({})", tx.txid, tx.purpose);
        let view = &found[0];
        assert_eq!((u64::from(view.height), view.index), (tx.height, tx.index));
        assert_eq!(view.fee.units(), u128::from(tx.fee));
        for (i, input) in tx.inputs.iter().enumerate() {
            assert_eq!(view.inputs[i].prev_txid.to_string(), input.txid);
            assert_eq!(view.inputs[i].address, input.address);
            assert_eq!(view.inputs[i].value.units(), u128::from(input.amount));
        }
        for o in &tx.outputs {
            let got = &view.outputs[o.vout as usize];
            assert_eq!(got.address.as_deref(), Some(o.address.as_str()));
            assert_eq!(got.value.units(), u128::from(o.amount));
        }
    }

    // Every part of the playbook, and the stolen value resting at exchanges, the exit and
    // (through the CoinJoin) elsewhere.
    for kind in ["fan_out", "peel_chain", "coinjoin", "privacy_exit"] {
        assert!(truth.patterns.iter().any(|p| p.kind == kind), "no {kind}");
    }
    for kind in [RestingKind::ExchangeDeposit, RestingKind::PrivacyExit] {
        assert!(
            truth.resting_total(kind, Asset::Ltc) > 0,
            "nothing {kind:?}"
        );
    }
    let rested: u128 = truth.resting.iter().map(|r| r.stolen).sum();
    assert_eq!(rested, truth.incident.stolen[0].amount);
    assert!(truth.utxo_txs.len() > 20);
    // Every address has its entity.
    assert!(truth.addresses.len() > 800);
    assert!(truth.addresses.iter().all(|a| !a.entity.is_empty()));
}

#[test]
fn same_seed_same_bytes_and_bad_configs_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (_, ta) = write_to_files(a.path(), &small(9)).unwrap();
    let (_, tb) = write_to_files(b.path(), &small(9)).unwrap();
    assert_eq!(
        serde_json::to_string(&ta).unwrap(),
        serde_json::to_string(&tb).unwrap()
    );
    let read = |d: &std::path::Path| std::fs::read(d.join("blocks/blk00000.dat")).unwrap();
    assert_eq!(read(a.path()), read(b.path()));
    // Into a directory that already has block files: refused.
    let e = write_to_files(a.path(), &small(9)).unwrap_err().to_string();
    assert!(e.contains("already holds block files"), "{e}");

    let err = |c: FilesConfig| {
        let d = tempfile::tempdir().unwrap();
        write_to_files(d.path(), &c).unwrap_err().to_string()
    };
    let e = err(FilesConfig {
        stolen: 1_000_000 * 100_000_000,
        ..small(1)
    });
    assert!(e.contains("what the hacked service holds"), "{e}");
    let e = err(FilesConfig {
        blocks: 50,
        ..small(1)
    });
    assert!(e.contains("blocks is 50"), "{e}");
    let e = err(FilesConfig {
        users: 0,
        ..small(1)
    });
    assert!(e.contains("users is 0"), "{e}");
}

fn small_evm(seed: u64) -> tracehound_sim::EvmFilesConfig {
    tracehound_sim::EvmFilesConfig {
        seed,
        blocks: 120,
        txs_per_block: 30,
        users: 200,
        fan_out: 6,
        hops: 4,
        ..tracehound_sim::EvmFilesConfig::default()
    }
}

/// The EVM side: a consistent truth (checked on write), every stolen-carrying tx of the truth
/// is a row of the transfer list with the same amount, the same seed gives the same bytes, and
/// impossible configs are refused.
#[test]
fn evm_transfer_list_matches_its_truth_and_is_deterministic() {
    use tracehound_sim::{Asset, RestingKind, write_evm_to_files};
    let dir = tempfile::tempdir().unwrap();
    let (summary, truth) = write_evm_to_files(&dir.path().join("a"), &small_evm(5)).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("a/transfers.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, summary.transfers);
    assert_eq!(summary.transfers, 120 * 30 + truth.txs.len() as u64);
    let by_hash: std::collections::HashMap<&str, &str> = rows
        .iter()
        .map(|r| (r.split(',').nth(1).unwrap(), *r))
        .collect();
    for tx in &truth.txs {
        let row = by_hash[tx.hash.as_str()];
        let t = &tx.transfers[0];
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[5], t.from);
        assert_eq!(fields[6], t.to);
        assert_eq!(fields[8], t.amount.to_string());
        assert_eq!(fields[7] == "native", t.asset == Asset::Eth);
    }
    // Every stolen unit rests somewhere: exchange deposits and held addresses only.
    for (asset, stolen) in [
        (Asset::Eth, small_evm(5).stolen_eth),
        (Asset::Susd, small_evm(5).stolen_usd),
    ] {
        let at = |k| truth.resting_total(k, asset);
        assert_eq!(
            at(RestingKind::ExchangeDeposit) + at(RestingKind::Held),
            stolen
        );
        assert!(at(RestingKind::ExchangeDeposit) > stolen / 2);
    }
    assert!(truth.patterns.iter().any(|p| p.kind == "peel_chain"));
    let (_, again) = write_evm_to_files(&dir.path().join("b"), &small_evm(5)).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("b/transfers.csv")).unwrap(),
        csv.as_bytes()
    );
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&truth).unwrap()
    );
    for bad in [
        tracehound_sim::EvmFilesConfig {
            blocks: 3,
            ..small_evm(5)
        },
        tracehound_sim::EvmFilesConfig {
            fan_out: 1,
            ..small_evm(5)
        },
        tracehound_sim::EvmFilesConfig {
            stolen_eth: 10,
            ..small_evm(5)
        },
    ] {
        let err = write_evm_to_files(&dir.path().join("c"), &bad).unwrap_err();
        assert!(
            err.to_string().contains("evm") || err.to_string().contains("stolen"),
            "{err}"
        );
    }
}
