//! Per-address adjacency of one UTXO chain: every (address, tx) pair with what the address
//! received and sent in that tx, linked newest-to-oldest per address, plus running totals.
//!
//! # Files
//! - `adj.log`: fixed 64-byte [`Entry`] records in chain order (by tx seq, then by first touch
//!   inside the tx). Each entry points at the previous entry of its address and carries the
//!   address's totals up to and including it, so the newest entry of an address *is* its
//!   balance, and its history is a linked list read backwards from there. Its committed length
//!   lives in redb like every bulk file; the bytes do not depend on how blocks were batched.
//! - `heads.col`: per address id, the index of its newest entry + 1 (0 = none), memory-mapped.
//!
//! # Why the heads are safe without an undo log
//! `heads.col` is written in place, but only for entries already committed, and it is derived
//! data: replaying committed entries in order (`head[addr] = index`) rebuilds it. The redb
//! segment `heads.applied` says up to which entry the file is known durable (it is advanced
//! only after an `msync`), so on open the entries from there to the committed end are replayed.
//! An unwind first records its target (`unwind.intent`); a crash in the middle of undoing heads
//! is repaired by replaying forward from that target, which puts every touched head back to the
//! committed state (the untouched ones were never changed).
#![deny(clippy::indexing_slicing)]

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};

use crate::StoreError;
use crate::bulk::segment::AppendFile;

/// Name of the entry log (also its name in the `segments` table, in bytes).
pub(crate) const ADJ_LOG: &str = "adj.log";
/// Name of the heads column.
pub(crate) const HEADS: &str = "heads.col";
/// Bytes per entry.
pub(crate) const ENTRY: u64 = 32;

/// One (address, tx) pair of the adjacency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Entry {
    /// Address id.
    pub(crate) addr: u32,
    /// Tx seq.
    pub(crate) seq: u64,
    /// Received by the address in this tx.
    pub(crate) received: u64,
    /// Sent by the address in this tx.
    pub(crate) sent: u64,
    /// Index of the address's previous entry, if any.
    pub(crate) prev: Option<u64>,
}

