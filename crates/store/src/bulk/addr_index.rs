//! Address interning at mainnet scale with bounded RAM: [`Payee`] → dense per-chain id, ids
//! assigned in chain order (order of first appearance). See "Address interning at mainnet
//! scale" in `docs/bulk-ingest-plan.md` for the measurements behind the design.
//!
//! # Layout (one index per chain, in one directory)
//! - `addrs.log`: the source of truth, an [`AppendFile`] of 48-byte payee records, record `i`
//!   being the payee of id `i`. Its committed length lives in redb (`segments` table), so the
//!   committed id count is `committed length / 48`.
//! - Keys are 96-bit keyed fingerprints of the payee record. The 128-bit seed is chosen when an
//!   index starts from nothing and is stored in every run's footer, so fingerprint collisions
//!   cannot be precomputed by someone crafting addresses. Two payees sharing a fingerprint is
//!   assumed never to happen (about 2.5e-11 at 2e9 addresses).
//! - RAM: two generations of new ids (hash maps, fingerprint → id): the *active* one takes new
//!   ids; when it holds [`AddressIndexOptions::generation_entries`] it becomes the *previous*
//!   generation, which a background thread writes as a run. In front of the runs sits a 4-way
//!   set-associative cache of addresses found on disk (64-byte lines, oldest stamp replaced).
//! - Disk: immutable sorted runs `arun-{a:010}-{b:010}` holding exactly the ids `[a, b)`:
//!   16-byte entries `fingerprint96 | id32` (little-endian u128) in ascending order, then one
//!   fence per 4 KiB page (top 64 bits of its first entry), a blocked bloom filter (512-bit
//!   blocks), and a footer with a checksum of fences and bloom. Fences and bloom filters are
//!   loaded into RAM on open; a lookup reads one page with `pread` per candidate run.
//!   Runs merge in tiers: `fanout` runs of one tier become one run of the next.
//!
//! # Lookups in batches
//! [`AddressIndex::intern_batch`] works in two passes: fingerprint the batch and look every key
//! up in RAM; then read every page the misses need, concurrently on a persistent pool of I/O
//! threads ([`AddressIndexOptions::io_threads`]), so device latency overlaps; then assign ids in
//! batch order. A generation rotates only between batches, so within a batch every new key is
//! in the active generation. It rotates in [`AddressIndex::sync`], once its ids are durable in
//! the log, or in `intern_batch` when it reaches twice its size (syncs too rare); RAM is
//! bounded by about three generations plus one batch.
//!
//! # Crash model
//! Runs are derived data. A run appears only by rename after its bytes were synced (and the
//! directory is synced after the rename); a merge deletes its inputs only after the merged run
//! is durable, and merges only runs whose ids are all durable in the log. On open:
//! - `arun.tmp*` files (runs being written at the crash) are deleted;
//! - runs reaching past the committed id count are deleted, as are runs covered by a longer
//!   run (inputs of a merge that finished); the longest contiguous chain of runs from id 0 is
//!   kept;
//! - ids between the last kept run and the committed count are re-read from `addrs.log` (which
//!   [`AppendFile::open`] cut back to its committed length).
//!
//! A kept run that fails validation (size, footer, checksum) is reported as
//! [`StoreError::Segment`] naming the file and offset, and is not silently rebuilt: deleting
//! the file makes the next open rebuild it from `addrs.log`.
//!
//! # Commit protocol
//! After a batch, call [`AddressIndex::sync`] (or [`AddressIndex::commit`], which also records
//! the length in the caller's redb write transaction via [`segment::commit_len`]) before the
//! redb commit that makes the batch count. [`committed_ids`] reads the count back for `open`.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{ReadableTable, WriteTransaction};
use tracehound_core::{Chain, Payee, PayeeRepr};

use super::fingerprint::KeyedHash;
use super::segment::{self, AppendFile};
use crate::StoreError;

/// Name of the address log inside the index directory (also its name in the `segments` table).
pub const ADDR_LOG: &str = "addrs.log";
/// Bytes per payee record in [`ADDR_LOG`].
pub const ADDR_RECORD: usize = 48;

const ENTRY: usize = 16;
const PAGE: usize = 4096;
const PER_PAGE: usize = PAGE / ENTRY;
const MAGIC: u64 = 0x4e55_5244_4441_4854; // "THADDRUN"
const FORMAT: u64 = 1;
const FOOTER_WORDS: usize = 9;
const FOOTER: usize = FOOTER_WORDS * 8;
const RUN_PREFIX: &str = "arun-";
const TMP_PREFIX: &str = "arun.tmp";

/// How an [`AddressIndex`] uses RAM, disk and threads.
#[derive(Debug, Clone)]
pub struct AddressIndexOptions {
    /// New ids held in one RAM generation before it is written as a run (about 25 bytes each;
    /// two generations exist at once).
    pub generation_entries: usize,
    /// Bytes of the set-associative cache of addresses found on disk.
    pub cache_bytes: usize,
    /// Bloom filter bits per key of each run (kept in RAM: 10 bits is 1.25 bytes per address).
    pub bloom_bits_per_key: u32,
    /// Runs of one tier merged into one run of the next tier.
    pub fanout: usize,
    /// Threads of the persistent pool that reads run pages concurrently (0 = read inline).
    pub io_threads: usize,
}

impl Default for AddressIndexOptions {
    fn default() -> Self {
        AddressIndexOptions {
            generation_entries: 4 << 20,
            cache_bytes: 256 << 20,
            bloom_bits_per_key: 10,
            fanout: 4,
            io_threads: 16,
        }
    }
}

/// Counters of where lookups were answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressIndexStats {
    /// Keys looked up by [`AddressIndex::intern_batch`].
    pub lookups: u64,
    /// Answered by a RAM generation.
    pub generation_hits: u64,
    /// Answered by the cache of disk hits.
    pub cache_hits: u64,
    /// Page reads issued (bloom filter said "maybe").
    pub disk_probes: u64,
    /// Page reads that found the key.
    pub disk_hits: u64,
    /// New ids assigned.
    pub new_ids: u64,
    /// Generations written as runs.
    pub flushes: u64,
    /// Tier merges done.
    pub merges: u64,
}

