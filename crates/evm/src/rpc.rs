//! The JSON-RPC transport under [`crate::EvmClient`]: alloy's HTTP client, with what a long
//! ingest against public or shared nodes needs around it.
//!
//! - **Batching**: many calls go out as JSON-RPC batches of at most
//!   [`RpcOptions::batch_size`] calls; answers are matched to calls by id (alloy does that).
//! - **Bounded concurrency**: at most [`RpcOptions::concurrency`] HTTP requests are in flight,
//!   however many blocks are being fetched at once.
//! - **Rate limit**: [`RpcOptions::max_calls_per_second`] paces calls (a batch of n calls
//!   counts n), because providers meter calls, not HTTP requests.
//! - **Retries with exponential backoff** for what may pass by itself: a refused or broken
//!   connection, a time-out, HTTP 429/5xx, a JSON-RPC "limit exceeded" answer, a call missing
//!   from a batch answer. Only the calls that failed are sent again. A server's `Retry-After`
//!   is honoured. A real JSON-RPC error (method not found, invalid params) is returned at once.
//! - **Errors name the node's URL, the method and what the call was about**; an answer of the
//!   wrong shape names the path of the offending field.

use std::sync::Arc;
use std::time::Duration;

use alloy::rpc::client::RpcClient;
use alloy::transports::http::reqwest;
use alloy::transports::{RpcError, TransportErrorKind};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::error::{EvmError, Result};

/// JSON-RPC error code of a method the node does not have.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;

/// How the client talks to the node: limits, retries and waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcOptions {
    /// Most HTTP requests in flight at once.
    pub concurrency: usize,
    /// Most calls in one JSON-RPC batch (many providers refuse more than 50 to 100).
    pub batch_size: usize,
    /// Blocks fetched together by [`crate::EvmClient::fetch_blocks`]: their calls share batches.
    pub blocks_per_request: usize,
    /// Most calls per second sent to the node; `None` for no limit.
    pub max_calls_per_second: Option<u32>,
    /// How many times a failing call is tried again (0: once only).
    pub retries: u32,
    /// Wait before the first retry; doubled at each further one.
    pub backoff_initial: Duration,
    /// Longest wait between two tries.
    pub backoff_max: Duration,
    /// Longest wait for one HTTP answer.
    pub timeout: Duration,
    /// How long to keep asking for the receipts of a block the node has already shown
    /// (load-balanced nodes and nodes still indexing answer `null` for a while).
    pub receipt_wait: Duration,
    /// Pause between two receipt polls.
    pub receipt_poll_interval: Duration,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            concurrency: 16,
            batch_size: 50,
            blocks_per_request: 10,
            max_calls_per_second: None,
            retries: 5,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            receipt_wait: Duration::from_secs(30),
            receipt_poll_interval: Duration::from_millis(500),
        }
    }
}

/// One call to send: the method, its parameters, and what it is about (for error messages).
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) method: &'static str,
    pub(crate) params: Value,
    pub(crate) target: String,
}

impl Call {
    pub(crate) fn new(method: &'static str, params: Value, target: impl Into<String>) -> Call {
        Call {
            method,
            params,
            target: target.into(),
        }
    }
}

/// A call's answer: its `result` text, `None` when the node answered `null`.
pub(crate) type Answer = Option<Box<RawValue>>;

/// Paces calls to at most a given rate: each caller reserves the next free slots.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next_free: Mutex<Instant>,
}

