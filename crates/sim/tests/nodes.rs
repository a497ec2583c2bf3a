//! The whole scenario on real nodes: a `litecoind -regtest` and an anvil, both started here.
//! Every tx of both chains must be confirmed where the ground truth says; every scenario
//! address's balance on the nodes (UTXO set scanned on litecoind, ether and stablecoin on
//! anvil) must equal what the ground truth's outputs, inputs, transfers and fees add up to;
//! the cross-chain payouts must carry the memos the truth names; and the same seed on fresh
//! nodes must give byte-identical ground truth. (`crates/cli/tests/it/sim.rs` ingests the
//! chains with the `tracehound` binary and finds every truth output and transfer in the store.)
//!
//! Needs `anvil` (`scripts/install-anvil` or `$ANVIL_BIN`) and `litecoind`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde_json::{Value, json};
use tracehound_btc::decode::decode_utxo_block;
use tracehound_btc::links::add_link_facts;
use tracehound_btc::resolve::UtxoResolver;
use tracehound_btc::testnode::Litecoind;
use tracehound_core::{Chain, LinkConfig, LinkFact};
use tracehound_evm::testnode::Anvil;
use tracehound_sim::plan::SETUP_BLOCKS;
use tracehound_sim::{Asset, Config, ContractKind, GroundTruth, Node, Plan, RestingKind, Scenario};

/// A small scenario with every part of the playbook.
fn config() -> Config {
    Config {
        seed: 42,
        users: 6,
        background_blocks: 4,
        fan_out: 12,
        consolidators: 2,
        hops: 2,
        utxo_hops: 3,
        coinjoin_peers: 3,
        ..Config::default()
    }
}

fn play(plan: &Plan) -> (Anvil, Litecoind, GroundTruth) {
    let anvil = Anvil::start().expect("start anvil (run scripts/install-anvil)");
    let ltc = Litecoind::start().expect("start litecoind");
    let truth = tracehound_sim::run_on_nodes(anvil.url(), &ltc.client(), plan)
        .unwrap_or_else(|e| panic!("{e}\n{}", anvil.logs()));
    (anvil, ltc, truth)
}

/// Exact litoshi of an RPC coin value (the number's text, never a float).
fn litoshi(v: &Value) -> u64 {
    bitcoin::Amount::from_str_in(&v.to_string(), bitcoin::Denomination::Bitcoin)
        .unwrap_or_else(|e| panic!("amount {v}: {e}"))
        .to_sat()
}

