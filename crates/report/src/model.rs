//! What a report says, built from a trace result and the facts looked up for it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ReportError, format_units};

// ---- the trace result, as read (only what a report needs) ----

#[derive(Deserialize)]
struct ResultIn {
    incident: String,
    policy: String,
    endpoints: Vec<EndpointIn>,
    summary: SummaryIn,
    /// The trace graph: the hops the endpoints' paths name by position.
    #[serde(default)]
    edges: Vec<HopIn>,
    #[serde(default)]
    notes: Vec<String>,
}

#[derive(Deserialize)]
struct EndpointIn {
    chain: String,
    address: String,
    asset: String,
    amount: String,
    label: Option<String>,
    category: Option<String>,
    freezable_by: Option<String>,
    stop: String,
    hops: u32,
    path: PathIn,
    #[serde(default)]
    fiat: Option<String>,
    #[serde(default)]
    entity: Option<serde_json::Value>,
    #[serde(default)]
    patterns: Vec<String>,
}

/// A proof path: positions in the result's `edges`, or (a result saved before paths were
/// written so) the hops themselves.
#[derive(Deserialize)]
#[serde(untagged)]
enum PathIn {
    Edges(Vec<usize>),
    Hops(Vec<HopIn>),
}

impl PathIn {
    /// The path's hops, checked against the `edges` they name.
    fn hops<'a>(
        &'a self,
        edges: &'a [HopIn],
        endpoint: &str,
    ) -> Result<Vec<&'a HopIn>, ReportError> {
        match self {
            PathIn::Hops(hops) => Ok(hops.iter().collect()),
            PathIn::Edges(at) => at
                .iter()
                .map(|&i| {
                    edges.get(i).ok_or_else(|| {
                        ReportError::Result(format!(
                            "endpoint {endpoint}: its path names edge {i}, and the result has {} edges",
                            edges.len()
                        ))
                    })
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct HopIn {
    chain: String,
    tx: String,
    at: String,
    time: u64,
    from: String,
    to: String,
    asset: String,
    value: String,
    tainted: String,
    rule: String,
    edge: EdgeIn,
}

#[derive(Deserialize)]
struct EdgeIn {
    kind: String,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    tx_in: Option<String>,
    #[serde(default)]
    confidence: Option<u8>,
    #[serde(default)]
    chain_in: Option<String>,
    #[serde(default)]
    asset_in: Option<String>,
    #[serde(default)]
    amount_in: Option<String>,
    #[serde(default)]
    chain_out: Option<String>,
    #[serde(default)]
    asset_out: Option<String>,
    #[serde(default)]
    amount_out: Option<String>,
    #[serde(default)]
    evidence: Option<String>,
}

#[derive(Deserialize)]
struct SummaryIn {
    assets: Vec<AssetIn>,
}

#[derive(Deserialize)]
struct AssetIn {
    chain: String,
    asset: String,
    stolen: String,
    intervention: String,
    still_moving: String,
    dark: String,
    dust: String,
    fees: String,
    #[serde(default)]
    unresolved: Option<String>,
    #[serde(default)]
    linked_in: Option<String>,
    #[serde(default)]
    linked_out: Option<String>,
}

// ---- what the caller supplies ----

/// The symbol and decimals of an asset on a chain, when known.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssetFacts {
    /// Ticker (`LTC`, `ETH`, `USDT`).
    pub symbol: Option<String>,
    /// Decimals of the base unit.
    pub decimals: Option<u8>,
}

/// A chain's newest stored block when the report was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainTip {
    /// Chain.
    pub chain: String,
    /// Height.
    pub height: u32,
    /// Block hash.
    pub hash: String,
}

/// A label of an address with who says so.
#[derive(Debug, Clone, Serialize)]
pub struct LabelDoc {
    /// The name.
    pub label: String,
    /// The category.
    pub category: String,
    /// Who says so (`analyst:…`, `ofac:…`, `graphsense:…`).
    pub source: String,
    /// 0–100.
    pub confidence: u8,
    /// What the source cites.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The policy and rules the trace applied.
#[derive(Debug, Clone, Serialize)]
pub struct RulesDoc {
    /// Taint policy.
    pub policy: String,
    /// Hops followed.
    pub max_hops: u32,
    /// Whether swaps, bridges, mixers were followed.
    pub follow_links: bool,
    /// Lowest link confidence followed.
    pub min_link_confidence: u8,
    /// Dust thresholds per asset, base units.
    pub dust: BTreeMap<String, String>,
    /// Label sources used, with their label counts.
    pub label_sources: BTreeMap<String, u64>,
}

/// Everything the caller looked up for a report.
pub struct Inputs<'a> {
    /// The incident as saved (TOML or JSON text: hashed as given).
    pub incident_text: &'a str,
    /// The trace result's JSON.
    pub result_json: &'a str,
    /// The rules.
    pub rules: RulesDoc,
    /// The store's tips.
    pub tips: Vec<ChainTip>,
    /// Every label of each endpoint address, by (chain, address).
    pub labels: &'a dyn Fn(&str, &str) -> Vec<LabelDoc>,
    /// Symbol and decimals by (chain, asset).
    pub assets: &'a dyn Fn(&str, &str) -> AssetFacts,
    /// Only this endpoint address (else every point of intervention).
    pub endpoint: Option<&'a str>,
    /// When the report is made (unix seconds).
    pub generated: u64,
    /// The tool and its version.
    pub tool: String,
}

// ---- the report ----

/// A swap, bridge, wrap or mixer crossed on a path, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct LinkDoc {
    /// swap, wrap, bridge, chain_swap, mixer.
    pub kind: String,
    /// The service.
    pub service: String,
    /// How sure the match of its two sides is (0–100).
    pub confidence: u8,
    /// What matched them.
    pub evidence: String,
    /// The tx the value went in with.
    pub tx_in: String,
    /// What went in: amount (base units), asset, chain.
    pub amount_in: String,
    /// Asset in.
    pub asset_in: String,
    /// Chain in.
    pub chain_in: String,
    /// What came out (unknown when unmatched).
    pub amount_out: Option<String>,
    /// Asset out.
    pub asset_out: String,
    /// Chain out.
    pub chain_out: String,
}

