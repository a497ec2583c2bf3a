//! Live traces: an incident's trace kept open while its chains grow, and extended with each
//! new block instead of traced again from the theft (what `tracehound watch` runs).
//!
//! A full trace ends value that has not moved as resting where it is. A live trace keeps those
//! places open: unspent tainted outputs are parked, and tainted accounts keep their ledgers and
//! their place in their history. [`LiveTrace::advance`] then looks for the parked outputs'
//! spenders, reads the tainted accounts' new transfers, seeds what a UTXO source has sent
//! since, and walks on from there. On each chain the new blocks come after everything already
//! applied, so the walk takes them in the order a full trace of the grown store would; across
//! chains that holds only while they grow in time order (checked, below).
//!
//! What a later block can change in the past is checked; when it does, the trace starts over
//! and the [`Advance`] says why:
//! - a reorg: the block at the height the trace had reached is not the same block;
//! - link matches: when new blocks hold link entries or exits (or blocks no later than ones a
//!   mixer heuristic read), every entry matched so far is matched again, in the same order,
//!   and must give the same exits (a bridge's exit arriving, a mixer pool matched otherwise);
//! - taint crossing a link to a block of a walked chain that its walk had passed;
//! - a chain's new blocks earlier in time than blocks of another chain already walked, when
//!   taint met a link while extending (a full trace takes the chains in time order, and where
//!   they meet the order counts);
//! - a UTXO source's newly spent output that taint had reached;
//! - another incident or other rules (labels, policy, links, caps);
//! - any error while extending (the fresh trace then reports it, if it is real).
//!
//! [`LiveTrace::result`] equals a full trace of the same store, apart from the order of the
//! trace graph's edges and of the notes (`tracehound bench live` checks it after every block).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use tracehound_core::{Chain, ChainFamily, Hash32};
use tracehound_store::Store;

use crate::TraceError;
use crate::engine::{Graphs, Rules, Tracker, Walks, first_funder};
use crate::follow::{LinkState, Linker};
use crate::incident::Incident;
use crate::result::TraceResult;
use crate::store::{StoreGraphs, StoreLinks, StoreUtxo, resolve, walk};

/// An incident's trace, kept open to be extended as its chains grow.
pub struct LiveTrace {
    incident: Incident,
    tracker: Tracker,
    walks: Walks,
    /// Taken while a linker reads through it; `None` after an advance that failed.
    links: Option<LinkState>,
    /// Every stored chain's tip when the trace last read the store.
    horizon: BTreeMap<Chain, Tip>,
}

/// A chain's tip as a live trace saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tip {
    height: u32,
    hash: Hash32,
    time: u64,
    /// A UTXO chain's tx count (tx seqs run in chain order): the txs after it are new.
    txs: u64,
}

/// What one [`LiveTrace::advance`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advance {
    /// Blocks the stored chains grew by since the trace last read them.
    pub blocks: u64,
    /// Why the trace was started over instead of extended (`None`: extended, or nothing new).
    pub restarted: Option<String>,
}

impl LiveTrace {
    /// Traces `incident` over `store` under `rules`, keeping the trace open.
    pub fn start(
        store: &Store,
        incident: &Incident,
        rules: Rules,
    ) -> Result<LiveTrace, TraceError> {
        // Read first: a block stored while the trace runs is taken as new by the next advance
        // (which then finds nothing of it left to do) rather than missed.
        let horizon = tips(store)?;
        let (tracker, walks, links) = walk(store, incident, rules, true)?;
        Ok(LiveTrace {
            incident: incident.clone(),
            tracker,
            walks,
            links: Some(links),
            horizon,
        })
    }

    /// The incident traced.
    pub fn incident(&self) -> &Incident {
        &self.incident
    }

    /// The result as of the store last read: what has not moved rests where it is. Fails
    /// where a full trace would (a cap), and on a trace whose last advance failed.
    pub fn result(&self) -> Result<TraceResult, TraceError> {
        let links = self.links.as_ref().ok_or_else(|| {
            TraceError::Data(format!(
                "the live trace of {} failed to advance: start it again",
                self.incident.name
            ))
        })?;
        let mut t = self.tracker.clone();
        self.walks.rest(&mut t, links.skipped())?;
        Ok(t.finish(&self.incident.name))
    }

