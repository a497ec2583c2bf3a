//! A trace's result: endpoints with their proof, the trace graph, and the summary analysts
//! publish after a heist (at points of intervention, still moving, dark, dust, fees), whose
//! parts add up to the stolen total exactly, per asset. Renders as a table, JSON, CSV and
//! Graphviz DOT.
//!
//! In JSON each endpoint's proof path is a list of positions in `edges`: the trace graph holds
//! every hop once, and the paths of a deep trace share most of their hops (a 64-hop haircut
//! of the simulator's heist without labels: 178k endpoints whose paths have 56M steps over 1M
//! hops), so writing each step whole ran the process out of memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{Error as _, SerializeSeq, SerializeStruct};

use crate::link::EdgeKind;
use crate::policy::Policy;

/// Serde helper: a `u128` as a decimal string (JSON numbers lose precision past 2^53).
pub(crate) mod dec {
    /// Serializes as a decimal string.
    pub(crate) fn serialize<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// Serde helper: an optional `u128` as a decimal string or null.
pub(crate) mod dec_opt {
    /// Serializes as a decimal string or null.
    pub(crate) fn serialize<S: serde::Serializer>(
        v: &Option<u128>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }
}

/// Why tracing stopped at an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Reached a labeled service (exchange, custodian, issuer, bridge, DEX …).
    Service,
    /// Unspent output / balance that has not moved since (within the time limit).
    Unmoved,
    /// The hop limit was reached; the value may move on.
    HopLimit,
    /// It moves again after the time limit.
    TimeLimit,
    /// Too little taint to follow (below the asset's dust threshold).
    Dust,
    /// Gone dark: a mixer, or a privacy chain (MWEB peg-in).
    Dark,
    /// Paid as a tx fee (miner/validator, or burnt).
    Fee,
    /// Went into a bridge or chain swap whose other side was not found (no exit names it and
    /// no heuristic match, or its chain is not ingested): reported, never guessed.
    Unresolved,
}

impl Stop {
    /// The name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Service => "service",
            Stop::Unmoved => "unmoved",
            Stop::HopLimit => "hop_limit",
            Stop::TimeLimit => "time_limit",
            Stop::Dust => "dust",
            Stop::Dark => "dark",
            Stop::Fee => "fee",
            Stop::Unresolved => "unresolved",
        }
    }
}

/// One hop of a proof: a tx or transfer that moved taint, with its amounts and the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// Chain name.
    pub chain: Arc<str>,
    /// Tx id / hash.
    pub tx: Arc<str>,
    /// Where in the chain: `height:index` (UTXO tx) or `height:tx:sub` (transfer).
    pub at: Arc<str>,
    /// Block time (unix seconds).
    pub time: u64,
    /// Payer (address, or `txid:vout` output for UTXO).
    pub from: Arc<str>,
    /// Payee.
    pub to: Arc<str>,
    /// Asset.
    pub asset: Arc<str>,
    /// Value moved on this hop, base units.
    #[serde(with = "dec")]
    pub value: u128,
    /// Of which tainted.
    #[serde(with = "dec")]
    pub tainted: u128,
    /// The rule applied (policy, and what it did).
    pub rule: Arc<str>,
    /// What carried it.
    pub edge: EdgeKind,
}

/// Where traced value stopped. Written as JSON within its [`TraceResult`], which gives the
/// path (skipped on its own) as positions in the result's edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Chain name.
    pub chain: String,
    /// Address (`fee` for UTXO fees).
    pub address: String,
    /// Asset (`native` or the token contract).
    pub asset: String,
    /// Tainted base units resting there (poison: exposure).
    #[serde(with = "dec")]
    pub amount: u128,
    /// Label, when known.
    pub label: Option<String>,
    /// Label category (`exchange`, `issuer`, `mixer` …).
    pub category: Option<String>,
    /// Who can freeze it (`exchange`, `custodian`, `issuer`), if anyone.
    pub freezable_by: Option<String>,
    /// Why tracing stopped.
    pub stop: Stop,
    /// Hops from the incident (the theft is hop 1).
    pub hops: u32,
    /// The proof: the heaviest path of hops from the incident to here (each hop the inflow
    /// that carried the most taint). Each is one of the result's `edges`, and is written in
    /// JSON as its position there.
    #[serde(skip)]
    pub path: Vec<Arc<Hop>>,
    /// How many tainted inflows reached here (the full set is in the trace graph's `edges`).
    pub inflows: usize,
    /// The amount's value in the price table's currency on the day it arrived here (see
    /// [`TraceResult::apply_prices`]), never instead of `amount`.
    pub fiat: Option<String>,
    /// The entity the address belongs to, when its chain was clustered
    /// (`tracehound cluster`); filled in by the caller, not the engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityTag>,
    /// Laundering-pattern kinds (`peel_chain`, `fan_out` …) touching the endpoint's path or
    /// address (`tracehound-patterns`); filled in by the caller, not the engine.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
}

