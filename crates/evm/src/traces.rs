//! Internal transfers from call traces, in either flavour a node offers.
//!
//! - Parity style (`trace_block`, `trace_replayBlockTransactions`): a flat list of traces per
//!   tx, each with its `traceAddress` in the call tree. Read with lean types of our own
//!   ([`ParityTrace`]) that skip calldata and return data unread.
//! - geth's `callTracer` (`debug_traceBlockByNumber`): one nested call frame per tx. Read with
//!   lean types of our own, because old geth wrote `SELFDESTRUCT` frames with no `from`, `to`
//!   or `value` at all and alloy's `CallFrame` refuses those; such a frame is then reported
//!   (its balance is unknown), never skipped silently.
//!
//! Both flavours become the same [`TraceTransfer`]s, numbered by Parity's trace address, so
//! that the two give identical results for the same block. What counts:
//! - a CALL with value (not CALLCODE, whose value stays with the caller; not DELEGATECALL or
//!   STATICCALL, which move none);
//! - a CREATE/CREATE2 endowment, to the new contract;
//! - a SELFDESTRUCT's balance, to its beneficiary; to itself, the balance is destroyed before
//!   Cancun, and after Cancun (EIP-6780) only for a contract created in the same tx, else it
//!   stays;
//! - nothing from a trace that failed, nor from anything under it (its effects were undone),
//!   nor from a tx whose top-level trace failed.
//!
//! The top-level trace (address `[]`) is the tx itself: its value is the tx's `Native`
//! transfer, not an internal one, but its failure marks the tx failed.

use std::collections::{BTreeMap, HashSet};

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::trace::parity::{CallType, CreationMethod, RewardType};
use serde::Deserialize;

use crate::model::{MintKind, TraceAction};

/// A value movement found in a trace.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TraceTransfer {
    /// Position in the call tree (never `[]`: the tx's own value is not internal).
    pub trace_address: Vec<u32>,
    /// What moved it.
    pub action: TraceAction,
    /// Payer.
    pub from: Address,
    /// Payee; `None` when the value was destroyed (SELFDESTRUCT to itself).
    pub to: Option<Address>,
    /// Wei moved.
    pub value: U256,
}

/// One transaction's traces, reduced to what moved value.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TxTraces {
    /// The tx hash, when the node gave it (old geth did not).
    pub tx_hash: Option<B256>,
    /// Whether the top-level call failed (the tx reverted or ran out of gas).
    pub failed: bool,
    /// Value movements, in call order.
    pub transfers: Vec<TraceTransfer>,
    /// Contracts this tx created (CREATE/CREATE2 that did not fail), top level included.
    pub created: Vec<Address>,
    /// The value the tx itself carried, from its top-level trace (failed or not): lets the
    /// client skip fetching full transactions when traces are there.
    pub top_value: Option<U256>,
    /// The tx's calldata when it is a short printable memo (from the top-level trace), for
    /// the same reason.
    pub top_memo: Option<String>,
}

/// A block reward from a Parity `reward` trace.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reward {
    /// Who got it.
    pub author: Address,
    /// Which reward.
    pub kind: MintKind,
    /// Wei issued.
    pub value: U256,
}

/// A block's traces, reduced to what moved value.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BlockTraces {
    /// Per tx, in block order.
    pub txs: Vec<TxTraces>,
    /// Block and uncle rewards (Parity flavour only; empty after the merge).
    pub rewards: Vec<Reward>,
}

/// A trace whose content cannot be read.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("tx position {tx_position}, trace address {trace_address:?}: {detail}")]
pub struct TraceError {
    /// The tx's position in the block.
    pub tx_position: usize,
    /// The trace's position in the call tree.
    pub trace_address: Vec<u32>,
    /// What is wrong.
    pub detail: String,
}

/// Where a SELFDESTRUCT to the contract itself leaves the balance.
#[derive(Clone, Copy, Debug)]
pub struct ForkRules {
    /// EIP-6780 (Cancun): a SELFDESTRUCT only destroys contracts created in the same tx.
    pub cancun: bool,
}

