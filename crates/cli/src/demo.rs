//! `tracehound demo`: the main job end to end, on a heist it makes itself, with no node.
//!
//! It has the simulator (crate `tracehound-sim`, files mode) write a seeded UTXO heist among
//! benign traffic as Core-format blk files of litecoin-regtest, with its ground truth and
//! labels; ingests the files into the embedded store; builds the incident from the truth's
//! stolen outputs; traces it under a policy with the simulator's labels; and prints the summary
//! analysts publish after real heists (points of intervention ranked, still moving, dark,
//! dust, fees: parts that add up to the stolen total), the proof of the top endpoints, and how
//! the trace compares with the ground truth (`sim score`'s figures). Later stages (clustering,
//! detectors, alerts) extend it as they land.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use serde::Serialize;
use serde_json::Value;
use tracehound_btc::blk::BlkReader;
use tracehound_core::{Amount, Chain};
use tracehound_sim::{FilesConfig, GroundTruth, ResultFile, Score, write_to_files};
use tracehound_trace::result::AssetSummary;
use tracehound_trace::{Incident, Labels, Rules, StolenItem, TraceResult};

use crate::args::{DemoArgs, Global};
use crate::ingest::{self, IngestReport, open_store};
use crate::output::coins;

/// The chain the files mode writes.
const CHAIN: Chain = Chain::LitecoinRegtest;

