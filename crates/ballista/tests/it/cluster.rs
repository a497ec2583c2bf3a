//! A Ballista cluster of processes on loopback, killed when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scheduler and its executors, each a `tracehound-ballista` process.
pub(crate) struct Cluster {
    scheduler: Child,
    executors: Vec<Option<Child>>,
    logs: Vec<std::path::PathBuf>,
    /// One cluster at a time: two at once on a 2-core machine would time each other out.
    _turn: std::sync::MutexGuard<'static, ()>,
    /// The scheduler's URL for clients (`df://127.0.0.1:PORT`).
    pub(crate) url: String,
}

impl Cluster {
    /// Starts a scheduler and `executors` executors (`tasks` task slots each), with work
    /// dirs under `dir`, and waits until every one listens.
    pub(crate) fn start(dir: &Path, executors: usize, tasks: usize) -> Cluster {
        static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = TURN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::fs::create_dir_all(dir).unwrap();
        let scheduler_port = free_port();
        let scheduler = spawn(
            &[
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{scheduler_port}"),
                "--executor-timeout",
                "10",
            ],
            &dir.join("scheduler.log"),
        );
        wait_listening(scheduler_port, "scheduler");
        let mut cluster = Cluster {
            scheduler,
            executors: Vec::new(),
            logs: vec![dir.join("scheduler.log")],
            _turn: turn,
            url: format!("df://127.0.0.1:{scheduler_port}"),
        };
        for i in 0..executors {
            let flight = free_port();
            let work = dir.join(format!("executor-{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let child = spawn(
                &[
                    "executor",
                    "--scheduler",
                    &format!("127.0.0.1:{scheduler_port}"),
                    "--flight-port",
                    &flight.to_string(),
                    "--work-dir",
                    work.to_str().unwrap(),
                    "--tasks",
                    &tasks.to_string(),
                    "--heartbeat",
                    "1",
                ],
                &dir.join(format!("executor-{i}.log")),
            );
            cluster.executors.push(Some(child));
            cluster.logs.push(dir.join(format!("executor-{i}.log")));
            // A pulling executor serves only Arrow Flight (no gRPC server of its own).
            wait_listening(flight, "executor");
        }
        // An executor registers with its first poll; a beat more lets every first poll land,
        // so the first job sees every executor.
        std::thread::sleep(Duration::from_millis(1500));
        cluster
    }

    /// A client session on this cluster (one partition per task slot of the tests' 2 × 2)
    /// with `dataset` registered.
    pub(crate) async fn session(
        &self,
        dataset: &Path,
    ) -> (
        datafusion::prelude::SessionContext,
        tracehound_jobs::Dataset,
    ) {
        let options = tracehound_ballista::ConnectOptions {
            partitions: 4,
            ..Default::default()
        };
        let (ctx, _) = tracehound_ballista::connect(&self.url, &options)
            .await
            .unwrap();
        let dataset = tracehound_jobs::register(&ctx, dataset).await.unwrap();
        (ctx, dataset)
    }

    /// SIGKILLs executor `i`.
    pub(crate) fn kill_executor(&mut self, i: usize) {
        if let Some(mut child) = self.executors[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
        if std::thread::panicking() {
            // The processes' own words are the best clue to a failed cluster test.
            for log in &self.logs {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- last lines of {}:", log.display());
                for l in &lines[lines.len().saturating_sub(30)..] {
                    eprintln!("{l}");
                }
            }
        }
    }
}

fn spawn(args: &[&str], log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tracehound-ballista"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

/// A port free now (the OS's pick for port 0).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not listen on {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
