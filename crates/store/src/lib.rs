//! tracehound's embedded store: every chain's blocks, transactions and transfers in one data
//! dir, with addresses interned and per-address adjacency in chain order.
//!
//! # Layout: redb for commit points, append-only files for bulk data
//! The store must survive `kill -9` at any moment, resume where it stopped, unwind blocks on a
//! reorg, and keep up with the chain, with no server to run. Two parts:
//! - [`redb`] (pure Rust, ACID, copy-on-write B-trees, builds in seconds unlike RocksDB or
//!   DuckDB) holds the small, transactional part: schema, per-chain counters, the block index
//!   (height ↔ hash ↔ first tx), and the committed length of every bulk file;
//! - each UTXO chain's bulk data lives in append-only files under `chains/<chain>/` (see the
//!   `ledger` module): tx records with every input resolved, a spender column, txid runs, the
//!   address log and its LSM index, and the adjacency. They are written with large sequential
//!   (direct) writes and synced *before* the redb transaction that records their new lengths
//!   together with the batch's block rows commits. A crash loses at most the batch in flight:
//!   on open every file is cut back to its committed length.
//!
//! A first version kept everything in redb B-trees; about 15 keyed writes per tx held ingest at
//! 18k txs/s. The measurements behind this layout are in `docs/bulk-ingest-plan.md`.
//!
//! # What is kept
//! - addresses interned to dense per-chain ids, in order of first appearance;
//! - every tx with each input resolved to the output it spends (address, value, height), so
//!   no analysis re-reads blocks; the spending tx of every output;
//! - per address: its txs in chain order with the amount received and sent in each (totals are
//!   sums over that list);
//! - the block index with hashes and chain work, so a reorg unwinds to the fork point and the
//!   store ends up byte for byte as if the stale blocks had never come (address ids first seen
//!   in them are released too).
//!
//! # Memory
//! RAM holds the newest part of the UTXO set of the chains being written (34 bytes per unspent
//! output, up to [`StoreOptions::utxo`]; the rest spills to sorted runs on disk), the address
//! index's recent generations, cache and bloom filters (bounded by
//! [`StoreOptions::address_index`]), redb's page cache, and a batch or two of decoded blocks.
//! Everything else is on disk, read through the page cache. See the README for the full
//! Bitcoin chain on a 16 GB machine.
//!
//! Every table exports to a versioned, partitioned Parquet dataset ([`Store::export_parquet`];
//! layout, manifest and checks in [`dataset`]; every column in `docs/parquet-schema.md`), the
//! format batch jobs, Spark and DuckDB read.
#![warn(clippy::unwrap_used)]

mod account;
pub mod bulk;
mod codec;
pub mod dataset;
mod export;
mod ledger;
mod link_facts;
mod links;
mod read;
mod tables;
mod write;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase};
use tracehound_core::{Chain, Hash32, OutPoint};