/// One Parity-style trace: an item of `trace_block`, or of a replay's `trace` list. Only the
/// fields that move value are read; calldata, return data, init code and gas are skipped
/// unread (alloy's own type flattens a tagged enum, which buffers every field of every trace
/// and took a seventh of ingest's time).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityTrace {
    /// What the trace did.
    #[serde(rename = "type")]
    pub kind: ParityKind,
    /// Its parameters (which are set depends on `kind`).
    pub action: ParityAction,
    /// What it produced (a CREATE's new contract).
    #[serde(default)]
    pub result: Option<ParityResult>,
    /// Why it failed (its effects, and its children's, were undone).
    #[serde(default)]
    pub error: Option<String>,
    /// Position in the call tree.
    pub trace_address: Vec<usize>,
    /// The tx's position in the block (`None` for rewards).
    #[serde(default)]
    pub transaction_position: Option<u64>,
    /// The tx's hash (`None` for rewards).
    #[serde(default)]
    pub transaction_hash: Option<B256>,
    /// The block's hash.
    #[serde(default)]
    pub block_hash: Option<B256>,
}

/// The kind of a [`ParityTrace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParityKind {
    /// A message call.
    Call,
    /// A contract creation.
    Create,
    /// A SELFDESTRUCT (Parity wrote `suicide`).
    #[serde(rename = "suicide", alias = "selfdestruct")]
    Selfdestruct,
    /// A block or uncle reward.
    Reward,
}

/// The parameters of a [`ParityTrace`], all optional here: which must be present depends on
/// the kind, and a missing one is reported by the reducer with the trace's position.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityAction {
    /// Caller or creator.
    #[serde(default)]
    pub from: Option<Address>,
    /// Callee.
    #[serde(default)]
    pub to: Option<Address>,
    /// Wei sent (a reward's wei issued).
    #[serde(default)]
    pub value: Option<U256>,
    /// `call`, `callcode`, `delegatecall`, `staticcall`, …
    #[serde(default)]
    pub call_type: Option<CallType>,
    /// `create` or `create2` (not all nodes say).
    #[serde(default)]
    pub creation_method: Option<CreationMethod>,
    /// The self-destructed contract.
    #[serde(default)]
    pub address: Option<Address>,
    /// Where its balance went.
    #[serde(default)]
    pub refund_address: Option<Address>,
    /// A call's input, kept only when it is a short printable memo.
    #[serde(default, deserialize_with = "crate::wire::memo")]
    pub input: Option<String>,
    /// Its balance.
    #[serde(default)]
    pub balance: Option<U256>,
    /// A reward's recipient.
    #[serde(default)]
    pub author: Option<Address>,
    /// `block` or `uncle`.
    #[serde(default)]
    pub reward_type: Option<RewardType>,
}

/// The result of a [`ParityTrace`], of which only a CREATE's new contract matters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityResult {
    /// The created contract.
    #[serde(default)]
    pub address: Option<Address>,
}

/// One item of `trace_replayBlockTransactions(block, ["trace"])`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityReplay {
    /// The tx's traces.
    pub trace: Vec<ParityTrace>,
    /// The tx's hash.
    pub transaction_hash: B256,
}

/// Reduces `trace_block` output: traces of every tx, then reward traces.
pub fn from_parity_block(
    traces: &[ParityTrace],
    rules: ForkRules,
) -> Result<BlockTraces, TraceError> {
    let mut by_tx: BTreeMap<u64, (Option<B256>, Vec<&ParityTrace>)> = BTreeMap::new();
    let mut rewards = Vec::new();
    for t in traces {
        if t.kind == ParityKind::Reward {
            let a = &t.action;
            let err = |field: &str| TraceError {
                tx_position: usize::MAX,
                trace_address: to_u32(&t.trace_address),
                detail: format!("a reward trace without `{field}`"),
            };
            let value = a.value.ok_or_else(|| err("value"))?;
            if !value.is_zero() {
                rewards.push(Reward {
                    author: a.author.ok_or_else(|| err("author"))?,
                    kind: match a.reward_type.ok_or_else(|| err("rewardType"))? {
                        RewardType::Block => MintKind::BlockReward,
                        RewardType::Uncle => MintKind::UncleReward,
                    },
                    value,
                });
            }
            continue;
        }
        let Some(position) = t.transaction_position else {
            return Err(TraceError {
                tx_position: usize::MAX,
                trace_address: to_u32(&t.trace_address),
                detail: "a non-reward trace has no transactionPosition".into(),
            });
        };
        let entry = by_tx
            .entry(position)
            .or_insert_with(|| (t.transaction_hash, Vec::new()));
        entry.1.push(t);
    }
    let mut txs = Vec::with_capacity(by_tx.len());
    for (expected, (position, (hash, traces))) in by_tx.into_iter().enumerate() {
        let position = usize::try_from(position).unwrap_or(usize::MAX);
        if position != expected {
            return Err(TraceError {
                tx_position: position,
                trace_address: Vec::new(),
                detail: format!(
                    "traces skip from tx position {} to {position}",
                    expected.saturating_sub(1)
                ),
            });
        }
        let mut tx = reduce_parity_tx(position, &traces, rules)?;
        tx.tx_hash = hash;
        txs.push(tx);
    }
    Ok(BlockTraces { txs, rewards })
}

