//! The blk reader and block decoder on real mainnet data from `../shared/data/btc`
//! (NBitcoin's blk files, bitcoinj's and btcd's framed and raw blocks, rust-bitcoin's block
//! 702861, bitcoin-etl's node answers), checked against the values their upstreams publish.

use std::collections::HashMap;
use std::path::PathBuf;

use tracehound_btc::blk::{BlkError, BlkReader, ScanNote};
use tracehound_btc::decode::{self, DecodeError};
use tracehound_core::{Chain, Hash32, ScriptKind};

fn data(rel: &str) -> PathBuf {
    tracehound_btc::fixtures::shared_data(rel)
}

fn h(s: &str) -> Hash32 {
    s.parse().unwrap()
}

const GENESIS: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";

#[test]
fn nbitcoin_blk_files_link_into_600_blocks() {
    let reader = BlkReader::open(&data("btc/blk"), Chain::BitcoinMainnet).unwrap();
    assert_eq!(reader.files().len(), 2);
    let index = reader.scan(|_| {}).unwrap();
    let best = index.best_chain(h(GENESIS), None);
    assert_eq!(
        (best.start_height, best.blocks.len(), best.stale),
        (0, 600, 0)
    );
    assert!(best.detached.is_empty());
    assert_eq!(best.blocks[0].hash, h(GENESIS));
    assert_eq!(
        best.blocks[299].hash,
        h("00000000b9b003c04b2fe21b4f7a2fa809eb643852573c3a1748653e2019f01c")
    );
    assert_eq!(
        best.blocks[599].hash,
        h("0000000042844571bc6bce8e1c0fbec99466971eaff89fef8c0d123582181d4d")
    );
    let mut txs = 0;
    for (height, loc) in best.blocks.iter().enumerate() {
        let block = reader.read_block(loc, height as u32).unwrap();
        assert_eq!(block.block.height as usize, height);
        txs += block.txs.len();
        if height == 170 {
            // The first bitcoin payment: Satoshi to Hal Finney, spending block 9's coinbase.
            let tx = &block.txs[1];
            assert_eq!(
                tx.txid,
                h("f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16")
            );
            assert_eq!(
                tx.inputs[0].prevout.txid,
                h("0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9")
            );
            let values: Vec<u128> = tx.outputs.iter().map(|o| o.value.units()).collect();
            assert_eq!(values, [1_000_000_000, 4_000_000_000]);
            assert_eq!(tx.outputs[0].kind, ScriptKind::P2pk);
        }
    }
    assert_eq!(txs, 307 + 309);
}

#[test]
fn bitcoinj_framed_file_and_btcd_headless_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        data("btc/bitcoinj/first-100k-blocks.dat"),
        dir.path().join("blk00000.dat"),
    )
    .unwrap();
    let reader = BlkReader::open(dir.path(), Chain::BitcoinMainnet).unwrap();
    let best = reader.scan(|_| {}).unwrap().best_chain(h(GENESIS), None);
    assert_eq!(best.blocks.len(), 439);
    assert_eq!(
        best.blocks[438].hash,
        h("0000000025c6b644f8add734be7e666fa4afa43ca0204d623a0c0b1fd2104c7a")
    );
    let txs: usize = best
        .blocks
        .iter()
        .enumerate()
        .map(|(i, l)| reader.read_block(l, i as u32).unwrap().txs.len())
        .sum();
    assert_eq!(txs, 446);

    // btcd's file lacks genesis: without an anchor nothing links, with genesis as the
    // already-stored anchor the chain runs from height 1 (what a pruned node's files look like).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        data("btc/btcd/blocks1-256.dat"),
        dir.path().join("blk00007.dat"),
    )
    .unwrap();
    let index = BlkReader::open(dir.path(), Chain::BitcoinMainnet)
        .unwrap()
        .scan(|_| {})
        .unwrap();
    let none = index.best_chain(h(GENESIS), None);
    assert!(none.blocks.is_empty());
    assert_eq!(none.detached.len(), 255);
    let anchored = index.best_chain(h(GENESIS), Some((h(GENESIS), 0)));
    assert_eq!((anchored.start_height, anchored.blocks.len()), (1, 255));
    assert_eq!(
        anchored.blocks[0].hash,
        h("00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048")
    );
    assert_eq!(
        anchored.blocks[254].hash,
        h("00000000d0a75c861fabf9ff7b92022f60e4afeed9331fe5aa073d8e4706fe3c")
    );
}

