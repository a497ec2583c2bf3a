//! Clustering on real data and on the simulator's ground truth.

mod real_blocks;
mod sim;

use std::collections::HashMap;
use std::hash::Hash;

/// A deliberately plain union-find, written apart from the crate's, as the reference.
pub(crate) struct NaiveUf<K: Hash + Eq + Clone> {
    parent: HashMap<K, K>,
}

impl<K: Hash + Eq + Clone> NaiveUf<K> {
    pub(crate) fn new() -> Self {
        NaiveUf {
            parent: HashMap::new(),
        }
    }

    pub(crate) fn root(&mut self, k: &K) -> K {
        let mut x = k.clone();
        while let Some(p) = self.parent.get(&x) {
            if *p == x {
                break;
            }
            x = p.clone();
        }
        x
    }

    pub(crate) fn join(&mut self, a: &K, b: &K) {
        self.parent.entry(a.clone()).or_insert_with(|| a.clone());
        self.parent.entry(b.clone()).or_insert_with(|| b.clone());
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            self.parent.insert(ra, rb);
        }
    }
}

/// Asserts two labellings of the same items are one partition: the map between their
/// labels is a bijection. Returns the number of multi-member sets.
pub(crate) fn same_partition<
    K: Hash + Eq + std::fmt::Debug,
    A: Hash + Eq + Clone + std::fmt::Debug,
    B: Hash + Eq + Clone + std::fmt::Debug,
>(
    items: impl IntoIterator<Item = (K, A, B)>,
) -> usize {
    let mut ab: HashMap<A, B> = HashMap::new();
    let mut ba: HashMap<B, A> = HashMap::new();
    let mut size: HashMap<A, usize> = HashMap::new();
    for (k, a, b) in items {
        let x = ab.entry(a.clone()).or_insert_with(|| b.clone()).clone();
        assert_eq!(x, b, "{k:?}: set {a:?} maps to {x:?} and {b:?}");
        let y = ba.entry(b.clone()).or_insert_with(|| a.clone()).clone();
        assert_eq!(y, a, "{k:?}: set {b:?} maps to {y:?} and {a:?}");
        *size.entry(a).or_insert(0) += 1;
    }
    size.values().filter(|&&n| n >= 2).count()
}
