//! `balances` equals the store's own address views, row for row.

use tracehound_core::Chain;
use tracehound_jobs::balances::{self, Balance};
use tracehound_sim::FilesConfig;
use tracehound_store::Store;

use crate::fixture::{child, mainnet_store, session, sim_store};

/// The store's view of every address of `chain`, as job rows.
fn native(store: &Store, chain: Chain) -> Vec<Balance> {
    let mut rows: Vec<Balance> = store
        .addresses(chain)
        .unwrap()
        .into_iter()
        .map(|a| Balance {
            chain: chain.name(),
            address_id: Some(a.id),
            address: a.address,
            asset: "native".into(),
            received: a.received.units(),
            sent: a.sent.units(),
            balance: a.balance.units(),
            tx_count: a.tx_count,
        })
        .collect();
    rows.sort_by(|a, b| (&a.chain, &a.address).cmp(&(&b.chain, &b.address)));
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_equal_the_stores_address_views_on_the_simulators_heist() {
    let (stored, _) = sim_store(&FilesConfig {
        seed: 7,
        blocks: 300,
        txs_per_block: 30,
        users: 300,
        ..FilesConfig::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, dataset) = session(&stored.store, &child(&tmp, "dataset")).await;
    let out = balances::run(&ctx, &dataset, &child(&tmp, "out"))
        .await
        .unwrap();
    let want = native(&stored.store, Chain::LitecoinRegtest);
    assert!(want.len() > 500, "{} addresses", want.len());
    assert_eq!(out.result.len(), want.len());
    for (got, want) in out.result.iter().zip(&want) {
        assert_eq!(got, want);
    }
    assert!(child(&tmp, "out").join("balances").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_equal_the_stores_address_views_on_mainnet_blocks() {
    let stored = mainnet_store();
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, dataset) = session(&stored.store, &child(&tmp, "dataset")).await;
    let out = balances::run(&ctx, &dataset, &child(&tmp, "out"))
        .await
        .unwrap();
    let want = native(&stored.store, Chain::BitcoinMainnet);
    assert_eq!(out.result, want);
    // 600 coinbases (some paying one key twice) and block 170's payment to Hal Finney.
    assert!(want.len() > 500, "{} addresses", want.len());
    assert!(out.result.iter().any(|b| b.sent > 0 && b.tx_count > 1));
}
