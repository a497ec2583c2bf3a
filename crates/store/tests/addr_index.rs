//! The bulk address index: dense ids in first-appearance order, lookups across flushes and
//! merges, reopen, crash recovery and damage reporting.

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use redb::{Database, ReadableDatabase};
use tracehound_core::{Chain, Payee, PayeeRepr};
use tracehound_store::bulk::addr_index::{
    ADDR_LOG, AddressIndex, AddressIndexOptions, committed_ids, decode_payee, encode_payee,
};
use tracehound_store::bulk::segment::SEGMENTS;

const CHAIN: Chain = Chain::BitcoinMainnet;

fn small(generation: usize, io_threads: usize) -> AddressIndexOptions {
    AddressIndexOptions {
        generation_entries: generation,
        cache_bytes: 64 * 64,
        bloom_bits_per_key: 10,
        fanout: 4,
        io_threads,
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A payee of several shapes, determined by `i`.
fn payee(i: u64) -> Payee {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_le_bytes());
    h[8..16].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
    let h20: [u8; 20] = h[..20].try_into().unwrap();
    let repr = match i % 6 {
        0 | 1 => PayeeRepr::KeyHash(h20),
        2 => PayeeRepr::ScriptHash(h20),
        3 => return Payee::witness(CHAIN, 0, &h[..32]).unwrap(),
        4 => PayeeRepr::Script(h),
        _ => PayeeRepr::Multisig {
            m: 1,
            n: 2,
            hash: h20,
        },
    };
    Payee { chain: CHAIN, repr }
}

/// Interns `batch` into `ix` and the model, checking they agree.
fn intern_both(ix: &mut AddressIndex, model: &mut HashMap<Payee, u64>, batch: &[Payee]) {
    let ids = ix.intern_batch(batch).unwrap();
    assert_eq!(ids.len(), batch.len());
    for (p, id) in batch.iter().zip(ids) {
        let next = model.len() as u64;
        let want = *model.entry(*p).or_insert(next);
        assert_eq!(id, want, "{p:?}");
    }
    assert_eq!(ix.len(), model.len() as u64);
}

fn commit(db: &Database, ix: &mut AddressIndex) -> u64 {
    let w = db.begin_write().unwrap();
    let n = ix.commit(&w).unwrap();
    w.commit().unwrap();
    n
}

fn committed(db: &Database) -> u64 {
    let r = db.begin_read().unwrap();
    match r.open_table(SEGMENTS) {
        Ok(t) => committed_ids(&t, CHAIN).unwrap(),
        Err(_) => 0,
    }
}

fn run_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("arun"))
        .collect();
    v.sort();
    v
}

#[test]
fn payee_records_round_trip() {
    for i in 0..60 {
        let p = payee(i);
        assert_eq!(decode_payee(CHAIN, &encode_payee(&p)), Some(p));
    }
    for repr in [
        PayeeRepr::MwebHogAddr,
        PayeeRepr::MwebPegin([7; 32]),
        PayeeRepr::Evm([9; 20]),
    ] {
        let p = Payee {
            chain: Chain::LitecoinMainnet,
            repr,
        };
        assert_eq!(decode_payee(p.chain, &encode_payee(&p)), Some(p));
    }
    assert_eq!(decode_payee(CHAIN, &[0; 48]), None);
    let mut bad = encode_payee(&payee(0));
    bad[47] = 1;
    assert_eq!(
        decode_payee(CHAIN, &bad),
        None,
        "trailing bytes must be zero"
    );
}

