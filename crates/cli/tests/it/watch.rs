//! `tracehound watch` against a real `litecoind -regtest`: the thief's next moves raise signed
//! webhooks as blocks arrive, a reorg retracts the alerts of the blocks it removed, and a
//! second watch over the same data dir raises nothing twice.
#![cfg(feature = "test-litecoind")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
use tracehound_btc::testnode::Litecoind;

use crate::common::{ok, tracehound};

const NETWORK: &str = "litecoin-regtest";
const SECRET: &str = "watch-test-secret-0123456789abcdef";

/// One request the receiver took: its idempotency key, whether its signature held, the alert.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    signed: bool,
    alert: Value,
}

/// A webhook receiver on loopback: answers 200 to each POST and records it.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut headers = BTreeMap::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.insert(k.to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let signed = tracehound_monitor::verify_signature(
                SECRET,
                headers
                    .get("x-tracehound-timestamp")
                    .map_or("", |s| s.as_str()),
                &body,
                headers
                    .get("x-tracehound-signature")
                    .map_or("", |s| s.as_str()),
                now,
                300,
            );
            sink.lock().unwrap().push(Received {
                id: headers.get("x-tracehound-id").cloned().unwrap_or_default(),
                signed,
                alert: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

fn wallet(node: &Litecoind, name: &str) -> RpcClient {
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

fn call(client: &RpcClient, method: &str, params: Value) -> Value {
    client
        .call(method, params.clone())
        .unwrap_or_else(|e| panic!("{method} {params}: {e}"))
}

/// `tracehound watch` as a child, printing one JSON line per cycle.
/// The watch process, killed if the test fails before stopping it.
struct Watch(Option<Child>);

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_watch(data: &Path, node: &Litecoind) -> (Watch, Arc<Mutex<Vec<Value>>>) {
    let (user, password) = node.credentials();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .args(["--data-dir", data.to_str().unwrap(), "--json", "watch"])
        .args(["--chain", NETWORK, "--rpc", node.rpc_url()])
        .args([
            "--rpc-user",
            user,
            "--rpc-password",
            password,
            "--poll-ms",
            "100",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
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
    (Watch(Some(child)), cycles)
}

/// Waits until `done` holds, for at most 60 s.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the watch with SIGTERM: it finishes its cycle and delivery task and exits 0.
fn stop(mut watch: Watch) {
    let Some(mut child) = watch.0.take() else {
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
            panic!("watch did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn thiefs_moves_alert_by_signed_webhook_and_a_reorg_retracts_them() {
    let node = Litecoind::start().unwrap_or_else(|e| panic!("{e}"));
    node.mine(101).unwrap();
    // Two wallets from here on: every wallet call names its wallet.
    call(&node.client(), "createwallet", json!(["thief"]));
    let main = wallet(&node, tracehound_btc::testnode::WALLET);
    let mine = |n: u32| -> Vec<String> {
        let to = call(&main, "getnewaddress", json!(["", "bech32"]));
        call(&main, "generatetoaddress", json!([n, to]))
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    };
    let thief = wallet(&node, "thief");
    let thief_addr = call(&thief, "getnewaddress", json!(["", "bech32"]));
    let thief_addr = thief_addr.as_str().unwrap();
    // The theft: 10 LTC to the thief.
    let theft = call(&main, "sendtoaddress", json!([thief_addr, "10"]));
    let theft = theft.as_str().unwrap().to_string();
    mine(1);
    let exchange = call(&main, "getnewaddress", json!(["", "bech32"]));
    let exchange = exchange.as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (user, password) = node.credentials();
    let rpc = [
        "--rpc",
        node.rpc_url(),
        "--rpc-user",
        user,
        "--rpc-password",
        password,
    ];
    let mut ingest = vec!["ingest", "btc", "--network", NETWORK];
    ingest.extend(rpc);
    ok(tracehound(data, &ingest));
    ok(tracehound(
        data,
        &[
            "labels",
            "add",
            &exchange,
            "--chain",
            NETWORK,
            "--label",
            "Exchange X deposit",
            "--category",
            "exchange",
            "--analyst",
            "ana",
        ],
    ));
    ok(tracehound(
        data,
        &[
            "incident", "create", "drain", "--chain", NETWORK, "--tx", &theft,
        ],
    ));
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let (url, got) = receiver();
    ok(tracehound(
        data,
        &["subscription", "add", "--url", &url, "--secret", SECRET],
    ));

    let (watch, cycles) = start_watch(data, &node);
    wait_for("the first cycle", || !cycles.lock().unwrap().is_empty());

    // The thief pays the exchange's deposit address; the block that confirms it alerts.
    let paid = call(
        &thief,
        "sendtoaddress",
        json!([exchange, "4", "", "", true]),
    );
    let paid = paid.as_str().unwrap().to_string();
    let block = mine(1).remove(0);
    wait_for("the exchange alert and the move's", || {
        let got = got.lock().unwrap();
        got.iter().any(|r| r.alert["kind"] == "reached_service")
            && got
                .iter()
                .any(|r| r.alert["kind"] == "taint_moved" && r.alert["tx"] == paid.as_str())
    });
    {
        let got = got.lock().unwrap();
        assert!(
            got.iter().all(|r| r.signed),
            "every webhook is signed: {got:?}"
        );
        let reached: Vec<&Received> = got
            .iter()
            .filter(|r| r.alert["kind"] == "reached_service")
            .collect();
        assert_eq!(reached.len(), 1, "{got:?}");
        let a = &reached[0].alert;
        assert_eq!(
            reached[0].id,
            a["id"].as_str().unwrap(),
            "the header is the alert's id"
        );
        assert_eq!(a["incident"], "drain");
        assert_eq!(a["address"], exchange.as_str());
        assert_eq!(a["tx"], paid.as_str());
        assert_eq!(a["block_hash"], block.as_str());
        assert_eq!(a["evidence"]["category"], "exchange");
        // The path proves it: the theft, then the thief's payment.
        let path = a["evidence"]["path"].as_array().unwrap();
        assert_eq!(path.first().unwrap()["tx"], theft.as_str());
        assert_eq!(path.last().unwrap()["tx"], paid.as_str());
        // Haircut: the thief's coin was all stolen, so the 4 LTC are, less the fee's share
        // (checked against a fresh trace below).
        let amount: u64 = a["amount"].as_str().unwrap().parse().unwrap();
        assert!((399_000_000..=400_000_000).contains(&amount), "{a}");
        assert!(
            got.iter()
                .any(|r| r.alert["kind"] == "taint_moved" && r.alert["tx"] == paid.as_str()),
            "the move itself: {got:?}"
        );
        // Each alert arrives once per key.
        let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "an alert delivered twice: {got:?}");
    }

    // A reorg: the block is invalidated and two others mined in its place. The payment goes
    // back to the mempool and into the new branch: the old block's alerts are retracted, and
    // the new block raises them again under new ids (its hash is part of them).
    let alerted: Vec<String> = got.lock().unwrap().iter().map(|r| r.id.clone()).collect();
    call(&node.client(), "invalidateblock", json!([block]));
    let branch = mine(2);
    wait_for("the retractions and the new branch's alerts", || {
        let got = got.lock().unwrap();
        let retracted = alerted.iter().all(|id| {
            got.iter()
                .any(|r| r.alert["kind"] == "retraction" && r.alert["retracts"] == id.as_str())
        });
        let again = got.iter().any(|r| {
            r.alert["kind"] == "reached_service" && r.alert["block_hash"] == branch[0].as_str()
        });
        retracted && again
    });
    {
        let got = got.lock().unwrap();
        assert!(got.iter().all(|r| r.signed), "{got:?}");
        for r in got.iter().filter(|r| r.alert["kind"] == "retraction") {
            assert_eq!(
                r.alert["block_hash"],
                block.to_string(),
                "only the stale block's"
            );
        }
    }
    stop(watch);
    let cycles = cycles.lock().unwrap().clone();
    assert!(
        cycles.iter().any(|c| c["unwound"].as_u64() > Some(0)),
        "{cycles:?}"
    );

    // The figure alerted is the trace's: traced again from scratch on the final chain, the
    // exchange holds what the new branch's alert said.
    let fresh: Value = serde_json::from_slice(
        &ok(tracehound(
            data,
            &["--json", "trace", "--incident", "drain"],
        ))
        .stdout,
    )
    .unwrap();
    let at_exchange = fresh["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["address"] == exchange.as_str())
        .unwrap_or_else(|| panic!("{fresh}"));
    let again = got
        .lock()
        .unwrap()
        .iter()
        .find(|r| {
            r.alert["kind"] == "reached_service" && r.alert["block_hash"] == branch[0].as_str()
        })
        .map(|r| r.alert.clone())
        .unwrap();
    assert_eq!(again["amount"], at_exchange["amount"]);

    // What the outbox holds, read back once the watch is gone: every alert, every delivery done.
    let list: Value =
        serde_json::from_slice(&ok(tracehound(data, &["--json", "alerts", "list"])).stdout)
            .unwrap();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), got.lock().unwrap().len(), "{list}");
    assert!(rows.iter().all(|r| {
        r["deliveries"]
            .as_array()
            .is_some_and(|d| d.len() == 1 && d[0]["state"] == "delivered")
    }));
}