fn seg_err(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Segment {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    seg_err(path, format!("{what}: {e}"))
}

// ---------------------------------------------------------------- payee records

/// The 48-byte record of a payee in [`ADDR_LOG`] (the chain is the index's).
pub fn encode_payee(p: &Payee) -> [u8; ADDR_RECORD] {
    let mut b = [0u8; ADDR_RECORD];
    let (tag, body): (u8, &[u8]) = match &p.repr {
        PayeeRepr::KeyHash(h) => (1, h),
        PayeeRepr::ScriptHash(h) => (2, h),
        PayeeRepr::Witness {
            version,
            len,
            program,
        } => {
            b[1] = *version;
            b[2] = *len;
            b[3..43].copy_from_slice(program);
            (3, &[])
        }
        PayeeRepr::Multisig { m, n, hash } => {
            b[1] = *m;
            b[2] = *n;
            b[3..23].copy_from_slice(hash);
            (4, &[])
        }
        PayeeRepr::Script(h) => (5, h),
        PayeeRepr::MwebPegin(h) => (6, h),
        PayeeRepr::MwebHogAddr => (7, &[]),
        PayeeRepr::Evm(h) => (8, h),
        PayeeRepr::AccountPseudo { kind, contract } => {
            b[1] = *kind as u8;
            b[2..22].copy_from_slice(contract);
            (9, &[])
        }
    };
    b[0] = tag;
    if let Some(dst) = b.get_mut(1..1 + body.len()) {
        dst.copy_from_slice(body);
    }
    b
}

/// Decodes a record of [`ADDR_LOG`]; `None` if it is not one [`encode_payee`] writes.
pub fn decode_payee(chain: Chain, b: &[u8; ADDR_RECORD]) -> Option<Payee> {
    fn arr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
        b.get(at..at + N)?.try_into().ok()
    }
    let rest_zero = |from: usize| b.get(from..).is_some_and(|r| r.iter().all(|&x| x == 0));
    let (repr, used) = match b[0] {
        1 => (PayeeRepr::KeyHash(arr(b, 1)?), 21),
        2 => (PayeeRepr::ScriptHash(arr(b, 1)?), 21),
        3 => (
            PayeeRepr::Witness {
                version: b[1],
                len: b[2],
                program: arr(b, 3)?,
            },
            43,
        ),
        4 => (
            PayeeRepr::Multisig {
                m: b[1],
                n: b[2],
                hash: arr(b, 3)?,
            },
            23,
        ),
        5 => (PayeeRepr::Script(arr(b, 1)?), 33),
        6 => (PayeeRepr::MwebPegin(arr(b, 1)?), 33),
        7 => (PayeeRepr::MwebHogAddr, 1),
        8 => (PayeeRepr::Evm(arr(b, 1)?), 21),
        9 => (
            PayeeRepr::AccountPseudo {
                kind: tracehound_core::AccountPseudo::from_code(b[1])?,
                contract: arr(b, 2)?,
            },
            22,
        ),
        _ => return None,
    };
    rest_zero(used).then_some(Payee { chain, repr })
}

// ---------------------------------------------------------------- fingerprints

/// 96-bit keyed fingerprints of payee records, as a u128 with the low 32 bits zero (where an
/// entry keeps its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seed(KeyedHash);

impl Seed {
    fn random() -> Seed {
        Seed(KeyedHash::random())
    }

    fn fingerprint(self, rec: &[u8; ADDR_RECORD]) -> u128 {
        self.0.hash128(rec) & !0xffff_ffff
    }
}

fn top(k: u128) -> u64 {
    (k >> 64) as u64
}

// ---------------------------------------------------------------- RAM generations

/// A fingerprint as a map key (two u64: 24-byte map slots with the id).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u64, u64);

impl Key {
    fn of(k: u128) -> Key {
        Key((k >> 64) as u64, k as u64)
    }
    fn k(self) -> u128 {
        (u128::from(self.0) << 64) | u128::from(self.1)
    }
}

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.0);
    }
}

/// The key is already a keyed hash: use its top 64 bits as they are.
#[derive(Clone, Copy, Default)]
struct PassThrough;
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

type Generation = HashMap<Key, u32, PassThrough>;

// ---------------------------------------------------------------- cache of disk hits

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line {
    /// Top 64 bits of the key | 1 (0 = empty way).
    tag: [u64; 4],
    /// id | stamp << 32.
    val: [u64; 4],
}

struct Cache {
    /// Empty until the first put: most stores never hit the disk, and writing out the whole
    /// cache up front cost a small ingest a tenth of a second and its size in RSS.
    lines: Vec<Line>,
    size: usize,
    clock: u32,
}

impl Cache {
    fn new(bytes: usize) -> Cache {
        Cache {
            lines: Vec::new(),
            size: (bytes / 64).max(1),
            clock: 1,
        }
    }

    fn slot(&self, k: u128) -> (usize, u64) {
        let line = ((u128::from(k as u64) * self.lines.len() as u128) >> 64) as usize;
        (line, top(k) | 1)
    }

    /// Whether nothing was ever put (the clock starts at 1): lookups then skip the random
    /// access into the (possibly large, still untouched) lines.
    fn untouched(&self) -> bool {
        self.clock == 1
    }

    fn peek(&self, k: u128) -> Option<u32> {
        if self.untouched() {
            return None;
        }
        let (i, t) = self.slot(k);
        let l = self.lines.get(i)?;
        (0..4).find(|&w| l.tag[w] == t).map(|w| l.val[w] as u32)
    }

    fn get(&mut self, k: u128) -> Option<u32> {
        if self.untouched() {
            return None;
        }
        let (i, t) = self.slot(k);
        let clock = self.clock;
        let l = self.lines.get_mut(i)?;
        let w = (0..4).find(|&w| l.tag[w] == t)?;
        let id = l.val[w] as u32;
        l.val[w] = u64::from(id) | (u64::from(clock) << 32);
        Some(id)
    }

