//! Link facts decoded from real mainnet blocks 17173049–17173050 (ethereum-etl's
//! `test_stream/blocks_17173049_17173050`): the fixture is ethereum-etl's *output* (blocks,
//! txs with their receipt fields, logs, token transfers), from which the node's answers are
//! rebuilt and replayed to the client. It has no traces, so internal ether movements are
//! missing: swaps paying or taking ether through a router show their WETH legs, and wraps by
//! routers (whose native side is an internal call) are counted as skipped, not linked.
//!
//! Every decoded amount is checked against the raw log words read here by hand (a different
//! path than alloy's decoder) and against ethereum-etl's own token transfers.

mod common;

use std::collections::HashMap;

use common::{Recorded, Server, read_json_lines, shared_data};
use serde_json::{Value, json};
use tracehound_core::{Chain, LinkFact, LinkKind};
use tracehound_evm::{BlockingEvmClient, ClientOptions, EvmBlock, TraceMode};

const ETH: Chain = Chain::Evm(1);
const DIR: &str = "evm/ethereum-etl/test_stream/blocks_17173049_17173050";
const V2: &str = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822";
const V3: &str = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67";
const WETH: &str = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2";

fn hex(v: &Value) -> Value {
    // serde_json keeps big numbers exactly (arbitrary_precision).
    let n: u128 = v.to_string().parse().expect("a number");
    json!(format!("{n:#x}"))
}

fn rows(file: &str) -> Vec<Value> {
    read_json_lines(&shared_data(&format!("{DIR}/{file}")))
}

