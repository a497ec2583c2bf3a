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