    /// Extends the trace with what `store` holds beyond what it last read, under `rules` for
    /// `incident` (starting over when they differ from the trace's, or when a new block
    /// changes what was already traced: see the module docs).
    pub fn advance(
        &mut self,
        store: &Store,
        incident: &Incident,
        rules: Rules,
    ) -> Result<Advance, TraceError> {
        let tips = tips(store)?;
        let blocks = grown(&self.horizon, &tips);
        let why = if *incident != self.incident {
            Some("the incident changed".to_string())
        } else if rules != *self.tracker.rules() {
            Some("its trace settings or labels changed".to_string())
        } else if let Some(why) = self.reorged(store)? {
            Some(why)
        } else if blocks == 0 {
            return Ok(Advance {
                blocks,
                restarted: None,
            });
        } else {
            match self.extend(store, &tips) {
                Ok(None) => {
                    self.horizon = tips;
                    return Ok(Advance {
                        blocks,
                        restarted: None,
                    });
                }
                Ok(Some(why)) => Some(why),
                Err(e) => Some(format!("extending failed ({e})")),
            }
        };
        match LiveTrace::start(store, incident, rules) {
            Ok(fresh) => *self = fresh,
            Err(e) => {
                // Half extended: unusable (`result` says so) until started again.
                self.links = None;
                return Err(e);
            }
        }
        Ok(Advance {
            blocks,
            restarted: why,
        })
    }

