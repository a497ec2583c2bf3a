//! The append-only per-chain tx storage of the bulk layout (`docs/bulk-ingest-plan.md`).
//!
//! One [`TxLog`] lives in one directory per chain and holds:
//!
//! | file | content |
//! |---|---|
//! | `txs.log` | one variable-length [`Record`] per tx, in tx seq order (format below) |
//! | `txs.idx` | per tx seq, 16 bytes: offset of its record in `txs.log` (u64 LE), seq of its first output (u64 LE) |
//! | `spent_by.col` | per output seq, 8 bytes: spender tx seq + 1 (u64 LE), 0 = none seen. Written in place; a *checked hint* |
//! | `txid.runs` | entries of 16 bytes, (txid prefix u64 LE, tx seq u64 LE), one sorted run per synced batch |
//! | `txid.runs.idx` | per run, 32 bytes: first entry, end entry, first tx seq, end tx seq (u64 LE each) |
//!
//! Tx seqs and output seqs are dense, per chain, in chain order.
//!
//! # Commit protocol
//! Every file counts only up to the committed length recorded for it in redb (see
//! [`segment`](super::segment)). A batch is: [`TxLog::append_tx`] and [`TxLog::mark_spent`] for
//! each tx, then [`TxLog::sync`], which writes and syncs the files and returns the
//! [`Committed`] lengths; the caller stores them with [`Committed::commit`] in the same redb write
//! transaction as the batch's block rows. [`TxLog::open`] cuts every file back to the committed
//! lengths, so a crash anywhere before the redb commit leaves the append-only files byte for byte
//! as the previous batch left them.
//!
//! `spent_by.col` is the one file written in place, and it needs no undo log: a value there is a
//! hint that counts only if the named spender is in the log *and* its record has an input whose
//! previous output is that output ([`TxLog::spender`] checks both). "In the log" means committed
//! after a reopen, and for the writer also the txs it appended since. A hint written by a batch
//! that never committed, or by txs later unwound, names a tx that is gone or one that does not
//! spend the output, and so is ignored: after a crash the bytes of `spent_by.col` may differ from
//! a clean run's, what [`TxLog::spender`] reports does not. A committed spend is never
//! overwritten while its spender is committed, because a valid chain spends each output once.
//!
//! # Unwinding
//! To unwind committed blocks back to tx seq `t` (a block boundary):
//! 1. commit [`TxLog::unwind_point`]`(t)` in redb (with the block rows' removal);
//! 2. call [`TxLog::truncate_to`], which cuts the files and clears the hints the dropped txs wrote;
//! 3. append the replacement blocks as ordinary batches.
//!
//! A crash after step 1 leaves files longer than committed, which [`TxLog::open`] cuts; the
//! reverse order could leave files shorter than committed, which is damage. Unwinding txs that
//! were appended but not yet committed needs only step 2.
//!
//! # Record format (`txs.log`)
//! Numbers are LEB128 varints unless marked otherwise:
//! `txid [32 bytes] | flags u8 | size | vsize | n_inputs | n_outputs`, then per input
//! `address id + 1 (0 = none) | value | prev output seq | prev height | flags u8`, then per output
//! `address id + 1 (0 = none) | value | script kind u8 | data length + 1 (0 = none) | data`, and
//! last a 4-byte LE checksum of everything before it. A record's length is the distance to the
//! next record's offset in `txs.idx` (or to the end of the log). A record that fails to decode,
//! fails its checksum or disagrees with `txs.idx` is reported with the file and offset.
//!
//! # Txid lookups
//! Each sync appends the batch's (txid prefix, seq) pairs as one sorted run; the prefix is the
//! first 8 bytes of the txid (display order) read little-endian. A lookup searches every live
//! run (an interpolation search: prefixes are uniform, so one or two 4 KiB reads per run),
//! scans the txs appended since the last sync, and checks each candidate's record, so prefix
//! collisions cost a read but never give a wrong answer, and BIP30 duplicate txids give every
//! seq that has them. [`TxLog::merge_runs`] merges the newest runs into one appended run that
//! supersedes them; the superseded runs stay in the file (reclaiming that space is future work).
#![deny(clippy::indexing_slicing)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use redb::{ReadableTable, WriteTransaction};
use tracehound_core::{Hash32, ScriptKind};

use super::segment::{AppendFile, commit_len, committed_len};
use crate::StoreError;
use crate::codec::{Dec, Enc};

/// Name of the record log, also its key in the `segments` table.
pub const TXS_LOG: &str = "txs.log";
/// Name of the per-tx index.
pub const TXS_IDX: &str = "txs.idx";
/// Name of the spent-by hint column.
pub const SPENT_BY: &str = "spent_by.col";
/// Name of the txid runs.
pub const TXID_RUNS: &str = "txid.runs";
/// Name of the txid run descriptors.
pub const TXID_RUNS_IDX: &str = "txid.runs.idx";

/// [`Record::flags`] bit: the tx is a coinbase.
pub const FLAG_COINBASE: u8 = 1;
/// [`Record::flags`] bit: the tx is a Litecoin MWEB HogEx.
pub const FLAG_HOGEX: u8 = 2;

const IDX_ENTRY: u64 = 16;
const SPENT_ENTRY: u64 = 8;
const RUN_ENTRY: u64 = 16;
const RUN_DESC: u64 = 32;
/// Spend marks closer than this (in output seqs) are written with one read and one write.
const COALESCE_OUTPUTS: u64 = 512;
/// Largest record read back: far above any real tx (a block is at most 4 MB), low enough that a
/// damaged index cannot make a read allocate without bound.
const MAX_RECORD: usize = 1 << 28;
/// Entries read at a time by a txid lookup.
const SEARCH_WINDOW: u64 = 256;
/// Entries read at a time from each run while merging.
const MERGE_CHUNK: u64 = 4096;

/// An input as the log keeps it: the output it spends, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    /// Address id of the spent output, if it had one.
    pub addr: Option<u64>,
    /// Value of the spent output.
    pub value: u64,
    /// Output seq of the spent output.
    pub prev_out: u64,
    /// Height of the block that created the spent output.
    pub prev_height: u32,
    /// Flags of the spent output (coinbase bit, script kind), as the ingest defines them.
    pub flags: u8,
}

impl Input {
    /// The script template of the spent output (kept in the low bits of its flags).
    pub fn kind(&self) -> Option<ScriptKind> {
        ScriptKind::from_code(self.flags & !crate::tables::COINBASE_FLAG)
    }
}

/// An output as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Address id of the payee; `None` for outputs that pay nobody (`OP_RETURN`).
    pub addr: Option<u64>,
    /// Value in the chain's base unit.
    pub value: u64,
    /// Script template.
    pub kind: ScriptKind,
    /// `OP_RETURN` payload, if kept.
    pub data: Option<Vec<u8>>,
}

/// One tx of the log, with every input resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The txid.
    pub txid: Hash32,
    /// [`FLAG_COINBASE`], [`FLAG_HOGEX`]; other bits are kept as given.
    pub flags: u8,
    /// Serialized size in bytes.
    pub size: u32,
    /// Virtual size.
    pub vsize: u32,
    /// Inputs, in order.
    pub inputs: Vec<Input>,
    /// Outputs, in order.
    pub outputs: Vec<Output>,
}

/// A 32-bit checksum of a record body: a multiply-rotate hash over 8-byte words. Every step is a
/// bijection of the state, so any single changed word changes the 64-bit state.
fn checksum(bytes: &[u8]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = K ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    if let Some(dst) = w.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    h = (h ^ (h >> 31)).wrapping_mul(K);
    (h ^ (h >> 32)) as u32
}

fn opt_id(v: Option<u64>) -> u128 {
    v.map_or(0, |a| u128::from(a) + 1)
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table: TXS_LOG,
        what: what.into(),
    }
}

