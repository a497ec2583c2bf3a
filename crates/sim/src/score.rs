//! Scoring a result against the ground truth (`tracehound sim score`): how much of the stolen
//! value a trace put where the truth says it rests, and how much of what it claims is right.
//!
//! # Matching
//!
//! A truth resting place and a result endpoint are the same place when their **keys** are
//! equal: (chain, address, asset), normalised as follows.
//!
//! - **chain**: a tracehound chain name. The truth's places carry no chain; it follows from
//!   the asset: LTC is on the truth's `utxo_chain`, ether and the stablecoin on `evm-<chain_id>`.
//! - **asset**: `native` for a chain's own coin, else the token contract in lowercase `0x` hex
//!   (the truth's `assets[].contract`), as `tracehound trace` writes it.
//! - **address**: `0x…` addresses compare in lowercase (EIP-55 casing is not part of the
//!   address); others (bech32, base58) exactly. Fees have no address: the truth's `fee` places
//!   and the result's endpoints with `stop = "fee"` all key on the address `fee`, per chain and
//!   asset, so fees are scored as one place per chain and asset.
//!
//! Several truth places or result endpoints with the same key are summed first (a trace may
//! end at one address through several outputs); a key's kind is that of its largest truth
//! place.
//!
//! # Figures
//!
//! With `T(k)` the stolen amount the truth puts at key `k`, `R(k)` the amount the result puts
//! there and `M(k) = min(T(k), R(k))` the part of it that is right:
//!
//! - **value recall** = Σ M / Σ T, **value precision** = Σ M / Σ R (exact integers, shown as
//!   a ratio);
//! - **count recall** = (Σ over truth places of M/T) / number of truth places: a place found
//!   with its full amount (or more) counts 1, a place found with part of its amount counts by
//!   that part, a place missed 0; **count precision** = (Σ over result places of M/R) / number
//!   of result places, alike.
//!
//! Per resting-place kind, recall is over that kind's truth places; precision over the result
//! places that match them (so it measures the amounts there). Result places the truth does not
//! know are listed as `unmatched` and lower the overall precision only.
//!
//! # Result files
//!
//! [`ResultFile::parse`] tells the kind of result by its top-level shape, so that clusterings
//! and detector outputs can be added as new variants later; today a trace result (an object
//! with an `endpoints` array, as `tracehound trace --json` prints) is the one kind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::plan::Asset;
use crate::truth::{GroundTruth, RestingKind};

/// The address fees are keyed on (they have none).
pub const FEE_ADDRESS: &str = "fee";

/// Why a score could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what it should be; `field` names the place in it.
    #[error("{path}: {field}: {detail}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The field (a JSON path such as `endpoints[3].amount`), or `(file)`.
        field: String,
        /// What is wrong.
        detail: String,
    },
}

/// One place a result says stolen value rests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Chain name.
    pub chain: String,
    /// Address (`fee` for fees).
    pub address: String,
    /// `native` or the token contract.
    pub asset: String,
    /// Base units.
    #[serde(serialize_with = "dec")]
    pub amount: u128,
}

/// A result to score.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultFile {
    /// A trace (`tracehound trace --json`): where the stolen value went.
    Trace {
        /// The endpoints.
        endpoints: Vec<Found>,
        /// Whether the amounts are exposure (poison), not value.
        exposure: bool,
    },
}

