//! A thin, typed client for Bitcoin Core's JSON-RPC, and for the nodes that speak it
//! (Litecoin Core, …).
//!
//! - Plain HTTP with basic auth: a user and password, or the node's cookie file (re-read when
//!   the node answers 401, since a restarted node writes a new cookie).
//! - Retries with exponential backoff what may pass by itself: transport errors (refused,
//!   reset, timed out), HTTP 5xx answers without a JSON-RPC error, and error -28 (the node is
//!   warming up). Real RPC errors (-5 block not found, -8 out of range, …) and 401 are returned
//!   at once.
//! - Batches: [`RpcClient::call_batch`] sends one JSON array and returns the answers in
//!   request order, matched by id.
//! - Coin values are read exactly from the number's text (`serde_json`'s
//!   `arbitrary_precision`), never through a float.
//! - An answer of the wrong shape is an [`RpcError::Malformed`] naming the call and what was
//!   wrong, never a panic.
//!
//! ```no_run
//! use tracehound_btc::rpc::{RpcAuth, RpcClient, RpcOptions};
//! let client = RpcClient::new(
//!     "http://127.0.0.1:9332",
//!     RpcAuth::CookieFile("/home/me/.litecoin/.cookie".into()),
//!     RpcOptions::default(),
//! );
//! let tip = client.get_blockchain_info()?.best_block_hash;
//! let block = client.get_block_verbose(&tip)?;
//! println!("{} txs at height {}", block.tx.len(), block.height);
//! # Ok::<(), tracehound_btc::rpc::RpcError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tracehound_core::{Amount, Hash32};

/// Decimal places of a coin value in RPC answers (satoshi, litoshi).
const COIN_DECIMALS: u8 = 8;
/// Most of an error answer's body read (for its excerpt or its JSON-RPC error).
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// Heights asked per batch by [`RpcClient::get_block_hashes`].
const HASH_BATCH: usize = 1000;
/// Node error code: the node is still starting (loading the block index, verifying blocks).
const RPC_IN_WARMUP: i64 = -28;

/// How the client proves itself to the node.
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuth {
    /// No `Authorization` header (a proxy in front of the node adds it, or the URL carries it).
    None,
    /// `-rpcuser`/`-rpcpassword` or `-rpcauth` credentials.
    UserPass {
        /// The RPC user.
        user: String,
        /// Its password.
        password: String,
    },
    /// The node's `.cookie` file (`user:password`, rewritten at each node start).
    CookieFile(PathBuf),
}

impl fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcAuth::None => f.write_str("None"),
            RpcAuth::UserPass { user, .. } => f
                .debug_struct("UserPass")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            RpcAuth::CookieFile(path) => f.debug_tuple("CookieFile").field(path).finish(),
        }
    }
}

/// Timeouts and retry policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcOptions {
    /// Longest wait to connect, and for each read or write on the connection (so a large
    /// answer that keeps streaming is not cut off).
    pub timeout: Duration,
    /// How many times a call is tried again after a transient failure (0: once only).
    pub retries: u32,
    /// Wait before the first retry; doubled at each further one.
    pub backoff_initial: Duration,
    /// Longest wait between two tries.
    pub backoff_max: Duration,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            timeout: Duration::from_secs(30),
            retries: 5,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Why a call failed. Every error names the node's URL (without a password) and the call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The node could not be reached, or the connection broke.
    #[error("cannot reach the node at {url} for {}: {cause} (is the node running at {url}?)", call(.method, .target))]
    Transport {
        /// The node's URL, without credentials.
        url: String,
        /// The RPC method.
        method: String,
        /// What the call was about (a block hash, a height), when known.
        target: Option<String>,
        /// What went wrong on the connection.
        cause: String,
    },
    /// The cookie file could not be read.
    #[error("cannot read the rpc cookie file {} for {} at {url}: {cause} (is the node running with that datadir?)", .path.display(), call(.method, .target))]
    Cookie {
        /// The node's URL, without credentials.
        url: String,
        /// The RPC method.
        method: String,
        /// What the call was about, when known.
        target: Option<String>,
        /// The cookie file's path.
        path: PathBuf,
        /// Why it could not be read.
        cause: String,
    },
    /// The node refused the credentials (HTTP 401).
    #[error("{} at {url}: unauthorized (http 401): check the cookie file, or the rpc user and password", call(.method, .target))]
    Unauthorized {
        /// The node's URL, without credentials.
        url: String,
        /// The RPC method.
        method: String,
        /// What the call was about, when known.
        target: Option<String>,
    },
    /// An HTTP error status without a JSON-RPC error in the body.
    #[error("{} at {url}: http status {status}: {body:?}", call(.method, .target))]
    Http {
        /// The node's URL, without credentials.
        url: String,
        /// The RPC method.
        method: String,
        /// What the call was about, when known.
        target: Option<String>,
        /// The HTTP status code.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{} at {url}: node error {code}: {message}", call(.method, .target))]
    Rpc {
        /// The node's URL, without credentials.
        url: String,
        /// The RPC method.
        method: String,
        /// What the call was about, when known.
        target: Option<String>,
        /// The node's error code (-5 not found, -8 invalid parameter, -28 warming up, …).
        code: i64,
        /// The node's error message.
        message: String,
    },
    /// The answer is not what the call returns: not JSON, a missing field, a wrong type.
    #[error("malformed answer to {} at {url}: {reason}", call(.method, .target))]
    Malformed {
        /// The node's URL, without credentials.
        url: String,
        /// The RPC method.
        method: String,
        /// What the call was about, when known.
        target: Option<String>,
        /// What was wrong with it.
        reason: String,
    },
}

