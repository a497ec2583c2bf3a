//! Recorded mainnet answers (ethereum-etl's fixtures) served by a local JSON-RPC replay
//! server: the client must extract what ethereum-etl extracted from the same answers (values,
//! from, to, token, log index, trace address), and must refuse tampered answers with errors
//! naming block, tx and field.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Recorded, Server, read_csv, read_json_lines, shared_data};
use serde_json::{Value, json};
use tracehound_core::{Address, AssetId, Chain, TransferKind};
use tracehound_evm::traces::ForkRules;
use tracehound_evm::{
    BlockingEvmClient, ClientOptions, EvmError, FeePart, MintKind, OversizedAmounts, RpcOptions,
    TraceFlavour, TraceMode, TransferSource, TxStatus,
};

const ETH: Chain = Chain::Evm(1);

fn quick() -> ClientOptions {
    ClientOptions {
        rpc: RpcOptions {
            retries: 2,
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            timeout: Duration::from_secs(5),
            receipt_wait: Duration::from_millis(300),
            receipt_poll_interval: Duration::from_millis(50),
            ..RpcOptions::default()
        },
        ..ClientOptions::default()
    }
}

fn addr(text: &str) -> Address {
    Address::parse(ETH, text).unwrap()
}

/// Block 483920 (Nov 2015): 4 txs, 2 ERC-20 transfers, pre-Byzantium receipts.
fn block_483920() -> Recorded {
    Recorded::load(&[
        "test_export_blocks_job/block_with_logs",
        "test_export_receipts_job/receipts_with_logs",
    ])
}

