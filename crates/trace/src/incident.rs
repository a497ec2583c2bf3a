//! An incident: the theft a trace starts from, as a file (TOML or JSON) and an API object.
//!
//! ```toml
//! name = "bex-hot-wallet-2024"
//! notes = "drained by a leaked key"
//! assets = ["native"]            # optional: only these assets of the stolen txs
//!
//! [[stolen]]                     # a stolen tx, transfer or output
//! chain = "evm-31337"
//! tx = "0x…"
//! sub_index = 2                  # optional (account chains): one transfer of the tx
//! amount = "1000000"             # optional: the stolen part, base units (a string or an integer)
//!
//! [[stolen]]
//! chain = "bitcoin"
//! tx = "…"
//! vout = 1                       # optional (UTXO chains): one output of the tx
//!
//! [[sources]]                    # or: all value that left these addresses in a window
//! chain = "evm-31337"
//! address = "0x…"
//! since = 1700000000             # unix seconds, optional
//! ```
//!
//! A stolen tx without `vout`/`sub_index` means all its outputs (UTXO) or all its non-fee
//! transfers of the incident's assets (account).

use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use tracehound_core::Chain;

use crate::TraceError;

/// The theft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Short name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Only these assets (`native`, or token contracts) of the stolen txs; all if empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<String>,
    /// Stolen txs, outputs, transfers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stolen: Vec<StolenItem>,
    /// Source addresses: everything they sent in the window is stolen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceItem>,
}

/// A stolen tx, output or transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StolenItem {
    /// Chain name.
    pub chain: String,
    /// Tx id / hash.
    pub tx: String,
    /// UTXO: one output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vout: Option<u32>,
    /// Account: one transfer of the tx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_index: Option<u32>,
    /// The stolen part, base units (all if absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "amount_opt",
        serialize_with = "crate::result::dec_opt::serialize"
    )]
    pub amount: Option<u128>,
}

/// A source address with its time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceItem {
    /// Chain name.
    pub chain: String,
    /// Address.
    pub address: String,
    /// From (unix seconds); from the start if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// Reads an amount given as a decimal string or a non-negative integer; never a float.
fn amount_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum A {
        Int(u64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    match Option::<A>::deserialize(d)? {
        None => Ok(None),
        Some(A::Int(v)) => Ok(Some(u128::from(v))),
        Some(A::Text(s)) => s.parse::<u128>().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "amount {s:?} is not an integer number of base units"
            ))
        }),
        Some(A::Other(_)) => Err(serde::de::Error::custom(
            "amount must be an integer number of base units (a string or an integer), not a float",
        )),
    }
}

impl Incident {
    /// Reads an incident file: JSON if it ends in `.json`, else TOML.
    pub fn from_file(path: &Path) -> Result<Incident, TraceError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            TraceError::Incident(format!("cannot read incident file {}: {e}", path.display()))
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let incident = Incident::parse(&text, json)
            .map_err(|e| TraceError::Incident(format!("incident file {}: {e}", path.display())))?;
        Ok(incident)
    }

    /// Parses incident text (JSON or TOML) and validates it.
    pub fn parse(text: &str, json: bool) -> Result<Incident, String> {
        let i: Incident = if json {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            toml::from_str(text).map_err(|e| e.to_string())?
        };
        i.validate()?;
        Ok(i)
    }

    /// Checks names: chains known, something stolen, a name given.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("the incident has no name".into());
        }
        if self.stolen.is_empty() && self.sources.is_empty() {
            return Err("the incident names nothing stolen: add [[stolen]] or [[sources]]".into());
        }
        for (n, s) in self.stolen.iter().enumerate() {
            Chain::from_str(&s.chain).map_err(|e| format!("stolen[{n}].chain: {e}"))?;
            if s.vout.is_some() && s.sub_index.is_some() {
                return Err(format!(
                    "stolen[{n}]: give vout (UTXO) or sub_index (account), not both"
                ));
            }
        }
        for (n, s) in self.sources.iter().enumerate() {
            let chain =
                Chain::from_str(&s.chain).map_err(|e| format!("sources[{n}].chain: {e}"))?;
            tracehound_core::Address::parse(chain, &s.address)
                .map_err(|e| format!("sources[{n}].address: {e}"))?;
        }
        Ok(())
    }

    /// As TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_read_the_same_incident() {
        let toml = r#"
name = "x"
assets = ["native"]
[[stolen]]
chain = "evm-31337"
tx = "0xab"
sub_index = 2
amount = "340282366920938463463374607431768211455"
[[sources]]
chain = "bitcoin"
address = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
since = 5
"#;
        let a = Incident::parse(toml, false).unwrap();
        assert_eq!(a.stolen[0].amount, Some(u128::MAX));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(Incident::parse(&json, true).unwrap(), a);
        assert_eq!(Incident::parse(&a.to_toml(), false).unwrap(), a);
    }

    #[test]
    fn bad_incidents_say_what_is_wrong() {
        let e = Incident::parse(
            "name = \"x\"\n[[stolen]]\nchain = \"evm-1\"\ntx = \"0x1\"\namount = 1.5\n",
            false,
        )
        .unwrap_err();
        assert!(e.contains("not a float"), "{e}");
        let e = Incident::parse("name = \"x\"\n", false).unwrap_err();
        assert!(e.contains("nothing stolen"), "{e}");
        let e = Incident::parse(
            "name = \"x\"\n[[sources]]\nchain = \"nochain\"\naddress = \"a\"\n",
            false,
        )
        .unwrap_err();
        assert!(e.contains("sources[0].chain"), "{e}");
        let e = Incident::parse(
            "name = \"x\"\n[[sources]]\nchain = \"evm-1\"\naddress = \"0x12\"\n",
            false,
        )
        .unwrap_err();
        assert!(e.contains("sources[0].address"), "{e}");
    }
}