/// `getblock` or `getblock for 00ab…`.
fn call(method: &str, target: &Option<String>) -> String {
    match target {
        Some(t) => format!("{method} for {t}"),
        None => method.to_string(),
    }
}

impl RpcError {
    /// The node's URL (without credentials).
    pub fn url(&self) -> &str {
        match self {
            RpcError::Transport { url, .. }
            | RpcError::Cookie { url, .. }
            | RpcError::Unauthorized { url, .. }
            | RpcError::Http { url, .. }
            | RpcError::Rpc { url, .. }
            | RpcError::Malformed { url, .. } => url,
        }
    }

    /// The RPC method of the failed call.
    pub fn method(&self) -> &str {
        match self {
            RpcError::Transport { method, .. }
            | RpcError::Cookie { method, .. }
            | RpcError::Unauthorized { method, .. }
            | RpcError::Http { method, .. }
            | RpcError::Rpc { method, .. }
            | RpcError::Malformed { method, .. } => method,
        }
    }

    /// The node's error code, for an [`RpcError::Rpc`].
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            RpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// `getblockchaininfo`: where the node's chain stands.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BlockchainInfo {
    /// `main`, `test`, `regtest`, `signet`.
    pub chain: String,
    /// Height of the best validated block.
    pub blocks: u32,
    /// Height of the best known header.
    pub headers: u32,
    /// Hash of the best validated block.
    #[serde(rename = "bestblockhash")]
    pub best_block_hash: Hash32,
    /// Median time of the last 11 blocks, seconds since the Unix epoch.
    #[serde(rename = "mediantime")]
    pub median_time: u64,
    /// The node's estimate of how much of the chain it has verified (0 to 1).
    #[serde(rename = "verificationprogress")]
    pub verification_progress: f64,
    /// Whether the node is still in its initial block download.
    #[serde(rename = "initialblockdownload")]
    pub initial_block_download: bool,
    /// Whether old blocks are pruned away.
    pub pruned: bool,
    /// Cumulative work of the best chain (64 hex digits, big-endian).
    #[serde(default)]
    pub chainwork: Option<Hash32>,
    /// The lowest height whose block is still stored, on a pruned node.
    #[serde(rename = "pruneheight", default)]
    pub prune_height: Option<u32>,
    /// Soft forks by name (before Core 23; later nodes list them in `getdeploymentinfo`).
    #[serde(default)]
    pub softforks: BTreeMap<String, Softfork>,
}

/// A soft fork's state, from `getblockchaininfo`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Softfork {
    /// `buried` or `bip9`.
    pub r#type: String,
    /// Whether its rules apply to the next block.
    pub active: bool,
    /// The height from which its rules apply, once known.
    #[serde(default)]
    pub height: Option<u32>,
}

/// `getblock` at verbosity 2 (or 3): a block with its decoded transactions.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RpcBlock {
    /// The block's hash.
    pub hash: Hash32,
    /// Its height.
    pub height: u32,
    /// The parent's hash (`None` for genesis).
    #[serde(rename = "previousblockhash", default)]
    pub previous_block_hash: Option<Hash32>,
    /// Block timestamp, seconds since the Unix epoch.
    pub time: u64,
    /// Cumulative work of the chain up to this block (64 hex digits, big-endian).
    #[serde(default)]
    pub chainwork: Option<Hash32>,
    /// The header's merkle root (every node sends it; checked against the decoded txids).
    #[serde(rename = "merkleroot", default)]
    pub merkle_root: Option<Hash32>,
    /// Confirmations on the node's best chain; -1 for a block off it.
    pub confirmations: i64,
    /// Transactions in block order.
    pub tx: Vec<RpcTx>,
}

