//! `tracehound jobs run` on the simulator's heist, exported as a Parquet dataset: the jobs'
//! reports, the engine switch's errors, and (with `--features ballista`) the same jobs on a
//! Ballista scheduler and executor started by the test, whose figures must equal the
//! embedded run's. Row-for-row equality of every job on a cluster of processes is tested in
//! `crates/ballista`.

mod common;

use std::path::{Path, PathBuf};

use common::{ok, tracehound};
use serde_json::Value;

/// The heist ingested, its incident saved as `heist`, and exported: (work, data, dataset).
fn exported() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let sim = common::SimFiles::generate(work.path());
    sim.ingest_utxo();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(sim.truth.join("truth.json")).unwrap()).unwrap();
    let mut create = vec!["incident", "create", "heist", "--chain", "litecoin-regtest"];
    for tx in truth["incident"]["txs"].as_array().unwrap() {
        create.extend(["--tx", tx.as_str().unwrap()]);
    }
    ok(tracehound(&sim.data, &create));
    let dataset = work.path().join("dataset");
    ok(tracehound(
        &sim.data,
        &["export", "parquet", dataset.to_str().unwrap()],
    ));
    let data = sim.data.clone();
    (work, data, dataset)
}

/// `jobs run JOB` with `extra` arguments, its JSON report.
fn run(data: &Path, job: &str, dataset: &Path, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "--json",
        "jobs",
        "run",
        job,
        "--dataset",
        dataset.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    serde_json::from_slice(&ok(tracehound(data, &args)).stdout).unwrap()
}

fn fails(data: &Path, args: &[&str]) -> String {
    let out = tracehound(data, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// The figures two engines must agree on: rows per result table, iterations and trace totals.
#[cfg(feature = "ballista")]
fn figures(report: &Value) -> (Value, Value, Value) {
    (
        report["rows"].clone(),
        report["iterations"].clone(),
        report["totals"].clone(),
    )
}

#[test]
fn jobs_run_embedded_and_the_engine_switch_refuses_what_it_cannot_do() {
    let (work, data, dataset) = exported();
    let out = work.path().join("out");
    let balances = run(&data, "balances", &dataset, &out, &[]);
    assert_eq!(balances["engine"], "embedded");
    let rows = balances["rows"][0][1].as_u64().unwrap();
    assert!(rows > 100, "{balances}");
    assert!(out.join("balances").is_dir());
    let trace = run(&data, "trace", &dataset, &out, &["--incident", "heist"]);
    let totals = &trace["totals"][0];
    assert_eq!(totals["chain"], "litecoin-regtest");
    assert_eq!(
        totals["placed"], totals["stolen"],
        "haircut conserves the stolen total: {trace}"
    );

    let d = dataset.to_str().unwrap();
    let o = out.to_str().unwrap();
    let base = ["jobs", "run", "cluster", "--dataset", d, "--out", o];
    let e = fails(&data, &[&base[..], &["--engine", "ballista"]].concat());
    assert!(e.contains("--engine ballista needs --scheduler"), "{e}");
    let e = fails(
        &data,
        &[&base[..], &["--scheduler", "df://127.0.0.1:1"]].concat(),
    );
    assert!(e.contains("--scheduler is for --engine ballista"), "{e}");
    let e = fails(
        &data,
        &[
            &base[..],
            &["--engine", "ballista", "--scheduler", "df://127.0.0.1:1"],
        ]
        .concat(),
    );
    if cfg!(feature = "ballista") {
        assert!(
            e.contains("df://127.0.0.1:1") && e.contains("unreachable"),
            "{e}"
        );
    } else {
        assert!(e.contains("built without Ballista"), "{e}");
    }
}

#[cfg(feature = "ballista")]
#[test]
fn jobs_on_a_ballista_cluster_give_the_embedded_figures() {
    use std::time::Duration;

    let (work, data, dataset) = exported();
    let flight = free_port();
    // The scheduler and one executor, Ballista's own, in this test's process.
    let (runtime, port) = scheduler();
    let executor = tracehound_ballista::executor::ExecutorOptions {
        scheduler_host: "127.0.0.1".into(),
        scheduler_port: port,
        bind: [127, 0, 0, 1].into(),
        flight_port: flight,
        work_dir: Some(work.path().join("executor")),
        tasks: 2,
        heartbeat: Duration::from_secs(1),
    };
    std::fs::create_dir_all(work.path().join("executor")).unwrap();
    runtime.spawn(async move { tracehound_ballista::executor::run(&executor).await });
    let url = format!("df://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", flight)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "no executor");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));

    for (job, extra) in [
        ("balances", &[][..]),
        ("cluster", &[][..]),
        (
            "trace",
            &[
                "--incident",
                "heist",
                "--policy",
                "haircut",
                "--max-hops",
                "4",
            ][..],
        ),
    ] {
        let embedded = run(&data, job, &dataset, &work.path().join("e"), extra);
        let remote = [
            extra,
            &[
                "--engine",
                "ballista",
                "--scheduler",
                &url,
                "--partitions",
                "2",
            ],
        ]
        .concat();
        let ballista = run(&data, job, &dataset, &work.path().join("b"), &remote);
        assert_eq!(ballista["engine"], "ballista");
        assert_eq!(figures(&ballista), figures(&embedded), "{job}");
    }
    runtime.shutdown_background();
}

#[cfg(feature = "ballista")]
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Ballista scheduler on loopback in a runtime of this test, without executors: (its
/// runtime, its port), once it accepts connections.
#[cfg(feature = "ballista")]
fn scheduler() -> (tokio::runtime::Runtime, u16) {
    let port = free_port();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options = tracehound_ballista::scheduler::SchedulerOptions {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ..Default::default()
    };
    runtime.spawn(async move { tracehound_ballista::scheduler::run(&options).await });
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no scheduler"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (runtime, port)
}

/// A cluster without executors accepts the job and never runs it: `--timeout` ends the wait
/// with an error naming the job, the cluster and the limit, no result is in place, and the
/// job is cancelled on the scheduler.
#[cfg(feature = "ballista")]
#[test]
fn a_job_the_cluster_never_runs_fails_at_its_timeout() {
    let (work, data, dataset) = exported();
    let (runtime, port) = scheduler();
    let url = format!("df://127.0.0.1:{port}");
    let out = work.path().join("out");
    let started = std::time::Instant::now();
    let e = fails(
        &data,
        &[
            "jobs",
            "run",
            "balances",
            "--dataset",
            dataset.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--engine",
            "ballista",
            "--scheduler",
            &url,
            "--timeout",
            "3",
        ],
    );
    let waited = started.elapsed();
    assert!(
        e.contains(&format!(
            "balances did not finish within 3 s on the Ballista cluster at {url}"
        )),
        "{e}"
    );
    assert!(
        waited >= std::time::Duration::from_secs(3) && waited < std::time::Duration::from_secs(60),
        "{waited:?}"
    );
    assert!(!out.join("balances").exists(), "a result was put in place");
    // The job the cluster held is cancelled there, not left queued.
    let (_, ids) = e
        .split_once("cancelled on the cluster: job ")
        .unwrap_or_else(|| panic!("no job cancelled: {e}"));
    let id = ids.split([',', '\n', ' ']).next().unwrap();
    let state = runtime
        .block_on(tracehound_ballista::job_state(&url, id))
        .unwrap();
    assert_eq!(
        state,
        tracehound_ballista::JobState::Failed("Cancelled".into()),
        "{id}"
    );
    runtime.shutdown_background();
}
