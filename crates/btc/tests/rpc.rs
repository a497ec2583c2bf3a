//! The JSON-RPC client against a real `litecoind -regtest`, and against tiny fake nodes that
//! answer badly (wrong shapes, broken batches, transient failures, 401s).
//!
//! Run with `cargo test -p tracehound-btc --features test-utils --test rpc`.
#![cfg(feature = "test-utils")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bitcoin::hashes::{Hash, sha256d};
use serde_json::{Value, json};
use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcError, RpcOptions};
use tracehound_btc::testnode::Litecoind;
use tracehound_core::{Chain, Hash32};

const HASH_A: &str = "00000000000000000000000000000000000000000000000000000000000000aa";

/// Fast retries, so that tests of the retry policy take milliseconds.
fn quick(retries: u32) -> RpcOptions {
    RpcOptions {
        timeout: Duration::from_secs(5),
        retries,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
    }
}

/// What a fake node saw of one request.
struct Request {
    /// The JSON body (`Null` if it was not JSON).
    body: Value,
    /// The `Authorization` header.
    auth: Option<String>,
}

/// A fake node on 127.0.0.1 answering at most `max_requests` requests (one per connection)
/// with `answer(request index, request)`; returns its URL and a count of requests served.
fn fake_node(
    max_requests: usize,
    answer: impl Fn(usize, &Request) -> (u16, String) + Send + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for index in 0..max_requests {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let Some(request) = read_request(&stream) else {
                continue;
            };
            let (status, body) = answer(index, &request);
            count.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, served)
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    let mut auth = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => auth = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        auth,
    })
}

/// Makes a fake node's answer body from the request.
type Answer = Box<dyn Fn(&Request) -> String + Send + Sync>;

/// A single-call answer with the request's id.
fn answer_to(request: &Request, result: Value) -> String {
    json!({"result": result, "error": null, "id": request.body["id"]}).to_string()
}

#[test]
fn wrong_shaped_answers_are_malformed_errors_naming_the_call() {
    let hash: Hash32 = HASH_A.parse().unwrap();
    let good_tx = json!({"txid": HASH_A, "hash": HASH_A, "hex": "00", "vin": [], "vout": []});
    let cases: Vec<(&str, Answer)> = vec![
        ("expected value", Box::new(|_| "<html>oops</html>".into())),
        ("the answer is empty", Box::new(|_| String::new())),
        (
            "missing field `tx`",
            Box::new(|r| {
                answer_to(
                    r,
                    json!({"hash": HASH_A, "height": 1, "time": 1, "confirmations": 1}),
                )
            }),
        ),
        (
            "invalid 32-byte hash",
            Box::new(|r| {
                answer_to(
                    r,
                    json!({"hash": "zz", "height": 1, "time": 1, "confirmations": 1, "tx": []}),
                )
            }),
        ),
        (
            "expected u32",
            Box::new(|r| {
                answer_to(
                    r,
                    json!({"hash": HASH_A, "height": -1, "time": 1, "confirmations": 1, "tx": []}),
                )
            }),
        ),
        ("result is null", Box::new(|r| answer_to(r, Value::Null))),
        (
            "expected a json-rpc answer object, got []",
            Box::new(|_| "[]".into()),
        ),
        ("invalid amount", {
            let tx = good_tx.clone();
            Box::new(move |r| {
                let mut tx = tx.clone();
                tx["vout"] = json!([{"value": -1.5, "n": 0, "scriptPubKey": {"hex": "51", "type": "nonstandard"}}]);
                answer_to(
                    r,
                    json!({"hash": HASH_A, "height": 1, "time": 1, "confirmations": 1, "tx": [tx]}),
                )
            })
        }),
        (
            "expected a string",
            Box::new(|r| {
                answer_to(
                    r,
                    json!({"hash": HASH_A, "height": 1, "time": 1, "confirmations": 1, "tx": [{"txid": 5}]}),
                )
            }),
        ),
    ];
    let n = cases.len();
    let cases = Arc::new(cases);
    let server_cases = cases.clone();
    let (url, served) = fake_node(n, move |i, r| (200, (server_cases[i].1)(r)));
    // Retries allowed: a malformed answer must still not be retried.
    let client = RpcClient::new(url.clone(), RpcAuth::None, quick(3));
    for (i, (expected, _)) in cases.iter().enumerate() {
        let e = client.get_block_verbose(&hash).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, RpcError::Malformed { .. }), "case {i}: {e:?}");
        assert!(text.contains(expected), "case {i}: {text}");
        assert!(
            text.contains(&format!("getblock for {HASH_A}")) && text.contains(&url),
            "case {i}: {text}"
        );
        assert_eq!(e.method(), "getblock");
        assert_eq!(served.load(Ordering::SeqCst), i + 1, "case {i} was retried");
    }
}

