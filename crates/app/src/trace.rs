//! A trace as every front end runs it: the engine's result tagged with each endpoint's entity
//! (from `tracehound cluster`) and the laundering patterns touching its path.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use tracehound_core::{Address, Chain};
use tracehound_patterns::graph::Heights;
use tracehound_patterns::{Config, Detection, Flow, FlowGraph, Incremental, Touching, detect_all};
use tracehound_store::Store;
use tracehound_trace::{Incident, Labels, Rules, TraceResult};

use crate::{AppError, DataDir};

impl DataDir {
    /// Traces `incident` under `rules` and tags the endpoints with entities and patterns.
    pub fn trace(
        &self,
        store: &Store,
        incident: &Incident,
        rules: Rules,
    ) -> Result<TraceResult, AppError> {
        let labels = rules.labels.clone();
        let mut result =
            tracehound_trace::trace(store, incident, rules).map_err(|source| AppError::Trace {
                incident: incident.name.clone(),
                source: Box::new(source),
            })?;
        self.tag(store, &labels, &mut result)?;
        Ok(result)
    }

    /// Tags a trace's endpoints with entities and patterns (what [`DataDir::trace`] does after
    /// tracing; a live trace's result gets the same).
    pub fn tag(
        &self,
        store: &Store,
        labels: &Labels,
        result: &mut TraceResult,
    ) -> Result<(), AppError> {
        tag_entities(self, store, labels, result)?;
        tag_patterns(store, labels, result)
    }
}

/// How far a clustering of `chain` would reach over the store as it is now, in the unit of
/// [`tracehound_cluster::Clustering::scanned`]: txs (UTXO) or the next height (account).
pub fn clustered_extent(store: &tracehound_store::Store, chain: Chain) -> Result<u64, AppError> {
    let status = store
        .status()
        .map_err(AppError::store("reading the store's status"))?
        .into_iter()
        .find(|c| c.chain == chain);
    Ok(match (&status, chain.family()) {
        (Some(c), tracehound_core::ChainFamily::Utxo) => c.txs,
        (Some(c), tracehound_core::ChainFamily::Account) => {
            c.tip.as_ref().map_or(0, |t| u64::from(t.height) + 1)
        }
        (None, _) => 0,
    })
}

/// Most members of one entity whose labels are read to name it (an exchange's cluster can
/// hold millions of addresses; its labeled ones are many, any of them names it).
const ENTITY_LABEL_SCAN: usize = 10_000;

/// Tags each endpoint with its entity, for every chain `tracehound cluster` has clustered:
/// the entity's id and size, and the strongest label among its members when the endpoint's
/// own address has none.
pub fn tag_entities(
    data: &DataDir,
    store: &tracehound_store::Store,
    labels: &Labels,
    result: &mut tracehound_trace::TraceResult,
) -> Result<(), AppError> {
    use std::collections::{HashMap, HashSet};
    use tracehound_cluster::Clustering;

    let chains: HashSet<String> = result.endpoints.iter().map(|e| e.chain.clone()).collect();
    for name in chains {
        let Ok(chain) = name.parse::<Chain>() else {
            continue;
        };
        let path = Clustering::path_in(data.root(), chain);
        if !path.exists() {
            continue;
        }
        let clustering = Clustering::load(&path)?;
        // Address ids are only stable while the chain only grows: after an unwind below what
        // was clustered, re-ingested addresses reuse ids and the file would name others.
        let held = clustered_extent(store, chain)?;
        if held < clustering.scanned {
            result.notes.push(format!(
                "the clustering of {chain} covers more than the store now holds (it was unwound): entities not shown; re-run `tracehound cluster`"
            ));
            continue;
        }
        if held > clustering.scanned {
            result.notes.push(format!(
                "the store's {chain} has grown since it was clustered: addresses seen since carry no entity; re-run `tracehound cluster`"
            ));
        }
        let mut of_endpoint = Vec::new();
        for (i, e) in result.endpoints.iter().enumerate() {
            if e.chain != name {
                continue;
            }
            let Ok(addr) = Address::parse(chain, &e.address) else {
                continue; // `fee`, `txid:vout` places
            };
            if let Some(id) = tracehound_cluster::store::address_id(store, &addr)?
                && let Some(entity) = clustering.entity_of(id)
            {
                of_endpoint.push((i, entity));
            }
        }
        let wanted: HashSet<u32> = of_endpoint.iter().map(|&(_, e)| e).collect();
        let mut members: HashMap<u32, (u64, Vec<u32>)> = HashMap::new();
        for (id, &e) in (0u32..).zip(&clustering.entity) {
            if wanted.contains(&e) {
                let m = members.entry(e).or_default();
                m.0 += 1;
                if m.1.len() < ENTITY_LABEL_SCAN {
                    m.1.push(id);
                }
            }
        }
        let names = tracehound_cluster::store::Names::open(store, chain)?;
        let mut named: HashMap<u32, Option<String>> = HashMap::new();
        for (i, entity) in of_endpoint {
            let Some((size, ids)) = members.get(&entity) else {
                continue;
            };
            let label = match named.get(&entity) {
                Some(l) => l.clone(),
                None => {
                    let mut best: Option<&tracehound_trace::Label> = None;
                    for &id in ids {
                        if let Some(l) = labels.get(chain, &names.text(id)?)
                            && best.is_none_or(|b| l.confidence > b.confidence)
                        {
                            best = Some(l);
                        }
                    }
                    let l = best.map(|l| l.label.clone());
                    named.insert(entity, l.clone());
                    l
                }
            };
            if let Some(e) = result.endpoints.get_mut(i) {
                e.entity = Some(tracehound_trace::EntityTag {
                    id: entity,
                    size: *size,
                    label: label.filter(|_| e.label.is_none()),
                });
            }
        }
    }
    Ok(())
}

