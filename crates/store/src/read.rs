//! Reading: status, blocks, transactions with resolved inputs and spenders, addresses with
//! balances and paged history, and a content digest of the whole store.

use redb::{
    ReadTransaction, ReadableDatabase, ReadableMultimapTable, ReadableTable, ReadableTableMetadata,
};
use serde::Serialize;
use tracehound_core::{Address, Amount, Chain, Hash32, ScriptKind};

use crate::tables::{self, AddrStats, BlockRecord, COINBASE_FLAG, ChainRecord, TxRecord};
use crate::{Store, StoreError};

/// A stored block.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BlockInfo {
    /// Height.
    pub height: u32,
    /// Display-order hash.
    pub hash: Hash32,
    /// Parent hash.
    pub parent: Hash32,
    /// Block time (Unix seconds).
    pub time: u64,
    /// Number of txs.
    pub tx_count: u32,
    /// Cumulative chain work up to this block, if the source gave it.
    pub chainwork: Option<Hash32>,
}

/// One chain's place in the store.
#[derive(Debug, Clone, Serialize)]
pub struct ChainStatus {
    /// The chain.
    pub chain: Chain,
    /// The newest stored block.
    pub tip: Option<BlockInfo>,
    /// Stored txs.
    pub txs: u64,
    /// Resolved inputs.
    pub inputs: u64,
    /// Outputs.
    pub outputs: u64,
    /// Distinct addresses (including pseudo-addresses).
    pub addresses: u64,
    /// Unspent outputs.
    pub utxos: u64,
}

/// An input as shown: what it spent.
#[derive(Debug, Clone, Serialize)]
pub struct InputView {
    /// Spent tx id.
    pub prev_txid: Hash32,
    /// Spent output index.
    pub prev_vout: u32,
    /// Address that held it.
    pub address: String,
    /// Its value in base units.
    pub value: Amount,
    /// Height of the block that created it.
    pub prev_height: u32,
    /// Whether it was a coinbase output.
    pub coinbase: bool,
}

/// An output as shown, with its spender if spent.
#[derive(Debug, Clone, Serialize)]
pub struct OutputView {
    /// Index in the tx.
    pub vout: u32,
    /// Value in base units.
    pub value: Amount,
    /// Script kind.
    pub kind: ScriptKind,
    /// Address paid (absent for OP_RETURN).
    pub address: Option<String>,
    /// OP_RETURN payload, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The tx and input that spent it.
    pub spent_by: Option<(Hash32, u32)>,
}

/// A stored tx with resolved inputs.
#[derive(Debug, Clone, Serialize)]
pub struct TxView {
    /// The chain.
    pub chain: Chain,
    /// Tx id.
    pub txid: Hash32,
    /// Block height.
    pub height: u32,
    /// Position in the block.
    pub index: u32,
    /// Block hash.
    pub block_hash: Hash32,
    /// Block time.
    pub time: u64,
    /// Coinbase?
    pub coinbase: bool,
    /// Litecoin MWEB integration tx?
    pub hogex: bool,
    /// Size in bytes.
    pub size: u32,
    /// Virtual size.
    pub vsize: u32,
    /// Sum of inputs.
    pub input_value: Amount,
    /// Sum of outputs.
    pub output_value: Amount,
    /// Inputs − outputs (zero for coinbases).
    pub fee: Amount,
    /// Inputs.
    pub inputs: Vec<InputView>,
    /// Outputs.
    pub outputs: Vec<OutputView>,
}

/// One tx in an address's history.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AddressHistoryRow {
    /// Block height.
    pub height: u32,
    /// Position in the block.
    pub index: u32,
    /// Tx id.
    pub txid: Hash32,
    /// Block time.
    pub time: u64,
    /// Received by the address in this tx.
    pub received: Amount,
    /// Sent by the address in this tx.
    pub sent: Amount,
}

/// An address with its totals.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AddressView {
    /// The chain.
    pub chain: Chain,
    /// Canonical text.
    pub address: String,
    /// Interned id.
    pub id: u64,
    /// Received − sent.
    pub balance: Amount,
    /// Total received.
    pub received: Amount,
    /// Total sent.
    pub sent: Amount,
    /// Number of txs touching it.
    pub tx_count: u64,
}

