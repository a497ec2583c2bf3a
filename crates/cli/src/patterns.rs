//! `tracehound patterns`: laundering patterns (crate `tracehound-patterns`) along a traced
//! incident or around an address; and the pattern tags `tracehound trace` puts on endpoints.

use anyhow::{Context, bail};
use tracehound_core::{Address, Chain};
use tracehound_patterns::{Config, Detection, detect_all};
use tracehound_store::Store;
use tracehound_trace::{Incident, Labels, Rules};

use crate::args::{Global, PatternsArgs};
use crate::ingest::open_store;
use crate::output;

pub(crate) fn run(global: &Global, args: &PatternsArgs) -> anyhow::Result<()> {
    let mut config = Config::default();
    for t in &args.threshold {
        let (asset, units) = t.split_once('=').with_context(|| {
            format!("--threshold {t:?}: expected CHAIN:ASSET=BASE_UNITS or ASSET=BASE_UNITS")
        })?;
        let units: u128 = units.parse().with_context(|| {
            format!("--threshold {t:?}: {units:?} is not an integer number of base units")
        })?;
        config.thresholds.insert(asset.to_string(), units);
    }
    let mut labels = crate::labels::trace_labels(global)?;
    if let Some(path) = &args.labels {
        labels.merge(Labels::from_csv_file(path)?);
    }
    let store = open_store(global)?;
    let (subject, graph) = match (&args.incident, &args.address) {
        (Some(which), _) => {
            let incident = Incident::from_file(&crate::trace::find_incident(global, which)?)?;
            let mut rules = Rules::new(args.policy.parse().map_err(anyhow::Error::msg)?);
            rules.max_hops = args.max_hops;
            rules.labels = labels.clone();
            let result = tracehound_trace::trace(&store, &incident, rules)
                .with_context(|| format!("tracing incident {:?}", incident.name))?;
            (
                format!("incident {}", incident.name),
                tracehound_app::trace_graph(&store, &labels, &result)?,
            )
        }
        (None, Some(text)) => {
            let address = parse_address(&store, args.chain, text)?;
            let reach = tracehound_patterns::store::Reach {
                hops: args.hops.max(1),
                ..Default::default()
            };
            let g = tracehound_patterns::store::around(&store, &labels, &address, reach)
                .with_context(|| format!("reading the flows around {text}"))?;
            (
                format!(
                    "{} hop(s) around {} on {}",
                    reach.hops,
                    text,
                    address.chain()
                ),
                g,
            )
        }
        (None, None) => bail!("give --incident FILE|NAME or --address A"),
    };
    let found: Vec<Detection> = detect_all(&graph, &config)
        .into_iter()
        .filter(|d| d.score >= args.min_score)
        .collect();
    if global.json {
        return output::json(&serde_json::json!({
            "subject": subject,
            "flows": graph.flows.len(),
            "detections": found,
        }));
    }
    println!(
        "{subject}: {} flow(s), {} detection(s)",
        graph.flows.len(),
        found.len()
    );
    println!(
        "{:>5}  {:<15} {:>4} {:>5}  explanation",
        "score", "kind", "txs", "addrs"
    );
    for d in &found {
        println!(
            "{:>5}  {:<15} {:>4} {:>5}  {}",
            d.score,
            d.kind.name(),
            d.txs.len(),
            d.addresses.len(),
            d.explanation
        );
    }
    Ok(())
}

/// `text` on `chain`, or on the first stored chain it parses on.
fn parse_address(store: &Store, chain: Option<Chain>, text: &str) -> anyhow::Result<Address> {
    if let Some(c) = chain {
        return Ok(Address::parse(c, text)?);
    }
    for c in store.chains()? {
        if let Ok(a) = Address::parse(c, text) {
            return Ok(a);
        }
    }
    bail!("{text} is no address of any stored chain (give --chain)")
}
