//! `tracehound ingest evm` against a real `anvil`: every touched account's native and token
//! balance from the store equals the node's (absolute: opening balances included), at two
//! checkpoints (so resume is covered); a reorg (`anvil_reorg`) leaves the store equal to a
//! fresh ingest; a wrong chain id and a dead node fail clearly. The helpers here are shared
//! with `evm_state`.
#![cfg(feature = "test-anvil")]

use std::path::Path;

use alloy::primitives::{Address as EvmAddress, U256};
use alloy::sol_types::{SolCall, SolValue};
use serde_json::{Value, json};
use tracehound_evm::testnode::Anvil;
use tracehound_store::{Store, StoreOptions};

alloy::sol! {
    function transfer(address to, uint256 value) external returns (bool);
    function deposit() external payable;
    function withdraw(uint256 wad) external;
    function forward(address to) external payable;
    function balanceOf(address who) external view returns (uint256);
}

pub(crate) fn bin(name: &str) -> String {
    let path = format!(
        "{}/../evm/tests/contracts/build/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

pub(crate) fn quantity(v: &Value) -> u128 {
    u128::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

pub(crate) struct Chain {
    pub(crate) node: Anvil,
    pub(crate) accounts: Vec<String>,
}

impl Chain {
    pub(crate) fn send(&self, from: usize, to: Option<&str>, value: u128, data: &[u8]) -> Value {
        let mut tx = json!({"from": self.accounts[from], "value": format!("{value:#x}"), "data": hex0x(data)});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let hash: String = self.node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        self.node.wait_receipt(&hash).unwrap()
    }

    pub(crate) fn deploy(&self, name: &str, args: &[u8]) -> String {
        let code = [alloy::hex::decode(bin(name).trim()).unwrap(), args.to_vec()].concat();
        let r = self.send(0, None, 0, &code);
        assert_eq!(r["status"], "0x1", "deploying {name}: {r}");
        r["contractAddress"].as_str().unwrap().to_string()
    }

    pub(crate) fn tip(&self) -> u64 {
        quantity(
            &self
                .node
                .rpc::<Value>("eth_blockNumber", json!([]))
                .unwrap(),
        ) as u64
    }

    pub(crate) fn balance(&self, who: &str, height: u64) -> u128 {
        quantity(
            &self
                .node
                .rpc::<Value>("eth_getBalance", json!([who, format!("{height:#x}")]))
                .unwrap(),
        )
    }

    pub(crate) fn token_balance(&self, token: &str, who: &str) -> u128 {
        self.token_balance_at(token, who, self.tip())
    }

    /// `balanceOf(who)` of `token` in the state after block `height`.
    pub(crate) fn token_balance_at(&self, token: &str, who: &str, height: u64) -> u128 {
        let data = balanceOfCall {
            who: who.parse().unwrap(),
        }
        .abi_encode();
        let out: String = self
            .node
            .rpc(
                "eth_call",
                json!([{"to": token, "data": hex0x(&data)}, format!("{height:#x}")]),
            )
            .unwrap();
        let word = U256::from_be_slice(&alloy::hex::decode(out).unwrap());
        u128::try_from(word).unwrap()
    }
}

pub(crate) use crate::common::tracehound;

fn ingest(data_dir: &Path, url: &str, weth: &str) -> Value {
    let out = tracehound(
        data_dir,
        &[
            "--json",
            "ingest",
            "evm",
            "--chain",
            "31337",
            "--rpc",
            url,
            "--batch-blocks",
            "3",
            "--wrapped-native",
            weth,
        ],
    );
    assert!(
        out.status.success(),
        "ingest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (received, sent) of `who` in `asset` (`native` or a token contract), from `tracehound
/// address`; `None` when the store has not seen `who`.
fn stored_flows(data_dir: &Path, who: &str, asset: &str) -> Option<(u128, u128)> {
    let out = tracehound(
        data_dir,
        &["--json", "address", who, "--chain", "31337", "--limit", "0"],
    );
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let balances = v[0]["balances"].as_array().unwrap();
    Some(
        balances
            .iter()
            .find(|b| b["asset"] == asset)
            .map_or((0, 0), |b| {
                let n = |k: &str| match &b[k] {
                    Value::String(s) => s.parse::<u128>().unwrap(),
                    other => other.to_string().parse::<u128>().unwrap(),
                };
                (n("received"), n("sent"))
            }),
    )
}

pub(crate) fn digest(data_dir: &Path) -> String {
    Store::open(data_dir, &StoreOptions::default())
        .unwrap()
        .digest()
        .unwrap()
}

fn check_balances(c: &Chain, data_dir: &Path, who: &[String], tokens: &[&str]) {
    let tip = c.tip();
    for w in who {
        let Some((received, sent)) = stored_flows(data_dir, w, "native") else {
            // Not seen by the store: then the chain never touched it either.
            assert_eq!(
                c.balance(w, tip),
                c.balance(w, 0),
                "{w} is not in the store"
            );
            continue;
        };
        assert_eq!(
            received - sent,
            c.balance(w, tip),
            "native balance of {w} at height {tip}"
        );
        for t in tokens {
            let (received, sent) = stored_flows(data_dir, w, t).unwrap_or_default();
            assert_eq!(
                received - sent,
                c.token_balance(t, w),
                "balance of {w} in token {t} at height {tip}"
            );
        }
    }
}

#[test]
fn evm_ingest_balances_resume_reorg_and_bad_input() {
    let node = Anvil::start().unwrap();
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let c = Chain { node, accounts };
    let url = c.node.url().to_string();
    let a = |i: usize| c.accounts[i].clone();
    let addr = |i: usize| -> EvmAddress { c.accounts[i].parse().unwrap() };

    let token = c.deploy(
        "Token",
        &(
            "Test".to_string(),
            "TST".to_string(),
            U256::from(18u64),
            U256::from(10u128.pow(24)),
        )
            .abi_encode_params(),
    );
    let weth = c.deploy("Weth", &[]);
    let forwarder = c.deploy("Forwarder", &[]);
    c.send(0, Some(&a(1)), 3 * 10u128.pow(18), &[]);
    c.send(1, Some(&a(2)), 10u128.pow(18), &[]);
    c.send(
        0,
        Some(&token),
        0,
        &transferCall {
            to: addr(1),
            value: U256::from(5000u64),
        }
        .abi_encode(),
    );
    c.send(
        1,
        Some(&token),
        0,
        &transferCall {
            to: addr(3),
            value: U256::from(1234u64),
        }
        .abi_encode(),
    );

    let dir = tempfile::tempdir().unwrap();
    let first = ingest(dir.path(), &url, &weth);
    assert_eq!(first["tip_height"], json!(c.tip()));
    let mut who: Vec<String> = (0..5).map(a).collect();
    who.extend([token.clone(), weth.clone(), forwarder.clone()]);
    let weth_token = format!("wrap:{weth}");
    check_balances(&c, dir.path(), &who, &[&token]);

    // More blocks: WETH wrap and unwrap, value forwarded by a contract (an internal transfer).
    c.send(
        2,
        Some(&weth),
        2 * 10u128.pow(17),
        &depositCall {}.abi_encode(),
    );
    c.send(
        2,
        Some(&weth),
        0,
        &withdrawCall {
            wad: U256::from(5 * 10u128.pow(16)),
        }
        .abi_encode(),
    );
    c.send(
        3,
        Some(&forwarder),
        777,
        &forwardCall { to: addr(4) }.abi_encode(),
    );
    let second = ingest(dir.path(), &url, &weth);
    assert_eq!(
        second["from_height"],
        json!(first["tip_height"].as_u64().unwrap() + 1)
    );
    check_balances(&c, dir.path(), &who, &[&token, &weth]);
    assert!(
        stored_flows(dir.path(), &weth_token, &weth).unwrap().1 > 0,
        "the wrap pseudo-address paid out the wrapped tokens"
    );
    // The wrap and the unwrap are link facts: native in, tokens minted (and back), 1:1.
    assert_eq!(second["links"]["facts"]["wrap"], json!(2), "{second}");
    {
        use tracehound_core::{Chain, LinkFact, LinkKind};
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let tip = second["tip_height"].as_u64().unwrap() as u32;
        let first_new = second["from_height"].as_u64().unwrap() as u32;
        let wraps: Vec<(String, String, u128, String, String)> = (first_new..=tip)
            .flat_map(|h| store.link_facts(Chain::Evm(31337), h).unwrap())
            .filter_map(|f| match f {
                LinkFact::Within {
                    kind: LinkKind::Wrap,
                    input,
                    output,
                    ..
                } => {
                    assert_eq!(input.amount, output.amount);
                    Some((
                        input.asset,
                        output.asset,
                        input.amount,
                        input.party,
                        output.party,
                    ))
                }
                _ => None,
            })
            .collect();
        let (native, user) = ("native".to_string(), a(2));
        assert_eq!(
            wraps,
            vec![
                (
                    native.clone(),
                    weth.clone(),
                    2 * 10u128.pow(17),
                    user.clone(),
                    user.clone()
                ),
                (weth.clone(), native, 5 * 10u128.pow(16), user.clone(), user),
            ]
        );
    }

    // A reorg two blocks deep with a different tx: the store follows and equals a fresh ingest.
    let replacement = json!({"from": a(4), "to": a(0), "value": "0x2a", "gas": "0x5208",
        "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1"});
    let _: Value = c
        .node
        .rpc("anvil_reorg", json!([2, [[replacement, 0]]]))
        .unwrap();
    let after = ingest(dir.path(), &url, &weth);
    assert!(after["unwound"].as_u64().unwrap() >= 1, "{after}");
    check_balances(&c, dir.path(), &who, &[&token, &weth]);
    let fresh = tempfile::tempdir().unwrap();
    ingest(fresh.path(), &url, &weth);
    assert_eq!(digest(dir.path()), digest(fresh.path()));

    // Every transfer is exported, and the count matches the status.
    let out_dir = tempfile::tempdir().unwrap();
    let exported = tracehound(
        dir.path(),
        &[
            "--json",
            "export",
            "parquet",
            out_dir.path().join("export").to_str().unwrap(),
        ],
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let summary: Value = serde_json::from_slice(&exported.stdout).unwrap();
    let rows = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "transfers")
        .map(|t| t["rows"].as_u64().unwrap())
        .unwrap();
    let status: Value =
        serde_json::from_slice(&tracehound(dir.path(), &["--json", "status"]).stdout).unwrap();
    assert_eq!(json!(rows), status["chains"][0]["inputs"]);
    assert!(rows > 20, "{rows} transfers");

    // Bad input: the wrong chain, then a dead node; the store stays as it was.
    let before = digest(dir.path());
    let out = tracehound(
        dir.path(),
        &["ingest", "evm", "--chain", "ethereum", "--rpc", &url],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("31337") && err.contains(&url), "{err}");
    drop(c);
    let out = tracehound(
        dir.path(),
        &["ingest", "evm", "--chain", "31337", "--rpc", &url],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&url), "{err}");
    assert_eq!(digest(dir.path()), before);
}

/// `tracehound sim run` plays a heist on a real anvil and writes its ground truth; ingesting
/// the chain puts at least the stolen amount on every exchange deposit address the truth names.
#[test]
fn simulated_heist_ingests_and_its_resting_places_hold_the_stolen_value() {
    let node = Anvil::start().unwrap();
    let url = node.url().to_string();
    let work = tempfile::tempdir().unwrap();
    let truth_dir = work.path().join("truth");
    let out = tracehound(
        work.path(),
        &[
            "--json",
            "sim",
            "run",
            "--rpc",
            &url,
            "--out",
            truth_dir.to_str().unwrap(),
            "--seed",
            "7",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = work.path().join("store");
    let report = ingest(&data, &url, "0x0000000000000000000000000000000000000001");
    assert!(report["inputs"].as_u64().unwrap() > 500, "{report}");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(truth_dir.join("truth.json")).unwrap()).unwrap();
    let mut checked = 0;
    for r in truth["resting"].as_array().unwrap() {
        if r["kind"] != "exchange_deposit" || r["asset"] != "eth" {
            continue;
        }
        let stolen: u128 = r["stolen"].to_string().parse().unwrap();
        let (received, _) =
            stored_flows(&data, r["address"].as_str().unwrap(), "native").unwrap_or_default();
        assert!(received >= stolen, "{r}: received {received}");
        checked += 1;
    }
    assert!(checked > 0, "the scenario reached no exchange");
    assert!(
        std::fs::read_to_string(truth_dir.join("labels.csv"))
            .unwrap()
            .contains("exchange")
    );
}