/// Largest tx seq and entry index an entry holds (40 bits: a thousand times Bitcoin's txs).
const MAX_40: u64 = (1 << 40) - 1;

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.addr.to_le_bytes());
        out.extend_from_slice(self.seq.to_le_bytes().get(..5).unwrap_or_default());
        out.extend_from_slice(
            self.prev
                .map_or(0, |p| p + 1)
                .to_le_bytes()
                .get(..5)
                .unwrap_or_default(),
        );
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.received.to_le_bytes());
        out.extend_from_slice(&self.sent.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Entry {
        let u = |o: usize, n: usize| -> u64 {
            let mut w = [0u8; 8];
            if let (Some(dst), Some(src)) = (w.get_mut(..n), b.get(o..o + n)) {
                dst.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        Entry {
            addr: u(0, 4) as u32,
            seq: u(4, 5),
            prev: u(9, 5).checked_sub(1),
            received: u(16, 8),
            sent: u(24, 8),
        }
    }
}

/// An address's totals, summed over its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Totals {
    /// Total received.
    pub(crate) received: u128,
    /// Total sent.
    pub(crate) sent: u128,
    /// Txs touching it.
    pub(crate) count: u64,
}

/// The adjacency of one chain. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Adjacency {
    dir: PathBuf,
    log: AppendFile,
    /// Read map of `adj.log`, covering `mapped` entries (remapped after each sync).
    view: Option<Mmap>,
    mapped: u64,
    heads_file: File,
    heads: Option<MmapMut>,
    /// Ids `heads` has room for.
    heads_cap: u64,
    /// Entries appended (committed or not).
    entries: u64,
    /// Reused encode buffer.
    buf: Vec<u8>,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Segment {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

impl Adjacency {
    /// Opens the adjacency in `dir` with `committed` entries, replaying the heads of entries
    /// `redo_from..committed` (see the module docs); the log is cut back to `committed`.
    pub(crate) fn open(
        dir: &Path,
        committed: u64,
        redo_from: u64,
    ) -> Result<Adjacency, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "create directory", e))?;
        let log = AppendFile::open(&dir.join(ADJ_LOG), committed * ENTRY)?;
        let heads_path = dir.join(HEADS);
        let heads_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&heads_path)
            .map_err(|e| io(&heads_path, "open", e))?;
        let heads_cap = heads_file
            .metadata()
            .map_err(|e| io(&heads_path, "stat", e))?
            .len()
            / 8;
        let mut adj = Adjacency {
            dir: dir.to_path_buf(),
            log,
            view: None,
            mapped: 0,
            heads_file,
            heads: None,
            heads_cap: 0,
            entries: committed,
            buf: Vec::new(),
        };
        adj.map_heads(heads_cap)?;
        adj.remap()?;
        adj.redo_heads(redo_from.min(committed), committed)?;
        Ok(adj)
    }

    /// Entries appended so far (committed or not).
    pub(crate) fn len(&self) -> u64 {
        self.entries
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(ADJ_LOG)
    }

    fn remap(&mut self) -> Result<(), StoreError> {
        let on_disk = self.log.len() - self.log.len() % ENTRY;
        if on_disk == self.mapped * ENTRY {
            return Ok(());
        }
        self.view = None;
        self.mapped = 0;
        if on_disk > 0 {
            let file = File::open(self.log_path()).map_err(|e| io(&self.log_path(), "open", e))?;
            // SAFETY: the store owns this file; it is only appended to or truncated by this
            // process, and the map is dropped before any truncation.
            let map = unsafe { memmap2::MmapOptions::new().len(on_disk as usize).map(&file) }
                .map_err(|e| io(&self.log_path(), "map", e))?;
            self.view = Some(map);
            self.mapped = on_disk / ENTRY;
        }
        Ok(())
    }

    fn map_heads(&mut self, cap: u64) -> Result<(), StoreError> {
        let path = self.dir.join(HEADS);
        if cap > self.heads_cap || self.heads.is_none() {
            let cap = cap.max(self.heads_cap);
            if cap * 8
                > self
                    .heads_file
                    .metadata()
                    .map_err(|e| io(&path, "stat", e))?
                    .len()
            {
                self.heads_file
                    .set_len(cap * 8)
                    .map_err(|e| io(&path, "extend", e))?;
            }
            self.heads = None;
            if cap > 0 {
                // SAFETY: as for the log map; the heads file is private to this store.
                let map = unsafe { MmapMut::map_mut(&self.heads_file) }
                    .map_err(|e| io(&path, "map", e))?;
                self.heads = Some(map);
            }
            self.heads_cap = cap;
        }
        Ok(())
    }

    /// The index of the newest committed entry of `addr`.
    pub(crate) fn head(&self, addr: u32) -> Option<u64> {
        let at = usize::try_from(addr).ok()? * 8;
        let b = self.heads.as_ref()?.get(at..at + 8)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w).checked_sub(1)
    }

    fn set_head(&mut self, addr: u32, head: Option<u64>) -> Result<(), StoreError> {
        let id = u64::from(addr);
        if id >= self.heads_cap {
            self.map_heads((id + 1).next_power_of_two().max(1 << 16))?;
        }
        let at = addr as usize * 8;
        if let Some(dst) = self.heads.as_mut().and_then(|m| m.get_mut(at..at + 8)) {
            dst.copy_from_slice(&head.map_or(0, |h| h + 1).to_le_bytes());
        }
        Ok(())
    }

    /// Entry `idx` (committed or synced).
    pub(crate) fn entry(&self, idx: u64) -> Result<Entry, StoreError> {
        let bytes = (idx < self.mapped)
            .then(|| {
                let at = usize::try_from(idx * ENTRY).ok()?;
                self.view.as_ref()?.get(at..at + ENTRY as usize)
            })
            .flatten();
        match bytes {
            Some(b) => Ok(Entry::decode(b)),
            None => Err(StoreError::Segment {
                path: self.log_path(),
                reason: format!("entry {idx} is past the {} entries on disk", self.mapped),
            }),
        }
    }

    /// Appends an entry for `addr` in tx `seq` linked after `prev` (the address's newest entry:
    /// from the caller's batch, or [`Adjacency::head`]); returns its index.
    pub(crate) fn append(
        &mut self,
        addr: u32,
        seq: u64,
        received: u64,
        sent: u64,
        prev: Option<u64>,
    ) -> Result<u64, StoreError> {
        if seq > MAX_40 || self.entries > MAX_40 {
            return Err(StoreError::Segment {
                path: self.log_path(),
                reason: format!("tx seq {seq} or entry {} exceeds 40 bits", self.entries),
            });
        }
        let e = Entry {
            addr,
            seq,
            received,
            sent,
            prev,
        };
        self.buf.clear();
        e.encode(&mut self.buf);
        self.log.append(&self.buf)?;
        let idx = self.entries;
        self.entries += 1;
        Ok(idx)
    }

    /// The totals of `addr`: a walk over its whole history.
    pub(crate) fn totals(&self, addr: u32) -> Result<Totals, StoreError> {
        let mut t = Totals::default();
        for e in self.walk(self.head(addr)) {
            let e = e?;
            t.received += u128::from(e.received);
            t.sent += u128::from(e.sent);
            t.count += 1;
        }
        Ok(t)
    }

    /// Writes and syncs the appended entries; returns the byte length to commit.
    pub(crate) fn sync(&mut self) -> Result<u64, StoreError> {
        let len = self.log.sync()?;
        self.remap()?;
        Ok(len)
    }

    /// Points the heads at committed entries (after the redb commit that made them count).
    pub(crate) fn set_heads(
        &mut self,
        heads: impl IntoIterator<Item = (u32, u64)>,
    ) -> Result<(), StoreError> {
        for (addr, idx) in heads {
            self.set_head(addr, Some(idx))?;
        }
        Ok(())
    }

    /// Makes the heads file durable (`msync`): afterwards `heads.applied` may say `len()`.
    pub(crate) fn flush_heads(&self) -> Result<(), StoreError> {
        if let Some(m) = &self.heads {
            m.flush()
                .map_err(|e| io(&self.dir.join(HEADS), "sync", e))?;
        }
        Ok(())
    }

    /// Sets the heads of entries `from..to` as if they were applied in order.
    fn redo_heads(&mut self, from: u64, to: u64) -> Result<(), StoreError> {
        for idx in from..to {
            let e = self.entry(idx)?;
            self.set_head(e.addr, Some(idx))?;
        }
        Ok(())
    }

    /// Undoes the heads of entries `from..len()`, newest first: each address's head goes back to
    /// its newest entry before `from`. Idempotent; see the module docs for the crash protocol.
    pub(crate) fn undo_heads(&mut self, from: u64) -> Result<(), StoreError> {
        let mut idx = self.entries;
        while idx > from {
            idx -= 1;
            let e = self.entry(idx)?;
            self.set_head(e.addr, e.prev)?;
        }
        Ok(())
    }

    /// Drops every entry from `entries` on (after the heads were undone and the cut committed).
    pub(crate) fn truncate(&mut self, entries: u64) -> Result<(), StoreError> {
        self.view = None;
        self.mapped = 0;
        self.log.truncate(entries * ENTRY)?;
        self.entries = entries;
        self.remap()
    }

    /// The history of `addr` newest first, from its head, as (entry index, entry).
    pub(crate) fn walk(&self, head: Option<u64>) -> Walk<'_> {
        Walk {
            adj: self,
            next: head,
        }
    }
}

