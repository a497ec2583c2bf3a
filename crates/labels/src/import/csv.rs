//! Plain CSV, `chain,address,label,category,source,confidence` with that header (the
//! simulator's `labels.csv` is one). `category` is a category name or a source term of
//! [`crate::category::TERMS`]; `confidence` a fraction from 0 to 1 or a level name
//! ([`crate::confidence`]); `source` is kept as the tag's reference. `--chain` fills an empty
//! `chain` column.

use std::str::FromStr;

use tracehound_core::Chain;

use crate::LabelError;
use crate::category::Category;
use crate::confidence;
use crate::import::{Collector, ImportOptions};
use crate::normalize;
use crate::tag::Tag;

const HEADER: [&str; 6] = [
    "chain",
    "address",
    "label",
    "category",
    "source",
    "confidence",
];

pub(crate) fn read(c: &mut Collector, text: &str, opts: &ImportOptions) -> Result<(), LabelError> {
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = r
        .headers()
        .map_err(|e| c.fatal("line 1".into(), "", e.to_string()))?
        .clone();
    let got: Vec<&str> = header.iter().map(str::trim).collect();
    if got != HEADER {
        return Err(c.fatal(
            "line 1".into(),
            &got.join(","),
            format!("header must be {}", HEADER.join(",")),
        ));
    }
    for rec in r.records() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                let at = format!("line {}", e.position().map_or(0, |p| p.line()));
                c.invalid(at, "", format!("malformed CSV: {e}"))?;
                continue;
            }
        };
        let at = format!("line {}", rec.position().map_or(0, |p| p.line()));
        if rec.len() != HEADER.len() {
            c.invalid(
                at,
                &rec.iter().collect::<Vec<_>>().join(","),
                format!("expected {} fields, found {}", HEADER.len(), rec.len()),
            )?;
            continue;
        }
        let field = |i: usize| rec.get(i).unwrap_or("").trim();
        let chain = match (field(0), opts.chain) {
            ("", Some(chain)) => chain,
            (name, Some(chain)) if Chain::from_str(name).ok() == Some(chain) => chain,
            (name, Some(chain)) => {
                c.invalid(at, name, format!("chain differs from --chain {chain}"))?;
                continue;
            }
            (name, None) => match Chain::from_str(name) {
                Ok(chain) => chain,
                Err(e) => {
                    c.invalid(at, name, e.to_string())?;
                    continue;
                }
            },
        };
        let address = match normalize::address(chain, field(1)) {
            Ok(a) => a,
            Err(e) => {
                c.invalid(at, field(1), e)?;
                continue;
            }
        };
        let Some(category) = Category::from_term(field(3)) else {
            c.invalid(at, field(3), "unknown category")?;
            continue;
        };
        let Some(conf) = confidence::parse_csv(field(5)) else {
            c.invalid(
                at,
                field(5),
                "confidence is neither a number from 0 to 1 nor a level name",
            )?;
            continue;
        };
        c.push(
            Tag {
                chain,
                address: address.as_str().to_string(),
                label: field(2).to_string(),
                category,
                raw_category: field(3).to_string(),
                source: String::new(),
                confidence: conf,
                raw_confidence: field(5).to_string(),
                reference: Some(field(4).to_string()).filter(|s| !s.is_empty()),
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
