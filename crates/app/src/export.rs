//! The data dir's own tables in the Parquet dataset, next to the store's (layout:
//! `tracehound_store::dataset`; columns: `docs/parquet-schema.md`): `labels` (every tag of the
//! label store), `entities` (each clustered chain's address → entity, with the evidence that
//! joined it), `incidents` (saved incidents, one row per seed) and `trace_hops` /
//! `trace_endpoints` (the kept result of each traced incident). They live here, not in the
//! store crate, which knows nothing of labels, clusterings or incidents.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Builder, StringArray, StringBuilder, UInt8Builder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field};
use tracehound_cluster::Clustering;
use tracehound_core::Chain;
use tracehound_store::Store;
use tracehound_store::dataset::{DatasetWriter, Partitioning};

use crate::{AppError, DataDir};

/// Rows per record batch.
const BATCH_ROWS: usize = 65_536;
/// The largest amount `Decimal128(38, 0)` holds: 10^38 − 1.
const DECIMAL_MAX: u128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

fn utf8(name: &str, nullable: bool) -> Field {
    f(name, DataType::Utf8, nullable)
}

fn amount(name: &str, nullable: bool) -> Field {
    f(name, DataType::Decimal128(38, 0), nullable)
}

fn ds_err(e: tracehound_store::dataset::DatasetError) -> AppError {
    AppError::Dataset(Box::new(e))
}

/// Text column `k` of a batch's builders, finished (the trace tables fill theirs from one
/// array of texts per row).
fn text_column(builders: &mut [StringBuilder], k: usize) -> ArrayRef {
    match builders.get_mut(k) {
        Some(b) => Arc::new(b.finish()),
        None => Arc::new(StringBuilder::new().finish()),
    }
}

/// A finished amount column as `Decimal128(38, 0)`.
fn amounts(b: &mut Decimal128Builder) -> Result<ArrayRef, AppError> {
    Ok(Arc::new(
        b.finish()
            .with_precision_and_scale(38, 0)
            .map_err(|e| AppError::Invalid(format!("an amount column: {e}")))?,
    ))
}

/// An amount as the column holds it; refused beyond its 38 digits (saved results and
/// incidents are small and exact: a figure that does not fit is an error, not a clamp).
fn decimal(v: u128, what: &dyn Fn() -> String) -> Result<i128, AppError> {
    if v > DECIMAL_MAX {
        return Err(AppError::Invalid(format!(
            "{}: amount {v} has more than 38 digits",
            what()
        )));
    }
    i128::try_from(v).map_err(|_| AppError::Invalid(format!("{}: amount {v}", what())))
}

impl DataDir {
    /// Writes the data dir's tables (labels, entities, incidents, trace_hops,
    /// trace_endpoints) into `writer`, calling `progress(table, rows so far)`; returns
    /// (table, rows) in order. A data dir without labels, clusterings or incidents writes
    /// those tables empty.
    pub fn export_tables(
        &self,
        store: &Store,
        writer: &DatasetWriter,
        progress: &dyn Fn(&str, u64),
    ) -> Result<Vec<(String, u64)>, AppError> {
        let labels = self.export_labels(writer, progress)?;
        let entities = self.export_entities(store, writer, progress)?;
        let incidents = self.export_incidents(writer, progress)?;
        // Both trace tables come from one read of each kept result.
        let (hops, endpoints) = self.export_traces(writer, progress)?;
        Ok(vec![
            ("labels".into(), labels),
            ("entities".into(), entities),
            ("incidents".into(), incidents),
            ("trace_hops".into(), hops),
            ("trace_endpoints".into(), endpoints),
        ])
    }

