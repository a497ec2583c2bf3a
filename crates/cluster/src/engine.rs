//! Co-spend clustering over UTXO txs in chain order, with the CoinJoin guard and the optional
//! change heuristic; every merge keeps the tx that made it.

use std::collections::BTreeMap;

use tracehound_core::Chain;

use crate::TxShape;
use crate::change::change_output;
use crate::clustering::{Clustering, Evidence, EvidenceKind, Figures};
use crate::coinjoin::{self, Rule};
use crate::union_find::UnionFind;

/// Confidence of a co-spend merge (0..=100): near certain once CoinJoins are out; what is left
/// is the CoinJoin the rules miss and shared custody (PayJoin), which no rule here sees.
pub const CO_SPEND_CONFIDENCE: u8 = 90;

/// Which heuristics run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Options {
    /// Merge change outputs into the payer ([`crate::change`]); off by default.
    pub change: bool,
}

/// Clusters one chain: feed it txs in chain order ([`add_tx`](Self::add_tx)), or pairs found
/// by other heuristics ([`link`](Self::link)), then [`finish`](Self::finish).
#[derive(Debug)]
pub struct Clusterer {
    uf: UnionFind,
    /// Addresses seen so far (one bit each), kept for the change heuristic's "fresh" test.
    seen: Vec<u64>,
    options: Options,
    evidence: Vec<Evidence>,
    figures: Figures,
    coinjoins: Vec<(u64, Rule)>,
    by_rule: BTreeMap<Rule, u64>,
}

impl Clusterer {
    /// A clusterer for a chain of `addresses` address ids (it grows if later ids come).
    pub fn new(addresses: u32, options: Options) -> Clusterer {
        Clusterer {
            uf: UnionFind::new(addresses),
            seen: if options.change {
                vec![0; (addresses as usize).div_ceil(64)]
            } else {
                Vec::new()
            },
            options,
            evidence: Vec::new(),
            figures: Figures {
                change: options.change,
                ..Figures::default()
            },
            coinjoins: Vec::new(),
            by_rule: BTreeMap::new(),
        }
    }

    fn fit(&mut self, id: u32) {
        if id >= self.uf.len() {
            self.uf.grow(id.saturating_add(1));
            if self.options.change {
                self.seen.resize((self.uf.len() as usize).div_ceil(64), 0);
            }
        }
    }

