//! The Parquet dataset (schema version 1) as jobs read it: the manifest is checked, then every
//! table is registered in a caller-given [`SessionContext`] as a listing table over its
//! directory, with the Hive partition column `chain` for tables of a chain.
//!
//! A dataset is complete only once `_tracehound.json` is written (last), so a missing manifest
//! means an export that did not finish or a directory that is no export. Every file the
//! manifest lists must be there with the size it says: a listing table reads whatever the
//! directory holds, so a lost or truncated partition would otherwise change results silently.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::Deserialize;

/// The manifest's file name inside a dataset directory.
pub const MANIFEST: &str = "_tracehound.json";
/// The `format` a manifest must name.
pub const FORMAT: &str = "tracehound-parquet";
/// The schema version these jobs read.
pub const SCHEMA_VERSION: u64 = 1;
/// The Hive partition column of the tables of a chain.
pub const CHAIN_COLUMN: &str = "chain";

/// Why a dataset cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// No manifest: the export did not finish, or the directory is no export.
    #[error(
        "dataset {dir}: no {MANIFEST} (the export is incomplete, or this is not a tracehound export)"
    )]
    NoManifest {
        /// The dataset directory.
        dir: PathBuf,
    },
    /// The manifest cannot be read or parsed.
    #[error("dataset {dir}: manifest {MANIFEST} is unreadable: {reason}")]
    BadManifest {
        /// The dataset directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another format than tracehound's.
    #[error("dataset {dir}: format {found:?} is not {FORMAT:?}")]
    Format {
        /// The dataset directory.
        dir: PathBuf,
        /// The manifest's format.
        found: String,
    },
    /// Another schema version.
    #[error(
        "dataset {dir}: schema version {found} is not supported (these jobs read version {SCHEMA_VERSION})"
    )]
    SchemaVersion {
        /// The dataset directory.
        dir: PathBuf,
        /// The manifest's version.
        found: u64,
    },
    /// A file the manifest lists is not there.
    #[error("dataset {dir}: table {table}: file {file} is listed in the manifest but missing")]
    MissingFile {
        /// The dataset directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// The file, relative to the dataset.
        file: String,
    },
    /// A file has another size than the manifest says (truncated or replaced).
    #[error(
        "dataset {dir}: table {table}: file {file} holds {actual} bytes, the manifest says {expected}"
    )]
    FileSize {
        /// The dataset directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// The file, relative to the dataset.
        file: String,
        /// Bytes the manifest lists.
        expected: u64,
        /// Bytes on disk.
        actual: u64,
    },
    /// A file path that leaves the dataset or lies outside its table's directory.
    #[error("dataset {dir}: table {table}: file path {file:?} is not inside {table}/")]
    BadPath {
        /// The dataset directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// The path as listed.
        file: String,
    },
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

/// The manifest, `_tracehound.json`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`SCHEMA_VERSION`] here.
    pub schema_version: u64,
    /// When the export was written (unix seconds).
    pub created_unix: u64,
    /// Blocks per partition file of the tables keyed by height.
    pub partition_blocks: u64,
    /// Tables by name.
    pub tables: BTreeMap<String, TableEntry>,
}

/// One table of the manifest.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct TableEntry {
    /// Rows in all its files.
    pub rows: u64,
    /// Its files (none when it has no rows).
    pub files: Vec<FileEntry>,
}

/// One file of a table.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the dataset directory.
    pub path: String,
    /// The chain of its partition (`None`: a table without a chain).
    pub chain: Option<String>,
    /// First height it covers, for tables keyed by height.
    pub first_height: Option<u64>,
    /// Last height it covers.
    pub last_height: Option<u64>,
    /// Rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// A checked dataset whose tables are registered in a session.
#[derive(Debug, Clone)]
pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
}

impl Dataset {
    /// Reads and checks the manifest of `dir` (format, version, every listed file present with
    /// its size), without registering anything.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DatasetError::NoManifest {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(DatasetError::BadManifest {
                    dir: dir.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        let bad = |reason: String| DatasetError::BadManifest {
            dir: dir.to_path_buf(),
            reason,
        };
        // Format and version first: a manifest of another version may have other fields, and
        // "another version" is the answer its reader needs, not a field-level parse error.
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(DatasetError::Format {
                dir: dir.to_path_buf(),
                found: format.to_string(),
            });
        }
        let version = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad("schema_version is missing or not an integer".into()))?;
        if version != SCHEMA_VERSION {
            return Err(DatasetError::SchemaVersion {
                dir: dir.to_path_buf(),
                found: version,
            });
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        for (table, entry) in &manifest.tables {
            for file in &entry.files {
                check_file(dir, table, file)?;
            }
        }
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The dataset directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Rows of `table`, if the dataset has it.
    pub fn rows(&self, table: &str) -> Option<u64> {
        self.manifest.tables.get(table).map(|t| t.rows)
    }

    /// Whether `table` is in the dataset and has rows (a table without rows has no files, so
    /// it is not registered).
    pub fn has_rows(&self, table: &str) -> bool {
        self.rows(table).is_some_and(|r| r > 0)
    }

    /// Fails unless the dataset lists `table` (with or without rows).
    pub fn require(&self, table: &str, needed_by: &str) -> Result<(), DatasetError> {
        if self.manifest.tables.contains_key(table) {
            Ok(())
        } else {
            Err(DatasetError::MissingTable {
                dir: self.dir.clone(),
                table: table.to_string(),
                needed_by: needed_by.to_string(),
            })
        }
    }

    /// The chains `table` has rows of.
    pub fn chains(&self, table: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .manifest
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
        for (table, entry) in &self.manifest.tables {
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
            let path = format!("{}/", self.dir.join(table).display());
            // A table registered before (a job run twice on one session) is replaced.
            let _ = ctx.deregister_table(table.as_str());
            ctx.register_parquet(table.as_str(), &path, options)
                .await
                .map_err(|source| DatasetError::Register {
                    dir: self.dir.clone(),
                    table: table.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

/// Checks the manifest of `dir` and registers every table of the dataset in `ctx` (see
/// [`Dataset::register`]).
pub async fn register(ctx: &SessionContext, dir: &Path) -> Result<Dataset, DatasetError> {
    let dataset = Dataset::open(dir)?;
    dataset.register(ctx).await?;
    Ok(dataset)
}

fn check_file(dir: &Path, table: &str, file: &FileEntry) -> Result<(), DatasetError> {
    let relative = Path::new(&file.path);
    let inside = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        && relative.starts_with(table);
    if !inside {
        return Err(DatasetError::BadPath {
            dir: dir.to_path_buf(),
            table: table.to_string(),
            file: file.path.clone(),
        });
    }
    let meta = match std::fs::metadata(dir.join(relative)) {
        Ok(m) => m,
        Err(_) => {
            return Err(DatasetError::MissingFile {
                dir: dir.to_path_buf(),
                table: table.to_string(),
                file: file.path.clone(),
            });
        }
    };
    if meta.len() != file.bytes {
        return Err(DatasetError::FileSize {
            dir: dir.to_path_buf(),
            table: table.to_string(),
            file: file.path.clone(),
            expected: file.bytes,
            actual: meta.len(),
        });
    }
    Ok(())
}
