//! The Parquet dataset layout, schema version 1: how an export is laid out on disk, written
//! ([`DatasetWriter`]) and checked before it is read ([`Dataset::open`]). The store's export,
//! the data dir's tables (labels, entities, incidents, trace results, written by the app
//! crate) and the batch jobs all go through this one module, so they agree on the layout.
//!
//! ```text
//! DIR/_tracehound.json                                  manifest, written last
//! DIR/<table>/chain=<chain>/part-<first>-<last>.parquet  tables keyed by height
//! DIR/<table>/chain=<chain>/part-all.parquet            per-chain tables without a height
//! DIR/<table>/part-0000000000.parquet                   tables with no chain partition
//! ```
//!
//! Tables of one chain are Hive-partitioned by `chain=<name>` and do not store a `chain`
//! column (Spark refuses a column that is both in the data and in the path). Height-keyed
//! tables are split into fixed ranges of `partition_blocks` heights; only ranges with rows get
//! a file. Every file carries the key-value metadata `tracehound.schema_version` and
//! `tracehound.table`. The whole export is written into a sibling `DIR.partial-<pid>` and
//! renamed to `DIR` once its manifest is written, so a reader never meets a half export
//! that looks complete. `docs/parquet-schema.md` documents every table and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

/// The manifest's `format`.
pub const FORMAT: &str = "tracehound-parquet";
/// The layout and schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;
/// The manifest's file name inside an export.
pub const MANIFEST: &str = "_tracehound.json";
/// Heights per file of height-keyed tables, unless asked otherwise.
pub const DEFAULT_PARTITION_BLOCKS: u32 = 100_000;
/// Parquet key-value metadata key holding the schema version.
pub const META_SCHEMA_VERSION: &str = "tracehound.schema_version";
/// Parquet key-value metadata key holding the table's name.
pub const META_TABLE: &str = "tracehound.table";
/// The name of the height column that splits height-keyed tables.
pub const HEIGHT_COLUMN: &str = "height";

/// Rows per Parquet row group: several files of a table may be open at once (address
/// histories jump between height ranges), each buffering one row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// What is wrong with a dataset, or why one could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The directory has no manifest: an export still being written, one that was
    /// interrupted, or not an export at all.
    #[error(
        "{dir} is not a complete tracehound export: it has no {MANIFEST} (interrupted, still being written, or not an export)"
    )]
    NoManifest {
        /// The directory.
        dir: PathBuf,
    },
    /// The manifest does not parse or says something impossible.
    #[error("{path}: bad manifest: {reason}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The manifest is of another format.
    #[error("{dir}: manifest format is {found:?}, expected {FORMAT:?}")]
    Format {
        /// The directory.
        dir: PathBuf,
        /// What it says.
        found: String,
    },
    /// The export was written with another schema version.
    #[error(
        "{dir}: schema version {found}, this tracehound reads version {SCHEMA_VERSION}: export again with this version"
    )]
    SchemaVersion {
        /// The directory.
        dir: PathBuf,
        /// What it says.
        found: u64,
    },
    /// A file the manifest lists is not there.
    #[error("{dir}: table {table}: listed file {file} is missing")]
    MissingFile {
        /// The directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// The file, relative to the directory.
        file: String,
    },
    /// A file the manifest lists has another size than listed (truncated or replaced).
    #[error("{dir}: table {table}: file {file} has {found} bytes, the manifest says {expected}")]
    FileSize {
        /// The directory.
        dir: PathBuf,
        /// The table.
        table: String,
        /// The file, relative to the directory.
        file: String,
        /// Bytes listed.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// A file's own metadata names another schema version or table.
    #[error("{path}: Parquet metadata {key} is {found:?}, expected {expected:?}")]
    FileMetadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: &'static str,
        /// What the file says (empty if absent).
        found: String,
        /// What the manifest implies.
        expected: String,
    },
    /// The output directory exists and replacing it was not asked for (or it is not an
    /// export, which is never replaced).
    #[error("{dir}: {reason}")]
    Exists {
        /// The directory.
        dir: PathBuf,
        /// Why it is not replaced.
        reason: String,
    },
    /// Data given to the writer does not fit the layout.
    #[error("table {table}: {reason}")]
    Layout {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |e| DatasetError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn pq(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> DatasetError + '_ {
    move |e| DatasetError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The manifest, `_tracehound.json`: what an export holds, file by file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u64,
    /// When the export was written (unix seconds).
    pub created_unix: u64,
    /// Heights per file of height-keyed tables.
    pub partition_blocks: u32,
    /// Every table written, by name (tables without rows are listed with no files).
    pub tables: BTreeMap<String, TableManifest>,
}

/// One table of the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Rows over all its files.
    pub rows: u64,
    /// Its files.
    pub files: Vec<FileEntry>,
}

