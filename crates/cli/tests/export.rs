//! `tracehound export parquet` of a whole data dir: the cross-chain heist the demo replays
//! from real nodes' recorded answers (anvil and `litecoind -regtest`: blocks, txs, transfers,
//! link facts), with its labels, clusterings, saved incident and kept trace result. Every
//! table's rows and per-chain sums, read back from the files, equal the store's and the data
//! dir's own views; with `--features test-pyspark`, Apache Spark reads the same export and
//! must find the same numbers.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow::array::{Array, Decimal128Array, StringArray, UInt32Array, UInt64Array};
use common::{ok, tracehound};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use tracehound_core::ChainFamily;
use tracehound_store::dataset::{Dataset, Partitioning};
use tracehound_store::{Store, StoreOptions};

/// The demo's cross-chain data dir, made once per test binary.
fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export-test");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let scenario = root.join("scenario");
        ok(tracehound(
            &root.join("store"),
            &[
                "--json",
                "demo",
                "--out",
                scenario.to_str().unwrap(),
                "--blocks",
                "300",
                "--txs-per-block",
                "20",
                "--users",
                "300",
            ],
        ));
        scenario.join("cross-chain").join("store")
    })
}

/// Held by each test: a store opens in one process at a time, and the tests both export the
/// data dir (the binary opens it) and read it themselves.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Exports `data_dir()` to a fresh directory with small height partitions.
fn export(name: &str, partition_blocks: u32) -> (PathBuf, Value) {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("export-test")
        .join(name);
    let _ = std::fs::remove_dir_all(&out);
    let report = ok(tracehound(
        data_dir(),
        &[
            "--json",
            "export",
            "parquet",
            out.to_str().unwrap(),
            "--partition-blocks",
            &partition_blocks.to_string(),
        ],
    ));
    (out, serde_json::from_slice(&report.stdout).unwrap())
}

/// Per chain: rows, and the sum of the table's main amount column (none if it has none, or
/// if every value is null), as a decimal string.
type Figures = BTreeMap<String, (u64, Option<String>)>;

/// The main amount column of each table, as `scripts/read-parquet-spark.py` sums it.
const AMOUNTS: [(&str, Option<&str>); 13] = [
    ("blocks", Some("tx_count")),
    ("txs", Some("output_value")),
    ("inputs", Some("value")),
    ("outputs", Some("value")),
    ("addresses", Some("balance")),
    ("address_txs", Some("received")),
    ("transfers", Some("amount")),
    ("links", Some("in_amount")),
    ("labels", None),
    ("entities", None),
    ("incidents", Some("amount")),
    ("trace_hops", Some("tainted")),
    ("trace_endpoints", Some("amount")),
];

fn add(figures: &mut Figures, chain: &str, rows: u64, amount: Option<u128>) {
    let e = figures.entry(chain.to_string()).or_insert((0, None));
    e.0 += rows;
    if let Some(a) = amount {
        let before: u128 = e.1.as_deref().map_or(0, |s| s.parse().unwrap());
        e.1 = Some((before + a).to_string());
    }
}

