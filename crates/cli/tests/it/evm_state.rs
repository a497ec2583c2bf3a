//! EVM ingest against a real `anvil` carrying a chain of mixed blocks (ether between funded
//! and fresh accounts, ERC-20 transfers, failing transfers, WETH wraps and unwraps, value
//! forwarded by a contract; several txs a block):
//!
//! - opening balances: after ingest from genesis and from a later `--from`, at several
//!   checkpoint heights, **every** account in the store holds exactly the node's
//!   `eth_getBalance` and every token's `balanceOf` at that height (anvil's pre-funded dev
//!   accounts included); a reorg still gives the store a fresh ingest gives;
//!   `--no-opening-balances` stores net flows only;
//! - `kill -9` at random moments, then resume, equals one clean pass;
//! - the node going away mid-ingest (a TCP proxy in front of anvil is cut): a clear error
//!   naming the URL and the blocks, the store equal to a clean ingest up to its committed tip,
//!   and a rerun once the node is back equal to a clean ingest.
#![cfg(feature = "test-anvil")]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address as EvmAddress, U256};
use alloy::sol_types::{SolCall, SolValue};
use serde_json::{Value, json};
use tracehound_core::{Address, Chain as CoreChain};
use tracehound_evm::testnode::Anvil;
use tracehound_store::{Store, StoreOptions};

use crate::anvil::{
    Chain, depositCall, digest, forwardCall, tracehound, transferCall, withdrawCall,
};

const CHAIN: CoreChain = CoreChain::Evm(31337);

/// The contracts of the mixed chain.
struct World {
    token: String,
    weth: String,
    forwarder: String,
}

fn start() -> Chain {
    let node = Anvil::start().unwrap();
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    Chain { node, accounts }
}

fn automine(c: &Chain, on: bool) {
    let _: Value = c.node.rpc("evm_setAutomine", json!([on])).unwrap();
}

/// Deploys the contracts (one block each) and hands tokens to dev accounts 1 to 5.
fn deploy_world(c: &Chain) -> World {
    let token = c.deploy(
        "Token",
        &(
            "Test".to_string(),
            "TST".to_string(),
            U256::from(18u64),
            U256::from(10u128.pow(24)),
        )
            .abi_encode_params(),
    );
    let weth = c.deploy("Weth", &[]);
    let forwarder = c.deploy("Forwarder", &[]);
    for i in 1..=5 {
        let to: EvmAddress = c.accounts[i].parse().unwrap();
        let r = c.send(
            0,
            Some(&token),
            0,
            &transferCall {
                to,
                value: U256::from(10u128.pow(21)),
            }
            .abi_encode(),
        );
        assert_eq!(r["status"], "0x1");
    }
    World {
        token,
        weth,
        forwarder,
    }
}

/// Mines `blocks` blocks of 1 to 6 mixed txs each; returns the fresh addresses paid.
fn mixed_blocks(c: &Chain, w: &World, blocks: usize, rng: &mut fastrand::Rng) -> Vec<String> {
    automine(c, false);
    let mut fresh = Vec::new();
    for _ in 0..blocks {
        let mut hashes = Vec::new();
        for _ in 0..rng.usize(1..=6) {
            let from = rng.usize(1..10);
            let target = if rng.bool() || fresh.is_empty() {
                let mut b = [0u8; 20];
                rng.fill(&mut b);
                let a = format!("0x{}", alloy::hex::encode(b));
                fresh.push(a.clone());
                a
            } else if rng.bool() {
                fresh[rng.usize(..fresh.len())].clone()
            } else {
                c.accounts[rng.usize(0..10)].clone()
            };
            let target_addr: EvmAddress = target.parse().unwrap();
            let (to, value, data) = match rng.u8(0..100) {
                0..30 => (target.clone(), rng.u128(1..10u128.pow(18)), Vec::new()),
                // Dev accounts 6 to 9 hold no tokens: those transfers revert (fees only).
                30..55 => (
                    w.token.clone(),
                    0,
                    transferCall {
                        to: target_addr,
                        value: U256::from(rng.u64(1..5_000_000)),
                    }
                    .abi_encode(),
                ),
                55..70 => (
                    w.weth.clone(),
                    rng.u128(1..10u128.pow(17)),
                    depositCall {}.abi_encode(),
                ),
                // May exceed the sender's WETH: then it reverts.
                70..80 => (
                    w.weth.clone(),
                    0,
                    withdrawCall {
                        wad: U256::from(rng.u128(1..10u128.pow(16))),
                    }
                    .abi_encode(),
                ),
                _ => (
                    w.forwarder.clone(),
                    rng.u128(1..10u128.pow(15)),
                    forwardCall { to: target_addr }.abi_encode(),
                ),
            };
            let tx = json!({"from": c.accounts[from], "to": to, "value": format!("{value:#x}"),
                "data": crate::anvil::hex0x(&data), "gas": "0x7a120"});
            let hash: String = c.node.rpc("eth_sendTransaction", json!([tx])).unwrap();
            hashes.push(hash);
        }
        let _: Value = c.node.rpc("evm_mine", json!([])).unwrap();
        for h in &hashes {
            c.node.wait_receipt(h).unwrap();
        }
    }
    automine(c, true);
    fresh
}