/// The entity (cluster of addresses with one owner) an endpoint's address belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityTag {
    /// The entity's id (its smallest address id).
    pub id: u32,
    /// Addresses in it.
    pub size: u64,
    /// The strongest label among its members, when the address has none of its own: the
    /// name an unlabeled deposit address of a labeled exchange is known by.
    pub label: Option<String>,
}

/// One asset's summary; the parts add up to `stolen` exactly (non-poison policies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetSummary {
    /// Chain name.
    pub chain: String,
    /// Asset.
    pub asset: String,
    /// Total stolen.
    #[serde(with = "dec")]
    pub stolen: u128,
    /// At points of intervention (freezable now).
    #[serde(with = "dec")]
    pub intervention: u128,
    /// The intervention points, largest first.
    pub intervention_points: Vec<InterventionPoint>,
    /// Totals by who can freeze, largest first.
    pub by_freezer: Vec<FreezerTotal>,
    /// Still moving or held by the launderer (unmoved, hop or time limit, other services).
    #[serde(with = "dec")]
    pub still_moving: u128,
    /// Dark (mixer, privacy chain).
    #[serde(with = "dec")]
    pub dark: u128,
    /// Dust left behind.
    #[serde(with = "dec")]
    pub dust: u128,
    /// Paid as fees.
    #[serde(with = "dec")]
    pub fees: u128,
    /// Went into a bridge or chain swap whose other side was not found.
    #[serde(with = "dec")]
    pub unresolved: u128,
    /// Left this asset through links (swapped, wrapped, bridged, withdrawn from a mixer): it
    /// is counted again, converted, under the asset it became.
    #[serde(with = "dec")]
    pub linked_out: u128,
    /// Arrived through links from other assets or chains (not part of `stolen`).
    #[serde(with = "dec")]
    pub linked_in: u128,
}

impl AssetSummary {
    /// `stolen` units of (`chain`, `asset`), none of it placed yet.
    pub(crate) fn empty(chain: &str, asset: &str, stolen: u128) -> AssetSummary {
        AssetSummary {
            chain: chain.to_string(),
            asset: asset.to_string(),
            stolen,
            intervention: 0,
            intervention_points: Vec::new(),
            by_freezer: Vec::new(),
            still_moving: 0,
            dark: 0,
            dust: 0,
            fees: 0,
            unresolved: 0,
            linked_out: 0,
            linked_in: 0,
        }
    }
}

/// A place that can freeze traced value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterventionPoint {
    /// Address.
    pub address: String,
    /// Label.
    pub label: Option<String>,
    /// Who can freeze.
    pub freezable_by: String,
    /// Amount.
    #[serde(with = "dec")]
    pub amount: u128,
}

/// Traced value freezable by one kind of party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FreezerTotal {
    /// `exchange`, `custodian`, `issuer`.
    pub freezable_by: String,
    /// Amount.
    #[serde(with = "dec")]
    pub amount: u128,
}

/// The summary of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The policy.
    pub policy: Policy,
    /// Whether amounts are exposure (poison) rather than conserved value.
    pub exposure: bool,
    /// Per (chain, asset).
    pub assets: Vec<AssetSummary>,
    /// The links taint crossed (swapped, wrapped, bridged, through a mixer), largest first.
    pub links: Vec<LinkUse>,
}

