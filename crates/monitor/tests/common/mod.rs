//! A webhook receiver for the tests: a real HTTP server on loopback that records every request
//! (path, headers, body, arrival time) and answers as the test's script says.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::net::TcpListener;
use tracehound_monitor::{Alert, DeliveryConfig, DeliveryState, Outbox, verify_signature};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its number, from 0, over all requests to this receiver.
    pub n: usize,
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub attempt: u32,
    pub content_type: String,
    pub body: Vec<u8>,
    pub at: Instant,
    /// What the receiver answered (0: it slept past the client's timeout, probably).
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }

    pub fn alert(&self) -> Alert {
        serde_json::from_slice(&self.body).expect("body is an alert")
    }

    pub fn seq(&self) -> u64 {
        self.json()["seq"].as_u64().expect("body has a seq")
    }

    pub fn signed_by(&self, secret: &str) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        verify_signature(
            secret,
            &self.timestamp,
            &self.body,
            &self.signature,
            now,
            300,
        )
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

/// What to do with a request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Sleep, then answer.
    SleepThen(Duration, u16),
}

pub type Script = Arc<dyn Fn(&Received) -> Answer + Send + Sync>;

struct Inner {
    log: Mutex<Vec<Received>>,
    script: Mutex<Script>,
}

/// A running receiver.
pub struct Receiver {
    pub addr: std::net::SocketAddr,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start(script: Script) -> Receiver {
        Self::start_on("127.0.0.1:0", script).await
    }

    pub async fn start_on(bind: &str, script: Script) -> Receiver {
        let listener = TcpListener::bind(bind).await.expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let inner = Arc::new(Inner {
            log: Mutex::new(Vec::new()),
            script: Mutex::new(script),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner }
    }

    /// Always 200.
    pub async fn accepting() -> Receiver {
        Self::start(Arc::new(|_| Answer::Status(200))).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    pub fn set_script(&self, script: Script) {
        *self.inner.script.lock().expect("script lock") = script;
    }

    pub fn log(&self) -> Vec<Received> {
        self.inner.log.lock().expect("log lock").clone()
    }

    /// The requests to `path` the receiver answered 2xx.
    pub fn accepted(&self, path: &str) -> Vec<Received> {
        self.log()
            .into_iter()
            .filter(|r| r.path == path && r.ok())
            .collect()
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (index, answer) = {
        let mut log = inner.log.lock().expect("log lock");
        let received = Received {
            n: log.len(),
            path: uri.path().to_string(),
            id: header("x-tracehound-id"),
            timestamp: header("x-tracehound-timestamp"),
            signature: header("x-tracehound-signature"),
            attempt: header("x-tracehound-attempt").parse().unwrap_or(0),
            content_type: header("content-type"),
            body: body.to_vec(),
            at: Instant::now(),
            answered: 0,
        };
        let script = Arc::clone(&inner.script.lock().expect("script lock"));
        let answer = script(&received);
        log.push(received);
        (log.len() - 1, answer)
    };
    let status = match answer {
        Answer::Status(s) => s,
        Answer::SleepThen(d, s) => {
            tokio::time::sleep(d).await;
            s
        }
    };
    if let Some(r) = inner.log.lock().expect("log lock").get_mut(index) {
        r.answered = status;
    }
    StatusCode::from_u16(status).expect("valid status")
}

/// Small, fast settings for tests.
pub fn fast_config() -> DeliveryConfig {
    DeliveryConfig {
        timeout: Duration::from_secs(5),
        max_attempts: 5,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        concurrency: 4,
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Waits (up to 20 s) until no delivery is pending.
pub async fn settle(outbox: &Outbox) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending = outbox
            .deliveries(None)
            .expect("deliveries")
            .into_iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .count();
        if pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} deliveries still pending after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `deliver` in the background; dropping the guard's sender stops it.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tracehound_monitor::MonitorError>>,
}

impl Running {
    pub fn start(outbox: Arc<Outbox>, config: DeliveryConfig) -> Running {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(tracehound_monitor::deliver(outbox, config, async move {
            let _ = rx.await;
        }));
        Running {
            stop: Some(tx),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let r = (&mut self.task).await.expect("deliverer task");
        r.expect("deliverer returned an error");
    }
}
