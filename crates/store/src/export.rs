//! Export of every table to Parquet: the format batch jobs (DataFusion, Ballista) read.
//!
//! One file per table in the output directory, written to a temporary name and renamed when
//! complete, so a reader never sees half a file. Amounts of UTXO tables are `UInt64` base units;
//! address totals are `Decimal128(38, 0)` base units (wide enough for token amounts).
//!
//! | file | columns |
//! |---|---|
//! | `blocks` | chain, height, hash, parent, time, tx_count |
//! | `txs` | chain, height, tx_index, txid, coinbase, hogex, size, vsize, input_count, output_count, input_value, output_value, fee |
//! | `inputs` | chain, height, tx_index, input_index, txid, prev_txid, prev_vout, address_id, address, value, prev_height, prev_coinbase |
//! | `outputs` | chain, height, tx_index, vout, txid, address_id, address, kind, value, data, spent_height, spent_tx_index, spent_input_index |
//! | `addresses` | chain, address_id, address, received, sent, balance, tx_count |
//! | `address_txs` | chain, address_id, height, tx_index, received, sent |
//! | `transfers` | account chains: chain, height, tx_index (4294967294 for a block's opening balances, 4294967295 for block-level rewards and withdrawals), sub_index, kind, asset (`native` or the token contract), from, to, amount (`Decimal128(38,0)` base units), source (provenance) |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, StringBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use redb::{ReadTransaction, ReadableDatabase, ReadableTable};
use tracehound_core::Chain;

use crate::bulk::txlog;
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

const ROWS_PER_BATCH: usize = 65_536;

fn err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Export {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Streams record batches into one Parquet file, renamed into place on `finish`.
struct Sink<'p> {
    name: &'static str,
    progress: Progress<'p>,
    writer: ArrowWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    schema: SchemaRef,
    rows: u64,
}

/// Called with (table, rows written so far) after every record batch.
type Progress<'p> = &'p dyn Fn(&str, u64);

impl<'p> Sink<'p> {
    fn new(
        dir: &Path,
        name: &'static str,
        fields: Vec<Field>,
        progress: Progress<'p>,
    ) -> Result<Sink<'p>, StoreError> {
        let path = dir.join(format!("{name}.parquet"));
        let tmp = dir.join(format!(".{name}.parquet.tmp"));
        let file = std::fs::File::create(&tmp).map_err(|e| err(&tmp, e))?;
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer =
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| err(&tmp, e))?;
        Ok(Sink {
            name,
            progress,
            writer,
            tmp,
            path,
            schema,
            rows: 0,
        })
    }
    fn write(&mut self, columns: Vec<ArrayRef>) -> Result<(), StoreError> {
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| err(&self.path, e))?;
        self.rows += batch.num_rows() as u64;
        (self.progress)(self.name, self.rows);
        self.writer.write(&batch).map_err(|e| err(&self.path, e))
    }
    fn finish(self) -> Result<u64, StoreError> {
        self.writer.close().map_err(|e| err(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| err(&self.path, e))?;
        Ok(self.rows)
    }
}

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}

fn amount() -> DataType {
    DataType::Decimal128(38, 0)
}

fn dec(b: &mut Decimal128Builder, v: u128) {
    // 128-bit amounts beyond 10^38 do not occur on any real chain; clamp rather than wrap.
    b.append_value(i128::try_from(v).unwrap_or(i128::MAX));
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
    /// Writes every table to `<dir>/<table>.parquet`.
    pub fn export_parquet(&self, dir: &Path) -> Result<ExportSummary, StoreError> {
        self.export_parquet_with_progress(dir, &|_, _| {})
    }

    /// [`Store::export_parquet`], calling `progress(table, rows so far)` as it goes.
    pub fn export_parquet_with_progress(
        &self,
        dir: &Path,
        progress: &dyn Fn(&str, u64),
    ) -> Result<ExportSummary, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        let rtx = self.db.begin_read()?;
        let all = chains(&rtx)?;
        let mut summary = ExportSummary::default();
        summary
            .tables
            .push(("blocks".into(), export_blocks(&rtx, &all, dir, progress)?));
        let (chains, accounts): (Vec<Chain>, Vec<Chain>) = all
            .into_iter()
            .partition(|c| c.family() == tracehound_core::ChainFamily::Utxo);
        let (txs, inputs, outputs) = export_txs(self, &chains, dir, progress)?;
        summary.tables.push(("txs".into(), txs));
        summary.tables.push(("inputs".into(), inputs));
        summary.tables.push(("outputs".into(), outputs));
        summary.tables.push((
            "addresses".into(),
            export_addresses(self, &chains, dir, progress)?,
        ));
        summary.tables.push((
            "address_txs".into(),
            export_address_txs(self, &chains, dir, progress)?,
        ));
        summary.tables.push((
            "transfers".into(),
            export_transfers(self, &accounts, dir, progress)?,
        ));
        Ok(summary)
    }
}

