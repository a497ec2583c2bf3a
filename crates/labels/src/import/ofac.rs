//! OFAC SDN digital-currency address lists: `sanctioned_addresses_<ASSET>.txt`, one address
//! a line (`#` comments and blank lines ignored). The chain comes from the asset in the file
//! name ([`crate::normalize::CURRENCIES`]; USDT/USDC by each address's form) unless `--chain`
//! gives it. Every tag is `sanctioned`, confidence `authority_data` (100).

use crate::LabelError;
use crate::category::Category;
use crate::confidence;
use crate::import::{Collector, ImportOptions};
use crate::normalize;
use crate::tag::Tag;

/// The asset code of a `sanctioned_addresses_<ASSET>.txt` file name.
fn asset_of(file_name: &str) -> Option<&str> {
    let stem = file_name.strip_suffix(".txt").unwrap_or(file_name);
    stem.strip_prefix("sanctioned_addresses_")
        .filter(|a| !a.is_empty())
}

pub(crate) fn read(
    c: &mut Collector,
    file_name: &str,
    text: &str,
    opts: &ImportOptions,
) -> Result<(), LabelError> {
    let asset = asset_of(file_name);
    if asset.is_none() && opts.chain.is_none() {
        return Err(c.fatal(
            "file name".into(),
            file_name,
            "no asset in the file name (sanctioned_addresses_<ASSET>.txt): give --chain",
        ));
    }
    for (i, line) in text.lines().enumerate() {
        let at = format!("line {}", i + 1);
        let value = line.trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        let chain = match (opts.chain, asset) {
            (Some(chain), _) => chain,
            (None, Some(asset)) => match normalize::chain_of(asset, value) {
                Ok(chain) => chain,
                Err(e) => {
                    c.invalid(at, value, e)?;
                    continue;
                }
            },
            (None, None) => unreachable!("checked above: an asset or --chain"),
        };
        let address = match normalize::address(chain, value) {
            Ok(a) => a,
            Err(e) => {
                c.invalid(at, value, e)?;
                continue;
            }
        };
        let raw_confidence = "authority_data";
        c.push(
            Tag {
                chain,
                address: address.as_str().to_string(),
                label: format!("OFAC SDN list ({})", asset.unwrap_or("address")),
                category: Category::Sanctioned,
                raw_category: "ofac_sdn".into(),
                source: String::new(),
                confidence: confidence::level(raw_confidence).unwrap_or(100),
                raw_confidence: raw_confidence.into(),
                reference: Some(file_name.to_string()),
                actor: None,
                context: None,
                note: None,
                origin: String::new(),
                added: 0,
            },
            format!("line {}", i + 1),
        );
    }
    Ok(())
}