impl Record {
    /// Appends the encoded record (checksum included) to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        let mut e = Enc(std::mem::take(buf));
        e.bytes(&self.txid.0).u8(self.flags);
        e.u64(u64::from(self.size)).u64(u64::from(self.vsize));
        e.u64(self.inputs.len() as u64)
            .u64(self.outputs.len() as u64);
        for i in &self.inputs {
            e.u128(opt_id(i.addr))
                .u64(i.value)
                .u64(i.prev_out)
                .u64(u64::from(i.prev_height))
                .u8(i.flags);
        }
        for o in &self.outputs {
            e.u128(opt_id(o.addr)).u64(o.value).u8(o.kind.code());
            match &o.data {
                None => {
                    e.u8(0);
                }
                Some(d) => {
                    e.u128(d.len() as u128 + 1).bytes(d);
                }
            }
        }
        let mut out = e.0;
        let sum = checksum(out.get(start..).unwrap_or_default());
        out.extend_from_slice(&sum.to_le_bytes());
        *buf = out;
    }

    /// Decodes one whole record (checksum included); anything left over is an error.
    pub fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
        let Some(body_len) = bytes.len().checked_sub(4) else {
            return Err(corrupt(format!(
                "record of {} bytes is shorter than its checksum",
                bytes.len()
            )));
        };
        let (body, sum) = bytes.split_at(body_len);
        let mut want = [0u8; 4];
        want.copy_from_slice(sum);
        if checksum(body) != u32::from_le_bytes(want) {
            return Err(corrupt("checksum mismatch"));
        }
        Self::decode_body(body)
    }

    fn decode_body(body: &[u8]) -> Result<Record, StoreError> {
        let mut d = Dec::new(body, TXS_LOG);
        let txid = Hash32(d.hash()?);
        let flags = d.u8()?;
        let size = d.u32()?;
        let vsize = d.u32()?;
        let n_in = d.u64()?;
        let n_out = d.u64()?;
        // Each input takes at least 5 bytes and each output 4: a count larger than the record
        // allows is corruption, caught before allocating for it.
        let room = body.len() as u64;
        if n_in
            .saturating_mul(5)
            .saturating_add(n_out.saturating_mul(4))
            > room
        {
            return Err(corrupt(format!(
                "{n_in} inputs and {n_out} outputs cannot fit {room} bytes"
            )));
        }
        let id = |v: u128| -> Result<Option<u64>, StoreError> {
            v.checked_sub(1)
                .map(|a| u64::try_from(a).map_err(|_| corrupt("address id exceeds 64 bits")))
                .transpose()
        };
        let mut inputs = Vec::with_capacity(usize::try_from(n_in).unwrap_or(0));
        for _ in 0..n_in {
            inputs.push(Input {
                addr: id(d.u128()?)?,
                value: d.u64()?,
                prev_out: d.u64()?,
                prev_height: d.u32()?,
                flags: d.u8()?,
            });
        }
        let mut outputs = Vec::with_capacity(usize::try_from(n_out).unwrap_or(0));
        for _ in 0..n_out {
            let addr = id(d.u128()?)?;
            let value = d.u64()?;
            let code = d.u8()?;
            let kind = ScriptKind::from_code(code)
                .ok_or_else(|| corrupt(format!("unknown script kind {code}")))?;
            let data = match d.u64()?.checked_sub(1) {
                None => None,
                Some(len) => {
                    let len = usize::try_from(len)
                        .map_err(|_| corrupt("data length exceeds the address space"))?;
                    Some(d.bytes(len)?.to_vec())
                }
            };
            outputs.push(Output {
                addr,
                value,
                kind,
                data,
            });
        }
        if d.u8().is_ok() {
            return Err(corrupt("bytes left over after the last output"));
        }
        Ok(Record {
            txid,
            flags,
            size,
            vsize,
            inputs,
            outputs,
        })
    }
}

/// The committed extent of a [`TxLog`]: what [`TxLog::sync`] returns and [`TxLog::open`] takes.
///
/// It is kept in redb's `segments` table as the byte length of each file, committed in the same
/// write transaction as the batch's block rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    /// Bytes of `txs.log`.
    pub log_bytes: u64,
    /// Txs (entries of `txs.idx`).
    pub txs: u64,
    /// Outputs (entries of `spent_by.col`).
    pub outputs: u64,
    /// Entries of `txid.runs`.
    pub run_entries: u64,
    /// Runs (entries of `txid.runs.idx`).
    pub runs: u64,
}

impl Committed {
    /// Reads the committed lengths of chain `chain` from the `segments` table (all zero if none).
    pub fn load(
        table: &impl ReadableTable<(u32, &'static str), u64>,
        chain: u32,
    ) -> Result<Committed, StoreError> {
        let count = |name: &str, width: u64| -> Result<u64, StoreError> {
            let bytes = committed_len(table, chain, name)?;
            if bytes % width != 0 {
                return Err(StoreError::Corrupt {
                    table: "segments",
                    what: format!(
                        "committed length {bytes} of {name} is not a multiple of {width} bytes"
                    ),
                });
            }
            Ok(bytes / width)
        };
        Ok(Committed {
            log_bytes: count(TXS_LOG, 1)?,
            txs: count(TXS_IDX, IDX_ENTRY)?,
            outputs: count(SPENT_BY, SPENT_ENTRY)?,
            run_entries: count(TXID_RUNS, RUN_ENTRY)?,
            runs: count(TXID_RUNS_IDX, RUN_DESC)?,
        })
    }

    /// Records these lengths for chain `chain` in `wtx`; call after [`TxLog::sync`].
    pub fn commit(&self, wtx: &WriteTransaction, chain: u32) -> Result<(), StoreError> {
        for (name, bytes) in self.byte_lengths() {
            commit_len(wtx, chain, name, bytes)?;
        }
        Ok(())
    }

    /// (file name, committed bytes) of every file.
    pub fn byte_lengths(&self) -> [(&'static str, u64); 5] {
        [
            (TXS_LOG, self.log_bytes),
            (TXS_IDX, self.txs.saturating_mul(IDX_ENTRY)),
            (SPENT_BY, self.outputs.saturating_mul(SPENT_ENTRY)),
            (TXID_RUNS, self.run_entries.saturating_mul(RUN_ENTRY)),
            (TXID_RUNS_IDX, self.runs.saturating_mul(RUN_DESC)),
        ]
    }
}

/// One sorted run of `txid.runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// First entry (index into `txid.runs`).
    start: u64,
    /// One past the last entry.
    end: u64,
    /// Tx seqs covered: `tx_start..tx_end`.
    tx_start: u64,
    tx_end: u64,
}

impl Run {
    fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (dst, v) in
            b.chunks_exact_mut(8)
                .zip([self.start, self.end, self.tx_start, self.tx_end])
        {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    if let Some(src) = b.get(..8) {
        w.copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

fn prefix(txid: &Hash32) -> u64 {
    le_u64(&txid.0)
}

/// The append-only tx storage of one chain. See the [module docs](self).
///
/// Reads take `&self` and may run from several threads. After a write method
/// ([`append_tx`](TxLog::append_tx), [`sync`](TxLog::sync), [`truncate_to`](TxLog::truncate_to),
/// [`merge_runs`](TxLog::merge_runs)) returns an error, the in-memory state may be ahead of the
/// files: drop the `TxLog` and reopen it from the committed lengths.
#[derive(Debug)]
pub struct TxLog {
    dir: PathBuf,
    log: AppendFile,
    idx: AppendFile,
    runs: AppendFile,
    runs_idx: AppendFile,
    spent: File,
    spent_path: PathBuf,
    /// Bytes of `spent_by.col` on disk.
    spent_on_disk: u64,
    /// A read-only map of `spent_by.col` (a trace reads a hint per output it follows):
    /// remapped after each sync, dropped before the file is cut.
    spent_map: Option<memmap2::Mmap>,
    /// Spend marks not yet written: output seq → spender seq + 1 (0 clears).
    spent_pending: HashMap<u64, u64, foldhash::fast::RandomState>,
    /// Txs and outputs appended (committed or not).
    txs: u64,
    outputs: u64,
    /// Every run in file order.
    run_list: Vec<Run>,
    /// Live runs, newest first.
    live: Vec<Run>,
    /// (txid prefix, seq) of txs not yet in a run: seqs from the newest run's `tx_end` on.
    pending_txids: Vec<(u64, u64)>,
    /// Reused encode buffer.
    scratch: Vec<u8>,
}

impl TxLog {
    /// Opens the log in `dir` (creating the directory and files if missing) and cuts every file
    /// back to `committed`. Files shorter than committed, or whose committed tail is inconsistent,
    /// are reported as damage.
    pub fn open(dir: &Path, committed: &Committed) -> Result<TxLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Segment {
            path: dir.to_path_buf(),
            reason: format!("create directory: {e}"),
        })?;
        let lens = committed.byte_lengths();
        let [
            (_, log_len),
            (_, idx_len),
            (_, spent_len),
            (_, runs_len),
            (_, runs_idx_len),
        ] = lens;
        let log = AppendFile::open(&dir.join(TXS_LOG), log_len)?;
        let idx = AppendFile::open(&dir.join(TXS_IDX), idx_len)?;
        let runs = AppendFile::open(&dir.join(TXID_RUNS), runs_len)?;
        let runs_idx = AppendFile::open(&dir.join(TXID_RUNS_IDX), runs_idx_len)?;

        let spent_path = dir.join(SPENT_BY);
        let spent = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&spent_path)
            .map_err(|e| seg_io(&spent_path, "open", e))?;
        let actual = spent
            .metadata()
            .map_err(|e| seg_io(&spent_path, "stat", e))?
            .len();
        if actual < spent_len {
            return Err(StoreError::Segment {
                path: spent_path,
                reason: format!(
                    "holds {actual} bytes but {spent_len} were committed: the file was damaged or replaced"
                ),
            });
        }

        let mut t = TxLog {
            dir: dir.to_path_buf(),
            log,
            idx,
            runs,
            runs_idx,
            spent,
            spent_path,
            spent_on_disk: spent_len,
            spent_map: None,
            spent_pending: HashMap::default(),
            txs: committed.txs,
            outputs: committed.outputs,
            run_list: Vec::new(),
            live: Vec::new(),
            pending_txids: Vec::new(),
            scratch: Vec::new(),
        };
        t.check_tail()?;
        t.load_runs(committed)?;
        if actual > spent_len {
            // Hints for outputs of a batch that never committed. Cut only once the committed
            // lengths proved consistent, so wrong lengths do not destroy hints.
            t.spent
                .set_len(spent_len)
                .map_err(|e| seg_io(&t.spent_path, "truncate", e))?;
        }
        t.remap_spent();
        Ok(t)
    }

