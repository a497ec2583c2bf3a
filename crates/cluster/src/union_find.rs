//! A union-find (disjoint-set forest) over dense address ids: the core of clustering.
//!
//! Parents are a `u32` array and ranks a `u8` array (a rank never exceeds 32), so a chain of
//! a billion addresses costs 5 GB and the hot loop touches two small arrays. Union by rank
//! with path halving keeps every operation at inverse-Ackermann cost without recursion.

/// Disjoint sets of `0..len` ids.
#[derive(Debug, Clone, Default)]
pub struct UnionFind {
    parent: Vec<u32>,
    rank: Vec<u8>,
}

impl UnionFind {
    /// `len` singletons.
    pub fn new(len: u32) -> UnionFind {
        let mut uf = UnionFind::default();
        uf.grow(len);
        uf
    }

    /// How many ids it holds.
    pub fn len(&self) -> u32 {
        // Ids are u32 by construction: `grow` takes a u32.
        self.parent.len() as u32
    }

    /// Whether it holds no id.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Adds singletons up to `len` ids (no-op if it holds as many already).
    pub fn grow(&mut self, len: u32) {
        let from = self.len();
        if len > from {
            self.parent.extend(from..len);
            self.rank.resize(len as usize, 0);
        }
    }

    /// The representative of `x`'s set, halving the path on the way.
    ///
    /// # Panics
    /// If `x` is not below [`len`](Self::len): ids come from the store, which hands out
    /// dense ones, and the caller grows the forest first.
    #[inline]
    pub fn find(&mut self, mut x: u32) -> u32 {
        let p = &mut self.parent;
        loop {
            let px = p[x as usize];
            if px == x {
                return x;
            }
            let gx = p[px as usize];
            p[x as usize] = gx;
            x = gx;
        }
    }

    /// Joins the sets of `a` and `b`. Returns `true` if they were apart (a merge happened).
    #[inline]
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (ka, kb) = (self.rank[ra as usize], self.rank[rb as usize]);
        if ka < kb {
            self.parent[ra as usize] = rb;
        } else {
            self.parent[rb as usize] = ra;
            if ka == kb {
                self.rank[ra as usize] = ka + 1;
            }
        }
        true
    }

    /// Every id's set as its smallest member: a labelling that does not depend on the order
    /// unions came in (so stored entity ids are stable across rebuilds).
    pub fn smallest_members(&mut self) -> Vec<u32> {
        let n = self.len();
        // The smallest member of each root's set, found in one ascending pass.
        let mut least = vec![u32::MAX; n as usize];
        let mut out = vec![0u32; n as usize];
        for x in 0..n {
            let r = self.find(x) as usize;
            if least[r] == u32::MAX {
                least[r] = x;
            }
            out[x as usize] = least[r];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_join_sets_and_report_merges() {
        let mut uf = UnionFind::new(6);
        assert!(uf.union(0, 1));
        assert!(uf.union(2, 3));
        assert!(!uf.union(1, 0));
        assert!(uf.union(1, 3));
        assert!(!uf.union(0, 2));
        assert_eq!(uf.find(0), uf.find(3));
        assert_ne!(uf.find(0), uf.find(4));
        assert_eq!(uf.smallest_members(), vec![0, 0, 0, 0, 4, 5]);
        uf.grow(8);
        assert_eq!(uf.len(), 8);
        assert_eq!(uf.find(7), 7);
    }

    proptest::proptest! {
        /// The partition does not depend on the order of unions.
        #[test]
        fn order_does_not_matter(pairs in proptest::collection::vec((0u32..40, 0u32..40), 0..80), seed in 0u64..1000) {
            let mut a = UnionFind::new(40);
            for &(x, y) in &pairs { a.union(x, y); }
            let mut shuffled = pairs.clone();
            fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
            let mut b = UnionFind::new(40);
            for &(x, y) in &shuffled { b.union(y, x); }
            proptest::prop_assert_eq!(a.smallest_members(), b.smallest_members());
        }
    }
}
