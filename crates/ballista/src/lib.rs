//! Runs tracehound's batch jobs ([`tracehound_jobs`]-style DataFusion plans) on an Apache
//! DataFusion Ballista cluster (issue #11).
//!
//! - [`connect`] gives a `SessionContext` whose queries run on a cluster's executors; a job
//!   given it runs distributed, unchanged, because the jobs use only built-in functions and
//!   read and write tables by path. With it comes a [`Submitted`] handle: the cluster jobs
//!   the session started, which a client that stops waiting cancels on the scheduler.
//! - [`scheduler`] and [`executor`] start Ballista's own scheduler and executor (the crates
//!   `ballista-scheduler` and `ballista-executor`, same major version as tracehound's
//!   `datafusion`) in this process: the binary `tracehound-ballista` wraps them, so a cluster
//!   needs no other build. Ballista's own binaries of the same version work as well.
//!
//! Every node reads the dataset and writes results by path, so the client, the scheduler
//! and the executors must see the same paths: one machine, a shared mount, or an object
//! store (`s3://…`, which each node opens with the credentials of its own environment).
#![warn(clippy::unwrap_used)]

pub mod executor;
pub mod scheduler;

use std::sync::{Arc, Mutex};

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, GetJobStatusParams, job_status};
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

use std::time::Duration;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

/// The scheduler's port when a URL names none (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// Why a cluster could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BallistaError {
    /// The scheduler URL is not `df://host[:port]`.
    #[error("scheduler URL {url:?}: {what} (expected df://HOST[:PORT])")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        what: String,
    },
    /// Nothing answers at the scheduler's address.
    #[error("Ballista scheduler {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// Ballista refused the session or a process's configuration.
    #[error("Ballista: {0}")]
    Ballista(String),
}

/// How a client session uses a cluster.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// How long the scheduler may take to answer the first call.
    pub timeout: Duration,
    /// Partitions per stage (shuffle width); 0 keeps Ballista's default (16). About the
    /// cluster's task slots: each task is pulled by an executor, so a stage of many more
    /// tasks than slots runs in rounds, each paying a poll.
    pub partitions: usize,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            timeout: Duration::from_secs(10),
            partitions: 0,
        }
    }
}

/// The cluster jobs a session has started (one per query), so that a client that stops
/// waiting can cancel them: Ballista's client drops a query it stops polling, but the
/// scheduler would run it on.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The scheduler's gRPC address.
    grpc: String,
    queries: Arc<Mutex<Vec<DistributedQueryExec<LogicalPlanNode>>>>,
}

/// A job's state on the scheduler, as [`job_state`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for executors.
    Queued,
    /// Running.
    Running,
    /// Failed (or cancelled: the error is then `Cancelled`).
    Failed(String),
    /// Done.
    Successful,
    /// The scheduler does not know it.
    Unknown,
}

impl Submitted {
    /// The ids of the jobs the scheduler accepted so far, oldest first.
    pub fn job_ids(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter_map(|q| q.job_id().map(|id| id.to_string()))
            .collect()
    }