    fn export_labels(
        &self,
        writer: &DatasetWriter,
        progress: &dyn Fn(&str, u64),
    ) -> Result<u64, AppError> {
        let mut sink = writer
            .table(
                "labels",
                vec![
                    utf8("address", false),
                    utf8("label", false),
                    utf8("category", false),
                    utf8("raw_category", false),
                    utf8("source", false),
                    f("confidence", DataType::UInt8, false),
                    utf8("raw_confidence", false),
                    utf8("reference", true),
                    utf8("actor", true),
                    utf8("context", true),
                    utf8("note", true),
                    utf8("origin", false),
                    f("added", DataType::UInt64, false),
                ],
                Partitioning::Chain,
            )
            .map_err(ds_err)?;
        let Some(labels) = self.label_store()? else {
            return sink.finish().map_err(ds_err);
        };
        // Tags come in (chain, address, source) order: one chain's rows at a time.
        let mut tags = Vec::new();
        labels
            .for_each(|t| tags.push(t))
            .map_err(AppError::labels("reading the label store"))?;
        let mut rows = 0u64;
        for chunk in tags.chunk_by(|a, b| a.chain == b.chain) {
            for part in chunk.chunks(BATCH_ROWS) {
                let Some(chain) = part.first().map(|t| t.chain) else {
                    continue;
                };
                let text = |get: fn(&tracehound_labels::Tag) -> &str| -> ArrayRef {
                    Arc::new(StringArray::from_iter_values(part.iter().map(get)))
                };
                let optional = |get: fn(&tracehound_labels::Tag) -> Option<&str>| -> ArrayRef {
                    Arc::new(part.iter().map(get).collect::<StringArray>())
                };
                let mut confidence = UInt8Builder::new();
                let mut added = UInt64Builder::new();
                for t in part {
                    confidence.append_value(t.confidence);
                    added.append_value(t.added);
                }
                let categories: Vec<&str> = part.iter().map(|t| t.category.name()).collect();
                sink.write(
                    Some(&chain.name()),
                    vec![
                        text(|t| &t.address),
                        text(|t| &t.label),
                        Arc::new(StringArray::from_iter_values(categories)),
                        text(|t| &t.raw_category),
                        text(|t| &t.source),
                        Arc::new(confidence.finish()),
                        text(|t| &t.raw_confidence),
                        optional(|t| t.reference.as_deref()),
                        optional(|t| t.actor.as_deref()),
                        optional(|t| t.context.as_deref()),
                        optional(|t| t.note.as_deref()),
                        text(|t| &t.origin),
                        Arc::new(added.finish()),
                    ],
                )
                .map_err(ds_err)?;
                rows += part.len() as u64;
                progress("labels", rows);
            }
        }
        sink.finish().map_err(ds_err)
    }

    /// Each clustered chain's clustering (`tracehound cluster`, as `tracehound entity`
    /// reads it): one row per address with its entity, and the evidence edge that joins it
    /// one step nearer its entity's own address (none for that address itself).
    fn export_entities(
        &self,
        store: &Store,
        writer: &DatasetWriter,
        progress: &dyn Fn(&str, u64),
    ) -> Result<u64, AppError> {
        let mut sink = writer
            .table(
                "entities",
                vec![
                    f("address_id", DataType::UInt64, false),
                    utf8("address", false),
                    f("entity", DataType::UInt64, false),
                    f("entity_size", DataType::UInt64, false),
                    f("via_address_id", DataType::UInt64, true),
                    utf8("evidence_kind", true),
                    f("evidence_confidence", DataType::UInt8, true),
                    utf8("evidence_txid", true),
                    f("evidence_height", DataType::UInt32, true),
                ],
                Partitioning::Chain,
            )
            .map_err(ds_err)?;
        let mut rows = 0u64;
        let chains = store
            .chains()
            .map_err(AppError::store("listing the store's chains"))?;
        for chain in chains {
            if crate::file_id(&Clustering::path_in(&self.root, chain)).is_none() {
                continue;
            }
            let clustering = self.clustering(store, chain)?;
            rows += write_entities(store, &clustering, &mut sink, rows, progress)?;
        }
        sink.finish().map_err(ds_err)
    }

