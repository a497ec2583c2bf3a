//! One exposure of an address, as the index stores it and screening reports it.
//!
//! Amounts are integers in the asset's base units (decimal strings in JSON, since JSON numbers
//! lose precision past 2^53); shares are integer basis points (1/10,000), rounded down.

use serde::{Deserialize, Serialize};

/// Serde helper: a `u128` as a decimal string, both ways.
pub(crate) mod dec {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a decimal string.
    pub(crate) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// Reads a decimal string.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a base-unit amount")))
    }
}

/// What the exposure is to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Stolen funds of an incident (its trace reached the address).
    Stolen,
    /// An address labeled `sanctioned`.
    Sanctioned,
    /// An address labeled `mixer`.
    Mixer,
}

impl Origin {
    /// The name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Stolen => "stolen",
            Origin::Sanctioned => "sanctioned",
            Origin::Mixer => "mixer",
        }
    }
}

/// Which way the exposed funds went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The address received funds that came from the origin.
    Incoming,
    /// The address sent funds that reached the origin.
    Outgoing,
}

impl Direction {
    /// The name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

/// One hop of an exposure's proof path: a tx or transfer that moved exposed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Tx id / hash.
    pub tx: String,
    /// Where in the chain: `height:index` (UTXO tx) or `height:tx:sub` (transfer).
    pub at: String,
    /// Payer (`incident` for the theft itself).
    pub from: String,
    /// Payee.
    pub to: String,
    /// Exposed (tainted) value this hop carried, base units.
    #[serde(with = "dec")]
    pub amount: u128,
}

/// One exposure of one address to one origin, in one asset and direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Stolen, sanctioned or mixer.
    pub origin: Origin,
    /// Incoming (received from the origin) or outgoing (sent to it).
    pub direction: Direction,
    /// The incident's name, or the labeled address.
    pub source: String,
    /// The origin's label (the labeled address's strongest label; the incident's notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The chain.
    pub chain: String,
    /// `native` or the token contract.
    pub asset: String,
    /// Exposed amount, base units: for stolen funds, the tainted amount the trace says reached
    /// the address; for labeled origins, the haircut amount of [`crate::walk`].
    #[serde(with = "dec")]
    pub amount: u128,
    /// `amount` as a share of everything the address received (incoming) or sent (outgoing)
    /// in that asset, in basis points, rounded down, at most 10,000; `None` when the store
    /// does not know the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_bps: Option<u32>,
    /// Hops from the origin (1: a direct counterparty; for stolen funds the theft is hop 1).
    pub hops: u32,
    /// The proof: the hops from the origin to the address (heaviest inflow first found).
    pub path: Vec<Step>,
}

/// `part / whole` in basis points, rounded down, at most 10,000 (`None` if `whole` is 0).
pub fn share_bps(part: u128, whole: u128) -> Option<u32> {
    if whole == 0 {
        return None;
    }
    if part >= whole {
        return Some(10_000);
    }
    // part < whole here, so the quotient is below 10,000; exact for any amounts.
    let bps = tracehound_trace::arith::mul_div_floor(part, 10_000, whole);
    Some(u32::try_from(bps.min(10_000)).unwrap_or(10_000))
}

/// Encodes an address's exposures for the index.
pub(crate) fn encode(list: &[Exposure]) -> Vec<u8> {
    serde_json::to_vec(list).unwrap_or_default()
}

/// Decodes an address's exposures from the index.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Exposure>, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_down_and_cap() {
        assert_eq!(share_bps(1, 3), Some(3333));
        assert_eq!(share_bps(5, 5), Some(10_000));
        assert_eq!(share_bps(7, 5), Some(10_000));
        assert_eq!(share_bps(1, 0), None);
        assert_eq!(share_bps(u128::MAX, u128::MAX), Some(10_000));
        // Past u128::MAX / 10,000, still exact (it used to divide the whole first).
        assert_eq!(share_bps(u128::MAX - 1, u128::MAX), Some(9_999));
        assert_eq!(
            share_bps(3 * 10u128.pow(35) - 1, 10u128.pow(36)),
            Some(2_999)
        );
    }

    #[test]
    fn exposures_round_trip_with_exact_amounts() {
        let e = Exposure {
            origin: Origin::Stolen,
            direction: Direction::Incoming,
            source: "heist".into(),
            label: None,
            chain: "bitcoin".into(),
            asset: "native".into(),
            amount: u128::MAX,
            share_bps: Some(42),
            hops: 2,
            path: vec![Step {
                tx: "ab".into(),
                at: "1:2".into(),
                from: "incident".into(),
                to: "x".into(),
                amount: u128::MAX,
            }],
        };
        let bytes = encode(std::slice::from_ref(&e));
        assert_eq!(decode(&bytes).unwrap(), vec![e]);
    }
}