pub use account::{
    AccountBlock, AccountFlow, AccountHistoryRow, AccountTransfer, AccountTx, AccountTxView,
    AccountView, AssetBalance, BlockStamps, FlowIds, TokenInfo, TransferView,
};
pub use export::{ExportOptions, ExportSummary};
pub use link_facts::FactRef;
pub use links::{LinkIn, LinkOut, TxLinks, UtxoLinks};
pub use read::{
    AddressHistoryRow, AddressView, BlockInfo, ChainStatus, InputView, OutputView, TxView,
};
pub use write::BatchStats;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open store {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What redb said.
        source: redb::DatabaseError,
    },
    /// The data dir was written by an incompatible version of tracehound.
    #[error(
        "store {path} has schema version {found}, this tracehound reads version {expected}: re-ingest into a new --data-dir"
    )]
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// What the file says.
        found: String,
        /// What this build reads.
        expected: String,
    },
    /// A storage operation failed.
    #[error("store {context}: {source}")]
    Db {
        /// What was being done.
        context: &'static str,
        /// What redb said.
        source: redb::Error,
    },
    /// A stored record does not decode: the file is damaged.
    #[error("store table {table} holds a corrupt record: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A block does not extend the stored chain.
    #[error(
        "{chain} block {hash} at height {height} does not extend the stored tip ({tip}): its parent is {parent}"
    )]
    NotConnected {
        /// The chain.
        chain: Chain,
        /// Height given.
        height: u32,
        /// The block.
        hash: Hash32,
        /// Its parent.
        parent: Hash32,
        /// The stored tip, as text (`height hash`, or `empty`).
        tip: String,
    },
    /// An input spends an output the store does not have unspent.
    #[error("{chain} tx {txid} (height {height}) input {input} spends {}:{}, which is not an unspent output in the store", .prevout.txid, .prevout.vout)]
    UnknownPrevout {
        /// The chain.
        chain: Chain,
        /// Height of the spending block.
        height: u32,
        /// The spending tx.
        txid: Hash32,
        /// Input index.
        input: usize,
        /// What it spends.
        prevout: OutPoint,
    },
    /// A value does not fit the store's 64-bit UTXO amount.
    #[error("{chain} tx {txid} output {vout}: value {value} exceeds 64 bits")]
    ValueTooLarge {
        /// The chain.
        chain: Chain,
        /// The tx.
        txid: Hash32,
        /// The output.
        vout: usize,
        /// The value.
        value: u128,
    },
    /// Asked to unwind below the first stored block.
    #[error("{chain}: cannot unwind to height {height}: the store holds no block there")]
    BadUnwind {
        /// The chain.
        chain: Chain,
        /// The height asked for.
        height: u32,
    },
    /// An append-only segment file is damaged or could not be written.
    #[error("segment file {path}: {reason}")]
    Segment {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A dataset could not be written as its layout says.
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    /// Writing an export failed.
    #[error("export to {path}: {reason}")]
    Export {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

macro_rules! from_redb {
    ($($t:ty => $ctx:literal),* $(,)?) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db { context: $ctx, source: e.into() }
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError => "transaction",
    redb::TableError => "table",
    redb::StorageError => "storage",
    redb::CommitError => "commit",
    redb::Error => "operation",
);

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Bytes of page cache redb may hold in RAM (block index and counters).
    pub cache_bytes: usize,
    /// RAM and threads of each chain's address index (the hottest lookup of ingest).
    pub address_index: bulk::addr_index::AddressIndexOptions,
    /// How much of each UTXO chain's unspent-output set stays in RAM during ingest (the rest is
    /// spilled to sorted runs on disk).
    pub utxo: bulk::utxo_set::UtxoSetOptions,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 256 << 20,
            address_index: bulk::addr_index::AddressIndexOptions::default(),
            utxo: bulk::utxo_set::UtxoSetOptions::default(),
        }
    }
}

