//! The Parquet dataset (schema version 1) as jobs read it: the manifest is checked by the
//! store's own reader of the layout it writes ([`tracehound_store::dataset`]), then every
//! table is registered in a caller-given [`SessionContext`] as a listing table over its
//! directory, with the Hive partition column `chain` for tables of a chain.
//!
//! A dataset is complete only once `_tracehound.json` is written (last), so a missing manifest
//! means an export that did not finish or a directory that is no export. Every file the
//! manifest lists must be there with the size it says: a listing table reads whatever the
//! directory holds, so a lost or truncated partition would otherwise change results silently.
//!
//! A dataset is a directory or an object store prefix (`s3://…`, see [`crate::location`]);
//! on an object store the same checks read the manifest, each file's size and its footer.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
pub use tracehound_store::dataset::{FileEntry, Manifest, TableManifest};
use tracehound_store::dataset::{MANIFEST, check_file_size, check_metadata};

use crate::location::Location;

/// The Hive partition column of the tables of a chain.
pub const CHAIN_COLUMN: &str = "chain";

/// Why a dataset cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The export itself is incomplete, of another format or version, or damaged: checked by
    /// the store's reader of the layout ([`tracehound_store::dataset::Dataset::open`]).
    #[error(transparent)]
    Invalid(#[from] tracehound_store::dataset::DatasetError),
    /// A job needs a table the dataset does not have.
    #[error("dataset {dir}: table {table} is missing (needed by {needed_by})")]
    MissingTable {
        /// The dataset directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// The job that needs it.
        needed_by: String,
    },
    /// The object store holding the dataset failed or is not supported.
    #[error("dataset {dir}: {what}")]
    Store {
        /// The dataset's URL.
        dir: PathBuf,
        /// What failed.
        what: String,
    },
    /// Registering a table failed.
    #[error("dataset {dir}: table {table} cannot be registered: {source}")]
    Register {
        /// The dataset directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// Why.
        #[source]
        source: datafusion::error::DataFusionError,
    },
}

/// A checked dataset whose tables are registered in a session.
#[derive(Debug, Clone)]
pub struct Dataset {
    checked: tracehound_store::dataset::Dataset,
    location: Location,
}

impl Dataset {
    /// Reads and checks the manifest of directory `dir` (format, version, every listed file
    /// present with its size and its own metadata), without registering anything.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        Ok(Dataset {
            checked: tracehound_store::dataset::Dataset::open(dir)?,
            location: Location::Local(dir.to_path_buf()),
        })
    }

    /// [`Dataset::open`] of a directory or an object store prefix.
    pub async fn open_at(location: Location) -> Result<Dataset, DatasetError> {
        let remote = match &location {
            Location::Local(dir) => return Dataset::open(dir),
            Location::Remote(remote) => remote,
        };
        let dir = location.display();
        let failed = |e: crate::JobError| DatasetError::Store {
            dir: dir.clone(),
            what: e.to_string(),
        };
        let Some(text) = remote.read(MANIFEST).await.map_err(failed)? else {
            return Err(tracehound_store::dataset::DatasetError::NoManifest { dir }.into());
        };
        let manifest = Manifest::checked(&dir, &text)?;
        // One listing gives every object's size, and shows what the manifest does not list:
        // a listing table would read a stray partition (left by an earlier upload) silently.
        let sizes = remote.sizes().await.map_err(failed)?;
        for name in sizes.keys() {
            let table = name.split('/').next().unwrap_or_default();
            let listed = manifest
                .tables
                .get(table)
                .is_some_and(|t| t.files.iter().any(|f| f.path == *name));
            if name.ends_with(".parquet") && !listed {
                return Err(DatasetError::Store {
                    dir,
                    what: format!(
                        "{name} is not in the manifest (left by an earlier upload?): a table would read it; remove it or upload the export to a fresh prefix"
                    ),
                });
            }
        }
        for (table, t) in &manifest.tables {
            for f in &t.files {
                let size = sizes.get(&f.path).copied();
                check_file_size(&dir, table, f, size)?;
                let kv = remote
                    .parquet_metadata(&f.path, size.unwrap_or_default())
                    .await
                    .map_err(failed)?;
                check_metadata(&dir.join(&f.path), table, &kv)?;
            }
        }
        Ok(Dataset {
            checked: tracehound_store::dataset::Dataset::checked_elsewhere(dir, manifest),
            location,
        })
    }

    /// The dataset directory.
    pub fn dir(&self) -> &Path {
        self.checked.dir()
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        self.checked.manifest()
    }

    /// Rows of `table`, if the dataset has it.
    pub fn rows(&self, table: &str) -> Option<u64> {
        self.manifest().tables.get(table).map(|t| t.rows)
    }

    /// Whether `table` is in the dataset and has rows (a table without rows has no files, so
    /// it is not registered).
    pub fn has_rows(&self, table: &str) -> bool {
        self.rows(table).is_some_and(|r| r > 0)
    }

    /// Fails unless the dataset lists `table` (with or without rows).
    pub fn require(&self, table: &str, needed_by: &str) -> Result<(), DatasetError> {
        if self.manifest().tables.contains_key(table) {
            Ok(())
        } else {
            Err(DatasetError::MissingTable {
                dir: self.dir().to_path_buf(),
                table: table.to_string(),
                needed_by: needed_by.to_string(),
            })
        }
    }

    /// The chains `table` has rows of.
    pub fn chains(&self, table: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .manifest()
            .tables
            .get(table)
            .map(|t| t.files.iter().filter_map(|f| f.chain.clone()).collect())
            .unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// Registers every table with rows in `ctx` under its own name: a listing table over
    /// `<dir>/<table>/`, partitioned by `chain` when its files belong to chains.
    pub async fn register(&self, ctx: &SessionContext) -> Result<(), DatasetError> {
        self.location.register(ctx);
        for (table, entry) in &self.manifest().tables {
            if entry.files.is_empty() {
                continue;
            }
            let partitioned = entry.files.iter().any(|f| f.chain.is_some());
            let cols = if partitioned {
                vec![(CHAIN_COLUMN.to_string(), DataType::Utf8)]
            } else {
                Vec::new()
            };
            let options = ParquetReadOptions::default().table_partition_cols(cols);
            let path = self.location.join(table).table_path();
            // A table registered before (a job run twice on one session) is replaced.
            let _ = ctx.deregister_table(table.as_str());
            ctx.register_parquet(table.as_str(), &path, options)
                .await
                .map_err(|source| DatasetError::Register {
                    dir: self.dir().to_path_buf(),
                    table: table.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

/// Checks the manifest of `dir` (a directory, or `s3://BUCKET/PREFIX`) and registers every
/// table of the dataset in `ctx` (see [`Dataset::register`]).
pub async fn register(ctx: &SessionContext, dir: &Path) -> Result<Dataset, DatasetError> {
    let location = Location::parse(dir).map_err(|e| DatasetError::Store {
        dir: dir.to_path_buf(),
        what: e.to_string(),
    })?;
    let dataset = Dataset::open_at(location).await?;
    dataset.register(ctx).await?;
    Ok(dataset)
}
