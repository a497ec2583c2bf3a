//! Node answers, recorded and replayed over loopback JSON-RPC.
//!
//! The demo's cross-chain heist was played by the simulator on real nodes (an anvil and a
//! `litecoind -regtest`) and ingested through a recording proxy ([`Mode::Record`]): every
//! JSON-RPC call the ingest made, with the node's whole answer. `tracehound demo` serves those
//! answers ([`Mode::Replay`]) and runs the very same `ingest evm --rpc` and `ingest btc --rpc`
//! against them, so a user needs no node, and nothing in the store is made up: it is what the
//! nodes said.
//!
//! A call is matched by its method and parameters; its id is the caller's. Batches are
//! answered call by call. A call that is not in the recording gets a JSON-RPC error naming it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde_json::{Value, json};

/// Recorded calls: `[method, params]` as JSON text → the node's answer (without its id).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Recording {
    /// What was recorded (node and chain), for the reader.
    pub(crate) source: String,
    calls: BTreeMap<String, Value>,
}

impl Recording {
    /// An empty recording of `source`.
    pub(crate) fn new(source: &str) -> Recording {
        Recording {
            source: source.to_string(),
            calls: BTreeMap::new(),
        }
    }

    fn key(call: &Value) -> String {
        json!([
            call["method"],
            call.get("params").cloned().unwrap_or(json!([]))
        ])
        .to_string()
    }

    /// How many distinct calls it holds.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }
}

/// What the server does with each call.
pub(crate) enum Mode {
    /// Answers from a recording.
    Replay(Recording),
    /// Answers from a recording as a node whose tip is `tip` (raised from outside as time
    /// goes on): the tip calls (`getblockchaininfo`, `eth_blockNumber`) say so, and blocks
    /// above it are not there yet. What `tracehound demo --live` watches.
    Live {
        recording: Recording,
        tip: Arc<std::sync::atomic::AtomicU32>,
    },
    /// Forwards to a node (URL, optional `user:password`) and records its answers.
    Record {
        upstream: String,
        auth: Option<String>,
        recording: Recording,
    },
}

/// A loopback JSON-RPC server (axum on a single-threaded runtime) in its own thread.
pub(crate) struct RpcServer {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
    mode: Arc<Mutex<Mode>>,
}

impl RpcServer {
    /// Starts serving on a free loopback port.
    pub(crate) fn start(mode: Mode) -> anyhow::Result<RpcServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding a loopback JSON-RPC server")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let mode = Arc::new(Mutex::new(mode));
        let state = Arc::new(State {
            mode: Arc::clone(&mode),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(120))
                .build(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let app = axum::Router::new()
                    .route("/", axum::routing::post(rpc))
                    .with_state(state);
                // Small answers go out at once, not held back for the client's delayed ACK.
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await?;
                Ok(())
            })
        });
        Ok(RpcServer {
            url,
            stop: Some(stop),
            thread: Some(thread),
            mode,
        })
    }

    /// Its URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Stops it; returns its mode (with what it recorded).
    pub(crate) fn finish(mut self) -> anyhow::Result<Mode> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("the JSON-RPC server thread panicked"))??;
        }
        let mut mode = self
            .mode
            .lock()
            .map_err(|_| anyhow::anyhow!("the JSON-RPC server's state was poisoned"))?;
        Ok(std::mem::replace(
            &mut *mode,
            Mode::Replay(Recording::default()),
        ))
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

struct State {
    mode: Arc<Mutex<Mode>>,
    agent: ureq::Agent,
}

async fn rpc(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    body: String,
) -> axum::response::Response {
    // Recording forwards with a blocking client: the server's one thread waits for the node,
    // which is what a recording wants (calls answered one at a time, in order).
    let answer = (|| -> anyhow::Result<Value> {
        let mut mode = state
            .mode
            .lock()
            .map_err(|_| anyhow::anyhow!("the JSON-RPC server's state was poisoned"))?;
        Ok(match serde_json::from_str::<Value>(&body) {
            Ok(Value::Array(calls)) => Value::Array(
                calls
                    .iter()
                    .map(|c| answer(&state.agent, &mut mode, c))
                    .collect::<anyhow::Result<_>>()?,
            ),
            Ok(call) => answer(&state.agent, &mut mode, &call)?,
            Err(e) => json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": format!("parse error: {e}")}}),
        })
    })();
    let (status, text) = match answer {
        Ok(a) => (axum::http::StatusCode::OK, a.to_string()),
        Err(e) => (
            axum::http::StatusCode::BAD_GATEWAY,
            json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32603, "message": format!("{e:#}")}})
            .to_string(),
        ),
    };
    axum::response::IntoResponse::into_response((
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    ))
}