fn tip_of(rtx: &ReadTransaction, c: u32) -> Result<Option<BlockInfo>, StoreError> {
    let blocks = rtx.open_table(tables::BLOCKS)?;
    let last = blocks
        .range((c, 0)..=(c, u32::MAX))?
        .next_back()
        .transpose()?;
    last.map(|(k, v)| Ok(info(k.value().1, &BlockRecord::decode(v.value())?)))
        .transpose()
}

fn info(height: u32, r: &BlockRecord) -> BlockInfo {
    BlockInfo {
        height,
        hash: r.hash,
        parent: r.parent,
        time: r.time,
        tx_count: r.tx_count,
        chainwork: (r.chainwork != [0; 32]).then_some(Hash32(r.chainwork)),
    }
}

impl Store {
    /// The newest stored block of `chain`.
    pub fn tip(&self, chain: Chain) -> Result<Option<BlockInfo>, StoreError> {
        tip_of(&self.db.begin_read()?, chain.code())
    }

    /// The stored block of `chain` at `height`.
    pub fn block_at(&self, chain: Chain, height: u32) -> Result<Option<BlockInfo>, StoreError> {
        let rtx = self.db.begin_read()?;
        let blocks = rtx.open_table(tables::BLOCKS)?;
        let v = blocks.get((chain.code(), height))?;
        v.map(|v| Ok(info(height, &BlockRecord::decode(v.value())?)))
            .transpose()
    }

