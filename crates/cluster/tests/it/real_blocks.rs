//! Co-spend on real Bitcoin blocks against a reference union-find written here: Bitcoin
//! mainnet's first 600 blocks (NBitcoin's blk files) through the store, and block 702861
//! (2,500 txs, mostly segwit) straight from its bytes, with input addresses recovered from
//! the spending data (witness and scriptSig) since its prevouts are not in any fixture.

use std::collections::HashMap;
use std::path::Path;

use bitcoin::{Address, Block, Network, PublicKey, ScriptBuf};
use tracehound_cluster::deposit::DepositRules;
use tracehound_cluster::{Clusterer, EvidenceKind, Options, TxIn, TxOut, TxShape, cluster_chain};
use tracehound_core::{Chain, ScriptKind};
use tracehound_store::{Store, StoreOptions};

use crate::{NaiveUf, same_partition};

/// The address a script pays, as tracehound names it (P2PK as its key's P2PKH address).
fn payee(script: &bitcoin::Script) -> Option<String> {
    if let Some(pk) = script.p2pk_public_key() {
        return Some(Address::p2pkh(pk, Network::Bitcoin).to_string());
    }
    Address::from_script(script, Network::Bitcoin)
        .ok()
        .map(|a| a.to_string())
}

/// Blocks of framed files (magic, length, block), in file order.
fn framed(path: &Path) -> Vec<Block> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        out.push(bitcoin::consensus::deserialize(&bytes[at + 8..at + 8 + len]).unwrap());
        at += 8 + len;
    }
    out
}