#[test]
fn scenario_on_litecoind_and_anvil_matches_its_ground_truth() {
    let plan = Scenario::plan(&config()).unwrap();
    let started = std::time::Instant::now();
    let (anvil, ltc, truth) = play(&plan);
    eprintln!(
        "played in {:.1} s: {} EVM txs, {} UTXO txs, {} links, resting {:?}",
        started.elapsed().as_secs_f64(),
        truth.txs.len(),
        truth.utxo_txs.len(),
        truth.links.len(),
        truth
            .resting
            .iter()
            .map(|r| (r.kind, r.asset, r.stolen))
            .collect::<Vec<_>>()
    );
    truth.check().unwrap();
    let utxo = plan.utxo.as_ref().unwrap();
    assert_eq!(truth.utxo_txs.len(), utxo.steps().count());
    assert_eq!(truth.txs.len(), plan.steps().count());

    // Every UTXO tx is in the block the truth names, at its index; the chain is as long as
    // the plan's blocks.
    let client = ltc.client();
    let height: u64 = client.call("getblockcount", json!([])).unwrap();
    assert_eq!(height, u64::from(SETUP_BLOCKS) + utxo.blocks.len() as u64);
    for tx in &truth.utxo_txs {
        let hash: String = client.call("getblockhash", json!([tx.height])).unwrap();
        let block: Value = client.call("getblock", json!([hash, 2])).unwrap();
        let found = &block["tx"][tx.index as usize];
        assert_eq!(
            found["txid"],
            tx.txid.as_str(),
            "{} at {}",
            tx.purpose,
            tx.height
        );
        // Its outputs and memo are the truth's.
        let vout = found["vout"].as_array().unwrap();
        for o in &tx.outputs {
            let v = &vout[o.vout as usize];
            assert_eq!(litoshi(&v["value"]), o.amount, "{}:{}", tx.txid, o.vout);
            assert_eq!(v["scriptPubKey"]["addresses"][0], o.address.as_str());
        }
        if let Some(memo) = &tx.memo {
            let script = vout[tx.outputs.len()]["scriptPubKey"]["hex"]
                .as_str()
                .unwrap();
            let hex_memo = hex_of(memo.as_bytes());
            assert!(
                script.starts_with("6a") && script.ends_with(&hex_memo),
                "{script}"
            );
        }
        for (i, input) in tx.inputs.iter().enumerate() {
            assert_eq!(found["vin"][i]["txid"], input.txid.as_str());
            assert_eq!(found["vin"][i]["vout"], input.vout);
        }
    }

    // UTXO balances: the node's UTXO set per scenario address equals the truth's outputs
    // minus inputs (the faucet and the miner hold coinbases the truth does not list).
    let faucet_miner = [utxo.faucet.as_str(), utxo.miner.as_str()];
    let ltc_addresses: Vec<&str> = truth
        .addresses
        .iter()
        .filter(|a| a.chain == "litecoin-regtest" && !faucet_miner.contains(&a.address.as_str()))
        .map(|a| a.address.as_str())
        .collect();
    let mut want: BTreeMap<&str, i128> = ltc_addresses.iter().map(|a| (*a, 0)).collect();
    for tx in &truth.utxo_txs {
        for i in &tx.inputs {
            *want.entry(&i.address).or_insert(0) -= i128::from(i.amount);
        }
        for o in &tx.outputs {
            *want.entry(&o.address).or_insert(0) += i128::from(o.amount);
        }
    }
    let descs: Vec<String> = ltc_addresses.iter().map(|a| format!("addr({a})")).collect();
    let scan: Value = client
        .call("scantxoutset", json!(["start", descs]))
        .unwrap();
    let mut got: BTreeMap<&str, i128> = ltc_addresses.iter().map(|a| (*a, 0)).collect();
    for u in scan["unspents"].as_array().unwrap() {
        let desc = u["desc"].as_str().unwrap();
        let address = desc.trim_start_matches("addr(").split(')').next().unwrap();
        let a = ltc_addresses
            .iter()
            .find(|x| **x == address)
            .unwrap_or_else(|| panic!("unspent of {desc} outside the scan"));
        *got.get_mut(a).unwrap() += i128::from(litoshi(&u["amount"]));
    }
    for a in &ltc_addresses {
        assert_eq!(got[a], want[a], "litoshi of {a}");
    }
    assert!(got.values().filter(|v| **v > 0).count() > 10);

    // EVM balances, as in anvil.rs: the truth's transfers and fees add up to the node's.
    let node = Node::new(anvil.url());
    let token = truth.contracts[&ContractKind::Stablecoin].clone();
    let mut eth: BTreeMap<&str, i128> = BTreeMap::new();
    let mut tok: BTreeMap<&str, i128> = BTreeMap::new();
    for tx in &truth.txs {
        let r = node
            .rpc("eth_getTransactionReceipt", json!([tx.hash]))
            .unwrap();
        assert_eq!(r["status"], "0x1", "{}", tx.hash);
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
    for a in truth.addresses.iter().filter(|a| a.chain == "evm-31337") {
        if a.address == plan.faucet {
            continue;
        }
        let want = eth.get(a.address.as_str()).copied().unwrap_or(0);
        assert_eq!(
            node.eth_balance(&a.address).unwrap() as i128,
            want,
            "ether of {} ({})",
            a.address,
            a.role
        );
        if a.address != token {
            let want = tok.get(a.address.as_str()).copied().unwrap_or(0);
            assert_eq!(
                node.token_balance(&token, &a.address).unwrap() as i128,
                want
            );
        }
    }

    // Cross-chain links both ways, with their memos on chain; every pattern kind; the
    // resting kinds of both chains.
    for (kind, from_chain) in [
        ("bridge", "evm-31337"),
        ("bridge", "litecoin-regtest"),
        ("chain_swap", "evm-31337"),
        ("chain_swap", "litecoin-regtest"),
    ] {
        // The launderer's crossing (carrying stolen value, on the way over), else any.
        let l = truth
            .links
            .iter()
            .filter(|l| l.kind == kind && l.in_chain == from_chain)
            .max_by_key(|l| l.stolen_in)
            .unwrap_or_else(|| panic!("no {kind} link from {from_chain}"));
        assert_ne!(l.in_chain, l.out_chain);
        assert!(l.amount_in > 0 && l.amount_out > 0 && l.memo_in.is_some());
        if from_chain == "evm-31337" {
            let out = truth.utxo_txs.iter().find(|t| t.txid == l.out_tx).unwrap();
            assert_eq!(
                out.memo.as_deref(),
                Some(format!("OUT:{}", l.in_tx.trim_start_matches("0x").to_uppercase()).as_str())
            );
            assert_eq!(u128::from(out.link_in), l.stolen_out);
            assert!(l.stolen_in > 0, "{l:?}");
        } else {
            if kind == "bridge" {
                // The launderer bridges part of the peel chain's end straight back.
                assert!(l.stolen_in > 0 && l.stolen_out > 0, "{l:?}");
                let release = truth.txs.iter().find(|t| t.hash == l.out_tx).unwrap();
                assert_eq!(release.transfers[0].stolen, l.stolen_out);
            }
            let tx = node
                .rpc("eth_getTransactionByHash", json!([l.out_tx]))
                .unwrap();
            let input = tx["input"].as_str().unwrap();
            if kind == "chain_swap" {
                assert_eq!(
                    input,
                    format!("0x{}", hex_of(l.memo_out.as_ref().unwrap().as_bytes()))
                );
            } else {
                // release(to, amount, sourceTx): the deposit's txid is the last word.
                assert!(input.ends_with(&l.in_tx), "{input}");
            }
        }
    }
    for kind in [
        "peel_chain",
        "coinjoin",
        "bridge_hop",
        "chain_swap",
        "privacy_exit",
    ] {
        assert!(truth.patterns.iter().any(|p| p.kind == kind), "no {kind}");
    }
    let coinjoin = truth
        .patterns
        .iter()
        .find(|p| p.kind == "coinjoin")
        .unwrap();
    let cj = truth
        .utxo_txs
        .iter()
        .find(|t| t.txid == coinjoin.txs[0])
        .unwrap();
    let mut values: BTreeMap<u64, usize> = BTreeMap::new();
    for o in &cj.outputs {
        *values.entry(o.amount).or_insert(0) += 1;
    }
    assert!(
        cj.inputs.len() > 3 && values.values().any(|n| *n >= 4),
        "{cj:?}"
    );
    for (kind, asset) in [
        (RestingKind::ExchangeDeposit, Asset::Ltc),
        (RestingKind::PrivacyExit, Asset::Ltc),
        (RestingKind::ExchangeDeposit, Asset::Eth),
        (RestingKind::MixerDark, Asset::Eth),
        (RestingKind::Fee, Asset::Ltc),
    ] {
        assert!(
            truth.resting_total(kind, asset) > 0,
            "nothing {kind:?} in {asset:?}"
        );
    }
    let labels: Vec<_> = truth
        .labels
        .iter()
        .map(|l| (&l.chain[..], &l.category[..]))
        .collect();
    for want in [
        ("litecoin-regtest", "exchange"),
        ("litecoin-regtest", "bridge"),
        ("litecoin-regtest", "vault"),
        ("evm-31337", "bridge"),
        ("evm-31337", "vault"),
    ] {
        assert!(labels.contains(&want), "no label {want:?}");
    }

    // Refused on a used UTXO node.
    let fresh_anvil = Anvil::start().unwrap();
    let e = tracehound_sim::run_on_nodes(fresh_anvil.url(), &client, &plan)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fresh litecoind"), "{e}");

    // Same seed, fresh nodes: byte-identical ground truth.
    drop((anvil, ltc, fresh_anvil));
    let (_a, _l, again) = play(&Scenario::plan(&config()).unwrap());
    assert_eq!(
        serde_json::to_string(&truth).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn utxo_amounts_parse_exactly() {
    assert_eq!(
        litoshi(&serde_json::from_str("12.34567891").unwrap()),
        1_234_567_891
    );
    assert_eq!(
        bitcoin::Amount::from_str("0.1 BTC").unwrap().to_sat(),
        10_000_000
    );
}

/// The default scenario (what `tracehound sim run --ltc-rpc` plays without a config) plays on
/// both nodes too, and its ground truth holds.
#[test]
fn default_scenario_plays_on_both_nodes() {
    let plan = Scenario::plan(&Config::default()).unwrap();
    let started = std::time::Instant::now();
    let (_anvil, _ltc, truth) = play(&plan);
    eprintln!(
        "default scenario: {} EVM txs, {} UTXO txs in {:.1} s",
        truth.txs.len(),
        truth.utxo_txs.len(),
        started.elapsed().as_secs_f64()
    );
    truth.check().unwrap();
    assert_eq!(
        truth.utxo_txs.len(),
        plan.utxo.as_ref().unwrap().steps().count()
    );
    if let Some(dir) = std::env::var_os("TRACEHOUND_SIM_OUT") {
        truth.write(std::path::Path::new(&dir)).unwrap();
    }
}

/// The UTXO chain as litecoind has it, inputs resolved, read under a config naming the bridge
/// wallets and vaults the truth's links use there: one entry per deposit to them (destination
/// from its memo, payer its first input), one exit per payout (its `OUT:` memo naming the EVM
/// tx in), amounts exact, and nothing else.
#[test]
fn utxo_link_facts_match_the_ground_truth() {
    let plan = Scenario::plan(&config()).unwrap();
    let (_anvil, ltc, truth) = play(&plan);
    let utxo_chain = "litecoin-regtest";
    let (mut wallets, mut vaults) = (BTreeSet::new(), BTreeSet::new());
    for l in &truth.links {
        for (chain, address) in [(&l.in_chain, &l.in_address), (&l.out_chain, &l.out_address)] {
            match (chain == utxo_chain, l.kind.as_str()) {
                (true, "bridge") => wallets.insert(address.clone()),
                (true, "chain_swap") => vaults.insert(address.clone()),
                _ => false,
            };
        }
    }
    let place = |a: &String| json!({"chain": utxo_chain, "address": a});
    let config: LinkConfig = serde_json::from_value(json!({
        "bridge": [{"name": "sim-bridge", "wallets": wallets.iter().map(place).collect::<Vec<_>>()}],
        "vault": [{"name": "sim-chainswap", "vaults": vaults.iter().map(place).collect::<Vec<_>>()}],
    }))
    .unwrap();

    let client = ltc.client();
    let tip = client.get_block_count().unwrap();
    let mut resolver = UtxoResolver::default();
    let mut facts = Vec::new();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for height in 0..=tip {
        let hash = client.get_block_hash(height).unwrap();
        let raw = client.get_block_raw(&hash).unwrap();
        let mut block = decode_utxo_block(&raw, Chain::LitecoinRegtest, height).unwrap();
        resolver.resolve(&mut block).unwrap();
        for (reason, n) in add_link_facts(&mut block, &config) {
            *reasons.entry(reason).or_default() += n;
        }
        facts.extend(block.links);
    }
    // Payments to a wallet or vault without memo (their funding) are recognised, not linked;
    // a tx paying several counts once, for the first output paying one.
    let mut unlinked: BTreeMap<String, u64> = BTreeMap::new();
    let from_service = |t: &tracehound_sim::truth::UtxoTxTruth| {
        t.inputs
            .iter()
            .any(|i| wallets.contains(&i.address) || vaults.contains(&i.address))
    };
    for t in truth.utxo_txs.iter().filter(|t| t.memo.is_none()) {
        let first = t.outputs.iter().find_map(|o| {
            if wallets.contains(&o.address) {
                Some("bridge")
            } else if vaults.contains(&o.address) {
                Some("chain_swap")
            } else {
                None
            }
        });
        if let (Some(kind), false) = (first, from_service(t)) {
            eprintln!("{kind} paid without memo: {} ({})", t.txid, t.purpose);
            *unlinked
                .entry(format!("{kind} deposit without memo"))
                .or_default() += 1;
        }
    }
    assert_eq!(reasons, unlinked);

    let mut want = 0;
    for l in truth
        .links
        .iter()
        .filter(|l| l.kind == "bridge" || l.kind == "chain_swap")
    {
        let service = if l.kind == "bridge" {
            "sim-bridge"
        } else {
            "sim-chainswap"
        };
        if l.in_chain == utxo_chain {
            want += 1;
            let tx = truth.utxo_txs.iter().find(|t| t.txid == l.in_tx).unwrap();
            let memo = l.memo_in.as_deref().unwrap();
            let f = facts
                .iter()
                .find(|f| matches!(f, LinkFact::Entry { leg, .. } if leg.tx == l.in_tx))
                .unwrap_or_else(|| panic!("no entry for {l:?}"));
            let LinkFact::Entry {
                kind,
                service: s,
                contract,
                leg,
                destination,
                ..
            } = f
            else {
                unreachable!()
            };
            assert_eq!((kind.name(), s.as_str()), (l.kind.as_str(), service));
            assert_eq!(
                (contract, leg.amount),
                (&l.in_address, l.amount_in),
                "{l:?}"
            );
            assert_eq!(leg.party, tx.inputs[0].address);
            let d = destination.as_ref().unwrap();
            // A bridge's memo is the payee; a vault's a swap memo naming it.
            if l.kind == "bridge" {
                assert_eq!((d.chain.as_deref(), d.address.as_str()), (None, memo));
            } else {
                assert!(memo.ends_with(&format!(":{}", d.address)), "{memo} {d:?}");
                assert!(d.chain.is_some(), "{d:?}");
            }
        }
        if l.out_chain == utxo_chain {
            want += 1;
            let f = facts
                .iter()
                .find(|f| matches!(f, LinkFact::Exit { leg, .. } if leg.tx == l.out_tx))
                .unwrap_or_else(|| panic!("no exit for {l:?}"));
            let LinkFact::Exit {
                kind,
                service: s,
                contract,
                leg,
                reference,
                ..
            } = f
            else {
                unreachable!()
            };
            assert_eq!((kind.name(), s.as_str()), (l.kind.as_str(), service));
            assert_eq!(
                (contract, leg.amount),
                (&l.out_address, l.amount_out),
                "{l:?}"
            );
            assert_eq!(
                reference.as_deref(),
                Some(l.in_tx.trim_start_matches("0x").to_uppercase().as_str())
            );
        }
    }
    assert!(want >= 4, "both kinds both ways: {want}");
    assert_eq!(facts.len(), want, "{facts:#?}");
}
