//! `tracehound jobs run JOB` and `tracehound bench jobs`: the batch jobs of `tracehound-jobs`
//! on a Parquet dataset, run embedded (DataFusion in this process) or on a Ballista cluster
//! (`--engine ballista --scheduler df://host:port`, in a build with the `ballista` feature).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use tracehound_core::{Address, Chain};
use tracehound_jobs::exposure::{ExposureRequest, Origin};
use tracehound_jobs::trace::{Policy, SourceAddress, StolenOutput, TraceRequest};
use tracehound_labels::{Category, TraceRole};
use tracehound_trace::Incident;

use crate::args::{BenchJobsArgs, Engine, EngineArgs, Global, JobName, JobsRunArgs};
use crate::output;

/// What a run did, for `--json` and the summary line.
#[derive(Debug, Serialize)]
struct JobReport {
    job: JobName,
    engine: &'static str,
    dataset: String,
    /// Result directories written.
    written: Vec<String>,
    /// Result rows (per result table).
    rows: Vec<(String, usize)>,
    iterations: u32,
    seconds: f64,
    /// The trace's totals per chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    totals: Option<Vec<tracehound_jobs::trace::TraceTotals>>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime for DataFusion")
}

/// `--dust` flags: `ASSET=BASE_UNITS`, or a bare number for the native coin.
fn dust_thresholds(flags: &[String]) -> anyhow::Result<std::collections::BTreeMap<String, u128>> {
    let mut out = std::collections::BTreeMap::new();
    for f in flags {
        match f.parse::<u128>() {
            Ok(units) => {
                out.insert("native".to_string(), units);
            }
            Err(_) => out.extend(crate::trace::parse_dust(std::slice::from_ref(f))?),
        }
    }
    Ok(out)
}

/// The incident file `which` (a path or a saved name) as the trace job's request.
fn request(
    global: &Global,
    which: &str,
    policy: &str,
    max_hops: u32,
    dust: &[String],
) -> anyhow::Result<TraceRequest> {
    let path = crate::trace::find_incident(global, which)?;
    let incident = Incident::from_file(&path)?;
    let chain_of = |name: &str| -> anyhow::Result<Chain> {
        Chain::from_str(name).map_err(|e| anyhow::anyhow!("incident {}: {e}", path.display()))
    };
    let mut stolen = Vec::new();
    for s in &incident.stolen {
        let chain = chain_of(&s.chain)?;
        stolen.push(StolenOutput {
            chain: chain.name(),
            txid: s.tx.clone(),
            vout: s.vout,
            sub_index: s.sub_index,
            amount: s.amount,
        });
    }
    let mut sources = Vec::new();
    for s in &incident.sources {
        let chain = chain_of(&s.chain)?;
        let address = Address::parse(chain, &s.address)
            .map(|a| a.as_str().to_string())
            .with_context(|| format!("incident {}: source {}", path.display(), s.address))?;
        sources.push(SourceAddress {
            chain: chain.name(),
            address,
            since: s.since,
        });
    }
    Ok(TraceRequest {
        stolen,
        sources,
        policy: Policy::from_str(policy).map_err(anyhow::Error::msg)?,
        max_hops,
        dust: dust_thresholds(dust)?,
        assets: incident.assets.clone(),
    })
}

/// The exposure job's origins (sanctioned and mixer labels) and stops (services and dark
/// places) from the data dir's label store, as `tracehound screen index` reads them; no
/// origins when the store has no such labels.
fn exposure_request(
    global: &Global,
    hops: u32,
    max_frontier: u64,
    max_history: u64,
) -> anyhow::Result<ExposureRequest> {
    let tags = match global.data().label_store()? {
        Some(store) => store.strongest_all()?,
        None => Vec::new(),
    };
    let mut origins = Vec::new();
    let mut stops = Vec::new();
    for t in &tags {
        let kind = match t.category {
            Category::Sanctioned => Some("sanctioned"),
            Category::Mixer => Some("mixer"),
            _ => None,
        };
        if let Some(kind) = kind {
            origins.push(Origin {
                chain: t.chain.name(),
                address: t.address.clone(),
                kind: kind.into(),
            });
        }
        if t.category.trace_role() != TraceRole::Party {
            stops.push((t.chain.name(), t.address.clone()));
        }
    }
    Ok(ExposureRequest {
        origins,
        stops,
        hops,
        max_frontier,
        max_history,
    })
}

