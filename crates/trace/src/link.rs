//! The edge model: every way taint moves from one place to another, including the
//! cross-asset and cross-chain links that issue #8 decodes (swap, bridge, wrap, mixer).
//!
//! A UTXO spend and an account transfer keep the asset: the policy decides how much of the
//! moved value is tainted. A [`Link`] changes (chain, asset): the taint that went in comes out
//! **at the link's own rate**, `amount_out / amount_in` of that very link (TRACING.md, links),
//! never at a market price. A link whose far side is unknown (a mixer deposit with no matched
//! withdrawal, value entering a privacy chain) makes its taint **dark**: an endpoint of its
//! own, counted apart in the summary.

use serde::Serialize;

use crate::arith::mul_div_floor;

/// What carried taint along one hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EdgeKind {
    /// A UTXO tx spending tainted outputs.
    UtxoTx,
    /// An account transfer (native, internal, token).
    Transfer,
    /// A gas fee paid to the block producer or burnt.
    Fee,
    /// A swap, bridge, wrap or mixer link.
    Link(Box<Link>),
}

pub use tracehound_core::LinkKind;

/// One link: value `amount_in` of `asset_in` on `chain_in` went in, `amount_out` of
/// `asset_out` on `chain_out` came out (`None`: unmatched, so dark).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Kind.
    pub link: LinkKind,
    /// The service (`uniswap-v2`, a configured bridge or mixer, …).
    pub service: String,
    /// The tx the value went in with (the same as the hop's tx for a swap or wrap).
    pub tx_in: String,
    /// How sure the match of the two sides is, 0–100 (100: the chain records it: one tx, or
    /// the exit names the entry).
    pub confidence: u8,
    /// Chain of the value going in.
    pub chain_in: String,
    /// Asset going in.
    pub asset_in: String,
    /// Base units in.
    #[serde(with = "crate::result::dec")]
    pub amount_in: u128,
    /// Chain of the value coming out.
    pub chain_out: String,
    /// Asset coming out.
    pub asset_out: String,
    /// Base units out, if the far side is known.
    #[serde(with = "crate::result::dec_opt")]
    pub amount_out: Option<u128>,
    /// The evidence matching the two sides (decoder and event, or the heuristic used).
    pub evidence: String,
}

/// What a link does with the taint put into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Taint out, in the out asset's base units.
    Out(u128),
    /// The far side is unknown: this much taint (in the in asset) is dark.
    Dark(u128),
}

impl Link {
    /// Carries `taint_in` (of at most `amount_in`) across the link: `taint_in · amount_out /
    /// amount_in`, rounded down so a link never creates taint; all of it when all that went
    /// in was tainted.
    pub fn carry(&self, taint_in: u128) -> Carried {
        let taint_in = taint_in.min(self.amount_in);
        match self.amount_out {
            None => Carried::Dark(taint_in),
            Some(out) if taint_in == self.amount_in => Carried::Out(out),
            Some(out) => Carried::Out(mul_div_floor(taint_in, out, self.amount_in)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swap(amount_in: u128, amount_out: Option<u128>) -> Link {
        Link {
            link: LinkKind::Swap,
            service: "test".into(),
            tx_in: "0x1".into(),
            confidence: 100,
            chain_in: "evm-1".into(),
            asset_in: "native".into(),
            amount_in,
            chain_out: "evm-1".into(),
            asset_out: "0xtoken".into(),
            amount_out,
            evidence: "test".into(),
        }
    }

    #[test]
    fn link_carries_at_its_own_rate() {
        // 3 ETH in for 9,000 tokens out; 1 ETH of it tainted → 3,000 tokens tainted.
        let l = swap(3, Some(9_000));
        assert_eq!(l.carry(1), Carried::Out(3_000));
        assert_eq!(l.carry(3), Carried::Out(9_000));
        // Rounded down: 1 of 3 in for 10 out → 3, never 4.
        assert_eq!(swap(3, Some(10)).carry(1), Carried::Out(3));
        // More taint than went in is capped.
        assert_eq!(l.carry(7), Carried::Out(9_000));
    }

    #[test]
    fn unmatched_link_is_dark() {
        assert_eq!(swap(5, None).carry(4), Carried::Dark(4));
    }
}