/// A transaction in a verbose block.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RpcTx {
    /// The transaction id (witness excluded).
    pub txid: Hash32,
    /// The witness hash (equal to `txid` without witness).
    pub hash: Hash32,
    /// The raw transaction, hex.
    pub hex: String,
    /// Inputs, in order.
    pub vin: Vec<RpcVin>,
    /// Outputs, in order.
    pub vout: Vec<RpcVout>,
}

/// A transaction input.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RpcVin {
    /// The coinbase script, hex (coinbase inputs only).
    #[serde(default)]
    pub coinbase: Option<String>,
    /// The id of the tx whose output is spent (not for coinbases).
    #[serde(default)]
    pub txid: Option<Hash32>,
    /// The index of the spent output (not for coinbases).
    #[serde(default)]
    pub vout: Option<u32>,
    /// The input's sequence number.
    pub sequence: u32,
    /// The spent output, at verbosity 3 (Core 23+).
    #[serde(default)]
    pub prevout: Option<RpcPrevout>,
}

/// The output an input spends, as `getblock` verbosity 3 tells it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RpcPrevout {
    /// Whether it was created by a coinbase.
    pub generated: bool,
    /// Height of the block that created it.
    pub height: u32,
    /// Its value, exact.
    #[serde(deserialize_with = "exact_coin_value")]
    pub value: Amount,
    /// Its script.
    #[serde(rename = "scriptPubKey")]
    pub script_pub_key: RpcScriptPubKey,
}

/// A transaction output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RpcVout {
    /// Its value in base units, read exactly from the node's decimal text.
    #[serde(deserialize_with = "exact_coin_value")]
    pub value: Amount,
    /// Its index in the transaction.
    pub n: u32,
    /// Its script.
    #[serde(rename = "scriptPubKey")]
    pub script_pub_key: RpcScriptPubKey,
}

/// An output script as the node describes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "ScriptPubKeyAnswer")]
pub struct RpcScriptPubKey {
    /// The script, hex.
    pub hex: String,
    /// The node's name for its template (`pubkeyhash`, `witness_v0_keyhash`,
    /// `witness_mweb_hogaddr`, …).
    pub r#type: String,
    /// The address it pays: Core 22+'s `address`, or the single entry of older nodes'
    /// `addresses` (`None` where those list several, as for bare multisig).
    pub address: Option<String>,
}

/// The script object as sent: `address` (Core 22+) or `addresses` (before).
#[derive(Deserialize)]
struct ScriptPubKeyAnswer {
    hex: String,
    r#type: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    addresses: Vec<String>,
}

impl From<ScriptPubKeyAnswer> for RpcScriptPubKey {
    fn from(a: ScriptPubKeyAnswer) -> Self {
        let address = match (a.address, <[String; 1]>::try_from(a.addresses)) {
            (Some(address), _) => Some(address),
            (None, Ok([single])) => Some(single),
            (None, Err(_)) => None,
        };
        RpcScriptPubKey {
            hex: a.hex,
            r#type: a.r#type,
            address,
        }
    }
}

/// Reads a coin value such as `0.00012345` into base units from the number's own text.
fn exact_coin_value<'de, D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    Amount::from_decimal_str(number.as_str(), COIN_DECIMALS).map_err(serde::de::Error::custom)
}

/// The JSON-RPC answer envelope.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default)]
    error: Option<NodeError>,
    #[serde(default)]
    id: Option<u64>,
}

/// A JSON-RPC error object.
#[derive(Deserialize)]
struct NodeError {
    code: i64,
    message: String,
}

/// A thin typed JSON-RPC client. Cheap to clone (clones share the connection pool); usable
/// from several threads.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where requests go (may carry credentials).
    request_url: String,
    /// The URL as shown in errors and logs.
    url: String,
    auth: RpcAuth,
    options: RpcOptions,
    agent: ureq::Agent,
    /// `Basic …` header for [`RpcAuth::UserPass`], or the cookie file's last reading.
    auth_header: Mutex<Option<String>>,
    next_id: AtomicU64,
}

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.inner.url)
            .field("auth", &self.inner.auth)
            .field("options", &self.inner.options)
            .finish()
    }
}

