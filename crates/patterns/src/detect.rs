//! The detectors. Each reads a [`FlowGraph`] and returns [`Detection`]s naming their txs and
//! addresses, with an integer score 0–100 and a one-line explanation with the figures.
//!
//! The rules follow the typologies of the AML literature and of analysts' public write-ups
//! (FATF's red-flag indicators for virtual assets, 2020; Möser and Narayanan's peel-chain and
//! change studies; the "layering" typologies: smurfing, fan-out/fan-in, pass-through
//! accounts). Thresholds are integers in [`Config`]; every score formula is in the detector's
//! docs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use tracehound_trace::link::LinkKind;

use crate::graph::{Flow, FlowGraph};

/// A pattern kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Small payments peeled off a large balance that moves on as change, hop after hop.
    PeelChain,
    /// One source to many destinations.
    FanOut,
    /// Many sources into one.
    FanIn,
    /// Fan-in, then fan-out through one address.
    GatherScatter,
    /// Fan-out, then the destinations fan back in to one address.
    ScatterGather,
    /// Value leaving within a few blocks of arriving, several hops in a row.
    RapidHops,
    /// Value into a mixer, CoinJoin or privacy pool.
    Mixer,
    /// Value crossing chains (bridge) or assets (swap), or a trace spanning two chains.
    ChainHop,
    /// Several amounts just below a reporting threshold.
    Structuring,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 9] = [
        Kind::PeelChain,
        Kind::FanOut,
        Kind::FanIn,
        Kind::GatherScatter,
        Kind::ScatterGather,
        Kind::RapidHops,
        Kind::Mixer,
        Kind::ChainHop,
        Kind::Structuring,
    ];

    /// The name used in JSON, tables and endpoint tags.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PeelChain => "peel_chain",
            Kind::FanOut => "fan_out",
            Kind::FanIn => "fan_in",
            Kind::GatherScatter => "gather_scatter",
            Kind::ScatterGather => "scatter_gather",
            Kind::RapidHops => "rapid_hops",
            Kind::Mixer => "mixer",
            Kind::ChainHop => "chain_hop",
            Kind::Structuring => "structuring",
        }
    }
}

/// One pattern found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// What kind.
    pub kind: Kind,
    /// How strongly it matches, 0–100.
    pub score: u8,
    /// Chain (the first, for chain hops).
    pub chain: String,
    /// Its txs, in chain order.
    pub txs: Vec<String>,
    /// Its addresses (source first for fan-out, target last for fan-in, in order for chains).
    pub addresses: Vec<String>,
    /// One line with the figures.
    pub explanation: String,
}

/// The detectors' thresholds (all integers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Peel chain: fewest links (peeling spends) in a row.
    pub peel_min_links: usize,
    /// Peel chain: the peeled payment is at most this percent of the spend.
    pub peel_max_percent: u128,
    /// Fan-out / fan-in: fewest distinct counterparties.
    pub fan_min: usize,
    /// Fan-out / fan-in: window in blocks.
    pub fan_window: u64,
    /// Gather-scatter / scatter-gather: most blocks between the two halves.
    pub gather_window: u64,
    /// Scatter-gather: fewest scattered addresses that gather again.
    pub scatter_gather_min: usize,
    /// Rapid hops: value leaves within this many blocks of arriving.
    pub rapid_blocks: u64,
    /// Rapid hops: fewest consecutive hops.
    pub rapid_min_hops: usize,
    /// Structuring: thresholds in base units by `chain:asset`, or by `asset` for any chain.
    pub thresholds: BTreeMap<String, u128>,
    /// Structuring: "just below" means within this percent under the threshold.
    pub structuring_band_percent: u128,
    /// Structuring: fewest such amounts by one payer or to one payee.
    pub structuring_min: usize,
}

/// Default structuring thresholds: 10 coins of 8 decimals (LTC, BTC) on the simulator's
/// Litecoin and on Bitcoin, 10 ether on the simulator's EVM chain. With no prices, a fiat
/// threshold cannot be used; give others with `--threshold CHAIN:ASSET=UNITS`.
pub const DEFAULT_THRESHOLDS: [(&str, u128); 4] = [
    ("litecoin-regtest:native", 1_000_000_000),
    ("bitcoin:native", 1_000_000_000),
    ("litecoin:native", 1_000_000_000),
    ("evm-31337:native", 10_000_000_000_000_000_000),
];