fn ingest_args<'a>(url: &'a str, weth: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--json",
        "ingest",
        "evm",
        "--chain",
        "31337",
        "--rpc",
        url,
        "--batch-blocks",
        "5",
        "--wrapped-native",
        weth,
    ];
    args.extend_from_slice(extra);
    args
}

fn ingest(data_dir: &Path, url: &str, weth: &str, extra: &[&str]) -> Value {
    let out = tracehound(data_dir, &ingest_args(url, weth, extra));
    assert!(
        out.status.success(),
        "ingest {extra:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn store_tip(data_dir: &Path) -> Option<u32> {
    Store::open(data_dir, &StoreOptions::default())
        .unwrap()
        .tip(CHAIN)
        .unwrap()
        .map(|t| t.height)
}

/// Every real account in the store holds what the node says at `height`, in ether and in
/// each of `tokens`. Returns how many accounts were compared.
///
/// A store that starts at a later block knows a holding only once it moved there (opening
/// balances are read per holding first seen): for it (`from_genesis` false) the holdings it
/// has no row for are left out; from genesis every holding must match, zero included.
fn check_absolute(
    c: &Chain,
    data_dir: &Path,
    height: u64,
    tokens: &[&str],
    from_genesis: bool,
) -> usize {
    let store = Store::open(data_dir, &StoreOptions::default()).unwrap();
    assert_eq!(
        store.tip(CHAIN).unwrap().map(|t| u64::from(t.height)),
        Some(height)
    );
    let mut checked = 0;
    for a in store.account_addresses(CHAIN).unwrap() {
        if a.is_pseudo() {
            continue;
        }
        let view = store.account(&a).unwrap().unwrap();
        let row = |asset: &str| view.balances.iter().find(|b| b.asset == asset);
        let held = |asset: &str| {
            row(asset).map_or(0, |b| {
                i128::try_from(b.received.units()).unwrap()
                    - i128::try_from(b.sent.units()).unwrap()
            })
        };
        assert_eq!(
            held("native"),
            i128::try_from(c.balance(a.as_str(), height)).unwrap(),
            "ether of {a} at height {height}"
        );
        // ERC-20 mints and burns are transfers from and to the zero address: the store shows
        // it as having paid out the supply, while `balanceOf(0)` is what the token keeps there.
        let zero = a.as_str() == "0x0000000000000000000000000000000000000000";
        for t in tokens
            .iter()
            .filter(|t| !zero && (from_genesis || row(t).is_some()))
        {
            assert_eq!(
                held(t),
                i128::try_from(c.token_balance_at(t, a.as_str(), height)).unwrap(),
                "token {t} of {a} at height {height}"
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn opening_balances_make_every_stored_balance_absolute() {
    let c = start();
    let url = c.node.url().to_string();
    let w = deploy_world(&c);
    let mut rng = fastrand::Rng::with_seed(4);
    mixed_blocks(&c, &w, 40, &mut rng);
    let tip = c.tip();
    let tokens = [w.token.as_str(), w.weth.as_str()];
    let work = tempfile::tempdir().unwrap();

    // From genesis, with checkpoints: each run resumes after the last.
    let from0 = work.path().join("from0");
    let mut counts = Vec::new();
    for cp in [3, 17, 30, tip] {
        let report = ingest(&from0, &url, &w.weth, &["--to", &cp.to_string()]);
        assert_eq!(report["tip_height"], json!(cp));
        counts.push(check_absolute(&c, &from0, cp, &tokens, true));
    }
    assert!(
        counts.windows(2).all(|p| p[0] < p[1]) && counts[0] >= 4 && counts[3] >= 40,
        "accounts compared at each checkpoint: {counts:?}"
    );
    let dev0 = Address::parse(CHAIN, &c.accounts[0]).unwrap();
    let store = Store::open(&from0, &StoreOptions::default()).unwrap();
    let id = store.account(&dev0).unwrap().unwrap().id;
    let opened = store.account_history(CHAIN, id, 0, 1).unwrap();
    drop(store);
    // Dev account 0 deploys in block 1: its genesis allocation opens its history.
    assert_eq!(opened[0].flow.from, "mint:opening");
    assert_eq!(opened[0].source, "opening:0");
    assert_eq!(opened[0].flow.height, 1);
    assert_eq!(
        opened[0].flow.received.units(),
        c.balance(&c.accounts[0], 0)
    );

    // From a later block (after the contracts and the first token hand-outs), in two runs.
    let later = work.path().join("later");
    let from = 12u64;
    let report = ingest(
        &later,
        &url,
        &w.weth,
        &["--from", &from.to_string(), "--to", "25"],
    );
    assert!(report["opening_balances"]["recorded"].as_u64().unwrap() > 5);
    assert!(
        report["opening_balances"]["token_holdings_read"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(report["opening_balances"]["token_unreadable"], json!(0));
    assert!(check_absolute(&c, &later, 25, &tokens, false) >= 6);
    ingest(&later, &url, &w.weth, &[]);
    let n_later = check_absolute(&c, &later, tip, &tokens, false);
    let n_full = check_absolute(&c, &from0, tip, &tokens, true);
    assert!(n_later >= 6 && n_later <= n_full, "{n_later} vs {n_full}");

    // One pass from genesis gives the same store as the checkpointed runs.
    let one_pass = work.path().join("one-pass");
    ingest(&one_pass, &url, &w.weth, &[]);
    assert_eq!(digest(&one_pass), digest(&from0));

    // Without opening balances: net flows only, no `mint:opening`.
    let flows = work.path().join("flows");
    let report = ingest(&flows, &url, &w.weth, &["--no-opening-balances"]);
    assert!(report.get("opening_balances").is_none(), "{report}");
    let store = Store::open(&flows, &StoreOptions::default()).unwrap();
    assert!(
        !store
            .account_addresses(CHAIN)
            .unwrap()
            .iter()
            .any(|a| a.as_str() == "mint:opening")
    );
    let view = store.account(&dev0).unwrap().unwrap();
    let native = &view.balances[0];
    assert_eq!(native.asset, "native");
    assert_eq!(
        i128::try_from(native.received.units()).unwrap()
            - i128::try_from(native.sent.units()).unwrap(),
        i128::try_from(c.balance(&c.accounts[0], tip)).unwrap()
            - i128::try_from(c.balance(&c.accounts[0], 0)).unwrap()
    );
    drop(store);

    // A reorg 3 blocks deep whose replacement pays a brand-new address: the store follows,
    // stays absolute, and equals a fresh ingest.
    let newcomer = "0x00000000000000000000000000000000c0ffee01";
    let replacement = json!({"from": c.accounts[7], "to": newcomer, "value": "0x3b9aca00",
        "gas": "0x5208", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1"});
    let _: Value = c
        .node
        .rpc("anvil_reorg", json!([3, [[replacement, 1]]]))
        .unwrap();
    let after = ingest(&from0, &url, &w.weth, &[]);
    assert!(after["unwound"].as_u64().unwrap() >= 1, "{after}");
    let tip = c.tip();
    check_absolute(&c, &from0, tip, &tokens, true);
    assert_eq!(c.balance(newcomer, tip), 1_000_000_000);
    let fresh = work.path().join("fresh");
    ingest(&fresh, &url, &w.weth, &[]);
    assert_eq!(digest(&from0), digest(&fresh));
}

#[test]
fn sigkill_during_evm_ingest_then_resume_equals_one_pass() {
    let c = start();
    let url = c.node.url().to_string();
    let w = deploy_world(&c);
    let mut rng = fastrand::Rng::with_seed(11);
    mixed_blocks(&c, &w, 300, &mut rng);
    let work = tempfile::tempdir().unwrap();
    let slow = ["--rpc-concurrency", "1"];
    let clean = work.path().join("clean");
    let started = std::time::Instant::now();
    ingest(&clean, &url, &w.weth, &slow);
    // Kills land within the time a whole run takes.
    let whole = u64::try_from(started.elapsed().as_millis())
        .unwrap()
        .max(50);
    let expected = digest(&clean);

    let killed = work.path().join("killed");
    let args = ingest_args(&url, &w.weth, &slow);
    let chain_tip = u32::try_from(c.tip()).unwrap();
    let (mut kills, mut mid_kills, mut extra) = (0, 0, 0);
    let mut tips: Vec<Option<u32>> = Vec::new();
    for _ in 0..40 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracehound"))
            .arg("--data-dir")
            .arg(&killed)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(
            rng.u64(whole / 10..whole / 3) + extra,
        ));
        let killed_now = child.try_wait().unwrap().is_none();
        if killed_now {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        let now = store_tip(&killed);
        if killed_now && now.is_some_and(|h| h < chain_tip) {
            mid_kills += 1;
        }
        // A kill before the first commit of its run (a slow start on a busy machine): wait
        // longer next time.
        if killed_now && tips.last().copied().flatten() == now {
            extra += whole / 10;
        }
        tips.push(now);
        if !killed_now || mid_kills >= 4 {
            break;
        }
    }
    assert!(
        mid_kills >= 2,
        "{kills} kills, {mid_kills} between two commits: {tips:?}"
    );
    assert!(
        tips.windows(2).all(|p| p[0] <= p[1]),
        "the stored tip went back: {tips:?}"
    );
    ingest(&killed, &url, &w.weth, &[]);
    assert_eq!(digest(&killed), expected, "tips after each kill: {tips:?}");
    check_absolute(&c, &killed, c.tip(), &[&w.token, &w.weth], true);
}

/// A TCP proxy in front of the node that can be cut: every open connection is shut and new
/// ones are refused. It counts the HTTP requests it passed on.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    cut_after: Arc<AtomicU64>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `port` (0: any free one) and forwards to `upstream`; cuts itself once
    /// `cut_after` requests went through (`u64::MAX`: never).
    fn start(port: u16, upstream: &str, cut_after: u64) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let cut_after = Arc::new(AtomicU64::new(cut_after));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accept = {
            let (cut, requests, cut_after, streams) = (
                cut.clone(),
                requests.clone(),
                cut_after.clone(),
                streams.clone(),
            );
            std::thread::spawn(move || {
                while !cut.load(Ordering::SeqCst) {
                    let client = match listener.accept() {
                        Ok((s, _)) => s,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                    };
                    client.set_nonblocking(false).unwrap();
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        continue;
                    };
                    {
                        let mut s = streams.lock().unwrap();
                        s.push(client.try_clone().unwrap());
                        s.push(server.try_clone().unwrap());
                    }
                    let pipe = |mut from: TcpStream, mut to: TcpStream, count: bool| {
                        let (cut, requests, cut_after, streams) = (
                            cut.clone(),
                            requests.clone(),
                            cut_after.clone(),
                            streams.clone(),
                        );
                        std::thread::spawn(move || {
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                let n = match from.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                if count && buf[..n].starts_with(b"POST ") {
                                    let seen = requests.fetch_add(1, Ordering::SeqCst) + 1;
                                    if seen >= cut_after.load(Ordering::SeqCst) {
                                        cut.store(true, Ordering::SeqCst);
                                        for s in streams.lock().unwrap().iter() {
                                            let _ = s.shutdown(Shutdown::Both);
                                        }
                                        break;
                                    }
                                }
                                if cut.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = to.shutdown(Shutdown::Write);
                        });
                    };
                    pipe(
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    );
                    pipe(server, client, false);
                }
                // Dropping the listener here refuses every later connection.
            })
        };
        Proxy {
            port,
            cut,
            requests,
            cut_after,
            streams,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> u64 {
        self.cut_after.store(0, Ordering::SeqCst);
        self.cut.store(true, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            t.join().unwrap();
        }
        self.requests.load(Ordering::SeqCst)
    }
}

#[test]
fn node_dying_mid_ingest_fails_clearly_and_keeps_the_committed_store() {
    let c = start();
    let w = deploy_world(&c);
    let mut rng = fastrand::Rng::with_seed(23);
    mixed_blocks(&c, &w, 150, &mut rng);
    let work = tempfile::tempdir().unwrap();

    // A clean ingest through the proxy counts the requests a whole run makes.
    let clean = work.path().join("clean");
    let proxy = Proxy::start(0, c.node.url(), u64::MAX);
    ingest(&clean, &proxy.url(), &w.weth, &["--rpc-concurrency", "1"]);
    let total = proxy.stop();
    assert!(total > 20, "{total} requests");

    // The same ingest with the node gone halfway through.
    let cut = work.path().join("cut");
    let proxy = Proxy::start(0, c.node.url(), total / 2);
    let url = proxy.url();
    let out = tracehound(
        &cut,
        &ingest_args(&url, &w.weth, &["--rpc-concurrency", "1"]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the ingest did not fail: {err}");
    assert!(
        proxy.cut.load(Ordering::SeqCst),
        "the proxy was not cut: {err}"
    );
    assert!(err.contains(&url), "the error names no URL: {err}");
    assert!(err.contains("block"), "the error names no block: {err}");
    let port = proxy.port;
    proxy.stop();

    // What is stored is a clean ingest up to the committed tip, nothing of the batch in flight.
    let committed = store_tip(&cut).expect("some batches committed before the cut");
    assert!(u64::from(committed) < c.tip(), "everything was committed");
    let partial = work.path().join("partial");
    ingest(
        &partial,
        c.node.url(),
        &w.weth,
        &["--to", &committed.to_string()],
    );
    assert_eq!(digest(&cut), digest(&partial));

    // The node is back at the same address: the rerun ends as a clean ingest.
    let proxy = Proxy::start(port, c.node.url(), u64::MAX);
    ingest(&cut, &proxy.url(), &w.weth, &[]);
    proxy.stop();
    assert_eq!(digest(&cut), digest(&clean));
}

/// A node that keeps only recent state (anvil `--prune-history`): opening balances of old
/// blocks cannot be read, which is a clear error leaving the store empty; following from a
/// recent block works and is absolute; `--no-opening-balances` ingests from genesis.
#[test]
fn a_node_without_old_state_gives_openings_for_recent_blocks_only() {
    let node = Anvil::start_with_args(&["--prune-history", "4"]).unwrap();
    let accounts: Vec<String> = node.rpc("eth_accounts", json!([])).unwrap();
    let c = Chain { node, accounts };
    let url = c.node.url().to_string();
    let w = deploy_world(&c);
    let mut rng = fastrand::Rng::with_seed(5);
    mixed_blocks(&c, &w, 30, &mut rng);
    let tip = c.tip();
    let work = tempfile::tempdir().unwrap();

    let old = work.path().join("old");
    let out = tracehound(&old, &ingest_args(&url, &w.weth, &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&url) && err.contains("--no-opening-balances") && err.contains("block 0"),
        "{err}"
    );
    assert_eq!(store_tip(&old), None, "nothing stored");

    let recent = work.path().join("recent");
    let from = tip - 1;
    ingest(&recent, &url, &w.weth, &["--from", &from.to_string()]);
    assert!(check_absolute(&c, &recent, tip, &[&w.token, &w.weth], false) >= 3);

    let flows = work.path().join("flows");
    let report = ingest(&flows, &url, &w.weth, &["--no-opening-balances"]);
    assert_eq!(report["tip_height"], json!(tip));
}
