//! The deliverer: takes pending deliveries from the outbox, POSTs them signed (see the crate
//! docs for the wire format), and records each outcome. One subscription's deliveries go out
//! one at a time in seq order; subscriptions are served concurrently, so a slow or dead
//! receiver delays only its own alerts.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};

use crate::outbox::{DeliveryState, Job, Outcome};
use crate::{Alert, MonitorError, Outbox, now_ms, sign};
use tracehound_core::error_chain;

/// Longest a worker sleeps before looking at its queue again when nothing woke it (pushes
/// wake it at once; this bounds the wait for anything that does not tick, e.g. clock jumps).
const POLL: Duration = Duration::from_millis(200);
/// Most of a receiver's answer body read: enough for an error message and to let the
/// connection be reused, without letting a receiver make us buffer megabytes.
const MAX_ANSWER: usize = 64 * 1024;
/// Most of an error answer's body kept in `last_error`.
const MAX_ERROR_BODY: usize = 300;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Longest an attempt may take (connect, send, answer): past it, it is retried.
    pub timeout: Duration,
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub base_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Most requests in flight at once (over all subscriptions; one per subscription).
    pub concurrency: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: Duration::from_secs(10),
            max_attempts: 10,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            concurrency: 16,
        }
    }
}

impl DeliveryConfig {
    /// The wait after failed attempt number `attempt` (1-based):
    /// `base · 2^(attempt-1)`, capped at `max_backoff`, minus up to 20 % of jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let raw = self.base_backoff.saturating_mul(1u32 << exp);
        // Jitter only shortens, so the cap holds and each wait stays longer than the one before
        // (until the cap): 0.8 · 2x > x.
        raw.min(self.max_backoff)
            .mul_f64(1.0 - 0.2 * fastrand::f64())
    }
}

/// What one [`deliver_due`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryPass {
    /// Deliveries the receivers took (2xx).
    pub delivered: usize,
    /// Failed attempts scheduled for a retry.
    pub retrying: usize,
    /// Deliveries that became dead letters.
    pub dead: usize,
}

impl DeliveryPass {
    fn add(&mut self, other: DeliveryPass) {
        self.delivered += other.delivered;
        self.retrying += other.retrying;
        self.dead += other.dead;
    }
}

/// The HTTP client deliveries should use: no redirects followed (a webhook that moved must be
/// re-subscribed, not silently followed, and a redirected POST may turn into a GET).
pub fn client() -> Result<reqwest::Client, MonitorError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tracehound/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| MonitorError::Client(error_chain(&e)))
}

/// The body sent: the alert with its seq.
#[derive(Serialize)]
struct Envelope<'a> {
    seq: u64,
    #[serde(flatten)]
    alert: &'a Alert,
}