/// Iterator over an address's entries, newest first.
pub(crate) struct Walk<'a> {
    adj: &'a Adjacency,
    next: Option<u64>,
}

impl Iterator for Walk<'_> {
    type Item = Result<Entry, StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        let idx = self.next?;
        match self.adj.entry(idx) {
            Ok(e) => {
                if e.prev.is_some_and(|p| p >= idx) {
                    self.next = None;
                    return Some(Err(StoreError::Segment {
                        path: self.adj.log_path(),
                        reason: format!("entry {idx} links forward to {:?}", e.prev),
                    }));
                }
                self.next = e.prev;
                Some(Ok(e))
            }
            Err(e) => {
                self.next = None;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_totals_link() {
        let e = Entry {
            addr: 7,
            seq: MAX_40,
            received: 5,
            sent: u64::MAX,
            prev: Some(MAX_40 - 1),
        };
        let mut b = Vec::new();
        e.encode(&mut b);
        assert_eq!(b.len() as u64, ENTRY);
        assert_eq!(Entry::decode(&b), e);
    }

    #[test]
    fn heads_redo_and_undo_restore_each_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Adjacency::open(dir.path(), 0, 0).unwrap();
        let mut last: std::collections::HashMap<u32, u64> = Default::default();
        for (seq, addr) in [(0u64, 1u32), (0, 2), (1, 1), (2, 3), (3, 1), (3, 2)] {
            let i = a
                .append(addr, seq, seq + 1, 0, last.get(&addr).copied())
                .unwrap();
            last.insert(addr, i);
        }
        a.sync().unwrap();
        a.set_heads(last.iter().map(|(&k, &i)| (k, i))).unwrap();
        let one: Vec<u64> = a.walk(a.head(1)).map(|e| e.unwrap().seq).collect();
        assert_eq!(one, [3, 1, 0]);
        let t = a.totals(1).unwrap();
        assert_eq!((t.count, t.received), (3, 1 + 2 + 4));
        // Undo the last two entries, then a reopen that replays from 0 restores everything.
        a.undo_heads(4).unwrap();
        assert_eq!(a.head(1), Some(2));
        assert_eq!(a.head(2), Some(1));
        assert_eq!(a.head(3), Some(3));
        drop(a);
        let a = Adjacency::open(dir.path(), 6, 0).unwrap();
        assert_eq!(a.head(1), Some(4));
        assert_eq!(a.head(2), Some(5));
        // An unwind: undo the heads, then reopen with 4 committed entries, which cuts the log.
        let mut a = a;
        a.undo_heads(4).unwrap();
        a.flush_heads().unwrap();
        drop(a);
        let a = Adjacency::open(dir.path(), 4, 4).unwrap();
        assert_eq!((a.len(), a.head(1), a.head(2)), (4, Some(2), Some(1)));
        assert!(a.entry(4).is_err());
    }
}
