//! The store's tables as a Parquet dataset (layout and manifest: [`crate::dataset`]; every
//! column: `docs/parquet-schema.md`): what batch jobs (DataFusion, Ballista), Spark and DuckDB
//! read. Amounts of UTXO tables are `UInt64` base units; account-chain and address amounts
//! are `Decimal128(38, 0)` base units (wide enough for token amounts). Every table here is
//! partitioned by chain, so none stores a `chain` column; height-keyed tables are split into
//! height ranges.
//!
//! | table | columns |
//! |---|---|
//! | `blocks` | height, hash, parent, time, tx_count |
//! | `txs` | height, tx_index, txid, coinbase, hogex, size, vsize, input_count, output_count, input_value, output_value, fee |
//! | `inputs` | height, tx_index, input_index, txid, prev_txid, prev_vout, address_id, address, value, prev_height, prev_coinbase |
//! | `outputs` | height, tx_index, vout, txid, address_id, address, kind, value, data, spent_height, spent_tx_index, spent_input_index |
//! | `addresses` (one file per chain) | address_id, address, received, sent, balance, tx_count |
//! | `address_txs` | address_id, height, tx_index, received, sent |
//! | `transfers` | account chains: height, tx_index (4294967294 for a block's opening balances, 4294967295 for block-level rewards and withdrawals), sub_index, kind, asset (`native` or the token contract), from, to, amount (`Decimal128(38,0)` base units), source (provenance), tx (the tx hash; null for block-level rows) |
//! | `links` | height, fact_index, fact (`within`, `entry`, `exit`), kind, service, contract, in_tx_index, in_tx, in_leg, in_asset, in_amount, in_party, out_tx_index, out_tx, out_leg, out_asset, out_amount, out_party, deposit_id, reference, destination_chain, destination_address, destination_min_out, relayer, gas_price, evidence |

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, StringBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field};
use redb::{ReadTransaction, ReadableDatabase, ReadableTable};
use tracehound_core::{Chain, LinkFact, LinkLeg};

use crate::bulk::txlog;
use crate::dataset::{DatasetWriter, Partitioning, TableSink};
use crate::ledger::block_starts;
use crate::read::address_text;
use crate::tables::{self, BlockRecord, COINBASE_FLAG};
use crate::{Store, StoreError};

/// What an export wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    /// (table, rows) written, in order.
    pub tables: Vec<(String, u64)>,
}

/// How to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Heights per file of height-keyed tables.
    pub partition_blocks: u32,
    /// Replace an existing export in the directory (once the new one is complete).
    pub replace: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            partition_blocks: crate::dataset::DEFAULT_PARTITION_BLOCKS,
            replace: false,
        }
    }
}

const ROWS_PER_BATCH: usize = 65_536;

/// The largest amount `Decimal128(38, 0)` holds: 10^38 − 1.
const DECIMAL_MAX: i128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;

