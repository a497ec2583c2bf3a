//! The link config of the ingest commands (`--links FILE`, merged over the built-in defaults,
//! which are always on) and the count of link facts an ingest stored and of links it
//! recognised but could not make, by reason, for its report.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use tracehound_core::{LinkConfig, LinkFact};

/// The built-in link config merged with the file at `path`, if given; every entry checked
/// (chains, addresses, event signatures, roles), errors naming file, entry and field.
pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<LinkConfig> {
    let mut config = tracehound_evm::links::default_config();
    if let Some(path) = path {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the link config {origin}"))?;
        let user = LinkConfig::from_toml(&text, &origin)?;
        tracehound_evm::links::validate(&user, &origin)?;
        config.merge(user);
    }
    Ok(config)
}

/// Link facts stored and links skipped, by kind and by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LinkStats {
    /// Facts by kind and side (`swap`, `wrap`, `mixer entry`, `bridge exit`, …).
    pub(crate) facts: BTreeMap<String, u64>,
    /// Links recognised but not made (bad or incomplete input), by reason.
    pub(crate) skipped: BTreeMap<String, u64>,
}

impl LinkStats {
    pub(crate) fn count_facts(&mut self, facts: &[LinkFact]) {
        for f in facts {
            let key = match f {
                LinkFact::Within { kind, .. } => kind.name().to_string(),
                LinkFact::Entry { kind, .. } => format!("{kind} entry"),
                LinkFact::Exit { kind, .. } => format!("{kind} exit"),
            };
            *self.facts.entry(key).or_insert(0) += 1;
        }
    }

    pub(crate) fn count_skips(&mut self, skips: &[(String, u64)]) {
        for (reason, n) in skips {
            *self.skipped.entry(reason.clone()).or_insert(0) += n;
        }
    }

    pub(crate) fn add(&mut self, other: &LinkStats) {
        for (k, n) in &other.facts {
            *self.facts.entry(k.clone()).or_insert(0) += n;
        }
        for (k, n) in &other.skipped {
            *self.skipped.entry(k.clone()).or_insert(0) += n;
        }
    }

    /// One line for the text report, `None` when there is nothing to say.
    pub(crate) fn line(&self) -> Option<String> {
        if self.facts.is_empty() && self.skipped.is_empty() {
            return None;
        }
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
        let mut line = format!("link facts: {} ({})", total(&self.facts), list(&self.facts));
        if !self.skipped.is_empty() {
            line.push_str(&format!(
                "; {} not linked ({})",
                total(&self.skipped),
                list(&self.skipped)
            ));
        }
        Some(line)
    }
}
