//! One UTXO chain's bulk data: the tx log, the address index, the adjacency and the UTXO set, written together in batches whose commit point is one redb transaction.
//!
//! The layout and the measurements behind it are in `docs/bulk-ingest-plan.md`. Each file is
//! append-only with its committed length in redb's `segments` table (see
//! [`segment`](crate::bulk::segment)), written and synced before the redb transaction that
//! records the batch's block rows commits; a crash before that commit leaves extra bytes that
//! the next open cuts off. Per chain, in `<data dir>/chains/<chain>/`:
//!
//! | file | what | module |
//! |---|---|---|
//! | `txs.log`, `txs.idx`, `spent_by.col`, `txid.runs*` | tx records with resolved inputs, spenders, txid lookup | [`txlog`](crate::bulk::txlog) |
//! | `addrs.log`, `arun-*` | payee of every address id, fingerprint runs | [`addr_index`](crate::bulk::addr_index) |
//! | `adj.log`, `heads.col` | per address: its txs with amounts and running totals | [`adjacency`] |
//! | `utxo.snap`, `utxo-run-*` | the UTXO set at a clean close (rebuilt from the log after a crash); its spilled part while ingest runs | [`utxo_set`](crate::bulk::utxo_set) |

pub(crate) mod adjacency;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};
use tracehound_core::{Chain, OutPoint, Payee, UtxoBlock};

use crate::bulk::addr_index::{
    ADDR_LOG, ADDR_RECORD, AddressIndex, AddressIndexOptions, committed_ids,
};
use crate::bulk::segment::{SEGMENTS, commit_len, committed_len};
use crate::bulk::txlog::{self, Committed, Input, Output, Record, TxLog};
use crate::bulk::utxo_set::{Unspent, UtxoKey, UtxoSet, UtxoSetOptions};
use crate::tables::{self, BlockRecord, COINBASE_FLAG, ChainRecord};
use crate::{BatchStats, StoreError};
use adjacency::{ADJ_LOG, Adjacency, ENTRY};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// `segments` row: adjacency entries whose heads are durable in `heads.col`.
const HEADS_APPLIED: &str = "heads.applied";
/// `segments` row: adjacency entry an unwind in progress cuts to, + 1 (0 = none).
const UNWIND_INTENT: &str = "unwind.intent";
/// The UTXO snapshot written at a clean close.
const UTXO_SNAPSHOT: &str = "utxo.snap";
/// Heads are made durable (an `msync`) at most this many entries apart, bounding the replay
/// after a crash.
const HEADS_FLUSH_EVERY: u64 = 16 << 20;
/// Live txid runs that trigger a merge of the newest ones.
const MAX_TXID_RUNS: usize = 8;

/// The directory of `chain`'s bulk files.
pub(crate) fn chain_dir(data_dir: &Path, chain: Chain) -> PathBuf {
    data_dir.join("chains").join(chain.name())
}

/// Flags of an output as inputs record them: script kind code, plus the coinbase bit.
fn output_flags(kind_code: u8, coinbase: bool) -> u8 {
    kind_code | if coinbase { COINBASE_FLAG } else { 0 }
}

/// The bulk data of one UTXO chain. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Ledger {
    chain: Chain,
    dir: PathBuf,
    addr_options: AddressIndexOptions,
    utxo_options: UtxoSetOptions,
    pub(crate) txlog: TxLog,
    pub(crate) addrs: AddressIndex,
    pub(crate) adj: Adjacency,
    /// Loaded on the first write (queries never need it).
    utxos: Option<UtxoSet>,
    /// Entries whose heads are durable, as committed in `heads.applied`.
    heads_applied: u64,
    /// Set while a write is under way: a ledger an error left dirty is dropped, not saved, and
    /// the next open recovers from what was committed.
    pub(crate) dirty: bool,
    /// Newest adjacency entry per address touched by the batch being written (kept between
    /// batches for its capacity).
    batch_heads: FastMap<u32, u64>,
}

