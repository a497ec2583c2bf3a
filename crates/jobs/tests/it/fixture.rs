//! Test data: stores built from the simulator and from real mainnet blocks, and a
//! test-only builder of the v1 dataset layout from a store's flat export
//! (`Store::export_parquet`), regrouped by chain into height-range partitions without the
//! `chain` column, with the manifest written last.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use tracehound_core::Chain;
use tracehound_jobs::dataset::{FileEntry, Manifest, TableEntry};
use tracehound_sim::{FilesConfig, GroundTruth, write_to_files};
use tracehound_store::{Store, StoreOptions};

/// Tables keyed by height (split into ranges); the others get one `part-all` file per chain.
const BY_HEIGHT: [&str; 6] = [
    "blocks",
    "txs",
    "inputs",
    "outputs",
    "address_txs",
    "transfers",
];
const WHOLE: [&str; 1] = ["addresses"];

/// A store with its directory.
pub(crate) struct Stored {
    /// Kept so the store's directory lives as long as the store.
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: Store,
}

/// The simulator's UTXO heist (litecoin regtest) in a store, with its truth.
pub(crate) fn sim_store(config: &FilesConfig) -> (Stored, GroundTruth) {
    let dir = tempfile::tempdir().unwrap();
    let (_, truth) = write_to_files(dir.path(), config).unwrap();
    let blocks = tracehound_btc::fixtures::best_chain_blocks(
        &dir.path().join("blocks"),
        Chain::LitecoinRegtest,
    );
    let store = Store::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
    store.apply_utxo_blocks(&blocks).unwrap();
    (Stored { _dir: dir, store }, truth)
}

/// The first 600 blocks of Bitcoin mainnet (`btc/blk`, 2009) in a store.
pub(crate) fn mainnet_store() -> Stored {
    let dir = tempfile::tempdir().unwrap();
    let blocks = tracehound_btc::fixtures::best_chain_blocks(
        &tracehound_btc::fixtures::shared_data("btc/blk"),
        Chain::BitcoinMainnet,
    );
    assert_eq!(blocks.len(), 600);
    let store = Store::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
    store.apply_utxo_blocks(&blocks).unwrap();
    Stored { _dir: dir, store }
}

/// Writes `store` as a v1 dataset in `dir`, `partition_blocks` heights per file.
pub(crate) async fn export_v1(store: &Store, dir: &Path, partition_blocks: u64) {
    let flat = dir.with_extension("flat");
    store.export_parquet(&flat).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    // Plain strings, as the export writes them (not the view types DataFusion reads by default).
    let config = SessionConfig::new().set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let ctx = SessionContext::new_with_config(config);
    let mut manifest = Manifest {
        format: "tracehound-parquet".into(),
        schema_version: 1,
        created_unix: 1_700_000_000,
        partition_blocks,
        tables: Default::default(),
    };
    for table in BY_HEIGHT.iter().chain(WHOLE.iter()) {
        let flat_file = flat.join(format!("{table}.parquet"));
        ctx.register_parquet(
            *table,
            flat_file.to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let keyed = BY_HEIGHT.contains(table);
        let groups = if keyed {
            format!(
                "SELECT DISTINCT chain, CAST(height AS BIGINT) / CAST({partition_blocks} AS BIGINT) AS part \
                 FROM {table} ORDER BY chain, part"
            )
        } else {
            format!(
                "SELECT DISTINCT chain, CAST(0 AS BIGINT UNSIGNED) AS part FROM {table} ORDER BY chain"
            )
        };
        let groups = ctx.sql(&groups).await.unwrap().collect().await.unwrap();
        let mut entry = TableEntry {
            rows: 0,
            files: Vec::new(),
        };
        for g in &groups {
            let chains = strings(g, "chain");
            let parts = u64s(g, "part");
            for (chain, part) in chains.iter().zip(parts) {
                let (name, first, last, filter) = if keyed {
                    let first = part * partition_blocks;
                    let last = first + partition_blocks - 1;
                    (
                        format!("part-{first:010}-{last:010}.parquet"),
                        Some(first),
                        Some(last),
                        format!("AND height BETWEEN {first} AND {last}"),
                    )
                } else {
                    ("part-all.parquet".to_string(), None, None, String::new())
                };
                let rel = format!("{table}/chain={chain}/{name}");
                let batches = ctx
                    .sql(&format!(
                        "SELECT * EXCLUDE (chain) FROM {table} WHERE chain = '{chain}' {filter}"
                    ))
                    .await
                    .unwrap()
                    .collect()
                    .await
                    .unwrap();
                let rows = write_file(&dir.join(&rel), table, &batches);
                let bytes = std::fs::metadata(dir.join(&rel)).unwrap().len();
                entry.rows += rows;
                entry.files.push(FileEntry {
                    path: rel,
                    chain: Some(chain.clone()),
                    first_height: first,
                    last_height: last,
                    rows,
                    bytes,
                });
            }
        }
        manifest.tables.insert(table.to_string(), entry);
    }
    std::fs::remove_dir_all(&flat).unwrap();
    std::fs::write(
        dir.join("_tracehound.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

fn write_file(path: &Path, table: &str, batches: &[RecordBatch]) -> u64 {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let schema = batches.first().unwrap().schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![
            KeyValue::new("tracehound.schema_version".into(), "1".to_string()),
            KeyValue::new("tracehound.table".into(), table.to_string()),
        ]))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    let mut rows = 0;
    for b in batches {
        rows += b.num_rows() as u64;
        w.write(b).unwrap();
    }
    w.close().unwrap();
    rows
}

pub(crate) fn strings(b: &RecordBatch, name: &str) -> Vec<String> {
    use datafusion::arrow::array::AsArray;
    let c = datafusion::arrow::compute::cast(
        b.column_by_name(name).unwrap(),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    c.as_string::<i32>()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect()
}

pub(crate) fn u64s(b: &RecordBatch, name: &str) -> Vec<u64> {
    use datafusion::arrow::array::AsArray;
    let c = datafusion::arrow::compute::cast(
        b.column_by_name(name).unwrap(),
        &datafusion::arrow::datatypes::DataType::UInt64,
    )
    .unwrap();
    c.as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
        .iter()
        .map(|v| v.unwrap())
        .collect()
}

/// A fresh session and a dataset of `store` in `dir`, registered.
pub(crate) async fn session(
    store: &Store,
    dir: &Path,
) -> (SessionContext, tracehound_jobs::Dataset) {
    export_v1(store, dir, 100).await;
    let ctx = SessionContext::new();
    let dataset = tracehound_jobs::register(&ctx, dir).await.unwrap();
    (ctx, dataset)
}

/// A temp dir's child path.
pub(crate) fn child(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
