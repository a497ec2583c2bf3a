//! The UTXO set of the bulk path: a RAM map of the newest unspent outputs in front of sorted
//! runs on disk, so ingest memory stays bounded however large the set grows.
//!
//! During ingest every input looks up the output it spends. Most outputs are spent soon after
//! they are made, so the newest ones are kept in a RAM hash map; when it holds
//! [`UtxoSetOptions::ram_entries`] the older half (by output seq) is written to disk as a run
//! sorted by key, as Bitcoin Core's `-dbcache` flushes to its chainstate. A lookup that misses
//! RAM reads the runs, newest first: a binary search of the run's page fences (kept in RAM,
//! 8 bytes per 4 KiB page) and one page of the memory-mapped file. A spent output in a run is
//! marked in the run's dead bitmap (RAM, one bit per entry); when more than
//! [`UtxoSetOptions::max_runs`] runs exist they are merged into one without their dead entries.
//!
//! # Keys
//! An entry is keyed by a 96-bit keyed fingerprint of its outpoint (see
//! [`fingerprint`](super::fingerprint)), not by the 36-byte outpoint: an entry is 34 bytes
//! (12-byte key, 22-byte packed value), which puts mainnet's ~180 million unspent outputs at
//! about 6 GB all told, RAM and disk together. Two live outpoints sharing a fingerprint is
//! assumed never to happen (about 1e-10 at mainnet's size; the seed is random per set, so it
//! cannot be forced by crafting txs).
//!
//! # Durability
//! The set is derived data. Runs are process-private scratch files (never synced, deleted when
//! the set is dropped or the next one opens). On a clean stop the whole set is written to
//! `utxo.snap` tagged with the committed tx count; on open it is used only if that tag equals
//! the committed count, otherwise (after a crash) the caller rebuilds the set from the tx log.
//! The snapshot is written to a temporary name, synced and renamed, so a torn one is never
//! read; a damaged one fails its checksum. A loaded snapshot is renamed into a run and read in
//! place (consumed, so it can never be mistaken for a later state), not copied into RAM.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bitcoin::hashes::{Hash as _, HashEngine, sha256};
use memmap2::Mmap;
use tracehound_core::OutPoint;

use super::fingerprint::KeyedHash;
use crate::StoreError;

/// What an unspent output needs to resolve the input that spends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unspent {
    /// Its output sequence number in the tx log.
    pub out_seq: u64,
    /// The address id it pays.
    pub addr: u64,
    /// Its value in base units.
    pub value: u64,
    /// Height of the block that created it.
    pub height: u32,
    /// Script kind code, with the coinbase bit.
    pub flags: u8,
}

/// How much of the set may stay in RAM.
#[derive(Debug, Clone)]
pub struct UtxoSetOptions {
    /// Entries held in the RAM map before its older half is written to disk.
    pub ram_entries: usize,
    /// Runs on disk that trigger a merge into one.
    pub max_runs: usize,
}

impl UtxoSetOptions {
    /// The most entries whose RAM table fits in `bytes` (34-byte slots, 3/4 full at most), so
    /// the table never grows past `bytes`.
    pub fn for_ram_bytes(bytes: usize) -> UtxoSetOptions {
        UtxoSetOptions {
            ram_entries: (bytes / ENTRY).max(64) / 4 * 3,
            max_runs: 4,
        }
    }
}

impl Default for UtxoSetOptions {
    /// 4 GiB of RAM table: about 95 million entries (the benchmark chains and mainnet's whole
    /// set until about 2017 stay in RAM).
    fn default() -> Self {
        UtxoSetOptions::for_ram_bytes(4 << 30)
    }
}

const MAGIC: &[u8; 8] = b"THUTXO02";
/// magic 8, tag 8, seed 16.
const HEAD: usize = 32;
/// count 8, sha256 32.
const TAIL: usize = 40;
const KEY: usize = 12;
const VALUE: usize = 22;
const ENTRY: usize = KEY + VALUE;
/// Entries per fence: one 4 KiB page.
const PAGE_ENTRIES: usize = 4096 / ENTRY;
const RUN_PREFIX: &str = "utxo-run-";
/// The key of an empty slot; [`Key::of`] never yields it.
const EMPTY: [u8; KEY] = [0; KEY];

/// An outpoint's key in one [`UtxoSet`] (see [`UtxoSet::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtxoKey(Key);

/// A 96-bit outpoint fingerprint, big-endian so that byte order is numeric order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key([u8; KEY]);

