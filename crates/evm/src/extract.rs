//! Turns a block, its receipts and its traces (as the node gave them) into an [`EvmBlock`]:
//! checks that the answers agree with each other, then lists every transfer in order.
//!
//! This is pure: no I/O, so recorded or tampered answers test it directly. Checks, each an
//! [`EvmError::Inconsistent`] naming block, tx and field when it fails:
//! - every tx sits at its `transactionIndex` and in this block (`blockHash`);
//! - exactly one receipt per tx, none for a tx not in the block, each from this block;
//! - log indices run 0, 1, 2, … across the block's receipts without a gap, and no log is
//!   marked `removed`;
//! - traces cover exactly the block's txs, with the same hashes, and agree with the receipts'
//!   status;
//! - the effective gas price is not below the base fee.
//!
//! Values that do not fit 128 bits are refused with [`EvmError::AmountOverflow`] (or, for
//! token logs, skipped and listed when [`OversizedAmounts::Skip`] is chosen): never truncated.

use std::collections::{HashMap, HashSet};

use alloy::primitives::{Address as EvmAddress, B256, LogData, U256};
use tracehound_core::{
    Address, Amount, AssetId, Block, Chain, Hash32, Transfer, TransferKind, TxRef,
};

use crate::error::{EvmError, Location, Result};
use crate::links::{LinkDecoder, Skips, TxView};
use crate::logs::{self, TokenMove};
use crate::model::{
    BLOCK_LEVEL_TX_INDEX, BurnKind, EvmBlock, EvmTransfer, EvmTx, FeePart, LogEvent, MintKind,
    TraceFlavour, TransferSource, TxStatus, WrapDirection, WrapLink, address, burn_address,
    mint_address, wrap_address,
};
use crate::traces::{BlockTraces, TxTraces};
use crate::wire::{WireBlock, WireReceipt, WireTx};

/// Wei per gwei (withdrawal amounts are in gwei).
const WEI_PER_GWEI: u128 = 1_000_000_000;

/// What to do with a token log whose amount does not fit 128 bits (spam tokens mint
/// 2^256 − 1 to random accounts; a real token never gets near 2^128).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum OversizedAmounts {
    /// Fail the block with [`EvmError::AmountOverflow`].
    #[default]
    Reject,
    /// Leave the log out and list it in [`EvmBlock::skipped`](crate::EvmBlock) — the
    /// token's balances from transfers then no longer equal `balanceOf`.
    Skip,
}

/// Settings of one extraction.
#[derive(Clone, Debug)]
pub(crate) struct Settings<'a> {
    pub(crate) chain: Chain,
    pub(crate) wrapped_native: &'a HashSet<EvmAddress>,
    pub(crate) oversized: OversizedAmounts,
    pub(crate) links: &'a LinkDecoder,
}

/// A block's node answers, gathered.
pub(crate) struct Answers {
    pub(crate) block: WireBlock,
    pub(crate) receipts: Vec<WireReceipt>,
    pub(crate) traces: Option<(TraceFlavour, BlockTraces)>,
}

fn hash32(h: &B256) -> Hash32 {
    Hash32(h.0)
}

fn inconsistent(at: Location, field: &str, detail: String) -> EvmError {
    EvmError::Inconsistent {
        at: Box::new(at),
        field: field.to_string(),
        detail,
    }
}

fn fit(value: U256, at: &Location, field: &str) -> Result<u128> {
    u128::try_from(value).map_err(|_| EvmError::AmountOverflow {
        at: Box::new(at.clone()),
        field: field.to_string(),
        value: value.to_string(),
    })
}

/// Builds the transfers of one tx, numbering them.
struct TxTransfers<'a> {
    out: &'a mut Vec<EvmTransfer>,
    tx: TxRef,
    next: u32,
}

impl TxTransfers<'_> {
    fn push(
        &mut self,
        kind: TransferKind,
        asset: AssetId,
        from: Address,
        to: Address,
        amount: u128,
        source: TransferSource,
    ) {
        if amount == 0 {
            return;
        }
        self.out.push(EvmTransfer {
            transfer: Transfer {
                tx: self.tx,
                sub_index: self.next,
                kind,
                asset,
                from,
                to,
                amount: Amount::from_units(amount),
            },
            source,
        });
        self.next += 1;
    }
}

/// Extracts a block. `answers.receipts` may come in any order.
pub(crate) fn extract(settings: &Settings<'_>, answers: Answers) -> Result<EvmBlock> {
    let Answers {
        block: wire,
        receipts,
        traces,
    } = answers;
    let chain = settings.chain;
    let number = wire.number.to::<u64>();
    let here = Location::block(number);
    let height = u32::try_from(number).map_err(|_| {
        inconsistent(
            here.clone(),
            "number",
            format!("height {number} is beyond 2^32"),
        )
    })?;
    let block = Block {
        chain,
        height,
        hash: hash32(&wire.hash),
        parent: hash32(&wire.parent_hash),
        time: wire.timestamp.to::<u64>(),
        chainwork: None,
    };
    let base_fee = wire
        .base_fee_per_gas
        .map(|b| fit(b, &here, "baseFeePerGas"))
        .transpose()?;
    let miner = address(chain, &wire.miner);

    check_txs(&wire, &here)?;
    let receipts = match_receipts(&wire, receipts, &here)?;
    check_logs(&wire, &receipts, &here)?;
    let (flavour, mut block_traces) = match traces {
        Some((flavour, t)) => {
            check_traces(&wire, &t, &here)?;
            (Some(flavour), Some(t))
        }
        None => (None, None),
    };

    let mut txs = Vec::with_capacity(wire.transactions.len());
    let mut transfers = Vec::new();
    let mut wraps = Vec::new();
    let mut skipped = Vec::new();
    let mut links = Vec::new();
    let mut link_skips = Skips::default();
    for (index, (tx, receipt)) in wire.transactions.iter().zip(&receipts).enumerate() {
        let tx_traces = block_traces
            .as_mut()
            .and_then(|t| t.txs.get_mut(index))
            .map(std::mem::take);
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let first = transfers.len();
        let (evm_tx, more_wraps) = extract_tx(
            settings,
            &wire,
            base_fee,
            &miner,
            block.height,
            index,
            tx,
            receipt,
            tx_traces,
            &mut transfers,
            &mut skipped,
        )?;
        settings.links.decode_tx(
            &TxView {
                tx: &evm_tx,
                memo: tx.input.as_deref(),
                logs: &receipt.logs,
                transfers: transfers.get(first..).unwrap_or_default(),
                wraps: &more_wraps,
            },
            &mut links,
            &mut link_skips,
        );
        txs.push(evm_tx);
        wraps.extend(more_wraps);
    }

    // Block-level issuance: after every tx, as the chain applies it.
    let mut block_level = TxTransfers {
        out: &mut transfers,
        tx: TxRef {
            chain,
            height: block.height,
            index: BLOCK_LEVEL_TX_INDEX,
            txid: block.hash,
        },
        next: 0,
    };
    for reward in block_traces.iter().flat_map(|t| &t.rewards) {
        let value = fit(reward.value, &here, "reward.value")?;
        block_level.push(
            TransferKind::Native,
            AssetId::Native,
            mint_address(chain, reward.kind),
            address(chain, &reward.author),
            value,
            TransferSource::Reward(reward.kind),
        );
    }
    for w in wire.withdrawals.iter().flatten() {
        let wei = u128::from(w.amount.to::<u64>()) * WEI_PER_GWEI;
        block_level.push(
            TransferKind::Native,
            AssetId::Native,
            mint_address(chain, MintKind::Withdrawal),
            address(chain, &w.address),
            wei,
            TransferSource::Withdrawal {
                index: w.index.to::<u64>(),
                validator_index: w.validator_index.to::<u64>(),
            },
        );
    }

    let proof_of_work = wire.difficulty.is_some_and(|d| !d.is_zero());
    Ok(EvmBlock {
        block,
        miner,
        base_fee_per_gas: base_fee,
        txs,
        transfers,
        wraps,
        tokens: Vec::new(),
        traces: flavour,
        rewards_missing: height > 0 && proof_of_work && flavour != Some(TraceFlavour::ParityBlock),
        skipped,
        links,
        link_skips: link_skips.into_vec(),
    })
}