fn export_blocks(
    rtx: &ReadTransaction,
    chains: &[Chain],
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let mut sink = Sink::new(
        dir,
        "blocks",
        vec![
            f("chain", DataType::Utf8, false),
            f("height", DataType::UInt32, false),
            f("hash", DataType::Utf8, false),
            f("parent", DataType::Utf8, false),
            f("time", DataType::UInt64, false),
            f("tx_count", DataType::UInt32, false),
        ],
        progress,
    )?;
    let blocks = rtx.open_table(tables::BLOCKS)?;
    for &chain in chains {
        let c = chain.code();
        let mut rows = blocks.range((c, 0)..=(c, u32::MAX))?.peekable();
        while rows.peek().is_some() {
            let (mut ch, mut h, mut hash, mut parent, mut time, mut n) = (
                StringBuilder::new(),
                UInt32Builder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
                UInt64Builder::new(),
                UInt32Builder::new(),
            );
            for row in rows.by_ref().take(ROWS_PER_BATCH) {
                let (k, v) = row?;
                let r = BlockRecord::decode(v.value())?;
                ch.append_value(chain.name());
                h.append_value(k.value().1);
                hash.append_value(r.hash.to_string());
                parent.append_value(r.parent.to_string());
                time.append_value(r.time);
                n.append_value(r.tx_count);
            }
            sink.write(vec![
                Arc::new(ch.finish()),
                Arc::new(h.finish()),
                Arc::new(hash.finish()),
                Arc::new(parent.finish()),
                Arc::new(time.finish()),
                Arc::new(n.finish()),
            ])?;
        }
    }
    sink.finish()
}

