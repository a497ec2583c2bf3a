//! End-to-end tests of the `tracehound` binary.
//!
//! The tests against a real `litecoind -regtest` run with
//! `cargo test -p tracehound-cli --features test-litecoind --test it`; those against a real
//! `anvil` with `--features test-anvil` (and `ANVIL_BIN`, see `scripts/install-anvil`); the
//! simulator's on both (`sim.rs`) with both features.

mod anvil;
#[path = "../common/mod.rs"]
mod common;
mod evm_state;
mod heist;
mod links;
mod links_sim;
mod litecoind;
mod sim;
mod trace_sim;
mod watch;
mod watch_common;
mod watch_evm;
mod watch_kill;
mod watch_zmq;
