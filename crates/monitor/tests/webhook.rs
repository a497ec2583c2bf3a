//! Webhook delivery over real HTTP on loopback: signatures, filters, idempotency, retries with
//! backoff, timeouts, dead letters and redelivery, retraction and final order, refused input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Answer, Receiver, Running, fast_config, now_ms, settle};
use tracehound_monitor::{
    Alert, AlertKind, DeliveryConfig, DeliveryPass, DeliveryState, MonitorError, NewSubscription,
    Outbox, client, deliver_due,
};

fn alert(kind: AlertKind, incident: Option<&str>, n: u32) -> Alert {
    let mut b = Alert::builder(kind, "ethereum", 1000 + n, format!("0xblock{n}"))
        .tx(format!("0xtx{n}"))
        .address(format!("0xaddr{n}"))
        .amount("ETH", 1_000_000_000_000_000_000u128 + u128::from(n))
        .summary(format!("alert {n}"))
        .evidence(serde_json::json!({"path": [format!("0xtx{n}")], "n": n}))
        .confirmations_needed(12)
        .raised_at(1_767_225_600);
    if let Some(i) = incident {
        b = b.incident(i);
    }
    b.build()
}

fn sub(url: String) -> NewSubscription {
    NewSubscription {
        url,
        ..Default::default()
    }
}