/// Which call an attempt belongs to, for errors and logs.
struct Site<'a> {
    url: &'a str,
    method: &'a str,
    target: Option<String>,
}

impl Site<'_> {
    fn transport(&self, cause: String) -> RpcError {
        RpcError::Transport {
            url: self.url.into(),
            method: self.method.into(),
            target: self.target.clone(),
            cause,
        }
    }

    fn malformed(&self, reason: String) -> RpcError {
        RpcError::Malformed {
            url: self.url.into(),
            method: self.method.into(),
            target: self.target.clone(),
            reason,
        }
    }

    fn rpc(&self, error: NodeError) -> Failure {
        let retry = error.code == RPC_IN_WARMUP;
        let error = RpcError::Rpc {
            url: self.url.into(),
            method: self.method.into(),
            target: self.target.clone(),
            code: error.code,
            message: error.message,
        };
        Failure::new(error, retry)
    }

    fn with_target(&self, target: String) -> Site<'_> {
        Site {
            url: self.url,
            method: self.method,
            target: Some(target),
        }
    }
}

/// A failed attempt, and whether trying again may help.
struct Failure {
    /// Boxed: a `Result<_, Failure>` stays small on the happy path.
    error: Box<RpcError>,
    retry: bool,
    unauthorized: bool,
}

impl Failure {
    fn new(error: RpcError, retry: bool) -> Failure {
        Failure {
            unauthorized: matches!(error, RpcError::Unauthorized { .. }),
            error: Box::new(error),
            retry,
        }
    }

    fn fatal(error: RpcError) -> Failure {
        Failure::new(error, false)
    }

    fn transient(error: RpcError) -> Failure {
        Failure::new(error, true)
    }
}