/// One file of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the export's directory, `/`-separated.
    pub path: String,
    /// The chain partition, if the table is partitioned by chain.
    pub chain: Option<String>,
    /// First height of the file's range (height-keyed tables).
    pub first_height: Option<u32>,
    /// Last height of the file's range, inclusive.
    pub last_height: Option<u32>,
    /// Rows in the file.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// How a table's rows are split into files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// By chain, then by height range (the batch must have a `UInt32` `height` column).
    ChainHeight,
    /// By chain, one `part-all.parquet` per chain.
    Chain,
    /// One `part-0000000000.parquet` for the table (a `chain` column may be in the data).
    Single,
}

/// The file name of the height range starting at `first`.
pub fn range_file_name(first: u32, last: u32) -> String {
    format!("part-{first:010}-{last:010}.parquet")
}

/// The height range (first, last) of `partition_blocks`-sized ranges that holds `height`.
pub fn range_of(height: u32, partition_blocks: u32) -> (u32, u32) {
    let first = height - height % partition_blocks;
    (first, first.saturating_add(partition_blocks - 1))
}

/// Writes an export: tables into a temporary sibling directory, the manifest last, then the
/// rename to the final directory. Dropped before [`DatasetWriter::finish`] (an error, a
/// panic), it removes the temporary directory; killed, it leaves only that directory, which
/// holds no manifest and is not at the final path.
#[derive(Debug)]
pub struct DatasetWriter {
    dir: PathBuf,
    partial: PathBuf,
    partition_blocks: u32,
    replace: bool,
    /// Tables finished so far. Shared through `&self`: the store writes several tables at
    /// once (a tx's inputs and outputs come from one pass).
    tables: std::cell::RefCell<BTreeMap<String, TableManifest>>,
    /// Tables started, so none is written twice.
    started: std::cell::RefCell<std::collections::BTreeSet<String>>,
    finished: bool,
}