#[test]
fn wrong_shaped_simple_results_are_malformed() {
    let (url, _) = fake_node(3, |i, r| {
        let result = match i {
            0 => json!(12),
            1 => json!("not hex at all"),
            _ => json!({"chain": "regtest"}),
        };
        (200, answer_to(r, result))
    });
    let client = RpcClient::new(url, RpcAuth::None, quick(0));
    let e = client.get_block_hash(7).unwrap_err();
    assert!(e.to_string().contains("getblockhash for height 7"), "{e}");
    let e = client.get_block_raw(&HASH_A.parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("invalid hex"), "{e}");
    let e = client.get_blockchain_info().unwrap_err();
    assert!(e.to_string().contains("missing field `blocks`"), "{e}");
}

#[test]
fn batch_answers_are_matched_by_id_and_checked() {
    let (url, _) = fake_node(6, |i, r| {
        let items = r.body.as_array().cloned().unwrap_or_default();
        let answer = |item: &Value| {
            let height = item["params"][0].as_u64().unwrap_or(0);
            json!({"result": format!("{height:064x}"), "error": null, "id": item["id"]})
        };
        let mut answers: Vec<Value> = items.iter().map(answer).collect();
        match i {
            // Right, but in reverse order.
            0 => answers.reverse(),
            // One missing.
            1 => drop(answers.pop()),
            // One answered twice.
            2 => answers[1]["id"] = answers[0]["id"].clone(),
            // An id that was not asked.
            3 => answers[0]["id"] = json!(987_654_321),
            // One item is an error.
            4 => {
                answers[1] = json!({"result": null, "error": {"code": -8, "message": "Block height out of range"}, "id": items[1]["id"]})
            }
            // Not a batch answer at all.
            _ => {
                return (
                    200,
                    json!({"result": "x", "error": null, "id": 1}).to_string(),
                );
            }
        }
        (200, Value::Array(answers).to_string())
    });
    let client = RpcClient::new(url, RpcAuth::None, quick(0));
    let hashes = client.get_block_hashes(1..4).unwrap();
    let expected: Vec<Hash32> = (1..4u64)
        .map(|h| format!("{h:064x}").parse().unwrap())
        .collect();
    assert_eq!(hashes, expected);
    for expected in ["no item with id", "twice", "which was not asked"] {
        let e = client.get_block_hashes(1..4).unwrap_err();
        assert!(matches!(e, RpcError::Malformed { .. }), "{e:?}");
        assert!(
            e.to_string().contains(expected) && e.to_string().contains("getblockhash"),
            "{e}"
        );
    }
    let e = client
        .call_batch::<Hash32>("getblockhash", vec![json!([1]), json!([2]), json!([3])])
        .unwrap_err();
    assert_eq!(e.rpc_code(), Some(-8));
    assert!(e.to_string().contains("item 2 of 3 (params [2])"), "{e}");
    let e = client.get_block_hashes(1..4).unwrap_err();
    assert!(e.to_string().contains("invalid type: map"), "{e}");
    // Nothing asked, nothing sent.
    assert!(client.get_block_hashes(5..5).unwrap().is_empty());
}