fn err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Export {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Called with (table, rows written so far) after every record batch.
type Progress<'p> = &'p dyn Fn(&str, u64);

/// One table being written, reporting progress.
struct Sink<'w, 'p> {
    table: TableSink<'w>,
    name: &'static str,
    progress: Progress<'p>,
    rows: u64,
}

impl<'w, 'p> Sink<'w, 'p> {
    fn new(
        writer: &'w DatasetWriter,
        name: &'static str,
        fields: Vec<Field>,
        partitioning: Partitioning,
        progress: Progress<'p>,
    ) -> Result<Sink<'w, 'p>, StoreError> {
        Ok(Sink {
            table: writer.table(name, fields, partitioning)?,
            name,
            progress,
            rows: 0,
        })
    }
    fn write(&mut self, chain: Chain, columns: Vec<ArrayRef>) -> Result<(), StoreError> {
        let n = columns.first().map_or(0, |c| c.len());
        self.table.write(Some(&chain.name()), columns)?;
        self.rows += n as u64;
        (self.progress)(self.name, self.rows);
        Ok(())
    }
    fn finish(self) -> Result<u64, StoreError> {
        Ok(self.table.finish()?)
    }
}

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

fn amount() -> DataType {
    DataType::Decimal128(38, 0)
}

/// A base-unit amount as `Decimal128(38, 0)`. No real coin reaches 10^38 base units; only
/// spam tokens with made-up supplies do, and they are clamped to the largest value the
/// column holds rather than wrapped.
fn decimal(v: u128) -> i128 {
    i128::try_from(v).unwrap_or(DECIMAL_MAX).min(DECIMAL_MAX)
}

fn dec(b: &mut Decimal128Builder, v: u128) {
    b.append_value(decimal(v));
}

/// The finished column of base-unit amounts, as `Decimal128(38, 0)`.
fn amounts(b: &mut Decimal128Builder, dir: &Path) -> Result<ArrayRef, StoreError> {
    Ok(Arc::new(
        b.finish()
            .with_precision_and_scale(38, 0)
            .map_err(|e| err(dir, e))?,
    ))
}

fn chains(rtx: &ReadTransaction) -> Result<Vec<Chain>, StoreError> {
    let t = rtx.open_table(tables::CHAINS)?;
    let mut out = Vec::new();
    for row in t.iter()? {
        if let Some(c) = Chain::from_code(row?.0.value()) {
            out.push(c);
        }
    }
    Ok(out)
}

impl Store {
    /// Exports every table of the store to a new dataset in `dir` (default options: see
    /// [`Store::export_parquet_with_progress`]).
    pub fn export_parquet(&self, dir: &Path) -> Result<ExportSummary, StoreError> {
        self.export_parquet_with_progress(dir, &ExportOptions::default(), &|_, _| {})
    }

    /// Exports every table of the store to a new dataset in `dir`, calling `progress(table,
    /// rows so far)` as it goes; `dir` appears, complete with its manifest, only at the end.
    pub fn export_parquet_with_progress(
        &self,
        dir: &Path,
        options: &ExportOptions,
        progress: &dyn Fn(&str, u64),
    ) -> Result<ExportSummary, StoreError> {
        let writer = DatasetWriter::create(dir, options.partition_blocks, options.replace)?;
        let summary = self.export_tables(&writer, progress)?;
        writer.finish()?;
        Ok(summary)
    }

    /// Writes the store's tables (blocks, txs, inputs, outputs, addresses, address_txs,
    /// transfers, links) into `writer`, whose caller may add tables of its own before
    /// finishing it.
    pub fn export_tables(
        &self,
        writer: &DatasetWriter,
        progress: &dyn Fn(&str, u64),
    ) -> Result<ExportSummary, StoreError> {
        let dir = writer.partial_dir().to_path_buf();
        let rtx = self.db.begin_read()?;
        let all = chains(&rtx)?;
        let mut summary = ExportSummary::default();
        summary.tables.push((
            "blocks".into(),
            export_blocks(&rtx, &all, writer, progress)?,
        ));
        let (utxo, accounts): (Vec<Chain>, Vec<Chain>) = all
            .iter()
            .partition(|c| c.family() == tracehound_core::ChainFamily::Utxo);
        let (txs, inputs, outputs) = export_txs(self, &utxo, writer, progress)?;
        summary.tables.push(("txs".into(), txs));
        summary.tables.push(("inputs".into(), inputs));
        summary.tables.push(("outputs".into(), outputs));
        summary.tables.push((
            "addresses".into(),
            export_addresses(self, &utxo, writer, &dir, progress)?,
        ));
        summary.tables.push((
            "address_txs".into(),
            export_address_txs(self, &utxo, writer, &dir, progress)?,
        ));
        summary.tables.push((
            "transfers".into(),
            export_transfers(self, &accounts, writer, &dir, progress)?,
        ));
        summary.tables.push((
            "links".into(),
            export_links(&rtx, &all, writer, &dir, progress)?,
        ));
        Ok(summary)
    }
}

fn export_blocks(
    rtx: &ReadTransaction,
    chains: &[Chain],
    writer: &DatasetWriter,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let mut sink = Sink::new(
        writer,
        "blocks",
        vec![
            f("height", DataType::UInt32, false),
            f("hash", DataType::Utf8, false),
            f("parent", DataType::Utf8, false),
            f("time", DataType::UInt64, false),
            f("tx_count", DataType::UInt32, false),
        ],
        Partitioning::ChainHeight,
        progress,
    )?;
    let blocks = rtx.open_table(tables::BLOCKS)?;
    for &chain in chains {
        let c = chain.code();
        let mut rows = blocks.range((c, 0)..=(c, u32::MAX))?.peekable();
        while rows.peek().is_some() {
            let (mut h, mut hash, mut parent, mut time, mut n) = (
                UInt32Builder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
                UInt64Builder::new(),
                UInt32Builder::new(),
            );
            for row in rows.by_ref().take(ROWS_PER_BATCH) {
                let (k, v) = row?;
                let r = BlockRecord::decode(v.value())?;
                h.append_value(k.value().1);
                hash.append_value(r.hash.to_string());
                parent.append_value(r.parent.to_string());
                time.append_value(r.time);
                n.append_value(r.tx_count);
            }
            sink.write(
                chain,
                vec![
                    Arc::new(h.finish()),
                    Arc::new(hash.finish()),
                    Arc::new(parent.finish()),
                    Arc::new(time.finish()),
                    Arc::new(n.finish()),
                ],
            )?;
        }
    }
    sink.finish()
}

#[derive(Default)]
struct TxCols {
    height: UInt32Builder,
    idx: UInt32Builder,
    txid: StringBuilder,
    coinbase: BooleanBuilder,
    hogex: BooleanBuilder,
    size: UInt32Builder,
    vsize: UInt32Builder,
    n_in: UInt32Builder,
    n_out: UInt32Builder,
    v_in: UInt64Builder,
    v_out: UInt64Builder,
    fee: UInt64Builder,
    rows: usize,
}

#[derive(Default)]
struct InCols {
    height: UInt32Builder,
    idx: UInt32Builder,
    input: UInt32Builder,
    txid: StringBuilder,
    prev_txid: StringBuilder,
    prev_vout: UInt32Builder,
    addr_id: UInt64Builder,
    addr: StringBuilder,
    value: UInt64Builder,
    prev_height: UInt32Builder,
    prev_coinbase: BooleanBuilder,
    rows: usize,
}

#[derive(Default)]
struct OutCols {
    height: UInt32Builder,
    idx: UInt32Builder,
    vout: UInt32Builder,
    txid: StringBuilder,
    addr_id: UInt64Builder,
    addr: StringBuilder,
    kind: StringBuilder,
    value: UInt64Builder,
    data: BinaryBuilder,
    spent_height: UInt32Builder,
    spent_idx: UInt32Builder,
    spent_input: UInt32Builder,
    rows: usize,
}

fn export_txs(
    store: &Store,
    chains: &[Chain],
    writer: &DatasetWriter,
    progress: Progress<'_>,
) -> Result<(u64, u64, u64), StoreError> {
    let u32f = DataType::UInt32;
    let u64f = DataType::UInt64;
    let s = DataType::Utf8;
    let mut tx_sink = Sink::new(
        writer,
        "txs",
        vec![
            f("height", u32f.clone(), false),
            f("tx_index", u32f.clone(), false),
            f("txid", s.clone(), false),
            f("coinbase", DataType::Boolean, false),
            f("hogex", DataType::Boolean, false),
            f("size", u32f.clone(), false),
            f("vsize", u32f.clone(), false),
            f("input_count", u32f.clone(), false),
            f("output_count", u32f.clone(), false),
            f("input_value", u64f.clone(), false),
            f("output_value", u64f.clone(), false),
            f("fee", u64f.clone(), false),
        ],
        Partitioning::ChainHeight,
        progress,
    )?;
    let mut in_sink = Sink::new(
        writer,
        "inputs",
        vec![
            f("height", u32f.clone(), false),
            f("tx_index", u32f.clone(), false),
            f("input_index", u32f.clone(), false),
            f("txid", s.clone(), false),
            f("prev_txid", s.clone(), false),
            f("prev_vout", u32f.clone(), false),
            f("address_id", u64f.clone(), false),
            f("address", s.clone(), false),
            f("value", u64f.clone(), false),
            f("prev_height", u32f.clone(), false),
            f("prev_coinbase", DataType::Boolean, false),
        ],
        Partitioning::ChainHeight,
        progress,
    )?;
    let mut out_sink = Sink::new(
        writer,
        "outputs",
        vec![
            f("height", u32f.clone(), false),
            f("tx_index", u32f.clone(), false),
            f("vout", u32f.clone(), false),
            f("txid", s.clone(), false),
            f("address_id", u64f.clone(), true),
            f("address", s.clone(), true),
            f("kind", s, false),
            f("value", u64f, false),
            f("data", DataType::Binary, true),
            f("spent_height", u32f.clone(), true),
            f("spent_tx_index", u32f.clone(), true),
            f("spent_input_index", u32f, true),
        ],
        Partitioning::ChainHeight,
        progress,
    )?;
    let (mut t, mut i, mut o) = (TxCols::default(), InCols::default(), OutCols::default());
    for &chain in chains {
        let starts = block_starts(&store.db, chain)?;
        // (height, index) of a tx seq, by binary search over the blocks' first seqs.
        let place = |seq: u64| -> (u32, u32) {
            let b = starts
                .partition_point(|&(first, _)| first <= seq)
                .saturating_sub(1);
            starts.get(b).map_or((0, 0), |&(first, h)| {
                (h, u32::try_from(seq - first).unwrap_or(u32::MAX))
            })
        };
        store.with_ledger(chain, |l, _| {
            l.txlog
                .for_each(0, l.txlog.tx_count(), |seq, first_out, rec| {
                    let (height, idx) = place(seq);
                    let txid = rec.txid.to_string();
                    let coinbase = rec.flags & txlog::FLAG_COINBASE != 0;
                    let v_in: u64 = rec.inputs.iter().map(|x| x.value).sum();
                    let v_out: u64 = rec.outputs.iter().map(|x| x.value).sum();
                    t.height.append_value(height);
                    t.idx.append_value(idx);
                    t.txid.append_value(&txid);
                    t.coinbase.append_value(coinbase);
                    t.hogex.append_value(rec.flags & txlog::FLAG_HOGEX != 0);
                    t.size.append_value(rec.size);
                    t.vsize.append_value(rec.vsize);
                    t.n_in
                        .append_value(u32::try_from(rec.inputs.len()).unwrap_or(u32::MAX));
                    t.n_out
                        .append_value(u32::try_from(rec.outputs.len()).unwrap_or(u32::MAX));
                    t.v_in.append_value(v_in);
                    t.v_out.append_value(v_out);
                    t.fee.append_value(if coinbase {
                        0
                    } else {
                        v_in.saturating_sub(v_out)
                    });
                    t.rows += 1;
                    for (n, x) in rec.inputs.iter().enumerate() {
                        let prev = l.txlog.tx_of_output(x.prev_out)?;
                        i.height.append_value(height);
                        i.idx.append_value(idx);
                        i.input.append_value(u32::try_from(n).unwrap_or(u32::MAX));
                        i.txid.append_value(&txid);
                        i.prev_txid.append_value(l.txlog.txid_of(prev)?.to_string());
                        i.prev_vout.append_value(
                            u32::try_from(x.prev_out - l.txlog.first_output(prev)?)
                                .unwrap_or(u32::MAX),
                        );
                        i.addr_id.append_value(x.addr.unwrap_or(u64::MAX));
                        i.addr.append_value(address_text(l, x.addr)?);
                        i.value.append_value(x.value);
                        i.prev_height.append_value(x.prev_height);
                        i.prev_coinbase.append_value(x.flags & COINBASE_FLAG != 0);
                        i.rows += 1;
                    }
                    for (n, x) in rec.outputs.iter().enumerate() {
                        let out = first_out + n as u64;
                        o.height.append_value(height);
                        o.idx.append_value(idx);
                        o.vout.append_value(u32::try_from(n).unwrap_or(u32::MAX));
                        o.txid.append_value(&txid);
                        o.addr_id.append_option(x.addr);
                        o.addr
                            .append_option(x.addr.map(|a| address_text(l, Some(a))).transpose()?);
                        o.kind.append_value(x.kind.name());
                        o.value.append_value(x.value);
                        o.data.append_option(x.data.as_deref());
                        let spent = match l.txlog.spender(out)? {
                            Some(s) => {
                                let input =
                                    l.txlog.tx(s)?.inputs.iter().position(|i| i.prev_out == out);
                                let (h, ix) = place(s);
                                Some((h, ix, u32::try_from(input.unwrap_or(0)).unwrap_or(u32::MAX)))
                            }
                            None => None,
                        };
                        o.spent_height.append_option(spent.map(|s| s.0));
                        o.spent_idx.append_option(spent.map(|s| s.1));
                        o.spent_input.append_option(spent.map(|s| s.2));
                        o.rows += 1;
                    }
                    if t.rows >= ROWS_PER_BATCH
                        || i.rows >= ROWS_PER_BATCH
                        || o.rows >= ROWS_PER_BATCH
                    {
                        flush_txs(
                            chain,
                            &mut t,
                            &mut i,
                            &mut o,
                            &mut tx_sink,
                            &mut in_sink,
                            &mut out_sink,
                        )?;
                    }
                    Ok(())
                })
        })?;
        // A chain's rows go to its own partition: none is held over to the next chain.
        flush_txs(
            chain,
            &mut t,
            &mut i,
            &mut o,
            &mut tx_sink,
            &mut in_sink,
            &mut out_sink,
        )?;
    }
    Ok((tx_sink.finish()?, in_sink.finish()?, out_sink.finish()?))
}

fn flush_txs(
    chain: Chain,
    t: &mut TxCols,
    i: &mut InCols,
    o: &mut OutCols,
    ts: &mut Sink<'_, '_>,
    is: &mut Sink<'_, '_>,
    os: &mut Sink<'_, '_>,
) -> Result<(), StoreError> {
    if t.rows > 0 {
        ts.write(
            chain,
            vec![
                Arc::new(t.height.finish()),
                Arc::new(t.idx.finish()),
                Arc::new(t.txid.finish()),
                Arc::new(t.coinbase.finish()),
                Arc::new(t.hogex.finish()),
                Arc::new(t.size.finish()),
                Arc::new(t.vsize.finish()),
                Arc::new(t.n_in.finish()),
                Arc::new(t.n_out.finish()),
                Arc::new(t.v_in.finish()),
                Arc::new(t.v_out.finish()),
                Arc::new(t.fee.finish()),
            ],
        )?;
        t.rows = 0;
    }
    if i.rows > 0 {
        is.write(
            chain,
            vec![
                Arc::new(i.height.finish()),
                Arc::new(i.idx.finish()),
                Arc::new(i.input.finish()),
                Arc::new(i.txid.finish()),
                Arc::new(i.prev_txid.finish()),
                Arc::new(i.prev_vout.finish()),
                Arc::new(i.addr_id.finish()),
                Arc::new(i.addr.finish()),
                Arc::new(i.value.finish()),
                Arc::new(i.prev_height.finish()),
                Arc::new(i.prev_coinbase.finish()),
            ],
        )?;
        i.rows = 0;
    }
    if o.rows > 0 {
        os.write(
            chain,
            vec![
                Arc::new(o.height.finish()),
                Arc::new(o.idx.finish()),
                Arc::new(o.vout.finish()),
                Arc::new(o.txid.finish()),
                Arc::new(o.addr_id.finish()),
                Arc::new(o.addr.finish()),
                Arc::new(o.kind.finish()),
                Arc::new(o.value.finish()),
                Arc::new(o.data.finish()),
                Arc::new(o.spent_height.finish()),
                Arc::new(o.spent_idx.finish()),
                Arc::new(o.spent_input.finish()),
            ],
        )?;
        o.rows = 0;
    }
    Ok(())
}

fn export_addresses(
    store: &Store,
    chains: &[Chain],
    writer: &DatasetWriter,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let mut sink = Sink::new(
        writer,
        "addresses",
        vec![
            f("address_id", DataType::UInt64, false),
            f("address", DataType::Utf8, false),
            f("received", amount(), false),
            f("sent", amount(), false),
            f("balance", amount(), false),
            f("tx_count", DataType::UInt64, false),
        ],
        Partitioning::Chain,
        progress,
    )?;
    for &chain in chains {
        store.with_ledger(chain, |l, _| {
            let total = l.addrs.len();
            let mut next = 0u64;
            while next < total {
                let end = (next + ROWS_PER_BATCH as u64).min(total);
                let mut id = UInt64Builder::new();
                let mut addr = StringBuilder::new();
                let (mut rec, mut sent, mut bal) = (
                    Decimal128Builder::new(),
                    Decimal128Builder::new(),
                    Decimal128Builder::new(),
                );
                let mut n = UInt64Builder::new();
                for a in next..end {
                    let t = crate::read::addr_totals(l, a)?;
                    id.append_value(a);
                    addr.append_value(address_text(l, Some(a))?);
                    dec(&mut rec, t.received);
                    dec(&mut sent, t.sent);
                    dec(&mut bal, t.received.saturating_sub(t.sent));
                    n.append_value(t.count);
                }
                let d = |b: &mut Decimal128Builder| amounts(b, dir);
                sink.write(
                    chain,
                    vec![
                        Arc::new(id.finish()),
                        Arc::new(addr.finish()),
                        d(&mut rec)?,
                        d(&mut sent)?,
                        d(&mut bal)?,
                        Arc::new(n.finish()),
                    ],
                )?;
                next = end;
            }
            Ok(())
        })?;
    }
    sink.finish()
}

fn export_address_txs(
    store: &Store,
    chains: &[Chain],
    writer: &DatasetWriter,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let mut sink = Sink::new(
        writer,
        "address_txs",
        vec![
            f("address_id", DataType::UInt64, false),
            f("height", DataType::UInt32, false),
            f("tx_index", DataType::UInt32, false),
            f("received", amount(), false),
            f("sent", amount(), false),
        ],
        Partitioning::ChainHeight,
        progress,
    )?;
    for &chain in chains {
        let starts = block_starts(&store.db, chain)?;
        store.with_ledger(chain, |l, _| {
            let mut id = UInt64Builder::new();
            let mut h = UInt32Builder::new();
            let mut idx = UInt32Builder::new();
            let (mut rec, mut sent) = (Decimal128Builder::new(), Decimal128Builder::new());
            let mut rows = 0usize;
            let mut history = Vec::new();
            for a in 0..l.addrs.len() {
                history.clear();
                for e in l.adj.walk(l.adj.head(u32::try_from(a).unwrap_or(u32::MAX))) {
                    history.push(e?);
                }
                for e in history.iter().rev() {
                    let b = starts
                        .partition_point(|&(first, _)| first <= e.seq)
                        .saturating_sub(1);
                    let (first, height) = starts.get(b).copied().unwrap_or_default();
                    id.append_value(a);
                    h.append_value(height);
                    idx.append_value(u32::try_from(e.seq - first).unwrap_or(u32::MAX));
                    dec(&mut rec, u128::from(e.received));
                    dec(&mut sent, u128::from(e.sent));
                    rows += 1;
                }
                if rows >= ROWS_PER_BATCH || (a + 1 == l.addrs.len() && rows > 0) {
                    let d = |b: &mut Decimal128Builder| amounts(b, dir);
                    sink.write(
                        chain,
                        vec![
                            Arc::new(id.finish()),
                            Arc::new(h.finish()),
                            Arc::new(idx.finish()),
                            d(&mut rec)?,
                            d(&mut sent)?,
                        ],
                    )?;
                    rows = 0;
                }
            }
            Ok(())
        })?;
    }
    sink.finish()
}

fn export_transfers(
    store: &Store,
    chains: &[Chain],
    writer: &DatasetWriter,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let u32f = DataType::UInt32;
    let s = DataType::Utf8;
    let mut sink = Sink::new(
        writer,
        "transfers",
        vec![
            f("height", u32f.clone(), false),
            f("tx_index", u32f.clone(), false),
            f("sub_index", u32f, false),
            f("kind", s.clone(), false),
            f("asset", s.clone(), false),
            f("from", s.clone(), false),
            f("to", s.clone(), false),
            f("amount", amount(), false),
            f("source", s.clone(), false),
            // Appended (schema 1 allows new nullable columns at the end): the tx hash, which a
            // batch trace resolves an incident's stolen tx by.
            f("tx", s, true),
        ],
        Partitioning::ChainHeight,
        progress,
    )?;
    #[derive(Default)]
    struct Cols {
        height: UInt32Builder,
        tx: UInt32Builder,
        sub: UInt32Builder,
        kind: StringBuilder,
        asset: StringBuilder,
        from: StringBuilder,
        to: StringBuilder,
        amount: Decimal128Builder,
        source: StringBuilder,
        hash: StringBuilder,
        rows: usize,
    }
    let flush = |chain: Chain, c: &mut Cols, sink: &mut Sink<'_, '_>| -> Result<(), StoreError> {
        if c.rows == 0 {
            return Ok(());
        }
        sink.write(
            chain,
            vec![
                Arc::new(c.height.finish()),
                Arc::new(c.tx.finish()),
                Arc::new(c.sub.finish()),
                Arc::new(c.kind.finish()),
                Arc::new(c.asset.finish()),
                Arc::new(c.from.finish()),
                Arc::new(c.to.finish()),
                amounts(&mut c.amount, dir)?,
                Arc::new(c.source.finish()),
                Arc::new(c.hash.finish()),
            ],
        )?;
        c.rows = 0;
        Ok(())
    };
    let mut cols = Cols::default();
    for &chain in chains {
        store.account_transfers(
            chain,
            |(h, tx, sub), hash, kind, asset, from, to, amount, source| {
                cols.height.append_value(h);
                cols.tx.append_value(tx);
                cols.sub.append_value(sub);
                cols.kind.append_value(
                    serde_json::to_value(kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                );
                cols.asset.append_value(asset);
                cols.from.append_value(from);
                cols.to.append_value(to);
                dec(&mut cols.amount, amount);
                cols.source.append_value(source);
                cols.hash.append_option(hash.map(|h| format!("0x{h}")));
                cols.rows += 1;
                if cols.rows >= ROWS_PER_BATCH {
                    flush(chain, &mut cols, &mut sink)?;
                }
                Ok(())
            },
        )?;
        flush(chain, &mut cols, &mut sink)?;
    }
    sink.finish()
}

/// Columns of one side of a link fact (the value in, or the value out).
#[derive(Default)]
struct LegCols {
    tx_index: UInt32Builder,
    tx: StringBuilder,
    leg: UInt32Builder,
    asset: StringBuilder,
    amount: Decimal128Builder,
    party: StringBuilder,
}

impl LegCols {
    fn fields(side: &str) -> Vec<Field> {
        vec![
            f(&format!("{side}_tx_index"), DataType::UInt32, true),
            f(&format!("{side}_tx"), DataType::Utf8, true),
            f(&format!("{side}_leg"), DataType::UInt32, true),
            f(&format!("{side}_asset"), DataType::Utf8, true),
            f(&format!("{side}_amount"), amount(), true),
            f(&format!("{side}_party"), DataType::Utf8, true),
        ]
    }
    fn push(&mut self, leg: Option<&LinkLeg>) {
        self.tx_index.append_option(leg.map(|l| l.tx_index));
        self.tx.append_option(leg.map(|l| l.tx.as_str()));
        self.leg.append_option(leg.map(|l| l.leg));
        self.asset.append_option(leg.map(|l| l.asset.as_str()));
        self.amount.append_option(leg.map(|l| decimal(l.amount)));
        self.party.append_option(leg.map(|l| l.party.as_str()));
    }
    fn finish(&mut self, dir: &Path) -> Result<Vec<ArrayRef>, StoreError> {
        Ok(vec![
            Arc::new(self.tx_index.finish()),
            Arc::new(self.tx.finish()),
            Arc::new(self.leg.finish()),
            Arc::new(self.asset.finish()),
            amounts(&mut self.amount, dir)?,
            Arc::new(self.party.finish()),
        ])
    }
}

/// Link facts, one row per fact, flattened: the value in (`in_*`: a swap's or wrap's input,
/// an entry's deposit) and the value out (`out_*`: a swap's output, an exit's payment). The
/// far side of an entry or exit is another fact, matched at trace time (which is also where
/// a match's confidence is decided), so a row has one side only.
fn export_links(
    rtx: &ReadTransaction,
    chains: &[Chain],
    writer: &DatasetWriter,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let s = DataType::Utf8;
    let mut fields = vec![
        f("height", DataType::UInt32, false),
        f("fact_index", DataType::UInt32, false),
        f("fact", s.clone(), false),
        f("kind", s.clone(), false),
        f("service", s.clone(), false),
        f("contract", s.clone(), false),
    ];
    fields.extend(LegCols::fields("in"));
    fields.extend(LegCols::fields("out"));
    fields.extend([
        f("deposit_id", s.clone(), true),
        f("reference", s.clone(), true),
        f("destination_chain", s.clone(), true),
        f("destination_address", s.clone(), true),
        f("destination_min_out", amount(), true),
        f("relayer", s.clone(), true),
        f("gas_price", amount(), true),
        f("evidence", s, false),
    ]);
    let mut sink = Sink::new(writer, "links", fields, Partitioning::ChainHeight, progress)?;
    let rows = match rtx.open_table(tables::LINK_FACTS) {
        Ok(t) => t,
        // A store that never held a link fact has no table: an empty export.
        Err(redb::TableError::TableDoesNotExist(_)) => return sink.finish(),
        Err(e) => return Err(e.into()),
    };
    #[derive(Default)]
    struct Cols {
        height: UInt32Builder,
        index: UInt32Builder,
        fact: StringBuilder,
        kind: StringBuilder,
        service: StringBuilder,
        contract: StringBuilder,
        input: LegCols,
        output: LegCols,
        deposit_id: StringBuilder,
        reference: StringBuilder,
        dest_chain: StringBuilder,
        dest_address: StringBuilder,
        dest_min_out: Decimal128Builder,
        relayer: StringBuilder,
        gas_price: Decimal128Builder,
        evidence: StringBuilder,
        rows: usize,
    }
    let flush = |chain: Chain, c: &mut Cols, sink: &mut Sink<'_, '_>| -> Result<(), StoreError> {
        if c.rows == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(c.height.finish()),
            Arc::new(c.index.finish()),
            Arc::new(c.fact.finish()),
            Arc::new(c.kind.finish()),
            Arc::new(c.service.finish()),
            Arc::new(c.contract.finish()),
        ];
        columns.extend(c.input.finish(dir)?);
        columns.extend(c.output.finish(dir)?);
        columns.extend([
            Arc::new(c.deposit_id.finish()) as ArrayRef,
            Arc::new(c.reference.finish()),
            Arc::new(c.dest_chain.finish()),
            Arc::new(c.dest_address.finish()),
            amounts(&mut c.dest_min_out, dir)?,
            Arc::new(c.relayer.finish()),
            amounts(&mut c.gas_price, dir)?,
            Arc::new(c.evidence.finish()),
        ]);
        sink.write(chain, columns)?;
        c.rows = 0;
        Ok(())
    };
    let mut cols = Cols::default();
    for &chain in chains {
        let code = chain.code();
        for row in rows.range((code, 0, 0)..=(code, u32::MAX, u32::MAX))? {
            let (k, v) = row?;
            let (_, height, index) = k.value();
            let fact = crate::link_facts::decode(v.value(), chain, height, index)?;
            let c = &mut cols;
            c.height.append_value(height);
            c.index.append_value(index);
            c.kind.append_value(fact.kind().name());
            c.service.append_value(fact.service());
            match &fact {
                LinkFact::Within {
                    contract,
                    input,
                    output,
                    evidence,
                    ..
                } => {
                    c.fact.append_value("within");
                    c.contract.append_value(contract);
                    c.input.push(Some(input));
                    c.output.push(Some(output));
                    c.deposit_id.append_null();
                    c.reference.append_null();
                    c.dest_chain.append_null();
                    c.dest_address.append_null();
                    c.dest_min_out.append_null();
                    c.relayer.append_null();
                    c.gas_price.append_null();
                    c.evidence.append_value(evidence);
                }
                LinkFact::Entry {
                    contract,
                    leg,
                    id,
                    destination,
                    gas_price,
                    evidence,
                    ..
                } => {
                    c.fact.append_value("entry");
                    c.contract.append_value(contract);
                    c.input.push(Some(leg));
                    c.output.push(None);
                    c.deposit_id.append_option(id.as_deref());
                    c.reference.append_null();
                    c.dest_chain
                        .append_option(destination.as_ref().and_then(|d| d.chain.as_deref()));
                    c.dest_address
                        .append_option(destination.as_ref().map(|d| d.address.as_str()));
                    c.dest_min_out
                        .append_option(destination.as_ref().and_then(|d| d.min_out).map(decimal));
                    c.relayer.append_null();
                    c.gas_price.append_option(gas_price.map(decimal));
                    c.evidence.append_value(evidence);
                }
                LinkFact::Exit {
                    contract,
                    leg,
                    reference,
                    relayer,
                    gas_price,
                    evidence,
                    ..
                } => {
                    c.fact.append_value("exit");
                    c.contract.append_value(contract);
                    c.input.push(None);
                    c.output.push(Some(leg));
                    c.deposit_id.append_null();
                    c.reference.append_option(reference.as_deref());
                    c.dest_chain.append_null();
                    c.dest_address.append_null();
                    c.dest_min_out.append_null();
                    c.relayer.append_option(relayer.as_deref());
                    c.gas_price.append_option(gas_price.map(decimal));
                    c.evidence.append_value(evidence);
                }
            }
            c.rows += 1;
            if c.rows >= ROWS_PER_BATCH {
                flush(chain, &mut cols, &mut sink)?;
            }
        }
        flush(chain, &mut cols, &mut sink)?;
    }
    sink.finish()
}
