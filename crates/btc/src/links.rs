//! Link facts of UTXO blocks: deposits to and payouts from configured bridge wallets and
//! memo-routed vaults, read from their `OP_RETURN` memos.
//!
//! STUB: written on branch `utxo-memo`.

use tracehound_core::{LinkConfig, UtxoBlock};

/// Fills `block.links` from its txs under `config`; returns (reason, count) of what was
/// recognised but not linked (a malformed memo, a payout without a reference, …).
pub fn add_link_facts(block: &mut UtxoBlock, config: &LinkConfig) -> Vec<(String, u64)> {
    let _ = (block, config);
    Vec::new()
}
