//! The engine's speed and memory on a random account graph held in memory (no store reads):
//! `cargo run --release -p tracehound-trace --example bench_trace -- 1000000`
//! builds N transfers among N/10 addresses, then traces everything that left 100 source
//! addresses, 10 hops, under each policy, and prints time and peak RSS.

use std::time::Instant;

use tracehound_core::Chain;
use tracehound_trace::graph::{AccountEvent, MemAccounts};
use tracehound_trace::{AccountSeed, Policy, Rules, Tracker, trace_account};

fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let addresses = (n / 10).max(200);
    let mut rng = fastrand::Rng::with_seed(7);
    let addr = |i: usize| format!("0x{i:040x}");
    let t0 = Instant::now();
    let events: Vec<AccountEvent> = (0..n)
        .map(|i| AccountEvent {
            height: u32::try_from(i / 100).unwrap_or(u32::MAX),
            tx: u32::try_from(i % 100).unwrap_or(0),
            sub: 0,
            time: (i / 100) as u64 * 12,
            txid: format!("{i:064x}").parse().unwrap_or_default(),
            fee: false,
            asset: "native".into(),
            from: addr(rng.usize(..addresses)).into(),
            to: addr(rng.usize(..addresses)).into(),
            amount: u128::from(rng.u64(1..1_000_000_000_000_000_000)),
        })
        .collect();
    let mut graph = MemAccounts::new(&events);
    drop(events);
    println!(
        "graph: {n} transfers among {addresses} addresses, built in {:.2?}, RSS peak {} MB",
        t0.elapsed(),
        peak_rss_mb()
    );
    let seeds: Vec<AccountSeed> = (0..100)
        .map(|i| AccountSeed::Source {
            address: addr(i),
            since: 0,
            assets: Vec::new(),
        })
        .collect();
    for policy in Policy::ALL {
        let mut rules = Rules::new(policy);
        rules.max_hops = 10;
        let t = Instant::now();
        let mut tracker = Tracker::new(rules);
        match trace_account(&mut tracker, &mut graph, Chain::Evm(1), &seeds) {
            Ok(()) => {
                let r = tracker.finish("bench");
                println!(
                    "{policy:<8} {:>9.2?}  {:>8} endpoints  {:>9} hops  RSS peak {} MB",
                    t.elapsed(),
                    r.endpoints.len(),
                    r.edges.len(),
                    peak_rss_mb()
                );
            }
            Err(e) => println!("{policy:<8} {e}"),
        }
    }
}
