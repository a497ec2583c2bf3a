//! Writing: connecting UTXO blocks (resolving every input against the unspent outputs) and
//! unwinding them again on a reorg. Each call commits once: all of it lands, or none.

use tracehound_core::{Chain, ChainFamily, UtxoBlock};

use crate::{Store, StoreError};

/// What a batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Blocks connected.
    pub blocks: u64,
    /// Transactions stored.
    pub txs: u64,
    /// Inputs resolved.
    pub inputs: u64,
    /// Outputs stored.
    pub outputs: u64,
}

impl std::ops::AddAssign for BatchStats {
    fn add_assign(&mut self, other: BatchStats) {
        self.blocks += other.blocks;
        self.txs += other.txs;
        self.inputs += other.inputs;
        self.outputs += other.outputs;
    }
}

impl Store {
    /// Connects `blocks` (in chain order, all of one chain; the first must extend the stored
    /// tip of its chain, or be genesis in an empty store) and commits them, with their
    /// checkpoint, as one transaction.
    pub fn apply_utxo_blocks(&self, blocks: &[UtxoBlock]) -> Result<BatchStats, StoreError> {
        let mut stats = BatchStats::default();
        let Some(first) = blocks.first() else {
            return Ok(stats);
        };
        self.with_ledger(first.block.chain, |l, db| l.apply(db, blocks, &mut stats))?;
        Ok(stats)
    }

    /// Connects a stream of batches of `chain`'s blocks, each committed as one transaction
    /// (as [`Store::apply_utxo_blocks`] would), calling `on_commit(batch, stats)` after each.
    /// Faster than batch-by-batch calls: the next batch's addresses are interned on another
    /// thread while this one is resolved and written.
    pub fn apply_utxo_stream<B: AsRef<[UtxoBlock]> + Send + Sync>(
        &self,
        chain: Chain,
        batches: impl Iterator<Item = B>,
        on_commit: impl FnMut(&[UtxoBlock], BatchStats),
    ) -> Result<BatchStats, StoreError> {
        self.with_ledger(chain, |l, db| l.apply_stream(db, batches, on_commit))
    }

    /// Removes every block of `chain` above `height`, newest first, restoring the outputs they
    /// spent and releasing the address ids first seen in them. The store is left as if those
    /// blocks had never been connected.
    pub fn unwind_to(&self, chain: Chain, height: u32) -> Result<u64, StoreError> {
        if self.block_at(chain, height)?.is_none() {
            return Err(StoreError::BadUnwind { chain, height });
        }
        match chain.family() {
            ChainFamily::Utxo => self.with_ledger(chain, |l, db| l.unwind(db, Some(height))),
            ChainFamily::Account => self.with_account(chain, |l, db| l.unwind(db, Some(height))),
        }
    }

    /// Removes every block of `chain`, leaving it empty (a reorg deeper than genesis cannot
    /// happen; this is for starting a chain over).
    pub fn unwind_all(&self, chain: Chain) -> Result<u64, StoreError> {
        match chain.family() {
            ChainFamily::Utxo => self.with_ledger(chain, |l, db| l.unwind(db, None)),
            ChainFamily::Account => self.with_account(chain, |l, db| l.unwind(db, None)),
        }
    }
}