    fn export_incidents(
        &self,
        writer: &DatasetWriter,
        progress: &dyn Fn(&str, u64),
    ) -> Result<u64, AppError> {
        let mut sink = writer
            .table(
                "incidents",
                vec![
                    utf8("incident", false),
                    utf8("notes", true),
                    utf8("assets", true),
                    utf8("seed", false),
                    f("seed_index", DataType::UInt32, false),
                    utf8("chain", false),
                    utf8("tx", true),
                    f("vout", DataType::UInt32, true),
                    f("sub_index", DataType::UInt32, true),
                    amount("amount", true),
                    utf8("address", true),
                    f("since", DataType::UInt64, true),
                ],
                Partitioning::Single,
            )
            .map_err(ds_err)?;
        let mut name = StringBuilder::new();
        let mut notes = StringBuilder::new();
        let mut assets = StringBuilder::new();
        let mut seed = StringBuilder::new();
        let mut index = UInt32Builder::new();
        let mut chain = StringBuilder::new();
        let mut tx = StringBuilder::new();
        let mut vout = UInt32Builder::new();
        let mut sub = UInt32Builder::new();
        let mut amount_col = Decimal128Builder::new();
        let mut address = StringBuilder::new();
        let mut since = UInt64Builder::new();
        let mut rows = 0u64;
        for listed in self.list_incidents()? {
            let path = std::path::PathBuf::from(&listed.path);
            let incident = self.read_incident(&path)?;
            let common = |name: &mut StringBuilder,
                          notes: &mut StringBuilder,
                          assets: &mut StringBuilder| {
                name.append_value(&listed.name);
                notes.append_option(incident.notes.as_deref());
                // Empty: every asset of the stolen txs.
                assets.append_option(
                    (!incident.assets.is_empty()).then(|| incident.assets.join(",")),
                );
            };
            for (i, s) in (0u32..).zip(&incident.stolen) {
                common(&mut name, &mut notes, &mut assets);
                seed.append_value("stolen");
                index.append_value(i);
                chain.append_value(&s.chain);
                tx.append_value(&s.tx);
                vout.append_option(s.vout);
                sub.append_option(s.sub_index);
                amount_col.append_option(
                    s.amount
                        .map(|a| decimal(a, &|| format!("{}: stolen item {i}", path.display())))
                        .transpose()?,
                );
                address.append_null();
                since.append_null();
                rows += 1;
            }
            for (i, s) in (0u32..).zip(&incident.sources) {
                common(&mut name, &mut notes, &mut assets);
                seed.append_value("source");
                index.append_value(i);
                chain.append_value(&s.chain);
                tx.append_null();
                vout.append_null();
                sub.append_null();
                amount_col.append_null();
                address.append_value(&s.address);
                since.append_option(s.since);
                rows += 1;
            }
        }
        if rows > 0 {
            sink.write(
                None,
                vec![
                    Arc::new(name.finish()),
                    Arc::new(notes.finish()),
                    Arc::new(assets.finish()),
                    Arc::new(seed.finish()),
                    Arc::new(index.finish()),
                    Arc::new(chain.finish()),
                    Arc::new(tx.finish()),
                    Arc::new(vout.finish()),
                    Arc::new(sub.finish()),
                    amounts(&mut amount_col)?,
                    Arc::new(address.finish()),
                    Arc::new(since.finish()),
                ],
            )
            .map_err(ds_err)?;
            progress("incidents", rows);
        }
        sink.finish().map_err(ds_err)
    }

    /// The kept result of every traced incident: its trace graph's hops and its endpoints.
    fn export_traces(
        &self,
        writer: &DatasetWriter,
        progress: &dyn Fn(&str, u64),
    ) -> Result<(u64, u64), AppError> {
        let mut hops = writer
            .table("trace_hops", hop_fields(), Partitioning::Single)
            .map_err(ds_err)?;
        let mut ends = writer
            .table("trace_endpoints", endpoint_fields(), Partitioning::Single)
            .map_err(ds_err)?;
        let (mut hop_rows, mut end_rows) = (0u64, 0u64);
        for listed in self.list_incidents()? {
            let path = self.result_path(&listed.name);
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(AppError::io(&path)(e)),
            };
            let result: SavedResult = serde_json::from_slice(&text)
                .map_err(|e| AppError::Invalid(format!("{}: {e}", path.display())))?;
            let n = write_hops(&listed.name, &result, &path, &mut hops)?;
            hop_rows += n;
            if n > 0 {
                progress("trace_hops", hop_rows);
            }
            let n = write_endpoints(&listed.name, &result, &path, &mut ends)?;
            end_rows += n;
            if n > 0 {
                progress("trace_endpoints", end_rows);
            }
        }
        Ok((
            hops.finish().map_err(ds_err)?,
            ends.finish().map_err(ds_err)?,
        ))
    }
}

