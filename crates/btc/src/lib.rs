//! UTXO chains (Bitcoin, Litecoin, …): reading blocks into tracehound's model.
//!
//! - [`blk`] reads Bitcoin Core's `blk*.dat` files directly: network magic, `xor.dat`
//!   obfuscation (Core 28+), blocks stored out of order, stale branches (the best chain is
//!   picked by linking headers and summing work, not by file order), a partly written last file.
//! - [`decode`] turns block bytes into transactions, including Litecoin's MWEB serialization.
//! - [`script`] names what each output script pays, for every standard template.
//! - [`resolve`] reads the best chain with every input resolved in memory (parallel decode).
//! - [`rpc`] is a thin typed client for Core's JSON-RPC.
//! - [`synth`] writes realistic Core-format blk files of any size, for demos and benchmarks.
#![warn(clippy::unwrap_used)]

pub mod blk;
pub mod decode;
pub mod fixtures;
pub mod from_rpc;
pub mod links;
pub mod resolve;
pub mod rpc;
pub mod script;
pub mod synth;
#[cfg(feature = "test-utils")]
pub mod testnode;
