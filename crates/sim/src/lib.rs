//! tracehound's heist simulator (issue #5, EVM side): a world of users, exchanges (hot wallets
//! and per-customer deposit addresses), a freezable stablecoin, a constant-product DEX pool and
//! a fixed-denomination mixer; a seeded laundering playbook (drain → fan-out → swaps → mixer →
//! fan-in → peel chains → exchange deposits, part kept in the stablecoin, part dark) among
//! benign traffic; played on a real anvil; and its ground truth, so that traces, clusters and
//! detectors can be scored.
//!
//! ```no_run
//! use tracehound_sim::{Config, Scenario, run_on_anvil};
//! let plan = Scenario::plan(&Config::default())?;
//! let truth = run_on_anvil("http://127.0.0.1:8545", &plan)?;
//! truth.write(std::path::Path::new("./sim-out"))?;
//! # Ok::<(), tracehound_sim::SimError>(())
//! ```
#![warn(clippy::unwrap_used)]

pub mod config;
pub mod error;
pub mod exec;
pub mod plan;
pub mod truth;
pub mod utxo_exec;
pub mod world;

pub use config::Config;
pub use error::{Result, SimError};
pub use exec::{Node, run_on_anvil, run_on_nodes};
pub use plan::{Action, Asset, Plan, Scenario};
pub use truth::{GroundTruth, POLICY, RestingKind};
pub use world::{ContractKind, EntityKind, World};