    /// Why the store no longer holds the blocks the trace reached, if it does not.
    fn reorged(&self, store: &Store) -> Result<Option<String>, TraceError> {
        for (&chain, tip) in &self.horizon {
            match store.block_at(chain, tip.height)? {
                Some(b) if b.hash == tip.hash => {}
                _ => {
                    return Ok(Some(format!(
                        "{chain} block {} is no longer {} (a reorg)",
                        tip.height, tip.hash
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Walks on over the blocks beyond the horizon, up to `tips`. `Some` says why the trace
    /// must start over instead (the walks are then in no state to use).
    fn extend(
        &mut self,
        store: &Store,
        tips: &BTreeMap<Chain, Tip>,
    ) -> Result<Option<String>, TraceError> {
        let mut graphs: BTreeMap<Chain, StoreUtxo<'_>> = BTreeMap::new();
        let seeds = resolve(store, &self.incident, self.tracker.rules(), &mut graphs)?;
        let mut all = StoreGraphs::with_utxo(store, graphs);
        // A UTXO source's output spent in a new block is stolen from then on; if taint already
        // came back to it, a full trace would have counted it once, as stolen.
        for (&chain, list) in &seeds.utxo {
            let g = all.utxo(chain)?;
            for s in list {
                let id = g.find(&s.txid)?;
                let tx = g.tx(id)?;
                if let Some(o) = tx.outputs.get(s.vout as usize)
                    && !self.walks.seeded(chain, o.id)
                    && self.walks.reached(chain, o.id)
                {
                    return Ok(Some(format!(
                        "source output {}:{} on {chain}, newly spent, had been reached by taint",
                        s.txid, s.vout
                    )));
                }
            }
        }
        let state = self.links.take().ok_or_else(|| {
            TraceError::Data("a live trace lost its link state (an earlier advance failed)".into())
        })?;
        let mut linker = match self.relink(store, &mut all, tips, state)? {
            Ok(linker) => linker,
            Err(why) => return Ok(Some(why)),
        };
        let walked: BTreeSet<Chain> = self.walks.chains().collect();
        let settled: BTreeMap<Chain, u32> = walked
            .iter()
            .filter_map(|&c| self.horizon.get(&c).map(|tip| (c, tip.height)))
            .collect();
        let late = self.late(store, tips, &walked)?;
        let t = &mut self.tracker;
        let links_before = (t.chain_hops(), linker.asked().len());
        // Account seeds are the stolen transfers and the sources' histories, both walked
        // already; only UTXO sources can have new seeds, and those already seeded are skipped.
        self.walks
            .seed(t, &mut all, &mut linker, &seeds.utxo, &BTreeMap::new())?;
        // What the new blocks touch: only parked outputs they spend have moved, and only
        // addresses party to their transfers have new history.
        let mut spent: BTreeMap<Chain, HashSet<u64>> = BTreeMap::new();
        let mut touched: BTreeMap<Chain, BTreeSet<String>> = BTreeMap::new();
        for (&chain, tip) in tips {
            let Some(old) = self.horizon.get(&chain).filter(|_| walked.contains(&chain)) else {
                continue;
            };
            match chain.family() {
                ChainFamily::Utxo if tip.txs == old.txs => {
                    spent.insert(chain, HashSet::new());
                }
                ChainFamily::Utxo => {
                    let set = spent.entry(chain).or_default();
                    store.utxo_links(chain)?.scan(old.txs, tip.txs, |_, rec| {
                        set.extend(rec.inputs.iter().map(|i| i.prev_out));
                        Ok(())
                    })?;
                }
                ChainFamily::Account if tip.height > old.height => {
                    touched.insert(
                        chain,
                        store.account_parties(chain, old.height + 1..=tip.height)?,
                    );
                }
                ChainFamily::Account => {
                    touched.insert(chain, BTreeSet::new());
                }
            }
        }
        self.walks
            .regrow(t, &mut all, &mut linker, &touched, &spent)?;
        if let Some(why) = self.walks.drain(t, &mut all, &mut linker, &settled)? {
            return Ok(Some(why));
        }
        // A full trace takes every chain's blocks in time order. New blocks earlier than
        // blocks of another chain already walked came in another order: that matters only
        // where chains meet (a link crossed between chains, an entry matched, which can claim
        // an exit another entry wanted).
        if let Some(why) = late
            && (t.chain_hops(), linker.asked().len()) != links_before
        {
            return Ok(Some(why));
        }
        self.links = Some(linker.into_state());
        Ok(None)
    }

    /// Whether a chain's new blocks start earlier in time than the last block walked of
    /// another walked chain (a full trace would have taken them first), and which.
    fn late(
        &self,
        store: &Store,
        tips: &BTreeMap<Chain, Tip>,
        walked: &BTreeSet<Chain>,
    ) -> Result<Option<String>, TraceError> {
        for (&chain, tip) in tips {
            let Some(old) = self.horizon.get(&chain) else {
                continue;
            };
            if tip.height <= old.height || !walked.contains(&chain) {
                continue;
            }
            let Some(first) = store.block_at(chain, old.height + 1)? else {
                continue;
            };
            for (&other, o) in &self.horizon {
                if other != chain && walked.contains(&other) && first.time < o.time {
                    return Ok(Some(format!(
                        "{chain} block {} is earlier than {other} block {} already walked, and \
                         taint met a link on the way",
                        old.height + 1,
                        o.height
                    )));
                }
            }
        }
        Ok(None)
    }

    /// A linker to go on with: the one the trace had when nothing new can change its matches,
    /// else a fresh one that matched every entry asked about so far again, in order, with the
    /// same exits (`Err` says which entry now matches otherwise).
    fn relink<'s>(
        &self,
        store: &'s Store,
        all: &mut StoreGraphs<'s>,
        tips: &BTreeMap<Chain, Tip>,
        state: LinkState,
    ) -> Result<Result<Linker<'s>, String>, TraceError> {
        let mut linker = Linker::resume(Box::new(StoreLinks::new(store)), state);
        if linker.asked().is_empty() || !self.may_rematch(store, &mut linker, tips)? {
            return Ok(Ok(linker));
        }
        let asked = linker.asked().to_vec();
        let mut fresh = Linker::new(
            Box::new(StoreLinks::new(store)),
            self.tracker.rules().links.clone(),
        );
        let cap = self.tracker.rules().caps.max_history;
        for a in asked {
            let chain = a.at.chain;
            let found = if chain.family() == ChainFamily::Account {
                let graph = all.account(chain)?;
                fresh.exits(a.at, &a.entry, &mut |_, party, before| {
                    first_funder(&mut *graph, party, before, cap)
                })?
            } else {
                fresh.exits(a.at, &a.entry, &mut |_, _, _| Ok(None))?
            };
            if found != a.found {
                return Ok(Err(format!(
                    "the {} entry at {chain} block {} now matches {} exit(s), not {} (a later \
                     block changed how it is linked)",
                    a.entry.kind(),
                    a.at.height,
                    found.len(),
                    a.found.len()
                )));
            }
        }
        Ok(Ok(fresh))
    }

    /// Whether the blocks beyond the horizon can change an entry's match: they hold link
    /// entries or exits, or an account chain's new block is no later than its old tip (a
    /// mixer heuristic's "first funder before the withdrawal" could then differ).
    fn may_rematch(
        &self,
        store: &Store,
        linker: &mut Linker<'_>,
        tips: &BTreeMap<Chain, Tip>,
    ) -> Result<bool, TraceError> {
        for (&chain, tip) in tips {
            let old = self.horizon.get(&chain);
            let first = old.map_or(0, |o| o.height + 1);
            for height in first..=tip.height {
                if linker.has_ends(chain, height)? {
                    return Ok(true);
                }
                if chain.family() == ChainFamily::Account
                    && let Some(o) = old
                    && store
                        .block_at(chain, height)?
                        .is_some_and(|b| b.time <= o.time)
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Every stored chain's tip.
fn tips(store: &Store) -> Result<BTreeMap<Chain, Tip>, TraceError> {
    let mut out = BTreeMap::new();
    for c in store.status()? {
        if let Some(b) = c.tip {
            out.insert(
                c.chain,
                Tip {
                    height: b.height,
                    hash: b.hash,
                    time: b.time,
                    txs: c.txs,
                },
            );
        }
    }
    Ok(out)
}

/// Blocks `now` holds beyond `before`.
fn grown(before: &BTreeMap<Chain, Tip>, now: &BTreeMap<Chain, Tip>) -> u64 {
    now.iter()
        .map(|(c, tip)| match before.get(c) {
            Some(b) => u64::from(tip.height.saturating_sub(b.height)),
            None => u64::from(tip.height) + 1,
        })
        .sum()
}
