//! Etherscan-family label dumps: one JSON object `{"<address>": {"name": "…", "labels":
//! ["…"]}}`. The chain comes from the explorer in the file name (`etherscan-…` Ethereum,
//! `bscscan-…` BSC, `polygonscan-…` Polygon, `arbiscan-…` Arbitrum, `optimism-…` Optimism,
//! `basescan-…` Base) unless `--chain` gives it.
//!
//! The dumps are one line, so records are named by their place in the object (`entry 345`).
//! Keys that are not addresses (`""`, `"genesis"`, scrape artefacts) are invalid records. The
//! category is the gravest (by [`crate::Category::weight`]) of the entry's tags that
//! [`crate::category::TERMS`] knows, else `other`; all tags are kept as the raw category.
//! Confidence: `explorer` (60).

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use tracehound_core::Chain;

use crate::LabelError;
use crate::category::Category;
use crate::confidence;
use crate::import::{Collector, ImportOptions};
use crate::normalize;
use crate::tag::Tag;

/// Explorer names (file name prefixes) and their chains.
pub const EXPLORERS: &[(&str, Chain)] = &[
    ("etherscan", Chain::Evm(1)),
    ("bscscan", Chain::Evm(56)),
    ("polygonscan", Chain::Evm(137)),
    ("arbiscan", Chain::Evm(42161)),
    ("optimism", Chain::Evm(10)),
    ("optimistic", Chain::Evm(10)),
    ("basescan", Chain::Evm(8453)),
    ("ftmscan", Chain::Evm(250)),
    ("snowtrace", Chain::Evm(43114)),
];

/// The object's entries in file order (a map type would sort them and lose the position).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of address: {name, labels}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(e) = m.next_entry::<String, serde_json::Value>()? {
                    out.push(e);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

pub(crate) fn read(
    c: &mut Collector,
    file_name: &str,
    text: &str,
    opts: &ImportOptions,
) -> Result<(), LabelError> {
    let lower = file_name.to_ascii_lowercase();
    let chain = match opts.chain {
        Some(chain) => chain,
        None => EXPLORERS
            .iter()
            .find(|(p, _)| lower.starts_with(p))
            .map(|(_, c)| *c)
            .ok_or_else(|| {
                c.fatal(
                    "file name".into(),
                    file_name,
                    "no explorer name (etherscan, bscscan, polygonscan, arbiscan, optimism, basescan) starts the file name: give --chain",
                )
            })?,
    };
    let entries: Entries = serde_json::from_str(text).map_err(|e| {
        c.fatal(
            format!("line {} column {}", e.line(), e.column()),
            "",
            format!("malformed JSON: {e}"),
        )
    })?;
    for (i, (key, value)) in entries.0.into_iter().enumerate() {
        let at = format!("entry {}", i + 1);
        let name = value.get("name").and_then(|n| n.as_str());
        let labels: Option<Vec<&str>> = value
            .get("labels")
            .and_then(|l| l.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect());
        let (Some(name), Some(labels)) = (name, labels) else {
            c.invalid(
                at,
                &key,
                "entry is not {\"name\": text, \"labels\": [text]}",
            )?;
            continue;
        };
        let address = match normalize::address(chain, &key) {
            Ok(a) => a,
            Err(e) => {
                c.invalid(at, &key, e)?;
                continue;
            }
        };
        let category = labels
            .iter()
            .filter_map(|l| Category::from_term(l))
            .max_by_key(|c| c.weight())
            .unwrap_or(Category::Other);
        let label = if name.trim().is_empty() {
            labels.join(", ")
        } else {
            name.trim().to_string()
        };
        c.push(
            Tag {
                chain,
                address: address.as_str().to_string(),
                label,
                category,
                raw_category: labels.join(","),
                source: String::new(),
                confidence: confidence::level("explorer").unwrap_or(60),
                raw_confidence: "explorer".into(),
                reference: None,
                actor: None,
                context: None,
                note: None,
                origin: String::new(),
                added: 0,
            },
            at,
        );
    }
    Ok(())
}