impl Key {
    fn of(seed: KeyedHash, op: &OutPoint) -> Key {
        let mut bytes = [0u8; 36];
        bytes[..32].copy_from_slice(&op.txid.0);
        bytes[32..].copy_from_slice(&op.vout.to_le_bytes());
        let mut k = [0u8; KEY];
        k.copy_from_slice(&seed.hash128(&bytes).to_be_bytes()[..KEY]);
        if k == EMPTY {
            k[KEY - 1] = 1;
        }
        Key(k)
    }

    /// The top 64 bits (uniformly spread: a hash, and a fence).
    fn top(&self) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(w)
    }
}

/// An [`Unspent`] packed into 22 bytes (output seq in 40 bits, address id in 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed([u8; VALUE]);

impl Packed {
    fn pack(u: &Unspent) -> Option<Packed> {
        if u.out_seq >= 1 << 40 {
            return None;
        }
        let addr = u32::try_from(u.addr).ok()?;
        let mut b = [0u8; VALUE];
        b[..5].copy_from_slice(&u.out_seq.to_le_bytes()[..5]);
        b[5..9].copy_from_slice(&addr.to_le_bytes());
        b[9..17].copy_from_slice(&u.value.to_le_bytes());
        b[17..21].copy_from_slice(&u.height.to_le_bytes());
        b[21] = u.flags;
        Some(Packed(b))
    }

    fn word(&self, r: std::ops::Range<usize>) -> u64 {
        let mut w = [0u8; 8];
        if let (Some(dst), Some(src)) = (w.get_mut(..r.len()), self.0.get(r)) {
            dst.copy_from_slice(src);
        }
        u64::from_le_bytes(w)
    }

    fn out_seq(&self) -> u64 {
        self.word(0..5)
    }

    fn unpack(&self) -> Unspent {
        Unspent {
            out_seq: self.out_seq(),
            addr: self.word(5..9),
            value: self.word(9..17),
            height: self.word(17..21) as u32,
            flags: self.0[21],
        }
    }
}

/// Zeroed memory for the table, straight from the OS: pages cost RAM only once used, and on
/// Linux they are asked to be huge pages, since random probes over a table of hundreds of MB
/// otherwise miss the TLB on almost every lookup. Falls back to the heap where anonymous maps
/// are refused.
#[derive(Debug)]
enum Table {
    Mapped(memmap2::MmapMut),
    Heap(Vec<u8>),
}

impl Table {
    fn zeroed(len: usize) -> Table {
        match memmap2::MmapMut::map_anon(len.max(1)) {
            Ok(map) => {
                #[cfg(target_os = "linux")]
                let _ = map.advise(memmap2::Advice::HugePage);
                Table::Mapped(map)
            }
            Err(_) => Table::Heap(vec![0; len]),
        }
    }
}

impl std::ops::Deref for Table {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Table::Mapped(m) => m,
            Table::Heap(v) => v,
        }
    }
}

impl std::ops::DerefMut for Table {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Table::Mapped(m) => m,
            Table::Heap(v) => v,
        }
    }
}

/// The RAM part: open addressing with linear probing over 34-byte slots (key, then value), at
/// most 3/4 full. Unlike a general-purpose map, the slot a key starts probing at is known from
/// the key alone, so ingest can prefetch it a few inputs ahead ([`Slots::prefetch`]); with the
/// set far larger than the CPU caches, those misses are most of a lookup's cost. Deletion
/// shifts the following entries back (no tombstones), so probe runs stay short.
#[derive(Debug)]
struct Slots {
    bytes: Table,
    slots: usize,
    /// The most slots it may grow to.
    max_slots: usize,
    len: usize,
}

impl Slots {
    /// A table for up to `max_entries` entries, starting small.
    fn for_entries(max_entries: usize) -> Slots {
        let max_slots = max_entries.saturating_mul(4) / 3;
        Slots::with_slots(64.min(max_slots), max_slots)
    }

    fn with_slots(slots: usize, max_slots: usize) -> Slots {
        let slots = slots.max(1);
        Slots {
            bytes: Table::zeroed(slots * ENTRY),
            slots,
            max_slots: max_slots.max(slots),
            len: 0,
        }
    }

    fn slots(&self) -> usize {
        self.slots
    }

    /// Where `key`'s probe starts: its top bits scaled to the table (any size, not only powers
    /// of two, so a RAM budget is used whole).
    fn home(&self, key: &Key) -> usize {
        ((u128::from(key.top()) * self.slots as u128) >> 64) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots { 0 } else { i + 1 }
    }

