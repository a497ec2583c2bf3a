//! The Parquet dataset export on real mainnet blocks (NBitcoin's first 600): every table's
//! rows and sums equal the store's own views, height-keyed tables split at the right heights,
//! the manifest lists every file, and a reader refuses an incomplete, foreign or damaged
//! export. An interrupted export never leaves a directory that looks complete.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::array::{Array, BooleanArray, Decimal128Array, StringArray, UInt32Array, UInt64Array};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tracehound_core::{Address, Chain};
use tracehound_store::dataset::{
    Dataset, DatasetError, DatasetWriter, FORMAT, MANIFEST, SCHEMA_VERSION,
};
use tracehound_store::{ExportOptions, Store, StoreError, StoreOptions};

const CHAIN: Chain = Chain::BitcoinMainnet;
/// Small enough that the 600 blocks make three files: 0–249, 250–499, 500–749.
const PARTITION: u32 = 250;

fn open(dir: &Path) -> Store {
    Store::open(
        dir,
        &StoreOptions {
            cache_bytes: 16 << 20,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// A store of mainnet blocks 0–599.
fn mainnet_store(dir: &Path) -> Store {
    let blocks = tracehound_btc::fixtures::best_chain_blocks(
        &tracehound_btc::fixtures::shared_data("btc/blk"),
        CHAIN,
    );
    let store = open(dir);
    store.apply_utxo_blocks(&blocks).unwrap();
    store
}

fn options() -> ExportOptions {
    ExportOptions {
        partition_blocks: PARTITION,
        replace: false,
    }
}

/// Every file of `table` with its rows, read back with the Parquet reader.
fn read_table(
    ds: &Dataset,
    table: &str,
) -> Vec<(tracehound_store::dataset::FileEntry, Vec<RecordBatch>)> {
    ds.table(table)
        .unwrap_or_else(|| panic!("no table {table}"))
        .files
        .iter()
        .map(|f| {
            let file = std::fs::File::open(ds.dir().join(&f.path)).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let kv: HashMap<String, String> = reader
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .unwrap()
                .iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect();
            assert_eq!(kv["tracehound.schema_version"], "1", "{}", f.path);
            assert_eq!(kv["tracehound.table"], table, "{}", f.path);
            let batches = reader.build().unwrap().map(Result::unwrap).collect();
            (f.clone(), batches)
        })
        .collect()
}

fn all_rows(
    files: &[(tracehound_store::dataset::FileEntry, Vec<RecordBatch>)],
) -> Vec<RecordBatch> {
    files.iter().flat_map(|(_, b)| b.iter().cloned()).collect()
}

fn columns(batches: &[RecordBatch]) -> Vec<String> {
    batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn u64s(batches: &[RecordBatch], column: &str) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap_or_else(|| panic!("no column {column}"))
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap_or_else(|| panic!("{column} is not UInt64"))
                .clone();
            (0..a.len()).map(move |i| a.value(i))
        })
        .collect()
}

fn u32s(batches: &[RecordBatch], column: &str) -> Vec<u32> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<UInt32Array>()
                .unwrap()
                .clone();
            (0..a.len()).map(move |i| a.value(i))
        })
        .collect()
}

fn decimals(batches: &[RecordBatch], column: &str) -> Vec<i128> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .clone();
            assert_eq!((a.precision(), a.scale()), (38, 0));
            (0..a.len()).map(move |i| a.value(i))
        })
        .collect()
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..a.len()).map(move |i| a.value(i).to_string())
        })
        .collect()
}

/// Totals of the store's own tx views, over every tx of blocks 0–599.
struct Views {
    txs: u64,
    inputs: u64,
    outputs: u64,
    input_value: u64,
    output_value: u64,
    fees: u64,
    coinbases: u64,
}