/// A token amount as 128 bits; when it does not fit, an error or (under
/// [`OversizedAmounts::Skip`]) `None` with the log noted in `skipped`.
fn fit_token(
    settings: &Settings<'_>,
    skipped: &mut Vec<Location>,
    value: U256,
    at: &Location,
    field: &str,
) -> Result<Option<u128>> {
    match (fit(value, at, field), settings.oversized) {
        (Ok(v), _) => Ok(Some(v)),
        (Err(_), OversizedAmounts::Skip) => {
            skipped.push(at.clone());
            Ok(None)
        }
        (Err(e), OversizedAmounts::Reject) => Err(e),
    }
}

fn check_txs(wire: &WireBlock, here: &Location) -> Result<()> {
    for (i, tx) in wire.transactions.iter().enumerate() {
        let at = Location::tx(here.block, hash32(&tx.hash));
        if let Some(index) = tx.transaction_index
            && index.to::<u64>() != i as u64
        {
            return Err(inconsistent(
                at,
                "transactionIndex",
                format!("tx is at position {i} but says {index}"),
            ));
        }
        if let Some(h) = tx.block_hash
            && h != wire.hash
        {
            return Err(inconsistent(
                at,
                "blockHash",
                format!("tx says block {h}, the block is {}", wire.hash),
            ));
        }
    }
    Ok(())
}

/// Puts receipts in tx order, refusing any that do not belong.
fn match_receipts(
    wire: &WireBlock,
    receipts: Vec<WireReceipt>,
    here: &Location,
) -> Result<Vec<WireReceipt>> {
    let position: HashMap<B256, usize> = wire
        .transactions
        .iter()
        .enumerate()
        .map(|(i, tx)| (tx.hash, i))
        .collect();
    let mut slots: Vec<Option<WireReceipt>> = wire.transactions.iter().map(|_| None).collect();
    for r in receipts {
        let at = Location::tx(here.block, hash32(&r.transaction_hash));
        let Some(&i) = position.get(&r.transaction_hash) else {
            return Err(inconsistent(
                at,
                "transactionHash",
                "a receipt for a tx that is not in the block".into(),
            ));
        };
        if r.block_hash != wire.hash {
            return Err(inconsistent(
                at,
                "blockHash",
                format!(
                    "the receipt is from block {}, the block is {} (reorganised while fetching?)",
                    r.block_hash, wire.hash
                ),
            ));
        }
        if r.block_number.to::<u64>() != here.block {
            return Err(inconsistent(
                at,
                "blockNumber",
                format!("the receipt says block {}", r.block_number),
            ));
        }
        if r.transaction_index.to::<u64>() != i as u64 {
            return Err(inconsistent(
                at,
                "transactionIndex",
                format!(
                    "the tx is at position {i}, its receipt says {}",
                    r.transaction_index
                ),
            ));
        }
        match slots.get_mut(i) {
            Some(slot @ None) => *slot = Some(r),
            _ => {
                return Err(inconsistent(
                    at,
                    "transactionHash",
                    "two receipts for one tx".into(),
                ));
            }
        }
    }
    slots
        .into_iter()
        .zip(&wire.transactions)
        .map(|(r, tx)| {
            r.ok_or_else(|| {
                inconsistent(
                    Location::tx(here.block, hash32(&tx.hash)),
                    "receipts",
                    "no receipt for this tx".into(),
                )
            })
        })
        .collect()
}

fn check_logs(wire: &WireBlock, receipts: &[WireReceipt], here: &Location) -> Result<()> {
    let mut next = 0u64;
    for r in receipts {
        let at = Location::tx(here.block, hash32(&r.transaction_hash));
        for log in &r.logs {
            let index = log.log_index.to::<u64>();
            let at = at.clone().with_log(index);
            if index != next {
                return Err(inconsistent(
                    at,
                    "logIndex",
                    format!(
                        "expected log index {next} (log indices must run on across the block without a gap)"
                    ),
                ));
            }
            if log.removed {
                return Err(inconsistent(
                    at,
                    "removed",
                    "the node marks this log as removed (reorganised)".into(),
                ));
            }
            if let Some(h) = log.transaction_hash
                && h != r.transaction_hash
            {
                return Err(inconsistent(
                    at,
                    "transactionHash",
                    format!("the log says tx {h}"),
                ));
            }
            if let Some(h) = log.block_hash
                && h != wire.hash
            {
                return Err(inconsistent(
                    at,
                    "blockHash",
                    format!("the log says block {h}, the block is {}", wire.hash),
                ));
            }
            next += 1;
        }
    }
    Ok(())
}

