//! `tracehound cluster`, `tracehound entity show` and `tracehound bench cluster`: address
//! clustering over the store (crate `tracehound-cluster`), saved per chain in the data dir.

use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::HashMap;
use tracehound_cluster::deposit::{DepositReport, DepositRules};

use tracehound_cluster::score::{PairScore, pairwise};
use tracehound_cluster::{Clustering, EntityStats, Figures, Options, cluster_chain, describe};
use tracehound_core::{Address, Chain, ChainFamily};

use crate::args::{BenchClusterArgs, ClusterArgs, EntityShowArgs, Global};
use crate::ingest::open_store;
use crate::output;

#[derive(Serialize)]
struct ChainReport {
    chain: String,
    file: String,
    #[serde(flatten)]
    stats: EntityStats,
    #[serde(flatten)]
    figures: Figures,
    inputs_per_second: f64,
    deposit: Option<DepositReport>,
    /// Against `--truth`, when given and it knows the chain.
    score: Option<PairScore>,
}

/// Pairwise scores of `c` against the owners of `truths` that name its chain.
fn score(
    store: &tracehound_store::Store,
    c: &Clustering,
    truths: &[tracehound_sim::GroundTruth],
) -> anyhow::Result<Option<PairScore>> {
    let chain = c.chain.name();
    let owner: HashMap<String, &str> = truths
        .iter()
        .flat_map(|t| &t.addresses)
        .filter(|a| a.chain == chain)
        .map(|a| (a.address.to_lowercase(), a.entity.as_str()))
        .collect();
    if owner.is_empty() {
        return Ok(None);
    }
    let texts: Vec<String> = match c.chain.family() {
        ChainFamily::Utxo => {
            let links = store.utxo_links(c.chain)?;
            (0..links.address_count()?)
                .map(|id| links.address(id))
                .collect::<Result<_, _>>()?
        }
        ChainFamily::Account => store
            .account_addresses(c.chain)?
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
    };
    Ok(Some(pairwise(texts.iter().zip(&c.entity).filter_map(
        |(a, e)| owner.get(&a.to_lowercase()).map(|o| (*e, *o)),
    ))))
}

