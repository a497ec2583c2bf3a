//! One tag: what a source says about one address, with the source's own terms kept.

use tracehound_core::Chain;

use crate::category::Category;

/// What one source says about one address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    /// The chain.
    pub chain: Chain,
    /// Canonical address text (see [`crate::normalize`]).
    pub address: String,
    /// The name the source gives (`Binance 14`, `Lazarus Group`).
    pub label: String,
    /// The category in tracehound's vocabulary.
    pub category: Category,
    /// The source's own category terms, as given (`exchange/service_hack`, `phish-hack,heist`).
    pub raw_category: String,
    /// Who says so: an imported data set, by format and full path (`graphsense:/data/hacks.yaml`, `ofac:/data/sanctioned_addresses_ETH.txt`,
    /// `etherscan:etherscan-combinedAllLabels.json`, `csv:labels.csv`) or `analyst:<name>`.
    pub source: String,
    /// 0 to 100 (see [`crate::confidence`]).
    pub confidence: u8,
    /// The source's own confidence term (`web_crawl`, `0.8`, `authority_data`).
    pub raw_confidence: String,
    /// What the source cites (a URL, a document, the CSV's `source` column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// GraphSense actor id, and its name when the actor pack was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Extra context as the source gives it (tagpack `context` JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// An analyst's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where in the source file (`line 12`, `entry 345`); empty for analysts' labels.
    #[serde(default)]
    pub origin: String,
    /// When it was stored (unix seconds).
    pub added: u64,
}

impl Tag {
    /// Whether an analyst of this installation added it (not imported).
    pub fn is_analyst(&self) -> bool {
        self.source.starts_with(ANALYST_PREFIX)
    }

    /// The order in which tags of one address win: confidence, then an analyst's own word,
    /// then the graver or more specific category, then source name (for a stable answer).
    pub fn strength(&self) -> (u8, bool, u8, std::cmp::Reverse<&str>) {
        (
            self.confidence,
            self.is_analyst(),
            self.category.weight(),
            std::cmp::Reverse(self.source.as_str()),
        )
    }
}

/// Sources of analysts' labels start with this.
pub const ANALYST_PREFIX: &str = "analyst:";

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