fn open_temp() -> (tempfile::TempDir, Arc<Outbox>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = Outbox::open(&dir.path().join("outbox.redb")).expect("open outbox");
    (dir, Arc::new(outbox))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_alerts_arrive_once_per_id_and_filters_hold() {
    let receiver = Receiver::accepting().await;
    let (_dir, outbox) = open_temp();
    let all = outbox
        .subscribe(sub(receiver.url("all")))
        .expect("subscribe all");
    let sanctioned = outbox
        .subscribe(NewSubscription {
            url: receiver.url("sanctioned"),
            kinds: vec![AlertKind::Sanctioned],
            ..Default::default()
        })
        .expect("subscribe sanctioned");
    let heist = outbox
        .subscribe(NewSubscription {
            url: receiver.url("heist-a"),
            incidents: vec!["heist-a".into()],
            ..Default::default()
        })
        .expect("subscribe heist-a");
    let both = outbox
        .subscribe(NewSubscription {
            url: receiver.url("both"),
            kinds: vec![AlertKind::ReachedService],
            incidents: vec!["heist-a".into()],
            secret: Some("a-receiver-chosen-secret-of-40-characters".into()),
            ..Default::default()
        })
        .expect("subscribe both");
    assert_eq!(
        both.secret(),
        Some("a-receiver-chosen-secret-of-40-characters")
    );

    let running = Running::start(Arc::clone(&outbox), fast_config());
    let alerts = [
        alert(AlertKind::TaintMoved, Some("heist-a"), 1),
        alert(AlertKind::ReachedService, Some("heist-a"), 2),
        alert(AlertKind::Sanctioned, None, 3),
        alert(AlertKind::ReachedService, Some("heist-b"), 4),
        alert(AlertKind::Sanctioned, Some("heist-a"), 5),
        alert(AlertKind::Pattern, Some("heist-b"), 6),
    ];
    let mut seqs = BTreeMap::new();
    for a in &alerts {
        let seq = outbox.push(a).expect("push").expect("new alert");
        seqs.insert(a.id.clone(), seq);
    }
    settle(&outbox).await;
    running.stop().await;

    let ids = |ns: &[usize]| -> BTreeSet<String> {
        ns.iter().map(|&n| alerts[n - 1].id.clone()).collect()
    };
    let expected = [
        ("/all", all.secret(), ids(&[1, 2, 3, 4, 5, 6])),
        ("/sanctioned", sanctioned.secret(), ids(&[3, 5])),
        ("/heist-a", heist.secret(), ids(&[1, 2, 5])),
        ("/both", both.secret(), ids(&[2])),
    ];
    for (path, secret, want) in expected {
        let secret = secret.expect("subscribe shows the secret");
        let got = receiver.accepted(path);
        let got_ids: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
        assert_eq!(got.len(), want.len(), "{path}: {got_ids:?}");
        assert_eq!(
            got_ids.iter().cloned().collect::<BTreeSet<_>>(),
            want,
            "{path}"
        );
        let mut last_seq = 0;
        for r in &got {
            assert!(r.signed_by(secret), "{path}: bad signature on {}", r.id);
            if path != "/all" {
                assert!(
                    !r.signed_by(all.secret().expect("secret")),
                    "another secret fails"
                );
            }
            assert_eq!(r.content_type, "application/json");
            assert_eq!(r.attempt, 1);
            let body = r.alert();
            assert_eq!(body.id, r.id, "header and body name the same alert");
            let pushed = alerts
                .iter()
                .find(|a| a.id == r.id)
                .expect("a pushed alert");
            assert_eq!(&body, pushed, "the body is the alert as pushed");
            assert_eq!(r.seq(), seqs[&r.id]);
            assert!(r.seq() > last_seq, "{path}: out of seq order");
            last_seq = r.seq();
        }
    }
    // Every delivery is recorded as delivered, on attempt 1.
    let statuses = outbox.deliveries(None).expect("deliveries");
    assert_eq!(statuses.len(), 6 + 2 + 3 + 1);
    assert!(statuses.iter().all(|d| d.state == DeliveryState::Delivered
        && d.attempts == 1
        && d.last_status == Some(200)));
    // Listings never carry secrets.
    let listed = outbox.subscriptions().expect("list");
    assert_eq!(listed.len(), 4);
    let json = serde_json::to_string(&listed).expect("listing serialises");
    let debug = format!("{listed:?}");
    for s in [&all, &sanctioned, &heist, &both] {
        let secret = s.secret().expect("secret");
        assert!(!json.contains(secret) && !debug.contains(secret));
    }
    assert!(listed.iter().all(|s| s.secret().is_none()));
}

#[tokio::test]
async fn push_same_id_twice_is_stored_and_delivered_once() {
    let receiver = Receiver::accepting().await;
    let (_dir, outbox) = open_temp();
    outbox.subscribe(sub(receiver.url("r"))).expect("subscribe");
    let first = alert(AlertKind::ReachedService, Some("h"), 1);
    // The same event raised again later (after a restart): other wording, other time.
    let mut again = Alert::builder(AlertKind::ReachedService, "ethereum", 1001, "0xblock1")
        .incident("h")
        .tx("0xtx1")
        .address("0xaddr1")
        .amount("ETH", 1_000_000_000_000_000_001)
        .summary("said differently")
        .raised_at(1_800_000_000)
        .build();
    assert_eq!(first.id, again.id);
    let seq = outbox.push(&first).expect("push").expect("stored");
    assert_eq!(outbox.push(&again).expect("push again"), None);
    again.summary = "a third time".into();
    assert_eq!(outbox.push(&again).expect("push again"), None);
    assert_eq!(outbox.alert_count().expect("count"), 1);
    assert_eq!(
        outbox.alert(&first.id).expect("alert"),
        Some((seq, first.clone()))
    );

    let c = client().expect("client");
    let pass = deliver_due(&outbox, &c, &fast_config(), now_ms())
        .await
        .expect("pass");
    assert_eq!(
        pass,
        DeliveryPass {
            delivered: 1,
            retrying: 0,
            dead: 0
        }
    );
    let pass = deliver_due(&outbox, &c, &fast_config(), now_ms())
        .await
        .expect("pass");
    assert_eq!(pass, DeliveryPass::default());
    let log = receiver.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].id, first.id);
    assert_eq!(
        log[0].alert().summary,
        "alert 1",
        "the first version is the one kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_500_twice_is_delivered_on_attempt_3_with_growing_backoff() {
    let receiver = Receiver::start(Arc::new(|r| {
        Answer::Status(if r.n < 2 { 500 } else { 200 })
    }))
    .await;
    let (_dir, outbox) = open_temp();
    let s = outbox.subscribe(sub(receiver.url("r"))).expect("subscribe");
    let config = DeliveryConfig {
        base_backoff: Duration::from_millis(150),
        max_backoff: Duration::from_secs(10),
        ..fast_config()
    };
    let running = Running::start(Arc::clone(&outbox), config);
    let a = alert(AlertKind::Exposure, None, 1);
    let seq = outbox.push(&a).expect("push").expect("stored");
    settle(&outbox).await;
    running.stop().await;

    let log = receiver.log();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log.iter()
            .all(|r| r.id == a.id && r.signed_by(s.secret().expect("secret")))
    );
    assert_eq!(log.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        log.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    let gap1 = log[1].at - log[0].at;
    let gap2 = log[2].at - log[1].at;
    // 150 ms then 300 ms, each minus up to 20 % jitter.
    assert!(gap1 >= Duration::from_millis(115), "first wait {gap1:?}");
    assert!(gap2 >= Duration::from_millis(235), "second wait {gap2:?}");
    assert!(gap2 > gap1, "waits grow: {gap1:?} then {gap2:?}");
    let d = outbox.deliveries(Some(seq)).expect("deliveries");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].state, DeliveryState::Delivered);
    assert_eq!(d[0].attempts, 3);
    assert_eq!(d[0].last_status, Some(200));
    assert_eq!(d[0].last_error, None);
}