/// `clustering`'s rows; `before` rows were written already (for progress).
fn write_entities(
    store: &Store,
    clustering: &Clustering,
    sink: &mut tracehound_store::dataset::TableSink<'_>,
    before: u64,
    progress: &dyn Fn(&str, u64),
) -> Result<u64, AppError> {
    let chain: Chain = clustering.chain;
    let names = tracehound_cluster::store::Names::open(store, chain)?;
    let n = clustering.entity.len();
    let mut size: HashMap<u32, u64> = HashMap::new();
    for &e in &clustering.entity {
        *size.entry(e).or_default() += 1;
    }
    // The evidence edges form a spanning tree of each entity: a walk from the entity's own
    // address gives every other member the edge towards it.
    let mut adjacent: HashMap<u32, Vec<(u32, usize)>> = HashMap::new();
    for (k, ev) in clustering.evidence.iter().enumerate() {
        adjacent.entry(ev.a).or_default().push((ev.b, k));
        adjacent.entry(ev.b).or_default().push((ev.a, k));
    }
    let mut via: HashMap<u32, (u32, usize)> = HashMap::new();
    for root in (0u32..).take(n) {
        if clustering.entity_of(root) != Some(root) || !adjacent.contains_key(&root) {
            continue;
        }
        let mut queue = VecDeque::from([root]);
        while let Some(x) = queue.pop_front() {
            for &(y, k) in adjacent.get(&x).map(Vec::as_slice).unwrap_or_default() {
                if y != root && !via.contains_key(&y) {
                    via.insert(y, (x, k));
                    queue.push_back(y);
                }
            }
        }
    }
    let mut rows = 0u64;
    let ids: Vec<u32> = (0u32..).take(n).collect();
    for part in ids.chunks(BATCH_ROWS) {
        let mut id = UInt64Builder::new();
        let mut address = StringBuilder::new();
        let mut entity = UInt64Builder::new();
        let mut entity_size = UInt64Builder::new();
        let mut via_id = UInt64Builder::new();
        let mut kind = StringBuilder::new();
        let mut confidence = UInt8Builder::new();
        let mut txid = StringBuilder::new();
        let mut height = UInt32Builder::new();
        for &a in part {
            let e = clustering.entity_of(a).unwrap_or(a);
            id.append_value(u64::from(a));
            address.append_value(names.text(a)?);
            entity.append_value(u64::from(e));
            entity_size.append_value(size.get(&e).copied().unwrap_or(1));
            match via
                .get(&a)
                .and_then(|&(to, k)| clustering.evidence.get(k).map(|ev| (to, ev)))
            {
                Some((to, ev)) => {
                    let (tx, h) = tracehound_cluster::store::evidence_tx(store, &names, chain, ev)?;
                    via_id.append_value(u64::from(to));
                    kind.append_value(ev.kind.name());
                    confidence.append_value(ev.confidence);
                    txid.append_option((!tx.is_empty()).then_some(tx));
                    height.append_value(h);
                }
                None => {
                    via_id.append_null();
                    kind.append_null();
                    confidence.append_null();
                    txid.append_null();
                    height.append_null();
                }
            }
        }
        sink.write(
            Some(&chain.name()),
            vec![
                Arc::new(id.finish()),
                Arc::new(address.finish()),
                Arc::new(entity.finish()),
                Arc::new(entity_size.finish()),
                Arc::new(via_id.finish()),
                Arc::new(kind.finish()),
                Arc::new(confidence.finish()),
                Arc::new(txid.finish()),
                Arc::new(height.finish()),
            ],
        )
        .map_err(ds_err)?;
        rows += part.len() as u64;
        progress("entities", before + rows);
    }
    Ok(rows)
}

/// A kept trace result as `tracehound trace --json` writes it: the parts exported.
#[derive(serde::Deserialize)]
struct SavedResult {
    policy: String,
    endpoints: Vec<SavedEndpoint>,
    edges: Vec<SavedHop>,
}

#[derive(serde::Deserialize)]
struct SavedHop {
    chain: String,
    tx: String,
    at: String,
    time: u64,
    from: String,
    to: String,
    asset: String,
    value: String,
    tainted: String,
    rule: String,
    edge: SavedEdge,
}

