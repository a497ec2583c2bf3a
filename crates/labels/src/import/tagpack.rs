//! GraphSense tagpacks (YAML) and the actor pack.
//!
//! A pack is a header (`title`, `creator`, optional `description`, `lastmod`, `is_public`)
//! plus `tags`, a list; any other header field (`label`, `source`, `currency`, `network`,
//! `category`, `abuse`, `concepts`, `confidence`, `actor`, `context`…) is the default for
//! every tag, which a tag may override. Per tag:
//!
//! - chain: `--chain`, else `network`, else `currency` ([`crate::normalize::chain_of`]);
//!   codes of chains tracehound does not model (TRX, XRP…) are invalid records;
//! - category: `abuse` when set (what the address did outweighs what kind of entity it
//!   belongs to), else `category`, else the first of `concepts`; a term missing from
//!   [`crate::category::TERMS`] is an invalid record; none at all is `other`; the raw terms
//!   are kept as `category/abuse`;
//! - confidence: a taxonomy id ([`crate::confidence::LEVELS`]), `unspecified` (40) when the
//!   pack gives none, an unknown id an invalid record;
//! - `source` is kept as the reference, `actor` as the actor id (checked against the actor
//!   pack when one is given), `context` as given.
//!
//! Errors name the line of the tag's `address` (or of the tag when it has none).

use std::collections::HashMap;
use std::path::Path;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::LabelError;
use crate::category::Category;
use crate::confidence;
use crate::import::{Collector, ImportOptions, Problem};
use crate::normalize;
use crate::tag::Tag;

/// Header fields that describe the pack, not its tags.
const PACK_FIELDS: &[&str] = &[
    "title",
    "creator",
    "description",
    "lastmod",
    "is_public",
    "tags",
];

/// A scalar's text (numbers and booleans as written); `None` for collections and nulls.
fn scalar(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        _ => None,
    }
}

/// A field's value as text: a scalar, or a list of scalars joined by `,`.
fn field_text(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Sequence(items) => {
            let parts: Vec<String> = items.iter().filter_map(scalar).collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        _ => scalar(node),
    }
}

/// A mapping's fields as (key, node), in file order.
fn fields<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<Vec<(String, &'a MarkedYaml<'i>)>> {
    match &node.data {
        YamlData::Mapping(m) => Some(
            m.iter()
                .filter_map(|(k, v)| scalar(k).map(|k| (k, v)))
                .collect(),
        ),
        _ => None,
    }
}

fn load<'i>(c: &Collector, text: &'i str) -> Result<MarkedYaml<'i>, LabelError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        c.fatal(
            format!("line {}", e.marker().line()),
            "",
            format!("malformed YAML: {}", e.info()),
        )
    })?;
    docs.into_iter()
        .next()
        .ok_or_else(|| c.fatal("line 1".into(), "", "empty YAML file"))
}

