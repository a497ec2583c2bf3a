//! Building the exposure index over tracehound's store: stolen exposure from the traces of the
//! saved incidents, and the walks from addresses labeled sanctioned or mixer ([`crate::walk`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use tracehound_core::{Address, Chain, ChainFamily};
use tracehound_labels::{Category, Tag, TraceRole};
use tracehound_store::Store;
use tracehound_trace::{Incident, Label, Labels, Policy, Rules, TraceResult};

use crate::ScreenError;
use crate::index::{ExposureIndex, IndexMeta};
use crate::record::{Direction, Exposure, Origin, Step, share_bps};
use crate::walk::{AccountFlows, Cached, FlowGraph, UtxoFlows, WalkLimits, WalkOrigin, walk};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Hops walked from labeled addresses, each way.
    pub hops: u32,
    /// Policy of the incidents' traces.
    pub policy: Policy,
    /// Hops an incident's trace follows.
    pub trace_hops: u32,
    /// Addresses with more txs than this are not walked through.
    pub max_history: usize,
    /// Nodes kept per hop of a walk.
    pub max_frontier: usize,
    /// Flows kept in memory across walks (about 150 bytes each).
    pub max_cached_flows: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            hops: 3,
            policy: Policy::Haircut,
            trace_hops: 64,
            max_history: 10_000,
            max_frontier: 10_000,
            max_cached_flows: 2_000_000,
        }
    }
}

/// What a build did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The index's meta row.
    pub meta: IndexMeta,
    /// Exposures per origin kind.
    pub by_origin: BTreeMap<String, u64>,
    /// Seconds spent tracing incidents.
    pub trace_seconds: f64,
    /// Seconds spent walking from labeled addresses.
    pub walk_seconds: f64,
    /// Seconds in all.
    pub seconds: f64,
}

/// The stolen exposures of a trace: for every address its trace graph reached, the tainted
/// amount it received per asset (the sum of the hops paying it, not counting its payments to
/// itself), the hops from the theft and the proof path: an endpoint's own hop count and proof
/// path when the address is an endpoint (so screening says what the trace says), else the
/// heaviest inflow walked back to the theft, and its length.
pub fn stolen_exposures(result: &TraceResult, label: Option<&str>) -> Vec<(String, Exposure)> {
    type Key<'a> = (&'a str, &'a str, &'a str);
    let mut received: BTreeMap<Key<'_>, u128> = BTreeMap::new();
    // The heaviest hop into each (chain, address, asset), for paths of non-endpoints.
    let mut heaviest: HashMap<Key<'_>, &tracehound_trace::Hop> = HashMap::new();
    for h in &result.edges {
        if h.from == h.to || h.tainted == 0 {
            continue;
        }
        let k = (&*h.chain, &*h.to, &*h.asset);
        *received.entry(k).or_default() += h.tainted;
        if heaviest.get(&k).is_none_or(|b| h.tainted > b.tainted) {
            heaviest.insert(k, h);
        }
    }
    let mut endpoint_paths: HashMap<Key<'_>, &tracehound_trace::Endpoint> = HashMap::new();
    for e in &result.endpoints {
        let k = (e.chain.as_str(), e.address.as_str(), e.asset.as_str());
        if endpoint_paths.get(&k).is_none_or(|b| e.amount > b.amount) {
            endpoint_paths.insert(k, e);
        }
    }
    let step = |h: &tracehound_trace::Hop| Step {
        tx: h.tx.to_string(),
        at: h.at.to_string(),
        from: h.from.to_string(),
        to: h.to.to_string(),
        amount: h.tainted,
    };
    let mut out = Vec::new();
    for (k @ (chain, address, asset), amount) in received {
        let (path, hops): (Vec<Step>, Option<u32>) = match endpoint_paths.get(&k) {
            Some(e) => (e.path.iter().map(|h| step(h)).collect(), Some(e.hops)),
            None => {
                let mut back = Vec::new();
                let mut seen = HashSet::new();
                let mut at = address;
                while let Some(h) = heaviest.get(&(chain, at, asset)) {
                    if !seen.insert(at) {
                        break;
                    }
                    back.push(step(h));
                    at = &h.from;
                }
                back.reverse();
                (back, None)
            }
        };
        out.push((
            address.to_string(),
            Exposure {
                origin: Origin::Stolen,
                direction: Direction::Incoming,
                source: result.incident.clone(),
                label: label.map(str::to_string),
                chain: chain.to_string(),
                asset: asset.to_string(),
                amount,
                share_bps: None,
                hops: hops.unwrap_or_else(|| u32::try_from(path.len()).unwrap_or(u32::MAX)),
                path,
            },
        ));
    }
    out
}

