//! Runs tracehound's batch jobs ([`tracehound_jobs`]-style DataFusion plans) on an Apache
//! DataFusion Ballista cluster (issue #11).
//!
//! - [`connect`] gives a `SessionContext` whose queries run on a cluster's executors; a job
//!   given it runs distributed, unchanged, because the jobs use only built-in functions and
//!   read and write tables by path.
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

use std::sync::Arc;

use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

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

/// A session whose queries run on the cluster whose scheduler is at `url`
/// (`df://host[:port]`), after checking that the scheduler answers.
///
/// Ballista itself connects only when the first query runs; checking first turns a wrong
/// URL into an error naming it, not a failure deep inside the first job.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<SessionContext, BallistaError> {
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
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build();
    SessionContext::remote_with_state(&format!("df://{host}:{port}"), state)
        .await
        .map_err(|e| BallistaError::Ballista(e.to_string()))
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
