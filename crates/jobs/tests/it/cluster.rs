//! `cluster` equals the native clusterer (co-spend with the CoinJoin guard, change heuristic
//! off) address for address, and flags the same CoinJoins.

use tracehound_cluster::deposit::DepositRules;
use tracehound_cluster::{Options, cluster_chain};
use tracehound_core::Chain;
use tracehound_jobs::cluster::{self, standard_denominations};
use tracehound_sim::FilesConfig;
use tracehound_store::Store;

use crate::fixture::{child, mainnet_store, session, sim_store};

async fn compare(store: &Store, chain: Chain, tmp: &tempfile::TempDir) -> (usize, u64) {
    let (ctx, dataset) = session(store, &child(tmp, "dataset")).await;
    let out = cluster::run(&ctx, &dataset, &child(tmp, "out"))
        .await
        .unwrap();
    let (native, _) = cluster_chain(
        store,
        chain,
        Options::default(),
        None,
        &DepositRules::default(),
    )
    .unwrap();
    let (name, members) = out
        .result
        .chains
        .iter()
        .find(|(c, _)| *c == chain.name())
        .unwrap();
    assert_eq!(*name, chain.name());
    // Every address an output pays (all but none of the store's) with the native entity.
    assert_eq!(members.len(), native.entity.len());
    for m in members {
        assert_eq!(
            Some(m.entity),
            native
                .entity_of(u32::try_from(m.address_id).unwrap())
                .map(u64::from),
            "address {}",
            m.address_id
        );
    }
    assert_eq!(
        out.result.coinjoins.len() as u64,
        native.figures.coinjoins_skipped
    );
    for (rule, n) in &native.figures.coinjoins {
        let got = out
            .result
            .coinjoins
            .iter()
            .filter(|f| f.rule == *rule)
            .count() as u64;
        assert_eq!(got, *n, "rule {rule}");
    }
    let multi = {
        let mut e: Vec<u64> = members
            .iter()
            .filter(|m| m.entity != m.address_id)
            .map(|m| m.entity)
            .collect();
        e.sort_unstable();
        e.dedup();
        e.len()
    };
    (multi, u64::from(out.iterations))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_equals_native_co_spend_on_the_simulators_heist() {
    let (stored, _) = sim_store(&FilesConfig {
        seed: 5,
        blocks: 400,
        txs_per_block: 40,
        users: 400,
        ..FilesConfig::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let (multi, iterations) = compare(&stored.store, Chain::LitecoinRegtest, &tmp).await;
    println!("sim: {multi} entities of 2+ addresses after {iterations} iterations");
    assert!(multi > 10, "{multi} multi-address entities");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_equals_native_co_spend_on_mainnet_blocks() {
    let stored = mainnet_store();
    let tmp = tempfile::tempdir().unwrap();
    let (multi, _) = compare(&stored.store, Chain::BitcoinMainnet, &tmp).await;
    println!("mainnet 0..600: {multi} entities of 2+ addresses");
}

#[test]
fn the_listed_denominations_are_exactly_the_guards() {
    let listed = standard_denominations();
    for v in (0..2_000_000u64).chain(listed.iter().copied()) {
        assert_eq!(
            listed.binary_search(&v).is_ok(),
            tracehound_cluster::coinjoin::is_standard_denomination(v),
            "{v}"
        );
    }
}