#[derive(serde::Deserialize)]
struct SavedEdge {
    kind: String,
    link: Option<String>,
    service: Option<String>,
    tx_in: Option<String>,
    confidence: Option<u8>,
    chain_in: Option<String>,
    asset_in: Option<String>,
    amount_in: Option<String>,
    chain_out: Option<String>,
    asset_out: Option<String>,
    amount_out: Option<String>,
    evidence: Option<String>,
}

#[derive(serde::Deserialize)]
struct SavedEndpoint {
    chain: String,
    address: String,
    asset: String,
    amount: String,
    label: Option<String>,
    category: Option<String>,
    freezable_by: Option<String>,
    stop: String,
    hops: u32,
    inflows: u64,
    fiat: Option<String>,
    entity: Option<SavedEntity>,
    #[serde(default)]
    patterns: Vec<String>,
}

#[derive(serde::Deserialize)]
struct SavedEntity {
    id: u32,
    size: u64,
    label: Option<String>,
}

fn hop_fields() -> Vec<Field> {
    vec![
        utf8("incident", false),
        utf8("policy", false),
        utf8("chain", false),
        utf8("tx", false),
        f("height", DataType::UInt32, true),
        utf8("at", false),
        f("time", DataType::UInt64, false),
        utf8("from", false),
        utf8("to", false),
        utf8("asset", false),
        amount("value", false),
        amount("tainted", false),
        utf8("rule", false),
        utf8("edge", false),
        utf8("link_kind", true),
        utf8("link_service", true),
        utf8("link_tx_in", true),
        f("link_confidence", DataType::UInt8, true),
        utf8("link_chain_in", true),
        utf8("link_asset_in", true),
        amount("link_amount_in", true),
        utf8("link_chain_out", true),
        utf8("link_asset_out", true),
        amount("link_amount_out", true),
        utf8("link_evidence", true),
    ]
}

fn endpoint_fields() -> Vec<Field> {
    vec![
        utf8("incident", false),
        utf8("policy", false),
        utf8("chain", false),
        utf8("address", false),
        utf8("asset", false),
        amount("amount", false),
        utf8("label", true),
        utf8("category", true),
        utf8("freezable_by", true),
        utf8("stop", false),
        f("hops", DataType::UInt32, false),
        f("inflows", DataType::UInt64, false),
        utf8("fiat", true),
        f("entity", DataType::UInt64, true),
        f("entity_size", DataType::UInt64, true),
        utf8("entity_label", true),
        utf8("patterns", true),
    ]
}

/// A kept result's decimal-string amount as the column holds it.
fn parse_amount(text: &str, file: &Path, what: &str) -> Result<i128, AppError> {
    let v: u128 = text.parse().map_err(|_| {
        AppError::Invalid(format!(
            "{}: {what}: {text:?} is not a base-unit amount",
            file.display()
        ))
    })?;
    decimal(v, &|| format!("{}: {what}", file.display()))
}

