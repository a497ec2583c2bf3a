//! Test helpers: where the shared fixtures live, and a small local JSON-RPC server (std
//! `TcpListener`, one thread per connection, keep-alive, batches) that answers with a
//! handler — recorded mainnet answers replayed, or a proxy in front of a real node.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

pub use tracehound_core::fixtures::shared_data;

/// A JSON-RPC error answer: code and message.
pub type RpcFailure = (i64, String);
/// Answers one call.
pub type Handler = dyn Fn(&str, &Value) -> Result<Value, RpcFailure> + Send + Sync;

/// A JSON-RPC server on a free local port; stops accepting (and drops connections) when
/// [`Server::kill`] is called or it is dropped.
pub struct Server {
    url: String,
    dead: Arc<AtomicBool>,
    /// Calls answered so far, by method.
    pub calls: Arc<Mutex<HashMap<String, usize>>>,
    /// HTTP requests served so far.
    pub requests: Arc<AtomicUsize>,
    /// Most HTTP requests being answered at the same time, so far.
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Server {
    pub fn start(handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let dead = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (d, c, r, m) = (
            dead.clone(),
            calls.clone(),
            requests.clone(),
            max_in_flight.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if d.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (h, d, c, r) = (handler.clone(), d.clone(), c.clone(), r.clone());
                let gauge = (in_flight.clone(), m.clone());
                std::thread::spawn(move || serve(stream, &*h, &d, &c, &r, &gauge));
            }
        });
        Server {
            url,
            dead,
            calls,
            requests,
            max_in_flight,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops answering: open connections are dropped and new ones closed at once.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }

    pub fn count(&self, method: &str) -> usize {
        self.calls.lock().unwrap().get(method).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(
    stream: TcpStream,
    handler: &Handler,
    dead: &AtomicBool,
    calls: &Mutex<HashMap<String, usize>>,
    requests: &AtomicUsize,
    (in_flight, max_in_flight): &(Arc<AtomicUsize>, Arc<AtomicUsize>),
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || dead.load(Ordering::SeqCst) {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() || dead.load(Ordering::SeqCst) {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max_in_flight.fetch_max(now, Ordering::SeqCst);
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer_one = |r: &Value| {
            let method = r["method"].as_str().unwrap_or_default();
            *calls.lock().unwrap().entry(method.to_string()).or_default() += 1;
            let params = r.get("params").cloned().unwrap_or(json!([]));
            match handler(method, &params) {
                Ok(result) => json!({"jsonrpc": "2.0", "id": r["id"], "result": result}),
                Err((code, message)) => {
                    json!({"jsonrpc": "2.0", "id": r["id"], "error": {"code": code, "message": message}})
                }
            }
        };
        let answer = match &request {
            Value::Array(batch) => Value::Array(batch.iter().map(answer_one).collect()),
            one => answer_one(one),
        };
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let text = answer.to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(text.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// The answer key of a call: method and parameters, lower-cased (addresses may come
/// checksummed) in a canonical JSON form.
pub fn key(method: &str, params: &Value) -> String {
    format!("{method} {}", params.to_string().to_lowercase())
}

/// Recorded answers of ethereum-etl's fixtures, by call.
#[derive(Default, Clone)]
pub struct Recorded {
    pub answers: HashMap<String, Value>,
    pub methods: Vec<String>,
}

impl Recorded {
    /// Loads every `web3_response.<method>_<params>.json` of the given fixture folders
    /// (relative to `evm/ethereum-etl/`).
    pub fn load(dirs: &[&str]) -> Recorded {
        let mut r = Recorded::default();
        for dir in dirs {
            let dir = shared_data(&format!("evm/ethereum-etl/{dir}"));
            for entry in std::fs::read_dir(&dir).expect("read fixture dir") {
                let path = entry.expect("dir entry").path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                let Some(stem) = name
                    .strip_prefix("web3_response.")
                    .and_then(|s| s.strip_suffix(".json"))
                else {
                    continue;
                };
                let text = std::fs::read_to_string(&path).expect("read fixture");
                let doc: Value = serde_json::from_str(&text).expect("fixture is JSON");
                let result = doc.get("result").cloned().unwrap_or(Value::Null);
                let (method, params) = parse_name(stem);
                r.insert(&method, &params, result);
            }
        }
        r
    }

    pub fn insert(&mut self, method: &str, params: &Value, result: Value) {
        self.answers.insert(key(method, params), result);
        if !self.methods.iter().any(|m| m == method) {
            self.methods.push(method.to_string());
        }
    }

    pub fn get_mut(&mut self, method: &str, params: &Value) -> &mut Value {
        self.answers
            .get_mut(&key(method, params))
            .unwrap_or_else(|| panic!("no recorded answer for {method} {params}"))
    }

    /// A handler answering recorded calls: a recorded method with unrecorded parameters
    /// answers `null` (no such block or tx), an unrecorded method "method not found".
    /// `eth_chainId` and `eth_blockNumber` answer `chain_id` and `tip` unless recorded.
    pub fn handler(self, chain_id: u64, tip: u64) -> Arc<Handler> {
        Arc::new(move |method: &str, params: &Value| {
            if let Some(answer) = self.answers.get(&key(method, params)) {
                return Ok(answer.clone());
            }
            // A node answers a block with tx hashes only as well as with full txs: derive the
            // first from a recording of the second.
            if method == "eth_getBlockByNumber" && params.get(1) == Some(&json!(false)) {
                let full = json!([params[0], true]);
                if let Some(block) = self.answers.get(&key(method, &full)) {
                    let mut block = block.clone();
                    if let Some(txs) = block.get_mut("transactions").and_then(Value::as_array_mut) {
                        for tx in txs.iter_mut() {
                            *tx = tx["hash"].clone();
                        }
                    }
                    return Ok(block);
                }
            }
            match method {
                "eth_chainId" => Ok(json!(format!("{chain_id:#x}"))),
                "eth_blockNumber" => Ok(json!(format!("{tip:#x}"))),
                m if self.methods.iter().any(|k| k == m) => Ok(Value::Null),
                m => Err((
                    -32601,
                    format!("the method {m} does not exist/is not available"),
                )),
            }
        })
    }
}

/// `eth_getBlockByNumber_0x76250_true` → (`eth_getBlockByNumber`, `["0x76250", true]`).
fn parse_name(stem: &str) -> (String, Value) {
    let methods = [
        "eth_getBlockByNumber",
        "eth_getTransactionReceipt",
        "eth_getFilterLogs",
        "eth_newFilter",
        "eth_uninstallFilter",
        "eth_chainId",
        "eth_call",
        "trace_block",
        "debug_traceBlockByNumber",
    ];
    let method = methods
        .iter()
        .find(|m| stem.starts_with(&format!("{m}_")))
        .unwrap_or_else(|| panic!("unknown recorded method in {stem}"));
    let rest = &stem[method.len() + 1..];
    let parts: Vec<&str> = rest.split('_').collect();
    let params = match *method {
        "eth_getBlockByNumber" => json!([parts[0], parts[1] == "true"]),
        "eth_chainId" => json!([]),
        "eth_call" => {
            // data_<data>_to_<to>_latest
            json!([{"data": parts[1], "to": parts[3]}, parts[4]])
        }
        "debug_traceBlockByNumber" => json!([parts[0], {"tracer": "callTracer"}]),
        _ => json!([parts[0]]),
    };
    (method.to_string(), params)
}

/// Reads a CSV file with a header into rows of column → value (fields may be quoted, with
/// commas inside quotes; no escaped quotes in these fixtures).
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read csv");
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns = split_csv(header);
    lines
        .filter(|l| !l.is_empty())
        .map(|l| columns.iter().cloned().zip(split_csv(l)).collect())
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// Reads a JSON-lines file.
pub fn read_json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read json lines")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}