/// 2M payees with realistic reuse (most outputs pay fresh addresses, the rest mostly recent
/// ones), across many flushes and merges; every id matches a HashMap model, and every address
/// is found afterwards, also after a reopen.
#[test]
fn two_million_payees_match_a_hash_map() {
    let dir = tempfile::tempdir().unwrap();
    let opts = AddressIndexOptions {
        generation_entries: 40_000,
        cache_bytes: 1 << 20,
        ..AddressIndexOptions::default()
    };
    let mut ix = AddressIndex::open(dir.path(), CHAIN, 0, &opts).unwrap();
    let mut model: HashMap<Payee, u64> = HashMap::new();
    let mut order: Vec<u64> = Vec::new(); // payee seeds by id
    let mut rng = Rng(42);
    let mut fresh = 0u64;
    let mut batch = Vec::with_capacity(20_000);
    let mut seeds = Vec::with_capacity(20_000);
    for _ in 0..100 {
        batch.clear();
        seeds.clear();
        for _ in 0..20_000 {
            let r = rng.next();
            let s = if order.is_empty() || r % 100 < 55 {
                fresh += 1;
                fresh
            } else if r % 100 < 85 {
                // recent
                let back = (rng.next() % 5_000).min(order.len() as u64 - 1);
                order[order.len() - 1 - back as usize]
            } else {
                order[(rng.next() % order.len() as u64) as usize]
            };
            batch.push(payee(s));
            seeds.push(s);
        }
        let before = model.len();
        intern_both(&mut ix, &mut model, &batch);
        // Record seeds of the new ids in id order.
        let mut seen = std::collections::HashSet::new();
        for (p, &s) in batch.iter().zip(&seeds) {
            if model[p] as usize >= before && seen.insert(*p) {
                order.push(s);
            }
        }
        assert_eq!(order.len(), model.len());
        ix.sync().unwrap();
    }
    ix.settle().unwrap();
    let st = ix.stats();
    assert!(st.flushes >= 20, "{st:?}");
    assert!(st.merges >= 4, "{st:?}");
    assert!(st.disk_hits > 0, "{st:?}");
    for (i, &s) in order.iter().enumerate() {
        assert_eq!(ix.lookup(&payee(s)).unwrap(), Some(i as u64));
    }
    assert_eq!(ix.lookup(&payee(u64::MAX - 1)).unwrap(), None);

    let n = ix.sync().unwrap() / 48;
    assert_eq!(n, model.len() as u64);
    drop(ix);
    let ix = AddressIndex::open(dir.path(), CHAIN, n, &opts).unwrap();
    assert_eq!(ix.len(), n);
    let mut rng = Rng(7);
    for _ in 0..200_000 {
        let i = (rng.next() % n) as usize;
        assert_eq!(ix.lookup(&payee(order[i])).unwrap(), Some(i as u64));
    }
}

#[test]
fn reopen_restores_the_committed_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("db.redb")).unwrap();
    let opts = small(100, 2);
    let mut model = HashMap::new();
    {
        let mut ix = AddressIndex::open(dir.path(), CHAIN, committed(&db), &opts).unwrap();
        for b in 0..30u64 {
            let batch: Vec<Payee> = (0..97).map(|i| payee((b * 61 + i) % 1_500)).collect();
            intern_both(&mut ix, &mut model, &batch);
            assert_eq!(commit(&db, &mut ix), model.len() as u64);
        }
    }
    assert_eq!(committed(&db), model.len() as u64);
    let mut ix = AddressIndex::open(dir.path(), CHAIN, committed(&db), &opts).unwrap();
    assert_eq!(ix.len(), model.len() as u64);
    for (p, &id) in &model {
        assert_eq!(ix.lookup(p).unwrap(), Some(id));
    }
    // Interning continues where it stopped.
    let batch: Vec<Payee> = (1_400..1_700).map(payee).collect();
    intern_both(&mut ix, &mut model, &batch);
}

