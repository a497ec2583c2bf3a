//! `tracehound_store::bulk::txlog` through its public API: a batch protocol with the committed
//! lengths kept in redb, a reorg, and (ignored by default) an append-throughput measurement:
//! `cargo test --release -p tracehound-store --test txlog -- --ignored --nocapture`.

use std::time::Instant;

use redb::{Database, ReadableDatabase};
use tracehound_core::{Hash32, ScriptKind};
use tracehound_store::bulk::segment::SEGMENTS;
use tracehound_store::bulk::txlog::{Committed, FLAG_COINBASE, Input, Output, Record, TxLog};

const CHAIN: u32 = 1;

fn committed(db: &Database) -> Committed {
    let r = db.begin_read().expect("read txn");
    match r.open_table(SEGMENTS) {
        Ok(t) => Committed::load(&t, CHAIN).expect("load"),
        Err(_) => Committed::default(),
    }
}

fn txid(n: u64) -> Hash32 {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    h[8..16].copy_from_slice(&n.to_le_bytes());
    Hash32(h)
}

/// Tx `n`: spends `spends`, pays two outputs.
fn tx(n: u64, spends: &[u64]) -> Record {
    Record {
        txid: txid(n),
        flags: if spends.is_empty() { FLAG_COINBASE } else { 0 },
        size: 250,
        vsize: 141,
        inputs: spends
            .iter()
            .map(|&o| Input {
                addr: Some(o / 2),
                value: 5_000 + o,
                prev_out: o,
                prev_height: 7,
                flags: ScriptKind::P2wpkh.code(),
            })
            .collect(),
        outputs: vec![
            Output {
                addr: Some(n),
                value: 4_000 + n,
                kind: ScriptKind::P2wpkh,
                data: None,
            },
            Output {
                addr: Some(n + 1),
                value: 900,
                kind: ScriptKind::P2tr,
                data: None,
            },
        ],
    }
}

/// Appends txs `from..to`, each spending the second output of the previous tx, and commits.
fn batch(db: &Database, log: &mut TxLog, from: u64, to: u64) {
    for n in from..to {
        let spends: Vec<u64> = n.checked_sub(1).map(|p| p * 2 + 1).into_iter().collect();
        let (seq, first) = log.append_tx(&tx(n, &spends)).expect("append");
        assert_eq!((seq, first), (n, n * 2));
        for o in spends {
            log.mark_spent(o, seq).expect("mark");
        }
    }
    let c = log.sync().expect("sync");
    let w = db.begin_write().expect("write txn");
    c.commit(&w, CHAIN).expect("commit lengths");
    w.commit().expect("commit");
}

#[test]
fn batches_with_redb_and_a_reorg() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = Database::create(tmp.path().join("db.redb")).expect("db");
    let dir = tmp.path().join("btc");
    let mut log = TxLog::open(&dir, &committed(&db)).expect("open");
    batch(&db, &mut log, 0, 100);
    batch(&db, &mut log, 100, 200);
    drop(log);

    let mut log = TxLog::open(&dir, &committed(&db)).expect("reopen");
    assert_eq!((log.tx_count(), log.output_count()), (200, 400));
    assert_eq!(log.find_txid(&txid(150)).expect("find"), vec![150]);
    assert_eq!(log.tx(150).expect("tx"), tx(150, &[149 * 2 + 1]));
    assert_eq!(log.spender(149 * 2 + 1).expect("spender"), Some(150));
    assert_eq!(log.spender(149 * 2).expect("spender"), None);
    assert_eq!(log.tx_of_output(301).expect("tx of output"), 150);

    // Reorg: commit the unwind point, then truncate, then connect blocks again.
    let point = log.unwind_point(150).expect("unwind point");
    assert_eq!((point.txs, point.outputs), (150, 300));
    let w = db.begin_write().expect("write txn");
    point.commit(&w, CHAIN).expect("commit lengths");
    w.commit().expect("commit");
    log.truncate_to(150, 300).expect("unwind");
    assert_eq!(
        log.spender(149 * 2 + 1).expect("spender"),
        None,
        "its spender is gone"
    );
    assert_eq!(log.find_txid(&txid(150)).expect("find"), Vec::<u64>::new());
    assert_eq!(log.find_txid(&txid(120)).expect("find"), vec![120]);
    batch(&db, &mut log, 150, 160);
    drop(log);
    let log = TxLog::open(&dir, &committed(&db)).expect("reopen");
    assert_eq!(log.tx_count(), 160);
    assert_eq!(log.find_txid(&txid(159)).expect("find"), vec![159]);
    assert_eq!(log.find_txid(&txid(170)).expect("find"), Vec::<u64>::new());
    assert_eq!(log.spender(149 * 2 + 1).expect("spender"), Some(150));
}

