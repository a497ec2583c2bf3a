//! Following links: given value entering a swap, wrap, bridge, chain swap or mixer, where does
//! it come out, with what evidence and how sure are we.
//!
//! The store keeps each block's [`LinkFact`]s (decoded at ingest by the chain crates) and an
//! index of their match keys; this module pairs them:
//! - a [`LinkFact::Within`] (swap, wrap) is complete: its out leg is in the same tx;
//! - an [`LinkFact::Entry`] (bridge, chain swap) is matched to the exits that **name it** — an
//!   `OUT:<tx>` memo, a release event's source tx or deposit id — with confidence 100; failing
//!   that, for a bridge that allows it, to an unclaimed exit paying the entry's destination
//!   within the bridge's time window, with a lower confidence that says how many candidates
//!   there were;
//! - a mixer pool is matched as a whole, once per trace, by the published deanonymization
//!   heuristics, strongest first, each deposit to at most one withdrawal and back
//!   ([`match_mixer`]). Deposits no heuristic links stay in the mixer: dark, never guessed.
//!
//! Links below [`LinkRules::min_confidence`] are not followed (their value is reported as
//! dark or unresolved, with the candidate in the notes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tracehound_core::link::normal_ref;
use tracehound_core::{Chain, LinkConfig, LinkFact, LinkKind, LinkLeg};
use tracehound_store::FactRef;

use crate::TraceError;

/// What the engine reads about links (the store, or memory in tests).
pub trait LinkView {
    /// The link facts of `chain`'s block at `height`.
    fn facts(&mut self, chain: Chain, height: u32) -> Result<Arc<[LinkFact]>, TraceError>;
    /// The facts indexed under `key` (see [`LinkFact::keys`]).
    fn lookup(&mut self, key: &str) -> Result<Vec<(FactRef, LinkFact)>, TraceError>;
    /// The time of `chain`'s block at `height`.
    fn time(&mut self, chain: Chain, height: u32) -> Result<u64, TraceError>;
    /// The fact of `chain`'s block at `height` whose input is movement `leg` of tx
    /// `tx_index`, with its position among the block's facts.
    fn input_at(
        &mut self,
        chain: Chain,
        height: u32,
        tx_index: u32,
        leg: u32,
    ) -> Result<Option<(u32, LinkFact)>, TraceError> {
        let facts = self.facts(chain, height)?;
        Ok(facts.iter().enumerate().find_map(|(i, f)| {
            let input = f.input()?;
            (input.tx_index == tx_index && input.leg == leg)
                .then(|| (u32::try_from(i).unwrap_or(u32::MAX), f.clone()))
        }))
    }
}

/// Who first funded an address on a chain at or before a time (mixer heuristics).
pub type FunderOf<'a> = dyn FnMut(Chain, &str, u64) -> Result<Option<String>, TraceError> + 'a;

/// No links at all: the engine as before links (tests of single chains).
#[derive(Debug, Default)]
pub struct NoLinks;

impl LinkView for NoLinks {
    fn facts(&mut self, _: Chain, _: u32) -> Result<Arc<[LinkFact]>, TraceError> {
        Ok(Arc::from(Vec::new()))
    }
    fn lookup(&mut self, _: &str) -> Result<Vec<(FactRef, LinkFact)>, TraceError> {
        Ok(Vec::new())
    }
    fn time(&mut self, _: Chain, _: u32) -> Result<u64, TraceError> {
        Ok(0)
    }
}

/// How links are followed.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRules {
    /// Follow links at all (`--no-links` turns them off: every service is a stop).
    pub follow: bool,
    /// Links with a lower confidence (0–100) are not followed.
    pub min_confidence: u8,
    /// The configured services (bridge windows and fees, heuristics allowed).
    pub config: LinkConfig,
}

impl Default for LinkRules {
    fn default() -> LinkRules {
        LinkRules {
            follow: true,
            min_confidence: 50,
            config: LinkConfig::default(),
        }
    }
}