/// What the store and the data dir say each table must hold, from their own views (not from
/// the export).
fn expected(data: &Path) -> BTreeMap<String, Figures> {
    let store = Store::open(data, &StoreOptions::default()).unwrap();
    let mut t: BTreeMap<String, Figures> = BTreeMap::new();
    let [
        mut blocks,
        mut txs,
        mut inputs,
        mut outputs,
        mut addresses,
        mut address_txs,
        mut transfers,
        mut links,
    ] = std::array::from_fn(|_| Figures::new());
    for chain in store.chains().unwrap() {
        let name = chain.name();
        let tip = store.tip(chain).unwrap().unwrap().height;
        for height in 0..=tip {
            let Some(b) = store.block_at(chain, height).unwrap() else {
                continue;
            };
            add(&mut blocks, &name, 1, Some(u128::from(b.tx_count)));
            for f in store.link_facts(chain, height).unwrap() {
                add(&mut links, &name, 1, f.input().map(|l| l.amount));
            }
            if chain.family() == ChainFamily::Utxo {
                for index in 0..b.tx_count {
                    let tx = store.tx_at(chain, height, index).unwrap();
                    add(&mut txs, &name, 1, Some(tx.output_value.units()));
                    for i in &tx.inputs {
                        add(&mut inputs, &name, 1, Some(i.value.units()));
                    }
                    for o in &tx.outputs {
                        add(&mut outputs, &name, 1, Some(o.value.units()));
                    }
                }
            }
        }
        match chain.family() {
            ChainFamily::Utxo => {
                for a in store.addresses(chain).unwrap() {
                    add(&mut addresses, &name, 1, Some(a.balance.units()));
                    add(
                        &mut address_txs,
                        &name,
                        a.tx_count,
                        Some(a.received.units()),
                    );
                }
            }
            ChainFamily::Account => {
                // An account chain's status counts its transfers as inputs.
                let status = store.status().unwrap();
                let counted = status.iter().find(|s| s.chain == chain).unwrap();
                add(&mut transfers, &name, counted.inputs, None);
                // Every transfer is received by exactly one account: the sum of all
                // accounts' receipts is the sum of all transfers.
                for address in store.account_addresses(chain).unwrap() {
                    let view = store.account(&address).unwrap().unwrap();
                    for b in view.balances {
                        add(&mut transfers, &name, 0, Some(b.received.units()));
                    }
                }
            }
        }
    }
    drop(store);
    for (name, figures) in [
        ("blocks", blocks),
        ("txs", txs),
        ("inputs", inputs),
        ("outputs", outputs),
        ("addresses", addresses),
        ("address_txs", address_txs),
        ("transfers", transfers),
        ("links", links),
    ] {
        t.insert(name.into(), figures);
    }

    let labels = tracehound_labels::LabelStore::open_existing_in(data)
        .unwrap()
        .expect("the demo imports labels");
    let figures = t.entry("labels".into()).or_default();
    labels
        .for_each(|tag| add(figures, &tag.chain.name(), 1, None))
        .unwrap();
    drop(labels);

    let store = Store::open(data, &StoreOptions::default()).unwrap();
    let figures = t.entry("entities".into()).or_default();
    for chain in store.chains().unwrap() {
        let path = tracehound_cluster::Clustering::path_in(data, chain);
        let c = tracehound_cluster::Clustering::load(&path).unwrap();
        add(figures, &chain.name(), c.entity.len() as u64, None);
    }

    let incident = tracehound_trace::Incident::from_file(
        &data.join("incidents").join("cross-chain-heist.toml"),
    )
    .unwrap();
    let figures = t.entry("incidents".into()).or_default();
    for s in &incident.stolen {
        add(figures, &s.chain, 1, s.amount);
    }
    for s in &incident.sources {
        add(figures, &s.chain, 1, None);
    }
    let result: Value = serde_json::from_slice(
        &std::fs::read(data.join("incidents").join("cross-chain-heist.result.json")).unwrap(),
    )
    .unwrap();
    let units = |v: &Value| -> u128 { v.as_str().unwrap().parse().unwrap() };
    let figures = t.entry("trace_hops".into()).or_default();
    for h in result["edges"].as_array().unwrap() {
        add(
            figures,
            h["chain"].as_str().unwrap(),
            1,
            Some(units(&h["tainted"])),
        );
    }
    let figures = t.entry("trace_endpoints".into()).or_default();
    for e in result["endpoints"].as_array().unwrap() {
        add(
            figures,
            e["chain"].as_str().unwrap(),
            1,
            Some(units(&e["amount"])),
        );
    }
    t
}

fn column_value(a: &dyn Array, i: usize) -> Option<u128> {
    if a.is_null(i) {
        return None;
    }
    if let Some(a) = a.as_any().downcast_ref::<UInt64Array>() {
        return Some(u128::from(a.value(i)));
    }
    if let Some(a) = a.as_any().downcast_ref::<UInt32Array>() {
        return Some(u128::from(a.value(i)));
    }
    let a = a.as_any().downcast_ref::<Decimal128Array>().unwrap();
    Some(u128::try_from(a.value(i)).unwrap())
}