#[test]
fn transient_failures_are_retried_and_real_errors_are_not() {
    let (url, served) = fake_node(12, |i, r| {
        match i {
        // A proxy's 503 twice, then the answer.
        0 | 1 => (503, "<html>busy</html>".into()),
        2 => (200, answer_to(r, json!(5))),
        // Warming up, then the answer.
        3 => (500, json!({"result": null, "error": {"code": -28, "message": "Loading block index..."}, "id": r.body["id"]}).to_string()),
        4 => (200, answer_to(r, json!(6))),
        // A real error: not retried.
        5 => (500, json!({"result": null, "error": {"code": -5, "message": "Block not found"}, "id": r.body["id"]}).to_string()),
        // Unauthorized: not retried.
        6 => (401, String::new()),
        // 5xx without a JSON-RPC error, until retries run out (1 + 2 tries).
        7..=9 => (500, "internal".into()),
        // A 4xx without a JSON-RPC error is not retried.
        _ => (403, "forbidden".into()),
    }
    });
    let client = RpcClient::new(url.clone(), RpcAuth::None, quick(2));
    let count = |n| assert_eq!(served.load(Ordering::SeqCst), n);
    assert_eq!(client.get_block_count().unwrap(), 5);
    count(3);
    assert_eq!(client.get_block_count().unwrap(), 6);
    count(5);
    let e = client
        .get_block_verbose(&HASH_A.parse().unwrap())
        .unwrap_err();
    assert_eq!(e.rpc_code(), Some(-5));
    assert!(
        e.to_string().contains("node error -5: Block not found"),
        "{e}"
    );
    count(6);
    let e = client.get_block_count().unwrap_err();
    assert!(matches!(e, RpcError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("check the cookie file"), "{e}");
    count(7);
    let e = client.get_block_count().unwrap_err();
    assert!(matches!(e, RpcError::Http { status: 500, .. }), "{e:?}");
    assert!(
        e.to_string().contains("internal") && e.to_string().contains(&url),
        "{e}"
    );
    count(10);
    let e = client.get_block_count().unwrap_err();
    assert!(matches!(e, RpcError::Http { status: 403, .. }), "{e:?}");
    count(11);
}

#[test]
fn cookie_is_read_again_after_a_401() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, "__cookie__:old\n").unwrap();
    let accepted = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("__cookie__:new")
    );
    let (url, served) = fake_node(5, move |_, r| {
        if r.auth.as_deref() == Some(accepted.as_str()) {
            (200, answer_to(r, json!(9)))
        } else {
            (401, String::new())
        }
    });
    let client = RpcClient::new(url, RpcAuth::CookieFile(cookie.clone()), quick(3));
    // The cookie is what the node refuses, and reading it again does not change it.
    let e = client.get_block_count().unwrap_err();
    assert!(matches!(e, RpcError::Unauthorized { .. }), "{e:?}");
    assert_eq!(served.load(Ordering::SeqCst), 1);
    // The node restarted with a new cookie: one 401, then the new cookie is read and works.
    std::fs::write(&cookie, "__cookie__:new\n").unwrap();
    assert_eq!(client.get_block_count().unwrap(), 9);
    assert_eq!(served.load(Ordering::SeqCst), 3);
    assert_eq!(client.get_block_count().unwrap(), 9);
    assert_eq!(served.load(Ordering::SeqCst), 4);

    let missing = RpcClient::new(
        "http://127.0.0.1:1",
        RpcAuth::CookieFile(PathBuf::from("/nonexistent/.cookie")),
        quick(0),
    );
    let e = missing.get_block_count().unwrap_err();
    assert!(matches!(e, RpcError::Cookie { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/.cookie"), "{e}");
}

#[test]
fn a_dead_node_is_a_quick_transport_error_naming_the_url() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = RpcClient::new(
        format!("http://user:secret@127.0.0.1:{port}"),
        RpcAuth::None,
        quick(2),
    );
    let started = Instant::now();
    let e = client.get_blockchain_info().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, RpcError::Transport { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("is the node running at {url}?")),
        "{text}"
    );
    assert!(
        text.contains("getblockchaininfo") && !text.contains("secret"),
        "{text}"
    );
    assert_eq!(e.url(), url);
}

