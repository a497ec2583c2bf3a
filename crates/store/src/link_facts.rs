//! Link facts (swaps, wraps, bridge, chain-swap and mixer legs; see
//! [`tracehound_core::link`]) kept per block, in the same transaction as the block, with an
//! index of their match keys so the far side of a link is found without a scan. An unwind
//! removes them with their blocks.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use tracehound_core::{Chain, LinkFact};

use crate::tables::{LINK_FACTS, LINK_KEYS};
use crate::{Store, StoreError};

/// Where a fact sits: its chain, block height and position among the block's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FactRef {
    /// Chain.
    pub chain: Chain,
    /// Block height.
    pub height: u32,
    /// Position in the block's facts.
    pub index: u32,
}

fn encode(facts: &[LinkFact]) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(facts).map_err(|e| StoreError::Corrupt {
        table: "link_facts",
        what: format!("cannot encode link facts: {e}"),
    })
}

fn decode(bytes: &[u8], chain: Chain, height: u32) -> Result<Vec<LinkFact>, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: "link_facts",
        what: format!("{chain} block {height}: {e}"),
    })
}

/// Writes the facts of blocks (height, facts) of `chain` (none are written for a block
/// without facts).
pub(crate) fn put<'a>(
    wtx: &WriteTransaction,
    chain: Chain,
    blocks: impl Iterator<Item = (u32, &'a [LinkFact])>,
) -> Result<(), StoreError> {
    let c = chain.code();
    let mut blocks = blocks.filter(|(_, f)| !f.is_empty()).peekable();
    if blocks.peek().is_none() {
        // Most batches carry no facts: their transaction need not touch the tables.
        return Ok(());
    }
    let mut rows = wtx.open_table(LINK_FACTS)?;
    let mut keys = wtx.open_multimap_table(LINK_KEYS)?;
    for (height, facts) in blocks {
        rows.insert((c, height), encode(facts)?.as_slice())?;
        for (i, f) in facts.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for k in f.keys() {
                keys.insert(k.as_str(), (c, height, i))?;
            }
        }
    }
    Ok(())
}

/// Removes the facts of `chain`'s blocks from height `from` on, with their keys.
pub(crate) fn remove_from(
    wtx: &WriteTransaction,
    chain: Chain,
    from: u32,
) -> Result<(), StoreError> {
    let c = chain.code();
    let mut rows = wtx.open_table(LINK_FACTS)?;
    let mut keys = wtx.open_multimap_table(LINK_KEYS)?;
    let stale: Vec<(u32, Vec<u8>)> = rows
        .range((c, from)..=(c, u32::MAX))?
        .map(|r| {
            let (k, v) = r?;
            Ok((k.value().1, v.value().to_vec()))
        })
        .collect::<Result<_, StoreError>>()?;
    for (height, bytes) in stale {
        for (i, f) in decode(&bytes, chain, height)?.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for k in f.keys() {
                keys.remove(k.as_str(), (c, height, i))?;
            }
        }
        rows.remove((c, height))?;
    }
    Ok(())
}

impl Store {
    /// The link facts of `chain`'s block at `height` (empty if it has none).
    pub fn link_facts(&self, chain: Chain, height: u32) -> Result<Vec<LinkFact>, StoreError> {
        let rtx = self.db.begin_read()?;
        let rows = match rtx.open_table(LINK_FACTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        match rows.get((chain.code(), height))? {
            Some(v) => decode(v.value(), chain, height),
            None => Ok(Vec::new()),
        }
    }

    /// The facts indexed under match key `key` (see [`LinkFact::keys`]), in chain and block
    /// order, each with where it sits.
    pub fn link_lookup(&self, key: &str) -> Result<Vec<(FactRef, LinkFact)>, StoreError> {
        let rtx = self.db.begin_read()?;
        let keys = match rtx.open_multimap_table(LINK_KEYS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let rows = rtx.open_table(LINK_FACTS)?;
        let mut out = Vec::new();
        // A key can name many facts of one block (a mixer pool's): decode each block once.
        let mut blocks: std::collections::HashMap<(u32, u32), Vec<LinkFact>> =
            std::collections::HashMap::new();
        for v in keys.get(key)? {
            let (c, height, index) = v?.value();
            let Some(chain) = Chain::from_code(c) else {
                continue;
            };
            let facts = match blocks.entry((c, height)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let Some(bytes) = rows.get((c, height))? else {
                        continue;
                    };
                    e.insert(decode(bytes.value(), chain, height)?)
                }
            };
            if let Some(f) = facts.get(index as usize).cloned() {
                out.push((
                    FactRef {
                        chain,
                        height,
                        index,
                    },
                    f,
                ));
            }
        }
        Ok(out)
    }

    /// How many link facts `chain` holds, by kind name and fact (`swap within`, `bridge
    /// entry`, …).
    pub fn link_counts(
        &self,
        chain: Chain,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let rtx = self.db.begin_read()?;
        let mut out = std::collections::BTreeMap::new();
        let rows = match rtx.open_table(LINK_FACTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        let c = chain.code();
        for r in rows.range((c, 0)..=(c, u32::MAX))? {
            let (k, v) = r?;
            for f in decode(v.value(), chain, k.value().1)? {
                let side = match f {
                    LinkFact::Within { .. } => "within",
                    LinkFact::Entry { .. } => "entry",
                    LinkFact::Exit { .. } => "exit",
                };
                *out.entry(format!("{} {side}", f.kind())).or_default() += 1;
            }
        }
        Ok(out)
    }
}
