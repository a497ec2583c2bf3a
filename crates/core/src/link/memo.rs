//! THORChain-style memos (`SWAP:`/`=:`/`s:` inbound, `OUT:`/`REFUND:` outbound), as found in
//! UTXO `OP_RETURN` outputs and EVM calldata or router events.
//!
//! A memo is `FUNCTION:PARAM1:PARAM2:…`; the function is case-insensitive and has short forms
//! (`=` and `s` for `SWAP`, `+` and `a` for `ADD`, `-` and `wd` for `WITHDRAW`, …). Only what a
//! trace needs is read in full: swaps (where the value is to come out, and the least amount
//! accepted), and the outbound `OUT:`/`REFUND:` memos naming the inbound tx. Other valid
//! functions (liquidity, savers, loans, bonds, names, …) are recognised as such, so that they
//! are not mistaken for swaps nor reported as malformed.
//!
//! Written from THORChain's published memo documentation (dev.thorchain.org: "Transaction
//! Memos", "Memo Length Reduction", "Asset Notation"); the tests hold real mainnet memos.
#![deny(clippy::indexing_slicing)]

/// Longest memo THORChain accepts, in bytes (it ignores inbound txs with longer memos).
pub const MAX_LEN: usize = 250;

/// A parsed memo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Memo {
    /// An inbound swap: send the value, swapped, to `destination` on `chain`.
    Swap {
        /// Chain of the asset out (`BTC`, `ETH`, `LTC`, …), upper case. For synthetic, trade
        /// and secured assets (`BTC/BTC`, `BTC~BTC`, `BTC-BTC`) this is still the asset's own
        /// chain; they are paid out on THORChain (see [`Memo::payout_chain`]).
        chain: String,
        /// The asset out (`LTC.LTC`, `ETH.USDT-0x…`), as the memo writes it, shorthands
        /// (`e`, `b`, …) expanded.
        asset: String,
        /// Payee on that chain (an address or a THORName), as written.
        destination: String,
        /// The least amount out accepted (THORChain's 1e8 units), if given; exact, scientific
        /// forms (`161e6`) expanded.
        limit: Option<u128>,
        /// Where a refund goes, if the memo names one (`DEST/REFUND`).
        refund_address: Option<String>,
        /// Streaming parameters (`LIM/INTERVAL/QUANTITY`), if given.
        streaming: Option<Streaming>,
        /// Affiliates and their fees (`:AFFILIATE:FEE`, several joined by `/`).
        affiliates: Vec<Affiliate>,
        /// Parameters past the affiliate fee (DEX aggregator, target token, its limit), as
        /// written; empty if none.
        aggregator: Vec<String>,
    },
    /// An outbound payment for inbound tx `reference`.
    Out {
        /// The inbound tx hash (as written: upper-case hex, no `0x`).
        reference: String,
    },
    /// A refund of inbound tx `reference`.
    Refund {
        /// The inbound tx hash.
        reference: String,
    },
    /// Adding liquidity (`ADD:`/`+:`/`a:`), savers deposits included (`+:BTC/BTC`): value
    /// goes into a pool, nothing is to come out elsewhere.
    Add {
        /// The pool (`BTC.BTC`, or `BTC/BTC` for savers), shorthands expanded.
        pool: String,
        /// The paired address on the other side, if given.
        paired: Option<String>,
    },
    /// Withdrawing liquidity (`WITHDRAW:`/`-:`/`wd:`); the inbound value is a dust request.
    Withdraw {
        /// The pool, shorthands expanded.
        pool: String,
        /// Share withdrawn, basis points (10000 = all), if given.
        basis_points: Option<u32>,
    },
    /// Any other valid THORChain function (loans, bonds, THORNames, donations, migrations,
    /// trade and secured accounts, …): not a swap, not an outbound payment.
    Other {
        /// The function, canonical upper-case name (`LOAN+`, `BOND`, `DONATE`, …).
        function: String,
        /// Its parameters, as written.
        params: Vec<String>,
    },
}

