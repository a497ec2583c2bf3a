//! The store's tables: what each holds, keyed how, and the records inside.
//!
//! Every key starts with the chain's code ([`tracehound_core::Chain::code`]) so one file holds
//! many chains and each chain's rows sit together in key order. Fixed-width keys (tuples of
//! integers and 32-byte hashes) sort as numbers, so a range scan over `(chain, address, …)`
//! reads one address's history in (height, tx index) order: forward-only traversal for traces.

use redb::{MultimapTableDefinition, TableDefinition};
use tracehound_core::{Hash32, ScriptKind};

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
/// (chain, height, tx index) → [`TxRecord`] with every input resolved.
pub(crate) const TXS: TableDefinition<'_, (u32, u32, u32), &[u8]> = TableDefinition::new("txs");
/// (chain, txid) → (height, tx index); several values for BIP30 duplicate txids.
pub(crate) const TXIDS: MultimapTableDefinition<'_, (u32, [u8; 32]), (u32, u32)> =
    MultimapTableDefinition::new("txids");
/// (chain, txid, vout): an output's key.
pub(crate) type OutKey = (u32, [u8; 32], u32);
/// (address id, value, height, flags) of an unspent output.
pub(crate) type UtxoValue = (u64, u64, u32, u8);
/// (height, tx index, input index) of a spending input.
pub(crate) type SpendValue = (u32, u32, u32);

/// (chain, txid, vout) → (address id, value, height, flags): the unspent outputs.
pub(crate) const UTXOS: TableDefinition<'_, OutKey, UtxoValue> = TableDefinition::new("utxos");
/// (chain, txid, vout) → (height, tx index, input index) of the tx that spent it.
pub(crate) const SPENDS: TableDefinition<'_, OutKey, SpendValue> = TableDefinition::new("spends");
/// (chain, address text) → address id (dense, per chain, in order of first appearance).
pub(crate) const ADDR_IDS: TableDefinition<'_, (u32, &str), u64> = TableDefinition::new("addr_ids");
/// (chain, address id) → address text.
pub(crate) const ADDR_TEXTS: TableDefinition<'_, (u32, u64), &str> =
    TableDefinition::new("addr_texts");
/// (chain, address id, height, tx index) → (received, sent) in that tx: the adjacency list.
pub(crate) const ADDR_TXS: TableDefinition<'_, (u32, u64, u32, u32), &[u8]> =
    TableDefinition::new("addr_txs");
/// (chain, address id) → [`AddrStats`].
pub(crate) const ADDR_STATS: TableDefinition<'_, (u32, u64), &[u8]> =
    TableDefinition::new("addr_stats");

/// The schema this build reads and writes. Bump on any change to keys or records.
pub(crate) const SCHEMA_VERSION: &str = "1";

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
            chainwork: d.hash()?,
        })
    }
}

/// A spent output as the spending input records it (enough to restore it on unwind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputRecord {
    pub(crate) prev_txid: [u8; 32],
    pub(crate) prev_vout: u32,
    pub(crate) sequence: u32,
    pub(crate) addr: u64,
    pub(crate) value: u64,
    pub(crate) prev_height: u32,
    pub(crate) flags: u8,
}

/// An output as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputRecord {
    pub(crate) value: u64,
    pub(crate) kind: ScriptKind,
    /// `None` for `OP_RETURN`.
    pub(crate) addr: Option<u64>,
    pub(crate) data: Option<Vec<u8>>,
}

/// A UTXO transaction with resolved inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxRecord {
    pub(crate) txid: Hash32,
    pub(crate) coinbase: bool,
    pub(crate) hogex: bool,
    pub(crate) size: u32,
    pub(crate) vsize: u32,
    pub(crate) inputs: Vec<InputRecord>,
    pub(crate) outputs: Vec<OutputRecord>,
}

/// Bit 7 of a UTXO's flags byte marks a coinbase output; the low bits hold the script kind.
pub(crate) const COINBASE_FLAG: u8 = 0x80;

impl TxRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.bytes(&self.txid.0)
            .u8(u8::from(self.coinbase) | (u8::from(self.hogex) << 1));
        e.u64(u64::from(self.size)).u64(u64::from(self.vsize));
        e.u64(self.inputs.len() as u64);
        for i in &self.inputs {
            e.bytes(&i.prev_txid)
                .u64(u64::from(i.prev_vout))
                .u64(u64::from(i.sequence));
            e.u64(i.addr)
                .u64(i.value)
                .u64(u64::from(i.prev_height))
                .u8(i.flags);
        }
        e.u64(self.outputs.len() as u64);
        for o in &self.outputs {
            e.u64(o.value)
                .u8(o.kind.code())
                .u64(o.addr.map_or(0, |a| a + 1));
            let data = o.data.as_deref().unwrap_or_default();
            e.u64(data.len() as u64).bytes(data);
        }
        e.0
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, StoreError> {
        let mut d = Dec::new(b, "txs");
        let txid = Hash32(d.hash()?);
        let flags = d.u8()?;
        let size = d.u32()?;
        let vsize = d.u32()?;
        let n_in = d.u64()?;
        let mut inputs = Vec::with_capacity(usize::try_from(n_in.min(1 << 16)).unwrap_or(0));
        for _ in 0..n_in {
            inputs.push(InputRecord {
                prev_txid: d.hash()?,
                prev_vout: d.u32()?,
                sequence: d.u32()?,
                addr: d.u64()?,
                value: d.u64()?,
                prev_height: d.u32()?,
                flags: d.u8()?,
            });
        }
        let n_out = d.u64()?;
        let mut outputs = Vec::with_capacity(usize::try_from(n_out.min(1 << 16)).unwrap_or(0));
        for _ in 0..n_out {
            let value = d.u64()?;
            let kind = ScriptKind::from_code(d.u8()?).ok_or_else(|| StoreError::Corrupt {
                table: "txs",
                what: "unknown script kind".into(),
            })?;
            let addr = d.u64()?.checked_sub(1);
            let len = usize::try_from(d.u64()?).unwrap_or(usize::MAX);
            let data = (kind == ScriptKind::NullData)
                .then(|| d.bytes(len).map(<[u8]>::to_vec))
                .transpose()?;
            if kind != ScriptKind::NullData && len != 0 {
                d.bytes(len)?;
            }
            outputs.push(OutputRecord {
                value,
                kind,
                addr,
                data,
            });
        }
        Ok(TxRecord {
            txid,
            coinbase: flags & 1 != 0,
            hogex: flags & 2 != 0,
            size,
            vsize,
            inputs,
            outputs,
        })
    }
}

/// Running totals of one address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AddrStats {
    pub(crate) received: u128,
    pub(crate) sent: u128,
    pub(crate) tx_count: u64,
}

impl AddrStats {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u128(self.received).u128(self.sent).u64(self.tx_count);
        e.0
    }
    pub(crate) fn decode(b: &[u8]) -> Result<Self, StoreError> {
        let mut d = Dec::new(b, "addr_stats");
        Ok(AddrStats {
            received: d.u128()?,
            sent: d.u128()?,
            tx_count: d.u64()?,
        })
    }
}

/// (received, sent) of one address in one tx.
pub(crate) fn encode_flow(received: u128, sent: u128) -> Vec<u8> {
    let mut e = Enc::default();
    e.u128(received).u128(sent);
    e.0
}

pub(crate) fn decode_flow(b: &[u8]) -> Result<(u128, u128), StoreError> {
    let mut d = Dec::new(b, "addr_txs");
    Ok((d.u128()?, d.u128()?))
}
