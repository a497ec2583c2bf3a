//! The `tracehound` binary against a real `litecoind -regtest`: ingest over JSON-RPC and
//! from the node's blk files, reorgs, MWEB blocks, and bad input.
//!
//! Each test starts its own node (fresh datadir, free ports), so they run in parallel. The
//! binary runs as a child process with `--data-dir` in a temporary directory; the store it
//! leaves is opened afterwards with [`Store`] (one process at a time: it is dropped before the
//! binary runs again).
#![cfg(feature = "test-litecoind")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
use tracehound_btc::testnode::{Litecoind, TestNodeError, WALLET};
use tracehound_core::{Address, Amount, Chain, Hash32, ScriptKind};
use tracehound_store::{Store, StoreOptions};

const CHAIN: Chain = Chain::LitecoinRegtest;
const NETWORK: &str = "litecoin-regtest";

// ---------------------------------------------------------------------------------------------
// Running the binary

/// What one run of the binary did.
struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    args: String,
}

impl Run {
    /// Panics with the run's output unless it succeeded; returns stdout.
    fn ok(self) -> String {
        assert!(
            self.success,
            "tracehound {} failed ({:?}):\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self.stdout
    }

    /// Panics unless it failed with an `error:` on stderr and no panic; returns stderr.
    fn failed(self) -> String {
        assert!(
            !self.success,
            "tracehound {} should have failed:\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.stdout, self.stderr
        );
        assert_eq!(
            self.code,
            Some(1),
            "tracehound {}: exit code; stderr:\n{}",
            self.args,
            self.stderr
        );
        assert!(
            self.stderr.contains("error: "),
            "tracehound {}: no `error:` on stderr:\n{}",
            self.args,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "tracehound {} panicked:\n{}",
            self.args,
            self.stderr
        );
        self.stderr
    }
}

/// Runs `tracehound --data-dir <data_dir> <args…>`.
fn tracehound(data_dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("TRACEHOUND_DATA_DIR")
        .env_remove("TRACEHOUND_RPC_PASSWORD")
        .env_remove("RUST_LOG")
        .output()
        .expect("run the tracehound binary");
    Run {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        args: args.join(" "),
    }
}

/// Runs `tracehound --json <args…>`, which must succeed, and parses its stdout.
fn tracehound_json(data_dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let stdout = tracehound(data_dir, &all).ok();
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "tracehound {}: stdout is not JSON ({e}):\n{stdout}",
            args.join(" ")
        )
    })
}

