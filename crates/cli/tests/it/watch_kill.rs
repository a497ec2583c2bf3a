//! `tracehound watch` SIGKILLed at random moments while the thief keeps laundering on a real
//! `litecoind -regtest`, restarted each time (and its webhook receiver down for a while): in
//! the end every alert of the outbox was received, each event under one id only, every resend
//! of an id with the same body, and the alerts are exactly those one uninterrupted watch
//! raises and those a fresh trace implies for the blocks after the watch started.
//!
//! The kills are drawn from a seeded `fastrand` (`TRACEHOUND_KILL_SEED` to replay another
//! run; the seed is printed).
//!
//! Also here, what a watch that was down (or killed) must still get right about reorgs and
//! sanctioned addresses.
#![cfg(feature = "test-litecoind")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tracehound_btc::testnode::Litecoind;

use crate::common::{label_exchange, ok, subscribe, tracehound};
use crate::watch_common::ltc::{NETWORK, call, rpc_args, wallet, watch_args};
use crate::watch_common::{Received, Receiver, SECRET, Watch, wait_for, wait_for_at_most};

fn start_watch(data: &Path, node: &Litecoind) -> Watch {
    let args = watch_args(node, 100);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Watch::spawn(Path::new(env!("CARGO_BIN_EXE_tracehound")), data, &args)
}

/// `alerts list` of the data dir (only while no watch holds the outbox).
fn outbox(data: &Path) -> Vec<Value> {
    let list: Value = serde_json::from_slice(
        &ok(tracehound(
            data,
            &["--json", "alerts", "list", "--limit", "100000"],
        ))
        .stdout,
    )
    .unwrap();
    list.as_array().unwrap().clone()
}

/// What an alert is about, without its id: (kind, rule, tx, address, block hash).
type Key = (String, String, String, String, String);
/// The key and the amount.
type Event = (String, String, String, String, String, String);

fn key(a: &Value) -> Key {
    let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    (s("kind"), s("rule"), s("tx"), s("address"), s("block_hash"))
}

fn event(a: &Value) -> Event {
    let (kind, rule, tx, address, block) = key(a);
    let amount = a["amount"].as_str().unwrap_or_default().to_string();
    (kind, rule, tx, address, block, amount)
}