fn check_traces(wire: &WireBlock, traces: &BlockTraces, here: &Location) -> Result<()> {
    if traces.txs.len() != wire.transactions.len() {
        return Err(inconsistent(
            here.clone(),
            "traces",
            format!(
                "traces cover {} txs, the block has {}",
                traces.txs.len(),
                wire.transactions.len()
            ),
        ));
    }
    for (tx, t) in wire.transactions.iter().zip(&traces.txs) {
        if let Some(h) = t.tx_hash
            && h != tx.hash
        {
            return Err(inconsistent(
                Location::tx(here.block, hash32(&tx.hash)),
                "transactionHash",
                format!("the trace at this position is for tx {h}"),
            ));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn extract_tx(
    settings: &Settings<'_>,
    wire: &WireBlock,
    base_fee: Option<u128>,
    miner: &Address,
    height: u32,
    index: u32,
    tx: &WireTx,
    receipt: &WireReceipt,
    traces: Option<TxTraces>,
    out: &mut Vec<EvmTransfer>,
    skipped: &mut Vec<Location>,
) -> Result<(EvmTx, Vec<WrapLink>)> {
    let chain = settings.chain;
    let txid = hash32(&tx.hash);
    let at = Location::tx(wire.number.to::<u64>(), txid);
    let from = address(chain, &tx.from);

    let status = match (receipt.status.map(|s| s.to::<u64>()), &traces) {
        (Some(1), Some(t)) if t.failed => {
            return Err(inconsistent(
                at,
                "status",
                "the receipt says success, the trace says failure".into(),
            ));
        }
        (Some(0), Some(t)) if !t.failed => {
            return Err(inconsistent(
                at,
                "status",
                "the receipt says failure, the trace says success".into(),
            ));
        }
        (Some(1), _) => TxStatus::Success,
        (Some(0), _) => TxStatus::Failed,
        (Some(other), _) => {
            return Err(inconsistent(
                at,
                "status",
                format!("status {other} is neither 0 nor 1"),
            ));
        }
        (None, Some(t)) if t.failed => TxStatus::Failed,
        (None, Some(_)) => TxStatus::Success,
        (None, None) => TxStatus::Unknown,
    };

    let gas_used = u64::try_from(receipt.gas_used).map_err(|_| {
        inconsistent(
            at.clone(),
            "gasUsed",
            format!("{} does not fit 64 bits", receipt.gas_used),
        )
    })?;
    let price = effective_gas_price(tx, receipt, base_fee, &at)?;
    let blob_gas_used = receipt
        .blob_gas_used
        .map(|g| {
            u64::try_from(g).map_err(|_| {
                inconsistent(
                    at.clone(),
                    "blobGasUsed",
                    format!("{g} does not fit 64 bits"),
                )
            })
        })
        .transpose()?;
    let blob_gas_price = receipt
        .blob_gas_price
        .map(|p| fit(p, &at, "blobGasPrice"))
        .transpose()?;
    let created = receipt.contract_address.map(|a| address(chain, &a));
    if tx.to.is_none() && status != TxStatus::Failed && created.is_none() {
        return Err(inconsistent(
            at,
            "contractAddress",
            "a successful contract creation without the created address".into(),
        ));
    }
    let value = fit(tx.value, &at, "value")?;
    let tx_type = tx.tx_type.map(|t| t.to::<u64>()).unwrap_or(0);
    let evm_tx = EvmTx {
        hash: txid,
        index,
        from: from.clone(),
        to: tx.to.map(|a| address(chain, &a)),
        value: Amount::from_units(value),
        status,
        gas_used,
        effective_gas_price: price,
        blob_gas_used,
        blob_gas_price,
        created_contract: created.clone(),
        tx_type: u8::try_from(tx_type).unwrap_or(u8::MAX),
    };

    let mut t = TxTransfers {
        out,
        tx: TxRef {
            chain,
            height,
            index,
            txid,
        },
        next: 0,
    };
    let overflow = |field: &str| {
        let at = at.clone();
        let field = field.to_string();
        move || EvmError::AmountOverflow {
            value: "product overflows 128 bits".into(),
            at: Box::new(at),
            field,
        }
    };
    let gas = u128::from(gas_used);
    match base_fee {
        Some(base) => {
            let tip = price - base; // effective_gas_price checked price >= base
            t.push(
                TransferKind::Fee,
                AssetId::Native,
                from.clone(),
                miner.clone(),
                gas.checked_mul(tip)
                    .ok_or_else(overflow("gasUsed × priority fee"))?,
                TransferSource::Fee(FeePart::Tip),
            );
            t.push(
                TransferKind::Fee,
                AssetId::Native,
                from.clone(),
                burn_address(chain, BurnKind::Fee),
                gas.checked_mul(base)
                    .ok_or_else(overflow("gasUsed × baseFeePerGas"))?,
                TransferSource::Fee(FeePart::BaseFeeBurn),
            );
        }
        None => t.push(
            TransferKind::Fee,
            AssetId::Native,
            from.clone(),
            miner.clone(),
            gas.checked_mul(price)
                .ok_or_else(overflow("gasUsed × gasPrice"))?,
            TransferSource::Fee(FeePart::Legacy),
        ),
    }
    if let (Some(used), Some(price)) = (blob_gas_used, blob_gas_price) {
        t.push(
            TransferKind::Fee,
            AssetId::Native,
            from.clone(),
            burn_address(chain, BurnKind::Fee),
            u128::from(used)
                .checked_mul(price)
                .ok_or_else(overflow("blobGasUsed × blobGasPrice"))?,
            TransferSource::Fee(FeePart::BlobFeeBurn),
        );
    }
    if status == TxStatus::Failed {
        return Ok((evm_tx, Vec::new()));
    }

    if let Some(to) = evm_tx.to.clone().or(created) {
        t.push(
            TransferKind::Native,
            AssetId::Native,
            from,
            to,
            value,
            TransferSource::TxValue,
        );
    }

    for move_ in traces.iter().flat_map(|t| &t.transfers) {
        let at = at.clone().with_trace(
            &move_
                .trace_address
                .iter()
                .map(|&i| i as usize)
                .collect::<Vec<_>>(),
        );
        let amount = fit(move_.value, &at, "value")?;
        let to = match move_.to {
            Some(to) => address(chain, &to),
            None => burn_address(chain, BurnKind::SelfDestruct),
        };
        t.push(
            TransferKind::Internal,
            AssetId::Native,
            address(chain, &move_.from),
            to,
            amount,
            TransferSource::Trace {
                trace_address: move_.trace_address.clone(),
                action: move_.action,
            },
        );
    }

    let mut wraps = Vec::new();
    for log in &receipt.logs {
        let log_index = log.log_index.to::<u64>();
        let at = at.clone().with_log(log_index);
        let log_index = u32::try_from(log_index).unwrap_or(u32::MAX);
        let data = LogData::new(log.topics.clone(), log.data.clone()).ok_or_else(|| {
            inconsistent(
                at.clone(),
                "topics",
                format!("{} topics (at most 4)", log.topics.len()),
            )
        })?;
        let wraps_native = settings.wrapped_native.contains(&log.address);
        let decoded = logs::decode(log.address, &data, wraps_native)
            .map_err(|e| inconsistent(at.clone(), "data", e.to_string()))?;
        let Some(decoded) = decoded else { continue };
        let token = address(chain, &log.address);
        let asset = AssetId::Contract(token.clone());
        match decoded {
            TokenMove::Fungible { from, to, value } => {
                let Some(value) = fit_token(settings, skipped, value, &at, "value")? else {
                    continue;
                };
                t.push(
                    TransferKind::Token,
                    asset,
                    address(chain, &from),
                    address(chain, &to),
                    value,
                    TransferSource::Log {
                        log_index,
                        event: LogEvent::Erc20Transfer,
                    },
                );
            }
            TokenMove::Wrap { account, value } | TokenMove::Unwrap { account, value } => {
                let Some(value) = fit_token(settings, skipped, value, &at, "wad")? else {
                    continue;
                };
                let wrap = matches!(decoded, TokenMove::Wrap { .. });
                let account = address(chain, &account);
                let pool = wrap_address(chain, &token);
                let (from, to, event, direction) = if wrap {
                    (
                        pool,
                        account.clone(),
                        LogEvent::WrapDeposit,
                        WrapDirection::Wrap,
                    )
                } else {
                    (
                        account.clone(),
                        pool,
                        LogEvent::WrapWithdrawal,
                        WrapDirection::Unwrap,
                    )
                };
                t.push(
                    TransferKind::Token,
                    asset,
                    from,
                    to,
                    value,
                    TransferSource::Log { log_index, event },
                );
                if value > 0 {
                    wraps.push(WrapLink {
                        tx: txid,
                        tx_index: index,
                        log_index,
                        token: token.clone(),
                        account,
                        amount: Amount::from_units(value),
                        direction,
                    });
                }
            }
            TokenMove::Nft {
                operator,
                from,
                to,
                items,
                batch,
            } => {
                for (position, (token_id, count)) in items.into_iter().enumerate() {
                    let field = if batch {
                        format!("values[{position}]")
                    } else {
                        "value".to_string()
                    };
                    let Some(count) = fit_token(settings, skipped, count, &at, &field)? else {
                        continue;
                    };
                    let event = match operator {
                        None => LogEvent::Erc721Transfer { token_id },
                        Some(op) => LogEvent::Erc1155Transfer {
                            operator: address(chain, &op),
                            token_id,
                            batch_position: batch
                                .then(|| u32::try_from(position).unwrap_or(u32::MAX)),
                        },
                    };
                    t.push(
                        TransferKind::Nft,
                        asset.clone(),
                        address(chain, &from),
                        address(chain, &to),
                        count,
                        TransferSource::Log { log_index, event },
                    );
                }
            }
        }
    }
    Ok((evm_tx, wraps))
}

/// The price the sender paid per gas: the receipt's, or — from nodes too old to say — the
/// tx's gas price (legacy and access-list txs) or what EIP-1559 makes of its caps.
fn effective_gas_price(
    tx: &WireTx,
    receipt: &WireReceipt,
    base_fee: Option<u128>,
    at: &Location,
) -> Result<u128> {
    let price = match (
        receipt.effective_gas_price,
        tx.max_fee_per_gas,
        tx.max_priority_fee_per_gas,
        base_fee,
    ) {
        (Some(p), ..) => fit(p, at, "effectiveGasPrice")?,
        (None, Some(max), Some(tip), Some(base)) => {
            let max = fit(max, at, "maxFeePerGas")?;
            let tip = fit(tip, at, "maxPriorityFeePerGas")?;
            max.min(base.saturating_add(tip))
        }
        (None, ..) => match tx.gas_price {
            Some(p) => fit(p, at, "gasPrice")?,
            None => {
                return Err(inconsistent(
                    at.clone(),
                    "effectiveGasPrice",
                    "neither the receipt nor the tx tells the gas price".into(),
                ));
            }
        },
    };
    if let Some(base) = base_fee
        && price < base
    {
        return Err(inconsistent(
            at.clone(),
            "effectiveGasPrice",
            format!("{price} is below the block's base fee {base}"),
        ));
    }
    Ok(price)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TraceAction;
    use crate::traces::{ForkRules, from_parity_block};
    use serde_json::json;
    use tracehound_core::{Destination, LinkConfig, LinkFact, LinkKind};

    const CHAIN: Chain = Chain::Evm(1);
    const SENDER: &str = "0x1111111111111111111111111111111111111111";
    const MINER: &str = "0x9999999999999999999999999999999999999999";
    const BLOCK_HASH: &str = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const TX: &str = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn block(extra: serde_json::Value, tx: serde_json::Value) -> WireBlock {
        let mut b = json!({
            "number": "0x10", "hash": BLOCK_HASH, "parentHash": BLOCK_HASH, "timestamp": "0x1",
            "miner": MINER, "difficulty": "0x0",
            "transactions": [tx],
        });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        serde_json::from_value(b).unwrap()
    }

    fn tx(extra: serde_json::Value) -> serde_json::Value {
        let mut t = json!({"hash": TX, "transactionIndex": "0x0", "from": SENDER,
            "to": "0x2222222222222222222222222222222222222222", "value": "0x64", "type": "0x2"});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    }

    fn receipt(extra: serde_json::Value) -> WireReceipt {
        let mut r = json!({"transactionHash": TX, "transactionIndex": "0x0", "blockHash": BLOCK_HASH,
            "blockNumber": "0x10", "gasUsed": "0x5208", "status": "0x1", "logs": []});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        serde_json::from_value(r).unwrap()
    }

    fn run(
        block: WireBlock,
        receipt: WireReceipt,
        traces: Option<BlockTraces>,
    ) -> Result<EvmBlock> {
        run_with(block, receipt, traces, &[], &LinkDecoder::builtin(CHAIN))
    }

    fn run_with(
        block: WireBlock,
        receipt: WireReceipt,
        traces: Option<BlockTraces>,
        wrapped: &[&str],
        links: &LinkDecoder,
    ) -> Result<EvmBlock> {
        let wrapped: HashSet<EvmAddress> = wrapped.iter().map(|a| a.parse().unwrap()).collect();
        let settings = Settings {
            chain: CHAIN,
            wrapped_native: &wrapped,
            oversized: OversizedAmounts::Reject,
            links,
        };
        extract(
            &settings,
            Answers {
                block,
                receipts: vec![receipt],
                traces: traces.map(|t| (TraceFlavour::ParityBlock, t)),
            },
        )
    }

    fn fees(b: &EvmBlock) -> Vec<(FeePart, String, u128)> {
        b.transfers
            .iter()
            .filter_map(|t| match t.source {
                TransferSource::Fee(part) => {
                    Some((part, t.transfer.to.to_string(), t.transfer.amount.units()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn london_fee_splits_into_burn_and_tip_and_blob_gas_burns() {
        let b = block(
            json!({"baseFeePerGas": "0x7", "excessBlobGas": "0x0"}),
            tx(json!({"type": "0x3"})),
        );
        let r = receipt(
            json!({"effectiveGasPrice": "0xa", "blobGasUsed": "0x20000", "blobGasPrice": "0x3"}),
        );
        let out = run(b, r, None).unwrap();
        assert_eq!(
            fees(&out),
            vec![
                (FeePart::Tip, MINER.to_string(), 21_000 * 3),
                (FeePart::BaseFeeBurn, "burn:fee".to_string(), 21_000 * 7),
                (FeePart::BlobFeeBurn, "burn:fee".to_string(), 0x20000 * 3),
            ]
        );
        assert_eq!(out.txs[0].fee(), Some(21_000 * 10 + 0x20000 * 3));
        // The fees add up to what the tx paid: balances reconcile.
        let paid: u128 = fees(&out).iter().map(|f| f.2).sum();
        assert_eq!(Some(paid), out.txs[0].fee());
    }

    #[test]
    fn price_from_caps_when_the_receipt_is_silent_and_below_base_fee_is_refused() {
        let b = block(
            json!({"baseFeePerGas": "0x7"}),
            tx(json!({"maxFeePerGas": "0x9", "maxPriorityFeePerGas": "0x5"})),
        );
        let out = run(b, receipt(json!({})), None).unwrap();
        assert_eq!(out.txs[0].effective_gas_price, 9);
        let b = block(json!({"baseFeePerGas": "0x7"}), tx(json!({})));
        let err = run(b, receipt(json!({"effectiveGasPrice": "0x6"})), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("below the block's base fee") && err.contains("block 16"),
            "{err}"
        );
    }

    #[test]
    fn failed_tx_pays_fee_only_and_withdrawals_mint_after_the_txs() {
        let b = block(
            json!({"withdrawals": [{"index": "0x5", "validatorIndex": "0x9", "address": MINER, "amount": "0x3"}]}),
            tx(json!({"gasPrice": "0x2"})),
        );
        let out = run(
            b,
            receipt(json!({"status": "0x0", "effectiveGasPrice": "0x2"})),
            None,
        )
        .unwrap();
        assert_eq!(out.txs[0].status, TxStatus::Failed);
        let kinds: Vec<_> = out
            .core_transfers()
            .map(|t| (t.kind, t.tx.index, t.sub_index))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (TransferKind::Fee, 0, 0),
                (TransferKind::Native, BLOCK_LEVEL_TX_INDEX, 0)
            ]
        );
        let w = &out.transfers[1];
        assert_eq!(w.transfer.from.as_str(), "mint:withdrawal");
        assert_eq!(w.transfer.amount.units(), 3_000_000_000);
        assert_eq!(w.transfer.tx.txid, out.block.hash);
    }

    #[test]
    fn reverted_subtrees_are_skipped_and_pre_cancun_self_destruct_to_itself_burns() {
        let t = |address: serde_json::Value,
                 action: serde_json::Value,
                 kind: &str,
                 error: Option<&str>| {
            let mut v = json!({"action": action, "subtraces": 0, "traceAddress": address,
                "transactionHash": TX, "transactionPosition": 0, "type": kind,
                "result": {"gasUsed": "0x0", "output": "0x"}});
            if let Some(e) = error {
                v["error"] = json!(e);
            }
            v
        };
        let call = |from: &str, to: &str, value: &str| json!({"callType": "call", "from": from, "to": to, "gas": "0x0", "input": "0x", "value": value});
        let c = "0x3333333333333333333333333333333333333333";
        let d = "0x4444444444444444444444444444444444444444";
        let traces = vec![
            t(json!([]), call(SENDER, c, "0x64"), "call", None),
            t(json!([0]), call(c, d, "0x5"), "call", Some("Reverted")),
            t(json!([0, 0]), call(d, SENDER, "0x1"), "call", None), // under a revert
            t(json!([1]), call(c, d, "0x7"), "call", None),
            t(
                json!([2]),
                json!({"address": c, "refundAddress": c, "balance": "0x50"}),
                "suicide",
                None,
            ),
            t(
                json!([3]),
                json!({"address": d, "refundAddress": SENDER, "balance": "0x0"}),
                "suicide",
                None,
            ),
        ];
        let traces: Vec<crate::traces::ParityTrace> =
            serde_json::from_value(json!(traces)).unwrap();
        let pre = from_parity_block(&traces, ForkRules { cancun: false }).unwrap();
        let moves: Vec<_> = pre.txs[0]
            .transfers
            .iter()
            .map(|m| {
                (
                    m.trace_address.clone(),
                    m.action,
                    m.value.to::<u64>(),
                    m.to.is_none(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            vec![
                (vec![1], TraceAction::Call, 7, false),
                (vec![2], TraceAction::SelfDestruct, 0x50, true)
            ]
        );
        // After Cancun, a contract from an earlier tx keeps its balance.
        let post = from_parity_block(&traces, ForkRules { cancun: true }).unwrap();
        assert_eq!(post.txs[0].transfers.len(), 1);

        let out = run(
            block(json!({}), tx(json!({"gasPrice": "0x1"}))),
            receipt(json!({})),
            Some(pre),
        )
        .unwrap();
        let burnt: Vec<_> = out
            .core_transfers()
            .filter(|t| t.to.as_str() == "burn:selfdestruct")
            .collect();
        assert_eq!(burnt.len(), 1);
        assert_eq!(burnt[0].amount.units(), 0x50);
    }

    const WETH: &str = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2";

    fn word(n: u128) -> String {
        format!("{n:064x}")
    }

    fn topic(a: &str) -> String {
        format!("0x{:0>64}", a.trim_start_matches("0x"))
    }

    #[test]
    fn a_direct_weth_deposit_is_a_wrap_link_from_the_value_to_the_mint() {
        let b = block(
            json!({}),
            tx(json!({"to": WETH, "value": "0x64", "gasPrice": "0x1",
            "input": "0xd0e30db0"})),
        );
        let r = receipt(
            json!({"logs": [{"address": WETH, "logIndex": "0x0", "data": format!("0x{}", word(100)),
            "topics": ["0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c", topic(SENDER)]}]}),
        );
        let out = run_with(b, r, None, &[WETH], &LinkDecoder::builtin(CHAIN)).unwrap();
        let [
            LinkFact::Within {
                kind,
                input,
                output,
                ..
            },
        ] = out.links.as_slice()
        else {
            panic!("{:?}", out.links)
        };
        assert_eq!(*kind, LinkKind::Wrap);
        // Sub-indices as the store keeps them: 0 fee, 1 the tx's value, 2 the mint.
        assert_eq!(
            (input.leg, input.asset.as_str(), input.amount),
            (1, "native", 100)
        );
        assert_eq!(
            (output.leg, output.asset.as_str(), output.amount),
            (2, WETH, 100)
        );
        assert_eq!(
            (input.party.as_str(), output.party.as_str()),
            (SENDER, SENDER)
        );
        assert_eq!(
            out.transfers[2].transfer.from.as_str(),
            format!("wrap:{WETH}")
        );
        assert!(out.link_skips.is_empty());
    }

    #[test]
    fn a_swap_event_without_its_transfers_is_no_link_and_counted() {
        let pool = "0x5555555555555555555555555555555555555555";
        let v2 = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822";
        let data = format!("0x{}{}{}{}", word(5), word(0), word(0), word(7));
        let b = block(json!({}), tx(json!({"gasPrice": "0x1"})));
        let r = receipt(
            json!({"logs": [{"address": pool, "logIndex": "0x0", "data": data,
            "topics": [v2, topic(SENDER), topic(SENDER)]}]}),
        );
        let out = run(b, r, None).unwrap();
        assert!(out.links.is_empty());
        assert_eq!(
            out.link_skips,
            vec![("swap event without matching transfers".to_string(), 1)]
        );
        // The same event whose amounts disagree with the tokens that moved.
        let token = "0x6666666666666666666666666666666666666666";
        let erc20 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
        let b = block(json!({}), tx(json!({"gasPrice": "0x1"})));
        let r = receipt(json!({"logs": [
            {"address": token, "logIndex": "0x0", "data": format!("0x{}", word(6)),
             "topics": [erc20, topic(SENDER), topic(pool)]},
            {"address": WETH, "logIndex": "0x1", "data": format!("0x{}", word(7)),
             "topics": [erc20, topic(pool), topic(SENDER)]},
            {"address": pool, "logIndex": "0x2", "data": data.clone(),
             "topics": [v2, topic(SENDER), topic(SENDER)]}]}));
        let out = run(b, r, None).unwrap();
        assert!(out.links.is_empty());
        assert_eq!(
            out.link_skips[0].0,
            "swap event amounts do not match the transfers"
        );
        // With 5 in, it links: 5 of the token in, 7 WETH out, one fact.
        let b = block(json!({}), tx(json!({"gasPrice": "0x1"})));
        let r = receipt(json!({"logs": [
            {"address": token, "logIndex": "0x0", "data": format!("0x{}", word(5)),
             "topics": [erc20, topic(SENDER), topic(pool)]},
            {"address": WETH, "logIndex": "0x1", "data": format!("0x{}", word(7)),
             "topics": [erc20, topic(pool), topic(SENDER)]},
            {"address": pool, "logIndex": "0x2", "data": data,
             "topics": [v2, topic(SENDER), topic(SENDER)]}]}));
        let out = run(b, r, None).unwrap();
        let [
            LinkFact::Within {
                input,
                output,
                service,
                ..
            },
        ] = out.links.as_slice()
        else {
            panic!("{:?}", out.link_skips)
        };
        assert_eq!(service, "uniswap-v2");
        assert_eq!(
            (input.asset.as_str(), input.amount, input.leg),
            (token, 5, 2)
        );
        assert_eq!(
            (output.asset.as_str(), output.amount, output.leg),
            (WETH, 7, 3)
        );
    }

    #[test]
    fn tornado_deposit_and_withdrawal_are_mixer_entry_and_exit() {
        // The built-in config's 0.1 ETH pool, its events as Tornado.sol emits them.
        let pool = "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc";
        let relayer = "0x7777777777777777777777777777777777777777";
        let recipient = "0x8888888888888888888888888888888888888888";
        let sig = |s: &str| format!("{:#x}", alloy::primitives::keccak256(s.as_bytes()));
        let commitment = format!("0x{}", "c0".repeat(32));
        let links = LinkDecoder::builtin(CHAIN);
        let b = block(
            json!({}),
            tx(json!({"to": pool, "value": "0x16345785d8a0000", "gasPrice": "0x3"})),
        );
        let r = receipt(json!({"logs": [{"address": pool, "logIndex": "0x0",
            "data": format!("0x{}{}", word(5), word(1_683_000_000)),
            "topics": [sig("Deposit(bytes32,uint32,uint256)"), commitment]}]}));
        let out = run_with(b, r, None, &[], &links).unwrap();
        let [
            LinkFact::Entry {
                kind,
                service,
                leg,
                id,
                gas_price,
                ..
            },
        ] = out.links.as_slice()
        else {
            panic!("{:?} {:?}", out.links, out.link_skips)
        };
        assert_eq!((*kind, service.as_str()), (LinkKind::Mixer, "tornado-eth"));
        assert_eq!(
            (leg.leg, leg.amount, leg.party.as_str()),
            (1, 10u128.pow(17), SENDER)
        );
        assert_eq!(id.as_deref(), Some(commitment.as_str()));
        assert_eq!(*gas_price, Some(3));

        // The withdrawal: the relayer calls the pool, which pays the recipient less the fee
        // and the relayer its fee (internal transfers, from traces).
        let fee = 10u128.pow(15);
        let trace = |address: serde_json::Value, action: serde_json::Value| {
            json!({"action": action, "subtraces": 0, "traceAddress": address,
                "transactionHash": TX, "transactionPosition": 0, "type": "call",
                "result": {"gasUsed": "0x0", "output": "0x"}})
        };
        let call = |from: &str, to: &str, value: u128| {
            json!({"callType": "call", "from": from, "to": to, "gas": "0x0", "input": "0x",
                "value": format!("{value:#x}")})
        };
        let traces: Vec<crate::traces::ParityTrace> = serde_json::from_value(json!([
            trace(json!([]), call(relayer, pool, 0)),
            trace(json!([0]), call(pool, recipient, 10u128.pow(17) - fee)),
            trace(json!([1]), call(pool, relayer, fee)),
        ]))
        .unwrap();
        let traces = from_parity_block(&traces, ForkRules { cancun: true }).unwrap();
        let b = block(
            json!({}),
            tx(json!({"from": relayer, "to": pool, "value": "0x0", "gasPrice": "0x3"})),
        );
        let data = format!(
            "0x{}{}{}",
            topic(recipient).trim_start_matches("0x"),
            "ab".repeat(32),
            word(fee)
        );
        let r = receipt(
            json!({"logs": [{"address": pool, "logIndex": "0x0", "data": data,
            "topics": [sig("Withdrawal(address,bytes32,address,uint256)"), topic(relayer)]}]}),
        );
        let out = run_with(b, r, Some(traces), &[], &links).unwrap();
        let [
            LinkFact::Exit {
                kind,
                leg,
                relayer: r,
                reference,
                ..
            },
        ] = out.links.as_slice()
        else {
            panic!("{:?} {:?}", out.links, out.link_skips)
        };
        assert_eq!(*kind, LinkKind::Mixer);
        assert_eq!(
            (leg.amount, leg.party.as_str(), leg.asset.as_str()),
            (10u128.pow(17) - fee, recipient, "native")
        );
        assert_eq!(r.as_deref(), Some(relayer));
        assert_eq!(*reference, None, "a withdrawal names no deposit");
    }

    #[test]
    fn a_burn_and_mint_bridge_links_the_burn_and_the_mint() {
        use alloy::sol_types::SolValue;
        let bridge = "0x2222222222222222222222222222222222222222"; // the tx's `to`
        let token = "0x6666666666666666666666666666666666666666";
        let zero = "0x0000000000000000000000000000000000000000";
        let erc20 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
        let config = LinkConfig::from_toml(
            &format!(
                r#"[[bridge]]
name = "b"
contracts = [{{ chain = "evm-1", address = "{bridge}" }}]
wallets = [{{ chain = "litecoin", address = "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9" }}]
lock = [{{ signature = "Burned(address indexed from, uint256 amount, string destination)", amount = "amount", party = "destination" }}]
release = [{{ signature = "Minted(address indexed to, uint256 amount, bytes32 sourceTx)", amount = "amount", party = "to", id = "sourceTx" }}]
"#
            ),
            "t",
        )
        .unwrap();
        let links = LinkDecoder::new(CHAIN, &config).unwrap();
        let sig = |s: &str| format!("{:#x}", alloy::primitives::keccak256(s.as_bytes()));
        let hex = |b: Vec<u8>| format!("0x{}", alloy::hex::encode(b));
        let b = block(json!({}), tx(json!({"gasPrice": "0x1", "value": "0x0"})));
        let data = hex((U256::from(9u8), "ltc1qdest".to_string()).abi_encode_params());
        let r = receipt(json!({"logs": [
            {"address": token, "logIndex": "0x0", "data": format!("0x{}", word(9)),
             "topics": [erc20, topic(SENDER), topic(zero)]},
            {"address": bridge, "logIndex": "0x1", "data": data,
             "topics": [sig("Burned(address,uint256,string)"), topic(SENDER)]}]}));
        let out = run_with(b, r, None, &[], &links).unwrap();
        let [
            LinkFact::Entry {
                kind,
                leg,
                destination,
                ..
            },
        ] = out.links.as_slice()
        else {
            panic!("{:?} {:?}", out.links, out.link_skips)
        };
        assert_eq!(*kind, LinkKind::Bridge);
        assert_eq!((leg.asset.as_str(), leg.amount, leg.leg), (token, 9, 1));
        let d = destination.as_ref().unwrap();
        assert_eq!(
            (d.chain.as_deref(), d.address.as_str()),
            (Some("litecoin"), "ltc1qdest")
        );

        let source = format!("0x{}", "5a".repeat(32));
        let b = block(json!({}), tx(json!({"gasPrice": "0x1", "value": "0x0"})));
        let r = receipt(json!({"logs": [
            {"address": token, "logIndex": "0x0", "data": format!("0x{}", word(9)),
             "topics": [erc20, topic(zero), topic(SENDER)]},
            {"address": bridge, "logIndex": "0x1",
             "data": format!("0x{}{}", word(9), &source[2..]),
             "topics": [sig("Minted(address,uint256,bytes32)"), topic(SENDER)]}]}));
        let out = run_with(b, r, None, &[], &links).unwrap();
        let [LinkFact::Exit { leg, reference, .. }] = out.links.as_slice() else {
            panic!("{:?} {:?}", out.links, out.link_skips)
        };
        assert_eq!((leg.party.as_str(), leg.amount), (SENDER, 9));
        assert_eq!(reference.as_deref(), Some(source.as_str()));
    }

    #[test]
    fn vault_calldata_is_read_as_a_memo_and_a_bad_one_is_counted() {
        let vault = "0x2222222222222222222222222222222222222222";
        let config = LinkConfig::from_toml(
            &format!("[[vault]]\nname = \"v\"\nvaults = [{{ chain = \"evm-1\", address = \"{vault}\" }}]\n"),
            "t",
        )
        .unwrap();
        let links = LinkDecoder::new(CHAIN, &config).unwrap();
        let memo = "=:LTC.LTC:rltc1qabc";
        let input = format!("0x{}", alloy::hex::encode(memo));
        let b = block(json!({}), tx(json!({"gasPrice": "0x1", "input": input})));
        assert_eq!(b.transactions[0].input.as_deref(), Some(memo));
        let out = run_with(b, receipt(json!({})), None, &[], &links).unwrap();
        // The memo parser is filled on another branch: until then every memo is malformed.
        match tracehound_core::link::memo::parse(memo) {
            Ok(_) => assert!(matches!(
                out.links.as_slice(),
                [LinkFact::Entry { kind: LinkKind::ChainSwap, leg, .. }] if leg.leg == 1 && leg.amount == 100
            )),
            Err(_) => assert_eq!(out.link_skips, vec![("malformed memo".to_string(), 1)]),
        }
        let b = block(
            json!({}),
            tx(json!({"gasPrice": "0x1", "input": "0xa9059cbb"})),
        );
        assert_eq!(b.transactions[0].input, None, "a call is not kept");
        let out = run_with(b, receipt(json!({})), None, &[], &links).unwrap();
        assert_eq!(
            out.link_skips,
            vec![("vault tx without a memo".to_string(), 1)]
        );
    }

    /// A links config with a THORChain vault (an EOA) and its router, the decoder of it, and
    /// a router log.
    mod router {
        use super::*;
        use alloy::sol_types::SolValue;

        pub(super) const ROUTER: &str = "0x2222222222222222222222222222222222222222"; // the tx's `to`
        pub(super) const VAULT: &str = "0x4444444444444444444444444444444444444444";
        pub(super) const PAYEE: &str = "0x8888888888888888888888888888888888888888";
        pub(super) const ZERO: &str = "0x0000000000000000000000000000000000000000";

        pub(super) fn decoder() -> LinkDecoder {
            let config = LinkConfig::from_toml(
                &format!(
                    "[[vault]]\nname = \"thorchain\"\nvaults = [{{ chain = \"evm-1\", address = \"{VAULT}\" }}]\n\
                     routers = [{{ chain = \"evm-1\", address = \"{ROUTER}\" }}]\n"
                ),
                "t",
            )
            .unwrap();
            LinkDecoder::new(CHAIN, &config).unwrap()
        }

        fn sig(s: &str) -> String {
            format!("{:#x}", alloy::primitives::keccak256(s.as_bytes()))
        }

        /// `Deposit(vault, asset, amount, memo)` emitted by `emitter`.
        pub(super) fn deposit(
            emitter: &str,
            asset: &str,
            amount: u128,
            memo: &str,
        ) -> serde_json::Value {
            let data = (U256::from(amount), memo.to_string()).abi_encode_params();
            json!({"address": emitter, "logIndex": "0x1",
                "data": format!("0x{}", alloy::hex::encode(data)),
                "topics": [sig("Deposit(address,address,uint256,string)"), topic(VAULT), topic(asset)]})
        }

        /// `TransferOut(VAULT, PAYEE, asset, amount, memo)` emitted by `ROUTER`.
        pub(super) fn transfer_out(asset: &str, amount: u128, memo: &str) -> serde_json::Value {
            let asset: EvmAddress = asset.parse().unwrap();
            let data = (asset, U256::from(amount), memo.to_string()).abi_encode_params();
            json!({"address": ROUTER, "logIndex": "0x1",
                "data": format!("0x{}", alloy::hex::encode(data)),
                "topics": [sig("TransferOut(address,address,address,uint256,string)"), topic(VAULT), topic(PAYEE)]})
        }
    }

    #[test]
    fn a_router_deposit_with_a_swap_memo_is_an_entry_from_the_tx_value() {
        use router::*;
        let memo = "=:LTC.LTC:rltc1qabc:50";
        // The user's 100 wei go to the router (the tx's value); the router's forwarding to
        // the vault would be an internal transfer (no traces here).
        let b = block(json!({}), tx(json!({"gasPrice": "0x2"})));
        let mut log = deposit(ROUTER, ZERO, 100, memo);
        log["logIndex"] = json!("0x0");
        let r = receipt(json!({ "logs": [log] }));
        let out = run_with(b, r, None, &[], &decoder()).unwrap();
        let [
            LinkFact::Entry {
                kind,
                service,
                contract,
                leg,
                id,
                destination,
                gas_price,
                evidence,
            },
        ] = out.links.as_slice()
        else {
            panic!("{:?} {:?}", out.links, out.link_skips)
        };
        assert_eq!(
            (*kind, service.as_str(), contract.as_str()),
            (LinkKind::ChainSwap, "thorchain", ROUTER)
        );
        assert_eq!(
            (leg.leg, leg.asset.as_str(), leg.amount, leg.party.as_str()),
            (1, "native", 100, SENDER)
        );
        assert_eq!(*id, None);
        assert_eq!(
            destination.as_ref(),
            Some(&Destination {
                chain: Some("LTC".into()),
                address: "rltc1qabc".into(),
                min_out: Some(50),
            })
        );
        assert_eq!(*gas_price, Some(2));
        assert_eq!(evidence, &format!("log:0:thorchain Deposit memo {memo:?}"));
        assert!(out.link_skips.is_empty(), "{:?}", out.link_skips);
    }

    #[test]
    fn a_router_deposit_of_a_token_links_the_users_transfer() {
        use router::*;
        let token = "0x6666666666666666666666666666666666666666";
        let erc20 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
        let b = block(json!({}), tx(json!({"gasPrice": "0x1", "value": "0x0"})));
        let r = receipt(json!({"logs": [
            {"address": token, "logIndex": "0x0", "data": format!("0x{}", word(9)),
             "topics": [erc20, topic(SENDER), topic(ROUTER)]},
            deposit(ROUTER, token, 9, "=:ETH.ETH:0x8888888888888888888888888888888888888888")]}));
        let out = run_with(b, r, None, &[], &decoder()).unwrap();
        let [LinkFact::Entry { leg, .. }] = out.links.as_slice() else {
            panic!("{:?} {:?}", out.links, out.link_skips)
        };
        assert_eq!(
            (leg.leg, leg.asset.as_str(), leg.amount, leg.party.as_str()),
            (1, token, 9, SENDER)
        );
    }

    #[test]
    fn a_router_transfer_out_is_an_exit_naming_the_inbound() {
        use router::*;
        let token = "0x6666666666666666666666666666666666666666";
        let erc20 = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
        let inbound = "ab".repeat(32).to_uppercase();
        // The vault calls the router, which pays the payee from the vault's allowance.
        let b = block(
            json!({}),
            tx(json!({"from": VAULT, "gasPrice": "0x1", "value": "0x0"})),
        );
        let r = receipt(json!({"logs": [
            {"address": token, "logIndex": "0x0", "data": format!("0x{}", word(9)),
             "topics": [erc20, topic(ROUTER), topic(PAYEE)]},
            transfer_out(token, 9, &format!("OUT:{inbound}"))]}));
        let out = run_with(b, r, None, &[], &decoder()).unwrap();
        let [
            LinkFact::Exit {
                kind,
                contract,
                leg,
                reference,
                ..
            },
        ] = out.links.as_slice()
        else {
            panic!("{:?} {:?}", out.links, out.link_skips)
        };
        assert_eq!((*kind, contract.as_str()), (LinkKind::ChainSwap, ROUTER));
        assert_eq!(
            (leg.leg, leg.asset.as_str(), leg.amount, leg.party.as_str()),
            (1, token, 9, PAYEE)
        );
        assert_eq!(reference.as_deref(), Some(inbound.as_str()));
        // The vault's call has ABI calldata, no memo: not counted as a memo-less vault tx.
        assert!(out.link_skips.is_empty(), "{:?}", out.link_skips);
    }

    #[test]
    fn router_events_that_cannot_be_linked_are_counted() {
        use router::*;
        let cases = [
            // The event claims more than the tx paid.
            (
                deposit(ROUTER, ZERO, 99, "=:LTC.LTC:rltc1qabc"),
                "router event amount does not match its transfer",
            ),
            (
                deposit(ROUTER, ZERO, 100, "=:LTC.LTC"),
                "malformed router memo",
            ),
            // Anyone can emit the event: a contract not configured as a router links nothing.
            (
                deposit(
                    "0x3333333333333333333333333333333333333333",
                    ZERO,
                    100,
                    "=:LTC.LTC:rltc1qabc",
                ),
                "router event from a contract not configured as a router",
            ),
            // A payout whose payee got nothing in the tx.
            (
                transfer_out(ZERO, 100, &format!("OUT:{}", "ab".repeat(32))),
                "router TransferOut without its transfer to the payee (no traces?)",
            ),
        ];
        for (mut log, reason) in cases {
            log["logIndex"] = json!("0x0");
            let b = block(json!({}), tx(json!({"gasPrice": "0x1"})));
            let r = receipt(json!({ "logs": [log] }));
            let out = run_with(b, r, None, &[], &decoder()).unwrap();
            assert!(out.links.is_empty(), "{reason}: {:?}", out.links);
            assert_eq!(out.link_skips, vec![(reason.to_string(), 1)]);
        }
    }

    #[test]
    fn pseudo_addresses_parse_back() {
        let weth = Address::parse(CHAIN, "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2").unwrap();
        for a in [
            burn_address(CHAIN, BurnKind::Fee),
            burn_address(CHAIN, BurnKind::SelfDestruct),
            mint_address(CHAIN, MintKind::Withdrawal),
            mint_address(CHAIN, MintKind::BlockReward),
            mint_address(CHAIN, MintKind::UncleReward),
            mint_address(CHAIN, MintKind::OtherReward),
            mint_address(CHAIN, MintKind::Opening),
            wrap_address(CHAIN, &weth),
        ] {
            assert_eq!(Address::parse(CHAIN, a.as_str()).unwrap(), a);
        }
    }
}
