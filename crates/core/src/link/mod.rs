//! Link facts: what a chain itself records about value changing asset or chain — a DEX swap,
//! a wrap, a bridge lock or release, a chain-swap memo, a mixer deposit or withdrawal.
//!
//! Decoders (crate `tracehound-evm` for logs and calldata, crate `tracehound-btc` for
//! `OP_RETURN` memos) turn a block into [`LinkFact`]s; the store keeps them per block with
//! their match keys ([`LinkFact::keys`]); the trace engine pairs entries with exits and
//! follows them. A fact never claims more than its block shows: a swap is [`LinkFact::Within`]
//! one tx with both legs; a bridge or mixer deposit is an [`LinkFact::Entry`] whose far side
//! is found later (or never: then the value is dark).
//!
//! Legs point at the value movement the store already has: an account chain's transfer by its
//! sub-index in the tx, a UTXO output by its vout. Amounts are base units.

use serde::{Deserialize, Serialize};

mod config;
pub mod memo;
pub use config::{
    BridgeConfig, EventConfig, LinkConfig, LinkConfigError, MixerConfig, Place, SwapConfig,
    VaultConfig,
};

/// What kind of service a link passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// A DEX swap: one asset in, another out, same chain, same tx.
    Swap,
    /// Wrapping or unwrapping a native coin (ETH ↔ WETH), 1:1.
    Wrap,
    /// A bridge: locked or burnt on one chain, minted or released on another.
    Bridge,
    /// A memo-routed cross-chain swap (THORChain style): inbound to a vault on one chain,
    /// outbound from a vault on another, the outbound memo naming the inbound tx.
    ChainSwap,
    /// A mixer (Tornado-style pool): a deposit, later a withdrawal to an unrelated address.
    Mixer,
}

impl LinkKind {
    /// The name used in text and JSON (`swap`, `chain_swap`, …).
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Swap => "swap",
            LinkKind::Wrap => "wrap",
            LinkKind::Bridge => "bridge",
            LinkKind::ChainSwap => "chain_swap",
            LinkKind::Mixer => "mixer",
        }
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One value movement into or out of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkLeg {
    /// Position of the tx in its block.
    pub tx_index: u32,
    /// The tx as the chain writes it (`0x…` on EVM chains, the txid on UTXO chains).
    pub tx: String,
    /// Account chains: the transfer's sub-index in the tx. UTXO chains: the output's vout.
    pub leg: u32,
    /// `native` or the token contract.
    pub asset: String,
    /// Base units.
    #[serde(with = "dec")]
    pub amount: u128,
    /// Who put the value in (entry legs) or who received it (exit legs).
    pub party: String,
}

/// Where an entry says its value is to come out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// The chain, as the memo or event names it (`LTC`, `ETH`, a tracehound chain name), if
    /// it names one.
    pub chain: Option<String>,
    /// The payee on that chain.
    pub address: String,
    /// The least amount out the sender accepts (a memo's limit), in the out asset's units.
    #[serde(default, with = "dec_opt", skip_serializing_if = "Option::is_none")]
    pub min_out: Option<u128>,
}

/// A fact about one block's link activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum LinkFact {
    /// A link complete within one tx (a swap, possibly multi-hop; a wrap): value of one asset
    /// went in, another came out to `output.party`.
    Within {
        /// Swap or wrap.
        kind: LinkKind,
        /// The service (`uniswap-v2`, `uniswap-v3`, `weth`, a configured name, `net-flow`).
        service: String,
        /// The contract (pool, router or token), as text.
        contract: String,
        /// What went in.
        input: LinkLeg,
        /// What came out.
        output: LinkLeg,
        /// How it was read (`log:17:uniswap-v2 Swap`, …).
        evidence: String,
    },
    /// Value into a service whose far side is another tx, maybe on another chain.
    Entry {
        /// Bridge, chain swap or mixer.
        kind: LinkKind,
        /// The service's configured name.
        service: String,
        /// The contract, vault or wallet paid.
        contract: String,
        /// The value in.
        leg: LinkLeg,
        /// The service's own id of this deposit (a nonce, a commitment), if its events carry
        /// one; exits naming it match by id. The tx itself is always a valid reference.
        id: Option<String>,
        /// Where the sender asked the value to go, if the event or memo says.
        destination: Option<Destination>,
        /// Gas price of the tx (mixer heuristics), if an account chain.
        #[serde(default, with = "dec_opt", skip_serializing_if = "Option::is_none")]
        gas_price: Option<u128>,
        /// How it was read.
        evidence: String,
    },
    /// Value out of a service for an entry made elsewhere.
    Exit {
        /// Bridge, chain swap or mixer.
        kind: LinkKind,
        /// The service's configured name.
        service: String,
        /// The contract, vault or wallet paying.
        contract: String,
        /// The value out.
        leg: LinkLeg,
        /// The entry it pays for, when the exit names it (an `OUT:` memo, a bridge's source
        /// tx or deposit id).
        reference: Option<String>,
        /// The relayer that submitted a mixer withdrawal, if any.
        relayer: Option<String>,
        /// Gas price of the tx, if an account chain.
        #[serde(default, with = "dec_opt", skip_serializing_if = "Option::is_none")]
        gas_price: Option<u128>,
        /// How it was read.
        evidence: String,
    },
}

