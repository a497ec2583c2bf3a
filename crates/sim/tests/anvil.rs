//! A small scenario played on a real anvil. Then the node must agree with the ground truth:
//! every tx has a successful receipt; every world address's ether and stablecoin balance on
//! the node equals what the ground truth's transfers and fees add up to (so no movement is
//! missing or wrong), and every resting place holds at least the stolen value said to rest
//! there. The chain is ingested into the tracehound store, which must hold every ground-truth
//! transfer and fee. The same seed on a second node gives the same ground truth.
//!
//! Needs `anvil`: `scripts/install-anvil` (or `$ANVIL_BIN`).

use std::collections::BTreeMap;

use alloy::primitives::U256;
use alloy::sol_types::SolCall;
use serde_json::json;
use tracehound_core::Chain;
use tracehound_evm::testnode::Anvil;
use tracehound_evm::{BlockingEvmClient, ClientOptions, EvmBlock};
use tracehound_sim::{
    Asset, Config, ContractKind, GroundTruth, Node, Plan, RestingKind, Scenario, run_on_anvil,
};
use tracehound_store::{Store, StoreOptions};

alloy::sol! {
    function transfer(address to, uint256 value) external returns (bool);
    function setFrozen(address who, bool f) external;
}

fn config() -> Config {
    Config {
        seed: 42,
        users: 6,
        background_blocks: 5,
        fan_out: 12,
        consolidators: 2,
        hops: 3,
        utxo: false,
        ..Config::default()
    }
}

fn play(plan: &Plan) -> (Anvil, GroundTruth) {
    let node = Anvil::start().expect("start anvil (run scripts/install-anvil)");
    let truth = run_on_anvil(node.url(), plan).unwrap_or_else(|e| panic!("{e}\n{}", node.logs()));
    (node, truth)
}

