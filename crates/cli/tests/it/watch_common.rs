//! What the `tracehound watch` end-to-end tests (`watch`, `watch_evm`, `watch_kill`) and the
//! `watch_latency` example share: a signed-webhook receiver on loopback, the watch as a child
//! process, polling with a deadline, and (litecoind) wallet calls.
//!
//! Nothing here names the test binary's `tracehound` (`CARGO_BIN_EXE_*` exists only for
//! tests): callers pass the binary's path, so the example can include this file too.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The subscription secret the tests and the example use.
pub(crate) const SECRET: &str = "watch-test-secret-0123456789abcdef";

/// The `tracehound` binary an example drives: `$TRACEHOUND_BIN`, else the one built beside
/// the example (`target/release/examples/X` → `target/release/tracehound`).
pub(crate) fn binary() -> std::path::PathBuf {
    if let Some(b) = std::env::var_os("TRACEHOUND_BIN") {
        return std::path::PathBuf::from(b);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("tracehound");
    assert!(
        bin.is_file(),
        "{} not found: run `cargo build --release -p tracehound-cli` first, or set TRACEHOUND_BIN",
        bin.display()
    );
    bin
}

/// Runs `bin --data-dir DATA ARGS…`, fails on an error, and returns its stdout.
pub(crate) fn run_ok(bin: &Path, data: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tracehound {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One request the receiver took: its idempotency key, whether its signature held, its
/// attempt number, the raw body and the alert it holds, and when it was read in full.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) signed: bool,
    pub(crate) attempt: u32,
    pub(crate) body: Vec<u8>,
    pub(crate) alert: Value,
    pub(crate) at: Instant,
}

/// A webhook receiver on loopback: answers 200 to each complete POST and records it. A
/// request cut short (the sender killed mid-send) is dropped unanswered, not recorded.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
    pub(crate) got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// A receiver on a free port.
    pub(crate) fn start() -> Receiver {
        Receiver::listen(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            Arc::new(Mutex::new(Vec::new())),
        )
    }

    /// A receiver on `addr` (the port of one stopped before), appending to `got`.
    pub(crate) fn start_at(addr: SocketAddr, got: Arc<Mutex<Vec<Received>>>) -> Receiver {
        Receiver::listen(TcpListener::bind(addr).unwrap(), got)
    }

    fn listen(listener: TcpListener, got: Arc<Mutex<Vec<Received>>>) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopped) = (Arc::clone(&got), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                // A stalled sender must not stall the receiver forever.
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                if let Some(r) = read_request(&conn) {
                    sink.lock().unwrap().push(r);
                    let mut conn = conn;
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            }
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            addr,
            got,
            stop,
            thread: Some(thread),
        }
    }

    /// What it took so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Stops listening (the port is free again when this returns).
    pub(crate) fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop.
            let _ = TcpStream::connect(self.addr);
            t.join().unwrap();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP request, if it arrived whole.
fn read_request(conn: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let at = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = |k: &str| headers.get(k).map_or("", |s| s.as_str());
    let signed = tracehound_monitor::verify_signature(
        SECRET,
        header("x-tracehound-timestamp"),
        &body,
        header("x-tracehound-signature"),
        now,
        300,
    );
    Some(Received {
        id: header("x-tracehound-id").to_string(),
        signed,
        attempt: header("x-tracehound-attempt").parse().unwrap_or(0),
        alert: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body,
        at,
    })
}

/// `tracehound watch` as a child, printing one JSON line per cycle (collected in `cycles`);
/// its stderr is passed on and kept line by line (`stderr`); killed if the test fails before
/// stopping it.
pub(crate) struct Watch {
    child: Option<Child>,
    pub(crate) cycles: Arc<Mutex<Vec<Value>>>,
    pub(crate) stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Watch {
    /// Runs `BIN --data-dir DATA --json watch ARGS…`.
    pub(crate) fn spawn(bin: &Path, data: &Path, args: &[&str]) -> Watch {
        let mut child = Command::new(bin)
            .args(["--data-dir", data.to_str().unwrap(), "--json", "watch"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                lines.lock().unwrap().push(line);
            }
        });
        let cycles = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&cycles);
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Watch {
            child: Some(child),
            cycles,
            stderr,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The lines it wrote to stderr so far that contain `text`.
    pub(crate) fn said(&self, text: &str) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .cloned()
            .collect()
    }

    /// The cycles reported so far.
    pub(crate) fn cycles(&self) -> Vec<Value> {
        self.cycles.lock().unwrap().clone()
    }