#[tokio::test]
async fn backoff_doubles_to_the_cap_then_the_delivery_is_dead() {
    let receiver = Receiver::start(Arc::new(|_| Answer::Status(500))).await;
    let (_dir, outbox) = open_temp();
    outbox.subscribe(sub(receiver.url("r"))).expect("subscribe");
    let config = DeliveryConfig {
        max_attempts: 5,
        base_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(4),
        ..fast_config()
    };
    let seq = outbox
        .push(&alert(AlertKind::Pattern, None, 1))
        .expect("push")
        .expect("stored");
    let c = client().expect("client");
    let mut now = 1_000_000_000_000u64;
    let mut waits = Vec::new();
    for attempt in 1..=4u32 {
        let pass = deliver_due(&outbox, &c, &config, now).await.expect("pass");
        assert_eq!(
            pass,
            DeliveryPass {
                delivered: 0,
                retrying: 1,
                dead: 0
            }
        );
        let d = &outbox.deliveries(Some(seq)).expect("deliveries")[0];
        assert_eq!(
            (d.state, d.attempts, d.last_status),
            (DeliveryState::Pending, attempt, Some(500))
        );
        assert!(
            d.last_error
                .as_deref()
                .is_some_and(|e| e.contains("HTTP 500")),
            "{d:?}"
        );
        let next = d
            .next_attempt_ms
            .expect("a pending delivery has a next attempt");
        waits.push(next - now);
        // Not due yet: nothing is sent.
        let pass = deliver_due(&outbox, &c, &config, next - 1)
            .await
            .expect("pass");
        assert_eq!(pass, DeliveryPass::default());
        now = next;
    }
    let ranges = [(800, 1000), (1600, 2000), (3200, 4000), (3200, 4000)];
    for (w, (lo, hi)) in waits.iter().zip(ranges) {
        assert!((lo..=hi).contains(w), "waits {waits:?}");
    }
    let pass = deliver_due(&outbox, &c, &config, now).await.expect("pass");
    assert_eq!(
        pass,
        DeliveryPass {
            delivered: 0,
            retrying: 0,
            dead: 1
        }
    );
    let d = &outbox.deliveries(Some(seq)).expect("deliveries")[0];
    assert_eq!(
        (d.state, d.attempts, d.next_attempt_ms),
        (DeliveryState::Dead, 5, None)
    );
    let err = d.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("gave up after 5 attempts") && err.contains("HTTP 500"),
        "{err}"
    );
    assert_eq!(receiver.log().len(), 5);
    // Dead letters stay put.
    let pass = deliver_due(&outbox, &c, &config, now + 3_600_000)
        .await
        .expect("pass");
    assert_eq!(pass, DeliveryPass::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_slower_than_the_timeout_is_retried() {
    let receiver = Receiver::start(Arc::new(|r| {
        if r.n == 0 {
            Answer::SleepThen(Duration::from_secs(3), 200)
        } else {
            Answer::Status(200)
        }
    }))
    .await;
    let (_dir, outbox) = open_temp();
    outbox
        .subscribe(sub(receiver.url("slow")))
        .expect("subscribe");
    let config = DeliveryConfig {
        timeout: Duration::from_millis(300),
        ..fast_config()
    };
    let a = alert(AlertKind::TaintMoved, None, 1);
    let seq = outbox.push(&a).expect("push").expect("stored");
    let c = client().expect("client");
    let started = std::time::Instant::now();
    let now = now_ms();
    let pass = deliver_due(&outbox, &c, &config, now).await.expect("pass");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout cut the attempt short"
    );
    assert_eq!(pass.retrying, 1);
    let d = &outbox.deliveries(Some(seq)).expect("deliveries")[0];
    assert_eq!(d.last_status, None);
    assert!(
        d.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer within 300ms")),
        "{d:?}"
    );
    let pass = deliver_due(&outbox, &c, &config, now + 60_000)
        .await
        .expect("pass");
    assert_eq!(pass.delivered, 1);
    let log = receiver.log();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.id == a.id));
    assert_eq!((log[0].attempt, log[1].attempt), (1, 2));
    assert_eq!(
        outbox.deliveries(Some(seq)).expect("deliveries")[0].attempts,
        2
    );
}