fn start_node() -> Litecoind {
    Litecoind::start().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn typed_answers_from_a_real_litecoind() {
    let node = start_node();
    let c = node.client();
    let mined = node.mine(101).unwrap();
    assert_eq!(mined.len(), 101);

    let info = c.get_blockchain_info().unwrap();
    assert_eq!(info.chain, "regtest");
    assert_eq!((info.blocks, info.headers), (101, 101));
    assert_eq!(info.best_block_hash, mined[100]);
    assert!(
        !info.pruned && info.softforks.contains_key("mweb"),
        "{info:?}"
    );
    assert_eq!(c.get_block_count().unwrap(), 101);
    assert_eq!(c.get_best_block_hash().unwrap(), mined[100]);

    // Batched equals one by one, and both equal what was mined.
    let batched = c.get_block_hashes(0..102).unwrap();
    let one_by_one: Vec<Hash32> = (0..102).map(|h| c.get_block_hash(h).unwrap()).collect();
    assert_eq!(batched, one_by_one);
    assert_eq!(batched[1..], mined[..]);
    let genesis: Hash32 = Chain::LitecoinRegtest
        .utxo_params()
        .unwrap()
        .genesis
        .parse()
        .unwrap();
    assert_eq!(batched[0], genesis);

    // A block paying every transparent address type.
    let mut sent = Vec::new();
    for (kind, script_type) in [
        ("legacy", "pubkeyhash"),
        ("p2sh-segwit", "scripthash"),
        ("bech32", "witness_v0_keyhash"),
    ] {
        let address = node.new_address(kind).unwrap();
        let txid = node.send(&address, "1.2345678").unwrap();
        sent.push((address, script_type, txid));
    }
    let tip = node.mine(1).unwrap()[0];
    let block = c.get_block_verbose(&tip).unwrap();
    assert_eq!(
        (block.hash, block.height, block.confirmations),
        (tip, 102, 1)
    );
    assert_eq!(block.previous_block_hash, Some(mined[100]));
    assert!(block.time > 1_296_688_602);
    assert!(block.tx[0].vin[0].coinbase.is_some());
    assert_eq!(block.tx.len(), 1 + sent.len());
    for (address, script_type, txid) in &sent {
        let tx = block
            .tx
            .iter()
            .find(|tx| tx.txid == *txid)
            .expect("sent tx in block");
        let out = tx
            .vout
            .iter()
            .find(|o| o.script_pub_key.address.as_deref() == Some(address.as_str()))
            .unwrap();
        assert_eq!(out.value.units(), 123_456_780, "{address}");
        assert_eq!(&out.script_pub_key.r#type, script_type);
        assert!(tx.vin.iter().all(|v| v.txid.is_some()
            && v.vout.is_some()
            && v.coinbase.is_none()
            && v.prevout.is_none()));
    }
    let genesis_block = c.get_block_verbose(&genesis).unwrap();
    assert_eq!(
        (genesis_block.height, genesis_block.previous_block_hash),
        (0, None)
    );

    // Raw bytes: the header hashes to the block hash, every tx's hex is in the block.
    let raw = c.get_block_raw(&tip).unwrap();
    assert!(raw.len() > 80);
    assert_eq!(
        Hash32::from_internal(sha256d::Hash::hash(&raw[..80]).to_byte_array()),
        tip
    );
    let raw_hex = hex::encode(&raw);
    assert!(block.tx.iter().all(|tx| raw_hex.contains(&tx.hex)));
    assert!(node.blocks_dir().join("blk00000.dat").is_file());

    // Litecoin Core 0.21 answers verbosity 3 as 2: no prevouts, so the caller must fall back.
    assert_eq!(c.get_block_verbose3(&tip).unwrap(), None);
    // A coinbase-only block has no prevouts to show.
    assert_eq!(
        c.get_block_verbose3(&mined[5]).unwrap(),
        Some(c.get_block_verbose(&mined[5]).unwrap())
    );

    // The node's errors, typed and not retried.
    let started = Instant::now();
    let missing: Hash32 = HASH_A.parse().unwrap();
    let e = c.get_block_verbose(&missing).unwrap_err();
    assert_eq!(e.rpc_code(), Some(-5), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("getblock for {HASH_A} at {}", node.rpc_url())),
        "{e}"
    );
    assert_eq!(c.get_block_hash(100_000).unwrap_err().rpc_code(), Some(-8));
    let e = c
        .call_batch::<Hash32>("getblockhash", vec![json!([1]), json!([100_000])])
        .unwrap_err();
    assert_eq!(e.rpc_code(), Some(-8), "{e}");
    assert_eq!(
        c.call::<Value>("nosuchmethod", json!([]))
            .unwrap_err()
            .rpc_code(),
        Some(-32601)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "errors were retried"
    );

    // MWEB: activation, then a peg-in, and the block still reads.
    assert_eq!(node.activate_mweb().unwrap(), 432);
    let mweb_address = node.new_address("mweb").unwrap();
    node.send(&mweb_address, "2.5").unwrap();
    let mweb_tip = node.mine(1).unwrap()[0];
    let block = c.get_block_verbose(&mweb_tip).unwrap();
    assert_eq!(block.height, 432);
    let outputs: Vec<_> = block.tx.iter().flat_map(|tx| &tx.vout).collect();
    let pegin = outputs
        .iter()
        .find(|o| o.script_pub_key.r#type == "witness_mweb_pegin")
        .expect("a peg-in");
    assert!(pegin.value.units() >= 250_000_000);
    let hogaddr = block.tx.last().unwrap().vout.first().unwrap();
    assert_eq!(hogaddr.script_pub_key.r#type, "witness_mweb_hogaddr");
    assert_eq!(hogaddr.script_pub_key.address, None);
    let raw = c.get_block_raw(&mweb_tip).unwrap();
    assert_eq!(
        Hash32::from_internal(sha256d::Hash::hash(&raw[..80]).to_byte_array()),
        mweb_tip
    );
}

#[test]
fn cookie_password_and_reorgs_on_a_real_litecoind() {
    let node = start_node();
    let url = node.rpc_url();
    let by_cookie = RpcClient::new(
        url,
        RpcAuth::CookieFile(node.cookie_file()),
        RpcOptions::default(),
    );
    assert_eq!(by_cookie.get_block_count().unwrap(), 0);
    let (user, password) = node.credentials();
    let by_password = RpcClient::new(
        url,
        RpcAuth::UserPass {
            user: user.into(),
            password: password.into(),
        },
        RpcOptions::default(),
    );
    assert_eq!(by_password.get_block_count().unwrap(), 0);

    let wrong = RpcClient::new(
        url,
        RpcAuth::UserPass {
            user: user.into(),
            password: "wrong-password".into(),
        },
        RpcOptions::default(),
    );
    let started = Instant::now();
    let e = wrong.get_block_count().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "401 was retried: {:?}",
        started.elapsed()
    );
    assert!(matches!(e, RpcError::Unauthorized { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(url) && text.contains("getblockcount") && !text.contains("wrong-password"),
        "{text}"
    );

    // invalidate / reconsider: the tip leaves the best chain and comes back.
    let mined = node.mine(3).unwrap();
    node.invalidate(&mined[2]).unwrap();
    assert_eq!(by_cookie.get_block_count().unwrap(), 2);
    assert_eq!(
        by_cookie
            .get_block_verbose(&mined[2])
            .unwrap()
            .confirmations,
        -1
    );
    node.reconsider(&mined[2]).unwrap();
    assert_eq!(by_cookie.get_best_block_hash().unwrap(), mined[2]);
    assert_eq!(node.call::<u32>("getblockcount", json!([])).unwrap(), 3);
}