impl ResultFile {
    /// Reads a result file (JSON).
    pub fn read(path: &Path) -> Result<ResultFile, ScoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScoreError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ResultFile::parse(&text, path)
    }

    /// Parses a result; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ResultFile, ScoreError> {
        let bad = |field: &str, detail: String| ScoreError::Malformed {
            path: path.to_path_buf(),
            field: field.to_string(),
            detail,
        };
        let v: Value =
            serde_json::from_str(text).map_err(|e| bad("(file)", format!("not JSON: {e}")))?;
        let Some(obj) = v.as_object() else {
            return Err(bad("(file)", "expected a JSON object".into()));
        };
        // New kinds of results (clusters, detections) get their own top-level key here.
        let Some(endpoints) = obj.get("endpoints") else {
            return Err(bad(
                "(file)",
                "not a result tracehound can score: expected a trace result (an object with an `endpoints` array, as `tracehound trace --json` prints)".into(),
            ));
        };
        let Some(endpoints) = endpoints.as_array() else {
            return Err(bad("endpoints", "expected an array".into()));
        };
        let mut out = Vec::with_capacity(endpoints.len());
        for (i, e) in endpoints.iter().enumerate() {
            let text_field = |k: &str| -> Result<String, ScoreError> {
                match e.get(k) {
                    Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                    Some(Value::String(_)) => {
                        Err(bad(&format!("endpoints[{i}].{k}"), "is empty".into()))
                    }
                    Some(other) => Err(bad(
                        &format!("endpoints[{i}].{k}"),
                        format!("expected a string, found {other}"),
                    )),
                    None => Err(bad(&format!("endpoints[{i}].{k}"), "missing".into())),
                }
            };
            let chain = text_field("chain")?;
            let address = text_field("address")?;
            let asset = text_field("asset")?;
            let field = format!("endpoints[{i}].amount");
            let amount = match e.get("amount") {
                Some(Value::String(s)) => s.parse::<u128>().map_err(|_| {
                    bad(
                        &field,
                        format!("{s:?} is not an integer number of base units"),
                    )
                })?,
                Some(Value::Number(n)) => match n.as_u64() {
                    Some(v) => u128::from(v),
                    None => {
                        return Err(bad(
                            &field,
                            format!("{n} is not an integer number of base units"),
                        ));
                    }
                },
                Some(other) => {
                    return Err(bad(
                        &field,
                        format!("expected a decimal string of base units, found {other}"),
                    ));
                }
                None => return Err(bad(&field, "missing".into())),
            };
            let stop = match e.get("stop") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(other) => {
                    return Err(bad(
                        &format!("endpoints[{i}].stop"),
                        format!("expected a string, found {other}"),
                    ));
                }
            };
            let address = if stop == Some("fee") {
                FEE_ADDRESS.to_string()
            } else {
                normal_address(&address)
            };
            out.push(Found {
                chain,
                address,
                asset: normal_address(&asset),
                amount,
            });
        }
        let exposure = v
            .pointer("/summary/exposure")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(ResultFile::Trace {
            endpoints: out,
            exposure,
        })
    }
}

/// `0x` hex in lowercase; anything else as it is.
fn normal_address(a: &str) -> String {
    if a.starts_with("0x") || a.starts_with("0X") {
        a.to_ascii_lowercase()
    } else {
        a.to_string()
    }
}

/// Reads `DIR/truth.json`, naming the file and the field on failure.
pub fn read_truth(dir: &Path) -> Result<GroundTruth, ScoreError> {
    let path = if dir.is_dir() {
        dir.join("truth.json")
    } else {
        dir.to_path_buf()
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ScoreError::Read {
        path: path.clone(),
        source,
    })?;
    // serde's messages name the missing or mistyped field, with its line and column.
    serde_json::from_str(&text).map_err(|e| ScoreError::Malformed {
        path,
        field: "(ground truth)".into(),
        detail: e.to_string(),
    })
}

/// Recall and precision over a set of places.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Truth places.
    pub places: usize,
    /// Result places matching them (all result places, overall).
    pub found_places: usize,
    /// Truth places found with their full amount.
    pub exact: usize,
    /// Truth places found with part of their amount.
    pub partial: usize,
    /// Truth places not found.
    pub missed: usize,
    /// Stolen base units the truth puts there.
    #[serde(serialize_with = "dec")]
    pub truth_value: u128,
    /// Base units the result puts there.
    #[serde(serialize_with = "dec")]
    pub result_value: u128,
    /// Of which right (Σ min(truth, result) per place).
    #[serde(serialize_with = "dec")]
    pub matched_value: u128,
    /// matched / truth value.
    pub value_recall: f64,
    /// matched / result value.
    pub value_precision: f64,
    /// Mean over truth places of matched / truth amount.
    pub count_recall: f64,
    /// Mean over result places of matched / result amount.
    pub count_precision: f64,
}