fn height_of(at: &Value) -> u32 {
    at.as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigkilled_watch_loses_nothing_and_duplicates_nothing_while_laundering_goes_on() {
    let seed = std::env::var("TRACEHOUND_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0b5e_55ed_u64);
    eprintln!("watch_kill: seed {seed} (TRACEHOUND_KILL_SEED to replay)");
    let mut rng = fastrand::Rng::with_seed(seed);

    let node = Litecoind::start().unwrap_or_else(|e| panic!("{e}"));
    node.mine(101).unwrap();
    call(&node.client(), "createwallet", json!(["thief"]));
    let main = wallet(&node, tracehound_btc::testnode::WALLET);
    let mine = || -> String {
        let to = call(&main, "getnewaddress", json!(["", "bech32"]));
        call(&main, "generatetoaddress", json!([1, to]))[0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let thief = wallet(&node, "thief");
    let thief_addr = call(&thief, "getnewaddress", json!(["", "bech32"]));
    // The theft: 20 LTC to the thief.
    let theft = call(&main, "sendtoaddress", json!([thief_addr, "20"]));
    let theft = theft.as_str().unwrap().to_string();
    mine();
    let exchange = call(&main, "getnewaddress", json!(["", "bech32"]));
    let exchange = exchange.as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.as_path();
    let rpc = rpc_args(&node);
    let mut ingest = vec!["ingest", "btc", "--network", NETWORK];
    ingest.extend(rpc.iter().map(String::as_str));
    ok(tracehound(data, &ingest));
    label_exchange(data, NETWORK, &exchange);
    ok(tracehound(
        data,
        &[
            "incident", "create", "drain", "--chain", NETWORK, "--tx", &theft,
        ],
    ));
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let mut hook = Receiver::start();
    let got = Arc::clone(&hook.got);
    subscribe(data, &hook.url, SECRET, &[]);
    // The data as the first watch finds it, for one uninterrupted watch at the end.
    let pristine = dir.path().join("pristine");
    copy_dir(data, &pristine);

    let mut watch = start_watch(data, &node);
    wait_for("the first cycle", || !watch.cycles().is_empty());
    // The incident's watermark: alerts are for blocks above it.
    let state: Value =
        serde_json::from_slice(&std::fs::read(data.join("watch-state.json")).unwrap()).unwrap();
    let mark0 = u32::try_from(state["marks"][NETWORK]["drain"].as_u64().unwrap()).unwrap();
    assert_eq!(
        u64::from(mark0),
        call(&node.client(), "getblockcount", json!([]))
            .as_u64()
            .unwrap()
    );

    // Eight rounds of laundering: a payment on to a fresh address of the thief (spent again in
    // later rounds) or to the exchange, one block each. The watch is killed (-9) between
    // rounds and 0–300 ms after a block, i.e. before, during or after the cycle that takes it.
    let (mut kills, mut early, mut paid_exchange) = (0, 0, 0);
    for round in 0..8 {
        if rng.u8(..4) == 0 {
            watch.kill();
            kills += 1;
            watch = start_watch(data, &node);
        }
        let to = if round % 3 == 2 {
            paid_exchange += 1;
            exchange.clone()
        } else {
            call(&thief, "getnewaddress", json!(["", "bech32"]))
                .as_str()
                .unwrap()
                .to_string()
        };
        let amount = format!("{}.{:02}", rng.u32(1..3), rng.u32(0..100));
        call(&thief, "sendtoaddress", json!([to, amount]));
        mine();
        if round == 4 {
            // The receiver goes down for a while: deliveries fail and are retried.
            hook.stop();
        }
        // The kill's moment: random by design, not a wait for anything.
        std::thread::sleep(Duration::from_millis(rng.u64(0..=300)));
        if rng.u8(..4) != 0 {
            // Killed before the cycle that takes the new block was over?
            let height = call(&node.client(), "getblockcount", json!([]));
            if !watch.reached(height.as_u64().unwrap()) {
                early += 1;
            }
            watch.kill();
            kills += 1;
            watch = start_watch(data, &node);
        }
        if round == 4 {
            std::thread::sleep(Duration::from_millis(1500));
            hook = Receiver::start_at(hook.addr, Arc::clone(&got));
        }
    }
    eprintln!("watch_kill: {kills} kills, {early} before the cycle taking the new block ended");
    assert!(kills >= 3, "seed {seed} killed too rarely to test anything");
    assert!(early >= 1, "seed {seed} never killed a watch mid-catch-up");

    // Caught up: a cycle saw the node's tip. Then, with no watch holding the outbox, its alerts;
    // then a watch again until the receiver has every one of them.
    let tip = call(&node.client(), "getblockcount", json!([]))
        .as_u64()
        .unwrap();
    wait_for("the watch at the node's tip", || watch.reached(tip));
    watch.stop();
    let rows = outbox(data);
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| r["alert"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), rows.len());
    let watch = start_watch(data, &node);
    wait_for_at_most("every alert received", Duration::from_secs(120), || {
        let got = got.lock().unwrap();
        let have: BTreeSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
        ids.iter().all(|id| have.contains(id.as_str()))
    });
    wait_for("the last watch's first cycle", || watch.reached(tip));
    watch.stop();
    let rows_after = outbox(data);
    assert_eq!(
        rows_after.len(),
        rows.len(),
        "no alert raised after the catch-up"
    );
    for row in &rows_after {
        let d = row["deliveries"].as_array().unwrap();
        assert!(
            d.len() == 1 && d[0]["state"] == "delivered",
            "every delivery delivered: {row}"
        );
    }

    let got: Vec<Received> = got.lock().unwrap().clone();
    assert!(got.iter().all(|r| r.signed), "every webhook signed");
    assert!(
        got.iter().all(|r| r.alert["id"] == r.id.as_str()),
        "the header is the body's id"
    );
    // (a) Every alert of the outbox was received at least once, and nothing else was.
    let received: BTreeSet<String> = got.iter().map(|r| r.id.clone()).collect();
    assert_eq!(received, ids);
    // (c) A resend is the stored alert again: byte for byte the same body (seq, raised_at
    // and all), equal to what the outbox lists.
    let mut resent = 0;
    for row in &rows_after {
        let id = row["alert"]["id"].as_str().unwrap();
        let copies: Vec<&Received> = got.iter().filter(|r| r.id == id).collect();
        resent += copies.len() - 1;
        assert!(
            copies.iter().all(|r| r.body == copies[0].body),
            "resends of {id} differ: {copies:?}"
        );
        let mut body = copies[0].alert.clone();
        assert_eq!(body["seq"], row["seq"]);
        body.as_object_mut().unwrap().remove("seq");
        assert_eq!(body, row["alert"], "the body is the stored alert");
    }
    // (b) One id per event: an event (kind, rule, tx, address, block) is in force under one
    // id at most, and any other id it had was retracted before it was raised again under a
    // new revision; a retraction withdraws an alert that was raised, once.
    let alerts: Vec<&Value> = rows_after.iter().map(|r| &r["alert"]).collect();
    let retracted: BTreeMap<&str, usize> = alerts
        .iter()
        .filter(|a| a["kind"] == "retraction")
        .fold(BTreeMap::new(), |mut m, a| {
            *m.entry(a["retracts"].as_str().unwrap()).or_default() += 1;
            m
        });
    for (of, n) in &retracted {
        assert_eq!(*n, 1, "{of} retracted twice");
        assert!(
            alerts
                .iter()
                .any(|a| a["id"] == *of && a["kind"] != "retraction"),
            "a retraction of {of}, which was never raised"
        );
    }
    let mut by_key: BTreeMap<Key, Vec<&Value>> = BTreeMap::new();
    for a in alerts.iter().filter(|a| a["kind"] != "retraction") {
        by_key.entry(key(a)).or_default().push(a);
    }
    for (k, raised) in &by_key {
        let live: Vec<&&Value> = raised
            .iter()
            .filter(|a| !retracted.contains_key(a["id"].as_str().unwrap()))
            .collect();
        assert!(
            live.len() <= 1,
            "{k:?} in force under several ids: {raised:?}"
        );
        let revisions: BTreeSet<u64> = raised
            .iter()
            .map(|a| a["revision"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(revisions.len(), raised.len(), "{k:?}: {raised:?}");
        // Every revision but the newest was withdrawn.
        let newest = revisions.last().copied().unwrap();
        for a in raised {
            if a["revision"].as_u64().unwrap_or(0) != newest {
                assert!(retracted.contains_key(a["id"].as_str().unwrap()), "{a}");
            }
        }
    }
    // No reorg here: what was withdrawn, was withdrawn because the trace moved on (a pattern
    // that grew), never a move or an arrival that happened.
    for of in retracted.keys() {
        let a = alerts.iter().find(|a| a["id"] == *of).unwrap();
        assert_eq!(a["kind"], "pattern", "a {} was retracted: {a}", a["kind"]);
    }
    let in_force: BTreeSet<Event> = alerts
        .iter()
        .filter(|a| a["kind"] != "retraction" && !retracted.contains_key(a["id"].as_str().unwrap()))
        .map(|a| event(a))
        .collect();
    eprintln!(
        "watch_kill: {} alerts ({} retracted, {} in force), {} webhooks ({resent} resends)",
        ids.len(),
        retracted.len(),
        in_force.len(),
        got.len()
    );

    // (d) The moves and arrivals in force are those of the blocks after the first watch
    // started, as a fresh trace of the final chain has them: each tainted hop, and each
    // tainted hop into the exchange (an endpoint with a category).
    let fresh: Value = serde_json::from_slice(
        &ok(tracehound(
            data,
            &["--json", "trace", "--incident", "drain"],
        ))
        .stdout,
    )
    .unwrap();
    let hash = |h: u32| -> String {
        call(&node.client(), "getblockhash", json!([h]))
            .as_str()
            .unwrap()
            .to_string()
    };
    let services: BTreeSet<&str> = fresh["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["chain"] == NETWORK && (!e["category"].is_null() || !e["freezable_by"].is_null())
        })
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(services, BTreeSet::from([exchange.as_str()]));
    let mut expected: BTreeSet<Event> = BTreeSet::new();
    for hop in fresh["edges"].as_array().unwrap() {
        let h = height_of(&hop["at"]);
        if hop["chain"] != NETWORK || hop["tainted"] == "0" || h <= mark0 {
            continue;
        }
        let s = |k: &str| hop[k].as_str().unwrap().to_string();
        let moved = (
            "taint_moved".to_string(),
            String::new(),
            s("tx"),
            s("to"),
            hash(h),
            s("tainted"),
        );
        if services.contains(s("to").as_str()) {
            let mut arrival = moved.clone();
            arrival.0 = "reached_service".into();
            expected.insert(arrival);
        }
        expected.insert(moved);
    }
    let moves: BTreeSet<Event> = in_force
        .iter()
        .filter(|e| e.0 != "pattern")
        .cloned()
        .collect();
    let at_exchange = moves.iter().filter(|e| e.0 == "reached_service").count();
    assert_eq!(at_exchange, paid_exchange, "{moves:?}");
    assert_eq!(moves, expected, "in force vs. the fresh trace's");

    // And everything in force (patterns too) is what one watch over the same data, never
    // interrupted, raises in one cycle (the pristine copy: `--alert-history`, the same cut).
    let out = ok(tracehound(
        &pristine,
        &[
            "--json",
            "watch",
            "--once",
            "--no-deliver",
            "--alert-history",
        ]
        .into_iter()
        .chain(watch_args(&node, 100).iter().map(String::as_str))
        .collect::<Vec<_>>(),
    ));
    assert!(!out.stdout.is_empty());
    let once: BTreeSet<Event> = outbox(&pristine)
        .iter()
        .map(|r| &r["alert"])
        .filter(|a| a["kind"] != "retraction" && a["height"].as_u64().unwrap() > u64::from(mark0))
        .map(event)
        .collect();
    assert_eq!(in_force, once, "in force vs. one uninterrupted watch's");
}

/// A watch SIGKILLed right after its cycle's ingest committed a reorg (before the cycle
/// raised or retracted anything, or wrote `watch-state.json`) leaves the data dir as
/// `tracehound ingest` run while no watch runs does: the store on the new branch, the outbox
/// and the watch state as before it. The restarted watch must retract the old block's alerts
/// and raise the payment again from the new branch, at the same height.
#[test]
fn a_reorg_ingested_while_the_watch_is_down_is_alerted_on_its_new_branch() {
    let node = Litecoind::start().unwrap_or_else(|e| panic!("{e}"));
    node.mine(101).unwrap();
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
    let theft = call(&main, "sendtoaddress", json!([thief_addr, "10"]));
    let theft = theft.as_str().unwrap().to_string();
    mine(1);
    let exchange = call(&main, "getnewaddress", json!(["", "bech32"]));
    let exchange = exchange.as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let rpc = rpc_args(&node);
    let mut ingest = vec!["ingest", "btc", "--network", NETWORK];
    ingest.extend(rpc.iter().map(String::as_str));
    ok(tracehound(data, &ingest));
    label_exchange(data, NETWORK, &exchange);
    ok(tracehound(
        data,
        &[
            "incident", "create", "drain", "--chain", NETWORK, "--tx", &theft,
        ],
    ));
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let hook = Receiver::start();
    subscribe(data, &hook.url, SECRET, &[]);
    let watch = start_watch(data, &node);
    wait_for("the first cycle", || !watch.cycles().is_empty());
    let paid = call(
        &thief,
        "sendtoaddress",
        json!([exchange, "4", "", "", true]),
    );
    let paid = paid.as_str().unwrap().to_string();
    let block = mine(1).remove(0);
    wait_for("the exchange alert", || {
        hook.received().iter().any(|r| {
            r.alert["kind"] == "reached_service" && r.alert["block_hash"] == block.as_str()
        })
    });
    watch.stop();

    // The reorg happens while no watch runs, and is ingested: the payment is re-mined in the
    // new branch's first block, at the old block's height.
    call(&node.client(), "invalidateblock", json!([block]));
    let branch = mine(2);
    let in_block = call(&thief, "gettransaction", json!([paid]));
    assert_eq!(in_block["blockhash"], branch[0].as_str(), "{in_block}");
    let ingested: Value = serde_json::from_slice(
        &ok(tracehound(data, &[&["--json"][..], &ingest[..]].concat())).stdout,
    )
    .unwrap();
    assert_eq!(ingested["unwound"], 1, "{ingested}");

    let tip = call(&node.client(), "getblockcount", json!([]))
        .as_u64()
        .unwrap();
    let watch = start_watch(data, &node);
    wait_for("the restarted watch's first cycle", || watch.reached(tip));
    wait_for("the old block's retraction", || {
        hook.received()
            .iter()
            .any(|r| r.alert["kind"] == "retraction" && r.alert["block_hash"] == block.as_str())
    });
    watch.stop();
    let raised: Vec<Value> = outbox(data).iter().map(|r| r["alert"].clone()).collect();
    assert!(
        raised.iter().any(|a| a["kind"] == "reached_service"
            && a["tx"] == paid.as_str()
            && a["block_hash"] == branch[0].as_str()),
        "the payment re-mined in {} (height {}) reached the exchange but raised no alert; \
         watch-state.json: {}; alerts: {raised:#?}",
        branch[0],
        tip - 1,
        std::fs::read_to_string(data.join("watch-state.json")).unwrap()
    );
}

/// The sanctioned alerts of the outbox of `data` at `address` (read while no watch runs).
fn sanctioned(data: &Path, address: &str) -> Vec<Value> {
    outbox(data)
        .iter()
        .map(|r| r["alert"].clone())
        .filter(|a| a["kind"] == "sanctioned" && a["address"] == address)
        .collect()
}

/// A node, a data dir with its chain ingested and `address` labeled sanctioned (after
/// `before` paid it `history` times), and the main wallet.
fn sanctioned_setup(history: u32) -> (Litecoind, tempfile::TempDir, String) {
    let node = Litecoind::start().unwrap_or_else(|e| panic!("{e}"));
    node.mine(101).unwrap();
    let address = node.new_address("bech32").unwrap();
    for _ in 0..history {
        node.send(&address, "1").unwrap();
        node.mine(1).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let rpc = rpc_args(&node);
    let mut ingest = vec!["ingest", "btc", "--network", NETWORK];
    ingest.extend(rpc.iter().map(String::as_str));
    ok(tracehound(dir.path(), &ingest));
    ok(tracehound(
        dir.path(),
        &[
            "labels",
            "add",
            &address,
            "--chain",
            NETWORK,
            "--label",
            "OFAC SDN wallet",
            "--category",
            "sanctioned",
            "--analyst",
            "ana",
        ],
    ));
    (node, dir, address)
}

/// A sanctioned address without history when the watch starts: its first transfer, in a
/// block after the start, is new activity and must be alerted like any later one.
#[test]
fn a_sanctioned_addresss_first_transfer_after_the_start_is_alerted() {
    let (node, dir, address) = sanctioned_setup(0);
    let watch = start_watch(dir.path(), &node);
    wait_for("the first cycle", || !watch.cycles().is_empty());
    let paid = node.send(&address, "2").unwrap().to_string();
    let block = node.mine(1).unwrap().remove(0).to_string();
    let tip = call(&node.client(), "getblockcount", json!([]))
        .as_u64()
        .unwrap();
    wait_for("the cycle of the payment's block", || watch.reached(tip));
    watch.stop();
    let alerts = sanctioned(dir.path(), &address);
    assert!(
        alerts
            .iter()
            .any(|a| a["tx"] == paid.as_str() && a["block_hash"] == block.as_str()),
        "the payment {paid} to sanctioned {address} in block {block} (height {tip}, after the watch \
         started) raised no alert: {alerts:#?}\nwatch-state.json: {}",
        std::fs::read_to_string(dir.path().join("watch-state.json")).unwrap()
    );
}

/// A reorg that re-mines a sanctioned address's transfer at the same height: the old block's
/// alert is retracted, and the transfer, still on the chain, is alerted again from its new block.
#[test]
fn a_sanctioned_transfer_re_mined_by_a_reorg_is_alerted_again() {
    let (node, dir, address) = sanctioned_setup(1);
    let watch = start_watch(dir.path(), &node);
    wait_for("the first cycle", || !watch.cycles().is_empty());
    let paid = node.send(&address, "2").unwrap().to_string();
    let block = node.mine(1).unwrap().remove(0);
    let tip = call(&node.client(), "getblockcount", json!([]))
        .as_u64()
        .unwrap();
    wait_for("the cycle of the payment's block", || watch.reached(tip));
    // The reorg: the payment's block replaced, the payment re-mined in the new branch.
    node.invalidate(&block).unwrap();
    let branch = node.mine(2).unwrap();
    let tx = node
        .call::<Value>("gettransaction", json!([paid]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tx["blockhash"], branch[0].to_string(), "{tx}");
    wait_for("the new tip's cycle", || watch.reached(tip + 1));
    watch.stop();
    let alerts = sanctioned(dir.path(), &address);
    let retracted: Vec<Value> = outbox(dir.path())
        .iter()
        .map(|r| r["alert"].clone())
        .filter(|a| a["kind"] == "retraction" && a["address"] == address.as_str())
        .collect();
    assert!(
        alerts
            .iter()
            .any(|a| a["tx"] == paid.as_str() && a["block_hash"] == block.to_string()),
        "first alert: {alerts:#?}"
    );
    assert_eq!(
        retracted.len(),
        1,
        "the old block's alert retracted: {retracted:#?}"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["tx"] == paid.as_str() && a["block_hash"] == branch[0].to_string()),
        "the payment {paid}, re-mined in {} by the reorg, is on the chain but its alert was \
         retracted and not raised again: sanctioned alerts {alerts:#?}",
        branch[0]
    );
}