fn views(store: &Store) -> Views {
    let mut v = Views {
        txs: 0,
        inputs: 0,
        outputs: 0,
        input_value: 0,
        output_value: 0,
        fees: 0,
        coinbases: 0,
    };
    for height in 0..600 {
        let block = store.block_at(CHAIN, height).unwrap().unwrap();
        for index in 0..block.tx_count {
            let t = store.tx_at(CHAIN, height, index).unwrap();
            v.txs += 1;
            v.inputs += t.inputs.len() as u64;
            v.outputs += t.outputs.len() as u64;
            v.input_value += t.inputs.iter().map(|i| i.value.units() as u64).sum::<u64>();
            v.output_value += t
                .outputs
                .iter()
                .map(|o| o.value.units() as u64)
                .sum::<u64>();
            v.fees += t.fee.units() as u64;
            v.coinbases += u64::from(t.coinbase);
        }
    }
    v
}

/// Every table's rows and sums equal the store's own views; the columns are the documented
/// ones with no `chain` column (it is the partition); the manifest lists every file.
#[test]
fn export_matches_the_store_table_by_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = mainnet_store(&dir.path().join("store"));
    let out = dir.path().join("export");
    let seen = std::cell::RefCell::new(Vec::new());
    let summary = store
        .export_parquet_with_progress(&out, &options(), &|t, n| {
            seen.borrow_mut().push((t.to_string(), n))
        })
        .unwrap();
    assert!(!seen.borrow().is_empty(), "progress was reported");
    let ds = Dataset::open(&out).unwrap();
    let status = &store.status().unwrap()[0];
    let rows: HashMap<_, _> = summary.tables.iter().cloned().collect();
    let v = views(&store);
    assert_eq!(rows["blocks"], 600);
    assert_eq!((rows["txs"], v.txs), (status.txs, 616));
    assert_eq!(rows["inputs"], v.inputs);
    assert_eq!(rows["inputs"], status.inputs);
    assert_eq!(rows["outputs"], v.outputs);
    assert_eq!(rows["outputs"], status.outputs);
    assert_eq!(rows["addresses"], status.addresses);
    assert_eq!(
        (rows["transfers"], rows["links"]),
        (0, 0),
        "no account chain, no links"
    );
    for (table, n) in &rows {
        assert_eq!(ds.table(table).unwrap().rows, *n, "{table}");
    }

    let blocks = all_rows(&read_table(&ds, "blocks"));
    assert_eq!(
        columns(&blocks),
        ["height", "hash", "parent", "time", "tx_count"]
    );
    assert_eq!(
        u32s(&blocks, "tx_count")
            .iter()
            .map(|&n| u64::from(n))
            .sum::<u64>(),
        v.txs
    );
    let genesis = strings(&blocks, "hash");
    assert_eq!(
        genesis[0],
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    );

    let txs = all_rows(&read_table(&ds, "txs"));
    assert_eq!(
        columns(&txs),
        [
            "height",
            "tx_index",
            "txid",
            "coinbase",
            "hogex",
            "size",
            "vsize",
            "input_count",
            "output_count",
            "input_value",
            "output_value",
            "fee"
        ]
    );
    assert_eq!(
        u64s(&txs, "output_value").iter().sum::<u64>(),
        v.output_value
    );
    assert_eq!(u64s(&txs, "input_value").iter().sum::<u64>(), v.input_value);
    assert_eq!(u64s(&txs, "fee").iter().sum::<u64>(), v.fees);
    let coinbases: u64 = txs
        .iter()
        .map(|b| {
            let c = b
                .column_by_name("coinbase")
                .unwrap()
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap();
            c.true_count() as u64
        })
        .sum();
    assert_eq!(coinbases, v.coinbases);

    let inputs = all_rows(&read_table(&ds, "inputs"));
    assert_eq!(
        columns(&inputs),
        [
            "height",
            "tx_index",
            "input_index",
            "txid",
            "prev_txid",
            "prev_vout",
            "address_id",
            "address",
            "value",
            "prev_height",
            "prev_coinbase"
        ]
    );
    assert_eq!(u64s(&inputs, "value").iter().sum::<u64>(), v.input_value);
    let outputs = all_rows(&read_table(&ds, "outputs"));
    assert_eq!(
        columns(&outputs),
        [
            "height",
            "tx_index",
            "vout",
            "txid",
            "address_id",
            "address",
            "kind",
            "value",
            "data",
            "spent_height",
            "spent_tx_index",
            "spent_input_index"
        ]
    );
    assert_eq!(u64s(&outputs, "value").iter().sum::<u64>(), v.output_value);
    assert_eq!(
        v.output_value - v.input_value,
        600 * 5_000_000_000,
        "no fees then: outputs − inputs = the subsidies"
    );

    // Addresses: every row equals the store's address view of that address.
    let addresses = all_rows(&read_table(&ds, "addresses"));
    assert_eq!(
        columns(&addresses),
        [
            "address_id",
            "address",
            "received",
            "sent",
            "balance",
            "tx_count"
        ]
    );
    let (texts, received, sent, balance, counts) = (
        strings(&addresses, "address"),
        decimals(&addresses, "received"),
        decimals(&addresses, "sent"),
        decimals(&addresses, "balance"),
        u64s(&addresses, "tx_count"),
    );
    for (i, text) in texts.iter().enumerate() {
        let view = store
            .address(&Address::parse(CHAIN, text).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (received[i], sent[i], balance[i], counts[i]),
            (
                view.received.units() as i128,
                view.sent.units() as i128,
                view.balance.units() as i128,
                view.tx_count
            ),
            "{text}"
        );
    }
    assert_eq!(
        balance.iter().sum::<i128>(),
        i128::from(v.output_value - v.input_value),
        "every unspent satoshi is some address's balance"
    );

    // Address histories add up to the addresses' totals.
    let history = all_rows(&read_table(&ds, "address_txs"));
    assert_eq!(
        columns(&history),
        ["address_id", "height", "tx_index", "received", "sent"]
    );
    let mut by_address: BTreeMap<u64, (i128, i128, u64)> = BTreeMap::new();
    for ((id, r), s) in u64s(&history, "address_id")
        .into_iter()
        .zip(decimals(&history, "received"))
        .zip(decimals(&history, "sent"))
    {
        let e = by_address.entry(id).or_default();
        e.0 += r;
        e.1 += s;
        e.2 += 1;
    }
    for (i, id) in u64s(&addresses, "address_id").into_iter().enumerate() {
        assert_eq!(
            by_address.get(&id).copied().unwrap_or_default(),
            (received[i], sent[i], counts[i]),
            "address {id}"
        );
    }
}