    /// Checks the last committed record against `txs.idx` and the output count.
    fn check_tail(&self) -> Result<(), StoreError> {
        let Some(last) = self.txs.checked_sub(1) else {
            let log_bytes = self.log.len();
            if log_bytes != 0 || self.outputs != 0 {
                return Err(self.idx_err(
                    0,
                    format!(
                        "no txs committed but {} log bytes and {} outputs",
                        self.log.len(),
                        self.outputs
                    ),
                ));
            }
            return Ok(());
        };
        let (_, first_out, _) = self.locate(last)?;
        let rec = self.tx(last)?;
        let end = first_out.checked_add(rec.outputs.len() as u64);
        if end != Some(self.outputs) {
            return Err(self.idx_err(
                last.saturating_mul(IDX_ENTRY),
                format!(
                    "last tx {last} ends at output {first_out} + {} but {} outputs were committed",
                    rec.outputs.len(),
                    self.outputs
                ),
            ));
        }
        Ok(())
    }

    fn load_runs(&mut self, committed: &Committed) -> Result<(), StoreError> {
        let path = self.dir.join(TXID_RUNS_IDX);
        let mut prev = Run {
            start: 0,
            end: 0,
            tx_start: 0,
            tx_end: 0,
        };
        for r in 0..committed.runs {
            let mut b = [0u8; 32];
            self.runs_idx.read_at(r * RUN_DESC, &mut b)?;
            let [start, end, tx_start, tx_end] =
                [0usize, 8, 16, 24].map(|o| le_u64(b.get(o..).unwrap_or_default()));
            let run = Run {
                start,
                end,
                tx_start,
                tx_end,
            };
            if start != prev.end
                || end < start
                || end > committed.run_entries
                || tx_start > tx_end
                || tx_start > prev.tx_end
                || tx_end < prev.tx_end
                || tx_end > self.txs
            {
                return Err(StoreError::Segment {
                    path,
                    reason: format!(
                        "run {r} at offset {} is inconsistent: {run:?} after {prev:?}, {} entries, {} txs",
                        r * RUN_DESC,
                        committed.run_entries,
                        self.txs
                    ),
                });
            }
            self.run_list.push(run);
            prev = run;
        }
        if prev.end != committed.run_entries {
            return Err(StoreError::Segment {
                path: self.dir.join(TXID_RUNS),
                reason: format!(
                    "{} entries committed but the runs end at {}",
                    committed.run_entries, prev.end
                ),
            });
        }
        self.recompute_live();
        // Committed txs no run covers (none if every sync wrote its run): rebuild from records.
        self.rebuild_pending(prev.tx_end, self.txs)?;
        Ok(())
    }

    fn recompute_live(&mut self) {
        self.live.clear();
        let mut covered = u64::MAX;
        for run in self.run_list.iter().rev() {
            if run.tx_end <= covered {
                self.live.push(*run);
                covered = run.tx_start;
            }
        }
    }

    fn rebuild_pending(&mut self, from: u64, to: u64) -> Result<(), StoreError> {
        for seq in from..to {
            let txid = self.txid_of(seq)?;
            self.pending_txids.push((prefix(&txid), seq));
        }
        Ok(())
    }

    fn idx_err(&self, offset: u64, reason: String) -> StoreError {
        StoreError::Segment {
            path: self.dir.join(TXS_IDX),
            reason: format!("at offset {offset}: {reason}"),
        }
    }

    /// Txs appended (committed or not): the next tx seq.
    pub fn tx_count(&self) -> u64 {
        self.txs
    }

    /// Outputs appended (committed or not): the next output seq.
    pub fn output_count(&self) -> u64 {
        self.outputs
    }

    /// Appends `rec`, returning its tx seq and the seq of its first output.
    pub fn append_tx(&mut self, rec: &Record) -> Result<(u64, u64), StoreError> {
        let seq = self.txs;
        let first_out = self.outputs;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        rec.encode(&mut buf);
        let off = self.log.append(&buf);
        self.scratch = buf;
        let off = off?;
        let mut entry = [0u8; 16];
        for (dst, v) in entry.chunks_exact_mut(8).zip([off, first_out]) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        self.idx.append(&entry)?;
        self.txs += 1;
        self.outputs += rec.outputs.len() as u64;
        self.pending_txids.push((prefix(&rec.txid), seq));
        Ok((seq, first_out))
    }

    /// Records that tx `spender` spends output `out`. The mark is a hint: [`TxLog::spender`]
    /// reports it only while `spender` is in the log and really spends `out`.
    pub fn mark_spent(&mut self, out: u64, spender: u64) -> Result<(), StoreError> {
        if out >= self.outputs || spender >= self.txs {
            return Err(StoreError::Segment {
                path: self.spent_path.clone(),
                reason: format!(
                    "cannot mark output {out} spent by tx {spender}: the log has {} outputs and {} txs",
                    self.outputs, self.txs
                ),
            });
        }
        self.spent_pending.insert(out, spender + 1);
        Ok(())
    }

    /// Maps `spent_by.col`'s bytes on disk for reading (reads past the map, or without one,
    /// use `pread`).
    fn remap_spent(&mut self) {
        if self.spent_map.as_ref().map_or(0, |m| m.len() as u64) == self.spent_on_disk {
            return;
        }
        self.spent_map = None;
        let Ok(len) = usize::try_from(self.spent_on_disk) else {
            return;
        };
        if len == 0 {
            return;
        }
        // SAFETY: read-only, and only over bytes on disk. The hints are rewritten in place
        // through `pwrite` on the same page cache the map reads (a reader sees the old or the
        // new 8 bytes, and every hint is checked before use); the map is dropped before the
        // file is cut.
        self.spent_map = unsafe { memmap2::MmapOptions::new().len(len).map(&self.spent) }.ok();
    }

    /// The raw hint for `out`: spender seq + 1, or 0.
    fn hint(&self, out: u64) -> Result<u64, StoreError> {
        if let Some(&v) = self.spent_pending.get(&out) {
            return Ok(v);
        }
        let at = out.saturating_mul(SPENT_ENTRY);
        if at.saturating_add(SPENT_ENTRY) > self.spent_on_disk {
            return Ok(0);
        }
        let mut b = [0u8; 8];
        let mapped = self.spent_map.as_ref().and_then(|m| {
            m.get(usize::try_from(at).ok()?..usize::try_from(at + SPENT_ENTRY).ok()?)
        });
        match mapped {
            Some(src) => b.copy_from_slice(src),
            None => self
                .spent
                .read_exact_at(&mut b, at)
                .map_err(|e| seg_io(&self.spent_path, &format!("read at offset {at}"), e))?,
        }
        Ok(u64::from_le_bytes(b))
    }

    /// The tx that spends output `out`, if any: the hint in `spent_by.col`, reported only if that
    /// tx is in the log and has an input spending `out`.
    pub fn spender(&self, out: u64) -> Result<Option<u64>, StoreError> {
        let Some(seq) = self.spender_hint(out)? else {
            return Ok(None);
        };
        let rec = self.tx(seq)?;
        Ok(rec.inputs.iter().any(|i| i.prev_out == out).then_some(seq))
    }

