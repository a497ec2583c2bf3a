//! Test data: stores built from the simulator and from real mainnet blocks, exported as v1
//! datasets by the store's own export (`Store::export_parquet_with_progress`).

use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;
use tracehound_core::Chain;
use tracehound_sim::random_account::RandomAccount;
use tracehound_sim::{FilesConfig, GroundTruth, write_to_files};
use tracehound_store::{Store, StoreOptions};

/// A store with its directory.
pub(crate) struct Stored {
    /// Kept so the store's directory lives as long as the store.
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: Store,
}

/// The simulator's UTXO heist (litecoin regtest) in a store, with its truth.
pub(crate) fn sim_store(config: &FilesConfig) -> (Stored, GroundTruth) {
    let dir = tempfile::tempdir().unwrap();
    let (_, truth) = write_to_files(dir.path(), config).unwrap();
    let blocks = tracehound_btc::fixtures::best_chain_blocks(
        &dir.path().join("blocks"),
        Chain::LitecoinRegtest,
    );
    let store = Store::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
    store.apply_utxo_blocks(&blocks).unwrap();
    (Stored { _dir: dir, store }, truth)
}

/// The first 600 blocks of Bitcoin mainnet (`btc/blk`, 2009) in a store.
pub(crate) fn mainnet_store() -> Stored {
    let dir = tempfile::tempdir().unwrap();
    let blocks = tracehound_btc::fixtures::best_chain_blocks(
        &tracehound_btc::fixtures::shared_data("btc/blk"),
        Chain::BitcoinMainnet,
    );
    assert_eq!(blocks.len(), 600);
    let store = Store::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
    store.apply_utxo_blocks(&blocks).unwrap();
    Stored { _dir: dir, store }
}

/// Writes `store` as a v1 dataset in `dir` with the store's own export, `partition_blocks`
/// heights per file.
pub(crate) async fn export_v1(store: &Store, dir: &Path, partition_blocks: u64) {
    let options = tracehound_store::ExportOptions {
        partition_blocks: u32::try_from(partition_blocks).unwrap(),
        replace: false,
    };
    store
        .export_parquet_with_progress(dir, &options, &|_, _| {})
        .unwrap();
}

/// A fresh session and a dataset of `store` in `dir`, registered.
pub(crate) async fn session(
    store: &Store,
    dir: &Path,
) -> (SessionContext, tracehound_jobs::Dataset) {
    export_v1(store, dir, 100).await;
    let ctx = SessionContext::new();
    let dataset = tracehound_jobs::register(&ctx, dir).await.unwrap();
    (ctx, dataset)
}

/// A temp dir's child path.
pub(crate) fn child(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// A random account chain (`tracehound_sim::random_account`) in a store, and the chain.
pub(crate) fn account_store(seed: u64, blocks: u32) -> (Stored, RandomAccount) {
    let world = tracehound_sim::random_account::blocks(ACCOUNT_CHAIN, seed, blocks);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
    store.apply_account_blocks(&world.blocks).unwrap();
    (Stored { _dir: dir, store }, world)
}

/// The account chain of [`account_store`].
pub(crate) const ACCOUNT_CHAIN: Chain = Chain::Evm(1337);
