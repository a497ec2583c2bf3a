//! The simulator's UTXO heist and a random account chain in one store, exported as a v1
//! dataset, and the job requests that the tests run on both engines.

use tracehound_core::{Chain, Hash32};
use tracehound_jobs::exposure::{ExposureRequest, Origin};
use tracehound_jobs::trace::{Policy, SourceAddress, StolenOutput, TraceRequest};
use tracehound_sim::{FilesConfig, GroundTruth, write_to_files};
use tracehound_store::{ExportOptions, Store, StoreOptions};

/// The heist's store, exported, with its truth; kept in one temp dir.
pub(crate) struct Heist {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: Store,
    pub(crate) truth: GroundTruth,
    /// The account chain's people (hubs first).
    pub(crate) people: Vec<String>,
    /// An account-chain tx that moves tokens (its hash), said stolen by the trace.
    pub(crate) account_stolen: String,
    /// When the account chain's source starts being one.
    pub(crate) account_since: u64,
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
        let account_stolen = world.blocks[1300..]
            .iter()
            .flat_map(|b| b.txs.iter().map(move |t| (b, t)))
            .find(|(b, t)| {
                b.transfers.iter().map(|x| &x.transfer).any(|x| {
                    x.tx.index == t.index
                        && x.from != x.to
                        && x.kind == tracehound_core::TransferKind::Token
                })
            })
            .map(|(_, t)| format!("0x{}", t.hash))
            .unwrap();
        let account_since = world.blocks[1350].block.time;
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
            account_stolen,
            account_since,
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

    /// A trace of the theft's txs (every output of each) and, on the account chain, of a
    /// late tx's transfers and a source from late on (the account walk iterates once per
    /// ledger the taint passes through: late seeds keep it short on a cluster).
    pub(crate) fn trace_request(&self, policy: Policy, max_hops: u32) -> TraceRequest {
        let mut request = self.utxo_trace_request(policy, max_hops);
        request.stolen.push(StolenOutput {
            chain: ACCOUNT_CHAIN.name(),
            txid: self.account_stolen.clone(),
            vout: None,
            sub_index: None,
            amount: None,
        });
        request.sources.push(SourceAddress {
            chain: ACCOUNT_CHAIN.name(),
            address: self.people[57].clone(),
            since: Some(self.account_since),
        });
        request
    }

    /// A trace of the theft's txs (every output of each), on the UTXO chain only.
    pub(crate) fn utxo_trace_request(&self, policy: Policy, max_hops: u32) -> TraceRequest {
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
                    sub_index: None,
                    amount: None,
                })
                .collect(),
            sources: Vec::new(),
            policy,
            max_hops,
            dust: Default::default(),
            assets: Vec::new(),
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