#[tokio::test]
async fn a_receiver_down_goes_dead_and_redeliver_brings_it_back() {
    // A port nobody listens on: bind, note it, close it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (_dir, outbox) = open_temp();
    let s = outbox
        .subscribe(sub(format!("http://127.0.0.1:{port}/down")))
        .expect("subscribe");
    let config = DeliveryConfig {
        max_attempts: 3,
        ..fast_config()
    };
    let a = alert(AlertKind::ReachedService, Some("h"), 1);
    let seq = outbox.push(&a).expect("push").expect("stored");
    let c = client().expect("client");
    let mut now = now_ms();
    let mut passes = DeliveryPass::default();
    for _ in 0..3 {
        let p = deliver_due(&outbox, &c, &config, now).await.expect("pass");
        passes.retrying += p.retrying;
        passes.dead += p.dead;
        now += 3_600_000;
    }
    assert_eq!(
        passes,
        DeliveryPass {
            delivered: 0,
            retrying: 2,
            dead: 1
        }
    );
    let d = &outbox.deliveries(Some(seq)).expect("deliveries")[0];
    assert_eq!((d.state, d.attempts), (DeliveryState::Dead, 3));
    assert_eq!(d.subscription, s.id);
    assert_eq!(d.alert_id, a.id);
    let err = d.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("gave up after 3 attempts") && err.contains("cannot connect"),
        "{err}"
    );

    assert!(!outbox.redeliver(&s.id, seq + 1).expect("redeliver unknown"));
    assert!(
        !outbox
            .redeliver("wh_nope", seq)
            .expect("redeliver unknown sub")
    );
    // The receiver comes back on its port; the dead letter is queued again.
    let receiver = Receiver::start_on(
        &format!("127.0.0.1:{port}"),
        Arc::new(|_| Answer::Status(200)),
    )
    .await;
    assert!(outbox.redeliver(&s.id, seq).expect("redeliver"));
    let d = &outbox.deliveries(Some(seq)).expect("deliveries")[0];
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    let p = deliver_due(&outbox, &c, &config, now).await.expect("pass");
    assert_eq!(p.delivered, 1);
    let log = receiver.log();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].id.as_str(), log[0].attempt), (a.id.as_str(), 1));
    assert!(log[0].signed_by(s.secret().expect("secret")));
    assert!(
        !outbox.redeliver(&s.id, seq).expect("redeliver delivered"),
        "only dead letters"
    );
}