impl Default for Config {
    fn default() -> Config {
        Config {
            peel_min_links: 3,
            peel_max_percent: 25,
            fan_min: 5,
            fan_window: 6,
            gather_window: 200,
            scatter_gather_min: 3,
            rapid_blocks: 3,
            rapid_min_hops: 3,
            thresholds: DEFAULT_THRESHOLDS
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            structuring_band_percent: 10,
            structuring_min: 3,
        }
    }
}

impl Config {
    /// The structuring threshold of `asset` on `chain`, if one is set.
    pub fn threshold(&self, chain: &str, asset: &str) -> Option<u128> {
        self.thresholds
            .get(&format!("{chain}:{asset}"))
            .or_else(|| self.thresholds.get(asset))
            .copied()
    }
}

/// Runs every detector, strongest first.
pub fn detect_all(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let mut out = Vec::new();
    out.extend(peel_chains(g, c));
    let fo = fan_outs(g, c);
    let fi = fan_ins(g, c);
    out.extend(gather_scatter(g, c, &fi, &fo));
    out.extend(fo);
    out.extend(fi);
    out.extend(rapid_hops(g, c));
    out.extend(mixer_use(g));
    out.extend(chain_hops(g));
    out.extend(structuring(g, c));
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.kind.cmp(&b.kind))
            .then(a.txs.cmp(&b.txs))
    });
    out
}

/// Unique values in first-seen order.
fn uniq<I: IntoIterator<Item = String>>(it: I) -> Vec<String> {
    let mut seen = BTreeSet::new();
    it.into_iter().filter(|x| seen.insert(x.clone())).collect()
}

fn score(v: usize) -> u8 {
    u8::try_from(v.min(100)).unwrap_or(100)
}

/// **Peel chain.** A peeling spend has exactly two payees in one asset (other than the payer):
/// a small payment of at most `peel_max_percent` % of the spend and the large rest, the
/// "change" that carries on. A chain is ≥ `peel_min_links` peeling spends where each spend's
/// large payee makes the next (the classic peel chain of Möser et al.: a big balance shedding
/// small payments, each time to a fresh change address). An ordinary payment with change
/// stops after one link. Score: min(100, 40 + 10 × links).
pub fn peel_chains(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    struct Peel {
        from: String,
        chain: String,
        height: u64,
        small: usize,
        large: usize,
    }
    let mut peels: Vec<Peel> = Vec::new();
    for s in g.steps() {
        let [a, b] = s.flows[..] else { continue };
        let (fa, fb) = (&g.flows[a], &g.flows[b]);
        if fa.asset != fb.asset || fa.to == fb.to {
            continue;
        }
        let (small, large) = if fa.value <= fb.value { (a, b) } else { (b, a) };
        let total = fa.value + fb.value;
        if total == 0 || g.flows[small].value * 100 > total * c.peel_max_percent {
            continue;
        }
        peels.push(Peel {
            from: s.from,
            chain: s.chain,
            height: s.height,
            small,
            large,
        });
    }
    // Next link of each peel: the first later peel by its large payee.
    let mut by_from: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, p) in peels.iter().enumerate() {
        by_from.entry((&p.chain, &p.from)).or_default().push(i);
    }
    let mut next: Vec<Option<usize>> = vec![None; peels.len()];
    let mut has_prev = vec![false; peels.len()];
    for (i, p) in peels.iter().enumerate() {
        let to = &g.flows[p.large].to;
        if let Some(js) = by_from.get(&(p.chain.as_str(), to.as_str()))
            && let Some(&j) = js
                .iter()
                .find(|&&j| j != i && peels[j].height >= p.height && !has_prev[j])
        {
            next[i] = Some(j);
            has_prev[j] = true;
        }
    }
    let mut out = Vec::new();
    for start in 0..peels.len() {
        if has_prev[start] {
            continue;
        }
        let mut links = vec![start];
        let mut at = start;
        while let Some(n) = next[at] {
            if links.contains(&n) {
                break;
            }
            links.push(n);
            at = n;
        }
        if links.len() < c.peel_min_links {
            continue;
        }
        let first = &peels[start];
        let last = &peels[at];
        let peeled: u128 = links.iter().map(|&i| g.flows[peels[i].small].value).sum();
        let txs = uniq(links.iter().flat_map(|&i| {
            [
                g.flows[peels[i].small].tx.clone(),
                g.flows[peels[i].large].tx.clone(),
            ]
        }));
        let mut addresses: Vec<String> = links.iter().map(|&i| peels[i].from.clone()).collect();
        addresses.push(g.flows[last.large].to.clone());
        out.push(Detection {
            kind: Kind::PeelChain,
            score: score(40 + 10 * links.len()),
            chain: first.chain.clone(),
            explanation: format!(
                "{} peeling spends in a row from {}: {} {} peeled off, {} left at {}",
                links.len(),
                first.from,
                peeled,
                g.flows[first.small].asset,
                g.flows[last.large].value,
                g.flows[last.large].to
            ),
            txs,
            addresses: uniq(addresses),
        });
    }
    out
}

