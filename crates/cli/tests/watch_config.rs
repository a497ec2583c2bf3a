//! `tracehound watch` on bad input that needs no node: malformed watch configs are refused
//! with the entry and what is wrong named, and a node that cannot be reached is waited for,
//! loudly, until the watch is stopped.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tracehound;

fn refused(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watch.toml");
    std::fs::write(&path, config).unwrap();
    let out = tracehound(
        &dir.path().join("data"),
        &["watch", "--config", path.to_str().unwrap(), "--once"],
    );
    assert!(!out.status.success(), "{config:?} was accepted");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("watch.toml"), "the file is named: {stderr}");
    stderr
}

#[test]
fn malformed_watch_configs_are_refused_naming_the_entry() {
    let cases = [
        ("", "missing field `chain`"),
        ("chain = []\n", "no [[chain]] to follow"),
        (
            "[[chain]]\nchain = \"litecoin-regtest\"\n",
            "missing field `rpc`",
        ),
        (
            "[[chain]]\nchain = \"litecoin-regtest\"\nrpc = \"http://127.0.0.1:1\"\nrpc_port = 3\n",
            "unknown field `rpc_port`",
        ),
        (
            "[[chain]]\nchain = \"dogecoin-mainnet-ish\"\nrpc = \"http://127.0.0.1:1\"\n",
            "[[chain]] #1 (\"dogecoin-mainnet-ish\")",
        ),
        (
            "[[chain]]\nchain = \"litecoin-regtest\"\nrpc = \"127.0.0.1:19443\"\n",
            "is no http(s) URL",
        ),
        (
            "[[chain]]\nchain = \"litecoin-regtest\"\nrpc = \"http://127.0.0.1:1\"\nrpc_user = \"u\"\n",
            "rpc_user and rpc_password go together",
        ),
        (
            "[[chain]]\nchain = \"evm-31337\"\nrpc = \"http://127.0.0.1:1\"\n\n\
             [[chain]]\nchain = \"evm-31337\"\nrpc = \"http://127.0.0.1:2\"\n",
            "[[chain]] #2 (\"evm-31337\"): the chain is listed twice",
        ),
        (
            "[[chain]]\nchain = \"evm-31337\"\nrpc = \"http://127.0.0.1:1\"\npoll_ms = 0\n",
            "poll_ms must be at least 1",
        ),
        (
            "[[chain]]\nchain = \"evm-31337\"\nrpc = \"http://127.0.0.1:1\"\npoll_ms = \"fast\"\n",
            "invalid type",
        ),
        (
            "[[chain]]\nchain = \"evm-31337\"\nrpc = \"http://127.0.0.1:1\"\nws = \"http://127.0.0.1:1\"\n",
            "[[chain]] #1 (\"evm-31337\"): ws \"http://127.0.0.1:1\" is no ws:// URL",
        ),
        (
            "[[chain]]\nchain = \"evm-31337\"\nrpc = \"http://127.0.0.1:1\"\nws = \"wss://node.example\"\n",
            "wss:// is not supported",
        ),
        (
            "[[chain]]\nchain = \"litecoin-regtest\"\nrpc = \"http://127.0.0.1:1\"\nws = \"ws://127.0.0.1:1\"\n",
            "wakes the watch through zmq (its -zmqpubhashblock endpoint)",
        ),
        (
            "[[chain]]\nchain = \"evm-31337\"\nrpc = \"http://127.0.0.1:1\"\nzmq = \"tcp://127.0.0.1:28332\"\n",
            "[[chain]] #1 (\"evm-31337\"): zmq \"tcp://127.0.0.1:28332\": ZMQ block notifications are a Core (UTXO) node's",
        ),
        (
            "[[chain]]\nchain = \"litecoin-regtest\"\nrpc = \"http://127.0.0.1:1\"\nzmq = \"127.0.0.1:28332\"\n",
            "zmq \"127.0.0.1:28332\" is no tcp:// URL",
        ),
    ];
    for (config, why) in cases {
        let stderr = refused(config);
        assert!(
            stderr.contains(why),
            "{config:?}: expected {why:?} in:\n{stderr}"
        );
    }
}

#[test]
fn an_unreachable_node_is_waited_for_and_said_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "watch",
            "--chain",
            "litecoin-regtest",
            "--rpc",
            "http://127.0.0.1:1",
        ])
        .args(["--poll-ms", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // It keeps trying (no exit) for a while.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the watch gave up on a node that is away"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let text = reader.join().unwrap();
    assert!(
        text.contains("watch litecoin-regtest: the node at http://127.0.0.1:1 is unreachable"),
        "{text}"
    );
    assert!(text.contains("retrying"), "{text}");

    // With --once there is no waiting: the error names the node.
    let out = tracehound(
        dir.path(),
        &[
            "watch",
            "--chain",
            "litecoin-regtest",
            "--rpc",
            "http://127.0.0.1:1",
            "--once",
        ],
    );
    assert!(!out.status.success());
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("127.0.0.1:1"), "{text}");
}