/// The far side of an entry, as matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Chain of the exit.
    pub chain: Chain,
    /// Its block.
    pub height: u32,
    /// Its block time.
    pub time: u64,
    /// The exit leg (what came out, to whom).
    pub leg: LinkLeg,
    /// The exit's service name.
    pub service: String,
    /// How sure (0–100).
    pub confidence: u8,
    /// Why these two sides belong together.
    pub evidence: String,
}

/// A mixer deposit or withdrawal, as the matcher sees it.
#[derive(Debug, Clone)]
struct Note {
    at: FactRef,
    time: u64,
    leg: LinkLeg,
    gas_price: Option<u128>,
    /// Who first funded the withdrawal's recipient before it (withdrawals only).
    funder: Option<String>,
}

/// Pairs link facts; one per trace (it caches what it matched).
pub struct Linker<'v> {
    view: Box<dyn LinkView + 'v>,
    state: LinkState,
}

/// An entry the trace asked the linker about, and the exits it was given: what a live trace
/// ([`crate::live`]) asks again when the chains grow, since a later exit can change them.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    pub(crate) at: FactRef,
    pub(crate) entry: LinkFact,
    pub(crate) found: Vec<Matched>,
}

/// What a [`Linker`] follows and has learned: all of it but the view it reads through, so a
/// live trace keeps it between extensions (the view borrows the store, which it does not).
pub(crate) struct LinkState {
    rules: LinkRules,
    /// Mixer pools matched so far: entry → its withdrawal (or none: dark).
    mixers: HashMap<String, HashMap<FactRef, Matched>>,
    /// Exits taken by a heuristic match (an exit pays one entry).
    claimed: HashSet<FactRef>,
    /// Links seen but not followed: (reason, count).
    skipped: BTreeMap<String, u64>,
    /// Every entry asked about, in order, with what it matched.
    asked: Vec<Asked>,
}

impl LinkState {
    /// Links seen but not followed: (reason, count).
    pub(crate) fn skipped(&self) -> &BTreeMap<String, u64> {
        &self.skipped
    }
}