#[test]
fn a_crash_between_committing_an_unwind_and_truncating_is_safe() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = Database::create(tmp.path().join("db.redb")).expect("db");
    let dir = tmp.path().join("btc");
    let mut log = TxLog::open(&dir, &committed(&db)).expect("open");
    batch(&db, &mut log, 0, 100);
    batch(&db, &mut log, 100, 200);
    let point = log.unwind_point(130).expect("unwind point");
    let w = db.begin_write().expect("write txn");
    point.commit(&w, CHAIN).expect("commit lengths");
    w.commit().expect("commit");
    // The process dies before truncate_to.
    drop(log);
    let mut log = TxLog::open(&dir, &committed(&db)).expect("reopen");
    assert_eq!((log.tx_count(), log.output_count()), (130, 260));
    assert_eq!(log.spender(129 * 2 + 1).expect("spender"), None);
    assert_eq!(log.spender(128 * 2 + 1).expect("spender"), Some(129));
    // Txs 100..130 lost their run with the unwind; open re-derived their txids.
    assert_eq!(log.find_txid(&txid(110)).expect("find"), vec![110]);
    assert_eq!(log.find_txid(&txid(130)).expect("find"), Vec::<u64>::new());
    batch(&db, &mut log, 130, 140);
    drop(log);
    let log = TxLog::open(&dir, &committed(&db)).expect("reopen");
    assert_eq!(log.tx_count(), 140);
    assert_eq!(log.find_txid(&txid(110)).expect("find"), vec![110]);
    assert_eq!(log.find_txid(&txid(135)).expect("find"), vec![135]);
    assert_eq!(log.spender(129 * 2 + 1).expect("spender"), Some(130));
}

#[test]
#[ignore = "throughput measurement; run in release with --ignored --nocapture"]
fn append_throughput() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut log = TxLog::open(tmp.path(), &Committed::default()).expect("open");
    let n: u64 = 2_000_000;
    let batch = 250_000;
    // About the shape of the benchmark data: ~2.4 inputs and ~2.6 outputs per tx.
    let recs: Vec<Record> = (0..1024)
        .map(|i| {
            let spends: Vec<u64> = (0..(i % 5)).map(|k| k * 3).collect();
            let mut r = tx(i, &spends);
            if i % 3 == 0 {
                r.outputs.push(r.outputs[0].clone());
            }
            r
        })
        .collect();
    let start = Instant::now();
    let mut sync_secs = 0.0;
    let mut inputs = 0u64;
    for i in 0..n {
        let mut r = recs[(i % 1024) as usize].clone();
        r.txid = txid(i);
        let (seq, first) = log.append_tx(&r).expect("append");
        // The first input spends a random earlier output, the others recent ones.
        for k in 0..r.inputs.len() {
            let o = if k == 0 && first > 0 {
                seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) % first
            } else {
                first.saturating_sub(1 + k as u64 * 3)
            };
            if o < first {
                log.mark_spent(o, seq).expect("mark");
                inputs += 1;
            }
        }
        if (i + 1) % batch == 0 {
            let t = Instant::now();
            log.sync().expect("sync");
            sync_secs += t.elapsed().as_secs_f64();
        }
    }
    let t = Instant::now();
    let c = log.sync().expect("sync");
    sync_secs += t.elapsed().as_secs_f64();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} txs ({inputs} spend marks, {} outputs, {} MiB log) in {secs:.2}s: {:.0} txs/s; sync (runs, spend marks, fsync) {sync_secs:.2}s",
        c.outputs,
        c.log_bytes >> 20,
        n as f64 / secs
    );
    let t = Instant::now();
    let lookups = 100_000u64;
    for i in 0..lookups {
        let k = (i * 7919) % n;
        assert_eq!(log.find_txid(&txid(k)).expect("find"), vec![k]);
    }
    println!(
        "find_txid over {} runs: {:.1} us each (warm)",
        log.live_runs(),
        t.elapsed().as_secs_f64() * 1e6 / lookups as f64
    );
}
