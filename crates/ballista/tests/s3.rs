//! Every job with its dataset and its output on S3 — an S3 server of its own (moto's, started
//! by the test on loopback) — embedded and on a cluster of processes, gives the results it
//! gives on local directories; each result is marked complete, no iteration state is left, and
//! a damaged dataset on the store is refused with what is wrong.
//!
//! One test in a binary of its own: it sets the AWS_* environment (which the client and the
//! cluster's processes read) before anything else runs.

#[path = "it/cluster.rs"]
#[allow(dead_code)]
mod cluster;
#[path = "it/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use tracehound_jobs::trace::Policy;
use tracehound_jobs::{balances, cluster as co_spend, exposure, trace};

use crate::cluster::{Cluster, free_port};
use crate::fixture::Heist;

const BUCKET: &str = "tracehound";

/// moto's S3 server on loopback, stopped when dropped.
struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start() -> S3Server {
        let bin = std::env::var("TRACEHOUND_MOTO_SERVER").expect(
            "TRACEHOUND_MOTO_SERVER names moto's `moto_server` (scripts/test installs moto[server] into .tools/venv)",
        );
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "no S3 server");
            std::thread::sleep(Duration::from_millis(100));
        }
        S3Server { child, port }
    }

    /// Creates `bucket` (a plain `PUT /bucket`, which moto takes unsigned).
    fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn store() -> std::sync::Arc<dyn ObjectStore> {
    tracehound_jobs::location::s3_store(BUCKET).unwrap()
}

/// Copies every file under `dir` to `prefix/…` in the bucket.
async fn upload(dir: &Path, prefix: &str) {
    let s3 = store();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap().to_str().unwrap();
            let key = StorePath::from(format!("{prefix}/{rel}"));
            s3.put(&key, std::fs::read(&path).unwrap().into())
                .await
                .unwrap();
        }
    }
}

/// The keys under `prefix`.
async fn keys(prefix: &str) -> Vec<String> {
    let listed: Vec<_> = store()
        .list(Some(&StorePath::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
    keys.sort();
    keys
}

fn s3(prefix: &str) -> PathBuf {
    PathBuf::from(format!("s3://{BUCKET}/{prefix}"))
}

#[test]
fn every_job_on_s3_equals_the_same_job_on_local_directories() {
    let server = {
        // SAFETY: the first thing this binary's only test does, before any other thread of the
        // test (runtime, cluster, server) exists; the children inherit it.
        let port_env = |port: u16| unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"));
            std::env::set_var("AWS_ALLOW_HTTP", "true");
        };
        let server = S3Server::start();
        port_env(server.port);
        server
    };
    server.create_bucket(BUCKET);
    let heist = Heist::new(320);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&heist));
    drop(server);
}

/// The local, embedded results of the four jobs, with their requests.
struct Wanted {
    trace_request: trace::TraceRequest,
    exposure_request: exposure::ExposureRequest,
    balances: Vec<balances::Balance>,
    cluster: co_spend::Clusters,
    trace: trace::Traced,
    exposure: Vec<exposure::ExposureRow>,
}

