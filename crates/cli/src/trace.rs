//! `tracehound trace` and `tracehound incident`: follow stolen value to its endpoints (crate
//! `tracehound-trace`), and keep incidents as files in the data dir.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, bail};
use tracehound_core::{Address, Chain};
use tracehound_trace::{Caps, Incident, Labels, Rules, SourceItem, StolenItem};

use crate::args::{Global, IncidentCreateArgs, TraceArgs};
use crate::output;

/// Unix seconds from `1700000000`, `2024-05-01` or `2024-05-01T12:00:00Z` (UTC).
pub(crate) fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(v) = s.parse::<u64>() {
        return Ok(v);
    }
    let bad = || format!("time {s:?}: expected unix seconds, YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ");
    let (date, clock) = match s.split_once('T') {
        Some((d, c)) => (d, Some(c.trim_end_matches('Z'))),
        None => (s, None),
    };
    let mut d = date.split('-').map(|p| p.parse::<i64>().map_err(|_| bad()));
    let (y, m, day) = (
        d.next().ok_or_else(bad)??,
        d.next().ok_or_else(bad)??,
        d.next().ok_or_else(bad)??,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut secs = days * 86_400;
    if let Some(c) = clock {
        let mut p = c.split(':').map(|p| p.parse::<i64>().map_err(|_| bad()));
        let h = p.next().ok_or_else(bad)??;
        let mi = p.next().unwrap_or(Ok(0))?;
        let se = p.next().unwrap_or(Ok(0))?;
        if h > 23 || mi > 59 || se > 60 {
            return Err(bad());
        }
        secs += h * 3600 + mi * 60 + se;
    }
    u64::try_from(secs).map_err(|_| bad())
}

pub(crate) fn incidents_dir(global: &Global) -> PathBuf {
    global.data().incidents_dir()
}

/// An incident file by path, or by the name it was saved under.
pub(crate) fn find_incident(global: &Global, which: &str) -> anyhow::Result<PathBuf> {
    Ok(global.data().find_incident(which)?)
}

pub(crate) fn run(global: &Global, args: &TraceArgs) -> anyhow::Result<()> {
    let incident = match (&args.incident, &args.chain) {
        (Some(which), None) => Incident::from_file(&find_incident(global, which)?)?,
        (None, Some(chain)) => {
            if args.source.is_empty() {
                bail!("--chain needs at least one --source ADDR (or give --incident FILE)");
            }
            let since = parse_opt_time(args.since.as_deref())?;
            Incident {
                name: format!("{} source(s) on {chain}", args.source.len()),
                notes: None,
                assets: args.asset.iter().cloned().collect(),
                stolen: Vec::new(),
                sources: args
                    .source
                    .iter()
                    .map(|a| SourceItem {
                        chain: chain.to_string(),
                        address: a.clone(),
                        since,
                    })
                    .collect(),
            }
        }
        (Some(_), Some(_)) => bail!("give --incident FILE or --chain with --source, not both"),
        (None, None) => bail!("give --incident FILE, or --chain C --source ADDR"),
    };
    let mut rules = Rules::new(args.policy.parse().map_err(anyhow::Error::msg)?);
    rules.max_hops = args.max_hops;
    rules.until = parse_opt_time(args.until.as_deref())?;
    rules.labels = crate::labels::trace_labels(global)?;
    if let Some(path) = &args.labels {
        rules.labels.merge(Labels::from_csv_file(path)?);
    }
    rules.dust = parse_dust(&args.dust)?;
    rules.caps = Caps {
        max_nodes: args.max_nodes,
        max_edges: args.max_edges,
        max_history: args.max_history,
    };
    rules.links.follow = !args.no_links;
    rules.links.min_confidence = args.min_link_confidence;
    rules.links.config = crate::links::load(args.links.as_deref())?;
    let data = global.data();
    let store = data.open_store()?;
    let prices = args
        .prices
        .as_deref()
        .map(tracehound_trace::prices::PriceTable::from_csv_file)
        .transpose()?;
    let settings = tracehound_app::TraceSettings::of(&rules);
    let mut result = data.trace(&store, &incident, rules)?;
    if let Some(prices) = &prices {
        result.apply_prices(prices);
    }
    // A saved incident traced by name keeps its result, for `report` and the API.
    if let Some(which) = &args.incident
        && data.saved_incident_path(which).is_ok()
        && !std::path::Path::new(which).exists()
    {
        data.save_result(which, &result, &settings)?;
    }
    if global.json {
        return output::json(&result);
    }
    if args.csv {
        print!("{}", result.csv()?);
    } else if args.dot {
        print!("{}", result.dot());
    } else {
        print!("{}", result.table());
    }
    Ok(())
}

/// `--since`/`--until` when given.
fn parse_opt_time(text: Option<&str>) -> anyhow::Result<Option<u64>> {
    text.map(parse_time).transpose().map_err(anyhow::Error::msg)
}

pub(crate) fn create(global: &Global, args: &IncidentCreateArgs) -> anyhow::Result<()> {
    let chain = Chain::from_str(&args.chain)?;
    let since = parse_opt_time(args.since.as_deref())?;
    let incident = Incident {
        name: args.name.clone(),
        notes: args.notes.clone(),
        assets: args.asset.clone(),
        stolen: args
            .tx
            .iter()
            .map(|t| StolenItem {
                chain: chain.to_string(),
                tx: t.clone(),
                vout: None,
                sub_index: None,
                amount: None,
            })
            .collect(),
        sources: args
            .source
            .iter()
            .map(|a| {
                Ok(SourceItem {
                    chain: chain.to_string(),
                    address: Address::parse(chain, a)?.as_str().to_string(),
                    since,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let path = global
        .data()
        .save_incident(&incident, args.out.as_deref(), args.force)?;
    if global.json {
        return output::json(
            &serde_json::json!({"path": path.display().to_string(), "incident": incident}),
        );
    }
    println!("incident {} saved to {}", incident.name, path.display());
    Ok(())
}

pub(crate) fn list(global: &Global) -> anyhow::Result<()> {
    let data = global.data();
    let rows = data.list_incidents()?;
    if global.json {
        return output::json(&rows);
    }
    if rows.is_empty() {
        println!("no incidents in {}", data.incidents_dir().display());
    }
    for r in rows {
        println!(
            "{}  ({} stolen, {} sources)  {}",
            r.name, r.stolen, r.sources, r.path
        );
    }
    Ok(())
}

pub(crate) fn show(global: &Global, which: &str) -> anyhow::Result<()> {
    let i = Incident::from_file(&find_incident(global, which)?)?;
    if global.json {
        return output::json(&i);
    }
    print!("{}", i.to_toml());
    Ok(())
}

/// `--dust ASSET=BASE_UNITS` flags as thresholds per asset.
pub(crate) fn parse_dust(
    flags: &[String],
) -> anyhow::Result<std::collections::HashMap<String, u128>> {
    let mut dust = std::collections::HashMap::new();
    for d in flags {
        let (asset, amount) = d.split_once('=').with_context(|| {
            format!("--dust {d:?}: expected ASSET=BASE_UNITS, e.g. native=1000")
        })?;
        let amount: u128 = amount.parse().with_context(|| {
            format!("--dust {d:?}: {amount:?} is not an integer number of base units")
        })?;
        dust.insert(asset.to_string(), amount);
    }
    Ok(dust)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse_as_utc() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("1970-01-01"), Ok(0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2000-03-01"), Ok(951_868_800));
        assert!(parse_time("2023-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