#[tokio::test]
async fn gone_410_is_dead_at_once_and_does_not_hold_the_queue() {
    let receiver = Receiver::start(Arc::new(|r| {
        Answer::Status(if r.n == 0 { 410 } else { 200 })
    }))
    .await;
    let (_dir, outbox) = open_temp();
    outbox.subscribe(sub(receiver.url("r"))).expect("subscribe");
    let s1 = outbox
        .push(&alert(AlertKind::Pattern, None, 1))
        .expect("push")
        .expect("new");
    let s2 = outbox
        .push(&alert(AlertKind::Pattern, None, 2))
        .expect("push")
        .expect("new");
    let c = client().expect("client");
    let p = deliver_due(&outbox, &c, &fast_config(), now_ms())
        .await
        .expect("pass");
    assert_eq!(
        p,
        DeliveryPass {
            delivered: 1,
            retrying: 0,
            dead: 1
        }
    );
    let d1 = &outbox.deliveries(Some(s1)).expect("deliveries")[0];
    assert_eq!(
        (d1.state, d1.attempts, d1.last_status),
        (DeliveryState::Dead, 1, Some(410))
    );
    let d2 = &outbox.deliveries(Some(s2)).expect("deliveries")[0];
    assert_eq!(d2.state, DeliveryState::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retraction_never_overtakes_the_alert_it_retracts() {
    // Sub "flaky" fails the alert twice; sub "gone" refuses it for good (410) and takes all
    // else; sub "other" filters the alert out, so never sees its retraction either.
    let refuse = Arc::new(AtomicBool::new(true));
    let refusing = Arc::clone(&refuse);
    let target = alert(AlertKind::Sanctioned, Some("h"), 1);
    let target_id = target.id.clone();
    let receiver = Receiver::start(Arc::new(move |r| {
        let failures_before = |path: &str| r.path == path && r.id == target_id;
        if failures_before("/flaky") && r.attempt <= 2 {
            Answer::Status(503)
        } else if failures_before("/gone") && refusing.load(Ordering::SeqCst) {
            Answer::Status(410)
        } else {
            Answer::Status(200)
        }
    }))
    .await;
    let (_dir, outbox) = open_temp();
    let flaky = outbox
        .subscribe(NewSubscription {
            url: receiver.url("flaky"),
            kinds: vec![AlertKind::Sanctioned],
            ..Default::default()
        })
        .expect("subscribe");
    let gone = outbox
        .subscribe(sub(receiver.url("gone")))
        .expect("subscribe");
    let other = outbox
        .subscribe(NewSubscription {
            url: receiver.url("other"),
            kinds: vec![AlertKind::Retraction, AlertKind::Pattern],
            ..Default::default()
        })
        .expect("subscribe");
    let config = DeliveryConfig {
        base_backoff: Duration::from_millis(50),
        ..fast_config()
    };
    let running = Running::start(Arc::clone(&outbox), config.clone());
    let aseq = outbox.push(&target).expect("push").expect("new");
    let retraction = Alert::retraction(&target, "block reorganised away", 1_767_225_700);
    let rseq = outbox.push(&retraction).expect("push").expect("new");
    let later = alert(AlertKind::Pattern, None, 2);
    outbox.push(&later).expect("push").expect("new");
    settle(&outbox).await;
    running.stop().await;

    // flaky: the alert (on its third attempt), then its retraction; the retraction never
    // reached the receiver before the alert was accepted.
    let log = receiver.log();
    let flaky_log: Vec<_> = log.iter().filter(|r| r.path == "/flaky").collect();
    let accepted_at = flaky_log
        .iter()
        .position(|r| r.id == target.id && r.ok())
        .expect("the alert was delivered");
    let first_retraction = flaky_log
        .iter()
        .position(|r| r.id == retraction.id)
        .expect("the retraction was delivered");
    assert!(first_retraction > accepted_at, "{flaky_log:?}");
    assert_eq!(flaky_log.iter().filter(|r| r.id == target.id).count(), 3);
    assert_eq!(
        flaky_log[first_retraction].alert().retracts.as_deref(),
        Some(target.id.as_str())
    );
    assert!(
        flaky_log.iter().all(|r| r.id != later.id),
        "flaky filters patterns out"
    );

    // gone: the alert died at once; its retraction is dead too, never sent; the later alert
    // went through.
    let gone_log: Vec<_> = log.iter().filter(|r| r.path == "/gone").collect();
    assert!(
        gone_log.iter().all(|r| r.id != retraction.id),
        "{gone_log:?}"
    );
    assert!(gone_log.iter().any(|r| r.id == later.id && r.ok()));
    let state = |sub: &str, seq: u64| {
        outbox
            .deliveries(Some(seq))
            .expect("deliveries")
            .into_iter()
            .find(|d| d.subscription == sub)
    };
    let dead_retraction = state(&gone.id, rseq).expect("queued for gone");
    assert_eq!(dead_retraction.state, DeliveryState::Dead);
    assert!(
        dead_retraction
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("retracts")),
        "{dead_retraction:?}"
    );
    assert_eq!(dead_retraction.attempts, 0, "never sent");
    // other: never had the alert, so no retraction.
    assert!(state(&other.id, rseq).is_none());
    assert!(state(&other.id, aseq).is_none());
    assert_eq!(
        state(&flaky.id, rseq).map(|d| d.state),
        Some(DeliveryState::Delivered)
    );

    // Redelivering the alert to "gone" brings its retraction back too, after it.
    refuse.store(false, Ordering::SeqCst);
    assert!(outbox.redeliver(&gone.id, aseq).expect("redeliver"));
    let c = client().expect("client");
    let p = deliver_due(&outbox, &c, &config, now_ms())
        .await
        .expect("pass");
    assert_eq!(p.delivered, 2);
    let log = receiver.log();
    let tail: Vec<_> = log
        .iter()
        .filter(|r| r.path == "/gone" && (r.id == target.id || r.id == retraction.id) && r.ok())
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(tail, [target.id.clone(), retraction.id.clone()]);
}

/// A final goes, after its alert, to exactly the subscriptions that had the alert (whatever
/// their kind filters), once however often it is pushed, and is dead, never sent, where its
/// alert is dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_follows_its_alert_once_to_who_had_it() {
    let target = alert(AlertKind::ReachedService, Some("h"), 1);
    let target_id = target.id.clone();
    let receiver = Receiver::start(Arc::new(move |r| {
        if r.path == "/gone" && r.id == target_id {
            Answer::Status(410)
        } else {
            Answer::Status(200)
        }
    }))
    .await;
    let (_dir, outbox) = open_temp();
    let services = outbox
        .subscribe(NewSubscription {
            url: receiver.url("services"),
            kinds: vec![AlertKind::ReachedService],
            ..Default::default()
        })
        .expect("subscribe");
    let gone = outbox
        .subscribe(sub(receiver.url("gone")))
        .expect("subscribe");
    let finals_only = outbox
        .subscribe(NewSubscription {
            url: receiver.url("finals"),
            kinds: vec![AlertKind::Final],
            ..Default::default()
        })
        .expect("subscribe");
    let running = Running::start(Arc::clone(&outbox), fast_config());
    let aseq = outbox.push(&target).expect("push").expect("new");
    let fin = Alert::finality(&target, 12, 1_767_225_900);
    let fseq = outbox.push(&fin).expect("push").expect("new");
    // Raised again (a cycle repeated after a crash, at a greater depth): the same final.
    let again = Alert::finality(&target, 13, 1_767_226_000);
    assert_eq!(again.id, fin.id);
    assert_eq!(outbox.push(&again).expect("push"), None);
    settle(&outbox).await;
    running.stop().await;

    let log = receiver.log();
    let of = |path: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r.path == path && r.ok())
            .map(|r| r.id.clone())
            .collect()
    };
    assert_eq!(of("/services"), [target.id.clone(), fin.id.clone()]);
    let got = log
        .iter()
        .find(|r| r.path == "/services" && r.id == fin.id)
        .expect("the final arrived");
    assert_eq!(got.alert().kind, AlertKind::Final);
    assert_eq!(got.alert().finalises.as_deref(), Some(target.id.as_str()));
    assert_eq!(got.alert().evidence["confirmations"], 12);
    assert!(of("/finals").is_empty(), "never had the alert: no final");
    let state = |sub: &str, seq: u64| {
        outbox
            .deliveries(Some(seq))
            .expect("deliveries")
            .into_iter()
            .find(|d| d.subscription == sub)
    };
    assert!(state(&finals_only.id, fseq).is_none());
    assert_eq!(
        state(&services.id, fseq).map(|d| d.state),
        Some(DeliveryState::Delivered)
    );
    let dead = state(&gone.id, fseq).expect("queued for gone");
    assert_eq!(dead.state, DeliveryState::Dead);
    assert_eq!(dead.attempts, 0, "never sent");
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("finalises")),
        "{dead:?}"
    );
    assert_eq!(
        state(&gone.id, aseq).map(|d| d.state),
        Some(DeliveryState::Dead)
    );
}