/// A streaming swap's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streaming {
    /// Blocks between sub-swaps.
    pub interval: u64,
    /// Number of sub-swaps (0: the network chooses), if given.
    pub quantity: Option<u64>,
}

/// An affiliate of a swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affiliate {
    /// THORName or THOR address.
    pub name: String,
    /// Fee in basis points, if given.
    pub bps: Option<u32>,
}

impl Memo {
    /// The chain a swap pays out on: the asset's chain for layer-1 assets (`ETH.ETH`),
    /// `THOR` for synthetic, trade, secured and derived assets (held on THORChain itself).
    pub fn payout_chain(&self) -> Option<&str> {
        let Memo::Swap { chain, asset, .. } = self else {
            return None;
        };
        match asset.find(['.', '/', '~', '-']) {
            Some(i) if asset.get(i..=i) == Some(".") => Some(chain),
            _ => Some("THOR"),
        }
    }
}

/// Why a memo was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("memo {memo:?}: {reason}")]
pub struct MemoError {
    /// The memo (shortened if long).
    pub memo: String,
    /// What is wrong.
    pub reason: String,
}

/// Start of the reason of a memo whose function is not THORChain's (most `OP_RETURN` data is
/// not a memo at all; see [`MemoError::is_unknown_function`]).
const UNKNOWN_FUNCTION: &str = "unknown function";

impl MemoError {
    fn new(memo: &str, reason: impl Into<String>) -> Self {
        MemoError {
            memo: memo.chars().take(80).collect(),
            reason: reason.into(),
        }
    }

    /// Whether the text is no THORChain memo at all (empty, not text, or an unknown
    /// function), as opposed to a memo of a known function that is malformed.
    pub fn is_unknown_function(&self) -> bool {
        self.reason.starts_with(UNKNOWN_FUNCTION)
            || self.reason == "empty"
            || self.reason.starts_with("not ASCII")
    }
}

/// The functions THORChain knows, by every name it accepts (compared case-insensitively).
/// Functions read in full map to their variant; the rest become [`Memo::Other`].
const FUNCTIONS: &[(&[&str], &str)] = &[
    (&["swap", "s", "="], "SWAP"),
    (&["out"], "OUT"),
    (&["refund"], "REFUND"),
    (&["add", "a", "+"], "ADD"),
    (&["withdraw", "wd", "-"], "WITHDRAW"),
    (&["donate", "d", "%"], "DONATE"),
    (&["reserve"], "RESERVE"),
    (&["bond"], "BOND"),
    (&["unbond"], "UNBOND"),
    (&["leave"], "LEAVE"),
    (&["migrate"], "MIGRATE"),
    (&["ragnarok"], "RAGNAROK"),
    (&["noop"], "NOOP"),
    (&["consolidate"], "CONSOLIDATE"),
    (&["name", "n", "~"], "NAME"),
    (&["loan+", "$+"], "LOAN+"),
    (&["loan-", "$-"], "LOAN-"),
    (&["trade+"], "TRADE+"),
    (&["trade-"], "TRADE-"),
    (&["secure+"], "SECURE+"),
    (&["secure-"], "SECURE-"),
    (&["pool+"], "POOL+"),
    (&["pool-"], "POOL-"),
    (&["reference", "r"], "REFERENCE"),
    (&["=<"], "LIMIT"),
];

/// THORChain's shortened names of native assets (its "Shortened Asset Names" table).
const SHORTHANDS: &[(&str, &str)] = &[
    ("a", "AVAX.AVAX"),
    ("b", "BTC.BTC"),
    ("c", "BCH.BCH"),
    ("d", "DOGE.DOGE"),
    ("e", "ETH.ETH"),
    ("g", "GAIA.ATOM"),
    ("l", "LTC.LTC"),
    ("n", "BNB.BNB"),
    ("r", "THOR.RUNE"),
    ("s", "BSC.BNB"),
];