    /// The chains the store holds data of.
    pub fn chains(&self) -> Result<Vec<Chain>, StoreError> {
        let rtx = self.db.begin_read()?;
        let chains = rtx.open_table(tables::CHAINS)?;
        let mut out = Vec::new();
        for row in chains.iter()? {
            if let Some(c) = Chain::from_code(row?.0.value()) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Every chain with data, with counters.
    pub fn status(&self) -> Result<Vec<ChainStatus>, StoreError> {
        let rtx = self.db.begin_read()?;
        let chains = rtx.open_table(tables::CHAINS)?;
        let mut out = Vec::new();
        for row in chains.iter()? {
            let (k, v) = row?;
            let code = k.value();
            let Some(chain) = Chain::from_code(code) else {
                continue;
            };
            let rec = ChainRecord::decode(v.value())?;
            out.push(ChainStatus {
                chain,
                tip: tip_of(&rtx, code)?,
                txs: rec.txs,
                inputs: rec.inputs,
                outputs: rec.outputs,
                addresses: rec.next_addr_id,
                utxos: rec.utxos,
            });
        }
        Ok(out)
    }

    /// Every stored tx with this id, on `chain` or on any chain.
    pub fn tx(&self, chain: Option<Chain>, txid: &Hash32) -> Result<Vec<TxView>, StoreError> {
        let rtx = self.db.begin_read()?;
        let txids = rtx.open_multimap_table(tables::TXIDS)?;
        let chains: Vec<Chain> = match chain {
            Some(c) => vec![c],
            None => {
                let t = rtx.open_table(tables::CHAINS)?;
                t.iter()?
                    .filter_map(|r| r.ok().and_then(|(k, _)| Chain::from_code(k.value())))
                    .collect()
            }
        };
        let mut out = Vec::new();
        for chain in chains {
            for pos in txids.get((chain.code(), txid.0))? {
                let (height, index) = pos?.value();
                out.push(tx_view(&rtx, chain, height, index)?);
            }
        }
        Ok(out)
    }

    /// The stored tx of `chain` at (height, index).
    pub fn tx_at(&self, chain: Chain, height: u32, index: u32) -> Result<TxView, StoreError> {
        tx_view(&self.db.begin_read()?, chain, height, index)
    }

    /// The address `address` of `chain`, if the store has seen it.
    pub fn address(&self, address: &Address) -> Result<Option<AddressView>, StoreError> {
        let rtx = self.db.begin_read()?;
        let c = address.chain().code();
        let ids = rtx.open_table(tables::ADDR_IDS)?;
        let Some(id) = ids.get((c, address.as_str()))?.map(|v| v.value()) else {
            return Ok(None);
        };
        let stats = rtx.open_table(tables::ADDR_STATS)?;
        let s = stats
            .get((c, id))?
            .map(|v| AddrStats::decode(v.value()))
            .transpose()?
            .unwrap_or_default();
        Ok(Some(view(
            address.chain(),
            address.as_str().to_string(),
            id,
            s,
        )))
    }

    /// A page of an address's txs in (height, index) order, starting after `offset` rows.
    pub fn address_history(
        &self,
        chain: Chain,
        id: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<AddressHistoryRow>, StoreError> {
        let rtx = self.db.begin_read()?;
        let c = chain.code();
        let adj = rtx.open_table(tables::ADDR_TXS)?;
        let txs = rtx.open_table(tables::TXS)?;
        let blocks = rtx.open_table(tables::BLOCKS)?;
        let mut out = Vec::new();
        for row in adj
            .range((c, id, 0, 0)..=(c, id, u32::MAX, u32::MAX))?
            .skip(offset)
            .take(limit)
        {
            let (k, v) = row?;
            let (_, _, height, index) = k.value();
            let (received, sent) = tables::decode_flow(v.value())?;
            let txid = match txs.get((c, height, index))? {
                Some(t) => TxRecord::decode(t.value())?.txid,
                None => {
                    return Err(StoreError::Corrupt {
                        table: "addr_txs",
                        what: format!("points at missing tx {height}/{index}"),
                    });
                }
            };
            let time = blocks
                .get((c, height))?
                .map(|b| BlockRecord::decode(b.value()))
                .transpose()?
                .map_or(0, |b| b.time);
            out.push(AddressHistoryRow {
                height,
                index,
                txid,
                time,
                received: Amount::from_units(received),
                sent: Amount::from_units(sent),
            });
        }
        Ok(out)
    }

    /// Every address of `chain` with its totals, in id order.
    pub fn addresses(&self, chain: Chain) -> Result<Vec<AddressView>, StoreError> {
        let rtx = self.db.begin_read()?;
        let c = chain.code();
        let stats = rtx.open_table(tables::ADDR_STATS)?;
        let texts = rtx.open_table(tables::ADDR_TEXTS)?;
        let mut out = Vec::new();
        for row in stats.range((c, 0)..=(c, u64::MAX))? {
            let (k, v) = row?;
            let id = k.value().1;
            let text = texts
                .get((c, id))?
                .map(|t| t.value().to_string())
                .unwrap_or_default();
            out.push(view(chain, text, id, AddrStats::decode(v.value())?));
        }
        Ok(out)
    }

    /// A SHA-256 over every table's keys and values in key order: two stores with equal
    /// digests hold the same data. Used to prove resume and reorg leave no trace.
    pub fn digest(&self) -> Result<String, StoreError> {
        use bitcoin::hashes::{Hash, HashEngine, sha256};
        let rtx = self.db.begin_read()?;
        let mut engine = sha256::Hash::engine();
        feed(&rtx, tables::CHAINS, &mut engine)?;
        feed(&rtx, tables::BLOCKS, &mut engine)?;
        feed(&rtx, tables::BLOCK_BY_HASH, &mut engine)?;
        feed(&rtx, tables::TXS, &mut engine)?;
        feed(&rtx, tables::UTXOS, &mut engine)?;
        feed(&rtx, tables::SPENDS, &mut engine)?;
        feed(&rtx, tables::ADDR_IDS, &mut engine)?;
        feed(&rtx, tables::ADDR_TEXTS, &mut engine)?;
        feed(&rtx, tables::ADDR_TXS, &mut engine)?;
        feed(&rtx, tables::ADDR_STATS, &mut engine)?;
        let txids = rtx.open_multimap_table(tables::TXIDS)?;
        for row in txids.iter()? {
            let (k, vals) = row?;
            engine.input(<(u32, [u8; 32]) as redb::Value>::as_bytes(&k.value()).as_ref());
            for v in vals {
                engine.input(<(u32, u32) as redb::Value>::as_bytes(&v?.value()).as_ref());
            }
        }
        Ok(sha256::Hash::from_engine(engine).to_string())
    }
}

fn feed<K: redb::Key + 'static, V: redb::Value + 'static>(
    rtx: &ReadTransaction,
    def: redb::TableDefinition<'_, K, V>,
    engine: &mut bitcoin::hashes::sha256::HashEngine,
) -> Result<(), StoreError> {
    use bitcoin::hashes::HashEngine;
    let t = rtx.open_table(def)?;
    engine.input(redb::TableHandle::name(&def).as_bytes());
    engine.input(&t.len()?.to_le_bytes());
    for row in t.iter()? {
        let (k, v) = row?;
        let (kv, vv) = (k.value(), v.value());
        let kb = K::as_bytes(&kv);
        let vb = V::as_bytes(&vv);
        engine.input(&(kb.as_ref().len() as u64).to_le_bytes());
        engine.input(kb.as_ref());
        engine.input(&(vb.as_ref().len() as u64).to_le_bytes());
        engine.input(vb.as_ref());
    }
    Ok(())
}

fn view(chain: Chain, address: String, id: u64, s: AddrStats) -> AddressView {
    AddressView {
        chain,
        address,
        id,
        balance: Amount::from_units(s.received.saturating_sub(s.sent)),
        received: Amount::from_units(s.received),
        sent: Amount::from_units(s.sent),
        tx_count: s.tx_count,
    }
}

pub(crate) fn address_text(rtx: &ReadTransaction, c: u32, id: u64) -> Result<String, StoreError> {
    let texts = rtx.open_table(tables::ADDR_TEXTS)?;
    texts
        .get((c, id))?
        .map(|t| t.value().to_string())
        .ok_or_else(|| StoreError::Corrupt {
            table: "addr_texts",
            what: format!("no text for address id {id}"),
        })
}

fn tx_view(
    rtx: &ReadTransaction,
    chain: Chain,
    height: u32,
    index: u32,
) -> Result<TxView, StoreError> {
    let c = chain.code();
    let txs = rtx.open_table(tables::TXS)?;
    let spends = rtx.open_table(tables::SPENDS)?;
    let blocks = rtx.open_table(tables::BLOCKS)?;
    let rec = txs
        .get((c, height, index))?
        .map(|v| TxRecord::decode(v.value()))
        .transpose()?
        .ok_or_else(|| StoreError::Corrupt {
            table: "txids",
            what: format!("points at missing tx {height}/{index}"),
        })?;
    let block = blocks
        .get((c, height))?
        .map(|v| BlockRecord::decode(v.value()))
        .transpose()?
        .ok_or_else(|| StoreError::Corrupt {
            table: "txs",
            what: format!("no block at height {height}"),
        })?;
    let mut inputs = Vec::with_capacity(rec.inputs.len());
    for i in &rec.inputs {
        inputs.push(InputView {
            prev_txid: Hash32(i.prev_txid),
            prev_vout: i.prev_vout,
            address: address_text(rtx, c, i.addr)?,
            value: Amount::from_units(u128::from(i.value)),
            prev_height: i.prev_height,
            coinbase: i.flags & COINBASE_FLAG != 0,
        });
    }
    let mut outputs = Vec::with_capacity(rec.outputs.len());
    for (vout, o) in rec.outputs.iter().enumerate() {
        let vout = u32::try_from(vout).unwrap_or(u32::MAX);
        let spent_by = match spends.get((c, rec.txid.0, vout))? {
            Some(s) => {
                let (h, idx, input) = s.value();
                let spender = txs
                    .get((c, h, idx))?
                    .map(|v| TxRecord::decode(v.value()))
                    .transpose()?;
                spender.map(|t| (t.txid, input))
            }
            None => None,
        };
        outputs.push(OutputView {
            vout,
            value: Amount::from_units(u128::from(o.value)),
            kind: o.kind,
            address: o.addr.map(|a| address_text(rtx, c, a)).transpose()?,
            data: o.data.as_ref().map(hex::encode),
            spent_by,
        });
    }
    let input_value: Amount = inputs.iter().map(|i| i.value).sum();
    let output_value: Amount = outputs.iter().map(|o| o.value).sum();
    Ok(TxView {
        chain,
        txid: rec.txid,
        height,
        index,
        block_hash: block.hash,
        time: block.time,
        coinbase: rec.coinbase,
        hogex: rec.hogex,
        size: rec.size,
        vsize: rec.vsize,
        input_value,
        output_value,
        fee: if rec.coinbase {
            Amount::ZERO
        } else {
            input_value
                .checked_sub(output_value)
                .unwrap_or(Amount::ZERO)
        },
        inputs,
        outputs,
    })
}