/// One hop of a proof path.
#[derive(Debug, Clone, Serialize)]
pub struct HopDoc {
    /// 1-based.
    pub n: usize,
    /// Chain.
    pub chain: String,
    /// Tx id.
    pub tx: String,
    /// Height and position.
    pub at: String,
    /// Block time, unix seconds.
    pub time: u64,
    /// Block time, UTC.
    pub time_utc: String,
    /// Payer.
    pub from: String,
    /// Payee.
    pub to: String,
    /// Asset.
    pub asset: String,
    /// Value moved, base units.
    pub value: String,
    /// Of which tainted, base units.
    pub tainted: String,
    /// Tainted, shown with the asset's decimals and symbol.
    pub tainted_shown: String,
    /// The rule the policy applied.
    pub rule: String,
    /// The link crossed, if this hop is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkDoc>,
}

/// A point of intervention: an address a service can freeze, with what rests there.
#[derive(Debug, Clone, Serialize)]
pub struct PointDoc {
    /// Chain.
    pub chain: String,
    /// Address.
    pub address: String,
    /// Asset.
    pub asset: String,
    /// Stolen value resting there, base units.
    pub amount: String,
    /// Shown with decimals and symbol.
    pub amount_shown: String,
    /// Fiat value on the day it arrived, when a price table was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fiat: Option<String>,
    /// Who can freeze it (exchange, custodian, issuer).
    pub freezable_by: Option<String>,
    /// Why the trace stopped there.
    pub stop: String,
    /// Its label as the trace used it.
    pub label: Option<String>,
    /// Its category.
    pub category: Option<String>,
    /// Every label with its source.
    pub labels: Vec<LabelDoc>,
    /// Its entity (clustering), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<serde_json::Value>,
    /// Laundering patterns on its path.
    pub patterns: Vec<String>,
    /// Hops from the theft.
    pub hops: u32,
    /// The proof: every hop from the theft to here.
    pub path: Vec<HopDoc>,
}

