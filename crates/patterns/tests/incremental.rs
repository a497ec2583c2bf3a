//! The incremental detectors against the full ones: random flows on two chains (a UTXO and an
//! account chain, with links, labels that come and go, CoinJoins, amounts in the structuring
//! band and planted peel chains and fans), pushed block by block with the chains out of step;
//! after every push the detections equal `detect_all` over everything pushed.

use std::collections::HashMap;

use proptest::prelude::*;
use tracehound_patterns::{
    Config, Detection, Flow, FlowGraph, Incremental, PatternsError, detect_all,
};
use tracehound_trace::link::LinkKind;

const UTXO: &str = "litecoin-regtest";
const ACCOUNT: &str = "evm-31337";
const THRESHOLD: u128 = 1_000_000_000;

/// A small deterministic generator (the seed comes from proptest, so a failure shrinks to it).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One chain's blocks of flows, by height from 1.
fn chain_blocks(rng: &mut Rng, chain: &str, blocks: u64, pool: u64) -> Vec<Vec<Flow>> {
    let utxo = chain == UTXO;
    let addr = |rng: &mut Rng| format!("{}{}", &chain[..1], rng.below(pool));
    let mut out = Vec::new();
    // A planted peel chain walks on from block to block.
    let mut peeler = addr(rng);
    let mut left = 10 * THRESHOLD;
    for height in 1..=blocks {
        let mut flows = Vec::new();
        let flow = |tx: &str, index: u64, from: String, to: String, value: u128| Flow {
            chain: chain.into(),
            tx: tx.into(),
            height,
            index,
            time: height * 600,
            from,
            to,
            asset: "native".into(),
            value,
            utxo,
            link: None,
        };
        for k in 0..rng.below(6) {
            let tx = format!("{chain}-{height}-{k}");
            let from = addr(rng);
            let outputs = if utxo { 1 + rng.below(4) } else { 1 };
            for _ in 0..outputs {
                let to = if rng.chance(5) {
                    from.clone()
                } else {
                    addr(rng)
                };
                let value = match rng.below(4) {
                    // In the structuring band, just below the threshold.
                    0 => THRESHOLD - 1 - u128::from(rng.below(THRESHOLD as u64 / 10)),
                    1 => u128::from(rng.below(1_000)),
                    _ => u128::from(rng.below(u64::MAX)),
                };
                let mut f = flow(&tx, k, from.clone(), to, value);
                if rng.chance(10) {
                    f.link = Some(
                        [
                            LinkKind::Swap,
                            LinkKind::Bridge,
                            LinkKind::Mixer,
                            LinkKind::Wrap,
                        ][rng.below(4) as usize],
                    );
                }
                if !utxo && rng.chance(15) {
                    f.asset = "0xtoken".into();
                }
                flows.push(f);
            }
        }
        if rng.chance(60) {
            // A peeling spend: a small payment, the rest to the next peeler.
            let tx = format!("{chain}-{height}-peel");
            let next = addr(rng);
            let small = left / (5 + u128::from(rng.below(10)));
            let tx2 = if utxo {
                tx.clone()
            } else {
                format!("{tx}-change")
            };
            flows.push(flow(&tx, 90, peeler.clone(), addr(rng), small));
            flows.push(flow(&tx2, 91, peeler.clone(), next.clone(), left - small));
            left -= small;
            peeler = next;
        }
        if rng.chance(20) {
            // A fan: one payer to several payees, or several into one.
            let hub = addr(rng);
            for k in 0..3 + rng.below(5) {
                let tx = format!("{chain}-{height}-fan{k}");
                let other = addr(rng);
                let (from, to) = if rng.chance(50) {
                    (hub.clone(), other)
                } else {
                    (other, hub.clone())
                };
                flows.push(flow(&tx, 100 + k, from, to, 1_000 + u128::from(k)));
            }
        }
        out.push(flows);
    }
    out
}

/// Label categories as known at a push: some addresses are mixers, some exchanges; which ones
/// changes as the chains grow.
fn categories(rng: &mut Rng, pool: u64) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    for (chain, prefix) in [(UTXO, "l"), (ACCOUNT, "e")] {
        for a in 0..pool {
            if rng.chance(8) {
                let category = ["mixer", "exchange", "coinjoin"][rng.below(3) as usize];
                out.insert(
                    (chain.to_string(), format!("{prefix}{a}")),
                    category.to_string(),
                );
            }
        }
    }
    out
}

