//! The CoinJoin guard: txs whose inputs belong to several owners by design, which co-spend
//! must not merge.
//!
//! A CoinJoin gathers inputs of many participants and pays each the same amount, so that no
//! output can be told from another. Merging its inputs would join every participant into one
//! entity (and, through later CoinJoins, the whole mixing population). The rules, checked in
//! this order, each name a reason:
//!
//! 1. **Whirlpool** (Samourai): exactly 5 inputs and 5 outputs, every output one of the pool
//!    denominations 0.001, 0.01, 0.05 or 0.5 BTC (in base units of 8 decimals).
//! 2. **Wasabi 2** (WabiSabi): at least 50 inputs and 50 outputs, and at least half of the
//!    outputs pay a standard denomination (at least 5,000 base units, and a power of 2, a
//!    power of 3 or twice one, or 1, 2 or 5 times a power of 10).
//! 3. **Equal outputs** (JoinMarket, Wasabi 1 and the like): the most frequent output value is
//!    paid `n ≥ 2` times to `n` distinct addresses, the inputs come from at least 2 distinct
//!    addresses (a participant may bring one coin and take several equal outputs, so `n` is
//!    not bounded by the inputs), and the equal outputs are at least half of the outputs —
//!    or at least a third when `n ≥ 10` (Wasabi 1 adds a change output per participant and
//!    a coordinator fee output, so its equal outputs fall just short of half).
//!
//! A tx whose inputs all come from one address cannot be a CoinJoin worth guarding (there is
//! nothing to merge), so rules 2 and 3 ask for two input addresses; a wallet's equal-amount
//! batch payment from one address is not flagged.

use std::collections::HashMap;
use std::fmt;

use crate::{TxOut, TxShape};

/// Which rule flagged a tx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Whirlpool's 5 × 5 pool tx.
    Whirlpool,
    /// Wasabi 2's many standard denominations.
    Wasabi2,
    /// Many equal outputs (JoinMarket, Wasabi 1).
    EqualOutputs,
}

