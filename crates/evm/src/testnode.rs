//! A real `anvil` (Foundry's dev node) for tests: a free port, a temporary state directory,
//! ten funded and unlocked accounts, killed when dropped.
//!
//! ```no_run
//! use tracehound_evm::testnode::Anvil;
//! let node = Anvil::start()?;
//! let accounts: Vec<String> = node.rpc("eth_accounts", serde_json::json!([]))?;
//! let tx: String = node.rpc(
//!     "eth_sendTransaction",
//!     serde_json::json!([{"from": accounts[0], "to": accounts[1], "value": "0x1"}]),
//! )?;
//! let receipt = node.wait_receipt(&tx)?;
//! # let _ = receipt;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The binary is `$ANVIL_BIN`, else the one `scripts/install-anvil` put under
//! `$TRACEHOUND_TOOLS` (default `<repo>/.tools`), else `anvil` on `PATH`.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How long [`Anvil::start`] waits for the RPC to answer.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long [`Anvil::wait_receipt`] polls.
const RECEIPT_DEADLINE: Duration = Duration::from_secs(30);
/// Where the install script puts the npm package's binary, under the tools directory.
const PACKAGE_BIN: &str = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// Why the test node could not be started or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestNodeError {
    /// No `anvil` binary was found.
    #[error("anvil not found: run scripts/install-anvil, or set ANVIL_BIN")]
    NotFound,
    /// A file or port for the node could not be prepared, or it could not be started.
    #[error("cannot start anvil: {what}: {source}")]
    Setup {
        /// What was being prepared.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The node did not come up.
    #[error("anvil did not answer within {} s ({why}); its output:\n{logs}", .waited.as_secs())]
    Startup {
        /// How long it was given.
        waited: Duration,
        /// What went wrong last.
        why: String,
        /// Its stdout and stderr.
        logs: String,
    },
    /// A call failed.
    #[error("anvil {method}: {detail}")]
    Rpc {
        /// The method.
        method: String,
        /// What went wrong.
        detail: String,
    },
}

/// A running `anvil`, killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
}

/// The binary tests use: `$ANVIL_BIN`, the installed package, or `anvil` on `PATH`.
pub fn find_anvil() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("ANVIL_BIN") {
        return Some(PathBuf::from(bin));
    }
    let tools = std::env::var_os("TRACEHOUND_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools"));
    let installed = tools.join(PACKAGE_BIN);
    if installed.is_file() {
        return Some(installed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("anvil"))
            .find(|p| p.is_file())
    })
}

impl Anvil {
    /// Starts anvil with chain id 31337, automining, on a free port.
    pub fn start() -> Result<Anvil, TestNodeError> {
        Anvil::start_with_args(&[])
    }

    /// Like [`Anvil::start`], with extra arguments (`--chain-id`, `--hardfork`, …).
    pub fn start_with_args(extra_args: &[&str]) -> Result<Anvil, TestNodeError> {
        let exe = find_anvil().ok_or(TestNodeError::NotFound)?;
        let setup = |what: &str| {
            let what = what.to_string();
            move |source| TestNodeError::Setup { what, source }
        };
        let dir = tempfile::Builder::new()
            .prefix("tracehound-anvil-")
            .tempdir()
            .map_err(setup("temporary directory"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(setup("free port"))?
            .port();
        let log = File::create(dir.path().join("anvil.log")).map_err(setup("anvil.log"))?;
        let log2 = log.try_clone().map_err(setup("anvil.log"))?;
        let child = Command::new(&exe)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--state")
            .arg(dir.path().join("state.json"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(setup(&format!("spawning {}", exe.display())))?;
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let mut node = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
            agent,
        };
        node.wait_ready()?;
        Ok(node)
    }

    fn wait_ready(&mut self) -> Result<(), TestNodeError> {
        let start = Instant::now();
        loop {
            let why = match self.rpc::<Value>("eth_chainId", json!([])) {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || start.elapsed() > STARTUP_DEADLINE {
                return Err(TestNodeError::Startup {
                    waited: start.elapsed(),
                    why: match exited {
                        Some(status) => format!("exited with {status}"),
                        None => why,
                    },
                    logs: self.logs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The node's output so far.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.dir.path().join("anvil.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and reads its result.
    pub fn rpc<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, TestNodeError> {
        let err = |detail: String| TestNodeError::Rpc {
            method: method.to_string(),
            detail,
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer: Value = match self.agent.post(&self.url).send_json(body) {
            Ok(r) => r.into_json().map_err(|e| err(e.to_string()))?,
            Err(ureq::Error::Status(_, r)) => r.into_json().map_err(|e| err(e.to_string()))?,
            Err(e) => return Err(err(e.to_string())),
        };
        if let Some(e) = answer.get("error") {
            return Err(err(e.to_string()));
        }
        let result = answer.get("result").cloned().unwrap_or(Value::Null);
        serde_json::from_value(result).map_err(|e| err(format!("unexpected answer: {e}")))
    }

    /// Polls for a tx's receipt (it may not exist right after sending) and returns it.
    pub fn wait_receipt(&self, tx: &str) -> Result<Value, TestNodeError> {
        let start = Instant::now();
        loop {
            let receipt: Value = self.rpc("eth_getTransactionReceipt", json!([tx]))?;
            if !receipt.is_null() {
                return Ok(receipt);
            }
            if start.elapsed() > RECEIPT_DEADLINE {
                return Err(TestNodeError::Rpc {
                    method: "eth_getTransactionReceipt".into(),
                    detail: format!("no receipt for {tx} after {} s", RECEIPT_DEADLINE.as_secs()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