fn answer(agent: &ureq::Agent, mode: &mut Mode, call: &Value) -> anyhow::Result<Value> {
    let key = Recording::key(call);
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let mut out = match mode {
        Mode::Replay(r) => replayed(r, &key),
        Mode::Live { recording, tip } => {
            let tip = tip.load(std::sync::atomic::Ordering::Relaxed);
            live(recording, &key, call, tip)
        }
        Mode::Record {
            upstream,
            auth,
            recording,
        } => {
            let mut req = agent.post(upstream).set("Content-Type", "application/json");
            if let Some(a) = auth {
                req = req.set(
                    "Authorization",
                    &format!("Basic {}", BASE64_STANDARD.encode(a.as_bytes())),
                );
            }
            let text = match req.send_string(&call.to_string()) {
                Ok(r) => r.into_string()?,
                // bitcoind answers RPC errors with HTTP 500 and a JSON body.
                Err(ureq::Error::Status(_, r)) => r.into_string()?,
                Err(e) => return Err(e).with_context(|| format!("forwarding {key} to {upstream}")),
            };
            let mut a: Value = serde_json::from_str(&text)
                .with_context(|| format!("the node's answer to {key} is not JSON"))?;
            if let Some(o) = a.as_object_mut() {
                o.remove("id");
            }
            recording.calls.insert(key, a.clone());
            a
        }
    };
    if let Some(o) = out.as_object_mut() {
        o.insert("id".into(), id);
    }
    Ok(out)
}

fn replayed(r: &Recording, key: &str) -> Value {
    match r.calls.get(key) {
        Some(a) => a.clone(),
        None => json!({"jsonrpc": "2.0", "error": {"code": -32601,
            "message": format!("not in the recording of {}: {key}", r.source)}}),
    }
}

/// The answer of a node whose tip is `tip`: the recording's, with the tip calls saying `tip`
/// and blocks above it refused as not there yet.
fn live(r: &Recording, key: &str, call: &Value, tip: u32) -> Value {
    let params = call.get("params").cloned().unwrap_or(json!([]));
    let first = params.get(0);
    let not_yet = || {
        json!({"jsonrpc": "2.0", "error": {"code": -8,
            "message": format!("block above the tip {tip} is not there yet")}})
    };
    match call["method"].as_str().unwrap_or_default() {
        "eth_blockNumber" => json!({"jsonrpc": "2.0", "result": format!("0x{tip:x}")}),
        "getblockchaininfo" => {
            let mut a = replayed(r, key);
            let best = replayed(r, &json!(["getblockhash", [tip]]).to_string());
            if let Some(o) = a.get_mut("result").and_then(Value::as_object_mut) {
                o.insert("blocks".into(), json!(tip));
                o.insert("headers".into(), json!(tip));
                o.insert("bestblockhash".into(), best["result"].clone());
                // The recording's chain work is its last tip's; without the work at `tip` the
                // node says none (the store compares work only when the chains fork).
                o.remove("chainwork");
            }
            a
        }
        "getblockhash"
            if first
                .and_then(Value::as_u64)
                .is_some_and(|h| h > u64::from(tip)) =>
        {
            not_yet()
        }
        "eth_getBlockByNumber" | "trace_block" | "eth_getBlockReceipts"
            if first
                .and_then(Value::as_str)
                .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
                .is_some_and(|h| h > u64::from(tip)) =>
        {
            not_yet()
        }
        _ => replayed(r, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_by_method_and_params_with_the_callers_id_and_refuses_the_rest() {
        let mut r = Recording::new("test");
        r.calls.insert(
            Recording::key(&json!({"method": "eth_chainId", "params": []})),
            json!({"jsonrpc": "2.0", "result": "0x7a69"}),
        );
        let server = RpcServer::start(Mode::Replay(r)).unwrap();
        let agent = ureq::agent();
        let batch = json!([
            {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 8, "method": "eth_blockNumber", "params": []}
        ]);
        let got: Value = agent
            .post(server.url())
            .send_json(batch)
            .unwrap()
            .into_json()
            .unwrap();
        assert_eq!(
            got[0],
            json!({"jsonrpc": "2.0", "id": 7, "result": "0x7a69"})
        );
        assert_eq!(got[1]["id"], 8);
        assert!(
            got[1]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("eth_blockNumber"),
            "{got}"
        );
        assert!(matches!(server.finish().unwrap(), Mode::Replay(_)));
    }
}