fn adj_entries(
    seg: &impl ReadableTable<(u32, &'static str), u64>,
    c: u32,
) -> Result<u64, StoreError> {
    let bytes = committed_len(seg, c, ADJ_LOG)?;
    if bytes % ENTRY != 0 {
        return Err(StoreError::Corrupt {
            table: "segments",
            what: format!("{ADJ_LOG} has committed length {bytes}, not a multiple of {ENTRY}"),
        });
    }
    Ok(bytes / ENTRY)
}

impl Ledger {
    /// Opens `chain`'s files as the last commit left them, finishing the repair of the heads
    /// after a crash (see [`adjacency`]).
    pub(crate) fn open(
        db: &Database,
        data_dir: &Path,
        chain: Chain,
        addr_options: &AddressIndexOptions,
        utxo_options: &UtxoSetOptions,
    ) -> Result<Ledger, StoreError> {
        let c = chain.code();
        let dir = chain_dir(data_dir, chain);
        let (committed, ids, entries, applied, intent) = {
            let rtx = db.begin_read()?;
            let seg = rtx.open_table(SEGMENTS)?;
            (
                Committed::load(&seg, c)?,
                committed_ids(&seg, chain)?,
                adj_entries(&seg, c)?,
                committed_len(&seg, c, HEADS_APPLIED)?,
                committed_len(&seg, c, UNWIND_INTENT)?.checked_sub(1),
            )
        };
        let txlog = TxLog::open(&dir, &committed)?;
        let addrs = AddressIndex::open(&dir, chain, ids, addr_options)?;
        let redo_from = intent.map_or(applied, |i| i.min(applied));
        let adj = Adjacency::open(&dir, entries, redo_from)?;
        let mut ledger = Ledger {
            chain,
            dir,
            addr_options: addr_options.clone(),
            utxo_options: utxo_options.clone(),
            txlog,
            addrs,
            adj,
            utxos: None,
            heads_applied: applied,
            dirty: false,
            batch_heads: FastMap::default(),
        };
        if redo_from < entries || intent.is_some() || applied > entries {
            ledger.adj.flush_heads()?;
            let wtx = db.begin_write()?;
            commit_len(&wtx, c, HEADS_APPLIED, entries)?;
            commit_len(&wtx, c, UNWIND_INTENT, 0)?;
            wtx.commit()?;
            ledger.heads_applied = entries;
        }
        Ok(ledger)
    }

    /// The chain.
    pub(crate) fn chain(&self) -> Chain {
        self.chain
    }

    /// The UTXO set: the snapshot of the last clean close if it matches the committed log
    /// (consumed, so it can never be mistaken for a later state), else rebuilt from the log.
    fn load_utxos(&mut self, db: &Database) -> Result<(), StoreError> {
        if self.utxos.is_some() {
            return Ok(());
        }
        let path = self.dir.join(UTXO_SNAPSHOT);
        let loaded = UtxoSet::load(&path, self.txlog.tx_count(), &self.dir, &self.utxo_options)?;
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| StoreError::Segment {
                path: path.clone(),
                reason: format!("remove consumed snapshot: {e}"),
            })?;
        }
        let set = match loaded {
            Some(set) => set,
            None => self.rebuild_utxos(db)?,
        };
        self.utxos = Some(set);
        Ok(())
    }

    /// The unspent outputs, from the log alone: every output with a payee that no committed
    /// input spends.
    fn rebuild_utxos(&self, db: &Database) -> Result<UtxoSet, StoreError> {
        let txs = self.txlog.tx_count();
        if txs > 0 {
            tracing::info!(chain = %self.chain, txs, "rebuilding the UTXO set from the tx log");
        }
        let outputs = self.txlog.output_count();
        let mut spent = vec![0u64; usize::try_from(outputs.div_ceil(64)).unwrap_or(0)];
        self.txlog.for_each(0, txs, |_, _, rec| {
            for i in &rec.inputs {
                if let Some(w) = spent.get_mut((i.prev_out / 64) as usize) {
                    *w |= 1 << (i.prev_out % 64);
                }
            }
            Ok(())
        })?;
        let starts = block_starts(db, self.chain)?;
        let mut block = 0usize;
        let mut set = UtxoSet::new(&self.dir, &self.utxo_options)?;
        self.txlog.for_each(0, txs, |seq, first_out, rec| {
            while starts
                .get(block + 1)
                .is_some_and(|&(first, _)| first <= seq)
            {
                block += 1;
            }
            let height = starts.get(block).map_or(0, |&(_, h)| h);
            for (op, u) in unspent_outputs(&rec, first_out, height) {
                let is_spent = spent
                    .get((u.out_seq / 64) as usize)
                    .is_some_and(|w| w & (1 << (u.out_seq % 64)) != 0);
                if !is_spent {
                    set.insert(op, u)?;
                }
            }
            Ok(())
        })?;
        Ok(set)
    }

    /// Connects `blocks` (all of this chain, in order) and commits them with their block rows.
    pub(crate) fn apply(
        &mut self,
        db: &Database,
        blocks: &[UtxoBlock],
        stats: &mut BatchStats,
    ) -> Result<(), StoreError> {
        *stats += self.apply_stream(db, std::iter::once(blocks), |_, _| {})?;
        Ok(())
    }

    /// Connects and commits a stream of batches, each one transaction, calling
    /// `on_commit(batch, its stats)` after each commit.
    ///
    /// Two stages overlap: while batch k is resolved, encoded and committed on this thread,
    /// batch k + 1's addresses are interned on another (interning is in chain order but needs
    /// nothing from batch k's resolution). Batch k's new address records are synced before its
    /// commit and its committed id count is recorded explicitly, so ids interned ahead never
    /// count before their own batch commits.
    pub(crate) fn apply_stream<B: AsRef<[UtxoBlock]> + Send + Sync>(
        &mut self,
        db: &Database,
        batches: impl Iterator<Item = B>,
        mut on_commit: impl FnMut(&[UtxoBlock], BatchStats),
    ) -> Result<BatchStats, StoreError> {
        self.dirty = true;
        self.load_utxos(db)?;
        let mut total = BatchStats::default();
        let mut pending: Option<(B, Vec<u64>)> = None;
        // The batch committed last round: freed on the interning thread, off the critical path.
        let mut retired: Option<B> = None;
        let mut batches = batches.fuse();
        loop {
            let next = batches.next();
            if next.is_none() && pending.is_none() {
                break;
            }
            let Ledger {
                chain,
                txlog,
                addrs,
                adj,
                utxos,
                heads_applied,
                batch_heads,
                ..
            } = self;
            if pending.is_some() {
                addrs.sync()?;
            }
            let ids_end = addrs.len();
            let Some(utxos) = utxos.as_mut() else {
                return Err(StoreError::Corrupt {
                    table: "utxo set",
                    what: "not loaded before a write".into(),
                });
            };
            let (interned, applied) = std::thread::scope(|s| {
                let old = retired.take();
                let intern = next.as_ref().map(|blocks| {
                    std::thread::Builder::new()
                        .name("address-interning".into())
                        .spawn_scoped(s, move || {
                            let ids = intern(addrs, blocks.as_ref());
                            drop(old);
                            ids
                        })
                });
                let applied = pending.as_ref().map(|(blocks, ids)| {
                    let mut books = Books {
                        chain: *chain,
                        txlog,
                        adj,
                        utxos,
                        heads_applied,
                        heads: batch_heads,
                    };
                    books.commit(db, blocks.as_ref(), ids, ids_end)
                });
                let interned = intern.map(|h| {
                    h.map_err(|e| StoreError::Segment {
                        path: PathBuf::from(ADDR_LOG),
                        reason: format!("cannot start the interning thread: {e}"),
                    })?
                    .join()
                    .map_err(|_| StoreError::Segment {
                        path: PathBuf::from(ADDR_LOG),
                        reason: "the interning thread panicked".into(),
                    })?
                });
                (interned, applied)
            });
            if let Some(applied) = applied {
                let s = applied?;
                total += s;
                if let Some((blocks, _)) = &pending {
                    on_commit(blocks.as_ref(), s);
                }
            }
            retired = pending.take().map(|(b, _)| b);
            pending = match (next, interned) {
                (Some(blocks), Some(ids)) => Some((blocks, ids?)),
                _ => None,
            };
        }
        self.dirty = false;
        Ok(total)
    }
}