/// The embedded store: a redb file for the block index and commit points, plus each chain's
/// bulk files under `chains/` (see the `ledger` module).
pub struct Store {
    db: Database,
    path: PathBuf,
    data_dir: PathBuf,
    options: StoreOptions,
    /// Open chains. A chain is opened on first use; a write that fails drops its chain, which
    /// the next use reopens from what was committed.
    ledgers: std::sync::Mutex<std::collections::HashMap<u32, ledger::Ledger>>,
    /// Open account chains, likewise.
    accounts: std::sync::Mutex<std::collections::HashMap<u32, account::AccountLedger>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let ledgers = std::mem::take(
            self.ledgers
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (_, mut l) in ledgers {
            if let Err(e) = l.close(&self.db) {
                tracing::warn!(chain = %l.chain(), "closing the store: {e} (the next open recovers)");
            }
        }
        let accounts = std::mem::take(
            self.accounts
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (_, mut l) in accounts {
            if let Err(e) = l.close() {
                tracing::warn!("closing the store: {e} (the next open recovers)");
            }
        }
    }
}

/// The store's file name inside a data dir.
pub const STORE_FILE: &str = "tracehound.redb";

impl Store {
    /// Opens (or creates) the store in `data_dir`, checking it was written by a compatible version.
    pub fn open(data_dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let path = data_dir.join(STORE_FILE);
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
            path: path.clone(),
            source: redb::DatabaseError::Storage(redb::StorageError::Io(e)),
        })?;
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(&path)
            .map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        let store = Store {
            db,
            path,
            data_dir: data_dir.to_path_buf(),
            options: options.clone(),
            ledgers: std::sync::Mutex::default(),
            accounts: std::sync::Mutex::default(),
        };
        store.init_schema()?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on account chain `chain`'s open address index (see [`with_open`]).
    fn with_account<R>(
        &self,
        chain: Chain,
        f: impl FnOnce(&mut account::AccountLedger, &Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        with_open(&self.accounts, chain, &self.db, f, |db| {
            account::AccountLedger::open(db, &self.data_dir, chain, &self.options.address_index)
        })
    }

    /// Runs `f` on UTXO chain `chain`'s open ledger (see [`with_open`]).
    fn with_ledger<R>(
        &self,
        chain: Chain,
        f: impl FnOnce(&mut ledger::Ledger, &Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        with_open(&self.ledgers, chain, &self.db, f, |db| {
            ledger::Ledger::open(
                db,
                &self.data_dir,
                chain,
                &self.options.address_index,
                &self.options.utxo,
            )
        })
    }

    fn init_schema(&self) -> Result<(), StoreError> {
        let found = {
            let rtx = self.db.begin_read()?;
            match rtx.open_table(tables::META) {
                Ok(t) => redb::ReadableTable::get(&t, "schema")?.map(|v| v.value().to_string()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            }
        };
        match found {
            Some(v) if v == tables::SCHEMA_VERSION => Ok(()),
            Some(v) => Err(StoreError::IncompatibleVersion {
                path: self.path.clone(),
                found: v,
                expected: tables::SCHEMA_VERSION.into(),
            }),
            None => {
                let wtx = self.db.begin_write()?;
                {
                    let mut meta = wtx.open_table(tables::META)?;
                    meta.insert("schema", tables::SCHEMA_VERSION)?;
                    meta.insert(
                        "created_by",
                        concat!("tracehound ", env!("CARGO_PKG_VERSION")),
                    )?;
                    // Create every table now so readers never meet a missing one.
                    wtx.open_table(tables::CHAINS)?;
                    wtx.open_table(tables::BLOCKS)?;
                    wtx.open_table(tables::BLOCK_BY_HASH)?;
                    wtx.open_table(tables::BLOCK_BY_TX)?;
                    wtx.open_table(tables::ACCOUNT_TXS)?;
                    wtx.open_table(tables::ACCOUNT_TXIDS)?;
                    wtx.open_table(tables::TRANSFERS)?;
                    wtx.open_table(tables::ACCOUNT_ADJ)?;
                    wtx.open_table(tables::BALANCES)?;
                    wtx.open_table(tables::TOKENS)?;
                    wtx.open_table(bulk::segment::SEGMENTS)?;
                }
                wtx.commit()?;
                Ok(())
            }
        }
    }
}

/// Something open per chain that a failed write can leave half-done.
trait Dirty {
    /// Whether a write is under way (so an error left it inconsistent with the last commit).
    fn dirty(&self) -> bool;
}

impl Dirty for ledger::Ledger {
    fn dirty(&self) -> bool {
        self.dirty
    }
}

impl Dirty for account::AccountLedger {
    fn dirty(&self) -> bool {
        self.dirty
    }
}

/// Runs `f` on `chain`'s entry of `open`, opening it with `open_one` first if needed. If `f`
/// fails and leaves the entry mid-write, the entry is dropped: the next call reopens it from
/// the last commit.
fn with_open<L: Dirty, R>(
    open: &std::sync::Mutex<std::collections::HashMap<u32, L>>,
    chain: Chain,
    db: &Database,
    f: impl FnOnce(&mut L, &Database) -> Result<R, StoreError>,
    open_one: impl FnOnce(&Database) -> Result<L, StoreError>,
) -> Result<R, StoreError> {
    let mut open = open
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = chain.code();
    let l = match open.entry(c) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => v.insert(open_one(db)?),
    };
    let out = f(l, db);
    if l.dirty() {
        open.remove(&c);
    }
    out
}
