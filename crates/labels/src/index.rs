//! The strongest tag of every labeled address, in memory: what screening and traces look
//! addresses up in (one hash probe per address instead of a store range read).

use std::collections::HashMap;

use tracehound_core::Chain;

use crate::LabelError;
use crate::store::LabelStore;
use crate::tag::Tag;

/// Strongest tag per (chain, canonical address).
#[derive(Debug, Clone, Default)]
pub struct LabelIndex {
    map: HashMap<(Chain, String), Tag>,
}

impl LabelIndex {
    /// Loads the strongest tag of every address in `store`.
    pub fn load(store: &LabelStore) -> Result<LabelIndex, LabelError> {
        let mut map = HashMap::new();
        for t in store.strongest_all()? {
            map.insert((t.chain, t.address.clone()), t);
        }
        Ok(LabelIndex { map })
    }

    /// The strongest tag of a canonical address.
    pub fn get(&self, chain: Chain, address: &str) -> Option<&Tag> {
        self.map.get(&(chain, address.to_string()))
    }

    /// How many addresses are labeled.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every (address, tag).
    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.map.values()
    }
}
