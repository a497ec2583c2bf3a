//! `tracehound-ballista`: a Ballista scheduler or executor for tracehound's jobs.
//!
//! ```text
//! tracehound-ballista scheduler --bind 127.0.0.1:50050
//! tracehound-ballista executor --scheduler 127.0.0.1:50050 --bind 127.0.0.1 --flight-port 50051
//! tracehound jobs run cluster --dataset export --out out --engine ballista --scheduler df://127.0.0.1:50050
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracehound_ballista::executor::ExecutorOptions;
use tracehound_ballista::scheduler::SchedulerOptions;

#[derive(Parser)]
#[command(
    version,
    about = "A Ballista scheduler or executor for tracehound's batch jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scheduler: clients submit jobs to it, executors take tasks from it.
    Scheduler {
        /// Where to listen (gRPC).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// Seconds of silence after which an executor is taken as lost and its tasks rerun.
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
    },
    /// Runs an executor that takes tasks from a scheduler.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// The address to listen on and give the scheduler.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Arrow Flight port (other executors and clients fetch shuffle data and results from
        /// it).
        #[arg(long, default_value_t = 50051)]
        flight_port: u16,
        /// Where to keep shuffle files (a temporary directory if not given).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Tasks run at once (0: one per core).
        #[arg(long, default_value_t = 0)]
        tasks: usize,
        /// Seconds between heartbeats to the scheduler.
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Scheduler {
            bind,
            executor_timeout,
        } => {
            let options = SchedulerOptions {
                bind,
                executor_timeout: Duration::from_secs(executor_timeout),
                ..SchedulerOptions::default()
            };
            eprintln!("tracehound-ballista: scheduler on {bind}");
            runtime
                .block_on(tracehound_ballista::scheduler::run(&options))
                .with_context(|| format!("scheduler on {bind}"))
        }
        Command::Executor {
            scheduler,
            bind,
            flight_port,
            work_dir,
            tasks,
            heartbeat,
        } => {
            let (host, port) =
                tracehound_ballista::scheduler_address(&format!("df://{scheduler}"))?;
            let options = ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                bind,
                flight_port,
                work_dir,
                tasks,
                heartbeat: Duration::from_secs(heartbeat),
            };
            eprintln!(
                "tracehound-ballista: executor on {bind}:{flight_port}, scheduler {scheduler}"
            );
            runtime
                .block_on(tracehound_ballista::executor::run(&options))
                .with_context(|| format!("executor on {bind}:{flight_port}"))
        }
    }
}
