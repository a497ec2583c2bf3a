//! The batch jobs against the native engines, on the simulator's heist and on real mainnet
//! blocks: each dataset is a store exported in the v1 layout, each job run embedded, and
//! every row compared with what the native code computes from the same store.
#![allow(clippy::unwrap_used)]

mod balances;
mod bench;
mod cluster;
mod dataset;
mod exposure;
mod fixture;
mod trace;
