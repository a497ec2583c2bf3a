//! Graph reads for traversals (the taint engine): a UTXO tx as dense integer ids — tx seq,
//! output seq, address id, spender seq — with no txid, address text or predecessor lookups,
//! which a traversal needs only for the few places it prints. [`Store::tx_view`]-style reads
//! resolve every input's predecessor tx by binary search and encode every address; a trace
//! touching hundreds of thousands of txs cannot afford that per tx.

use std::collections::HashMap;
use std::rc::Rc;

use tracehound_core::{Chain, ChainFamily, Hash32};

use redb::ReadableDatabase;

use crate::bulk::txlog;
use crate::tables::{self, BlockRecord};
use crate::{Store, StoreError};

/// An input: the output it spends, as ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkIn {
    /// Output seq of the spent output (dense, chain-wide).
    pub prev_out: u64,
    /// Address id of the spent output.
    pub addr: Option<u64>,
    /// Its value in base units.
    pub value: u64,
}

/// An output, as ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOut {
    /// Output seq (dense, chain-wide).
    pub out: u64,
    /// Address id of the payee.
    pub addr: Option<u64>,
    /// Value in base units.
    pub value: u64,
    /// Tx seq of the spender.
    pub spent_by: Option<u64>,
}

/// A UTXO tx as ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxLinks {
    /// Tx seq (dense, chain-wide, in chain order).
    pub seq: u64,
    /// Block height.
    pub height: u32,
    /// Position in the block.
    pub index: u32,
    /// Block time.
    pub time: u64,
    /// Whether it is a coinbase (its inputs are then empty).
    pub coinbase: bool,
    /// Inputs in order.
    pub inputs: Vec<LinkIn>,
    /// Outputs in order.
    pub outputs: Vec<LinkOut>,
}

/// Id-based reads of one UTXO chain, with the block index (first tx seq, height, time) held
/// in memory so locating a tx is a binary search, not a database read.
///
/// Decoded records are kept in a small cache: checking an output's spender decodes the
/// spender's record (the hint in `spent_by.col` counts only if that tx spends the output), and
/// a traversal reads that same tx next.
pub struct UtxoLinks<'s> {
    store: &'s Store,
    chain: Chain,
    blocks: Vec<(u64, u32, u64)>,
    records: std::cell::RefCell<HashMap<u64, Rc<txlog::Record>>>,
}

/// Records the cache holds before it starts over (a few MiB).
const RECORD_CACHE: usize = 1 << 15;

impl Store {
    /// Id-based reads of UTXO chain `chain` (loads its block index: 20 bytes a block).
    pub fn utxo_links(&self, chain: Chain) -> Result<UtxoLinks<'_>, StoreError> {
        if chain.family() != ChainFamily::Utxo {
            return Err(StoreError::Corrupt {
                table: "chains",
                what: format!("{chain} is not a UTXO chain"),
            });
        }
        let blocks = {
            let c = chain.code();
            let rtx = self.db.begin_read()?;
            let t = rtx.open_table(tables::BLOCKS)?;
            t.range((c, 0)..=(c, u32::MAX))?
                .map(|r| {
                    let (k, v) = r?;
                    let b = BlockRecord::decode(v.value())?;
                    Ok((b.first_tx, k.value().1, b.time))
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        };
        Ok(UtxoLinks {
            store: self,
            chain,
            blocks,
            records: std::cell::RefCell::new(HashMap::new()),
        })
    }
}

impl UtxoLinks<'_> {
    /// The chain.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The seq of the tx with id `txid` (the first, if stored twice).
    pub fn find(&self, txid: &Hash32) -> Result<Option<u64>, StoreError> {
        self.store.with_ledger(self.chain, |l, _| {
            Ok(l.txlog.find_txid(txid)?.first().copied())
        })
    }

    /// The txid of tx `seq`.
    pub fn txid(&self, seq: u64) -> Result<Hash32, StoreError> {
        self.store
            .with_ledger(self.chain, |l, _| l.txlog.txid_of(seq))
    }

    /// The text of address `id`.
    pub fn address(&self, id: u64) -> Result<String, StoreError> {
        self.store
            .with_ledger(self.chain, |l, _| crate::read::address_text(l, Some(id)))
    }

    /// The id of `address`, if the chain has seen it.
    pub fn address_id(
        &self,
        address: &tracehound_core::Address,
    ) -> Result<Option<u64>, StoreError> {
        let Some(payee) = address.to_payee() else {
            return Ok(None);
        };
        self.store
            .with_ledger(self.chain, |l, _| l.addrs.lookup(&payee))
    }

    /// Tx seqs of address `id`'s history (txs paying or spending it), oldest first.
    pub fn address_txs(&self, id: u64) -> Result<Vec<u64>, StoreError> {
        let a = u32::try_from(id).map_err(|_| StoreError::Corrupt {
            table: "addrs.log",
            what: format!("address id {id} exceeds 32 bits"),
        })?;
        self.store.with_ledger(self.chain, |l, _| {
            let mut seqs = l
                .adj
                .walk(l.adj.head(a))
                .map(|e| e.map(|e| e.seq))
                .collect::<Result<Vec<_>, _>>()?;
            seqs.reverse();
            Ok(seqs)
        })
    }