impl<'v> Linker<'v> {
    /// A linker over `view` under `rules`.
    pub fn new(view: Box<dyn LinkView + 'v>, rules: LinkRules) -> Linker<'v> {
        Linker::resume(
            view,
            LinkState {
                rules,
                mixers: HashMap::new(),
                claimed: HashSet::new(),
                skipped: BTreeMap::new(),
                asked: Vec::new(),
            },
        )
    }

    /// What this linker learned, without its view.
    pub(crate) fn into_state(self) -> LinkState {
        self.state
    }

    /// A linker over `view` that goes on from `state`.
    pub(crate) fn resume(view: Box<dyn LinkView + 'v>, state: LinkState) -> Linker<'v> {
        Linker { view, state }
    }

    /// Links seen but not followed: (reason, count).
    pub fn skipped(&self) -> &BTreeMap<String, u64> {
        &self.state.skipped
    }

    /// The entries asked about so far, in order.
    pub(crate) fn asked(&self) -> &[Asked] {
        &self.state.asked
    }

    /// Whether the link facts of `chain`'s block at `height` include an entry or an exit
    /// (what can change how entries already asked about are matched).
    pub(crate) fn has_ends(&mut self, chain: Chain, height: u32) -> Result<bool, TraceError> {
        Ok(self
            .view
            .facts(chain, height)?
            .iter()
            .any(|f| !matches!(f, LinkFact::Within { .. })))
    }

    /// A linker that follows nothing.
    pub fn none() -> Linker<'static> {
        Linker::new(
            Box::new(NoLinks),
            LinkRules {
                follow: false,
                ..LinkRules::default()
            },
        )
    }

    /// The fact whose input leg is movement `leg` (a transfer's sub-index, or a UTXO vout) of
    /// tx `tx_index` in `chain`'s block `height`, if any.
    pub fn input_at(
        &mut self,
        chain: Chain,
        height: u32,
        tx_index: u32,
        leg: u32,
    ) -> Result<Option<(FactRef, LinkFact)>, TraceError> {
        if !self.state.rules.follow {
            return Ok(None);
        }
        let found = self.view.input_at(chain, height, tx_index, leg)?;
        Ok(found.map(|(index, f)| {
            (
                FactRef {
                    chain,
                    height,
                    index,
                },
                f,
            )
        }))
    }

    /// The exits an entry's value came out of, each with its share of the entry.
    /// `funder_of` answers who first funded an address on `chain` before a time (mixer
    /// heuristics).
    pub fn exits(
        &mut self,
        at: FactRef,
        entry: &LinkFact,
        funder_of: &mut FunderOf<'_>,
    ) -> Result<Vec<Matched>, TraceError> {
        let LinkFact::Entry {
            kind,
            service,
            leg,
            id,
            destination,
            ..
        } = entry
        else {
            return Ok(Vec::new());
        };
        let time = self.view.time(at.chain, at.height)?;
        let mut found = Vec::new();
        if *kind == LinkKind::Mixer {
            let pool = self.mixer(service, at.chain, funder_of)?;
            if let Some(m) = pool.get(&at) {
                found.push(m.clone());
            }
        } else {
            // By id: exits naming the entry's tx or its service id.
            let mut keys = vec![format!("ref:{}", normal_ref(&leg.tx))];
            if let Some(id) = id {
                keys.push(format!("ref:{}", normal_ref(id)));
            }
            let mut seen = HashSet::new();
            for k in &keys {
                for (r, f) in self.view.lookup(k)? {
                    let LinkFact::Exit {
                        kind: ek,
                        service: es,
                        leg: el,
                        ..
                    } = &f
                    else {
                        continue;
                    };
                    if ek != kind || !seen.insert(r) {
                        continue;
                    }
                    let t = self.view.time(r.chain, r.height)?;
                    found.push(Matched {
                        chain: r.chain,
                        height: r.height,
                        time: t,
                        leg: el.clone(),
                        service: es.clone(),
                        confidence: 100,
                        evidence: format!(
                            "{kind} exit {} names the entry ({})",
                            el.tx,
                            k.trim_start_matches("ref:")
                        ),
                    });
                }
            }
            if found.is_empty() && *kind == LinkKind::Bridge {
                found.extend(self.heuristic_bridge(service, time, leg, destination.as_ref())?);
            }
        }
        found.retain(|m| {
            let keep = m.confidence >= self.state.rules.min_confidence;
            if !keep {
                *self
                    .state
                    .skipped
                    .entry(format!(
                        "{kind} match below confidence {}",
                        self.state.rules.min_confidence
                    ))
                    .or_default() += 1;
            }
            keep
        });
        self.state.asked.push(Asked {
            at,
            entry: entry.clone(),
            found: found.clone(),
        });
        Ok(found)
    }

    /// A bridge exit paying `destination` within the bridge's window after `time`, not
    /// claimed by another entry and naming no other entry.
    fn heuristic_bridge(
        &mut self,
        service: &str,
        time: u64,
        entry: &LinkLeg,
        destination: Option<&tracehound_core::Destination>,
    ) -> Result<Option<Matched>, TraceError> {
        let bridge = self
            .state
            .rules
            .config
            .bridges
            .iter()
            .find(|b| b.name == service);
        if bridge.is_some_and(|b| !b.heuristic) {
            return Ok(None);
        }
        let window = bridge.map_or(3 * 24 * 3600, |b| b.window_seconds);
        // Same asset out as in: the exit is the entry's amount less the bridge's fee at most.
        let amount_range = match bridge {
            Some(b) if b.converts => None,
            b => {
                let fee = u128::from(b.map_or(10, |b| b.max_fee_permille));
                let least = crate::arith::mul_div_floor(entry.amount, 1000 - fee.min(1000), 1000);
                Some(least..=entry.amount)
            }
        };
        let Some(dest) = destination else {
            *self
                .state
                .skipped
                .entry("bridge entry without id match or destination".into())
                .or_default() += 1;
            return Ok(None);
        };
        let mut candidates = Vec::new();
        for (r, f) in self
            .view
            .lookup(&format!("to:{}", dest.address.to_ascii_lowercase()))?
        {
            let LinkFact::Exit {
                kind: LinkKind::Bridge,
                service: es,
                leg,
                reference,
                ..
            } = &f
            else {
                continue;
            };
            if es != service || reference.is_some() || self.state.claimed.contains(&r) {
                continue;
            }
            let t = self.view.time(r.chain, r.height)?;
            if t < time || t > time.saturating_add(window) {
                continue;
            }
            if amount_range
                .as_ref()
                .is_some_and(|a| !a.contains(&leg.amount))
            {
                continue;
            }
            candidates.push((t, r, leg.clone()));
        }
        candidates.sort_by_key(|c| (c.0, c.1));
        let n = candidates.len();
        let Some((t, r, leg)) = candidates.into_iter().next() else {
            return Ok(None);
        };
        self.state.claimed.insert(r);
        Ok(Some(Matched {
            chain: r.chain,
            height: r.height,
            time: t,
            leg,
            service: service.to_string(),
            confidence: if n == 1 { 70 } else { 40 },
            evidence: format!(
                "no id: the first exit paying the destination {} {} s after the entry ({n} candidate(s) in the {window} s window{})",
                dest.address,
                t - time,
                if amount_range.is_some() {
                    ", amount within the bridge's fee"
                } else {
                    ""
                }
            ),
        }))
    }

    /// The pool `service`'s deposits matched to withdrawals (computed once).
    fn mixer(
        &mut self,
        service: &str,
        chain: Chain,
        funder_of: &mut FunderOf<'_>,
    ) -> Result<&HashMap<FactRef, Matched>, TraceError> {
        if !self.state.mixers.contains_key(service) {
            let mut deposits = Vec::new();
            let mut withdrawals = Vec::new();
            for (r, f) in self.view.lookup(&format!("svc:{service}"))? {
                let time = self.view.time(r.chain, r.height)?;
                match f {
                    LinkFact::Entry { leg, gas_price, .. } => deposits.push(Note {
                        at: r,
                        time,
                        leg,
                        gas_price,
                        funder: None,
                    }),
                    LinkFact::Exit { leg, gas_price, .. } => {
                        let funder =
                            funder_of(r.chain, &leg.party, time)?.map(|f| f.to_ascii_lowercase());
                        withdrawals.push(Note {
                            at: r,
                            time,
                            leg,
                            gas_price,
                            funder,
                        });
                    }
                    LinkFact::Within { .. } => {}
                }
            }
            let funders_of_depositors = depositor_funders(&deposits, chain, funder_of)?;
            let m = match_mixer(service, &deposits, &withdrawals, &funders_of_depositors);
            self.state.mixers.insert(service.to_string(), m);
        }
        Ok(&self.state.mixers[service])
    }
}

/// For each depositor, the addresses that funded it before its deposit (and itself): the
/// launderer's own addresses, as far as one step back shows them.
fn depositor_funders(
    deposits: &[Note],
    chain: Chain,
    funder_of: &mut FunderOf<'_>,
) -> Result<HashMap<String, HashSet<String>>, TraceError> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for d in deposits {
        let key = d.leg.party.clone();
        if out.contains_key(&key) {
            continue;
        }
        let mut s = HashSet::new();
        s.insert(key.to_ascii_lowercase());
        if let Some(f) = funder_of(chain, &d.leg.party, d.time)? {
            s.insert(f.to_ascii_lowercase());
        }
        out.insert(key, s);
    }
    Ok(out)
}