    /// How many alerts its cycles pushed into the outbox so far (alerts, retractions, finals).
    pub(crate) fn pushed(&self) -> u64 {
        self.cycles
            .lock()
            .unwrap()
            .iter()
            .map(|c| {
                ["alerts", "retracted", "finals"]
                    .iter()
                    .map(|k| c[k].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum()
    }

    /// Whether a cycle has reported the store at `tip`.
    pub(crate) fn reached(&self, tip: u64) -> bool {
        self.cycles
            .lock()
            .unwrap()
            .iter()
            .any(|c| c["tip"].as_u64() == Some(tip))
    }

    /// SIGKILL, and reaped: its files are free when this returns.
    pub(crate) fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Stops the watch with SIGTERM: it finishes its cycle and delivery task and exits 0.
    pub(crate) fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "watch exited with {status}");
                return;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("watch did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Waits until `done` holds, for at most 60 s.
pub(crate) fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_for_at_most(what, Duration::from_secs(60), done);
}

/// Waits until `done` holds, for at most `limit`.
pub(crate) fn wait_for_at_most(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The litecoind side: wallets, the watch's arguments, a ZMQ notifier.
#[cfg(feature = "test-litecoind")]
pub(crate) mod ltc {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
    use tracehound_btc::testnode::Litecoind;

    /// `tests/it/zmq_notifier.py` publishing `node`'s blocks, read from `fifo`, as Core's ZMQ
    /// notifier would, on loopback `port` (0: a free one). The node runs with
    /// `-blocknotify='echo %s > FIFO'`: Debian's litecoind has no ZMQ of its own.
    pub(crate) struct Notifier {
        child: Child,
        pub(crate) port: u16,
        pub(crate) sent: Arc<Mutex<Vec<String>>>,
    }

    impl Notifier {
        pub(crate) fn start(fifo: &std::path::Path, port: u16, node: &Litecoind) -> Notifier {
            let python = std::env::var_os("TRACEHOUND_ZMQ_PYTHON").expect(
                "TRACEHOUND_ZMQ_PYTHON names a python with pyzmq (scripts/test installs pyzmq \
                 into .tools/venv)",
            );
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/zmq_notifier.py");
            let (user, password) = node.credentials();
            let mut child = Command::new(python)
                .arg(script)
                .arg(fifo)
                .arg(port.to_string())
                .args([node.rpc_url(), user, password])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let ready = lines
                .next()
                .expect("the notifier exited before it was ready (is pyzmq installed?)")
                .unwrap();
            let port = ready
                .strip_prefix("ready ")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("the notifier said {ready:?}"));
            let sent = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&sent);
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if let Some(hash) = line.strip_prefix("sent ") {
                        sink.lock().unwrap().push(hash.to_string());
                    }
                }
            });
            Notifier { child, port, sent }
        }

        pub(crate) fn url(&self) -> String {
            format!("tcp://127.0.0.1:{}", self.port)
        }
    }

    /// A fresh node whose `-blocknotify` writes each new tip to a FIFO made at `fifo`, for a
    /// [`Notifier`] to publish.
    pub(crate) fn notifying_node(fifo: &std::path::Path) -> Litecoind {
        let made = Command::new("mkfifo").arg(fifo).status().unwrap();
        assert!(made.success(), "mkfifo {}", fifo.display());
        Litecoind::start_with_args(&[&format!("-blocknotify=echo %s > {}", fifo.display())])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    impl Drop for Notifier {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub(crate) const NETWORK: &str = "litecoin-regtest";

    /// The node's wallet `name`.
    pub(crate) fn wallet(node: &Litecoind, name: &str) -> RpcClient {
        let (user, password) = node.credentials();
        RpcClient::new(
            format!("{}/wallet/{name}", node.rpc_url()),
            RpcAuth::UserPass {
                user: user.into(),
                password: password.into(),
            },
            RpcOptions::default(),
        )
    }

    pub(crate) fn call(client: &RpcClient, method: &str, params: Value) -> Value {
        client
            .call(method, params.clone())
            .unwrap_or_else(|e| panic!("{method} {params}: {e}"))
    }

    /// `--chain litecoin-regtest --rpc … --rpc-user … --rpc-password … --poll-ms POLL`.
    pub(crate) fn watch_args(node: &Litecoind, poll_ms: u64) -> Vec<String> {
        let (user, password) = node.credentials();
        [
            "--chain",
            NETWORK,
            "--rpc",
            node.rpc_url(),
            "--rpc-user",
            user,
            "--rpc-password",
            password,
            "--poll-ms",
            &poll_ms.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `--rpc … --rpc-user … --rpc-password …`, as `ingest btc` takes them.
    pub(crate) fn rpc_args(node: &Litecoind) -> Vec<String> {
        let (user, password) = node.credentials();
        [
            "--rpc",
            node.rpc_url(),
            "--rpc-user",
            user,
            "--rpc-password",
            password,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}
