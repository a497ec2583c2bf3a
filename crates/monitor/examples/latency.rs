//! Push → webhook latency on loopback: pushes alerts into a fresh outbox (a file in a temp dir,
//! committed durably like in production) while `deliver` runs, and times each alert from the
//! start of its `push` to its arrival at a local receiver. Prints p50/p99/max for alerts
//! pushed one at a time (paced) and all at once (a burst: they queue behind each other, one
//! subscription delivers in order).
//!
//! `cargo run --release -p tracehound-monitor --example latency [-- ALERTS]` (default 1000).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tracehound_monitor::{
    Alert, AlertKind, DeliveryConfig, DeliveryState, NewSubscription, Outbox, deliver,
};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receive(State(arrivals): State<Arrivals>, headers: HeaderMap) -> StatusCode {
    let at = Instant::now();
    if let Some(id) = headers.get("x-tracehound-id").and_then(|v| v.to_str().ok())
        && let Ok(mut map) = arrivals.lock()
    {
        map.entry(id.to_string()).or_insert(at);
    }
    StatusCode::NO_CONTENT
}

fn alert(run: &str, n: u32) -> Alert {
    Alert::builder(
        AlertKind::ReachedService,
        "ethereum",
        n,
        format!("0x{run}{n:060x}"),
    )
    .incident("latency")
    .tx(format!("0x{n:064x}"))
    .amount("ETH", 1_000_000_000_000_000_000)
    .summary(format!("alert {n}"))
    .evidence(serde_json::json!({"path": ["0x01", "0x02"], "labels": ["Exchange X"]}))
    .build()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn run(
    outbox: &Arc<Outbox>,
    arrivals: &Arrivals,
    name: &str,
    count: u32,
    pace: Option<Duration>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut pushed = HashMap::new();
    for n in 0..count {
        let a = alert(name, n);
        let started = Instant::now();
        outbox.push(&a)?;
        pushed.insert(a.id, started);
        if let Some(p) = pace {
            tokio::time::sleep(p).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().map_err(|_| "poisoned")?.len() < pushed.len() {
        if Instant::now() > deadline {
            return Err("alerts missing after 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived = std::mem::take(&mut *arrivals.lock().map_err(|_| "poisoned")?);
    let mut lat: Vec<Duration> = pushed
        .iter()
        .filter_map(|(id, t)| arrived.get(id).map(|a| a.duration_since(*t)))
        .collect();
    lat.sort();
    println!(
        "{name:>6}: {} alerts  p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u32 = std::env::args().nth(1).map_or(Ok(1000), |s| s.parse())?;
    let arrivals: Arrivals = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .fallback(receive)
        .with_state(Arc::clone(&arrivals));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir()?;
    let outbox = Arc::new(Outbox::open(&dir.path().join("outbox.redb"))?);
    outbox.subscribe(NewSubscription {
        url: format!("http://{addr}/hook"),
        ..Default::default()
    })?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let deliverer = tokio::spawn(deliver(
        Arc::clone(&outbox),
        DeliveryConfig::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));

    println!("outbox in {}", dir.path().display());
    run(
        &outbox,
        &arrivals,
        "paced",
        count,
        Some(Duration::from_millis(2)),
    )
    .await?;
    run(&outbox, &arrivals, "burst", count, None).await?;

    let _ = stop_tx.send(());
    deliverer.await??;
    let not_delivered = outbox
        .deliveries(None)?
        .iter()
        .filter(|d| d.state != DeliveryState::Delivered)
        .count();
    println!("deliveries not delivered: {not_delivered}");
    Ok(())
}
