//! The category vocabulary, and the one table that maps every source's own terms onto it.
//!
//! Each source names what an address is in its own words: GraphSense taxonomy concepts
//! (`mixing_service`, `coinjoin`, `service_hack`, `sanction`…), explorer tags (`exchange`,
//! `tornado-cash`, `phish-hack`, `heist`…), the simulator's CSV words (`issuer`, `vault`,
//! `privacy`). [`TERMS`] is the only place that says which [`Category`] each term means.
//!
//! Unknown terms. The two formats whose category column is a taxonomy (GraphSense tagpacks
//! and CSV) reject a term missing from [`TERMS`] as bad input (an error naming file, line and
//! value; skipped and counted with `--skip-invalid`), because a typo there would silently
//! mislabel an address. Explorer dumps are different: their `labels` are free-form tags
//! (project names such as `uniswap` or `aave` next to the few category words), so an entry
//! whose tags name no known category imports as [`Category::Other`]; the raw tags are kept
//! with every tag in any case.
//!
//! Lookup normalizes a term first: lower case, `-` and spaces as `_` (so `Phish-Hack`,
//! `phish_hack` and `phish hack` are one term).

use std::fmt;
use std::str::FromStr;

/// What an address is (or who controls it), in tracehound's own vocabulary.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// A centralized exchange (any of its wallets, kind unknown).
    Exchange,
    /// An exchange's deposit address for one customer (sweeps to a hot wallet).
    DepositAddress,
    /// An exchange's hot wallet.
    HotWallet,
    /// A custodian or custodial wallet service (holds customers' keys).
    Custodian,
    /// A token issuer (stablecoins and other centrally issued tokens): can freeze its own
    /// tokens wherever they are.
    Issuer,
    /// A decentralized exchange (pool, router, aggregator).
    Dex,
    /// A cross-chain bridge, or a cross-chain swap vault.
    Bridge,
    /// Other DeFi (lending, staking, yield, derivatives contracts).
    Defi,
    /// A mixer or CoinJoin coordinator/output (taint goes dark).
    Mixer,
    /// A privacy-chain exit or shielded pool (taint goes dark).
    Privacy,
    /// Gambling service.
    Gambling,
    /// A mining pool or miner.
    Miner,
    /// A payment processor or merchant service.
    Payment,
    /// A darknet market.
    DarknetMarket,
    /// Sanctioned (OFAC and the like).
    Sanctioned,
    /// A hacker, thief or exploiter (funds from a hack).
    Hacker,
    /// Scam, fraud, phishing, Ponzi or pyramid scheme.
    Scam,
    /// Ransomware.
    Ransomware,
    /// Terrorism financing.
    Terrorism,
    /// Blacklisted by a token issuer (e.g. USDT's blacklist).
    Blacklisted,
    /// Anything else (a known source term that fits none of the above, or an explorer tag
    /// naming no category).
    Other,
}

/// Who can freeze value sitting at an address of a category.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Freezer {
    /// The exchange (its deposit addresses and wallets).
    Exchange,
    /// The custodian.
    Custodian,
    /// The issuer, for its own tokens (wherever they are held).
    Issuer,
}

impl Freezer {
    /// The name shown in trace summaries.
    pub fn name(self) -> &'static str {
        match self {
            Freezer::Exchange => "exchange",
            Freezer::Custodian => "custodian",
            Freezer::Issuer => "issuer",
        }
    }
}

/// What a trace does at an address of a category.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TraceRole {
    /// A service: taint stops here (and may be frozen).
    Service,
    /// Taint goes dark here (mixer, privacy exit).
    Dark,
    /// A party, not a service (hacker, scam, sanctioned person): keep following.
    Party,
}

impl Category {
    /// Every category, in the order `labels list` shows them.
    pub const ALL: [Category; 21] = [
        Category::Exchange,
        Category::DepositAddress,
        Category::HotWallet,
        Category::Custodian,
        Category::Issuer,
        Category::Dex,
        Category::Bridge,
        Category::Defi,
        Category::Mixer,
        Category::Privacy,
        Category::Gambling,
        Category::Miner,
        Category::Payment,
        Category::DarknetMarket,
        Category::Sanctioned,
        Category::Hacker,
        Category::Scam,
        Category::Ransomware,
        Category::Terrorism,
        Category::Blacklisted,
        Category::Other,
    ];