/// Reduces `trace_replayBlockTransactions(block, ["trace"])` output (no rewards there).
pub fn from_parity_replay(
    replays: &[ParityReplay],
    rules: ForkRules,
) -> Result<BlockTraces, TraceError> {
    let mut txs = Vec::with_capacity(replays.len());
    for (position, replay) in replays.iter().enumerate() {
        let traces: Vec<&ParityTrace> = replay.trace.iter().collect();
        let mut tx = reduce_parity_tx(position, &traces, rules)?;
        tx.tx_hash = Some(replay.transaction_hash);
        txs.push(tx);
    }
    Ok(BlockTraces {
        txs,
        rewards: Vec::new(),
    })
}

fn reduce_parity_tx(
    position: usize,
    traces: &[&ParityTrace],
    rules: ForkRules,
) -> Result<TxTraces, TraceError> {
    let mut tx = TxTraces::default();
    let mut failed: HashSet<&[usize]> = HashSet::new();
    let mut self_destructs = Vec::new();
    for t in traces {
        let address = t.trace_address.as_slice();
        let a = &t.action;
        if address.is_empty() {
            tx.top_value = match t.kind {
                // Missing stays missing: the client then reads the tx's value from the full
                // block rather than taking 0.
                ParityKind::Call | ParityKind::Create => a.value,
                _ => None,
            };
            tx.top_memo = a.input.clone();
        }
        let reverted =
            (0..=address.len()).any(|n| address.get(..n).is_some_and(|p| failed.contains(p)));
        if t.error.is_some() {
            failed.insert(address);
        }
        if reverted || t.error.is_some() {
            if address.is_empty() {
                tx.failed = true;
            }
            continue;
        }
        let err = |detail: String| TraceError {
            tx_position: position,
            trace_address: to_u32(address),
            detail,
        };
        let need = |what: Option<Address>, field: &str| {
            what.ok_or_else(|| err(format!("a {:?} trace without `{field}`", t.kind)))
        };
        // A call or create without its value (or a call without its type) is reported, never
        // read as moving nothing: an internal transfer would vanish.
        let value = match t.kind {
            ParityKind::Call | ParityKind::Create => a
                .value
                .ok_or_else(|| err(format!("a {:?} trace without `value`", t.kind)))?,
            _ => alloy::primitives::U256::ZERO,
        };
        match t.kind {
            ParityKind::Call => {
                let call_type = a
                    .call_type
                    .ok_or_else(|| err("a Call trace without `callType`".into()))?;
                let moves = matches!(call_type, CallType::Call | CallType::None);
                if moves && !address.is_empty() && !value.is_zero() {
                    tx.transfers.push(TraceTransfer {
                        trace_address: to_u32(address),
                        action: TraceAction::Call,
                        from: need(a.from, "from")?,
                        to: Some(need(a.to, "to")?),
                        value,
                    });
                }
            }
            ParityKind::Create => {
                let Some(created) = t.result.as_ref().and_then(|r| r.address) else {
                    return Err(err(
                        "a successful create trace has no created address".into()
                    ));
                };
                tx.created.push(created);
                if !address.is_empty() && !value.is_zero() {
                    tx.transfers.push(TraceTransfer {
                        trace_address: to_u32(address),
                        action: match a.creation_method {
                            Some(CreationMethod::Create2) => TraceAction::Create2,
                            _ => TraceAction::Create,
                        },
                        from: need(a.from, "from")?,
                        to: Some(created),
                        value,
                    });
                }
            }
            ParityKind::Selfdestruct => {
                // Resolved after the whole tx: whether "to itself" burns depends on whether
                // the tx created the contract, which a later trace may not change but an
                // earlier one tells.
                let balance = a
                    .balance
                    .ok_or_else(|| err("a selfdestruct trace without `balance`".into()))?;
                self_destructs.push((
                    to_u32(address),
                    need(a.address, "address")?,
                    need(a.refund_address, "refundAddress")?,
                    balance,
                ));
            }
            ParityKind::Reward => return Err(err("a reward trace inside a transaction".into())),
        }
    }
    for (trace_address, contract, beneficiary, balance) in self_destructs {
        push_self_destruct(
            &mut tx,
            rules,
            trace_address,
            contract,
            beneficiary,
            balance,
        );
    }
    tx.transfers
        .sort_by(|a, b| a.trace_address.cmp(&b.trace_address));
    Ok(tx)
}

