//! tracehound's heist simulator (issue #5): a world of users, exchanges (hot wallets and
//! per-customer deposit addresses), a freezable stablecoin, a constant-product DEX pool and a
//! fixed-denomination mixer on an EVM chain; users, exchanges, a lock/mint bridge's and a
//! THORChain-style swap vault's wallets and a privacy exit on a UTXO chain; a seeded laundering
//! playbook (drain → fan-out → swaps → bridge and memo swaps to the UTXO chain → peel chain →
//! CoinJoin → privacy exit, exchange deposits, bridge and swap back → mixer → fan-in → peel
//! chains → exchange deposits, part kept in the stablecoin, part dark) among benign traffic;
//! played on a real anvil and a real `litecoind -regtest`; and its ground truth, so that
//! traces, clusters and detectors can be scored. For benchmarks, [`files`] writes a UTXO heist
//! of millions of transfers straight into Core-format blk files, with its ground truth; [`mod@score`]
//! compares a result (a trace today) with that truth.
//!
//! ```no_run
//! use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
//! use tracehound_sim::{Config, Scenario, run_on_nodes};
//! let plan = Scenario::plan(&Config::default())?;
//! let ltc = RpcClient::new(
//!     "http://127.0.0.1:19443",
//!     RpcAuth::CookieFile("/tmp/ltc/regtest/.cookie".into()),
//!     RpcOptions::default(),
//! );
//! let truth = run_on_nodes("http://127.0.0.1:8545", &ltc, &plan)?;
//! truth.write(std::path::Path::new("./sim-out"))?;
//! # Ok::<(), tracehound_sim::SimError>(())
//! ```
#![warn(clippy::unwrap_used)]

pub mod config;
pub mod error;
pub mod exec;
pub mod files;
pub mod files_evm;
pub mod links;
pub mod plan;
pub mod random_account;
pub mod score;
pub mod truth;
pub mod utxo_exec;
pub mod world;

pub use config::Config;
pub use error::{Result, SimError};
pub use exec::{Node, run_on_anvil, run_on_nodes};
pub use files::{FilesConfig, FilesSummary, write_to_files};
pub use files_evm::{EvmFilesConfig, EvmFilesSummary, write_evm_to_files};
pub use plan::{Action, Asset, LinkKind, Plan, Scenario};
pub use score::{ResultFile, Score, ScoreError, read_truth, score};
pub use truth::{GroundTruth, POLICY, RestingKind, UtxoRun};
pub use world::{ContractKind, EntityKind, World};