/// Height-keyed tables are split into fixed ranges of `partition_blocks` heights, each file
/// named by its range and holding only heights in it; the others have one file per chain.
#[test]
fn partitions_split_at_the_range_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = mainnet_store(&dir.path().join("store"));
    let out = dir.path().join("export");
    store
        .export_parquet_with_progress(&out, &options(), &|_, _| {})
        .unwrap();
    let ds = Dataset::open(&out).unwrap();
    let m = ds.manifest();
    assert_eq!(
        (m.format.as_str(), m.schema_version, m.partition_blocks),
        (FORMAT, u64::from(SCHEMA_VERSION), PARTITION)
    );
    assert!(m.created_unix > 1_700_000_000);
    assert_eq!(
        ds.tables().collect::<Vec<_>>(),
        [
            "address_txs",
            "addresses",
            "blocks",
            "inputs",
            "links",
            "outputs",
            "transfers",
            "txs"
        ]
    );
    let files = read_table(&ds, "blocks");
    let listed: Vec<_> = files
        .iter()
        .map(|(f, _)| (f.path.as_str(), f.first_height, f.last_height, f.rows))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "blocks/chain=bitcoin/part-0000000000-0000000249.parquet",
                Some(0),
                Some(249),
                250
            ),
            (
                "blocks/chain=bitcoin/part-0000000250-0000000499.parquet",
                Some(250),
                Some(499),
                250
            ),
            (
                "blocks/chain=bitcoin/part-0000000500-0000000749.parquet",
                Some(500),
                Some(749),
                100
            ),
        ]
    );
    for table in ["blocks", "txs", "inputs", "outputs", "address_txs"] {
        let files = read_table(&ds, table);
        assert!(files.len() >= 2, "{table}: {} files", files.len());
        for (f, batches) in &files {
            assert_eq!(f.chain.as_deref(), Some("bitcoin"));
            let (first, last) = (f.first_height.unwrap(), f.last_height.unwrap());
            assert_eq!(last - first + 1, PARTITION, "{}", f.path);
            let heights = u32s(batches, "height");
            assert_eq!(heights.len() as u64, f.rows, "{}", f.path);
            assert!(
                heights.iter().all(|h| (first..=last).contains(h)),
                "{}: a height outside {first}..={last}",
                f.path
            );
            assert!(
                f.path
                    .ends_with(&format!("part-{first:010}-{last:010}.parquet"))
            );
            assert_eq!(std::fs::metadata(out.join(&f.path)).unwrap().len(), f.bytes);
        }
    }
    let addresses = &ds.table("addresses").unwrap().files;
    assert_eq!(addresses.len(), 1);
    assert_eq!(
        addresses[0].path,
        "addresses/chain=bitcoin/part-all.parquet"
    );
    assert_eq!(
        (addresses[0].first_height, addresses[0].last_height),
        (None, None)
    );
    assert!(
        ds.table("transfers").unwrap().files.is_empty(),
        "no rows, no file"
    );
    assert!(
        !out.join("transfers").exists()
            || std::fs::read_dir(out.join("transfers"))
                .unwrap()
                .next()
                .is_none()
    );
    // The manifest on disk is the one the spec describes.
    let text: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(text["format"], "tracehound-parquet");
    assert_eq!(text["schema_version"], 1);
    assert_eq!(text["partition_blocks"], 250);
    assert_eq!(text["tables"]["blocks"]["rows"], 600);
    assert_eq!(text["tables"]["addresses"]["files"][0]["chain"], "bitcoin");
    assert!(text["tables"]["addresses"]["files"][0]["first_height"].is_null());
}