impl DatasetWriter {
    /// Starts an export to `dir`, splitting height-keyed tables every `partition_blocks`
    /// heights. An existing `dir` is refused unless `replace`; even then only an export (a
    /// directory holding a manifest) or an empty directory is replaced, and only when the new
    /// export is complete.
    pub fn create(
        dir: &Path,
        partition_blocks: u32,
        replace: bool,
    ) -> Result<DatasetWriter, DatasetError> {
        if partition_blocks == 0 {
            return Err(DatasetError::Layout {
                table: "*".into(),
                reason: "partition_blocks must be at least 1".into(),
            });
        }
        check_replaceable(dir, replace)?;
        let name = dir
            .file_name()
            .ok_or_else(|| DatasetError::Exists {
                dir: dir.to_path_buf(),
                reason: "an export needs a directory name of its own".into(),
            })?
            .to_string_lossy()
            .into_owned();
        let partial = dir.with_file_name(format!("{name}.partial-{}", std::process::id()));
        if partial.exists() {
            // Left by an earlier run of a process that had this same id: never complete.
            std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        Ok(DatasetWriter {
            dir: dir.to_path_buf(),
            partial,
            partition_blocks,
            replace,
            tables: std::cell::RefCell::default(),
            started: std::cell::RefCell::default(),
            finished: false,
        })
    }

    /// The directory the export ends up in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The temporary directory being written.
    pub fn partial_dir(&self) -> &Path {
        &self.partial
    }

    /// Heights per file of height-keyed tables.
    pub fn partition_blocks(&self) -> u32 {
        self.partition_blocks
    }

    /// Starts table `name` with columns `fields` (without `chain` for chain-partitioned
    /// tables), split as `partitioning` says. Rows go in with [`TableSink::write`]; the table
    /// joins the manifest on [`TableSink::finish`]. Several tables may be written at once.
    pub fn table(
        &self,
        name: &str,
        fields: Vec<Field>,
        partitioning: Partitioning,
    ) -> Result<TableSink<'_>, DatasetError> {
        let bad = |reason: String| DatasetError::Layout {
            table: name.to_string(),
            reason,
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(bad("a table name is lower-case letters and _".into()));
        }
        if !self.started.borrow_mut().insert(name.to_string()) {
            return Err(bad("written twice".into()));
        }
        if partitioning != Partitioning::Single && fields.iter().any(|f| f.name() == "chain") {
            return Err(bad(
                "a chain-partitioned table must not store a chain column".into(),
            ));
        }
        let height = fields.iter().position(|f| {
            f.name() == HEIGHT_COLUMN && *f.data_type() == arrow::datatypes::DataType::UInt32
        });
        if partitioning == Partitioning::ChainHeight && height.is_none() {
            return Err(bad(
                "a height-partitioned table needs a UInt32 height column".into(),
            ));
        }
        let root = self.partial.join(name);
        std::fs::create_dir_all(&root).map_err(io(&root))?;
        Ok(TableSink {
            writer: self,
            name: name.to_string(),
            schema: Arc::new(Schema::new(fields)),
            partitioning,
            height,
            open: BTreeMap::new(),
        })
    }

    /// Writes the manifest, then moves the export to its directory (replacing the old export
    /// there if asked to). Returns the manifest.
    pub fn finish(mut self) -> Result<Manifest, DatasetError> {
        let manifest = Manifest {
            format: FORMAT.into(),
            schema_version: u64::from(SCHEMA_VERSION),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            partition_blocks: self.partition_blocks,
            tables: self.tables.take(),
        };
        let path = self.partial.join(MANIFEST);
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| DatasetError::Io {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        std::io::Write::write_all(&mut &file, &text).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        // Checked again: the directory may have appeared while the export ran.
        check_replaceable(&self.dir, self.replace)?;
        if self.dir.exists() {
            let old = self
                .partial
                .with_extension(format!("old-{}", std::process::id()));
            std::fs::rename(&self.dir, &old).map_err(io(&self.dir))?;
            if let Err(e) = std::fs::rename(&self.partial, &self.dir) {
                // Put the old export back: a failed replace leaves what was there.
                let _ = std::fs::rename(&old, &self.dir);
                return Err(io(&self.dir)(e));
            }
            self.finished = true;
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        } else {
            std::fs::rename(&self.partial, &self.dir).map_err(io(&self.dir))?;
            self.finished = true;
        }
        Ok(manifest)
    }
}

impl Drop for DatasetWriter {
    fn drop(&mut self) {
        if !self.finished
            && let Err(e) = std::fs::remove_dir_all(&self.partial)
        {
            tracing::warn!(dir = %self.partial.display(), "removing an unfinished export: {e}");
        }
    }
}

/// Whether `dir` may be written: absent, or (with `replace`) empty or an export.
fn check_replaceable(dir: &Path, replace: bool) -> Result<(), DatasetError> {
    if !dir.exists() {
        return Ok(());
    }
    let exists = |reason: &str| DatasetError::Exists {
        dir: dir.to_path_buf(),
        reason: reason.to_string(),
    };
    if !replace {
        return Err(exists("exists already (use --force to replace it)"));
    }
    if !dir.is_dir() {
        return Err(exists("exists and is not a directory"));
    }
    let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
    if !empty && !dir.join(MANIFEST).is_file() {
        return Err(exists(
            "exists and is not a tracehound export (no manifest): not replacing it",
        ));
    }
    Ok(())
}

/// An open file of a table.
struct OpenFile {
    writer: ArrowWriter<std::fs::File>,
    relative: String,
    path: PathBuf,
    chain: Option<String>,
    range: Option<(u32, u32)>,
    rows: u64,
}

/// One table being written: files opened as rows of their partition arrive, closed on
/// [`TableSink::finish`].
pub struct TableSink<'w> {
    writer: &'w DatasetWriter,
    name: String,
    schema: SchemaRef,
    partitioning: Partitioning,
    height: Option<usize>,
    /// Keyed by (chain, first height of the range).
    open: BTreeMap<(String, u32), OpenFile>,
}