    /// The hint in `spent_by.col` for output `out` if it names a tx in the log, *unchecked*:
    /// the caller must confirm that tx spends `out` (as [`TxLog::spender`] does).
    pub fn spender_hint(&self, out: u64) -> Result<Option<u64>, StoreError> {
        if out >= self.outputs {
            return Ok(None);
        }
        let Some(seq) = self.hint(out)?.checked_sub(1) else {
            return Ok(None);
        };
        Ok((seq < self.txs).then_some(seq))
    }

    /// (log offset, first output seq, log end) of tx `seq`.
    fn locate(&self, seq: u64) -> Result<(u64, u64, u64), StoreError> {
        if seq >= self.txs {
            return Err(self.idx_err(
                seq.saturating_mul(IDX_ENTRY),
                format!("tx {seq} is past the end ({} txs)", self.txs),
            ));
        }
        let at = seq * IDX_ENTRY;
        let last = seq + 1 == self.txs;
        let mut b = [0u8; 32];
        let want = if last { 16 } else { 32 };
        self.idx
            .read_at(at, b.get_mut(..want).unwrap_or_default())?;
        let off = le_u64(&b);
        let first_out = le_u64(b.get(8..).unwrap_or_default());
        let end = if last {
            self.log.len()
        } else {
            le_u64(b.get(16..).unwrap_or_default())
        };
        let next_out = if last {
            self.outputs
        } else {
            le_u64(b.get(24..).unwrap_or_default())
        };
        if off > end || end > self.log.len() || first_out > next_out || next_out > self.outputs {
            return Err(self.idx_err(
                at,
                format!(
                    "tx {seq}: record {off}..{end} or outputs {first_out}..{next_out} out of bounds ({} log bytes, {} outputs)",
                    self.log.len(),
                    self.outputs
                ),
            ));
        }
        Ok((off, first_out, end))
    }

    fn read_record(&self, seq: u64) -> Result<(Vec<u8>, u64), StoreError> {
        let (off, _, end) = self.locate(seq)?;
        let len = usize::try_from(end - off)
            .ok()
            .filter(|&l| l <= MAX_RECORD)
            .ok_or_else(|| {
                self.idx_err(
                    seq * IDX_ENTRY,
                    format!(
                        "tx {seq}: record of {} bytes at {off} exceeds the {MAX_RECORD}-byte limit",
                        end - off
                    ),
                )
            })?;
        let mut b = vec![0u8; len];
        self.log.read_at(off, &mut b)?;
        Ok((b, off))
    }

    /// The record of tx `seq`.
    pub fn tx(&self, seq: u64) -> Result<Record, StoreError> {
        let (b, off) = self.read_record(seq)?;
        Record::decode(&b).map_err(|e| {
            let what = match e {
                StoreError::Corrupt { what, .. } => what,
                other => other.to_string(),
            };
            StoreError::Segment {
                path: self.dir.join(TXS_LOG),
                reason: format!(
                    "record of tx {seq} at offset {off} ({} bytes) is corrupt: {what}",
                    b.len()
                ),
            }
        })
    }

    /// Calls `f(seq, first output seq, record)` for txs `from..to` in order, reading the log in
    /// large sequential chunks (for rebuilds, digests and exports).
    pub fn for_each(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, u64, Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        const CHUNK: u64 = 4096;
        let to = to.min(self.txs);
        let mut seq = from;
        let mut idx = Vec::new();
        let mut log = Vec::new();
        while seq < to {
            let n = (to - seq).min(CHUNK);
            idx.resize(usize::try_from(n * IDX_ENTRY).unwrap_or(0), 0);
            self.idx.read_at(seq * IDX_ENTRY, &mut idx)?;
            let offs: Vec<(u64, u64)> = idx
                .chunks_exact(16)
                .map(|e| (le_u64(e), le_u64(e.get(8..).unwrap_or_default())))
                .collect();
            let start = offs.first().map_or(0, |o| o.0);
            let end = if seq + n < self.txs {
                self.locate(seq + n)?.0
            } else {
                self.log.len()
            };
            if end < start || end > self.log.len() {
                return Err(self.idx_err(
                    seq * IDX_ENTRY,
                    format!("records {start}..{end} out of bounds"),
                ));
            }
            log.resize(usize::try_from(end - start).unwrap_or(0), 0);
            self.log.read_at(start, &mut log)?;
            for (k, &(off, first_out)) in offs.iter().enumerate() {
                let next = offs.get(k + 1).map_or(end, |o| o.0);
                let bytes = log
                    .get(
                        usize::try_from(off.saturating_sub(start)).unwrap_or(usize::MAX)
                            ..usize::try_from(next.saturating_sub(start)).unwrap_or(0),
                    )
                    .ok_or_else(|| {
                        self.idx_err(
                            (seq + k as u64) * IDX_ENTRY,
                            format!("record {off}..{next} out of order"),
                        )
                    })?;
                let rec = Record::decode(bytes).map_err(|e| StoreError::Segment {
                    path: self.dir.join(TXS_LOG),
                    reason: format!(
                        "record of tx {} at offset {off} is corrupt: {e}",
                        seq + k as u64
                    ),
                })?;
                f(seq + k as u64, first_out, rec)?;
            }
            seq += n;
        }
        Ok(())
    }

    /// The seq of the first output of tx `seq`.
    pub fn first_output(&self, seq: u64) -> Result<u64, StoreError> {
        Ok(self.locate(seq)?.1)
    }

