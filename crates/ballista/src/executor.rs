//! A Ballista executor in this process: Ballista's own `start_executor_process`, configured
//! for tracehound's jobs.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

use crate::BallistaError;

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The address this executor listens on and gives the scheduler.
    pub bind: IpAddr,
    /// Its Arrow Flight port (other executors and the client fetch shuffle data and results
    /// from it). A pulling executor serves nothing else.
    pub flight_port: u16,
    /// Where it keeps shuffle files and spills (`tracehound-executor-<pid>` in the system's
    /// temporary directory when `None`).
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (all cores when 0).
    pub tasks: usize,
    /// How often it tells the scheduler it is alive.
    pub heartbeat: Duration,
}

/// DataFusion's functions and the jobs' own.
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for f in tracehound_jobs::window_functions() {
        registry
            .window_functions
            .insert(f.name().to_string(), Arc::new(f));
    }
    registry
}

/// Runs an executor until the process ends or the scheduler stops it.
pub async fn run(options: &ExecutorOptions) -> Result<(), BallistaError> {
    // One directory for shuffle files and spills, as Ballista's default runtime has it (a
    // temporary one of this process's when none is given).
    let work_dir = match &options.work_dir {
        Some(d) => d.clone(),
        None => {
            let d =
                std::env::temp_dir().join(format!("tracehound-executor-{}", std::process::id()));
            std::fs::create_dir_all(&d)
                .map_err(|e| BallistaError::Ballista(format!("work dir {}: {e}", d.display())))?;
            d
        }
    };
    let work_dir = Some(work_dir.to_string_lossy().into_owned());
    let temp_dir = work_dir.clone();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.to_string(),
        external_host: Some(options.bind.to_string()),
        port: options.flight_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        // Wait for a scheduler that is still starting, as a cluster's processes start together.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.tasks,
        work_dir,
        // Tasks read and write `s3://` tables too.
        override_runtime_producer: Some(Arc::new(move |_| {
            crate::node_runtime(temp_dir.as_deref())
        })),
        executor_heartbeat_interval_seconds: options.heartbeat.as_secs().max(1),
        print_thread_info: false,
        // Must match the scheduler's (see `scheduler::run`).
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        // Tasks may call the jobs' window functions (the account trace's ledger).
        override_function_registry: Some(Arc::new(function_registry())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| BallistaError::Ballista(e.to_string()))
}
