//! Opening balances for EVM ingest, so that stored balances are absolute (equal to the node's
//! `eth_getBalance` and `balanceOf`) from any start block, on any node.
//!
//! Every change of a native balance is a transfer the store records, and every change of a
//! standard token balance is a `Transfer` log it records. So an account that does not appear
//! in blocks `[from, H)` held at `H - 1` exactly what it held before ingest began: reading its
//! balance at `H - 1`, where `H` is the block it first appears in, gives the missing start of
//! its history, and a node that keeps only recent state can answer while ingest follows the
//! tip. The same holds per (holder, token) pair for fungible tokens.
//!
//! The balances go into block `H` itself, as transfers from `mint:opening` at
//! [`OPENING_TX_INDEX`] (stored before every tx of the block), with provenance
//! `opening:<H-1>` (`opening:genesis` at `H = 0`, where the state of block 0 is read: a genesis
//! block carries no transactions, so that state is the genesis allocation). Being part
//! of the batch, they land, and are unwound, with their block; a crash before the commit loses
//! them with the batch, and the rerun reads them again once. Zero balances are not recorded:
//! the account is known to the store from then on, so it is never asked about again.

use std::collections::HashSet;

use anyhow::Context;
use serde::Serialize;
use tracehound_core::{
    AccountBlock, AccountTransfer, Address, Amount, AssetId, OPENING_TX_INDEX, Transfer,
    TransferKind, TxRef,
};
use tracehound_evm::{BlockingEvmClient, EvmError, MintKind, mint_address};
use tracehound_store::Store;

/// What reading opening balances did over a run.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct OpeningStats {
    /// Accounts whose native balance was read (first seen in the store).
    pub(crate) accounts_read: u64,
    /// (holder, token) pairs whose `balanceOf` was read.
    pub(crate) token_holdings_read: u64,
    /// Non-zero opening balances recorded (native and token).
    pub(crate) recorded: u64,
    /// Pairs whose token answered no readable `balanceOf` (nothing recorded for them).
    pub(crate) token_unreadable: u64,
}

impl std::ops::AddAssign for OpeningStats {
    fn add_assign(&mut self, o: OpeningStats) {
        self.accounts_read += o.accounts_read;
        self.token_holdings_read += o.token_holdings_read;
        self.recorded += o.recorded;
        self.token_unreadable += o.token_unreadable;
    }
}

/// The height whose state holds what an account first seen in block `height` held before it.
fn state_height(height: u32) -> u32 {
    height.saturating_sub(1)
}

fn provenance(height: u32) -> String {
    if height == 0 {
        "opening:genesis".into()
    } else {
        format!("opening:{}", height - 1)
    }
}

/// A node that refuses a balance at an old block most likely keeps only recent state: say
/// what to do about it. A node that cannot be reached is left to its own error.
fn state_hint(e: EvmError) -> anyhow::Error {
    let refused = matches!(e, EvmError::Rpc { .. });
    let e = anyhow::Error::new(e);
    if refused {
        e.context(
            "the node refused a balance at an old block: a node that keeps only recent state \
             cannot give opening balances for old blocks (use an archive node, a later --from, \
             or --no-opening-balances)",
        )
    } else {
        e
    }
}

