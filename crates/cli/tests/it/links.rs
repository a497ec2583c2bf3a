//! Link facts on real nodes: `tracehound sim run` plays a heist on a real anvil and a real
//! `litecoind -regtest` (pool swaps, mixer notes, bridge locks and releases, chain-swap vault
//! memos), writes `links.toml` beside its ground truth, and `tracehound ingest evm --links`
//! must store a link fact for every link of the truth, with its exact amounts; swap facts are
//! scored (precision and recall) against every swap the scenario made. Also: a contract on
//! anvil emitting a Uniswap V2 `Swap` with no transfers behind it gives no fact, and is counted;
//! a THORChain-style router's `Deposit` and `TransferOut` on anvil are a chain-swap entry and
//! an exit naming it; a bad link config is refused with its file, entry and field named.
#![cfg(feature = "test-anvil")]

use tracehound_core::{Chain, LinkFact};
use tracehound_store::{Store, StoreOptions};

use crate::common::{ok, tracehound};

const EVM: Chain = Chain::Evm(31337);

/// Every link fact of the store's `chain`, in height order.
fn facts(store: &Store, chain: Chain) -> Vec<LinkFact> {
    let tip = store.tip(chain).unwrap().map_or(0, |t| t.height);
    (0..=tip)
        .flat_map(|h| store.link_facts(chain, h).unwrap())
        .collect()
}

/// On both nodes: the simulator's heist.
#[cfg(feature = "test-litecoind")]
mod on_both_nodes {
    use std::collections::BTreeMap;

    use tracehound_core::link::{memo, normal_ref};
    use tracehound_core::{LinkFact, LinkKind};
    use tracehound_sim::{Asset, ContractKind, GroundTruth};
    use tracehound_store::{Store, StoreOptions};

    use super::{EVM, facts};

    /// The stored transfer a leg names: (asset, amount, from, to).
    fn stored_leg(store: &Store, tx: &str, leg: u32) -> (String, u128, String, String) {
        let hash = tx.trim_start_matches("0x").parse().unwrap();
        let views = store.account_tx(Some(EVM), &hash).unwrap();
        let t = views[0]
            .transfers
            .iter()
            .find(|t| t.sub_index == leg)
            .unwrap_or_else(|| panic!("no transfer {leg} in {tx}"));
        (
            t.asset.clone(),
            t.amount.units(),
            t.from.clone(),
            t.to.clone(),
        )
    }