/// The node's answers rebuilt from ethereum-etl's export.
fn recorded() -> Recorded {
    let txs = rows("expected_transactions.json");
    let logs = rows("expected_logs.json");
    let mut r = Recorded::default();
    for b in rows("expected_blocks.json") {
        let number = b["number"].as_u64().unwrap();
        let mine: Vec<&Value> = txs
            .iter()
            .filter(|t| t["block_number"].as_u64() == Some(number))
            .collect();
        let block = json!({
            "number": hex(&b["number"]), "hash": b["hash"], "parentHash": b["parent_hash"],
            "timestamp": hex(&b["timestamp"]), "miner": b["miner"],
            "baseFeePerGas": hex(&b["base_fee_per_gas"]), "difficulty": "0x0",
            "transactions": mine.iter().map(|t| json!({
                "hash": t["hash"], "blockHash": t["block_hash"],
                "transactionIndex": hex(&t["transaction_index"]), "from": t["from_address"],
                "to": t["to_address"], "value": hex(&t["value"]), "gasPrice": hex(&t["gas_price"]),
                "type": hex(&t["transaction_type"]), "input": t["input"],
            })).collect::<Vec<_>>(),
            "withdrawals": b["withdrawals"].as_array().unwrap().iter().map(|w| json!({
                "index": hex(&w["index"]), "validatorIndex": hex(&w["validator_index"]),
                "address": w["address"], "amount": hex(&w["amount"]),
            })).collect::<Vec<_>>(),
        });
        let receipts: Vec<Value> = mine
            .iter()
            .map(|t| {
                json!({
                    "transactionHash": t["hash"], "transactionIndex": hex(&t["transaction_index"]),
                    "blockHash": t["block_hash"], "blockNumber": hex(&t["block_number"]),
                    "from": t["from_address"], "to": t["to_address"],
                    "gasUsed": hex(&t["receipt_gas_used"]),
                    "effectiveGasPrice": hex(&t["receipt_effective_gas_price"]),
                    "status": hex(&t["receipt_status"]),
                    "contractAddress": t["receipt_contract_address"],
                    "logs": logs.iter().filter(|l| l["transaction_hash"] == t["hash"]).map(|l| json!({
                        "address": l["address"], "topics": l["topics"], "data": l["data"],
                        "logIndex": hex(&l["log_index"]), "transactionHash": l["transaction_hash"],
                        "blockHash": l["block_hash"], "removed": false,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let h = format!("{number:#x}");
        r.insert("eth_getBlockByNumber", &json!([h, true]), block);
        r.insert("eth_getBlockReceipts", &json!([h]), json!(receipts));
    }
    r
}

fn blocks() -> Vec<EvmBlock> {
    let server = Server::start(recorded().handler(1, 17_173_050));
    let client = BlockingEvmClient::connect(
        server.url(),
        ETH,
        ClientOptions {
            traces: TraceMode::Off,
            no_token_metadata: true,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    client.fetch_blocks(17_173_049..=17_173_050).unwrap()
}

/// The 32-byte words of a log's data, as u128 (the top half must be zero) or, for V3's
/// int256, as a sign and magnitude.
fn words(data: &str) -> Vec<String> {
    let d = data.trim_start_matches("0x");
    (0..d.len() / 64)
        .map(|i| d[i * 64..(i + 1) * 64].to_string())
        .collect()
}

fn uint(word: &str) -> u128 {
    assert!(
        word[..32].chars().all(|c| c == '0'),
        "{word} beyond 128 bits"
    );
    u128::from_str_radix(&word[32..], 16).unwrap()
}

/// An int256 word as (negative, magnitude), two's complement by hand.
fn int(word: &str) -> (bool, u128) {
    if word.starts_with('f') {
        // −x = !x + 1 over the low 128 bits (the magnitudes here fit 128 bits).
        let low = u128::from_str_radix(&word[32..], 16).unwrap();
        (true, (!low).wrapping_add(1))
    } else {
        (false, uint(word))
    }
}

fn swaps_by_tx(blocks: &[EvmBlock]) -> HashMap<String, &LinkFact> {
    let mut out = HashMap::new();
    for f in blocks.iter().flat_map(|b| &b.links) {
        if let LinkFact::Within {
            kind: LinkKind::Swap,
            input,
            ..
        } = f
        {
            assert!(
                out.insert(input.tx.clone(), f).is_none(),
                "one swap fact per tx: {}",
                input.tx
            );
        }
    }
    out
}

#[test]
fn mainnet_uniswap_swaps_decode_with_exact_amounts() {
    let blocks = blocks();
    let swaps = swaps_by_tx(&blocks);
    let logs = rows("expected_logs.json");
    let token_transfers = rows("expected_token_transfers.json");
    let txs: HashMap<String, Value> = rows("expected_transactions.json")
        .into_iter()
        .map(|t| (t["hash"].as_str().unwrap().to_string(), t))
        .collect();
    let swap_txs: Vec<&str> = {
        let mut v: Vec<&str> = logs
            .iter()
            .filter(|l| l["topics"][0] == V2 || l["topics"][0] == V3)
            .map(|l| l["transaction_hash"].as_str().unwrap())
            .collect();
        v.dedup();
        v
    };
    assert_eq!(swap_txs.len(), 68, "txs with a Uniswap V2 or V3 Swap log");

    // Every tx with a swap log gets one swap fact, or is counted as skipped.
    let skips: HashMap<&str, u64> =
        blocks
            .iter()
            .flat_map(|b| &b.link_skips)
            .fold(HashMap::new(), |mut m, (r, n)| {
                *m.entry(r.as_str()).or_insert(0) += n;
                m
            });
    let swap_skips: u64 = skips
        .iter()
        .filter(|(r, _)| r.contains("swap"))
        .map(|(_, n)| n)
        .sum();
    eprintln!(
        "swap facts: {}, swap skips: {swap_skips}, skips: {skips:?}",
        swaps.len()
    );
    assert_eq!(swaps.len() as u64 + swap_skips, swap_txs.len() as u64);
    // All link: taxed tokens (less out than the event says) and a pool swapped in twice in
    // one tx (a token selling its tax inside the user's sell) included.
    assert_eq!(swaps.len(), 68);

    // Single-pool swaps: the link's amounts are the event's own, read from the raw words.
    let mut checked_v2 = 0;
    let mut checked_v3 = 0;
    let mut exact_out = 0;
    for tx in &swap_txs {
        let mine: Vec<&Value> = logs
            .iter()
            .filter(|l| l["transaction_hash"] == *tx)
            .collect();
        let events: Vec<&&Value> = mine
            .iter()
            .filter(|l| l["topics"][0] == V2 || l["topics"][0] == V3)
            .collect();
        let [event] = events.as_slice() else { continue };
        let Some(LinkFact::Within {
            input,
            output,
            contract,
            service,
            ..
        }) = swaps.get(*tx).copied()
        else {
            continue;
        };
        let pool = event["address"].as_str().unwrap();
        assert_eq!(contract, pool, "{tx}");
        let w = words(event["data"].as_str().unwrap());
        let (amount_in, amount_out) = if event["topics"][0] == V2 {
            assert_eq!(service, "uniswap-v2");
            checked_v2 += 1;
            let (a0i, a1i, a0o, a1o) = (uint(&w[0]), uint(&w[1]), uint(&w[2]), uint(&w[3]));
            (a0i.max(a1i), a0o.max(a1o))
        } else {
            assert_eq!(service, "uniswap-v3");
            checked_v3 += 1;
            let (a0, a1) = (int(&w[0]), int(&w[1]));
            let (i, o) = if a0.0 { (a1, a0) } else { (a0, a1) };
            assert!(!i.0 && o.0, "one amount in, one out: {tx}");
            (i.1, o.1)
        };
        assert_eq!(input.amount, amount_in, "amount in of {tx}");
        // The pool's payment, by ethereum-etl's token transfers, is the event's amount out
        // (less a fee-on-transfer token's unlogged tax: then smaller), and the link's output
        // is what reached the receiver.
        let paid_to = |to: Option<&str>| -> u128 {
            token_transfers
                .iter()
                .filter(|t| {
                    t["transaction_hash"] == *tx
                        && t["from_address"] == pool
                        && t["token_address"] == output.asset.as_str()
                        && to.is_none_or(|x| t["to_address"] == x)
                })
                .map(|t| t["value"].to_string().parse::<u128>().unwrap())
                .sum()
        };
        let paid = paid_to(None);
        assert!(
            paid > 0 && paid <= amount_out,
            "{tx}: paid {paid}, event {amount_out}"
        );
        if paid == amount_out {
            exact_out += 1;
        }
        assert_eq!(output.amount, paid_to(Some(&output.party)), "{tx}");
        // Legs are ethereum-etl's token transfers (no traces: no ether legs here).
        let by_log = |asset: &str, from: Option<&str>, to: Option<&str>, amount: u128| {
            token_transfers.iter().any(|t| {
                t["transaction_hash"] == *tx
                    && t["token_address"] == asset
                    && from.is_none_or(|f| t["from_address"] == f)
                    && to.is_none_or(|x| t["to_address"] == x)
                    && t["value"].to_string().parse::<u128>().ok() == Some(amount)
            })
        };
        assert!(
            by_log(&input.asset, Some(&input.party), Some(pool), input.amount),
            "input leg of {tx}: {input:?}"
        );
        assert!(
            by_log(
                &output.asset,
                Some(pool),
                Some(&output.party),
                output.amount
            ),
            "output leg of {tx}: {output:?}"
        );
        assert_ne!(input.asset, output.asset);
        assert_eq!(
            txs[*tx]["transaction_index"].as_u64(),
            Some(u64::from(input.tx_index))
        );
    }
    eprintln!("single-pool swaps checked: v2 {checked_v2}, v3 {checked_v3}, exact out {exact_out}");
    assert!(
        checked_v2 >= 30 && checked_v3 >= 5,
        "v2 {checked_v2}, v3 {checked_v3}"
    );
    assert!(exact_out + 8 >= checked_v2 + checked_v3, "few taxed tokens");

    // Hand-picked: block 17173049 tx 3, Router02 swapExactETHForTokens…: 0.2 ETH wrapped by
    // the router, its WETH into the pair, tokens out to the sender.
    let tx3 = "0xd74fe1a1c1";
    let (hash3, f) = swaps.iter().find(|(h, _)| h.starts_with(tx3)).unwrap();
    let LinkFact::Within { input, output, .. } = f else {
        unreachable!()
    };
    assert_eq!(input.asset, WETH);
    assert_eq!(input.amount, 200_000_000_000_000_000);
    assert_eq!(
        input.party, "0x7a250d5630b4cf539739df2c5dacb4c659f2488d",
        "the router paid the pair"
    );
    assert_eq!(output.party, txs[hash3]["from_address"].as_str().unwrap());

    // Block 17173049 tx 6: a fee-on-transfer token sells its collected tax in the pair
    // (its own swap, logs 25–29) inside the user's sell in the same pair (logs 31–35): the
    // user's link is the user's swap alone, 125639990507035 of the token for
    // 732567623310035213 WETH (ethereum-etl's transfers at logs 31 and 33), not the tax sale's
    // WETH as well.
    let (hash, f) = swaps
        .iter()
        .find(|(h, _)| h.starts_with("0xda46ac19eb"))
        .unwrap();
    let LinkFact::Within { input, output, .. } = f else {
        unreachable!()
    };
    assert_eq!(
        (input.amount, output.amount),
        (125_639_990_507_035, 732_567_623_310_035_213)
    );
    assert_eq!(input.party, txs[hash]["from_address"].as_str().unwrap());
    assert_eq!(output.asset, WETH);

    // Multi-hop: one fact from the first input to the last output, hops between pools
    // not counted.
    let multi: Vec<&&str> = swap_txs
        .iter()
        .filter(|tx| {
            logs.iter()
                .filter(|l| {
                    l["transaction_hash"] == **tx && (l["topics"][0] == V2 || l["topics"][0] == V3)
                })
                .count()
                > 1
        })
        .collect();
    let linked_multi = multi.iter().filter(|t| swaps.contains_key(***t)).count();
    eprintln!(
        "multi-hop swap txs: {}, linked: {linked_multi}",
        multi.len()
    );
    assert!(linked_multi > 0);
    for tx in multi {
        let Some(LinkFact::Within { input, output, .. }) = swaps.get(*tx).copied() else {
            continue;
        };
        assert!(
            input.leg < output.leg || input.asset != output.asset,
            "{tx}"
        );
        assert_ne!(input.asset, output.asset, "{tx}");
    }

    // Wraps: the fixture's WETH deposits and withdrawals are all made by routers, whose ether
    // moves in internal calls a trace-less fixture lacks: counted, not linked.
    let weth_events = logs
        .iter()
        .filter(|l| {
            l["address"] == WETH
                && (l["topics"][0]
                    == "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
                    || l["topics"][0]
                        == "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65")
        })
        .count() as u64;
    assert!(weth_events > 0);
    assert_eq!(
        skips.get("wrap without its native transfer (no traces?)"),
        Some(&weth_events)
    );
    assert!(
        blocks
            .iter()
            .flat_map(|b| &b.links)
            .all(|f| f.kind() == LinkKind::Swap)
    );
}