    fn put(&mut self, k: u128, id: u32) {
        if self.lines.is_empty() {
            self.lines = vec![Line::default(); self.size];
        }
        let (i, t) = self.slot(k);
        self.clock = self.clock.wrapping_add(1);
        let clock = self.clock;
        let Some(l) = self.lines.get_mut(i) else {
            return;
        };
        let mut victim = 0;
        let mut oldest = u32::MAX;
        for w in 0..4 {
            if l.tag[w] == t {
                victim = w;
                break;
            }
            let age = if l.tag[w] == 0 {
                0
            } else {
                (l.val[w] >> 32) as u32
            };
            if age < oldest {
                oldest = age;
                victim = w;
            }
        }
        l.tag[victim] = t;
        l.val[victim] = u64::from(id) | (u64::from(clock) << 32);
    }
}

// ---------------------------------------------------------------- bloom filters

struct Bloom {
    blocks: Vec<[u64; 8]>,
    k: u32,
}

impl Bloom {
    fn hashes(bits_per_key: f64) -> u32 {
        ((bits_per_key * 0.69).round() as u32).clamp(1, 7)
    }

    fn new(n: usize, bits_per_key: u32) -> Bloom {
        let bits = f64::from(bits_per_key.max(1));
        let nb = ((n as f64 * bits / 512.0).ceil() as usize).max(1);
        Bloom {
            blocks: vec![[0; 8]; nb],
            k: Bloom::hashes(bits),
        }
    }

    fn with_blocks(blocks: Vec<[u64; 8]>, n: usize) -> Bloom {
        let bits = blocks.len() as f64 * 512.0 / n.max(1) as f64;
        Bloom {
            blocks,
            k: Bloom::hashes(bits),
        }
    }

    fn pos(&self, k: u128) -> (usize, u64) {
        let a = top(k);
        let blk = ((u128::from(a) * self.blocks.len() as u128) >> 64) as usize;
        let z = a.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ u64::from((k >> 32) as u32).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        (blk, z)
    }

    fn add(&mut self, k: u128) {
        let (b, mut z) = self.pos(k);
        let n = self.k;
        if let Some(blk) = self.blocks.get_mut(b) {
            for _ in 0..n {
                let bit = (z & 511) as usize;
                blk[bit >> 6] |= 1 << (bit & 63);
                z >>= 9;
            }
        }
    }

    fn may_contain(&self, k: u128) -> bool {
        let (b, mut z) = self.pos(k);
        let Some(blk) = self.blocks.get(b) else {
            return true;
        };
        for _ in 0..self.k {
            let bit = (z & 511) as usize;
            if blk[bit >> 6] & (1 << (bit & 63)) == 0 {
                return false;
            }
            z >>= 9;
        }
        true
    }
}

// ---------------------------------------------------------------- runs

fn run_name(a: u32, b: u32) -> String {
    format!("{RUN_PREFIX}{a:010}-{b:010}")
}