fn check(seed: u64, blocks: u64, pool: u64, config: &Config) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let utxo = chain_blocks(&mut rng, UTXO, blocks, pool);
    let account = chain_blocks(&mut rng, ACCOUNT, blocks, pool);
    let mut live = Incremental::new(config.clone());
    let mut all = FlowGraph::default();
    let (mut u, mut a) = (0usize, 0usize);
    let mut pushes = 0;
    while u < utxo.len() || a < account.len() {
        // Each chain moves 0–2 blocks per push: the chains are out of step.
        let mut batch = FlowGraph::default();
        for _ in 0..rng.below(3) {
            if let Some(b) = utxo.get(u) {
                batch.flows.extend(b.iter().cloned());
                u += 1;
            }
        }
        for _ in 0..rng.below(3) {
            if let Some(b) = account.get(a) {
                batch.flows.extend(b.iter().cloned());
                a += 1;
            }
        }
        for f in &batch.flows {
            if f.utxo && rng.chance(10) {
                batch
                    .coinjoins
                    .insert(f.tx.clone(), "equal_outputs (test)".into());
            }
        }
        batch.categories = categories(&mut rng, pool);
        all.flows.extend(batch.flows.iter().cloned());
        all.coinjoins.extend(batch.coinjoins.clone());
        all.categories = batch.categories.clone();
        live.push(batch)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        pushes += 1;
        let mut full = all.clone();
        full.sort();
        let want = detect_all(&full, config);
        let got: Vec<Detection> = live.detections().iter().map(|d| (**d).clone()).collect();
        prop_assert_eq!(
            &got,
            &want,
            "push {} (utxo at {}, account at {})",
            pushes,
            u,
            a
        );
    }
    Ok(())
}

/// Lower thresholds than the defaults, so small random graphs make every kind of detection.
fn eager() -> Config {
    Config {
        peel_min_links: 2,
        fan_min: 3,
        scatter_gather_min: 2,
        rapid_min_hops: 2,
        structuring_min: 2,
        gather_window: 20,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pushed_block_by_block_equals_detect_all(
        seed in any::<u64>(),
        blocks in 1u64..40,
        pool in 4u64..30,
        variant in 0..3u8,
    ) {
        let config = match variant {
            0 => Config::default(),
            1 => eager(),
            // One-hop runs: runs then also meet only through a shared tx.
            _ => Config { rapid_min_hops: 1, ..eager() },
        };
        check(seed, blocks, pool, &config)?;
    }
}

/// The random graphs are not vacuous: with the eager thresholds they make every kind.
#[test]
fn random_graphs_make_every_kind() {
    let mut rng = Rng(7);
    let config = eager();
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 1..20 {
        let mut g = FlowGraph::default();
        for chain in [UTXO, ACCOUNT] {
            for b in chain_blocks(&mut Rng(seed), chain, 40, 12) {
                g.flows.extend(b);
            }
        }
        g.categories = categories(&mut rng, 12);
        for f in &g.flows {
            if f.utxo && f.tx.ends_with("-0") {
                g.coinjoins.insert(f.tx.clone(), "test".into());
            }
        }
        g.sort();
        kinds.extend(detect_all(&g, &config).iter().map(|d| d.kind));
        check(seed, 40, 12, &config).unwrap();
    }
    assert_eq!(
        kinds.len(),
        tracehound_patterns::Kind::ALL.len(),
        "kinds found: {kinds:?}"
    );
}

#[test]
fn a_block_at_or_below_the_last_is_refused_and_nothing_changes() {
    let mut rng = Rng(11);
    let blocks = chain_blocks(&mut rng, ACCOUNT, 12, 8);
    let mut live = Incremental::new(eager());
    for b in &blocks[..10] {
        live.push(FlowGraph {
            flows: b.clone(),
            ..FlowGraph::default()
        })
        .unwrap();
    }
    let before = live.detections();
    let flows = live.flows().len();
    // Block 10 again, with block 11: refused whole.
    let mut again = blocks[9].clone();
    again.extend(blocks[10].iter().cloned());
    let err = live
        .push(FlowGraph {
            flows: again,
            ..FlowGraph::default()
        })
        .unwrap_err();
    assert!(
        matches!(&err, PatternsError::OutOfOrder { chain, height: 10, tip: 10 } if chain == ACCOUNT),
        "{err}"
    );
    assert!(err.to_string().contains("at height 10"), "{err}");
    assert_eq!(live.detections(), before);
    assert_eq!(live.flows().len(), flows);
    assert_eq!(live.tip(ACCOUNT), Some(10));
}