/// One pass: for each subscription, delivers its due deliveries in seq order until none is
/// due at `now_ms` (unix milliseconds; used for what is due and to schedule retries — the
/// signed timestamp is always the system clock's). Subscriptions are served concurrently, up
/// to `config.concurrency`. For tests and `alerts deliver --once`.
pub async fn deliver_due(
    outbox: &Outbox,
    client: &reqwest::Client,
    config: &DeliveryConfig,
    now_ms: u64,
) -> Result<DeliveryPass, MonitorError> {
    let subs = outbox.subscription_ids()?;
    let clock = move || now_ms;
    let results: Vec<Result<DeliveryPass, MonitorError>> = futures_util::stream::iter(subs)
        .map(|sub| async move {
            let mut pass = DeliveryPass::default();
            drain(outbox, client, config, &sub, &clock, None, &mut pass).await?;
            Ok(pass)
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;
    let mut total = DeliveryPass::default();
    for r in results {
        total.add(r?);
    }
    Ok(total)
}

/// Delivers pending deliveries until `stop` resolves, then returns (an attempt in flight is
/// abandoned unrecorded: it is sent again next time, same id). New alerts are picked up at
/// once ([`Outbox::watch`]); retries when due. Safe while other threads push, subscribe or
/// redeliver. Errors only if the outbox cannot be read; one subscription's failures are
/// logged and retried.
pub async fn deliver(
    outbox: Arc<Outbox>,
    config: DeliveryConfig,
    stop: impl Future<Output = ()>,
) -> Result<(), MonitorError> {
    let client = client()?;
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut changes = outbox.watch();
    let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    tokio::pin!(stop);
    let result = loop {
        changes.borrow_and_update();
        match outbox.subscription_ids() {
            Ok(ids) => {
                workers.retain(|_, w| !w.is_finished());
                for id in ids {
                    if let std::collections::hash_map::Entry::Vacant(slot) = workers.entry(id) {
                        let w = Worker {
                            outbox: Arc::clone(&outbox),
                            client: client.clone(),
                            config: config.clone(),
                            sub: slot.key().clone(),
                            permits: Arc::clone(&permits),
                            stop: stop_rx.clone(),
                            changes: outbox.watch(),
                        };
                        slot.insert(tokio::spawn(w.run()));
                    }
                }
            }
            Err(e) => break Err(e),
        }
        tokio::select! {
            () = &mut stop => break Ok(()),
            _ = changes.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    stop_tx.send_replace(true);
    for (_, w) in workers {
        // A worker that panicked has already been reported by the runtime.
        let _ = w.await;
    }
    result
}

/// Serves one subscription's queue until stopped or unsubscribed.
struct Worker {
    outbox: Arc<Outbox>,
    client: reqwest::Client,
    config: DeliveryConfig,
    sub: String,
    permits: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    changes: watch::Receiver<u64>,
}

impl Worker {
    async fn run(mut self) {
        let clock = now_ms;
        loop {
            if *self.stop.borrow() {
                return;
            }
            // Mark ticks seen before looking at the queue: a push during the drain wakes us.
            self.changes.borrow_and_update();
            match self.outbox.has_subscription(&self.sub) {
                Ok(false) => return,
                Ok(true) => {}
                Err(e) => tracing::error!(subscription = %self.sub, "{e}"),
            }
            let mut pass = DeliveryPass::default();
            let drained = tokio::select! {
                r = drain(&self.outbox, &self.client, &self.config, &self.sub, &clock, Some(&self.permits), &mut pass) => r,
                _ = self.stop.changed() => return,
            };
            let wait = match drained {
                Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms())).min(POLL),
                Ok(None) => POLL,
                Err(e) => {
                    tracing::error!(subscription = %self.sub, "delivery: {e}");
                    POLL
                }
            };
            tokio::select! {
                _ = self.stop.changed() => return,
                _ = self.changes.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Delivers `sub`'s due deliveries in seq order until the queue is empty (`None`) or its head
/// is not due (`Some(when)`, unix ms): a head that fails holds the ones behind it. Returns
/// `None` at once if another deliverer of this process is serving the subscription.
async fn drain(
    outbox: &Outbox,
    client: &reqwest::Client,
    config: &DeliveryConfig,
    sub: &str,
    clock: &(dyn Fn() -> u64 + Sync),
    permits: Option<&Semaphore>,
    pass: &mut DeliveryPass,
) -> Result<Option<u64>, MonitorError> {
    let Some(_claim) = outbox.claim(sub) else {
        return Ok(None);
    };
    loop {
        let Some((seq, due)) = outbox.head(sub)? else {
            return Ok(None);
        };
        if due > clock() {
            return Ok(Some(due));
        }
        let Some(job) = outbox.job(sub, seq)? else {
            // Unsubscribed or changed under us: the caller looks again later.
            return Ok(None);
        };
        let (attempted, outcome) = {
            let _permit = match permits {
                Some(p) => p.acquire().await.ok(),
                None => None,
            };
            attempt(client, config, &job, clock).await
        };
        match &outcome {
            Outcome::Delivered { status, .. } => {
                tracing::debug!(subscription = sub, seq, id = %job.alert.id, attempt = job.attempt, status, "alert delivered");
            }
            Outcome::Retry { error, next_ms, .. } => {
                tracing::warn!(subscription = sub, seq, id = %job.alert.id, attempt = job.attempt, retry_at_ms = next_ms, "webhook delivery failed: {error}");
            }
            Outcome::Dead { error, .. } => {
                tracing::warn!(subscription = sub, seq, id = %job.alert.id, attempt = job.attempt, "webhook delivery dead: {error}");
            }
        }
        if !outbox.record_outcome(sub, seq, attempted, &outcome)? {
            return Ok(None);
        }
        match outcome {
            Outcome::Delivered { .. } => pass.delivered += 1,
            Outcome::Dead { .. } => pass.dead += 1,
            Outcome::Retry { next_ms, .. } => {
                pass.retrying += 1;
                return Ok(Some(next_ms));
            }
        }
    }
}

/// Makes one attempt; whether a request was sent, and what it came to.
async fn attempt(
    client: &reqwest::Client,
    config: &DeliveryConfig,
    job: &Job,
    clock: &(dyn Fn() -> u64 + Sync),
) -> (bool, Outcome) {
    if let Some((orig, DeliveryState::Dead)) = job.followed_state {
        // Sending it would put the retraction (or final) before the alert if that is ever
        // redelivered.
        return (
            false,
            Outcome::Dead {
                status: None,
                error: format!(
                    "the alert it {} (seq {orig}) is dead for this subscription: redeliver that one (this {} follows it)",
                    if job.alert.kind == crate::AlertKind::Final {
                        "finalises"
                    } else {
                        "retracts"
                    },
                    job.alert.kind
                ),
            },
        );
    }
    let body = match serde_json::to_vec(&Envelope {
        seq: job.seq,
        alert: &job.alert,
    }) {
        Ok(b) => b,
        Err(e) => {
            return (
                false,
                Outcome::Dead {
                    status: None,
                    error: format!("alert does not serialise: {e}"),
                },
            );
        }
    };
    let timestamp = (now_ms() / 1000).to_string();
    let signature = sign(&job.secret, &timestamp, &body);
    let sent = client
        .post(&job.url)
        .timeout(config.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Tracehound-Id", &job.alert.id)
        .header("X-Tracehound-Timestamp", &timestamp)
        .header("X-Tracehound-Signature", signature)
        .header("X-Tracehound-Attempt", job.attempt.to_string())
        .body(body)
        .send()
        .await;
    let (status, error) = match sent {
        Ok(mut answer) => {
            let status = answer.status();
            let mut text = Vec::new();
            // Read (a bounded part of) the answer so the connection can be reused; a failure
            // reading it does not change the verdict the status gave.
            while text.len() < MAX_ANSWER {
                match answer.chunk().await {
                    Ok(Some(chunk)) => text.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            if status.is_success() {
                return (
                    true,
                    Outcome::Delivered {
                        status: status.as_u16(),
                        at_ms: clock(),
                    },
                );
            }
            let snippet: String = String::from_utf8_lossy(&text)
                .chars()
                .take(MAX_ERROR_BODY)
                .collect();
            let mut error = format!("HTTP {status}");
            if !snippet.trim().is_empty() {
                error.push_str(": ");
                error.push_str(snippet.trim());
            }
            if status == reqwest::StatusCode::GONE {
                return (
                    true,
                    Outcome::Dead {
                        status: Some(status.as_u16()),
                        error: format!("{error} (the receiver refuses it for good)"),
                    },
                );
            }
            (Some(status.as_u16()), error)
        }
        Err(e) if e.is_timeout() => (None, format!("no answer within {:?}", config.timeout)),
        Err(e) if e.is_connect() => (None, format!("cannot connect: {}", error_chain(&e))),
        Err(e) => (None, error_chain(&e)),
    };
    if job.attempt >= config.max_attempts {
        return (
            true,
            Outcome::Dead {
                status,
                error: format!("gave up after {} attempts; last: {error}", job.attempt),
            },
        );
    }
    let wait = u64::try_from(config.backoff(job.attempt).as_millis()).unwrap_or(u64::MAX);
    (
        true,
        Outcome::Retry {
            status,
            error,
            next_ms: clock().saturating_add(wait),
        },
    )
}