/// The labels a trace stops at, from the label store's strongest tags.
fn trace_labels(tags: &[Tag]) -> Labels {
    let mut labels = Labels::new();
    for t in tags {
        labels.insert_canonical(
            t.chain,
            t.address.clone(),
            Label {
                label: t.label.clone(),
                category: t.category.name().to_string(),
                source: t.source.clone(),
                confidence: f32::from(t.confidence) / 100.0,
            },
        );
    }
    labels
}

/// Builds the index of `store` into data dir `dir`: traces each of `incidents`, walks from
/// every address `tags` (the strongest tag of each labeled address) calls sanctioned or mixer.
pub fn build(
    store: &Store,
    dir: &Path,
    incidents: &[Incident],
    tags: &[Tag],
    options: &BuildOptions,
) -> Result<BuildReport, ScreenError> {
    let start = Instant::now();
    let chains = store.chains()?;
    let mut rows: BTreeMap<(String, String), Vec<Exposure>> = BTreeMap::new();

    let labels = trace_labels(tags);
    for incident in incidents {
        let mut rules = Rules::new(options.policy);
        rules.max_hops = options.trace_hops;
        rules.labels = labels.clone();
        let result = tracehound_trace::trace(store, incident, rules).map_err(|source| {
            ScreenError::Trace {
                incident: incident.name.clone(),
                source: Box::new(source),
            }
        })?;
        let mut totals = Totals::new(store);
        for (address, mut e) in stolen_exposures(&result, incident.notes.as_deref()) {
            let Ok(chain) = e.chain.parse::<Chain>() else {
                continue;
            };
            // Fees, dark pools and other pseudo places are no one's address to screen.
            match Address::parse(chain, &address) {
                Ok(a) if !a.is_pseudo() => {}
                _ => continue,
            }
            e.share_bps = totals
                .received(chain, &address, &e.asset)?
                .and_then(|t| share_bps(e.amount, t));
            rows.entry((e.chain.clone(), address)).or_default().push(e);
        }
    }
    let trace_seconds = start.elapsed().as_secs_f64();

    let walk_start = Instant::now();
    let roles: HashMap<(Chain, &str), Category> = tags
        .iter()
        .map(|t| ((t.chain, t.address.as_str()), t.category))
        .collect();
    let mut origins = 0;
    let limits = WalkLimits {
        hops: options.hops,
        max_frontier: options.max_frontier,
    };
    for chain in &chains {
        let mut graph: Box<dyn FlowGraph + '_> = match chain.family() {
            ChainFamily::Utxo => Box::new(Cached::new(
                UtxoFlows::new(store, *chain, options.max_history)?,
                options.max_cached_flows,
            )),
            ChainFamily::Account => Box::new(Cached::new(
                AccountFlows::new(store, *chain, options.max_history),
                options.max_cached_flows,
            )),
        };
        let passes = |a: &str| {
            roles
                .get(&(*chain, a))
                .is_none_or(|c| c.trace_role() == TraceRole::Party)
        };
        for t in tags.iter().filter(|t| t.chain == *chain) {
            let origin = match t.category {
                Category::Sanctioned => Origin::Sanctioned,
                Category::Mixer => Origin::Mixer,
                _ => continue,
            };
            origins += 1;
            let o = WalkOrigin {
                chain: *chain,
                address: t.address.clone(),
                origin,
                label: Some(t.label.clone()),
            };
            for direction in [Direction::Incoming, Direction::Outgoing] {
                for (address, e) in walk(graph.as_mut(), &o, direction, limits, &passes)? {
                    rows.entry((e.chain.clone(), address)).or_default().push(e);
                }
            }
        }
    }
    let walk_seconds = walk_start.elapsed().as_secs_f64();

    let mut by_origin: BTreeMap<String, u64> = BTreeMap::new();
    for e in rows.values().flatten() {
        *by_origin.entry(e.origin.name().to_string()).or_default() += 1;
    }
    let meta = IndexMeta {
        built: tracehound_labels::now(),
        hops: options.hops,
        policy: options.policy.to_string(),
        incidents: incidents.iter().map(|i| i.name.clone()).collect(),
        labeled_origins: origins,
        chains: chains.iter().map(|c| c.name()).collect(),
        addresses: 0,
        exposures: 0,
    };
    let mut meta_out = meta.clone();
    meta_out.addresses = rows.len() as u64;
    meta_out.exposures = rows.values().map(|l| l.len() as u64).sum();
    ExposureIndex::write_in(dir, rows, meta)?;
    Ok(BuildReport {
        meta: meta_out,
        by_origin,
        trace_seconds,
        walk_seconds,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// What addresses received in all, per asset (for shares).
struct Totals<'s> {
    store: &'s Store,
}

impl<'s> Totals<'s> {
    fn new(store: &'s Store) -> Self {
        Totals { store }
    }

    fn received(
        &mut self,
        chain: Chain,
        address: &str,
        asset: &str,
    ) -> Result<Option<u128>, ScreenError> {
        let a = Address::from_canonical(chain, address.to_string());
        Ok(match chain.family() {
            ChainFamily::Utxo => self.store.address(&a)?.map(|v| v.received.units()),
            ChainFamily::Account => self.store.account(&a)?.and_then(|v| {
                v.balances
                    .iter()
                    .find(|b| b.asset == asset)
                    .map(|b| b.received.units())
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracehound_trace::link::EdgeKind;
    use tracehound_trace::result::summarize;
    use tracehound_trace::{Endpoint, Hop, Stop};

    use super::*;

    fn hop(tx: &str, from: &str, to: &str, tainted: u128) -> Arc<Hop> {
        Arc::new(Hop {
            chain: "bitcoin".into(),
            tx: tx.into(),
            at: "1:0".into(),
            time: 0,
            from: from.into(),
            to: to.into(),
            asset: "native".into(),
            value: tainted,
            tainted,
            rule: "haircut".into(),
            edge: EdgeKind::UtxoTx,
        })
    }

    #[test]
    fn stolen_exposure_sums_inflows_and_keeps_endpoint_proofs() {
        // incident → a (100); a → b (60) and a → a (change, 40); b → d (30) twice via two txs,
        // d is an endpoint with the trace's own path and hop count.
        let edges = vec![
            hop("t0", "incident", "a", 100),
            hop("t1", "a", "b", 60),
            hop("t1", "a", "a", 40),
            hop("t2", "b", "d", 20),
            hop("t3", "b", "d", 10),
        ];
        let endpoint = Endpoint {
            chain: "bitcoin".into(),
            address: "d".into(),
            asset: "native".into(),
            amount: 30,
            label: None,
            category: None,
            freezable_by: None,
            stop: Stop::Unmoved,
            hops: 7,
            path: vec![edges[0].clone(), edges[1].clone(), edges[3].clone()],
            inflows: 2,
            fiat: None,
            entity: None,
            patterns: Vec::new(),
        };
        let stolen = BTreeMap::from([(("bitcoin".to_string(), "native".to_string()), 100)]);
        let result = TraceResult {
            incident: "x".into(),
            policy: Policy::Haircut,
            summary: summarize(Policy::Haircut, &stolen, std::slice::from_ref(&endpoint)),
            endpoints: vec![endpoint],
            edges,
            notes: Vec::new(),
        };
        let got: HashMap<String, Exposure> = stolen_exposures(&result, Some("note"))
            .into_iter()
            .collect();
        assert_eq!(got.len(), 3);
        // Change back to itself is not received again.
        assert_eq!(got["a"].amount, 100);
        assert_eq!(got["a"].hops, 1);
        // b: not an endpoint, path walked back through its heaviest inflows.
        assert_eq!(got["b"].amount, 60);
        let txs = |e: &Exposure| e.path.iter().map(|s| s.tx.clone()).collect::<Vec<_>>();
        assert_eq!(txs(&got["b"]), ["t0", "t1"]);
        assert_eq!(got["b"].hops, 2);
        // d: both inflows, the endpoint's own path and hop count.
        assert_eq!(got["d"].amount, 30);
        assert_eq!(txs(&got["d"]), ["t0", "t1", "t2"]);
        assert_eq!(got["d"].hops, 7);
        assert_eq!(got["d"].label.as_deref(), Some("note"));
        assert!(got.values().all(|e| e.origin == Origin::Stolen));
    }
}
