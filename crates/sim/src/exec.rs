//! Plays a [`Plan`] on real nodes (`--on-nodes`): an anvil for the EVM side and, when the plan
//! has a UTXO side, a `litecoind -regtest` beside it. On anvil it sets the faucet's balance,
//! sends every step as a real tx from its (impersonated) sender with explicit nonce and gas,
//! mines each planned block at its planned time (`evm_setNextBlockTimestamp` + `evm_mine`) and
//! checks every receipt. On litecoind it mines the faucet's coinbases, then builds and signs
//! every UTXO tx itself (P2WPKH, keys from the seed), sends it raw, mines each planned block at
//! its planned time (`setmocktime` + `generatetoaddress`) and checks the block holds it. The
//! two chains' blocks are played in the plan's one time order, so a cross-chain payout comes
//! after the tx it pays for (and can name it). What happened goes to [`crate::truth`].

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{SolCall, SolValue};
use serde_json::{Value, json};

use crate::error::{Result, SimError};
use crate::plan::{Action, Plan};
use crate::truth::{Executed, GroundTruth, UtxoExecuted, UtxoRun};
use crate::utxo_exec::UtxoPlayer;
use crate::world::ContractKind;

/// What the faucet is given on the node (and what the plan assumes it holds).
pub const FAUCET_BALANCE: u128 = 2_000_000_000 * crate::config::ETHER;

/// The contracts' creation code, compiled by `scripts/compile-test-contracts`.
fn creation_code(kind: ContractKind) -> &'static str {
    match kind {
        ContractKind::Stablecoin => include_str!("../contracts/build/Stablecoin.bin"),
        ContractKind::Pool => include_str!("../contracts/build/Pool.bin"),
        ContractKind::Mixer => include_str!("../contracts/build/Mixer.bin"),
        ContractKind::Bridge => include_str!("../contracts/build/Bridge.bin"),
    }
}

alloy::sol! {
    function transfer(address to, uint256 value) external returns (bool);
    function approve(address spender, uint256 value) external returns (bool);
    function mint(address to, uint256 value) external;
    function addLiquidity(uint256 tokenAmount) external payable;
    function swapTokenForEth(uint256 amountIn, uint256 minOut) external returns (uint256);
    function swapEthForToken(uint256 minOut) external payable returns (uint256);
    function deposit(bytes32 commitment) external payable;
    function withdraw(bytes32 nullifierHash, address to, uint256 denomination) external;
    function balanceOf(address who) external view returns (uint256);
    function fund() external payable;
    function lock(string destination) external payable;
    function release(address to, uint256 amount, bytes32 sourceTx) external;
    event Swap(address indexed who, uint256 tokenIn, uint256 ethIn, uint256 tokenOut, uint256 ethOut);
}

/// A minimal blocking JSON-RPC client.
#[derive(Debug)]
pub struct Node {
    url: String,
    agent: ureq::Agent,
}

impl Node {
    /// A client for the node at `url`.
    pub fn new(url: &str) -> Node {
        Node {
            url: url.to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .build(),
        }
    }

