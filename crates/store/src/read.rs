//! Reading: status, blocks, transactions with resolved inputs and spenders, addresses with
//! balances and paged history, and a content digest of the whole store.

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::Serialize;
use tracehound_core::{Address, Amount, Chain, ChainFamily, Hash32, ScriptKind};

use crate::bulk::txlog;
use crate::ledger::Ledger;
use crate::ledger::adjacency::Totals;
use crate::tables::{self, BlockRecord, COINBASE_FLAG, ChainRecord};
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
        let chains = match chain {
            Some(c) => vec![c],
            None => self.chains()?,
        };
        let mut out = Vec::new();
        for chain in chains
            .into_iter()
            .filter(|c| c.family() == ChainFamily::Utxo)
        {
            self.with_ledger(chain, |l, db| {
                let rtx = db.begin_read()?;
                for seq in l.txlog.find_txid(txid)? {
                    out.push(tx_view(&rtx, l, seq)?);
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// The stored tx of `chain` at (height, index).
    pub fn tx_at(&self, chain: Chain, height: u32, index: u32) -> Result<TxView, StoreError> {
        let block = self
            .block_record(chain, height)?
            .filter(|b| index < b.tx_count)
            .ok_or_else(|| StoreError::Corrupt {
                table: "blocks",
                what: format!("{chain} has no tx {index} at height {height}"),
            })?;
        self.with_ledger(chain, |l, db| {
            tx_view(&db.begin_read()?, l, block.first_tx + u64::from(index))
        })
    }

    fn block_record(&self, chain: Chain, height: u32) -> Result<Option<BlockRecord>, StoreError> {
        let rtx = self.db.begin_read()?;
        let blocks = rtx.open_table(tables::BLOCKS)?;
        let v = blocks.get((chain.code(), height))?;
        v.map(|v| BlockRecord::decode(v.value())).transpose()
    }

    /// The address `address` of `chain`, if the store has seen it.
    pub fn address(&self, address: &Address) -> Result<Option<AddressView>, StoreError> {
        let chain = address.chain();
        if chain.family() != ChainFamily::Utxo || !self.chains()?.contains(&chain) {
            return Ok(None);
        }
        let Some(payee) = address.to_payee() else {
            return Ok(None);
        };
        self.with_ledger(chain, |l, _| {
            let Some(id) = l.addrs.lookup(&payee)? else {
                return Ok(None);
            };
            let totals = addr_totals(l, id)?;
            Ok(Some(view(chain, address.as_str().to_string(), id, totals)))
        })
    }

    /// A page of an address's txs in (height, index) order, starting after `offset` rows.
    pub fn address_history(
        &self,
        chain: Chain,
        id: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<AddressHistoryRow>, StoreError> {
        self.with_ledger(chain, |l, db| {
            let rtx = db.begin_read()?;
            // The list runs newest first: one walk, then the page counted from its old end.
            let history = l
                .adj
                .walk(l.adj.head(addr32(id)?))
                .collect::<Result<Vec<_>, _>>()?;
            let mut rows = Vec::new();
            for e in history.iter().rev().skip(offset).take(limit) {
                let (height, index, block) = locate_tx(&rtx, l.chain(), e.seq)?;
                rows.push(AddressHistoryRow {
                    height,
                    index,
                    txid: l.txlog.txid_of(e.seq)?,
                    time: block.time,
                    received: Amount::from_units(u128::from(e.received)),
                    sent: Amount::from_units(u128::from(e.sent)),
                });
            }
            Ok(rows)
        })
    }

    /// Every address of `chain` with its totals, in id order.
    pub fn addresses(&self, chain: Chain) -> Result<Vec<AddressView>, StoreError> {
        if chain.family() != ChainFamily::Utxo || !self.chains()?.contains(&chain) {
            return Ok(Vec::new());
        }
        self.with_ledger(chain, |l, _| {
            let mut out = Vec::new();
            for id in 0..l.addrs.len() {
                let text = l.addrs.payee(id)?.to_address().as_str().to_string();
                out.push(view(chain, text, id, addr_totals(l, id)?));
            }
            Ok(out)
        })
    }

    /// A SHA-256 over the store's logical content: block rows, every tx record with its
    /// spenders, every address, and every address's history with its totals. Two stores with
    /// equal digests hold the same data, however their batches fell; used to prove that
    /// resume and reorg leave no trace.
    pub fn digest(&self) -> Result<String, StoreError> {
        use bitcoin::hashes::{Hash, HashEngine, sha256};
        let mut engine = sha256::Hash::engine();
        {
            let rtx = self.db.begin_read()?;
            feed(&rtx, tables::CHAINS, &mut engine)?;
            feed(&rtx, tables::BLOCKS, &mut engine)?;
            feed(&rtx, tables::BLOCK_BY_HASH, &mut engine)?;
            feed(&rtx, tables::BLOCK_BY_TX, &mut engine)?;
            feed(&rtx, tables::ACCOUNT_TXS, &mut engine)?;
            feed(&rtx, tables::ACCOUNT_TXIDS, &mut engine)?;
            feed(&rtx, tables::TRANSFERS, &mut engine)?;
            crate::account::feed_adjacency(&rtx, &mut engine)?;
            feed(&rtx, tables::BALANCES, &mut engine)?;
            feed(&rtx, tables::TOKENS, &mut engine)?;
        }
        for chain in self.chains()? {
            if chain.family() == ChainFamily::Account {
                engine.input(&chain.code().to_le_bytes());
                for p in self.account_payees(chain)? {
                    engine.input(&p);
                }
                continue;
            }
            self.with_ledger(chain, |l, _| {
                engine.input(&chain.code().to_le_bytes());
                let mut buf = Vec::new();
                let mut spenders = Vec::new();
                l.txlog
                    .for_each(0, l.txlog.tx_count(), |seq, first_out, rec| {
                        buf.clear();
                        rec.encode(&mut buf);
                        engine.input(&seq.to_le_bytes());
                        engine.input(&buf);
                        spenders.extend((0..rec.outputs.len() as u64).map(|v| first_out + v));
                        Ok(())
                    })?;
                for out in spenders {
                    let s = l.txlog.spender(out)?.map_or(0, |s| s + 1);
                    engine.input(&s.to_le_bytes());
                }
                for id in 0..l.addrs.len() {
                    engine.input(&crate::bulk::addr_index::encode_payee(&l.addrs.payee(id)?));
                }
                let mut entries = Vec::with_capacity(usize::try_from(l.adj.len()).unwrap_or(0));
                for i in 0..l.adj.len() {
                    let e = l.adj.entry(i)?;
                    entries.push((e.addr, e.seq, e.received, e.sent));
                }
                entries.sort_unstable();
                for e in entries {
                    engine.input(&e.0.to_le_bytes());
                    engine.input(&e.1.to_le_bytes());
                    engine.input(&e.2.to_le_bytes());
                    engine.input(&e.3.to_le_bytes());
                }
                Ok(())
            })?;
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

fn view(chain: Chain, address: String, id: u64, t: Totals) -> AddressView {
    AddressView {
        chain,
        address,
        id,
        balance: Amount::from_units(t.received.saturating_sub(t.sent)),
        received: Amount::from_units(t.received),
        sent: Amount::from_units(t.sent),
        tx_count: t.count,
    }
}

fn addr32(id: u64) -> Result<u32, StoreError> {
    u32::try_from(id).map_err(|_| StoreError::Corrupt {
        table: "addrs.log",
        what: format!("address id {id} exceeds 32 bits"),
    })
}

/// The totals of address `id`.
pub(crate) fn addr_totals(l: &Ledger, id: u64) -> Result<Totals, StoreError> {
    l.adj.totals(addr32(id)?)
}

/// The text of address `id`.
pub(crate) fn address_text(l: &Ledger, id: Option<u64>) -> Result<String, StoreError> {
    match id {
        None => Ok(String::new()),
        Some(id) => Ok(l.addrs.payee(id)?.to_address().as_str().to_string()),
    }
}

/// (height, index in block, block row) of tx `seq`.
pub(crate) fn locate_tx(
    rtx: &ReadTransaction,
    chain: Chain,
    seq: u64,
) -> Result<(u32, u32, BlockRecord), StoreError> {
    let c = chain.code();
    let by_tx = rtx.open_table(tables::BLOCK_BY_TX)?;
    let blocks = rtx.open_table(tables::BLOCKS)?;
    let missing = || StoreError::Corrupt {
        table: "block_by_tx",
        what: format!("{chain} tx seq {seq} lies in no stored block"),
    };
    let (first, height) = by_tx
        .range((c, 0)..=(c, seq))?
        .next_back()
        .transpose()?
        .map(|(k, v)| (k.value().1, v.value()))
        .ok_or_else(missing)?;
    let block = blocks
        .get((c, height))?
        .map(|v| BlockRecord::decode(v.value()))
        .transpose()?
        .ok_or_else(missing)?;
    let index = u32::try_from(seq - first)
        .ok()
        .filter(|&i| i < block.tx_count)
        .ok_or_else(missing)?;
    Ok((height, index, block))
}

fn tx_view(rtx: &ReadTransaction, l: &Ledger, seq: u64) -> Result<TxView, StoreError> {
    let chain = l.chain();
    let (height, index, block) = locate_tx(rtx, chain, seq)?;
    let rec = l.txlog.tx(seq)?;
    let first_out = l.txlog.first_output(seq)?;
    let mut inputs = Vec::with_capacity(rec.inputs.len());
    for i in &rec.inputs {
        let prev = l.txlog.tx_of_output(i.prev_out)?;
        inputs.push(InputView {
            prev_txid: l.txlog.txid_of(prev)?,
            prev_vout: u32::try_from(i.prev_out - l.txlog.first_output(prev)?).unwrap_or(u32::MAX),
            address: address_text(l, i.addr)?,
            value: Amount::from_units(u128::from(i.value)),
            prev_height: i.prev_height,
            coinbase: i.flags & COINBASE_FLAG != 0,
        });
    }
    let mut outputs = Vec::with_capacity(rec.outputs.len());
    for (vout, o) in rec.outputs.iter().enumerate() {
        let out = first_out + vout as u64;
        let spent_by = match l.txlog.spender(out)? {
            Some(s) => {
                let spender = l.txlog.tx(s)?;
                let input = spender.inputs.iter().position(|i| i.prev_out == out);
                input.map(|i| (spender.txid, u32::try_from(i).unwrap_or(u32::MAX)))
            }
            None => None,
        };
        outputs.push(OutputView {
            vout: u32::try_from(vout).unwrap_or(u32::MAX),
            value: Amount::from_units(u128::from(o.value)),
            kind: o.kind,
            address: o.addr.map(|a| address_text(l, Some(a))).transpose()?,
            data: o.data.as_ref().map(hex::encode),
            spent_by,
        });
    }
    let coinbase = rec.flags & txlog::FLAG_COINBASE != 0;
    let input_value: Amount = inputs.iter().map(|i| i.value).sum();
    let output_value: Amount = outputs.iter().map(|o| o.value).sum();
    Ok(TxView {
        chain,
        txid: rec.txid,
        height,
        index,
        block_hash: block.hash,
        time: block.time,
        coinbase,
        hogex: rec.flags & txlog::FLAG_HOGEX != 0,
        size: rec.size,
        vsize: rec.vsize,
        input_value,
        output_value,
        fee: if coinbase {
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