    /// The canonical name (`deposit_address`, `darknet_market`, …).
    pub fn name(self) -> &'static str {
        match self {
            Category::Exchange => "exchange",
            Category::DepositAddress => "deposit_address",
            Category::HotWallet => "hot_wallet",
            Category::Custodian => "custodian",
            Category::Issuer => "issuer",
            Category::Dex => "dex",
            Category::Bridge => "bridge",
            Category::Defi => "defi",
            Category::Mixer => "mixer",
            Category::Privacy => "privacy",
            Category::Gambling => "gambling",
            Category::Miner => "miner",
            Category::Payment => "payment",
            Category::DarknetMarket => "darknet_market",
            Category::Sanctioned => "sanctioned",
            Category::Hacker => "hacker",
            Category::Scam => "scam",
            Category::Ransomware => "ransomware",
            Category::Terrorism => "terrorism",
            Category::Blacklisted => "blacklisted",
            Category::Other => "other",
        }
    }

    /// The category a source term means, per [`TERMS`]; canonical names map to themselves.
    pub fn from_term(term: &str) -> Option<Category> {
        let t = normalize_term(term);
        Category::ALL
            .into_iter()
            .find(|c| c.name() == t)
            .or_else(|| TERMS.iter().find(|(k, _)| *k == t).map(|(_, c)| *c))
    }

    /// Who can freeze value at an address of this category: exchanges (any of their
    /// addresses), custodians, and issuers (of their own tokens: the trace asks this of the
    /// token contract's label, not of the holder's).
    pub fn freezable_by(self) -> Option<Freezer> {
        match self {
            Category::Exchange | Category::DepositAddress | Category::HotWallet => {
                Some(Freezer::Exchange)
            }
            Category::Custodian => Some(Freezer::Custodian),
            Category::Issuer => Some(Freezer::Issuer),
            _ => None,
        }
    }

    /// What a trace does on reaching an address of this category.
    pub fn trace_role(self) -> TraceRole {
        match self {
            Category::Mixer | Category::Privacy => TraceRole::Dark,
            Category::Sanctioned
            | Category::Hacker
            | Category::Scam
            | Category::Ransomware
            | Category::Terrorism
            | Category::Blacklisted
            | Category::Other => TraceRole::Party,
            _ => TraceRole::Service,
        }
    }

    /// How much a category says for screening, when one address has several tags of equal
    /// confidence: a more specific or graver category wins (higher is stronger).
    pub fn weight(self) -> u8 {
        match self {
            Category::Sanctioned => 9,
            Category::Hacker | Category::Ransomware | Category::Terrorism => 8,
            Category::Scam | Category::DarknetMarket | Category::Mixer | Category::Privacy => 7,
            Category::DepositAddress | Category::HotWallet | Category::Issuer => 6,
            Category::Exchange | Category::Custodian => 5,
            Category::Blacklisted => 4,
            Category::Other => 0,
            _ => 3,
        }
    }
}

