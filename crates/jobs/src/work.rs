//! Where a job's results and iteration state go, and how its rows come back.
//!
//! Results are Parquet directories in the output dir: written under a temporary name
//! (`.<name>.tmp`) and renamed to `<name>` when complete, so a reader never sees half a
//! result (on an object store: copied, then marked `_SUCCESS`; see [`crate::location`]). Iteration state goes to `.work-<job>/<step>/` in the output dir and is registered
//! as a listing table: on Ballista, executors read tables by path, and a memory table would
//! live in the client only. The work dir is removed when the job ends well.
//!
//! Files are written Snappy-compressed whatever the session's default, because the parquet
//! crate is built with Snappy only (a smaller build; the store's export uses it too).

use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type, UInt32Type, UInt64Type};
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::prelude::{ParquetReadOptions, SessionContext, col};

use crate::JobError;
use crate::location::Location;

/// What a job returns: its result (rows sorted), where it was written, and how the run went.
#[derive(Debug, Clone)]
pub struct Output<T> {
    /// The result, rows in the job's documented order.
    pub result: T,
    /// The result directories written (Parquet), by name.
    pub written: Vec<PathBuf>,
    /// Iterations run (1 for a job without iteration).
    pub iterations: u32,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A running job's handle on its session and directories.
pub(crate) struct Work<'c> {
    pub(crate) ctx: &'c SessionContext,
    pub(crate) job: &'static str,
    out: Location,
    work: Location,
    tables: Vec<String>,
    started: Instant,
    pub(crate) written: Vec<PathBuf>,
    /// Results written under temporary names, and where each goes when the job ends.
    pending: Vec<(Location, Location)>,
}

impl<'c> Work<'c> {
    /// Starts job `job` writing into `out` (a directory, created if missing, or
    /// `s3://BUCKET/PREFIX`).
    pub(crate) async fn start(
        ctx: &'c SessionContext,
        job: &'static str,
        out: &Path,
    ) -> Result<Work<'c>, JobError> {
        let out = Location::parse(out)?;
        out.create()?;
        out.register(ctx);
        let work = out.join(&format!(".work-{job}"));
        work.remove().await?;
        Ok(Work {
            ctx,
            job,
            out,
            work,
            tables: Vec::new(),
            started: Instant::now(),
            written: Vec::new(),
            pending: Vec::new(),
        })
    }

    fn engine(
        &self,
        step: &str,
    ) -> impl Fn(datafusion::error::DataFusionError) -> JobError + use<> {
        let (job, step) = (self.job, step.to_string());
        move |source| JobError::Engine {
            job,
            step: step.clone(),
            source,
        }
    }

    /// Plans `sql` (nothing runs yet).
    pub(crate) async fn sql(&self, step: &str, sql: &str) -> Result<DataFrame, JobError> {
        tracing::debug!(job = self.job, step, sql, "planning");
        self.ctx.sql(sql).await.map_err(self.engine(step))
    }

    /// Runs `sql` and collects its (small) answer.
    pub(crate) async fn query(&self, step: &str, sql: &str) -> Result<Vec<RecordBatch>, JobError> {
        let df = self.sql(step, sql).await?;
        df.collect().await.map_err(self.engine(step))
    }

    /// Writes `df` as iteration state `name` and registers it as table `<job>_<name>`;
    /// returns the table's name and its rows.
    pub(crate) async fn materialize(
        &mut self,
        name: &str,
        df: DataFrame,
    ) -> Result<(String, u64), JobError> {
        let dir = self.work.join(name);
        let table = format!("{}_{name}", self.job);
        let schema = df.schema().as_arrow().clone();
        let rows = write(df, &dir, self.engine(name)).await?;
        let path = dir.table_path();
        let _ = self.ctx.deregister_table(table.as_str());
        self.ctx
            .register_parquet(
                table.as_str(),
                &path,
                ParquetReadOptions::default().schema(&schema),
            )
            .await
            .map_err(self.engine(name))?;
        self.tables.push(table.clone());
        Ok((table, rows))
    }

    /// Drops iteration state `table` (registered by [`Work::materialize`]) and its files.
    pub(crate) async fn drop_state(&mut self, table: &str) -> Result<(), JobError> {
        let _ = self.ctx.deregister_table(table);
        self.tables.retain(|t| t != table);
        let name = table
            .strip_prefix(&format!("{}_", self.job))
            .unwrap_or(table);
        self.work.join(name).remove().await
    }

    /// Writes `df` as result `name` (`<out>/<name>/`, renamed into place when the job
    /// finishes) and reads it back sorted by `order`.
    pub(crate) async fn result(
        &mut self,
        name: &str,
        df: DataFrame,
        order: &[&str],
    ) -> Result<Vec<RecordBatch>, JobError> {
        // A unique temporary name: a session caches the file listing of a path it has read,
        // so a result read back from a reused path could name files replaced since.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tmp = self.out.join(&format!(".{name}.{nanos}.tmp"));
        let dir = self.out.join(name);
        let schema = df.schema().as_arrow().clone();
        write(df, &tmp, self.engine(name)).await?;
        let path = tmp.table_path();
        let back = self
            .ctx
            .read_parquet(path, ParquetReadOptions::default().schema(&schema))
            .await
            .map_err(self.engine(name))?;
        let sorted = back
            .sort(order.iter().map(|c| col(*c).sort(true, true)).collect())
            .map_err(self.engine(name))?;
        let batches = sorted.collect().await.map_err(self.engine(name))?;
        // Moved into place by `finish`, with the job's other results: a job that fails later
        // leaves none of its results beside an older run's.
        self.pending.push((tmp, dir));
        Ok(batches)
    }

    /// Ends the job: drops its state tables and work dir.
    pub(crate) async fn finish<T>(
        mut self,
        result: T,
        iterations: u32,
    ) -> Result<Output<T>, JobError> {
        for t in std::mem::take(&mut self.tables) {
            let _ = self.ctx.deregister_table(t.as_str());
        }
        for (tmp, dir) in std::mem::take(&mut self.pending) {
            tmp.move_to(&dir).await?;
            self.written.push(dir.display());
        }
        self.work.remove().await?;
        Ok(Output {
            result,
            written: std::mem::take(&mut self.written),
            iterations,
            seconds: self.started.elapsed().as_secs_f64(),
        })
    }
}

