//! THORChain's router on a real node: anvil with Ethereum's chain id runs a router v4 stand-in
//! (`contracts/RouterV4.sol`) at THORChain's mainnet router address, and the blocks are read
//! through the client with the built-in links config alone (its THORChain entry names the
//! routers and no vault). A user's `Deposit` with a swap
//! memo must be an entry from the user's payment, a vault's `TransferOutAndCall` an exit whose
//! leg is the router's payment to the aggregator (the evidence naming the final asset, the
//! recipient and the minimum out), and a vault-to-vault `VaultTransfer` nothing at all.
//!
//! Needs `anvil` (`scripts/install-anvil`, or `$ANVIL_BIN`) and the `test-utils` feature.
#![cfg(feature = "test-utils")]

use alloy::primitives::{Address as EvmAddress, U256};
use alloy::sol_types::SolCall;
use serde_json::{Value, json};
use tracehound_core::{Chain, Destination, LinkFact, LinkKind, TransferKind};
use tracehound_evm::testnode::Anvil;
use tracehound_evm::{BlockingEvmClient, ClientOptions, EvmBlock};

const CHAIN: Chain = Chain::Evm(1);
/// THORChain's router v4.1 on Ethereum mainnet.
const ROUTER: &str = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146";
/// USDT on Ethereum: the asset the aggregator is asked for.
const USDT: &str = "0xdac17f958d2ee523a2206206994597c13d831ec7";
const ETHER: u128 = 1_000_000_000_000_000_000;

mod calls {
    alloy::sol! {
        function deposit(address vault, address asset, uint256 amount, string memo) external payable;
        function transferOutAndCall(address target, address finalAsset, address to, uint256 amountOutMin, string memo) external payable;
        function returnVaultAssets(address newVault, string memo) external payable;
    }
}