#[test]
fn co_spend_on_mainnet_blk_files_matches_a_reference_union_find() {
    let dir = tracehound_btc::fixtures::shared_data("btc/blk");
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(
        work.path(),
        &StoreOptions {
            cache_bytes: 16 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let blocks = tracehound_btc::fixtures::best_chain_blocks(&dir, Chain::BitcoinMainnet);
    store.apply_utxo_blocks(&blocks).unwrap();
    let (c, _) = cluster_chain(
        &store,
        Chain::BitcoinMainnet,
        Options::default(),
        None,
        &DepositRules::default(),
    )
    .unwrap();

    // The reference: the same files read with rust-bitcoin, prevouts resolved in a map.
    let mut outs: HashMap<(bitcoin::Txid, u32), Option<String>> = HashMap::new();
    let mut uf: NaiveUf<String> = NaiveUf::new();
    let mut addresses: Vec<String> = Vec::new();
    let mut multi = 0;
    for file in ["blk00000.dat", "blk00001.dat"] {
        for block in framed(&dir.join(file)) {
            for tx in &block.txdata {
                let txid = tx.compute_txid();
                let mut ins: Vec<String> = Vec::new();
                if !tx.is_coinbase() {
                    for i in &tx.input {
                        let o = &i.previous_output;
                        if let Some(Some(a)) = outs.get(&(o.txid, o.vout)) {
                            ins.push(a.clone());
                        }
                    }
                }
                if ins.len() >= 2 {
                    multi += 1;
                }
                for a in &ins {
                    uf.join(&ins[0], a);
                }
                for (v, o) in tx.output.iter().enumerate() {
                    let a = payee(&o.script_pubkey);
                    if let Some(a) = &a {
                        addresses.push(a.clone());
                    }
                    outs.insert((txid, v as u32), a);
                }
            }
        }
    }
    addresses.sort();
    addresses.dedup();
    let links = store.utxo_links(Chain::BitcoinMainnet).unwrap();
    let core = |a: &str| tracehound_core::Address::parse(Chain::BitcoinMainnet, a).unwrap();
    let mut rows = Vec::new();
    for a in &addresses {
        let id = links.address_id(&core(a)).unwrap().unwrap() as u32;
        rows.push((a.clone(), uf.root(a), c.entity_of(id).unwrap()));
    }
    assert_eq!(addresses.len() as u64, c.stats().addresses);
    let joined = same_partition(rows);
    assert_eq!(c.figures.coinjoins_skipped, 0);
    println!(
        "blk files: {} txs, {multi} with two or more input addresses, {} addresses, {} entities of 2+ ({joined} in the reference), {} merges",
        c.figures.txs,
        addresses.len(),
        c.stats().multi,
        c.figures.merges
    );
    assert!(joined > 0, "the first 600 blocks hold co-spends");
    // Every evidence edge is a tx spending from both of its addresses.
    for e in &c.evidence {
        let t = links.tx(e.tx).unwrap();
        let spent: Vec<u32> = t
            .inputs
            .iter()
            .filter_map(|i| i.addr)
            .map(|a| a as u32)
            .collect();
        assert!(spent.contains(&e.a) && spent.contains(&e.b), "{e:?}");
        assert_eq!(e.kind, EvidenceKind::CoSpend);
    }
}

/// The address an input spends from, read from what it reveals: P2WPKH (witness of a
/// signature and a key), P2SH-P2WPKH (the same, with the redeem script in scriptSig), P2PKH
/// (scriptSig of a signature and a key). Other spends (P2WSH, multisig, taproot) reveal no
/// single address this simply; they are left out of both clusterings alike.
fn spent_address(i: &bitcoin::TxIn) -> Option<(String, ScriptKind)> {
    let w: Vec<&[u8]> = i.witness.iter().collect();
    let pushes: Vec<Vec<u8>> = i
        .script_sig
        .instructions()
        .filter_map(|x| x.ok())
        .filter_map(|x| x.push_bytes().map(|b| b.as_bytes().to_vec()))
        .collect();
    let key = |b: &[u8]| PublicKey::from_slice(b).ok();
    match (w.as_slice(), pushes.as_slice()) {
        ([_sig, pk], []) if pk.len() == 33 => {
            let k = bitcoin::CompressedPublicKey::from_slice(pk).ok()?;
            Some((
                Address::p2wpkh(&k, Network::Bitcoin).to_string(),
                ScriptKind::P2wpkh,
            ))
        }
        ([_sig, pk], [redeem])
            if pk.len() == 33 && redeem.len() == 22 && redeem[..2] == [0, 20] =>
        {
            let s = ScriptBuf::from_bytes(redeem.clone());
            Some((
                Address::p2sh(&s, Network::Bitcoin).ok()?.to_string(),
                ScriptKind::P2sh,
            ))
        }
        ([], [sig, pk]) if sig.len() > 60 && key(pk).is_some() => Some((
            Address::p2pkh(key(pk)?, Network::Bitcoin).to_string(),
            ScriptKind::P2pkh,
        )),
        _ => None,
    }
}

fn kind_of(script: &bitcoin::Script) -> ScriptKind {
    if script.is_p2wpkh() {
        ScriptKind::P2wpkh
    } else if script.is_p2sh() {
        ScriptKind::P2sh
    } else if script.is_p2pkh() {
        ScriptKind::P2pkh
    } else if script.is_p2wsh() {
        ScriptKind::P2wsh
    } else if script.is_op_return() {
        ScriptKind::NullData
    } else {
        ScriptKind::NonStandard
    }
}

#[test]
fn co_spend_on_block_702861_matches_a_reference_and_spares_coinjoins() {
    let raw = std::fs::read(tracehound_btc::fixtures::shared_data(
        "btc/raw/mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw",
    ))
    .unwrap();
    let block: Block = bitcoin::consensus::deserialize(&raw).unwrap();
    assert_eq!(block.txdata.len(), 2_500);
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut intern = |a: String| {
        let n = ids.len() as u32;
        *ids.entry(a).or_insert(n)
    };
    // Every tx as clustering sees it (inputs whose address the spend reveals).
    let mut txs: Vec<(Vec<TxIn>, Vec<TxOut>)> = Vec::new();
    for tx in &block.txdata {
        let ins = if tx.is_coinbase() {
            Vec::new()
        } else {
            tx.input
                .iter()
                .filter_map(spent_address)
                .map(|(a, kind)| TxIn {
                    addr: Some(intern(a)),
                    kind: Some(kind),
                })
                .collect()
        };
        let outs = tx
            .output
            .iter()
            .map(|o| TxOut {
                addr: payee(&o.script_pubkey).map(&mut intern),
                value: o.value.to_sat(),
                kind: kind_of(&o.script_pubkey),
            })
            .collect();
        txs.push((ins, outs));
    }
    let mut c = Clusterer::new(ids.len() as u32, Options::default());
    for (k, (ins, outs)) in txs.iter().enumerate() {
        c.add_tx(&TxShape {
            tx: k as u64,
            coinbase: k == 0,
            inputs: ins,
            outputs: outs,
        });
    }
    let coinjoins: Vec<(u64, tracehound_cluster::coinjoin::Rule)> = c.coinjoins().to_vec();
    let r = c.finish(Chain::BitcoinMainnet, txs.len() as u64);

    // Reference over every tx the guard let through.
    let flagged: std::collections::HashSet<u64> = coinjoins.iter().map(|c| c.0).collect();
    let mut uf: NaiveUf<u32> = NaiveUf::new();
    let mut multi = 0;
    for (k, (ins, _)) in txs.iter().enumerate() {
        if flagged.contains(&(k as u64)) {
            continue;
        }
        let a: Vec<u32> = ins.iter().filter_map(|i| i.addr).collect();
        if a.len() >= 2 {
            multi += 1;
        }
        for x in &a {
            uf.join(&a[0], x);
        }
    }
    let joined = same_partition(
        (0..ids.len() as u32).map(|id| (id, uf.root(&id), r.entity_of(id).unwrap())),
    );
    // No merge rests on a flagged tx, and each flagged tx's inputs stay apart unless other
    // txs join them.
    assert!(r.evidence.iter().all(|e| !flagged.contains(&e.tx)));
    let revealed = txs.iter().filter(|t| !t.0.is_empty()).count();
    let mut by_rule: HashMap<String, usize> = HashMap::new();
    for (k, rule) in &coinjoins {
        *by_rule.entry(rule.name().into()).or_insert(0) += 1;
        let (ins, outs) = &txs[*k as usize];
        println!(
            "  coinjoin tx {} ({rule}): {} inputs, {} outputs",
            block.txdata[*k as usize].compute_txid(),
            ins.len(),
            outs.len()
        );
    }
    println!(
        "block 702861: {revealed} txs with revealed input addresses, {multi} co-spends, {} addresses, {joined} entities of 2+, {} merges; coinjoins skipped: {by_rule:?}",
        ids.len(),
        r.figures.merges
    );
    assert!(joined > 50, "block 702861 holds many co-spends");
}