#[test]
fn scenario_on_anvil_matches_its_ground_truth_and_the_store() {
    let plan = Scenario::plan(&config()).unwrap();
    let (anvil, truth) = play(&plan);
    truth.check().unwrap();
    eprintln!(
        "{} txs ({} heist), {} links, resting: {:?}",
        truth.txs.len(),
        truth.txs.iter().filter(|t| t.heist).count(),
        truth.links.len(),
        truth
            .resting
            .iter()
            .map(|r| (r.kind, r.asset, r.stolen))
            .collect::<Vec<_>>()
    );
    let node = Node::new(anvil.url());
    let token = truth.contracts[&ContractKind::Stablecoin].clone();

    // Every tx succeeded on the node.
    assert_eq!(truth.txs.len(), plan.steps().count());
    for tx in &truth.txs {
        let r = node
            .rpc("eth_getTransactionReceipt", json!([tx.hash]))
            .unwrap();
        assert_eq!(r["status"], "0x1", "{}", tx.hash);
    }

    // Balances from the ground truth's movements equal the node's (the faucet's start balance
    // was set, not sent).
    let mut eth: BTreeMap<&str, i128> = BTreeMap::new();
    let mut tok: BTreeMap<&str, i128> = BTreeMap::new();
    for tx in &truth.txs {
        *eth.entry(&tx.sender).or_insert(0) -= tx.fee as i128;
        for t in &tx.transfers {
            let m = if t.asset == Asset::Eth {
                &mut eth
            } else {
                &mut tok
            };
            *m.entry(&t.from).or_insert(0) -= t.amount as i128;
            *m.entry(&t.to).or_insert(0) += t.amount as i128;
        }
    }
    for a in &truth.addresses {
        if a.address == plan.faucet {
            continue;
        }
        let want_eth = eth.get(a.address.as_str()).copied().unwrap_or(0);
        assert_eq!(
            node.eth_balance(&a.address).unwrap() as i128,
            want_eth,
            "ether of {} ({})",
            a.address,
            a.role
        );
        if !a.contract || a.address != token {
            let want = tok.get(a.address.as_str()).copied().unwrap_or(0);
            assert_eq!(
                node.token_balance(&token, &a.address).unwrap() as i128,
                want,
                "SUSD of {} ({})",
                a.address,
                a.role
            );
        }
    }

    // Resting places hold what the truth says rests there.
    for r in &truth.resting {
        let Some(a) = &r.address else { continue };
        let held = match r.asset {
            Asset::Eth => node.eth_balance(a).unwrap(),
            Asset::Susd => node.token_balance(&token, a).unwrap(),
            Asset::Ltc => unreachable!("an EVM-only scenario has no LTC"),
        };
        assert!(
            held >= r.stolen,
            "{a} holds {held}, {} stolen said to rest there",
            r.stolen
        );
    }
    for kind in [
        RestingKind::ExchangeDeposit,
        RestingKind::MixerDark,
        RestingKind::FreezableStablecoin,
    ] {
        assert!(truth.resting.iter().any(|r| r.kind == kind), "no {kind:?}");
    }

    // The store, fed from the node, holds every ground-truth transfer and fee.
    let client =
        BlockingEvmClient::connect(anvil.url(), Chain::Evm(31337), ClientOptions::default())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let tip = client.tip().unwrap();
    let blocks = client.fetch_blocks(0..=tip).unwrap();
    store
        .apply_account_blocks(
            &blocks
                .iter()
                .map(EvmBlock::to_account_block)
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let asset_text = |a: Asset| match a {
        Asset::Eth => "native".to_string(),
        Asset::Susd | Asset::Ltc => token.clone(),
    };
    for tx in &truth.txs {
        let found = store
            .account_tx(Some(Chain::Evm(31337)), &tx.hash.parse().unwrap())
            .unwrap();
        assert_eq!(found.len(), 1, "{} not in the store", tx.hash);
        let mut stored: Vec<_> = found[0].transfers.clone();
        let fee: u128 = stored
            .iter()
            .filter(|t| t.source.starts_with("fee:"))
            .map(|t| t.amount.units())
            .sum();
        assert_eq!(fee, tx.fee, "fee of {}", tx.hash);
        for t in &tx.transfers {
            let pos = stored.iter().position(|s| {
                s.asset.eq_ignore_ascii_case(&asset_text(t.asset))
                    && s.from.eq_ignore_ascii_case(&t.from)
                    && s.to.eq_ignore_ascii_case(&t.to)
                    && s.amount.units() == t.amount
            });
            let Some(pos) = pos else {
                panic!(
                    "{} ({}): {t:?} not in the store: {stored:?}",
                    tx.hash, tx.purpose
                );
            };
            stored.remove(pos);
        }
    }

    // Written next to the data.
    let out = dir.path().join("truth");
    truth.write(&out).unwrap();
    let back: GroundTruth =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(back, truth);
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    assert!(labels.starts_with("chain,address,label,category,source,confidence\n"));
    for cat in ["exchange", "dex", "mixer", "issuer"] {
        assert!(labels.contains(&format!(",{cat},")), "no {cat} label");
    }

    // The issuer can freeze what the launderer kept in the stablecoin: its transfers revert.
    let kept = truth
        .resting
        .iter()
        .find(|r| r.kind == RestingKind::FreezableStablecoin)
        .and_then(|r| r.address.clone())
        .unwrap();
    let issuer = truth
        .addresses
        .iter()
        .find(|a| a.entity == "issuer" && !a.contract)
        .unwrap()
        .address
        .clone();
    let send = |from: &str, data: Vec<u8>| {
        node.rpc("anvil_impersonateAccount", json!([from])).unwrap();
        let tx = json!({"from": from, "to": token, "data": format!("0x{}", alloy::hex::encode(data)), "gas": "0x30000"});
        let hash = node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        anvil.wait_receipt(hash.as_str().unwrap()).unwrap()["status"].clone()
    };
    let moved = transferCall {
        to: issuer.parse().unwrap(),
        value: U256::from(1u64),
    }
    .abi_encode();
    let freeze = setFrozenCall {
        who: kept.parse().unwrap(),
        f: true,
    }
    .abi_encode();
    assert_eq!(send(&issuer, freeze), "0x1");
    assert_eq!(send(&kept, moved), "0x0", "a frozen address can still send");

    // The same seed on a fresh node: the same ground truth.
    let (_again, truth2) = play(&Scenario::plan(&config()).unwrap());
    assert_eq!(
        serde_json::to_string(&truth).unwrap(),
        serde_json::to_string(&truth2).unwrap()
    );
    // The same plan again on the same node is refused (its addresses are used).
    let e = run_on_anvil(anvil.url(), &plan).unwrap_err().to_string();
    assert!(e.contains("already used"), "{e}");
    // A plan with a UTXO side needs a UTXO node too.
    let both = Scenario::plan(&Config {
        utxo: true,
        ..config()
    })
    .unwrap();
    let e = run_on_anvil(anvil.url(), &both).unwrap_err().to_string();
    assert!(e.contains("--ltc-rpc"), "{e}");
}

/// The default (larger) scenario's EVM half plays too, and its ground truth holds.
#[test]
fn default_scenario_plays() {
    let plan = Scenario::plan(&Config {
        utxo: false,
        ..Config::default()
    })
    .unwrap();
    let (anvil, truth) = play(&plan);
    truth.check().unwrap();
    assert_eq!(truth.txs.len(), plan.steps().count());
    if let Some(dir) = std::env::var_os("TRACEHOUND_SIM_OUT") {
        truth.write(std::path::Path::new(&dir)).unwrap();
    }
    let node = Node::new(anvil.url());
    let stolen: u128 = truth.incident.stolen.iter().map(|a| a.amount).sum();
    assert_eq!(stolen, plan.config.stolen_eth + plan.config.stolen_token);
    let patterns = truth
        .patterns
        .iter()
        .filter(|p| p.kind == "peel_chain")
        .count();
    assert_eq!(patterns, plan.config.consolidators as usize);
    for r in truth
        .resting
        .iter()
        .filter(|r| r.kind == RestingKind::ExchangeDeposit && r.asset == Asset::Eth)
    {
        let a = r.address.as_deref().unwrap();
        assert!(node.eth_balance(a).unwrap() >= r.stolen);
    }
}