fn bin(name: &str) -> String {
    let path = format!(
        "{}/tests/contracts/build/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hexs(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

fn a(s: &str) -> EvmAddress {
    s.parse().unwrap()
}

#[test]
fn mainnet_router_deposit_transfer_out_and_call_and_vault_transfer_on_anvil() {
    let node = Anvil::start_with_args(&["--chain-id", "1"])
        .expect("start anvil (run scripts/install-anvil)");
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let accounts: Vec<String> = accounts.iter().map(|s| s.to_ascii_lowercase()).collect();
    let (user, vault, next_vault, recipient) =
        (&accounts[0], &accounts[1], &accounts[2], &accounts[3]);
    let send = |from: &str, to: Option<&str>, value: u128, data: &[u8]| -> Value {
        let mut tx = json!({"from": from, "value": format!("{value:#x}"), "data": hexs(data)});
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let hash: String = node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        let receipt = node.wait_receipt(&hash).unwrap();
        assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
        receipt
    };
    // The router's code at THORChain's address (it keeps no state, so its runtime code is all
    // it needs), the aggregator where it lands.
    let deploy = |name: &str| -> String {
        let code = alloy::hex::decode(bin(name).trim()).unwrap();
        send(user, None, 0, &code)["contractAddress"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
    };
    let deployed = deploy("RouterV4");
    let runtime: String = node
        .rpc("eth_getCode", json!([deployed, "latest"]))
        .unwrap();
    let _: Value = node.rpc("anvil_setCode", json!([ROUTER, runtime])).unwrap();
    let aggregator = deploy("Aggregator");

    let memo = "SWAP:BTC.BTC:bc1qtgsttdcy3z67hegc36l99egdm36va0m5r0gece:24000000";
    let amount_in = 3 * ETHER;
    let call = calls::depositCall {
        vault: a(vault),
        asset: EvmAddress::ZERO,
        amount: U256::from(amount_in),
        memo: memo.into(),
    };
    let inbound = send(user, Some(ROUTER), amount_in, &call.abi_encode());
    let inbound_tx = inbound["transactionHash"].as_str().unwrap().to_string();
    let out_memo = format!("OUT:{}", inbound_tx[2..].to_ascii_uppercase());
    let amount_out = 2 * ETHER;
    let call = calls::transferOutAndCallCall {
        target: a(&aggregator),
        finalAsset: a(USDT),
        to: a(recipient),
        amountOutMin: U256::from(5_000_000u64),
        memo: out_memo.clone(),
    };
    let outbound = send(vault, Some(ROUTER), amount_out, &call.abi_encode());
    let outbound_tx = outbound["transactionHash"].as_str().unwrap().to_string();
    let call = calls::returnVaultAssetsCall {
        newVault: a(next_vault),
        memo: "MIGRATE:3494355".into(),
    };
    let churn = send(vault, Some(ROUTER), ETHER, &call.abi_encode());
    let churn_tx = churn["transactionHash"].as_str().unwrap().to_string();

    let client = BlockingEvmClient::connect(
        node.url(),
        CHAIN,
        ClientOptions {
            // None but the built-in: THORChain's routers, no vault.
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let tip: String = node.rpc("eth_blockNumber", json!([])).unwrap();
    let tip = u64::from_str_radix(tip.trim_start_matches("0x"), 16).unwrap();
    let blocks: Vec<EvmBlock> = client.fetch_blocks(0..=tip).unwrap();
    let skips: Vec<&(String, u64)> = blocks.iter().flat_map(|b| &b.link_skips).collect();
    assert!(skips.is_empty(), "{skips:?}");
    let facts: Vec<&LinkFact> = blocks.iter().flat_map(|b| &b.links).collect();
    // The sub-index of the one native transfer of `tx` from `from` to `to`.
    let transfer = |tx: &str, from: &str, to: &str, amount: u128| -> (u32, TransferKind) {
        let found: Vec<_> = blocks
            .iter()
            .flat_map(|b| &b.transfers)
            .map(|t| &t.transfer)
            .filter(|t| {
                format!("0x{}", t.tx.txid) == tx
                    && t.from.as_str() == from
                    && t.to.as_str() == to
                    && t.amount.units() == amount
            })
            .map(|t| (t.sub_index, t.kind))
            .collect();
        assert_eq!(found.len(), 1, "{tx}: {from} → {to}: {found:?}");
        found[0]
    };
    let (leg_in, kind_in) = transfer(&inbound_tx, user, ROUTER, amount_in);
    assert_eq!(kind_in, TransferKind::Native, "the user's own payment");
    let (leg_out, kind_out) = transfer(&outbound_tx, ROUTER, &aggregator, amount_out);
    assert_eq!(kind_out, TransferKind::Internal, "the router's call");
    let [
        LinkFact::Entry {
            kind,
            service,
            contract,
            leg,
            destination,
            evidence,
            ..
        },
        LinkFact::Exit {
            kind: exit_kind,
            service: exit_service,
            contract: exit_contract,
            leg: exit_leg,
            reference,
            evidence: exit_evidence,
            ..
        },
    ] = facts.as_slice()
    else {
        panic!("an entry and an exit: {facts:?}")
    };
    assert_eq!(
        (*kind, service.as_str(), contract.as_str()),
        (LinkKind::ChainSwap, "thorchain", ROUTER)
    );
    assert_eq!(
        (leg.tx.as_str(), leg.leg, leg.amount, leg.party.as_str()),
        (inbound_tx.as_str(), leg_in, amount_in, user.as_str())
    );
    assert_eq!(
        destination.as_ref(),
        Some(&Destination {
            chain: Some("BTC".into()),
            address: "bc1qtgsttdcy3z67hegc36l99egdm36va0m5r0gece".into(),
            min_out: Some(24_000_000),
        })
    );
    assert_eq!(evidence, &format!("log:0:thorchain Deposit memo {memo:?}"));
    assert_eq!(
        (*exit_kind, exit_service.as_str(), exit_contract.as_str()),
        (LinkKind::ChainSwap, "thorchain", ROUTER)
    );
    assert_eq!(
        (
            exit_leg.tx.as_str(),
            exit_leg.leg,
            exit_leg.asset.as_str(),
            exit_leg.amount,
            exit_leg.party.as_str()
        ),
        (
            outbound_tx.as_str(),
            leg_out,
            "native",
            amount_out,
            aggregator.as_str()
        )
    );
    assert_eq!(
        reference.as_deref(),
        Some(&inbound_tx[2..].to_ascii_uppercase()[..])
    );
    // The aggregator's own `SwapOut` log comes first (log 0), the router's event after it.
    assert_eq!(
        exit_evidence,
        &format!(
            "log:1:thorchain TransferOutAndCall memo {out_memo:?} target {aggregator} \
             final asset {USDT} to {recipient} amount out min 5000000"
        )
    );
    // The churn moved ether from vault to vault: a transfer, and no link.
    transfer(&churn_tx, ROUTER, next_vault, ETHER);
}