pub(crate) fn run(global: &Global, args: &ClusterArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let chains = match args.chain {
        Some(c) if !store.chains()?.contains(&c) => bail!("the store has no {c} (ingest it first)"),
        Some(c) => vec![c],
        None => store.chains()?,
    };
    if chains.is_empty() {
        bail!("the store is empty: ingest a chain first");
    }
    let truths = args
        .truth
        .iter()
        .map(|d| {
            tracehound_sim::read_truth(d)
                .with_context(|| format!("reading the truth in {}", d.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels = crate::labels::label_store(global)?;
    let rules = DepositRules {
        min_senders: args.min_senders,
        window: args.window,
        min_forwarded_pct: args.forwarded_pct,
        ..DepositRules::default()
    };
    let mut reports = Vec::new();
    for chain in chains {
        let (c, deposit) = cluster_chain(
            &store,
            chain,
            Options {
                change: args.change,
            },
            labels.as_deref(),
            &rules,
        )
        .with_context(|| format!("clustering {chain}"))?;
        let file = Clustering::path_in(&global.data_dir(), chain);
        c.save(&file)?;
        let score = score(&store, &c, &truths)?;
        reports.push(ChainReport {
            score,
            chain: chain.name(),
            file: file.display().to_string(),
            stats: c.stats(),
            inputs_per_second: c.figures.inputs as f64 / c.figures.seconds.max(1e-9),
            figures: c.figures,
            deposit,
        });
    }
    if global.json {
        return output::json(&reports);
    }
    for r in &reports {
        let s = &r.stats;
        println!(
            "{}: {} addresses in {} entities ({} of two or more); largest: entity {} with {} addresses",
            r.chain, s.addresses, s.entities, s.multi, s.largest, s.largest_size
        );
        let f = &r.figures;
        let rules: Vec<String> = f
            .coinjoins
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "  merges: {} co-spend, {} change{}, {} deposit; {} coinjoins skipped{}",
            f.merges,
            f.change_merges,
            if f.change { "" } else { " (off; --change)" },
            f.deposit_merges,
            f.coinjoins_skipped,
            if rules.is_empty() {
                String::new()
            } else {
                format!(" ({})", rules.join(", "))
            }
        );
        if let Some(d) = &r.deposit {
            println!(
                "  deposit addresses: {} found among {} senders to {} labelled exchange addresses",
                d.deposits, d.candidates, d.hot_wallets
            );
        }
        if let Some(s) = &r.score {
            println!(
                "  against the truth: pairwise precision {:.4}, recall {:.4} over {} addresses ({} of {} same-owner pairs joined, {} joined in all)",
                s.precision,
                s.recall,
                s.addresses,
                s.correct_pairs,
                s.true_pairs,
                s.predicted_pairs
            );
        }
        if r.deposit.is_some() {
            println!(
                "  {} transfers read in {:.2} s; saved to {}",
                f.txs, f.seconds, r.file
            );
        } else {
            println!(
                "  {} txs, {} inputs in {:.2} s ({:.0} inputs/s); saved to {}",
                f.txs, f.inputs, f.seconds, r.inputs_per_second, r.file
            );
        }
    }
    Ok(())
}

/// The clustered chains of the data dir (those with a file), or `chain`.
fn clustered(global: &Global, chain: Option<Chain>) -> anyhow::Result<Vec<Chain>> {
    let dir = global.data_dir();
    let mut out = Vec::new();
    let candidates = match chain {
        Some(c) => vec![c],
        None => open_store(global)?.chains()?,
    };
    for c in candidates {
        if Clustering::path_in(&dir, c).exists() {
            out.push(c);
        }
    }
    if out.is_empty() {
        bail!(
            "no clustering{} in {}: run `tracehound cluster` first",
            chain.map(|c| format!(" of {c}")).unwrap_or_default(),
            dir.display()
        );
    }
    Ok(out)
}

pub(crate) fn show(global: &Global, args: &EntityShowArgs) -> anyhow::Result<()> {
    let chains = clustered(global, args.chain)?;
    let store = open_store(global)?;
    let mut found = None;
    if let Ok(id) = args.which.parse::<u32>() {
        let [chain] = chains.as_slice() else {
            bail!(
                "entity {id}: several chains are clustered ({}); give --chain",
                chains
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        found = Some((*chain, Some(id), None));
    } else {
        for &chain in &chains {
            let Ok(addr) = Address::parse(chain, &args.which) else {
                continue;
            };
            if let Some(id) = tracehound_cluster::store::address_id(&store, &addr)? {
                found = Some((chain, None, Some(id)));
                break;
            }
        }
    }
    let Some((chain, entity, address)) = found else {
        bail!(
            "{} is neither an entity id nor an address seen on {}",
            args.which,
            chains
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let clustering = Clustering::load(&Clustering::path_in(&global.data_dir(), chain))?;
    let held = tracehound_app::clustered_extent(&store, chain)?;
    if held < clustering.scanned {
        anyhow::bail!(
            "the clustering of {chain} covers more than the store now holds (it was unwound since): re-run `tracehound cluster --chain {chain}`"
        );
    }
    let labels = crate::labels::label_store(global)?;
    let v = describe(
        &store,
        labels.as_deref(),
        &clustering,
        entity,
        address,
        args.limit,
    )?;
    if global.json {
        return output::json(&v);
    }
    println!(
        "{} entity {} ({}): {} addresses",
        v.chain, v.entity, v.entity_address, v.size
    );
    println!(
        "members{}:",
        if v.size > v.members.len() as u64 {
            format!(" (first {})", v.members.len())
        } else {
            String::new()
        }
    );
    for m in &v.members {
        println!("  {:>10}  {}", m.id, m.address);
    }
    if v.labels.is_empty() {
        println!("labels: none");
    } else {
        println!("labels (strongest first):");
        for l in &v.labels {
            println!(
                "  {:>3}  {} [{}] on {} ({})",
                l.confidence, l.label, l.category, l.address, l.source
            );
        }
    }
    if let Some(a) = &v.address {
        if v.evidence.is_empty() {
            println!("{a} is the entity's id address: no evidence needed");
        } else {
            println!("evidence joining {a} to {}:", v.entity_address);
            for e in &v.evidence {
                println!(
                    "  {} (confidence {}) tx {} at height {}: {} – {}",
                    e.kind, e.confidence, e.txid, e.height, e.from, e.to
                );
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct BenchReport {
    inputs: u64,
    txs: u64,
    addresses: u32,
    union_find_seconds: f64,
    union_find_inputs_per_second: f64,
    clusterer_seconds: f64,
    clusterer_inputs_per_second: f64,
    merges: u64,
    store: Vec<ChainReport>,
}

pub(crate) fn bench(global: &Global, args: &BenchClusterArgs) -> anyhow::Result<()> {
    use tracehound_cluster::synth;
    let t = synth::generate(args.addresses, args.inputs, args.seed);
    let n = t.inputs.len() as u64;
    let started = Instant::now();
    let merges = synth::union_find(&t);
    let uf = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let merges2 = synth::clusterer(&t);
    let cl = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        merges == merges2,
        "the clusterer merged {merges2}, the union-find {merges}"
    );
    let mut store_reports = Vec::new();
    if global
        .data_dir()
        .join(tracehound_store::STORE_FILE)
        .exists()
    {
        let store = open_store(global)?;
        for chain in store.chains()? {
            if chain.family() != ChainFamily::Utxo {
                continue;
            }
            let (c, _) = cluster_chain(
                &store,
                chain,
                Options::default(),
                None,
                &DepositRules::default(),
            )?;
            store_reports.push(ChainReport {
                chain: chain.name(),
                file: String::new(),
                stats: c.stats(),
                inputs_per_second: c.figures.inputs as f64 / c.figures.seconds.max(1e-9),
                figures: c.figures,
                deposit: None,
                score: None,
            });
        }
    }
    let r = BenchReport {
        inputs: n,
        txs: t.ends.len() as u64,
        addresses: t.addresses,
        union_find_seconds: uf,
        union_find_inputs_per_second: n as f64 / uf.max(1e-9),
        clusterer_seconds: cl,
        clusterer_inputs_per_second: n as f64 / cl.max(1e-9),
        merges,
        store: store_reports,
    };
    if global.json {
        return output::json(&r);
    }
    println!(
        "synthetic: {} inputs in {} txs over {} addresses, {} merges",
        r.inputs, r.txs, r.addresses, r.merges
    );
    println!(
        "  union-find: {:.3} s, {:.1} M inputs/s",
        r.union_find_seconds,
        r.union_find_inputs_per_second / 1e6
    );
    println!(
        "  clusterer (CoinJoin guard, evidence): {:.3} s, {:.1} M inputs/s",
        r.clusterer_seconds,
        r.clusterer_inputs_per_second / 1e6
    );
    for s in &r.store {
        println!(
            "store {}: {} txs, {} inputs clustered in {:.2} s ({:.1} M inputs/s, store read included)",
            s.chain,
            s.figures.txs,
            s.figures.inputs,
            s.figures.seconds,
            s.inputs_per_second / 1e6
        );
    }
    Ok(())
}
