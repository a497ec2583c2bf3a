//! How fast `tracehound watch` turns a block into a webhook, on a real `litecoind -regtest`.
//!
//! A benchmark, not a test:
//!
//! ```text
//! cargo build --release -p tracehound-cli
//! cargo run --release -p tracehound-cli --features test-litecoind --example watch_latency -- [BLOCKS] [CATCHUP]
//! ```
//!
//! It sets up a thief, an incident on the theft, a labeled exchange and a webhook subscription
//! (as the `watch` end-to-end test does), starts the release `tracehound watch --poll-ms 50`
//! (`$TRACEHOUND_BIN`, else the `tracehound` next to this example's directory), then for
//! BLOCKS blocks (default 200) has the thief pay (a fresh address and the exchange in turn) and
//! mines one block, measuring from the moment `generatetoaddress` returned (the block is on
//! the node) to the moment the receiver had the block's first webhook. Then, the watch
//! stopped, CATCHUP blocks (default 500) each with a payment, and the watch started again:
//! how long it takes to catch up (its cycle) and to deliver everything it raised. Prints
//! p50/p99/max latency, the catch-up rate and each watch process's peak RSS (VmHWM).
//!
//! With `WATCH_LATENCY_ZMQ=1` (and `TRACEHOUND_ZMQ_PYTHON`, a python with pyzmq) the node's
//! blocks are announced over ZMQ as Core's notifier does (`tests/it/zmq_notifier.py` fed by
//! the node's `-blocknotify`; Debian's litecoind has no ZMQ) and the watch runs with
//! `--zmq` and a 1 s poll: what the wake-up saves against polling every 50 ms.

#[cfg(feature = "test-litecoind")]
#[path = "../tests/it/watch_common.rs"]
mod watch_common;

#[cfg(not(feature = "test-litecoind"))]
fn main() {
    eprintln!("watch_latency needs --features test-litecoind");
    std::process::exit(2);
}

#[cfg(feature = "test-litecoind")]
fn main() {
    bench::run();
}