    #[test]
    fn simulated_links_are_stored_as_link_facts_with_exact_amounts() {
        use tracehound_btc::testnode::Litecoind;
        use tracehound_evm::testnode::Anvil;
        let anvil = Anvil::start().unwrap();
        let ltc = Litecoind::start().unwrap();
        let work = tempfile::tempdir().unwrap();
        let data = work.path().join("store");
        let truth_dir = crate::heist::play(work.path(), &data, &anvil, &ltc).truth_dir;
        let truth: GroundTruth =
            serde_json::from_slice(&std::fs::read(truth_dir.join("truth.json")).unwrap()).unwrap();
        let links = truth_dir.join("links.toml");
        let (btc, report) = crate::heist::ingest_both(&data, &anvil, &ltc, links.to_str());
        assert!(btc["links"].is_object(), "{btc}");
        eprintln!("ingest evm links: {}", report["links"]);

        let store = Store::open(&data, &StoreOptions::default()).unwrap();
        let all = facts(&store, EVM);
        // Every leg names a stored transfer with the leg's asset and amount (a swap's input and
        // output legs: the first and last transfers; their amounts may total several).
        for f in &all {
            let legs: Vec<&tracehound_core::LinkLeg> = match f {
                LinkFact::Within { input, output, .. } => vec![input, output],
                LinkFact::Entry { leg, .. } | LinkFact::Exit { leg, .. } => vec![leg],
            };
            for l in legs {
                let (asset, amount, from, to) = stored_leg(&store, &l.tx, l.leg);
                assert_eq!(asset, l.asset, "{f:?}");
                assert!(amount <= l.amount, "{f:?}");
                assert!(l.party == from || l.party == to, "{f:?}");
            }
        }
        let counted: u64 = report["links"]["facts"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(
            counted,
            all.len() as u64,
            "the report counts what is stored"
        );

        let asset = |a: Asset| match a {
            Asset::Eth => "native".to_string(),
            Asset::Susd => truth.contracts[&ContractKind::Stablecoin].to_ascii_lowercase(),
            Asset::Ltc => "native".to_string(),
        };
        let same_tx = |a: &str, b: &str| normal_ref(a) == normal_ref(b);
        let swaps: Vec<(&tracehound_core::LinkLeg, &tracehound_core::LinkLeg)> = all
            .iter()
            .filter_map(|f| match f {
                LinkFact::Within {
                    kind: LinkKind::Swap,
                    input,
                    output,
                    ..
                } => Some((input, output)),
                _ => None,
            })
            .collect();

        // The truth's links (those stolen value crossed), each a fact with its amounts.
        let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
        let memos_parse = memo::parse("=:LTC.LTC:x").is_ok();
        for l in &truth.links {
            let evm_in = l.in_chain == "evm-31337";
            let evm_out = l.out_chain == "evm-31337";
            match l.kind.as_str() {
                "swap" => {
                    let found = swaps.iter().find(|(i, _)| same_tx(&i.tx, &l.in_tx));
                    let Some((input, output)) = found else {
                        panic!("no swap fact for {l:?}")
                    };
                    assert_eq!(
                        (input.amount, output.amount),
                        (l.amount_in, l.amount_out),
                        "{l:?}"
                    );
                    assert_eq!(
                        (input.asset.clone(), output.asset.clone()),
                        (asset(l.asset_in), asset(l.asset_out))
                    );
                }
                "mixer" | "bridge" | "chain_swap" => {
                    let kind = match l.kind.as_str() {
                        "mixer" => LinkKind::Mixer,
                        "bridge" => LinkKind::Bridge,
                        _ => LinkKind::ChainSwap,
                    };
                    let memo_entry = kind == LinkKind::ChainSwap && !memos_parse;
                    if evm_in && !memo_entry {
                        let entry = all.iter().find(|f| {
                            matches!(f, LinkFact::Entry { kind: k, leg, .. }
                                if *k == kind && same_tx(&leg.tx, &l.in_tx))
                        });
                        let Some(LinkFact::Entry {
                            leg,
                            id,
                            destination,
                            gas_price,
                            ..
                        }) = entry
                        else {
                            panic!("no entry fact for {l:?}")
                        };
                        assert_eq!(leg.amount, l.amount_in, "{l:?}");
                        assert!(gas_price.is_some());
                        match kind {
                            LinkKind::Mixer => assert!(id.is_some(), "a commitment"),
                            _ => assert_eq!(
                                destination.as_ref().map(|d| d.address.as_str()),
                                l.memo_in
                                    .as_deref()
                                    .map(|m| m.rsplit(':').next().unwrap_or(m)),
                                "{l:?}"
                            ),
                        }
                        *checked.entry("entries").or_insert(0) += 1;
                    }
                    if evm_out && !memo_entry {
                        let exit = all.iter().find(|f| {
                            matches!(f, LinkFact::Exit { kind: k, leg, .. }
                                if *k == kind && same_tx(&leg.tx, &l.out_tx))
                        });
                        let Some(LinkFact::Exit {
                            leg,
                            reference,
                            relayer,
                            ..
                        }) = exit
                        else {
                            panic!("no exit fact for {l:?}")
                        };
                        assert_eq!(leg.amount, l.amount_out, "{l:?}");
                        match kind {
                            LinkKind::Mixer => {
                                assert!(relayer.is_some(), "the relayer submitted it")
                            }
                            _ => assert!(
                                reference.as_deref().is_some_and(|r| same_tx(r, &l.in_tx)),
                                "{l:?}: {reference:?}"
                            ),
                        }
                        *checked.entry("exits").or_insert(0) += 1;
                    }
                }
                other => panic!("unknown link kind {other}"),
            }
            *checked.entry(l.kind.as_str()).or_insert(0) += 1;
        }
        eprintln!("truth links checked: {checked:?}");
        assert!(checked.get("swap").copied().unwrap_or(0) > 0, "{checked:?}");
        assert!(
            checked.get("mixer").copied().unwrap_or(0) > 0,
            "{checked:?}"
        );
        assert!(
            checked.get("bridge").copied().unwrap_or(0) > 0,
            "{checked:?}"
        );

        // Swap facts against every swap the scenario made (stolen or not): a tx paying the pool
        // and paid by it.
        let pool = truth.contracts[&ContractKind::Pool].to_ascii_lowercase();
        let real: Vec<(&str, u128, u128)> = truth
            .txs
            .iter()
            .filter_map(|t| {
                let into = t.transfers.iter().find(|m| m.to == pool)?;
                let out = t.transfers.iter().find(|m| m.from == pool)?;
                Some((t.hash.as_str(), into.amount, out.amount))
            })
            .collect();
        let hits = swaps
            .iter()
            .filter(|(i, o)| {
                real.iter()
                    .any(|(h, a, b)| same_tx(h, &i.tx) && *a == i.amount && *b == o.amount)
            })
            .count();
        let truth_swaps = truth.links.iter().filter(|l| l.kind == "swap").count();
        let precision = hits as f64 / swaps.len().max(1) as f64;
        let recall = hits as f64 / real.len().max(1) as f64;
        eprintln!(
            "swap facts: {}, scenario swaps: {} ({truth_swaps} carrying stolen value), exact: {hits}; precision {precision:.3}, recall {recall:.3}",
            swaps.len(),
            real.len()
        );
        assert_eq!(precision, 1.0);
        assert_eq!(recall, 1.0);
    }
}

/// A contract whose code emits a Uniswap V2 `Swap` (0x…d822; amount0In 5, amount1Out 7,
/// sender and `to` the caller) and moves nothing: hand-written bytecode, so no compiler.
fn fake_pair_init_code() -> Vec<u8> {
    let topic0 = "d78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822";
    let runtime = format!(
        "6005600052\
         6007606052\
         3333\
         7f{topic0}\
         60806000a3\
         00"
    );
    let runtime = alloy::hex::decode(runtime).unwrap();
    // CODECOPY the runtime (after these 12 bytes) to memory and RETURN it.
    let len = u8::try_from(runtime.len()).unwrap();
    let mut init = vec![
        0x60, len, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3,
    ];
    init.extend(runtime);
    init
}

#[test]
fn a_swap_event_without_transfers_on_anvil_is_no_fact_and_counted() {
    use serde_json::{Value, json};
    use tracehound_evm::testnode::Anvil;
    let node = Anvil::start().unwrap();
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let send = |to: Option<&str>, data: &[u8]| -> Value {
        let mut tx =
            json!({"from": accounts[0], "data": format!("0x{}", alloy::hex::encode(data))});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let hash: String = node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        node.wait_receipt(&hash).unwrap()
    };
    let deployed = send(None, &fake_pair_init_code());
    let pair = deployed["contractAddress"].as_str().unwrap().to_string();
    let called = send(Some(&pair), &[]);
    assert_eq!(called["logs"].as_array().unwrap().len(), 1, "{called}");
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("store");
    let out = ok(tracehound(
        &data,
        &[
            "--json",
            "ingest",
            "evm",
            "--chain",
            "31337",
            "--rpc",
            node.url(),
        ],
    ));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["links"]["skipped"],
        json!({"swap event without matching transfers": 1}),
        "{report}"
    );
    assert_eq!(report["links"]["facts"], json!({}));
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    assert!(facts(&store, EVM).is_empty());
}