fn parse_run_name(name: &str) -> Option<(u32, u32)> {
    let (a, b) = name.strip_prefix(RUN_PREFIX)?.split_once('-')?;
    if a.len() != 10 || b.len() != 10 {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Checksum of a run's fences, bloom and footer words (FNV-style over u64 words).
fn checksum(words: impl IntoIterator<Item = u64>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for w in words {
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(23);
    }
    h
}

fn le_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks_exact(8).map(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}

/// An immutable sorted run holding the ids `[a, b)`.
struct Run {
    a: u32,
    b: u32,
    file: File,
    path: PathBuf,
    fences: Vec<u64>,
    bloom: Bloom,
    seed: Seed,
}

impl Run {
    fn n(&self) -> usize {
        (self.b - self.a) as usize
    }

    fn tier(&self, generation: usize, fanout: usize) -> u32 {
        let mut t = 0;
        let mut m = generation.max(1).saturating_mul(fanout);
        while self.n() >= m {
            t += 1;
            m = m.saturating_mul(fanout);
            if m == usize::MAX {
                break;
            }
        }
        t
    }

    fn open(path: &Path, a: u32, b: u32) -> Result<Run, StoreError> {
        let file = File::open(path).map_err(|e| io_err(path, "open run", e))?;
        let len = file
            .metadata()
            .map_err(|e| io_err(path, "stat run", e))?
            .len();
        let bad = |at: u64, what: String| {
            seg_err(
                path,
                format!(
                    "damaged address-index run at offset {at}: {what} (delete the file to rebuild it from {ADDR_LOG})"
                ),
            )
        };
        let foot_at = len
            .checked_sub(FOOTER as u64)
            .ok_or_else(|| bad(0, format!("{len} bytes is shorter than the footer")))?;
        let mut foot = [0u8; FOOTER];
        file.read_exact_at(&mut foot, foot_at)
            .map_err(|e| io_err(path, "read run footer", e))?;
        let f: Vec<u64> = le_words(&foot).collect();
        let [magic, format, n, nb, ra, rb, s0, s1, sum] = f[..] else {
            return Err(bad(foot_at, "footer does not decode".into()));
        };
        if magic != MAGIC || format != FORMAT {
            return Err(bad(
                foot_at,
                format!("bad magic {magic:#x} or format {format}"),
            ));
        }
        if (ra, rb) != (u64::from(a), u64::from(b)) || n != u64::from(b - a) {
            return Err(bad(
                foot_at,
                format!("footer says ids [{ra}, {rb}) with {n} entries, the name says [{a}, {b})"),
            ));
        }
        // n < 2^32 (checked above), so only the bloom size can overflow.
        let np = n.div_ceil(PER_PAGE as u64);
        let fences_at = n * ENTRY as u64;
        let bloom_at = fences_at + np * 8;
        let expect = nb
            .checked_mul(64)
            .and_then(|b| b.checked_add(bloom_at + FOOTER as u64));
        if expect != Some(len) || nb == 0 {
            return Err(bad(
                foot_at,
                format!("file is {len} bytes, its footer implies {expect:?} ({nb} bloom blocks)"),
            ));
        }
        let meta_len = usize::try_from(len - fences_at - FOOTER as u64)
            .map_err(|_| bad(fences_at, "run too large for this machine".into()))?;
        let mut meta = vec![0u8; meta_len];
        file.read_exact_at(&mut meta, fences_at)
            .map_err(|e| io_err(path, "read run fences", e))?;
        let want = checksum(le_words(&meta).chain(f.iter().take(FOOTER_WORDS - 1).copied()));
        if want != sum {
            return Err(bad(
                fences_at,
                "checksum of fences and bloom filter does not match".into(),
            ));
        }
        let (fb, bb) = meta
            .split_at_checked((np * 8) as usize)
            .ok_or_else(|| bad(fences_at, "fences do not fit".into()))?;
        let fences: Vec<u64> = le_words(fb).collect();
        let words: Vec<u64> = le_words(bb).collect();
        let blocks: Vec<[u64; 8]> = words
            .chunks_exact(8)
            .map(|c| {
                let mut blk = [0u64; 8];
                blk.copy_from_slice(c);
                blk
            })
            .collect();
        Ok(Run {
            a,
            b,
            file,
            path: path.to_path_buf(),
            fences,
            bloom: Bloom::with_blocks(blocks, n as usize),
            seed: Seed(KeyedHash([s0, s1])),
        })
    }

    /// Looks `k` up: one page read, at the page the fences point to.
    fn find(&self, k: u128) -> Result<Option<u32>, StoreError> {
        let t = top(k);
        let p = self.fences.partition_point(|&f| f <= t);
        let Some(page) = p.checked_sub(1) else {
            return Ok(None);
        };
        let cnt = PER_PAGE.min(self.n() - page * PER_PAGE);
        let at = (page * PAGE) as u64;
        let mut buf = [0u8; PAGE];
        let bytes = buf
            .get_mut(..cnt * ENTRY)
            .ok_or_else(|| seg_err(&self.path, "page size"))?;
        self.file
            .read_exact_at(bytes, at)
            .map_err(|e| io_err(&self.path, &format!("read run page at offset {at}"), e))?;
        let mut page_entries = [0u128; PER_PAGE];
        for (e, c) in page_entries.iter_mut().zip(bytes.chunks_exact(ENTRY)) {
            let mut w = [0u8; ENTRY];
            w.copy_from_slice(c);
            *e = u128::from_le_bytes(w);
        }
        let es = page_entries.get(..cnt).unwrap_or_default();
        let damaged = |i: usize, what: String| {
            seg_err(
                &self.path,
                format!(
                    "damaged address-index run at offset {}: {what}",
                    at + (i * ENTRY) as u64
                ),
            )
        };
        if es.first().map(|&e| top(e)) != self.fences.get(page).copied() {
            return Err(damaged(
                0,
                "the page does not start where its fence says".into(),
            ));
        }
        let want = k >> 32;
        let i = es.partition_point(|&e| e >> 32 < want);
        let Some(&e) = es.get(i).filter(|&&e| e >> 32 == want) else {
            return Ok(None);
        };
        let id = e as u32;
        if id < self.a || id >= self.b {
            return Err(damaged(
                i,
                format!("id {id} is outside the run's ids [{}, {})", self.a, self.b),
            ));
        }
        Ok(Some(id))
    }
}

/// Streams sorted entries into a new run: a temporary file, synced, then renamed.
struct RunWriter {
    out: std::io::BufWriter<File>,
    tmp: PathBuf,
    fences: Vec<u64>,
    bloom: Bloom,
    n: usize,
    last: Option<u128>,
}

impl RunWriter {
    fn new(dir: &Path, total: usize, bits: u32) -> Result<RunWriter, StoreError> {
        let tmp = dir.join(format!("{TMP_PREFIX}{:016x}", Seed::random().0.0[0]));
        let f = File::create(&tmp).map_err(|e| io_err(&tmp, "create run", e))?;
        Ok(RunWriter {
            out: std::io::BufWriter::with_capacity(1 << 20, f),
            tmp,
            fences: Vec::with_capacity(total.div_ceil(PER_PAGE)),
            bloom: Bloom::new(total, bits),
            n: 0,
            last: None,
        })
    }

    fn push(&mut self, e: u128) -> Result<(), StoreError> {
        use std::io::Write;
        if self.last.is_some_and(|l| l >> 32 >= e >> 32) {
            return Err(seg_err(
                &self.tmp,
                "run entries out of order or duplicate fingerprint (a damaged input run?)",
            ));
        }
        self.last = Some(e);
        if self.n.is_multiple_of(PER_PAGE) {
            self.fences.push(top(e));
        }
        self.bloom.add(e);
        self.out
            .write_all(&e.to_le_bytes())
            .map_err(|er| io_err(&self.tmp, "write run", er))?;
        self.n += 1;
        Ok(())
    }

    fn finish(self, dir: &Path, a: u32, b: u32, seed: Seed) -> Result<Run, StoreError> {
        use std::io::Write;
        let RunWriter {
            mut out,
            tmp,
            fences,
            bloom,
            n,
            ..
        } = self;
        if n != (b - a) as usize {
            return Err(seg_err(
                &tmp,
                format!("run for ids [{a}, {b}) got {n} entries"),
            ));
        }
        let mut meta = Vec::with_capacity(fences.len() * 8 + bloom.blocks.len() * 64);
        for f in &fences {
            meta.extend_from_slice(&f.to_le_bytes());
        }
        for w in bloom.blocks.iter().flatten() {
            meta.extend_from_slice(&w.to_le_bytes());
        }
        let head = [
            MAGIC,
            FORMAT,
            n as u64,
            bloom.blocks.len() as u64,
            u64::from(a),
            u64::from(b),
            seed.0.0[0],
            seed.0.0[1],
        ];
        let sum = checksum(le_words(&meta).chain(head));
        let w = |out: &mut std::io::BufWriter<File>, bytes: &[u8]| {
            out.write_all(bytes)
                .map_err(|e| io_err(&tmp, "write run", e))
        };
        w(&mut out, &meta)?;
        for x in head.into_iter().chain([sum]) {
            w(&mut out, &x.to_le_bytes())?;
        }
        let f = out
            .into_inner()
            .map_err(|e| io_err(&tmp, "write run", e.into_error()))?;
        f.sync_data().map_err(|e| io_err(&tmp, "sync run", e))?;
        drop(f);
        let path = dir.join(run_name(a, b));
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, "rename run", e))?;
        sync_dir(dir)?;
        let file = File::open(&path).map_err(|e| io_err(&path, "open run", e))?;
        Ok(Run {
            a,
            b,
            file,
            path,
            fences,
            bloom,
            seed,
        })
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "sync directory", e))
}

