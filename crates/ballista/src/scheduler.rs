//! A Ballista scheduler in this process: Ballista's own `start_server`, configured for
//! tracehound's jobs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;

use crate::BallistaError;

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens for clients and executors (gRPC).
    pub bind: SocketAddr,
    /// An executor silent for this long is taken as lost and its tasks are run again
    /// elsewhere. Ballista's default is 180 s; a lost executor holds a job up this long.
    pub executor_timeout: Duration,
    /// How often a task may fail before its job fails.
    pub task_max_failures: usize,
}

impl Default for SchedulerOptions {
    fn default() -> SchedulerOptions {
        SchedulerOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], crate::DEFAULT_SCHEDULER_PORT)),
            executor_timeout: Duration::from_secs(30),
            task_max_failures: 4,
        }
    }
}

/// Runs a scheduler until the process ends.
///
/// Executors pull their tasks (Ballista's pull-staged policy). With the push policy, one
/// failed task launch at the moment another executor died made the scheduler drop a live
/// executor for good, and the job waited forever; a pulling executor registers again with
/// every poll.
pub async fn run(options: &SchedulerOptions) -> Result<(), BallistaError> {
    let timeout = options.executor_timeout.as_secs().max(1);
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.bind.ip().to_string(),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 3).max(1),
        no_executors_grace_period_seconds: timeout,
        task_max_failures: options.task_max_failures,
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        // Plans list the files of `s3://` tables too, and may call the jobs' window functions.
        override_session_builder: Some(Arc::new(|config| {
            let state = ballista_core::utils::default_session_builder(config)?;
            let mut builder = datafusion::execution::SessionStateBuilder::new_from_existing(state)
                .with_runtime_env(crate::node_runtime(None)?);
            builder
                .window_functions()
                .get_or_insert_with(Vec::new)
                .extend(
                    tracehound_jobs::window_functions()
                        .into_iter()
                        .map(Arc::new),
                );
            Ok(builder.build())
        })),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| BallistaError::Ballista(e.to_string()))?;
    ballista_scheduler::scheduler_process::start_server(cluster, options.bind, Arc::new(config))
        .await
        .map_err(|e| BallistaError::Ballista(e.to_string()))
}