/// Interns the payees of every output of `blocks`, in order.
fn intern(addrs: &mut AddressIndex, blocks: &[UtxoBlock]) -> Result<Vec<u64>, StoreError> {
    let payees: Vec<Payee> = blocks
        .iter()
        .flat_map(|b| &b.txs)
        .flat_map(|t| &t.outputs)
        .filter_map(|o| o.payee)
        .collect();
    addrs.intern_batch(&payees)
}

/// What resolving and committing a batch writes: everything but the address index.
struct Books<'a> {
    chain: Chain,
    txlog: &'a mut TxLog,
    adj: &'a mut Adjacency,
    utxos: &'a mut UtxoSet,
    heads_applied: &'a mut u64,
    heads: &'a mut FastMap<u32, u64>,
}

impl Books<'_> {
    /// Resolves and appends `blocks` (whose output payees have the ids `ids`; the address index
    /// holds `ids_end` ids, synced) and commits them.
    fn commit(
        &mut self,
        db: &Database,
        blocks: &[UtxoBlock],
        ids: &[u64],
        ids_end: u64,
    ) -> Result<BatchStats, StoreError> {
        let mut stats = BatchStats::default();
        let wtx = db.begin_write()?;
        self.append_blocks(&wtx, blocks, ids, &mut stats)?;
        crate::link_facts::put(
            &wtx,
            self.chain,
            blocks.iter().map(|b| (b.block.height, b.links.as_slice())),
        )?;
        commit_len(
            &wtx,
            self.chain.code(),
            ADDR_LOG,
            ids_end * ADDR_RECORD as u64,
        )?;
        wtx.commit()?;
        self.adj
            .set_heads(self.heads.iter().map(|(&a, &i)| (a, i)))?;
        Ok(stats)
    }

    fn append_blocks(
        &mut self,
        wtx: &WriteTransaction,
        blocks: &[UtxoBlock],
        ids: &[u64],
        stats: &mut BatchStats,
    ) -> Result<(), StoreError> {
        let chain = self.chain;
        let c = chain.code();
        let mut chains = wtx.open_table(tables::CHAINS)?;
        let mut block_rows = wtx.open_table(tables::BLOCKS)?;
        let mut by_hash = wtx.open_table(tables::BLOCK_BY_HASH)?;
        let mut by_tx = wtx.open_table(tables::BLOCK_BY_TX)?;
        let (mut rec, mut tip) = tables::record_and_tip(&chains, &block_rows, c)?;

        let mut ids = ids.iter().copied();
        let utxos = &mut *self.utxos;
        let mut record = Record {
            txid: tracehound_core::Hash32::ZERO,
            flags: 0,
            size: 0,
            vsize: 0,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        let heads = &mut *self.heads;
        heads.clear();
        let mut flows: Vec<(u32, u64, u64)> = Vec::new();
        let mut keys: VecDeque<UtxoKey> = VecDeque::new();
        let mut next_addr_id = rec.next_addr_id;
        let batch_adj_start = self.adj.len();

        for block in blocks {
            let b = &block.block;
            let height = b.height;
            let connects = b.chain == chain
                && match tip {
                    None => height == 0,
                    Some((h, hash)) => height == h + 1 && b.parent == hash,
                };
            if !connects {
                return Err(StoreError::NotConnected {
                    chain: b.chain,
                    height,
                    hash: b.hash,
                    parent: b.parent,
                    tip: tip.map_or_else(|| "empty".into(), |(h, hash)| format!("{h} {hash}")),
                });
            }
            let first_tx = self.txlog.tx_count();
            let adj_start = self.adj.len();
            let first_addr_id = next_addr_id;
            let (mut n_in, mut n_out) = (0u64, 0u64);
            keys.clear();
            for ahead in block.txs.iter().take(PREFETCH_TXS) {
                prefetch_utxos(utxos, ahead, &mut keys);
            }
            for (t, tx) in block.txs.iter().enumerate() {
                if let Some(ahead) = block.txs.get(t + PREFETCH_TXS) {
                    prefetch_utxos(utxos, ahead, &mut keys);
                }
                let first_out = self.txlog.output_count();
                flows.clear();
                let mut inputs = std::mem::take(&mut record.inputs);
                inputs.clear();
                for (i, input) in tx.inputs.iter().enumerate() {
                    let key = keys
                        .pop_front()
                        .unwrap_or_else(|| utxos.key(&input.prevout));
                    let Some(u) = utxos.spend_keyed(&key) else {
                        return Err(StoreError::UnknownPrevout {
                            chain,
                            height,
                            txid: tx.txid,
                            input: i,
                            prevout: input.prevout,
                        });
                    };
                    inputs.push(Input {
                        addr: Some(u.addr),
                        value: u.value,
                        prev_out: u.out_seq,
                        prev_height: u.height,
                        flags: u.flags,
                    });
                    add_flow(&mut flows, addr32(u.addr)?, 0, u.value);
                }
                let mut outputs = std::mem::take(&mut record.outputs);
                outputs.clear();
                for (vout, o) in tx.outputs.iter().enumerate() {
                    let outpoint = OutPoint {
                        txid: tx.txid,
                        vout: vout as u32,
                    };
                    let key = keys.pop_front().unwrap_or_else(|| utxos.key(&outpoint));
                    let value =
                        u64::try_from(o.value.units()).map_err(|_| StoreError::ValueTooLarge {
                            chain,
                            txid: tx.txid,
                            vout,
                            value: o.value.units(),
                        })?;
                    let addr = match o.payee {
                        Some(_) => {
                            let id = ids.next().ok_or_else(|| StoreError::Corrupt {
                                table: ADDR_LOG,
                                what: "the address index returned fewer ids than payees".into(),
                            })?;
                            next_addr_id = next_addr_id.max(id + 1);
                            // A BIP30 duplicate txid replaces its older twin, as in Core.
                            utxos.insert_keyed(
                                &key,
                                &outpoint,
                                Unspent {
                                    out_seq: first_out + vout as u64,
                                    addr: id,
                                    value,
                                    height,
                                    flags: output_flags(o.kind.code(), tx.coinbase),
                                },
                            )?;
                            add_flow(&mut flows, addr32(id)?, value, 0);
                            Some(id)
                        }
                        None => None,
                    };
                    outputs.push(Output {
                        addr,
                        value,
                        kind: o.kind,
                        data: o.data.clone(),
                    });
                }
                n_in += inputs.len() as u64;
                n_out += outputs.len() as u64;
                // One record reused for every tx: its vectors keep their capacity.
                record = Record {
                    txid: tx.txid,
                    flags: if tx.coinbase { txlog::FLAG_COINBASE } else { 0 }
                        | if tx.hogex { txlog::FLAG_HOGEX } else { 0 },
                    size: tx.size,
                    vsize: tx.vsize,
                    inputs,
                    outputs,
                };
                let (seq, _) = self.txlog.append_tx(&record)?;
                for i in &record.inputs {
                    self.txlog.mark_spent(i.prev_out, seq)?;
                }
                for &(addr, received, sent) in &flows {
                    // One probe of the batch's heads: read the previous head and replace it.
                    match heads.entry(addr) {
                        Entry::Occupied(mut head) => {
                            let prev = *head.get();
                            head.insert(self.adj.append(addr, seq, received, sent, Some(prev))?);
                        }
                        Entry::Vacant(head) => {
                            let prev = self.adj.head(addr);
                            head.insert(self.adj.append(addr, seq, received, sent, prev)?);
                        }
                    }
                }
            }
            let tx_count = u32::try_from(block.txs.len()).unwrap_or(u32::MAX);
            let row = BlockRecord {
                hash: b.hash,
                parent: b.parent,
                time: b.time,
                tx_count,
                inputs: n_in,
                outputs: n_out,
                first_addr_id,
                first_tx,
                adj_start,
                chainwork: b.chainwork.unwrap_or([0; 32]),
            };
            block_rows.insert((c, height), row.encode().as_slice())?;
            by_hash.insert((c, b.hash.0), height)?;
            by_tx.insert((c, first_tx), height)?;
            rec.txs += u64::from(tx_count);
            rec.inputs += n_in;
            rec.outputs += n_out;
            tip = Some((height, b.hash));
            stats.blocks += 1;
            stats.txs += u64::from(tx_count);
            stats.inputs += n_in;
            stats.outputs += n_out;
        }
        rec.next_addr_id = next_addr_id;
        rec.utxos = utxos.len() as u64;
        chains.insert(c, rec.encode().as_slice())?;

        if self.txlog.live_runs() >= MAX_TXID_RUNS {
            self.txlog.merge_runs(MAX_TXID_RUNS / 2)?;
        }
        self.txlog.sync()?.commit(wtx, c)?;
        let adj_bytes = self.adj.sync()?;
        commit_len(wtx, c, ADJ_LOG, adj_bytes)?;
        // The heads of every earlier batch are in the file: make them durable now and then, so
        // a crash replays a bounded tail.
        let before = batch_adj_start;
        if before.saturating_sub(*self.heads_applied) >= HEADS_FLUSH_EVERY {
            self.adj.flush_heads()?;
            commit_len(wtx, c, HEADS_APPLIED, before)?;
            *self.heads_applied = before;
        }
        Ok(())
    }
}

