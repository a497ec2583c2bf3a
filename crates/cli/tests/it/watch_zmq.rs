//! `tracehound watch --zmq` against a real `litecoind -regtest` whose blocks are announced on
//! a real ZMQ PUB socket (libzmq, through pyzmq). Debian's litecoind is built without ZMQ, so
//! the node's own `-blocknotify` feeds `zmq_notifier.py`, which publishes each block as
//! Core's notifier does (`hashblock` and `rawblock`, each with its sequence number).
//!
//! With a 30 s poll, each block wakes the watch within seconds; the publisher going away is
//! said once and the watch polls on; its return is said and blocks wake the watch again; an
//! endpoint nobody publishes on is said once while polling delivers.
#![cfg(feature = "test-litecoind")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{ok, subscribe, tracehound};
use crate::watch::Heist;
use crate::watch_common::ltc::{NETWORK, Notifier, call, notifying_node, watch_args};
use crate::watch_common::{Receiver, SECRET, Watch, wait_for};

/// Mines a block and waits for a watch cycle to report it: how long that took.
fn mine_and_time(heist: &Heist, watch: &Watch, tips: &mut u64) -> Duration {
    let start = Instant::now();
    heist.mine(1);
    *tips += 1;
    let tip = *tips;
    wait_for("a cycle at the new tip", || watch.reached(tip));
    start.elapsed()
}

#[test]
fn zmq_block_notifications_wake_the_watch_and_polling_is_the_fallback() {
    let notify = tempfile::tempdir().unwrap();
    let fifo: PathBuf = notify.path().join("blocks.fifo");
    let node = notifying_node(&fifo);
    let notifier = Notifier::start(&fifo, 0, &node);
    let heist = Heist::on(node);
    let data = heist.data();
    let mut tip = call(&heist.node.client(), "getblockcount", json!([]))
        .as_u64()
        .unwrap();
    // The node's -blocknotify reached the publisher: it announced the heist's blocks.
    wait_for("the heist's blocks published", || {
        notifier.sent.lock().unwrap().len() as u64 >= tip
    });
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let hook = Receiver::start();
    subscribe(data, &hook.url, SECRET, &[]);
    let zmq = notifier.url();
    let mut args = watch_args(&heist.node, 30_000);
    args.extend(["--zmq".to_string(), zmq.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bin = Path::new(env!("CARGO_BIN_EXE_tracehound"));
    let watch = Watch::spawn(bin, data, &args);
    wait_for("the first cycle", || !watch.cycles().is_empty());

    // 1. Each block wakes the watch: far sooner than the 30 s poll. The thief's move in one
    //    of them reaches the webhook the same way.
    let quick = Duration::from_secs(5);
    let mut latencies = Vec::new();
    for i in 0..3 {
        let took = mine_and_time(&heist, &watch, &mut tip);
        assert!(took < quick, "block {i}: {took:?} until its cycle");
        latencies.push(took);
    }
    let mule = heist.new_address();
    let moved = call(&heist.thief, "sendtoaddress", json!([mule, "2"]));
    let took = mine_and_time(&heist, &watch, &mut tip);
    assert!(took < quick, "the move's block: {took:?}");
    wait_for("the move's webhook", || {
        hook.received()
            .iter()
            .any(|r| r.alert["kind"] == "taint_moved" && r.alert["tx"] == moved)
    });
    eprintln!("block → cycle over ZMQ: {latencies:?}");
    assert!(watch.said("ZMQ").is_empty(), "{:?}", watch.stderr);

    // 2. The publisher goes away: said once, and the watch goes on (polling).
    let port = notifier.port;
    drop(notifier);
    wait_for("the outage said", || {
        !watch.said("polling meanwhile").is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));
    let said = watch.said("ZMQ");
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(said[0].contains(&zmq), "{said:?}");

    // 3. Back on the same port: said so, and blocks wake the watch again.
    let notifier = Notifier::start(&fifo, port, &heist.node);
    wait_for("the publisher back", || !watch.said("is back").is_empty());
    let took = mine_and_time(&heist, &watch, &mut tip);
    assert!(took < quick, "after the return: {took:?}");
    watch.stop();
    drop(notifier);

    // 4. An endpoint nobody publishes on: said once; polling (every 300 ms here) delivers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("tcp://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut args = watch_args(&heist.node, 300);
    args.extend(["--zmq".to_string(), refused.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watch = Watch::spawn(bin, data, &args);
    wait_for("the first cycle", || !watch.cycles().is_empty());
    mine_and_time(&heist, &watch, &mut tip);
    wait_for("the refusal said", || !watch.said("ZMQ").is_empty());
    std::thread::sleep(Duration::from_secs(2));
    let said = watch.said("ZMQ");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains(&refused), "{said:?}");
    watch.stop();

    // A ZMQ URL that is not tcp:// is refused before anything runs.
    let out = tracehound(
        data,
        &[
            "watch",
            "--chain",
            NETWORK,
            "--rpc",
            heist.node.rpc_url(),
            "--zmq",
            "ipc:///tmp/node.sock",
            "--once",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no tcp:// URL"), "{stderr}");
}
