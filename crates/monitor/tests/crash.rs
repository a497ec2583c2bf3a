//! Crash safety: the outbox dropped and reopened mid-way, and a watcher process SIGKILLed at
//! random moments while it pushes and delivers. Nothing may be lost, delivered ones are not
//! sent again after a clean stop, and whatever is sent twice carries the same id and body.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Answer, Receiver, fast_config, now_ms};
use tracehound_monitor::{
    Alert, AlertKind, DeliveryPass, DeliveryState, NewSubscription, Outbox, client, deliver,
    deliver_due,
};

fn alert(n: u32) -> Alert {
    Alert::builder(
        AlertKind::TaintMoved,
        "litecoin-regtest",
        500 + n,
        format!("{n:064x}"),
    )
    .incident("heist")
    .tx(format!("tx{n}"))
    .amount("LTC", 100_000 + u128::from(n))
    .summary(format!("{n} moved"))
    .raised_at(1_767_225_600)
    .build()
}

#[tokio::test]
async fn reopened_outbox_sends_only_what_was_not_delivered() {
    let accept_all = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&accept_all);
    // Takes the first three, then answers 503 until told otherwise.
    let receiver = Receiver::start(Arc::new(move |r| {
        Answer::Status(if r.n < 3 || flag.load(Ordering::SeqCst) {
            200
        } else {
            503
        })
    }))
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("outbox.redb");
    let alerts: Vec<Alert> = (1..=8).map(alert).collect();
    let secret;
    let seqs: Vec<u64>;
    {
        let outbox = Outbox::open(&path).expect("open");
        let s = outbox
            .subscribe(NewSubscription {
                url: receiver.url("r"),
                ..Default::default()
            })
            .expect("subscribe");
        secret = s.secret().expect("secret").to_string();
        seqs = alerts
            .iter()
            .map(|a| outbox.push(a).expect("push").expect("new"))
            .collect();
        let c = client().expect("client");
        let pass = deliver_due(&outbox, &c, &fast_config(), now_ms())
            .await
            .expect("pass");
        // Three taken; the fourth failed and holds the other four behind it.
        assert_eq!(
            pass,
            DeliveryPass {
                delivered: 3,
                retrying: 1,
                dead: 0
            }
        );
        // "Crash": the outbox is dropped with deliveries pending.
    }
    accept_all.store(true, Ordering::SeqCst);
    let outbox = Outbox::open(&path).expect("reopen");
    assert_eq!(outbox.alert_count().expect("count"), 8, "nothing lost");
    let stored: Vec<u64> = outbox
        .alerts(0, 100)
        .expect("alerts")
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(stored, seqs, "seqs survive");
    // The watcher raising the same events again after its restart changes nothing.
    for a in &alerts {
        assert_eq!(outbox.push(a).expect("push again"), None);
    }
    let states: BTreeMap<u64, DeliveryState> = outbox
        .deliveries(None)
        .expect("deliveries")
        .into_iter()
        .map(|d| (d.alert_seq, d.state))
        .collect();
    assert_eq!(
        states
            .values()
            .filter(|s| **s == DeliveryState::Delivered)
            .count(),
        3
    );
    assert_eq!(
        states
            .values()
            .filter(|s| **s == DeliveryState::Pending)
            .count(),
        5
    );

    let c = client().expect("client");
    let pass = deliver_due(&outbox, &c, &fast_config(), now_ms() + 3_600_000)
        .await
        .expect("pass");
    assert_eq!(
        pass,
        DeliveryPass {
            delivered: 5,
            retrying: 0,
            dead: 0
        }
    );
    let log = receiver.log();
    let accepted: Vec<&str> = log
        .iter()
        .filter(|r| r.ok())
        .map(|r| r.id.as_str())
        .collect();
    let want: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(accepted, want, "each alert taken exactly once, in order");
    assert!(log.iter().all(|r| r.signed_by(&secret)));
    // The one that failed before the crash is sent as attempt 2, the others as attempt 1.
    let attempts: Vec<u32> = log.iter().filter(|r| r.ok()).map(|r| r.attempt).collect();
    assert_eq!(attempts, [1, 1, 1, 2, 1, 1, 1, 1]);
    assert_eq!(log.len(), 9);
}

/// How many alerts the watcher process raises.
const KILLED_ALERTS: u32 = 150;
const CHILD_ENV: &str = "TRACEHOUND_MONITOR_TEST_CHILD";
const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