/// The same figures, read back from the export's files with the Parquet reader: chains from
/// the partition paths (or the `chain` column of single-file tables).
fn read_back(ds: &Dataset) -> BTreeMap<String, Figures> {
    let mut t = BTreeMap::new();
    for (table, amount) in AMOUNTS {
        let figures: &mut Figures = t.entry(table.to_string()).or_default();
        for f in &ds.table(table).unwrap().files {
            let file = std::fs::File::open(ds.dir().join(&f.path)).unwrap();
            for batch in ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap()
            {
                let batch = batch.unwrap();
                let chains = batch
                    .column_by_name("chain")
                    .map(|c| c.as_any().downcast_ref::<StringArray>().unwrap().clone());
                assert_eq!(
                    chains.is_some(),
                    f.chain.is_none(),
                    "{}: a chain column exactly when not partitioned by chain",
                    f.path
                );
                for i in 0..batch.num_rows() {
                    let chain = match (&chains, &f.chain) {
                        (Some(c), _) => c.value(i).to_string(),
                        (None, Some(c)) => c.clone(),
                        (None, None) => unreachable!(),
                    };
                    let value = amount
                        .and_then(|a| column_value(batch.column_by_name(a).unwrap().as_ref(), i));
                    add(figures, &chain, 1, value);
                }
            }
        }
    }
    t
}

/// Compares `found` with `expected`, table by table.
fn assert_figures(found: &BTreeMap<String, Figures>, expected: &BTreeMap<String, Figures>) {
    for (table, want) in expected {
        let got = found
            .get(table)
            .unwrap_or_else(|| panic!("no table {table}"));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{table}: chains"
        );
        for (chain, (rows, sum)) in want {
            let (got_rows, got_sum) = &got[chain];
            assert_eq!(got_rows, rows, "{table} {chain}: rows");
            assert_eq!(got_sum, sum, "{table} {chain}: sum");
        }
    }
}

/// Every table of the data dir is exported, partitioned as the layout says, and adds up to
/// what the store and the data dir hold.
#[test]
fn export_holds_every_table_of_the_data_dir() {
    let _one = one_at_a_time();
    let (out, report) = export("all", 50);
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(
        ds.tables().collect::<Vec<_>>(),
        [
            "address_txs",
            "addresses",
            "blocks",
            "entities",
            "incidents",
            "inputs",
            "labels",
            "links",
            "outputs",
            "trace_endpoints",
            "trace_hops",
            "transfers",
            "txs"
        ]
    );
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["partition_blocks"], 50);
    for t in report["tables"].as_array().unwrap() {
        let name = t["table"].as_str().unwrap();
        assert_eq!(t["rows"], ds.table(name).unwrap().rows, "{name}");
        assert!(
            t["rows"].as_u64().unwrap() > 0,
            "{name}: the heist fills every table"
        );
    }
    // Both chains' blocks split into ranges of 50 heights.
    for chain in ["evm-31337", "litecoin-regtest"] {
        let files: Vec<_> = ds
            .table("blocks")
            .unwrap()
            .files
            .iter()
            .filter(|f| f.chain.as_deref() == Some(chain))
            .collect();
        assert!(files.len() >= 2, "{chain}: {} block files", files.len());
        for f in files {
            let first = f.first_height.unwrap();
            assert_eq!(first % 50, 0);
            assert_eq!(f.last_height, Some(first + 49));
            assert_eq!(
                f.path,
                format!(
                    "blocks/chain={chain}/part-{first:010}-{:010}.parquet",
                    first + 49
                )
            );
        }
    }
    let single = ["incidents", "trace_hops", "trace_endpoints"];
    for (name, table) in &ds.manifest().tables {
        for f in &table.files {
            let partitioning = if single.contains(&name.as_str()) {
                Partitioning::Single
            } else if f.first_height.is_some() {
                Partitioning::ChainHeight
            } else {
                Partitioning::Chain
            };
            match partitioning {
                Partitioning::Single => {
                    assert_eq!(f.path, format!("{name}/part-0000000000.parquet"))
                }
                Partitioning::Chain => assert!(f.path.ends_with("/part-all.parquet"), "{}", f.path),
                Partitioning::ChainHeight => assert!(f.path.contains("/chain="), "{}", f.path),
            }
        }
    }
    assert_figures(&read_back(&ds), &expected(data_dir()));
    entities_follow_their_evidence_to_the_clustering(&ds);
    labels_are_the_label_stores_tags(&ds);
}