#[test]
fn block_483920_matches_ethereum_etl() {
    let server = Server::start(block_483920().handler(1, 500_000));
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    // ethereum-etl's fixture has no traces: the client says so and goes on.
    assert_eq!(client.trace_flavour(), None);
    let note = client.trace_note().unwrap();
    assert!(
        note.contains("no call traces") && note.contains("trace_block"),
        "{note}"
    );

    let block = client.fetch_block(483_920).unwrap();
    // eth_getBlockReceipts is not recorded: receipts came tx by tx.
    assert_eq!(server.count("eth_getBlockReceipts"), 1);
    assert_eq!(server.count("eth_getTransactionReceipt"), 4);

    let dir = "evm/ethereum-etl/test_export_blocks_job/block_with_logs";
    let expected_block = &read_csv(&shared_data(&format!("{dir}/expected_blocks.csv")))[0];
    assert_eq!(block.block.height.to_string(), expected_block["number"]);
    assert_eq!(format!("0x{}", block.block.hash), expected_block["hash"]);
    assert_eq!(
        format!("0x{}", block.block.parent),
        expected_block["parent_hash"]
    );
    assert_eq!(block.block.time.to_string(), expected_block["timestamp"]);
    assert_eq!(block.miner.as_str(), expected_block["miner"]);
    assert_eq!(block.block.chainwork, None);
    assert!(
        block.rewards_missing,
        "a PoW block without Parity traces misses its reward"
    );

    let expected_txs = read_csv(&shared_data(&format!("{dir}/expected_transactions.csv")));
    let receipts = read_csv(&shared_data(
        "evm/ethereum-etl/test_export_receipts_job/receipts_with_logs/expected_receipts.csv",
    ));
    assert_eq!(block.txs.len(), expected_txs.len());
    for (tx, e) in block.txs.iter().zip(&expected_txs) {
        assert_eq!(format!("0x{}", tx.hash), e["hash"]);
        assert_eq!(tx.index.to_string(), e["transaction_index"]);
        assert_eq!(tx.from.as_str(), e["from_address"]);
        assert_eq!(tx.to.as_ref().unwrap().as_str(), e["to_address"]);
        assert_eq!(tx.value.units().to_string(), e["value"]);
        // Pre-Byzantium receipts carry no status, and there are no traces to tell.
        assert_eq!(tx.status, TxStatus::Unknown);
        let r = receipts
            .iter()
            .find(|r| r["transaction_hash"] == e["hash"])
            .unwrap();
        assert_eq!(tx.gas_used.to_string(), r["gas_used"]);
        assert_eq!(tx.effective_gas_price.to_string(), r["effective_gas_price"]);
    }

    // Native value: exactly the txs with value.
    let native: Vec<_> = block
        .transfers
        .iter()
        .filter(|t| t.transfer.kind == TransferKind::Native)
        .map(|t| {
            let t = &t.transfer;
            (
                format!("0x{}", t.tx.txid),
                t.from.to_string(),
                t.to.to_string(),
                t.amount.units().to_string(),
            )
        })
        .collect();
    let expected_native: Vec<_> = expected_txs
        .iter()
        .filter(|e| e["value"] != "0")
        .map(|e| {
            (
                e["hash"].clone(),
                e["from_address"].clone(),
                e["to_address"].clone(),
                e["value"].clone(),
            )
        })
        .collect();
    assert_eq!(native, expected_native);

    // Fees: before London, gas used × gas price, all to the miner.
    for tx in &block.txs {
        let fees: Vec<_> = block
            .transfers
            .iter()
            .filter(|t| t.transfer.tx.txid == tx.hash && t.transfer.kind == TransferKind::Fee)
            .collect();
        assert_eq!(fees.len(), 1);
        assert_eq!(fees[0].source, TransferSource::Fee(FeePart::Legacy));
        assert_eq!(fees[0].transfer.to, block.miner);
        assert_eq!(fees[0].transfer.from, tx.from);
        assert_eq!(
            fees[0].transfer.amount.units(),
            u128::from(tx.gas_used) * tx.effective_gas_price
        );
    }

    // Tokens: what ethereum-etl extracted.
    let expected_tokens = read_csv(&shared_data(
        "evm/ethereum-etl/test_export_token_transfers_job/block_with_transfers/expected_token_transfers.csv",
    ));
    let tokens: Vec<_> = block
        .transfers
        .iter()
        .filter(|t| t.transfer.kind == TransferKind::Token)
        .map(|t| {
            let TransferSource::Log { log_index, .. } = t.source else {
                panic!("token transfer not from a log")
            };
            let AssetId::Contract(token) = &t.transfer.asset else {
                panic!("token transfer of the native asset")
            };
            (
                token.to_string(),
                t.transfer.from.to_string(),
                t.transfer.to.to_string(),
                t.transfer.amount.units().to_string(),
                format!("0x{}", t.transfer.tx.txid),
                log_index.to_string(),
            )
        })
        .collect();
    let expected: Vec<_> = expected_tokens
        .iter()
        .map(|e| {
            (
                e["token_address"].clone(),
                e["from_address"].clone(),
                e["to_address"].clone(),
                e["value"].clone(),
                e["transaction_hash"].clone(),
                e["log_index"].clone(),
            )
        })
        .collect();
    assert_eq!(tokens, expected);

    // Order and numbering: (tx index, sub-index) strictly increasing, sub-index dense per tx.
    let keys: Vec<_> = block
        .core_transfers()
        .map(|t| (t.tx.index, t.sub_index))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    // The token's metadata was asked (not recorded: the replay answers null, so unknown).
    assert_eq!(block.tokens.len(), 1);
    assert_eq!(
        block.tokens[0].address,
        addr("0xf4eced2f682ce333f96f2d8966c613ded8fc95dd")
    );
    assert_eq!(block.tokens[0].symbol, None);
}

