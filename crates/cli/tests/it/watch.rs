//! `tracehound watch` against a real `litecoind -regtest`: the thief's next moves raise signed
//! webhooks as blocks arrive, a reorg retracts the alerts of the blocks it removed, alerts
//! become final at their confirmation depth, and a second watch over the same data dir raises
//! nothing twice.
#![cfg(feature = "test-litecoind")]

use serde_json::{Value, json};
use tracehound_btc::testnode::Litecoind;

use crate::common::{label_exchange, ok, subscribe, tracehound};
use crate::watch_common::ltc::{NETWORK, call, rpc_args, wallet, watch_args};
use crate::watch_common::{Received, Receiver, SECRET, Watch, wait_for};

/// `tracehound watch` of the node as a child, polling every 100 ms.
fn start_watch(data: &std::path::Path, node: &Litecoind) -> Watch {
    let args = watch_args(node, 100);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Watch::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_tracehound")),
        data,
        &args,
    )
}

/// A node with a thief's wallet holding 10 stolen LTC, and a data dir that ingested it and
/// traced the theft as incident `drain`.
pub(crate) struct Heist {
    pub(crate) node: Litecoind,
    main: tracehound_btc::rpc::RpcClient,
    pub(crate) thief: tracehound_btc::rpc::RpcClient,
    theft: String,
    dir: tempfile::TempDir,
}

