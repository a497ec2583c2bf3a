//! Writing: connecting UTXO blocks (resolving every input against the stored unspent outputs)
//! and unwinding them again on a reorg. Each call is one transaction: all of it lands, or none.

use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};

/// Hot-path maps use foldhash: much faster than SipHash on fixed-size keys, seeded per process.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = StdHashSet<K, foldhash::fast::RandomState>;

use redb::{ReadableTable, Table, WriteTransaction};
use tracehound_core::{Chain, OutPoint, Payee, UtxoBlock};

use crate::tables::{
    self, AddrStats, BlockRecord, COINBASE_FLAG, ChainRecord, InputRecord, OutputRecord, TxRecord,
};
use crate::{Store, StoreError};

/// What a batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Blocks connected.
    pub blocks: u64,
    /// Transactions stored.
    pub txs: u64,
    /// Inputs resolved.
    pub inputs: u64,
    /// Outputs stored.
    pub outputs: u64,
}

impl std::ops::AddAssign for BatchStats {
    fn add_assign(&mut self, other: BatchStats) {
        self.blocks += other.blocks;
        self.txs += other.txs;
        self.inputs += other.inputs;
        self.outputs += other.outputs;
    }
}

struct Tables<'t> {
    chains: Table<'t, u32, &'static [u8]>,
    blocks: Table<'t, (u32, u32), &'static [u8]>,
    block_by_hash: Table<'t, (u32, [u8; 32]), u32>,
    txs: Table<'t, (u32, u32, u32), &'static [u8]>,
    txids: redb::MultimapTable<'t, (u32, [u8; 32]), (u32, u32)>,
    utxos: Table<'t, tables::OutKey, tables::UtxoValue>,
    spends: Table<'t, tables::OutKey, tables::SpendValue>,
    addr_ids: Table<'t, (u32, &'static str), u64>,
    addr_texts: Table<'t, (u32, u64), &'static str>,
    addr_txs: Table<'t, (u32, u64, u32, u32), &'static [u8]>,
    addr_stats: Table<'t, (u32, u64), &'static [u8]>,
}

impl<'t> Tables<'t> {
    fn open(w: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Tables {
            chains: w.open_table(tables::CHAINS)?,
            blocks: w.open_table(tables::BLOCKS)?,
            block_by_hash: w.open_table(tables::BLOCK_BY_HASH)?,
            txs: w.open_table(tables::TXS)?,
            txids: w.open_multimap_table(tables::TXIDS)?,
            utxos: w.open_table(tables::UTXOS)?,
            spends: w.open_table(tables::SPENDS)?,
            addr_ids: w.open_table(tables::ADDR_IDS)?,
            addr_texts: w.open_table(tables::ADDR_TEXTS)?,
            addr_txs: w.open_table(tables::ADDR_TXS)?,
            addr_stats: w.open_table(tables::ADDR_STATS)?,
        })
    }

    fn chain_record(&self, c: u32) -> Result<ChainRecord, StoreError> {
        self.chains
            .get(c)?
            .map(|v| ChainRecord::decode(v.value()))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn tip(&self, c: u32) -> Result<Option<(u32, BlockRecord)>, StoreError> {
        let last = self
            .blocks
            .range((c, 0)..=(c, u32::MAX))?
            .next_back()
            .transpose()?;
        last.map(|(k, v)| Ok((k.value().1, BlockRecord::decode(v.value())?)))
            .transpose()
    }

    fn remove_flow(&mut self, c: u32, addr: u64, height: u32, idx: u32) -> Result<(), StoreError> {
        let flow = self
            .addr_txs
            .remove((c, addr, height, idx))?
            .map(|v| tables::decode_flow(v.value()))
            .transpose()?;
        let Some((received, sent)) = flow else {
            return Ok(());
        };
        let mut stats = self
            .addr_stats
            .get((c, addr))?
            .map(|v| AddrStats::decode(v.value()))
            .transpose()?
            .unwrap_or_default();
        stats.received = stats.received.saturating_sub(received);
        stats.sent = stats.sent.saturating_sub(sent);
        stats.tx_count = stats.tx_count.saturating_sub(1);
        if stats == AddrStats::default() {
            self.addr_stats.remove((c, addr))?;
        } else {
            self.addr_stats
                .insert((c, addr), stats.encode().as_slice())?;
        }
        Ok(())
    }
}

