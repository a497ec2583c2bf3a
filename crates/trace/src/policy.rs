//! Taint policies: how tainted value in becomes tainted value out, for both shapes of value
//! (TRACING.md is the specification; each rule here cites it).
//!
//! - A **UTXO tx** mixes its inputs: [`split_tx`] gives each output, and the fee as a share of
//!   its own (the last one, after every output), its tainted part.
//! - An **account** keeps a [`Ledger`] per asset: receipts go in, each outflow takes its
//!   tainted part out, in (block, tx, sub-index) order.
//!
//! Every policy but poison conserves taint exactly: the outputs' and fee's shares add up to the
//! inputs' taint, and a ledger's outflows plus what it still holds add up to what it received.
//!
//! # Worked example (TRACING.md)
//! Inputs `i1 = 5` (tainted), `i2 = 5` (clean); outputs `o1 = 2`, `o2 = 7`; fee 1.
//!
//! | policy  | o1 | o2 | fee |
//! |---------|----|----|-----|
//! | poison  | 2 exposed | 7 exposed | 1 exposed |
//! | haircut | 1 | 4 | 0 |
//! | FIFO    | 2 | 3 | 0 |
//! | LIFO    | 0 | 4 | 1 |
//! | TIHO    | 0 | 5 | 0 |
//!
//! (The `worked_example` test below checks exactly this table.)

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::arith::{largest_remainder, mul_div_floor, mul_div_rem};

/// How taint moves through a tx or an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// **Poison** (Möser, Böhme, Breuker, "Towards Risk Scoring of Bitcoin Transactions",
    /// FC 2014): any contact taints in full. UTXO: every output (and the fee) of a tx with a
    /// tainted input is tainted in full. Account: after the first tainted receipt every
    /// outflow is tainted in full. The figures are **exposure**, not value: they are not
    /// conserved and may exceed what was stolen.
    Poison,
    /// **Haircut** (Möser et al. 2014): taint spreads in proportion. UTXO: output `o` gets
    /// `t·v(o)/Σv(i)` of the tx's tainted total `t`, the fee the rest, by largest remainder.
    /// Account: an outflow `x` from balance `B` with tainted part `T` carries `T·x/B` (the
    /// same largest-remainder split between the outflow and what stays, so a half unit goes
    /// to the outflow). Example: `B = 10`, `T = 5`, send 3 → 1.5 rounds to 2; 8 stay, 3 tainted.
    Haircut,
    /// **FIFO** (Anderson, Shumailov, Ahmed, Rietmann, "Bitcoin Redux", WEIS 2018, after
    /// Clayton's case, 1816): UTXO: inputs laid end to end in tx order; outputs in order, then
    /// the fee, take value from the front. Account: receipts form a queue; an outflow takes
    /// the oldest first. Example: receive 5 tainted, then 5 clean, send 7 → 5 tainted.
    Fifo,
    /// **LIFO** (Anderson et al. 2018): as FIFO, from the back: the last input first; receipts
    /// form a stack. Example: receive 5 tainted, then 5 clean, send 7 → 2 tainted.
    Lifo,
    /// **TIHO**, taint-in highest-out (Tironsakkul, Maarek, Eross, Just, "Probing the Mixing
    /// Service: Bitcoin Taint Analysis", 2019): UTXO: the tainted total goes to the largest
    /// shares first (outputs and the fee, ties to the lower index, the fee last), clean value
    /// fills the rest. Account: taint first, an outflow `x` carries `min(x, T)`. Example:
    /// `T = 5` of `B = 10`, send 3 → 3 tainted, then send 7 → 2 tainted.
    Tiho,
}

impl Policy {
    /// Every policy, in the order the docs list them.
    pub const ALL: [Policy; 5] = [
        Policy::Poison,
        Policy::Haircut,
        Policy::Fifo,
        Policy::Lifo,
        Policy::Tiho,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Poison => "poison",
            Policy::Haircut => "haircut",
            Policy::Fifo => "fifo",
            Policy::Lifo => "lifo",
            Policy::Tiho => "tiho",
        }
    }

    /// Whether the policy conserves value (all but poison).
    pub fn conserves(self) -> bool {
        self != Policy::Poison
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown policy {s:?}: expected poison, haircut, fifo, lifo or tiho")
            })
    }
}