impl Pacer {
    async fn take(&self, calls: usize) {
        let start = {
            let mut next_free = self.next_free.lock().await;
            let start = (*next_free).max(Instant::now());
            let calls = u32::try_from(calls).unwrap_or(u32::MAX);
            *next_free = start + self.interval.saturating_mul(calls);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// What one try of a call gave.
enum Outcome {
    Done(Result<Answer>),
    /// Worth another try; with the server's requested wait, if it gave one.
    Retry {
        cause: String,
        after: Option<Duration>,
    },
}

/// The transport: one node URL, shared by every task of a client.
#[derive(Debug)]
pub(crate) struct Rpc {
    url: String,
    client: RpcClient,
    permits: Arc<Semaphore>,
    pacer: Option<Pacer>,
    pub(crate) options: RpcOptions,
}

impl Rpc {
    pub(crate) fn new(url: &str, options: RpcOptions) -> Result<Rpc> {
        let bad = |detail: String| EvmError::BadUrl {
            url: url.to_string(),
            detail,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("expected an http:// or https:// url".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| bad(format!("cannot build an http client: {e}")))?;
        let client = RpcClient::new_http_with_client(http, parsed);
        let pacer = options.max_calls_per_second.map(|rate| Pacer {
            interval: Duration::from_secs(1) / rate.max(1),
            next_free: Mutex::new(Instant::now()),
        });
        Ok(Rpc {
            url: url.to_string(),
            client,
            permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
            pacer,
            options,
        })
    }

    /// The node's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Sends one call (with retries).
    pub(crate) async fn call(&self, call: Call) -> Result<Answer> {
        let mut answers = self.calls(std::slice::from_ref(&call)).await;
        answers
            .pop()
            .unwrap_or_else(|| Err(self.transport_error(&call, 0, "no answer".into())))
    }

    /// Sends many calls in batches (with retries of the failed ones), answers in call order.
    pub(crate) async fn calls(&self, calls: &[Call]) -> Vec<Result<Answer>> {
        let chunks = calls.chunks(self.options.batch_size.max(1));
        let answers = futures_util::future::join_all(chunks.map(|c| self.chunk(c))).await;
        answers.into_iter().flatten().collect()
    }

    async fn chunk(&self, calls: &[Call]) -> Vec<Result<Answer>> {
        let mut answers: Vec<Option<Result<Answer>>> = calls.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..calls.len()).collect();
        let mut attempt = 0u32;
        let mut wait = self.options.backoff_initial;
        loop {
            attempt += 1;
            let batch: Vec<&Call> = pending.iter().filter_map(|&i| calls.get(i)).collect();
            let outcomes = self.send_once(&batch).await;
            let mut retry = Vec::new();
            let mut server_wait = None;
            for (i, outcome) in pending.iter().copied().zip(outcomes) {
                match outcome {
                    Outcome::Done(answer) => {
                        if let Some(slot) = answers.get_mut(i) {
                            *slot = Some(answer);
                        }
                    }
                    Outcome::Retry { cause, after } => {
                        server_wait = server_wait.max(after);
                        retry.push((i, cause));
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            if attempt > self.options.retries {
                for (i, cause) in retry {
                    if let (Some(slot), Some(call)) = (answers.get_mut(i), calls.get(i)) {
                        *slot = Some(Err(self.transport_error(call, attempt, cause)));
                    }
                }
                break;
            }
            let pause = server_wait.unwrap_or(wait).min(self.options.backoff_max);
            tracing::debug!(url = %self.url, attempt, ?pause, "retrying {} call(s)", retry.len());
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(self.options.backoff_max);
            pending = retry.into_iter().map(|(i, _)| i).collect();
        }
        answers
            .into_iter()
            .zip(calls)
            .map(|(a, call)| {
                a.unwrap_or_else(|| Err(self.transport_error(call, attempt, "no answer".into())))
            })
            .collect()
    }

    /// One HTTP request for `batch` (a plain call when there is one call).
    async fn send_once(&self, batch: &[&Call]) -> Vec<Outcome> {
        if let Some(pacer) = &self.pacer {
            pacer.take(batch.len()).await;
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return batch
                .iter()
                .map(|_| Outcome::Retry {
                    cause: "client shut down".into(),
                    after: None,
                })
                .collect();
        };
        let timeout = self.options.timeout + Duration::from_secs(1);
        if let [call] = batch {
            let request = self
                .client
                .request::<_, Box<RawValue>>(call.method, call.params.clone());
            let outcome = match tokio::time::timeout(timeout, request).await {
                Ok(answer) => self.outcome(call, answer),
                Err(_) => timed_out(timeout),
            };
            return vec![outcome];
        }
        let mut request = self.client.new_batch();
        let mut waiters = Vec::with_capacity(batch.len());
        for call in batch {
            waiters.push(request.add_call::<_, Box<RawValue>>(call.method, &call.params));
        }
        match tokio::time::timeout(timeout, request.send()).await {
            Err(_) => return batch.iter().map(|_| timed_out(timeout)).collect(),
            Ok(Err(e)) => {
                // The whole request failed: every call gets the same verdict.
                return batch.iter().map(|c| self.outcome_err(c, &e)).collect();
            }
            Ok(Ok(())) => {}
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        for (call, waiter) in batch.iter().zip(waiters) {
            outcomes.push(match waiter {
                Ok(waiter) => self.outcome(call, waiter.await),
                Err(e) => self.outcome_err(call, &e),
            });
        }
        outcomes
    }

    fn outcome(
        &self,
        call: &Call,
        answer: std::result::Result<Box<RawValue>, RpcError<TransportErrorKind>>,
    ) -> Outcome {
        match answer {
            Ok(raw) if raw.get() == "null" => Outcome::Done(Ok(None)),
            Ok(raw) => Outcome::Done(Ok(Some(raw))),
            Err(e) => self.outcome_err(call, &e),
        }
    }

    fn outcome_err(&self, call: &Call, e: &RpcError<TransportErrorKind>) -> Outcome {
        match e {
            RpcError::NullResp => Outcome::Done(Ok(None)),
            RpcError::ErrorResp(payload) => {
                if is_rate_limited(payload.code, &payload.message) {
                    Outcome::Retry {
                        cause: format!("node error {}: {}", payload.code, payload.message),
                        after: None,
                    }
                } else {
                    Outcome::Done(Err(EvmError::Rpc {
                        url: self.url.clone(),
                        method: call.method.to_string(),
                        target: call.target.clone(),
                        code: payload.code,
                        message: payload.message.to_string(),
                    }))
                }
            }
            RpcError::DeserError { err, .. } => Outcome::Done(Err(EvmError::Malformed {
                url: self.url.clone(),
                method: call.method.to_string(),
                target: call.target.clone(),
                field: "(envelope)".into(),
                detail: err.to_string(),
            })),
            RpcError::Transport(kind) => {
                let permanent = match kind {
                    TransportErrorKind::HttpError(h) => {
                        !(h.status == 408 || h.status == 429 || h.status >= 500)
                    }
                    TransportErrorKind::NonRetryable(_) => true,
                    _ => false,
                };
                if permanent {
                    Outcome::Done(Err(self.transport_error(call, 1, kind.to_string())))
                } else {
                    Outcome::Retry {
                        cause: kind.to_string(),
                        after: kind.retry_after(),
                    }
                }
            }
            other => Outcome::Done(Err(self.transport_error(call, 1, other.to_string()))),
        }
    }

    fn transport_error(&self, call: &Call, attempts: u32, cause: String) -> EvmError {
        EvmError::Transport {
            url: self.url.clone(),
            method: call.method.to_string(),
            target: call.target.clone(),
            attempts,
            cause,
        }
    }

    /// Reads a call's answer into `T`, naming the offending field when it does not fit.
    pub(crate) fn decode<T: DeserializeOwned>(&self, call: &Call, raw: &RawValue) -> Result<T> {
        decode(raw.get()).map_err(|(field, detail)| EvmError::Malformed {
            url: self.url.clone(),
            method: call.method.to_string(),
            target: call.target.clone(),
            field,
            detail,
        })
    }
}

/// Reads JSON text into `T`; on failure, the path of the offending field and what is wrong.
pub(crate) fn decode<T: DeserializeOwned>(text: &str) -> std::result::Result<T, (String, String)> {
    // Tracking the path costs on every field; it is only needed to explain a failure, so the
    // answer is read plainly first and again with tracking only when that fails.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "(result)".into() } else { path };
        (field, e.into_inner().to_string())
    })
}

fn timed_out(timeout: Duration) -> Outcome {
    Outcome::Retry {
        cause: format!("no answer within {} s", timeout.as_secs()),
        after: None,
    }
}

/// Whether a JSON-RPC error says "slow down" rather than "no": providers use -32005 and
/// -32029, some 429, and others only say so in words.
fn is_rate_limited(code: i64, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    matches!(code, -32005 | -32029 | 429)
        || message.contains("rate limit")
        || message.contains("too many requests")
        || message.contains("limit exceeded")
}

/// Whether an error means the node lacks `method` (its namespace is off, or it never had
/// it), as opposed to failing on this particular call.
pub(crate) fn is_unsupported(error: &EvmError) -> bool {
    let EvmError::Rpc {
        code,
        message,
        method,
        ..
    } = error
    else {
        return false;
    };
    if *code == METHOD_NOT_FOUND {
        return true;
    }
    // Providers word it their own way ("the method trace_block does not exist/is not
    // available", "Unsupported method", "namespace disabled"); "block not found" is not it.
    let message = message.to_ascii_lowercase();
    let refusal = [
        "does not exist",
        "not available",
        "unsupported",
        "not supported",
        "disabled",
        "not enabled",
    ]
    .iter()
    .any(|w| message.contains(w));
    let method_words = message.contains("method") && (refusal || message.contains("not found"));
    method_words || (message.contains(&method.to_ascii_lowercase()) && refusal)
}