#[derive(Default)]
struct TxCols {
    chain: StringBuilder,
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
    chain: StringBuilder,
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
    chain: StringBuilder,
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
    dir: &Path,
    progress: Progress<'_>,
) -> Result<(u64, u64, u64), StoreError> {
    let u32f = DataType::UInt32;
    let u64f = DataType::UInt64;
    let s = DataType::Utf8;
    let mut tx_sink = Sink::new(
        dir,
        "txs",
        vec![
            f("chain", s.clone(), false),
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
        progress,
    )?;
    let mut in_sink = Sink::new(
        dir,
        "inputs",
        vec![
            f("chain", s.clone(), false),
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
        progress,
    )?;
    let mut out_sink = Sink::new(
        dir,
        "outputs",
        vec![
            f("chain", s.clone(), false),
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
        progress,
    )?;
    let (mut t, mut i, mut o) = (TxCols::default(), InCols::default(), OutCols::default());
    for &chain in chains {
        let name = chain.name();
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
                    t.chain.append_value(&name);
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
                        i.chain.append_value(&name);
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
                        o.chain.append_value(&name);
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
    }
    flush_txs(
        &mut t,
        &mut i,
        &mut o,
        &mut tx_sink,
        &mut in_sink,
        &mut out_sink,
    )?;
    Ok((tx_sink.finish()?, in_sink.finish()?, out_sink.finish()?))
}

fn flush_txs(
    t: &mut TxCols,
    i: &mut InCols,
    o: &mut OutCols,
    ts: &mut Sink<'_>,
    is: &mut Sink<'_>,
    os: &mut Sink<'_>,
) -> Result<(), StoreError> {
    if t.rows > 0 {
        ts.write(vec![
            Arc::new(t.chain.finish()),
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
        ])?;
        t.rows = 0;
    }
    if i.rows > 0 {
        is.write(vec![
            Arc::new(i.chain.finish()),
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
        ])?;
        i.rows = 0;
    }
    if o.rows > 0 {
        os.write(vec![
            Arc::new(o.chain.finish()),
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
        ])?;
        o.rows = 0;
    }
    Ok(())
}

fn export_addresses(
    store: &Store,
    chains: &[Chain],
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let mut sink = Sink::new(
        dir,
        "addresses",
        vec![
            f("chain", DataType::Utf8, false),
            f("address_id", DataType::UInt64, false),
            f("address", DataType::Utf8, false),
            f("received", amount(), false),
            f("sent", amount(), false),
            f("balance", amount(), false),
            f("tx_count", DataType::UInt64, false),
        ],
        progress,
    )?;
    for &chain in chains {
        store.with_ledger(chain, |l, _| {
            let total = l.addrs.len();
            let mut next = 0u64;
            while next < total {
                let end = (next + ROWS_PER_BATCH as u64).min(total);
                let mut ch = StringBuilder::new();
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
                    ch.append_value(chain.name());
                    id.append_value(a);
                    addr.append_value(address_text(l, Some(a))?);
                    dec(&mut rec, t.received);
                    dec(&mut sent, t.sent);
                    dec(&mut bal, t.received.saturating_sub(t.sent));
                    n.append_value(t.count);
                }
                let d = |b: &mut Decimal128Builder| amounts(b, dir);
                sink.write(vec![
                    Arc::new(ch.finish()),
                    Arc::new(id.finish()),
                    Arc::new(addr.finish()),
                    d(&mut rec)?,
                    d(&mut sent)?,
                    d(&mut bal)?,
                    Arc::new(n.finish()),
                ])?;
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
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let mut sink = Sink::new(
        dir,
        "address_txs",
        vec![
            f("chain", DataType::Utf8, false),
            f("address_id", DataType::UInt64, false),
            f("height", DataType::UInt32, false),
            f("tx_index", DataType::UInt32, false),
            f("received", amount(), false),
            f("sent", amount(), false),
        ],
        progress,
    )?;
    for &chain in chains {
        let starts = block_starts(&store.db, chain)?;
        store.with_ledger(chain, |l, _| {
            let mut ch = StringBuilder::new();
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
                    ch.append_value(chain.name());
                    id.append_value(a);
                    h.append_value(height);
                    idx.append_value(u32::try_from(e.seq - first).unwrap_or(u32::MAX));
                    dec(&mut rec, u128::from(e.received));
                    dec(&mut sent, u128::from(e.sent));
                    rows += 1;
                }
                if rows >= ROWS_PER_BATCH || (a + 1 == l.addrs.len() && rows > 0) {
                    let d = |b: &mut Decimal128Builder| amounts(b, dir);
                    sink.write(vec![
                        Arc::new(ch.finish()),
                        Arc::new(id.finish()),
                        Arc::new(h.finish()),
                        Arc::new(idx.finish()),
                        d(&mut rec)?,
                        d(&mut sent)?,
                    ])?;
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
    dir: &Path,
    progress: Progress<'_>,
) -> Result<u64, StoreError> {
    let u32f = DataType::UInt32;
    let s = DataType::Utf8;
    let mut sink = Sink::new(
        dir,
        "transfers",
        vec![
            f("chain", s.clone(), false),
            f("height", u32f.clone(), false),
            f("tx_index", u32f.clone(), false),
            f("sub_index", u32f, false),
            f("kind", s.clone(), false),
            f("asset", s.clone(), false),
            f("from", s.clone(), false),
            f("to", s.clone(), false),
            f("amount", amount(), false),
            f("source", s, false),
        ],
        progress,
    )?;
    #[derive(Default)]
    struct Cols {
        chain: StringBuilder,
        height: UInt32Builder,
        tx: UInt32Builder,
        sub: UInt32Builder,
        kind: StringBuilder,
        asset: StringBuilder,
        from: StringBuilder,
        to: StringBuilder,
        amount: Decimal128Builder,
        source: StringBuilder,
        rows: usize,
    }
    let flush = |c: &mut Cols, sink: &mut Sink<'_>| -> Result<(), StoreError> {
        if c.rows == 0 {
            return Ok(());
        }
        sink.write(vec![
            Arc::new(c.chain.finish()),
            Arc::new(c.height.finish()),
            Arc::new(c.tx.finish()),
            Arc::new(c.sub.finish()),
            Arc::new(c.kind.finish()),
            Arc::new(c.asset.finish()),
            Arc::new(c.from.finish()),
            Arc::new(c.to.finish()),
            amounts(&mut c.amount, dir)?,
            Arc::new(c.source.finish()),
        ])?;
        c.rows = 0;
        Ok(())
    };
    let mut cols = Cols::default();
    for &chain in chains {
        let name = chain.name();
        store.account_transfers(
            chain,
            |(h, tx, sub), kind, asset, from, to, amount, source| {
                cols.chain.append_value(&name);
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
                cols.rows += 1;
                if cols.rows >= ROWS_PER_BATCH {
                    flush(&mut cols, &mut sink)?;
                }
                Ok(())
            },
        )?;
    }
    flush(&mut cols, &mut sink)?;
    sink.finish()
}