/// Taint that crossed one kind of link between two (chain, asset)s, summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkUse {
    /// Swap, wrap, bridge, chain swap, mixer.
    pub kind: tracehound_core::LinkKind,
    /// The service.
    pub service: String,
    /// Chain the value left.
    pub chain_in: String,
    /// Asset it left as.
    pub asset_in: String,
    /// Chain it arrived on.
    pub chain_out: String,
    /// Asset it arrived as.
    pub asset_out: String,
    /// Taint in, base units of `asset_in`.
    #[serde(with = "dec")]
    pub taint_in: u128,
    /// Taint out, base units of `asset_out`.
    #[serde(with = "dec")]
    pub taint_out: u128,
    /// Crossings.
    pub count: u64,
    /// The weakest match among them (0–100).
    pub min_confidence: u8,
    /// The first crossing's tx in.
    pub first_tx_in: String,
    /// Its tx out.
    pub first_tx_out: String,
}

/// Everything a trace found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceResult {
    /// Incident name.
    pub incident: String,
    /// Policy.
    pub policy: Policy,
    /// Endpoints, largest first.
    pub endpoints: Vec<Endpoint>,
    /// The summary.
    pub summary: Summary,
    /// Every hop that carried taint (the trace graph).
    pub edges: Vec<Arc<Hop>>,
    /// Caveats met on the way (partial data, caps).
    pub notes: Vec<String>,
}

impl Serialize for TraceResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let at: HashMap<*const Hop, usize> = self
            .edges
            .iter()
            .enumerate()
            .map(|(i, h)| (Arc::as_ptr(h), i))
            .collect();
        let endpoints = EndpointsJson {
            endpoints: &self.endpoints,
            edges: &self.edges,
            at: &at,
        };
        let mut r = s.serialize_struct("TraceResult", 6)?;
        r.serialize_field("incident", &self.incident)?;
        r.serialize_field("policy", &self.policy)?;
        r.serialize_field("endpoints", &endpoints)?;
        r.serialize_field("summary", &self.summary)?;
        r.serialize_field("edges", &self.edges)?;
        r.serialize_field("notes", &self.notes)?;
        r.end()
    }
}

/// The endpoints in JSON, each path as positions in the result's edges.
struct EndpointsJson<'a> {
    endpoints: &'a [Endpoint],
    edges: &'a [Arc<Hop>],
    /// Each edge's position, by the hop it shares with the paths through it.
    at: &'a HashMap<*const Hop, usize>,
}

#[derive(Serialize)]
struct EndpointJson<'a> {
    #[serde(flatten)]
    endpoint: &'a Endpoint,
    path: Vec<usize>,
}

impl Serialize for EndpointsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.endpoints.len()))?;
        for e in self.endpoints {
            let path = e
                .path
                .iter()
                .map(|hop| {
                    // A path built apart from the graph (not by the engine) is found by value.
                    self.at
                        .get(&Arc::as_ptr(hop))
                        .copied()
                        .or_else(|| self.edges.iter().position(|h| h == hop))
                        .ok_or_else(|| {
                            S::Error::custom(format!(
                                "endpoint {} {}: its proof path's hop in tx {} is not in the trace graph",
                                e.chain, e.address, hop.tx
                            ))
                        })
                })
                .collect::<Result<Vec<usize>, S::Error>>()?;
            seq.serialize_element(&EndpointJson { endpoint: e, path })?;
        }
        seq.end()
    }
}

/// Who can freeze value at a service of `category` (a category name or source term):
/// [`tracehound_labels::Category::freezable_by`], the labels crate's one answer.
pub fn freezer_of(category: &str) -> Option<&'static str> {
    tracehound_labels::Category::from_term(category)?
        .freezable_by()
        .map(|f| f.name())
}