    /// Calls `method`.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let err = |detail: String| SimError::Rpc {
            method: method.to_string(),
            detail,
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer: Value = match self.agent.post(&self.url).send_json(body) {
            Ok(r) => r.into_json().map_err(|e| err(e.to_string()))?,
            Err(ureq::Error::Status(_, r)) => r.into_json().map_err(|e| err(e.to_string()))?,
            Err(e) => return Err(err(format!("{} : {e}", self.url))),
        };
        if let Some(e) = answer.get("error") {
            return Err(err(e.to_string()));
        }
        Ok(answer.get("result").cloned().unwrap_or(Value::Null))
    }

    /// Calls `method` and reads a hex quantity.
    pub fn quantity(&self, method: &str, params: Value) -> Result<u128> {
        let v = self.rpc(method, params)?;
        parse_quantity(&v).ok_or_else(|| SimError::Rpc {
            method: method.to_string(),
            detail: format!("not a quantity: {v}"),
        })
    }

    /// An address's ether balance at the latest block.
    pub fn eth_balance(&self, who: &str) -> Result<u128> {
        self.quantity("eth_getBalance", json!([who, "latest"]))
    }

    /// An address's balance of the ERC-20 `token` at the latest block.
    pub fn token_balance(&self, token: &str, who: &str) -> Result<u128> {
        let who: Address = who.parse().map_err(|_| SimError::Rpc {
            method: "eth_call".into(),
            detail: format!("bad address {who}"),
        })?;
        let data = hex0x(&balanceOfCall { who }.abi_encode());
        let out = self.rpc("eth_call", json!([{"to": token, "data": data}, "latest"]))?;
        let bytes = out
            .as_str()
            .and_then(|s| alloy::hex::decode(s).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| SimError::Rpc {
                method: "eth_call".into(),
                detail: format!("balanceOf answered {out}"),
            })?;
        u128::try_from(U256::from_be_slice(&bytes)).map_err(|_| SimError::Rpc {
            method: "eth_call".into(),
            detail: "balance beyond u128".into(),
        })
    }
}

