//! A real node: anvil runs real contracts (ERC-20, WETH, value forwarding with CALL, CREATE,
//! CREATE2, reverts at the top and deep inside, SELFDESTRUCT, ERC-721, ERC-1155) driven by
//! several accounts; every block is extracted, and for every account touched the native
//! balance summed from the transfers (from its balance at genesis) must equal `eth_getBalance`
//! at each checkpoint height, and each token balance `balanceOf`. The three trace flavours
//! must give the same transfers; a node without traces must be detected and flagged.
//!
//! Needs `anvil`: `scripts/install-anvil` (or `$ANVIL_BIN`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use alloy::primitives::{Address as EvmAddress, B256, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use serde_json::{Value, json};
use tracehound_core::{AssetId, Chain, TransferKind};
use tracehound_evm::testnode::Anvil;
use tracehound_evm::{
    BlockingEvmClient, ClientOptions, EvmBlock, LogEvent, TraceFlavour, TraceMode, TransferSource,
    TxStatus, WrapDirection,
};

const CHAIN: Chain = Chain::Evm(31337);
const ETHER: u128 = 1_000_000_000_000_000_000;

sol! {
    function transfer(address to, uint256 value) returns (bool);
    function approve(address spender, uint256 value) returns (bool);
    function transferFrom(address from, address to, uint256 value) returns (bool);
    function burn(uint256 value);
    function balanceOf(address who) returns (uint256);
    function deposit();
    function withdraw(uint256 wad);
    function forward(address to);
    function split(address a, address b);
    function create(uint256 endowment) returns (address);
    function create2(bytes32 salt, uint256 endowment) returns (address);
    function tryForward(address to);
    function deepRevert(address to);
    function createAndDestroy(address beneficiary);
    function createAndBurn();
    function boom(address to);
    function fail();
    function mint(address to, uint256 id);
    function ownerOf(uint256 id) returns (address);
    function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data);
}

/// `Multi.mint(address,uint256,uint256)` and `Multi.balanceOf(uint256,address)` (names clash
/// with the ERC-721 and ERC-20 ones above).
mod multi {
    alloy::sol! {
        function mint(address to, uint256 id, uint256 value);
        function balanceOf(uint256 id, address who) returns (uint256);
    }
}

fn bin(name: &str) -> String {
    let path = format!(
        "{}/tests/contracts/build/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run scripts/compile-test-contracts)"))
}

