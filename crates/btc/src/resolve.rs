//! Reading a blk directory's best chain with every input resolved in memory: parallel
//! decoding, in-order resolution against an in-memory UTXO set.
//!
//! This is the job a blk parser with input resolution does (and what `tracehound bench parse`
//! measures against one): each input gets the address, value, height and coinbase flag of the
//! output it spends. Memory is bounded by the UTXO set: an output leaves the map when it is
//! spent. Blocks are read and decoded by `threads` workers in parallel, and resolved in height
//! order on the calling thread.

use std::collections::HashMap;

use tracehound_core::{Amount, Hash32, OutPoint, Payee, ResolvedPrevout, ScriptKind, UtxoBlock};

use crate::blk::{BestChain, BlkError, BlkReader};

/// Why resolution stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A block could not be read.
    #[error(transparent)]
    Blk(#[from] BlkError),
    /// An input spends an output that is not unspent in the chain so far.
    #[error("block {block} (height {height}) tx {txid} input {input} spends {}:{}, which is not an unspent output of the chain", .prevout.txid, .prevout.vout)]
    UnknownPrevout {
        /// Block hash.
        block: Hash32,
        /// Height.
        height: u32,
        /// Spending tx.
        txid: Hash32,
        /// Input index.
        input: usize,
        /// What it spends.
        prevout: OutPoint,
    },
}

struct Unspent {
    payee: Option<Payee>,
    kind: ScriptKind,
    value: Amount,
    height: u32,
    coinbase: bool,
}

/// An in-memory UTXO set that fills in each input's prevout.
#[derive(Default)]
pub struct UtxoResolver {
    // foldhash: several times faster than SipHash on 36-byte keys, still seeded per process.
    unspent: HashMap<OutPoint, Unspent, foldhash::fast::RandomState>,
}

impl UtxoResolver {
    /// Outputs currently unspent.
    pub fn len(&self) -> usize {
        self.unspent.len()
    }

    /// Whether no output is unspent.
    pub fn is_empty(&self) -> bool {
        self.unspent.is_empty()
    }

    /// Resolves every input of `block` (which must follow the blocks resolved before) and adds
    /// its outputs.
    pub fn resolve(&mut self, block: &mut UtxoBlock) -> Result<(), ResolveError> {
        let height = block.block.height;
        for tx in &mut block.txs {
            for (i, input) in tx.inputs.iter_mut().enumerate() {
                let Some(u) = self.unspent.remove(&input.prevout) else {
                    return Err(ResolveError::UnknownPrevout {
                        block: block.block.hash,
                        height,
                        txid: tx.txid,
                        input: i,
                        prevout: input.prevout,
                    });
                };
                input.resolved = Some(ResolvedPrevout {
                    payee: u.payee,
                    kind: u.kind,
                    value: u.value,
                    height: u.height,
                    coinbase: u.coinbase,
                });
            }
            for (vout, o) in tx.outputs.iter().enumerate() {
                if o.kind == ScriptKind::NullData {
                    continue;
                }
                let key = OutPoint {
                    txid: tx.txid,
                    vout: u32::try_from(vout).unwrap_or(u32::MAX),
                };
                let u = Unspent {
                    payee: o.payee,
                    kind: o.kind,
                    value: o.value,
                    height,
                    coinbase: tx.coinbase,
                };
                self.unspent.insert(key, u);
            }
        }
        Ok(())
    }
}

/// Reads `best.blocks` with `threads` decoding workers and hands each block, inputs resolved,
/// to `each` in height order.
pub fn read_resolved(
    reader: &BlkReader,
    best: &BestChain,
    threads: usize,
    mut each: impl FnMut(&UtxoBlock),
) -> Result<UtxoResolver, ResolveError> {
    let mut resolver = UtxoResolver::default();
    reader.read_in_order(
        &best.blocks,
        best.start_height,
        threads,
        |mut block| -> Result<(), ResolveError> {
            resolver.resolve(&mut block)?;
            each(&block);
            Ok(())
        },
    )?;
    Ok(resolver)
}