fn rpc_args(node: &Litecoind) -> Vec<String> {
    let (user, password) = node.credentials();
    [
        "ingest",
        "btc",
        "--network",
        NETWORK,
        "--rpc",
        node.rpc_url(),
        "--rpc-user",
        user,
        "--rpc-password",
        password,
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `tracehound ingest btc --rpc … --rpc-user … --rpc-password …`; returns the JSON report.
fn ingest_rpc(data_dir: &Path, node: &Litecoind) -> Value {
    tracehound_json(data_dir, &strs(&rpc_args(node)))
}

/// `tracehound ingest btc --rpc … --rpc-cookie …`; returns the JSON report.
fn ingest_cookie(data_dir: &Path, node: &Litecoind) -> Value {
    let cookie = node.cookie_file().display().to_string();
    tracehound_json(
        data_dir,
        &[
            "ingest",
            "btc",
            "--network",
            NETWORK,
            "--rpc",
            node.rpc_url(),
            "--rpc-cookie",
            &cookie,
        ],
    )
}

/// `tracehound ingest btc --blocks-dir <the node's blocks>` (read while the node runs).
fn ingest_blk(data_dir: &Path, node: &Litecoind) -> Value {
    let dir = node.blocks_dir().display().to_string();
    tracehound_json(
        data_dir,
        &["ingest", "btc", "--network", NETWORK, "--blocks-dir", &dir],
    )
}

// ---------------------------------------------------------------------------------------------
// The store

fn open_store(data_dir: &Path) -> Store {
    Store::open(
        data_dir,
        &StoreOptions {
            cache_bytes: 16 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn digest(data_dir: &Path) -> String {
    open_store(data_dir).digest().expect("digest")
}

fn store_tip(data_dir: &Path) -> (u32, Hash32) {
    let tip = open_store(data_dir)
        .tip(CHAIN)
        .expect("tip")
        .expect("a stored tip");
    (tip.height, tip.hash)
}

// ---------------------------------------------------------------------------------------------
// JSON values

/// A node's coin value (`1.23456780`, or a fee's `-0.0000282`) in base units, exactly.
fn coins(v: &Value) -> u128 {
    let text = match v {
        Value::Number(n) => n.as_str().to_string(),
        Value::String(s) => s.clone(),
        other => panic!("not a coin value: {other}"),
    };
    Amount::from_decimal_str(text.trim_start_matches('-'), 8)
        .unwrap_or_else(|e| panic!("{e}"))
        .units()
}

/// Base units as the node's decimal text.
fn decimal(units: u128) -> String {
    Amount::from_units(units).to_decimal_string(8)
}

/// A base-unit amount as the binary prints it in JSON (an integer).
fn units(v: &Value) -> u128 {
    match v {
        Value::Number(n) => n.as_str().parse().unwrap_or_else(|e| panic!("{v}: {e}")),
        other => panic!("not an amount in base units: {other}"),
    }
}

/// An output's `kind` as the binary prints it in JSON.
fn kind(output: &Value) -> ScriptKind {
    serde_json::from_value(output["kind"].clone())
        .unwrap_or_else(|e| panic!("not a script kind: {output}: {e}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The address an output script of the node's answer pays (`address`, or 0.21's `addresses`).
fn spk_address(spk: &Value) -> Option<String> {
    if let Some(a) = spk["address"].as_str() {
        return Some(a.to_string());
    }
    match spk["addresses"].as_array().map(Vec::as_slice) {
        Some([single]) => single.as_str().map(String::from),
        _ => None,
    }
}

/// An address of the node in the store's canonical text.
fn canonical(address: &str) -> String {
    Address::parse(CHAIN, address)
        .unwrap_or_else(|e| panic!("{e}"))
        .as_str()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The node

fn start_node() -> Litecoind {
    Litecoind::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A client of one wallet of the node (needed once it has several).
fn wallet(node: &Litecoind, name: &str) -> RpcClient {
    let (user, password) = node.credentials();
    RpcClient::new(
        format!("{}/wallet/{name}", node.rpc_url()),
        RpcAuth::UserPass {
            user: user.into(),
            password: password.into(),
        },
        RpcOptions::default(),
    )
}

fn rpc(client: &RpcClient, method: &str, params: Value) -> Value {
    client
        .call(method, params.clone())
        .unwrap_or_else(|e| panic!("{method} {params}: {e}"))
}

fn call(node: &Litecoind, method: &str, params: Value) -> Value {
    rpc(&node.client(), method, params)
}

fn best_hash(node: &Litecoind) -> Hash32 {
    node.client()
        .get_best_block_hash()
        .expect("getbestblockhash")
}

fn block_count(node: &Litecoind) -> u32 {
    node.client().get_block_count().expect("getblockcount")
}

/// `getblock <hash> 2`.
fn block(node: &Litecoind, hash: &str) -> Value {
    call(node, "getblock", json!([hash, 2]))
}

/// Mines until the mempool is empty (so every tx in it is confirmed).
fn mine_mempool(node: &Litecoind) {
    for _ in 0..5 {
        if call(node, "getrawmempool", json!([]))
            .as_array()
            .is_some_and(Vec::is_empty)
        {
            return;
        }
        node.mine(1).expect("mine");
    }
    panic!(
        "the mempool does not empty: {}",
        call(node, "getrawmempool", json!([]))
    );
}

/// Mines until every wallet tx is confirmed, submitting again those a reorg left out of the
/// mempool: the wallet sets a tx's nLockTime to the height it was made at (anti-fee-sniping),
/// so after `invalidateblock` below that height the node finds it not final and drops it, and
/// the wallet would only resubmit it much later.
fn settle(node: &Litecoind) {
    for _ in 0..5 {
        mine_mempool(node);
        let listed = call(node, "listtransactions", json!(["*", 100_000, 0, true]));
        let pending: BTreeSet<String> = listed
            .as_array()
            .expect("list")
            .iter()
            .filter(|t| t["confirmations"] == json!(0) && t["generated"] != json!(true))
            .map(|t| text(&t["txid"]).to_string())
            .collect();
        if pending.is_empty() {
            return;
        }
        for txid in &pending {
            let hex = call(node, "gettransaction", json!([txid]))["hex"].clone();
            // A child may come before its parent: the next round sends it again.
            let _ = node.call::<Value>("sendrawtransaction", json!([hex]));
        }
        node.mine(1).expect("mine");
    }
    panic!(
        "wallet txs stay unconfirmed: {}",
        call(node, "listtransactions", json!(["*", 100_000]))
    );
}

/// Locks the wallet's outputs to `address` (so that coin selection leaves them alone).
fn lock_outputs_to(node: &Litecoind, address: &str) {
    let unspent = call(node, "listunspent", json!([0, 9_999_999, [address]]));
    let outpoints: Vec<Value> = unspent
        .as_array()
        .expect("listunspent list")
        .iter()
        .map(|u| json!({"txid": u["txid"], "vout": u["vout"]}))
        .collect();
    assert!(!outpoints.is_empty(), "nothing paid to {address}");
    assert_eq!(
        call(node, "lockunspent", json!([false, outpoints])),
        json!(true)
    );
}

/// A wallet tx, decoded: `gettransaction` + `decoderawtransaction` of its hex.
fn wallet_tx(node: &Litecoind, txid: &str) -> (Value, Value) {
    let wtx = call(node, "gettransaction", json!([txid]));
    let decoded = call(node, "decoderawtransaction", json!([wtx["hex"]]));
    (wtx, decoded)
}

// ---------------------------------------------------------------------------------------------
// The binary's answers

/// `tracehound --json tx <txid>`: the single stored tx with that id.
fn cli_tx(data_dir: &Path, txid: &str) -> Value {
    let found = tracehound_json(data_dir, &["tx", txid]);
    let list = found
        .as_array()
        .unwrap_or_else(|| panic!("tx {txid}: not a list: {found}"));
    assert_eq!(list.len(), 1, "tx {txid} should be stored once: {found}");
    list[0].clone()
}

// =============================================================================================
// 1. RPC and blk files give the same store, and it balances with the node's wallet

#[test]
fn rpc_and_blk_files_give_the_same_store_and_the_node_balances() {
    let node = start_node();
    node.mine(101).expect("mine");

    // Every address type the wallet offers (Litecoin Core 0.21 has no bech32m).
    // The wallet spends its own unconfirmed outputs: each output paid here is locked until
    // the multi-input tx below spends them all.
    let mut paid: Vec<(String, ScriptKind, String)> = Vec::new(); // (address, kind, txid)
    for (kind, store_kind) in [
        ("legacy", ScriptKind::P2pkh),
        ("p2sh-segwit", ScriptKind::P2sh),
        ("bech32", ScriptKind::P2wpkh),
    ] {
        let address = node.new_address(kind).expect("getnewaddress");
        let info = call(&node, "getaddressinfo", json!([address]));
        assert_eq!(info["ismine"], json!(true), "{info}");
        let txid = node.send(&address, "1.2345678").expect("send");
        lock_outputs_to(&node, &address);
        paid.push((address, store_kind, txid.to_string()));
    }
    assert!(
        node.new_address("bech32m").is_err(),
        "Litecoin Core 0.21 has no taproot addresses"
    );
    // A 1-of-2 P2WSH multisig of the wallet's own keys.
    let pubkeys: Vec<Value> = (0..2)
        .map(|_| {
            let a = node.new_address("bech32").expect("getnewaddress");
            call(&node, "getaddressinfo", json!([a]))["pubkey"].clone()
        })
        .collect();
    let multisig = call(
        &node,
        "addmultisigaddress",
        json!([1, pubkeys, "", "bech32"]),
    );
    let p2wsh = text(&multisig["address"]).to_string();
    let txid = node.send(&p2wsh, "0.75").expect("send");
    lock_outputs_to(&node, &p2wsh);
    paid.push((p2wsh, ScriptKind::P2wsh, txid.to_string()));

    // A multi-output tx.
    let kinds = ["legacy", "p2sh-segwit", "bech32"];
    let many: Vec<(String, String)> = (0..6u128)
        .map(|i| {
            (
                node.new_address(kinds[i as usize % 3])
                    .expect("getnewaddress"),
                decimal(11_111_111 * (i + 1) + i),
            )
        })
        .collect();
    let outputs: serde_json::Map<String, Value> =
        many.iter().map(|(a, v)| (a.clone(), json!(v))).collect();
    let sendmany_txid = text(&call(&node, "sendmany", json!(["", outputs]))).to_string();
    let block_a = node.mine(1).expect("mine")[0];
    call(&node, "lockunspent", json!([true]));

    // A multi-input tx: every UTXO paid above (P2PKH, P2SH-P2WPKH, P2WPKH and P2WSH inputs).
    let spend_from: Vec<&String> = paid
        .iter()
        .map(|p| &p.0)
        .chain(many.iter().map(|m| &m.0))
        .collect();
    let utxos = call(&node, "listunspent", json!([1, 9_999_999, spend_from]));
    let utxos = utxos.as_array().expect("listunspent list").clone();
    assert_eq!(utxos.len(), 10, "{utxos:?}");
    let total: u128 = utxos.iter().map(|u| coins(&u["amount"])).sum();
    let fee = 200_000;
    let inputs: Vec<Value> = utxos
        .iter()
        .map(|u| json!({"txid": u["txid"], "vout": u["vout"]}))
        .collect();
    let sink = node.new_address("bech32").expect("getnewaddress");
    let raw = call(
        &node,
        "createrawtransaction",
        json!([inputs, [{ sink.as_str(): decimal(total - fee) }]]),
    );
    let signed = call(&node, "signrawtransactionwithwallet", json!([raw]));
    assert_eq!(signed["complete"], json!(true), "{signed}");
    let multi_txid = text(&call(&node, "sendrawtransaction", json!([signed["hex"]]))).to_string();

    // An OP_RETURN output next to a payment.
    let payload = hex::encode(b"tracehound e2e");
    let op_return_to = node.new_address("legacy").expect("getnewaddress");
    let raw = call(
        &node,
        "createrawtransaction",
        json!([[], [{"data": payload}, { op_return_to.as_str(): "0.5" }]]),
    );
    let funded = call(&node, "fundrawtransaction", json!([raw]));
    let signed = call(
        &node,
        "signrawtransactionwithwallet",
        json!([funded["hex"]]),
    );
    assert_eq!(signed["complete"], json!(true), "{signed}");
    let op_return_txid =
        text(&call(&node, "sendrawtransaction", json!([signed["hex"]]))).to_string();
    let block_b = node.mine(1).expect("mine")[0];
    node.send(&node.new_address("legacy").expect("getnewaddress"), "0.3")
        .expect("send");
    let block_c = node.mine(1).expect("mine")[0];

    // A stale branch: B and C leave the best chain, three other blocks replace them (their
    // txs come back from the mempool, next to a new one).
    let stale_coinbases: Vec<String> = [block_b, block_c]
        .iter()
        .map(|h| text(&block(&node, &h.to_string())["tx"][0]["txid"]).to_string())
        .collect();
    node.invalidate(&block_b).expect("invalidateblock");
    node.send(
        &node.new_address("bech32").expect("getnewaddress"),
        "0.4242",
    )
    .expect("send");
    node.mine(3).expect("mine");
    settle(&node);
    assert_eq!(
        block(&node, &block_c.to_string())["confirmations"],
        json!(-1)
    );
    let tip_height = block_count(&node);
    assert!(tip_height >= 101 + 1 + 3, "{tip_height}");
    let best = best_hash(&node);

    // Into store A over RPC, into store B from the blk files.
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let report_a = ingest_rpc(dir_a.path(), &node);
    assert_eq!(report_a["tip_height"], json!(tip_height), "{report_a}");
    assert_eq!(report_a["blocks"], json!(tip_height + 1), "{report_a}");
    assert_eq!(report_a["unwound"], json!(0), "{report_a}");
    let report_b = ingest_blk(dir_b.path(), &node);
    assert_eq!(report_b["tip_height"], json!(tip_height), "{report_b}");
    let notes = report_b["notes"].to_string();
    assert!(
        notes.contains("2 stale blocks"),
        "the files hold the stale branch: {report_b}"
    );
    // Running again changes nothing.
    let again = ingest_rpc(dir_a.path(), &node);
    assert_eq!(again["from_height"], Value::Null, "{again}");

    assert_eq!(
        digest(dir_a.path()),
        digest(dir_b.path()),
        "RPC and blk ingest differ"
    );
    assert_eq!(store_tip(dir_a.path()), (tip_height, best));

    // The stale blocks' coinbases are nowhere.
    for txid in &stale_coinbases {
        let stderr = tracehound(dir_b.path(), &["tx", txid]).failed();
        assert!(stderr.contains("not in the store"), "{stderr}");
    }

    // Balances: every address of the wallet, against listunspent and getreceivedbyaddress.
    // Coinbases are counted apart: listunspent leaves out immature ones, and Litecoin Core 0.21's
    // getreceivedbyaddress leaves out every coinbase.
    let mut coinbase_received: BTreeMap<String, u128> = BTreeMap::new();
    let mut immature: BTreeMap<String, u128> = BTreeMap::new();
    for height in 0..=tip_height {
        let hash = node.client().get_block_hash(height).expect("getblockhash");
        let b = block(&node, &hash.to_string());
        for out in b["tx"][0]["vout"].as_array().expect("vout") {
            let Some(address) = spk_address(&out["scriptPubKey"]) else {
                continue;
            };
            *coinbase_received.entry(address.clone()).or_default() += coins(&out["value"]);
            // The wallet holds a coinbase immature below 101 confirmations (COINBASE_MATURITY
            // + 1, the tip counting as one).
            if tip_height - height + 1 < 101 {
                *immature.entry(address).or_default() += coins(&out["value"]);
            }
        }
    }
    let mut addresses: BTreeSet<String> = BTreeSet::new();
    for r in call(&node, "listreceivedbyaddress", json!([0, true]))
        .as_array()
        .expect("list")
    {
        addresses.insert(text(&r["address"]).to_string());
    }
    for group in call(&node, "listaddressgroupings", json!([]))
        .as_array()
        .expect("list")
    {
        for entry in group.as_array().expect("group") {
            addresses.insert(text(&entry[0]).to_string());
        }
    }
    let all_unspent = call(&node, "listunspent", json!([0, 9_999_999]));
    for u in all_unspent.as_array().expect("list") {
        addresses.insert(text(&u["address"]).to_string());
    }
    assert!(addresses.len() >= 20, "{} addresses", addresses.len());
    let store = open_store(dir_a.path());
    let (mut checked_received, mut with_balance) = (0, 0);
    for address in &addresses {
        let unspent: u128 = call(&node, "listunspent", json!([0, 9_999_999, [address]]))
            .as_array()
            .expect("list")
            .iter()
            .map(|u| coins(&u["amount"]))
            .sum();
        let balance = unspent + immature.get(address).copied().unwrap_or(0);
        let received = coins(&call(&node, "getreceivedbyaddress", json!([address, 0])))
            + coinbase_received.get(address).copied().unwrap_or(0);
        let parsed = Address::parse(CHAIN, address).unwrap_or_else(|e| panic!("{e}"));
        let view = store.address(&parsed).expect("address");
        let (s_balance, s_received) = view
            .as_ref()
            .map_or((0, 0), |v| (v.balance.units(), v.received.units()));
        assert_eq!(s_balance, balance, "balance of {address}: store {view:?}");
        assert_eq!(
            s_received, received,
            "received by {address}: store {view:?}"
        );
        checked_received += usize::from(!coinbase_received.contains_key(address) && received > 0);
        with_balance += usize::from(balance > 0);
    }
    assert!(
        checked_received >= 12 && with_balance >= 8,
        "{checked_received} non-coinbase, {with_balance} with a balance"
    );
    // The wallet's total is the store's total over its addresses.
    let wallet_total: u128 = ["balance", "immature_balance"]
        .iter()
        .map(|k| coins(&call(&node, "getwalletinfo", json!([]))[*k]))
        .sum();
    let store_total: u128 = addresses
        .iter()
        .filter_map(|a| {
            store
                .address(&Address::parse(CHAIN, a).expect("address"))
                .expect("address")
        })
        .map(|v| v.balance.units())
        .sum();
    assert_eq!(store_total, wallet_total);
    drop(store);

    // The kind of every address type as stored.
    for (address, script_kind, txid) in &paid {
        let tx = cli_tx(dir_a.path(), txid);
        let address = canonical(address);
        let out = tx["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .find(|o| o["address"].as_str() == Some(address.as_str()))
            .unwrap_or_else(|| panic!("no output to {address} in {tx}"));
        assert_eq!(kind(out), *script_kind, "{out}");
        assert_eq!(
            units(&out["value"]),
            if *script_kind == ScriptKind::P2wsh {
                75_000_000
            } else {
                123_456_780
            }
        );
    }
    // The multi-output tx: every output, with the value sent.
    let tx = cli_tx(dir_a.path(), &sendmany_txid);
    assert_eq!(text(&tx["block_hash"]), block_a.to_string());
    for (address, value) in &many {
        let address = canonical(address);
        let out = tx["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .find(|o| o["address"].as_str() == Some(address.as_str()));
        let out = out.unwrap_or_else(|| panic!("no output to {address} in {tx}"));
        assert_eq!(units(&out["value"]), coins(&json!(value)));
        assert_eq!(text(&out["spent_by"][0]), multi_txid, "{out}");
    }

    // The multi-input tx: every input resolved to what it spent, as the node says.
    let tx = cli_tx(dir_b.path(), &multi_txid);
    let (wtx, decoded) = wallet_tx(&node, &multi_txid);
    assert_eq!(text(&tx["block_hash"]), text(&wtx["blockhash"]));
    assert_ne!(
        text(&tx["block_hash"]),
        block_b.to_string(),
        "the tx is stored in the best chain's block"
    );
    let header = call(&node, "getblockheader", json!([wtx["blockhash"]]));
    assert_eq!(tx["height"], header["height"]);
    let vin = decoded["vin"].as_array().expect("vin");
    let cli_inputs = tx["inputs"].as_array().expect("inputs");
    assert_eq!(cli_inputs.len(), vin.len());
    assert_eq!(cli_inputs.len(), 10);
    let mut input_total = 0;
    for (input, v) in cli_inputs.iter().zip(vin) {
        assert_eq!(input["prev_txid"], v["txid"]);
        assert_eq!(input["prev_vout"], v["vout"]);
        let (prev_wtx, prev) = wallet_tx(&node, text(&v["txid"]));
        let prev_out = &prev["vout"][v["vout"].as_u64().expect("vout") as usize];
        assert_eq!(units(&input["value"]), coins(&prev_out["value"]), "{input}");
        let address = spk_address(&prev_out["scriptPubKey"]).expect("an address");
        assert_eq!(text(&input["address"]), canonical(&address));
        let prev_header = call(&node, "getblockheader", json!([prev_wtx["blockhash"]]));
        assert_eq!(input["prev_height"], prev_header["height"]);
        assert_eq!(input["coinbase"], json!(false));
        input_total += coins(&prev_out["value"]);
    }
    assert_eq!(input_total, total);
    assert_eq!(units(&tx["input_value"]), total);
    assert_eq!(units(&tx["fee"]), fee);
    assert_eq!(units(&tx["fee"]), coins(&wtx["fee"]));
    assert_eq!(tx["outputs"][0]["address"], json!(canonical(&sink)));
    assert_eq!(tx["outputs"][0]["spent_by"], Value::Null);

    // The OP_RETURN output, with its payload.
    let tx = cli_tx(dir_a.path(), &op_return_txid);
    let data = tx["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| kind(o) == ScriptKind::NullData);
    let data = data.unwrap_or_else(|| panic!("no OP_RETURN in {tx}"));
    assert_eq!(data["address"], Value::Null);
    assert_eq!(data["value"], json!(0));
    assert!(text(&data["data"]).contains(&payload), "{data}");

    // `address --json` parses and agrees with the store.
    let store_view = open_store(dir_a.path())
        .address(&Address::parse(CHAIN, &sink).expect("address"))
        .expect("address");
    let store_view = store_view.expect("the sink address is stored");
    let shown = tracehound_json(dir_a.path(), &["address", &sink]);
    let shown = &shown.as_array().expect("a list")[0];
    assert_eq!(shown["address"], json!(store_view.address));
    assert_eq!(shown["chain"], json!(NETWORK));
    assert_eq!(units(&shown["balance"]), total - fee);
    assert_eq!(units(&shown["received"]), store_view.received.units());
    assert_eq!(shown["tx_count"], json!(1));
    assert_eq!(text(&shown["txs"][0]["txid"]), multi_txid);
    let shown = tracehound_json(dir_a.path(), &["address", &paid[1].0]);
    assert_eq!(shown[0]["tx_count"], json!(2), "{shown}");
    // The text forms run too.
    tracehound(dir_a.path(), &["address", &paid[0].0]).ok();
    tracehound(dir_a.path(), &["tx", &multi_txid]).ok();
    let status = tracehound_json(dir_a.path(), &["status"]);
    assert_eq!(
        status["chains"][0]["tip"]["hash"],
        json!(best.to_string()),
        "{status}"
    );
}

// =============================================================================================
// 2. A reorg after ingest unwinds the store to the fork

#[test]
fn reorg_after_ingest_unwinds_to_fork() {
    let node = start_node();
    node.mine(101).expect("mine");
    for amount in ["1.5", "2.25", "0.125"] {
        node.send(&node.new_address("bech32").expect("getnewaddress"), amount)
            .expect("send");
        node.mine(1).expect("mine");
    }
    node.send(&node.new_address("legacy").expect("getnewaddress"), "0.7")
        .expect("send");
    node.mine(2).expect("mine");
    let old_tip = block_count(&node);
    let old_best = best_hash(&node);
    let old_coinbase = text(&block(&node, &old_best.to_string())["tx"][0]["txid"]).to_string();

    // Store A over RPC and store D from the files, both at the old tip.
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_d = tempfile::tempdir().expect("tempdir");
    ingest_rpc(dir_a.path(), &node);
    ingest_blk(dir_d.path(), &node);
    assert_eq!(store_tip(dir_a.path()), (old_tip, old_best));
    let old_digest = digest(dir_a.path());
    assert_eq!(digest(dir_d.path()), old_digest);

    // The node drops its last 4 blocks (from tip-3) and mines 5 others with other txs.
    let fork = old_tip - 4;
    let first_stale = node
        .client()
        .get_block_hash(fork + 1)
        .expect("getblockhash");
    node.invalidate(&first_stale).expect("invalidateblock");
    assert_eq!(block_count(&node), fork);
    node.send(
        &node.new_address("p2sh-segwit").expect("getnewaddress"),
        "3.3",
    )
    .expect("send");
    node.mine(2).expect("mine");
    node.send(&node.new_address("legacy").expect("getnewaddress"), "0.01")
        .expect("send");
    node.mine(3).expect("mine");
    mine_mempool(&node);
    let new_tip = block_count(&node);
    let new_best = best_hash(&node);
    assert_eq!(new_tip, fork + 5);

    // A again, by cookie this time: it must find the fork and unwind to it.
    let report = ingest_cookie(dir_a.path(), &node);
    assert_eq!(report["unwound"], json!(4), "{report}");
    assert_eq!(report["from_height"], json!(fork + 1), "{report}");
    assert_eq!(report["tip_height"], json!(new_tip), "{report}");
    assert_eq!(store_tip(dir_a.path()), (new_tip, new_best));
    let stderr = tracehound(dir_a.path(), &["tx", &old_coinbase]).failed();
    assert!(stderr.contains("not in the store"), "{stderr}");

    // B: a fresh store of the new best chain, over RPC in two runs (resume after --to-height).
    let dir_b = tempfile::tempdir().expect("tempdir");
    let mut args = rpc_args(&node);
    args.extend(["--to-height".into(), "50".into()]);
    let first = tracehound_json(dir_b.path(), &strs(&args));
    assert_eq!(first["tip_height"], json!(50), "{first}");
    let rest = ingest_rpc(dir_b.path(), &node);
    assert_eq!(rest["from_height"], json!(51), "{rest}");
    let expected = digest(dir_b.path());
    assert_ne!(expected, old_digest);
    assert_eq!(
        digest(dir_a.path()),
        expected,
        "the unwound and re-ingested store differs from a fresh one"
    );

    // C: a fresh store from the files, which now hold both branches.
    let dir_c = tempfile::tempdir().expect("tempdir");
    let report = ingest_blk(dir_c.path(), &node);
    assert!(
        report["notes"].to_string().contains("4 stale blocks"),
        "{report}"
    );
    assert_eq!(
        digest(dir_c.path()),
        expected,
        "blk ingest of a reorged chain differs"
    );

    // D: the store read from the files before the reorg, read again from them.
    let report = ingest_blk(dir_d.path(), &node);
    assert_eq!(report["unwound"], json!(4), "{report}");
    assert_eq!(
        digest(dir_d.path()),
        expected,
        "blk re-ingest after a reorg differs"
    );
}

// =============================================================================================
// 3. MWEB blocks: peg-in, peg-out, and the HogEx tx

#[test]
fn mweb_blocks_parse() {
    let node = start_node();
    let started = Instant::now();
    let activation = match node.activate_mweb() {
        Ok(h) => h,
        // Litecoin Core before 0.21.2 has no MWEB: then there is nothing to test here.
        Err(e @ TestNodeError::MwebInactive { .. }) => {
            panic!("MWEB does not activate on this litecoind: {e}")
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(activation, 432);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "activation took {:?}",
        started.elapsed()
    );

    // The first MWEB block needs a peg-in.
    let mweb_address = node.new_address("mweb").expect("getnewaddress mweb");
    assert!(mweb_address.contains("mweb"), "{mweb_address}");
    let pegin_txid = node.send(&mweb_address, "2.5").expect("peg-in").to_string();
    let first_mweb = node.mine(1).expect("mine")[0];

    // Two more wallets, so that who pays with what is certain: "t" holds transparent coins
    // only (its payment to an MWEB address is a peg-in), "mw" holds MWEB coins only (its payment
    // to a transparent address is a peg-out). From here on every wallet call names its wallet.
    call(&node, "createwallet", json!(["t"]));
    call(&node, "createwallet", json!(["mw"]));
    let main = wallet(&node, WALLET);
    let t = wallet(&node, "t");
    let mw = wallet(&node, "mw");
    let mine = |n: u32| -> Vec<Value> {
        let to = rpc(&main, "getnewaddress", json!(["", "bech32"]));
        rpc(&main, "generatetoaddress", json!([n, to]))
            .as_array()
            .expect("hashes")
            .clone()
    };
    let t_address = rpc(&t, "getnewaddress", json!(["", "bech32"]));
    rpc(&main, "sendtoaddress", json!([t_address, "5"]));
    mine(1);
    let mw_address = rpc(&mw, "getnewaddress", json!(["", "mweb"]));
    let pegin2_txid = text(&rpc(&t, "sendtoaddress", json!([mw_address, "3"]))).to_string();
    mine(1);
    let pegout_to = text(&rpc(&main, "getnewaddress", json!(["", "bech32"]))).to_string();
    let pegout_txid = text(&rpc(&mw, "sendtoaddress", json!([pegout_to, "1.25"]))).to_string();
    let pegout_block = text(&mine(1)[0]).to_string();
    mine(2);
    let tip = block_count(&node);

    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    ingest_rpc(dir_a.path(), &node);
    ingest_blk(dir_b.path(), &node);
    assert_eq!(
        digest(dir_a.path()),
        digest(dir_b.path()),
        "RPC and blk ingest of MWEB blocks differ"
    );
    assert_eq!(store_tip(dir_b.path()), (tip, best_hash(&node)));

    // The HogEx tx of the first MWEB block is stored, flagged, paying the HogAddr.
    let b = block(&node, &first_mweb.to_string());
    let txs = b["tx"].as_array().expect("txs");
    let hogex_txid = text(&txs[txs.len() - 1]["txid"]);
    let hogex = cli_tx(dir_a.path(), hogex_txid);
    assert_eq!(hogex["hogex"], json!(true), "{hogex}");
    assert_eq!(hogex["coinbase"], json!(false), "{hogex}");
    assert_eq!(hogex["index"], json!(txs.len() - 1));
    assert_eq!(
        kind(&hogex["outputs"][0]),
        ScriptKind::MwebHogAddr,
        "{hogex}"
    );
    tracehound(dir_a.path(), &["tx", hogex_txid]).ok();
    // Each HogEx spends the previous HogAddr: the next one spends this one's.
    let next_hogex = cli_tx(dir_a.path(), text(&hogex["outputs"][0]["spent_by"][0]));
    assert_eq!(next_hogex["hogex"], json!(true), "{next_hogex}");
    assert_eq!(next_hogex["height"], json!(activation + 1), "{next_hogex}");
    assert_eq!(next_hogex["inputs"][0]["prev_txid"], json!(hogex_txid));

    // Both peg-ins: an output of kind mweb_pegin, spent by that block's HogEx.
    for (txid, at_least) in [
        (pegin_txid.as_str(), 250_000_000),
        (pegin2_txid.as_str(), 300_000_000),
    ] {
        let tx = cli_tx(dir_b.path(), txid);
        let outs = tx["outputs"].as_array().expect("outputs");
        let pegin = outs.iter().find(|o| o["kind"] == json!("mweb_pegin"));
        let pegin = pegin.unwrap_or_else(|| panic!("no mweb_pegin output in {tx}"));
        assert!(units(&pegin["value"]) >= at_least, "{pegin}");
        let spender = text(&pegin["spent_by"][0]);
        assert_eq!(
            cli_tx(dir_b.path(), spender)["hogex"],
            json!(true),
            "the peg-in is spent by a HogEx"
        );
    }

    // The MWEB tx of the peg-out lives in the extension block only.
    let stderr = tracehound(dir_a.path(), &["tx", &pegout_txid]).failed();
    assert!(stderr.contains("not in the store"), "{stderr}");

    // The peg-out: the transparent address received exactly 1.25 from that block's HogEx.
    let b = block(&node, &pegout_block);
    let txs = b["tx"].as_array().expect("txs");
    let pegout_hogex = text(&txs[txs.len() - 1]["txid"]).to_string();
    let shown = tracehound_json(dir_a.path(), &["address", &pegout_to]);
    assert_eq!(units(&shown[0]["received"]), 125_000_000, "{shown}");
    assert_eq!(text(&shown[0]["txs"][0]["txid"]), pegout_hogex, "{shown}");
    let tx = cli_tx(dir_a.path(), &pegout_hogex);
    assert_eq!(tx["hogex"], json!(true));
    let canonical_to = canonical(&pegout_to);
    assert!(
        tx["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .any(|o| o["address"] == json!(canonical_to) && units(&o["value"]) == 125_000_000),
        "{tx}"
    );
}

// =============================================================================================
// 4. Bad input: a clear error, a non-zero exit, and the store untouched

#[test]
fn bad_input_fails_clearly_and_leaves_the_store_intact() {
    let node = start_node();
    node.mine(101).expect("mine");
    let txid = node
        .send(&node.new_address("bech32").expect("getnewaddress"), "1")
        .expect("send");
    node.mine(1).expect("mine");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    ingest_rpc(data, &node);
    let before = digest(data);
    let (user, password) = node.credentials();
    let url = node.rpc_url();
    let blocks = node.blocks_dir().display().to_string();
    let empty = tempfile::tempdir().expect("tempdir");
    let empty_dir = empty.path().display().to_string();
    let missing_cookie = empty.path().join(".cookie").display().to_string();
    let unused = node.new_address("bech32").expect("getnewaddress");
    let unknown_txid = "00000000000000000000000000000000000000000000000000000000000000ab";

    let ingest = |extra: &[&str]| -> Vec<String> {
        ["ingest", "btc"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "dead node",
            ingest(&["--network", NETWORK, "--rpc", "http://127.0.0.1:1"]),
            vec!["http://127.0.0.1:1", "is the node running"],
        ),
        (
            "wrong password",
            ingest(&[
                "--network",
                NETWORK,
                "--rpc",
                url,
                "--rpc-user",
                user,
                "--rpc-password",
                "not-the-password",
            ]),
            vec![url, "401", "rpc user and password"],
        ),
        (
            "wrong user",
            ingest(&[
                "--network",
                NETWORK,
                "--rpc",
                url,
                "--rpc-user",
                "nobody",
                "--rpc-password",
                password,
            ]),
            vec![url, "unauthorized"],
        ),
        (
            "no cookie file",
            ingest(&[
                "--network",
                NETWORK,
                "--rpc",
                url,
                "--rpc-cookie",
                &missing_cookie,
            ]),
            vec![&missing_cookie],
        ),
        (
            "bitcoin-regtest over RPC",
            ingest(&[
                "--network",
                "bitcoin-regtest",
                "--rpc",
                url,
                "--rpc-user",
                user,
                "--rpc-password",
                password,
            ]),
            vec!["genesis", "wrong --network"],
        ),
        (
            "litecoin mainnet over RPC",
            ingest(&[
                "--network",
                "litecoin",
                "--rpc",
                url,
                "--rpc-user",
                user,
                "--rpc-password",
                password,
            ]),
            vec!["regtest", "--network litecoin"],
        ),
        // Bitcoin and Litecoin regtest share their magic bytes: only the genesis tells them apart.
        (
            "bitcoin-regtest from files",
            ingest(&["--network", "bitcoin-regtest", "--blocks-dir", &blocks]),
            vec!["genesis"],
        ),
        (
            "empty blocks dir",
            ingest(&["--network", NETWORK, "--blocks-dir", &empty_dir]),
            vec![&empty_dir],
        ),
        (
            "unknown address",
            vec!["address".into(), unused.clone()],
            vec!["never appeared", &unused],
        ),
        (
            "invalid address",
            vec!["address".into(), "rltc1notanaddress".into()],
            vec!["not a valid address"],
        ),
        (
            "unknown txid",
            vec!["tx".into(), unknown_txid.into()],
            vec!["not in the store", unknown_txid],
        ),
        (
            "malformed txid",
            vec!["tx".into(), "xyz".into()],
            vec!["xyz"],
        ),
    ];
    for (what, args, expected) in &cases {
        let started = Instant::now();
        let stderr = tracehound(data, &strs(args)).failed();
        eprintln!("{what}:\n{stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{what}: {e:?} not in stderr:\n{stderr}");
        }
        assert!(
            !stderr.contains("not-the-password") && !stderr.contains(password),
            "{what}: a password on stderr:\n{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} took {:?}",
            started.elapsed()
        );
        assert_eq!(digest(data), before, "{what} changed the store");
    }
    // The store still answers, and ingesting again is a no-op.
    assert_eq!(
        cli_tx(data, &txid.to_string())["txid"],
        json!(txid.to_string())
    );
    let report = ingest_rpc(data, &node);
    assert_eq!(report["from_height"], Value::Null, "{report}");
    assert_eq!(digest(data), before);
}