/// Builds the per-asset summary of `endpoints` with the stolen totals.
pub fn summarize(
    policy: Policy,
    stolen: &BTreeMap<(String, String), u128>,
    endpoints: &[Endpoint],
) -> Summary {
    let mut by: BTreeMap<(String, String), AssetSummary> = stolen
        .iter()
        .map(|((c, a), s)| ((c.clone(), a.clone()), AssetSummary::empty(c, a, *s)))
        .collect();
    for e in endpoints {
        let s = by
            .entry((e.chain.clone(), e.asset.clone()))
            .or_insert_with(|| AssetSummary::empty(&e.chain, &e.asset, 0));
        match (e.stop, &e.freezable_by) {
            (Stop::Dark, _) => s.dark += e.amount,
            (Stop::Dust, _) => s.dust += e.amount,
            (Stop::Fee, _) => s.fees += e.amount,
            (Stop::Unresolved, _) => s.unresolved += e.amount,
            (_, Some(f)) => {
                s.intervention += e.amount;
                s.intervention_points.push(InterventionPoint {
                    address: e.address.clone(),
                    label: e.label.clone(),
                    freezable_by: f.clone(),
                    amount: e.amount,
                });
            }
            _ => s.still_moving += e.amount,
        }
    }
    for s in by.values_mut() {
        s.intervention_points
            .sort_by(|a, b| b.amount.cmp(&a.amount).then(a.address.cmp(&b.address)));
        let mut f: BTreeMap<String, u128> = BTreeMap::new();
        for p in &s.intervention_points {
            *f.entry(p.freezable_by.clone()).or_default() += p.amount;
        }
        s.by_freezer = f
            .into_iter()
            .map(|(freezable_by, amount)| FreezerTotal {
                freezable_by,
                amount,
            })
            .collect();
        s.by_freezer.sort_by_key(|f| std::cmp::Reverse(f.amount));
    }
    Summary {
        policy,
        exposure: !policy.conserves(),
        assets: by.into_values().collect(),
        links: Vec::new(),
    }
}

impl TraceResult {
    /// Values every endpoint's amount with `prices`, on the day the value arrived there (its
    /// proof's last hop), and says so in the notes.
    pub fn apply_prices(&mut self, prices: &crate::prices::PriceTable) {
        let mut missing = 0;
        for e in &mut self.endpoints {
            let time = e.path.last().map(|h| h.time);
            e.fiat = time
                .and_then(|t| prices.cents(&e.chain, &e.asset, t, e.amount))
                .map(crate::prices::format_cents);
            missing += usize::from(e.fiat.is_none());
        }
        self.notes.push(format!(
            "fiat values are in the price table's currency, on the day each endpoint's value arrived, rounded down to the cent{}",
            if missing > 0 {
                format!("; {missing} endpoint(s) have no price on or before that day")
            } else {
                String::new()
            }
        ));
    }

