//! `balances` equals the store's own address views, row for row.

use tracehound_core::Chain;
use tracehound_jobs::balances::{self, Balance};
use tracehound_sim::FilesConfig;
use tracehound_store::Store;

use crate::fixture::{ACCOUNT_CHAIN, account_store, child, mainnet_store, session, sim_store};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_equal_the_stores_account_views_on_an_account_chain() {
    let (stored, world) = account_store(5, 400);
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, dataset) = session(&stored.store, &child(&tmp, "dataset")).await;
    let out = balances::run(&ctx, &dataset, &child(&tmp, "out"))
        .await
        .unwrap();
    // Every address that took part: payers and payees of every transfer.
    let mut addresses: Vec<String> = world
        .blocks
        .iter()
        .flat_map(|b| &b.transfers)
        .flat_map(|t| [&t.transfer.from, &t.transfer.to])
        .map(|a| a.as_str().to_string())
        .collect();
    addresses.sort();
    addresses.dedup();
    let mut want = Vec::new();
    for address in &addresses {
        let a = tracehound_core::Address::from_canonical(ACCOUNT_CHAIN, address.clone());
        let view = stored.store.account(&a).unwrap().unwrap();
        for b in view.balances {
            want.push(Balance {
                chain: ACCOUNT_CHAIN.name(),
                address_id: None,
                address: address.clone(),
                asset: b.asset,
                received: b.received.units(),
                sent: b.sent.units(),
                balance: b.balance.units(),
                tx_count: b.transfers,
            });
        }
    }
    want.sort_by(|a, b| (&a.address, &a.asset).cmp(&(&b.address, &b.asset)));
    // Ether, two tokens and an NFT collection, the fee recipient included.
    assert!(want.len() > 800, "{} balances", want.len());
    assert!(want.iter().any(|b| b.received > u128::from(u64::MAX)));
    assert_eq!(out.result, want);
}