#[test]
fn bad_input_is_refused_with_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("outbox.redb");
    let outbox = Outbox::open(&path).expect("open");
    let refused = |url: &str| -> String {
        match outbox.subscribe(sub(url.into())) {
            Err(e @ MonitorError::InvalidUrl { .. }) => e.to_string(),
            other => panic!("{url:?} gave {other:?}"),
        }
    };
    assert!(refused("").contains("empty"));
    assert!(refused("ftp://example.com/hook").contains("scheme \"ftp\" is not http or https"));
    assert!(refused("not a url").contains("not a url"));
    let creds = refused("https://alice:hunter2@hooks.example.com/x");
    assert!(
        creds.contains("credentials") && !creds.contains("hunter2"),
        "{creds}"
    );
    let err = outbox
        .subscribe(NewSubscription {
            url: "http://127.0.0.1:9/".into(),
            secret: Some("too-short".into()),
            ..Default::default()
        })
        .expect_err("short secret");
    assert!(
        err.to_string().contains("at least") || err.to_string().contains("32 to 256"),
        "{err}"
    );
    assert!(
        outbox.subscriptions().expect("list").is_empty(),
        "nothing refused was stored"
    );

    let mut bad = alert(AlertKind::Exposure, None, 1);
    bad.amount = Some("1.5".into());
    let err = outbox.push(&bad).expect_err("fractional amount");
    assert!(
        err.to_string().contains("1.5") && err.to_string().contains(&bad.id),
        "{err}"
    );
    let mut orphan = alert(AlertKind::Retraction, None, 2);
    orphan.retracts = None;
    assert!(outbox.push(&orphan).is_err());
    assert_eq!(outbox.alert_count().expect("count"), 0);

    // The file is locked while open.
    let err = Outbox::open(&path).expect_err("second open");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    drop(outbox);

    // Not a redb file.
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5au8; 8192]).expect("write garbage");
    let err = Outbox::open(&garbage).expect_err("garbage");
    let text = err.to_string();
    assert!(text.contains(&garbage.display().to_string()), "{text}");

    // An outbox cut short (a disk full, a bad copy).
    let cut = dir.path().join("cut.redb");
    {
        let o = Outbox::open(&cut).expect("open");
        for n in 0..100 {
            o.push(&alert(AlertKind::Pattern, None, n)).expect("push");
        }
    }
    let bytes = std::fs::read(&cut).expect("read");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("truncate");
    let text = Outbox::open(&cut).expect_err("truncated").to_string();
    assert!(
        text.contains(&cut.display().to_string()) && text.contains("truncated"),
        "{text}"
    );

    // A record that does not decode.
    let damaged = dir.path().join("damaged.redb");
    drop(Outbox::open(&damaged).expect("create"));
    {
        let db = redb::Database::create(&damaged).expect("open raw");
        let wtx = db.begin_write().expect("write");
        wtx.open_table(redb::TableDefinition::<u64, &[u8]>::new("alerts"))
            .expect("alerts table")
            .insert(1, b"{not json".as_slice())
            .expect("insert");
        wtx.commit().expect("commit");
    }
    let o = Outbox::open(&damaged).expect("the file itself is sound");
    let text = o.alerts(0, 10).expect_err("corrupt record").to_string();
    assert!(
        text.contains(&damaged.display().to_string())
            && text.contains("table alerts")
            && text.contains("seq 1"),
        "{text}"
    );
    drop(o);

    // A redb file that is some other database.
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).expect("create");
        let wtx = db.begin_write().expect("write");
        wtx.open_table(redb::TableDefinition::<u64, u64>::new("blocks"))
            .expect("table");
        wtx.commit().expect("commit");
    }
    let err = Outbox::open(&foreign).expect_err("foreign");
    let text = err.to_string();
    assert!(
        text.contains(&foreign.display().to_string())
            && text.contains("not a tracehound alert outbox")
            && text.contains("blocks"),
        "{text}"
    );
}