#[cfg(feature = "test-litecoind")]
mod bench {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};
    use tracehound_btc::rpc::RpcClient;
    use tracehound_btc::testnode::Litecoind;

    use crate::watch_common::ltc::{
        NETWORK, Notifier, call, notifying_node, rpc_args, wallet, watch_args,
    };
    use crate::watch_common::{Receiver, SECRET, Watch, binary, run_ok, wait_for_at_most};

    const POLL_MS: u64 = 50;
    /// The poll under a ZMQ wake-up: a fallback, far slower than the blocks.
    const ZMQ_POLL_MS: u64 = 1000;

    /// Peak resident set of a process, in KiB.
    fn vm_hwm(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
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

    struct Chain<'a> {
        main: RpcClient,
        thief: RpcClient,
        exchange: String,
        node: &'a Litecoind,
    }

    impl Chain<'_> {
        /// The thief's `i`th payment (the exchange every other one), in a block: its hash.
        fn pay_and_mine(&self, i: usize) -> (String, Instant) {
            let to = if i % 2 == 1 {
                self.exchange.clone()
            } else {
                call(&self.main, "getnewaddress", json!(["", "bech32"]))
                    .as_str()
                    .unwrap()
                    .to_string()
            };
            call(&self.thief, "sendtoaddress", json!([to, "0.01"]));
            let miner = call(&self.main, "getnewaddress", json!(["", "bech32"]));
            let hashes = call(&self.main, "generatetoaddress", json!([1, miner]));
            let mined = Instant::now();
            (hashes[0].as_str().unwrap().to_string(), mined)
        }

        fn tip(&self) -> u64 {
            call(&self.node.client(), "getblockcount", json!([]))
                .as_u64()
                .unwrap()
        }
    }

    pub(crate) fn run() {
        let mut args = std::env::args().skip(1);
        let blocks: usize = args.next().map_or(200, |a| a.parse().unwrap());
        let catchup: usize = args.next().map_or(500, |a| a.parse().unwrap());
        let bin = binary();
        eprintln!(
            "watch_latency: {} ({blocks} blocks, catch-up {catchup})",
            bin.display()
        );

        let zmq = std::env::var_os("WATCH_LATENCY_ZMQ").is_some();
        let poll_ms = if zmq { ZMQ_POLL_MS } else { POLL_MS };
        let notify = tempfile::tempdir().unwrap();
        let fifo = notify.path().join("blocks.fifo");
        let node = if zmq {
            notifying_node(&fifo)
        } else {
            Litecoind::start().unwrap_or_else(|e| panic!("{e}"))
        };
        let notifier = zmq.then(|| Notifier::start(&fifo, 0, &node));
        // Past MWEB's activation (height 432 on regtest) first: a run of hundreds of blocks
        // would cross it, and its first block needs a peg-in the thief's payments are not.
        node.activate_mweb().unwrap_or_else(|e| panic!("{e}"));
        let mweb = node.new_address("mweb").unwrap();
        node.send(&mweb, "2.5").unwrap();
        node.mine(1).unwrap();
        call(&node.client(), "createwallet", json!(["thief"]));
        let main = wallet(&node, tracehound_btc::testnode::WALLET);
        let thief = wallet(&node, "thief");
        let thief_addr = call(&thief, "getnewaddress", json!(["", "bech32"]));
        let theft = call(&main, "sendtoaddress", json!([thief_addr, "100"]));
        let theft = theft.as_str().unwrap().to_string();
        let to = call(&main, "getnewaddress", json!(["", "bech32"]));
        call(&main, "generatetoaddress", json!([1, to]));
        let exchange = call(&main, "getnewaddress", json!(["", "bech32"]))
            .as_str()
            .unwrap()
            .to_string();
        let chain = Chain {
            main,
            thief,
            exchange: exchange.clone(),
            node: &node,
        };

        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let rpc = rpc_args(&node);
        let mut ingest = vec!["ingest", "btc", "--network", NETWORK];
        ingest.extend(rpc.iter().map(String::as_str));
        run_ok(&bin, data, &ingest);
        run_ok(
            &bin,
            data,
            &[
                "labels",
                "add",
                &exchange,
                "--chain",
                NETWORK,
                "--label",
                "Exchange X deposit",
                "--category",
                "exchange",
                "--analyst",
                "ana",
            ],
        );
        run_ok(
            &bin,
            data,
            &[
                "incident", "create", "drain", "--chain", NETWORK, "--tx", &theft,
            ],
        );
        // Every payment spends the thief's change: a peel chain as long as the run, deeper
        // than the default 64 hops a trace follows.
        let max_hops = (blocks + catchup + 10).to_string();
        run_ok(
            &bin,
            data,
            &["trace", "--incident", "drain", "--max-hops", &max_hops],
        );
        let hook = Receiver::start();
        run_ok(
            &bin,
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
        let mut wargs = watch_args(&node, poll_ms);
        if let Some(n) = &notifier {
            wargs.extend(["--zmq".to_string(), n.url()]);
        }
        let wargs: Vec<&str> = wargs.iter().map(String::as_str).collect();

        // Live: one block at a time, each waited for.
        let watch = Watch::spawn(&bin, data, &wargs);
        wait_for_at_most("the first cycle", Duration::from_secs(60), || {
            !watch.cycles().is_empty()
        });
        let mut latencies = Vec::with_capacity(blocks);
        for i in 0..blocks {
            let (block, mined) = chain.pay_and_mine(i);
            let first = |hook: &Receiver| {
                hook.got
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|r| r.alert["block_hash"] == block.as_str())
                    .map(|r| r.at)
                    .min()
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while first(&hook).is_none() {
                assert!(
                    Instant::now() < deadline,
                    "block {i} ({block}): no alert within 30 s; last cycles {:?}; {} webhooks so far",
                    watch.cycles().iter().rev().take(3).collect::<Vec<_>>(),
                    hook.received().len()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            latencies.push(first(&hook).unwrap() - mined);
        }
        let cycles = watch.cycles();
        let live_rss = vm_hwm(watch.pid());
        watch.stop();
        assert!(hook.received().iter().all(|r| r.signed));
        let mut cycle_ms: Vec<Duration> = cycles
            .iter()
            .filter(|c| c["blocks"].as_u64() > Some(0))
            .map(|c| Duration::from_millis(c["millis"].as_u64().unwrap()))
            .collect();
        cycle_ms.sort_unstable();
        latencies.sort_unstable();

        // Catch-up: blocks mined while no watch runs, then one watch over all of them.
        let before = hook.received().len();
        let mut last = String::new();
        for i in 0..catchup {
            last = chain.pay_and_mine(i).0;
        }
        let tip = chain.tip();
        let started = Instant::now();
        let watch = Watch::spawn(&bin, data, &wargs);
        wait_for_at_most("the catch-up cycle", Duration::from_secs(600), || {
            watch.reached(tip)
        });
        let caught_up = started.elapsed();
        // Everything the catch-up raised (and retracted) delivered: as many new ids as its
        // cycles pushed. Alerts are pushed kind by kind, not block by block, so the last
        // block's first webhook says little.
        let catchup_cycles: Vec<Value> = watch.cycles();
        let pushed: u64 = catchup_cycles
            .iter()
            .map(|c| c["alerts"].as_u64().unwrap() + c["retracted"].as_u64().unwrap())
            .sum();
        let new_ids = |hook: &Receiver| {
            let got = hook.got.lock().unwrap();
            got[before..]
                .iter()
                .map(|r| r.id.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u64
        };
        wait_for_at_most("the catch-up's webhooks", Duration::from_secs(600), || {
            new_ids(&hook) >= pushed
        });
        let drained = started.elapsed();
        let last_block_at = hook
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.alert["block_hash"] == last.as_str())
            .map(|r| r.at)
            .min()
            .map(|t| t - started);
        let catchup_rss = vm_hwm(watch.pid());
        watch.stop();

        let n = latencies.len();
        let mean = latencies.iter().sum::<Duration>() / u32::try_from(n.max(1)).unwrap();
        let wake = if zmq { ", woken by ZMQ" } else { "" };
        println!("watch_latency: {n} blocks, poll {poll_ms} ms{wake}, one payment per block");
        println!(
            "  block on node → first webhook: p50 {}, p99 {}, max {}, min {}, mean {}",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies[n - 1]),
            ms(latencies[0]),
            ms(mean)
        );
        if !cycle_ms.is_empty() {
            println!(
                "  watch cycle (ingest + re-trace + push) with a new block: p50 {}, p99 {}, max {}",
                ms(percentile(&cycle_ms, 0.5)),
                ms(percentile(&cycle_ms, 0.99)),
                ms(cycle_ms[cycle_ms.len() - 1])
            );
        }
        if !zmq {
            println!(
                "  poll interval: {poll_ms} ms, i.e. {:.1} ms of expected wait (half of it) per block, {:.0} % of the mean",
                poll_ms as f64 / 2.0,
                poll_ms as f64 / 2.0 / (mean.as_secs_f64() * 1000.0) * 100.0
            );
        }
        println!(
            "  catch-up: {catchup} blocks in {:.2} s to the cycle at the tip ({:.0} blocks/s); all {pushed} alerts delivered after {:.2} s ({:.0} webhooks/s); the last block's first webhook after {}; cycles: {}",
            caught_up.as_secs_f64(),
            catchup as f64 / caught_up.as_secs_f64(),
            drained.as_secs_f64(),
            pushed as f64 / drained.as_secs_f64(),
            last_block_at.map_or("-".to_string(), |d| format!("{:.2} s", d.as_secs_f64())),
            catchup_cycles
                .iter()
                .filter(|c| c["blocks"].as_u64() > Some(0))
                .map(|c| format!(
                    "{} blocks/{} alerts in {} ms",
                    c["blocks"], c["alerts"], c["millis"]
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "  peak RSS (VmHWM): live watch {:.1} MiB, catch-up watch {:.1} MiB",
            live_rss as f64 / 1024.0,
            catchup_rss as f64 / 1024.0
        );
    }
}
