//! A real `litecoind -regtest` for tests: a fresh temporary datadir, free ports, no network,
//! a wallet, and a stop (or kill) when dropped.
//!
//! ```no_run
//! use tracehound_btc::testnode::Litecoind;
//! let node = Litecoind::start()?;
//! let hashes = node.mine(101)?;
//! let addr = node.new_address("bech32")?;
//! let txid = node.send(&addr, "1.5")?;
//! node.mine(1)?;
//! let block = node.client().get_block_verbose(&node.client().get_best_block_hash()?)?;
//! assert!(block.tx.iter().any(|tx| tx.txid == txid));
//! # let _ = hashes;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The node offers both ways in: the `user:password` of [`Litecoind::credentials`] (given as
//! `-rpcauth`, so the node still writes its cookie) and the cookie file of
//! [`Litecoind::cookie_file`].
//!
//! The binary is `$LITECOIND_EXE`, else `litecoind` on `PATH`, else `/usr/bin/litecoind`
//! (Debian's `litecoind` package, Litecoin Core 0.21). On Litecoin regtest, MWEB activates at
//! height 432 ([`Litecoind::activate_mweb`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bitcoin::hashes::{Hash, HashEngine, hmac, sha256};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracehound_core::Hash32;

use crate::rpc::{RpcAuth, RpcClient, RpcError, RpcOptions};

/// The wallet every test node creates and uses.
pub const WALLET: &str = "tracehound";
/// How long [`Litecoind::start`] waits for the RPC to answer.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
/// How long a dropped node may take to stop before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// Log lines quoted when the node fails to start.
const LOG_TAIL_LINES: usize = 30;

/// Why the test node could not be started or set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestNodeError {
    /// No `litecoind` binary was found.
    #[error(
        "litecoind not found: set LITECOIND_EXE, put litecoind on PATH, or install it (debian package litecoind)"
    )]
    NotFound,
    /// A file or port for the node could not be prepared.
    #[error("cannot prepare the litecoind test node: {what}: {source}")]
    Setup {
        /// What was being prepared.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The process could not be started.
    #[error("cannot start {}: {source}", .exe.display())]
    Spawn {
        /// The binary.
        exe: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The process ended before its RPC answered.
    #[error("litecoind exited ({status}) before its rpc answered; the end of its logs:\n{logs}")]
    Exited {
        /// How it ended.
        status: String,
        /// The end of its stderr and debug.log.
        logs: String,
    },
    /// The RPC did not answer in time.
    #[error("litecoind did not answer rpc within {} s ({last_error}); the end of its logs:\n{logs}", .waited.as_secs())]
    Timeout {
        /// How long it was given.
        waited: Duration,
        /// The last error of the RPC probe.
        last_error: String,
        /// The end of its stderr and debug.log.
        logs: String,
    },
    /// MWEB did not activate after mining.
    #[error(
        "mweb is not active at height {height} on this node (is it Litecoin Core 0.21.2 or later?)"
    )]
    MwebInactive {
        /// The height reached.
        height: u32,
    },
    /// An RPC call of the setup failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// A running `litecoind -regtest` in a temporary datadir, stopped when dropped.
#[derive(Debug)]
pub struct Litecoind {
    child: Child,
    client: RpcClient,
    rpc_url: String,
    user: String,
    password: String,
    datadir: tempfile::TempDir,
}

impl Litecoind {
    /// Starts a node with a fresh datadir and a wallet named [`WALLET`], and waits until its
    /// RPC answers.
    pub fn start() -> Result<Litecoind, TestNodeError> {
        Litecoind::start_with_args(&[])
    }