fn push_self_destruct(
    tx: &mut TxTraces,
    rules: ForkRules,
    trace_address: Vec<u32>,
    contract: Address,
    beneficiary: Address,
    balance: U256,
) {
    if balance.is_zero() {
        return;
    }
    let to = if beneficiary != contract {
        Some(beneficiary)
    } else if !rules.cancun || tx.created.contains(&contract) {
        None
    } else {
        // EIP-6780: the contract survives and keeps its balance.
        return;
    };
    tx.transfers.push(TraceTransfer {
        trace_address,
        action: TraceAction::SelfDestruct,
        from: contract,
        to,
        value: balance,
    });
}

/// One item of geth's `debug_traceBlockByNumber` answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GethTxTrace {
    /// The tx hash (newer geth only).
    #[serde(default)]
    pub tx_hash: Option<B256>,
    /// The top-level call frame.
    #[serde(default)]
    pub result: Option<GethFrame>,
    /// Why the tracer failed on this tx, if it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// A `callTracer` frame, with only the fields that move value (all optional: see the module
/// docs).
#[derive(Clone, Debug, Deserialize)]
pub struct GethFrame {
    /// `CALL`, `CALLCODE`, `DELEGATECALL`, `STATICCALL`, `CREATE`, `CREATE2`, `SELFDESTRUCT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Caller (for SELFDESTRUCT: the contract).
    #[serde(default)]
    pub from: Option<Address>,
    /// Callee, created contract, or SELFDESTRUCT beneficiary.
    #[serde(default)]
    pub to: Option<Address>,
    /// Wei sent (for SELFDESTRUCT: the balance).
    #[serde(default)]
    pub value: Option<U256>,
    /// Why the frame failed (its effects, and its children's, were undone).
    #[serde(default)]
    pub error: Option<String>,
    /// Its input, kept only when it is a short printable memo.
    #[serde(default, deserialize_with = "crate::wire::memo")]
    pub input: Option<String>,
    /// Nested frames, in call order.
    #[serde(default)]
    pub calls: Vec<GethFrame>,
}

/// Reduces geth `callTracer` output (no rewards there).
pub fn from_geth(txs: &[GethTxTrace], rules: ForkRules) -> Result<BlockTraces, TraceError> {
    let mut out = Vec::with_capacity(txs.len());
    for (position, item) in txs.iter().enumerate() {
        let err = |detail: String| TraceError {
            tx_position: position,
            trace_address: Vec::new(),
            detail,
        };
        if let Some(e) = &item.error {
            return Err(err(format!("the node's tracer failed: {e}")));
        }
        let Some(top) = &item.result else {
            return Err(err("no call frame".into()));
        };
        let mut tx = TxTraces {
            tx_hash: item.tx_hash,
            top_value: Some(top.value.unwrap_or_default()),
            top_memo: top.input.clone(),
            ..TxTraces::default()
        };
        let mut self_destructs = Vec::new();
        if top.error.is_some() {
            tx.failed = true;
        } else {
            walk_geth(
                position,
                rules,
                top,
                &mut Vec::new(),
                &mut tx,
                &mut self_destructs,
            )?;
        }
        for (trace_address, contract, beneficiary, balance) in self_destructs {
            push_self_destruct(
                &mut tx,
                rules,
                trace_address,
                contract,
                beneficiary,
                balance,
            );
        }
        tx.transfers
            .sort_by(|a, b| a.trace_address.cmp(&b.trace_address));
        out.push(tx);
    }
    Ok(BlockTraces {
        txs: out,
        rewards: Vec::new(),
    })
}

type PendingSelfDestruct = (Vec<u32>, Address, Address, U256);