fn write_hops(
    incident: &str,
    result: &SavedResult,
    file: &Path,
    sink: &mut tracehound_store::dataset::TableSink<'_>,
) -> Result<u64, AppError> {
    let mut rows = 0u64;
    for part in result.edges.chunks(BATCH_ROWS) {
        let mut s: Vec<StringBuilder> = (0..18).map(|_| StringBuilder::new()).collect();
        let mut height = UInt32Builder::new();
        let mut time = UInt64Builder::new();
        let (mut value, mut tainted) = (Decimal128Builder::new(), Decimal128Builder::new());
        let mut confidence = UInt8Builder::new();
        let (mut amount_in, mut amount_out) = (Decimal128Builder::new(), Decimal128Builder::new());
        for (i, h) in part.iter().enumerate() {
            let what = format!("edge {}", rows as usize + i);
            let amount = |t: &str, name: &str| parse_amount(t, file, &format!("{what} {name}"));
            // `height:index` or `height:tx:sub`: the height is what partitions by height.
            height.append_option(h.at.split(':').next().and_then(|x| x.parse().ok()));
            time.append_value(h.time);
            value.append_value(amount(&h.value, "value")?);
            tainted.append_value(amount(&h.tainted, "tainted")?);
            let e = &h.edge;
            confidence.append_option(e.confidence);
            amount_in.append_option(
                e.amount_in
                    .as_deref()
                    .map(|t| amount(t, "amount_in"))
                    .transpose()?,
            );
            amount_out.append_option(
                e.amount_out
                    .as_deref()
                    .map(|t| amount(t, "amount_out"))
                    .transpose()?,
            );
            let texts: [Option<&str>; 18] = [
                Some(incident),
                Some(&result.policy),
                Some(&h.chain),
                Some(&h.tx),
                Some(&h.at),
                Some(&h.from),
                Some(&h.to),
                Some(&h.asset),
                Some(&h.rule),
                Some(&e.kind),
                e.link.as_deref(),
                e.service.as_deref(),
                e.tx_in.as_deref(),
                e.chain_in.as_deref(),
                e.asset_in.as_deref(),
                e.chain_out.as_deref(),
                e.asset_out.as_deref(),
                e.evidence.as_deref(),
            ];
            for (b, t) in s.iter_mut().zip(texts) {
                b.append_option(t);
            }
        }
        let mut col = |k: usize| text_column(&mut s, k);
        let columns: Vec<ArrayRef> = vec![
            col(0),
            col(1),
            col(2),
            col(3),
            Arc::new(height.finish()),
            col(4),
            Arc::new(time.finish()),
            col(5),
            col(6),
            col(7),
            amounts(&mut value)?,
            amounts(&mut tainted)?,
            col(8),
            col(9),
            col(10),
            col(11),
            col(12),
            Arc::new(confidence.finish()),
            col(13),
            col(14),
            amounts(&mut amount_in)?,
            col(15),
            col(16),
            amounts(&mut amount_out)?,
            col(17),
        ];
        sink.write(None, columns).map_err(ds_err)?;
        rows += part.len() as u64;
    }
    Ok(rows)
}

fn write_endpoints(
    incident: &str,
    result: &SavedResult,
    file: &Path,
    sink: &mut tracehound_store::dataset::TableSink<'_>,
) -> Result<u64, AppError> {
    let mut rows = 0u64;
    for part in result.endpoints.chunks(BATCH_ROWS) {
        let mut s: Vec<StringBuilder> = (0..12).map(|_| StringBuilder::new()).collect();
        let mut amount_col = Decimal128Builder::new();
        let mut hops = UInt32Builder::new();
        let mut inflows = UInt64Builder::new();
        let (mut entity, mut entity_size) = (UInt64Builder::new(), UInt64Builder::new());
        for (i, e) in part.iter().enumerate() {
            let what = format!("endpoint {} amount", rows as usize + i);
            amount_col.append_value(parse_amount(&e.amount, file, &what)?);
            hops.append_value(e.hops);
            inflows.append_value(e.inflows);
            entity.append_option(e.entity.as_ref().map(|x| u64::from(x.id)));
            entity_size.append_option(e.entity.as_ref().map(|x| x.size));
            let patterns = (!e.patterns.is_empty()).then(|| e.patterns.join(","));
            let texts: [Option<&str>; 12] = [
                Some(incident),
                Some(&result.policy),
                Some(&e.chain),
                Some(&e.address),
                Some(&e.asset),
                e.label.as_deref(),
                e.category.as_deref(),
                e.freezable_by.as_deref(),
                Some(&e.stop),
                e.fiat.as_deref(),
                e.entity.as_ref().and_then(|x| x.label.as_deref()),
                patterns.as_deref(),
            ];
            for (b, t) in s.iter_mut().zip(texts) {
                b.append_option(t);
            }
        }
        let mut col = |k: usize| text_column(&mut s, k);
        let columns: Vec<ArrayRef> = vec![
            col(0),
            col(1),
            col(2),
            col(3),
            col(4),
            amounts(&mut amount_col)?,
            col(5),
            col(6),
            col(7),
            col(8),
            Arc::new(hops.finish()),
            Arc::new(inflows.finish()),
            col(9),
            Arc::new(entity.finish()),
            Arc::new(entity_size.finish()),
            col(10),
            col(11),
        ];
        sink.write(None, columns).map_err(ds_err)?;
        rows += part.len() as u64;
    }
    Ok(rows)
}