    /// Like [`Litecoind::start`], with extra `litecoind` arguments (`-prune=…`, `-txindex=1`,
    /// …; a later argument overrides an earlier one).
    pub fn start_with_args(extra_args: &[&str]) -> Result<Litecoind, TestNodeError> {
        let exe = find_exe().ok_or(TestNodeError::NotFound)?;
        let setup = |what: &str| {
            let what = what.to_string();
            move |source| TestNodeError::Setup { what, source }
        };
        let datadir = tempfile::Builder::new()
            .prefix("tracehound-litecoind-")
            .tempdir()
            .map_err(setup("temporary datadir"))?;
        let [rpc_port, p2p_port] = free_ports().map_err(setup("free ports"))?;
        let user = "tracehound".to_string();
        let password = random_text(24);
        let salt = random_text(16);
        let stdout =
            File::create(datadir.path().join("stdout.log")).map_err(setup("stdout.log"))?;
        let stderr =
            File::create(datadir.path().join("stderr.log")).map_err(setup("stderr.log"))?;

        let mut command = Command::new(&exe);
        command
            .arg("-regtest")
            .arg(format!("-datadir={}", datadir.path().display()))
            .args([
                "-server=1",
                "-listen=0",
                "-connect=0",
                "-dnsseed=0",
                "-listenonion=0",
                "-discover=0",
            ])
            .args([
                "-txindex=0",
                "-fallbackfee=0.0002",
                "-printtoconsole=0",
                "-daemon=0",
            ])
            .arg(format!("-port={p2p_port}"))
            .arg(format!("-rpcport={rpc_port}"))
            .args(["-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1"])
            .arg(format!(
                "-rpcauth={user}:{salt}${}",
                rpcauth_hash(&salt, &password)
            ))
            // Litecoin Core 0.21 waits at shutdown until idle keep-alive connections time out
            // (30 s by default); a client's pooled connection would hold `stop` that long.
            // Only idle connections are closed: a long call still gets its answer.
            .arg("-rpcservertimeout=1")
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = command.spawn().map_err(|source| TestNodeError::Spawn {
            exe: exe.clone(),
            source,
        })?;

        let rpc_url = format!("http://127.0.0.1:{rpc_port}");
        let client = RpcClient::new(
            rpc_url.clone(),
            RpcAuth::UserPass {
                user: user.clone(),
                password: password.clone(),
            },
            RpcOptions::default(),
        );
        // From here on, dropping `node` stops the process.
        let mut node = Litecoind {
            child,
            client,
            rpc_url,
            user,
            password,
            datadir,
        };
        node.wait_ready()?;
        node.client.call::<Value>("createwallet", json!([WALLET]))?;
        Ok(node)
    }

    /// A client that fails fast (5 s, no retries): for probing start-up and asking to stop.
    fn quick_client(&self) -> RpcClient {
        RpcClient::new(
            self.rpc_url.clone(),
            RpcAuth::UserPass {
                user: self.user.clone(),
                password: self.password.clone(),
            },
            RpcOptions {
                timeout: Duration::from_secs(5),
                retries: 0,
                ..RpcOptions::default()
            },
        )
    }