/// Per-tx accumulation of (received, sent) per address, in first-touch order.
#[derive(Default)]
struct Flows(Vec<(u64, u128, u128)>);

impl Flows {
    fn add(&mut self, addr: u64, received: u128, sent: u128) {
        match self.0.iter_mut().find(|f| f.0 == addr) {
            Some(f) => {
                f.1 += received;
                f.2 += sent;
            }
            None => self.0.push((addr, received, sent)),
        }
    }
}

impl Store {
    /// Connects `blocks` (in chain order; the first must extend the stored tip of its chain,
    /// or be genesis in an empty store) and commits them, with their checkpoint, as one
    /// transaction.
    pub fn apply_utxo_blocks(&self, blocks: &[UtxoBlock]) -> Result<BatchStats, StoreError> {
        let wtx = self.db.begin_write()?;
        let mut stats = BatchStats::default();
        {
            let mut t = Tables::open(&wtx)?;
            let mut cache = self
                .addr_cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut batch = Batch::default();
            let applied = blocks
                .iter()
                .try_for_each(|block| {
                    apply_block(&mut t, &mut cache, &mut batch, block, &mut stats)
                })
                .and_then(|()| batch.flush(&mut t));
            if applied.is_err() {
                // Ids handed out in this batch die with it.
                cache.clear();
            }
            applied?;
            for (payee, (id, _)) in batch.new_addrs {
                cache.insert(payee, id);
            }
        }
        if let Err(e) = wtx.commit() {
            self.clear_addr_cache();
            return Err(e.into());
        }
        Ok(stats)
    }

    /// Removes every block of `chain` above `height`, newest first, restoring the outputs they
    /// spent and releasing the address ids first seen in them. The store is left as if those
    /// blocks had never been connected.
    pub fn unwind_to(&self, chain: Chain, height: u32) -> Result<u64, StoreError> {
        self.clear_addr_cache();
        let c = chain.code();
        let wtx = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut t = Tables::open(&wtx)?;
            if t.blocks.get((c, height))?.is_none() {
                return Err(StoreError::BadUnwind { chain, height });
            }
            while let Some((h, rec)) = t.tip(c)? {
                if h <= height {
                    break;
                }
                unwind_block(&mut t, c, h, &rec)?;
                removed += 1;
            }
        }
        wtx.commit()?;
        Ok(removed)
    }

    /// Removes every block of `chain`, leaving it empty (a reorg deeper than genesis cannot
    /// happen; this is for starting a chain over).
    pub fn unwind_all(&self, chain: Chain) -> Result<u64, StoreError> {
        self.clear_addr_cache();
        let c = chain.code();
        let wtx = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut t = Tables::open(&wtx)?;
            while let Some((h, rec)) = t.tip(c)? {
                unwind_block(&mut t, c, h, &rec)?;
                removed += 1;
            }
            t.chains.remove(c)?;
        }
        wtx.commit()?;
        Ok(removed)
    }
}