/// Splits NBitcoin's 600 blocks into records.
fn nbitcoin_records() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in ["btc/blk/blk00000.dat", "btc/blk/blk00001.dat"] {
        let bytes = std::fs::read(data(f)).unwrap();
        let mut pos = 0;
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
            out.push(bytes[pos + 8..pos + 8 + len].to_vec());
            pos += 8 + len;
        }
    }
    out
}

fn frame(out: &mut Vec<u8>, block: &[u8]) {
    out.extend_from_slice(&[0xf9, 0xbe, 0xb4, 0xd9]);
    out.extend_from_slice(&(block.len() as u32).to_le_bytes());
    out.extend_from_slice(block);
}

fn xor(bytes: &mut [u8], key: [u8; 8]) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= key[i % 8];
    }
}

#[test]
fn out_of_order_obfuscated_files_with_stale_orphan_and_partial_tail() {
    let records = nbitcoin_records();
    assert_eq!(records.len(), 600);
    // A stale sibling of block 500: block 500's header with another nonce and the same txs.
    let mut stale = records[500].clone();
    stale[76] ^= 0xff;
    // An orphan: block 400's bytes with an unknown parent (the merkle root still matches).
    let mut orphan = records[400].clone();
    orphan[4] ^= 0x55;

    // Headers-first order: shuffle deterministically, then spread over three files.
    let mut order: Vec<usize> = (0..600).collect();
    let mut rng = fastrand::Rng::with_seed(7);
    rng.shuffle(&mut order);
    let key = [0x5a, 0x01, 0xff, 0x10, 0x77, 0x00, 0x3c, 0x99];
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![Vec::new(), Vec::new(), Vec::new()];
    for (n, i) in order.iter().enumerate() {
        frame(&mut files[n % 3], &records[*i]);
    }
    frame(&mut files[0], &stale);
    frame(&mut files[1], &orphan);
    // Core preallocates: the middle file ends in zeros.
    files[1].extend_from_slice(&[0u8; 4096]);
    // The newest file ends in a record Core was still writing.
    let mut partial = Vec::new();
    frame(&mut partial, &records[10]);
    files[2].extend_from_slice(&partial[..partial.len() / 2]);
    for (n, mut f) in files.into_iter().enumerate() {
        xor(&mut f, key);
        if n == 0 {
            // Core 28+ preallocates with raw zeros that are never XORed.
            f.extend_from_slice(&[0u8; 8192]);
        }
        std::fs::write(dir.path().join(format!("blk{n:05}.dat")), f).unwrap();
    }
    std::fs::write(dir.path().join("xor.dat"), key).unwrap();

    let reader = BlkReader::open(dir.path(), Chain::BitcoinMainnet).unwrap();
    assert_eq!(reader.xor_key(), Some(key));
    let index = reader.scan(|_| {}).unwrap();
    assert!(
        index
            .notes
            .iter()
            .any(|n| matches!(n, ScanNote::PartialLastRecord { .. })),
        "{:?}",
        index.notes
    );
    let best = index.best_chain(h(GENESIS), None);
    assert_eq!(best.blocks.len(), 600);
    assert_eq!(best.stale, 1);
    assert_eq!(best.detached.len(), 1);
    for (height, loc) in best.blocks.iter().enumerate() {
        let bytes = reader.read_bytes(loc).unwrap();
        assert_eq!(
            bytes, records[height],
            "block {height} differs after de-obfuscation"
        );
    }
    assert!(reader.read_block(&best.blocks[170], 170).is_ok());
}