/// Writes `df` into directory `dir` (replaced) as Snappy Parquet; returns the rows written.
async fn write(
    df: DataFrame,
    dir: &Location,
    engine: impl Fn(datafusion::error::DataFusionError) -> JobError,
) -> Result<u64, JobError> {
    dir.remove().await?;
    dir.create()?;
    let mut options = TableParquetOptions::default();
    options.global.compression = Some("snappy".into());
    let path = dir.table_path();
    let counts = df
        .write_parquet(&path, DataFrameWriteOptions::new(), Some(options))
        .await
        .map_err(engine)?;
    // The sink answers one row with the count of rows written.
    let mut rows = 0;
    for b in &counts {
        if let Some(c) = b
            .columns()
            .first()
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        {
            rows += c.iter().flatten().sum::<u64>();
        }
    }
    Ok(rows)
}

/// Typed access to the columns of result batches, with errors naming the column.
pub(crate) struct Columns<'b> {
    job: &'static str,
    batch: &'b RecordBatch,
}

impl<'b> Columns<'b> {
    pub(crate) fn new(job: &'static str, batch: &'b RecordBatch) -> Columns<'b> {
        Columns { job, batch }
    }

    fn column(&self, name: &str) -> Result<&'b ArrayRef, JobError> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| self.shape(name, "missing"))
    }

    fn shape(&self, column: &str, what: &str) -> JobError {
        JobError::Shape {
            job: self.job,
            column: column.to_string(),
            what: what.to_string(),
        }
    }

    /// A text column (`Utf8`, `LargeUtf8` or `Utf8View`), nulls as `None`.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<Option<String>>, JobError> {
        let c = self.column(name)?;
        let c = datafusion::arrow::compute::cast(c, &DataType::Utf8)
            .map_err(|e| self.shape(name, &e.to_string()))?;
        let s = c.as_string::<i32>();
        Ok((0..s.len())
            .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
            .collect())
    }

    /// An unsigned integer column, nulls as `None`.
    pub(crate) fn u64s(&self, name: &str) -> Result<Vec<Option<u64>>, JobError> {
        let c = self.column(name)?;
        match c.data_type() {
            DataType::UInt64 => Ok(c.as_primitive::<UInt64Type>().iter().collect()),
            DataType::UInt32 => Ok(c
                .as_primitive::<UInt32Type>()
                .iter()
                .map(|v| v.map(u64::from))
                .collect()),
            DataType::Int64 => c
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| {
                    v.map(|v| u64::try_from(v).map_err(|_| self.shape(name, "negative count")))
                        .transpose()
                })
                .collect(),
            other => Err(self.shape(name, &format!("{other} is not an unsigned integer"))),
        }
    }

    /// A `Decimal128(_, 0)` column of base units, nulls as `None`.
    pub(crate) fn amounts(&self, name: &str) -> Result<Vec<Option<u128>>, JobError> {
        let c = self.column(name)?;
        match c.data_type() {
            DataType::Decimal128(_, 0) => c
                .as_primitive::<Decimal128Type>()
                .iter()
                .map(|v| {
                    v.map(|v| u128::try_from(v).map_err(|_| self.shape(name, "negative amount")))
                        .transpose()
                })
                .collect(),
            DataType::UInt64 => Ok(c
                .as_primitive::<UInt64Type>()
                .iter()
                .map(|v| v.map(u128::from))
                .collect()),
            other => Err(self.shape(name, &format!("{other} is not an amount column"))),
        }
    }
}

/// Amounts as decimal strings in JSON: a u128 does not fit a JSON number's usual readers.
pub(crate) fn amount_text<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

/// Fails once an iterated job has taken more than `max` iterations without a fixpoint.
pub(crate) fn within_bound(job: &'static str, iterations: u32, max: u32) -> Result<(), JobError> {
    if iterations > max {
        return Err(JobError::NoFixpoint {
            job,
            iterations: max,
        });
    }
    Ok(())
}

/// `name` must be present: a column the job's own SQL declares non-null.
pub(crate) fn present<T>(job: &'static str, column: &str, v: Option<T>) -> Result<T, JobError> {
    v.ok_or_else(|| JobError::Shape {
        job,
        column: column.to_string(),
        what: "null where the job writes a value".into(),
    })
}

/// Quotes `s` as an SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