impl Rule {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Whirlpool => "whirlpool",
            Rule::Wasabi2 => "wasabi2",
            Rule::EqualOutputs => "equal_outputs",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tx the guard flagged, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinJoin {
    /// The rule.
    pub rule: Rule,
    /// What matched, in words (`5 inputs, 5 outputs of 1000000`).
    pub reason: String,
}

/// Whirlpool's pool denominations: 0.001, 0.01, 0.05 and 0.5 BTC.
pub const WHIRLPOOL_DENOMINATIONS: [u64; 4] = [100_000, 1_000_000, 5_000_000, 50_000_000];

/// Whether `v` is one of Wasabi 2's standard denominations (see the module docs).
pub fn is_standard_denomination(v: u64) -> bool {
    if v < 5_000 {
        return false;
    }
    if v.is_power_of_two() {
        return true;
    }
    let mut x = if v.is_multiple_of(2) { v / 2 } else { v };
    while x.is_multiple_of(3) {
        x /= 3;
    }
    if x == 1 {
        return true;
    }
    let mut y = v;
    while y.is_multiple_of(10) {
        y /= 10;
    }
    matches!(y, 1 | 2 | 5)
}

/// The most frequent output value and its count (ties: the larger value, for a stable reason
/// text). Small txs — nearly all — are counted pairwise without allocating.
fn most_frequent_value(outputs: &[TxOut]) -> Option<(u64, usize)> {
    if outputs.len() <= 16 {
        let mut best: Option<(usize, u64)> = None;
        for (k, o) in outputs.iter().enumerate() {
            let n = outputs
                .iter()
                .skip(k)
                .filter(|p| p.value == o.value)
                .count();
            if best.is_none_or(|b| (n, o.value) > b) {
                best = Some((n, o.value));
            }
        }
        return best.map(|(n, v)| (v, n));
    }
    let mut counts: HashMap<u64, usize> = HashMap::with_capacity(outputs.len());
    for o in outputs {
        *counts.entry(o.value).or_insert(0) += 1;
    }
    counts.into_iter().max_by_key(|&(v, n)| (n, v))
}

/// Checks `tx` against the rules; `None` if it does not look like a CoinJoin.
pub fn detect(tx: &TxShape<'_>) -> Option<CoinJoin> {
    let (ins, outs) = (tx.inputs.len(), tx.outputs.len());
    if tx.coinbase || ins < 2 || outs < 2 {
        return None;
    }
    if ins == 5
        && outs == 5
        && let Some(first) = tx.outputs.first()
        && WHIRLPOOL_DENOMINATIONS.contains(&first.value)
        && tx.outputs.iter().all(|o| o.value == first.value)
    {
        return Some(CoinJoin {
            rule: Rule::Whirlpool,
            reason: format!("5 inputs, 5 outputs of {}", first.value),
        });
    }
    // Two distinct input addresses, found without allocating (this runs on every
    // multi-input tx of the chain).
    let mut addrs = tx.inputs.iter().filter_map(|i| i.addr);
    let first = addrs.next()?;
    if !addrs.any(|a| a != first) {
        return None;
    }
    if ins >= 50 && outs >= 50 {
        let standard = tx
            .outputs
            .iter()
            .filter(|o| is_standard_denomination(o.value))
            .count();
        if 2 * standard >= outs {
            return Some(CoinJoin {
                rule: Rule::Wasabi2,
                reason: format!(
                    "{ins} inputs, {outs} outputs, {standard} of standard denominations"
                ),
            });
        }
    }
    // The most frequent value (ties: the larger, for a stable reason text).
    let (value, n) = most_frequent_value(tx.outputs)?;
    if n < 2 {
        return None;
    }
    let mut payees: Vec<u32> = tx
        .outputs
        .iter()
        .filter(|o| o.value == value)
        .filter_map(|o| o.addr)
        .collect();
    payees.sort_unstable();
    payees.dedup();
    let enough = 2 * n >= outs || (n >= 10 && 3 * n >= outs);
    if payees.len() == n && enough {
        return Some(CoinJoin {
            rule: Rule::EqualOutputs,
            reason: format!("{n} of {outs} outputs pay {value} each, from {ins} inputs"),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use tracehound_core::ScriptKind;

    use super::*;
    use crate::TxIn;

    fn ins(addrs: &[u32]) -> Vec<TxIn> {
        addrs
            .iter()
            .map(|&a| TxIn {
                addr: Some(a),
                kind: Some(ScriptKind::P2wpkh),
            })
            .collect()
    }

    fn outs(v: &[(u32, u64)]) -> Vec<TxOut> {
        v.iter()
            .map(|&(a, value)| TxOut {
                addr: Some(a),
                value,
                kind: ScriptKind::P2wpkh,
            })
            .collect()
    }

    fn shape<'a>(i: &'a [TxIn], o: &'a [TxOut]) -> TxShape<'a> {
        TxShape {
            tx: 0,
            coinbase: false,
            inputs: i,
            outputs: o,
        }
    }

    #[test]
    fn whirlpool_pool_tx() {
        let i = ins(&[1, 2, 3, 4, 5]);
        let o = outs(&[
            (6, 1_000_000),
            (7, 1_000_000),
            (8, 1_000_000),
            (9, 1_000_000),
            (10, 1_000_000),
        ]);
        let cj = detect(&shape(&i, &o)).unwrap();
        assert_eq!(cj.rule, Rule::Whirlpool);
        assert_eq!(cj.reason, "5 inputs, 5 outputs of 1000000");
    }

    #[test]
    fn joinmarket_equal_outputs_and_changes() {
        // Taker and two makers: 3 equal outputs, 3 changes.
        let i = ins(&[1, 2, 3, 3]);
        let o = outs(&[
            (10, 25_000_000),
            (11, 25_000_000),
            (12, 25_000_000),
            (13, 1_234_567),
            (14, 7_654_321),
            (15, 333_333),
        ]);
        assert_eq!(detect(&shape(&i, &o)).unwrap().rule, Rule::EqualOutputs);
    }

    #[test]
    fn wasabi1_with_coordinator_fee_is_caught_at_a_third() {
        let i: Vec<u32> = (0..30).collect();
        let mut o: Vec<(u32, u64)> = (100..112).map(|a| (a, 10_000_000)).collect();
        o.extend((200..223).map(|a| (a, 1_000 + u64::from(a))));
        o.push((300, 777_777));
        assert_eq!(
            detect(&shape(&ins(&i), &outs(&o))).unwrap().rule,
            Rule::EqualOutputs
        );
    }

    #[test]
    fn wasabi2_standard_denominations() {
        assert!(is_standard_denomination(8_192));
        assert!(is_standard_denomination(2 * 3u64.pow(9)));
        assert!(is_standard_denomination(5_000_000));
        assert!(!is_standard_denomination(1_234_567));
        assert!(!is_standard_denomination(4_096)); // below the floor
        let i: Vec<u32> = (0..60).collect();
        let o: Vec<(u32, u64)> = (0..60u32)
            .map(|k| {
                (
                    1000 + k,
                    if k % 3 == 0 {
                        1_234_567 + u64::from(k)
                    } else {
                        1 << (13 + k % 5)
                    },
                )
            })
            .collect();
        assert_eq!(
            detect(&shape(&ins(&i), &outs(&o))).unwrap().rule,
            Rule::Wasabi2
        );
    }

    #[test]
    fn ordinary_txs_pass() {
        // Payment with change.
        let i = ins(&[1, 2]);
        assert_eq!(
            detect(&shape(&i, &outs(&[(3, 50_000_000), (4, 12_345_678)]))),
            None
        );
        // Two equal outputs to one address are not two participants.
        assert_eq!(detect(&shape(&i, &outs(&[(3, 5_000), (3, 5_000)]))), None);
        // One input address: nothing to merge, not flagged.
        let one = ins(&[7, 7, 7]);
        assert_eq!(
            detect(&shape(&one, &outs(&[(3, 5_000), (4, 5_000), (5, 5_000)]))),
            None
        );
        // A batch payout with a few equal amounts among many outputs.
        let o: Vec<(u32, u64)> = (0..20)
            .map(|k| {
                (
                    10 + k,
                    if k < 3 {
                        100_000
                    } else {
                        123_457 + u64::from(k)
                    },
                )
            })
            .collect();
        assert_eq!(detect(&shape(&i, &outs(&o))), None);
    }
}
