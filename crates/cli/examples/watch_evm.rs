//! `tracehound watch` of a real `anvil` woken by its websocket: how fast a block becomes a
//! webhook, and whether the watch's memory stays steady over thousands of blocks.
//!
//! Benchmarks, not tests:
//!
//! ```text
//! cargo build --release -p tracehound-cli
//! cargo run --release -p tracehound-cli --features test-anvil --example watch_evm -- latency [BLOCKS]
//! cargo run --release -p tracehound-cli --features test-anvil --example watch_evm -- soak [BLOCKS] [EVERY] [SAMPLE]
//! ```
//!
//! Both set up a thief (10,000 stolen ETH), an incident on the theft, a labeled exchange and a
//! webhook subscription on a fresh anvil, and run the release `tracehound watch` (as
//! `$TRACEHOUND_BIN`, else the `tracehound` next to this example's directory).
//!
//! `latency`: BLOCKS (default 200) payments of the thief, each in a block of its own (anvil
//! mines on each tx), to a fresh address and the exchange in turn; from the moment the node
//! answered `eth_sendTransaction` (the block is mined) to the moment the receiver had the
//! payment's `taint_moved` webhook. Run once with `--ws` (the node's `newHeads`) and polling
//! every 30 s, once with polling every 50 ms and no websocket, for comparison. Prints p50, p99
//! and max of each.
//!
//! `soak`: BLOCKS (default 5000) blocks, a payment in every EVERY-th (default 5), the rest
//! empty (`evm_mine`), each block waited for (the watch at its tip), over the websocket; the
//! watch's resident memory every SAMPLE blocks (default 250): all of it (VmRSS) and its
//! anonymous part (RssAnon: the heap, without the store's files mapped in). Prints the
//! samples, the least-squares slope of each over the second half in KiB per 1000 blocks, and
//! a verdict on the heap's; the run stops by itself.

#[cfg(feature = "test-anvil")]
#[path = "../tests/it/watch_common.rs"]
mod watch_common;

#[cfg(not(feature = "test-anvil"))]
fn main() {
    eprintln!("watch_evm needs --features test-anvil");
    std::process::exit(2);
}

#[cfg(feature = "test-anvil")]
fn main() {
    bench::run();
}