/// Parses a memo.
pub fn parse(text: &str) -> Result<Memo, MemoError> {
    let err = |reason: &str| MemoError::new(text, reason);
    if text.len() > MAX_LEN {
        return Err(err(&format!(
            "too long: {} bytes, THORChain reads at most {MAX_LEN}",
            text.len()
        )));
    }
    if !text.is_ascii() {
        return Err(err("not ASCII"));
    }
    // OP_RETURN payloads are sometimes padded; THORChain trims whitespace too.
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0');
    if trimmed.is_empty() {
        return Err(err("empty"));
    }
    // `|` starts data passed through to the outbound tx: not part of the parameters.
    let body = trimmed.split_once('|').map_or(trimmed, |(b, _)| b);
    let mut parts = body.split(':');
    let head = parts.next().unwrap_or_default();
    let params: Vec<&str> = parts.collect();
    let Some(function) = FUNCTIONS
        .iter()
        .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(head)))
        .map(|(_, f)| *f)
    else {
        return Err(err(&format!("{UNKNOWN_FUNCTION} {head:?}")));
    };
    let param = |i: usize| params.get(i).map(|p| p.trim()).unwrap_or_default();
    match function {
        "SWAP" => swap(text, &params),
        "OUT" | "REFUND" => {
            let reference = reference(param(0)).map_err(|r| err(&r))?;
            Ok(if function == "OUT" {
                Memo::Out { reference }
            } else {
                Memo::Refund { reference }
            })
        }
        "ADD" => {
            let pool = asset(param(0)).map_err(|r| err(&format!("pool: {r}")))?;
            Ok(Memo::Add {
                pool,
                paired: Some(param(1)).filter(|p| !p.is_empty()).map(str::to_string),
            })
        }
        "WITHDRAW" => {
            let pool = asset(param(0)).map_err(|r| err(&format!("pool: {r}")))?;
            let bp = param(1);
            let basis_points = if bp.is_empty() {
                None
            } else {
                match bp.parse::<u32>() {
                    Ok(v) if v <= 10_000 => Some(v),
                    _ => return Err(err(&format!("bad basis points {bp:?} (0 to 10000)"))),
                }
            };
            Ok(Memo::Withdraw { pool, basis_points })
        }
        other => Ok(Memo::Other {
            function: other.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

/// `SWAP:ASSET:DESTADDR:LIM/INTERVAL/QUANTITY:AFFILIATE:FEE[:AGGREGATOR:TARGET:TARGETLIM]`.
fn swap(text: &str, params: &[&str]) -> Result<Memo, MemoError> {
    let err = |reason: String| MemoError::new(text, reason);
    // Bitcoin Cash's CashAddr has a `prefix:` of its own, which the split took apart.
    let mut params = params.to_vec();
    let joined;
    if let (Some(prefix), Some(rest)) = (params.get(1), params.get(2))
        && ["bitcoincash", "bchtest", "bchreg"]
            .iter()
            .any(|p| p.eq_ignore_ascii_case(prefix.trim()))
    {
        joined = format!("{}:{}", prefix.trim(), rest.trim());
        params.splice(1..3, [joined.as_str()]);
    }
    let params = params.as_slice();
    let param = |i: usize| params.get(i).map(|p| p.trim()).unwrap_or_default();
    let asset = asset(param(0)).map_err(|r| err(format!("asset: {r}")))?;
    let chain = asset
        .split(['.', '/', '~', '-'])
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    // An empty destination means "back to the sender", which only THORChain's own accounts
    // can be for a cross-chain swap; a tracer cannot say where the value goes.
    let (destination, refund_address) = match param(1).split_once('/') {
        Some((d, r)) => (d.trim(), Some(r.trim()).filter(|r| !r.is_empty())),
        None => (param(1), None),
    };
    if destination.is_empty() {
        return Err(err("missing destination".into()));
    }
    if let Some(c) = destination
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
    {
        return Err(err(format!("destination has {c:?}")));
    }
    let mut lim = param(2).split('/');
    let limit = match lim.next().unwrap_or_default().trim() {
        "" => None,
        l => Some(amount(l).map_err(|r| err(format!("limit: {r}")))?),
    };
    let streaming = match lim.next() {
        None => None,
        Some(interval) => {
            let interval = interval
                .trim()
                .parse::<u64>()
                .map_err(|_| err(format!("bad streaming interval {interval:?}")))?;
            let quantity = match lim.next().map(str::trim) {
                None | Some("") => None,
                Some(q) => Some(
                    q.parse::<u64>()
                        .map_err(|_| err(format!("bad streaming quantity {q:?}")))?,
                ),
            };
            if lim.next().is_some() {
                return Err(err("limit: more than LIM/INTERVAL/QUANTITY".into()));
            }
            Some(Streaming { interval, quantity })
        }
    };
    let names: Vec<&str> = match param(3) {
        "" => Vec::new(),
        a => a.split('/').map(str::trim).collect(),
    };
    let fees: Vec<u32> = match param(4) {
        "" => Vec::new(),
        f => f
            .split('/')
            .map(|f| {
                f.trim()
                    .parse::<u32>()
                    .map_err(|_| err(format!("bad affiliate fee {f:?}")))
            })
            .collect::<Result<_, _>>()?,
    };
    if fees.len() > names.len().max(1) || (names.is_empty() && !fees.is_empty()) {
        return Err(err(format!(
            "{} affiliate fees for {} affiliates",
            fees.len(),
            names.len()
        )));
    }
    // One fee for several affiliates applies to each; otherwise fees pair with names.
    let affiliates = names
        .iter()
        .enumerate()
        .map(|(i, n)| Affiliate {
            name: n.to_string(),
            bps: if fees.len() == 1 {
                fees.first().copied()
            } else {
                fees.get(i).copied()
            },
        })
        .collect();
    let aggregator = params
        .iter()
        .skip(5)
        .map(|p| p.trim().to_string())
        .collect::<Vec<_>>();
    let aggregator = if aggregator.iter().all(String::is_empty) {
        Vec::new()
    } else {
        aggregator
    };
    Ok(Memo::Swap {
        chain,
        asset,
        destination: destination.to_string(),
        limit,
        refund_address: refund_address.map(str::to_string),
        streaming,
        affiliates,
        aggregator,
    })
}

/// An asset as a memo writes it, shorthands expanded; the reason if it is no asset.
fn asset(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("missing".into());
    }
    if let Some((_, full)) = SHORTHANDS
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(text))
    {
        return Ok((*full).to_string());
    }
    let Some(sep) = text.find(['.', '/', '~', '-']) else {
        return Err(format!("{text:?} has no chain (CHAIN.ASSET)"));
    };
    let (chain, rest) = text.split_at(sep);
    let symbol = rest.get(1..).unwrap_or_default();
    if chain.is_empty() || !chain.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("bad chain in {text:?}"));
    }
    if symbol.is_empty()
        || !symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(format!("bad symbol in {text:?}"));
    }
    Ok(text.to_string())
}

/// An amount: digits, or THORChain's scientific form (`161e6`, `1.5e8`), exact; the reason if
/// it is none.
fn amount(text: &str) -> Result<u128, String> {
    let bad = || format!("{text:?} is not an amount");
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<u32>().map_err(|_| bad())?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return Err(bad());
    }
    let frac = frac.trim_end_matches('0');
    let shift = u32::try_from(frac.len())
        .ok()
        .and_then(|f| exp.checked_sub(f))
        .ok_or_else(|| format!("{text:?} is not a whole number"))?;
    let digits = format!("{int}{frac}");
    let too_big = || format!("{text:?} is too large");
    let base: u128 = digits.parse().map_err(|_| too_big())?;
    10u128
        .checked_pow(shift)
        .and_then(|p| base.checked_mul(p))
        .ok_or_else(too_big)
}

/// An inbound tx hash: hex, 64 digits, optionally `0x`-prefixed; kept as written (no `0x`).
fn reference(text: &str) -> Result<String, String> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if hex.is_empty() {
        return Err("missing tx hash".into());
    }
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("bad tx hash {text:?} (64 hex digits)"));
    }
    Ok(hex.to_string())
}

#[cfg(test)]
mod tests;