    /// Cancels on the scheduler every job of this session that is not finished; returns the
    /// ids of those it cancelled.
    pub async fn cancel(&self) -> Result<Vec<String>, BallistaError> {
        let mut cancelled = Vec::new();
        let ids = self.job_ids();
        if ids.is_empty() {
            return Ok(cancelled);
        }
        let mut client = client(&self.grpc).await?;
        for id in ids {
            match state_of(&mut client, &id).await? {
                JobState::Queued | JobState::Running => {
                    client
                        .cancel_job(CancelJobParams { job_id: id.clone() })
                        .await
                        .map_err(|e| BallistaError::Ballista(format!("cancelling {id}: {e}")))?;
                    cancelled.push(id);
                }
                _ => {}
            }
        }
        Ok(cancelled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<DistributedQueryExec<LogicalPlanNode>>> {
        self.queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn client(
    grpc: &str,
) -> Result<SchedulerGrpcClient<tonic::transport::Channel>, BallistaError> {
    SchedulerGrpcClient::connect(grpc.to_string())
        .await
        .map_err(|e| BallistaError::Unreachable {
            url: grpc.to_string(),
            reason: tracehound_core::error_chain(&e),
        })
}

/// The state of job `job_id` on the scheduler at `grpc` (`http://host:port`, or a `df://`
/// URL).
pub async fn job_state(grpc: &str, job_id: &str) -> Result<JobState, BallistaError> {
    let grpc = match grpc.strip_prefix("df://") {
        Some(_) => {
            let (host, port) = scheduler_address(grpc)?;
            format!("http://{host}:{port}")
        }
        None => grpc.to_string(),
    };
    state_of(&mut client(&grpc).await?, job_id).await
}

/// The state of job `job_id`, asked of the scheduler behind `client`.
async fn state_of(
    client: &mut SchedulerGrpcClient<tonic::transport::Channel>,
    job_id: &str,
) -> Result<JobState, BallistaError> {
    let status = client
        .get_job_status(GetJobStatusParams {
            job_id: job_id.to_string(),
        })
        .await
        .map_err(|e| BallistaError::Ballista(format!("status of {job_id}: {e}")))?
        .into_inner()
        .status
        .and_then(|s| s.status);
    Ok(match status {
        Some(job_status::Status::Queued(_)) => JobState::Queued,
        Some(job_status::Status::Running(_)) => JobState::Running,
        Some(job_status::Status::Failed(f)) => JobState::Failed(f.error),
        Some(job_status::Status::Successful(_)) => JobState::Successful,
        None => JobState::Unknown,
    })
}

/// Ballista's planner, noting each distributed query it plans in [`Submitted`].
#[derive(Debug)]
struct Noting {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    submitted: Submitted,
}

#[async_trait::async_trait]
impl QueryPlanner for Noting {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let physical = self.inner.create_physical_plan(plan, session).await?;
        if let Some(query) = physical.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>() {
            // A clone shares the query's job id, set once the scheduler accepts it.
            self.submitted.lock().push(query.clone());
        }
        Ok(physical)
    }
}

/// A session whose queries run on the cluster whose scheduler is at `url`
/// (`df://host[:port]`), after checking that the scheduler answers; and the handle on the
/// jobs it will start.
///
/// Ballista itself connects only when the first query runs; checking first turns a wrong
/// URL into an error naming it, not a failure deep inside the first job.
pub async fn connect(
    url: &str,
    options: &ConnectOptions,
) -> Result<(SessionContext, Submitted), BallistaError> {
    let timeout = options.timeout;
    let (host, port) = scheduler_address(url)?;
    let grpc = format!("http://{host}:{port}");
    let probe =
        ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient::connect(grpc);
    let failed = match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(tracehound_core::error_chain(&e)),
        Err(_) => Some(format!("no answer within {} s", timeout.as_secs_f64())),
    };
    if let Some(reason) = failed {
        return Err(BallistaError::Unreachable {
            url: url.to_string(),
            reason,
        });
    }
    let mut config = SessionConfig::new_with_ballista()
        .with_ballista_job_name("tracehound")
        // Ballista 55's adaptive planner re-planned the trace job's fixpoint query without
        // end (over 10,000 stages for one query of a 6-hop trace); the static planner runs it.
        .with_ballista_adaptive_query_planner(false);
    if options.partitions > 0 {
        config = config.with_target_partitions(options.partitions);
    }
    // The client polls the job's status: the scheduler answers the submission with the job's
    // id at once, so a client that stops waiting can cancel it (pushed, the id comes with the
    // first status, which a job waiting for executors never sends).
    config = config.set_bool("ballista.client.pull", true);
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build();
    let ctx = SessionContext::remote_with_state(&format!("df://{host}:{port}"), state)
        .await
        .map_err(|e| BallistaError::Ballista(e.to_string()))?;
    let submitted = Submitted {
        grpc: format!("http://{host}:{port}"),
        queries: Arc::new(Mutex::new(Vec::new())),
    };
    let remote: SessionState = ctx.state();
    let noting = Noting {
        inner: Arc::clone(remote.query_planner()),
        submitted: submitted.clone(),
    };
    let state = SessionStateBuilder::new_from_existing(remote)
        .with_query_planner(Arc::new(noting))
        .build();
    Ok((SessionContext::new_with_state(state), submitted))
}

/// A node's runtime: local files, and `s3://` buckets opened from the process's environment
/// ([`tracehound_jobs::location::ObjectStores`]); spill files in `temp_dir` if given.
pub(crate) fn node_runtime(temp_dir: Option<&str>) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(tracehound_jobs::location::ObjectStores::default()));
    if let Some(dir) = temp_dir {
        builder = builder.with_temp_file_path(dir);
    }
    Ok(Arc::new(builder.build()?))
}

/// The host and port of a `df://host[:port]` URL.
pub fn scheduler_address(url: &str) -> Result<(String, u16), BallistaError> {
    let bad = |what: &str| BallistaError::BadUrl {
        url: url.to_string(),
        what: what.to_string(),
    };
    let rest = url
        .strip_prefix("df://")
        .ok_or_else(|| bad("not a df:// URL"))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(bad("no host, or a path after it"));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            let port = port.parse().map_err(|_| bad("the port is not a number"))?;
            Ok((host.to_string(), port))
        }
        Some(_) => Err(bad("no host")),
        None => Ok((rest.to_string(), DEFAULT_SCHEDULER_PORT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_urls() {
        assert_eq!(
            scheduler_address("df://localhost:50050").unwrap(),
            ("localhost".to_string(), 50050)
        );
        assert_eq!(
            scheduler_address("df://10.0.0.7").unwrap(),
            ("10.0.0.7".to_string(), DEFAULT_SCHEDULER_PORT)
        );
        for bad in [
            "http://localhost:50050",
            "df://",
            "df://:50050",
            "df://host:port",
            "df://host:50050/x",
        ] {
            let e = scheduler_address(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "the error names the URL: {e}");
        }
    }
}