impl std::fmt::Debug for TableSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSink")
            .field("name", &self.name)
            .finish()
    }
}

impl TableSink<'_> {
    /// The table's columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Writes `columns` (in the table's column order) as rows of `chain` (`None` only for
    /// [`Partitioning::Single`] tables). Height-keyed rows may come in any height order.
    pub fn write(
        &mut self,
        chain: Option<&str>,
        columns: Vec<arrow::array::ArrayRef>,
    ) -> Result<(), DatasetError> {
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| {
            DatasetError::Layout {
                table: self.name.clone(),
                reason: e.to_string(),
            }
        })?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let chain = match (self.partitioning, chain) {
            (Partitioning::Single, None) => String::new(),
            (Partitioning::Single, Some(_)) => {
                return Err(self.layout("rows of a single-file table take no chain"));
            }
            (_, Some(c)) if is_chain_name(c) => c.to_string(),
            (_, Some(c)) => {
                return Err(self.layout(&format!("{c:?} is not a chain name for a path")));
            }
            (_, None) => return Err(self.layout("rows of a chain-partitioned table need a chain")),
        };
        let Some(h) = self
            .height
            .filter(|_| self.partitioning == Partitioning::ChainHeight)
        else {
            return self.write_to(&chain, 0, None, &batch);
        };
        let heights = batch
            .column(h)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| self.layout("the height column is not UInt32"))?;
        if heights.null_count() > 0 {
            return Err(self.layout("the height column holds nulls"));
        }
        let per = self.writer.partition_blocks;
        // Runs of rows in one range, each written as a slice: rows mostly come in height order.
        let mut start = 0;
        while start < batch.num_rows() {
            let range = range_of(heights.value(start), per);
            let mut end = start + 1;
            while end < batch.num_rows() && range_of(heights.value(end), per) == range {
                end += 1;
            }
            self.write_to(
                &chain,
                range.0,
                Some(range),
                &batch.slice(start, end - start),
            )?;
            start = end;
        }
        Ok(())
    }

    fn layout(&self, reason: &str) -> DatasetError {
        DatasetError::Layout {
            table: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn write_to(
        &mut self,
        chain: &str,
        first: u32,
        range: Option<(u32, u32)>,
        batch: &RecordBatch,
    ) -> Result<(), DatasetError> {
        let key = (chain.to_string(), first);
        if !self.open.contains_key(&key) {
            let file = self.open_file(chain, range)?;
            self.open.insert(key.clone(), file);
        }
        let Some(f) = self.open.get_mut(&key) else {
            return Err(self.layout("a file opened for a partition went missing"));
        };
        f.writer.write(batch).map_err(pq(&f.path))?;
        f.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn open_file(&self, chain: &str, range: Option<(u32, u32)>) -> Result<OpenFile, DatasetError> {
        let (relative, chain) = match (self.partitioning, range) {
            (Partitioning::Single, _) => (format!("{}/part-0000000000.parquet", self.name), None),
            (Partitioning::Chain, _) | (Partitioning::ChainHeight, None) => (
                format!("{}/chain={chain}/part-all.parquet", self.name),
                Some(chain.to_string()),
            ),
            (Partitioning::ChainHeight, Some((first, last))) => (
                format!(
                    "{}/chain={chain}/{}",
                    self.name,
                    range_file_name(first, last)
                ),
                Some(chain.to_string()),
            ),
        };
        let path = self.writer.partial.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(META_SCHEMA_VERSION.into(), SCHEMA_VERSION.to_string()),
                KeyValue::new(META_TABLE.into(), self.name.clone()),
            ]))
            .build();
        let writer =
            ArrowWriter::try_new(file, self.schema.clone(), Some(props)).map_err(pq(&path))?;
        Ok(OpenFile {
            writer,
            relative,
            path,
            chain,
            range,
            rows: 0,
        })
    }

    /// Closes the table's files and enters them in the manifest; returns its rows.
    pub fn finish(self) -> Result<u64, DatasetError> {
        let mut table = TableManifest::default();
        for (_, f) in self.open {
            f.writer.close().map_err(pq(&f.path))?;
            let bytes = std::fs::metadata(&f.path).map_err(io(&f.path))?.len();
            table.rows += f.rows;
            table.files.push(FileEntry {
                path: f.relative,
                chain: f.chain,
                first_height: f.range.map(|r| r.0),
                last_height: f.range.map(|r| r.1),
                rows: f.rows,
                bytes,
            });
        }
        let rows = table.rows;
        self.writer.tables.borrow_mut().insert(self.name, table);
        Ok(rows)
    }
}