#[test]
fn bad_files_name_file_and_offset() {
    let records = nbitcoin_records();
    let dir = tempfile::tempdir().unwrap();
    let mut file = Vec::new();
    frame(&mut file, &records[0]);
    let second_at = file.len();
    frame(&mut file, &records[1]);
    file[second_at] = 0x0b; // testnet's first magic byte
    std::fs::write(dir.path().join("blk00000.dat"), &file).unwrap();
    let err = BlkReader::open(dir.path(), Chain::BitcoinMainnet)
        .unwrap()
        .scan(|_| {})
        .unwrap_err();
    assert!(
        matches!(err, BlkError::BadMagic { offset, .. } if offset == second_at as u64),
        "{err}"
    );
    assert!(err.to_string().contains("blk00000.dat at byte"), "{err}");

    // A record cut short in a file that is not the newest is corruption, not a partial write.
    let mut cut = Vec::new();
    frame(&mut cut, &records[0]);
    cut.truncate(cut.len() - 10);
    std::fs::write(dir.path().join("blk00000.dat"), &cut).unwrap();
    std::fs::write(dir.path().join("blk00001.dat"), []).unwrap();
    let err = BlkReader::open(dir.path(), Chain::BitcoinMainnet)
        .unwrap()
        .scan(|_| {})
        .unwrap_err();
    assert!(
        matches!(err, BlkError::Truncated { offset: 0, .. }),
        "{err}"
    );

    // A flipped byte inside a transaction breaks the merkle root: an error, never a stored block.
    let mut body = records[170].clone();
    let last = body.len() - 10;
    body[last] ^= 1;
    let mut f = Vec::new();
    frame(&mut f, &body);
    std::fs::write(dir.path().join("blk00000.dat"), &f).unwrap();
    std::fs::remove_file(dir.path().join("blk00001.dat")).unwrap();
    let reader = BlkReader::open(dir.path(), Chain::BitcoinMainnet).unwrap();
    let index = reader.scan(|_| {}).unwrap();
    let err = reader.read_block(&index.blocks[0], 170).unwrap_err();
    assert!(
        matches!(&err, BlkError::Decode { source, offset: 8, .. } if matches!(**source, DecodeError::MerkleMismatch { .. })),
        "{err}"
    );

    assert!(matches!(
        BlkReader::open(&dir.path().join("nope"), Chain::BitcoinMainnet),
        Err(BlkError::Io { .. })
    ));
    std::fs::write(dir.path().join("xor.dat"), [1, 2, 3]).unwrap();
    assert!(matches!(
        BlkReader::open(dir.path(), Chain::BitcoinMainnet),
        Err(BlkError::BadXorKey { len: 3, .. })
    ));
}

fn kinds(block: &tracehound_core::UtxoBlock) -> HashMap<ScriptKind, usize> {
    let mut m = HashMap::new();
    for o in block.txs.iter().flat_map(|t| &t.outputs) {
        *m.entry(o.kind).or_default() += 1;
    }
    m
}

#[test]
fn raw_mainnet_blocks_decode_with_published_facts() {
    let raw = std::fs::read(data("btc/raw/mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw")).unwrap();
    let d = decode::decode_block(&raw, Chain::BitcoinMainnet).unwrap();
    assert_eq!(
        d.hash,
        h("000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae")
    );
    assert_eq!(d.txs.len(), 2500);
    assert_eq!(
        d.txs
            .iter()
            .filter(|t| t.tx.input.iter().any(|i| !i.witness.is_empty()))
            .count(),
        2065
    );
    assert_eq!(
        d.txs[0].txid,
        h("764b60c3d9a2c3c5bb6fe7141d9ca6e6778122df75f19366a2c5cb948d1d7d84")
    );
    assert_eq!(
        d.txs.iter().map(|t| t.size).sum::<usize>() + 80 + 3,
        raw.len()
    );
    let block = decode::to_utxo_block(Chain::BitcoinMainnet, 702_861, &d);
    let k = kinds(&block);
    assert_eq!(k[&ScriptKind::P2wpkh], 2383);
    assert_eq!(k[&ScriptKind::P2wsh], 133);
    assert_eq!(k[&ScriptKind::P2sh], 1816);
    assert_eq!(k[&ScriptKind::P2pkh], 1660);
    assert_eq!(k[&ScriptKind::NullData], 23);
    // Every output got a valid address of the chain, except OP_RETURN.
    for o in block.txs.iter().flat_map(|t| &t.outputs) {
        match &o.address() {
            Some(a) if !a.is_pseudo() => {
                assert!(tracehound_core::Address::parse(Chain::BitcoinMainnet, a.as_str()).is_ok())
            }
            Some(_) => {}
            None => assert_eq!(o.kind, ScriptKind::NullData),
        }
    }

    let cases = [
        (
            "btc/bitcoinj/block169482.dat",
            "0000000000000756935f1ee9d5987857b604046f846d3df56d024cdb5f368665",
            14,
            None,
        ),
        (
            "btc/bitcoinj/block227835.dat",
            "00000000000001aa077d7aa84c532a4d69bdbff519609d1da0835261b7a74eb6",
            122,
            None,
        ),
        (
            "btc/bitcoinj/block227836.dat",
            "00000000000000d0dfd4c9d588d325dce4f32c1b31b7c0064cba7025a9b9adcc",
            100,
            None,
        ),
        (
            "btc/bitcoinj/block383616.dat",
            "00000000000000000aab6a2b34e979b09ca185584bd1aecf204f24d150ff55e9",
            1731,
            None,
        ),
        (
            "btc/bitcoinj/block481815.dat",
            "000000000000000000893c019d81f2d48ee33892c12428f3121bbd16ed6db926",
            2097,
            Some("919a0df2253172a55bebcb9002dbe775b8511f84955b282ca6dae826fdd94f90"),
        ),
        (
            "btc/bitcoinj/block481829.dat",
            "000000000000000000917cba69f69b758fe396c8e30ae97bbcf08c4eb975e726",
            2020,
            Some("9c1ab453283035800c43eb6461eb46682b81be110a0cb89ee923882a5fd9daa4"),
        ),
        (
            "btc/btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
            "0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2",
            3315,
            None,
        ),
        (
            "btc/btcd/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk",
            "00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab",
            230,
            None,
        ),
    ];
    for (file, hash, txs, coinbase) in cases {
        let raw = std::fs::read(data(file)).unwrap();
        let d = decode::decode_block(&raw, Chain::BitcoinMainnet)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!((d.hash, d.txs.len()), (h(hash), txs), "{file}");
        if let Some(cb) = coinbase {
            assert_eq!(d.txs[0].txid, h(cb), "{file}");
        }
    }
    let raw = std::fs::read(data(
        "btc/btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
    ))
    .unwrap();
    let d = decode::decode_block(&raw, Chain::BitcoinMainnet).unwrap();
    assert_eq!(
        d.txs
            .iter()
            .filter(|t| t.tx.input.iter().any(|i| !i.witness.is_empty()))
            .count(),
        1341
    );
    let k = kinds(&decode::to_utxo_block(Chain::BitcoinMainnet, 574_200, &d));
    assert_eq!((k[&ScriptKind::P2wpkh], k[&ScriptKind::P2wsh]), (442, 58));

    // Truncation anywhere is an error, never a panic.
    for cut in [0, 50, 81, raw.len() / 2, raw.len() - 1] {
        assert!(
            decode::decode_block(&raw[..cut], Chain::BitcoinMainnet).is_err(),
            "cut at {cut}"
        );
    }
}