/// Reads a `0x…` quantity.
pub fn parse_quantity(v: &Value) -> Option<u128> {
    u128::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

fn addr(s: &str) -> Address {
    s.parse().unwrap_or(Address::ZERO)
}

fn b256(s: &str) -> B256 {
    s.parse().unwrap_or(B256::ZERO)
}

/// The memo a cross-chain payout carries: `OUT:` and the inbound tx's hash, upper-case hex
/// without `0x` (as THORChain writes it).
pub fn out_memo(inbound: &str) -> String {
    format!("OUT:{}", inbound.trim_start_matches("0x").to_uppercase())
}

/// The tx (to, value, data, gas limit) an action sends; `hashes` holds the txs already sent
/// (a payout names the tx it pays for).
fn tx_of(
    plan: &Plan,
    action: &Action,
    hashes: &BTreeMap<usize, String>,
) -> (Option<String>, u128, Vec<u8>, u64) {
    let w = &plan.world;
    let bridge = w.contract_address(ContractKind::Bridge).to_string();
    let inbound = |step: &usize| hashes.get(step).cloned().unwrap_or_default();
    let token = w.contract_address(ContractKind::Stablecoin).to_string();
    let pool = w.contract_address(ContractKind::Pool).to_string();
    let mixer = w.contract_address(ContractKind::Mixer).to_string();
    let u = U256::from;
    match action {
        Action::Deploy { contract, .. } => {
            let mut code = alloy::hex::decode(creation_code(*contract).trim()).unwrap_or_default();
            match contract {
                ContractKind::Stablecoin | ContractKind::Bridge => {}
                ContractKind::Pool => code.extend(addr(&token).abi_encode()),
                ContractKind::Mixer => {
                    let relayer = w
                        .addresses
                        .values()
                        .find(|a| a.role == "relayer")
                        .map(|a| addr(&a.address))
                        .unwrap_or(Address::ZERO);
                    let denoms: Vec<U256> = plan
                        .config
                        .mixer_denominations
                        .iter()
                        .map(|d| u(*d))
                        .collect();
                    code.extend((relayer, denoms).abi_encode_params());
                }
            }
            (None, 0, code, 3_000_000)
        }
        Action::Eth { to, amount, .. } => (Some(to.clone()), *amount, vec![], 21_000),
        Action::Token { to, amount, .. } => {
            let data = transferCall {
                to: addr(to),
                value: u(*amount),
            }
            .abi_encode();
            (Some(token), 0, data, 90_000)
        }
        Action::Mint { to, amount, .. } => {
            let data = mintCall {
                to: addr(to),
                value: u(*amount),
            }
            .abi_encode();
            (Some(token), 0, data, 100_000)
        }
        Action::Approve { amount, .. } => {
            let data = approveCall {
                spender: addr(&pool),
                value: u(*amount),
            }
            .abi_encode();
            (Some(token), 0, data, 60_000)
        }
        Action::AddLiquidity { token: t, eth, .. } => {
            let data = addLiquidityCall { tokenAmount: u(*t) }.abi_encode();
            (Some(pool), *eth, data, 200_000)
        }
        Action::SwapTokenForEth { amount_in, out, .. } => {
            let data = swapTokenForEthCall {
                amountIn: u(*amount_in),
                minOut: u(*out),
            }
            .abi_encode();
            (Some(pool), 0, data, 150_000)
        }
        Action::SwapEthForToken { amount_in, out, .. } => {
            let data = swapEthForTokenCall { minOut: u(*out) }.abi_encode();
            (Some(pool), *amount_in, data, 150_000)
        }
        Action::MixDeposit {
            denomination,
            commitment,
            ..
        } => {
            let data = depositCall {
                commitment: b256(commitment),
            }
            .abi_encode();
            (Some(mixer), *denomination, data, 150_000)
        }
        Action::MixWithdraw {
            to,
            denomination,
            nullifier,
            ..
        } => {
            let data = withdrawCall {
                nullifierHash: b256(nullifier),
                to: addr(to),
                denomination: u(*denomination),
            }
            .abi_encode();
            (Some(mixer), 0, data, 150_000)
        }
        Action::BridgeFund { amount, .. } => {
            (Some(bridge), *amount, fundCall {}.abi_encode(), 60_000)
        }
        Action::BridgeLock {
            amount,
            destination,
            ..
        } => {
            let data = lockCall {
                destination: destination.clone(),
            }
            .abi_encode();
            (Some(bridge), *amount, data, 100_000)
        }
        Action::BridgeRelease {
            to,
            amount,
            source_step,
            ..
        } => {
            let data = releaseCall {
                to: addr(to),
                amount: u(*amount),
                sourceTx: b256(&format!("0x{}", inbound(source_step))),
            }
            .abi_encode();
            (Some(bridge), 0, data, 100_000)
        }
        Action::SwapDeposit {
            vault,
            amount,
            memo,
            ..
        } => (
            Some(vault.clone()),
            *amount,
            memo.as_bytes().to_vec(),
            60_000,
        ),
        Action::SwapPayout {
            to,
            amount,
            source_step,
            ..
        } => {
            let memo = out_memo(&inbound(source_step));
            (Some(to.clone()), *amount, memo.into_bytes(), 60_000)
        }
    }
}

/// Plays `plan` (EVM side only: its config has `utxo: false`) on the anvil at `url` and
/// returns its ground truth.
///
/// The node must be a fresh-enough anvil (chain id 31337, `anvil_*`/`evm_*` methods) on which
/// the scenario's addresses are unused. Automining is switched off while playing and back on
/// afterwards.
pub fn run_on_anvil(url: &str, plan: &Plan) -> Result<GroundTruth> {
    if plan.utxo.is_some() {
        return Err(SimError::Config(
            "the scenario has a UTXO side (utxo: true): play it with run_on_nodes and a litecoind -regtest (--ltc-rpc)"
                .into(),
        ));
    }
    run(url, None, plan)
}

/// Plays `plan` on the anvil at `evm_url` and, for its UTXO side, the `litecoind -regtest`
/// behind `ltc`, and returns its ground truth.
///
/// The anvil is as for [`run_on_anvil`]; the litecoind must be a fresh regtest node (height 0:
/// the faucet's coins are its first coinbases), whose clock is mocked while playing
/// (`setmocktime`, reset to 0 afterwards).
pub fn run_on_nodes(
    evm_url: &str,
    ltc: &tracehound_btc::rpc::RpcClient,
    plan: &Plan,
) -> Result<GroundTruth> {
    if plan.utxo.is_none() {
        return run(evm_url, None, plan);
    }
    run(evm_url, Some(ltc), plan)
}

fn run(
    url: &str,
    ltc: Option<&tracehound_btc::rpc::RpcClient>,
    plan: &Plan,
) -> Result<GroundTruth> {
    let node = Node::new(url);
    let chain_id = node.quantity("eth_chainId", json!([]))?;
    let want = plan.config.chain_id()?;
    if chain_id != u128::from(want) {
        return Err(SimError::Config(format!(
            "the node at {url} is chain {chain_id}, the scenario is for chain {want}"
        )));
    }
    for deployer in plan.steps().filter_map(|s| match &s.action {
        Action::Deploy { from, .. } => Some(from),
        _ => None,
    }) {
        let nonce = node.quantity("eth_getTransactionCount", json!([deployer, "latest"]))?;
        if nonce != 0 {
            return Err(SimError::Config(format!(
                "the scenario's address {deployer} was already used on this node: play seed {} on a fresh node",
                plan.config.seed
            )));
        }
    }
    let mut player = match (ltc, &plan.utxo) {
        (Some(client), Some(_)) => Some(UtxoPlayer::check(client, plan)?),
        _ => None,
    };
    node.rpc(
        "anvil_setBalance",
        json!([plan.faucet, format!("{FAUCET_BALANCE:#x}")]),
    )?;
    node.rpc("anvil_autoImpersonateAccount", json!([true]))?;
    node.rpc("evm_setAutomine", json!([false]))?;
    let result = play(&node, player.as_mut(), plan);
    let _ = node.rpc("evm_setAutomine", json!([true]));
    let _ = node.rpc("anvil_autoImpersonateAccount", json!([false]));
    if let Some(p) = &player {
        p.reset_clock();
    }
    let (executed, txs) = result?;
    let utxo = UtxoRun {
        txs,
        coinbase: player.map(|p| p.coinbase_txids()).unwrap_or_default(),
    };
    GroundTruth::build_all(plan, &executed, &utxo)
}

/// Plays both chains' blocks in time order.
fn play(
    node: &Node,
    mut utxo: Option<&mut UtxoPlayer<'_>>,
    plan: &Plan,
) -> Result<(Vec<Executed>, Vec<UtxoExecuted>)> {
    let latest = node.rpc("eth_getBlockByNumber", json!(["latest", false]))?;
    let t0 = parse_quantity(&latest["timestamp"]).unwrap_or(0) as u64;
    let mut nonces: BTreeMap<String, u64> = BTreeMap::new();
    let mut executed = Vec::new();
    let mut utxo_executed = Vec::new();
    // Every tx sent so far, EVM hashes and UTXO txids, by plan step.
    let mut sent: BTreeMap<usize, String> = BTreeMap::new();
    let utxo_blocks = plan.utxo.as_ref().map_or(&[][..], |u| &u.blocks[..]);
    if let Some(p) = utxo.as_deref_mut() {
        p.setup(t0)?;
    }
    let mut next_utxo = 0;
    for block in &plan.blocks {
        while let Some(ub) = utxo_blocks.get(next_utxo).filter(|b| b.time < block.time) {
            if let Some(p) = utxo.as_deref_mut() {
                utxo_executed.extend(p.play_block(ub, t0, &mut sent)?);
            }
            next_utxo += 1;
        }
        let mut hashes = Vec::new();
        for step in &block.steps {
            let fail = |detail: String| SimError::Execution {
                step: step.id,
                action: step.action.describe(),
                detail,
            };
            let from = step.action.sender().to_string();
            let nonce = match nonces.get(&from) {
                Some(n) => *n,
                None => node.quantity("eth_getTransactionCount", json!([from, "latest"]))? as u64,
            };
            nonces.insert(from.clone(), nonce + 1);
            let (to, value, data, gas) = tx_of(plan, &step.action, &sent);
            let mut tx = json!({
                "from": from,
                "value": format!("{value:#x}"),
                "data": hex0x(&data),
                "gas": format!("{gas:#x}"),
                "nonce": format!("{nonce:#x}"),
            });
            if let Some(to) = to {
                tx["to"] = json!(to);
            }
            let hash = node
                .rpc("eth_sendTransaction", json!([tx]))
                .map_err(|e| fail(e.to_string()))?;
            let hash = hash
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| fail(format!("no tx hash: {hash}")))?;
            sent.insert(step.id, hash.clone());
            hashes.push((step, hash));
        }
        node.rpc("evm_setNextBlockTimestamp", json!([t0 + block.time]))?;
        node.rpc("evm_mine", json!([]))?;
        let mined = node.quantity("eth_blockNumber", json!([]))? as u64;
        for (step, hash) in hashes {
            let fail = |detail: String| SimError::Execution {
                step: step.id,
                action: step.action.describe(),
                detail,
            };
            let r = receipt(node, &hash)?;
            if r.is_null() {
                return Err(fail(format!("tx {hash} was not mined in block {mined}")));
            }
            if r["status"] != "0x1" {
                return Err(fail(format!("tx {hash} reverted: {r}")));
            }
            let number = parse_quantity(&r["blockNumber"]).unwrap_or(0) as u64;
            if number != mined {
                return Err(fail(format!(
                    "tx {hash} landed in block {number}, not {mined}"
                )));
            }
            let gas_used = parse_quantity(&r["gasUsed"]).unwrap_or(0);
            let price = parse_quantity(&r["effectiveGasPrice"]).unwrap_or(0);
            if let Action::Deploy { contract, .. } = &step.action {
                let got = r["contractAddress"].as_str().unwrap_or_default();
                if got != plan.world.contract_address(*contract) {
                    return Err(fail(format!(
                        "deployed at {got}, planned at {}",
                        plan.world.contract_address(*contract)
                    )));
                }
            }
            if let Action::SwapTokenForEth { out, .. } | Action::SwapEthForToken { out, .. } =
                &step.action
            {
                let paid = swap_output(&r);
                if paid != Some(*out) {
                    return Err(fail(format!(
                        "the pool paid {paid:?}, the plan expected {out}"
                    )));
                }
            }
            executed.push(Executed {
                step: step.id,
                hash,
                block: number,
                index: parse_quantity(&r["transactionIndex"]).unwrap_or(0) as u32,
                time: block.time,
                fee: gas_used * price,
            });
        }
    }
    for ub in &utxo_blocks[next_utxo..] {
        if let Some(p) = utxo.as_deref_mut() {
            utxo_executed.extend(p.play_block(ub, t0, &mut sent)?);
        }
    }
    executed.sort_by_key(|e| (e.block, e.index));
    Ok((executed, utxo_executed))
}

