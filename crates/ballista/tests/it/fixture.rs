//! The simulator's UTXO heist and a random account chain in one store, exported as a v1
//! dataset, and the job requests that the tests run on both engines.

use tracehound_core::{Chain, Hash32};
use tracehound_jobs::exposure::{ExposureRequest, Origin};
use tracehound_jobs::trace::{Policy, StolenOutput, TraceRequest};
use tracehound_sim::{FilesConfig, GroundTruth, write_to_files};
use tracehound_store::{ExportOptions, Store, StoreOptions};

/// The heist's store, exported, with its truth; kept in one temp dir.
pub(crate) struct Heist {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: Store,
    pub(crate) truth: GroundTruth,
    /// The account chain's people (hubs first).
    pub(crate) people: Vec<String>,
}

/// The account chain stored beside the heist.
pub(crate) const ACCOUNT_CHAIN: Chain = Chain::Evm(1337);

impl Heist {
    /// Simulates `blocks` blocks of the heist, stores and exports them (100 heights a file).
    pub(crate) fn new(blocks: u32) -> Heist {
        let dir = tempfile::tempdir().unwrap();
        let config = FilesConfig {
            seed: 3,
            blocks,
            txs_per_block: 60,
            users: 400,
            exchanges: 3,
            fan_out: 6,
            hops: 4,
            coinjoin_peers: 4,
            ..FilesConfig::default()
        };
        let (_, truth) = write_to_files(&dir.path().join("sim"), &config).unwrap();
        let blocks = tracehound_btc::fixtures::best_chain_blocks(
            &dir.path().join("sim/blocks"),
            Chain::LitecoinRegtest,
        );
        let store = Store::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
        store.apply_utxo_blocks(&blocks).unwrap();
        let world = tracehound_sim::random_account::blocks(ACCOUNT_CHAIN, 11, 1500);
        store.apply_account_blocks(&world.blocks).unwrap();
        let options = ExportOptions {
            partition_blocks: 100,
            replace: false,
        };
        store
            .export_parquet_with_progress(&dir.path().join("dataset"), &options, &|_, _| {})
            .unwrap();
        Heist {
            dir,
            store,
            truth,
            people: world.people,
        }
    }

    /// An in-process session with the dataset registered.
    pub(crate) async fn embedded(
        &self,
    ) -> (
        datafusion::prelude::SessionContext,
        tracehound_jobs::Dataset,
    ) {
        let ctx = datafusion::prelude::SessionContext::new();
        let dataset = tracehound_jobs::register(&ctx, &self.dataset())
            .await
            .unwrap();
        (ctx, dataset)
    }

    /// The exported dataset.
    pub(crate) fn dataset(&self) -> std::path::PathBuf {
        self.dir.path().join("dataset")
    }

    /// A trace of the theft's txs (every output of each).
    pub(crate) fn trace_request(&self, policy: Policy, max_hops: u32) -> TraceRequest {
        TraceRequest {
            stolen: self
                .truth
                .incident
                .txs
                .iter()
                .map(|tx| StolenOutput {
                    chain: Chain::LitecoinRegtest.name(),
                    txid: tx.clone(),
                    vout: None,
                    amount: None,
                })
                .collect(),
            sources: Vec::new(),
            policy,
            max_hops,
            dust: 0,
        }
    }

    /// Exposure to whoever the theft paid (as if sanctioned), stopping at every other
    /// labeled address; and on the account chain to a hub and five others, stopping at a hub
    /// and another.
    pub(crate) fn exposure_request(&self) -> ExposureRequest {
        let chain = Chain::LitecoinRegtest;
        let mut origins: Vec<String> = Vec::new();
        for tx in &self.truth.incident.txs {
            let txid: Hash32 = tx.parse().unwrap();
            for view in self.store.tx(Some(chain), &txid).unwrap() {
                for a in view.outputs.into_iter().filter_map(|o| o.address) {
                    if !origins.contains(&a) {
                        origins.push(a);
                    }
                }
            }
        }
        assert!(!origins.is_empty());
        let account = |i: &usize| (ACCOUNT_CHAIN.name(), self.people[*i].clone());
        ExposureRequest {
            stops: self
                .truth
                .labels
                .iter()
                .filter(|l| !origins.contains(&l.address))
                .map(|l| (chain.name(), l.address.clone()))
                .chain([1, 30].iter().map(account))
                .collect(),
            origins: origins
                .into_iter()
                .map(|address| (chain.name(), address))
                .chain([0, 10, 25, 40, 77, 150].iter().map(account))
                .map(|(chain, address)| Origin {
                    chain,
                    address,
                    kind: "sanctioned".into(),
                })
                .collect(),
            hops: 3,
            max_frontier: 50,
            max_history: 200,
        }
    }
}