/// bitcoin-etl's `getblock` answers (verbosity 2): decoding each tx's `hex` must give the
/// outputs bitcoin-etl exported (value, type, address) and the node's txid and size.
#[test]
fn bitcoin_etl_node_answers_match_expected_exports() {
    let base = data("btc/bitcoin-etl/test_export_blocks_job/bitcoin");
    let mut checked = 0;
    for case in [
        "block_0",
        "block_1",
        "block_without_transactions",
        "block_with_transactions",
    ] {
        let dir = base.join(case);
        let mut expected: HashMap<String, serde_json::Value> = HashMap::new();
        for line in std::fs::read_to_string(dir.join("expected_transactions.json"))
            .unwrap()
            .lines()
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            expected.insert(v["hash"].as_str().unwrap().to_string(), v);
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("rpc_response_getblock_") {
                continue;
            }
            let block: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for (i, jtx) in block["tx"].as_array().unwrap().iter().enumerate() {
                let bytes = hex::decode(jtx["hex"].as_str().unwrap()).unwrap();
                let d = decode::decode_transaction(&bytes, Chain::BitcoinMainnet).unwrap();
                let tx = decode::to_utxo_tx(Chain::BitcoinMainnet, i as u32, &d);
                assert_eq!(tx.txid.to_string(), jtx["txid"].as_str().unwrap());
                assert_eq!(tx.size.to_string(), jtx["size"].to_string());
                let exp = &expected[&tx.txid.to_string()];
                assert_eq!(exp["is_coinbase"].as_bool().unwrap(), tx.coinbase);
                let outs = exp["outputs"].as_array().unwrap();
                assert_eq!(outs.len(), tx.outputs.len());
                for (o, e) in tx.outputs.iter().zip(outs) {
                    assert_eq!(o.value.units().to_string(), e["value"].to_string());
                    let etl_type = match o.kind {
                        ScriptKind::P2pk => "pubkey",
                        ScriptKind::P2pkh => "pubkeyhash",
                        ScriptKind::P2sh => "scripthash",
                        ScriptKind::Multisig => "multisig",
                        ScriptKind::NullData => "nulldata",
                        ScriptKind::NonStandard => "nonstandard",
                        other => panic!("unexpected {other:?} in a 2010 block"),
                    };
                    assert_eq!(etl_type, e["type"].as_str().unwrap());
                    if matches!(
                        o.kind,
                        ScriptKind::P2pk | ScriptKind::P2pkh | ScriptKind::P2sh
                    ) {
                        assert_eq!(
                            o.address().unwrap().as_str(),
                            e["addresses"][0].as_str().unwrap()
                        );
                    }
                }
                let ins = exp["inputs"].as_array().unwrap();
                assert_eq!(ins.len(), tx.inputs.len());
                for (i, e) in tx.inputs.iter().zip(ins) {
                    assert_eq!(
                        i.prevout.txid.to_string(),
                        e["spent_transaction_hash"].as_str().unwrap()
                    );
                    assert_eq!(
                        i.prevout.vout.to_string(),
                        e["spent_output_index"].to_string()
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 1 + 1 + 1 + 4);
}

/// The first 600 mainnet blocks with every input resolved in memory: no fees existed, so
/// outputs minus inputs is exactly 600 block subsidies; a missing output is a clear error.
#[test]
fn resolver_on_nbitcoin_blocks() {
    use tracehound_btc::resolve::{ResolveError, UtxoResolver, read_resolved};
    let reader = BlkReader::open(&data("btc/blk"), Chain::BitcoinMainnet).unwrap();
    let best = reader.scan(|_| {}).unwrap().best_chain(h(GENESIS), None);
    let (mut ins, mut outs, mut n_in, mut n_out) = (0u128, 0u128, 0usize, 0usize);
    let resolver = read_resolved(&reader, &best, 2, |b| {
        for tx in &b.txs {
            ins += tx.input_value().unwrap().units();
            outs += tx.output_value().units();
            n_in += tx.inputs.len();
            n_out += tx.outputs.len();
            if tx.txid == h("f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16") {
                let r = tx.inputs[0].resolved.as_ref().unwrap();
                assert_eq!(
                    (r.value.units(), r.height, r.coinbase),
                    (5_000_000_000, 9, true)
                );
            }
        }
    })
    .unwrap();
    assert_eq!(outs - ins, 600 * 5_000_000_000);
    assert!(n_in > 0);
    assert_eq!(
        resolver.len(),
        n_out - n_in,
        "every output is unspent or spent exactly once"
    );
    let mut block = reader.read_block(&best.blocks[170], 170).unwrap();
    let err = UtxoResolver::default().resolve(&mut block).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::UnknownPrevout {
                height: 170,
                input: 0,
                ..
            }
        ),
        "{err}"
    );
}

/// Every real block at hand, as raw bytes.
fn all_raw_blocks() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = nbitcoin_records()
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("NBitcoin record {i}"), b))
        .collect();
    for file in [
        "btc/raw/mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw",
        "btc/bitcoinj/block169482.dat",
        "btc/bitcoinj/block227835.dat",
        "btc/bitcoinj/block227836.dat",
        "btc/bitcoinj/block383616.dat",
        "btc/bitcoinj/block481815.dat",
        "btc/bitcoinj/block481829.dat",
        "btc/btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
        "btc/btcd/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk",
    ] {
        out.push((file.to_string(), std::fs::read(data(file)).unwrap()));
    }
    out
}