    /// A plain-text table: the summary, then the endpoints.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "incident {} — policy {}{}",
            self.incident,
            self.policy,
            if self.summary.exposure {
                " (amounts are exposure, not value)"
            } else {
                ""
            }
        );
        for s in &self.summary.assets {
            let _ = write!(o, "\n{} {}: stolen {}", s.chain, s.asset, s.stolen);
            if s.linked_in > 0 {
                let _ = write!(o, ", arrived through links {}", s.linked_in);
            }
            let _ = writeln!(o);
            let _ = writeln!(o, "  at points of intervention  {}", s.intervention);
            for f in &s.by_freezer {
                let _ = writeln!(o, "    freezable by {:<12} {}", f.freezable_by, f.amount);
            }
            for p in &s.intervention_points {
                let _ = writeln!(
                    o,
                    "    {:>28}  {} ({})",
                    p.amount,
                    p.address,
                    p.label.as_deref().unwrap_or("-")
                );
            }
            let _ = writeln!(o, "  still moving / held        {}", s.still_moving);
            let _ = writeln!(o, "  dark                       {}", s.dark);
            let _ = writeln!(o, "  dust                       {}", s.dust);
            let _ = writeln!(o, "  fees                       {}", s.fees);
            if s.unresolved > 0 {
                let _ = writeln!(o, "  unresolved (link)          {}", s.unresolved);
            }
            if s.linked_out > 0 {
                let _ = writeln!(o, "  left through links         {}", s.linked_out);
            }
        }
        if !self.summary.links.is_empty() {
            let _ = writeln!(o, "\nlinks crossed:");
            for l in &self.summary.links {
                let verb = match l.kind {
                    tracehound_core::LinkKind::Swap => "swapped",
                    tracehound_core::LinkKind::Wrap => "wrapped",
                    tracehound_core::LinkKind::Bridge => "bridged",
                    tracehound_core::LinkKind::ChainSwap => "chain-swapped",
                    tracehound_core::LinkKind::Mixer => "withdrawn from mixer",
                };
                let _ = writeln!(
                    o,
                    "  {verb} {} {} on {} → {} {} on {} via {} ({} time(s), confidence ≥ {}; first at tx {} → {})",
                    l.taint_in,
                    l.asset_in,
                    l.chain_in,
                    l.taint_out,
                    l.asset_out,
                    l.chain_out,
                    l.service,
                    l.count,
                    l.min_confidence,
                    l.first_tx_in,
                    l.first_tx_out
                );
            }
        }
        let _ = writeln!(
            o,
            "\n{:<10} {:<44} {:<12} {:>28} {:>4}  label",
            "stop", "address", "asset", "amount", "hops"
        );
        for e in &self.endpoints {
            let asset = if e.asset.len() > 12 {
                format!("{}…", &e.asset[..11])
            } else {
                e.asset.clone()
            };
            let _ = writeln!(
                o,
                "{:<10} {:<44} {:<12} {:>28} {:>4}  {}{}",
                e.stop.name(),
                e.address,
                asset,
                e.amount,
                e.hops,
                e.label.as_deref().unwrap_or(""),
                e.fiat
                    .as_deref()
                    .map_or_else(String::new, |f| format!(" (≈ {f})"))
                    + &e.entity
                        .as_ref()
                        .filter(|t| t.size > 1)
                        .map_or_else(String::new, |t| {
                            format!(
                                " [entity {}, {} addresses{}]",
                                t.id,
                                t.size,
                                t.label
                                    .as_deref()
                                    .map_or_else(String::new, |l| format!(": {l}"))
                            )
                        })
                    + &if e.patterns.is_empty() {
                        String::new()
                    } else {
                        format!(" {{{}}}", e.patterns.join(", "))
                    }
            );
        }
        for n in &self.notes {
            let _ = writeln!(o, "note: {n}");
        }
        o
    }

    /// CSV: one row per endpoint, with the path as `tx@at` separated by `;`.
    pub fn csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "chain",
            "address",
            "asset",
            "amount",
            "label",
            "category",
            "freezable_by",
            "stop",
            "hops",
            "path",
        ])?;
        for e in &self.endpoints {
            let path = e
                .path
                .iter()
                .map(|h| format!("{}@{}", h.tx, h.at))
                .collect::<Vec<_>>()
                .join(";");
            w.write_record([
                e.chain.as_str(),
                &e.address,
                &e.asset,
                &e.amount.to_string(),
                e.label.as_deref().unwrap_or(""),
                e.category.as_deref().unwrap_or(""),
                e.freezable_by.as_deref().unwrap_or(""),
                e.stop.name(),
                &e.hops.to_string(),
                &path,
            ])?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The trace graph in Graphviz DOT: addresses as nodes, taint-carrying hops as edges
    /// (labelled with the tainted amount), endpoints coloured by stop reason.
    pub fn dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut o =
            String::from("digraph trace {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
        for e in &self.endpoints {
            let colour = match e.stop {
                Stop::Service if e.freezable_by.is_some() => "palegreen",
                Stop::Service => "lightblue",
                Stop::Dark => "gray60",
                Stop::Fee | Stop::Dust => "gray90",
                _ => "khaki",
            };
            let label = format!(
                "{}\\n{} {} {}\\n{}",
                e.address,
                e.amount,
                e.asset,
                e.stop.name(),
                e.label.as_deref().unwrap_or("")
            );
            let _ = writeln!(
                o,
                "  {} [style=filled, fillcolor={colour}, label={}];",
                q(&e.address),
                q(&label)
            );
        }
        for h in &self.edges {
            let _ = writeln!(
                o,
                "  {} -> {} [label={}];",
                q(&h.from),
                q(&h.to),
                q(&format!("{} {}", h.tainted, h.at))
            );
        }
        o.push_str("}\n");
        o
    }
}