/// Value with its tainted part (`taint <= value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parcel {
    /// Base units.
    pub value: u128,
    /// Of which tainted (under poison: 0 or `value`, exposure).
    pub taint: u128,
}

impl Parcel {
    /// A parcel; `taint` is capped at `value`.
    pub fn new(value: u128, taint: u128) -> Parcel {
        Parcel {
            value,
            taint: taint.min(value),
        }
    }
}

/// A tx's inputs hold less value than its outputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outputs ({outputs}) exceed inputs ({inputs})")]
pub struct OverspendError {
    /// Sum of inputs.
    pub inputs: u128,
    /// Sum of outputs.
    pub outputs: u128,
}

/// The tainted part of each output and of the fee of one UTXO tx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSplit {
    /// Per output, in tx order.
    pub outputs: Vec<u128>,
    /// The fee's share ("paid as fee").
    pub fee: u128,
}

/// Takes `want` units from `seg`, returning the tainted part taken: the whole taint if all of
/// it is taken, else its pro-rata part rounded down (what stays keeps the rest, so nothing is
/// lost over successive takes).
fn take(seg: &mut Parcel, want: u128) -> Parcel {
    let n = want.min(seg.value);
    let t = if n == seg.value {
        seg.taint
    } else {
        mul_div_floor(seg.taint, n, seg.value)
    };
    seg.value -= n;
    seg.taint -= t;
    Parcel { value: n, taint: t }
}

/// Splits a UTXO tx's taint over its outputs and fee (TRACING.md, UTXO column). The fee is
/// `Σinputs − Σoutputs` and counts as the last share.
pub fn split_tx(
    policy: Policy,
    inputs: &[Parcel],
    outputs: &[u128],
) -> Result<TxSplit, OverspendError> {
    let in_sum: u128 = inputs.iter().map(|p| p.value).sum();
    let out_sum: u128 = outputs.iter().sum();
    let fee = in_sum.checked_sub(out_sum).ok_or(OverspendError {
        inputs: in_sum,
        outputs: out_sum,
    })?;
    let tainted: u128 = inputs.iter().map(|p| p.taint.min(p.value)).sum();
    let mut shares: Vec<u128> = outputs.to_vec();
    shares.push(fee);
    let got = match policy {
        Policy::Poison => shares
            .iter()
            .map(|&v| if tainted > 0 { v } else { 0 })
            .collect(),
        Policy::Haircut => largest_remainder(tainted, &shares, in_sum),
        Policy::Fifo | Policy::Lifo => {
            let mut segs: VecDeque<Parcel> = inputs
                .iter()
                .map(|p| Parcel::new(p.value, p.taint))
                .collect();
            shares
                .iter()
                .map(|&v| drain(&mut segs, v, policy == Policy::Lifo))
                .collect()
        }
        Policy::Tiho => {
            let mut order: Vec<usize> = (0..shares.len()).collect();
            // Largest first; the stable sort keeps ties in index order (the fee is last).
            order.sort_by(|&a, &b| shares[b].cmp(&shares[a]));
            let mut left = tainted;
            let mut got = vec![0; shares.len()];
            for i in order {
                let t = left.min(shares[i]);
                got[i] = t;
                left -= t;
            }
            got
        }
    };
    let mut got = got;
    let fee_taint = got.pop().unwrap_or(0);
    Ok(TxSplit {
        outputs: got,
        fee: fee_taint,
    })
}

/// Takes `want` units from the front (FIFO) or back (LIFO) of `segs`; returns the taint taken.
fn drain(segs: &mut VecDeque<Parcel>, want: u128, back: bool) -> u128 {
    let mut left = want;
    let mut taint = 0;
    while left > 0 {
        let seg = if back {
            segs.back_mut()
        } else {
            segs.front_mut()
        };
        let Some(seg) = seg else { break };
        let got = take(seg, left);
        left -= got.value;
        taint += got.taint;
        if seg.value == 0 {
            if back {
                segs.pop_back();
            } else {
                segs.pop_front();
            }
        }
    }
    taint
}

