//! `tracehound screen`: build the exposure index (crate `tracehound-screen`) and screen
//! addresses against it, one by one or in bulk from a file; `tracehound bench screen`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, bail};
use tracehound_core::{Chain, ChainFamily};
use tracehound_labels::normalize;
use tracehound_screen::{BuildOptions, ExposureIndex, Screening};
use tracehound_trace::Incident;

use crate::args::{BenchScreenArgs, Global, ScreenArgs, ScreenCommand, ScreenIndexArgs};
use crate::ingest::open_store;
use crate::output;

pub(crate) fn run(global: &Global, args: &ScreenArgs) -> anyhow::Result<()> {
    if let Some(ScreenCommand::Index(a)) = &args.command {
        return index(global, a);
    }
    if args.addresses.is_empty() && args.file.is_none() {
        bail!(
            "give addresses to screen, or --file FILE (or `tracehound screen index` to build the index)"
        );
    }
    let dir = global.data_dir();
    let index = ExposureIndex::open_in(&dir)?;
    let default_chain = || -> anyhow::Result<Chain> {
        if let Some(c) = args.chain {
            return Ok(c);
        }
        match index.meta().chains.as_slice() {
            [one] => Chain::from_str(one).map_err(|e| anyhow::anyhow!("{e}")),
            chains => bail!(
                "give --chain: the index covers {} chains ({})",
                chains.len(),
                chains.join(", ")
            ),
        }
    };
    // (where it came from, chain, address as given)
    let mut wanted: Vec<(String, Chain, String)> = Vec::new();
    for a in &args.addresses {
        wanted.push((format!("argument {a:?}"), default_chain()?, a.clone()));
    }
    if let Some(file) = &args.file {
        wanted.extend(read_file(file, args.chain, &default_chain)?);
    }
    let labels = crate::labels::label_store(global)?;
    let reader = index.reader()?;
    let start = Instant::now();
    let mut results = Vec::with_capacity(wanted.len());
    for (origin, chain, text) in &wanted {
        let address = normalize::address(*chain, text)
            .map_err(|e| anyhow::anyhow!("{origin}: not a valid {chain} address: {e}"))?;
        results.push(tracehound_app::screen(
            &reader,
            labels.as_deref(),
            *chain,
            address.as_str(),
        )?);
    }
    let elapsed = start.elapsed();
    if args.file.is_some() {
        eprintln!(
            "screened {} addresses in {:.3} s ({:.0} addresses/s)",
            results.len(),
            elapsed.as_secs_f64(),
            results.len() as f64 / elapsed.as_secs_f64().max(1e-9)
        );
    }
    if global.json {
        return output::json(&results);
    }
    if args.file.is_some() {
        println!(
            "{:<8} {:<20} {:<64} top reason",
            "level", "chain", "address"
        );
        for s in &results {
            println!(
                "{:<8} {:<20} {:<64} {}",
                s.level.name(),
                s.chain,
                s.address,
                s.reasons.first().map_or("", |r| r.text.as_str())
            );
        }
        return Ok(());
    }
    for s in &results {
        print_one(s);
    }
    Ok(())
}

fn print_one(s: &Screening) {
    println!("{} {}: {}", s.chain, s.address, s.level.name());
    for l in &s.labels {
        println!(
            "  label: {} ({}, source {}, confidence {})",
            l.label, l.category, l.source, l.confidence
        );
    }
    for r in &s.reasons {
        println!("  [{}] {}", r.level.name(), r.text);
        if let Some(e) = &r.exposure {
            let path: Vec<String> = e
                .path
                .iter()
                .map(|h| format!("{} ({} → {}, {})", h.tx, h.from, h.to, h.amount))
                .collect();
            if !path.is_empty() {
                println!("    path: {}", path.join(" ⇒ "));
            }
        }
    }
    if s.reasons.is_empty() {
        println!("  no exposure found");
    }
}

/// The addresses of a bulk file: `ADDRESS` or `CHAIN,ADDRESS` a line.
fn read_file(
    path: &Path,
    chain: Option<Chain>,
    default_chain: &dyn Fn() -> anyhow::Result<Chain>,
) -> anyhow::Result<Vec<(String, Chain, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading addresses from {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let origin = format!("{} line {}", path.display(), n + 1);
        if n == 0 && fields.iter().any(|f| f.eq_ignore_ascii_case("address")) {
            continue;
        }
        match fields.as_slice() {
            [address] => out.push((origin, default_chain()?, (*address).to_string())),
            [c, address, ..] => {
                let c = match chain {
                    Some(c) => c,
                    None => Chain::from_str(c)
                        .map_err(|e| anyhow::anyhow!("{origin}: unknown chain {c:?}: {e}"))?,
                };
                out.push((origin, c, (*address).to_string()));
            }
            [] => {}
        }
    }
    if out.is_empty() {
        bail!("{} holds no addresses to screen", path.display());
    }
    Ok(out)
}