/// Every batch of one chain's file of `table`.
fn batches(ds: &Dataset, table: &str, chain: &str) -> Vec<arrow::record_batch::RecordBatch> {
    let f = ds
        .table(table)
        .unwrap()
        .files
        .iter()
        .find(|f| f.chain.as_deref() == Some(chain))
        .unwrap_or_else(|| panic!("{table}: no file of {chain}"));
    let file = std::fs::File::open(ds.dir().join(&f.path)).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn u64_column(b: &arrow::record_batch::RecordBatch, name: &str) -> Vec<Option<u64>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn text_column(b: &arrow::record_batch::RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

/// Each address's entity is the clustering's, and following `via_address_id` from any
/// address reaches its entity's own address through edges of the clustering's evidence.
fn entities_follow_their_evidence_to_the_clustering(ds: &Dataset) {
    for chain in ["evm-31337", "litecoin-regtest"] {
        let c = tracehound_cluster::Clustering::load(&tracehound_cluster::Clustering::path_in(
            data_dir(),
            chain.parse().unwrap(),
        ))
        .unwrap();
        let mut via = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        for b in batches(ds, "entities", chain) {
            let (ids, entities, next, kind) = (
                u64_column(&b, "address_id"),
                u64_column(&b, "entity"),
                u64_column(&b, "via_address_id"),
                text_column(&b, "evidence_kind"),
            );
            for i in 0..b.num_rows() {
                let id = u32::try_from(ids[i].unwrap()).unwrap();
                assert_eq!(
                    entities[i].map(|e| u32::try_from(e).unwrap()),
                    c.entity_of(id),
                    "{chain} address {id}"
                );
                via.insert(id, next[i].map(|n| u32::try_from(n).unwrap()));
                kinds.insert(id, kind[i].clone());
            }
        }
        assert_eq!(via.len(), c.entity.len(), "{chain}: one row per address");
        let mut multi = 0;
        for &id in via.keys() {
            let entity = c.entity_of(id).unwrap();
            let mut at = id;
            let mut steps = 0;
            while let Some(next) = via[&at] {
                let joined = c
                    .evidence
                    .iter()
                    .any(|e| (e.a, e.b) == (at, next) || (e.b, e.a) == (at, next));
                assert!(joined, "{chain}: {at} → {next} is no evidence edge");
                assert!(kinds[&at].is_some());
                at = next;
                steps += 1;
                assert!(steps <= c.entity.len(), "{chain}: a cycle from {id}");
            }
            assert_eq!(at, entity, "{chain}: {id} leads to its entity");
            multi += usize::from(steps > 0);
        }
        assert!(multi > 0, "{chain}: some addresses were merged");
    }
}

/// The `labels` rows are the label store's tags, field by field.
fn labels_are_the_label_stores_tags(ds: &Dataset) {
    let store = tracehound_labels::LabelStore::open_existing_in(data_dir())
        .unwrap()
        .unwrap();
    let mut tags = Vec::new();
    store.for_each(|t| tags.push(t)).unwrap();
    let mut rows = Vec::new();
    for chain in ["evm-31337", "litecoin-regtest"] {
        for b in batches(ds, "labels", chain) {
            let (address, label, source, category) = (
                text_column(&b, "address"),
                text_column(&b, "label"),
                text_column(&b, "source"),
                text_column(&b, "category"),
            );
            for i in 0..b.num_rows() {
                rows.push((
                    chain.to_string(),
                    address[i].clone().unwrap(),
                    label[i].clone().unwrap(),
                    source[i].clone().unwrap(),
                    category[i].clone().unwrap(),
                ));
            }
        }
    }
    let mut want: Vec<_> = tags
        .iter()
        .map(|t| {
            (
                t.chain.name(),
                t.address.clone(),
                t.label.clone(),
                t.source.clone(),
                t.category.name().to_string(),
            )
        })
        .collect();
    rows.sort();
    want.sort();
    assert_eq!(rows, want);
}

/// An existing export is kept unless `--force`; `--force` replaces it once the new one is
/// complete; a bad `--partition-blocks` is refused.
#[test]
fn an_existing_export_is_replaced_only_when_forced() {
    let _one = one_at_a_time();
    let (out, _) = export("again", 100);
    let before = std::fs::read(out.join("_tracehound.json")).unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec!["export", "parquet", out.to_str().unwrap()];
        a.extend(extra);
        tracehound(data_dir(), &a.iter().map(|s| &**s).collect::<Vec<_>>())
    };
    let refused = args(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(out.join("_tracehound.json")).unwrap(), before);
    ok(args(&["--force", "--partition-blocks", "1000"]));
    assert_eq!(
        Dataset::open(&out).unwrap().manifest().partition_blocks,
        1000
    );
    let zero = args(&["--force", "--partition-blocks", "0"]);
    assert!(!zero.status.success());
    let siblings: Vec<String> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-") || n.contains(".old-"))
        .collect();
    assert!(siblings.is_empty(), "left behind: {siblings:?}");
}

/// Apache Spark (pyspark from PyPI, `scripts/test` installs it into `.tools/venv`) reads
/// every table of the export as a Spark user would, offline, and finds the rows and exact
/// per-chain sums the store and the data dir hold.
#[cfg(feature = "test-pyspark")]
#[test]
fn spark_reads_the_export_with_the_stores_figures() {
    let _one = one_at_a_time();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("TRACEHOUND_PYSPARK_PYTHON")
        .map_or_else(|| repo.join(".tools/venv/bin/python"), PathBuf::from);
    assert!(
        python.exists(),
        "{} is missing: run scripts/test (it installs pyspark into .tools/venv)",
        python.display()
    );
    let (out, _) = export("spark", 50);
    let run = std::process::Command::new(&python)
        .arg(repo.join("scripts/read-parquet-spark.py"))
        .arg(&out)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "spark failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let spark: Value = serde_json::from_slice(&run.stdout).unwrap();
    let mut found: BTreeMap<String, Figures> = BTreeMap::new();
    for (table, t) in spark["tables"].as_object().unwrap() {
        let figures = found.entry(table.clone()).or_default();
        for (chain, c) in t["chains"].as_object().unwrap() {
            figures.insert(
                chain.clone(),
                (
                    c["rows"].as_u64().unwrap(),
                    c["sum"].as_str().map(str::to_string),
                ),
            );
        }
        let columns: Vec<&str> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            columns.iter().filter(|c| **c == "chain").count(),
            1,
            "{table}: chain once, from the partition or the data: {columns:?}"
        );
    }
    assert_figures(&found, &expected(data_dir()));
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

/// A kept trace result with an amount that is no base-unit integer fails the export with the
/// file and the field named, and leaves nothing at the output path (nor a temporary
/// directory beside it).
#[test]
fn a_bad_kept_result_fails_the_export_and_writes_nothing() {
    let _one = one_at_a_time();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export-test");
    let data = root.join("bad-result-store");
    let _ = std::fs::remove_dir_all(&data);
    copy_dir(data_dir(), &data);
    let kept = data.join("incidents").join("cross-chain-heist.result.json");
    let mut result: Value = serde_json::from_slice(&std::fs::read(&kept).unwrap()).unwrap();
    result["edges"][3]["tainted"] = "12.5".into();
    std::fs::write(&kept, serde_json::to_vec(&result).unwrap()).unwrap();
    let out = root.join("bad-result-export");
    let _ = std::fs::remove_dir_all(&out);
    let run = tracehound(&data, &["export", "parquet", out.to_str().unwrap()]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("cross-chain-heist.result.json") && stderr.contains("edge 3 tainted"),
        "{stderr}"
    );
    assert!(!out.exists(), "a failed export leaves no directory");
    let partial: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bad-result-export"))
        .collect();
    assert!(partial.is_empty(), "left behind: {partial:?}");
}