impl Ledger {
    /// Removes every block above `keep` (all blocks for `None`), newest first, leaving the files
    /// as if those blocks had never come. Returns the number of blocks removed.
    pub(crate) fn unwind(&mut self, db: &Database, keep: Option<u32>) -> Result<u64, StoreError> {
        let c = self.chain.code();
        let from = keep.map_or(0, |h| h + 1);
        let removed: Vec<(u32, BlockRecord)> = {
            let rtx = db.begin_read()?;
            let t = rtx.open_table(tables::BLOCKS)?;
            t.range((c, from)..=(c, u32::MAX))?
                .map(|r| {
                    let (k, v) = r?;
                    Ok((k.value().1, BlockRecord::decode(v.value())?))
                })
                .collect::<Result<_, StoreError>>()?
        };
        let Some((_, cut)) = removed.first().copied() else {
            return Ok(0);
        };
        self.dirty = true;
        self.load_utxos(db)?;

        // 1. Heads durable as committed, and the intent recorded: a crash from here on is
        //    repaired on open by replaying the heads forward from the cut.
        self.adj.flush_heads()?;
        let wtx = db.begin_write()?;
        commit_len(&wtx, c, HEADS_APPLIED, self.adj.len())?;
        commit_len(&wtx, c, UNWIND_INTENT, cut.adj_start + 1)?;
        wtx.commit()?;
        self.heads_applied = self.adj.len();

        // 2. In memory and in place: the UTXO set and the heads go back to the cut.
        self.undo_utxos(db, cut.first_tx)?;
        self.adj.undo_heads(cut.adj_start)?;
        self.adj.flush_heads()?;
        #[cfg(test)]
        if tests::CRASH_MID_UNWIND.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Segment {
                path: self.dir.clone(),
                reason: "simulated crash in the middle of an unwind".into(),
            });
        }

        // 3. The cut itself, one transaction.
        let point = self.txlog.unwind_point(cut.first_tx)?;
        let wtx = db.begin_write()?;
        {
            point.commit(&wtx, c)?;
            commit_len(&wtx, c, ADDR_LOG, cut.first_addr_id * ADDR_RECORD as u64)?;
            commit_len(&wtx, c, ADJ_LOG, cut.adj_start * ENTRY)?;
            commit_len(&wtx, c, HEADS_APPLIED, cut.adj_start)?;
            commit_len(&wtx, c, UNWIND_INTENT, 0)?;
            crate::link_facts::remove_from(&wtx, self.chain, from)?;
            let mut blocks = wtx.open_table(tables::BLOCKS)?;
            let mut by_hash = wtx.open_table(tables::BLOCK_BY_HASH)?;
            let mut by_tx = wtx.open_table(tables::BLOCK_BY_TX)?;
            let mut chains = wtx.open_table(tables::CHAINS)?;
            let mut rec = chains
                .get(c)?
                .map(|v| ChainRecord::decode(v.value()))
                .transpose()?
                .unwrap_or_default();
            for (h, b) in &removed {
                blocks.remove((c, *h))?;
                by_hash.remove((c, b.hash.0))?;
                by_tx.remove((c, b.first_tx))?;
                rec.txs -= u64::from(b.tx_count);
                rec.inputs -= b.inputs;
                rec.outputs -= b.outputs;
            }
            rec.next_addr_id = cut.first_addr_id;
            rec.utxos = self.utxos.as_ref().map_or(0, |u| u.len() as u64);
            if keep.is_none() {
                chains.remove(c)?;
            } else {
                chains.insert(c, rec.encode().as_slice())?;
            }
        }
        wtx.commit()?;
        self.heads_applied = cut.adj_start;

        // 4. Cut the files (a crash before this leaves them longer than committed: cut on open).
        self.txlog.truncate_to(point.txs, point.outputs)?;
        self.adj.truncate(cut.adj_start)?;
        self.addrs.release()?;
        self.addrs =
            AddressIndex::open(&self.dir, self.chain, cut.first_addr_id, &self.addr_options)?;
        self.dirty = false;
        Ok(removed.len() as u64)
    }

    /// Takes the txs from `first_tx` on out of the UTXO set, newest first: their outputs leave
    /// it and the outputs they spent come back.
    fn undo_utxos(&mut self, db: &Database, first_tx: u64) -> Result<(), StoreError> {
        if first_tx == 0 {
            self.utxos = None;
            self.utxos = Some(UtxoSet::new(&self.dir, &self.utxo_options)?);
            return Ok(());
        }
        let mut undone = Vec::new();
        self.txlog
            .for_each(first_tx, self.txlog.tx_count(), |_, _, rec| {
                undone.push(rec);
                Ok(())
            })?;
        let mut restore = Vec::new();
        for rec in undone.iter().rev() {
            for i in &rec.inputs {
                let tx = self.txlog.tx_of_output(i.prev_out)?;
                let vout = i.prev_out - self.txlog.first_output(tx)?;
                restore.push((
                    OutPoint {
                        txid: self.txlog.txid_of(tx)?,
                        vout: u32::try_from(vout).unwrap_or(u32::MAX),
                    },
                    Unspent {
                        out_seq: i.prev_out,
                        addr: i.addr.unwrap_or(u64::MAX),
                        value: i.value,
                        height: i.prev_height,
                        flags: i.flags,
                    },
                ));
            }
        }
        // A BIP30 duplicate (a tx whose id an older, kept tx has) overwrote that twin's unspent
        // outputs when it came; with the duplicate gone, they are unspent again.
        let mut twins: Vec<Vec<(OutPoint, Unspent)>> = Vec::with_capacity(undone.len());
        let mut starts = None;
        for rec in undone.iter().rev() {
            let older = self
                .txlog
                .find_txid(&rec.txid)?
                .into_iter()
                .filter(|&s| s < first_tx)
                .max();
            let mut back = Vec::new();
            if let Some(twin) = older {
                let starts = match &starts {
                    Some(s) => s,
                    None => starts.insert(block_starts(db, self.chain)?),
                };
                let height = starts
                    .iter()
                    .rev()
                    .find(|&&(first, _)| first <= twin)
                    .map_or(0, |&(_, h)| h);
                let twin_rec = self.txlog.tx(twin)?;
                let first_out = self.txlog.first_output(twin)?;
                for (op, u) in unspent_outputs(&twin_rec, first_out, height) {
                    if self.txlog.spender(u.out_seq)?.is_none() {
                        back.push((op, u));
                    }
                }
            }
            twins.push(back);
        }
        let Some(set) = self.utxos.as_mut() else {
            return Err(StoreError::Corrupt {
                table: "utxo set",
                what: "not loaded before an unwind".into(),
            });
        };
        let mut r = restore.into_iter();
        for (rec, back) in undone.iter().rev().zip(twins) {
            for vout in 0..rec.outputs.len() {
                set.spend(&OutPoint {
                    txid: rec.txid,
                    vout: vout as u32,
                });
            }
            for (op, u) in back {
                set.insert(op, u)?;
            }
            for (op, u) in r.by_ref().take(rec.inputs.len()) {
                set.insert(op, u)?;
            }
        }
        Ok(())
    }

    /// Makes everything durable for a clean stop: the heads, and the UTXO set as a snapshot.
    pub(crate) fn close(&mut self, db: &Database) -> Result<(), StoreError> {
        if self.dirty {
            return Ok(());
        }
        self.addrs.settle()?;
        if self.heads_applied != self.adj.len() {
            self.adj.flush_heads()?;
            let wtx = db.begin_write()?;
            commit_len(&wtx, self.chain.code(), HEADS_APPLIED, self.adj.len())?;
            wtx.commit()?;
            self.heads_applied = self.adj.len();
        }
        if let Some(set) = &self.utxos {
            set.save(&self.dir.join(UTXO_SNAPSHOT), self.txlog.tx_count())?;
        }
        Ok(())
    }
}