impl RpcClient {
    /// A client of the node at `url` (`http://host:port`, or `…/wallet/<name>` for wallet calls).
    pub fn new(url: impl Into<String>, auth: RpcAuth, options: RpcOptions) -> RpcClient {
        let url = url.into();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.timeout)
            .timeout_read(options.timeout)
            .timeout_write(options.timeout)
            .build();
        let auth_header = match &auth {
            RpcAuth::UserPass { user, password } => Some(basic_auth(&format!("{user}:{password}"))),
            RpcAuth::None | RpcAuth::CookieFile(_) => None,
        };
        RpcClient {
            inner: Arc::new(Inner {
                url: redact_url(&url),
                request_url: url,
                auth,
                options,
                agent,
                auth_header: Mutex::new(auth_header),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The node's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Calls `method` with `params` (a JSON array, or an object of named parameters) and reads
    /// the result as `T`.
    ///
    /// A call that fails in transit is sent again (see [`RpcOptions`]); for calls with side
    /// effects (`sendtoaddress`) use a client with `retries: 0` if running twice would matter.
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, RpcError> {
        self.call_about(method, params, None)
    }

    /// Calls `method` once per entry of `params` in one HTTP request (a JSON-RPC batch), and
    /// returns the results in the order of `params`. Any item's error fails the whole batch.
    pub fn call_batch<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<Vec<T>, RpcError> {
        let n = params.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let count = u64::try_from(n).unwrap_or(u64::MAX);
        let first_id = self.inner.next_id.fetch_add(count, Ordering::Relaxed);
        let requests: Vec<Value> = params
            .iter()
            .zip(first_id..)
            .map(|(p, id)| json!({"jsonrpc": "1.0", "id": id, "method": method, "params": p}))
            .collect();
        let body = Value::Array(requests).to_string();
        let site = Site {
            url: &self.inner.url,
            method,
            target: Some(format!("a batch of {n}")),
        };
        self.send(&site, body.as_bytes(), |answer| {
            decode_batch(&site, answer, first_id, &params)
        })
    }

    /// `getblockchaininfo`.
    pub fn get_blockchain_info(&self) -> Result<BlockchainInfo, RpcError> {
        self.call("getblockchaininfo", json!([]))
    }

    /// `getblockcount`: the height of the best validated block.
    pub fn get_block_count(&self) -> Result<u32, RpcError> {
        self.call("getblockcount", json!([]))
    }

    /// `getbestblockhash`.
    pub fn get_best_block_hash(&self) -> Result<Hash32, RpcError> {
        self.call("getbestblockhash", json!([]))
    }

    /// `getblockhash`: the hash of the best chain's block at `height`.
    pub fn get_block_hash(&self, height: u32) -> Result<Hash32, RpcError> {
        self.call_about(
            "getblockhash",
            json!([height]),
            Some(format!("height {height}")),
        )
    }

    /// The best chain's block hashes at `heights`, in order, asked in batches.
    pub fn get_block_hashes(&self, heights: Range<u32>) -> Result<Vec<Hash32>, RpcError> {
        let params: Vec<Value> = heights.map(|h| json!([h])).collect();
        let mut hashes = Vec::with_capacity(params.len());
        for chunk in params.chunks(HASH_BATCH) {
            hashes.extend(self.call_batch::<Hash32>("getblockhash", chunk.to_vec())?);
        }
        Ok(hashes)
    }

    /// `getblock <hash> 0`: the block's raw bytes as stored on disk.
    pub fn get_block_raw(&self, hash: &Hash32) -> Result<Vec<u8>, RpcError> {
        let target = hash.to_string();
        let hex_text: String =
            self.call_about("getblock", json!([target, 0]), Some(target.clone()))?;
        hex::decode(&hex_text).map_err(|e| {
            let site = Site {
                url: &self.inner.url,
                method: "getblock",
                target: Some(target),
            };
            site.malformed(format!("expected the block as hex, got invalid hex: {e}"))
        })
    }

    /// `getblock <hash> 2`: the block with its decoded transactions.
    pub fn get_block_verbose(&self, hash: &Hash32) -> Result<RpcBlock, RpcError> {
        let target = hash.to_string();
        self.call_about("getblock", json!([target, 2]), Some(target.clone()))
    }

    /// `getblock <hash> 3`: the block with each input's spent output (Bitcoin Core 23+).
    ///
    /// `Ok(None)` when the node does not offer it: it rejects verbosity 3, or answers without
    /// prevouts (Litecoin Core 0.21 answers as for verbosity 2). Callers then fall back to
    /// [`RpcClient::get_block_verbose`] and resolve prevouts themselves. A block of only a
    /// coinbase has no prevouts to show, so it is returned as is.
    pub fn get_block_verbose3(&self, hash: &Hash32) -> Result<Option<RpcBlock>, RpcError> {
        let target = hash.to_string();
        let block: RpcBlock =
            match self.call_about("getblock", json!([target, 3]), Some(target.clone())) {
                Ok(block) => block,
                // RPC_INVALID_PARAMETER / RPC_TYPE_ERROR: verbosity out of range on this node.
                Err(RpcError::Rpc { code: -8 | -3, .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
        let complete = block
            .tx
            .iter()
            .flat_map(|tx| &tx.vin)
            .all(|vin| vin.coinbase.is_some() || vin.prevout.is_some());
        Ok(complete.then_some(block))
    }

    fn call_about<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        target: Option<String>,
    ) -> Result<T, RpcError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body =
            json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params}).to_string();
        let site = Site {
            url: &self.inner.url,
            method,
            target,
        };
        self.send(&site, body.as_bytes(), |answer| {
            decode_single(&site, answer)
        })
    }

    /// Posts `body` and decodes the answer, trying again while the failure is transient.
    fn send<R>(
        &self,
        site: &Site<'_>,
        body: &[u8],
        decode: impl Fn(&[u8]) -> Result<R, Failure>,
    ) -> Result<R, RpcError> {
        let options = &self.inner.options;
        let mut retried = 0u32;
        let mut cookie_reloaded = false;
        loop {
            let outcome = self
                .auth_header(site, false)
                .and_then(|auth| self.post(site, body, auth.as_deref()))
                .and_then(|answer| decode(&answer));
            let failure = match outcome {
                Ok(result) => return Ok(result),
                Err(failure) => failure,
            };
            if failure.unauthorized && !cookie_reloaded && self.cookie_changed(site) {
                cookie_reloaded = true;
                tracing::debug!(
                    url = site.url,
                    method = site.method,
                    "401: the cookie file changed, trying with the new one"
                );
                continue;
            }
            if !failure.retry || retried >= options.retries {
                return Err(*failure.error);
            }
            let delay = backoff(options, retried);
            tracing::debug!(
                url = site.url,
                method = site.method,
                retry = retried + 1,
                of = options.retries,
                delay_ms = delay.as_millis(),
                error = %failure.error,
                "rpc call failed, retrying"
            );
            std::thread::sleep(delay);
            retried += 1;
        }
    }

    /// The `Authorization` header to send; reads the cookie file on first use (or when
    /// `reload`).
    fn auth_header(&self, site: &Site<'_>, reload: bool) -> Result<Option<String>, Failure> {
        let mut cached = self
            .inner
            .auth_header
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let RpcAuth::CookieFile(path) = &self.inner.auth else {
            return Ok(cached.clone());
        };
        if cached.is_none() || reload {
            let cookie_error = |cause: String, retry: bool| {
                let error = RpcError::Cookie {
                    url: site.url.into(),
                    method: site.method.into(),
                    target: site.target.clone(),
                    path: path.clone(),
                    cause,
                };
                Failure::new(error, retry)
            };
            // A missing cookie is transient: the node deletes it on shutdown and writes a new
            // one at start.
            let text = std::fs::read_to_string(path).map_err(|e| {
                cookie_error(e.to_string(), e.kind() == std::io::ErrorKind::NotFound)
            })?;
            let text = text.trim();
            if !text.contains(':') {
                return Err(cookie_error("it does not hold user:password".into(), false));
            }
            *cached = Some(basic_auth(text));
        }
        Ok(cached.clone())
    }

    /// After a 401: re-reads the cookie file and tells whether it changed.
    fn cookie_changed(&self, site: &Site<'_>) -> bool {
        if !matches!(self.inner.auth, RpcAuth::CookieFile(_)) {
            return false;
        }
        let before = self
            .inner
            .auth_header
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match self.auth_header(site, true) {
            Ok(after) => after != before,
            Err(_) => false,
        }
    }

    /// One HTTP exchange: the answer's body on a 2xx status, or a classified failure.
    fn post(&self, site: &Site<'_>, body: &[u8], auth: Option<&str>) -> Result<Vec<u8>, Failure> {
        let mut request = self
            .inner
            .agent
            .post(&self.inner.request_url)
            .set("Content-Type", "application/json");
        if let Some(auth) = auth {
            request = request.set("Authorization", auth);
        }
        match request.send_bytes(body) {
            Ok(response) => {
                let mut answer = Vec::new();
                response
                    .into_reader()
                    .read_to_end(&mut answer)
                    .map_err(|e| {
                        Failure::transient(site.transport(format!("reading the answer: {e}")))
                    })?;
                Ok(answer)
            }
            Err(ureq::Error::Status(401, _)) => Err(Failure::fatal(RpcError::Unauthorized {
                url: site.url.into(),
                method: site.method.into(),
                target: site.target.clone(),
            })),
            Err(ureq::Error::Status(status, response)) => {
                let mut answer = Vec::new();
                // The body is only for the error message: a broken read leaves it short.
                let _ = response
                    .into_reader()
                    .take(MAX_ERROR_BODY)
                    .read_to_end(&mut answer);
                // Core answers RPC errors with 500 (404 for an unknown method) and the error
                // in the body.
                if let Ok(Envelope::<IgnoredAny> {
                    error: Some(error), ..
                }) = serde_json::from_slice(&answer)
                {
                    return Err(site.rpc(error));
                }
                let error = RpcError::Http {
                    url: site.url.into(),
                    method: site.method.into(),
                    target: site.target.clone(),
                    status,
                    body: excerpt(&answer, 0, 300),
                };
                Err(Failure::new(error, status >= 500))
            }
            Err(ureq::Error::Transport(transport)) => {
                use ureq::ErrorKind as K;
                let retry = matches!(transport.kind(), K::ConnectionFailed | K::Io | K::Dns);
                Err(Failure::new(
                    site.transport(describe_transport(&transport)),
                    retry,
                ))
            }
        }
    }
}

/// Decodes a single call's answer.
fn decode_single<T: DeserializeOwned>(site: &Site<'_>, answer: &[u8]) -> Result<T, Failure> {
    let envelope: Envelope<T> = serde_json::from_slice(answer)
        .map_err(|e| Failure::fatal(malformed_json(site, &e, answer)))?;
    // serde also reads a struct from a JSON array (`[]` would pass as an empty envelope).
    if answer.trim_ascii_start().first() != Some(&b'{') {
        let got = excerpt(answer.trim_ascii_start(), 0, 80);
        return Err(Failure::fatal(site.malformed(format!(
            "expected a json-rpc answer object, got {got}"
        ))));
    }
    if let Some(error) = envelope.error {
        return Err(site.rpc(error));
    }
    take_result(site, envelope.result)
}

/// The result, or what `T` makes of `null` (a call that returns nothing).
fn take_result<T: DeserializeOwned>(site: &Site<'_>, result: Option<T>) -> Result<T, Failure> {
    match result {
        Some(result) => Ok(result),
        None => serde_json::from_value(Value::Null).map_err(|_| {
            Failure::fatal(
                site.malformed("the result is null or missing, and no error is given".into()),
            )
        }),
    }
}

/// Decodes a batch answer into results in request order, matched by id.
fn decode_batch<T: DeserializeOwned>(
    site: &Site<'_>,
    answer: &[u8],
    first_id: u64,
    params: &[Value],
) -> Result<Vec<T>, Failure> {
    let n = params.len();
    let items: Vec<Envelope<T>> = match serde_json::from_slice(answer) {
        Ok(items) => items,
        Err(e) => {
            // The node may answer a whole batch with one error object.
            if let Ok(Envelope::<IgnoredAny> {
                error: Some(error), ..
            }) = serde_json::from_slice(answer)
            {
                return Err(site.rpc(error));
            }
            return Err(Failure::fatal(malformed_json(site, &e, answer)));
        }
    };
    let mut slots: Vec<Option<T>> = std::iter::repeat_with(|| None).take(n).collect();
    for item in items {
        let Some(id) = item.id else {
            return Err(Failure::fatal(
                site.malformed("an item of the batch answer has no id".into()),
            ));
        };
        let index = id
            .checked_sub(first_id)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| i < n);
        let Some((index, slot)) = index.and_then(|i| slots.get_mut(i).map(|slot| (i, slot))) else {
            return Err(Failure::fatal(site.malformed(format!(
                "the batch answer has id {id}, which was not asked"
            ))));
        };
        if slot.is_some() {
            return Err(Failure::fatal(
                site.malformed(format!("the batch answer has id {id} twice")),
            ));
        }
        let params_text = params.get(index).map(Value::to_string).unwrap_or_default();
        let item_site =
            site.with_target(format!("item {} of {n} (params {params_text})", index + 1));
        if let Some(error) = item.error {
            return Err(item_site.rpc(error));
        }
        *slot = Some(take_result(&item_site, item.result)?);
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            slot.ok_or_else(|| {
                let id = first_id.saturating_add(u64::try_from(i).unwrap_or(u64::MAX));
                Failure::fatal(site.malformed(format!(
                    "the batch answer has no item with id {id} (item {} of {n})",
                    i + 1
                )))
            })
        })
        .collect()
}