/// Whether `name` can stand in a `chain=<name>` path segment.
fn is_chain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Manifest {
    /// Parses the manifest `text` of the export at `dir` and checks what it says of itself:
    /// format and schema version (first: a future version may change everything else), a
    /// partition size, file paths inside their table's directory, row counts that add up.
    /// The files themselves are the reader's to check ([`check_file_size`],
    /// [`check_metadata`]).
    pub fn checked(dir: &Path, text: &[u8]) -> Result<Manifest, DatasetError> {
        let path = dir.join(MANIFEST);
        let bad = |reason: String| DatasetError::BadManifest {
            path: path.clone(),
            reason,
        };
        let head: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
        let format = head.get("format").and_then(|v| v.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(DatasetError::Format {
                dir: dir.to_path_buf(),
                found: format.to_string(),
            });
        }
        let version = head
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        match version {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(DatasetError::SchemaVersion {
                    dir: dir.to_path_buf(),
                    found: v,
                });
            }
            None => return Err(bad("schema_version is missing or not a number".into())),
        }
        let manifest: Manifest = serde_json::from_value(head).map_err(|e| bad(e.to_string()))?;
        if manifest.partition_blocks == 0 {
            return Err(bad("partition_blocks is 0".into()));
        }
        for (table, t) in &manifest.tables {
            let mut rows = 0u64;
            for f in &t.files {
                if !safe_relative(&f.path) || !f.path.starts_with(&format!("{table}/")) {
                    return Err(bad(format!(
                        "table {table}: file path {:?} is not inside the table's directory",
                        f.path
                    )));
                }
                rows += f.rows;
            }
            if rows != t.rows {
                return Err(bad(format!(
                    "table {table}: {} rows listed, its files hold {rows}",
                    t.rows
                )));
            }
        }
        Ok(manifest)
    }
}

/// Checks that file `f` of `table` in the export at `dir` was `found` (its size; `None`:
/// missing) with the size the manifest lists.
pub fn check_file_size(
    dir: &Path,
    table: &str,
    f: &FileEntry,
    found: Option<u64>,
) -> Result<(), DatasetError> {
    match found {
        None => Err(DatasetError::MissingFile {
            dir: dir.to_path_buf(),
            table: table.to_string(),
            file: f.path.clone(),
        }),
        Some(found) if found != f.bytes => Err(DatasetError::FileSize {
            dir: dir.to_path_buf(),
            table: table.to_string(),
            file: f.path.clone(),
            expected: f.bytes,
            found,
        }),
        Some(_) => Ok(()),
    }
}