fn hexs(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

struct Driver {
    node: Anvil,
    accounts: Vec<String>,
}

impl Driver {
    fn send(&self, from: usize, to: &str, value: u128, data: Vec<u8>) -> Value {
        self.send_with(json!({"from": self.accounts[from], "to": to, "value": format!("{value:#x}"), "data": hexs(&data)}))
    }

    fn send_with(&self, tx: Value) -> Value {
        let hash: String = self.node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        self.node.wait_receipt(&hash).unwrap()
    }

    fn deploy(&self, from: usize, name: &str, args: Vec<u8>, value: u128) -> String {
        let code = format!("0x{}{}", bin(name).trim(), alloy::hex::encode(args));
        let r = self.send_with(
            json!({"from": self.accounts[from], "data": code, "value": format!("{value:#x}")}),
        );
        assert_eq!(r["status"], "0x1", "deploying {name}: {r}");
        r["contractAddress"].as_str().unwrap().to_string()
    }

    fn acct(&self, i: usize) -> EvmAddress {
        self.accounts[i].parse().unwrap()
    }

    fn tip(&self) -> u64 {
        let tip: String = self.node.rpc("eth_blockNumber", json!([])).unwrap();
        u64::from_str_radix(tip.trim_start_matches("0x"), 16).unwrap()
    }

    fn balance(&self, who: &str, height: u64) -> u128 {
        let b: String = self
            .node
            .rpc("eth_getBalance", json!([who, format!("{height:#x}")]))
            .unwrap();
        u128::from_str_radix(b.trim_start_matches("0x"), 16).unwrap()
    }

    fn call(&self, to: &str, data: Vec<u8>, height: u64) -> Vec<u8> {
        let out: String = self
            .node
            .rpc(
                "eth_call",
                json!([{"to": to, "data": hexs(&data)}, format!("{height:#x}")]),
            )
            .unwrap();
        alloy::hex::decode(out).unwrap()
    }
}

struct Scenario {
    driver: Driver,
    token: String,
    weth: String,
    nft: String,
    multi: String,
    checkpoints: Vec<u64>,
    huge_id: U256,
}

/// Drives every kind of movement, several blocks per phase, noting a checkpoint after each.
fn run_scenario() -> Scenario {
    run_scenario_on(&[])
}

/// [`run_scenario`] on an anvil started with `args` (a `--hardfork`).
fn run_scenario_on(args: &[&str]) -> Scenario {
    let node = Anvil::start_with_args(args).expect("start anvil (run scripts/install-anvil)");
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let d = Driver { node, accounts };
    let mut checkpoints = vec![0];
    let a = |i: usize| d.acct(i);

    // Contracts.
    let supply = U256::from(1_000_000u64) * U256::from(ETHER);
    let token = d.deploy(
        0,
        "Token",
        (
            "Test Token".to_string(),
            "TST".to_string(),
            U256::from(18u64),
            supply,
        )
            .abi_encode_params(),
        0,
    );
    let weth = d.deploy(0, "Weth", Vec::new(), 0);
    let fwd = d.deploy(0, "Forwarder", Vec::new(), 0);
    let reverter = d.deploy(0, "Reverter", Vec::new(), 0);
    let bomb = d.deploy(0, "Bomb", Vec::new(), 3 * ETHER);
    let bomb2 = d.deploy(0, "Bomb", Vec::new(), ETHER);
    let nft = d.deploy(0, "Nft", Vec::new(), 0);
    let multi = d.deploy(0, "Multi", Vec::new(), 0);
    checkpoints.push(d.tip());

    // Plain value, in the three legacy-to-1559 tx types.
    d.send(0, &d.accounts[1], 5 * ETHER, Vec::new());
    d.send_with(json!({"from": d.accounts[1], "to": d.accounts[2], "value": format!("{:#x}", ETHER), "gasPrice": "0x77359400"}));
    d.send_with(json!({"from": d.accounts[2], "to": d.accounts[3], "value": "0x1234", "gasPrice": "0x77359400", "accessList": []}));
    checkpoints.push(d.tip());

    // ERC-20.
    d.send(
        0,
        &token,
        0,
        transferCall {
            to: a(1),
            value: U256::from(1000u64),
        }
        .abi_encode(),
    );
    d.send(
        1,
        &token,
        0,
        transferCall {
            to: a(2),
            value: U256::from(300u64),
        }
        .abi_encode(),
    );
    d.send(
        2,
        &token,
        0,
        approveCall {
            spender: a(3),
            value: U256::from(200u64),
        }
        .abi_encode(),
    );
    d.send(
        3,
        &token,
        0,
        transferFromCall {
            from: a(2),
            to: a(4),
            value: U256::from(150u64),
        }
        .abi_encode(),
    );
    d.send(
        1,
        &token,
        0,
        burnCall {
            value: U256::from(7u64),
        }
        .abi_encode(),
    );
    checkpoints.push(d.tip());

    // WETH: wrap by call and by plain send, unwrap, move.
    d.send(1, &weth, 2 * ETHER, depositCall {}.abi_encode());
    d.send(2, &weth, ETHER / 2, Vec::new());
    d.send(
        1,
        &weth,
        0,
        withdrawCall {
            wad: U256::from(ETHER / 4),
        }
        .abi_encode(),
    );
    d.send(
        1,
        &weth,
        0,
        transferCall {
            to: a(3),
            value: U256::from(ETHER / 8),
        }
        .abi_encode(),
    );
    checkpoints.push(d.tip());

    // Internal value: CALL, CREATE, CREATE2, inner reverts, self-destructs.
    d.send(0, &fwd, ETHER, forwardCall { to: a(4) }.abi_encode());
    d.send(
        0,
        &fwd,
        3 * ETHER,
        splitCall { a: a(5), b: a(6) }.abi_encode(),
    );
    d.send(
        0,
        &fwd,
        2 * ETHER,
        createCall {
            endowment: U256::from(ETHER / 2),
        }
        .abi_encode(),
    );
    d.send(
        0,
        &fwd,
        ETHER,
        create2Call {
            salt: B256::repeat_byte(7),
            endowment: U256::from(ETHER / 3),
        }
        .abi_encode(),
    );
    d.send(
        0,
        &fwd,
        ETHER,
        tryForwardCall {
            to: reverter.parse().unwrap(),
        }
        .abi_encode(),
    );
    d.send(0, &fwd, ETHER, deepRevertCall { to: a(7) }.abi_encode());
    d.send(
        0,
        &fwd,
        ETHER,
        createAndDestroyCall { beneficiary: a(8) }.abi_encode(),
    );
    d.send(0, &fwd, ETHER, createAndBurnCall {}.abi_encode());
    d.send(
        0,
        &fwd,
        0,
        forwardCall {
            to: weth.parse().unwrap(),
        }
        .abi_encode(),
    );
    checkpoints.push(d.tip());

    // A self-destruct of an older contract (from Cancun on, EIP-6780: it only sends its
    // balance; before, the contract goes), value sent to it, and a self-destruct to itself
    // (from Cancun on nothing moves; before, value there is destroyed — unless the code is
    // already gone). Then an older contract self-destructing to itself with its endowment
    // (from Cancun on nothing moves; before, the ether is destroyed).
    d.send(
        2,
        &bomb2,
        0,
        boomCall {
            to: bomb2.parse().unwrap(),
        }
        .abi_encode(),
    );
    d.send(1, &bomb, 0, boomCall { to: a(9) }.abi_encode());
    d.send(2, &bomb, ETHER, Vec::new());
    d.send(
        2,
        &bomb,
        0,
        boomCall {
            to: bomb.parse().unwrap(),
        }
        .abi_encode(),
    );
    checkpoints.push(d.tip());

    // Failed top-level txs: only the fee moves.
    let r = d.send_with(json!({"from": d.accounts[3], "to": reverter, "value": format!("{ETHER:#x}"), "data": hexs(&failCall {}.abi_encode()), "gas": "0x30000"}));
    assert_eq!(r["status"], "0x0");
    let r = d.send_with(
        json!({"from": d.accounts[4], "to": reverter, "value": "0x10", "gas": "0x30000"}),
    );
    assert_eq!(r["status"], "0x0");
    let r = d.send_with(json!({"from": d.accounts[5], "to": token, "data": hexs(&transferCall { to: a(1), value: U256::from(1u64) }.abi_encode()), "gas": "0x30000"}));
    assert_eq!(
        r["status"], "0x0",
        "a token transfer beyond the balance fails"
    );
    checkpoints.push(d.tip());

    // NFTs, one id beyond 128 bits.
    let huge_id = U256::from(1u64) << 255;
    d.send(
        0,
        &nft,
        0,
        mintCall {
            to: a(1),
            id: U256::from(1u64),
        }
        .abi_encode(),
    );
    d.send(
        0,
        &nft,
        0,
        mintCall {
            to: a(2),
            id: huge_id,
        }
        .abi_encode(),
    );
    d.send(
        1,
        &nft,
        0,
        transferFromCall {
            from: a(1),
            to: a(3),
            value: U256::from(1u64),
        }
        .abi_encode(),
    );
    d.send(
        0,
        &multi,
        0,
        multi::mintCall {
            to: a(1),
            id: U256::from(7u64),
            value: U256::from(100u64),
        }
        .abi_encode(),
    );
    d.send(
        0,
        &multi,
        0,
        multi::mintCall {
            to: a(1),
            id: U256::from(8u64),
            value: U256::from(5u64),
        }
        .abi_encode(),
    );
    d.send(
        1,
        &multi,
        0,
        safeBatchTransferFromCall {
            from: a(1),
            to: a(2),
            ids: vec![U256::from(7u64), U256::from(8u64)],
            values: vec![U256::from(30u64), U256::from(5u64)],
            data: Default::default(),
        }
        .abi_encode(),
    );
    checkpoints.push(d.tip());

    // Several txs in one block, from several senders, some failing.
    let _: Value = d.node.rpc("evm_setAutomine", json!([false])).unwrap();
    let mut hashes = Vec::new();
    for (from, to, value, data) in [
        (6, d.accounts[7].clone(), ETHER, Vec::new()),
        (
            7,
            token.clone(),
            0,
            transferCall {
                to: a(8),
                value: U256::from(1u64),
            }
            .abi_encode(),
        ),
        (
            4,
            token.clone(),
            0,
            transferCall {
                to: a(9),
                value: U256::from(50u64),
            }
            .abi_encode(),
        ),
        (3, weth.clone(), ETHER, depositCall {}.abi_encode()),
        (
            5,
            fwd.clone(),
            ETHER,
            splitCall { a: a(6), b: a(7) }.abi_encode(),
        ),
    ] {
        let tx = json!({"from": d.accounts[from], "to": to, "value": format!("{value:#x}"), "data": hexs(&data), "gas": "0x100000"});
        let h: String = d.node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        hashes.push(h);
    }
    let _: Value = d.node.rpc("evm_mine", json!([])).unwrap();
    let _: Value = d.node.rpc("evm_setAutomine", json!([true])).unwrap();
    for h in &hashes {
        d.node.wait_receipt(h).unwrap();
    }
    checkpoints.push(d.tip());
    Scenario {
        driver: d,
        token,
        weth,
        nft,
        multi,
        checkpoints,
        huge_id,
    }
}

fn connect(url: &str, traces: TraceMode) -> BlockingEvmClient {
    let s = |a: &str| tracehound_core::Address::parse(CHAIN, a).unwrap();
    let _ = s;
    BlockingEvmClient::connect(
        url,
        CHAIN,
        ClientOptions {
            traces,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

fn connect_with_weth(url: &str, traces: TraceMode, weth: &str) -> BlockingEvmClient {
    let options = ClientOptions {
        traces,
        wrapped_native: vec![tracehound_core::Address::parse(CHAIN, weth).unwrap()],
        ..ClientOptions::default()
    };
    BlockingEvmClient::connect(url, CHAIN, options).unwrap()
}

/// Σ in − Σ out per (asset, address) over the blocks up to `height` (pseudo-addresses kept).
fn sums(
    blocks: &[EvmBlock],
    height: u64,
    kinds: &[TransferKind],
) -> BTreeMap<(AssetId, String), i128> {
    let mut out: BTreeMap<(AssetId, String), i128> = BTreeMap::new();
    for b in blocks
        .iter()
        .filter(|b| u64::from(b.block.height) <= height)
    {
        for t in b.core_transfers().filter(|t| kinds.contains(&t.kind)) {
            let amount = i128::try_from(t.amount.units()).unwrap();
            *out.entry((t.asset.clone(), t.from.to_string()))
                .or_default() -= amount;
            *out.entry((t.asset.clone(), t.to.to_string())).or_default() += amount;
        }
    }
    out
}

#[test]
fn every_balance_reconciles_and_trace_flavours_agree() {
    // Latest hardfork: a SELFDESTRUCT destroys only what a contract made in the same tx holds.
    check_scenario(run_scenario(), 1);
}

#[test]
fn every_balance_reconciles_before_cancun() {
    // Shanghai: a SELFDESTRUCT to itself destroys the balance of any contract, so the old
    // Bomb's ether burns too.
    check_scenario(run_scenario_on(&["--hardfork", "shanghai"]), 2);
}

fn check_scenario(s: Scenario, self_destruct_burns: usize) {
    let d = &s.driver;
    let tip = d.tip();

    let extract = |mode| {
        let client = connect_with_weth(d.node.url(), mode, &s.weth);
        let blocks = client.fetch_blocks(0..=tip).unwrap();
        assert_eq!(blocks.len() as u64, tip + 1);
        (client.trace_flavour(), blocks)
    };
    let (auto, blocks) = extract(TraceMode::Auto);
    assert_eq!(auto, Some(TraceFlavour::ParityBlock));
    for flavour in [TraceFlavour::ParityReplay, TraceFlavour::GethCallTracer] {
        let (used, other) = extract(TraceMode::Require(flavour));
        assert_eq!(used, Some(flavour));
        for (a, b) in blocks.iter().zip(&other) {
            assert_eq!(b.traces, Some(flavour));
            assert_eq!(
                a.transfers, b.transfers,
                "block {}: {flavour:?} differs from trace_block",
                a.block.height
            );
            assert_eq!(a.txs, b.txs);
            assert_eq!(a.wraps, b.wraps);
        }
    }
    assert!(blocks.iter().all(|b| b.is_complete()));

    // Every kind of movement happened.
    let all: Vec<_> = blocks.iter().flat_map(|b| &b.transfers).collect();
    let count = |f: &dyn Fn(&TransferSource) -> bool| all.iter().filter(|t| f(&t.source)).count();
    use tracehound_evm::{FeePart, TraceAction};
    assert!(count(&|s| matches!(s, TransferSource::Fee(FeePart::Tip))) > 0);
    assert!(count(&|s| matches!(s, TransferSource::Fee(FeePart::BaseFeeBurn))) > 30);
    for action in [
        TraceAction::Call,
        TraceAction::Create,
        TraceAction::Create2,
        TraceAction::SelfDestruct,
    ] {
        assert!(
            count(&|s| matches!(s, TransferSource::Trace { action: a, .. } if *a == action)) > 0,
            "{action:?}"
        );
    }
    let burnt_by_selfdestruct: Vec<_> = all
        .iter()
        .filter(|t| t.transfer.to.as_str() == "burn:selfdestruct")
        .collect();
    // createAndBurn's endowment; before Cancun also the old Bomb's ether.
    assert_eq!(
        burnt_by_selfdestruct.len(),
        self_destruct_burns,
        "{burnt_by_selfdestruct:#?}"
    );
    assert!(
        burnt_by_selfdestruct
            .iter()
            .all(|t| t.transfer.amount.units() == ETHER)
    );
    let wraps: Vec<_> = blocks.iter().flat_map(|b| &b.wraps).collect();
    assert_eq!(
        wraps
            .iter()
            .filter(|w| w.direction == WrapDirection::Wrap)
            .count(),
        3,
        "{wraps:#?}"
    );
    assert_eq!(
        blocks
            .iter()
            .flat_map(|b| &b.wraps)
            .filter(|w| w.direction == WrapDirection::Unwrap)
            .count(),
        1
    );
    let failed: Vec<_> = blocks
        .iter()
        .flat_map(|b| &b.txs)
        .filter(|t| t.status == TxStatus::Failed)
        .collect();
    // Three failing on purpose, and in the busy block a token transfer from an account without tokens.
    assert_eq!(failed.len(), 4);
    for tx in &failed {
        let moved: Vec<_> = all
            .iter()
            .filter(|t| t.transfer.tx.txid == tx.hash)
            .map(|t| t.transfer.kind)
            .collect();
        assert!(
            moved.iter().all(|k| *k == TransferKind::Fee) && !moved.is_empty(),
            "{moved:?}"
        );
    }
    // The block with five txs.
    assert_eq!(blocks.last().unwrap().txs.len(), 5);

    // Native balances: every account touched, at every checkpoint.
    let mut accounts: BTreeSet<String> = d.accounts.iter().map(|a| a.to_lowercase()).collect();
    for t in all.iter().map(|t| &t.transfer) {
        for a in [&t.from, &t.to] {
            if !a.is_pseudo() && (t.asset == AssetId::Native) {
                accounts.insert(a.to_string());
            }
        }
    }
    let native = [
        TransferKind::Native,
        TransferKind::Internal,
        TransferKind::Fee,
    ];
    let mut checked = 0;
    for &h in &s.checkpoints {
        let deltas = sums(&blocks, h, &native);
        for a in &accounts {
            let start = i128::try_from(d.balance(a, 0)).unwrap();
            let delta = deltas
                .get(&(AssetId::Native, a.clone()))
                .copied()
                .unwrap_or(0);
            let node = i128::try_from(d.balance(a, h)).unwrap();
            assert_eq!(start + delta, node, "native balance of {a} at height {h}");
            checked += 1;
        }
    }
    assert!(accounts.len() > 15, "{accounts:?}");
    // Burnt value is exactly what left circulation.
    let deltas = sums(&blocks, tip, &native);
    let supply_at = |h: u64| accounts.iter().map(|a| d.balance(a, h)).sum::<u128>();
    let burnt: i128 = deltas
        .iter()
        .filter(|((_, a), _)| a.starts_with("burn:"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(supply_at(0) as i128 - burnt, supply_at(tip) as i128);

    // Token balances (ERC-20 and WETH): every holder, at every checkpoint.
    let tokens = [TransferKind::Token];
    for &h in &s.checkpoints {
        let deltas = sums(&blocks, h, &tokens);
        for ((asset, holder), amount) in &deltas {
            let AssetId::Contract(token) = asset else {
                panic!("native in token sums")
            };
            if holder.contains(':') || holder == "0x0000000000000000000000000000000000000000" {
                continue; // the wrap pool and the mint/burn address hold no balanceOf
            }
            let who: EvmAddress = holder.parse().unwrap();
            let out = d.call(token.as_str(), balanceOfCall { who }.abi_encode(), h);
            let on_chain = U256::abi_decode(&out).unwrap();
            assert_eq!(
                U256::from(*amount as u128),
                on_chain,
                "{token} balance of {holder} at {h}"
            );
            checked += 1;
        }
    }
    let token_holders = sums(&blocks, tip, &tokens)
        .keys()
        .filter(|(a, _)| {
            *a == AssetId::Contract(tracehound_core::Address::parse(CHAIN, &s.weth).unwrap())
        })
        .count();
    assert!(token_holders >= 4, "weth holders {token_holders}");
    // The WETH contract's native balance is its wrapped supply.
    let weth_addr = tracehound_core::Address::parse(CHAIN, &s.weth).unwrap();
    let pool = tracehound_evm::wrap_address(CHAIN, &weth_addr);
    let wrapped_supply =
        -sums(&blocks, tip, &tokens)[&(AssetId::Contract(weth_addr.clone()), pool.to_string())];
    assert_eq!(wrapped_supply as u128, d.balance(&s.weth, tip));

    // NFTs: kept apart, and what they say is what the contracts say.
    let nfts: Vec<_> = all
        .iter()
        .filter(|t| t.transfer.kind == TransferKind::Nft)
        .collect();
    assert_eq!(nfts.len(), 3 + 2 + 2);
    let huge = nfts
        .iter()
        .find(|t| matches!(&t.source, TransferSource::Log { event: LogEvent::Erc721Transfer { token_id }, .. } if *token_id == s.huge_id))
        .expect("the ERC-721 id beyond 128 bits");
    assert_eq!(huge.transfer.to.as_str(), d.accounts[2].to_lowercase());
    let owner = d.call(
        &s.nft,
        ownerOfCall {
            id: U256::from(1u64),
        }
        .abi_encode(),
        tip,
    );
    let owner = EvmAddress::abi_decode(&owner).unwrap();
    let last_721: Vec<_> = nfts
        .iter()
        .filter(|t| matches!(&t.source, TransferSource::Log { event: LogEvent::Erc721Transfer { token_id }, .. } if *token_id == U256::from(1u64)))
        .collect();
    assert_eq!(
        last_721.last().unwrap().transfer.to.as_str(),
        format!("{owner:#x}")
    );
    for (id, holder, want) in [(7u64, 1, 70u64), (7, 2, 30), (8, 1, 0), (8, 2, 5)] {
        let out = d.call(
            &s.multi,
            multi::balanceOfCall {
                id: U256::from(id),
                who: d.acct(holder),
            }
            .abi_encode(),
            tip,
        );
        assert_eq!(U256::abi_decode(&out).unwrap(), U256::from(want));
        let sum: i128 = nfts
            .iter()
            .filter(|t| matches!(&t.source, TransferSource::Log { event: LogEvent::Erc1155Transfer { token_id, .. }, .. } if *token_id == U256::from(id)))
            .map(|t| {
                let amount = t.transfer.amount.units() as i128;
                let me = d.accounts[holder].to_lowercase();
                (if t.transfer.to.as_str() == me { amount } else { 0 }) - (if t.transfer.from.as_str() == me { amount } else { 0 })
            })
            .sum();
        assert_eq!(sum, want as i128, "erc-1155 id {id} holder {holder}");
    }
    // Token metadata from the contracts themselves.
    let last = blocks.iter().rev().find(|b| !b.tokens.is_empty()).unwrap();
    let tst = last
        .tokens
        .iter()
        .find(|m| m.address.as_str() == s.token.to_lowercase())
        .unwrap();
    assert_eq!(
        (tst.name.as_deref(), tst.symbol.as_deref(), tst.decimals),
        (Some("Test Token"), Some("TST"), Some(18))
    );
    let weth_meta = last.tokens.iter().find(|m| m.address == weth_addr).unwrap();
    assert_eq!(
        (
            weth_meta.name.as_deref(),
            weth_meta.symbol.as_deref(),
            weth_meta.decimals
        ),
        (None, None, None)
    );
    assert!(checked > 150, "{checked}");
}

#[test]
fn a_node_without_traces_is_detected_and_flagged() {
    let s = run_scenario();
    let d = Arc::new(s.driver);
    let node = d.clone();
    // A proxy that hides the trace and debug namespaces, as many providers do.
    let proxy = common::Server::start(Arc::new(move |method: &str, params: &Value| {
        if method.starts_with("trace_") || method.starts_with("debug_") {
            return Err((
                -32601,
                format!("the method {method} does not exist/is not available"),
            ));
        }
        node.node
            .rpc::<Value>(method, params.clone())
            .map_err(|e| (-32000, e.to_string()))
    }));
    let client = connect(proxy.url(), TraceMode::Auto);
    assert_eq!(client.trace_flavour(), None);
    let note = client.trace_note().unwrap();
    assert!(
        note.contains("no call traces") && note.contains("internal transfers"),
        "{note}"
    );
    let tip = d.tip();
    let blocks = client.fetch_blocks(0..=tip).unwrap();
    assert!(
        blocks
            .iter()
            .all(|b| b.traces.is_none() && !b.is_complete())
    );
    assert!(
        blocks
            .iter()
            .flat_map(|b| &b.transfers)
            .all(|t| t.transfer.kind != TransferKind::Internal)
    );

    // The same blocks with traces: only internal transfers (and their numbering) differ.
    let full = connect(d.node.url(), TraceMode::Auto)
        .fetch_blocks(0..=tip)
        .unwrap();
    let without_internal = |b: &EvmBlock| {
        b.core_transfers()
            .filter(|t| t.kind != TransferKind::Internal)
            .map(|t| (t.tx.index, t.kind, t.from.clone(), t.to.clone(), t.amount))
            .collect::<Vec<_>>()
    };
    let mut internal = 0;
    for (a, b) in blocks.iter().zip(&full) {
        assert_eq!(without_internal(a), without_internal(b));
        assert_eq!(a.txs, b.txs);
        internal += b
            .core_transfers()
            .filter(|t| t.kind == TransferKind::Internal)
            .count();
    }
    assert!(internal >= 8, "{internal}");
    // And with traces off by choice.
    let off = connect(d.node.url(), TraceMode::Off);
    assert_eq!(off.trace_flavour(), None);
    assert!(off.trace_note().unwrap().contains("off"));
    let _ = (s.token, s.nft, s.multi, s.checkpoints);
}

#[test]
fn concurrency_stays_bounded_and_batches_group_blocks() {
    let s = run_scenario();
    let d = Arc::new(s.driver);
    let node = d.clone();
    // A slow node: each call takes 5 ms.
    let proxy = common::Server::start(Arc::new(move |method: &str, params: &Value| {
        std::thread::sleep(std::time::Duration::from_millis(5));
        node.node
            .rpc::<Value>(method, params.clone())
            .map_err(|e| (-32000, e.to_string()))
    }));
    let tip = d.tip();
    let options = ClientOptions {
        rpc: tracehound_evm::RpcOptions {
            concurrency: 2,
            blocks_per_request: 4,
            batch_size: 3,
            ..Default::default()
        },
        ..ClientOptions::default()
    };
    let client = BlockingEvmClient::connect(proxy.url(), CHAIN, options).unwrap();
    let before = proxy.requests.load(std::sync::atomic::Ordering::SeqCst);
    let through_proxy = client.fetch_blocks(0..=tip).unwrap();
    let requests = proxy.requests.load(std::sync::atomic::Ordering::SeqCst) - before;
    let max = proxy
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(max <= 2, "{max} requests in flight with concurrency 2");
    assert_eq!(max, 2, "the two permits were used");
    // Batches of up to 3 calls: far fewer HTTP requests than calls.
    let calls: usize = proxy.calls.lock().unwrap().values().sum();
    assert!(
        requests * 2 < calls,
        "{requests} requests for {calls} calls"
    );
    let direct = connect(d.node.url(), TraceMode::Auto)
        .fetch_blocks(0..=tip)
        .unwrap();
    assert_eq!(through_proxy, direct);
}

#[test]
fn before_london_the_whole_fee_goes_to_the_miner() {
    let node = Anvil::start_with_args(&["--hardfork", "berlin"]).expect("start anvil");
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let d = Driver { node, accounts };
    // A contract that always reverts, in pre-Shanghai bytecode: runtime PUSH1 0 PUSH1 0 REVERT.
    let r = d.send_with(json!({"from": d.accounts[0], "data": "0x6460006000fd6000526005601bf3", "gasPrice": "0x3b9aca00"}));
    let reverter = r["contractAddress"].as_str().unwrap().to_string();
    for (from, to) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
        d.send_with(json!({"from": d.accounts[from], "to": d.accounts[to], "value": format!("{:#x}", ETHER / 3), "gasPrice": "0x77359400"}));
    }
    let r = d.send_with(json!({"from": d.accounts[4], "to": reverter, "value": "0x99", "gas": "0x10000", "gasPrice": "0x3b9aca00"}));
    assert_eq!(r["status"], "0x0");
    let tip = d.tip();
    let blocks = connect(d.node.url(), TraceMode::Auto)
        .fetch_blocks(0..=tip)
        .unwrap();
    assert!(blocks.iter().all(|b| b.base_fee_per_gas.is_none()));
    let fees: Vec<_> = blocks
        .iter()
        .flat_map(|b| &b.transfers)
        .filter(|t| t.transfer.kind == TransferKind::Fee)
        .collect();
    assert_eq!(fees.len(), 6);
    assert!(
        fees.iter()
            .all(|t| t.source == TransferSource::Fee(tracehound_evm::FeePart::Legacy))
    );
    let mut accounts: BTreeSet<String> = d.accounts.iter().map(|a| a.to_lowercase()).collect();
    accounts.insert(reverter.to_lowercase());
    for b in &blocks {
        accounts.insert(b.miner.to_string());
    }
    let native = [
        TransferKind::Native,
        TransferKind::Internal,
        TransferKind::Fee,
    ];
    for h in 0..=tip {
        let deltas = sums(&blocks, h, &native);
        for a in &accounts {
            let expected = d.balance(a, 0) as i128
                + deltas
                    .get(&(AssetId::Native, a.clone()))
                    .copied()
                    .unwrap_or(0);
            assert_eq!(expected, d.balance(a, h) as i128, "{a} at {h}");
        }
    }
}