/// A trace's flows with label categories of every address on them and CoinJoins flagged.
pub fn trace_graph(
    store: &Store,
    labels: &Labels,
    result: &TraceResult,
) -> Result<FlowGraph, AppError> {
    let mut g = FlowGraph::from_trace(result);
    let labeled = label_categories(labels, &g.flows);
    g.categories.extend(labeled);
    tracehound_patterns::store::mark_coinjoins(store, &mut g)?;
    Ok(g)
}

/// The label categories of the payers and payees of `flows`, by (chain, address).
fn label_categories(labels: &Labels, flows: &[Flow]) -> Vec<((String, String), String)> {
    let mut out = Vec::new();
    for f in flows {
        let Ok(chain) = f.chain.parse::<Chain>() else {
            continue;
        };
        for a in [&f.from, &f.to] {
            if let Some(l) = labels.get(chain, a) {
                out.push(((f.chain.clone(), a.clone()), l.category.clone()));
            }
        }
    }
    out
}

/// Tags each endpoint of `result` with the pattern kinds touching its proof path or address.
pub fn tag_patterns(
    store: &Store,
    labels: &Labels,
    result: &mut TraceResult,
) -> Result<(), AppError> {
    let g = trace_graph(store, labels, result)?;
    let found = detect_all(&g, &Config::default());
    tag_with_patterns(result, &found);
    Ok(())
}

/// Tags each endpoint of `result` with the kinds of the detections `found` touching its
/// proof path or address.
pub fn tag_with_patterns<D: Borrow<Detection>>(result: &mut TraceResult, found: &[D]) {
    let touching = Touching::new(found.iter().map(Borrow::borrow));
    for e in &mut result.endpoints {
        let path: Vec<&str> = e.path.iter().map(|h| &*h.tx).collect();
        e.patterns = touching.kinds(&e.address, &path);
    }
}

/// The patterns on a live trace, kept up to date block by block: each update pushes only the
/// flows of blocks above those seen before (labeled and CoinJoin-flagged like
/// [`trace_graph`]'s) to an [`Incremental`] detector. Its detections equal
/// `detect_all(trace_graph(..))` of the same result (`tracehound bench live` checks this after
/// every block). A live trace that starts over needs new `LivePatterns` too; one whose edges
/// at the heights seen are no longer the ones seen is found again in full.
#[derive(Debug)]
pub struct LivePatterns {
    detector: Incremental,
    /// Per chain, the highest height of the result's edges at the last update.
    seen: Heights,
    /// How many edges the result had then.
    edges: usize,
    /// Label categories of the addresses on the flows pushed (labels do not change under one
    /// live trace: new labels start it over).
    labeled: HashMap<(String, String), String>,
}

impl Default for LivePatterns {
    fn default() -> Self {
        LivePatterns {
            detector: Incremental::new(Config::default()),
            seen: Heights::default(),
            edges: 0,
            labeled: HashMap::new(),
        }
    }
}

impl LivePatterns {
    /// The detections on `result`, a later result of the same live trace (its endpoints'
    /// categories count, as in [`trace_graph`]).
    pub fn update(
        &mut self,
        store: &Store,
        labels: &Labels,
        result: &TraceResult,
    ) -> Result<Vec<Arc<Detection>>, AppError> {
        let (mut batch, hops) = FlowGraph::from_trace_after(result, &self.seen);
        if hops.at_or_below != self.edges {
            // The past changed (a trace started over, or another one): found again in full.
            *self = LivePatterns::default();
            batch = FlowGraph::from_trace(result);
        }
        self.labeled.extend(label_categories(labels, &batch.flows));
        batch
            .categories
            .extend(self.labeled.iter().map(|(k, v)| (k.clone(), v.clone())));
        tracehound_patterns::store::mark_coinjoins(store, &mut batch)?;
        self.detector.push(batch)?;
        self.seen = hops.heights;
        self.edges = result.edges.len();
        Ok(self.detector.detections())
    }
}
