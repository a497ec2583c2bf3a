//! The store on real mainnet blocks (NBitcoin's first 600): input resolution, balances,
//! resume, reorg unwind, and refusal of blocks that do not fit.

use std::path::{Path, PathBuf};

use tracehound_btc::blk::BlkReader;
use tracehound_core::{Address, Chain, Hash32, UtxoBlock};
use tracehound_store::{Store, StoreError, StoreOptions};

fn data(rel: &str) -> PathBuf {
    tracehound_btc::fixtures::shared_data(rel)
}

fn mainnet_blocks() -> Vec<UtxoBlock> {
    tracehound_btc::fixtures::best_chain_blocks(&data("btc/blk"), Chain::BitcoinMainnet)
}

fn open(dir: &Path) -> Store {
    Store::open(
        dir,
        &StoreOptions {
            cache_bytes: 16 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn resolves_inputs_and_keeps_balances() {
    let blocks = mainnet_blocks();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let stats = store.apply_utxo_blocks(&blocks).unwrap();
    assert_eq!((stats.blocks, stats.txs), (600, 616));
    let status = store.status().unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].tip.as_ref().unwrap().height, 599);
    assert_eq!(status[0].inputs, stats.inputs);

    let txid: Hash32 = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
        .parse()
        .unwrap();
    let tx = &store.tx(None, &txid).unwrap()[0];
    assert_eq!((tx.height, tx.index), (170, 1));
    assert_eq!(tx.inputs[0].value.units(), 5_000_000_000);
    assert_eq!(tx.inputs[0].prev_height, 9);
    assert!(tx.inputs[0].coinbase);
    assert_eq!(tx.fee.units(), 0);
    // Every recorded spender really spends that output; the spent coinbase of block 9 names
    // tx 170 as its spender.
    let mut spenders = 0;
    for height in 0..600 {
        let block = store
            .block_at(Chain::BitcoinMainnet, height)
            .unwrap()
            .unwrap();
        for index in 0..block.tx_count {
            let t = store.tx_at(Chain::BitcoinMainnet, height, index).unwrap();
            for o in &t.outputs {
                if let Some((spender, input)) = o.spent_by {
                    let s = &store.tx(None, &spender).unwrap()[0];
                    let i = &s.inputs[input as usize];
                    assert_eq!(
                        (i.prev_txid, i.prev_vout, i.value),
                        (t.txid, o.vout, o.value)
                    );
                    spenders += 1;
                }
            }
        }
    }
    assert_eq!(spenders, status[0].inputs, "one spender per resolved input");
    let block9 = store.tx(None, &tx.inputs[0].prev_txid).unwrap();
    assert_eq!(block9[0].outputs[0].spent_by, Some((txid, 0)));
    let satoshi = Address::parse(Chain::BitcoinMainnet, &tx.inputs[0].address).unwrap();
    let view = store.address(&satoshi).unwrap().unwrap();
    let hist = store
        .address_history(Chain::BitcoinMainnet, view.id, 0, 100)
        .unwrap();
    assert_eq!(hist.len() as u64, view.tx_count);
    let received: u128 = hist.iter().map(|r| r.received.units()).sum();
    let sent: u128 = hist.iter().map(|r| r.sent.units()).sum();
    assert_eq!((received, sent), (view.received.units(), view.sent.units()));
    assert!(
        view.sent.units() >= 5_000_000_000,
        "it spent at least the coin of block 9"
    );

    // Money supply: every coinbase paid 50 BTC and no fees existed; balances sum to it.
    let total: u128 = store
        .addresses(Chain::BitcoinMainnet)
        .unwrap()
        .iter()
        .map(|a| a.balance.units())
        .sum();
    assert_eq!(total, 600 * 5_000_000_000);
}

#[test]
fn batches_resume_and_unwind_leave_no_trace() {
    let blocks = mainnet_blocks();
    let one = tempfile::tempdir().unwrap();
    let whole = open(one.path());
    whole.apply_utxo_blocks(&blocks).unwrap();
    let expected = whole.digest().unwrap();

    let two = tempfile::tempdir().unwrap();
    {
        let s = open(two.path());
        for chunk in blocks[..400].chunks(37) {
            s.apply_utxo_blocks(chunk).unwrap();
        }
    }
    // Reopen (as after a restart), unwind past block 170's spend, and replay.
    let s = open(two.path());
    assert_eq!(s.tip(Chain::BitcoinMainnet).unwrap().unwrap().height, 399);
    assert_eq!(s.unwind_to(Chain::BitcoinMainnet, 150).unwrap(), 249);
    assert!(
        s.tx(
            None,
            &"f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
                .parse()
                .unwrap()
        )
        .unwrap()
        .is_empty()
    );
    s.apply_utxo_blocks(&blocks[151..]).unwrap();
    assert_eq!(s.digest().unwrap(), expected);

    assert_eq!(s.unwind_all(Chain::BitcoinMainnet).unwrap(), 600);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(s.digest().unwrap(), open(empty.path()).digest().unwrap());
}

/// The bulk files of `dir`'s bitcoin chain that must not depend on batching or unwinds.
fn chain_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["txs.log", "txs.idx", "adj.log", "addrs.log"]
        .iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join("chains/bitcoin").join(f)).unwrap();
            (f.to_string(), bytes)
        })
        .collect()
}