/// Reads a run's entries in order, checking order and id range.
struct RunCursor<'a> {
    run: &'a Run,
    buf: Vec<u8>,
    pos: usize,
    next_entry: usize,
}

impl<'a> RunCursor<'a> {
    fn new(run: &'a Run) -> RunCursor<'a> {
        RunCursor {
            run,
            buf: Vec::new(),
            pos: 0,
            next_entry: 0,
        }
    }

    fn next(&mut self) -> Result<Option<u128>, StoreError> {
        if self.next_entry == self.run.n() {
            return Ok(None);
        }
        if self.pos == self.buf.len() {
            let left = self.run.n() - self.next_entry;
            let take = left.min((1 << 20) / ENTRY);
            self.buf.resize(take * ENTRY, 0);
            let at = (self.next_entry * ENTRY) as u64;
            self.run
                .file
                .read_exact_at(&mut self.buf, at)
                .map_err(|e| io_err(&self.run.path, &format!("read run at offset {at}"), e))?;
            self.pos = 0;
        }
        let mut e = [0u8; ENTRY];
        let src = self
            .buf
            .get(self.pos..self.pos + ENTRY)
            .ok_or_else(|| seg_err(&self.run.path, "cursor past buffer"))?;
        e.copy_from_slice(src);
        let e = u128::from_le_bytes(e);
        let id = e as u32;
        if id < self.run.a || id >= self.run.b {
            return Err(seg_err(
                &self.run.path,
                format!(
                    "damaged address-index run at offset {}: id {id} is outside the run's ids [{}, {})",
                    self.next_entry * ENTRY,
                    self.run.a,
                    self.run.b
                ),
            ));
        }
        self.pos += ENTRY;
        self.next_entry += 1;
        Ok(Some(e))
    }
}

/// Merges the newest `fanout` runs while they share a tier and are all durable.
fn merge_tiers(
    dir: &Path,
    opts: &AddressIndexOptions,
    runs: &mut Vec<Arc<Run>>,
    durable: u64,
    seed: Seed,
) -> Result<u64, StoreError> {
    let f = opts.fanout.max(2);
    let mut merges = 0;
    while runs.len() >= f {
        let ins = &runs[runs.len() - f..];
        let t0 = ins[f - 1].tier(opts.generation_entries, f);
        if !ins.iter().all(|r| r.tier(opts.generation_entries, f) == t0)
            || u64::from(ins[f - 1].b) > durable
        {
            break;
        }
        let total: usize = ins.iter().map(|r| r.n()).sum();
        let mut cursors: Vec<RunCursor<'_>> = ins.iter().map(|r| RunCursor::new(r)).collect();
        let mut heads = Vec::with_capacity(f);
        for c in &mut cursors {
            heads.push(c.next()?);
        }
        let mut w = RunWriter::new(dir, total, opts.bloom_bits_per_key)?;
        loop {
            let best = heads
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.map(|h| (h, i)))
                .min();
            let Some((e, i)) = best else { break };
            w.push(e)?;
            if let (Some(h), Some(c)) = (heads.get_mut(i), cursors.get_mut(i)) {
                *h = c.next()?;
            }
        }
        drop(cursors);
        let (a, b) = (ins[0].a, ins[f - 1].b);
        let merged = Arc::new(w.finish(dir, a, b, seed)?);
        let old: Vec<Arc<Run>> = runs.drain(runs.len() - f..).collect();
        runs.push(merged);
        // Inputs go only once the merged run is durable; open handles keep reading them.
        for r in old {
            std::fs::remove_file(&r.path).map_err(|e| io_err(&r.path, "remove merged run", e))?;
        }
        sync_dir(dir)?;
        merges += 1;
    }
    Ok(merges)
}

// ---------------------------------------------------------------- persistent I/O pool

type ProbeJob = (Arc<Vec<Arc<Run>>>, Vec<(usize, u32, u128)>);
type ProbeDone = Vec<(usize, Result<Option<u32>, StoreError>)>;

/// Threads that read run pages; they live as long as the index.
struct IoPool {
    jobs: Option<Sender<(ProbeJob, Sender<ProbeDone>)>>,
    threads: Vec<JoinHandle<()>>,
}

impl IoPool {
    fn new(n: usize) -> Result<IoPool, StoreError> {
        let (tx, rx) = channel::<(ProbeJob, Sender<ProbeDone>)>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let rx: Arc<Mutex<Receiver<_>>> = Arc::clone(&rx);
            let h = std::thread::Builder::new()
                .name(format!("addr-index-io-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(((runs, probes), done)) = job else {
                            return;
                        };
                        let out = probes
                            .into_iter()
                            .map(|(slot, run, k)| {
                                let r = match runs.get(run as usize) {
                                    Some(r) => r.find(k),
                                    None => Ok(None),
                                };
                                (slot, r)
                            })
                            .collect();
                        let _ = done.send(out);
                    }
                })
                .map_err(|e| seg_err(Path::new("addr-index-io"), format!("spawn: {e}")))?;
            threads.push(h);
        }
        Ok(IoPool {
            jobs: Some(tx),
            threads,
        })
    }
}

impl Drop for IoPool {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------- the index

type BgResult = Result<(Vec<Arc<Run>>, u64), StoreError>;

/// Interns one chain's payees to dense ids `0, 1, 2, …` in order of first appearance.
pub struct AddressIndex {
    dir: PathBuf,
    chain: Chain,
    opts: AddressIndexOptions,
    seed: Seed,
    log: AppendFile,
    /// New ids `[mark, n)`.
    active: Generation,
    /// The previous generation, ids `[prev_mark, mark)`; its run may still be being written.
    prev: Arc<Generation>,
    mark: u32,
    n: u32,
    /// Ids whose records are synced in the log (merges stay below it).
    durable: u64,
    cache: Cache,
    runs: Arc<Vec<Arc<Run>>>,
    bg: Option<JoinHandle<BgResult>>,
    pool: Option<IoPool>,
    stats: AddressIndexStats,
}

impl std::fmt::Debug for AddressIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressIndex")
            .field("dir", &self.dir)
            .field("chain", &self.chain)
            .field("len", &self.n)
            .field("runs", &self.runs.len())
            .finish()
    }
}