/// Where one asset's stolen value is.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryDoc {
    /// Chain.
    pub chain: String,
    /// Asset.
    pub asset: String,
    /// Symbol, when known.
    pub symbol: Option<String>,
    /// Figures in base units: stolen, at points of intervention, still moving, dark, dust,
    /// fees, unresolved, arrived and left through links.
    pub figures: BTreeMap<String, String>,
    /// The same, shown with decimals.
    pub shown: BTreeMap<String, String>,
}

/// What the report was made from, and one digest over it to cite.
#[derive(Debug, Clone, Serialize)]
pub struct Digests {
    /// SHA-256 of the incident file as saved.
    pub incident_sha256: String,
    /// SHA-256 of the trace result JSON.
    pub result_sha256: String,
    /// The store's tips.
    pub tips: Vec<ChainTip>,
    /// SHA-256 of the JSON of {incident_sha256, result_sha256, tips, rules}: cite this.
    pub inputs_sha256: String,
}

/// An evidence report.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// The incident's name.
    pub incident: String,
    /// The tool and version that made it.
    pub tool: String,
    /// When (unix seconds).
    pub generated: u64,
    /// When, UTC.
    pub generated_utc: String,
    /// Policy and rules.
    pub rules: RulesDoc,
    /// Where each stolen asset is.
    pub summary: Vec<SummaryDoc>,
    /// The points of intervention, largest first.
    pub points: Vec<PointDoc>,
    /// The trace's notes (partial data, caps).
    pub notes: Vec<String>,
    /// What it was made from.
    pub digests: Digests,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn units(text: &str) -> u128 {
    text.parse().unwrap_or(0)
}

fn shown(units_text: &str, facts: &AssetFacts, asset: &str) -> String {
    match facts.decimals {
        Some(d) => format!(
            "{} {}",
            format_units(units(units_text), d),
            facts.symbol.as_deref().unwrap_or(asset)
        ),
        None => format!("{units_text} base units of {asset}"),
    }
}