/// One kind's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindFigures {
    /// The resting-place kind.
    pub kind: RestingKind,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One asset's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetFigures {
    /// Chain name.
    pub chain: String,
    /// `native` or the token contract.
    pub asset: String,
    /// Its figures (precision over every result place of the asset).
    #[serde(flatten)]
    pub figures: Figures,
}

/// A trace scored against the truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// `trace`.
    pub result_kind: &'static str,
    /// Overall.
    pub overall: Figures,
    /// Per resting-place kind, in the kind's order (values of different assets add up here:
    /// read `by_asset` when the truth has several).
    pub by_kind: Vec<KindFigures>,
    /// Per (chain, asset), each in its own base units.
    pub by_asset: Vec<AssetFigures>,
    /// Result places the truth does not know, largest first.
    pub unmatched: Vec<Found>,
    /// Caveats.
    pub notes: Vec<String>,
}

fn dec<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ratio(a: u128, b: u128) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

type Key = (String, String, String);

/// The truth's resting places by key, with their kind.
pub fn truth_places(truth: &GroundTruth) -> BTreeMap<Key, (RestingKind, u128)> {
    let chain_of = |asset: Asset| match asset {
        Asset::Ltc => truth
            .utxo_chain
            .clone()
            .unwrap_or_else(|| "litecoin-regtest".into()),
        Asset::Eth | Asset::Susd => format!("evm-{}", truth.chain_id),
    };
    let asset_of = |asset: Asset| {
        truth
            .assets
            .iter()
            .find(|a| a.id == asset)
            .and_then(|a| a.contract.as_deref())
            .map_or_else(|| "native".to_string(), normal_address)
    };
    let mut places: BTreeMap<Key, (RestingKind, u128, u128)> = BTreeMap::new();
    for r in &truth.resting {
        let address = match (&r.address, r.kind) {
            (_, RestingKind::Fee) | (None, _) => FEE_ADDRESS.to_string(),
            (Some(a), _) => normal_address(a),
        };
        let e = places
            .entry((chain_of(r.asset), address, asset_of(r.asset)))
            .or_insert((r.kind, 0, 0));
        e.2 += r.stolen;
        // The key's kind is its largest place's.
        if r.stolen > e.1 {
            e.0 = r.kind;
            e.1 = r.stolen;
        }
    }
    places
        .into_iter()
        .filter(|(_, v)| v.2 > 0)
        .map(|(k, v)| (k, (v.0, v.2)))
        .collect()
}