/// Lower case, `-` and whitespace as `_`, trimmed.
pub fn normalize_term(term: &str) -> String {
    term.trim()
        .chars()
        .map(|c| {
            if c == '-' || c.is_whitespace() {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Source terms and the category each means (keys normalized as [`normalize_term`] does).
/// Canonical category names need no row. Sources: GraphSense taxonomy concepts (`category`
/// and `abuse` of tagpacks), Etherscan-family explorer tags, the simulator's CSV words.
pub const TERMS: &[(&str, Category)] = &[
    // Exchanges and their wallets.
    ("exchange_deposit", Category::DepositAddress),
    ("deposit", Category::DepositAddress),
    ("hot_wallet_exchange", Category::HotWallet),
    ("cold_wallet", Category::Exchange),
    ("otc_desk", Category::Exchange),
    ("atm", Category::Exchange),
    ("centralized_exchange", Category::Exchange),
    ("cex", Category::Exchange),
    // Explorer tags naming an exchange.
    ("binance", Category::Exchange),
    ("coinbase", Category::Exchange),
    ("kraken", Category::Exchange),
    ("kucoin", Category::Exchange),
    ("huobi", Category::Exchange),
    ("okx", Category::Exchange),
    ("okex", Category::Exchange),
    ("bitfinex", Category::Exchange),
    ("bitstamp", Category::Exchange),
    ("bittrex", Category::Exchange),
    ("poloniex", Category::Exchange),
    ("gemini", Category::Exchange),
    ("gate_io", Category::Exchange),
    ("crypto_com", Category::Exchange),
    ("bybit", Category::Exchange),
    ("ftx", Category::Exchange),
    // Custody (GraphSense `wallet_service`: a hosted wallet holding users' keys).
    ("wallet_service", Category::Custodian),
    ("custody", Category::Custodian),
    ("custodial_wallet", Category::Custodian),
    // Issuers.
    ("stablecoin_issuer", Category::Issuer),
    ("token_issuer", Category::Issuer),
    ("stablecoin", Category::Issuer),
    ("stablecoins", Category::Issuer),
    ("centralized_stablecoin", Category::Issuer),
    // DEX and DeFi.
    ("decentralized_exchange", Category::Dex),
    ("dex_aggregator", Category::Dex),
    ("uniswap", Category::Dex),
    ("sushiswap", Category::Dex),
    ("balancer", Category::Dex),
    ("bancor", Category::Dex),
    ("curve_fi", Category::Dex),
    ("kyberswap", Category::Dex),
    ("0x_protocol", Category::Dex),
    ("1inch", Category::Dex),
    ("amm", Category::Dex),
    ("defi_lending", Category::Defi),
    ("lending", Category::Defi),
    ("staking", Category::Defi),
    ("staking_pool", Category::Defi),
    ("yield_farming", Category::Defi),
    ("liquid_staking", Category::Defi),
    ("derivatives", Category::Defi),
    ("loans", Category::Defi),
    ("vaults", Category::Defi),
    ("aave", Category::Defi),
    ("compound", Category::Defi),
    ("maker", Category::Defi),
    ("yearn_finance", Category::Defi),
    ("lido", Category::Defi),
    ("rocket_pool", Category::Defi),
    // Bridges and cross-chain swaps (the simulator's THORChain-style `vault`).
    ("cross_chain", Category::Bridge),
    ("vault", Category::Bridge),
    ("swap_vault", Category::Bridge),
    ("multichain", Category::Bridge),
    ("wormhole", Category::Bridge),
    ("hop_protocol", Category::Bridge),
    ("interoperability_cross_chain", Category::Bridge),
    // Mixing.
    ("mixing_service", Category::Mixer),
    ("coinjoin", Category::Mixer),
    ("tornado_cash", Category::Mixer),
    ("mixing", Category::Mixer),
    ("blender", Category::Mixer),
    ("privacy_exit", Category::Privacy),
    ("privacy_coin", Category::Privacy),
    // Services.
    ("casino", Category::Gambling),
    ("betting", Category::Gambling),
    ("mining", Category::Miner),
    ("mining_pool", Category::Miner),
    ("mining_service", Category::Miner),
    ("payment_processor", Category::Payment),
    ("payment_service", Category::Payment),
    ("payments", Category::Payment),
    ("shop", Category::Payment),
    ("merchant", Category::Payment),
    ("market", Category::DarknetMarket),
    ("darknet", Category::DarknetMarket),
    ("darkweb_market", Category::DarknetMarket),
    // Abuse.
    ("sanction", Category::Sanctioned),
    ("ofac", Category::Sanctioned),
    ("ofac_sanctioned", Category::Sanctioned),
    ("ofac_sanctions_lists", Category::Sanctioned),
    ("service_hack", Category::Hacker),
    ("hack", Category::Hacker),
    ("heist", Category::Hacker),
    ("exploit", Category::Hacker),
    ("exploiter", Category::Hacker),
    ("thief", Category::Hacker),
    ("theft", Category::Hacker),
    ("phish_hack", Category::Scam),
    ("phishing", Category::Scam),
    ("ponzi_scheme", Category::Scam),
    ("pyramid_scheme", Category::Scam),
    ("fake_phishing", Category::Scam),
    ("honeypot", Category::Scam),
    ("fraud", Category::Scam),
    ("rug_pull", Category::Scam),
    ("sextortion", Category::Scam),
    ("ransom", Category::Ransomware),
    ("terrorist_financing", Category::Terrorism),
    ("black_list", Category::Blacklisted),
    ("blacklist", Category::Blacklisted),
    ("blocked", Category::Blacklisted),
    // GraphSense concepts for an entity of unspecified kind.
    ("user", Category::Other),
    ("service", Category::Other),
    ("organization", Category::Other),
    ("entity", Category::Other),
    ("miscellaneous", Category::Other),
];

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A category name or source term not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category {0:?} (see `tracehound labels categories`)")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Category, UnknownCategory> {
        Category::from_term(s).ok_or_else(|| UnknownCategory(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_terms_are_normalized_and_unique() {
        for c in Category::ALL {
            assert_eq!(Category::from_term(c.name()), Some(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.name())
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (t, _) in TERMS {
            assert_eq!(normalize_term(t), *t, "term {t} is not normalized");
            assert!(seen.insert(*t), "term {t} twice");
            assert!(
                Category::ALL.iter().all(|c| c.name() != *t),
                "term {t} repeats a category name"
            );
        }
        assert_eq!(Category::from_term("Phish-Hack"), Some(Category::Scam));
        assert_eq!(Category::from_term("tornado-cash"), Some(Category::Mixer));
        assert_eq!(Category::from_term("no-such-thing"), None);
    }

    #[test]
    fn only_exchanges_custodians_and_issuers_freeze() {
        let freezers: Vec<_> = Category::ALL
            .into_iter()
            .filter(|c| c.freezable_by().is_some())
            .collect();
        assert_eq!(
            freezers,
            [
                Category::Exchange,
                Category::DepositAddress,
                Category::HotWallet,
                Category::Custodian,
                Category::Issuer
            ]
        );
        assert_eq!(Category::Mixer.trace_role(), TraceRole::Dark);
        assert_eq!(Category::Hacker.trace_role(), TraceRole::Party);
        assert_eq!(Category::Bridge.trace_role(), TraceRole::Service);
    }
}