/// The allocation-free decoder ingest uses gives exactly what going through the `bitcoin`
/// crate's types gives, and those types equal rust-bitcoin's own decoding of the block.
#[test]
fn direct_decoding_equals_decoding_through_rust_bitcoin() {
    let blocks = all_raw_blocks();
    assert!(blocks.len() > 600);
    let mut segwit_txs = 0;
    for (name, raw) in &blocks {
        let theirs: bitcoin::Block = bitcoin::consensus::deserialize(raw).unwrap();
        let ours = decode::decode_block(raw, Chain::BitcoinMainnet).unwrap();
        assert_eq!(ours.header, theirs.header, "{name}");
        assert_eq!(ours.txs.len(), theirs.txdata.len(), "{name}");
        for (o, t) in ours.txs.iter().zip(&theirs.txdata) {
            assert_eq!(o.tx, *t, "{name}");
            assert_eq!(o.txid.to_string(), t.compute_txid().to_string(), "{name}");
            assert_eq!(o.size, t.total_size(), "{name}");
            segwit_txs += usize::from(t.input.iter().any(|i| !i.witness.is_empty()));
        }
        let direct = decode::decode_utxo_block(raw, Chain::BitcoinMainnet, 7).unwrap();
        assert_eq!(
            direct,
            decode::to_utxo_block(Chain::BitcoinMainnet, 7, &ours),
            "{name}"
        );
    }
    assert!(segwit_txs > 3000, "witness txs covered: {segwit_txs}");
}

/// Cut anywhere, a block is an error naming a byte offset, never a panic or a wrong block.
#[test]
fn truncated_blocks_are_errors_at_every_length() {
    let (_, raw) = all_raw_blocks().swap_remove(600);
    for len in (0..raw.len())
        .step_by(raw.len() / 400)
        .chain([raw.len() - 1])
    {
        let err = decode::decode_utxo_block(&raw[..len], Chain::BitcoinMainnet, 0).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Truncated { .. } | DecodeError::Invalid { .. }
            ),
            "{len}: {err}"
        );
    }
}