    /// Steps from `from` forward to `to`, wrapping.
    fn dist(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots - from
        }
    }

    fn slot(&self, i: usize) -> &[u8] {
        let at = i * ENTRY;
        self.bytes.get(at..at + ENTRY).unwrap_or(&[0; ENTRY])
    }

    fn key_at(&self, i: usize) -> [u8; KEY] {
        let mut k = [0u8; KEY];
        k.copy_from_slice(&self.slot(i)[..KEY]);
        k
    }

    fn value_at(&self, i: usize) -> Packed {
        let mut v = [0u8; VALUE];
        v.copy_from_slice(&self.slot(i)[KEY..]);
        Packed(v)
    }

    fn write(&mut self, i: usize, key: &[u8; KEY], value: &Packed) {
        let at = i * ENTRY;
        if let Some(dst) = self.bytes.get_mut(at..at + ENTRY) {
            dst[..KEY].copy_from_slice(key);
            dst[KEY..].copy_from_slice(&value.0);
        }
    }

    /// The slot holding `key`, or the empty slot ending its probe run.
    fn probe(&self, key: &Key) -> (usize, bool) {
        let mut i = self.home(key);
        loop {
            let k = self.key_at(i);
            if k == key.0 {
                return (i, true);
            }
            if k == EMPTY {
                return (i, false);
            }
            i = self.next(i);
        }
    }

    /// Hints the CPU to fetch the cache lines where `key`'s probe starts.
    fn prefetch(&self, key: &Key) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let at = self.home(key) * ENTRY;
            if let Some(line) = self.bytes.get(at..) {
                // SAFETY: a prefetch is a hint that never faults and reads nothing into the
                // program; the pointers are inside the table anyway. SSE is part of x86_64.
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
                    if let Some(next) = line.get(ENTRY..) {
                        _mm_prefetch::<_MM_HINT_T0>(next.as_ptr().cast());
                    }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    fn insert(&mut self, key: &Key, value: &Packed) {
        if (self.len + 1) * 4 > self.slots * 3 || self.len + 1 >= self.slots {
            self.grow();
        }
        let (i, found) = self.probe(key);
        self.write(i, &key.0, value);
        if !found {
            self.len += 1;
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Packed> {
        let (mut hole, found) = self.probe(key);
        if !found {
            return None;
        }
        let value = self.value_at(hole);
        // Backward shift: an entry after the hole moves into it unless its home lies
        // (cyclically) after the hole, where a lookup would no longer pass the hole.
        let mut j = self.next(hole);
        loop {
            let k = self.key_at(j);
            if k == EMPTY {
                break;
            }
            let home = self.home(&Key(k));
            if self.dist(home, j) >= self.dist(hole, j) {
                let v = self.value_at(j);
                self.write(hole, &k, &v);
                hole = j;
            }
            j = self.next(j);
        }
        self.write(hole, &EMPTY, &Packed([0; VALUE]));
        self.len -= 1;
        Some(value)
    }

    fn iter(&self) -> impl Iterator<Item = (Key, Packed)> + '_ {
        (0..self.slots()).filter_map(|i| {
            let k = self.key_at(i);
            (k != EMPTY).then(|| (Key(k), self.value_at(i)))
        })
    }

    fn grow(&mut self) {
        // Past its budget the caller spills; the one spare slot keeps probes finite.
        let slots = (self.slots * 2).min(self.max_slots).max(self.len + 2);
        if slots == self.slots {
            return;
        }
        let mut bigger = Slots::with_slots(slots, self.max_slots);
        for (k, v) in self.iter() {
            let (i, _) = bigger.probe(&k);
            bigger.write(i, &k.0, &v);
            bigger.len += 1;
        }
        *self = bigger;
    }

    /// Takes out every entry `take` selects; the rest stay where the table's probing puts
    /// them (removed one by one, so no second table is allocated while the first is full).
    fn extract(&mut self, mut take: impl FnMut(&Packed) -> bool) -> Vec<(Key, Packed)> {
        let out: Vec<(Key, Packed)> = self.iter().filter(|(_, v)| take(v)).collect();
        for (k, _) in &out {
            self.remove(k);
        }
        out
    }
}

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Segment {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

/// Entries sorted by key in a memory-mapped file, with a dead bit per entry.
#[derive(Debug)]
struct Run {
    path: PathBuf,
    map: Mmap,
    /// Byte offset of entry 0.
    start: usize,
    len: usize,
    /// Top 64 key bits of the first entry of every page of [`PAGE_ENTRIES`].
    fences: Vec<u64>,
    dead: Vec<u64>,
    dead_count: usize,
}

impl Run {
    fn open(path: PathBuf, start: usize, len: usize) -> Result<Run, StoreError> {
        let file = File::open(&path).map_err(|e| io(&path, "open run", e))?;
        // SAFETY: the file is private to this process (a fresh run or a consumed snapshot
        // renamed to a name no one else uses) and never written while mapped.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io(&path, "map run", e))?;
        if map.len() < start + len * ENTRY {
            return Err(StoreError::Segment {
                path,
                reason: format!("{} bytes cannot hold {len} entries", map.len()),
            });
        }
        let _ = map.advise(memmap2::Advice::Random);
        let mut run = Run {
            path,
            map,
            start,
            len,
            fences: Vec::with_capacity(len.div_ceil(PAGE_ENTRIES)),
            dead: vec![0; len.div_ceil(64)],
            dead_count: 0,
        };
        run.fences = (0..len)
            .step_by(PAGE_ENTRIES)
            .map(|i| run.key(i).top())
            .collect();
        Ok(run)
    }

    fn entry(&self, i: usize) -> &[u8] {
        let at = self.start + i * ENTRY;
        self.map.get(at..at + ENTRY).unwrap_or(&[0; ENTRY])
    }

    fn key(&self, i: usize) -> Key {
        let mut k = [0u8; KEY];
        k.copy_from_slice(&self.entry(i)[..KEY]);
        Key(k)
    }

    fn value(&self, i: usize) -> Packed {
        let mut v = [0u8; VALUE];
        v.copy_from_slice(&self.entry(i)[KEY..]);
        Packed(v)
    }

    fn is_dead(&self, i: usize) -> bool {
        self.dead
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The live entry with `key`.
    fn find(&self, key: &Key) -> Option<usize> {
        let top = key.top();
        // Pages whose first key could be ≤ key: from the last page starting below `top` to the
        // last page starting at or below it (several only when a top value spans pages).
        let first_page = self.fences.partition_point(|&f| f < top).saturating_sub(1);
        let end_page = self
            .fences
            .partition_point(|&f| f <= top)
            .max(first_page + 1);
        let lo = first_page * PAGE_ENTRIES;
        let hi = (end_page * PAGE_ENTRIES).min(self.len);
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let mid = a + (b - a) / 2;
            if self.key(mid) < *key {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        (a < hi && self.key(a) == *key && !self.is_dead(a)).then_some(a)
    }

    fn kill(&mut self, i: usize) {
        if let Some(w) = self.dead.get_mut(i / 64) {
            *w |= 1 << (i % 64);
            self.dead_count += 1;
        }
    }

    fn live(&self) -> usize {
        self.len - self.dead_count
    }

    fn iter_live(&self) -> impl Iterator<Item = (Key, Packed)> + '_ {
        (0..self.len)
            .filter(|&i| !self.is_dead(i))
            .map(|i| (self.key(i), self.value(i)))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Scratch data: a failure only leaves a file the next open deletes.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Merges key-sorted streams into one, oldest stream first in `streams`; where several hold a
/// key, the newest stream's entry wins (a BIP30 duplicate replacing its older twin).
fn merge<'a>(
    mut streams: Vec<Box<dyn Iterator<Item = (Key, Packed)> + 'a>>,
) -> impl Iterator<Item = (Key, Packed)> + 'a {
    let mut heads: Vec<Option<(Key, Packed)>> = streams.iter_mut().map(|s| s.next()).collect();
    std::iter::from_fn(move || {
        let min = heads.iter().flatten().map(|(k, _)| *k).min()?;
        let mut winner = None;
        for (head, stream) in heads.iter_mut().zip(streams.iter_mut()) {
            if head.is_some_and(|(k, _)| k == min) {
                winner = head.take();
                *head = stream.next();
            }
        }
        winner
    })
}

/// The unspent outputs of one chain. See the [module docs](self).
#[derive(Debug)]
pub struct UtxoSet {
    seed: KeyedHash,
    ram: Slots,
    /// Oldest first.
    runs: Vec<Run>,
    /// Where runs go; `None` keeps everything in RAM.
    dir: Option<PathBuf>,
    options: UtxoSetOptions,
    /// Distinguishes this set's run files from any other's.
    tag: u64,
    next_run: u64,
}

impl Default for UtxoSet {
    /// An empty set held in RAM only.
    fn default() -> Self {
        UtxoSet::in_ram()
    }
}

impl UtxoSet {
    /// An empty set that never spills.
    pub fn in_ram() -> UtxoSet {
        UtxoSet {
            seed: KeyedHash::random(),
            ram: Slots::for_entries(usize::MAX / 64),
            runs: Vec::new(),
            dir: None,
            options: UtxoSetOptions {
                ram_entries: usize::MAX,
                max_runs: usize::MAX,
            },
            tag: 0,
            next_run: 0,
        }
    }

    /// An empty set that spills to runs in `dir` as `options` says, after deleting the runs a
    /// crashed process left there.
    pub fn new(dir: &Path, options: &UtxoSetOptions) -> Result<UtxoSet, StoreError> {
        remove_stale_runs(dir)?;
        Ok(UtxoSet::spilling_to(dir, options, KeyedHash::random()))
    }

    fn spilling_to(dir: &Path, options: &UtxoSetOptions, seed: KeyedHash) -> UtxoSet {
        UtxoSet {
            seed,
            ram: Slots::for_entries(options.ram_entries),
            runs: Vec::new(),
            dir: Some(dir.to_path_buf()),
            options: options.clone(),
            tag: KeyedHash::random().0[0],
            next_run: 0,
        }
    }

    /// Unspent outputs held.
    pub fn len(&self) -> usize {
        self.ram.len + self.runs.iter().map(Run::live).sum::<usize>()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unspent outputs held in RAM (the rest are in runs on disk).
    pub fn in_ram_len(&self) -> usize {
        self.ram.len
    }

    /// The key of `outpoint` in this set, for the keyed calls (a hash: worth computing once
    /// when an entry is prefetched and then used).
    pub fn key(&self, outpoint: &OutPoint) -> UtxoKey {
        UtxoKey(Key::of(self.seed, outpoint))
    }

    /// Hints the CPU to fetch where `key`'s entry would be in RAM: called a few inputs or
    /// outputs ahead of [`UtxoSet::spend_keyed`] / [`UtxoSet::insert_keyed`], it hides their
    /// cache misses.
    pub fn prefetch(&self, key: &UtxoKey) {
        self.ram.prefetch(&key.0);
    }

    /// Adds a new output (a BIP30 duplicate replaces its older twin, as in Core). Fails for an
    /// output seq beyond 40 bits or an address id beyond 32 bits, or when a spill to disk fails.
    pub fn insert(&mut self, outpoint: OutPoint, unspent: Unspent) -> Result<(), StoreError> {
        self.insert_keyed(&self.key(&outpoint), &outpoint, unspent)
    }

    /// [`UtxoSet::insert`] with the outpoint's key already computed.
    pub fn insert_keyed(
        &mut self,
        key: &UtxoKey,
        outpoint: &OutPoint,
        unspent: Unspent,
    ) -> Result<(), StoreError> {
        let packed = Packed::pack(&unspent).ok_or_else(|| StoreError::Corrupt {
            table: "utxo set",
            what: format!(
                "output seq {} or address id {} of {}:{} exceeds the packed entry",
                unspent.out_seq, unspent.addr, outpoint.txid, outpoint.vout
            ),
        })?;
        self.ram.insert(&key.0, &packed);
        if self.ram.len >= self.options.ram_entries {
            self.spill()?;
        }
        Ok(())
    }

    /// Removes and returns the output `outpoint` spends, if unspent.
    pub fn spend(&mut self, outpoint: &OutPoint) -> Option<Unspent> {
        self.spend_keyed(&self.key(outpoint))
    }

    /// [`UtxoSet::spend`] with the outpoint's key already computed.
    pub fn spend_keyed(&mut self, key: &UtxoKey) -> Option<Unspent> {
        let key = &key.0;
        if let Some(p) = self.ram.remove(key) {
            return Some(p.unpack());
        }
        self.runs.iter_mut().rev().find_map(|run| {
            let i = run.find(key)?;
            run.kill(i);
            Some(run.value(i).unpack())
        })
    }

    /// Writes the older half of the RAM map (by output seq) to a new run.
    fn spill(&mut self) -> Result<(), StoreError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let mut seqs: Vec<u64> = self.ram.iter().map(|(_, p)| p.out_seq()).collect();
        let mid = seqs.len() / 2;
        let cut = seqs.select_nth_unstable(mid).1.to_owned();
        drop(seqs);
        let mut old = self.ram.extract(|p| p.out_seq() < cut);
        old.sort_unstable_by_key(|e| e.0);
        tracing::debug!(
            entries = old.len(),
            runs = self.runs.len() + 1,
            "UTXO set spills to disk"
        );
        let run = self.write_run(&dir, old.into_iter())?;
        self.runs.push(run);
        if self.runs.len() > self.options.max_runs {
            let runs = std::mem::take(&mut self.runs);
            let merged = {
                let streams = runs
                    .iter()
                    .map(|r| Box::new(r.iter_live()) as Box<dyn Iterator<Item = _>>)
                    .collect();
                self.write_run(&dir, merge(streams))?
            };
            drop(runs);
            self.runs.push(merged);
        }
        Ok(())
    }

    fn write_run(
        &mut self,
        dir: &Path,
        entries: impl Iterator<Item = (Key, Packed)>,
    ) -> Result<Run, StoreError> {
        let path = dir.join(format!("{RUN_PREFIX}{:016x}-{}", self.tag, self.next_run));
        self.next_run += 1;
        let file = File::create(&path).map_err(|e| io(&path, "create run", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut len = 0;
        for (k, p) in entries {
            w.write_all(&k.0)
                .and_then(|()| w.write_all(&p.0))
                .map_err(|e| io(&path, "write run", e))?;
            len += 1;
        }
        w.flush().map_err(|e| io(&path, "write run", e))?;
        drop(w);
        Run::open(path, 0, len)
    }

    /// Every live entry in key order, each key once.
    fn sorted(&self) -> impl Iterator<Item = (Key, Packed)> + '_ {
        let mut ram: Vec<(Key, Packed)> = self.ram.iter().collect();
        ram.sort_unstable_by_key(|e| e.0);
        let mut streams: Vec<Box<dyn Iterator<Item = (Key, Packed)> + '_>> = self
            .runs
            .iter()
            .map(|r| Box::new(r.iter_live()) as Box<dyn Iterator<Item = _>>)
            .collect();
        streams.push(Box::new(ram.into_iter()));
        merge(streams)
    }

    /// Writes the set to `path`, tagged with `committed_txs`; atomic by rename.
    pub fn save(&self, path: &Path, committed_txs: u64) -> Result<(), StoreError> {
        let tmp = path.with_extension("snap.tmp");
        let file = File::create(&tmp).map_err(|e| io(&tmp, "create", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut hash = sha256::Hash::engine();
        let mut put = |w: &mut BufWriter<File>, bytes: &[u8]| -> Result<(), StoreError> {
            hash.input(bytes);
            w.write_all(bytes).map_err(|e| io(&tmp, "write", e))
        };
        put(&mut w, MAGIC)?;
        put(&mut w, &committed_txs.to_le_bytes())?;
        put(&mut w, &self.seed.0[0].to_le_bytes())?;
        put(&mut w, &self.seed.0[1].to_le_bytes())?;
        let mut count = 0u64;
        for (k, p) in self.sorted() {
            put(&mut w, &k.0)?;
            put(&mut w, &p.0)?;
            count += 1;
        }
        put(&mut w, &count.to_le_bytes())?;
        let digest = sha256::Hash::from_engine(hash);
        w.write_all(digest.as_byte_array())
            .map_err(|e| io(&tmp, "write", e))?;
        let file = w
            .into_inner()
            .map_err(|e| io(&tmp, "flush", e.into_error()))?;
        file.sync_all().map_err(|e| io(&tmp, "sync", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, "rename", e))?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io(dir, "sync dir", e))?;
        }
        Ok(())
    }

    /// Takes the snapshot at `path` as the set if it was taken at `committed_txs`, its entries
    /// read in place from `dir` (it is renamed into a run there: consumed). `Ok(None)` when
    /// there is none or it is stale (the caller rebuilds); an error when it is damaged.
    pub fn load(
        path: &Path,
        committed_txs: u64,
        dir: &Path,
        options: &UtxoSetOptions,
    ) -> Result<Option<UtxoSet>, StoreError> {
        remove_stale_runs(dir)?;
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path, "open", e)),
        };
        let damaged = |reason: String| StoreError::Segment {
            path: path.to_path_buf(),
            reason,
        };
        let len = file.metadata().map_err(|e| io(path, "stat", e))?.len();
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut head = [0u8; HEAD];
        r.read_exact(&mut head).map_err(|e| io(path, "read", e))?;
        let word = |b: &[u8], at: usize| {
            let mut w = [0u8; 8];
            if let Some(src) = b.get(at..at + 8) {
                w.copy_from_slice(src);
            }
            u64::from_le_bytes(w)
        };
        if &head[..8] != MAGIC {
            return Err(damaged("not a tracehound UTXO snapshot".into()));
        }
        if word(&head, 8) != committed_txs {
            return Ok(None);
        }
        let seed = KeyedHash([word(&head, 16), word(&head, 24)]);
        let body = len
            .checked_sub((HEAD + TAIL) as u64)
            .filter(|b| b % ENTRY as u64 == 0)
            .ok_or_else(|| damaged(format!("{len} bytes is not a whole number of entries")))?;
        // Check the checksum before trusting a single entry.
        let mut hash = sha256::Hash::engine();
        hash.input(&head);
        let mut left = body;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let chunk = buf.get_mut(..n).unwrap_or_default();
            r.read_exact(chunk).map_err(|e| io(path, "read", e))?;
            hash.input(chunk);
            left -= n as u64;
        }
        let mut tail = [0u8; TAIL];
        r.read_exact(&mut tail).map_err(|e| io(path, "read", e))?;
        hash.input(&tail[..8]);
        if sha256::Hash::from_engine(hash).as_byte_array()[..] != tail[8..] {
            return Err(damaged(
                "checksum mismatch: the snapshot is damaged (delete it to rebuild from the tx log)"
                    .into(),
            ));
        }
        let count = word(&tail, 0);
        if count * ENTRY as u64 != body {
            return Err(damaged(format!(
                "{count} entries do not fit its {len} bytes"
            )));
        }
        let mut set = UtxoSet::spilling_to(dir, options, seed);
        let run_path = dir.join(format!("{RUN_PREFIX}{:016x}-snap", set.tag));
        std::fs::rename(path, &run_path).map_err(|e| io(path, "rename", e))?;
        let run = Run::open(
            run_path,
            HEAD,
            usize::try_from(count).map_err(|_| damaged(format!("{count} entries")))?,
        )?;
        set.runs.push(run);
        Ok(Some(set))
    }
}

