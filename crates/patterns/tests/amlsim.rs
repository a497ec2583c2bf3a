//! The detectors on AMLSim's labelled graph (IBM/AMLSim sample `20K_fanin200cycle200`, in
//! `shared/data/aml/amlsim`; see its README): 20,000 accounts, 120,558 transfers over 149
//! steps, 1,804 fraudulent accounts in 200 fan-in and 200 cycle patterns. Simulated bank
//! transfers, not a chain: each row becomes one account-chain flow, a step one block.
//!
//! The data labels accounts (`isFraud`), not patterns. The fan-in patterns' targets are the
//! fraudulent accounts paid by several fraudulent accounts (AMLSim builds a fan-in as many
//! members paying one main account); cycle members are paid by exactly one. So:
//! - **fan-in, per target**: the fan-in detector's payees against the fraudulent accounts
//!   with ≥ `fan_min` fraudulent payers (precision and recall printed, floors asserted);
//! - **every detector, per account**: the share of the accounts a detector names that are
//!   fraudulent, against the 9 % base rate (how much a flag is worth to an analyst).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tracehound_core::fixtures::shared_data;
use tracehound_patterns::{Config, Flow, FlowGraph, Kind, detect_all};

const CHAIN: &str = "amlsim";

/// Cents of a decimal amount with at most two places, exactly.
fn cents(text: &str) -> u128 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 2, "amount {text}");
    let frac = format!("{frac:0<2}");
    whole.parse::<u128>().unwrap() * 100 + frac.parse::<u128>().unwrap()
}

struct Data {
    graph: FlowGraph,
    fraud: BTreeSet<String>,
}

fn load() -> Data {
    let dir = shared_data("aml/amlsim/20K_fanin200cycle200");
    let nodes = std::fs::read_to_string(dir.join("nodes.csv")).unwrap();
    let fraud: BTreeSet<String> = nodes
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let id = f.next()?;
            (f.next()? == "1").then(|| format!("a{id}"))
        })
        .collect();
    let txs = std::fs::read_to_string(dir.join("transactions.csv")).unwrap();
    let mut flows = Vec::new();
    for (i, l) in txs.lines().skip(1).enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 4, "line {}: {l}", i + 2);
        let step: u64 = f[3].parse().unwrap();
        flows.push(Flow {
            chain: CHAIN.into(),
            tx: format!("t{i}"),
            height: step,
            index: i as u64,
            time: step * 86_400,
            from: format!("a{}", f[0]),
            to: format!("a{}", f[1]),
            asset: "usd".into(),
            value: cents(f[2]),
            utxo: false,
            link: None,
        });
    }
    let mut graph = FlowGraph {
        flows,
        ..FlowGraph::default()
    };
    graph.sort();
    Data { graph, fraud }
}

