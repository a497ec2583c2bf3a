//! `tracehound labels`: import public tag sets into the data dir's label store (crate
//! `tracehound-labels`), list, search and show them, and keep analysts' own labels; and the
//! labels a trace starts from.

use anyhow::{Context, bail};
use tracehound_core::{Address, Chain};
use tracehound_labels::import::{self, Actors};
use tracehound_labels::{
    ANALYST_PREFIX, Category, Filter, Format, ImportOptions, LabelStore, Tag, normalize,
};
use tracehound_trace::Labels;

use crate::args::{
    Global, LabelsAddArgs, LabelsCommand, LabelsImportArgs, LabelsListArgs, LabelsRemoveArgs,
    LabelsShowArgs,
};
use crate::output;

pub(crate) fn run(global: &Global, cmd: LabelsCommand) -> anyhow::Result<()> {
    match cmd {
        LabelsCommand::Import(a) => import(global, &a),
        LabelsCommand::List(a) => list(global, &a),
        LabelsCommand::Search { text } => {
            let tags = open(global)?.search(&text)?;
            print_tags(global, &tags)
        }
        LabelsCommand::Show(a) => show(global, &a),
        LabelsCommand::Add(a) => add(global, &a),
        LabelsCommand::Remove(a) => remove(global, &a),
        LabelsCommand::Sources => sources(global),
        LabelsCommand::Categories => categories(global),
    }
}

fn open(global: &Global) -> anyhow::Result<LabelStore> {
    let dir = global.data_dir();
    LabelStore::open_in(&dir)
        .with_context(|| format!("opening the label store in {}", dir.display()))
}

/// The data dir's label store, if labels were ever imported or added there.
pub(crate) fn label_store(global: &Global) -> anyhow::Result<Option<std::sync::Arc<LabelStore>>> {
    Ok(global.data().label_store()?)
}

/// The strongest label of every address in the data dir's label store, for a trace (none if
/// the data dir has no label store).
pub(crate) fn trace_labels(global: &Global) -> anyhow::Result<Labels> {
    Ok(global.data().trace_labels()?)
}

fn analyst_name(given: Option<&str>) -> anyhow::Result<String> {
    let name = given
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.trim().is_empty())
        .context("no analyst name: give --analyst NAME")?;
    Ok(format!("{ANALYST_PREFIX}{}", name.trim()))
}

fn import(global: &Global, a: &LabelsImportArgs) -> anyhow::Result<()> {
    let format: Format = a.format.parse().map_err(anyhow::Error::msg)?;
    if a.source.is_some() && a.files.len() > 1 {
        bail!("--source names one file's source: give one file");
    }
    let actors = a.actors.as_deref().map(Actors::from_file).transpose()?;
    let opts = ImportOptions {
        chain: a.chain,
        skip_invalid: a.skip_invalid,
        source: a.source.clone(),
        actors,
    };
    let store = open(global)?;
    let mut reports = Vec::new();
    for file in &a.files {
        let parsed = import::read_file(file, format, &opts)?;
        let name = file.display().to_string();
        let report = store.import(&parsed, format, &name)?;
        if !global.json {
            println!(
                "{name}: {} imported, {} skipped, {} duplicates (source {}; {} replaced)",
                report.imported, report.skipped, report.duplicates, report.source, report.replaced
            );
            for p in parsed.skipped.iter().take(20) {
                eprintln!("  skipped: {p}");
            }
            if parsed.skipped.len() > 20 {
                eprintln!("  … and {} more skipped", parsed.skipped.len() - 20);
            }
        }
        reports.push(serde_json::json!({
            "file": name,
            "report": report,
            "skipped": parsed.skipped.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        }));
    }
    if global.json {
        return output::json(&reports);
    }
    Ok(())
}

fn list(global: &Global, a: &LabelsListArgs) -> anyhow::Result<()> {
    let category = a
        .category
        .as_deref()
        .map(str::parse::<Category>)
        .transpose()?;
    let mut tags = open(global)?.list(&Filter {
        category,
        chain: a.chain,
        source: a.source.clone(),
    })?;
    if a.limit > 0 {
        tags.truncate(a.limit);
    }
    print_tags(global, &tags)
}

fn show(global: &Global, a: &LabelsShowArgs) -> anyhow::Result<()> {
    let store = open(global)?;
    let tags = match a.chain {
        Some(chain) => {
            let addr = normalize::address(chain, &a.address).map_err(anyhow::Error::msg)?;
            store.tags_of(chain, addr.as_str())?
        }
        None => {
            // Any chain: compare with the canonical text each chain family would store.
            let text = a.address.trim();
            let lower = text.to_ascii_lowercase();
            let mut tags = store.list(&Filter::default())?;
            tags.retain(|t| t.address == text || t.address == lower);
            tags.sort_by(|x, y| {
                (x.chain, x.address.as_str())
                    .cmp(&(y.chain, y.address.as_str()))
                    .then(y.strength().cmp(&x.strength()))
            });
            tags
        }
    };
    if tags.is_empty() && !global.json {
        println!("no labels for {}", a.address);
        return Ok(());
    }
    print_tags(global, &tags)
}