#[test]
fn unwind_then_reingest_gives_byte_identical_files() {
    let blocks = mainnet_blocks();
    let one = tempfile::tempdir().unwrap();
    {
        let s = open(one.path());
        s.apply_utxo_blocks(&blocks).unwrap();
    }
    let two = tempfile::tempdir().unwrap();
    {
        let s = open(two.path());
        // Other batch boundaries, an unwind into the middle of a batch, more batches.
        for chunk in blocks.chunks(53) {
            s.apply_utxo_blocks(chunk).unwrap();
        }
        assert_eq!(s.unwind_to(Chain::BitcoinMainnet, 420).unwrap(), 179);
        s.apply_utxo_stream(Chain::BitcoinMainnet, blocks[421..].chunks(17), |_, _| {})
            .unwrap();
    }
    let (a, b) = (chain_files(one.path()), chain_files(two.path()));
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(!x.is_empty(), "{name} is empty");
        assert!(x == y, "{name} differs after unwind and re-ingest");
    }
    assert_eq!(
        open(one.path()).digest().unwrap(),
        open(two.path()).digest().unwrap()
    );
}

#[test]
fn refuses_blocks_that_do_not_fit() {
    let blocks = mainnet_blocks();
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let err = s.apply_utxo_blocks(&blocks[1..2]).unwrap_err();
    assert!(
        matches!(err, StoreError::NotConnected { height: 1, .. }),
        "{err}"
    );
    s.apply_utxo_blocks(&blocks[..170]).unwrap();
    let before = s.digest().unwrap();
    // Block 170 with its input pointing at an output that never existed.
    let mut bad = blocks[170].clone();
    bad.txs[1].inputs[0].prevout.txid = Hash32([9; 32]);
    let err = s
        .apply_utxo_blocks(&[blocks[169].clone(), bad].as_slice()[1..])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownPrevout {
                height: 170,
                input: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("0909090909"), "{err}");
    // A block on another parent.
    let mut fork = blocks[170].clone();
    fork.block.parent = Hash32([1; 32]);
    assert!(matches!(
        s.apply_utxo_blocks(&[fork]),
        Err(StoreError::NotConnected { .. })
    ));
    assert_eq!(
        s.digest().unwrap(),
        before,
        "failed batches must leave the store untouched"
    );
    assert!(matches!(
        s.unwind_to(Chain::BitcoinMainnet, 5000),
        Err(StoreError::BadUnwind { .. })
    ));
}

#[test]
fn data_dir_of_another_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let db = redb::Database::create(dir.path().join(tracehound_store::STORE_FILE)).unwrap();
        let w = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<'_, &str, &str> = redb::TableDefinition::new("meta");
            w.open_table(def).unwrap().insert("schema", "999").unwrap();
        }
        w.commit().unwrap();
    }
    let err = Store::open(dir.path(), &StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::IncompatibleVersion { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("999"), "{err}");

    let junk = tempfile::tempdir().unwrap();
    std::fs::write(
        junk.path().join(tracehound_store::STORE_FILE),
        b"not a database at all, just text",
    )
    .unwrap();
    let err = Store::open(junk.path(), &StoreOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains(tracehound_store::STORE_FILE),
        "{err}"
    );
}

/// The in-memory resolver (the fast read path) and the store resolve every input alike, on
/// generated blocks with realistic spending and on real ones.
#[test]
fn in_memory_resolver_agrees_with_the_store() {
    use tracehound_btc::resolve::read_resolved;
    use tracehound_btc::synth::{SynthConfig, write_blk_dir};
    let work = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        chain: Chain::BitcoinRegtest,
        blocks: 150,
        txs_per_block: 30,
        seed: 3,
        ..SynthConfig::default()
    };
    write_blk_dir(work.path(), &cfg).unwrap();
    let reader = BlkReader::open(work.path(), Chain::BitcoinRegtest).unwrap();
    let genesis = Chain::BitcoinRegtest
        .utxo_params()
        .unwrap()
        .genesis
        .parse()
        .unwrap();
    let best = reader.scan(|_| {}).unwrap().best_chain(genesis, None);
    let store_dir = tempfile::tempdir().unwrap();
    let store = open(store_dir.path());
    let blocks: Vec<_> = best
        .blocks
        .iter()
        .enumerate()
        .map(|(h, l)| reader.read_block(l, h as u32).unwrap())
        .collect();
    store.apply_utxo_blocks(&blocks).unwrap();
    let mut checked = 0;
    let resolver = read_resolved(&reader, &best, 2, |b| {
        for tx in &b.txs {
            let stored = store
                .tx_at(Chain::BitcoinRegtest, b.block.height, tx.index)
                .unwrap();
            assert_eq!(stored.txid, tx.txid);
            for (mine, theirs) in tx.inputs.iter().zip(&stored.inputs) {
                let r = mine.resolved.as_ref().unwrap();
                assert_eq!(r.value, theirs.value);
                assert_eq!(r.height, theirs.prev_height);
                assert_eq!(r.address().unwrap().as_str(), theirs.address);
                checked += 1;
            }
            assert_eq!(tx.fee(), Some(stored.fee).filter(|_| !tx.coinbase));
        }
    })
    .unwrap();
    assert!(checked > 1000, "{checked}");
    assert_eq!(resolver.len() as u64, store.status().unwrap()[0].utxos);
}
