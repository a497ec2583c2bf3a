//! The simulator's small two-node heist the end-to-end tests share: played on a real anvil
//! and a real `litecoind -regtest` (seed 11, every part of the playbook), then both chains
//! ingested with the `tracehound` binary.
#![cfg(all(feature = "test-litecoind", feature = "test-anvil"))]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tracehound_btc::testnode::Litecoind;
use tracehound_evm::testnode::Anvil;

use crate::common::{ok, tracehound};

/// A played scenario: where its ground truth went, and `sim run --json`'s report.
pub(crate) struct Played {
    /// `truth.json`, `labels.csv`, `links.toml`.
    pub(crate) truth_dir: PathBuf,
    pub(crate) report: Value,
}

/// Plays the small scenario (6 users, 12 fan-out addresses, 2 EVM and 3 UTXO hops, a
/// 3-peer CoinJoin) under `work`, with `data` as the data dir.
pub(crate) fn play(work: &Path, data: &Path, anvil: &Anvil, ltc: &Litecoind) -> Played {
    let truth_dir = work.join("truth");
    let config = work.join("small.json");
    std::fs::write(
        &config,
        r#"{"users": 6, "background_blocks": 4, "fan_out": 12, "consolidators": 2,
            "hops": 2, "utxo_hops": 3, "coinjoin_peers": 3}"#,
    )
    .unwrap();
    let cookie = ltc.cookie_file();
    let out = ok(tracehound(
        data,
        &[
            "--json",
            "sim",
            "run",
            "--on-nodes",
            "--rpc",
            anvil.url(),
            "--ltc-rpc",
            ltc.rpc_url(),
            "--ltc-rpc-cookie",
            cookie.to_str().unwrap(),
            "--out",
            truth_dir.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--seed",
            "11",
        ],
    ));
    Played {
        truth_dir,
        report: serde_json::from_slice(&out.stdout).unwrap(),
    }
}

/// Ingests both chains into `data` (with `links`, a `links.toml`, if given); returns the
/// `--json` reports of `ingest btc` and `ingest evm`.
pub(crate) fn ingest_both(
    data: &Path,
    anvil: &Anvil,
    ltc: &Litecoind,
    links: Option<&str>,
) -> (Value, Value) {
    let (user, password) = ltc.credentials();
    let mut btc = vec![
        "--json",
        "ingest",
        "btc",
        "--network",
        "litecoin-regtest",
        "--rpc",
        ltc.rpc_url(),
        "--rpc-user",
        user,
        "--rpc-password",
        password,
    ];
    let mut evm = vec![
        "--json",
        "ingest",
        "evm",
        "--chain",
        "31337",
        "--rpc",
        anvil.url(),
    ];
    if let Some(l) = links {
        btc.extend(["--links", l]);
        evm.extend(["--links", l]);
    }
    let report = |args: &[&str]| -> Value {
        serde_json::from_slice(&ok(tracehound(data, args)).stdout).unwrap()
    };
    (report(&btc), report(&evm))
}
