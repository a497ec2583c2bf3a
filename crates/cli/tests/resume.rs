//! Crash safety and resume of `tracehound ingest`: the process is killed with SIGKILL at
//! random moments, restarted each time, and must end with exactly the store a clean
//! one-pass ingest gives (same content digest). Also bad input on the command line.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use tracehound_btc::synth::{self, SynthConfig};
use tracehound_core::Chain;
use tracehound_store::{Store, StoreOptions};

fn tracehound(data_dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracehound"));
    c.arg("--data-dir").arg(data_dir).args(args);
    c
}

fn digest(data_dir: &Path) -> String {
    Store::open(
        data_dir,
        &StoreOptions {
            cache_bytes: 64 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap()
    .digest()
    .unwrap()
}

fn tip(data_dir: &Path) -> Option<u32> {
    Store::open(
        data_dir,
        &StoreOptions {
            cache_bytes: 16 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap()
    .tip(Chain::BitcoinRegtest)
    .unwrap()
    .map(|t| t.height)
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn sigkill_at_random_points_then_resume_equals_one_pass() {
    let work = tempfile::tempdir().unwrap();
    let blocks = work.path().join("blocks");
    std::fs::create_dir_all(&blocks).unwrap();
    let cfg = SynthConfig {
        chain: Chain::BitcoinRegtest,
        blocks: 1200,
        txs_per_block: 40,
        seed: 99,
        xor_key: Some([1, 2, 3, 4, 5, 6, 7, 8]),
        out_of_order: true,
        stale_every: Some(100),
        ..SynthConfig::default()
    };
    synth::write_blk_dir(&blocks, &cfg).unwrap();
    let blocks_arg = blocks.to_str().unwrap();
    let ingest = [
        "ingest",
        "btc",
        "--network",
        "bitcoin-regtest",
        "--blocks-dir",
        blocks_arg,
        "--batch-txs",
        "1500",
    ];

    let clean = work.path().join("clean");
    run_ok(&mut tracehound(&clean, &ingest));
    let expected = digest(&clean);

    // The killed runs keep only ~14k unspent outputs in RAM and spill the rest to disk, so
    // the crash path also covers spilled sets (stale runs deleted, the set rebuilt from the log).
    let small_utxo_ram: Vec<&str> = ingest
        .iter()
        .copied()
        .chain(["--utxo-cache-mb", "1"])
        .collect();
    let ingest = small_utxo_ram.as_slice();
    let killed = work.path().join("killed");
    let mut rng = fastrand::Rng::with_seed(4242);
    let mut last_tip = None;
    let mut kills = 0;
    for _ in 0..6 {
        let mut child = tracehound(&killed, ingest)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(30..600)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        // What was committed stays committed: the tip never goes back.
        let now = tip(&killed);
        assert!(
            now >= last_tip,
            "tip went back from {last_tip:?} to {now:?}"
        );
        last_tip = now;
    }
    assert!(
        kills > 0,
        "the ingest finished before any kill: make the chain larger"
    );
    let out = run_ok(&mut tracehound(&killed, ingest));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bitcoin-regtest"));
    assert_eq!(
        digest(&killed),
        expected,
        "resumed store differs from a one-pass ingest"
    );
    // Running again is a no-op.
    let again = run_ok(&mut tracehound(&killed, ingest));
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
    assert_eq!(digest(&killed), expected);
}

#[test]
fn bad_input_gives_clear_errors_and_keeps_the_store() {
    let work = tempfile::tempdir().unwrap();
    let blocks = work.path().join("blocks");
    std::fs::create_dir_all(&blocks).unwrap();
    let cfg = SynthConfig {
        chain: Chain::BitcoinRegtest,
        blocks: 120,
        txs_per_block: 10,
        seed: 5,
        ..SynthConfig::default()
    };
    synth::write_blk_dir(&blocks, &cfg).unwrap();
    let data = work.path().join("data");
    let b = blocks.to_str().unwrap();
    run_ok(&mut tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--blocks-dir",
            b,
        ],
    ));
    let before = digest(&data);

    let fails = |args: &[&str], needle: &str| {
        let out = tracehound(&data, args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            err.contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{err}"
        );
    };
    // Wrong network: litecoin's magic is not in these files.
    fails(
        &["ingest", "btc", "--network", "litecoin", "--blocks-dir", b],
        "expected litecoin magic",
    );
    // Regtest magic is shared by both regtests, but the genesis is not.
    fails(
        &[
            "ingest",
            "btc",
            "--network",
            "litecoin-regtest",
            "--blocks-dir",
            b,
        ],
        "no litecoin-regtest chain in the files",
    );
    let empty = work.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails(
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--blocks-dir",
            empty.to_str().unwrap(),
        ],
        "no blk?????.dat files",
    );
    fails(
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--rpc",
            "http://127.0.0.1:1",
        ],
        "127.0.0.1:1",
    );
    fails(
        &["address", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"],
        "never appeared",
    );
    fails(&["address", "not-an-address"], "not a valid address");
    fails(&["tx", &"ab".repeat(32)], "is not in the store");
    fails(&["tx", "xyz"], "invalid 32-byte hash");

    // A corrupt byte in the last block is caught by the merkle check and names file and offset.
    let corrupt = work.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    let mut bytes = std::fs::read(blocks.join("blk00000.dat")).unwrap();
    let (mut pos, mut last) = (0, 0);
    while pos + 8 <= bytes.len() && bytes[pos..pos + 4] != [0; 4] {
        last = pos;
        pos += 8 + u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
    }
    bytes[last + 8 + 40] ^= 0x40; // inside the header's merkle root
    std::fs::write(corrupt.join("blk00000.dat"), bytes).unwrap();
    let fresh = work.path().join("fresh");
    let out = tracehound(
        &fresh,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--blocks-dir",
            corrupt.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("blk00000.dat at byte") && err.contains("merkle root mismatch"),
        "{err}"
    );
    // Everything before the bad block was committed and is usable.
    assert!(tip(&fresh).is_some_and(|t| t > 100), "{:?}", tip(&fresh));

    assert_eq!(digest(&data), before, "failed commands changed the store");

    // A source that is merely behind the store (same chain, fewer blocks) unwinds nothing.
    let shorter = work.path().join("shorter");
    std::fs::create_dir_all(&shorter).unwrap();
    synth::write_blk_dir(
        &shorter,
        &SynthConfig {
            blocks: 80,
            ..cfg.clone()
        },
    )
    .unwrap();
    let out = run_ok(&mut tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--blocks-dir",
            shorter.to_str().unwrap(),
        ],
    ));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("up to date"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        digest(&data),
        before,
        "a shorter source must not unwind the store"
    );

    // Queries on the good store work, in text and JSON.
    let status = run_ok(&mut tracehound(&data, &["--json", "status"]));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["chains"][0]["tip"]["height"], 119);
    let out = run_ok(&mut tracehound(
        &data,
        &[
            "export",
            "parquet",
            work.path().join("pq").to_str().unwrap(),
        ],
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("outputs"));
    let pq = work.path().join("pq");
    assert!(pq.join("_tracehound.json").exists());
    for t in [
        "blocks",
        "txs",
        "inputs",
        "outputs",
        "addresses",
        "address_txs",
    ] {
        assert!(pq.join(t).join("chain=bitcoin-regtest").is_dir(), "{t}");
    }
}