/// The committed id count of `chain`'s address log, from the `segments` table.
pub fn committed_ids(
    segments: &impl ReadableTable<(u32, &'static str), u64>,
    chain: Chain,
) -> Result<u64, StoreError> {
    let len = segment::committed_len(segments, chain.code(), ADDR_LOG)?;
    if len % ADDR_RECORD as u64 != 0 {
        return Err(StoreError::Corrupt {
            table: "segments",
            what: format!(
                "{ADDR_LOG} of {chain} has committed length {len}, not a multiple of {ADDR_RECORD}"
            ),
        });
    }
    Ok(len / ADDR_RECORD as u64)
}

impl AddressIndex {
    /// Opens (or creates) `chain`'s index in `dir` with `committed_ids` committed ids (see
    /// [`committed_ids`]): cuts the log back to them, drops runs past them and rebuilds what no
    /// run covers from the log.
    pub fn open(
        dir: &Path,
        chain: Chain,
        committed_ids: u64,
        options: &AddressIndexOptions,
    ) -> Result<AddressIndex, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "create directory", e))?;
        let log_path = dir.join(ADDR_LOG);
        let committed = u32::try_from(committed_ids).map_err(|_| {
            seg_err(
                &log_path,
                format!("{committed_ids} ids exceed the index's 32-bit ids"),
            )
        })?;
        let log = AppendFile::open(&log_path, committed_ids * ADDR_RECORD as u64)?;

        let mut found: Vec<(u32, u32, PathBuf)> = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, "list directory", e))?;
        for e in entries {
            let e = e.map_err(|e| io_err(dir, "list directory", e))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                remove(&e.path())?;
            } else if let Some((a, b)) = parse_run_name(name) {
                found.push((a, b, e.path()));
            }
        }
        // The longest contiguous chain of runs from id 0 within the committed ids.
        found.sort_by_key(|&(a, b, _)| (a, std::cmp::Reverse(b)));
        let mut runs = Vec::new();
        let mut at = 0u32;
        let mut seed = None;
        for (a, b, path) in found {
            if a == at && b > a && b <= committed {
                let run = Run::open(&path, a, b)?;
                if *seed.get_or_insert(run.seed) != run.seed {
                    return Err(seg_err(
                        &path,
                        "run was fingerprinted with another seed than the runs before it",
                    ));
                }
                at = b;
                runs.push(Arc::new(run));
            } else {
                tracing::debug!(path = %path.display(), "address index: removing stale run");
                remove(&path)?;
            }
        }
        sync_dir(dir)?;
        let pool = match options.io_threads {
            0 => None,
            n => Some(IoPool::new(n)?),
        };
        let mut ix = AddressIndex {
            dir: dir.to_path_buf(),
            chain,
            opts: options.clone(),
            seed: seed.unwrap_or_else(Seed::random),
            log,
            active: Generation::with_capacity_and_hasher(
                options
                    .generation_entries
                    .min(committed.saturating_sub(at) as usize),
                PassThrough,
            ),
            prev: Arc::new(Generation::with_hasher(PassThrough)),
            mark: at,
            n: at,
            durable: committed_ids,
            cache: Cache::new(options.cache_bytes),
            runs: Arc::new(runs),
            bg: None,
            pool,
            stats: AddressIndexStats::default(),
        };
        // Rebuild what no run covers from the log.
        let mut buf = vec![0u8; 4096 * ADDR_RECORD];
        while ix.n < committed {
            let take = ((committed - ix.n) as usize).min(4096);
            let bytes = buf
                .get_mut(..take * ADDR_RECORD)
                .ok_or_else(|| seg_err(&log_path, "rebuild buffer"))?;
            let off = u64::from(ix.n) * ADDR_RECORD as u64;
            ix.log.read_at(off, bytes)?;
            for (j, rec) in bytes.chunks_exact(ADDR_RECORD).enumerate() {
                let mut r = [0u8; ADDR_RECORD];
                r.copy_from_slice(rec);
                if decode_payee(chain, &r).is_none() {
                    return Err(seg_err(
                        &log_path,
                        format!(
                            "damaged payee record at offset {}",
                            off + (j * ADDR_RECORD) as u64
                        ),
                    ));
                }
                let id = ix.n;
                ix.active.insert(Key::of(ix.seed.fingerprint(&r)), id);
                ix.n += 1;
            }
            if ix.active.len() >= ix.opts.generation_entries {
                ix.rotate()?;
            }
        }
        Ok(ix)
    }

    /// The chain this index interns.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// Ids assigned so far (committed or not): the next new payee gets this id.
    pub fn len(&self) -> u64 {
        u64::from(self.n)
    }

    /// Whether no id was assigned yet.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Sorted runs on disk.
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// Where lookups were answered so far.
    pub fn stats(&self) -> AddressIndexStats {
        self.stats
    }

    /// Bytes of RAM held: generations, cache, fences and bloom filters.
    pub fn ram_bytes(&self) -> usize {
        let runs: usize = self
            .runs
            .iter()
            .map(|r| r.fences.len() * 8 + r.bloom.blocks.len() * 64)
            .sum();
        let map = |m: &Generation| (m.capacity() * 8 / 7).next_power_of_two() * 25;
        runs + self.cache.lines.len() * 64 + map(&self.active) + map(&self.prev)
    }

    fn in_ram(&self, k: u128) -> Option<u32> {
        let key = Key::of(k);
        self.active
            .get(&key)
            .or_else(|| self.prev.get(&key))
            .copied()
    }

    /// The payee of id `id` (committed or appended), from the log.
    pub fn payee(&self, id: u64) -> Result<Payee, StoreError> {
        let path = self.dir.join(ADDR_LOG);
        if id >= u64::from(self.n) {
            return Err(seg_err(
                &path,
                format!("address id {id} is past the {} ids assigned", self.n),
            ));
        }
        let mut r = [0u8; ADDR_RECORD];
        let off = id * ADDR_RECORD as u64;
        self.log.read_at(off, &mut r)?;
        decode_payee(self.chain, &r)
            .ok_or_else(|| seg_err(&path, format!("damaged payee record at offset {off}")))
    }

    /// The id of `payee`, if it has one. Does not change the cache.
    pub fn lookup(&self, payee: &Payee) -> Result<Option<u64>, StoreError> {
        if payee.chain != self.chain {
            return Ok(None);
        }
        let k = self.seed.fingerprint(&encode_payee(payee));
        if let Some(id) = self.in_ram(k).or_else(|| self.cache.peek(k)) {
            return Ok(Some(u64::from(id)));
        }
        for r in self.runs.iter().rev() {
            if r.bloom.may_contain(k)
                && let Some(id) = r.find(k)?
            {
                return Ok(Some(u64::from(id)));
            }
        }
        Ok(None)
    }

    /// Interns `payees` in order: known payees get their id, new ones the next ids in order of
    /// first appearance (a payee repeated in the batch gets one id). New payees are appended to
    /// the log; they count once [`sync`](Self::sync)ed and committed.
    pub fn intern_batch(&mut self, payees: &[Payee]) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::with_capacity(payees.len());
        // Pass 1: fingerprints, and what RAM knows.
        let mut recs = Vec::with_capacity(payees.len());
        let mut keys = Vec::with_capacity(payees.len());
        let mut pre: Vec<Option<u32>> = Vec::with_capacity(payees.len());
        let mut misses: Vec<usize> = Vec::new();
        for (i, p) in payees.iter().enumerate() {
            if p.chain != self.chain {
                return Err(seg_err(
                    &self.dir.join(ADDR_LOG),
                    format!(
                        "a {} payee was given to the {} address index",
                        p.chain, self.chain
                    ),
                ));
            }
            let rec = encode_payee(p);
            let k = self.seed.fingerprint(&rec);
            let hit = if let Some(id) = self.in_ram(k) {
                self.stats.generation_hits += 1;
                Some(id)
            } else if let Some(id) = self.cache.get(k) {
                self.stats.cache_hits += 1;
                Some(id)
            } else {
                misses.push(i);
                None
            };
            recs.push(rec);
            keys.push(k);
            pre.push(hit);
        }
        self.stats.lookups += payees.len() as u64;
        // Pass 1b: every page the misses need, read concurrently.
        self.probe_runs(&keys, &misses, &mut pre)?;
        // Pass 2: ids in order. No generation rotates within a batch, so a key made new
        // earlier in the batch is in the active generation.
        for ((k, rec), hit) in keys.iter().zip(&recs).zip(&pre) {
            // A key missed in pass 1 can only have become known since as a new id of this
            // batch, which lives in the active generation: one probe, not two.
            let id = match hit.or_else(|| self.active.get(&Key::of(*k)).copied()) {
                Some(id) => id,
                None => {
                    let id = self.n;
                    self.n = self.n.checked_add(1).ok_or_else(|| {
                        seg_err(&self.dir.join(ADDR_LOG), "more than 2^32 addresses")
                    })?;
                    self.active.insert(Key::of(*k), id);
                    self.log.append(rec)?;
                    self.stats.new_ids += 1;
                    id
                }
            };
            out.push(u64::from(id));
        }
        // Generations normally rotate in `sync`, once their ids are durable, so that runs and
        // merges never hold ids a crash could take back; this bounds RAM if syncs are rare.
        if self.active.len() >= self.opts.generation_entries.saturating_mul(2) {
            self.rotate()?;
        }
        Ok(out)
    }

    /// Looks the keys `misses` up in the runs, newest run first, filling `pre`.
    fn probe_runs(
        &mut self,
        keys: &[u128],
        misses: &[usize],
        pre: &mut [Option<u32>],
    ) -> Result<(), StoreError> {
        if misses.is_empty() || self.runs.is_empty() {
            return Ok(());
        }
        // (slot in `misses`, run, key): every run whose bloom filter may hold the key.
        let mut probes: Vec<(usize, u32, u128)> = Vec::new();
        for (j, &i) in misses.iter().enumerate() {
            let Some(&k) = keys.get(i) else { continue };
            for (ri, r) in self.runs.iter().enumerate().rev() {
                if r.bloom.may_contain(k) {
                    probes.push((j, ri as u32, k));
                }
            }
        }
        self.stats.disk_probes += probes.len() as u64;
        let mut found: Vec<Option<u32>> = vec![None; misses.len()];
        fn record(found: &mut [Option<u32>], slot: usize, r: Option<u32>) {
            if let (Some(id), Some(f)) = (r, found.get_mut(slot)) {
                f.get_or_insert(id);
            }
        }
        let threads = self.pool.as_ref().map_or(0, |p| p.threads.len());
        let jobs = self.pool.as_ref().and_then(|p| p.jobs.as_ref());
        match jobs {
            Some(jobs) if probes.len() >= 32 && threads > 0 => {
                let chunk = probes.len().div_ceil(threads * 4).max(8);
                let (done_tx, done_rx) = channel();
                let mut sent = 0;
                for c in probes.chunks(chunk) {
                    let job = (Arc::clone(&self.runs), c.to_vec());
                    jobs.send((job, done_tx.clone()))
                        .map_err(|_| seg_err(&self.dir, "address-index I/O pool stopped"))?;
                    sent += 1;
                }
                drop(done_tx);
                let mut first_err = None;
                for _ in 0..sent {
                    let part = done_rx
                        .recv()
                        .map_err(|_| seg_err(&self.dir, "address-index I/O thread died"))?;
                    for (slot, r) in part {
                        match r {
                            Ok(r) => record(&mut found, slot, r),
                            Err(e) => {
                                first_err.get_or_insert(e);
                            }
                        }
                    }
                }
                if let Some(e) = first_err {
                    return Err(e);
                }
            }
            _ => {
                for &(slot, ri, k) in &probes {
                    if found.get(slot).is_some_and(Option::is_some) {
                        continue;
                    }
                    if let Some(r) = self.runs.get(ri as usize) {
                        record(&mut found, slot, r.find(k)?);
                    }
                }
            }
        }
        for (&i, f) in misses.iter().zip(found) {
            if let (Some(id), Some(p), Some(&k)) = (f, pre.get_mut(i), keys.get(i)) {
                *p = Some(id);
                self.stats.disk_hits += 1;
                self.cache.put(k, id);
            }
        }
        Ok(())
    }

    /// Writes and syncs the log; returns its length to record as committed (bytes). Call
    /// before the redb commit of the batch. A full generation is handed to the background
    /// writer here (waiting for the previous one if it is still being written).
    pub fn sync(&mut self) -> Result<u64, StoreError> {
        let len = self.log.sync()?;
        self.durable = len / ADDR_RECORD as u64;
        if self.active.len() >= self.opts.generation_entries {
            self.rotate()?;
        }
        Ok(len)
    }

    /// [`sync`](Self::sync)s the log and records its length in `wtx`; returns the id count
    /// that becomes committed when `wtx` commits.
    pub fn commit(&mut self, wtx: &WriteTransaction) -> Result<u64, StoreError> {
        let len = self.sync()?;
        segment::commit_len(wtx, self.chain.code(), ADDR_LOG, len)?;
        Ok(len / ADDR_RECORD as u64)
    }

    /// Waits for a run being written in the background (tests, clean shutdown).
    pub fn settle(&mut self) -> Result<(), StoreError> {
        self.join_bg()
    }

    /// Settles and drops the log's read map: call before reopening the index over a cut
    /// log (an unwind), since the reopen cuts the file this index still maps.
    pub fn release(&mut self) -> Result<(), StoreError> {
        self.join_bg()?;
        self.log.unmap();
        Ok(())
    }

    fn join_bg(&mut self) -> Result<(), StoreError> {
        if let Some(h) = self.bg.take() {
            let (runs, merges) = h
                .join()
                .map_err(|_| seg_err(&self.dir, "address-index writer thread panicked"))??;
            self.runs = Arc::new(runs);
            self.stats.merges += merges;
        }
        Ok(())
    }

    /// The active generation becomes the previous one and is written as a run (and merged)
    /// in the background; the former previous generation is dropped once its run is in.
    fn rotate(&mut self) -> Result<(), StoreError> {
        self.join_bg()?;
        let fresh = match Arc::get_mut(&mut self.prev) {
            Some(m) => {
                let mut m = std::mem::take(m);
                m.clear();
                m
            }
            None => Generation::with_hasher(PassThrough),
        };
        let generation = Arc::new(std::mem::replace(&mut self.active, fresh));
        self.active.reserve(self.opts.generation_entries);
        self.prev = Arc::clone(&generation);
        let (a, b) = (self.mark, self.n);
        self.mark = b;
        self.stats.flushes += 1;
        let dir = self.dir.clone();
        let opts = self.opts.clone();
        let mut runs: Vec<Arc<Run>> = self.runs.iter().cloned().collect();
        let durable = self.durable;
        let seed = self.seed;
        let h = std::thread::Builder::new()
            .name("addr-index-flush".into())
            .spawn(move || -> BgResult {
                let mut es: Vec<u128> = generation
                    .iter()
                    .map(|(k, &id)| k.k() | u128::from(id))
                    .collect();
                drop(generation);
                es.sort_unstable();
                let mut w = RunWriter::new(&dir, es.len(), opts.bloom_bits_per_key)?;
                for &e in &es {
                    w.push(e)?;
                }
                drop(es);
                runs.push(Arc::new(w.finish(&dir, a, b, seed)?));
                let merges = merge_tiers(&dir, &opts, &mut runs, durable, seed)?;
                Ok((runs, merges))
            })
            .map_err(|e| seg_err(&self.dir, format!("spawn run writer: {e}")))?;
        self.bg = Some(h);
        Ok(())
    }
}