#[test]
fn blocks_1755634_to_1755635_match_ethereum_etl() {
    let server = Server::start(
        Recorded::load(&["test_stream/blocks_1755634_1755635"]).handler(1, 1_755_635),
    );
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    let blocks = client.fetch_blocks(1_755_634..=1_755_635).unwrap();
    // One batch for both blocks.
    assert_eq!(server.count("eth_getBlockByNumber"), 2);
    let dir = "evm/ethereum-etl/test_stream/blocks_1755634_1755635";
    let expected_blocks = read_json_lines(&shared_data(&format!("{dir}/expected_blocks.json")));
    for (b, e) in blocks.iter().zip(&expected_blocks) {
        assert_eq!(b.block.height.to_string(), e["number"].to_string());
        assert_eq!(format!("0x{}", b.block.hash), e["hash"].as_str().unwrap());
        assert_eq!(b.txs.len().to_string(), e["transaction_count"].to_string());
    }
    let expected_txs = read_json_lines(&shared_data(&format!("{dir}/expected_transactions.json")));
    let txs: Vec<_> = blocks.iter().flat_map(|b| &b.txs).collect();
    assert_eq!(txs.len(), expected_txs.len());
    for (tx, e) in txs.iter().zip(&expected_txs) {
        assert_eq!(format!("0x{}", tx.hash), e["hash"].as_str().unwrap());
        assert_eq!(tx.from.as_str(), e["from_address"].as_str().unwrap());
        assert_eq!(tx.value.units().to_string(), e["value"].to_string());
        assert_eq!(tx.gas_used.to_string(), e["receipt_gas_used"].to_string());
        assert_eq!(
            tx.effective_gas_price.to_string(),
            e["receipt_effective_gas_price"].to_string()
        );
    }
    let expected_tokens = read_json_lines(&shared_data(&format!(
        "{dir}/expected_token_transfers.json"
    )));
    let tokens: Vec<_> = blocks
        .iter()
        .flat_map(|b| &b.transfers)
        .filter(|t| t.transfer.kind == TransferKind::Token)
        .collect();
    assert_eq!(tokens.len(), expected_tokens.len());
    for (t, e) in tokens.iter().zip(&expected_tokens) {
        let TransferSource::Log { log_index, .. } = t.source else {
            panic!()
        };
        assert_eq!(
            t.transfer.asset,
            AssetId::Contract(addr(e["token_address"].as_str().unwrap()))
        );
        assert_eq!(
            t.transfer.from.as_str(),
            e["from_address"].as_str().unwrap()
        );
        assert_eq!(t.transfer.to.as_str(), e["to_address"].as_str().unwrap());
        assert_eq!(
            t.transfer.amount.units().to_string(),
            e["value"].to_string()
        );
        assert_eq!(log_index.to_string(), e["log_index"].to_string());
        assert_eq!(
            t.transfer.tx.height.to_string(),
            e["block_number"].to_string()
        );
    }
}

#[test]
fn genesis_block_has_no_transfers() {
    let server = Server::start(
        Recorded::load(&["test_export_blocks_job/block_without_transactions"]).handler(1, 0),
    );
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    let b = client.fetch_block(0).unwrap();
    assert_eq!(
        b.block.hash.to_string(),
        "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
    );
    assert!(b.txs.is_empty() && b.transfers.is_empty());
    // Genesis allocations are state, not transfers; nothing is missing in block 0.
    assert!(!b.rewards_missing);
}

/// One row of ethereum-etl's expected traces that moves value, as (tx index, trace address,
/// from, to, value); rewards as (author, value).
type Move = (u32, Vec<u32>, String, String, String);

fn expected_moves(csv: &str) -> (Vec<Move>, Vec<(String, String)>) {
    let mut moves = Vec::new();
    let mut rewards = Vec::new();
    for row in read_csv(&shared_data(csv)) {
        let value = &row["value"];
        if value.is_empty() || value == "0" || row["status"] == "0" {
            continue;
        }
        if row["trace_type"] == "reward" {
            rewards.push((row["to_address"].clone(), value.clone()));
            continue;
        }
        if row["trace_address"].is_empty() {
            continue; // the tx itself: its Native transfer
        }
        if row["trace_type"] == "call" && row["call_type"] != "call" {
            continue; // callcode/delegatecall/staticcall move nothing
        }
        let address = row["trace_address"]
            .split(',')
            .map(|i| i.parse().unwrap())
            .collect();
        moves.push((
            row["transaction_index"].parse().unwrap(),
            address,
            row["from_address"].clone(),
            row["to_address"].clone(),
            value.clone(),
        ));
    }
    (moves, rewards)
}

