//! Pairwise precision and recall of a clustering against a ground truth of owners.
//!
//! Over the addresses both know, a pair of addresses is *predicted* when the clustering puts
//! them in one entity and *true* when one owner holds both. Precision is correct predicted
//! pairs over predicted pairs, recall correct pairs over true pairs — the usual measure for
//! clusterings (a cluster of n addresses holds n·(n−1)/2 pairs), so large entities weigh as
//! much as they matter to an analyst.

use std::collections::HashMap;
use std::hash::Hash;

/// The scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PairScore {
    /// Addresses scored.
    pub addresses: u64,
    /// Pairs the clustering joins.
    pub predicted_pairs: u128,
    /// Pairs that share an owner.
    pub true_pairs: u128,
    /// Pairs both join.
    pub correct_pairs: u128,
    /// correct / predicted (1 when nothing is predicted).
    pub precision: f64,
    /// correct / true (1 when nothing is true).
    pub recall: f64,
}

fn pairs(n: u64) -> u128 {
    u128::from(n) * u128::from(n.saturating_sub(1)) / 2
}

/// Scores `(predicted entity, true owner)` of each address.
pub fn pairwise<P, T>(items: impl IntoIterator<Item = (P, T)>) -> PairScore
where
    P: Hash + Eq + Clone,
    T: Hash + Eq + Clone,
{
    let mut both: HashMap<(P, T), u64> = HashMap::new();
    let mut n = 0;
    for pt in items {
        n += 1;
        *both.entry(pt).or_insert(0) += 1;
    }
    let mut pred: HashMap<P, u64> = HashMap::new();
    let mut truth: HashMap<T, u64> = HashMap::new();
    for ((p, t), k) in &both {
        *pred.entry(p.clone()).or_insert(0) += k;
        *truth.entry(t.clone()).or_insert(0) += k;
    }
    let predicted: u128 = pred.values().map(|&k| pairs(k)).sum();
    let true_pairs: u128 = truth.values().map(|&k| pairs(k)).sum();
    let correct: u128 = both.values().map(|&k| pairs(k)).sum();
    let ratio = |a: u128, b: u128| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    PairScore {
        addresses: n,
        predicted_pairs: predicted,
        true_pairs,
        correct_pairs: correct,
        precision: ratio(correct, predicted),
        recall: ratio(correct, true_pairs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pairs() {
        // Truth: {a,b,c} {d}. Prediction: {a,b} {c,d}.
        let s = pairwise([(1, 'x'), (1, 'x'), (2, 'x'), (2, 'y')]);
        assert_eq!(
            (s.predicted_pairs, s.true_pairs, s.correct_pairs),
            (2, 3, 1)
        );
        assert_eq!(s.precision, 0.5);
        assert!((s.recall - 1.0 / 3.0).abs() < 1e-12);
    }
}