impl Drop for AddressIndex {
    fn drop(&mut self) {
        // A run being written is either renamed in or left as a `.tmp`, both fine; wait so
        // that a reopen in the same process sees it.
        let _ = self.join_bg();
    }
}

fn remove(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path, "remove", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> u128 {
        let mut rec = [0u8; ADDR_RECORD];
        rec[..8].copy_from_slice(&i.to_le_bytes());
        Seed(KeyedHash([1, 2])).fingerprint(&rec)
    }

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let n = 100_000;
        let mut b = Bloom::new(n, 10);
        for i in 0..n as u64 {
            b.add(key(i));
        }
        assert!((0..n as u64).all(|i| b.may_contain(key(i))));
        let fp = (n as u64..2 * n as u64)
            .filter(|&i| b.may_contain(key(i)))
            .count();
        assert!(fp < n / 50, "{fp} false positives in {n}");
    }

    #[test]
    fn cache_keeps_recent_keys_and_evicts_the_oldest_way() {
        let mut c = Cache::new(64);
        for i in 0..4 {
            c.put(key(i), i as u32);
        }
        assert_eq!(c.get(key(0)), Some(0), "refreshes key 0");
        c.put(key(4), 4);
        assert_eq!(c.peek(key(1)), None, "the oldest way went");
        for i in [0, 2, 3, 4] {
            assert_eq!(c.peek(key(i)), Some(i as u32));
        }
    }

    #[test]
    fn fingerprints_depend_on_the_seed_and_keep_the_id_bits_free() {
        let rec = encode_payee(&Payee {
            chain: Chain::BitcoinMainnet,
            repr: PayeeRepr::KeyHash([3; 20]),
        });
        let a = Seed(KeyedHash([1, 2])).fingerprint(&rec);
        assert_eq!(a as u32, 0);
        assert_ne!(a, Seed(KeyedHash([1, 3])).fingerprint(&rec));
        assert_eq!(
            parse_run_name(&run_name(7, 4_000_000_000)),
            Some((7, 4_000_000_000))
        );
        assert_eq!(parse_run_name("arun-7-9"), None);
    }
}