/// A complete, checked export: its manifest was read and every file it lists is there with
/// its size and metadata.
#[derive(Debug, Clone)]
pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
}

impl Dataset {
    /// Opens the export in `dir`, refusing one without a manifest, of another format or
    /// schema version, or with a listed file missing, of another size or whose own metadata
    /// names another version or table.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DatasetError::NoManifest {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let manifest = Manifest::checked(dir, &text)?;
        for (table, t) in &manifest.tables {
            for f in &t.files {
                let file = dir.join(&f.path);
                let found = match std::fs::metadata(&file) {
                    Ok(m) => Some(m.len()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(io(&file)(e)),
                };
                check_file_size(dir, table, f, found)?;
                check_file_metadata(&file, table)?;
            }
        }
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// A dataset at `dir` (a directory or an object store URL) whose `manifest` was read with
    /// [`Manifest::checked`] and whose files the caller checked itself, with
    /// [`check_file_size`] and [`check_metadata`] (a reader of another storage).
    pub fn checked_elsewhere(dir: PathBuf, manifest: Manifest) -> Dataset {
        Dataset { dir, manifest }
    }

    /// The export's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The tables it holds, by name.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.manifest.tables.keys().map(String::as_str)
    }

    /// Table `name`'s entry, if the export has it.
    pub fn table(&self, name: &str) -> Option<&TableManifest> {
        self.manifest.tables.get(name)
    }

    /// The directory of table `name` (what a reader registers; it may not exist when the
    /// table has no rows).
    pub fn table_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The files of table `name`, as full paths (none if the table is absent or empty).
    pub fn files(&self, name: &str) -> Vec<PathBuf> {
        self.table(name)
            .map(|t| t.files.iter().map(|f| self.dir.join(&f.path)).collect())
            .unwrap_or_default()
    }
}

/// Whether `p` is a relative path of plain segments (no `..`, no root, no backslash).
fn safe_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Checks the key-value metadata of a Parquet file against the table it is listed under.
fn check_file_metadata(path: &Path, table: &str) -> Result<(), DatasetError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let reader = parquet::file::reader::SerializedFileReader::new(file).map_err(pq(path))?;
    let kv = parquet::file::reader::FileReader::metadata(&reader)
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    check_metadata(path, table, &kv)
}

/// Checks the key-value metadata `kv` of file `path` (as its footer gives it) against the
/// table it is listed under: this schema version, this table.
pub fn check_metadata(path: &Path, table: &str, kv: &[KeyValue]) -> Result<(), DatasetError> {
    let get = |key: &str| {
        kv.iter()
            .find(|k| k.key == key)
            .and_then(|k| k.value.clone())
            .unwrap_or_default()
    };
    for (key, expected) in [
        (META_SCHEMA_VERSION, SCHEMA_VERSION.to_string()),
        (META_TABLE, table.to_string()),
    ] {
        let found = get(key);
        if found != expected {
            return Err(DatasetError::FileMetadata {
                path: path.to_path_buf(),
                key,
                found,
                expected,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_fixed_blocks_of_heights() {
        assert_eq!(range_of(0, 100_000), (0, 99_999));
        assert_eq!(range_of(99_999, 100_000), (0, 99_999));
        assert_eq!(range_of(100_000, 100_000), (100_000, 199_999));
        assert_eq!(range_of(u32::MAX, 100_000).1, u32::MAX);
        assert_eq!(
            range_file_name(100_000, 199_999),
            "part-0000100000-0000199999.parquet"
        );
    }

    #[test]
    fn manifest_paths_must_stay_inside_the_export() {
        assert!(safe_relative("blocks/chain=bitcoin/part-all.parquet"));
        for bad in ["", "/etc/passwd", "blocks/../../x", "a//b", "a\\b", "./a"] {
            assert!(!safe_relative(bad), "{bad}");
        }
    }
}