/// Runs `jobs` in `ctx` on `dataset` into `out` (on S3), checks each result against the
/// local one, and that each result is marked complete with no state left; its seconds.
async fn same_results(
    ctx: &datafusion::prelude::SessionContext,
    dataset: &tracehound_jobs::Dataset,
    out: &str,
    want: &Wanted,
    jobs: &[&str],
) -> f64 {
    let started = Instant::now();
    let mut results = Vec::new();
    for job in jobs {
        let at = s3(out);
        match *job {
            "balances" => {
                let got = balances::run(ctx, dataset, &at).await.unwrap();
                assert_eq!(got.result, want.balances, "balances");
                assert_eq!(got.written, [s3(&format!("{out}/balances"))]);
                results.push("balances");
            }
            "cluster" => {
                let got = co_spend::run(ctx, dataset, &at).await.unwrap();
                assert_eq!(got.result, want.cluster, "cluster");
                results.extend(["entities", "coinjoins"]);
            }
            "trace" => {
                let got = trace::run(ctx, dataset, &at, &want.trace_request)
                    .await
                    .unwrap();
                assert_eq!(got.result, want.trace, "trace");
                results.extend(["trace_hops", "trace_endpoints"]);
            }
            "exposure" => {
                let got = exposure::run(ctx, dataset, &at, &want.exposure_request)
                    .await
                    .unwrap();
                assert_eq!(got.result, want.exposure, "exposure");
                results.push("exposures");
            }
            other => panic!("no job {other}"),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let written = keys(out).await;
    for result in results {
        let done = format!("{out}/{result}/_SUCCESS");
        assert!(written.contains(&done), "{done} in {written:?}");
    }
    assert!(
        written
            .iter()
            .any(|k| k.starts_with(&format!("{out}/balances/")) && k.ends_with(".parquet")),
        "the balances' files"
    );
    assert!(
        !written.iter().any(|k| k.contains("/.")),
        "no iteration state or temporary result is left: {written:?}"
    );
    seconds
}

async fn run(heist: &Heist) {
    let dir = heist.dir.path();
    upload(&heist.dataset(), "dataset").await;

    // Local, embedded: what every other run must give.
    let (embedded, local) = heist.embedded().await;
    let e = dir.join("embedded");
    let started = Instant::now();
    let trace_request = heist.utxo_trace_request(Policy::Haircut, 4);
    let exposure_request = heist.exposure_request();
    let want = Wanted {
        balances: balances::run(&embedded, &local, &e).await.unwrap().result,
        cluster: co_spend::run(&embedded, &local, &e).await.unwrap().result,
        trace: trace::run(&embedded, &local, &e, &trace_request)
            .await
            .unwrap()
            .result,
        exposure: exposure::run(&embedded, &local, &e, &exposure_request)
            .await
            .unwrap()
            .result,
        trace_request,
        exposure_request,
    };
    println!(
        "embedded on local files: four jobs in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Embedded, dataset and output on S3.
    let ctx = datafusion::prelude::SessionContext::new();
    let remote = tracehound_jobs::register(&ctx, &s3("dataset"))
        .await
        .unwrap();
    let all = ["balances", "cluster", "trace", "exposure"];
    let seconds = same_results(&ctx, &remote, "out-embedded", &want, &all).await;
    println!("embedded on S3: four jobs in {seconds:.1} s");

    // On a cluster of processes that open the bucket from their own environment.
    let nodes = Cluster::start(&dir.join("cluster"), 2, 2);
    let (ctx, remote) = nodes.session(&s3("dataset")).await;
    let some = ["balances", "trace", "exposure"];
    let seconds = same_results(&ctx, &remote, "out-ballista", &want, &some).await;
    println!("ballista on S3: balances, trace and exposure in {seconds:.1} s");
    drop(nodes);

    // A damaged dataset on the store: a stray partition, a partition lost, then the manifest.
    upload(&heist.dataset(), "damaged").await;
    let stray = "damaged/outputs/chain=litecoin-regtest/part-9999999900-9999999999.parquet";
    let some = keys("damaged/outputs")
        .await
        .into_iter()
        .find(|k| k.ends_with(".parquet"))
        .unwrap();
    let bytes = store()
        .get(&StorePath::from(some.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    store()
        .put(&StorePath::from(stray), bytes.into())
        .await
        .unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let e = tracehound_jobs::register(&ctx, &s3("damaged"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(stray.strip_prefix("damaged/").unwrap()) && e.contains("not in the manifest"),
        "{e}"
    );
    store().delete(&StorePath::from(stray)).await.unwrap();
    let lost = keys("damaged/outputs")
        .await
        .into_iter()
        .find(|k| k.ends_with(".parquet"))
        .unwrap();
    store()
        .delete(&StorePath::from(lost.as_str()))
        .await
        .unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let e = tracehound_jobs::register(&ctx, &s3("damaged"))
        .await
        .unwrap_err()
        .to_string();
    let file = lost.strip_prefix("damaged/").unwrap();
    assert!(
        e.contains(file) && e.contains("s3://tracehound/damaged"),
        "{e}"
    );
    store()
        .delete(&StorePath::from("damaged/_tracehound.json"))
        .await
        .unwrap();
    let e = tracehound_jobs::register(&ctx, &s3("damaged"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a complete tracehound export"), "{e}");
    let e = tracehound_jobs::register(&ctx, &PathBuf::from("gs://bucket/x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("gs:// is not a supported store"), "{e}");
}