/// One account's holding of one asset under a policy: its balance and tainted part, and for
/// FIFO/LIFO the receipts in order.
#[derive(Debug, Clone)]
pub struct Ledger {
    policy: Policy,
    balance: u128,
    taint: u128,
    /// FIFO/LIFO: receipts, oldest first; pure clean or pure tainted neighbours are merged
    /// (taking from a pure segment gives the same taint however it is cut).
    segs: VecDeque<Parcel>,
    /// Value sent beyond what the account was known to hold (TRACING.md, partial data): clean
    /// value that was already there.
    unknown: u128,
}

impl Ledger {
    /// An empty holding.
    pub fn new(policy: Policy) -> Ledger {
        Ledger {
            policy,
            balance: 0,
            taint: 0,
            segs: VecDeque::new(),
            unknown: 0,
        }
    }

    /// Balance, base units.
    pub fn balance(&self) -> u128 {
        self.balance
    }

    /// Tainted part of the balance (poison: the balance if exposed).
    pub fn taint(&self) -> u128 {
        match self.policy {
            Policy::Poison if self.taint > 0 => self.balance,
            Policy::Poison => 0,
            _ => self.taint,
        }
    }

    /// Value sent beyond what was known to be there (partial data), summed.
    pub fn unknown(&self) -> u128 {
        self.unknown
    }

    /// A receipt of `p.value` of which `p.taint` tainted.
    pub fn receive(&mut self, p: Parcel) {
        let p = Parcel::new(p.value, p.taint);
        self.balance += p.value;
        match self.policy {
            // Poison remembers contact, not amounts: once exposed, always exposed.
            Policy::Poison => self.taint = self.taint.max(p.taint),
            Policy::Fifo | Policy::Lifo => {
                self.taint += p.taint;
                if p.value == 0 {
                    return;
                }
                let pure = |s: &Parcel| s.taint == 0 || s.taint == s.value;
                match self.segs.back_mut() {
                    Some(last) if pure(last) && pure(&p) && (last.taint == 0) == (p.taint == 0) => {
                        last.value += p.value;
                        last.taint += p.taint;
                    }
                    _ => self.segs.push_back(p),
                }
            }
            Policy::Haircut | Policy::Tiho => self.taint += p.taint,
        }
    }

    /// Marks up to `taint` more of the last `amount` received as tainted, after the fact (a
    /// link found to carry taint to a receipt already taken in as clean); returns how much
    /// was marked. The balance does not change.
    pub fn retaint(&mut self, amount: u128, taint: u128) -> u128 {
        let room = self.balance.saturating_sub(self.taint).min(amount);
        let t = taint.min(room);
        if t == 0 {
            return 0;
        }
        match self.policy {
            Policy::Poison => self.taint = self.taint.max(t),
            Policy::Haircut | Policy::Tiho => self.taint += t,
            Policy::Fifo | Policy::Lifo => {
                // The newest receipts are at the back: turn clean units there tainted.
                let mut left = t;
                let mut out = VecDeque::new();
                let mut window = amount;
                while left > 0 && window > 0 {
                    let Some(mut seg) = self.segs.pop_back() else {
                        break;
                    };
                    let in_window = seg.value.min(window);
                    window -= in_window;
                    let clean = in_window.min(seg.value - seg.taint);
                    let x = clean.min(left);
                    seg.taint += x;
                    left -= x;
                    out.push_front(seg);
                }
                self.segs.extend(out);
                let marked = t - left;
                self.taint += marked;
                return marked;
            }
        }
        t
    }

