//! `tracehound watch` against a real `anvil`: the thief's payment to a labeled exchange
//! raises a signed `reached_service` webhook naming the tx, the address, the block and the
//! amount a fresh trace gives; a reorg (`evm_snapshot` before the payment, `evm_revert` after
//! it was alerted, empty blocks mined in its place) retracts every alert of the removed block
//! and no other; nothing arrives twice. With the node's websocket, each new head wakes the
//! watch at once, and polling delivers while the websocket is down.
#![cfg(feature = "test-anvil")]

use std::collections::BTreeSet;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracehound_evm::testnode::Anvil;

use crate::common::{label_exchange, ok, subscribe, tracehound};
use crate::watch_common::{Received, Receiver, SECRET, Watch, wait_for};

const CHAIN: &str = "evm-31337";
/// The thief: a fresh address (no opening balance), impersonated on anvil to send from it.
const THIEF: &str = "0x7e57000000000000000000000000000000000001";
/// A fresh address the thief moves part of the loot to first.
const MULE: &str = "0x7e57000000000000000000000000000000000002";
/// The exchange's deposit address (labeled), fresh too.
const EXCHANGE: &str = "0xe1c4000000000000000000000000000000000003";
const ETH: u128 = 1_000_000_000_000_000_000;

fn send(node: &Anvil, from: &str, to: &str, value: u128) -> Value {
    let tx = json!({"from": from, "to": to, "value": format!("{value:#x}")});
    let hash: String = node.rpc("eth_sendTransaction", json!([tx])).unwrap();
    let receipt = node.wait_receipt(&hash).unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    receipt
}

fn tip(node: &Anvil) -> u64 {
    let t: String = node.rpc("eth_blockNumber", json!([])).unwrap();
    u64::from_str_radix(t.trim_start_matches("0x"), 16).unwrap()
}

fn block_hash(node: &Anvil, height: u64) -> String {
    let b: Value = node
        .rpc(
            "eth_getBlockByNumber",
            json!([format!("{height:#x}"), false]),
        )
        .unwrap();
    b["hash"].as_str().unwrap().to_string()
}

fn start_watch(data: &Path, url: &str) -> Watch {
    Watch::spawn(
        Path::new(env!("CARGO_BIN_EXE_tracehound")),
        data,
        &[
            "--chain",
            CHAIN,
            "--rpc",
            url,
            "--poll-ms",
            "100",
            "--no-opening-balances",
        ],
    )
}

/// `alerts list` of the data dir (only while no watch holds the outbox).
fn outbox(data: &Path) -> Vec<Value> {
    let list: Value = serde_json::from_slice(
        &ok(tracehound(
            data,
            &["--json", "alerts", "list", "--limit", "10000"],
        ))
        .stdout,
    )
    .unwrap();
    list.as_array().unwrap().clone()
}

/// Hashes and addresses compared as the node writes them (`0x` and hex), case aside
/// (checksummed addresses).
fn same(a: &Value, b: &str) -> bool {
    a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(b))
}

fn of_block<'a>(got: &'a [Received], hash: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.alert["kind"] != "retraction" && same(&r.alert["block_hash"], hash))
        .collect()
}

fn assert_signed_and_unique(got: &[Received]) {
    assert!(
        got.iter().all(|r| r.signed),
        "every webhook is signed: {got:?}"
    );
    assert!(
        got.iter().all(|r| r.alert["id"] == r.id.as_str()),
        "the header is the alert's id: {got:?}"
    );
    let ids: BTreeSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "an alert delivered twice: {got:?}");
}