/// The watcher process of [`sigkill_at_random_moments_loses_nothing`]: does nothing unless
/// started by that test (with `CHILD_ENV` = `<outbox path>|<webhook url>`). It opens the outbox,
/// subscribes the receiver if no subscription exists, then raises all the alerts (again: a
/// restarted watcher re-raises what it saw) while delivering, and exits once none is pending.
#[test]
fn child_watcher() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (path, url) = spec.split_once('|').expect("path|url");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let outbox = Arc::new(Outbox::open(std::path::Path::new(path)).expect("open"));
        if outbox.subscriptions().expect("list").is_empty() {
            outbox
                .subscribe(NewSubscription {
                    url: url.to_string(),
                    secret: Some(SECRET.into()),
                    ..Default::default()
                })
                .expect("subscribe");
        }
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let config = tracehound_monitor::DeliveryConfig {
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_attempts: 1000,
            ..fast_config()
        };
        let running = tokio::spawn(deliver(Arc::clone(&outbox), config, async move {
            let _ = stop_rx.await;
        }));
        for n in 0..KILLED_ALERTS {
            outbox.push(&alert(n)).expect("push");
            if n % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        loop {
            let pending = outbox
                .deliveries(None)
                .expect("deliveries")
                .iter()
                .filter(|d| d.state != DeliveryState::Delivered)
                .count();
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = stop_tx.send(());
        running.await.expect("join").expect("deliver");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing() {
    // The receiver fails one request in five and sometimes answers slowly, so kills land
    // before, during and after POSTs and their bookkeeping.
    let receiver = Receiver::start(Arc::new(|r| match r.n % 5 {
        0 => Answer::Status(500),
        1 => Answer::SleepThen(Duration::from_millis(15), 200),
        _ => Answer::Status(200),
    }))
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("outbox.redb");
    let exe = std::env::current_exe().expect("test binary");
    let spawn = || {
        Command::new(&exe)
            .args([
                "--exact",
                "child_watcher",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(
                CHILD_ENV,
                format!("{}|{}", path.display(), receiver.url("hook")),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watcher")
    };
    let mut rng = fastrand::Rng::with_seed(10);
    let mut kills = 0;
    for _ in 0..8 {
        let mut child = spawn();
        tokio::time::sleep(Duration::from_millis(rng.u64(30..400))).await;
        if child.try_wait().expect("poll child").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        child.wait().expect("reap");
    }
    // The last run may finish.
    let mut child = spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the watcher did not finish within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "watcher failed: {status}");
    assert!(kills >= 3, "only {kills} kills landed");

    let expected: BTreeMap<String, Alert> = (0..KILLED_ALERTS)
        .map(|n| {
            let a = alert(n);
            (a.id.clone(), a)
        })
        .collect();
    let log = receiver.log();
    let mut bodies: BTreeMap<&str, BTreeSet<&[u8]>> = BTreeMap::new();
    let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &log {
        assert!(r.signed_by(SECRET), "bad signature on {}", r.id);
        let a = expected
            .get(&r.id)
            .unwrap_or_else(|| panic!("unexpected id {}", r.id));
        assert_eq!(&r.alert(), a, "the body is the alert its id names");
        bodies.entry(&r.id).or_default().insert(&r.body);
        if r.ok() {
            *accepted.entry(&r.id).or_default() += 1;
        }
    }
    // Nothing lost: every alert was accepted at least once.
    let missing: Vec<&String> = expected
        .keys()
        .filter(|id| !accepted.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} alerts never delivered",
        missing.len()
    );
    // A resend is the same request: same id, same body (same seq).
    assert!(
        bodies.values().all(|b| b.len() == 1),
        "an alert was sent with two bodies"
    );
    let twice = accepted.values().filter(|n| **n > 1).count();
    eprintln!(
        "{kills} kills, {} requests, {} alerts, {twice} accepted more than once (same id)",
        log.len(),
        expected.len()
    );

    let outbox = Outbox::open(&path).expect("reopen after the runs");
    assert_eq!(
        outbox.alert_count().expect("count"),
        u64::from(KILLED_ALERTS)
    );
    let d = outbox.deliveries(None).expect("deliveries");
    assert_eq!(d.len(), KILLED_ALERTS as usize, "one delivery per alert");
    assert!(d.iter().all(|d| d.state == DeliveryState::Delivered));
}