fn exported(dir: &Path) -> PathBuf {
    let store = mainnet_store(&dir.join("store"));
    let out = dir.join("export");
    store
        .export_parquet_with_progress(&out, &options(), &|_, _| {})
        .unwrap();
    out
}

fn rewrite_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
}

/// A reader refuses, naming the directory or file and the problem: no manifest, another
/// format, another schema version, a listed file deleted or truncated.
#[test]
fn damaged_or_foreign_exports_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let out = exported(work.path());
    let copy = |name: &str| {
        let to = work.path().join(name);
        copy_dir(&out, &to);
        to
    };
    let shown = |e: DatasetError| e.to_string();

    let d = copy("no-manifest");
    std::fs::remove_file(d.join(MANIFEST)).unwrap();
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DatasetError::NoManifest { .. }), "{e}");
    assert!(shown(e).contains("no-manifest"));

    let d = copy("version-2");
    rewrite_manifest(&d, |m| m["schema_version"] = 2.into());
    let e = Dataset::open(&d).unwrap_err();
    assert!(
        matches!(e, DatasetError::SchemaVersion { found: 2, .. }),
        "{e}"
    );
    assert!(shown(e).contains("schema version 2"));

    let d = copy("other-format");
    rewrite_manifest(&d, |m| m["format"] = "delta".into());
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DatasetError::Format { .. }), "{e}");

    let d = copy("deleted-part");
    let victim = "txs/chain=bitcoin/part-0000000250-0000000499.parquet";
    std::fs::remove_file(d.join(victim)).unwrap();
    let e = Dataset::open(&d).unwrap_err();
    match &e {
        DatasetError::MissingFile { table, file, .. } => {
            assert_eq!((table.as_str(), file.as_str()), ("txs", victim));
        }
        other => panic!("{other}"),
    }
    assert!(shown(e).contains(victim));

    let d = copy("truncated-part");
    let victim = d.join("outputs/chain=bitcoin/part-0000000000-0000000249.parquet");
    let len = std::fs::metadata(&victim).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap();
    f.set_len(len / 2).unwrap();
    let e = Dataset::open(&d).unwrap_err();
    assert!(
        matches!(e, DatasetError::FileSize { expected, found, .. } if expected == len && found == len / 2),
        "{e}"
    );

    let d = copy("escaping-path");
    rewrite_manifest(&d, |m| {
        m["tables"]["txs"]["files"][0]["path"] = "../export/txs/x.parquet".into();
    });
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DatasetError::BadManifest { .. }), "{e}");

    let d = copy("file-of-another-table");
    let blocks = d.join("blocks/chain=bitcoin/part-0000000000-0000000249.parquet");
    let txs = d.join("txs/chain=bitcoin/part-0000000000-0000000249.parquet");
    std::fs::copy(&blocks, &txs).unwrap();
    rewrite_manifest(&d, |m| {
        let bytes = std::fs::metadata(&txs).unwrap().len();
        m["tables"]["txs"]["files"][0]["bytes"] = bytes.into();
    });
    let e = Dataset::open(&d).unwrap_err();
    assert!(
        matches!(&e, DatasetError::FileMetadata { key: "tracehound.table", found, .. } if found == "blocks"),
        "{e}"
    );

    // The untouched export still opens.
    Dataset::open(&out).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// An export that stops before its end (an error, a panic, a killed process's leftovers)
