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
