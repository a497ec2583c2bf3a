//! Where the real-data fixtures live, for tests and benchmarks of every crate.
//!
//! The project's mainnet fixtures sit in `../shared/data` beside the repository (see its
//! README); `TRACEHOUND_SHARED_DATA` points elsewhere.

use std::path::{Path, PathBuf};

/// The path of `rel` inside the shared data folder. Panics with a hint if it is missing: a test
/// on real data must fail loudly, never pass by skipping.
pub fn shared_data(rel: &str) -> PathBuf {
    let root = std::env::var_os("TRACEHOUND_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = root.join(rel);
    assert!(
        path.exists(),
        "fixture {} is missing: set TRACEHOUND_SHARED_DATA to the shared data folder",
        path.display()
    );
    path
}