/// The window of ≥ `min` distinct counterparties with the most of them, for flows grouped by
/// one side (`key`) and counted on the other (`other`).
fn fans<'g>(
    g: &'g FlowGraph,
    c: &Config,
    key: impl Fn(&'g Flow) -> &'g str,
    other: impl Fn(&'g Flow) -> &'g str,
) -> Vec<(String, String, Vec<usize>, usize)> {
    let mut by: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, f) in g.flows.iter().enumerate() {
        if f.from != f.to && f.link.is_none() {
            by.entry((&f.chain, key(f))).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for ((chain, k), idx) in by {
        let mut best: Option<(usize, usize, usize)> = None; // (distinct, lo, hi)
        let mut lo = 0;
        for hi in 0..idx.len() {
            while g.flows[idx[hi]].height > g.flows[idx[lo]].height + c.fan_window {
                lo += 1;
            }
            let distinct = idx[lo..=hi]
                .iter()
                .map(|&i| other(&g.flows[i]))
                .collect::<BTreeSet<_>>()
                .len();
            if best.is_none_or(|b| distinct > b.0) {
                best = Some((distinct, lo, hi));
            }
        }
        if let Some((n, lo, hi)) = best
            && n >= c.fan_min
        {
            out.push((chain.to_string(), k.to_string(), idx[lo..=hi].to_vec(), n));
        }
    }
    out
}

/// **Fan-out.** One payer to ≥ `fan_min` distinct payees within `fan_window` blocks (the
/// "scatter" or smurfing step of layering: loot split over fresh addresses). Score:
/// min(100, 10 × payees). Exchanges' batched withdrawals match too; a trace stops at
/// services, so this matters for the address view.
pub fn fan_outs(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    fans(g, c, |f| &f.from, |f| &f.to)
        .into_iter()
        .map(|(chain, from, idx, n)| {
            let total: u128 = idx.iter().map(|&i| g.flows[i].value).sum();
            let (h0, h1) = span(g, &idx);
            Detection {
                kind: Kind::FanOut,
                score: score(10 * n),
                explanation: format!(
                    "{from} paid {n} distinct addresses in blocks {h0}–{h1} ({total} base units)"
                ),
                txs: uniq(idx.iter().map(|&i| g.flows[i].tx.clone())),
                addresses: uniq(
                    std::iter::once(from.clone()).chain(idx.iter().map(|&i| g.flows[i].to.clone())),
                ),
                chain,
            }
        })
        .collect()
}

/// **Fan-in.** ≥ `fan_min` distinct payers into one payee within `fan_window` blocks
/// (consolidation, the "gather" step). Score: min(100, 10 × payers).
pub fn fan_ins(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    fans(g, c, |f| &f.to, |f| &f.from)
        .into_iter()
        .map(|(chain, to, idx, n)| {
            let total: u128 = idx.iter().map(|&i| g.flows[i].value).sum();
            let (h0, h1) = span(g, &idx);
            let mut addresses = uniq(idx.iter().map(|&i| g.flows[i].from.clone()));
            addresses.push(to.clone());
            Detection {
                kind: Kind::FanIn,
                score: score(10 * n),
                explanation: format!(
                    "{to} received from {n} distinct addresses in blocks {h0}–{h1} ({total} base units)"
                ),
                txs: uniq(idx.iter().map(|&i| g.flows[i].tx.clone())),
                addresses,
                chain,
            }
        })
        .collect()
}

fn span(g: &FlowGraph, idx: &[usize]) -> (u64, u64) {
    let hs = idx.iter().map(|&i| g.flows[i].height);
    (hs.clone().min().unwrap_or(0), hs.max().unwrap_or(0))
}

/// **Gather-scatter / scatter-gather.** Gather-scatter: one address has a fan-in and then,
/// within `gather_window` blocks of its end, a fan-out (a pass-through hub). Scatter-gather:
/// a fan-out whose payees, ≥ `scatter_gather_min` of them, later pay one common address
/// within `gather_window` blocks (split, then re-assembled elsewhere). Scores: the mean of the
/// two fans' scores; min(100, 20 × regathered payees).
pub fn gather_scatter(
    g: &FlowGraph,
    c: &Config,
    fan_ins: &[Detection],
    fan_outs: &[Detection],
) -> Vec<Detection> {
    let mut out = Vec::new();
    let first_height = |d: &Detection| -> (u64, u64) {
        let hs: Vec<u64> = g
            .flows
            .iter()
            .filter(|f| d.txs.contains(&f.tx))
            .map(|f| f.height)
            .collect();
        (
            hs.iter().copied().min().unwrap_or(0),
            hs.iter().copied().max().unwrap_or(0),
        )
    };
    for fi in fan_ins {
        let Some(hub) = fi.addresses.last() else {
            continue;
        };
        for fo in fan_outs {
            if fo.chain != fi.chain || fo.addresses.first() != Some(hub) {
                continue;
            }
            let (i0, i1) = first_height(fi);
            let (o0, _) = first_height(fo);
            if o0 >= i0 && o0 <= i1 + c.gather_window {
                out.push(Detection {
                    kind: Kind::GatherScatter,
                    score: (fi.score / 2 + fo.score / 2).min(100),
                    chain: fi.chain.clone(),
                    txs: uniq(fi.txs.iter().chain(&fo.txs).cloned()),
                    addresses: uniq(fi.addresses.iter().chain(&fo.addresses).cloned()),
                    explanation: format!(
                        "{hub} gathered from {} addresses then scattered to {} within {} blocks",
                        fi.addresses.len() - 1,
                        fo.addresses.len() - 1,
                        o0.saturating_sub(i1)
                    ),
                });
            }
        }
    }
    for fo in fan_outs {
        let (o0, o1) = first_height(fo);
        let scattered: BTreeSet<&str> = fo.addresses.iter().skip(1).map(String::as_str).collect();
        let mut into: BTreeMap<&str, (BTreeSet<&str>, Vec<String>)> = BTreeMap::new();
        for f in &g.flows {
            if f.chain == fo.chain
                && scattered.contains(f.from.as_str())
                && !scattered.contains(f.to.as_str())
                && Some(&f.to) != fo.addresses.first()
                && f.height >= o0
                && f.height <= o1 + c.gather_window
            {
                let e = into.entry(&f.to).or_default();
                e.0.insert(&f.from);
                e.1.push(f.tx.clone());
            }
        }
        for (to, (froms, txs)) in into {
            if froms.len() < c.scatter_gather_min {
                continue;
            }
            let mut addresses = fo.addresses.clone();
            addresses.push(to.to_string());
            out.push(Detection {
                kind: Kind::ScatterGather,
                score: score(20 * froms.len()),
                chain: fo.chain.clone(),
                txs: uniq(fo.txs.iter().cloned().chain(txs)),
                addresses: uniq(addresses),
                explanation: format!(
                    "{} scattered to {} addresses, {} of which paid {to} again",
                    fo.addresses.first().map_or("", String::as_str),
                    scattered.len(),
                    froms.len()
                ),
            });
        }
    }
    out
}

/// **Rapid hops.** Value that leaves an address within `rapid_blocks` blocks of arriving
/// there, over ≥ `rapid_min_hops` consecutive hops (pass-through addresses that never rest:
/// the speed typology of FATF's red flags). Each maximal run is reported once; runs whose txs
/// a longer one already names are dropped. Score: min(100, 25 × hops).
pub fn rapid_hops(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let n = g.flows.len();
    let mut into: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    let mut len = vec![1usize; n];
    let mut pred: Vec<Option<usize>> = vec![None; n];
    let mut is_pred = vec![false; n];
    for (i, f) in g.flows.iter().enumerate() {
        if f.from == f.to {
            continue;
        }
        if let Some(ins) = into.get(&(f.chain.as_str(), f.from.as_str())) {
            // Flows arriving earlier (or in the same tx block, ordered before), newest first.
            for &p in ins.iter().rev() {
                let pf = &g.flows[p];
                if pf.height + c.rapid_blocks < f.height {
                    break;
                }
                if pf.tx != f.tx && len[p] + 1 > len[i] {
                    len[i] = len[p] + 1;
                    pred[i] = Some(p);
                }
            }
        }
        if let Some(p) = pred[i] {
            is_pred[p] = true;
        }
        into.entry((&f.chain, &f.to)).or_default().push(i);
    }
    let mut ends: Vec<usize> = (0..n)
        .filter(|&i| !is_pred[i] && len[i] >= c.rapid_min_hops)
        .collect();
    ends.sort_by_key(|&i| std::cmp::Reverse(len[i]));
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for end in ends {
        let mut run = vec![end];
        let mut at = end;
        while let Some(p) = pred[at] {
            run.push(p);
            at = p;
        }
        run.reverse();
        let txs = uniq(run.iter().map(|&i| g.flows[i].tx.clone()));
        if txs.iter().all(|t| covered.contains(t)) {
            continue;
        }
        covered.extend(txs.iter().cloned());
        let first = &g.flows[run[0]];
        let last = &g.flows[end];
        let mut addresses: Vec<String> = run.iter().map(|&i| g.flows[i].from.clone()).collect();
        addresses.push(last.to.clone());
        out.push(Detection {
            kind: Kind::RapidHops,
            score: score(25 * run.len()),
            chain: first.chain.clone(),
            explanation: format!(
                "{} hops from {} to {} in blocks {}–{}, each leaving within {} blocks of arrival",
                run.len(),
                first.from,
                last.to,
                first.height,
                last.height,
                c.rapid_blocks
            ),
            txs,
            addresses: uniq(addresses),
        });
    }
    out
}

/// Label categories that mean a mixer or privacy pool.
pub const MIXER_CATEGORIES: [&str; 4] = ["mixer", "coinjoin", "privacy", "tumbler"];

/// **Mixer use.** Value paid to an address labeled `mixer`, `coinjoin`, `privacy` or
/// `tumbler` (score 90), carried by a mixer link (score 100), or spent in a UTXO tx the
/// cluster crate's CoinJoin guard flags (score 80: a CoinJoin is a mixer by design, but the
/// guard's equal-output rule also matches some batch payments).
pub fn mixer_use(g: &FlowGraph) -> Vec<Detection> {
    let mut out = Vec::new();
    let mut into: BTreeMap<(&str, &str), Vec<&Flow>> = BTreeMap::new();
    let mut links: BTreeMap<&str, Vec<&Flow>> = BTreeMap::new();
    let mut joins: BTreeMap<&str, Vec<&Flow>> = BTreeMap::new();
    for f in &g.flows {
        if f.link == Some(LinkKind::Mixer) {
            links.entry(&f.tx).or_default().push(f);
        } else if g
            .category(&f.chain, &f.to)
            .is_some_and(|c| MIXER_CATEGORIES.contains(&c))
        {
            into.entry((&f.chain, &f.to)).or_default().push(f);
        }
        if g.coinjoins.contains_key(&f.tx) {
            joins.entry(&f.tx).or_default().push(f);
        }
    }
    for ((chain, to), fs) in into {
        let total: u128 = fs.iter().map(|f| f.value).sum();
        out.push(Detection {
            kind: Kind::Mixer,
            score: 90,
            chain: chain.to_string(),
            txs: uniq(fs.iter().map(|f| f.tx.clone())),
            addresses: uniq(fs.iter().map(|f| f.from.clone()).chain([to.to_string()])),
            explanation: format!(
                "{} payment(s) of {total} base units into {to}, labeled {}",
                fs.len(),
                g.category(chain, to).unwrap_or("mixer")
            ),
        });
    }
    for (tx, fs) in links {
        out.push(Detection {
            kind: Kind::Mixer,
            score: 100,
            chain: fs[0].chain.clone(),
            txs: vec![tx.to_string()],
            addresses: uniq(fs.iter().flat_map(|f| [f.from.clone(), f.to.clone()])),
            explanation: format!("mixer link: {} base units in", fs[0].value),
        });
    }
    for (tx, fs) in joins {
        out.push(Detection {
            kind: Kind::Mixer,
            score: 80,
            chain: fs[0].chain.clone(),
            txs: vec![tx.to_string()],
            addresses: uniq(fs.iter().flat_map(|f| [f.from.clone(), f.to.clone()])),
            explanation: format!(
                "CoinJoin {tx}: {}",
                g.coinjoins.get(tx).map_or("", String::as_str)
            ),
        });
    }
    out
}

/// **Chain hop.** A bridge link (score 90) or a swap link (score 60: an asset hop on one
/// chain) in the flows; and, when the flows span two or more chains with no bridge link
/// between them, one detection naming each chain's first flow (score 50: the hop itself
/// was not seen, only both sides).
pub fn chain_hops(g: &FlowGraph) -> Vec<Detection> {
    let mut out = Vec::new();
    let mut bridged = false;
    for f in &g.flows {
        let (score, what) = match f.link {
            Some(LinkKind::Bridge) => (90, "bridge"),
            Some(LinkKind::Swap) => (60, "swap"),
            _ => continue,
        };
        bridged |= f.link == Some(LinkKind::Bridge);
        out.push(Detection {
            kind: Kind::ChainHop,
            score,
            chain: f.chain.clone(),
            txs: vec![f.tx.clone()],
            addresses: uniq([f.from.clone(), f.to.clone()]),
            explanation: format!("{what}: {} {} in at {}", f.value, f.asset, f.from),
        });
    }
    let mut firsts: BTreeMap<&str, &Flow> = BTreeMap::new();
    for f in &g.flows {
        firsts.entry(&f.chain).or_insert(f);
    }
    if firsts.len() >= 2 && !bridged {
        out.push(Detection {
            kind: Kind::ChainHop,
            score: 50,
            chain: firsts
                .keys()
                .next()
                .map_or(String::new(), |c| c.to_string()),
            txs: firsts.values().map(|f| f.tx.clone()).collect(),
            addresses: firsts.values().map(|f| f.to.clone()).collect(),
            explanation: format!(
                "flows on {} chains: {}",
                firsts.len(),
                firsts.keys().copied().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    out
}

/// **Structuring.** ≥ `structuring_min` amounts by one payer, or to one payee, each in the band
/// `[T − T × structuring_band_percent / 100, T)` below the asset's threshold `T` (the
/// "smurfing" of cash AML, kept under a reporting line). Score: min(100, 30 + 15 × amounts).
pub fn structuring(g: &FlowGraph, c: &Config) -> Vec<Detection> {
    let mut by: BTreeMap<(&str, &str, &str, bool), Vec<&Flow>> = BTreeMap::new();
    for f in &g.flows {
        let Some(t) = c.threshold(&f.chain, &f.asset) else {
            continue;
        };
        let floor = t - t * c.structuring_band_percent.min(100) / 100;
        if f.value >= floor && f.value < t && f.from != f.to {
            by.entry((&f.chain, &f.asset, &f.from, true))
                .or_default()
                .push(f);
            by.entry((&f.chain, &f.asset, &f.to, false))
                .or_default()
                .push(f);
        }
    }
    let mut out = Vec::new();
    for ((chain, asset, who, payer), fs) in by {
        if fs.len() < c.structuring_min {
            continue;
        }
        let t = c.threshold(chain, asset).unwrap_or(0);
        let addresses = if payer {
            uniq(
                [who.to_string()]
                    .into_iter()
                    .chain(fs.iter().map(|f| f.to.clone())),
            )
        } else {
            let mut a = uniq(fs.iter().map(|f| f.from.clone()));
            a.push(who.to_string());
            uniq(a)
        };
        out.push(Detection {
            kind: Kind::Structuring,
            score: score(30 + 15 * fs.len()),
            chain: chain.to_string(),
            txs: uniq(fs.iter().map(|f| f.tx.clone())),
            addresses,
            explanation: format!(
                "{} amounts of {asset} {} {who} within {}% below the threshold {t}",
                fs.len(),
                if payer { "paid by" } else { "paid to" },
                c.structuring_band_percent
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::{flow, graph};

    fn kinds(ds: &[Detection]) -> Vec<Kind> {
        ds.iter().map(|d| d.kind).collect()
    }

    /// A peel chain of `n` links on a UTXO chain: a0 → (shop, a1) → (shop, a2) …
    fn peel(n: u64, utxo: bool) -> Vec<Flow> {
        let mut v = Vec::new();
        let mut left = 1_000_000u128;
        for k in 0..n {
            let small = left / 10;
            let (t1, t2) = if utxo {
                (format!("p{k}"), format!("p{k}"))
            } else {
                (format!("p{k}a"), format!("p{k}b"))
            };
            v.push(flow(
                &t1,
                10 + k,
                &format!("a{k}"),
                &format!("shop{k}"),
                small,
                utxo,
            ));
            v.push(flow(
                &t2,
                10 + k,
                &format!("a{k}"),
                &format!("a{}", k + 1),
                left - small,
                utxo,
            ));
            left -= small;
        }
        v
    }

    #[test]
    fn peel_chain_found_on_both_shapes() {
        for utxo in [true, false] {
            let d = peel_chains(&graph(peel(5, utxo)), &Config::default());
            assert_eq!(d.len(), 1, "{d:?}");
            assert_eq!(d[0].addresses.len(), 6);
            assert_eq!(d[0].score, 90);
            assert_eq!(d[0].txs.len(), if utxo { 5 } else { 10 });
        }
    }

    #[test]
    fn ordinary_payment_with_change_is_no_peel_chain() {
        let g = graph(vec![
            flow("t1", 1, "alice", "bob", 400, true),
            flow("t1", 1, "alice", "alice2", 600, true),
            flow("t2", 5, "alice2", "carol", 300, true),
        ]);
        assert!(peel_chains(&g, &Config::default()).is_empty());
        // Two links only: under the minimum of three.
        assert!(peel_chains(&graph(peel(2, true)), &Config::default()).is_empty());
    }

    #[test]
    fn fan_out_and_fan_in_need_enough_counterparties_in_the_window() {
        let mut f: Vec<Flow> = (0..6)
            .map(|k| flow("s", 1, "src", &format!("d{k}"), 10, true))
            .collect();
        f.extend((0..6).map(|k| flow(&format!("c{k}"), 3, &format!("d{k}"), "sink", 10, true)));
        let g = graph(f);
        let c = Config::default();
        let fo = fan_outs(&g, &c);
        assert_eq!(kinds(&fo), vec![Kind::FanOut]);
        assert_eq!(fo[0].score, 60);
        assert_eq!(fo[0].addresses[0], "src");
        let fi = fan_ins(&g, &c);
        assert_eq!(kinds(&fi), vec![Kind::FanIn]);
        assert_eq!(fi[0].addresses.last().map(String::as_str), Some("sink"));
        // Scattered to d0..d5, gathered again at sink.
        let sg = gather_scatter(&g, &c, &fi, &fo);
        assert_eq!(kinds(&sg), vec![Kind::ScatterGather]);
        // Four payees, or six spread over 60 blocks: no fan-out.
        let few = graph(
            (0..4)
                .map(|k| flow("s", 1, "src", &format!("d{k}"), 10, true))
                .collect(),
        );
        assert!(fan_outs(&few, &c).is_empty());
        let slow = graph(
            (0..6)
                .map(|k| flow(&format!("s{k}"), 10 * k, "src", &format!("d{k}"), 10, false))
                .collect(),
        );
        assert!(fan_outs(&slow, &c).is_empty());
    }

    #[test]
    fn gather_scatter_through_a_hub() {
        let mut f: Vec<Flow> = (0..5)
            .map(|k| flow(&format!("i{k}"), 1, &format!("s{k}"), "hub", 10, false))
            .collect();
        f.extend((0..5).map(|k| flow(&format!("o{k}"), 4, "hub", &format!("d{k}"), 10, false)));
        let g = graph(f);
        let c = Config::default();
        let d = gather_scatter(&g, &c, &fan_ins(&g, &c), &fan_outs(&g, &c));
        assert_eq!(kinds(&d), vec![Kind::GatherScatter]);
        assert_eq!(d[0].txs.len(), 10);
    }

    #[test]
    fn rapid_hops_need_quick_consecutive_moves() {
        let fast = graph(vec![
            flow("h1", 1, "a", "b", 100, false),
            flow("h2", 2, "b", "c", 99, false),
            flow("h3", 2, "c", "d", 98, false),
            flow("h4", 5, "d", "e", 97, false),
        ]);
        let d = rapid_hops(&fast, &Config::default());
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].txs, vec!["h1", "h2", "h3", "h4"]);
        assert_eq!(d[0].score, 100);
        // The same hops a week apart: value rests, no rapid hops.
        let slow = graph(vec![
            flow("h1", 1, "a", "b", 100, false),
            flow("h2", 100, "b", "c", 99, false),
            flow("h3", 200, "c", "d", 98, false),
        ]);
        assert!(rapid_hops(&slow, &Config::default()).is_empty());
    }

    #[test]
    fn mixer_use_by_label_link_and_coinjoin() {
        let mut g = graph(vec![
            flow("m1", 1, "a", "tornado", 100, false),
            flow("pay", 1, "a", "shop", 100, false),
            flow("cj", 2, "x", "y", 100, true),
        ]);
        g.categories
            .insert(("evm-31337".into(), "tornado".into()), "mixer".into());
        g.coinjoins.insert("cj".into(), "equal_outputs (…)".into());
        let d = mixer_use(&g);
        let txs: Vec<&str> = d.iter().map(|d| d.txs[0].as_str()).collect();
        assert_eq!(txs, vec!["m1", "cj"]);
        assert_eq!((d[0].score, d[1].score), (90, 80));
    }

    #[test]
    fn chain_hop_by_bridge_or_two_chains() {
        let mut f = flow("b1", 1, "a", "bridge", 100, false);
        f.link = Some(LinkKind::Bridge);
        let d = chain_hops(&graph(vec![f, flow("u1", 3, "x", "y", 5, true)]));
        assert_eq!(kinds(&d), vec![Kind::ChainHop]);
        assert_eq!(d[0].score, 90);
        let both = chain_hops(&graph(vec![
            flow("e1", 1, "a", "b", 100, false),
            flow("u1", 3, "x", "y", 5, true),
        ]));
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].score, 50);
        assert!(chain_hops(&graph(vec![flow("e1", 1, "a", "b", 1, false)])).is_empty());
    }

    #[test]
    fn structuring_just_below_the_threshold() {
        let t = 1_000_000_000u128;
        let below = [t - 1, t - 20_000_000, t - 50_000_000];
        let g = graph(
            below
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    flow(
                        &format!("s{k}"),
                        k as u64,
                        "smurf",
                        &format!("x{k}"),
                        *v,
                        true,
                    )
                })
                .collect(),
        );
        let d = structuring(&g, &Config::default());
        assert_eq!(kinds(&d), vec![Kind::Structuring]);
        assert_eq!(d[0].score, 75);
        assert_eq!(d[0].addresses[0], "smurf");
        // At or over the threshold, or far below it: nothing.
        let g = graph(vec![
            flow("s0", 1, "p", "x0", t, true),
            flow("s1", 2, "p", "x1", t / 2, true),
            flow("s2", 3, "p", "x2", t - 1, true),
        ]);
        assert!(structuring(&g, &Config::default()).is_empty());
    }

    #[test]
    fn detect_all_orders_by_score() {
        let d = detect_all(&graph(peel(6, true)), &Config::default());
        assert!(d.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(kinds(&d).contains(&Kind::PeelChain));
        assert!(kinds(&d).contains(&Kind::RapidHops));
    }
}