/// Scores `result` against `truth` (see the module docs for the matching and the figures).
pub fn score(truth: &GroundTruth, result: &ResultFile) -> Score {
    let ResultFile::Trace {
        endpoints,
        exposure,
    } = result;
    let places = truth_places(truth);
    let mut got: BTreeMap<Key, u128> = BTreeMap::new();
    for e in endpoints {
        *got.entry((e.chain.clone(), e.address.clone(), e.asset.clone()))
            .or_default() += e.amount;
    }
    got.retain(|_, v| *v > 0);
    // `kind`: one resting-place kind (else all); `asset`: one (chain, asset) (else all).
    let figures = |kind: Option<RestingKind>, asset: Option<(&str, &str)>| {
        let mut f = Figures {
            places: 0,
            found_places: 0,
            exact: 0,
            partial: 0,
            missed: 0,
            truth_value: 0,
            result_value: 0,
            matched_value: 0,
            value_recall: 0.0,
            value_precision: 0.0,
            count_recall: 0.0,
            count_precision: 0.0,
        };
        let (mut recall_sum, mut precision_sum) = (0.0, 0.0);
        for (k, (kk, t)) in &places {
            if kind.is_some_and(|want| want != *kk)
                || asset.is_some_and(|(c, a)| c != k.0 || a != k.2)
            {
                continue;
            }
            let r = got.get(k).copied().unwrap_or(0);
            let m = r.min(*t);
            f.places += 1;
            f.truth_value += t;
            f.matched_value += m;
            recall_sum += ratio(m, *t);
            match (m == *t, m > 0) {
                (true, _) => f.exact += 1,
                (false, true) => f.partial += 1,
                (false, false) => f.missed += 1,
            }
            if r > 0 {
                f.found_places += 1;
                f.result_value += r;
                precision_sum += ratio(m, r);
            }
        }
        if kind.is_none() {
            // Overall, precision is over every result place, known to the truth or not.
            for (k, r) in &got {
                if !places.contains_key(k) && asset.is_none_or(|(c, a)| c == k.0 && a == k.2) {
                    f.found_places += 1;
                    f.result_value += r;
                }
            }
        }
        f.value_recall = ratio(f.matched_value, f.truth_value);
        f.value_precision = ratio(f.matched_value, f.result_value);
        f.count_recall = if f.places == 0 {
            1.0
        } else {
            recall_sum / f.places as f64
        };
        f.count_precision = if f.found_places == 0 {
            1.0
        } else {
            precision_sum / f.found_places as f64
        };
        f
    };
    let mut kinds: Vec<RestingKind> = places.values().map(|(k, _)| *k).collect();
    kinds.sort();
    kinds.dedup();
    let mut unmatched: Vec<Found> = got
        .iter()
        .filter(|(k, _)| !places.contains_key(*k))
        .map(|((chain, address, asset), amount)| Found {
            chain: chain.clone(),
            address: address.clone(),
            asset: asset.clone(),
            amount: *amount,
        })
        .collect();
    unmatched.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.address.cmp(&b.address)));
    let mut notes = Vec::new();
    if *exposure {
        notes.push(
            "the result's amounts are exposure (poison policy), not value: precision by value is not meaningful".into(),
        );
    }
    let mut assets: Vec<(String, String)> =
        places.keys().map(|k| (k.0.clone(), k.2.clone())).collect();
    assets.dedup();
    assets.sort();
    assets.dedup();
    Score {
        result_kind: "trace",
        overall: figures(None, None),
        by_kind: kinds
            .into_iter()
            .map(|kind| KindFigures {
                kind,
                figures: figures(Some(kind), None),
            })
            .collect(),
        by_asset: assets
            .iter()
            .map(|(chain, asset)| AssetFigures {
                chain: chain.clone(),
                asset: asset.clone(),
                figures: figures(None, Some((chain, asset))),
            })
            .collect(),
        unmatched,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::{ResultFile, score};
    use crate::truth::{GroundTruth, RestingKind};

    /// A truth with an EVM side: ether at an exchange deposit, the stablecoin held, ether fees.
    fn truth() -> GroundTruth {
        serde_json::from_value(json!({
            "chain_id": 31337, "utxo_chain": null, "seed": 1, "policy": "LIFO",
            "assets": [
                {"id": "eth", "symbol": "ETH", "decimals": 18, "contract": null},
                {"id": "susd", "symbol": "sUSD", "decimals": 6, "contract": "0xAbC0000000000000000000000000000000000001"}
            ],
            "contracts": {},
            "incident": {"victim": "0x01", "txs": [], "stolen": []},
            "txs": [], "utxo_txs": [], "links": [],
            "resting": [
                {"kind": "exchange_deposit", "entity": "exchange:0", "address": "0xDeF0000000000000000000000000000000000002", "asset": "eth", "stolen": 600},
                {"kind": "freezable_stablecoin", "entity": "attacker", "address": "0x0000000000000000000000000000000000000003", "asset": "susd", "stolen": 300},
                {"kind": "fee", "entity": null, "address": null, "asset": "eth", "stolen": 100}
            ],
            "entities": [], "addresses": [], "patterns": [], "labels": []
        }))
        .unwrap()
    }

    #[test]
    fn keys_normalise_case_token_contracts_and_fees() {
        // Addresses in another case, the token by its contract, fees by stop whatever the
        // address, and one place the truth does not know.
        let result = json!({"endpoints": [
            {"chain": "evm-31337", "address": "0xdef0000000000000000000000000000000000002", "asset": "native", "amount": "600", "stop": "service"},
            {"chain": "evm-31337", "address": "0x0000000000000000000000000000000000000003", "asset": "0xabc0000000000000000000000000000000000001", "amount": "150", "stop": "unmoved"},
            {"chain": "evm-31337", "address": "0x0000000000000000000000000000000000000009", "asset": "native", "amount": "40", "stop": "fee"},
            {"chain": "evm-31337", "address": "0x000000000000000000000000000000000000000a", "asset": "native", "amount": "60", "stop": "fee"},
            {"chain": "evm-31337", "address": "0x0000000000000000000000000000000000000004", "asset": "native", "amount": "50", "stop": "unmoved"}
        ]});
        let r = ResultFile::parse(&result.to_string(), Path::new("r.json")).unwrap();
        let s = score(&truth(), &r);
        let o = &s.overall;
        assert_eq!((o.places, o.found_places), (3, 4));
        assert_eq!((o.exact, o.partial, o.missed), (2, 1, 0));
        assert_eq!(o.truth_value, 1000);
        assert_eq!(o.result_value, 900);
        assert_eq!(o.matched_value, 850);
        assert_eq!(o.value_recall, 0.85);
        assert_eq!(o.value_precision, 850.0 / 900.0);
        // Places: deposit 1, stablecoin 150/300, fees 1 → 2.5 of 3.
        assert_eq!(o.count_recall, 2.5 / 3.0);
        // Result places: three right, one unknown → 3 of 4.
        assert_eq!(o.count_precision, 0.75);
        let kinds: Vec<RestingKind> = s.by_kind.iter().map(|k| k.kind).collect();
        assert_eq!(
            kinds,
            [
                RestingKind::ExchangeDeposit,
                RestingKind::FreezableStablecoin,
                RestingKind::Fee
            ]
        );
        let stable = &s.by_kind[1].figures;
        assert_eq!((stable.value_recall, stable.value_precision), (0.5, 1.0));
        assert_eq!(s.unmatched.len(), 1);
        assert_eq!(s.unmatched[0].amount, 50);
        // Per asset, each in its own units: ether found in full (the unknown 50 costs
        // precision), the stablecoin half.
        let by: Vec<(&str, u128, u128, u128)> = s
            .by_asset
            .iter()
            .map(|a| {
                let f = &a.figures;
                (
                    a.asset.as_str(),
                    f.truth_value,
                    f.matched_value,
                    f.result_value,
                )
            })
            .collect();
        assert_eq!(
            by,
            [
                ("0xabc0000000000000000000000000000000000001", 300, 150, 150),
                ("native", 700, 700, 750)
            ]
        );
    }

    #[test]
    fn a_result_over_the_truth_loses_precision_not_recall() {
        let result = json!({"endpoints": [
            {"chain": "evm-31337", "address": "0xdef0000000000000000000000000000000000002", "asset": "native", "amount": 1200}
        ], "summary": {"exposure": true}});
        let s = score(
            &truth(),
            &ResultFile::parse(&result.to_string(), Path::new("r.json")).unwrap(),
        );
        let dep = &s.by_kind[0].figures;
        assert_eq!((dep.value_recall, dep.value_precision), (1.0, 0.5));
        assert_eq!(dep.exact, 1);
        assert_eq!(s.overall.value_recall, 0.6);
        assert_eq!(s.notes.len(), 1, "poison results are flagged");
    }
}