    fn was_seen(&self, id: u32) -> bool {
        self.seen
            .get(id as usize / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn mark_seen(&mut self, id: u32) {
        if let Some(w) = self.seen.get_mut(id as usize / 64) {
            *w |= 1 << (id % 64);
        }
    }

    /// Joins `a` and `b` on the word of another heuristic (e.g. [`crate::deposit`]). Returns
    /// whether they were apart; only then is the evidence kept.
    pub fn link(&mut self, a: u32, b: u32, tx: u64, kind: EvidenceKind, confidence: u8) -> bool {
        self.fit(a.max(b));
        if !self.uf.union(a, b) {
            return false;
        }
        self.evidence.push(Evidence {
            tx,
            a,
            b,
            kind,
            confidence,
        });
        match kind {
            EvidenceKind::CoSpend => self.figures.merges += 1,
            EvidenceKind::Change => self.figures.change_merges += 1,
            EvidenceKind::Deposit => self.figures.deposit_merges += 1,
        }
        true
    }

    /// Clusters one tx: joins its inputs' addresses unless it looks like a CoinJoin, then (if
    /// enabled) its change output with its inputs.
    pub fn add_tx(&mut self, tx: &TxShape<'_>) {
        self.figures.txs += 1;
        self.figures.inputs += tx.inputs.len() as u64;
        let most = tx
            .inputs
            .iter()
            .filter_map(|i| i.addr)
            .chain(tx.outputs.iter().filter_map(|o| o.addr))
            .max();
        if let Some(m) = most {
            self.fit(m);
        }
        let mut coinjoin = false;
        if !tx.coinbase && tx.inputs.len() >= 2 {
            if let Some(cj) = coinjoin::detect(tx) {
                self.coinjoins.push((tx.tx, cj.rule));
                *self.by_rule.entry(cj.rule).or_insert(0) += 1;
                tracing::debug!(tx = tx.tx, rule = %cj.rule, "coinjoin skipped: {}", cj.reason);
                coinjoin = true;
            } else {
                let mut addrs = tx.inputs.iter().filter_map(|i| i.addr);
                if let Some(first) = addrs.next() {
                    for other in addrs {
                        if other != first {
                            self.link(
                                first,
                                other,
                                tx.tx,
                                EvidenceKind::CoSpend,
                                CO_SPEND_CONFIDENCE,
                            );
                        }
                    }
                }
            }
        }
        if self.options.change {
            if !coinjoin
                && let Some(c) = change_output(tx, |a| !self.was_seen(a))
                && let Some(payer) = tx.inputs.first().and_then(|i| i.addr)
            {
                self.link(payer, c.addr, tx.tx, EvidenceKind::Change, c.confidence);
            }
            for a in tx.outputs.iter().filter_map(|o| o.addr) {
                self.mark_seen(a);
            }
            for a in tx.inputs.iter().filter_map(|i| i.addr) {
                self.mark_seen(a);
            }
        }
    }

    /// The txs skipped as CoinJoins so far, with the rule that flagged each.
    pub fn coinjoins(&self) -> &[(u64, Rule)] {
        &self.coinjoins
    }

    /// The partition so far, without ending (for tests and incremental use).
    pub fn union_find(&mut self) -> &mut UnionFind {
        &mut self.uf
    }

    /// The result: entity of every address (its smallest address id), evidence, figures.
    /// `scanned` is how far the input went (next tx seq, or next height on account chains).
    pub fn finish(mut self, chain: Chain, scanned: u64) -> Clustering {
        self.figures.coinjoins = self
            .by_rule
            .iter()
            .map(|(r, n)| (r.name().to_string(), *n))
            .collect();
        self.figures.coinjoins_skipped = self.coinjoins.len() as u64;
        let entity = self.uf.smallest_members();
        Clustering::new(chain, scanned, entity, self.evidence, self.figures)
    }
}

#[cfg(test)]
mod tests {
    use tracehound_core::ScriptKind;

    use super::*;
    use crate::{TxIn, TxOut};

    const W: ScriptKind = ScriptKind::P2wpkh;

    fn i(a: u32) -> TxIn {
        TxIn {
            addr: Some(a),
            kind: Some(W),
        }
    }

    fn o(a: u32, value: u64) -> TxOut {
        TxOut {
            addr: Some(a),
            value,
            kind: W,
        }
    }

    #[test]
    fn co_spend_merges_with_evidence_and_coinjoin_is_skipped() {
        let mut c = Clusterer::new(20, Options::default());
        c.add_tx(&TxShape {
            tx: 1,
            coinbase: false,
            inputs: &[i(1), i(2), i(2)],
            outputs: &[o(3, 7)],
        });
        // A hand-built JoinMarket-style CoinJoin: 3 equal outputs and changes, inputs of 3 owners.
        let cj_in = [i(4), i(5), i(6)];
        let cj_out = [
            o(10, 1_000_000),
            o(11, 1_000_000),
            o(12, 1_000_000),
            o(13, 123_456),
            o(14, 654_321),
        ];
        c.add_tx(&TxShape {
            tx: 2,
            coinbase: false,
            inputs: &cj_in,
            outputs: &cj_out,
        });
        c.add_tx(&TxShape {
            tx: 3,
            coinbase: false,
            inputs: &[i(2), i(7)],
            outputs: &[o(8, 1)],
        });
        assert_eq!(c.coinjoins(), &[(2, Rule::EqualOutputs)]);
        let r = c.finish(Chain::BitcoinMainnet, 4);
        assert_eq!(r.entity_of(7), Some(1));
        assert_eq!(r.entity_of(4), Some(4));
        assert_eq!(r.entity_of(5), Some(5));
        assert_eq!(r.figures.merges, 2);
        assert_eq!(r.figures.coinjoins_skipped, 1);
        // 7 joined 1 through tx 3 (7–2) then tx 1 (2–1).
        let path: Vec<u64> = r.evidence_path(7).unwrap().iter().map(|e| e.tx).collect();
        assert_eq!(path, vec![3, 1]);
        assert!(r.evidence.iter().all(|e| e.tx != 2));
    }

    #[test]
    fn change_only_when_asked() {
        let txs: Vec<(Vec<TxIn>, Vec<TxOut>)> = vec![
            (vec![], vec![o(1, 100_000_000), o(2, 5)]),
            (vec![i(1)], vec![o(2, 50_000_000), o(9, 49_987_654)]),
        ];
        for change in [false, true] {
            let mut c = Clusterer::new(10, Options { change });
            for (k, (ins, outs)) in txs.iter().enumerate() {
                c.add_tx(&TxShape {
                    tx: k as u64,
                    coinbase: k == 0,
                    inputs: ins,
                    outputs: outs,
                });
            }
            let r = c.finish(Chain::BitcoinMainnet, 2);
            assert_eq!(r.entity_of(9) == r.entity_of(1), change);
            if change {
                assert_eq!(r.evidence[0].kind, EvidenceKind::Change);
                assert_eq!(r.evidence[0].confidence, 70);
            }
        }
    }
}