fn walk_geth(
    position: usize,
    rules: ForkRules,
    frame: &GethFrame,
    path: &mut Vec<u32>,
    tx: &mut TxTraces,
    self_destructs: &mut Vec<PendingSelfDestruct>,
) -> Result<(), TraceError> {
    let err = |path: &[u32], detail: String| TraceError {
        tx_position: position,
        trace_address: path.to_vec(),
        detail,
    };
    let value = frame.value.unwrap_or_default();
    let need = |what: Option<Address>, field: &str| {
        what.ok_or_else(|| err(path, format!("{} frame without `{field}`", frame.kind)))
    };
    match frame.kind.as_str() {
        "CALL" => {
            if !path.is_empty() && !value.is_zero() {
                tx.transfers.push(TraceTransfer {
                    trace_address: path.clone(),
                    action: TraceAction::Call,
                    from: need(frame.from, "from")?,
                    to: Some(need(frame.to, "to")?),
                    value,
                });
            }
        }
        "CREATE" | "CREATE2" => {
            let created = need(frame.to, "to")?;
            tx.created.push(created);
            if !path.is_empty() && !value.is_zero() {
                tx.transfers.push(TraceTransfer {
                    trace_address: path.clone(),
                    action: if frame.kind == "CREATE2" {
                        TraceAction::Create2
                    } else {
                        TraceAction::Create
                    },
                    from: need(frame.from, "from")?,
                    to: Some(created),
                    value,
                });
            }
        }
        "SELFDESTRUCT" => {
            let Some(balance) = frame.value else {
                if rules.cancun {
                    // After Cancun, nodes (anvil among them) write a SELFDESTRUCT that moves
                    // nothing — to the contract itself, of a contract from an earlier tx — as
                    // a frame without value (and without a real `from`/`to`).
                    return Ok(());
                }
                return Err(err(
                    path,
                    "SELFDESTRUCT frame without `value` (old geth callTracer): the balance it moved is unknown; use a node with Parity traces or a newer geth".into(),
                ));
            };
            self_destructs.push((
                path.clone(),
                need(frame.from, "from")?,
                need(frame.to, "to")?,
                balance,
            ));
        }
        "CALLCODE" | "DELEGATECALL" | "STATICCALL" => {}
        other => return Err(err(path, format!("unknown frame type {other:?}"))),
    }
    for (i, child) in frame.calls.iter().enumerate() {
        if child.error.is_some() {
            continue;
        }
        path.push(u32::try_from(i).unwrap_or(u32::MAX));
        walk_geth(position, rules, child, path, tx, self_destructs)?;
        path.pop();
    }
    Ok(())
}

fn to_u32(address: &[usize]) -> Vec<u32> {
    address
        .iter()
        .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: serde_json::Value) -> Vec<ParityTrace> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parity_traces_missing_a_field_name_it_and_their_position() {
        let from = "0x00000000000000000000000000000000000000aa";
        let traces = parse(json!([
            {"type": "call", "traceAddress": [], "transactionPosition": 0,
             "action": {"from": from, "to": from, "value": "0x1", "callType": "call",
                        "input": "0x", "gas": "0x0"},
             "result": {"gasUsed": "0x0", "output": "0x"}, "subtraces": 1},
            {"type": "call", "traceAddress": [0], "transactionPosition": 0,
             "action": {"from": from, "value": "0x5", "callType": "call"}, "subtraces": 0},
        ]));
        let e = from_parity_block(&traces, ForkRules { cancun: true }).unwrap_err();
        assert_eq!((e.tx_position, e.trace_address.clone()), (0, vec![0]));
        assert!(e.detail.contains("`to`"), "{e}");

        // Nor is a call without its value read as moving nothing.
        let traces = parse(json!([
            {"type": "call", "traceAddress": [], "transactionPosition": 0,
             "action": {"from": from, "to": from, "value": "0x1", "callType": "call"}},
            {"type": "call", "traceAddress": [0], "transactionPosition": 0,
             "action": {"from": from, "to": from, "callType": "call"}},
        ]));
        let e = from_parity_block(&traces, ForkRules { cancun: true }).unwrap_err();
        assert_eq!(e.trace_address, vec![0]);
        assert!(e.detail.contains("`value`"), "{e}");

        // A zero-value call needs no payee; `suicide` and `selfdestruct` are one kind.
        let traces = parse(json!([
            {"type": "call", "traceAddress": [], "transactionPosition": 0,
             "action": {"from": from, "to": from, "value": "0x0", "callType": "call"}},
            {"type": "selfdestruct", "traceAddress": [0], "transactionPosition": 0,
             "action": {"address": from, "refundAddress": "0x00000000000000000000000000000000000000bb",
                        "balance": "0x9"}},
            {"type": "reward", "traceAddress": [],
             "action": {"author": from, "value": "0x2", "rewardType": "uncle"}},
        ]));
        let b = from_parity_block(&traces, ForkRules { cancun: true }).unwrap();
        assert_eq!(b.txs[0].transfers.len(), 1);
        assert_eq!(b.txs[0].transfers[0].action, TraceAction::SelfDestruct);
        assert_eq!(b.rewards.len(), 1);
        assert_eq!(b.rewards[0].kind, MintKind::UncleReward);

        // An unknown trace type does not read at all.
        let bad: Result<Vec<ParityTrace>, _> =
            serde_json::from_value(json!([{"type": "teleport", "traceAddress": [], "action": {}}]));
        assert!(bad.is_err());
    }
}