/// Deletes the run files a process that crashed left in `dir`.
fn remove_stale_runs(dir: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir, "list", e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, "list", e))?;
        if entry.file_name().to_string_lossy().starts_with(RUN_PREFIX) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| io(&path, "remove stale run", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tracehound_core::Hash32;

    use super::*;

    fn outpoint(i: u32) -> OutPoint {
        let mut txid = [0u8; 32];
        txid[..4].copy_from_slice(&i.to_le_bytes());
        OutPoint {
            txid: Hash32(txid),
            vout: i % 3,
        }
    }

    fn unspent(i: u32) -> Unspent {
        Unspent {
            out_seq: u64::from(i) * 3,
            addr: u64::from(i % 97),
            value: u64::from(i) * 1000 + 7,
            height: i / 10,
            flags: 2,
        }
    }

    fn fill(set: &mut UtxoSet, n: u32) {
        for i in 0..n {
            set.insert(outpoint(i), unspent(i)).unwrap();
        }
    }

    fn contents(set: &UtxoSet) -> Vec<(Key, Unspent)> {
        set.sorted().map(|(k, p)| (k, p.unpack())).collect()
    }

    fn small(ram_entries: usize) -> UtxoSetOptions {
        UtxoSetOptions {
            ram_entries,
            max_runs: 3,
        }
    }

    #[test]
    fn packed_entries_round_trip_and_refuse_what_does_not_fit() {
        let u = Unspent {
            out_seq: (1 << 40) - 1,
            addr: u64::from(u32::MAX),
            value: u64::MAX,
            height: u32::MAX,
            flags: 0x85,
        };
        assert_eq!(Packed::pack(&u).unwrap().unpack(), u);
        let mut set = UtxoSet::default();
        let op = outpoint(1);
        assert!(
            set.insert(
                op,
                Unspent {
                    out_seq: 1 << 40,
                    ..u
                }
            )
            .is_err()
        );
        assert!(set.insert(op, Unspent { addr: 1 << 32, ..u }).is_err());
        set.insert(op, u).unwrap();
        assert_eq!(set.spend(&op), Some(u));
        assert!(set.is_empty());
    }

    #[test]
    fn ram_budget_options_never_let_the_table_grow_past_it() {
        let budget = 1 << 20;
        let o = UtxoSetOptions::for_ram_bytes(budget);
        assert_eq!(o.ram_entries, (budget / ENTRY) / 4 * 3);
        let mut t = Slots::for_entries(o.ram_entries);
        for i in 0..o.ram_entries as u32 {
            t.insert(
                &Key::of(KeyedHash([1, 2]), &outpoint(i)),
                &Packed([7; VALUE]),
            );
        }
        assert_eq!(t.len, o.ram_entries);
        assert!(t.bytes.len() <= budget, "{} bytes", t.bytes.len());
    }

    /// Inserts, replacements and removals (with the backward shifts they cause, wrapping round
    /// the end of small tables, and keys crowded onto few homes) against a `HashMap`.
    #[test]
    fn slots_behave_as_a_map() {
        use std::collections::HashMap;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (max_entries, key_space) in [(10, 12), (100, 150), (3000, 5000)] {
            let mut t = Slots::for_entries(max_entries);
            let mut model: HashMap<[u8; KEY], Packed> = HashMap::new();
            for step in 0..20_000 {
                let r = rand();
                let mut k = [0u8; KEY];
                // Few distinct tops: long probe runs and many shifts.
                k[0] = (r % 4) as u8 * 60;
                k[8..].copy_from_slice(&((r >> 8) as u32 % key_space + 1).to_be_bytes());
                let key = Key(k);
                if r % 3 == 0 || model.len() >= max_entries {
                    assert_eq!(t.remove(&key), model.remove(&k), "step {step}");
                } else {
                    let v = Packed([(r >> 40) as u8; VALUE]);
                    t.insert(&key, &v);
                    model.insert(k, v);
                }
                assert_eq!(t.len, model.len(), "step {step}");
            }
            let mut all: Vec<([u8; KEY], Packed)> = t.iter().map(|(k, v)| (k.0, v)).collect();
            all.sort_by_key(|e| e.0);
            let mut expected: Vec<([u8; KEY], Packed)> = model.into_iter().collect();
            expected.sort_by_key(|e| e.0);
            assert!(all == expected, "table of {max_entries}");
        }
    }

    /// The same inserts and spends, against a set that spills and merges and a plain map.
    #[test]
    fn a_spilling_set_answers_as_a_map_would() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = UtxoSet::new(dir.path(), &small(500)).unwrap();
        let mut model: BTreeMap<(Hash32, u32), Unspent> = BTreeMap::new();
        let mut next = 0u32;
        // A deterministic mix: mostly recent outputs spent, some old ones, some never.
        let mut x = 0x1234_5678u64;
        for round in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 5 < 3 || next < 10 {
                set.insert(outpoint(next), unspent(next)).unwrap();
                model.insert((outpoint(next).txid, outpoint(next).vout), unspent(next));
                next += 1;
            } else {
                let back = if x.is_multiple_of(7) {
                    (x >> 8) as u32 % next
                } else {
                    (x >> 8) as u32 % 20
                };
                let i = next - 1 - back.min(next - 1);
                let op = outpoint(i);
                assert_eq!(
                    set.spend(&op),
                    model.remove(&(op.txid, op.vout)),
                    "round {round}, output {i}"
                );
            }
            assert_eq!(set.len(), model.len(), "round {round}");
        }
        assert!(set.runs.len() <= 4, "merges keep the runs few");
        assert!(set.in_ram_len() < 500);
        assert!(
            std::fs::read_dir(dir.path()).unwrap().count() >= 1,
            "some entries live on disk"
        );
        let mut all: Vec<Unspent> = contents(&set).into_iter().map(|e| e.1).collect();
        all.sort_by_key(|u| u.out_seq);
        let mut expected: Vec<Unspent> = model.values().copied().collect();
        expected.sort_by_key(|u| u.out_seq);
        assert!(all == expected, "the set's entries differ from the model's");
        drop(set);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a dropped set leaves no run behind"
        );
    }

    #[test]
    fn snapshot_round_trips_only_at_its_checkpoint_and_is_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utxo.snap");
        assert!(
            UtxoSet::load(&path, 0, dir.path(), &small(300))
                .unwrap()
                .is_none(),
            "no snapshot yet"
        );
        let mut set = UtxoSet::new(dir.path(), &small(300)).unwrap();
        fill(&mut set, 5000);
        let spent = outpoint(9);
        assert_eq!(set.spend(&spent).unwrap().value, 9007);
        assert!(set.spend(&spent).is_none(), "spent once");
        assert!(!set.runs.is_empty());
        set.save(&path, 42).unwrap();
        let before = contents(&set);
        drop(set);
        assert!(
            UtxoSet::load(&path, 43, dir.path(), &small(300))
                .unwrap()
                .is_none(),
            "a stale snapshot is not used"
        );
        let mut back = UtxoSet::load(&path, 42, dir.path(), &small(300))
            .unwrap()
            .unwrap();
        assert!(!path.exists(), "consumed");
        assert_eq!(contents(&back), before);
        assert_eq!(back.len(), 4999);
        assert_eq!(back.spend(&outpoint(4321)), Some(unspent(4321)));
        assert!(back.spend(&outpoint(4321)).is_none());
        assert!(!dir.path().join("utxo.snap.tmp").exists());
    }

    #[test]
    fn a_crashed_process_runs_are_deleted_on_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = UtxoSet::new(dir.path(), &small(100)).unwrap();
        fill(&mut set, 1000);
        std::mem::forget(set); // as if the process died: its runs stay
        assert!(std::fs::read_dir(dir.path()).unwrap().count() > 0);
        let set = UtxoSet::new(dir.path(), &small(100)).unwrap();
        assert!(set.is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn damaged_snapshots_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utxo.snap");
        let mut set = UtxoSet::default();
        fill(&mut set, 100);
        set.save(&path, 7).unwrap();
        let opts = small(1000);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = UtxoSet::load(&path, 7, dir.path(), &opts).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&path, &bytes).unwrap();
        let err = UtxoSet::load(&path, 7, dir.path(), &opts).unwrap_err();
        assert!(err.to_string().contains("whole number of entries"), "{err}");
        std::fs::write(
            &path,
            b"something else entirely, long enough to hold a head",
        )
        .unwrap();
        assert!(
            UtxoSet::load(&path, 7, dir.path(), &opts)
                .unwrap_err()
                .to_string()
                .contains("not a tracehound")
        );
    }
}