/// A pruned node's blocks directory no longer holds genesis: ingest continues from the stored
/// tip and ends with the same store as a one-pass ingest of all the files.
#[test]
fn pruned_directory_resumes_from_the_stored_tip() {
    let work = tempfile::tempdir().unwrap();
    let full = work.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    let cfg = SynthConfig {
        chain: Chain::BitcoinRegtest,
        blocks: 300,
        txs_per_block: 20,
        seed: 11,
        max_file_bytes: 256 << 10,
        ..SynthConfig::default()
    };
    synth::write_blk_dir(&full, &cfg).unwrap();
    let reader = tracehound_btc::blk::BlkReader::open(&full, Chain::BitcoinRegtest).unwrap();
    assert!(
        reader.files().len() >= 4,
        "need several files, got {}",
        reader.files().len()
    );
    let genesis = Chain::BitcoinRegtest
        .utxo_params()
        .unwrap()
        .genesis
        .parse()
        .unwrap();
    let best = reader.scan(|_| {}).unwrap().best_chain(genesis, None);
    // The last block of the second file: everything after it sits in later files.
    let cut = best.blocks.iter().rposition(|l| l.file == 1).unwrap() as u32;
    let pruned = work.path().join("pruned");
    std::fs::create_dir_all(&pruned).unwrap();
    for f in &reader.files()[2..] {
        std::fs::copy(f, pruned.join(f.file_name().unwrap())).unwrap();
    }

    let whole = work.path().join("whole");
    run_ok(&mut tracehound(
        &whole,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--blocks-dir",
            full.to_str().unwrap(),
        ],
    ));
    let data = work.path().join("data");
    let to = cut.to_string();
    run_ok(&mut tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--blocks-dir",
            full.to_str().unwrap(),
            "--to-height",
            &to,
        ],
    ));
    assert_eq!(tip(&data), Some(cut));
    run_ok(&mut tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin-regtest",
            "--blocks-dir",
            pruned.to_str().unwrap(),
        ],
    ));
    assert_eq!(tip(&data), Some(299));
    assert_eq!(digest(&data), digest(&whole));
}

/// A source whose best chain forks from the store with less work (an old copy of the files,
/// a node stuck on a stale branch) must not unwind the heavier stored chain.
#[test]
fn a_lighter_fork_does_not_unwind_a_heavier_stored_chain() {
    let work = tempfile::tempdir().unwrap();
    let real = tracehound_btc::fixtures::shared_data("btc/blk");
    let data = work.path().join("data");
    run_ok(&mut tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin",
            "--blocks-dir",
            real.to_str().unwrap(),
        ],
    ));
    let before = Store::open(&data, &StoreOptions::default())
        .unwrap()
        .digest()
        .unwrap();

    // Blocks 0..=100 of the real chain, then a sibling of block 101 (another nonce, same txs).
    let bytes = std::fs::read(real.join("blk00000.dat")).unwrap();
    let (mut pos, mut records) = (0, Vec::new());
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        records.push(bytes[pos..pos + 8 + len].to_vec());
        pos += 8 + len;
    }
    let mut fork: Vec<u8> = records[..=100].concat();
    let mut sibling = records[101].clone();
    sibling[8 + 76] ^= 0xff;
    fork.extend_from_slice(&sibling);
    let forked = work.path().join("forked");
    std::fs::create_dir_all(&forked).unwrap();
    std::fs::write(forked.join("blk00000.dat"), fork).unwrap();

    let out = tracehound(
        &data,
        &[
            "ingest",
            "btc",
            "--network",
            "bitcoin",
            "--blocks-dir",
            forked.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a lighter fork must be refused");
    assert!(
        err.contains("less work") && err.contains("height 100"),
        "{err}"
    );
    let after = Store::open(&data, &StoreOptions::default()).unwrap();
    assert_eq!(after.digest().unwrap(), before);
    assert!(
        after
            .tip(Chain::BitcoinMainnet)
            .unwrap()
            .unwrap()
            .chainwork
            .is_some()
    );
}
