//! What the binary's end-to-end tests share: running `tracehound` on a data dir.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `tracehound --data-dir DATA ARGS…` and returns what it did, failed or not.
pub(crate) fn tracehound(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracehound"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

/// `out`, after checking the command succeeded (else fails with its stderr).
pub(crate) fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "tracehound failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Labels `address` of `chain` as an exchange's deposit address: a service the watch and
/// trace tests expect taint to reach.
pub(crate) fn label_exchange(data_dir: &Path, chain: &str, address: &str) {
    ok(tracehound(
        data_dir,
        &[
            "labels",
            "add",
            address,
            "--chain",
            chain,
            "--label",
            "Exchange X deposit",
            "--category",
            "exchange",
            "--analyst",
            "ana",
        ],
    ));
}

/// Subscribes a webhook at `url` signed with `secret`, to alerts of `kinds` (all if empty).
pub(crate) fn subscribe(data_dir: &Path, url: &str, secret: &str, kinds: &[&str]) {
    let mut args = vec!["subscription", "add", "--url", url, "--secret", secret];
    for kind in kinds {
        args.extend(["--kind", kind]);
    }
    ok(tracehound(data_dir, &args));
}

/// The small two-chain heist the end-to-end tests share, written by the simulator's files mode
/// under a work dir: seed 9, 300 UTXO blocks of ~20 txs among 200 users, 160 EVM blocks of ~40
/// txs. Nothing is ingested yet ([`SimFiles::ingest_utxo`], [`SimFiles::import_evm`]).
pub(crate) struct SimFiles {
    /// The blk files (`blocks/`) and the EVM transfer list.
    pub(crate) files: std::path::PathBuf,
    /// Truths and labels: `truth.json`, `labels.csv`, and `evm/` for the EVM side.
    pub(crate) truth: std::path::PathBuf,
    /// The data dir.
    pub(crate) data: std::path::PathBuf,
    /// `sim run --json`'s report.
    pub(crate) report: serde_json::Value,
}

impl SimFiles {
    /// Generates the scenario under `work`.
    pub(crate) fn generate(work: &Path) -> SimFiles {
        let (files, truth, data) = (work.join("files"), work.join("truth"), work.join("store"));
        let out = ok(tracehound(
            &data,
            &[
                "--json",
                "sim",
                "run",
                "--to-files",
                files.to_str().unwrap(),
                "--out",
                truth.to_str().unwrap(),
                "--blocks",
                "300",
                "--txs-per-block",
                "20",
                "--users",
                "200",
                "--evm-blocks",
                "160",
                "--evm-txs-per-block",
                "40",
                "--seed",
                "9",
            ],
        ));
        SimFiles {
            files,
            truth,
            data,
            report: serde_json::from_slice(&out.stdout).unwrap(),
        }
    }

    /// The EVM side's transfer list.
    pub(crate) fn transfers_csv(&self) -> String {
        self.report["evm"]["transfers_csv"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Ingests the UTXO side's blk files.
    pub(crate) fn ingest_utxo(&self) {
        let blocks = self.files.join("blocks");
        ok(tracehound(
            &self.data,
            &[
                "ingest",
                "btc",
                "--network",
                "litecoin-regtest",
                "--blocks-dir",
                blocks.to_str().unwrap(),
            ],
        ));
    }

    /// Imports the EVM side's transfer list.
    pub(crate) fn import_evm(&self) {
        ok(tracehound(
            &self.data,
            &["import", "transfers", &self.transfers_csv()],
        ));
    }
}

/// Stdout of a command that succeeded, as text.
pub(crate) fn ok_text(out: Output) -> String {
    String::from_utf8(ok(out).stdout).unwrap()
}

/// Base units from JSON (a decimal string, or a number).
pub(crate) fn units(v: &serde_json::Value) -> u128 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    }
}

/// Per asset id of the simulator's truth (`eth`, `susd`, `ltc`): (stolen at the truth's
/// resting places, of which a trace (`trace --json` output) put there).
pub(crate) fn located(
    truth: &serde_json::Value,
    trace: &serde_json::Value,
) -> std::collections::BTreeMap<String, (u128, u128)> {
    let asset_of: std::collections::BTreeMap<String, String> = truth["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let ours = match a["contract"].as_str() {
                Some(c) => c.to_ascii_lowercase(),
                None => "native".into(),
            };
            (a["id"].as_str().unwrap().to_string(), ours)
        })
        .collect();
    let mut found: std::collections::BTreeMap<(String, String), u128> =
        std::collections::BTreeMap::new();
    let mut fees: std::collections::BTreeMap<String, u128> = std::collections::BTreeMap::new();
    for e in trace["endpoints"].as_array().unwrap() {
        let amount = units(&e["amount"]);
        let asset = e["asset"].as_str().unwrap().to_ascii_lowercase();
        if e["stop"] == "fee" {
            *fees
                .entry(format!("{}/{asset}", e["chain"].as_str().unwrap()))
                .or_default() += amount;
        } else {
            *found
                .entry((e["address"].as_str().unwrap().to_ascii_lowercase(), asset))
                .or_default() += amount;
        }
    }
    let mut out: std::collections::BTreeMap<String, (u128, u128)> =
        std::collections::BTreeMap::new();
    for r in truth["resting"].as_array().unwrap() {
        let id = r["asset"].as_str().unwrap();
        let asset = asset_of[id].clone();
        let stolen = units(&r["stolen"]);
        let chain = if id == "ltc" {
            "litecoin-regtest"
        } else {
            "evm-31337"
        };
        let here = match r["address"].as_str() {
            None => fees.get(&format!("{chain}/{asset}")).copied().unwrap_or(0),
            Some(a) => found
                .get(&(a.to_ascii_lowercase(), asset.clone()))
                .copied()
                .unwrap_or(0),
        };
        let e = out.entry(id.to_string()).or_default();
        e.0 += stolen;
        e.1 += stolen.min(here);
    }
    out
}