#[test]
fn a_crash_reopens_to_exactly_the_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("db.redb")).unwrap();
    let opts = small(64, 3);
    let mut model = HashMap::new();
    let mut ix = AddressIndex::open(dir.path(), CHAIN, 0, &opts).unwrap();
    let first: Vec<Payee> = (0..1_000).map(payee).collect();
    intern_both(&mut ix, &mut model, &first);
    let n = commit(&db, &mut ix);
    assert_eq!(n, 1_000);
    // A batch that was interned, synced and flushed to runs, but never committed in redb.
    let lost: Vec<Payee> = (5_000..6_000).map(payee).collect();
    ix.intern_batch(&lost).unwrap();
    ix.sync().unwrap();
    ix.settle().unwrap();
    drop(ix);
    let files = run_files(dir.path());
    assert!(
        files.iter().any(|f| {
            let b: u64 = f.rsplit('-').next().unwrap().parse().unwrap();
            b > n
        }),
        "runs past the committed count exist: {files:?}"
    );
    // A partial run past the committed count and a temporary leftover.
    let some_run = dir.path().join(&files[0]);
    let bytes = std::fs::read(&some_run).unwrap();
    std::fs::write(
        dir.path().join("arun-0000001000-0000001500"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    std::fs::write(dir.path().join("arun.tmp0123456789abcdef"), &bytes[..100]).unwrap();

    let mut ix = AddressIndex::open(dir.path(), CHAIN, committed(&db), &opts).unwrap();
    assert_eq!(ix.len(), 1_000);
    assert_eq!(
        std::fs::metadata(dir.path().join(ADDR_LOG)).unwrap().len(),
        1_000 * 48
    );
    for f in run_files(dir.path()) {
        assert!(!f.starts_with("arun.tmp"), "{f}");
        let b: u64 = f.rsplit('-').next().unwrap().parse().unwrap();
        assert!(b <= 1_000, "{f} survived");
    }
    for (p, &id) in &model {
        assert_eq!(ix.lookup(p).unwrap(), Some(id));
    }
    for p in &lost {
        assert_eq!(ix.lookup(p).unwrap(), None, "uncommitted payee {p:?}");
    }
    // The lost batch interns again to the same ids it had before the crash.
    intern_both(&mut ix, &mut model, &lost);
    assert_eq!(model[&lost[0]], 1_000);
}

#[test]
fn a_crash_between_merge_and_input_removal_keeps_the_merged_run() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small(50, 0);
    let mut model = HashMap::new();
    let mut ix = AddressIndex::open(dir.path(), CHAIN, 0, &opts).unwrap();
    for b in 0..6u64 {
        let batch: Vec<Payee> = (b * 50..b * 50 + 50).map(payee).collect();
        intern_both(&mut ix, &mut model, &batch);
        ix.sync().unwrap();
        ix.settle().unwrap();
    }
    assert!(ix.stats().merges >= 1, "{:?}", ix.stats());
    drop(ix);
    let files = run_files(dir.path());
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("arun-0000000000-") && !f.ends_with("-0000000050")),
        "{files:?}"
    );
    // An input of that merge, still there as if the crash came before its removal.
    let stale = dir.path().join("arun-0000000000-0000000050");
    std::fs::write(&stale, b"not even a run").unwrap();
    let ix = AddressIndex::open(dir.path(), CHAIN, 300, &opts).unwrap();
    assert!(!stale.exists());
    assert_eq!(ix.len(), 300);
    for (p, &id) in &model {
        assert_eq!(ix.lookup(p).unwrap(), Some(id));
    }
}

#[test]
fn damaged_runs_give_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small(300, 2);
    let mut model = HashMap::new();
    let mut ix = AddressIndex::open(dir.path(), CHAIN, 0, &opts).unwrap();
    let batch: Vec<Payee> = (0..1_000).map(payee).collect();
    intern_both(&mut ix, &mut model, &batch);
    let n = ix.sync().unwrap() / 48;
    ix.settle().unwrap();
    drop(ix);
    let files = run_files(dir.path());
    let run = dir.path().join(&files[0]);
    let good = std::fs::read(&run).unwrap();

    // A flipped bit in the bloom filter / fences: the checksum catches it on open.
    let mut bad = good.clone();
    let at = bad.len() - 100;
    bad[at] ^= 1;
    std::fs::write(&run, &bad).unwrap();
    let err = AddressIndex::open(dir.path(), CHAIN, n, &opts).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&files[0]) && msg.contains("offset"), "{msg}");

    // A truncated run.
    std::fs::write(&run, &good[..good.len() - 7]).unwrap();
    let msg = AddressIndex::open(dir.path(), CHAIN, n, &opts)
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&files[0]) && msg.contains("offset"), "{msg}");

    // Damaged entries: open succeeds (entries are read lazily), lookups report the page.
    let mut bad = good.clone();
    for b in &mut bad[..16 * 256] {
        *b ^= 0x55;
    }
    std::fs::write(&run, &bad).unwrap();
    let ix = AddressIndex::open(dir.path(), CHAIN, n, &opts).unwrap();
    let mut errors = 0;
    for p in &batch {
        match ix.lookup(p) {
            Ok(Some(id)) => assert_eq!(id, model[p]),
            Ok(None) => {}
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&files[0]) && msg.contains("offset 0"), "{msg}");
                errors += 1;
            }
        }
    }
    assert!(errors > 0);
    drop(ix);

    // Deleting the damaged run rebuilds it from the log.
    std::fs::remove_file(&run).unwrap();
    let ix = AddressIndex::open(dir.path(), CHAIN, n, &opts).unwrap();
    for (p, &id) in &model {
        assert_eq!(ix.lookup(p).unwrap(), Some(id));
    }
}