#[test]
fn unsubscribe_drops_pending_deliveries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = Outbox::open(&dir.path().join("o.redb")).expect("open");
    let s = outbox
        .subscribe(sub("http://127.0.0.1:9/x".into()))
        .expect("subscribe");
    let keep = outbox
        .subscribe(sub("http://127.0.0.1:9/y".into()))
        .expect("subscribe");
    outbox
        .push(&alert(AlertKind::Pattern, None, 1))
        .expect("push");
    assert_eq!(outbox.deliveries(None).expect("deliveries").len(), 2);
    assert!(outbox.unsubscribe(&s.id).expect("unsubscribe"));
    assert!(!outbox.unsubscribe(&s.id).expect("unsubscribe again"));
    let left = outbox.deliveries(None).expect("deliveries");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].subscription, keep.id);
    assert_eq!(outbox.subscriptions().expect("list").len(), 1);
    // Alerts stay.
    assert_eq!(outbox.alerts(0, 10).expect("alerts").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_pass_next_to_the_running_deliverer_sends_nothing_twice() {
    let receiver = Receiver::start(Arc::new(|_| {
        Answer::SleepThen(Duration::from_millis(100), 200)
    }))
    .await;
    let (_dir, outbox) = open_temp();
    outbox.subscribe(sub(receiver.url("r"))).expect("subscribe");
    let running = Running::start(Arc::clone(&outbox), fast_config());
    let c = client().expect("client");
    for n in 0..5 {
        outbox
            .push(&alert(AlertKind::Pattern, None, n))
            .expect("push")
            .expect("new");
        // `watch --once` style: a pass of its own while `deliver` runs.
        deliver_due(&outbox, &c, &fast_config(), now_ms())
            .await
            .expect("pass");
    }
    settle(&outbox).await;
    running.stop().await;
    let log = receiver.log();
    let ids: BTreeSet<&str> = log.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(log.len(), 5, "one request per alert");
}
