//! The store's redb tables: what each holds, keyed how, and the records inside.
//!
//! Every key starts with the chain's code ([`tracehound_core::Chain::code`]) so one file holds
//! many chains and each chain's rows sit together in key order. The bulk data (txs, addresses,
//! adjacency) is in each chain's files (see the `ledger` module); redb holds the block index
//! and, in the `segments` table, how much of each file is committed.

use redb::TableDefinition;
use tracehound_core::Hash32;

use crate::StoreError;
use crate::codec::{Dec, Enc};

/// `"schema"` → version; `"created_by"` → the version of tracehound that made the store.
pub(crate) const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");
/// chain → [`ChainRecord`]: counters and the next address id.
pub(crate) const CHAINS: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("chains");
/// (chain, height) → [`BlockRecord`].
pub(crate) const BLOCKS: TableDefinition<'_, (u32, u32), &[u8]> = TableDefinition::new("blocks");
/// (chain, block hash) → height.
pub(crate) const BLOCK_BY_HASH: TableDefinition<'_, (u32, [u8; 32]), u32> =
    TableDefinition::new("block_by_hash");
/// (chain, first tx seq of a block) → height: finds the block of a tx seq.
pub(crate) const BLOCK_BY_TX: TableDefinition<'_, (u32, u64), u32> =
    TableDefinition::new("block_by_tx");

/// (chain, height) → every tx of an account-chain block, in index order (see `account.rs`).
pub(crate) const ACCOUNT_TXS: TableDefinition<'_, (u32, u32), &[u8]> =
    TableDefinition::new("account_block_txs");
/// (chain, tx hash) → (height, tx index).
pub(crate) const ACCOUNT_TXIDS: TableDefinition<'_, (u32, [u8; 32]), (u32, u32)> =
    TableDefinition::new("account_txids");
/// (chain, height) → every transfer of an account-chain block with its provenance, in
/// (tx slot, sub-index) order.
pub(crate) const TRANSFERS: TableDefinition<'_, (u32, u32), &[u8]> =
    TableDefinition::new("account_block_transfers");
/// (chain, address id, height, tx slot, sub-index of a run's first flow) → a run of the
/// address's flows (asset, received, sent) in time order: the adjacency of account chains.
pub(crate) const ACCOUNT_ADJ: TableDefinition<'_, (u32, u64, u32, u32, u32), &[u8]> =
    TableDefinition::new("account_adj_runs");
/// (chain, address id, asset) → (received, sent, transfers).
pub(crate) const BALANCES: TableDefinition<'_, (u32, u64, u64), &[u8]> =
    TableDefinition::new("balances");
/// (chain, token contract's address id) → name, symbol, decimals.
pub(crate) const TOKENS: TableDefinition<'_, (u32, u64), &[u8]> = TableDefinition::new("tokens");

/// Link facts: (chain, height, position among the block's facts) → the fact as JSON (see
/// `link_facts`).
pub(crate) const LINK_FACTS: TableDefinition<'_, (u32, u32, u32), &[u8]> =
    TableDefinition::new("link_facts");
/// The inputs of a block's link facts: (chain, height) → per fact (input tx + 1 or 0, input
/// leg), apart from the facts so that asking whether a transfer enters a link reads a few
/// bytes, not the block's facts.
pub(crate) const LINK_INPUTS: TableDefinition<'_, (u32, u32), &[u8]> =
    TableDefinition::new("link_inputs");
/// Match keys of link facts → (chain, height, position in the block's facts).
pub(crate) const LINK_KEYS: redb::MultimapTableDefinition<'_, &str, (u32, u32, u32)> =
    redb::MultimapTableDefinition::new("link_keys");

/// The schema this build reads and writes. Bump on any change to keys or records.
pub(crate) const SCHEMA_VERSION: &str = "8";

/// Per-chain counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ChainRecord {
    pub(crate) next_addr_id: u64,
    pub(crate) txs: u64,
    pub(crate) inputs: u64,
    pub(crate) outputs: u64,
    /// Unspent outputs now in `utxos` (kept so `status` need not count them).
    pub(crate) utxos: u64,
}

impl ChainRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u64(self.next_addr_id)
            .u64(self.txs)
            .u64(self.inputs)
            .u64(self.outputs)
            .u64(self.utxos);
        e.0
    }
    pub(crate) fn decode(b: &[u8]) -> Result<Self, StoreError> {
        let mut d = Dec::new(b, "chains");
        Ok(ChainRecord {
            next_addr_id: d.u64()?,
            txs: d.u64()?,
            inputs: d.u64()?,
            outputs: d.u64()?,
            utxos: d.u64()?,
        })
    }
}

/// A stored block header and what unwinding it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockRecord {
    pub(crate) hash: Hash32,
    pub(crate) parent: Hash32,
    pub(crate) time: u64,
    pub(crate) tx_count: u32,
    pub(crate) inputs: u64,
    pub(crate) outputs: u64,
    /// The chain's next address id before this block: ids from here on were first seen in it.
    pub(crate) first_addr_id: u64,
    /// Seq of the block's first tx in the chain's tx log.
    pub(crate) first_tx: u64,
    /// Adjacency entries before this block.
    pub(crate) adj_start: u64,
    /// Cumulative chain work up to this block, big-endian; zeros when the source did not say.
    pub(crate) chainwork: [u8; 32],
}

impl BlockRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.bytes(&self.hash.0)
            .bytes(&self.parent.0)
            .u64(self.time)
            .u64(u64::from(self.tx_count));
        e.u64(self.inputs).u64(self.outputs).u64(self.first_addr_id);
        e.u64(self.first_tx).u64(self.adj_start);
        e.bytes(&self.chainwork);
        e.0
    }
    pub(crate) fn decode(b: &[u8]) -> Result<Self, StoreError> {
        let mut d = Dec::new(b, "blocks");
        Ok(BlockRecord {
            hash: Hash32(d.hash()?),
            parent: Hash32(d.hash()?),
            time: d.u64()?,
            tx_count: d.u32()?,
            inputs: d.u64()?,
            outputs: d.u64()?,
            first_addr_id: d.u64()?,
            first_tx: d.u64()?,
            adj_start: d.u64()?,
            chainwork: d.hash()?,
        })
    }
}

/// Bit 7 of an output's flags byte (as inputs record it) marks a coinbase output; the low bits
/// hold the script kind.
pub(crate) const COINBASE_FLAG: u8 = 0x80;

/// A chain's counters (default when it has none yet) and its stored tip (height, hash).
pub(crate) fn record_and_tip(
    chains: &impl redb::ReadableTable<u32, &'static [u8]>,
    blocks: &impl redb::ReadableTable<(u32, u32), &'static [u8]>,
    c: u32,
) -> Result<(ChainRecord, Option<(u32, Hash32)>), StoreError> {
    let rec = chains
        .get(c)?
        .map(|v| ChainRecord::decode(v.value()))
        .transpose()?
        .unwrap_or_default();
    let tip = blocks
        .range((c, 0)..=(c, u32::MAX))?
        .next_back()
        .transpose()?
        .map(|(k, v)| -> Result<_, StoreError> {
            Ok((k.value().1, BlockRecord::decode(v.value())?.hash))
        })
        .transpose()?;
    Ok((rec, tip))
}
