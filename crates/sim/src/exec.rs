//! Plays a [`Plan`] on a real anvil (`--on-nodes`, EVM side): sets the faucet's balance,
//! sends every step as a real tx from its (impersonated) sender with explicit nonce and gas,
//! mines each planned block at its planned time (`evm_setNextBlockTimestamp` + `evm_mine`),
//! checks every receipt, and hands what happened to [`crate::truth`] for the ground truth.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{SolCall, SolValue};
use serde_json::{Value, json};

use crate::error::{Result, SimError};
use crate::plan::{Action, Plan};
use crate::truth::{Executed, GroundTruth};
use crate::world::ContractKind;

/// What the faucet is given on the node (and what the plan assumes it holds).
pub const FAUCET_BALANCE: u128 = 2_000_000_000 * crate::config::ETHER;

/// The contracts' creation code, compiled by `scripts/compile-test-contracts`.
fn creation_code(kind: ContractKind) -> &'static str {
    match kind {
        ContractKind::Stablecoin => include_str!("../contracts/build/Stablecoin.bin"),
        ContractKind::Pool => include_str!("../contracts/build/Pool.bin"),
        ContractKind::Mixer => include_str!("../contracts/build/Mixer.bin"),
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

/// The tx (to, value, data, gas limit) an action sends.
fn tx_of(plan: &Plan, action: &Action) -> (Option<String>, u128, Vec<u8>, u64) {
    let w = &plan.world;
    let token = w.contract_address(ContractKind::Stablecoin).to_string();
    let pool = w.contract_address(ContractKind::Pool).to_string();
    let mixer = w.contract_address(ContractKind::Mixer).to_string();
    let u = U256::from;
    match action {
        Action::Deploy { contract, .. } => {
            let mut code = alloy::hex::decode(creation_code(*contract).trim()).unwrap_or_default();
            match contract {
                ContractKind::Stablecoin => {}
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
    }
}

/// Plays `plan` on the anvil at `url` and returns its ground truth.
///
/// The node must be a fresh-enough anvil (chain id 31337, `anvil_*`/`evm_*` methods) on which
/// the scenario's addresses are unused. Automining is switched off while playing and back on
/// afterwards.
pub fn run_on_anvil(url: &str, plan: &Plan) -> Result<GroundTruth> {
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
    node.rpc(
        "anvil_setBalance",
        json!([plan.faucet, format!("{FAUCET_BALANCE:#x}")]),
    )?;
    node.rpc("anvil_autoImpersonateAccount", json!([true]))?;
    node.rpc("evm_setAutomine", json!([false]))?;
    let result = play(&node, plan);
    let _ = node.rpc("evm_setAutomine", json!([true]));
    let _ = node.rpc("anvil_autoImpersonateAccount", json!([false]));
    let executed = result?;
    GroundTruth::build(plan, &executed)
}

fn play(node: &Node, plan: &Plan) -> Result<Vec<Executed>> {
    let latest = node.rpc("eth_getBlockByNumber", json!(["latest", false]))?;
    let t0 = parse_quantity(&latest["timestamp"]).unwrap_or(0) as u64;
    let mut nonces: BTreeMap<String, u64> = BTreeMap::new();
    let mut executed = Vec::new();
    for block in &plan.blocks {
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
            let (to, value, data, gas) = tx_of(plan, &step.action);
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
    executed.sort_by_key(|e| (e.block, e.index));
    Ok(executed)
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
