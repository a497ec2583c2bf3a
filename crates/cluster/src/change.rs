//! The change-address heuristic (off by default): in a two-output payment, the output that
//! goes back to the payer.
//!
//! Wallets send the payment to the payee and the rest to a *change* address of their own,
//! usually a fresh one of the same script type as the inputs they spend; people pay round
//! amounts, change is what is left. Following the literature (Meiklejohn et al. 2013 on fresh
//! one-time change; Androulaki et al. 2013 and Ermilov et al. 2017 on script type and round
//! values), an output is taken as change when all of these hold:
//!
//! - the tx is not a coinbase and has exactly two outputs, both paying an address, and every
//!   input has a known address and script type, all the same type;
//! - exactly one output address is fresh: it appears here for the first time on the chain
//!   (the caller tracks which addresses have been seen, in chain order);
//! - the fresh output has the inputs' script type and is not paid to an input address;
//! - the other output (the payment) is a round amount — at most 3 significant decimal digits —
//!   and the fresh one is not.
//!
//! Confidence (0..=100, the label store's scale): 60 when the payment has 3 significant
//! digits, 70 when it has at most 2. The numbers are ours, not measured: the rule is a hint
//! for analysts and stays off unless asked for (`--change`).

use crate::TxShape;

/// Significant decimal digits of `v` (0 for 0).
pub fn significant_digits(mut v: u64) -> u32 {
    if v == 0 {
        return 0;
    }
    while v.is_multiple_of(10) {
        v /= 10;
    }
    v.ilog10() + 1
}

/// A change output found, with its confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Index of the change output.
    pub vout: usize,
    /// Its address id.
    pub addr: u32,
    /// 0..=100.
    pub confidence: u8,
}

/// The change output of `tx`, if the rules above single one out; `fresh(addr)` tells whether
/// an address is seen for the first time in this tx.
pub fn change_output(tx: &TxShape<'_>, fresh: impl Fn(u32) -> bool) -> Option<Change> {
    if tx.coinbase || tx.outputs.len() != 2 || tx.inputs.is_empty() {
        return None;
    }
    let kind = tx.inputs.first()?.kind?;
    if tx
        .inputs
        .iter()
        .any(|i| i.addr.is_none() || i.kind != Some(kind))
    {
        return None;
    }
    let (o0, o1) = (tx.outputs.first()?, tx.outputs.get(1)?);
    let (a0, a1) = (o0.addr?, o1.addr?);
    let (f0, f1) = (fresh(a0), fresh(a1));
    let (vout, change, payment) = match (f0, f1) {
        (true, false) => (0, o0, o1),
        (false, true) => (1, o1, o0),
        _ => return None,
    };
    let addr = change.addr?;
    if change.kind != kind || tx.inputs.iter().any(|i| i.addr == Some(addr)) {
        return None;
    }
    let (p, c) = (
        significant_digits(payment.value),
        significant_digits(change.value),
    );
    if p == 0 || p > 3 || c <= 3 {
        return None;
    }
    Some(Change {
        vout,
        addr,
        confidence: if p <= 2 { 70 } else { 60 },
    })
}

#[cfg(test)]
mod tests {
    use tracehound_core::ScriptKind;

    use super::*;
    use crate::{TxIn, TxOut};

    fn tx<'a>(inputs: &'a [TxIn], outputs: &'a [TxOut]) -> TxShape<'a> {
        TxShape {
            tx: 9,
            coinbase: false,
            inputs,
            outputs,
        }
    }

    fn out(addr: u32, value: u64, kind: ScriptKind) -> TxOut {
        TxOut {
            addr: Some(addr),
            value,
            kind,
        }
    }

    const W: ScriptKind = ScriptKind::P2wpkh;

    #[test]
    fn digits() {
        assert_eq!(significant_digits(50_000_000), 1);
        assert_eq!(significant_digits(12_300_000), 3);
        assert_eq!(significant_digits(12_345_678), 8);
        assert_eq!(significant_digits(0), 0);
    }

    #[test]
    fn fresh_same_type_change_next_to_a_round_payment() {
        let i = [TxIn {
            addr: Some(1),
            kind: Some(W),
        }];
        let o = [out(2, 50_000_000, W), out(3, 12_345_678, W)];
        let fresh = |a: u32| a == 3;
        assert_eq!(
            change_output(&tx(&i, &o), fresh),
            Some(Change {
                vout: 1,
                addr: 3,
                confidence: 70
            })
        );
        // Both fresh, or neither: no decision.
        assert_eq!(change_output(&tx(&i, &o), |_| true), None);
        assert_eq!(change_output(&tx(&i, &o), |_| false), None);
        // The payment is not round.
        let o2 = [out(2, 50_000_001, W), out(3, 12_345_678, W)];
        assert_eq!(change_output(&tx(&i, &o2), fresh), None);
        // The fresh output's type differs from the inputs'.
        let o3 = [out(2, 50_000_000, W), out(3, 12_345_678, ScriptKind::P2pkh)];
        assert_eq!(change_output(&tx(&i, &o3), fresh), None);
        // Three outputs.
        let o4 = [out(2, 50_000_000, W), out(3, 12_345_678, W), out(4, 1, W)];
        assert_eq!(change_output(&tx(&i, &o4), fresh), None);
    }
}