#[test]
fn evm_thiefs_payment_to_an_exchange_alerts_and_a_reverted_block_is_retracted() {
    let node = Anvil::start().unwrap_or_else(|e| panic!("{e}"));
    let url = node.url().to_string();
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let victim = accounts[0].clone();
    let _: Value = node
        .rpc("anvil_impersonateAccount", json!([THIEF]))
        .unwrap();

    // The theft: 10 ETH from the victim to the thief.
    let theft = send(&node, &victim, THIEF, 10 * ETH);
    let theft = theft["transactionHash"].as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(tracehound(
        data,
        &["ingest", "evm", "--chain", "31337", "--rpc", &url],
    ));
    label_exchange(data, CHAIN, EXCHANGE);
    ok(tracehound(
        data,
        &[
            "incident", "create", "drain", "--chain", CHAIN, "--tx", &theft,
        ],
    ));
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let hook = Receiver::start();
    subscribe(data, &hook.url, SECRET, &[]);

    let watch = start_watch(data, &url);
    wait_for("the first cycle", || !watch.cycles().is_empty());
    let start_tip = tip(&node);

    // A first move to a fresh address: its alerts stay through the reorg below.
    let to_mule = send(&node, THIEF, MULE, ETH);
    let (mule_tx, mule_block) = (
        to_mule["transactionHash"].as_str().unwrap().to_string(),
        to_mule["blockHash"].as_str().unwrap().to_string(),
    );
    wait_for("the move to the mule", || {
        hook.received().iter().any(|r| {
            r.alert["kind"] == "taint_moved"
                && same(&r.alert["tx"], &mule_tx)
                && same(&r.alert["address"], MULE)
        })
    });

    // The state before the payment, to revert to.
    let snapshot: Value = node.rpc("evm_snapshot", json!([])).unwrap();
    let paid = send(&node, THIEF, EXCHANGE, 4 * ETH);
    let (paid_tx, paid_block) = (
        paid["transactionHash"].as_str().unwrap().to_string(),
        paid["blockHash"].as_str().unwrap().to_string(),
    );
    assert_eq!(tip(&node), start_tip + 2);
    wait_for("the exchange alert and the payment's", || {
        let got = hook.received();
        got.iter().any(|r| r.alert["kind"] == "reached_service")
            && got
                .iter()
                .any(|r| r.alert["kind"] == "taint_moved" && same(&r.alert["tx"], &paid_tx))
    });
    // The payment's cycle is over once the store is at its block (alerts are pushed in it).
    wait_for("the payment's cycle", || watch.reached(start_tip + 2));
    watch.stop();
    let got = hook.received();
    assert_signed_and_unique(&got);
    let reached: Vec<&Received> = got
        .iter()
        .filter(|r| r.alert["kind"] == "reached_service")
        .collect();
    assert_eq!(reached.len(), 1, "{got:?}");
    let a = &reached[0].alert;
    assert_eq!(a["incident"], "drain");
    assert_eq!(a["chain"], CHAIN);
    assert!(same(&a["tx"], &paid_tx), "{a}");
    assert!(same(&a["address"], EXCHANGE), "{a}");
    assert!(same(&a["block_hash"], &paid_block), "{a}");
    assert_eq!(a["height"], start_tip + 2);
    assert_eq!(a["evidence"]["category"], "exchange");
    let path = a["evidence"]["path"].as_array().unwrap();
    assert!(same(&path.first().unwrap()["tx"], &theft), "{a}");
    assert!(same(&path.last().unwrap()["tx"], &paid_tx), "{a}");
    // The thief held only stolen ether: the 4 ETH are all tainted.
    assert_eq!(a["amount"], (4 * ETH).to_string(), "{a}");
    // The amount is the trace's: traced from scratch, the exchange holds what the alert said.
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
        .find(|e| same(&e["address"], EXCHANGE))
        .unwrap_or_else(|| panic!("{fresh}"));
    assert_eq!(a["amount"], at_exchange["amount"]);
    assert_eq!(at_exchange["category"], "exchange");
    // The moves themselves, each in its block.
    for (tx, to, block) in [
        (&mule_tx, MULE, &mule_block),
        (&paid_tx, EXCHANGE, &paid_block),
    ] {
        assert!(
            got.iter().any(|r| r.alert["kind"] == "taint_moved"
                && same(&r.alert["tx"], tx)
                && same(&r.alert["address"], to)
                && same(&r.alert["block_hash"], block)),
            "{tx}: {got:?}"
        );
    }
    // Nothing of blocks up to the watch's start (the theft's history is in the trace).
    assert!(
        got.iter()
            .all(|r| r.alert["height"].as_u64().unwrap() > start_tip),
        "{got:?}"
    );

    // Every alert of the payment's block, as the outbox holds them (read while no watch runs).
    let stale: Vec<String> = outbox(data)
        .iter()
        .filter(|row| same(&row["alert"]["block_hash"], &paid_block))
        .map(|row| row["alert"]["id"].as_str().unwrap().to_string())
        .collect();
    // A reorg: back to the state before the payment, and two empty blocks in its place.
    let watch = start_watch(data, &url);
    wait_for("the restarted watch's first cycle", || {
        !watch.cycles().is_empty()
    });
    let reverted: bool = node.rpc("evm_revert", json!([snapshot])).unwrap();
    assert!(reverted);
    let _: Value = node.rpc("evm_mine", json!([])).unwrap();
    let _: Value = node.rpc("evm_mine", json!([])).unwrap();
    assert_eq!(tip(&node), start_tip + 3);
    let new_block = block_hash(&node, start_tip + 2);
    assert!(!same(&json!(new_block), &paid_block));
    assert!(stale.len() >= 2, "the payment and its endpoint: {got:?}");
    wait_for("the retractions", || {
        let got = hook.received();
        stale.iter().all(|id| {
            got.iter()
                .any(|r| r.alert["kind"] == "retraction" && r.alert["retracts"] == id.as_str())
        })
    });
    wait_for("the watch at the new tip", || watch.reached(start_tip + 3));
    watch.stop();
    let got = hook.received();
    assert_signed_and_unique(&got);
    let retractions: Vec<&Received> = got
        .iter()
        .filter(|r| r.alert["kind"] == "retraction")
        .collect();
    // One per alert of the reverted block, none for the mule's block.
    assert_eq!(retractions.len(), stale.len(), "{got:?}");
    for r in &retractions {
        assert!(same(&r.alert["block_hash"], &paid_block), "{r:?}");
        assert!(stale.contains(&r.alert["retracts"].as_str().unwrap().to_string()));
        // A retraction comes after the alert it withdraws.
        let of = got
            .iter()
            .position(|x| x.id == r.alert["retracts"].as_str().unwrap())
            .unwrap();
        let at = got.iter().position(|x| x.id == r.id).unwrap();
        assert!(of < at, "{got:?}");
    }
    assert!(!of_block(&got, &mule_block).is_empty());
    // The new branch has no payment: nothing new was raised on it.
    assert!(of_block(&got, &new_block).is_empty(), "{got:?}");

    // Traced again on the final chain, the exchange has nothing: the payment is gone.
    let fresh: Value = serde_json::from_slice(
        &ok(tracehound(
            data,
            &["--json", "trace", "--incident", "drain"],
        ))
        .stdout,
    )
    .unwrap();
    assert!(
        fresh["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !same(&e["address"], EXCHANGE)),
        "{fresh}"
    );
    // The outbox holds what arrived, each delivered once.
    let rows = outbox(data);
    assert_eq!(rows.len(), got.len(), "{rows:?}");
    for row in &rows {
        let id = row["alert"]["id"].as_str().unwrap();
        let r = got.iter().find(|r| r.id == id).unwrap();
        let mut body = r.alert.clone();
        body.as_object_mut().unwrap().remove("seq");
        assert_eq!(body, row["alert"], "the webhook's body is the stored alert");
        assert_eq!(r.alert["seq"], row["seq"]);
        let d = row["deliveries"].as_array().unwrap();
        assert!(d.len() == 1 && d[0]["state"] == "delivered", "{row}");
    }
}

/// A TCP relay between the watch and anvil's port, which the test can cut (every connection
/// shut, new ones closed at once) and restore: a websocket that drops and comes back.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (is_open, live) = (Arc::clone(&open), Arc::clone(&conns));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(down) = conn else { continue };
                if !is_open.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(up) = TcpStream::connect(upstream) else {
                    continue;
                };
                live.lock()
                    .unwrap()
                    .extend([down.try_clone().unwrap(), up.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, down),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, open, conns }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// The node's port, from its HTTP URL.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// Sends `value` from the thief to `to` and waits for its `taint_moved` webhook: how long
/// after the node answered the receipt the webhook arrived.
fn move_and_time(node: &Anvil, hook: &Receiver, to: &str, value: u128) -> Duration {
    let receipt = send(node, THIEF, to, value);
    let mined = Instant::now();
    let tx = receipt["transactionHash"].as_str().unwrap().to_string();
    wait_for("the move's webhook", || {
        hook.received()
            .iter()
            .any(|r| r.alert["kind"] == "taint_moved" && same(&r.alert["tx"], &tx))
    });
    let got = hook.received();
    let r = got
        .iter()
        .find(|r| r.alert["kind"] == "taint_moved" && same(&r.alert["tx"], &tx))
        .unwrap();
    r.at.saturating_duration_since(mined)
}

/// The node's websocket (`--ws`) wakes the watch at each new head: polling only every 30 s,
/// each mined move's webhook still arrives within a few seconds (about 0.1 s on a quiet
/// machine). Step by step:
/// 1. three moves with the websocket up: each webhook well before the next poll;
/// 2. the websocket cut: said once on stderr however often the resubscription fails;
/// 3. restored: said so, and the next move is quick again;
/// 4. a watch whose websocket URL is refused (a closed port) still delivers by polling,
///    and says so once.
#[test]
fn evm_new_heads_over_a_websocket_wake_the_watch_and_polling_is_the_fallback() {
    let node = Anvil::start().unwrap_or_else(|e| panic!("{e}"));
    let url = node.url().to_string();
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let _: Value = node
        .rpc("anvil_impersonateAccount", json!([THIEF]))
        .unwrap();
    let theft = send(&node, &accounts[0], THIEF, 10 * ETH);
    let theft = theft["transactionHash"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(tracehound(
        data,
        &["ingest", "evm", "--chain", "31337", "--rpc", &url],
    ));
    ok(tracehound(
        data,
        &[
            "incident", "create", "drain", "--chain", CHAIN, "--tx", &theft,
        ],
    ));
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let hook = Receiver::start();
    subscribe(data, &hook.url, SECRET, &[]);
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], port_of(&url))));
    let ws = format!("ws://127.0.0.1:{}", relay.port);
    let bin = Path::new(env!("CARGO_BIN_EXE_tracehound"));
    let args = [
        "--chain",
        CHAIN,
        "--rpc",
        &url,
        "--ws",
        &ws,
        "--poll-ms",
        "30000",
        "--no-opening-balances",
    ];
    let watch = Watch::spawn(bin, data, &args);
    wait_for("the first cycle", || !watch.cycles().is_empty());

    // 1. Each move's block wakes the watch: far sooner than the 30 s poll.
    let quick = Duration::from_secs(5);
    let mut latencies = Vec::new();
    for i in 0..3u128 {
        let took = move_and_time(&node, &hook, MULE, ETH / 10 + i);
        assert!(took < quick, "move {i}: {took:?} after its block");
        latencies.push(took);
    }
    eprintln!("block → webhook over the websocket: {latencies:?}");
    assert!(watch.said("websocket").is_empty(), "{:?}", watch.stderr);

    // 2. The websocket drops and stays down while resubscribing fails a few times.
    relay.cut();
    wait_for("the outage said", || {
        !watch.said("polling meanwhile").is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        watch.said("polling meanwhile").len(),
        1,
        "said once: {:?}",
        watch.stderr
    );

    // 3. Back: said so, and the next move is quick again.
    relay.restore();
    wait_for("the websocket back", || !watch.said("is back").is_empty());
    let took = move_and_time(&node, &hook, EXCHANGE, ETH / 10);
    assert!(took < quick, "after the return: {took:?}");
    watch.stop();

    // 4. A websocket that is refused: polling (every 300 ms here) still delivers.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("ws://{}", closed.local_addr().unwrap());
    drop(closed);
    let args = [
        "--chain",
        CHAIN,
        "--rpc",
        &url,
        "--ws",
        &refused,
        "--poll-ms",
        "300",
        "--no-opening-balances",
    ];
    let watch = Watch::spawn(bin, data, &args);
    wait_for("the first cycle", || !watch.cycles().is_empty());
    move_and_time(&node, &hook, MULE, ETH / 10 + 7);
    std::thread::sleep(Duration::from_secs(2));
    let said = watch.said("websocket");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains(&refused), "{said:?}");
    watch.stop();
    assert_signed_and_unique(&hook.received());

    // A websocket URL on a UTXO chain or with TLS is refused before anything runs.
    let out = tracehound(
        data,
        &[
            "watch",
            "--chain",
            CHAIN,
            "--rpc",
            &url,
            "--ws",
            "wss://x.example/ws",
            "--once",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wss://"));
}

/// `serve --watch`'s status board shows the websocket feed of an EVM chain: subscribed once
/// the watch is up; not subscribed, with why, while the websocket is cut (the watch polls
/// meanwhile, the node still reachable); subscribed again, the error gone, once it is back.
#[test]
fn the_status_board_shows_the_websocket_feed_down_and_back() {
    let node = Anvil::start().unwrap_or_else(|e| panic!("{e}"));
    let url = node.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], port_of(&url))));
    let config = dir.path().join("watch.toml");
    std::fs::write(
        &config,
        format!(
            "[[chain]]\nchain = \"{CHAIN}\"\nrpc = \"{url}\"\nws = \"ws://127.0.0.1:{}\"\n\
             poll_ms = 300\nopening_balances = false\n",
            relay.port
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--bind", "127.0.0.1:0", "--watch"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (sink, stderr) = (Arc::clone(&lines), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(l);
            }
        });
    }
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _ = child.stdout.take();
    let _server = Kill(child);
    wait_for("the server", || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(" on http://"))
    });
    let base = {
        let lines = lines.lock().unwrap();
        let line = lines.iter().find(|l| l.contains(" on http://")).unwrap();
        let at = line.find("http://").unwrap();
        line[at..].split_whitespace().next().unwrap().to_string()
    };
    let board = || -> Value {
        let status: Value = ureq::get(&format!("{base}/api/v1/status"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        status["watching"]
            .as_array()
            .and_then(|w| w.first().cloned())
            .unwrap_or(Value::Null)
    };
    wait_for("the websocket subscribed and a cycle run", || {
        let b = board();
        b["heads_subscribed"] == true && b["cycles"].as_u64() > Some(0)
    });
    let up = board();
    assert_eq!(up["node_reachable"], true, "{up}");
    assert_eq!(up["error"], Value::Null, "{up}");

    relay.cut();
    wait_for("the websocket shown down", || {
        board()["heads_subscribed"] == false
    });
    let down = board();
    assert!(
        down["error"].as_str().is_some_and(|e| !e.is_empty()),
        "why it is down: {down}"
    );
    // Polling goes on over HTTP: the node is still reachable and cycles still run.
    let cycles = down["cycles"].as_u64().unwrap();
    wait_for("a cycle while the websocket is down", || {
        board()["cycles"].as_u64().unwrap() > cycles
    });
    assert_eq!(board()["node_reachable"], true);

    relay.restore();
    wait_for("the websocket back", || {
        let b = board();
        b["heads_subscribed"] == true && b["error"] == Value::Null
    });
}