    /// How many txs the chain holds (tx seqs run `0..tx_count`).
    pub fn tx_count(&self) -> Result<u64, StoreError> {
        self.store
            .with_ledger(self.chain, |l, _| Ok(l.txlog.tx_count()))
    }

    /// How many addresses the chain has interned (address ids run `0..address_count`).
    pub fn address_count(&self) -> Result<u64, StoreError> {
        self.store.with_ledger(self.chain, |l, _| Ok(l.addrs.len()))
    }

    /// Calls `f(seq, record)` for txs `from..to` in chain order, reading the tx log in large
    /// sequential chunks: the whole-chain pass of batch analyses (clustering), which need every
    /// input's address and every output but no spender or txid lookup. The chain stays locked
    /// for the scan, so `f` must not read the store.
    pub fn scan(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &txlog::Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.store.with_ledger(self.chain, |l, _| {
            l.txlog.for_each(from, to, |seq, _, rec| f(seq, &rec))
        })
    }

    /// Where tx `seq` sits: (first tx seq of its block, height, block time).
    fn locate(&self, seq: u64) -> Result<(u64, u32, u64), StoreError> {
        let k = self.blocks.partition_point(|b| b.0 <= seq);
        k.checked_sub(1)
            .and_then(|k| self.blocks.get(k))
            .copied()
            .ok_or_else(|| StoreError::Corrupt {
                table: "block_by_tx",
                what: format!("{} tx seq {seq} lies in no stored block", self.chain),
            })
    }

    /// The block time of tx `seq` (from the block index: no read).
    pub fn time_of(&self, seq: u64) -> Result<u64, StoreError> {
        Ok(self.locate(seq)?.2)
    }

    /// The block height of tx `seq` (from the block index: no read).
    pub fn height_of(&self, seq: u64) -> Result<u32, StoreError> {
        Ok(self.locate(seq)?.1)
    }

    /// The decoded record of tx `seq` (cached).
    fn record(&self, seq: u64) -> Result<Rc<txlog::Record>, StoreError> {
        if let Some(r) = self.records.borrow().get(&seq) {
            return Ok(Rc::clone(r));
        }
        let rec = Rc::new(self.store.with_ledger(self.chain, |l, _| l.txlog.tx(seq))?);
        let mut cache = self.records.borrow_mut();
        if cache.len() >= RECORD_CACHE {
            cache.clear();
        }
        cache.insert(seq, Rc::clone(&rec));
        Ok(rec)
    }

    /// The tx that spends output `out`, if any. The hint in `spent_by.col` is checked
    /// against the named tx's inputs (see the txlog's docs), through the record cache.
    pub fn spender(&self, out: u64) -> Result<Option<u64>, StoreError> {
        let hint = self
            .store
            .with_ledger(self.chain, |l, _| l.txlog.spender_hint(out))?;
        let Some(seq) = hint else {
            return Ok(None);
        };
        let rec = self.record(seq)?;
        Ok(rec.inputs.iter().any(|i| i.prev_out == out).then_some(seq))
    }

    /// Tx `seq` as ids, with every output's spender.
    pub fn tx(&self, seq: u64) -> Result<TxLinks, StoreError> {
        let mut t = self.tx_without_spenders(seq)?;
        for o in &mut t.outputs {
            o.spent_by = self.spender(o.out)?;
        }
        Ok(t)
    }

    /// Tx `seq` as ids, with no output's spender filled in (`spent_by` is `None`; ask
    /// [`UtxoLinks::spender`] for the outputs that matter): a traversal follows few of a tx's
    /// outputs, and each spender costs a read.
    pub fn tx_without_spenders(&self, seq: u64) -> Result<TxLinks, StoreError> {
        let (first, height, time) = self.locate(seq)?;
        let rec = self.record(seq)?;
        let first_out = self
            .store
            .with_ledger(self.chain, |l, _| l.txlog.first_output(seq))?;
        let coinbase = rec.flags & txlog::FLAG_COINBASE != 0;
        let inputs = if coinbase {
            Vec::new()
        } else {
            rec.inputs
                .iter()
                .map(|i| LinkIn {
                    prev_out: i.prev_out,
                    addr: i.addr,
                    value: i.value,
                })
                .collect()
        };
        let outputs = rec
            .outputs
            .iter()
            .enumerate()
            .map(|(vout, o)| LinkOut {
                out: first_out + vout as u64,
                addr: o.addr,
                value: o.value,
                spent_by: None,
            })
            .collect();
        Ok(TxLinks {
            seq,
            height,
            index: u32::try_from(seq - first).unwrap_or(u32::MAX),
            time,
            coinbase,
            inputs,
            outputs,
        })
    }
}