/// A JSON error with the text around where it happened.
fn malformed_json(site: &Site<'_>, error: &serde_json::Error, answer: &[u8]) -> RpcError {
    let near = if answer.is_empty() {
        " (the answer is empty)".to_string()
    } else if error.line() == 1 {
        // Core answers on one line: show what is around the column.
        format!(
            " near {}",
            excerpt(answer, error.column().saturating_sub(60), 80)
        )
    } else {
        format!(" (answer starts {})", excerpt(answer, 0, 80))
    };
    site.malformed(format!("{error}{near}"))
}

/// Up to `len` bytes of `bytes` from `start`, as quoted printable text.
fn excerpt(bytes: &[u8], start: usize, len: usize) -> String {
    let end = start.saturating_add(len).min(bytes.len());
    let part = bytes.get(start.min(end)..end).unwrap_or_default();
    let text: String = String::from_utf8_lossy(part)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let more = if end < bytes.len() { "…" } else { "" };
    let less = if start > 0 { "…" } else { "" };
    format!("{less}{text}{more}")
}

/// What went wrong on the connection, without the URL (which may carry credentials).
fn describe_transport(transport: &ureq::Transport) -> String {
    let mut text = transport.kind().to_string().to_lowercase();
    if let Some(message) = transport.message() {
        text.push_str(": ");
        text.push_str(message);
    }
    let mut source = std::error::Error::source(transport);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The wait before retry number `retried` (from 0): doubling from `backoff_initial` up to
/// `backoff_max`, less up to a quarter at random so that clients do not retry in step.
fn backoff(options: &RpcOptions, retried: u32) -> Duration {
    let factor = 1u32.checked_shl(retried.min(16)).unwrap_or(u32::MAX);
    let full = options
        .backoff_initial
        .saturating_mul(factor)
        .min(options.backoff_max);
    full.mul_f64(1.0 - fastrand::f64() / 4.0)
}

fn basic_auth(user_colon_password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_colon_password)
    )
}