fn index(global: &Global, a: &ScreenIndexArgs) -> anyhow::Result<()> {
    let dir = global.data_dir();
    let mut incidents: Vec<Incident> = Vec::new();
    if a.incident.is_empty() {
        let saved = crate::trace::incidents_dir(global);
        if saved.exists() {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&saved)
                .with_context(|| format!("reading {}", saved.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            paths.sort();
            for p in paths {
                incidents.push(Incident::from_file(&p)?);
            }
        }
    } else {
        for which in &a.incident {
            incidents.push(Incident::from_file(&crate::trace::find_incident(
                global, which,
            )?)?);
        }
    }
    let tags = match crate::labels::label_store(global)? {
        Some(l) => l.strongest_all()?,
        None => Vec::new(),
    };
    let options = BuildOptions {
        hops: a.hops,
        policy: a.policy.parse().map_err(anyhow::Error::msg)?,
        max_history: a.max_history,
        max_frontier: a.max_frontier,
        ..BuildOptions::default()
    };
    let store = open_store(global)?;
    let report = tracehound_screen::build(&store, &dir, &incidents, &tags, &options)
        .context("building the exposure index")?;
    if global.json {
        return output::json(&report);
    }
    let m = &report.meta;
    println!(
        "exposure index: {} addresses, {} exposures ({}) in {:.2} s",
        m.addresses,
        m.exposures,
        report
            .by_origin
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        report.seconds
    );
    println!(
        "  {} incident(s) traced ({}, {:.2} s); {} sanctioned/mixer address(es) walked {} hop(s) each way ({:.2} s)",
        m.incidents.len(),
        m.policy,
        report.trace_seconds,
        m.labeled_origins,
        m.hops,
        report.walk_seconds
    );
    println!("  saved to {}", ExposureIndex::path_in(&dir).display());
    Ok(())
}

pub(crate) fn bench(global: &Global, a: &BenchScreenArgs) -> anyhow::Result<()> {
    let dir = global.data_dir();
    let index = ExposureIndex::open_in(&dir)?;
    let labels = crate::labels::label_store(global)?;
    let mut sample: Vec<(Chain, String)> = Vec::new();
    {
        let reader = index.reader()?;
        for (c, addr) in reader.keys(a.samples / 2)? {
            if let Ok(c) = Chain::from_str(&c) {
                sample.push((c, addr));
            }
        }
    }
    let indexed = sample.len();
    let store = open_store(global)?;
    let mut rng = fastrand::Rng::with_seed(a.seed);
    for chain in store.chains()? {
        if chain.family() != ChainFamily::Utxo {
            continue;
        }
        let links = store.utxo_links(chain)?;
        let n = links.address_count()?;
        while n > 0 && sample.len() < a.samples {
            let addr = links.address(rng.u64(0..n))?;
            if !addr.contains(':') {
                sample.push((chain, addr));
            }
        }
    }
    drop(store);
    rng.shuffle(&mut sample);
    if sample.is_empty() {
        bail!("nothing to screen: the index and the store hold no addresses");
    }
    // Latency: one address at a time, as `tracehound screen ADDRESS` does after opening.
    let reader = index.reader()?;
    let mut times = Vec::with_capacity(sample.len());
    let mut flagged = 0usize;
    for (chain, addr) in &sample {
        let t = Instant::now();
        let address = normalize::address(*chain, addr).map_err(anyhow::Error::msg)?;
        let s = tracehound_app::screen(&reader, labels.as_deref(), *chain, address.as_str())?;
        times.push(t.elapsed());
        flagged += usize::from(s.level != tracehound_screen::Level::None);
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    // Bulk: the whole sample split over threads, each with its own read transaction.
    let threads = a.threads.max(1);
    let chunk = sample.len().div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = sample
            .chunks(chunk)
            .map(|part| {
                let index = &index;
                let labels = labels.as_ref();
                s.spawn(move || -> anyhow::Result<usize> {
                    let reader = index.reader()?;
                    let mut n = 0;
                    for (chain, addr) in part {
                        let address =
                            normalize::address(*chain, addr).map_err(anyhow::Error::msg)?;
                        let s = tracehound_app::screen(
                            &reader,
                            labels.map(|l| &**l),
                            *chain,
                            address.as_str(),
                        )?;
                        n += s.reasons.len();
                    }
                    Ok(n)
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
        }
        Ok(())
    })?;
    let bulk = start.elapsed();
    let rate = sample.len() as f64 / bulk.as_secs_f64().max(1e-9);
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let report = serde_json::json!({
        "addresses": sample.len(),
        "indexed": indexed,
        "flagged": flagged,
        "index_addresses": index.meta().addresses,
        "latency_us": {"p50": us(pct(50)), "p99": us(pct(99)), "max": us(times[times.len() - 1])},
        "bulk": {"threads": threads, "seconds": bulk.as_secs_f64(), "addresses_per_s": rate},
    });
    if global.json {
        return output::json(&report);
    }
    println!(
        "screened {} addresses ({} from the index of {}, {} flagged)",
        sample.len(),
        indexed,
        index.meta().addresses,
        flagged
    );
    println!(
        "  latency per address: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(pct(50)),
        us(pct(99)),
        us(times[times.len() - 1])
    );
    println!(
        "  bulk on {threads} thread(s): {:.3} s, {rate:.0} addresses/s",
        bulk.as_secs_f64()
    );
    Ok(())
}