/// The theft tx as the store resolves it.
#[derive(Serialize)]
struct Theft {
    txid: String,
    height: u32,
    /// (address, base units) of each input, resolved from the outputs they spend.
    inputs: Vec<(String, String)>,
    /// (address, base units) of each output.
    outputs: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Seconds {
    generate: f64,
    ingest: f64,
    trace: f64,
    total: f64,
}

/// What `--json` prints.
#[derive(Serialize)]
struct DemoReport {
    seed: u64,
    chain: String,
    generated: tracehound_sim::FilesSummary,
    ingested: IngestReport,
    theft: Theft,
    incident: Incident,
    labels: usize,
    /// The trace result, as `--out`'s trace.json holds it (the endpoints' paths are positions
    /// in its `edges`).
    trace: Value,
    score: Score,
    seconds: Seconds,
    out: Option<String>,
    /// The second part: the cross-chain heist through swaps, bridges and the mixer.
    cross_chain: crate::demo_cross::CrossReport,
}

pub(crate) fn run(global: &Global, args: &DemoArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = match &args.out {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut r| r.next().is_some())? {
                bail!(
                    "--out {}: the directory is not empty (the demo writes a fresh scenario there)",
                    d.display()
                );
            }
            d.clone()
        }
        None => work.path().join("scenario"),
    };
    let data_dir_given = global.data_dir.is_some();
    let mut global = global.clone();
    if !data_dir_given {
        global.data_dir = Some(work.path().join("store"));
    }
    let policy = args.policy.parse().map_err(anyhow::Error::msg)?;
    let quiet = global.json;
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };

    // 1. The heist, written as Core writes blocks.
    let config = FilesConfig {
        seed: args.seed,
        blocks: args.blocks,
        txs_per_block: args.txs_per_block,
        users: args.users,
        exchanges: 4,
        fan_out: 8,
        hops: 5,
        coinjoin_peers: 5,
        ..FilesConfig::default()
    };
    say(format!(
        "1. simulating a heist on {CHAIN} (seed {}): {} users, {} exchanges, background traffic; \
         a hot wallet drained, fanned out to {} peel chains into exchange deposits, then half \
         through a CoinJoin, half to a privacy exit",
        config.seed, config.users, config.exchanges, config.fan_out
    ));
    let (generated, truth) = write_to_files(&dir, &config)
        .with_context(|| format!("writing the scenario to {}", dir.display()))?;
    truth
        .write(&dir)
        .with_context(|| format!("writing the ground truth to {}", dir.display()))?;
    let t_generate = start.elapsed().as_secs_f64();
    say(format!(
        "   wrote {} blocks, {} txs, {} inputs, {} outputs as blk files ({} bytes) in {:.1} s, \
         with the ground truth ({} heist txs, {} resting places) and {} labels",
        generated.blocks,
        generated.txs,
        generated.inputs,
        generated.outputs,
        generated.bytes,
        generated.seconds,
        truth.utxo_txs.len(),
        truth.resting.len(),
        truth.labels.len()
    ));

    // 2. Ingest.
    let t = Instant::now();
    let store = open_store(&global)?;
    if let Some(tip) = store.tip(CHAIN)? {
        bail!(
            "{} already holds {CHAIN} up to height {}: the demo needs a fresh --data-dir",
            global.data_dir().display(),
            tip.height
        );
    }
    let reader = BlkReader::open(&dir.join("blocks"), CHAIN)?;
    let ingested = ingest::ingest_blk(
        &store,
        &reader,
        None,
        20_000,
        !quiet,
        &crate::links::load(None)?,
    )?;
    let t_ingest = t.elapsed().as_secs_f64();
    ensure!(
        ingested.txs == generated.txs && ingested.inputs == generated.inputs,
        "the store holds {} txs and {} inputs, the files {} and {}",
        ingested.txs,
        ingested.inputs,
        generated.txs,
        generated.inputs
    );
    let status = store.status()?;
    let st = status
        .iter()
        .find(|s| s.chain == CHAIN)
        .context("the store has no status for the demo chain")?;
    say(format!(
        "2. ingested into the embedded store ({}): {} blocks, {} txs, {} inputs resolved in {:.1} s; \
         tip {}, {} addresses, {} unspent outputs",
        global.data_dir().display(),
        ingested.blocks,
        ingested.txs,
        ingested.inputs,
        ingested.seconds,
        st.tip.as_ref().map_or(0, |t| t.height),
        st.addresses,
        st.utxos
    ));

    // The theft, from the truth: its stolen outputs are the incident.
    let theft_txid = truth
        .incident
        .txs
        .first()
        .context("the ground truth names no theft tx")?;
    let theft_truth = truth
        .utxo_txs
        .iter()
        .find(|t| &t.txid == theft_txid)
        .context("the theft tx is not among the truth's UTXO txs")?;
    let view = store.tx_at(CHAIN, u32::try_from(theft_truth.height)?, theft_truth.index)?;
    let theft = Theft {
        txid: view.txid.to_string(),
        height: view.height,
        inputs: view
            .inputs
            .iter()
            .map(|i| (i.address.clone(), i.value.units().to_string()))
            .collect(),
        outputs: view
            .outputs
            .iter()
            .map(|o| {
                (
                    o.address.clone().unwrap_or_else(|| "OP_RETURN".into()),
                    o.value.units().to_string(),
                )
            })
            .collect(),
    };
    let incident = incident_of(&truth)?;
    let stolen: u128 = incident.stolen.iter().filter_map(|s| s.amount).sum();
    say(format!(
        "   the theft: tx {} at height {} spends {} input{} resolved from the store ({} LTC from {}), \
         {} LTC of it to the thief",
        theft.txid,
        theft.height,
        view.inputs.len(),
        if view.inputs.len() == 1 { "" } else { "s" },
        coins(Amount::from_units(
            view.inputs.iter().map(|i| i.value.units()).sum()
        )),
        view.inputs.first().map_or("-", |i| i.address.as_str()),
        ltc(stolen)
    ));

    // 3. Trace.
    let t = Instant::now();
    let mut rules = Rules::new(policy);
    let labels_path = dir.join("labels.csv");
    rules.labels = Labels::from_csv_file(&labels_path)?;
    let labels = rules.labels.len();
    let result = tracehound_trace::trace(&store, &incident, rules)
        .with_context(|| format!("tracing incident {:?}", incident.name))?;
    let t_trace = t.elapsed().as_secs_f64();
    let trace_json = serde_json::to_string(&result)?;
    if args.out.is_some() {
        let path = dir.join("trace.json");
        std::fs::write(&path, &trace_json)
            .with_context(|| format!("writing {}", path.display()))?;
        let path = dir.join("incident.json");
        std::fs::write(&path, serde_json::to_string_pretty(&incident)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let summary = result
        .summary
        .assets
        .iter()
        .find(|s| s.chain == CHAIN.to_string() && s.asset == "native")
        .context("the trace has no summary for the stolen LTC")?;
    ensure!(
        summary.stolen == stolen,
        "the trace's stolen total {} is not the incident's {stolen}",
        summary.stolen
    );

    // 4. Against the ground truth, through the same reader `sim score` uses.
    let score = tracehound_sim::score(
        &truth,
        &ResultFile::parse(&trace_json, Path::new("(the demo's trace)"))?,
    );
    let cross_dir = match &args.out {
        Some(d) => d.join("cross-chain"),
        None => work.path().join("cross-chain"),
    };
    let total = start.elapsed().as_secs_f64();

    if quiet {
        let cross_chain = crate::demo_cross::run(&global, &cross_dir, policy, &say)?;
        let trace = serde_json::to_value(&result)?;
        return crate::output::json(&DemoReport {
            seed: config.seed,
            chain: CHAIN.to_string(),
            generated,
            ingested,
            theft,
            incident,
            labels,
            trace,
            score,
            seconds: Seconds {
                generate: t_generate,
                ingest: t_ingest,
                trace: t_trace,
                total,
            },
            out: args.out.as_ref().map(|d| d.display().to_string()),
            cross_chain,
        });
    }
    say(format!(
        "3. traced under {policy} with the simulator's {labels} labels in {t_trace:.2} s: {} endpoints",
        result.endpoints.len()
    ));
    print!("{}", summary_text(summary, &result, args.top));
    say(format!(
        "4. against the ground truth (attributed by {}):",
        truth.policy.split(" (").next().unwrap_or("its policy")
    ));
    print!("{}", truth_text(&score));
    crate::demo_cross::run(&global, &cross_dir, policy, &say)?;
    say(format!("done in {:.1} s.", start.elapsed().as_secs_f64()));
    if args.serve && args.live {
        let served = crate::demo_live::serve(
            &global,
            &cross_dir,
            args.bind,
            std::time::Duration::from_millis(args.live_ms.max(1)),
            &say,
        );
        drop(work);
        return served;
    }
    if args.serve {
        let data_dir = cross_dir.join("store");
        say(format!(
            "7. serving the cross-chain heist's data dir (incident {:?}): open the address below in a browser",
            crate::demo_cross::INCIDENT
        ));
        let mut served = global.clone();
        served.data_dir = Some(data_dir);
        let serve = crate::args::ServeArgs::local(args.bind, Some(cross_dir.join("links.toml")));
        // `work` (the temporary scenario and store) lives until the server stops.
        let served_result = crate::serve::run(&served, &serve);
        drop(work);
        return served_result;
    }
    match &args.out {
        Some(d) => say(format!(
            "   the scenario is in {0}: score it yourself with \
             `tracehound sim score --truth {0} --result {0}/trace.json`",
            d.display()
        )),
        None => say(
            "   (the scenario is temporary: pass --out DIR to keep it, --data-dir DIR to keep the store)"
                .into(),
        ),
    }
    Ok(())
}

/// The incident: every output of the truth's theft txs that carries stolen value, with that
/// amount (the theft's change back to the victim is not stolen).
fn incident_of(truth: &GroundTruth) -> anyhow::Result<Incident> {
    let chain = truth
        .utxo_chain
        .clone()
        .context("the ground truth has no UTXO chain")?;
    let mut stolen = Vec::new();
    for txid in &truth.incident.txs {
        let tx = truth
            .utxo_txs
            .iter()
            .find(|t| &t.txid == txid)
            .with_context(|| format!("theft tx {txid} is not among the truth's UTXO txs"))?;
        for o in tx.outputs.iter().filter(|o| o.stolen > 0) {
            stolen.push(StolenItem {
                chain: chain.clone(),
                tx: txid.clone(),
                vout: Some(o.vout),
                sub_index: None,
                amount: Some(u128::from(o.stolen)),
            });
        }
    }
    ensure!(!stolen.is_empty(), "the ground truth's theft moves nothing");
    Ok(Incident {
        name: format!("simulated heist (seed {})", truth.seed),
        notes: Some(format!("drained from {}", truth.incident.victim)),
        assets: Vec::new(),
        stolen,
        sources: Vec::new(),
    })
}

/// Litoshi as LTC.
fn ltc(units: u128) -> String {
    coins(Amount::from_units(units))
}

/// `part` of `whole` as a percentage with two decimals, from integers.
fn pct(part: u128, whole: u128) -> String {
    if whole == 0 {
        return "-".into();
    }
    let bp = part * 10_000 / whole;
    format!("{}.{:02}%", bp / 100, bp % 100)
}

/// The analysts' summary: parts of the stolen total, the points of intervention ranked, and
/// the proof of the top endpoints.
fn summary_text(s: &AssetSummary, result: &TraceResult, top: usize) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let row = |o: &mut String, indent: usize, what: &str, v: u128| {
        let _ = writeln!(
            o,
            "   {:indent$}{what:<w$} {:>20} LTC {:>8}",
            "",
            ltc(v),
            pct(v, s.stolen),
            w = 40 - indent
        );
    };
    let _ = writeln!(o);
    row(&mut o, 0, "stolen", s.stolen);
    row(&mut o, 0, "at points of intervention", s.intervention);
    for f in &s.by_freezer {
        row(
            &mut o,
            2,
            &format!("freezable by {}", f.freezable_by),
            f.amount,
        );
    }
    for (i, p) in s.intervention_points.iter().take(8).enumerate() {
        let _ = writeln!(
            o,
            "       {:>2}. {:>20} LTC  {} ({})",
            i + 1,
            ltc(p.amount),
            p.address,
            p.label.as_deref().unwrap_or("unlabeled")
        );
    }
    if s.intervention_points.len() > 8 {
        let rest: u128 = s.intervention_points[8..].iter().map(|p| p.amount).sum();
        let _ = writeln!(
            o,
            "           … {} more points, {} LTC",
            s.intervention_points.len() - 8,
            ltc(rest)
        );
    }
    row(&mut o, 0, "still moving / held", s.still_moving);
    row(&mut o, 0, "dark (mixer, privacy exit)", s.dark);
    row(&mut o, 0, "dust", s.dust);
    row(&mut o, 0, "fees", s.fees);
    let parts = s.intervention + s.still_moving + s.dark + s.dust + s.fees;
    let _ = writeln!(
        o,
        "   {}",
        if parts == s.stolen {
            "(the parts add up to the stolen total exactly)".to_string()
        } else {
            format!(
                "(the parts add up to {} LTC: {} policy amounts are exposure, not value)",
                ltc(parts),
                result.policy
            )
        }
    );
    let _ = writeln!(
        o,
        "\n   top endpoints with their proof (full paths: --json):"
    );
    for (i, e) in result.endpoints.iter().take(top).enumerate() {
        let _ = writeln!(
            o,
            "   #{} {} LTC at {} — {}{}, {} hops, {} tainted inflows",
            i + 1,
            ltc(e.amount),
            e.address,
            e.label.as_deref().unwrap_or("unlabeled"),
            match &e.freezable_by {
                Some(f) => format!(" (stop: {}, freezable by {f})", e.stop.name()),
                None => format!(" (stop: {})", e.stop.name()),
            },
            e.hops,
            e.inflows
        );
        for (k, h) in e.path.iter().enumerate() {
            let _ = writeln!(
                o,
                "      {:>2}. tx {} @{}  {:>20} of {:>20} LTC  {}",
                k + 1,
                h.tx,
                h.at,
                ltc(h.tainted),
                ltc(h.value),
                h.rule
            );
        }
    }
    for n in &result.notes {
        let _ = writeln!(o, "   note: {n}");
    }
    let _ = writeln!(o);
    o
}

/// How the trace compares with the ground truth: recall and precision by value, per kind.
fn truth_text(score: &Score) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let f = &score.overall;
    let _ = writeln!(
        o,
        "   recall by value {} ({} of {} LTC located at the true resting places), precision by value {}",
        pct(f.matched_value, f.truth_value),
        ltc(f.matched_value),
        ltc(f.truth_value),
        pct(f.matched_value, f.result_value)
    );
    for k in &score.by_kind {
        let name = serde_json::to_value(k.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let g = &k.figures;
        let _ = writeln!(
            o,
            "     {name:<18} {:>3} places: {:>3} exact, {:>3} partial, {:>3} missed; recall by value {:>8}",
            g.places,
            g.exact,
            g.partial,
            g.missed,
            pct(g.matched_value, g.truth_value)
        );
    }
    if !score.unmatched.is_empty() {
        let v: u128 = score.unmatched.iter().map(|u| u.amount).sum();
        let _ = writeln!(
            o,
            "     {} endpoints ({} LTC) are places the truth does not know (under the truth's rule that value rests elsewhere)",
            score.unmatched.len(),
            ltc(v)
        );
    }
    o
}
