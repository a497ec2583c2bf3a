//! The labels a trace looks addresses up in: where it stops at a service, and who can freeze.
//! Filled from a simple CSV, `chain,address,label,category,source,confidence` (the
//! simulator's `labels.csv` is one), and by the binary from the data dir's label store
//! (crate `tracehound-labels`, whose vocabulary gives each category's meaning).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use tracehound_core::{Address, Chain};

/// One label.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Label text.
    pub label: String,
    /// `exchange`, `custodian`, `issuer`, `bridge`, `dex`, `mixer`, …
    pub category: String,
    /// Where it comes from.
    pub source: String,
    /// 0 to 1.
    pub confidence: f32,
}

/// A bad labels file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelsError {
    /// The file could not be read.
    #[error("labels file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("labels file {path} line {line}: {what}")]
    Row {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        what: String,
    },
}

/// Labels keyed by chain, then canonical address (so a lookup by `&str` needs no key made:
/// a trace looks up every place it taints).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels {
    map: HashMap<Chain, foldhash::HashMap<String, Label>>,
}

impl Labels {
    /// No labels.
    pub fn new() -> Labels {
        Labels::default()
    }

    /// Adds one label.
    pub fn insert(&mut self, address: &Address, label: Label) {
        self.insert_canonical(address.chain(), address.as_str().to_string(), label);
    }

    /// Adds one label for an address already in canonical form (as the label store keeps
    /// them).
    pub fn insert_canonical(&mut self, chain: Chain, address: String, label: Label) {
        self.map.entry(chain).or_default().insert(address, label);
    }

    /// Adds every label of `other`, replacing this one's for the same address.
    pub fn merge(&mut self, other: Labels) {
        for (chain, labels) in other.map {
            self.map.entry(chain).or_default().extend(labels);
        }
    }

    /// The label of `address` on `chain`, if any.
    pub fn get(&self, chain: Chain, address: &str) -> Option<&Label> {
        self.map.get(&chain)?.get(address)
    }

    /// Every label as (chain, address, label), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Chain, &str, &Label)> {
        self.map
            .iter()
            .flat_map(|(c, m)| m.iter().map(|(a, l)| (*c, a.as_str(), l)))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.map.values().map(HashMap::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Reads a labels CSV (with its header line).
    pub fn from_csv_file(path: &Path) -> Result<Labels, LabelsError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabelsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Labels::from_csv(&path.display().to_string(), &text)
    }

    /// Reads labels CSV text; `name` names it in errors.
    pub fn from_csv(name: &str, text: &str) -> Result<Labels, LabelsError> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let err = |line: u64, what: String| LabelsError::Row {
            path: name.to_string(),
            line,
            what,
        };
        let want = [
            "chain",
            "address",
            "label",
            "category",
            "source",
            "confidence",
        ];
        let header = r.headers().map_err(|e| err(1, e.to_string()))?.clone();
        if header.iter().collect::<Vec<_>>() != want {
            return Err(err(
                1,
                format!(
                    "header must be {:?}, found {:?}",
                    want.join(","),
                    header.iter().collect::<Vec<_>>().join(",")
                ),
            ));
        }
        let mut labels = Labels::new();
        for rec in r.records() {
            let rec = rec.map_err(|e| err(e.position().map_or(0, |p| p.line()), e.to_string()))?;
            let line = rec.position().map_or(0, |p| p.line());
            let field = |i: usize| rec.get(i).unwrap_or("").trim();
            let chain = Chain::from_str(field(0))
                .map_err(|e| err(line, format!("chain {:?}: {e}", field(0))))?;
            let address = Address::parse(chain, field(1)).map_err(|e| err(line, e.to_string()))?;
            let confidence: f32 = field(5)
                .parse()
                .ok()
                .filter(|c: &f32| (0.0..=1.0).contains(c))
                .ok_or_else(|| {
                    err(
                        line,
                        format!("confidence {:?} is not a number from 0 to 1", field(5)),
                    )
                })?;
            if field(3).is_empty() {
                return Err(err(line, "category is empty".into()));
            }
            labels.insert(
                &address,
                Label {
                    label: field(2).to_string(),
                    category: field(3).to_ascii_lowercase(),
                    source: field(4).to_string(),
                    confidence,
                },
            );
        }
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "chain,address,label,category,source,confidence\n";

    #[test]
    fn reads_labels_and_canonicalizes_addresses() {
        let text = format!(
            "{HEADER}evm-31337,0xAbCdEf0000000000000000000000000000000001,Bex hot wallet,exchange,sim,1\n"
        );
        let l = Labels::from_csv("t", &text).unwrap();
        let got = l
            .get(
                Chain::Evm(31337),
                "0xabcdef0000000000000000000000000000000001",
            )
            .unwrap();
        assert_eq!(got.category, "exchange");
        assert_eq!(got.label, "Bex hot wallet");
    }

    #[test]
    fn bad_rows_name_their_line() {
        let text = format!(
            "{HEADER}evm-31337,0x0000000000000000000000000000000000000001,a,exchange,s,1\nevm-31337,0x12,b,exchange,s,1\n"
        );
        let e = Labels::from_csv("f.csv", &text).unwrap_err().to_string();
        assert!(e.contains("f.csv line 3") && e.contains("0x12"), "{e}");
        let text = format!(
            "{HEADER}evm-31337,0x0000000000000000000000000000000000000001,a,exchange,s,2.5\n"
        );
        let e = Labels::from_csv("f.csv", &text).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("confidence"), "{e}");
        let e = Labels::from_csv("f.csv", "a,b\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("header"), "{e}");
    }

    #[test]
    fn the_same_address_text_on_two_chains_is_two_labels_and_merge_replaces_per_chain() {
        let a = "0x0000000000000000000000000000000000000001";
        let text = format!(
            "{HEADER}evm-1,{a},Ex one,exchange,s,1\nevm-31337,{a},Mixer,mixer,s,0.5\n\
             evm-1,0x0000000000000000000000000000000000000002,Ex two,exchange,s,1\n"
        );
        let mut l = Labels::from_csv("t", &text).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l.get(Chain::Evm(1), a).unwrap().label, "Ex one");
        assert_eq!(l.get(Chain::Evm(31337), a).unwrap().category, "mixer");
        assert!(l.get(Chain::Evm(5), a).is_none());
        let other =
            Labels::from_csv("u", &format!("{HEADER}evm-1,{a},Renamed,custodian,s,1\n")).unwrap();
        l.merge(other);
        assert_eq!(l.len(), 3, "replaced, not added");
        assert_eq!(l.get(Chain::Evm(1), a).unwrap().label, "Renamed");
        assert_eq!(l.get(Chain::Evm(31337), a).unwrap().label, "Mixer");
        let mut listed: Vec<(Chain, &str, &str)> = l
            .iter()
            .map(|(c, addr, x)| (c, addr, x.label.as_str()))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            vec![
                (Chain::Evm(1), a, "Renamed"),
                (
                    Chain::Evm(1),
                    "0x0000000000000000000000000000000000000002",
                    "Ex two"
                ),
                (Chain::Evm(31337), a, "Mixer"),
            ]
        );
        // Equal whatever order the rows came in.
        let reordered = format!(
            "{HEADER}evm-1,0x0000000000000000000000000000000000000002,Ex two,exchange,s,1\n\
             evm-31337,{a},Mixer,mixer,s,0.5\nevm-1,{a},Renamed,custodian,s,1\n"
        );
        assert_eq!(Labels::from_csv("v", &reordered).unwrap(), l);
    }
}