impl Store {
    fn clear_addr_cache(&self) {
        self.addr_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// Payee → address id, bounded; a cache in front of the `addr_ids` table that spares the
/// text encoding of addresses already known.
pub(crate) struct AddrCache {
    ids: HashMap<Payee, u64>,
    capacity: usize,
}

impl AddrCache {
    pub(crate) fn new(capacity: usize) -> Self {
        AddrCache {
            ids: HashMap::default(),
            capacity,
        }
    }

    fn get(&self, payee: &Payee) -> Option<u64> {
        self.ids.get(payee).copied()
    }

    fn insert(&mut self, payee: Payee, id: u64) {
        if self.ids.len() >= self.capacity {
            // Dropping everything is crude but cheap; the table stays the truth.
            self.clear();
        }
        if self.capacity > 0 {
            self.ids.insert(payee, id);
        }
    }

    fn clear(&mut self) {
        self.ids.clear();
    }
}

/// (chain, address id, height, tx index).
type FlowKey = (u32, u64, u32, u32);
/// (chain, txid).
type TxidKey = (u32, [u8; 32]);

/// Writes of one batch, buffered so they reach the B-trees sorted by key (much cheaper
/// than random inserts), and so outputs created and spent inside the batch never reach the
/// UTXO table at all.
#[derive(Default)]
struct Batch {
    /// Outputs created in this batch and not yet spent.
    new_utxos: HashMap<tables::OutKey, tables::UtxoValue>,
    /// Stored outputs spent in this batch (to delete).
    spent_stored: HashSet<tables::OutKey>,
    spends: Vec<(tables::OutKey, tables::SpendValue)>,
    flows: Vec<(FlowKey, (u128, u128))>,
    stats: HashMap<(u32, u64), AddrStats>,
    txids: Vec<(TxidKey, (u32, u32))>,
    /// Addresses first seen in this batch: payee → (id, text). Never evicted before commit.
    new_addrs: HashMap<Payee, (u64, String)>,
    /// The chain records as this batch leaves them.
    chains: HashMap<u32, ChainRecord>,
    /// The last block connected in this batch, per chain: (height, hash).
    tips: HashMap<u32, (u32, tracehound_core::Hash32)>,
}

impl Batch {
    fn adjust_utxos(&mut self, c: u32, delta: i64) {
        if let Some(rec) = self.chains.get_mut(&c) {
            rec.utxos = rec.utxos.saturating_add_signed(delta);
        }
    }

    fn flush(&mut self, t: &mut Tables<'_>) -> Result<(), StoreError> {
        let mut spent: Vec<_> = self.spent_stored.drain().collect();
        spent.sort_unstable();
        for k in spent {
            if t.utxos.remove(k)?.is_some() {
                self.adjust_utxos(k.0, -1);
            }
        }
        let mut utxos: Vec<_> = self.new_utxos.drain().collect();
        utxos.sort_unstable_by_key(|(k, _)| *k);
        for (k, v) in utxos {
            // A BIP30 duplicate replaces its older twin: the count stays.
            if t.utxos.insert(k, v)?.is_none() {
                self.adjust_utxos(k.0, 1);
            }
        }
        self.spends.sort_unstable_by_key(|(k, _)| *k);
        for (k, v) in self.spends.drain(..) {
            t.spends.insert(k, v)?;
        }
        self.flows.sort_unstable_by_key(|(k, _)| *k);
        for (k, (r, s)) in self.flows.drain(..) {
            t.addr_txs.insert(k, tables::encode_flow(r, s).as_slice())?;
        }
        let mut stats: Vec<_> = self.stats.drain().collect();
        stats.sort_unstable_by_key(|(k, _)| *k);
        for (k, delta) in stats {
            let old = t
                .addr_stats
                .get(k)?
                .map(|v| AddrStats::decode(v.value()))
                .transpose()?
                .unwrap_or_default();
            let new = AddrStats {
                received: old.received + delta.received,
                sent: old.sent + delta.sent,
                tx_count: old.tx_count + delta.tx_count,
            };
            t.addr_stats.insert(k, new.encode().as_slice())?;
        }
        self.txids.sort_unstable();
        for (k, v) in self.txids.drain(..) {
            t.txids.insert(k, v)?;
        }
        let mut addrs: Vec<(u32, &str, u64)> = self
            .new_addrs
            .iter()
            .map(|(p, (id, text))| (p.chain.code(), text.as_str(), *id))
            .collect();
        addrs.sort_unstable();
        for (c, text, id) in &addrs {
            t.addr_ids.insert((*c, *text), *id)?;
        }
        addrs.sort_unstable_by_key(|(c, _, id)| (*c, *id));
        for (c, text, id) in &addrs {
            t.addr_texts.insert((*c, *id), *text)?;
        }
        let mut chains: Vec<_> = self.chains.drain().collect();
        chains.sort_unstable_by_key(|(c, _)| *c);
        for (c, rec) in chains {
            t.chains.insert(c, rec.encode().as_slice())?;
        }
        Ok(())
    }
}

fn intern(
    t: &Tables<'_>,
    cache: &AddrCache,
    batch: &mut Batch,
    rec: &mut ChainRecord,
    payee: &Payee,
) -> Result<u64, StoreError> {
    if let Some(id) = cache.get(payee) {
        return Ok(id);
    }
    if let Some((id, _)) = batch.new_addrs.get(payee) {
        return Ok(*id);
    }
    let text = payee.to_address();
    if let Some(id) = t
        .addr_ids
        .get((payee.chain.code(), text.as_str()))?
        .map(|v| v.value())
    {
        return Ok(id);
    }
    let id = rec.next_addr_id;
    rec.next_addr_id += 1;
    batch
        .new_addrs
        .insert(*payee, (id, text.as_str().to_string()));
    Ok(id)
}

fn apply_block(
    t: &mut Tables<'_>,
    cache: &mut AddrCache,
    batch: &mut Batch,
    block: &UtxoBlock,
    stats: &mut BatchStats,
) -> Result<(), StoreError> {
    let b = &block.block;
    let chain = b.chain;
    let c = chain.code();
    let height = b.height;
    let tip = match batch.tips.get(&c) {
        Some(&tip) => Some(tip),
        None => t.tip(c)?.map(|(h, r)| (h, r.hash)),
    };
    let connects = match tip {
        None => height == 0,
        Some((h, hash)) => height == h + 1 && b.parent == hash,
    };
    if !connects {
        return Err(StoreError::NotConnected {
            chain,
            height,
            hash: b.hash,
            parent: b.parent,
            tip: tip.map_or_else(|| "empty".into(), |(h, hash)| format!("{h} {hash}")),
        });
    }
    let mut rec = match batch.chains.get(&c) {
        Some(r) => *r,
        None => t.chain_record(c)?,
    };
    let first_addr_id = rec.next_addr_id;
    let (mut n_in, mut n_out) = (0u64, 0u64);
    for tx in &block.txs {
        let idx = tx.index;
        let mut flows = Flows::default();
        let mut inputs = Vec::with_capacity(tx.inputs.len());
        for (i, input) in tx.inputs.iter().enumerate() {
            let key = (c, input.prevout.txid.0, input.prevout.vout);
            let spent = match batch.new_utxos.remove(&key) {
                Some(v) => Some(v),
                None if batch.spent_stored.contains(&key) => None,
                None => {
                    let v = t.utxos.get(key)?.map(|v| v.value());
                    if v.is_some() {
                        batch.spent_stored.insert(key);
                    }
                    v
                }
            };
            let Some((addr, value, prev_height, flags)) = spent else {
                return Err(StoreError::UnknownPrevout {
                    chain,
                    height,
                    txid: tx.txid,
                    input: i,
                    prevout: OutPoint {
                        txid: input.prevout.txid,
                        vout: input.prevout.vout,
                    },
                });
            };
            batch
                .spends
                .push((key, (height, idx, u32::try_from(i).unwrap_or(u32::MAX))));
            flows.add(addr, 0, u128::from(value));
            inputs.push(InputRecord {
                prev_txid: input.prevout.txid.0,
                prev_vout: input.prevout.vout,
                sequence: input.sequence,
                addr,
                value,
                prev_height,
                flags,
            });
        }
        let mut outputs = Vec::with_capacity(tx.outputs.len());
        for (vout, out) in tx.outputs.iter().enumerate() {
            let value =
                u64::try_from(out.value.units()).map_err(|_| StoreError::ValueTooLarge {
                    chain,
                    txid: tx.txid,
                    vout,
                    value: out.value.units(),
                })?;
            let addr = match &out.payee {
                Some(payee) => {
                    let id = intern(t, cache, batch, &mut rec, payee)?;
                    let flags = out.kind.code() | if tx.coinbase { COINBASE_FLAG } else { 0 };
                    let vout = u32::try_from(vout).unwrap_or(u32::MAX);
                    // A BIP30 duplicate txid overwrites the older unspent output, as in Core.
                    batch
                        .new_utxos
                        .insert((c, tx.txid.0, vout), (id, value, height, flags));
                    flows.add(id, u128::from(value), 0);
                    Some(id)
                }
                None => None,
            };
            outputs.push(OutputRecord {
                value,
                kind: out.kind,
                addr,
                data: out.data.clone(),
            });
        }
        for (addr, received, sent) in flows.0 {
            batch.flows.push(((c, addr, height, idx), (received, sent)));
            let s = batch.stats.entry((c, addr)).or_default();
            s.received += received;
            s.sent += sent;
            s.tx_count += 1;
        }
        batch.txids.push(((c, tx.txid.0), (height, idx)));
        n_in += inputs.len() as u64;
        n_out += outputs.len() as u64;
        let record = TxRecord {
            txid: tx.txid,
            coinbase: tx.coinbase,
            hogex: tx.hogex,
            size: tx.size,
            vsize: tx.vsize,
            inputs,
            outputs,
        };
        t.txs.insert((c, height, idx), record.encode().as_slice())?;
    }
    let tx_count = u32::try_from(block.txs.len()).unwrap_or(u32::MAX);
    let brec = BlockRecord {
        hash: b.hash,
        parent: b.parent,
        time: b.time,
        tx_count,
        inputs: n_in,
        outputs: n_out,
        first_addr_id,
        chainwork: b.chainwork.unwrap_or([0; 32]),
    };
    t.blocks.insert((c, height), brec.encode().as_slice())?;
    t.block_by_hash.insert((c, b.hash.0), height)?;
    rec.txs += u64::from(tx_count);
    rec.inputs += n_in;
    rec.outputs += n_out;
    batch.chains.insert(c, rec);
    batch.tips.insert(c, (height, b.hash));
    stats.blocks += 1;
    stats.txs += u64::from(tx_count);
    stats.inputs += n_in;
    stats.outputs += n_out;
    Ok(())
}

fn unwind_block(
    t: &mut Tables<'_>,
    c: u32,
    height: u32,
    brec: &BlockRecord,
) -> Result<(), StoreError> {
    let mut idx = brec.tx_count;
    let mut utxo_delta: i64 = 0;
    while idx > 0 {
        idx -= 1;
        let record = t
            .txs
            .remove((c, height, idx))?
            .map(|v| TxRecord::decode(v.value()))
            .transpose()?;
        let Some(tx) = record else {
            return Err(StoreError::Corrupt {
                table: "txs",
                what: format!("block at height {height} lacks tx {idx}"),
            });
        };
        let mut touched: Vec<u64> = Vec::new();
        for (vout, out) in tx.outputs.iter().enumerate() {
            if let Some(addr) = out.addr {
                let key = (c, tx.txid.0, u32::try_from(vout).unwrap_or(u32::MAX));
                if t.utxos.remove(key)?.is_some() {
                    utxo_delta -= 1;
                }
                if !touched.contains(&addr) {
                    touched.push(addr);
                }
            }
        }
        for input in tx.inputs.iter().rev() {
            let key = (c, input.prev_txid, input.prev_vout);
            t.spends.remove(key)?;
            let restored = (input.addr, input.value, input.prev_height, input.flags);
            if t.utxos.insert(key, restored)?.is_none() {
                utxo_delta += 1;
            }
            if !touched.contains(&input.addr) {
                touched.push(input.addr);
            }
        }
        for addr in touched {
            t.remove_flow(c, addr, height, idx)?;
        }
        t.txids.remove((c, tx.txid.0), (height, idx))?;
    }
    // Release the address ids this block introduced: it is as if it never came.
    let mut rec = t.chain_record(c)?;
    for id in brec.first_addr_id..rec.next_addr_id {
        if let Some(text) = t.addr_texts.remove((c, id))?.map(|v| v.value().to_string()) {
            t.addr_ids.remove((c, text.as_str()))?;
        }
    }
    rec.next_addr_id = brec.first_addr_id;
    rec.utxos = rec.utxos.saturating_add_signed(utxo_delta);
    rec.txs -= u64::from(brec.tx_count);
    rec.inputs -= brec.inputs;
    rec.outputs -= brec.outputs;
    t.chains.insert(c, rec.encode().as_slice())?;
    t.blocks.remove((c, height))?;
    t.block_by_hash.remove((c, brec.hash.0))?;
    Ok(())
}