async fn run_job(
    ctx: &SessionContext,
    engine: Engine,
    job: JobName,
    dataset: &tracehound_jobs::Dataset,
    out: &Path,
    trace: Option<&TraceRequest>,
    exposure: Option<&ExposureRequest>,
) -> anyhow::Result<JobReport> {
    let written = |w: &[PathBuf]| w.iter().map(|p| p.display().to_string()).collect();
    let report = |rows, o_written: &[PathBuf], iterations, seconds| JobReport {
        job,
        engine: engine.name(),
        dataset: dataset.dir().display().to_string(),
        written: written(o_written),
        rows,
        iterations,
        seconds,
        totals: None,
    };
    Ok(match job {
        JobName::Balances => {
            let o = tracehound_jobs::balances::run(ctx, dataset, out).await?;
            report(
                vec![("balances".into(), o.result.len())],
                &o.written,
                o.iterations,
                o.seconds,
            )
        }
        JobName::Cluster => {
            let o = tracehound_jobs::cluster::run(ctx, dataset, out).await?;
            let members = o.result.chains.iter().map(|(_, m)| m.len()).sum();
            report(
                vec![
                    ("entities".into(), members),
                    ("coinjoins".into(), o.result.coinjoins.len()),
                ],
                &o.written,
                o.iterations,
                o.seconds,
            )
        }
        JobName::Trace => {
            let Some(request) = trace else {
                bail!("the trace job needs --incident FILE|NAME");
            };
            let o = tracehound_jobs::trace::run(ctx, dataset, out, request).await?;
            let mut r = report(
                vec![
                    ("trace_hops".into(), o.result.hops.len()),
                    ("trace_endpoints".into(), o.result.endpoints.len()),
                ],
                &o.written,
                o.iterations,
                o.seconds,
            );
            r.totals = Some(o.result.totals);
            r
        }
        JobName::Exposure => {
            let Some(request) = exposure else {
                bail!("the exposure job needs labeled origins");
            };
            let o = tracehound_jobs::exposure::run(ctx, dataset, out, request).await?;
            report(
                vec![("exposures".into(), o.result.len())],
                &o.written,
                o.iterations,
                o.seconds,
            )
        }
    })
}

fn print(report: &JobReport) {
    let rows: Vec<String> = report
        .rows
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    println!(
        "{:?} ({}): {} in {:.2} s ({} iteration{}), written to {}",
        report.job,
        report.engine,
        rows.join(", "),
        report.seconds,
        report.iterations,
        if report.iterations == 1 { "" } else { "s" },
        report.written.join(", ")
    );
    for t in report.totals.iter().flatten() {
        println!(
            "  {} {}: stolen {}, placed {} (still moving {}, fees {}, dark {}, dust {})",
            t.chain, t.asset, t.stolen, t.placed, t.still_moving, t.fees, t.dark, t.dust
        );
    }
}

pub(crate) fn run(global: &Global, args: &JobsRunArgs) -> anyhow::Result<()> {
    check_engine(&args.on)?;
    let trace = match (&args.job, &args.incident) {
        (JobName::Trace, Some(which)) => Some(request(
            global,
            which,
            &args.policy,
            args.max_hops,
            &args.dust,
        )?),
        (JobName::Trace, None) => bail!("the trace job needs --incident FILE|NAME"),
        (_, Some(_)) => bail!("--incident is for the trace job"),
        (_, None) => None,
    };
    let exposure = match args.job {
        JobName::Exposure => {
            let request = exposure_request(global, args.hops, args.max_frontier, args.max_history)?;
            if request.origins.is_empty() {
                bail!(
                    "no sanctioned or mixer labels in {}: import some first (`tracehound labels import`)",
                    global.data_dir().display()
                );
            }
            Some(request)
        }
        _ => None,
    };
    let rt = runtime()?;
    let job = format!("{:?}", args.job).to_lowercase();
    let session = rt.block_on(session(&args.on))?;
    let report = block_on_within(rt, &args.on, &job, &session, async {
        let ctx = &session.ctx;
        let dataset = tracehound_jobs::register(ctx, &args.dataset).await?;
        run_job(
            ctx,
            args.on.engine,
            args.job,
            &dataset,
            &args.out,
            trace.as_ref(),
            exposure.as_ref(),
        )
        .await
    })?;
    if global.json {
        return output::json(&report);
    }
    print(&report);
    Ok(())
}

/// Runs `work` on `rt`, failing it once `on.timeout` has passed. A job that times out has no
/// result directory renamed into place (results are renamed only when complete); its queries
/// are dropped here, and those the cluster still holds are cancelled on its scheduler.
fn block_on_within<T>(
    rt: tokio::runtime::Runtime,
    on: &EngineArgs,
    what: &str,
    session: &Session,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let Some(seconds) = on.timeout.filter(|s| *s > 0) else {
        return rt.block_on(work);
    };
    let limit = std::time::Duration::from_secs(seconds);
    let outcome = rt.block_on(async move { tokio::time::timeout(limit, work).await });
    let cancelled = match outcome {
        Ok(_) => String::new(),
        Err(_) => rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), session.cancel())
                .await
                .unwrap_or_else(|_| "; the scheduler did not answer the cancel within 10 s".into())
        }),
    };
    // Whatever still runs (a query's blocking reads, a poll of the scheduler) is left to end
    // with the process, not waited for.
    rt.shutdown_background();
    let where_ = match (on.engine, on.scheduler.as_deref()) {
        (Engine::Ballista, Some(url)) => format!("on the Ballista cluster at {url}"),
        _ => "in this process".to_string(),
    };
    outcome.unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "{what} did not finish within {seconds} s {where_} (--timeout); no result was written as complete{cancelled}"
        ))
    })
}