#[test]
fn payees_of_another_chain_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut ix = AddressIndex::open(dir.path(), CHAIN, 0, &small(10, 0)).unwrap();
    let other = Payee {
        chain: Chain::LitecoinMainnet,
        repr: PayeeRepr::KeyHash([1; 20]),
    };
    assert!(ix.intern_batch(&[payee(1), other]).is_err());
    assert_eq!(ix.lookup(&other).unwrap(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Small universes, tiny generations: ids match the model after every batch, and after
    /// a reopen at a random commit point.
    #[test]
    fn small_cases_match_the_model(
        batches in prop::collection::vec(prop::collection::vec(0u64..300, 0..60), 1..25),
        generation in 1usize..40,
        threads in 0usize..3,
        commit_after in 0usize..25,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = small(generation, threads);
        let mut ix = AddressIndex::open(dir.path(), CHAIN, 0, &opts).unwrap();
        let mut model = HashMap::new();
        let mut committed_model = HashMap::new();
        let mut committed_n = 0;
        for (i, b) in batches.iter().enumerate() {
            let batch: Vec<Payee> = b.iter().map(|&s| payee(s)).collect();
            intern_both(&mut ix, &mut model, &batch);
            if i == commit_after.min(batches.len() - 1) {
                committed_n = ix.sync().unwrap() / 48;
                committed_model = model.clone();
            }
        }
        for (p, &id) in &model {
            prop_assert_eq!(ix.lookup(p).unwrap(), Some(id));
        }
        ix.sync().unwrap();
        drop(ix);
        let ix = AddressIndex::open(dir.path(), CHAIN, committed_n, &opts).unwrap();
        prop_assert_eq!(ix.len(), committed_n);
        for s in 0..300 {
            let p = payee(s);
            prop_assert_eq!(ix.lookup(&p).unwrap(), committed_model.get(&p).copied());
        }
    }
}

/// Throughput of `intern_batch`: `cargo test --release -p tracehound-store --test addr_index
/// -- --ignored --nocapture throughput`. Sizes via `ADDR_INDEX_BENCH_N` (payees, default 8M).
#[test]
#[ignore = "timing, run by hand in release mode"]
fn throughput() {
    let n: u64 = std::env::var("ADDR_INDEX_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8_000_000);
    let dir = tempfile::tempdir().unwrap();
    let opts = AddressIndexOptions {
        generation_entries: 1 << 20,
        cache_bytes: 32 << 20,
        ..AddressIndexOptions::default()
    };
    let mut ix = AddressIndex::open(dir.path(), CHAIN, 0, &opts).unwrap();
    let mut rng = Rng(1);
    let mut fresh = 0u64;
    let mut batch = Vec::with_capacity(100_000);
    let mut busy = std::time::Duration::ZERO;
    let t0 = std::time::Instant::now();
    let mut done = 0;
    while done < n {
        batch.clear();
        for _ in 0..100_000 {
            let r = rng.next() % 100;
            let s = if fresh == 0 || r < 55 {
                fresh += 1;
                fresh
            } else if r < 85 {
                fresh - (rng.next() % 5_000).min(fresh - 1)
            } else {
                1 + rng.next() % fresh
            };
            batch.push(payee(s));
        }
        let t = std::time::Instant::now();
        ix.intern_batch(&batch).unwrap();
        ix.sync().unwrap();
        busy += t.elapsed();
        done += batch.len() as u64;
    }
    ix.settle().unwrap();
    let total = t0.elapsed();
    println!(
        "{n} payees, {} ids, {} runs: {:.2} M payees/s in intern_batch+sync ({:.2}s), {:.2}s total; RAM {} MiB; {:?}",
        ix.len(),
        ix.run_count(),
        n as f64 / busy.as_secs_f64() / 1e6,
        busy.as_secs_f64(),
        total.as_secs_f64(),
        ix.ram_bytes() >> 20,
        ix.stats()
    );
}
