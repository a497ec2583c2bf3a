//! Link facts (swaps, wraps, bridge, chain-swap and mixer legs; see
//! [`tracehound_core::link`]) kept with their block, in the same transaction, one row per fact;
//! with an index of their match keys, so the far side of a link is found without a scan, and
//! each block's fact inputs apart, so a trace asking whether a transfer enters a link reads a
//! few bytes and then only the fact it enters (a block can hold hundreds of swaps). An unwind
//! removes them with their blocks.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use tracehound_core::{Chain, LinkFact};

use crate::codec::{Dec, Enc};
use crate::tables::{LINK_FACTS, LINK_INPUTS, LINK_KEYS};
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

/// A fact as its row: its JSON (the fact types are serde's, and rare next to transfers).
fn encode(f: &LinkFact) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(f).map_err(|e| StoreError::Corrupt {
        table: "link_facts",
        what: format!("cannot encode link facts: {e}"),
    })
}

/// A block's fact inputs as a [`LINK_INPUTS`] row: the count, then per fact (input tx + 1
/// or 0, input leg).
fn encode_inputs(facts: &[LinkFact]) -> Vec<u8> {
    let mut e = Enc::default();
    e.u64(facts.len() as u64);
    for f in facts {
        let (tx, leg) = f
            .input()
            .map_or((0, 0), |l| (u64::from(l.tx_index) + 1, u64::from(l.leg)));
        e.u64(tx).u64(leg);
    }
    e.0
}

fn decode_inputs(
    bytes: &[u8],
    chain: Chain,
    height: u32,
) -> Result<Vec<Option<(u32, u32)>>, StoreError> {
    let mut d = Dec::new(bytes, "link_inputs");
    let n = d.u64()?;
    let corrupt = |what: String| StoreError::Corrupt {
        table: "link_inputs",
        what: format!("{chain} block {height}: {what}"),
    };
    // Each entry takes at least two bytes: a count beyond that is no count.
    if n > bytes.len() as u64 {
        return Err(corrupt(format!("{n} inputs in {} bytes", bytes.len())));
    }
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for _ in 0..n {
        let (tx, leg) = (d.u64()?, d.u64()?);
        let Some(tx) = tx.checked_sub(1) else {
            out.push(None);
            continue;
        };
        match (u32::try_from(tx), u32::try_from(leg)) {
            (Ok(tx), Ok(leg)) => out.push(Some((tx, leg))),
            _ => return Err(corrupt(format!("input ({tx}, {leg}) out of range"))),
        }
    }
    Ok(out)
}

pub(crate) fn decode(
    json: &[u8],
    chain: Chain,
    height: u32,
    index: u32,
) -> Result<LinkFact, StoreError> {
    serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
        table: "link_facts",
        what: format!("{chain} block {height} fact {index}: {e}"),
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
    let mut inputs = wtx.open_table(LINK_INPUTS)?;
    let mut keys = wtx.open_multimap_table(LINK_KEYS)?;
    for (height, facts) in blocks {
        inputs.insert((c, height), encode_inputs(facts).as_slice())?;
        for (i, f) in facts.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            rows.insert((c, height, i), encode(f)?.as_slice())?;
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
    let mut inputs = wtx.open_table(LINK_INPUTS)?;
    let mut keys = wtx.open_multimap_table(LINK_KEYS)?;
    let stale: Vec<((u32, u32), Vec<u8>)> = rows
        .range((c, from, 0)..=(c, u32::MAX, u32::MAX))?
        .map(|r| {
            let (k, v) = r?;
            let (_, height, index) = k.value();
            Ok(((height, index), v.value().to_vec()))
        })
        .collect::<Result<_, StoreError>>()?;
    for ((height, index), json) in stale {
        for k in decode(&json, chain, height, index)?.keys() {
            keys.remove(k.as_str(), (c, height, index))?;
        }
        rows.remove((c, height, index))?;
    }
    let heights: Vec<u32> = inputs
        .range((c, from)..=(c, u32::MAX))?
        .map(|r| Ok(r?.0.value().1))
        .collect::<Result<_, StoreError>>()?;
    for height in heights {
        inputs.remove((c, height))?;
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
        let c = chain.code();
        rows.range((c, height, 0)..=(c, height, u32::MAX))?
            .map(|r| {
                let (k, v) = r?;
                decode(v.value(), chain, height, k.value().2)
            })
            .collect()
    }

    /// The inputs of `chain`'s block at `height`'s facts, in fact order: (tx index, leg) of
    /// the movement a fact's input is (a transfer's sub-index, or a UTXO vout), none for a
    /// fact without input. Only these are read, not the facts: a reader keeps them per block and
    /// decodes just the fact a transfer enters ([`link_fact_at`](Store::link_fact_at)).
    pub fn link_fact_inputs(
        &self,
        chain: Chain,
        height: u32,
    ) -> Result<Vec<Option<(u32, u32)>>, StoreError> {
        let rtx = self.db.begin_read()?;
        let rows = match rtx.open_table(LINK_INPUTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        match rows.get((chain.code(), height))? {
            Some(v) => decode_inputs(v.value(), chain, height),
            None => Ok(Vec::new()),
        }
    }

    /// Fact `index` of `chain`'s block at `height`, if there is one; only it is decoded.
    pub fn link_fact_at(
        &self,
        chain: Chain,
        height: u32,
        index: u32,
    ) -> Result<Option<LinkFact>, StoreError> {
        let rtx = self.db.begin_read()?;
        let rows = match rtx.open_table(LINK_FACTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match rows.get((chain.code(), height, index))? {
            Some(v) => Ok(Some(decode(v.value(), chain, height, index)?)),
            None => Ok(None),
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
        for v in keys.get(key)? {
            let (c, height, index) = v?.value();
            let Some(chain) = Chain::from_code(c) else {
                continue;
            };
            if let Some(json) = rows.get((c, height, index))? {
                let fact = decode(json.value(), chain, height, index)?;
                out.push((
                    FactRef {
                        chain,
                        height,
                        index,
                    },
                    fact,
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
        for r in rows.range((c, 0, 0)..=(c, u32::MAX, u32::MAX))? {
            let (k, v) = r?;
            let (_, height, index) = k.value();
            {
                let f = decode(v.value(), chain, height, index)?;
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