    /// The tx that created output `out` (binary search of `txs.idx`).
    pub fn tx_of_output(&self, out: u64) -> Result<u64, StoreError> {
        if out >= self.outputs {
            return Err(self.idx_err(
                0,
                format!("output {out} is past the end ({} outputs)", self.outputs),
            ));
        }
        // The last tx whose first output is <= out (txs with no outputs share a first output).
        let (mut lo, mut hi) = (0, self.txs);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.first_output(mid)? <= out {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The txid of tx `seq` (reads 32 bytes, not the whole record).
    pub fn txid_of(&self, seq: u64) -> Result<Hash32, StoreError> {
        let (off, _, end) = self.locate(seq)?;
        if end - off < 36 {
            return Err(StoreError::Segment {
                path: self.dir.join(TXS_LOG),
                reason: format!(
                    "record of tx {seq} at offset {off} has {} bytes, too few for a txid",
                    end - off
                ),
            });
        }
        let mut b = [0u8; 32];
        self.log.read_at(off, &mut b)?;
        Ok(Hash32(b))
    }

    fn run_entry(&self, i: u64) -> Result<(u64, u64), StoreError> {
        let mut b = [0u8; 16];
        self.runs.read_at(i * RUN_ENTRY, &mut b)?;
        Ok((le_u64(&b), le_u64(b.get(8..).unwrap_or_default())))
    }

    /// Index of the first entry of `run` whose prefix is >= `p`. Prefixes are uniformly
    /// distributed (they are hash bytes), so an interpolation search reading windows of
    /// [`SEARCH_WINDOW`] entries finds it in one or two reads; after a few misses it falls back to
    /// bisection, so skewed data costs O(log n) reads at worst.
    fn lower_bound(&self, run: &Run, p: u64) -> Result<u64, StoreError> {
        // The answer lies in lo..=hi; entries before lo are < p, entries from hi on are >= p, and
        // the keys in lo..hi lie within lo_key..=hi_key.
        let (mut lo, mut hi) = (run.start, run.end);
        let (mut lo_key, mut hi_key) = (0u64, u64::MAX);
        let mut buf = vec![0u8; (SEARCH_WINDOW * RUN_ENTRY) as usize];
        let mut probes = 0;
        loop {
            if hi - lo <= SEARCH_WINDOW {
                let bytes = buf
                    .get_mut(..((hi - lo) * RUN_ENTRY) as usize)
                    .unwrap_or_default();
                self.runs.read_at(lo * RUN_ENTRY, bytes)?;
                let below = bytes.chunks_exact(16).take_while(|e| le_u64(e) < p).count();
                return Ok(lo + below as u64);
            }
            let guess = if probes < 4 {
                let span = u128::from(hi - lo);
                let frac = u128::from(p.saturating_sub(lo_key)) * span
                    / (u128::from(hi_key.saturating_sub(lo_key)) + 1);
                lo + u64::try_from(frac).unwrap_or(hi - lo)
            } else {
                lo + (hi - lo) / 2
            };
            probes += 1;
            let ws = guess
                .saturating_sub(SEARCH_WINDOW / 2)
                .clamp(lo, hi - SEARCH_WINDOW);
            self.runs.read_at(ws * RUN_ENTRY, &mut buf)?;
            let first = le_u64(&buf);
            let last = le_u64(
                buf.get(((SEARCH_WINDOW - 1) * RUN_ENTRY) as usize..)
                    .unwrap_or_default(),
            );
            if first >= p {
                if ws == lo {
                    return Ok(lo);
                }
                (hi, hi_key) = (ws, first);
            } else if last < p {
                (lo, lo_key) = (ws + SEARCH_WINDOW, last);
            } else {
                let below = buf.chunks_exact(16).take_while(|e| le_u64(e) < p).count();
                return Ok(ws + below as u64);
            }
        }
    }

    /// Every tx seq whose txid is `txid`, ascending (several for BIP30 duplicates).
    pub fn find_txid(&self, txid: &Hash32) -> Result<Vec<u64>, StoreError> {
        let p = prefix(txid);
        let mut candidates: Vec<u64> = self
            .pending_txids
            .iter()
            .filter(|e| e.0 == p)
            .map(|e| e.1)
            .collect();
        for run in &self.live {
            let mut lo = self.lower_bound(run, p)?;
            while lo < run.end {
                let (q, seq) = self.run_entry(lo)?;
                if q != p {
                    break;
                }
                candidates.push(seq);
                lo += 1;
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut found = Vec::new();
        for seq in candidates {
            if seq < self.txs && self.txid_of(seq)? == *txid {
                found.push(seq);
            }
        }
        Ok(found)
    }

    /// Number of live txid runs a lookup searches.
    pub fn live_runs(&self) -> usize {
        self.live.len()
    }

    fn append_run(
        &mut self,
        entries: &[(u64, u64)],
        tx_start: u64,
        tx_end: u64,
    ) -> Result<(), StoreError> {
        let start = self.runs.len() / RUN_ENTRY;
        let mut buf = Vec::with_capacity(entries.len() * 16);
        for (p, seq) in entries {
            buf.extend_from_slice(&p.to_le_bytes());
            buf.extend_from_slice(&seq.to_le_bytes());
        }
        self.runs.append(&buf)?;
        self.push_run(Run {
            start,
            end: start + entries.len() as u64,
            tx_start,
            tx_end,
        })
    }

    fn push_run(&mut self, run: Run) -> Result<(), StoreError> {
        self.runs_idx.append(&run.encode())?;
        self.run_list.push(run);
        self.recompute_live();
        Ok(())
    }

    /// Merges the newest `k` live runs (all of them for `usize::MAX`) into one run appended to
    /// `txid.runs`, which supersedes them. Like appends, the merge counts once synced and
    /// committed.
    pub fn merge_runs(&mut self, k: usize) -> Result<(), StoreError> {
        let k = k.min(self.live.len());
        if k < 2 {
            return Ok(());
        }
        let sources: Vec<Run> = self.live.iter().take(k).copied().collect();
        let tx_end = sources.first().map_or(0, |r| r.tx_end);
        let tx_start = sources.last().map_or(0, |r| r.tx_start);
        let start = self.runs.len() / RUN_ENTRY;
        // Cursor per source: (next entry to read, buffered entries).
        let mut cursors: Vec<(u64, std::collections::VecDeque<(u64, u64)>)> = sources
            .iter()
            .map(|r| (r.start, std::collections::VecDeque::new()))
            .collect();
        let mut heap = BinaryHeap::new();
        let mut out = Vec::with_capacity(1 << 20);
        let mut written = 0u64;
        for (i, src) in sources.iter().enumerate() {
            if let Some(e) = self.next_merge_entry(&mut cursors, i, src)? {
                heap.push(Reverse((e, i)));
            }
        }
        while let Some(Reverse(((p, seq), i))) = heap.pop() {
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
            written += 1;
            if out.len() >= 1 << 20 {
                self.runs.append(&out)?;
                out.clear();
            }
            if let Some(src) = sources.get(i)
                && let Some(e) = self.next_merge_entry(&mut cursors, i, src)?
            {
                heap.push(Reverse((e, i)));
            }
        }
        self.runs.append(&out)?;
        self.push_run(Run {
            start,
            end: start + written,
            tx_start,
            tx_end,
        })
    }

    fn next_merge_entry(
        &self,
        cursors: &mut [(u64, std::collections::VecDeque<(u64, u64)>)],
        i: usize,
        src: &Run,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let Some((next, buf)) = cursors.get_mut(i) else {
            return Ok(None);
        };
        if buf.is_empty() && *next < src.end {
            let n = (src.end - *next).min(MERGE_CHUNK);
            let mut b = vec![0u8; usize::try_from(n * RUN_ENTRY).unwrap_or(0)];
            self.runs.read_at(*next * RUN_ENTRY, &mut b)?;
            for e in b.chunks_exact(16) {
                buf.push_back((le_u64(e), le_u64(e.get(8..).unwrap_or_default())));
            }
            *next += n;
        }
        Ok(buf.pop_front())
    }

    fn write_spent_marks(&mut self) -> Result<(), StoreError> {
        let need = self.outputs * SPENT_ENTRY;
        if self.spent_on_disk < need {
            self.spent
                .set_len(need)
                .map_err(|e| seg_io(&self.spent_path, "extend", e))?;
            self.spent_on_disk = need;
        }
        let mut marks: Vec<(u64, u64)> = self.spent_pending.drain().collect();
        marks.sort_unstable();
        let mut i = 0;
        let mut span = Vec::new();
        while let Some(&(first, _)) = marks.get(i) {
            // A group of marks each within COALESCE_OUTPUTS of the previous one.
            let mut j = i + 1;
            while let (Some(&(a, _)), Some(&(b, _))) = (marks.get(j - 1), marks.get(j)) {
                if b - a >= COALESCE_OUTPUTS {
                    break;
                }
                j += 1;
            }
            let group = marks.get(i..j).unwrap_or_default();
            let last = group.last().map_or(first, |m| m.0);
            let at = first * SPENT_ENTRY;
            if group.len() == 1 {
                span.clear();
                span.extend_from_slice(&group.first().map_or(0, |m| m.1).to_le_bytes());
            } else {
                span.resize(
                    usize::try_from((last - first + 1) * SPENT_ENTRY).unwrap_or(0),
                    0,
                );
                self.spent
                    .read_exact_at(&mut span, at)
                    .map_err(|e| seg_io(&self.spent_path, &format!("read at offset {at}"), e))?;
                for &(o, v) in group {
                    let k = usize::try_from((o - first) * SPENT_ENTRY).unwrap_or(usize::MAX);
                    if let Some(dst) = span.get_mut(k..k.saturating_add(8)) {
                        dst.copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            self.spent
                .write_all_at(&span, at)
                .map_err(|e| seg_io(&self.spent_path, &format!("write at offset {at}"), e))?;
            i = j;
        }
        Ok(())
    }

    /// Writes and syncs everything appended: the batch's txid run, the records, the index and the
    /// spend marks. Returns the lengths to commit with [`Committed::commit`] in the redb write
    /// transaction that commits the batch.
    pub fn sync(&mut self) -> Result<Committed, StoreError> {
        if !self.pending_txids.is_empty() {
            let mut entries = std::mem::take(&mut self.pending_txids);
            entries.sort_unstable();
            let tx_start = self.run_list.last().map_or(0, |r| r.tx_end);
            self.append_run(&entries, tx_start, self.txs)?;
            entries.clear();
            self.pending_txids = entries;
        }
        self.write_spent_marks()?;
        let log_bytes = self.log.sync()?;
        self.idx.sync()?;
        let runs_bytes = self.runs.sync()?;
        let runs_idx_bytes = self.runs_idx.sync()?;
        self.spent
            .sync_data()
            .map_err(|e| seg_io(&self.spent_path, "sync", e))?;
        self.remap_spent();
        Ok(Committed {
            log_bytes,
            txs: self.txs,
            outputs: self.outputs,
            run_entries: runs_bytes / RUN_ENTRY,
            runs: runs_idx_bytes / RUN_DESC,
        })
    }

    /// The lengths [`TxLog::truncate_to`] leaves when unwinding to `txs` txs. When unwinding
    /// committed blocks, commit these (with [`Committed::commit`]) *before* truncating: a crash
    /// in between then leaves files longer than committed, which [`TxLog::open`] cuts, whereas
    /// truncating first would leave files shorter than committed, which is damage.
    pub fn unwind_point(&self, txs: u64) -> Result<Committed, StoreError> {
        let (log_bytes, outputs) = if txs == self.txs {
            (self.log.len(), self.outputs)
        } else if txs < self.txs {
            let (off, first_out, _) = self.locate(txs)?;
            (off, first_out)
        } else {
            return Err(self.idx_err(
                txs.saturating_mul(IDX_ENTRY),
                format!("cannot unwind to {txs} txs: the log has {}", self.txs),
            ));
        };
        // Runs end at non-decreasing tx seqs in file order: the kept runs are a prefix.
        let kept = self.run_list.iter().take_while(|r| r.tx_end <= txs).count();
        let run_entries = kept
            .checked_sub(1)
            .and_then(|i| self.run_list.get(i))
            .map_or(0, |r| r.end);
        Ok(Committed {
            log_bytes,
            txs,
            outputs,
            run_entries,
            runs: kept as u64,
        })
    }

    /// Unwinds to `txs` txs and `outputs` outputs (a block boundary; `outputs` must be where tx
    /// `txs` starts): drops the later records, their index and txid entries and their spend
    /// marks. When unwinding committed txs, first commit [`TxLog::unwind_point`]; then sync and
    /// commit as usual after appending the replacement blocks.
    ///
    /// Unwinding and then appending the same txs with the same sync points gives files
    /// byte-identical to never having unwound, also when the cut falls inside a batch. A cut
    /// through a run made by [`TxLog::merge_runs`] re-reads the txids of the txs between the
    /// surviving runs and the cut, and the runs end up laid out differently (same lookups).
    pub fn truncate_to(&mut self, txs: u64, outputs: u64) -> Result<(), StoreError> {
        let target = self.unwind_point(txs)?;
        if target.outputs != outputs {
            return Err(self.idx_err(
                txs.saturating_mul(IDX_ENTRY),
                format!(
                    "cannot truncate to {txs} txs and {outputs} outputs: tx {txs} starts at output {}",
                    target.outputs
                ),
            ));
        }
        if txs == self.txs {
            return Ok(());
        }
        // Clear the hints the dropped txs left on surviving outputs.
        for seq in txs..self.txs {
            let rec = self.tx(seq)?;
            for i in &rec.inputs {
                if i.prev_out < outputs && self.hint(i.prev_out)? == seq + 1 {
                    self.spent_pending.insert(i.prev_out, 0);
                }
            }
        }
        self.spent_pending.retain(|&o, _| o < outputs);
        self.log.truncate(target.log_bytes)?;
        self.idx.truncate(txs * IDX_ENTRY)?;
        let spent_len = outputs * SPENT_ENTRY;
        if self.spent_on_disk > spent_len {
            self.spent_map = None;
            self.spent
                .set_len(spent_len)
                .map_err(|e| seg_io(&self.spent_path, "truncate", e))?;
            self.spent_on_disk = spent_len;
            self.remap_spent();
        }
        self.txs = txs;
        self.outputs = outputs;

        // Runs: drop every run reaching past `txs`, then rebuild the gap up to `txs`.
        self.pending_txids.retain(|e| e.1 < txs);
        let kept = usize::try_from(target.runs).unwrap_or(usize::MAX);
        if kept < self.run_list.len() {
            self.run_list.truncate(kept);
            self.runs.truncate(target.run_entries * RUN_ENTRY)?;
            self.runs_idx.truncate(target.runs * RUN_DESC)?;
            self.recompute_live();
            let covered = self.run_list.last().map_or(0, |r| r.tx_end);
            let first_pending = self.pending_txids.iter().map(|e| e.1).min().unwrap_or(txs);
            self.rebuild_pending(covered, first_pending.min(txs))?;
        }
        Ok(())
    }
}

fn seg_io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Segment {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use redb::{Database, ReadableDatabase};

    /// Deterministic xorshift for test data.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn txid(rng: &mut Rng) -> Hash32 {
        let mut h = [0u8; 32];
        for c in h.chunks_exact_mut(8) {
            c.copy_from_slice(&rng.next().to_le_bytes());
        }
        Hash32(h)
    }

    /// A record spending `spends` (output seqs) with `n_out` outputs.
    fn record(rng: &mut Rng, spends: &[u64], n_out: usize) -> Record {
        Record {
            txid: txid(rng),
            flags: u8::from(spends.is_empty()),
            size: rng.below(100_000) as u32,
            vsize: rng.below(100_000) as u32,
            inputs: spends
                .iter()
                .map(|&o| Input {
                    addr: Some(rng.below(1 << 30)),
                    value: rng.next() >> rng.below(64),
                    prev_out: o,
                    prev_height: rng.below(900_000) as u32,
                    flags: rng.below(256) as u8,
                })
                .collect(),
            outputs: (0..n_out)
                .map(|_| {
                    if rng.below(10) == 0 {
                        Output {
                            addr: None,
                            value: 0,
                            kind: ScriptKind::NullData,
                            data: Some(vec![0x6a; rng.below(80) as usize]),
                        }
                    } else {
                        Output {
                            addr: Some(rng.below(1 << 30)),
                            value: rng.next() >> rng.below(64),
                            kind: ScriptKind::P2wpkh,
                            data: None,
                        }
                    }
                })
                .collect(),
        }
    }

    /// Appends `n` records spending random earlier unspent outputs; returns them.
    fn append_batch(
        log: &mut TxLog,
        rng: &mut Rng,
        unspent: &mut Vec<u64>,
        n: usize,
    ) -> Vec<Record> {
        let mut out = Vec::new();
        for _ in 0..n {
            let k = if unspent.is_empty() { 0 } else { rng.below(4) };
            let mut spends = Vec::new();
            for _ in 0..k {
                if !unspent.is_empty() {
                    let at = rng.below(unspent.len() as u64) as usize;
                    spends.push(unspent.swap_remove(at));
                }
            }
            let n_out = 1 + rng.below(3) as usize;
            let rec = record(rng, &spends, n_out);
            let (seq, first) = log.append_tx(&rec).unwrap();
            for &o in &spends {
                log.mark_spent(o, seq).unwrap();
            }
            for (i, o) in rec.outputs.iter().enumerate() {
                if o.kind != ScriptKind::NullData {
                    unspent.push(first + i as u64);
                }
            }
            out.push(rec);
        }
        out
    }

    const FILES: [&str; 5] = [TXS_LOG, TXS_IDX, SPENT_BY, TXID_RUNS, TXID_RUNS_IDX];

    fn files(dir: &Path) -> Vec<Vec<u8>> {
        FILES
            .iter()
            .map(|f| std::fs::read(dir.join(f)).unwrap())
            .collect()
    }

    /// Asserts the files named in `which` are byte-identical, naming the first that differs.
    fn same_files(got: &[Vec<u8>], want: &[Vec<u8>], which: &[&str], what: &str) {
        for (name, (g, w)) in FILES.iter().zip(got.iter().zip(want)) {
            if which.contains(name) {
                assert!(
                    g == w,
                    "{what}: {name} differs ({} vs {} bytes)",
                    g.len(),
                    w.len()
                );
            }
        }
    }

    fn input_strategy() -> impl Strategy<Value = Input> {
        (
            proptest::option::of(any::<u64>()),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u8>(),
        )
            .prop_map(|(addr, value, prev_out, prev_height, flags)| Input {
                addr,
                value,
                prev_out,
                prev_height,
                flags,
            })
    }

    fn output_strategy() -> impl Strategy<Value = Output> {
        (
            proptest::option::of(any::<u64>()),
            any::<u64>(),
            proptest::sample::select(ScriptKind::ALL.to_vec()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100)),
        )
            .prop_map(|(addr, value, kind, data)| Output {
                addr,
                value,
                kind,
                data,
            })
    }

    fn record_strategy() -> impl Strategy<Value = Record> {
        (
            any::<[u8; 32]>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(input_strategy(), 0..8),
            proptest::collection::vec(output_strategy(), 0..8),
        )
            .prop_map(|(txid, flags, size, vsize, inputs, outputs)| Record {
                txid: Hash32(txid),
                flags,
                size,
                vsize,
                inputs,
                outputs,
            })
    }

    proptest! {
        #[test]
        fn records_round_trip(rec in record_strategy(), junk in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut buf = junk.clone();
            rec.encode(&mut buf);
            prop_assert_eq!(&buf[..junk.len()], &junk[..], "encode appends");
            let enc = &buf[junk.len()..];
            prop_assert_eq!(Record::decode(enc).unwrap(), rec);
            // Any cut or any flipped byte is an error, never a panic or a different record.
            for cut in 0..enc.len() {
                prop_assert!(Record::decode(&enc[..cut]).is_err());
            }
            let mut bad = enc.to_vec();
            let at = (junk.len() * 7919) % bad.len();
            bad[at] ^= 0x5a;
            prop_assert!(Record::decode(&bad).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Record::decode(&bytes);
            let _ = Record::decode_body(&bytes);
        }
    }

    #[test]
    fn many_records_round_trip_across_syncs_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(7);
        let mut unspent = Vec::new();
        let mut log = TxLog::open(dir.path(), &Committed::default()).unwrap();
        let mut all = Vec::new();
        let mut committed = Committed::default();
        for batch in 0..5 {
            all.extend(append_batch(&mut log, &mut rng, &mut unspent, 2000));
            if batch % 2 == 0 {
                committed = log.sync().unwrap();
            }
        }
        // Before and after sync, then reopened: the same records.
        let check = |log: &TxLog, n: usize| {
            let mut out = 0;
            for (seq, rec) in all.iter().take(n).enumerate() {
                let seq = seq as u64;
                assert_eq!(&log.tx(seq).unwrap(), rec);
                assert_eq!(log.first_output(seq).unwrap(), out);
                if !rec.outputs.is_empty() {
                    assert_eq!(log.tx_of_output(out).unwrap(), seq);
                    let last = out + rec.outputs.len() as u64 - 1;
                    assert_eq!(log.tx_of_output(last).unwrap(), seq);
                }
                out += rec.outputs.len() as u64;
            }
            assert_eq!(log.output_count(), out);
            assert!(log.tx(n as u64).is_err());
        };
        check(&log, all.len());
        let end = log.sync().unwrap();
        assert_eq!(end.txs, 10_000);
        check(&log, all.len());
        drop(log);
        let log = TxLog::open(dir.path(), &committed).unwrap();
        assert_eq!(log.tx_count(), committed.txs);
        check(&log, committed.txs as usize);
        drop(log);
        let log = TxLog::open(dir.path(), &end).unwrap();
        check(&log, all.len());
    }

    #[test]
    fn find_txid_across_runs_with_bip30_duplicates_and_merges() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(11);
        let mut log = TxLog::open(dir.path(), &Committed::default()).unwrap();
        let mut recs = Vec::new();
        let dup = record(&mut rng, &[], 1);
        // A txid sharing the duplicate's 8-byte prefix but differing after it.
        let mut near = record(&mut rng, &[], 1);
        near.txid.0[..8].copy_from_slice(&dup.txid.0[..8]);
        for batch in 0..4 {
            for i in 0..300 {
                let rec = match (batch, i) {
                    (0, 5) | (2, 17) => dup.clone(),
                    (1, 0) => near.clone(),
                    _ => record(&mut rng, &[], 1),
                };
                log.append_tx(&rec).unwrap();
                recs.push(rec);
            }
            if batch < 3 {
                log.sync().unwrap();
            }
        }
        let want = |log: &TxLog| {
            assert_eq!(log.find_txid(&dup.txid).unwrap(), vec![5, 617]);
            assert_eq!(log.find_txid(&near.txid).unwrap(), vec![300]);
            assert_eq!(log.find_txid(&Hash32([9; 32])).unwrap(), Vec::<u64>::new());
            for (seq, rec) in recs.iter().enumerate().step_by(37) {
                if rec.txid != dup.txid {
                    assert_eq!(log.find_txid(&rec.txid).unwrap(), vec![seq as u64]);
                }
            }
        };
        // Three runs plus an unsynced batch.
        assert_eq!(log.live_runs(), 3);
        want(&log);
        let c = log.sync().unwrap();
        assert_eq!(log.live_runs(), 4);
        want(&log);
        log.merge_runs(2).unwrap();
        assert_eq!(log.live_runs(), 3);
        want(&log);
        log.merge_runs(usize::MAX).unwrap();
        assert_eq!(log.live_runs(), 1);
        want(&log);
        let merged = log.sync().unwrap();
        drop(log);
        let log = TxLog::open(dir.path(), &merged).unwrap();
        assert_eq!(log.live_runs(), 1);
        want(&log);
        drop(log);
        // A merge counts only once committed.
        let mut log = TxLog::open(dir.path(), &c).unwrap();
        assert_eq!(log.live_runs(), 4);
        want(&log);
        log.merge_runs(3).unwrap();
        assert_eq!(log.live_runs(), 2);
        want(&log);
        // Unwinding through a merged run rebuilds the uncovered txids.
        log.truncate_to(700, 700).unwrap();
        assert_eq!(log.find_txid(&dup.txid).unwrap(), vec![5, 617]);
        assert_eq!(log.find_txid(&recs[699].txid).unwrap(), vec![699]);
        assert_eq!(log.find_txid(&recs[700].txid).unwrap(), Vec::<u64>::new());
        let c = log.sync().unwrap();
        drop(log);
        let log = TxLog::open(dir.path(), &c).unwrap();
        assert_eq!(log.find_txid(&dup.txid).unwrap(), vec![5, 617]);
        assert_eq!(log.find_txid(&recs[699].txid).unwrap(), vec![699]);
        assert_eq!(log.find_txid(&recs[650].txid).unwrap(), vec![650]);
    }

    #[test]
    fn lookups_with_skewed_and_colliding_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(23);
        let mut log = TxLog::open(dir.path(), &Committed::default()).unwrap();
        let mut ids = Vec::new();
        for i in 0..3000u64 {
            let mut rec = record(&mut rng, &[], 1);
            // Clustered prefixes, and 700 txs sharing one prefix across several windows.
            let p = if (1000..1700).contains(&i) {
                1 << 40
            } else {
                (i * i) % 5000
            };
            rec.txid.0[..8].copy_from_slice(&p.to_le_bytes());
            log.append_tx(&rec).unwrap();
            ids.push(rec.txid);
        }
        log.sync().unwrap();
        let run = log.live[0];
        let keys: Vec<u64> = (run.start..run.end)
            .map(|i| log.run_entry(i).unwrap().0)
            .collect();
        let mut probes: Vec<u64> = keys.clone();
        probes.extend([0, 1, 4999, 5000, (1 << 40) - 1, (1 << 40) + 1, u64::MAX]);
        for p in probes {
            let want = keys.iter().take_while(|&&k| k < p).count() as u64;
            assert_eq!(
                log.lower_bound(&run, p).unwrap(),
                run.start + want,
                "prefix {p}"
            );
        }
        for (seq, id) in ids.iter().enumerate().step_by(7) {
            assert_eq!(log.find_txid(id).unwrap(), vec![seq as u64]);
        }
    }

    fn load(db: &Database) -> Committed {
        let r = db.begin_read().unwrap();
        match r.open_table(super::super::segment::SEGMENTS) {
            Ok(t) => Committed::load(&t, 3).unwrap(),
            Err(_) => Committed::default(),
        }
    }

    fn commit(db: &Database, c: &Committed) {
        let w = db.begin_write().unwrap();
        c.commit(&w, 3).unwrap();
        w.commit().unwrap();
    }

    #[test]
    fn spend_hints_count_only_when_committed_and_real() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::create(tmp.path().join("db.redb")).unwrap();
        let dir = tmp.path().join("btc");
        let mut rng = Rng(5);
        let mut log = TxLog::open(&dir, &load(&db)).unwrap();
        for _ in 0..10 {
            log.append_tx(&record(&mut rng, &[], 2)).unwrap();
        }
        commit(&db, &log.sync().unwrap());
        // A committed spend of output 3 by tx 10.
        let (s, _) = log.append_tx(&record(&mut rng, &[3], 1)).unwrap();
        log.mark_spent(3, s).unwrap();
        assert_eq!(log.spender(3).unwrap(), Some(10), "visible before sync");
        commit(&db, &log.sync().unwrap());
        assert_eq!(log.spender(3).unwrap(), Some(10));
        // A batch spending output 4 that is written and synced, but never committed.
        let (s, _) = log.append_tx(&record(&mut rng, &[4], 1)).unwrap();
        log.mark_spent(4, s).unwrap();
        log.sync().unwrap();
        assert_eq!(log.spender(4).unwrap(), Some(11));
        drop(log);
        let mut log = TxLog::open(&dir, &load(&db)).unwrap();
        assert_eq!(log.tx_count(), 11);
        assert_eq!(log.spender(4).unwrap(), None, "uncommitted spender");
        assert_eq!(log.spender(3).unwrap(), Some(10), "committed spender");
        // The stale hint on output 4 names tx 11; a different tx 11 that does not spend 4
        // must not inherit it.
        let (s, _) = log.append_tx(&record(&mut rng, &[5], 1)).unwrap();
        assert_eq!(s, 11);
        log.mark_spent(5, s).unwrap();
        commit(&db, &log.sync().unwrap());
        assert_eq!(
            log.spender(4).unwrap(),
            None,
            "hint names a tx that does not spend it"
        );
        assert_eq!(log.spender(5).unwrap(), Some(11));
        assert_eq!(log.spender(0).unwrap(), None);
        assert_eq!(log.spender(1_000).unwrap(), None, "past the end");
        assert!(log.mark_spent(1_000, 0).is_err());
        assert!(log.mark_spent(0, 1_000).is_err());
        drop(log);
        let log = TxLog::open(&dir, &load(&db)).unwrap();
        assert_eq!(log.spender(4).unwrap(), None);
        assert_eq!(log.spender(5).unwrap(), Some(11));
        assert_eq!(log.spender(3).unwrap(), Some(10));
    }

    /// Batches of the chain used by the unwind and crash tests: every run of the generator with
    /// the same seed appends the same records.
    fn batches(log: &mut TxLog, rng: &mut Rng, unspent: &mut Vec<u64>, sizes: &[usize]) {
        for &n in sizes {
            append_batch(log, rng, unspent, n);
            log.sync().unwrap();
        }
    }

    #[test]
    fn truncate_then_reappend_is_byte_identical() {
        // Reference: batches A, B, C, never unwound.
        let reference = tempfile::tempdir().unwrap();
        let mut rng = Rng(99);
        let mut unspent = Vec::new();
        let mut log = TxLog::open(reference.path(), &Committed::default()).unwrap();
        batches(&mut log, &mut rng, &mut unspent, &[500, 500]);
        let after_ab = files(reference.path());
        let (rng_ab, unspent_ab) = (rng.0, unspent.clone());
        let (txs_ab, outs_ab) = (log.tx_count(), log.output_count());
        batches(&mut log, &mut rng, &mut unspent, &[400]);
        let after_abc = files(reference.path());
        drop(log);

        // A, B, then a stale branch X of two batches, unwound to the end of B; then C.
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(99);
        let mut unspent = Vec::new();
        let mut log = TxLog::open(dir.path(), &Committed::default()).unwrap();
        batches(&mut log, &mut rng, &mut unspent, &[500, 500]);
        let mut stale = Rng(1234);
        batches(&mut log, &mut stale, &mut unspent.clone(), &[300, 300]);
        log.merge_runs(usize::MAX).unwrap();
        log.sync().unwrap();
        assert!(
            log.truncate_to(txs_ab, outs_ab + 1).is_err(),
            "not a tx boundary"
        );
        log.truncate_to(txs_ab, outs_ab).unwrap();
        log.sync().unwrap();
        same_files(
            &files(dir.path()),
            &after_ab,
            &FILES,
            "unwound: as if X never came",
        );
        batches(&mut log, &mut rng, &mut unspent, &[400]);
        same_files(&files(dir.path()), &after_abc, &FILES, "re-appended");
        drop(log);

        // Unwinding into the middle of a batch and re-appending the rest gives the same bytes.
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(99);
        let mut unspent = Vec::new();
        let mut log = TxLog::open(dir.path(), &Committed::default()).unwrap();
        batches(&mut log, &mut rng, &mut unspent, &[500]);
        let (rng_a, unspent_a) = (rng.0, unspent.clone());
        append_batch(&mut log, &mut rng, &mut unspent, 200);
        let (rng_mid, unspent_mid) = (rng.0, unspent.clone());
        let (txs_mid, outs_mid) = (log.tx_count(), log.output_count());
        append_batch(&mut log, &mut rng, &mut unspent, 300);
        log.sync().unwrap();
        log.truncate_to(txs_mid, outs_mid).unwrap();
        let mut rng = Rng(rng_mid);
        let mut unspent = unspent_mid;
        append_batch(&mut log, &mut rng, &mut unspent, 300);
        log.sync().unwrap();
        same_files(&files(dir.path()), &after_ab, &FILES, "mid-batch unwind");
        assert_eq!((rng.0, &unspent), (rng_ab, &unspent_ab));
        let _ = (rng_a, unspent_a);
    }

    #[test]
    fn crash_before_the_redb_commit_leaves_the_committed_state() {
        let reference = tempfile::tempdir().unwrap();
        let mut rng = Rng(3);
        let mut unspent = Vec::new();
        let mut log = TxLog::open(reference.path(), &Committed::default()).unwrap();
        batches(&mut log, &mut rng, &mut unspent, &[700, 700]);
        let want = files(reference.path());
        let want_commit = log.sync().unwrap();
        drop(log);

        let tmp = tempfile::tempdir().unwrap();
        let db = Database::create(tmp.path().join("db.redb")).unwrap();
        let dir = tmp.path().join("chain");
        let mut rng = Rng(3);
        let mut unspent = Vec::new();
        let mut log = TxLog::open(&dir, &load(&db)).unwrap();
        for n in [700, 700] {
            append_batch(&mut log, &mut rng, &mut unspent, n);
            commit(&db, &log.sync().unwrap());
        }
        // The next batch spends committed outputs, merges runs, is written and synced...
        append_batch(&mut log, &mut rng, &mut unspent, 900);
        log.merge_runs(usize::MAX).unwrap();
        log.sync().unwrap();
        // ...and the process dies before the redb commit.
        drop(log);
        let committed = load(&db);
        assert_eq!(committed, want_commit);
        let log = TxLog::open(&dir, &committed).unwrap();
        // The append-only files hold exactly the committed bytes; `spent_by.col` may keep hints
        // the dead batch wrote on committed outputs, which the check below must ignore.
        same_files(
            &files(&dir),
            &want,
            &[TXS_LOG, TXS_IDX, TXID_RUNS, TXID_RUNS_IDX],
            "after the crash",
        );
        // Every committed output's spender is what the reference says.
        let reference = TxLog::open(reference.path(), &want_commit).unwrap();
        for o in 0..log.output_count() {
            assert_eq!(log.spender(o).unwrap(), reference.spender(o).unwrap());
        }
        assert_eq!(log.tx(1399).unwrap(), reference.tx(1399).unwrap());
        assert!(log.tx(1400).is_err());
    }

    fn err_text(r: Result<TxLog, StoreError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn damaged_files_give_clean_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(17);
        let mut unspent = Vec::new();
        let mut log = TxLog::open(dir.path(), &Committed::default()).unwrap();
        append_batch(&mut log, &mut rng, &mut unspent, 50);
        let c = log.sync().unwrap();
        let (off5, _, _) = log.locate(5).unwrap();
        drop(log);
        let pristine = files(dir.path());
        let restore = || {
            for (f, b) in FILES.iter().zip(&pristine) {
                std::fs::write(dir.path().join(f), b).unwrap();
            }
        };

        // Each file shorter than committed.
        for f in FILES {
            let p = dir.path().join(f);
            let len = std::fs::metadata(&p).unwrap().len();
            let file = OpenOptions::new().write(true).open(&p).unwrap();
            file.set_len(len - 1).unwrap();
            let e = err_text(TxLog::open(dir.path(), &c));
            assert!(e.contains(f) && e.contains("were committed"), "{e}");
            restore();
        }

        // Garbage inside record 5: open works (the tail is fine), reading it names file and offset.
        let p = dir.path().join(TXS_LOG);
        let mut b = std::fs::read(&p).unwrap();
        b[off5 as usize + 40] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        let log = TxLog::open(dir.path(), &c).unwrap();
        let e = log.tx(5).unwrap_err().to_string();
        assert!(
            e.contains(TXS_LOG) && e.contains(&format!("offset {off5}")),
            "{e}"
        );
        assert!(log.tx(4).is_ok() && log.tx(6).is_ok());
        drop(log);
        restore();

        // Garbage in the last record is caught at open.
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 2] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        let e = err_text(TxLog::open(dir.path(), &c));
        assert!(e.contains(TXS_LOG) && e.contains("tx 49 at offset"), "{e}");
        restore();

        // A txs.idx entry pointing past the log.
        let p = dir.path().join(TXS_IDX);
        let mut b = std::fs::read(&p).unwrap();
        b[7 * 16..7 * 16 + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        let log = TxLog::open(dir.path(), &c).unwrap();
        let e = log.tx(7).unwrap_err().to_string();
        assert!(e.contains(TXS_IDX) && e.contains("offset 112"), "{e}");
        assert!(log.tx(6).is_err(), "tx 6 ends where tx 7 starts");
        drop(log);
        restore();

        // A run descriptor that does not fit.
        let p = dir.path().join(TXID_RUNS_IDX);
        let mut b = std::fs::read(&p).unwrap();
        b[8..16].copy_from_slice(&1_000_000u64.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        let e = err_text(TxLog::open(dir.path(), &c));
        assert!(e.contains(TXID_RUNS_IDX) && e.contains("offset 0"), "{e}");
        restore();

        // Committed lengths that disagree with each other.
        let bad = Committed {
            outputs: c.outputs - 1,
            ..c
        };
        let e = err_text(TxLog::open(dir.path(), &bad));
        assert!(e.contains(TXS_IDX), "{e}");
        assert!(TxLog::open(dir.path(), &c).is_ok());
    }
}