#[cfg(feature = "test-anvil")]
mod bench {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};
    use tracehound_evm::testnode::Anvil;

    use crate::watch_common::{Receiver, SECRET, Watch, binary, run_ok, wait_for_at_most};

    const CHAIN: &str = "evm-31337";
    const THIEF: &str = "0x7e57000000000000000000000000000000000001";
    const EXCHANGE: &str = "0xe1c4000000000000000000000000000000000003";
    const ETH: u128 = 1_000_000_000_000_000_000;

    /// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    fn proc_kib(pid: u32, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i]
    }

    fn ms(d: Duration) -> String {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }

    /// A fresh address for the thief's `i`th payment.
    fn payee(i: usize) -> String {
        format!("0x7e58{i:036x}")
    }

    /// A node with a thief, a data dir that traced the theft, a receiver subscribed.
    struct World {
        node: Anvil,
        dir: tempfile::TempDir,
        hook: Receiver,
    }

    impl World {
        fn start(bin: &Path) -> World {
            let node = Anvil::start().unwrap_or_else(|e| panic!("{e}"));
            let url = node.url().to_string();
            let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
            let _: Value = node
                .rpc("anvil_impersonateAccount", json!([THIEF]))
                .unwrap();
            let _: Value = node
                .rpc(
                    "anvil_setBalance",
                    json!([accounts[0], format!("{:#x}", 20_000 * ETH)]),
                )
                .unwrap();
            let theft = send(&node, &accounts[0], THIEF, 10_000 * ETH);
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path();
            run_ok(
                bin,
                data,
                &["ingest", "evm", "--chain", "31337", "--rpc", &url],
            );
            run_ok(
                bin,
                data,
                &[
                    "labels",
                    "add",
                    EXCHANGE,
                    "--chain",
                    CHAIN,
                    "--label",
                    "Exchange X deposit",
                    "--category",
                    "exchange",
                    "--analyst",
                    "ana",
                ],
            );
            run_ok(
                bin,
                data,
                &[
                    "incident", "create", "drain", "--chain", CHAIN, "--tx", &theft,
                ],
            );
            run_ok(bin, data, &["trace", "--incident", "drain"]);
            let hook = Receiver::start();
            run_ok(
                bin,
                data,
                &[
                    "subscription",
                    "add",
                    "--url",
                    &hook.url,
                    "--secret",
                    SECRET,
                ],
            );
            World { node, dir, hook }
        }

        fn watch(&self, bin: &Path, ws: bool, poll_ms: u64) -> Watch {
            let url = self.node.url();
            let ws_url = url.replacen("http://", "ws://", 1);
            let poll = poll_ms.to_string();
            let mut args = vec![
                "--chain",
                CHAIN,
                "--rpc",
                url,
                "--poll-ms",
                &poll,
                "--no-opening-balances",
            ];
            if ws {
                args.extend(["--ws", &ws_url]);
            }
            let watch = Watch::spawn(bin, self.dir.path(), &args);
            wait_for_at_most("the first cycle", Duration::from_secs(60), || {
                !watch.cycles().is_empty()
            });
            watch
        }

        fn tip(&self) -> u64 {
            let t: String = self.node.rpc("eth_blockNumber", json!([])).unwrap();
            u64::from_str_radix(t.trim_start_matches("0x"), 16).unwrap()
        }

        /// The thief's `i`th payment (the exchange every other one), mined on sending: its tx
        /// hash and when the node answered.
        fn pay(&self, i: usize) -> (String, Instant) {
            let to = if i % 2 == 1 {
                EXCHANGE.to_string()
            } else {
                payee(i)
            };
            let tx = json!({"from": THIEF, "to": to, "value": format!("{:#x}", ETH / 100)});
            let hash: String = self.node.rpc("eth_sendTransaction", json!([tx])).unwrap();
            (hash, Instant::now())
        }
    }

    fn send(node: &Anvil, from: &str, to: &str, value: u128) -> String {
        let tx = json!({"from": from, "to": to, "value": format!("{value:#x}")});
        let hash: String = node.rpc("eth_sendTransaction", json!([tx])).unwrap();
        let receipt = node.wait_receipt(&hash).unwrap();
        assert_eq!(receipt["status"], "0x1", "{receipt}");
        hash
    }

    /// When the receiver first had a `taint_moved` of `tx`, waiting up to 60 s.
    fn webhook_of(hook: &Receiver, tx: &str, watch: &Watch) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let at = hook
                .got
                .lock()
                .unwrap()
                .iter()
                .filter(|r| {
                    r.alert["kind"] == "taint_moved"
                        && r.alert["tx"]
                            .as_str()
                            .is_some_and(|t| t.eq_ignore_ascii_case(tx))
                })
                .map(|r| r.at)
                .min();
            if let Some(at) = at {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "{tx}: no webhook within 60 s; last cycles {:?}",
                watch.cycles().iter().rev().take(3).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub(crate) fn run() {
        let mut args = std::env::args().skip(1);
        let mode = args.next().unwrap_or_else(|| "latency".to_string());
        let bin = binary();
        match mode.as_str() {
            "latency" => {
                let blocks: usize = args.next().map_or(200, |a| a.parse().unwrap());
                latency(&bin, blocks);
            }
            "soak" => {
                let blocks: usize = args.next().map_or(5000, |a| a.parse().unwrap());
                let every: usize = args.next().map_or(5, |a| a.parse().unwrap());
                let sample: usize = args.next().map_or(250, |a| a.parse().unwrap());
                soak(&bin, blocks, every.max(1), sample.max(1));
            }
            other => panic!("unknown mode {other:?}: latency or soak"),
        }
    }

    fn latency(bin: &Path, blocks: usize) {
        eprintln!("watch_evm latency: {} ({blocks} blocks)", bin.display());
        println!("watch_evm latency: {blocks} blocks on anvil, one payment each");
        for (ws, poll_ms) in [(true, 30_000), (false, 50)] {
            let world = World::start(bin);
            let watch = world.watch(bin, ws, poll_ms);
            let mut latencies = Vec::with_capacity(blocks);
            for i in 0..blocks {
                let (tx, mined) = world.pay(i);
                latencies
                    .push(webhook_of(&world.hook, &tx, &watch).saturating_duration_since(mined));
            }
            let rss = proc_kib(watch.pid(), "VmHWM");
            watch.stop();
            assert!(world.hook.received().iter().all(|r| r.signed));
            latencies.sort_unstable();
            let n = latencies.len();
            let mean = latencies.iter().sum::<Duration>() / u32::try_from(n.max(1)).unwrap();
            println!(
                "  {}: block mined → its webhook p50 {}, p99 {}, max {}, mean {}; peak RSS {:.1} MiB",
                if ws {
                    "websocket newHeads, polling every 30 s".to_string()
                } else {
                    format!("polling every {poll_ms} ms, no websocket")
                },
                ms(percentile(&latencies, 0.5)),
                ms(percentile(&latencies, 0.99)),
                ms(latencies[n - 1]),
                ms(mean),
                rss as f64 / 1024.0
            );
        }
    }

    /// The least-squares slope of `points` (x, y).
    fn slope(points: &[(f64, f64)]) -> f64 {
        let n = points.len() as f64;
        let (sx, sy) = points
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
            (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
        });
        if den == 0.0 { 0.0 } else { num / den }
    }

    fn soak(bin: &Path, blocks: usize, every: usize, sample: usize) {
        eprintln!(
            "watch_evm soak: {} ({blocks} blocks, a payment every {every}, RSS every {sample})",
            bin.display()
        );
        let world = World::start(bin);
        let watch = world.watch(bin, true, 1000);
        let started = Instant::now();
        // (blocks so far, RSS KiB, anonymous RSS KiB, alerts received so far, seconds)
        let mut samples: Vec<(usize, u64, u64, usize, f64)> = Vec::new();
        let mut payments = 0;
        for b in 1..=blocks {
            if b % every == 0 {
                world.pay(payments);
                payments += 1;
            } else {
                let _: Value = world.node.rpc("evm_mine", json!([])).unwrap();
            }
            let tip = world.tip();
            wait_for_at_most("the watch at the tip", Duration::from_secs(120), || {
                watch.reached(tip)
            });
            if b % sample == 0 || b == blocks {
                let rss = proc_kib(watch.pid(), "VmRSS");
                let anon = proc_kib(watch.pid(), "RssAnon");
                let alerts = world.hook.got.lock().unwrap().len();
                samples.push((b, rss, anon, alerts, started.elapsed().as_secs_f64()));
                eprintln!("  {b} blocks: RSS {rss} KiB (anonymous {anon} KiB), {alerts} webhooks");
            }
        }
        let hwm = proc_kib(watch.pid(), "VmHWM");
        let cycles = watch.cycles();
        watch.stop();
        let mut cycle_ms: Vec<u64> = cycles
            .iter()
            .filter(|c| c["blocks"].as_u64() > Some(0))
            .map(|c| c["millis"].as_u64().unwrap())
            .collect();
        cycle_ms.sort_unstable();
        let second_half = |value: fn(&(usize, u64, u64, usize, f64)) -> u64| -> f64 {
            let points: Vec<(f64, f64)> = samples
                .iter()
                .filter(|s| s.0 * 2 >= blocks)
                .map(|s| (s.0 as f64, value(s) as f64))
                .collect();
            slope(&points) * 1000.0
        };
        let (rss_per_1000, anon_per_1000) = (second_half(|s| s.1), second_half(|s| s.2));
        let last = samples.last().copied().unwrap_or_default();
        println!(
            "watch_evm soak: {blocks} blocks on anvil over the websocket, {payments} payments \
             (one every {every}), {:.0} s",
            last.4
        );
        println!("  | blocks | RSS (MiB) | of it anonymous (MiB) | webhooks | s |");
        println!("  |---:|---:|---:|---:|---:|");
        for (b, rss, anon, alerts, secs) in &samples {
            println!(
                "  | {b} | {:.1} | {:.1} | {alerts} | {secs:.0} |",
                *rss as f64 / 1024.0,
                *anon as f64 / 1024.0
            );
        }
        let pick = |p: usize| cycle_ms.get(cycle_ms.len().saturating_sub(1) * p / 100);
        println!(
            "  cycles with a new block: {}, p50 {} ms, p99 {} ms; peak RSS (VmHWM) {:.1} MiB",
            cycle_ms.len(),
            pick(50).map_or("-".into(), u64::to_string),
            pick(99).map_or("-".into(), u64::to_string),
            hwm as f64 / 1024.0
        );
        // Steady: the heap grows by less than 1 MiB per 1000 blocks over the second half.
        let verdict = if anon_per_1000 < 1024.0 {
            "steady"
        } else {
            "GROWING"
        };
        println!(
            "  slope over the second half, per 1000 blocks: RSS {rss_per_1000:+.0} KiB, heap \
             (anonymous) {anon_per_1000:+.0} KiB: {verdict}"
        );
    }
}
