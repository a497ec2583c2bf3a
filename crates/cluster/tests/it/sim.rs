//! Clustering against the simulator's ground truth: a small UTXO heist written as blk files
//! (`tracehound sim run --to-files`), ingested, clustered; pairwise precision and recall of
//! "same owner" over the addresses the chain holds, with and without the change heuristic.

use std::collections::HashMap;

use tracehound_cluster::deposit::DepositRules;
use tracehound_cluster::score::pairwise;
use tracehound_cluster::{Options, cluster_chain};
use tracehound_core::Chain;
use tracehound_sim::{FilesConfig, write_to_files};
use tracehound_store::{Store, StoreOptions};

#[test]
fn co_spend_precision_and_recall_against_the_simulators_owners() {
    let work = tempfile::tempdir().unwrap();
    let config = FilesConfig {
        seed: 5,
        blocks: 400,
        txs_per_block: 40,
        users: 400,
        ..FilesConfig::default()
    };
    let (_, truth) = write_to_files(work.path(), &config).unwrap();
    let chain = Chain::LitecoinRegtest;
    let blocks = tracehound_btc::fixtures::best_chain_blocks(&work.path().join("blocks"), chain);
    let store = Store::open(&work.path().join("store"), &StoreOptions::default()).unwrap();
    store.apply_utxo_blocks(&blocks).unwrap();
    let owner: HashMap<&str, &str> = truth
        .addresses
        .iter()
        .map(|a| (a.address.as_str(), a.entity.as_str()))
        .collect();
    let links = store.utxo_links(chain).unwrap();
    let texts: Vec<String> = (0..links.address_count().unwrap())
        .map(|id| links.address(id).unwrap())
        .collect();
    let coinjoin = truth
        .patterns
        .iter()
        .find(|p| p.kind == "coinjoin")
        .unwrap();
    let cj_seq = links
        .find(&coinjoin.txs[0].parse().unwrap())
        .unwrap()
        .unwrap();
    for change in [false, true] {
        let (c, _) = cluster_chain(
            &store,
            chain,
            Options { change },
            None,
            &DepositRules::default(),
        )
        .unwrap();
        let s = pairwise(texts.iter().enumerate().filter_map(|(id, a)| {
            owner
                .get(a.as_str())
                .map(|o| (c.entity_of(id as u32).unwrap(), *o))
        }));
        println!(
            "sim (seed 5, 400 blocks, {} txs, {} inputs), change {}: {} addresses, {} entities of 2+, {} merges ({} change), {} coinjoins skipped; pairwise precision {:.4}, recall {:.4} ({} of {} true pairs, {} predicted)",
            c.figures.txs,
            c.figures.inputs,
            if change { "on" } else { "off" },
            s.addresses,
            c.stats().multi,
            c.figures.merges + c.figures.change_merges,
            c.figures.change_merges,
            c.figures.coinjoins_skipped,
            s.precision,
            s.recall,
            s.correct_pairs,
            s.true_pairs,
            s.predicted_pairs
        );
        // The truth knows every address on chain but the genesis block's.
        assert_eq!(s.addresses as usize, texts.len() - 1);
        // The heist's CoinJoin is flagged and joins nobody.
        assert!(c.figures.coinjoins_skipped >= 1);
        assert!(c.evidence.iter().all(|e| e.tx != cj_seq));
        if !change {
            assert_eq!(
                s.precision, 1.0,
                "co-spend joins only one owner's addresses here"
            );
            assert!(s.recall > 0.5, "recall {}", s.recall);
        }
    }
}