fn add(global: &Global, a: &LabelsAddArgs) -> anyhow::Result<()> {
    let address = normalize::address(a.chain, &a.address).map_err(anyhow::Error::msg)?;
    let category: Category = a.category.parse()?;
    let tag = Tag {
        chain: a.chain,
        address: address.as_str().to_string(),
        label: a.label.clone(),
        category,
        raw_category: a.category.clone(),
        source: analyst_name(a.analyst.as_deref())?,
        confidence: a.confidence,
        raw_confidence: "analyst".into(),
        reference: None,
        actor: None,
        context: None,
        note: a.note.clone(),
        origin: String::new(),
        added: tracehound_labels::now(),
    };
    let replaced = open(global)?.add(&tag)?;
    if global.json {
        return output::json(&serde_json::json!({"replaced": replaced, "tag": tag}));
    }
    println!(
        "{} {} on {} as {} ({}){}",
        if replaced { "replaced" } else { "added" },
        tag.address,
        tag.chain,
        tag.category,
        tag.source,
        tag.note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    );
    Ok(())
}

fn remove(global: &Global, a: &LabelsRemoveArgs) -> anyhow::Result<()> {
    let store = open(global)?;
    if let Some(source) = &a.source {
        let n = store.remove_source(source)?;
        if global.json {
            return output::json(&serde_json::json!({"source": source, "removed": n}));
        }
        println!("removed {n} labels of source {source}");
        return Ok(());
    }
    let (Some(text), Some(chain)) = (&a.address, a.chain) else {
        bail!("give ADDRESS --chain C, or --source S");
    };
    let address = canonical(chain, text)?;
    let source = analyst_name(a.analyst.as_deref())?;
    let found = store.remove(chain, address.as_str(), &source)?;
    if global.json {
        return output::json(&serde_json::json!({"removed": found, "source": source}));
    }
    if !found {
        bail!("no label of {source} on {address} ({chain})");
    }
    println!("removed the label of {source} on {address} ({chain})");
    Ok(())
}

fn canonical(chain: Chain, text: &str) -> anyhow::Result<Address> {
    normalize::address(chain, text).map_err(anyhow::Error::msg)
}

fn sources(global: &Global) -> anyhow::Result<()> {
    let store = open(global)?;
    let mut rows: Vec<serde_json::Value> = store
        .sources()?
        .into_iter()
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .collect();
    let analysts = store.list(&Filter {
        source: Some(ANALYST_PREFIX.into()),
        ..Filter::default()
    })?;
    let mut by: std::collections::BTreeMap<&str, u64> = Default::default();
    for t in &analysts {
        *by.entry(t.source.as_str()).or_default() += 1;
    }
    for (s, n) in by {
        rows.push(serde_json::json!({"source": s, "format": "analyst", "tags": n}));
    }
    if global.json {
        return output::json(&rows);
    }
    for r in rows {
        println!(
            "{:<60} {:>8} tags  {}",
            r["source"].as_str().unwrap_or(""),
            r["tags"],
            r["file"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

fn categories(global: &Global) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = Category::ALL
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "category": c.name(),
                "freezable_by": c.freezable_by().map(|f| f.name()),
                "trace": format!("{:?}", c.trace_role()).to_lowercase(),
                "terms": tracehound_labels::category::TERMS
                    .iter()
                    .filter(|(_, t)| *t == c)
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    if global.json {
        return output::json(&rows);
    }
    for r in rows {
        println!(
            "{:<16} freeze: {:<10} trace: {:<8} terms: {}",
            r["category"].as_str().unwrap_or(""),
            r["freezable_by"].as_str().unwrap_or("-"),
            r["trace"].as_str().unwrap_or(""),
            r["terms"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn print_tags(global: &Global, tags: &[Tag]) -> anyhow::Result<()> {
    if global.json {
        return output::json(&tags);
    }
    for t in tags {
        println!(
            "{} {}  {}  [{}{}]  conf {} ({})  {}{}{}",
            t.chain,
            t.address,
            t.label,
            t.category,
            if t.raw_category.is_empty() || t.raw_category == t.category.name() {
                String::new()
            } else {
                format!(" <- {}", t.raw_category)
            },
            t.confidence,
            t.raw_confidence,
            t.source,
            t.note
                .as_deref()
                .map(|n| format!("  note: {n}"))
                .unwrap_or_default(),
            if t.is_analyst() {
                format!("  at {}", output::time(t.added))
            } else {
                String::new()
            },
        );
    }
    if tags.is_empty() {
        eprintln!("no labels");
    }
    Ok(())
}