/// Matches a mixer pool's deposits to its withdrawals with the published heuristics (Wang et
/// al., "On How Zero-Knowledge Proof Blockchain Mixers Improve, and Worsen User Privacy",
/// WWW 2023; Tutela, Tang et al. 2021), strongest first; each note at most once:
/// 1. **anonymity set of one** (100): when a withdrawal comes, exactly one deposit of its
///    denomination is not yet matched to an earlier withdrawal and came before it;
/// 2. **address reuse** (90): the withdrawal pays the depositor's own address;
/// 3. **unique gas price** (70): deposit and withdrawal share a gas price no other note of
///    the pool used;
/// 4. **common funder** (60): the withdrawal's recipient was first funded by the depositor
///    or by the address that funded the depositor (the "gas" a launderer sends a fresh
///    address before withdrawing to it); among several such deposits of the denomination,
///    the earliest unmatched is taken, and the confidence says how many there were;
/// 5. **multi-denomination** (50): one address deposits a set of ≥ 2 notes within a day and
///    one address withdraws exactly that set within a day after, no other depositor's set
///    matching it.
///
/// A withdrawal's amount is its denomination less any relayer fee: notes pair when the
/// withdrawal is at most the deposit and within 10 % of it.
fn match_mixer(
    service: &str,
    deposits: &[Note],
    withdrawals: &[Note],
    funders: &HashMap<String, HashSet<String>>,
) -> HashMap<FactRef, Matched> {
    let fits = |d: &Note, w: &Note| {
        w.time >= d.time
            && w.leg.asset == d.leg.asset
            && w.leg.amount <= d.leg.amount
            && w.leg.amount >= d.leg.amount - d.leg.amount / 10
    };
    let mut out: HashMap<FactRef, Matched> = HashMap::new();
    let mut used_w: HashSet<FactRef> = HashSet::new();
    let matched = |w: &Note, confidence: u8, evidence: String| Matched {
        chain: w.at.chain,
        height: w.at.height,
        time: w.time,
        leg: w.leg.clone(),
        service: service.to_string(),
        confidence,
        evidence,
    };
    let mut order: Vec<&Note> = withdrawals.iter().collect();
    order.sort_by_key(|w| (w.time, w.at));
    // 1. Anonymity set of one, in time order (earlier matches shrink later sets).
    for w in &order {
        let mut open = deposits
            .iter()
            .filter(|d| fits(d, w) && !out.contains_key(&d.at));
        let (Some(only), None) = (open.next(), open.next()) else {
            continue;
        };
        let open = [only];
        // An earlier withdrawal no rule has placed could have spent that very deposit.
        let earlier_w = order
            .iter()
            .take_while(|x| x.time < w.time || (x.time == w.time && x.at < w.at))
            .filter(|x| !used_w.contains(&x.at))
            .any(|x| fits(only, x));
        if !earlier_w {
            let d = open[0];
            out.insert(
                d.at,
                matched(
                    w,
                    100,
                    format!(
                        "mixer {service}: the only open deposit of {} when withdrawal {} came",
                        d.leg.amount, w.leg.tx
                    ),
                ),
            );
            used_w.insert(w.at);
        }
    }
    // 2–4 in order of strength.
    type Rule<'a> = (u8, &'a str, Box<dyn Fn(&Note, &Note) -> bool + 'a>);
    let mut gas_counts: HashMap<u128, usize> = HashMap::new();
    for n in deposits.iter().chain(withdrawals) {
        if let Some(g) = n.gas_price {
            *gas_counts.entry(g).or_default() += 1;
        }
    }
    let gas_count = |g: Option<u128>| g.and_then(|g| gas_counts.get(&g)).copied().unwrap_or(0);
    let rules: Vec<Rule<'_>> = vec![
        (
            90,
            "address reuse: the withdrawal pays the depositor",
            Box::new(|d: &Note, w: &Note| d.leg.party.eq_ignore_ascii_case(&w.leg.party)),
        ),
        (
            70,
            "unique gas price shared by deposit and withdrawal",
            Box::new(move |d: &Note, w: &Note| {
                d.gas_price.is_some() && d.gas_price == w.gas_price && gas_count(d.gas_price) == 2
            }),
        ),
        (
            60,
            "common funder: the recipient was first funded by the depositor's side",
            Box::new(|d: &Note, w: &Note| {
                let (Some(f), Some(side)) = (&w.funder, funders.get(&d.leg.party)) else {
                    return false;
                };
                side.contains(f)
            }),
        ),
    ];
    for (confidence, why, rule) in &rules {
        for w in &order {
            if used_w.contains(&w.at) {
                continue;
            }
            let mut cands: Vec<&Note> = deposits
                .iter()
                .filter(|d| !out.contains_key(&d.at) && fits(d, w) && rule(d, w))
                .collect();
            cands.sort_by_key(|d| (d.time, d.at));
            let n = cands.len();
            if let Some(d) = cands.first() {
                out.insert(
                    d.at,
                    matched(
                        w,
                        *confidence,
                        format!(
                            "mixer {service}: {why} ({n} candidate deposit(s), earliest taken)"
                        ),
                    ),
                );
                used_w.insert(w.at);
            }
        }
    }
    // 5. Multi-denomination (50): one address deposits a set of notes (≥ 2, within a day) and
    //    one fresh address withdraws exactly the same set (within a day, after them), and no
    //    other depositor's set matches it: the notes pair by denomination, earliest first.
    const DAY: u64 = 86_400;
    fn groups(notes: Vec<&Note>) -> Vec<Vec<&Note>> {
        let mut by: BTreeMap<String, Vec<&Note>> = BTreeMap::new();
        for n in notes {
            by.entry(n.leg.party.to_ascii_lowercase())
                .or_default()
                .push(n);
        }
        let mut out = Vec::new();
        for (_, mut v) in by {
            v.sort_by_key(|n| (n.time, n.at));
            let mut cur: Vec<&Note> = Vec::new();
            for n in v {
                if cur.first().is_some_and(|f| n.time > f.time + DAY) {
                    out.push(std::mem::take(&mut cur));
                }
                cur.push(n);
            }
            if !cur.is_empty() {
                out.push(cur);
            }
        }
        out.retain(|g| g.len() >= 2);
        out
    }
    let key = |g: &[&Note]| {
        let mut k: Vec<u128> = g.iter().map(|n| n.leg.amount).collect();
        k.sort_unstable();
        k
    };
    let dep_groups = groups(
        deposits
            .iter()
            .filter(|d| !out.contains_key(&d.at))
            .collect(),
    );
    let wd_groups = groups(
        withdrawals
            .iter()
            .filter(|w| !used_w.contains(&w.at))
            .collect(),
    );
    for wg in &wd_groups {
        let start = wg.iter().map(|w| w.time).min().unwrap_or(0);
        let cands: Vec<&Vec<&Note>> = dep_groups
            .iter()
            .filter(|dg| {
                let end = dg.iter().map(|d| d.time).max().unwrap_or(0);
                end <= start
                    && dg.len() == wg.len()
                    && key(dg) == key(wg)
                    && dg.iter().all(|d| !out.contains_key(&d.at))
            })
            .collect();
        let [dg] = cands.as_slice() else {
            continue;
        };
        let mut ds: Vec<&&Note> = dg.iter().collect();
        ds.sort_by_key(|d| (d.leg.amount, d.time, d.at));
        let mut ws: Vec<&&Note> = wg.iter().collect();
        ws.sort_by_key(|w| (w.leg.amount, w.time, w.at));
        for (d, w) in ds.into_iter().zip(ws) {
            out.insert(
                d.at,
                matched(
                    w,
                    50,
                    format!(
                        "mixer {service}: multi-denomination: {} deposited the set {:?} and {} withdrew the same set",
                        d.leg.party,
                        key(dg),
                        w.leg.party
                    ),
                ),
            );
            used_w.insert(w.at);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(height: u32, party: &str, amount: u128, gas: u128, funder: Option<&str>) -> Note {
        Note {
            at: FactRef {
                chain: Chain::Evm(31337),
                height,
                index: 0,
            },
            time: u64::from(height) * 12,
            leg: LinkLeg {
                tx_index: 0,
                tx: format!("0x{height:02x}"),
                leg: 0,
                asset: "native".into(),
                amount,
                party: party.into(),
            },
            gas_price: Some(gas),
            funder: funder.map(str::to_string),
        }
    }

    #[test]
    fn mixer_heuristics_pair_notes_once_each_strongest_first() {
        let deposits = vec![
            note(1, "0xa", 100, 7, None),
            note(2, "0xb", 100, 8, None),
            note(3, "0xc", 100, 9, None),
            note(4, "0xd", 10, 5, None),
        ];
        let withdrawals = vec![
            // The only 10-unit note: anonymity set of one.
            note(5, "0xw1", 10, 1, None),
            // Pays depositor b back.
            note(6, "0xb", 99, 1, None),
            // Shares c's unique gas price 9.
            note(7, "0xw3", 100, 9, None),
            // Funded by a's funder.
            note(8, "0xw4", 100, 1, Some("0xfa")),
        ];
        let mut funders = HashMap::new();
        for (d, f) in [
            ("0xa", "0xfa"),
            ("0xb", "0xfb"),
            ("0xc", "0xfc"),
            ("0xd", "0xfd"),
        ] {
            funders.insert(d.to_string(), HashSet::from([d.to_string(), f.to_string()]));
        }
        let m = match_mixer("pool", &deposits, &withdrawals, &funders);
        let got = |h: u32| {
            m.get(&FactRef {
                chain: Chain::Evm(31337),
                height: h,
                index: 0,
            })
            .map(|x| (x.height, x.confidence))
        };
        assert_eq!(got(4), Some((5, 100)));
        assert_eq!(got(2), Some((6, 90)));
        assert_eq!(got(3), Some((7, 70)));
        assert_eq!(got(1), Some((8, 60)));
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn a_set_of_denominations_withdrawn_whole_pairs_note_by_note() {
        // 0xa deposits 100 + 10 + 10 (and nothing else tells the notes apart); a day later
        // 0xw withdraws 10, 100, 10. Another depositor's single 100 does not match the set.
        let deposits = vec![
            note(1, "0xa", 100, 7, None),
            note(2, "0xa", 10, 7, None),
            note(3, "0xa", 10, 7, None),
            note(4, "0xb", 100, 7, None),
            note(5, "0xc", 10, 7, None),
        ];
        let withdrawals = vec![
            note(900, "0xw", 10, 7, None),
            note(901, "0xw", 100, 7, None),
            note(902, "0xw", 10, 7, None),
        ];
        let m = match_mixer("pool", &deposits, &withdrawals, &HashMap::new());
        let pairs: BTreeMap<u32, (u32, u8)> = m
            .iter()
            .map(|(d, w)| (d.height, (w.height, w.confidence)))
            .collect();
        assert_eq!(
            pairs,
            BTreeMap::from([(1, (901, 50)), (2, (900, 50)), (3, (902, 50))])
        );
    }

    #[test]
    fn unlinkable_notes_stay_unmatched() {
        // Two equal deposits, two withdrawals to fresh unfunded addresses, one gas price for
        // all: nothing tells them apart, nothing is guessed.
        let deposits = vec![note(1, "0xa", 100, 7, None), note(2, "0xb", 100, 7, None)];
        let withdrawals = vec![note(5, "0xw1", 100, 7, None), note(6, "0xw2", 100, 7, None)];
        let m = match_mixer("pool", &deposits, &withdrawals, &HashMap::new());
        assert!(m.is_empty(), "{m:?}");
    }
}