/// leaves no directory that looks complete, and a replacing export keeps the old one until
/// the new one is whole.
#[test]
fn an_interrupted_export_never_looks_complete() {
    let work = tempfile::tempdir().unwrap();
    let store = mainnet_store(&work.path().join("store"));
    let out = work.path().join("export");

    // Dropped before finishing (what an error on the way does).
    {
        let writer = DatasetWriter::create(&out, PARTITION, false).unwrap();
        store.export_tables(&writer, &|_, _| {}).unwrap();
        assert!(writer.partial_dir().join("blocks").is_dir());
        assert!(!out.exists(), "nothing at the final path while writing");
        assert!(!writer.partial_dir().join(MANIFEST).exists());
    }
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        1,
        "the temporary directory is gone, only the store is left"
    );

    // A panic in the middle (from the progress callback, in the txs table).
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.export_parquet_with_progress(&out, &options(), &|table, _| {
            assert_ne!(table, "txs", "injected failure");
        })
    }));
    assert!(panicked.is_err());
    assert!(!out.exists());
    assert!(matches!(
        Dataset::open(&out),
        Err(DatasetError::NoManifest { .. })
    ));

    // Leftovers of a killed export (another process id): ignored, and never complete.
    let leftover = work.path().join("export.partial-4000000");
    std::fs::create_dir_all(leftover.join("blocks/chain=bitcoin")).unwrap();
    std::fs::write(
        leftover.join("blocks/chain=bitcoin/part-all.parquet"),
        b"half",
    )
    .unwrap();
    assert!(matches!(
        Dataset::open(&leftover),
        Err(DatasetError::NoManifest { .. })
    ));
    store
        .export_parquet_with_progress(&out, &options(), &|_, _| {})
        .unwrap();
    Dataset::open(&out).unwrap();
    assert!(
        leftover.exists(),
        "another process's directory is not ours to remove"
    );

    // An existing export is refused without replace.
    let e = store
        .export_parquet_with_progress(&out, &options(), &|_, _| {})
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Dataset(DatasetError::Exists { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("--force"), "{e}");

    // A replacing export that fails leaves the old export whole.
    let before = std::fs::read(out.join(MANIFEST)).unwrap();
    let replace = ExportOptions {
        partition_blocks: 100,
        replace: true,
    };
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.export_parquet_with_progress(&out, &replace, &|table, _| {
            assert_ne!(table, "addresses", "injected failure");
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(std::fs::read(out.join(MANIFEST)).unwrap(), before);
    Dataset::open(&out).unwrap();

    // Replaced once complete.
    store
        .export_parquet_with_progress(&out, &replace, &|_, _| {})
        .unwrap();
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.manifest().partition_blocks, 100);
    assert_eq!(ds.table("blocks").unwrap().files.len(), 6);

    // A directory that is not an export is never replaced.
    let mine = work.path().join("my-files");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), b"keep me").unwrap();
    let e = store
        .export_parquet_with_progress(&mine, &replace, &|_, _| {})
        .unwrap_err();
    assert!(e.to_string().contains("not a tracehound export"), "{e}");
    assert_eq!(std::fs::read(mine.join("notes.txt")).unwrap(), b"keep me");
}