/// (first tx seq, height) of every stored block of `chain`, ascending.
pub(crate) fn block_starts(db: &Database, chain: Chain) -> Result<Vec<(u64, u32)>, StoreError> {
    let c = chain.code();
    let rtx = db.begin_read()?;
    let t = rtx.open_table(tables::BLOCK_BY_TX)?;
    t.range((c, 0)..=(c, u64::MAX))?
        .map(|r| {
            let (k, v) = r?;
            Ok((k.value().1, v.value()))
        })
        .collect()
}

/// The outputs of logged tx `rec` (its first output seq `first_out`, in a block at `height`)
/// that pay an address, as UTXO set entries.
fn unspent_outputs(
    rec: &Record,
    first_out: u64,
    height: u32,
) -> impl Iterator<Item = (OutPoint, Unspent)> + '_ {
    let coinbase = rec.flags & txlog::FLAG_COINBASE != 0;
    rec.outputs.iter().enumerate().filter_map(move |(vout, o)| {
        let addr = o.addr?;
        Some((
            OutPoint {
                txid: rec.txid,
                vout: vout as u32,
            },
            Unspent {
                out_seq: first_out + vout as u64,
                addr,
                value: o.value,
                height,
                flags: output_flags(o.kind.code(), coinbase),
            },
        ))
    })
}

