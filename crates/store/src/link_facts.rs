//! Link facts (swaps, wraps, bridge, chain-swap and mixer legs; see
//! [`tracehound_core::link`]) kept per block, in the same transaction as the block, with an
//! index of their match keys so the far side of a link is found without a scan. An unwind
//! removes them with their blocks.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use tracehound_core::{Chain, LinkFact};

use crate::codec::{Dec, Enc};
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

/// A block's facts as one row: a header of (input tx + 1 or 0, input leg, length) per fact,
/// then each fact's JSON. The header lets a trace find the fact a transfer or output enters
/// without decoding the block's others (a block can hold hundreds of swaps).
fn encode(facts: &[LinkFact]) -> Result<Vec<u8>, StoreError> {
    let mut head = Enc::default();
    let mut body = Vec::new();
    head.u64(facts.len() as u64);
    for f in facts {
        let json = serde_json::to_vec(f).map_err(|e| StoreError::Corrupt {
            table: "link_facts",
            what: format!("cannot encode link facts: {e}"),
        })?;
        let (tx, leg) = f
            .input()
            .map_or((0, 0), |l| (u64::from(l.tx_index) + 1, u64::from(l.leg)));
        head.u64(tx).u64(leg).u64(json.len() as u64);
        body.extend_from_slice(&json);
    }
    head.0.extend_from_slice(&body);
    Ok(head.0)
}

/// The header of a block's row: per fact (input tx + 1 or 0, input leg, JSON range), and
/// where the JSON starts.
fn header(bytes: &[u8]) -> Result<Vec<(u64, u64, std::ops::Range<usize>)>, StoreError> {
    let mut d = Dec::new(bytes, "link_facts");
    let n = d.u64()?;
    let mut out = Vec::new();
    let mut at = 0usize;
    for _ in 0..n {
        let (tx, leg, len) = (d.u64()?, d.u64()?, d.u64()?);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        out.push((tx, leg, at..at.saturating_add(len)));
        at = at.saturating_add(len);
    }
    let start = bytes.len() - d.remaining();
    for e in &mut out {
        e.2 = e.2.start + start..e.2.end.saturating_add(start);
    }
    Ok(out)
}

fn decode_one(
    bytes: &[u8],
    at: std::ops::Range<usize>,
    chain: Chain,
    height: u32,
) -> Result<LinkFact, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        table: "link_facts",
        what: format!("{chain} block {height}: {what}"),
    };
    let json = bytes
        .get(at)
        .ok_or_else(|| corrupt("a fact runs past the end of the row".into()))?;
    serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))
}

fn decode(bytes: &[u8], chain: Chain, height: u32) -> Result<Vec<LinkFact>, StoreError> {
    header(bytes)?
        .into_iter()
        .map(|(_, _, at)| decode_one(bytes, at, chain, height))
        .collect()
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

    /// The fact of `chain`'s block at `height` whose input is movement `leg` (a transfer's
    /// sub-index, or a UTXO vout) of tx `tx_index`, if any; only that fact is decoded.
    pub fn link_fact_at_input(
        &self,
        chain: Chain,
        height: u32,
        tx_index: u32,
        leg: u32,
    ) -> Result<Option<(FactRef, LinkFact)>, StoreError> {
        let rtx = self.db.begin_read()?;
        let rows = match rtx.open_table(LINK_FACTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(v) = rows.get((chain.code(), height))? else {
            return Ok(None);
        };
        let bytes = v.value();
        let want = (u64::from(tx_index) + 1, u64::from(leg));
        for (index, (tx, l, at)) in header(bytes)?.into_iter().enumerate() {
            if (tx, l) == want {
                let at_ref = FactRef {
                    chain,
                    height,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                };
                return Ok(Some((at_ref, decode_one(bytes, at, chain, height)?)));
            }
        }
        Ok(None)
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
            let Some(bytes) = rows.get((c, height))? else {
                continue;
            };
            let bytes = bytes.value();
            if let Some((_, _, at)) = header(bytes)?.into_iter().nth(index as usize) {
                let fact = decode_one(bytes, at, chain, height)?;
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
