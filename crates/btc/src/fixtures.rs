//! Where the real-data fixtures live (re-exported from [`tracehound_core::fixtures`] so the
//! crates' tests keep one helper), and reading a blk directory's best chain in one call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use tracehound_core::{Chain, UtxoBlock};

pub use tracehound_core::fixtures::shared_data;

use crate::blk::BlkReader;

/// Every block of the best chain from genesis in the blk files of `dir`, decoded, for tests.
/// Panics on any error: a fixture that does not read is a broken test setup.
pub fn best_chain_blocks(dir: &Path, chain: Chain) -> Vec<UtxoBlock> {
    let reader = BlkReader::open(dir, chain).expect("open the blk directory");
    let genesis = chain
        .utxo_params()
        .expect("a UTXO chain")
        .genesis
        .parse()
        .expect("the chain's genesis hash");
    let best = reader
        .scan(|_| {})
        .expect("scan the blk files")
        .best_chain(genesis, None);
    best.blocks
        .iter()
        .enumerate()
        .map(|(h, l)| reader.read_block(l, h as u32).expect("read a block"))
        .collect()
}
