//! Real node answers (bitcoin-etl's recorded `getblock` verbosity 2 and `getrawtransaction`
//! for mainnet blocks 50001–50002) through the RPC conversion: the blocks decode from the
//! node's own fields, inputs resolve against the recorded prevout transactions, and every
//! value, address and fee equals what bitcoin-etl exported. A tampered answer is refused.

use std::collections::HashMap;
use std::path::PathBuf;

use tracehound_btc::decode;
use tracehound_btc::from_rpc::{self, FromRpcError};
use tracehound_btc::rpc::RpcBlock;
use tracehound_core::{Chain, OutPoint, UtxoOutput};

fn dir() -> PathBuf {
    tracehound_btc::fixtures::shared_data(
        "btc/bitcoin-etl/test_export_blocks_job/bitcoin/stream_50001_50002",
    )
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

fn block(hash: &str) -> RpcBlock {
    serde_json::from_value(json(&format!("rpc_response_getblock_{hash}_2.json"))).unwrap()
}

const B50001: &str = "000000001c920d495e1eeef2452b6d1c6c229a919b28196c103ecffebabee141";
const B50002: &str = "000000002066d7f9b134c30b5005b7bf5fbfa52f279883f1fde793dcdc964266";

#[test]
fn recorded_answers_convert_and_resolve_like_bitcoin_etl() {
    let url = "http://recorded.invalid";
    let blocks: Vec<_> = [B50001, B50002]
        .iter()
        .map(|h| from_rpc::to_utxo_block(Chain::BitcoinMainnet, &block(h), url).unwrap())
        .collect();
    assert_eq!(blocks[0].block.height, 50001);
    assert_eq!(blocks[1].block.parent, blocks[0].block.hash);

    // Outputs of the recorded prevout transactions, plus those of these blocks as they come.
    let mut outputs: HashMap<OutPoint, UtxoOutput> = HashMap::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if let Some(txid) = name
            .strip_prefix("rpc_response_getrawtransaction_")
            .and_then(|n| n.strip_suffix(".json"))
        {
            let raw = json(&name);
            let d = decode::decode_transaction(
                &hex::decode(raw["hex"].as_str().unwrap()).unwrap(),
                Chain::BitcoinMainnet,
            )
            .unwrap();
            assert_eq!(d.txid.to_string(), txid);
            let tx = decode::to_utxo_tx(Chain::BitcoinMainnet, 0, &d);
            for (vout, o) in tx.outputs.into_iter().enumerate() {
                outputs.insert(
                    OutPoint {
                        txid: d.txid,
                        vout: vout as u32,
                    },
                    o,
                );
            }
        }
    }
    let mut expected = HashMap::new();
    for line in std::fs::read_to_string(dir().join("expected_transactions.json"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        expected.insert(v["hash"].as_str().unwrap().to_string(), v);
    }
    let mut checked = 0;
    for b in &blocks {
        for tx in &b.txs {
            let exp = &expected[&tx.txid.to_string()];
            let mut input_value = 0u128;
            for (input, e) in tx.inputs.iter().zip(exp["inputs"].as_array().unwrap()) {
                let spent = outputs
                    .remove(&input.prevout)
                    .expect("the prevout is among the recorded txs");
                input_value += spent.value.units();
                assert_eq!(spent.value.units().to_string(), e["value"].to_string());
                assert_eq!(
                    spent.address().unwrap().as_str(),
                    e["addresses"][0].as_str().unwrap()
                );
            }
            assert_eq!(input_value.to_string(), exp["input_value"].to_string());
            assert_eq!(
                tx.output_value().units().to_string(),
                exp["output_value"].to_string()
            );
            let fee = if tx.coinbase {
                0
            } else {
                input_value - tx.output_value().units()
            };
            assert_eq!(fee.to_string(), exp["fee"].to_string());
            for (vout, o) in tx.outputs.iter().enumerate() {
                outputs.insert(
                    OutPoint {
                        txid: tx.txid,
                        vout: vout as u32,
                    },
                    o.clone(),
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, expected.len());
}

#[test]
fn answers_that_disagree_with_their_bytes_are_refused() {
    let url = "http://recorded.invalid";
    let good = block(B50001);

    let mut wrong_value = good.clone();
    wrong_value.tx[1].vout[0].value = tracehound_core::Amount::from_units(1);
    let err = from_rpc::to_utxo_block(Chain::BitcoinMainnet, &wrong_value, url).unwrap_err();
    assert!(
        matches!(err, FromRpcError::Inconsistent { index: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("output 0 is worth"), "{err}");
    assert!(err.to_string().contains(B50001), "{err}");

    let mut wrong_txid = good.clone();
    wrong_txid.tx[0].txid = wrong_txid.tx[1].txid;
    assert!(matches!(
        from_rpc::to_utxo_block(Chain::BitcoinMainnet, &wrong_txid, url),
        Err(FromRpcError::Inconsistent { index: 0, .. })
    ));

    let mut bad_hex = good.clone();
    bad_hex.tx[0].hex.push('z');
    assert!(matches!(
        from_rpc::to_utxo_block(Chain::BitcoinMainnet, &bad_hex, url),
        Err(FromRpcError::NotHex { .. })
    ));

    let mut cut = good.clone();
    let half = (cut.tx[1].hex.len() / 2) & !1;
    cut.tx[1].hex.truncate(half);
    assert!(matches!(
        from_rpc::to_utxo_block(Chain::BitcoinMainnet, &cut, url),
        Err(FromRpcError::Decode { index: 1, .. })
    ));

    let mut dropped = good.clone();
    dropped.tx.pop();
    let err = from_rpc::to_utxo_block(Chain::BitcoinMainnet, &dropped, url).unwrap_err();
    assert!(
        matches!(err, FromRpcError::MerkleMismatch { count: 2, .. }),
        "{err}"
    );
    let mut unrooted = good.clone();
    unrooted.merkle_root = None;
    assert!(matches!(
        from_rpc::to_utxo_block(Chain::BitcoinMainnet, &unrooted, url),
        Err(FromRpcError::MerkleMismatch { .. })
    ));

    let mut orphan = good;
    orphan.previous_block_hash = None;
    assert!(matches!(
        from_rpc::to_utxo_block(Chain::BitcoinMainnet, &orphan, url),
        Err(FromRpcError::NoParent { .. })
    ));
}
