//! The synthetic blk generator, read back by the blk reader: the best chain is the generated
//! one, totals match the summary, every input spends an earlier best-chain output exactly once.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tracehound_btc::blk::BlkReader;
use tracehound_btc::synth::{SynthConfig, SynthError, write_blk_dir};
use tracehound_core::{Chain, Hash32, OutPoint, ScriptKind};

fn genesis(chain: Chain) -> Hash32 {
    chain.utxo_params().unwrap().genesis.parse().unwrap()
}

fn config() -> SynthConfig {
    SynthConfig {
        chain: Chain::BitcoinMainnet,
        blocks: 300,
        txs_per_block: 60,
        seed: 42,
        xor_key: Some([0x5a, 0x01, 0xff, 0x10, 0x77, 0x00, 0x3c, 0x99]),
        // Small files, so the set spans several and records straddle no boundary.
        max_file_bytes: 1 << 20,
        out_of_order: true,
        stale_every: Some(50),
        ..SynthConfig::default()
    }
}

fn read_dir_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn generated_blocks_read_back_as_one_consistent_chain() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    let summary = write_blk_dir(dir.path(), &cfg).unwrap();
    assert_eq!(summary.blocks, 300);
    assert_eq!(summary.stale_blocks, 5, "heights 50, 100, 150, 200, 250");
    assert!(summary.files > 1, "{summary:?}");

    let reader = BlkReader::open(dir.path(), cfg.chain).unwrap();
    assert_eq!(reader.xor_key(), cfg.xor_key);
    assert_eq!(reader.files().len() as u32, summary.files);
    let on_disk: u64 = reader
        .files()
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(on_disk, summary.bytes);
    let index = reader.scan(|_| {}).unwrap();
    assert!(index.notes.is_empty(), "{:?}", index.notes);
    assert_eq!(index.blocks.len(), 305);
    // Stored out of order: some block comes before its parent.
    let position: HashMap<Hash32, usize> = index
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.hash, i))
        .collect();
    let parent_later = index.blocks.iter().enumerate().any(|(i, b)| {
        let parent = Hash32::from_internal(bitcoin::hashes::Hash::to_byte_array(
            b.header.prev_blockhash,
        ));
        position.get(&parent).is_some_and(|&p| p > i)
    });
    assert!(parent_later, "blocks were stored in height order");

    let best = index.best_chain(genesis(cfg.chain), None);
    assert_eq!(
        (best.start_height, best.blocks.len(), best.stale),
        (0, 300, 5)
    );
    assert!(best.detached.is_empty());
    assert_eq!(best.blocks[0].hash, genesis(cfg.chain));
    assert_eq!(best.blocks.last().unwrap().hash, summary.tip);

    let (mut txs, mut inputs, mut outputs) = (0u64, 0u64, 0u64);
    let mut unspent: HashSet<OutPoint> = HashSet::new();
    let mut coinbase_at: HashMap<OutPoint, u32> = HashMap::new();
    let mut kinds: HashMap<ScriptKind, usize> = HashMap::new();
    let mut segwit_blocks = 0;
    let mut prev_time = 0;
    let mut fan_outs = 0;
    let mut consolidations = 0;
    for (height, loc) in best.blocks.iter().enumerate() {
        let height = height as u32;
        let block = reader.read_block(loc, height).unwrap();
        assert!(block.block.time > prev_time, "timestamps increase");
        prev_time = block.block.time;
        let raw = reader.read_bytes(loc).unwrap();
        let decoded: bitcoin::Block = bitcoin::consensus::deserialize(&raw).unwrap();
        assert!(decoded.check_merkle_root(), "merkle root at {height}");
        if decoded
            .txdata
            .iter()
            .any(|t| t.input.iter().any(|i| !i.witness.is_empty()))
        {
            assert!(
                decoded.check_witness_commitment(),
                "witness commitment at {height}"
            );
            segwit_blocks += 1;
        }
        if height > 16 {
            // (Heights 1–16 are pushed as OP_1–OP_16, as Core does; the parser wants a push.)
            assert_eq!(decoded.bip34_block_height().unwrap(), u64::from(height));
            assert_eq!(decoded.header.bits, best.blocks[0].header.bits);
        }
        txs += block.txs.len() as u64;
        for tx in &block.txs {
            inputs += tx.inputs.len() as u64;
            outputs += tx.outputs.len() as u64;
            assert_eq!(tx.coinbase, tx.index == 0);
            for input in &tx.inputs {
                assert!(
                    unspent.remove(&input.prevout),
                    "block {height} tx {} spends {:?}, not unspent",
                    tx.txid,
                    input.prevout
                );
                if let Some(&h) = coinbase_at.get(&input.prevout) {
                    assert!(height >= h + 100, "coinbase of {h} spent at {height}");
                }
            }
            if tx.inputs.len() >= 20 {
                consolidations += 1;
            }
            if tx.outputs.len() >= 10 {
                fan_outs += 1;
            }
            for (vout, out) in tx.outputs.iter().enumerate() {
                *kinds.entry(out.kind).or_default() += 1;
                if out.kind == ScriptKind::NullData {
                    assert_eq!(out.value.units(), 0);
                    continue;
                }
                let op = OutPoint {
                    txid: tx.txid,
                    vout: vout as u32,
                };
                // The genesis output is not spendable.
                if height > 0 {
                    assert!(unspent.insert(op), "duplicate outpoint {op:?}");
                    if tx.coinbase {
                        coinbase_at.insert(op, height);
                    }
                }
            }
        }
    }
    assert_eq!(
        (txs, inputs, outputs),
        (summary.txs, summary.inputs, summary.outputs)
    );
    // Enough of a workload to be worth reading: blocks fill up once coinbases mature.
    assert!(txs > 150 * 60 / 2, "{txs} txs");
    assert!(segwit_blocks > 150);
    assert!(
        fan_outs > 20 && consolidations > 0,
        "{fan_outs} fan-outs, {consolidations} consolidations"
    );
    for kind in [
        ScriptKind::P2pkh,
        ScriptKind::P2sh,
        ScriptKind::P2wpkh,
        ScriptKind::P2wsh,
        ScriptKind::P2tr,
        ScriptKind::NullData,
        ScriptKind::P2pk,
        ScriptKind::Multisig,
    ] {
        assert!(
            kinds.get(&kind).copied().unwrap_or(0) > 0,
            "no {kind:?} output: {kinds:?}"
        );
    }
    assert!(!kinds.contains_key(&ScriptKind::NonStandard), "{kinds:?}");
}