mod router_calls {
    alloy::sol! {
        function deposit(address vault, address asset, uint256 amount, string memo) external payable;
        function transferOut(address to, address asset, uint256 amount, string memo) external payable;
    }
}

#[test]
fn thorchain_router_deposit_and_transfer_out_on_anvil_are_entry_and_exit() {
    use alloy::primitives::{Address as EvmAddress, U256};
    use alloy::sol_types::SolCall;
    use serde_json::{Value, json};
    use tracehound_core::{Destination, LinkKind, LinkLeg};
    use tracehound_evm::testnode::Anvil;

    use crate::anvil::{bin, hex0x, quantity};

    let node = Anvil::start().unwrap();
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let (user, vault) = (
        accounts[0].to_ascii_lowercase(),
        accounts[1].to_ascii_lowercase(),
    );
    let payee = "0x8888888888888888888888888888888888888888";
    let send = |from: &str, to: Option<&str>, value: u128, data: &[u8]| -> Value {
        let mut tx = json!({"from": from, "value": format!("{value:#x}"), "data": hex0x(data)});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let hash: String = node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        let receipt = node.wait_receipt(&hash).unwrap();
        assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
        receipt
    };
    let code = alloy::hex::decode(bin("Router").trim()).unwrap();
    let router = send(&user, None, 0, &code)["contractAddress"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();

    let memo = "=:LTC.LTC:rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9:12345";
    let amount_in = 3 * 10u128.pow(18);
    let call = router_calls::depositCall {
        vault: vault.parse::<EvmAddress>().unwrap(),
        asset: EvmAddress::ZERO,
        amount: U256::from(amount_in),
        memo: memo.into(),
    };
    let inbound = send(&user, Some(&router), amount_in, &call.abi_encode());
    let inbound_tx = inbound["transactionHash"].as_str().unwrap().to_string();
    // THORChain writes the inbound hash upper case, without `0x`.
    let out_memo = format!("OUT:{}", inbound_tx[2..].to_ascii_uppercase());
    let amount_out = 2 * 10u128.pow(18);
    let call = router_calls::transferOutCall {
        to: payee.parse::<EvmAddress>().unwrap(),
        asset: EvmAddress::ZERO,
        amount: U256::from(amount_out),
        memo: out_memo.clone(),
    };
    let outbound = send(&vault, Some(&router), amount_out, &call.abi_encode());
    let outbound_tx = outbound["transactionHash"].as_str().unwrap().to_string();

    let work = tempfile::tempdir().unwrap();
    let links = work.path().join("links.toml");
    std::fs::write(
        &links,
        format!(
            "[[vault]]\nname = \"thorchain\"\nvaults = [{{ chain = \"{chain}\", address = \"{vault}\" }}]\n\
             routers = [{{ chain = \"{chain}\", address = \"{router}\" }}]\n",
            chain = EVM.name()
        ),
    )
    .unwrap();
    let data = work.path().join("store");
    let out = ok(tracehound(
        &data,
        &[
            "--json",
            "ingest",
            "evm",
            "--chain",
            "31337",
            "--rpc",
            node.url(),
            "--links",
            links.to_str().unwrap(),
        ],
    ));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["links"]["skipped"], json!({}), "{report}");

    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    // The stored transfer of `tx` carrying `amount` from `from` to `to`: its sub-index.
    let stored = |tx: &str, from: &str, to: &str, amount: u128| -> u32 {
        let hash = tx.trim_start_matches("0x").parse().unwrap();
        let views = store.account_tx(Some(EVM), &hash).unwrap();
        let found: Vec<u32> = views[0]
            .transfers
            .iter()
            .filter(|t| {
                t.from == from && t.to == to && t.amount.units() == amount && t.asset == "native"
            })
            .map(|t| t.sub_index)
            .collect();
        assert_eq!(found.len(), 1, "{tx}: {from} → {to} {amount}: {found:?}");
        found[0]
    };
    let leg_in = stored(&inbound_tx, &user, &router, amount_in);
    let leg_out = stored(&outbound_tx, &router, payee, amount_out);
    let tx_index = |r: &Value| u32::try_from(quantity(&r["transactionIndex"])).unwrap();
    let expected = vec![
        LinkFact::Entry {
            kind: LinkKind::ChainSwap,
            service: "thorchain".into(),
            contract: router.clone(),
            leg: LinkLeg {
                tx_index: tx_index(&inbound),
                tx: inbound_tx.clone(),
                leg: leg_in,
                asset: "native".into(),
                amount: amount_in,
                party: user.clone(),
            },
            id: None,
            destination: Some(Destination {
                chain: Some("LTC".into()),
                address: "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9".into(),
                min_out: Some(12345),
            }),
            gas_price: Some(quantity(&inbound["effectiveGasPrice"])),
            evidence: format!("log:0:thorchain Deposit memo {memo:?}"),
        },
        LinkFact::Exit {
            kind: LinkKind::ChainSwap,
            service: "thorchain".into(),
            contract: router.clone(),
            leg: LinkLeg {
                tx_index: tx_index(&outbound),
                tx: outbound_tx.clone(),
                leg: leg_out,
                asset: "native".into(),
                amount: amount_out,
                party: payee.into(),
            },
            reference: Some(inbound_tx[2..].to_ascii_uppercase()),
            relayer: None,
            gas_price: Some(quantity(&outbound["effectiveGasPrice"])),
            evidence: format!("log:0:thorchain TransferOut memo {out_memo:?}"),
        },
    ];
    assert_eq!(facts(&store, EVM), expected);
    // The exit's reference finds the entry in the store's index, as the trace engine asks.
    let by_ref = store
        .link_lookup(&format!("in:{}", &inbound_tx[2..]))
        .unwrap();
    assert_eq!(
        by_ref.iter().map(|(_, f)| f).collect::<Vec<_>>(),
        vec![&expected[0]]
    );
    assert!(
        expected[1]
            .keys()
            .contains(&format!("ref:{}", &inbound_tx[2..]))
    );
}

#[test]
fn a_bad_link_config_is_refused_naming_file_entry_and_field() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("links.toml");
    std::fs::write(
        &file,
        "[[mixer]]\nname = \"m\"\ncontracts = [{ chain = \"evm-1\", address = \"0x12D66f87A04A9E220743712cE6d9bB1B5616B8Fc\" }]\n\
         deposit = [{ signature = \"Deposit(bytes32 indexed commitment)\", id = \"nonce\" }]\nwithdrawal = []\n",
    )
    .unwrap();
    let out = tracehound(
        &work.path().join("store"),
        &[
            "ingest",
            "evm",
            "--chain",
            "31337",
            "--rpc",
            "http://127.0.0.1:1",
            "--links",
            file.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("links.toml: mixer \"m\": deposit[0].id")
            && err.contains("no field \"nonce\""),
        "{err}"
    );
}