    /// Polls `getblockchaininfo` until it answers, the process dies or the deadline passes.
    fn wait_ready(&mut self) -> Result<(), TestNodeError> {
        let probe = self.quick_client();
        let started = Instant::now();
        loop {
            let last_error = match probe.get_blockchain_info() {
                Ok(_) => return Ok(()),
                Err(
                    e @ (RpcError::Transport { .. }
                    | RpcError::Http { .. }
                    | RpcError::Rpc { code: -28, .. }),
                ) => e,
                Err(e) => return Err(e.into()),
            };
            let exited = self
                .child
                .try_wait()
                .map_err(|source| TestNodeError::Setup {
                    what: "waiting for litecoind".into(),
                    source,
                })?;
            if let Some(status) = exited {
                return Err(TestNodeError::Exited {
                    status: status.to_string(),
                    logs: self.log_tail(),
                });
            }
            if started.elapsed() > STARTUP_DEADLINE {
                return Err(TestNodeError::Timeout {
                    waited: STARTUP_DEADLINE,
                    last_error: last_error.to_string(),
                    logs: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A client of the node (user and password auth, default options).
    pub fn client(&self) -> RpcClient {
        self.client.clone()
    }

    /// The node's RPC URL (`http://127.0.0.1:<port>`).
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The RPC user and password the node accepts.
    pub fn credentials(&self) -> (&str, &str) {
        (&self.user, &self.password)
    }

    /// The node's cookie file (`<datadir>/regtest/.cookie`).
    pub fn cookie_file(&self) -> PathBuf {
        self.network_dir().join(".cookie")
    }

    /// The datadir given to `-datadir`.
    pub fn datadir(&self) -> &Path {
        self.datadir.path()
    }

    /// The regtest directory inside the datadir (`debug.log`, `blocks/`, `wallets/`).
    pub fn network_dir(&self) -> PathBuf {
        self.datadir.path().join("regtest")
    }

    /// Where the node writes `blk*.dat` and `rev*.dat`.
    pub fn blocks_dir(&self) -> PathBuf {
        self.network_dir().join("blocks")
    }

    /// Raw passthrough to any RPC method.
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        self.client.call(method, params)
    }

    /// Mines `n` blocks paying a fresh wallet address; returns their hashes in order.
    pub fn mine(&self, n: u32) -> Result<Vec<Hash32>, RpcError> {
        let address = self.new_address("bech32")?;
        self.client.call("generatetoaddress", json!([n, address]))
    }

    /// A fresh wallet address of `kind`: `legacy`, `p2sh-segwit`, `bech32`, or on Litecoin
    /// `mweb` (usable once MWEB is active, see [`Litecoind::activate_mweb`]).
    pub fn new_address(&self, kind: &str) -> Result<String, RpcError> {
        self.client.call("getnewaddress", json!(["", kind]))
    }

    /// Sends `amount` (decimal coins, such as `"1.2345678"`; passed as text, so exactly) from
    /// the wallet to `address`; returns the txid.
    pub fn send(&self, address: &str, amount: &str) -> Result<Hash32, RpcError> {
        self.client.call("sendtoaddress", json!([address, amount]))
    }

    /// `invalidateblock`: marks the block and its descendants invalid (a reorg for tests).
    pub fn invalidate(&self, hash: &Hash32) -> Result<(), RpcError> {
        self.client
            .call("invalidateblock", json!([hash.to_string()]))
    }

    /// `reconsiderblock`: undoes [`Litecoind::invalidate`].
    pub fn reconsider(&self, hash: &Hash32) -> Result<(), RpcError> {
        self.client
            .call("reconsiderblock", json!([hash.to_string()]))
    }

    /// Mines until MWEB is active for the next block, and returns its activation height
    /// (432 on Litecoin regtest). The first block with MWEB rules needs a peg-in: send to an
    /// `mweb` address before mining it.
    pub fn activate_mweb(&self) -> Result<u32, TestNodeError> {
        // BIP9 on regtest: 144-block periods, so activation takes at most a few of them.
        for _ in 0..8 {
            let info = self.client.get_blockchain_info()?;
            match info.softforks.get("mweb") {
                Some(fork) if fork.active => return Ok(fork.height.unwrap_or(info.blocks + 1)),
                Some(_) => {}
                None => {
                    return Err(TestNodeError::MwebInactive {
                        height: info.blocks,
                    });
                }
            }
            // Stop one short of a period's end: the block after it may need a peg-in.
            let next_boundary = (info.blocks / 144 + 1) * 144;
            self.mine((next_boundary - 1).saturating_sub(info.blocks).max(1))?;
        }
        let height = self.client.get_block_count()?;
        Err(TestNodeError::MwebInactive { height })
    }

    /// The end of the node's stderr and `debug.log`.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        for path in [
            self.datadir.path().join("stderr.log"),
            self.network_dir().join("debug.log"),
        ] {
            let tail =
                tail_lines(&path, LOG_TAIL_LINES).unwrap_or_else(|e| format!("(cannot read: {e})"));
            if !tail.trim().is_empty() {
                text.push_str(&format!("--- {}\n{tail}\n", path.display()));
            }
        }
        text
    }
}

impl Drop for Litecoind {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let quick = self.quick_client();
        if let Err(e) = quick.call::<Value>("stop", json!([])) {
            tracing::debug!(error = %e, "stop rpc failed; killing litecoind");
        } else {
            let deadline = Instant::now() + STOP_DEADLINE;
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            tracing::debug!("litecoind did not stop in time; killing it");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$LITECOIND_EXE`, else `litecoind` on `PATH`, else `/usr/bin/litecoind`.
fn find_exe() -> Option<PathBuf> {
    if let Some(exe) = std::env::var_os("LITECOIND_EXE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(exe));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("litecoind"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/litecoind")).filter(|p| p.is_file()))
}

/// Two distinct free ports on 127.0.0.1 (both held open until both are known).
fn free_ports() -> std::io::Result<[u16; 2]> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok([a.local_addr()?.port(), b.local_addr()?.port()])
}

fn random_text(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect()
}

/// The `<hash>` of `-rpcauth=<user>:<salt>$<hash>`: HMAC-SHA256 of the password keyed by the
/// salt, hex (as Core's `share/rpcauth` computes it).
fn rpcauth_hash(salt: &str, password: &str) -> String {
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(salt.as_bytes());
    engine.input(password.as_bytes());
    hmac::Hmac::<sha256::Hash>::from_engine(engine).to_string()
}

/// The last `lines` lines of a text file (reading at most its last 64 KiB).
fn tail_lines(path: &Path, lines: usize) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    Ok(all.into_iter().skip(skip).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpcauth_hash_matches_cores_script() {
        // HMAC-SHA256(key = "salt", message = "password"), as share/rpcauth/rpcauth.py computes.
        assert_eq!(
            rpcauth_hash("salt", "password"),
            "84ec44c7d6fc41917953a1dafca3c7d7856f7a9d0328b991b76f0d36be1224b9"
        );
    }
}