/// Refuses an engine without what it needs before any work is done.
fn check_engine(on: &EngineArgs) -> anyhow::Result<()> {
    match (on.engine, on.scheduler.as_deref()) {
        (Engine::Embedded, Some(_)) => bail!("--scheduler is for --engine ballista"),
        (Engine::Ballista, None) => {
            bail!("--engine ballista needs --scheduler df://HOST:PORT (the cluster's scheduler)")
        }
        (Engine::Ballista, Some(_)) if !cfg!(feature = "ballista") => bail!(
            "this tracehound was built without Ballista: build it with `--features ballista` \
             (cargo install --path crates/cli --features ballista), or run with --engine embedded"
        ),
        _ => Ok(()),
    }
}

/// A job's session: this process's, or one whose queries run on a cluster, with the jobs it
/// starts there.
struct Session {
    ctx: SessionContext,
    #[cfg(feature = "ballista")]
    submitted: Option<tracehound_ballista::Submitted>,
}

impl Session {
    /// Cancels the session's unfinished cluster jobs; what to add to the error.
    async fn cancel(&self) -> String {
        #[cfg(feature = "ballista")]
        if let Some(s) = &self.submitted {
            return match s.cancel().await {
                Ok(ids) if ids.is_empty() => "; the cluster held no unfinished job of it".into(),
                Ok(ids) => format!("; cancelled on the cluster: job {}", ids.join(", ")),
                Err(e) => format!("; cancelling it on the cluster failed: {e}"),
            };
        }
        String::new()
    }
}

/// The session a job runs in: this process's, or one whose queries run on the cluster.
async fn session(on: &EngineArgs) -> anyhow::Result<Session> {
    match (on.engine, on.scheduler.as_deref()) {
        #[cfg(feature = "ballista")]
        (Engine::Ballista, Some(url)) => {
            let options = tracehound_ballista::ConnectOptions {
                partitions: on.partitions,
                ..Default::default()
            };
            let (ctx, submitted) = tracehound_ballista::connect(url, &options).await?;
            Ok(Session {
                ctx,
                submitted: Some(submitted),
            })
        }
        _ => Ok(Session {
            ctx: SessionContext::new(),
            #[cfg(feature = "ballista")]
            submitted: None,
        }),
    }
}

/// One job's throughput on the dataset.
#[derive(Debug, Serialize)]
struct BenchRow {
    job: JobName,
    /// Rows of the tables it reads.
    rows_read: u64,
    seconds: f64,
    rows_per_second: f64,
    iterations: u32,
    result_rows: usize,
}

pub(crate) fn bench(global: &Global, args: &BenchJobsArgs) -> anyhow::Result<()> {
    let tmp;
    let out = match &args.out {
        Some(o) => o.clone(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary output directory")?;
            tmp.path().to_path_buf()
        }
    };
    let trace = args
        .incident
        .as_deref()
        .map(|w| request(global, w, "haircut", args.max_hops, &[]))
        .transpose()?;
    let exposure = exposure_request(
        global,
        args.hops,
        crate::args::EXPOSURE_MAX_FRONTIER,
        crate::args::EXPOSURE_MAX_HISTORY,
    )?;
    check_engine(&args.on)?;
    let rt = runtime()?;
    let session = rt.block_on(session(&args.on))?;
    let rows = block_on_within(rt, &args.on, "bench jobs", &session, async {
        let ctx = &session.ctx;
        let dataset = tracehound_jobs::register(ctx, &args.dataset).await?;
        let read = |tables: &[&str]| tables.iter().filter_map(|t| dataset.rows(t)).sum::<u64>();
        let mut rows = Vec::new();
        let mut jobs = vec![
            (JobName::Balances, read(&["inputs", "outputs", "transfers"])),
            (JobName::Cluster, read(&["inputs", "outputs"])),
        ];
        if trace.is_some() {
            jobs.push((
                JobName::Trace,
                read(&["inputs", "outputs", "txs", "transfers"]),
            ));
        }
        if !exposure.origins.is_empty() {
            jobs.push((JobName::Exposure, read(&["inputs", "outputs", "transfers"])));
        }
        for (job, rows_read) in jobs {
            let r = run_job(
                ctx,
                args.on.engine,
                job,
                &dataset,
                &out,
                trace.as_ref(),
                Some(&exposure),
            )
            .await?;
            rows.push(BenchRow {
                job,
                rows_read,
                seconds: r.seconds,
                rows_per_second: rows_read as f64 / r.seconds.max(1e-9),
                iterations: r.iterations,
                result_rows: r.rows.iter().map(|(_, n)| n).sum(),
            });
        }
        anyhow::Ok(rows)
    })?;
    if global.json {
        return output::json(&rows);
    }
    for r in &rows {
        println!(
            "{:?}: {} rows read in {:.2} s = {:.0} rows/s ({} iterations, {} result rows)",
            r.job, r.rows_read, r.seconds, r.rows_per_second, r.iterations, r.result_rows
        );
    }
    Ok(())
}