/// `url` without a `user:password@` part.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vout(value_text: &str) -> Result<RpcVout, serde_json::Error> {
        serde_json::from_str(&format!(
            r#"{{"value":{value_text},"n":0,"scriptPubKey":{{"hex":"51","type":"nonstandard"}}}}"#
        ))
    }

    #[test]
    fn coin_values_are_read_exactly() {
        assert_eq!(
            vout("20999999.97690000").unwrap().value.units(),
            2_099_999_997_690_000
        );
        assert_eq!(vout("0.00012345").unwrap().value.units(), 12_345);
        assert_eq!(vout("0.00000001").unwrap().value.units(), 1);
        assert_eq!(vout("12.500157").unwrap().value.units(), 1_250_015_700);
        assert_eq!(vout("0.0").unwrap().value.units(), 0);
        assert_eq!(vout("50").unwrap().value.units(), 5_000_000_000);
        // A value a float cannot hold exactly.
        assert_eq!(
            vout("92233720.36854775").unwrap().value.units(),
            9_223_372_036_854_775
        );
        for bad in ["-1.0", "0.000000001", "1e-8", "\"1.0\""] {
            let e = vout(bad).unwrap_err().to_string();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn values_are_exact_through_a_value_too() {
        let v: Value = serde_json::from_str(
            r#"{"value":0.29999999,"n":3,"scriptPubKey":{"hex":"","type":"nulldata"}}"#,
        )
        .unwrap();
        let out: RpcVout = serde_json::from_value(v).unwrap();
        assert_eq!(out.value.units(), 29_999_999);
        assert_eq!(out.n, 3);
    }

    #[test]
    fn script_address_from_either_form() {
        let one: RpcScriptPubKey =
            serde_json::from_str(r#"{"hex":"00","type":"witness_v0_keyhash","address":"bc1q"}"#)
                .unwrap();
        assert_eq!(one.address.as_deref(), Some("bc1q"));
        let old: RpcScriptPubKey = serde_json::from_str(
            r#"{"hex":"00","type":"pubkeyhash","reqSigs":1,"addresses":["L1"]}"#,
        )
        .unwrap();
        assert_eq!(old.address.as_deref(), Some("L1"));
        let multi: RpcScriptPubKey =
            serde_json::from_str(r#"{"hex":"00","type":"multisig","addresses":["a","b"]}"#)
                .unwrap();
        assert_eq!(multi.address, None);
        assert_eq!(multi.r#type, "multisig");
    }

    #[test]
    fn verbose_block_shape() {
        let text = r#"{"hash":"00000000000000000000000000000000000000000000000000000000000000ab","confirmations":-1,
            "height":7,"time":1700000000,"tx":[{"txid":"00000000000000000000000000000000000000000000000000000000000000cd",
            "hash":"00000000000000000000000000000000000000000000000000000000000000cd","hex":"02",
            "vin":[{"coinbase":"0101","sequence":4294967295}],"vout":[]}]}"#;
        let b: RpcBlock = serde_json::from_str(text).unwrap();
        assert_eq!(b.previous_block_hash, None);
        assert_eq!(b.confirmations, -1);
        assert!(b.tx[0].vin[0].coinbase.is_some() && b.tx[0].vin[0].txid.is_none());
        assert!(b.hash.to_string().ends_with("ab"));
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redact_url("http://u:p@127.0.0.1:8332/wallet/a@b"),
            "http://127.0.0.1:8332/wallet/a@b"
        );
        assert_eq!(redact_url("http://127.0.0.1:8332"), "http://127.0.0.1:8332");
        assert_eq!(redact_url("u:p@host:1"), "host:1");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = RpcOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            ..RpcOptions::default()
        };
        let d0 = backoff(&o, 0);
        assert!(
            d0 <= Duration::from_millis(100) && d0 >= Duration::from_millis(75),
            "{d0:?}"
        );
        let d2 = backoff(&o, 2);
        assert!(
            d2 <= Duration::from_millis(400) && d2 >= Duration::from_millis(300),
            "{d2:?}"
        );
        assert!(backoff(&o, 40) <= Duration::from_secs(1));
    }

    #[test]
    fn excerpts_stay_in_bounds() {
        assert_eq!(excerpt(b"abc", 10, 5), "…");
        assert_eq!(excerpt(b"a\nbc", 0, 2), "a …");
        assert_eq!(excerpt(b"", 0, 5), "");
    }

    #[test]
    fn auth_debug_hides_the_password() {
        let a = RpcAuth::UserPass {
            user: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{a:?}").contains("secret"));
        let c = RpcClient::new("http://u:secret@127.0.0.1:1", a, RpcOptions::default());
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.url(), "http://127.0.0.1:1");
    }
}