pub(crate) fn read(c: &mut Collector, text: &str, opts: &ImportOptions) -> Result<(), LabelError> {
    let doc = load(c, text)?;
    let header = fields(&doc).ok_or_else(|| {
        c.fatal(
            format!("line {}", doc.span.start.line()),
            "",
            "a tagpack is a mapping with title, creator and tags",
        )
    })?;
    for required in ["title", "creator"] {
        if !header.iter().any(|(k, _)| k == required) {
            return Err(c.fatal("line 1".into(), required, "tagpack header lacks a field"));
        }
    }
    let defaults: HashMap<&str, String> = header
        .iter()
        .filter(|(k, _)| !PACK_FIELDS.contains(&k.as_str()))
        .filter_map(|(k, v)| field_text(v).map(|t| (k.as_str(), t)))
        .collect();
    let tags = match header
        .iter()
        .find(|(k, _)| k == "tags")
        .map(|(_, v)| &v.data)
    {
        Some(YamlData::Sequence(tags)) => tags,
        _ => return Err(c.fatal("line 1".into(), "tags", "tagpack has no list of tags")),
    };
    for node in tags {
        let line = node.span.start.line();
        let Some(own) = fields(node) else {
            c.invalid(format!("line {line}"), "", "a tag is a mapping")?;
            continue;
        };
        let mut f: HashMap<&str, String> = defaults.clone();
        let mut at = format!("line {line}");
        for (k, v) in &own {
            if k == "address" {
                at = format!("line {}", v.span.start.line());
            }
            if let Some(t) = field_text(v) {
                f.insert(k.as_str(), t);
            }
        }
        let get = |k: &str| f.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        let Some(raw_address) = get("address") else {
            c.invalid(at, "", "tag has no address")?;
            continue;
        };
        let Some(label) = get("label") else {
            c.invalid(at, raw_address, "tag has no label")?;
            continue;
        };
        let chain = match (opts.chain, get("network").or(get("currency"))) {
            (Some(chain), _) => chain,
            (None, Some(code)) => match normalize::chain_of(code, raw_address) {
                Ok(chain) => chain,
                Err(e) => {
                    c.invalid(at, code, e)?;
                    continue;
                }
            },
            (None, None) => {
                c.invalid(at, raw_address, "tag has no currency or network")?;
                continue;
            }
        };
        let address = match normalize::address(chain, raw_address) {
            Ok(a) => a,
            Err(e) => {
                c.invalid(at, raw_address, e)?;
                continue;
            }
        };
        let concept = get("concepts").and_then(|c| c.split(',').next());
        // The first term given decides: abuse, else category, else the first concept.
        let term = [get("abuse"), get("category"), concept]
            .into_iter()
            .flatten()
            .next();
        let category = match term.map(|t| (t, Category::from_term(t))) {
            None => Category::Other,
            Some((_, Some(found))) => found,
            Some((t, None)) => {
                c.invalid(at, t, "unknown category")?;
                continue;
            }
        };
        let raw_category = [get("category").or(concept), get("abuse")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
        let raw_confidence = get("confidence").unwrap_or("unspecified");
        let Some(conf) = confidence::level(raw_confidence) else {
            c.invalid(at, raw_confidence, "unknown confidence")?;
            continue;
        };
        let actor = get("actor").map(str::to_string);
        if let (Some(id), Some(actors)) = (&actor, &opts.actors)
            && !actors.0.contains_key(id)
        {
            c.invalid(at, id, "actor not in the actor pack")?;
            continue;
        }
        let tag = Tag {
            chain,
            address: address.as_str().to_string(),
            label: label.to_string(),
            category,
            raw_category,
            source: String::new(),
            confidence: conf,
            raw_confidence: raw_confidence.to_string(),
            reference: get("source").map(str::to_string),
            actor,
            context: get("context").map(str::to_string),
            note: None,
            origin: String::new(),
            added: 0,
        };
        c.push(tag, at);
    }
    Ok(())
}

/// GraphSense actors by id: their names (from `actors/*.actorpack.yaml`).
#[derive(Debug, Clone, Default)]
pub struct Actors(pub HashMap<String, String>);

impl Actors {
    /// Reads an actor pack.
    pub fn from_file(path: &Path) -> Result<Actors, LabelError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabelError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let bad = |line: usize, what: &str| {
            LabelError::Invalid(Problem {
                path: path.display().to_string(),
                at: format!("line {line}"),
                value: String::new(),
                what: what.to_string(),
            })
        };
        let docs = MarkedYaml::load_from_str(&text)
            .map_err(|e| bad(e.marker().line(), &format!("malformed YAML: {}", e.info())))?;
        let doc = docs.first().ok_or_else(|| bad(1, "empty YAML file"))?;
        let list = doc
            .data
            .as_mapping_get("actors")
            .and_then(|a| match &a.data {
                YamlData::Sequence(s) => Some(s),
                _ => None,
            })
            .ok_or_else(|| bad(1, "an actor pack has a list of actors"))?;
        let mut out = HashMap::with_capacity(list.len());
        for a in list {
            let f = fields(a).unwrap_or_default();
            let get = |k: &str| f.iter().find(|(n, _)| n == k).and_then(|(_, v)| scalar(v));
            let Some(id) = get("id") else {
                return Err(bad(a.span.start.line(), "actor has no id"));
            };
            let label = get("label").unwrap_or_else(|| id.clone());
            out.insert(id, label);
        }
        Ok(Actors(out))
    }

    /// The name of an actor id.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    /// How many actors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