fn reduced_moves(traces: &tracehound_evm::traces::BlockTraces) -> Vec<Move> {
    traces
        .txs
        .iter()
        .enumerate()
        .flat_map(|(i, tx)| {
            tx.transfers.iter().map(move |t| {
                (
                    i as u32,
                    t.trace_address.clone(),
                    format!("{:#x}", t.from),
                    t.to.map(|a| format!("{a:#x}")).unwrap_or_default(),
                    t.value.to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn parity_and_geth_traces_match_ethereum_etl_and_each_other() {
    let cases = [
        ("block_with_subtraces", 1_000_000u64),
        ("block_with_create", 1_000_690),
        ("block_with_error", 1_000_895),
        ("block_with_suicide", 1_011_973),
    ];
    let dirs: Vec<String> = cases
        .iter()
        .flat_map(|(c, _)| {
            [
                format!("test_export_traces_job/{c}"),
                format!("test_extract_geth_traces_job/{c}"),
            ]
        })
        .collect();
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let server = Server::start(Recorded::load(&dirs).handler(1, 2_000_000));
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    // trace_block answers (unrecorded blocks with null): it is the flavour chosen.
    assert_eq!(client.trace_flavour(), Some(TraceFlavour::ParityBlock));
    let rules = ForkRules { cancun: false };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut compared = 0;
    for (case, height) in cases {
        let parity = rt
            .block_on(
                client
                    .inner()
                    .block_traces(height, TraceFlavour::ParityBlock, rules),
            )
            .unwrap();
        let (moves, rewards) = expected_moves(&format!(
            "evm/ethereum-etl/test_export_traces_job/{case}/expected_traces.csv"
        ));
        assert_eq!(reduced_moves(&parity), moves, "{case}");
        let got_rewards: Vec<_> = parity
            .rewards
            .iter()
            .map(|r| {
                assert_eq!(r.kind, MintKind::BlockReward);
                (format!("{:#x}", r.author), r.value.to_string())
            })
            .collect();
        assert_eq!(got_rewards, rewards, "{case}");
        compared += moves.len() + rewards.len();

        let geth = rt.block_on(client.inner().block_traces(
            height,
            TraceFlavour::GethCallTracer,
            rules,
        ));
        if case == "block_with_suicide" {
            // Old geth wrote SELFDESTRUCT frames without balance: refused, never guessed.
            let err = geth.unwrap_err().to_string();
            assert!(
                err.contains("SELFDESTRUCT") && err.contains("block 1011973"),
                "{err}"
            );
            continue;
        }
        let geth = geth.unwrap();
        assert_eq!(
            reduced_moves(&geth),
            moves,
            "{case}: geth differs from parity"
        );
        let failed: Vec<bool> = geth.txs.iter().map(|t| t.failed).collect();
        let parity_failed: Vec<bool> = parity.txs.iter().map(|t| t.failed).collect();
        assert_eq!(failed, parity_failed, "{case}");
    }
    // The suicide (0.05 ETH back to its owner) and the reward rows at least.
    assert!(compared >= 5, "{compared}");
}

#[test]
fn token_metadata_tolerates_bytes32_and_odd_answers() {
    let server = Server::start(
        Recorded::load(&[
            "test_export_tokens_job/token_with_alternative_return_type",
            "test_export_tokens_job/token_with_invalid_data",
            "test_stream/blocks_2112234_2112234",
        ])
        // The fixture's chain id is 0x1234.
        .handler(0x1234, 3_000_000),
    );
    let client = BlockingEvmClient::connect(server.url(), Chain::Evm(0x1234), quick()).unwrap();
    for (dir, token) in [
        (
            "test_export_tokens_job/token_with_alternative_return_type",
            "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0",
        ),
        (
            "test_export_tokens_job/token_with_invalid_data",
            "0xf763be8b3263c268e9789abfb3934564a7b80054",
        ),
    ] {
        let expected = &read_csv(&shared_data(&format!(
            "evm/ethereum-etl/{dir}/expected_tokens.csv"
        )))[0];
        let m = client
            .token_metadata(&Address::parse(Chain::Evm(0x1234), token).unwrap())
            .unwrap();
        assert_eq!(m.symbol.unwrap_or_default(), expected["symbol"], "{token}");
        assert_eq!(m.name.unwrap_or_default(), expected["name"], "{token}");
        assert_eq!(
            m.decimals.unwrap().to_string(),
            expected["decimals"],
            "{token}"
        );
    }
    let expected = &read_json_lines(&shared_data(
        "evm/ethereum-etl/test_stream/blocks_2112234_2112234/expected_tokens.json",
    ))[0];
    let token = Address::parse(Chain::Evm(0x1234), expected["address"].as_str().unwrap()).unwrap();
    let m = client.token_metadata(&token).unwrap();
    assert_eq!(
        m.symbol.unwrap_or_default(),
        expected["symbol"].as_str().unwrap()
    );
    assert_eq!(
        m.name.unwrap_or_default(),
        expected["name"].as_str().unwrap()
    );
    assert_eq!(
        m.decimals.unwrap().to_string(),
        expected["decimals"].to_string()
    );
    // Cached: asked once.
    let calls = server.count("eth_call");
    client.token_metadata(&token).unwrap();
    assert_eq!(server.count("eth_call"), calls);
}

// ---- bad input ----

fn fetch_tampered(
    tamper: impl FnOnce(&mut Recorded),
    options: ClientOptions,
) -> Result<tracehound_evm::EvmBlock, EvmError> {
    let mut recorded = block_483920();
    tamper(&mut recorded);
    let server = Server::start(recorded.handler(1, 500_000));
    let client = BlockingEvmClient::connect(server.url(), ETH, options).unwrap();
    client.fetch_block(483_920)
}

const TX0: &str = "0x04cbcb236043d8fb7839e07bbc7f5eed692fb2ca55d897f1101eac3e3ad4fab8";
const TX1: &str = "0xcea6f89720cc1d2f46cc7a935463ae0b99dd5fad9c91bb7357de5421511cee49";
const TX2: &str = "0x463d53f0ad57677a3b430a007c1c31d15d62c37fab5eee598551697c297c235c";

fn receipt<'a>(r: &'a mut Recorded, tx: &str) -> &'a mut Value {
    r.get_mut("eth_getTransactionReceipt", &json!([tx]))
}

fn expect_error(result: Result<tracehound_evm::EvmBlock, EvmError>, needles: &[&str]) -> EvmError {
    let err = result.expect_err("tampered answers must be refused");
    let text = err.to_string();
    for n in needles {
        assert!(text.contains(n), "{n:?} not in: {text}");
    }
    err
}

#[test]
fn receipt_for_a_tx_not_in_the_block_is_refused() {
    let other = "0x1111111111111111111111111111111111111111111111111111111111111111";
    let err = expect_error(
        fetch_tampered(
            |r| receipt(r, TX2)["transactionHash"] = json!(other),
            quick(),
        ),
        &[
            "block 483920",
            other.trim_start_matches("0x"),
            "transactionHash",
            "not in the block",
        ],
    );
    assert!(matches!(err, EvmError::Inconsistent { .. }));
}

#[test]
fn log_index_gap_is_refused() {
    expect_error(
        fetch_tampered(
            |r| receipt(r, TX1)["logs"][0]["logIndex"] = json!("0x2"),
            quick(),
        ),
        &[
            "block 483920",
            TX1.trim_start_matches("0x"),
            "log index 2",
            "logIndex",
            "expected log index 1",
        ],
    );
}

#[test]
fn receipt_from_another_block_is_refused() {
    expect_error(
        fetch_tampered(
            |r| {
                receipt(r, TX0)["blockHash"] =
                    json!("0x2222222222222222222222222222222222222222222222222222222222222222")
            },
            quick(),
        ),
        &[
            "block 483920",
            TX0.trim_start_matches("0x"),
            "blockHash",
            "reorganised",
        ],
    );
}

#[test]
fn wrong_shapes_name_the_field() {
    let err = expect_error(
        fetch_tampered(
            |r| {
                let block = r.get_mut("eth_getBlockByNumber", &json!(["0x76250", true]));
                block["transactions"][2]["value"] = json!("twelve");
            },
            quick(),
        ),
        &[
            "eth_getBlockByNumber",
            "block 483920",
            "transactions[2].value",
        ],
    );
    assert!(matches!(err, EvmError::Malformed { .. }));
    expect_error(
        fetch_tampered(
            |r| {
                receipt(r, TX1).as_object_mut().unwrap().remove("gasUsed");
            },
            quick(),
        ),
        &[
            "eth_getTransactionReceipt",
            TX1.trim_start_matches("0x"),
            "gasUsed",
        ],
    );
    expect_error(
        fetch_tampered(|r| receipt(r, TX0)["logs"] = json!("none"), quick()),
        &["eth_getTransactionReceipt", "logs"],
    );
}

#[test]
fn huge_token_value_is_refused_or_skipped_never_truncated() {
    let huge = format!("0x{}", "f".repeat(64));
    let tamper = |r: &mut Recorded| receipt(r, TX1)["logs"][0]["data"] = json!(huge);
    let err = expect_error(
        fetch_tampered(tamper, quick()),
        &[
            "block 483920",
            TX1.trim_start_matches("0x"),
            "log index 1",
            "`value`",
            "does not fit 128 bits",
        ],
    );
    assert!(matches!(err, EvmError::AmountOverflow { .. }));
    let skip = ClientOptions {
        oversized: OversizedAmounts::Skip,
        ..quick()
    };
    let block = fetch_tampered(tamper, skip).unwrap();
    assert_eq!(block.skipped.len(), 1);
    assert_eq!(block.skipped[0].log_index, Some(1));
    let tokens = block
        .transfers
        .iter()
        .filter(|t| t.transfer.kind == TransferKind::Token)
        .count();
    assert_eq!(tokens, 1);
}

#[test]
fn missing_receipts_are_polled_then_reported() {
    // ethereum-etl recorded these blocks without receipts: the node "has not indexed them".
    let server = Server::start(
        Recorded::load(&[
            "test_export_blocks_job/blocks_with_transactions",
            "test_export_receipts_job/receipts_with_logs",
        ])
        .handler(1, 50_000),
    );
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    let err = client.fetch_block(47_218).unwrap_err();
    assert!(matches!(err, EvmError::ReceiptsUnavailable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("block 47218") && text.contains(server.url()),
        "{text}"
    );
    // It asked more than once before giving up.
    assert!(server.count("eth_getTransactionReceipt") > 2);
}

#[test]
fn receipts_appearing_late_are_waited_for() {
    let recorded = block_483920();
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let inner = recorded.handler(1, 500_000);
    let a = asked.clone();
    // The first two rounds of receipt calls answer null, as a node still indexing does.
    let server = Server::start(Arc::new(move |method: &str, params: &Value| {
        if method == "eth_getTransactionReceipt"
            && a.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 8
        {
            return Ok(Value::Null);
        }
        inner(method, params)
    }));
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    let block = client.fetch_block(483_920).unwrap();
    assert_eq!(block.txs.len(), 4);
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 12);
}

#[test]
fn wrong_chain_is_refused() {
    let server = Server::start(block_483920().handler(1, 500_000));
    let err = BlockingEvmClient::connect(server.url(), Chain::Evm(56), quick()).unwrap_err();
    assert!(
        matches!(
            err,
            EvmError::ChainMismatch {
                expected: 56,
                actual: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("chain id 1"), "{err}");
    let err = BlockingEvmClient::connect(server.url(), Chain::BitcoinMainnet, quick()).unwrap_err();
    assert!(err.to_string().contains("not an EVM chain"), "{err}");
}

#[test]
fn trace_hash_mismatch_is_refused() {
    // A trace_block answer for block 483920 whose second tx is another tx.
    let mut recorded = block_483920();
    let block = recorded
        .get_mut("eth_getBlockByNumber", &json!(["0x76250", true]))
        .clone();
    let traces: Vec<Value> = block["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let hash = if i == 1 { json!("0x3333333333333333333333333333333333333333333333333333333333333333") } else { tx["hash"].clone() };
            json!({
                "action": {"callType": "call", "from": tx["from"], "to": tx["to"], "gas": "0x0", "input": "0x", "value": tx["value"]},
                "blockHash": block["hash"], "blockNumber": 483920, "result": {"gasUsed": "0x0", "output": "0x"},
                "subtraces": 0, "traceAddress": [], "transactionHash": hash, "transactionPosition": i, "type": "call"
            })
        })
        .collect();
    recorded.insert("trace_block", &json!(["0x76250"]), Value::Array(traces));
    let server = Server::start(recorded.handler(1, 500_000));
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    assert_eq!(client.trace_flavour(), Some(TraceFlavour::ParityBlock));
    let err = client.fetch_block(483_920).unwrap_err().to_string();
    assert!(
        err.contains("block 483920")
            && err.contains(TX1.trim_start_matches("0x"))
            && err.contains("3333"),
        "{err}"
    );
}

#[test]
fn a_required_trace_flavour_the_node_lacks_is_an_error() {
    let server = Server::start(block_483920().handler(1, 500_000));
    let options = ClientOptions {
        traces: TraceMode::Require(TraceFlavour::GethCallTracer),
        ..quick()
    };
    let err = BlockingEvmClient::connect(server.url(), ETH, options).unwrap_err();
    assert!(matches!(err, EvmError::TraceUnsupported { .. }), "{err}");
    assert!(
        err.to_string().contains("debug_traceBlockByNumber"),
        "{err}"
    );
}

#[test]
fn dead_node_is_a_clear_error() {
    // Nothing listens: refused at once, retried, then reported with URL and method.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let err = BlockingEvmClient::connect(&url, ETH, quick()).unwrap_err();
    assert!(
        matches!(err, EvmError::Transport { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains("eth_chainId"),
        "{text}"
    );

    // Dies mid-ingest: the block fetch fails with the block named, nothing half-done returned.
    let server = Server::start(block_483920().handler(1, 500_000));
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    server.kill();
    let err = client.fetch_block(483_920).unwrap_err();
    assert!(matches!(err, EvmError::Transport { .. }), "{err}");
    assert!(err.to_string().contains("block 483920"), "{err}");
}

#[test]
fn rate_limit_paces_calls() {
    let server = Server::start(block_483920().handler(1, 500_000));
    let options = ClientOptions {
        rpc: RpcOptions {
            max_calls_per_second: Some(20),
            ..quick().rpc
        },
        ..quick()
    };
    let client = BlockingEvmClient::connect(server.url(), ETH, options).unwrap();
    let total = || server.calls.lock().unwrap().values().sum::<usize>();
    let before = total();
    let start = std::time::Instant::now();
    client.fetch_block(483_920).unwrap();
    let calls = total() - before;
    // At 20 calls/s a batch of k calls books k slots of 50 ms and goes at the start of its
    // first: n calls whose last batch has 4 (the receipts) take at least (n − 4) × 50 ms.
    let floor = Duration::from_millis(50 * (calls as u64 - 4));
    assert!(
        calls >= 6 && start.elapsed() >= floor,
        "{calls} calls in {:?}",
        start.elapsed()
    );
}

#[test]
fn rate_limited_calls_are_retried_alone() {
    let inner = block_483920().handler(1, 500_000);
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = refused.clone();
    // The provider refuses every other receipt call for a while, as metered providers do.
    let server = Server::start(Arc::new(move |method: &str, params: &Value| {
        if method == "eth_getTransactionReceipt"
            && params[0].as_str().unwrap().ends_with('8')
            && r.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2
        {
            return Err((-32005, "limit exceeded".to_string()));
        }
        inner(method, params)
    }));
    let client = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap();
    let block = client.fetch_block(483_920).unwrap();
    assert_eq!(block.txs.len(), 4);
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 3);
    // 4 receipts, and the one refused twice asked twice more: nothing else was asked again.
    assert_eq!(server.count("eth_getTransactionReceipt"), 6);

    // A provider that never stops refusing: reported after the retries, naming the call.
    let server = Server::start(Arc::new(|method: &str, _: &Value| match method {
        "eth_chainId" => Ok(json!("0x1")),
        _ => Err((429, "Too Many Requests".to_string())),
    }));
    let err = BlockingEvmClient::connect(server.url(), ETH, quick()).unwrap_err();
    assert!(
        matches!(err, EvmError::Transport { attempts: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("eth_blockNumber")
            && err.to_string().contains("Too Many Requests"),
        "{err}"
    );
}