impl Heist {
    fn start() -> Heist {
        Heist::on(Litecoind::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// The heist played on `node`, a fresh one.
    pub(crate) fn on(node: Litecoind) -> Heist {
        node.mine(101).unwrap();
        // Two wallets from here on: every wallet call names its wallet.
        call(&node.client(), "createwallet", json!(["thief"]));
        let main = wallet(&node, tracehound_btc::testnode::WALLET);
        let thief = wallet(&node, "thief");
        let thief_addr = call(&thief, "getnewaddress", json!(["", "bech32"]));
        let theft = call(&main, "sendtoaddress", json!([thief_addr, "10"]));
        let theft = theft.as_str().unwrap().to_string();
        let h = Heist {
            node,
            main,
            thief,
            theft,
            dir: tempfile::tempdir().unwrap(),
        };
        h.mine(1);
        let rpc = rpc_args(&h.node);
        let mut ingest = vec!["ingest", "btc", "--network", NETWORK];
        ingest.extend(rpc.iter().map(String::as_str));
        ok(tracehound(h.data(), &ingest));
        ok(tracehound(
            h.data(),
            &[
                "incident", "create", "drain", "--chain", NETWORK, "--tx", &h.theft,
            ],
        ));
        h
    }

    pub(crate) fn data(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Mines `n` blocks; their hashes.
    pub(crate) fn mine(&self, n: u32) -> Vec<String> {
        let to = call(&self.main, "getnewaddress", json!(["", "bech32"]));
        call(&self.main, "generatetoaddress", json!([n, to]))
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    }

    pub(crate) fn new_address(&self) -> String {
        call(&self.main, "getnewaddress", json!(["", "bech32"]))
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[test]
fn thiefs_moves_alert_by_signed_webhook_and_a_reorg_retracts_them() {
    let heist = Heist::start();
    let (node, thief, theft) = (&heist.node, &heist.thief, &heist.theft);
    let mine = |n: u32| heist.mine(n);
    let exchange = heist.new_address();
    let data = heist.data();
    label_exchange(data, NETWORK, &exchange);
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let hook = Receiver::start();
    let (url, got) = (hook.url.clone(), std::sync::Arc::clone(&hook.got));
    ok(tracehound(
        data,
        &["subscription", "add", "--url", &url, "--secret", SECRET],
    ));

    let watch = start_watch(data, node);
    let cycles = std::sync::Arc::clone(&watch.cycles);
    wait_for("the first cycle", || !cycles.lock().unwrap().is_empty());

    // The thief pays the exchange's deposit address; the block that confirms it alerts.
    let paid = call(thief, "sendtoaddress", json!([exchange, "4", "", "", true]));
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
    // Stopped only once everything its cycles pushed is delivered (the outbox is compared with
    // what arrived below).
    wait_for("every alert pushed delivered", || {
        got.lock().unwrap().len() as u64 == watch.pushed()
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
    watch.stop();
    let cycles = cycles.lock().unwrap().clone();
    assert!(
        cycles.iter().any(|c| c["unwound"].as_u64() > Some(0)),
        "{cycles:?}"
    );
    // The incident was traced in full once, when the watch began; the payment's block
    // extended that live trace, and the reorg made it start over.
    let sum = |field: &str| -> u64 { cycles.iter().map(|c| c[field].as_u64().unwrap()).sum() };
    assert_eq!(sum("started"), 1, "{cycles:?}");
    assert!(sum("extended") >= 1, "{cycles:?}");
    assert!(
        cycles
            .iter()
            .any(|c| c["unwound"].as_u64() > Some(0) && c["restarted"].as_u64() > Some(0)),
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

/// A watched customer address (unlabeled) that receives tainted value raises an `exposure`
/// alert for the amount that arrived; a node of another chain stops the watch with an error
/// that says so.
#[test]
fn a_watched_address_receiving_taint_raises_exposure_and_another_chain_is_refused() {
    let heist = Heist::start();
    let (node, thief) = (&heist.node, &heist.thief);
    let customer = heist.new_address();
    let data = heist.data();
    let (user, password) = node.credentials();
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let hook = Receiver::start();
    subscribe(data, &hook.url, SECRET, &["exposure"]);

    // A bad watched address is refused before anything runs.
    let mut args = watch_args(node, 100);
    args.extend(["--watch-address".to_string(), "0xnot-litecoin".to_string()]);
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut bad = vec!["watch"];
    bad.extend(&args_ref);
    bad.push("--once");
    let out = tracehound(data, &bad);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--watch-address 0xnot-litecoin"));

    let mut args = watch_args(node, 100);
    args.extend(["--watch-address".to_string(), customer.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watch = Watch::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_tracehound")),
        data,
        &args,
    );
    wait_for("the first cycle", || !watch.cycles().is_empty());
    let paid = call(thief, "sendtoaddress", json!([customer, "3", "", "", true]));
    let paid = paid.as_str().unwrap().to_string();
    heist.mine(1);
    wait_for("the exposure alert", || !hook.received().is_empty());
    watch.stop();
    let got: Vec<Received> = hook.received();
    assert_eq!(got.len(), 1, "only the kind subscribed to: {got:?}");
    let a = &got[0].alert;
    assert!(got[0].signed);
    assert_eq!(a["kind"], "exposure");
    assert_eq!(a["address"], customer.as_str());
    assert_eq!(a["tx"], paid.as_str());
    assert_eq!(a["incident"], "drain");
    let amount: u64 = a["amount"].as_str().unwrap().parse().unwrap();
    assert!((299_000_000..=300_000_000).contains(&amount), "{a}");
    assert_eq!(a["evidence"]["hop"]["tainted"], a["amount"]);

    // The node is Litecoin's regtest; watched as Bitcoin's, it is refused, not followed.
    let out = tracehound(
        data,
        &[
            "watch",
            "--chain",
            "bitcoin-regtest",
            "--rpc",
            node.rpc_url(),
            "--rpc-user",
            user,
            "--rpc-password",
            password,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: watching bitcoin-regtest"), "{err}");
    assert!(
        err.contains("genesis") || err.contains("is on chain"),
        "{err}"
    );
}

/// `--confirmations 3`: the payment's alerts are not final while their block is 2 deep, each
/// is followed by one `final` once it is 3 deep; a reorg deeper than that (the block
/// invalidated after it was final) still retracts them, saying they had been final, and the
/// new branch's alerts become final in their turn. Step by step:
/// 1. the thief pays the exchange, 2 blocks are mined: alerts, no final;
/// 2. 1 more block: one final per alert of the payment's block, each after its alert;
/// 3. the payment's block is invalidated and 4 blocks mined in its place: retractions naming
///    the finality, and finals for the new branch's alerts (their block 4 deep at once).
#[test]
fn alerts_become_final_at_the_confirmation_depth_and_a_deeper_reorg_still_retracts_them() {
    let heist = Heist::start();
    let (node, thief) = (&heist.node, &heist.thief);
    let exchange = heist.new_address();
    let data = heist.data();
    label_exchange(data, NETWORK, &exchange);
    ok(tracehound(data, &["trace", "--incident", "drain"]));
    let hook = Receiver::start();
    subscribe(data, &hook.url, SECRET, &[]);
    let mut args = watch_args(node, 100);
    args.extend(["--confirmations".to_string(), "3".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watch = Watch::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_tracehound")),
        data,
        &args,
    );
    wait_for("the first cycle", || !watch.cycles().is_empty());
    let tip_now = || {
        call(&node.client(), "getblockcount", json!([]))
            .as_u64()
            .unwrap()
    };
    let finals_reported = |w: &Watch| -> u64 {
        w.cycles()
            .iter()
            .map(|c| c["finals"].as_u64().unwrap())
            .sum()
    };
    // Everything the watch's cycles pushed has reached the receiver.
    let all_delivered = |w: &Watch| hook.received().len() as u64 == w.pushed();
    // The alerts received, shortly, for assertion messages.
    let shown = |got: &[Received]| -> Vec<String> {
        got.iter()
            .map(|r| format!("{}", r.alert))
            .collect::<Vec<_>>()
    };

    // 1. The payment and one block on it: its block is 2 deep.
    let paid = call(thief, "sendtoaddress", json!([exchange, "4", "", "", true]));
    let paid = paid.as_str().unwrap().to_string();
    let mined = heist.mine(2);
    let block = mined[0].clone();
    let tip = tip_now();
    wait_for("the payment's alerts and the watch at the tip", || {
        let got = hook.received();
        watch.reached(tip)
            && all_delivered(&watch)
            && got.iter().any(|r| r.alert["kind"] == "reached_service")
            && got
                .iter()
                .any(|r| r.alert["kind"] == "taint_moved" && r.alert["tx"] == paid.as_str())
    });
    let alerts: Vec<Received> = hook
        .received()
        .into_iter()
        .filter(|r| r.alert["block_hash"] == block.as_str())
        .collect();
    assert!(alerts.len() >= 2, "{:?}", shown(&alerts));
    assert!(alerts.iter().all(|r| r.alert["confirmations_needed"] == 3));
    assert_eq!(finals_reported(&watch), 0, "2 deep is not final");
    assert!(hook.received().iter().all(|r| r.alert["kind"] != "final"));

    // 2. One more block: each alert of the payment's block is final, once, after it.
    heist.mine(1);
    let tip = tip_now();
    wait_for("a final per alert of the payment's block", || {
        let got = hook.received();
        watch.reached(tip)
            && all_delivered(&watch)
            && alerts.iter().all(|a| {
                got.iter()
                    .any(|r| r.alert["kind"] == "final" && r.alert["finalises"] == a.id.as_str())
            })
    });
    let got = hook.received();
    let finals: Vec<&Received> = got.iter().filter(|r| r.alert["kind"] == "final").collect();
    assert_eq!(finals.len(), alerts.len(), "{:?}", shown(&got));
    for f in &finals {
        assert!(f.signed);
        let of = f.alert["finalises"].as_str().unwrap();
        let alert = got.iter().position(|r| r.id == of).unwrap();
        let at = got.iter().position(|r| r.id == f.id).unwrap();
        assert!(alert < at, "a final after its alert: {:?}", shown(&got));
        assert_eq!(f.alert["block_hash"], block.as_str());
        assert_eq!(f.alert["evidence"]["confirmations"], 3);
        assert_eq!(f.alert["tx"], got[alert].alert["tx"]);
        assert_eq!(f.alert["amount"], got[alert].alert["amount"]);
    }

    // 3. A reorg deeper than the depth: the payment's block and the two on it are replaced by
    // four others carrying the payment again.
    let finalised: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    call(&node.client(), "invalidateblock", json!([block]));
    let branch = heist.mine(4);
    wait_for("the retractions and the new branch's finals", || {
        let got = hook.received();
        let retracted = finalised.iter().all(|id| {
            got.iter()
                .any(|r| r.alert["kind"] == "retraction" && r.alert["retracts"] == id.as_str())
        });
        let again: Vec<&Received> = got
            .iter()
            .filter(|r| {
                r.alert["kind"] != "final"
                    && r.alert["kind"] != "retraction"
                    && r.alert["block_hash"] == branch[0].as_str()
            })
            .collect();
        retracted
            && !again.is_empty()
            && again.iter().all(|a| {
                got.iter()
                    .any(|r| r.alert["kind"] == "final" && r.alert["finalises"] == a.id.as_str())
            })
    });
    watch.stop();
    let got = hook.received();
    for r in got.iter().filter(|r| r.alert["kind"] == "retraction") {
        let reason = r.alert["evidence"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("it had been final at 3 confirmations"),
            "{reason}"
        );
        assert_eq!(r.alert["block_hash"], block.as_str());
    }
    // Nothing twice: one final per alert, each id once.
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "{:?}", shown(&got));
    let mut of: Vec<&str> = got
        .iter()
        .filter(|r| r.alert["kind"] == "final")
        .map(|r| r.alert["finalises"].as_str().unwrap())
        .collect();
    of.sort_unstable();
    let n = of.len();
    of.dedup();
    assert_eq!(of.len(), n, "a final raised twice: {:?}", shown(&got));

    // A watch started again over the same data dir raises no final twice.
    let again = Watch::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_tracehound")),
        data,
        &args,
    );
    heist.mine(1);
    let tip = tip_now();
    wait_for("the second watch at the tip", || again.reached(tip));
    let cycles = again.cycles();
    again.stop();
    assert!(
        cycles.iter().all(|c| c["finals"].as_u64() == Some(0)),
        "{cycles:?}"
    );
}