#[test]
fn same_seed_gives_identical_files_and_other_seeds_do_not() {
    let cfg = SynthConfig {
        blocks: 160,
        txs_per_block: 30,
        ..config()
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let sa = write_blk_dir(a.path(), &cfg).unwrap();
    let sb = write_blk_dir(b.path(), &cfg).unwrap();
    assert_eq!(sa, sb);
    let files = read_dir_bytes(a.path());
    assert!(files.iter().any(|(n, _)| n == "xor.dat"));
    assert_eq!(files, read_dir_bytes(b.path()));
    let sc = write_blk_dir(
        c.path(),
        &SynthConfig {
            seed: 43,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_ne!(sa.tip, sc.tip);

    // Writing over existing block files is refused, not mixed.
    assert!(matches!(
        write_blk_dir(a.path(), &cfg),
        Err(SynthError::NotEmpty { .. })
    ));
}

#[test]
fn plain_in_order_files_on_other_chains() {
    for chain in [Chain::BitcoinRegtest, Chain::LitecoinMainnet] {
        let cfg = SynthConfig {
            chain,
            blocks: 130,
            txs_per_block: 20,
            xor_key: None,
            out_of_order: false,
            stale_every: None,
            ..config()
        };
        let dir = tempfile::tempdir().unwrap();
        let summary = write_blk_dir(dir.path(), &cfg).unwrap();
        assert!(!dir.path().join("xor.dat").exists());
        let reader = BlkReader::open(dir.path(), chain).unwrap();
        let index = reader.scan(|_| {}).unwrap();
        // In order: every block follows its parent.
        for (i, loc) in index.blocks.iter().enumerate().skip(1) {
            assert_eq!(
                loc.header.prev_blockhash,
                index.blocks[i - 1].header.block_hash()
            );
        }
        let best = index.best_chain(genesis(chain), None);
        assert_eq!((best.blocks.len(), best.stale), (130, 0));
        let txs: usize = best
            .blocks
            .iter()
            .enumerate()
            .map(|(h, l)| reader.read_block(l, h as u32).unwrap().txs.len())
            .sum();
        assert_eq!(txs as u64, summary.txs);
    }
    let err = write_blk_dir(
        tempfile::tempdir().unwrap().path(),
        &SynthConfig {
            chain: Chain::DogecoinMainnet,
            ..config()
        },
    );
    assert!(matches!(
        err,
        Err(SynthError::UnsupportedChain(Chain::DogecoinMainnet))
    ));
}