/// How many txs ahead the UTXO entries an input or output will touch are prefetched.
const PREFETCH_TXS: usize = 4;

/// Prefetches the UTXO set's entries `tx` will spend and create, queueing their keys (inputs,
/// then outputs) for when `tx` is connected.
fn prefetch_utxos(utxos: &UtxoSet, tx: &tracehound_core::UtxoTx, keys: &mut VecDeque<UtxoKey>) {
    let outpoints = (0..tx.outputs.len()).map(|vout| OutPoint {
        txid: tx.txid,
        vout: vout as u32,
    });
    for op in tx.inputs.iter().map(|i| i.prevout).chain(outpoints) {
        let key = utxos.key(&op);
        utxos.prefetch(&key);
        keys.push_back(key);
    }
}

fn add_flow(flows: &mut Vec<(u32, u64, u64)>, addr: u32, received: u64, sent: u64) {
    match flows.iter_mut().find(|f| f.0 == addr) {
        Some(f) => {
            // Outputs and inputs of one tx sum below any chain's supply: no overflow.
            f.1 = f.1.saturating_add(received);
            f.2 = f.2.saturating_add(sent);
        }
        None => flows.push((addr, received, sent)),
    }
}

fn addr32(id: u64) -> Result<u32, StoreError> {
    u32::try_from(id).map_err(|_| StoreError::Corrupt {
        table: ADDR_LOG,
        what: format!("address id {id} exceeds 32 bits"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tracehound_core::{Chain, UtxoBlock};

    use crate::{Store, StoreOptions};

    /// Makes the next unwind stop, as a crash would, after its intent is committed and the
    /// heads are undone, before the cut commits.
    pub(crate) static CRASH_MID_UNWIND: AtomicBool = AtomicBool::new(false);

    fn blocks() -> Vec<UtxoBlock> {
        tracehound_btc::fixtures::best_chain_blocks(
            &tracehound_btc::fixtures::shared_data("btc/blk"),
            Chain::BitcoinMainnet,
        )
    }

    fn open(dir: &std::path::Path) -> Store {
        Store::open(dir, &StoreOptions::default()).unwrap()
    }

    /// A hand-made tx: (txid byte, spent (txid byte, vout)s, output count).
    type HandTx = (u8, Vec<(u8, u32)>, u32);

    /// A chain of hand-made blocks, each (its coinbase's txid byte, its other txs).
    fn hand_chain(spec: &[(u8, Vec<HandTx>)]) -> Vec<UtxoBlock> {
        use tracehound_core::{
            Amount, Block, Hash32, OutPoint, Payee, PayeeRepr, ScriptKind, UtxoInput, UtxoOutput,
            UtxoTx,
        };
        let chain = Chain::BitcoinRegtest;
        let id = |b: u8| Hash32([b; 32]);
        let tx = |txid: u8, spends: &[(u8, u32)], outs: u32, index: u32| UtxoTx {
            txid: id(txid),
            index,
            coinbase: spends.is_empty(),
            hogex: false,
            size: 100,
            vsize: 100,
            inputs: spends
                .iter()
                .map(|&(t, vout)| UtxoInput {
                    prevout: OutPoint { txid: id(t), vout },
                    sequence: 0,
                    resolved: None,
                })
                .collect(),
            outputs: (0..outs)
                .map(|o| UtxoOutput {
                    value: Amount::from_units(u128::from(1000 + o)),
                    kind: ScriptKind::P2pkh,
                    payee: Some(Payee {
                        chain,
                        repr: PayeeRepr::KeyHash([txid.wrapping_add(o as u8); 20]),
                    }),
                    data: None,
                })
                .collect(),
        };
        let mut parent = Hash32::ZERO;
        spec.iter()
            .enumerate()
            .map(|(h, (coinbase, txs))| {
                let hash = Hash32([0xb0 + h as u8; 32]);
                let mut all = vec![tx(*coinbase, &[], 2, 0)];
                for (i, (txid, spends, outs)) in txs.iter().enumerate() {
                    all.push(tx(*txid, spends, *outs, i as u32 + 1));
                }
                let b = UtxoBlock {
                    block: Block {
                        chain,
                        height: h as u32,
                        hash,
                        parent,
                        time: 1_700_000_000 + h as u64,
                        chainwork: None,
                    },
                    txs: all,
                    links: Vec::new(),
                };
                parent = hash;
                b
            })
            .collect()
    }

    /// A BIP30 duplicate coinbase (block 2 repeats block 0's txid) overwrites its twin's
    /// unspent output; unwinding the duplicate must bring the twin's output back, so a new
    /// branch can spend it, exactly as in a store that never saw the duplicate.
    #[test]
    fn unwinding_a_bip30_duplicate_restores_the_twin_it_overwrote() {
        // Block 1 spends output 1 of coinbase 0x10; output 0 stays unspent until the duplicate.
        let stale = hand_chain(&[
            (0x10, vec![]),
            (0x11, vec![(0x21, vec![(0x10, 1)], 1)]),
            (0x10, vec![]),
            (0x13, vec![(0x23, vec![(0x10, 0)], 1)]),
        ]);
        let mut branch = hand_chain(&[
            (0x10, vec![]),
            (0x11, vec![(0x21, vec![(0x10, 1)], 1)]),
            (0x12, vec![(0x22, vec![(0x10, 0)], 1)]),
        ]);
        for b in &mut branch[2..] {
            b.block.hash = tracehound_core::Hash32([0xc0 + b.block.height as u8; 32]);
        }
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.apply_utxo_blocks(&stale).unwrap();
        s.unwind_to(Chain::BitcoinRegtest, 1).unwrap();
        s.apply_utxo_blocks(&branch[2..])
            .expect("the twin's output is unspent again");
        let fresh = tempfile::tempdir().unwrap();
        let f = open(fresh.path());
        f.apply_utxo_blocks(&branch).unwrap();
        assert_eq!(s.digest().unwrap(), f.digest().unwrap());
        // And the spend resolved to the twin (block 0's output 0, height 0).
        let spend = s
            .tx(
                Some(Chain::BitcoinRegtest),
                &tracehound_core::Hash32([0x22; 32]),
            )
            .unwrap();
        assert_eq!(spend.len(), 1);
        assert_eq!(
            (spend[0].inputs[0].prev_height, spend[0].inputs[0].coinbase),
            (0, true)
        );
    }

    /// A UTXO set held in a tiny RAM map spills to runs and merges them all the time; resolving
    /// from them must give a store identical to one whose set never left RAM, across batches,
    /// reopens (snapshots of spilled sets), an unwind and a rebuild from the log.
    #[test]
    fn a_utxo_set_that_spills_to_disk_gives_the_same_store() {
        use crate::bulk::utxo_set::UtxoSetOptions;
        let blocks = blocks();
        let reference = tempfile::tempdir().unwrap();
        open(reference.path()).apply_utxo_blocks(&blocks).unwrap();
        let reference = open(reference.path());

        let tiny = StoreOptions {
            utxo: UtxoSetOptions {
                ram_entries: 40,
                max_runs: 2,
            },
            ..StoreOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let chain_dir = super::chain_dir(dir.path(), Chain::BitcoinMainnet);
        for part in blocks.chunks(97) {
            let s = Store::open(dir.path(), &tiny).unwrap();
            s.apply_utxo_blocks(part).unwrap();
            let spilled = std::fs::read_dir(&chain_dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("utxo-run-")
                })
                .count();
            assert!(spilled > 0, "the set lives partly on disk");
        }
        let s = Store::open(dir.path(), &tiny).unwrap();
        assert_eq!(s.digest().unwrap(), reference.digest().unwrap());
        assert!(
            s.addresses(Chain::BitcoinMainnet).unwrap()
                == reference.addresses(Chain::BitcoinMainnet).unwrap()
        );
        // Unwinding restores spent outputs into a spilled set; re-applying resolves them.
        assert_eq!(
            s.unwind_to(Chain::BitcoinMainnet, 150).unwrap(),
            blocks.len() as u64 - 151
        );
        s.apply_utxo_blocks(&blocks[151..]).unwrap();
        assert_eq!(s.digest().unwrap(), reference.digest().unwrap());
        drop(s);
        // A missing snapshot (as after a crash) is rebuilt from the log, spilling as it goes.
        std::fs::remove_file(chain_dir.join(super::UTXO_SNAPSHOT)).unwrap();
        let s = Store::open(dir.path(), &tiny).unwrap();
        s.unwind_to(Chain::BitcoinMainnet, 200).unwrap();
        s.apply_utxo_blocks(&blocks[201..]).unwrap();
        assert_eq!(s.digest().unwrap(), reference.digest().unwrap());
    }

    #[test]
    fn a_crash_in_the_middle_of_an_unwind_is_repaired_on_open() {
        let blocks = blocks();
        let dir = tempfile::tempdir().unwrap();
        open(dir.path()).apply_utxo_blocks(&blocks).unwrap();
        let before = open(dir.path()).digest().unwrap();
        // Totals walk each address's list from its head: they show whether heads are right.
        let before_addrs = open(dir.path()).addresses(Chain::BitcoinMainnet).unwrap();
        {
            let s = open(dir.path());
            CRASH_MID_UNWIND.store(true, Ordering::SeqCst);
            let crashed = s.unwind_to(Chain::BitcoinMainnet, 300);
            CRASH_MID_UNWIND.store(false, Ordering::SeqCst);
            assert!(crashed.is_err());
        }
        // Reopening repairs the half-undone heads: the store is as before the unwind.
        let s = open(dir.path());
        assert_eq!(s.digest().unwrap(), before);
        assert!(s.addresses(Chain::BitcoinMainnet).unwrap() == before_addrs);
        // And the unwind, run again, leaves what a fresh ingest of the kept blocks gives.
        assert_eq!(s.unwind_to(Chain::BitcoinMainnet, 300).unwrap(), 299);
        let fresh = tempfile::tempdir().unwrap();
        open(fresh.path())
            .apply_utxo_blocks(&blocks[..=300])
            .unwrap();
        let fresh = open(fresh.path());
        assert_eq!(s.digest().unwrap(), fresh.digest().unwrap());
        assert!(
            s.addresses(Chain::BitcoinMainnet).unwrap()
                == fresh.addresses(Chain::BitcoinMainnet).unwrap()
        );
    }
}