    /// An outflow of `amount`; returns its tainted part. Sending more than the balance takes
    /// all of it plus clean value that was already there (partial data).
    pub fn send(&mut self, amount: u128) -> u128 {
        if amount >= self.balance {
            self.unknown += amount - self.balance;
            let t = match self.policy {
                Policy::Poison if self.taint > 0 => amount,
                Policy::Poison => 0,
                _ => self.taint,
            };
            self.balance = 0;
            self.segs.clear();
            if self.policy != Policy::Poison {
                self.taint = 0;
            }
            return t;
        }
        let t = match self.policy {
            Policy::Poison => {
                if self.taint > 0 {
                    amount
                } else {
                    0
                }
            }
            Policy::Haircut => {
                // Largest remainder between the outflow (index 0) and what stays (index 1):
                // the outflow gets the spare unit when its remainder is at least half.
                let (q, r) = mul_div_rem(self.taint, amount, self.balance).unwrap_or((0, 0));
                let t = if r > 0 && r >= self.balance - r {
                    q + 1
                } else {
                    q
                };
                self.taint -= t;
                t
            }
            Policy::Fifo | Policy::Lifo => {
                let t = drain(&mut self.segs, amount, self.policy == Policy::Lifo);
                self.taint -= t;
                t
            }
            Policy::Tiho => {
                let t = amount.min(self.taint);
                self.taint -= t;
                t
            }
        };
        self.balance -= amount;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(policy: Policy) -> TxSplit {
        split_tx(policy, &[Parcel::new(5, 5), Parcel::new(5, 0)], &[2, 7]).unwrap()
    }

    /// TRACING.md's worked example, every policy.
    #[test]
    fn worked_example() {
        let table = [
            (Policy::Poison, [2, 7], 1),
            (Policy::Haircut, [1, 4], 0),
            (Policy::Fifo, [2, 3], 0),
            (Policy::Lifo, [0, 4], 1),
            (Policy::Tiho, [0, 5], 0),
        ];
        for (policy, outs, fee) in table {
            let s = example(policy);
            assert_eq!(s.outputs, outs, "{policy}");
            assert_eq!(s.fee, fee, "{policy}");
        }
    }

    #[test]
    fn overspend_is_an_error() {
        assert_eq!(
            split_tx(Policy::Haircut, &[Parcel::new(3, 3)], &[4]),
            Err(OverspendError {
                inputs: 3,
                outputs: 4
            })
        );
    }

    #[test]
    fn tiho_gives_overflow_taint_to_the_fee_last() {
        // All 10 tainted: o2 (7) then o1 (2) then the fee (1).
        let s = split_tx(Policy::Tiho, &[Parcel::new(10, 10)], &[2, 7]).unwrap();
        assert_eq!((s.outputs, s.fee), (vec![2, 7], 1));
    }

    /// Account ledger: receive 5 tainted, then 5 clean; send 3, then 4, then 3.
    #[test]
    fn account_ledger_examples() {
        let table = [
            (Policy::Haircut, [2, 2, 1]), // 1.5 → 2 (tie to the outflow); 3·4/7 = 1.71 → 2; rest 1
            (Policy::Fifo, [3, 2, 0]),
            (Policy::Lifo, [0, 2, 3]),
            (Policy::Tiho, [3, 2, 0]),
            (Policy::Poison, [3, 4, 3]),
        ];
        for (policy, want) in table {
            let mut l = Ledger::new(policy);
            l.receive(Parcel::new(5, 5));
            l.receive(Parcel::new(5, 0));
            let got = [l.send(3), l.send(4), l.send(3)];
            assert_eq!(got, want, "{policy}");
            assert_eq!(l.balance(), 0);
            assert_eq!(l.taint(), 0, "{policy}");
        }
    }

    /// Partial data: sending more than was received takes all the taint, and the excess is
    /// recorded as clean value that was already there.
    #[test]
    fn account_partial_data_is_clean() {
        for policy in Policy::ALL {
            let mut l = Ledger::new(policy);
            l.receive(Parcel::new(4, 4));
            let t = l.send(10);
            assert_eq!(t, if policy == Policy::Poison { 10 } else { 4 }, "{policy}");
            assert_eq!(l.unknown(), 6);
            assert_eq!(l.balance(), 0);
        }
    }

    /// A mixed receipt taken in part gives up its taint pro rata, rounded down, and the rest
    /// later: LIFO over a receipt of 10 with 3 tainted, sent as 5 and 5 → 1 and 2.
    #[test]
    fn mixed_receipt_is_taken_pro_rata() {
        let mut l = Ledger::new(Policy::Lifo);
        l.receive(Parcel::new(10, 3));
        assert_eq!((l.send(5), l.send(5)), (1, 2));
    }
}