/// Reads the opening balance of every account and (holder, token) pair that first appears in
/// `blocks` (consecutive blocks about to be stored as one batch) and puts them at the front of
/// the block each first appears in.
pub(crate) fn attach(
    store: &Store,
    client: &BlockingEvmClient,
    blocks: &mut [AccountBlock],
) -> anyhow::Result<OpeningStats> {
    let chain = client.chain();
    // (block position, account) in order of first appearance in the batch.
    let mut accounts: Vec<(usize, Address)> = Vec::new();
    let mut pairs: Vec<(usize, Address, Address)> = Vec::new();
    {
        let mut seen: HashSet<&Address> = HashSet::new();
        let mut seen_pairs: HashSet<(&Address, &Address)> = HashSet::new();
        for (i, b) in blocks.iter().enumerate() {
            let txs = b
                .txs
                .iter()
                .flat_map(|t| std::iter::once(&t.from).chain(&t.to).chain(&t.created));
            let moved = b.transfers.iter().flat_map(|t| {
                let tr = &t.transfer;
                let token = match &tr.asset {
                    AssetId::Contract(token) => Some(token),
                    AssetId::Native => None,
                };
                [&tr.from, &tr.to].into_iter().chain(token)
            });
            for a in txs.chain(moved) {
                if !a.is_pseudo() && seen.insert(a) {
                    accounts.push((i, a.clone()));
                }
            }
            for t in &b.transfers {
                let tr = &t.transfer;
                if let (AssetId::Contract(token), TransferKind::Token) = (&tr.asset, tr.kind) {
                    for holder in [&tr.from, &tr.to] {
                        if !holder.is_pseudo() && seen_pairs.insert((holder, token)) {
                            pairs.push((i, holder.clone(), token.clone()));
                        }
                    }
                }
            }
        }
    }
    let known = store
        .known_accounts(
            chain,
            &accounts.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
        )
        .context("looking up which accounts the store has seen")?;
    let accounts: Vec<(usize, Address)> = accounts
        .into_iter()
        .zip(known)
        .filter_map(|(a, k)| (!k).then_some(a))
        .collect();
    let known = store
        .known_token_holdings(
            chain,
            &pairs
                .iter()
                .map(|(_, h, t)| (h.clone(), t.clone()))
                .collect::<Vec<_>>(),
        )
        .context("looking up which token holdings the store has seen")?;
    let pairs: Vec<(usize, Address, Address)> = pairs
        .into_iter()
        .zip(known)
        .filter_map(|(p, k)| (!k).then_some(p))
        .collect();

    let height_of = |i: usize| blocks.get(i).map_or(0, |b| b.block.height);
    let native = client
        .native_balances(
            &accounts
                .iter()
                .map(|(i, a)| (a.clone(), u64::from(state_height(height_of(*i)))))
                .collect::<Vec<_>>(),
        )
        .map_err(state_hint)?;
    let tokens = client
        .token_balances(
            &pairs
                .iter()
                .map(|(i, h, t)| (t.clone(), h.clone(), u64::from(state_height(height_of(*i)))))
                .collect::<Vec<_>>(),
        )
        .map_err(state_hint)?;

    let mut stats = OpeningStats {
        accounts_read: accounts.len() as u64,
        token_holdings_read: pairs.len() as u64,
        ..OpeningStats::default()
    };
    let mut per_block: Vec<Vec<(AssetId, Address, u128)>> = vec![Vec::new(); blocks.len()];
    for ((i, a), v) in accounts.into_iter().zip(native) {
        if v > 0
            && let Some(list) = per_block.get_mut(i)
        {
            list.push((AssetId::Native, a, v));
        }
    }
    for ((i, holder, token), v) in pairs.into_iter().zip(tokens) {
        match v {
            None => stats.token_unreadable += 1,
            Some(0) => {}
            Some(v) => {
                if let Some(list) = per_block.get_mut(i) {
                    list.push((AssetId::Contract(token), holder, v));
                }
            }
        }
    }
    let mint = mint_address(chain, MintKind::Opening);
    for (b, list) in blocks.iter_mut().zip(per_block) {
        if list.is_empty() {
            continue;
        }
        let tx = TxRef {
            chain,
            height: b.block.height,
            index: OPENING_TX_INDEX,
            txid: b.block.hash,
        };
        let source = provenance(b.block.height);
        let openings = list
            .into_iter()
            .zip(0u32..)
            .map(|((asset, to, amount), sub_index)| AccountTransfer {
                transfer: Transfer {
                    tx,
                    sub_index,
                    kind: match asset {
                        AssetId::Native => TransferKind::Native,
                        AssetId::Contract(_) => TransferKind::Token,
                    },
                    asset,
                    from: mint.clone(),
                    to,
                    amount: Amount::from_units(amount),
                },
                source: source.clone(),
            })
            .collect::<Vec<_>>();
        stats.recorded += openings.len() as u64;
        b.transfers.splice(0..0, openings);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_read_is_the_block_before_and_genesis_for_block_zero() {
        assert_eq!(state_height(0), 0);
        assert_eq!(state_height(1), 0);
        assert_eq!(state_height(500), 499);
        assert_eq!(provenance(0), "opening:genesis");
        assert_eq!(provenance(500), "opening:499");
    }
}