/// Unix seconds as `YYYY-MM-DD hh:mm:ss UTC` (proleptic Gregorian; integer only).
pub fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Evidence {
    /// Builds the report of the trace result in `inputs`.
    pub fn build(inputs: &Inputs<'_>) -> Result<Evidence, ReportError> {
        let result: ResultIn = serde_json::from_str(inputs.result_json)
            .map_err(|e| ReportError::Result(e.to_string()))?;
        let mut facts: BTreeMap<(String, String), AssetFacts> = BTreeMap::new();
        let mut facts_of = |chain: &str, asset: &str| {
            facts
                .entry((chain.to_string(), asset.to_string()))
                .or_insert_with(|| (inputs.assets)(chain, asset))
                .clone()
        };
        let mut points = Vec::new();
        for e in &result.endpoints {
            let wanted = match inputs.endpoint {
                Some(a) => e.address.eq_ignore_ascii_case(a),
                None => e.freezable_by.is_some(),
            };
            if !wanted {
                continue;
            }
            let f = facts_of(&e.chain, &e.asset);
            let path = e
                .path
                .hops(&result.edges, &e.address)?
                .into_iter()
                .enumerate()
                .map(|(i, h)| {
                    let hf = facts_of(&h.chain, &h.asset);
                    HopDoc {
                        n: i + 1,
                        chain: h.chain.clone(),
                        tx: h.tx.clone(),
                        at: h.at.clone(),
                        time: h.time,
                        time_utc: utc(h.time),
                        from: h.from.clone(),
                        to: h.to.clone(),
                        asset: h.asset.clone(),
                        value: h.value.clone(),
                        tainted: h.tainted.clone(),
                        tainted_shown: shown(&h.tainted, &hf, &h.asset),
                        rule: h.rule.clone(),
                        link: (h.edge.kind == "link").then(|| LinkDoc {
                            kind: h.edge.link.clone().unwrap_or_default(),
                            service: h.edge.service.clone().unwrap_or_default(),
                            confidence: h.edge.confidence.unwrap_or(0),
                            evidence: h.edge.evidence.clone().unwrap_or_default(),
                            tx_in: h.edge.tx_in.clone().unwrap_or_default(),
                            amount_in: h.edge.amount_in.clone().unwrap_or_default(),
                            asset_in: h.edge.asset_in.clone().unwrap_or_default(),
                            chain_in: h.edge.chain_in.clone().unwrap_or_default(),
                            amount_out: h.edge.amount_out.clone(),
                            asset_out: h.edge.asset_out.clone().unwrap_or_default(),
                            chain_out: h.edge.chain_out.clone().unwrap_or_default(),
                        }),
                    }
                })
                .collect();
            points.push(PointDoc {
                chain: e.chain.clone(),
                address: e.address.clone(),
                asset: e.asset.clone(),
                amount: e.amount.clone(),
                amount_shown: shown(&e.amount, &f, &e.asset),
                fiat: e.fiat.clone(),
                freezable_by: e.freezable_by.clone(),
                stop: e.stop.clone(),
                label: e.label.clone(),
                category: e.category.clone(),
                labels: (inputs.labels)(&e.chain, &e.address),
                entity: e.entity.clone(),
                patterns: e.patterns.clone(),
                hops: e.hops,
                path,
            });
        }
        if let (Some(a), true) = (inputs.endpoint, points.is_empty()) {
            return Err(ReportError::NoSuchEndpoint(a.to_string()));
        }
        points.sort_by(|a, b| {
            units(&b.amount)
                .cmp(&units(&a.amount))
                .then_with(|| a.address.cmp(&b.address))
        });
        let summary = result
            .summary
            .assets
            .iter()
            .map(|a| {
                let f = facts_of(&a.chain, &a.asset);
                let mut figures = BTreeMap::new();
                for (k, v) in [
                    ("stolen", Some(&a.stolen)),
                    ("intervention", Some(&a.intervention)),
                    ("still_moving", Some(&a.still_moving)),
                    ("dark", Some(&a.dark)),
                    ("dust", Some(&a.dust)),
                    ("fees", Some(&a.fees)),
                    ("unresolved", a.unresolved.as_ref()),
                    ("linked_in", a.linked_in.as_ref()),
                    ("linked_out", a.linked_out.as_ref()),
                ] {
                    if let Some(v) = v {
                        figures.insert(k.to_string(), v.clone());
                    }
                }
                let shown = figures
                    .iter()
                    .map(|(k, v)| (k.clone(), shown(v, &f, &a.asset)))
                    .collect();
                SummaryDoc {
                    chain: a.chain.clone(),
                    asset: a.asset.clone(),
                    symbol: f.symbol.clone(),
                    figures,
                    shown,
                }
            })
            .collect();
        let rules = RulesDoc {
            policy: result.policy.clone(),
            ..inputs.rules.clone()
        };
        let incident_sha256 = sha256_hex(inputs.incident_text.as_bytes());
        let result_sha256 = sha256_hex(inputs.result_json.as_bytes());
        let cited = serde_json::json!({
            "incident_sha256": incident_sha256,
            "result_sha256": result_sha256,
            "tips": inputs.tips,
            "rules": rules,
        });
        let inputs_sha256 = sha256_hex(cited.to_string().as_bytes());
        Ok(Evidence {
            incident: result.incident,
            tool: inputs.tool.clone(),
            generated: inputs.generated,
            generated_utc: utc(inputs.generated),
            rules,
            summary,
            points,
            notes: result.notes,
            digests: Digests {
                incident_sha256,
                result_sha256,
                tips: inputs.tips.clone(),
                inputs_sha256,
            },
        })
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_868_800), "2000-03-01 00:00:00 UTC");
        assert_eq!(utc(1_709_287_405), "2024-03-01 10:03:25 UTC");
    }
}