/// Normalizes an id or tx reference for matching: lower case, no `0x`.
pub fn normal_ref(r: &str) -> String {
    let r = r.trim();
    let r = r
        .strip_prefix("0x")
        .or_else(|| r.strip_prefix("0X"))
        .unwrap_or(r);
    r.to_ascii_lowercase()
}

impl LinkFact {
    /// Its kind.
    pub fn kind(&self) -> LinkKind {
        match self {
            LinkFact::Within { kind, .. }
            | LinkFact::Entry { kind, .. }
            | LinkFact::Exit { kind, .. } => *kind,
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        match self {
            LinkFact::Within { service, .. }
            | LinkFact::Entry { service, .. }
            | LinkFact::Exit { service, .. } => service,
        }
    }

    /// The leg value goes in by (`None` for an exit).
    pub fn input(&self) -> Option<&LinkLeg> {
        match self {
            LinkFact::Within { input, .. } => Some(input),
            LinkFact::Entry { leg, .. } => Some(leg),
            LinkFact::Exit { .. } => None,
        }
    }

    /// The keys the store indexes this fact under, so that the other side can find it:
    /// - `in:<tx>` / `out:<tx>`: an entry or exit by its own tx (normalized);
    /// - `id:<id>`: an entry by its service id; `ref:<id or tx>`: an exit by what it names;
    /// - `to:<address>`: an exit by its payee (heuristic bridge matching);
    /// - `svc:<service>`: every entry and exit of a mixer (the pool is matched as a whole).
    pub fn keys(&self) -> Vec<String> {
        match self {
            LinkFact::Within { .. } => Vec::new(),
            LinkFact::Entry {
                kind,
                service,
                leg,
                id,
                ..
            } => {
                let mut k = vec![format!("in:{}", normal_ref(&leg.tx))];
                if let Some(id) = id {
                    k.push(format!("id:{service}:{}", normal_ref(id)));
                }
                if *kind == LinkKind::Mixer {
                    k.push(format!("svc:{service}"));
                }
                k
            }
            LinkFact::Exit {
                kind,
                service,
                leg,
                reference,
                ..
            } => {
                let mut k = vec![
                    format!("out:{}", normal_ref(&leg.tx)),
                    format!("to:{}", leg.party.to_ascii_lowercase()),
                ];
                if let Some(r) = reference {
                    k.push(format!("ref:{}", normal_ref(r)));
                }
                if *kind == LinkKind::Mixer {
                    k.push(format!("svc:{service}"));
                }
                k
            }
        }
    }
}

mod dec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod dec_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| s.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(tx: &str) -> LinkLeg {
        LinkLeg {
            tx_index: 3,
            tx: tx.into(),
            leg: 1,
            asset: "native".into(),
            amount: u128::MAX,
            party: "0xAbC".into(),
        }
    }

    #[test]
    fn facts_round_trip_through_json_with_exact_amounts() {
        let f = LinkFact::Exit {
            kind: LinkKind::Bridge,
            service: "sim-bridge".into(),
            contract: "0xb".into(),
            leg: leg("0xDEAD"),
            reference: Some("0xBEEF".into()),
            relayer: None,
            gas_price: Some(7),
            evidence: "log:4:Released".into(),
        };
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.contains(&u128::MAX.to_string()), "{text}");
        assert_eq!(serde_json::from_str::<LinkFact>(&text).unwrap(), f);
        assert_eq!(
            f.keys(),
            vec!["out:dead", "to:0xabc", "ref:beef"],
            "exits are found by their tx, payee and reference, normalized"
        );
    }

    #[test]
    fn mixer_entries_are_indexed_by_pool() {
        let f = LinkFact::Entry {
            kind: LinkKind::Mixer,
            service: "tornado-1eth".into(),
            contract: "0xm".into(),
            leg: leg("0x01"),
            id: Some("0xC0".into()),
            destination: None,
            gas_price: None,
            evidence: "log:1:Deposit".into(),
        };
        assert_eq!(
            f.keys(),
            vec!["in:01", "id:tornado-1eth:c0", "svc:tornado-1eth"]
        );
    }
}