#[test]
fn detectors_on_amlsim_labelled_graph() {
    let d = load();
    assert_eq!(d.graph.flows.len(), 120_558);
    assert_eq!(d.fraud.len(), 1_804);
    let c = Config::default();

    // Fan-in targets in the truth: fraudulent accounts with ≥ fan_min fraudulent payers.
    let mut payers: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for f in &d.graph.flows {
        if d.fraud.contains(&f.from) && d.fraud.contains(&f.to) {
            payers.entry(&f.to).or_default().insert(&f.from);
        }
    }
    let truth_targets: BTreeSet<String> = payers
        .iter()
        .filter(|(_, p)| p.len() >= c.fan_min)
        .map(|(t, _)| t.to_string())
        .collect();
    assert!(
        (150..=250).contains(&truth_targets.len()),
        "about 200 fan-in targets, found {}",
        truth_targets.len()
    );

    let started = std::time::Instant::now();
    let found = detect_all(&d.graph, &c);
    let took = started.elapsed();

    let mut report = vec![format!(
        "{} detections on {} flows in {:.2} s",
        found.len(),
        d.graph.flows.len(),
        took.as_secs_f64()
    )];
    // Fan-in, per target, with the default window (6 blocks, tuned for chains) and wider
    // ones (AMLSim spreads a fan-in over many steps).
    let mut figures = BTreeMap::new();
    for window in [c.fan_window, 30, 149] {
        let wide = Config {
            fan_window: window,
            ..Config::default()
        };
        let flagged: BTreeSet<String> = tracehound_patterns::detect::fan_ins(&d.graph, &wide)
            .iter()
            .filter(|x| x.kind == Kind::FanIn)
            .filter_map(|x| x.addresses.last().cloned())
            .collect();
        let hit = flagged.intersection(&truth_targets).count();
        let (precision, recall) = (
            hit as f64 / flagged.len().max(1) as f64,
            hit as f64 / truth_targets.len() as f64,
        );
        report.push(format!(
            "fan-in targets, window {window} steps: precision {hit}/{} = {precision:.3}, recall {hit}/{} = {recall:.3}",
            flagged.len(),
            truth_targets.len(),
        ));
        figures.insert(window, (precision, recall));
    }
    // Every detector, per account named.
    let base = d.fraud.len() as f64 / 20_000.0;
    let mut by_kind: BTreeMap<&str, (BTreeSet<&str>, usize)> = BTreeMap::new();
    for x in &found {
        let e = by_kind.entry(x.kind.name()).or_default();
        e.1 += 1;
        e.0.extend(x.addresses.iter().map(String::as_str));
    }
    for (kind, (accounts, n)) in &by_kind {
        let fraud = accounts.iter().filter(|a| d.fraud.contains(**a)).count();
        report.push(format!(
            "{kind}: {n} detections naming {} accounts, {fraud} fraudulent ({:.1} % vs base rate {:.1} %)",
            accounts.len(),
            fraud as f64 * 100.0 / accounts.len().max(1) as f64,
            base * 100.0
        ));
    }
    eprintln!("{}", report.join("\n"));
    let text = report.join("\n");
    // Floors a little under what this version measures (see the README), so a regression in
    // the fan detector shows.
    assert!(figures[&c.fan_window].1 >= 0.55, "{text}");
    assert!(figures[&c.fan_window].0 >= 0.15, "{text}");
    assert!(figures[&149].1 >= 0.99, "{text}");
    for (kind, (accounts, _)) in &by_kind {
        let fraud = accounts.iter().filter(|a| d.fraud.contains(**a)).count();
        assert!(
            fraud as f64 / accounts.len().max(1) as f64 > base,
            "{kind} flags fraud no better than chance: {text}"
        );
    }
}

/// The incremental detectors fed AMLSim step by step (a step is a block) equal the full
/// detectors over the steps so far, checked at every 30th step and at the end.
#[test]
fn incremental_step_by_step_equals_full() {
    let d = load();
    let c = Config::default();
    let mut live = tracehound_patterns::Incremental::new(c.clone());
    let mut by_step: BTreeMap<u64, Vec<Flow>> = BTreeMap::new();
    for f in &d.graph.flows {
        by_step.entry(f.height).or_default().push(f.clone());
    }
    let last = *by_step.keys().last().unwrap();
    let mut so_far = FlowGraph::default();
    let mut compared = 0;
    for (step, flows) in by_step {
        so_far.flows.extend(flows.iter().cloned());
        live.push(FlowGraph {
            flows,
            ..FlowGraph::default()
        })
        .unwrap();
        if step % 30 == 0 || step == last {
            so_far.sort();
            let want = detect_all(&so_far, &c);
            assert!(!want.is_empty());
            let got: Vec<tracehound_patterns::Detection> =
                live.detections().iter().map(|d| (**d).clone()).collect();
            assert_eq!(got, want, "after step {step}");
            compared += 1;
        }
    }
    assert_eq!(compared, 5);
    assert_eq!(live.flows().len(), 120_558);
}