/// A UTXO-node error as the simulator's.
pub(crate) fn ltc_err(method: &str) -> impl Fn(tracehound_btc::rpc::RpcError) -> SimError + '_ {
    move |e| SimError::Rpc {
        method: method.to_string(),
        detail: e.to_string(),
    }
}

/// A mined tx's receipt, polled briefly (a node may index it just after mining); null if
/// there is none.
fn receipt(node: &Node, hash: &str) -> Result<Value> {
    for _ in 0..50 {
        let r = node.rpc("eth_getTransactionReceipt", json!([hash]))?;
        if !r.is_null() {
            return Ok(r);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Value::Null)
}

/// The output amount of the pool's `Swap` event in a receipt.
fn swap_output(receipt: &Value) -> Option<u128> {
    use alloy::sol_types::SolEvent;
    let logs = receipt["logs"].as_array()?;
    for log in logs {
        let topic0 = log["topics"].get(0)?.as_str()?;
        if b256(topic0) != Swap::SIGNATURE_HASH {
            continue;
        }
        let data = alloy::hex::decode(log["data"].as_str()?).ok()?;
        let words: Vec<U256> = data.chunks(32).map(U256::from_be_slice).collect();
        let (token_out, eth_out) = (*words.get(2)?, *words.get(3)?);
        return u128::try_from(token_out.max(eth_out)).ok();
    }
    None
}
