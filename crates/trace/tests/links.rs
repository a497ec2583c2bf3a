//! The engine through links, on in-memory chains with link facts written here: stolen ether
//! swapped to a token (the pool paid after it was paid, V2 style, and before, V3 style),
//! bridged to a UTXO chain (the exit names the entry), and deposited into a mixer with no
//! linkable withdrawal. Every unit must be accounted for per asset, the token must be found
//! at the exchange it reached, the bridged coins at the UTXO payee, the mixer's share dark,
//! and the proofs must show the links with their evidence.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tracehound_core::{Chain, Destination, LinkFact, LinkKind, LinkLeg};
use tracehound_store::FactRef;
use tracehound_trace::graph::{
    AccountEvent, AccountGraph, MemAccounts, MemUtxo, UtxoGraph, UtxoIn, UtxoOut, UtxoTxData,
};
use tracehound_trace::link::EdgeKind;
use tracehound_trace::{
    AccountSeed, Graphs, Label, Labels, LinkRules, LinkView, Linker, Policy, Rules, Stop,
    TraceError, Tracker, run,
};

const EVM: Chain = Chain::Evm(31337);
const LTC: Chain = Chain::LitecoinRegtest;
const ETHER: u128 = 1_000_000_000_000_000_000;
const TOKEN: &str = "0x00000000000000000000000000000000000000cc";
const THIEF: &str = "0x00000000000000000000000000000000000000a1";
const POOL: &str = "0x00000000000000000000000000000000000000b1";
const BRIDGE: &str = "0x00000000000000000000000000000000000000b2";
const MIXER: &str = "0x00000000000000000000000000000000000000b3";
const EXCHANGE: &str = "0x00000000000000000000000000000000000000e1";
const LTC_PAYEE: &str = "rltc1qpayee";

fn tx(h: u32) -> String {
    format!("0x{h:064x}")
}

fn ev(height: u32, sub: u32, asset: &str, from: &str, to: &str, amount: u128) -> AccountEvent {
    AccountEvent {
        height,
        tx: 0,
        sub,
        time: 1_000 + u64::from(height) * 12,
        txid: tx(height).parse().unwrap(),
        fee: false,
        asset: asset.into(),
        from: from.into(),
        to: to.into(),
        amount,
    }
}

fn leg(height: u32, sub: u32, asset: &str, amount: u128, party: &str) -> LinkLeg {
    LinkLeg {
        tx_index: 0,
        tx: tx(height),
        leg: sub,
        asset: asset.into(),
        amount,
        party: party.into(),
    }
}

#[derive(Default)]
struct MemLinks {
    facts: HashMap<(Chain, u32), Vec<LinkFact>>,
    times: HashMap<(Chain, u32), u64>,
}

impl MemLinks {
    fn add(&mut self, chain: Chain, height: u32, time: u64, f: LinkFact) {
        self.facts.entry((chain, height)).or_default().push(f);
        self.times.insert((chain, height), time);
    }
}

impl LinkView for MemLinks {
    fn facts(&mut self, chain: Chain, height: u32) -> Result<Arc<[LinkFact]>, TraceError> {
        Ok(self
            .facts
            .get(&(chain, height))
            .cloned()
            .unwrap_or_default()
            .into())
    }
    fn lookup(&mut self, key: &str) -> Result<Vec<(FactRef, LinkFact)>, TraceError> {
        let mut out = Vec::new();
        for (&(chain, height), fs) in &self.facts {
            for (i, f) in fs.iter().enumerate() {
                if f.keys().iter().any(|k| k == key) {
                    let index = u32::try_from(i).unwrap();
                    out.push((
                        FactRef {
                            chain,
                            height,
                            index,
                        },
                        f.clone(),
                    ));
                }
            }
        }
        out.sort_by_key(|(r, _)| *r);
        Ok(out)
    }
    fn time(&mut self, chain: Chain, height: u32) -> Result<u64, TraceError> {
        Ok(self.times[&(chain, height)])
    }
}

struct Both {
    utxo: MemUtxo,
    account: MemAccounts,
}

impl Graphs for Both {
    fn utxo(&mut self, _: Chain) -> Result<&mut dyn UtxoGraph, TraceError> {
        Ok(&mut self.utxo)
    }
    fn account(&mut self, _: Chain) -> Result<&mut dyn AccountGraph, TraceError> {
        Ok(&mut self.account)
    }
}

fn world() -> (Both, MemLinks, AccountEvent) {
    let theft = ev(
        1,
        0,
        "native",
        "0x00000000000000000000000000000000000000f0",
        THIEF,
        10 * ETHER,
    );
    let events = vec![
        theft.clone(),
        // Pool liquidity the thief's swaps draw on (clean).
        ev(1, 1, TOKEN, EXCHANGE, POOL, 1_000_000),
        // V2 style: paid 4 ether, then pays 8,000 tokens.
        ev(2, 0, "native", THIEF, POOL, 4 * ETHER),
        ev(2, 1, TOKEN, POOL, THIEF, 8_000),
        // V3 style: pays 2,000 tokens first, then is paid 1 ether.
        ev(3, 0, TOKEN, POOL, THIEF, 2_000),
        ev(3, 1, "native", THIEF, POOL, ETHER),
        // 3 ether into the bridge, paid out on the UTXO chain.
        ev(4, 0, "native", THIEF, BRIDGE, 3 * ETHER),
        // 1 ether into the mixer, never linked to a withdrawal.
        ev(5, 0, "native", THIEF, MIXER, ETHER),
        // All tokens to an exchange.
        ev(6, 0, TOKEN, THIEF, EXCHANGE, 10_000),
    ];
    let mut links = MemLinks::default();
    let time = |h: u32| 1_000 + u64::from(h) * 12;
    links.add(
        EVM,
        2,
        time(2),
        LinkFact::Within {
            kind: LinkKind::Swap,
            service: "uniswap-v2".into(),
            contract: POOL.into(),
            input: leg(2, 0, "native", 4 * ETHER, THIEF),
            output: leg(2, 1, TOKEN, 8_000, THIEF),
            evidence: "log:3:uniswap-v2 Swap".into(),
        },
    );
    links.add(
        EVM,
        3,
        time(3),
        LinkFact::Within {
            kind: LinkKind::Swap,
            service: "uniswap-v3".into(),
            contract: POOL.into(),
            input: leg(3, 1, "native", ETHER, THIEF),
            output: leg(3, 0, TOKEN, 2_000, THIEF),
            evidence: "log:5:uniswap-v3 Swap".into(),
        },
    );
    links.add(
        EVM,
        4,
        time(4),
        LinkFact::Entry {
            kind: LinkKind::Bridge,
            service: "test-bridge".into(),
            contract: BRIDGE.into(),
            leg: leg(4, 0, "native", 3 * ETHER, THIEF),
            id: None,
            destination: Some(Destination {
                chain: Some("LTC".into()),
                address: LTC_PAYEE.into(),
                min_out: None,
            }),
            gas_price: None,
            evidence: "log:0:Locked".into(),
        },
    );
    links.add(
        EVM,
        5,
        time(5),
        LinkFact::Entry {
            kind: LinkKind::Mixer,
            service: "test-mixer".into(),
            contract: MIXER.into(),
            leg: leg(5, 0, "native", ETHER, THIEF),
            id: Some("0xc0".into()),
            destination: None,
            gas_price: Some(1),
            evidence: "log:0:Deposit".into(),
        },
    );
    // The bridge pays on the UTXO chain (output 0 of tx "bb…", an hour later), naming the
    // entry in its memo.
    let payout = "bb".repeat(32);
    links.add(
        LTC,
        50,
        time(4) + 3_600,
        LinkFact::Exit {
            kind: LinkKind::Bridge,
            service: "test-bridge".into(),
            contract: "rltc1qbridgewallet".into(),
            leg: LinkLeg {
                tx_index: 1,
                tx: payout.clone(),
                leg: 0,
                asset: "native".into(),
                amount: 30_000_000,
                party: LTC_PAYEE.into(),
            },
            reference: Some(tx(4).to_uppercase().replace("0X", "")),
            relayer: None,
            gas_price: None,
            evidence: "op_return:OUT:".into(),
        },
    );
    let mut utxo = MemUtxo::default();
    let funding = "aa".repeat(32);
    utxo.txs.insert(
        funding.clone(),
        UtxoTxData {
            txid: funding.clone(),
            height: 49,
            index: 1,
            time: time(4),
            inputs: Vec::new(),
            outputs: vec![UtxoOut {
                value: 50_000_000,
                address: Some("rltc1qbridgewallet".into()),
                spent_by: Some(payout.clone()),
            }],
        },
    );
    utxo.txs.insert(
        payout.clone(),
        UtxoTxData {
            txid: payout.clone(),
            height: 50,
            index: 1,
            time: time(4) + 3_600,
            inputs: vec![UtxoIn {
                prev_txid: funding,
                prev_vout: 0,
                address: "rltc1qbridgewallet".into(),
                value: 50_000_000,
            }],
            outputs: vec![
                UtxoOut {
                    value: 30_000_000,
                    address: Some(LTC_PAYEE.into()),
                    spent_by: None,
                },
                UtxoOut {
                    value: 19_990_000,
                    address: Some("rltc1qbridgewallet".into()),
                    spent_by: None,
                },
            ],
        },
    );
    (
        Both {
            utxo,
            account: MemAccounts::new(&events),
        },
        links,
        theft,
    )
}

fn trace(policy: Policy, follow: bool) -> tracehound_trace::TraceResult {
    let (mut graphs, links, theft) = world();
    let mut rules = Rules::new(policy);
    let mut labels = Labels::new();
    labels.insert(
        &tracehound_core::Address::parse(EVM, EXCHANGE).unwrap(),
        Label {
            label: "Exchange".into(),
            category: "exchange".into(),
            source: "test".into(),
            confidence: 1.0,
        },
    );
    rules.labels = labels;
    rules.links = LinkRules {
        follow,
        ..LinkRules::default()
    };
    let mut linker = Linker::new(Box::new(links), rules.links.clone());
    let mut t = Tracker::new(rules);
    let mut seeds = BTreeMap::new();
    seeds.insert(
        EVM,
        vec![AccountSeed::Transfer {
            event: theft,
            stolen: 10 * ETHER,
        }],
    );
    run(&mut t, &mut graphs, &mut linker, &BTreeMap::new(), &seeds).unwrap();
    t.finish("links")
}

#[test]
fn taint_crosses_swaps_bridges_and_mixers_and_every_unit_is_accounted_for() {
    for policy in [Policy::Haircut, Policy::Fifo, Policy::Lifo, Policy::Tiho] {
        let r = trace(policy, true);
        let at = |chain: &str, address: &str, asset: &str| -> Vec<(u128, Stop)> {
            r.endpoints
                .iter()
                .filter(|e| e.chain == chain && e.address == address && e.asset == asset)
                .map(|e| (e.amount, e.stop))
                .collect()
        };
        // Both swaps' tokens reach the exchange; the bridged ether is the payee's litecoin;
        // the mixer's ether is dark; what the thief kept stays.
        assert_eq!(
            at("evm-31337", EXCHANGE, TOKEN),
            vec![(10_000, Stop::Service)],
            "{policy}"
        );
        assert_eq!(
            at("litecoin-regtest", LTC_PAYEE, "native"),
            vec![(30_000_000, Stop::Unmoved)],
            "{policy}"
        );
        assert_eq!(
            at("evm-31337", MIXER, "native"),
            vec![(ETHER, Stop::Dark)],
            "{policy}"
        );
        assert_eq!(
            at("evm-31337", THIEF, "native"),
            vec![(ETHER, Stop::Unmoved)],
            "{policy}"
        );
        // Nothing stays with the pool or the bridge contract.
        assert!(at("evm-31337", POOL, "native").is_empty(), "{policy}");
        assert!(at("evm-31337", BRIDGE, "native").is_empty(), "{policy}");

        // Per asset, the parts add up: stolen + linked in = placed + linked out.
        for s in &r.summary.assets {
            let placed = s.intervention + s.still_moving + s.dark + s.dust + s.fees + s.unresolved;
            assert_eq!(
                s.stolen + s.linked_in,
                placed + s.linked_out,
                "{policy} {}/{}: {s:?}",
                s.chain,
                s.asset
            );
        }
        let eth = r
            .summary
            .assets
            .iter()
            .find(|s| s.asset == "native" && s.chain == "evm-31337")
            .unwrap();
        assert_eq!(
            (eth.stolen, eth.linked_out, eth.dark),
            (10 * ETHER, 8 * ETHER, ETHER)
        );

        // The summary names each link; the proofs carry them with their evidence.
        let kinds: Vec<(LinkKind, &str)> = r
            .summary
            .links
            .iter()
            .map(|l| (l.kind, l.service.as_str()))
            .collect();
        assert!(
            kinds.contains(&(LinkKind::Bridge, "test-bridge")),
            "{kinds:?}"
        );
        assert!(kinds.contains(&(LinkKind::Swap, "uniswap-v2")), "{kinds:?}");
        assert!(kinds.contains(&(LinkKind::Swap, "uniswap-v3")), "{kinds:?}");
        let bridged = r.endpoints.iter().find(|e| e.address == LTC_PAYEE).unwrap();
        let link = bridged
            .path
            .iter()
            .find_map(|h| match &h.edge {
                EdgeKind::Link(l) => Some(l.as_ref().clone()),
                _ => None,
            })
            .expect("the proof crosses the bridge");
        assert_eq!(link.confidence, 100);
        assert_eq!(link.tx_in, tx(4));
        assert!(
            link.evidence.contains("names the entry"),
            "{}",
            link.evidence
        );
        assert_eq!(bridged.path[0].rule.as_ref(), "incident: stolen transfer");
    }
}

#[test]
fn without_links_the_services_keep_the_taint() {
    let r = trace(Policy::Haircut, false);
    assert!(
        r.endpoints
            .iter()
            .all(|e| e.chain == "evm-31337" && e.asset == "native"),
        "{:?}",
        r.endpoints
    );
    assert!(r.summary.links.is_empty());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const PEOPLE: [&str; 4] = [
        "0x00000000000000000000000000000000000000d1",
        "0x00000000000000000000000000000000000000d2",
        "0x00000000000000000000000000000000000000d3",
        "0x00000000000000000000000000000000000000d4",
    ];

    /// A block: an ordinary transfer (who, to whom, which asset, amount), or a swap of `amount`
    /// native by `who` into the pool for `out` tokens, the pool paying after (V2) or before
    /// (V3) it is paid.
    #[derive(Debug, Clone)]
    enum Step {
        Pay(usize, usize, bool, u128),
        Swap(usize, u128, u128, bool),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..4usize, 0..4usize, any::<bool>(), 1..1_000u128)
                .prop_map(|(a, b, t, v)| Step::Pay(a, b, t, v)),
            (0..4usize, 1..1_000u128, 1..5_000u128, any::<bool>())
                .prop_map(|(a, v, o, v3)| Step::Swap(a, v, o, v3)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the swaps, every conserving policy places each unit exactly once per
        /// asset: stolen + arrived through links = placed + left through links, and no more
        /// token taint comes out of a swap than its rate allows.
        #[test]
        fn links_conserve_taint_per_asset(steps in proptest::collection::vec(step(), 1..24)) {
            let theft = ev(1, 0, "native", "0x00000000000000000000000000000000000000f0", PEOPLE[0], 5_000);
            let mut events = vec![
                theft.clone(),
                ev(1, 1, TOKEN, EXCHANGE, POOL, 10_000_000),
                ev(1, 2, "native", EXCHANGE, POOL, 10_000_000),
            ];
            let mut links = MemLinks::default();
            for (i, s) in steps.iter().enumerate() {
                let h = u32::try_from(i).unwrap() + 2;
                let time = 1_000 + u64::from(h) * 12;
                links.times.insert((EVM, h), time);
                match *s {
                    Step::Pay(a, b, token, v) => {
                        let asset = if token { TOKEN } else { "native" };
                        events.push(ev(h, 0, asset, PEOPLE[a], PEOPLE[b], v));
                    }
                    Step::Swap(a, v, out, v3) => {
                        let (sin, sout) = if v3 { (1, 0) } else { (0, 1) };
                        events.push(ev(h, sin, "native", PEOPLE[a], POOL, v));
                        events.push(ev(h, sout, TOKEN, POOL, PEOPLE[a], out));
                        links.add(EVM, h, time, LinkFact::Within {
                            kind: LinkKind::Swap,
                            service: "pool".into(),
                            contract: POOL.into(),
                            input: leg(h, sin, "native", v, PEOPLE[a]),
                            output: leg(h, sout, TOKEN, out, PEOPLE[a]),
                            evidence: "test".into(),
                        });
                    }
                }
            }
            for policy in [Policy::Haircut, Policy::Fifo, Policy::Lifo, Policy::Tiho] {
                let mut graphs = Both { utxo: MemUtxo::default(), account: MemAccounts::new(&events) };
                let mut view = MemLinks::default();
                view.facts.clone_from(&links.facts);
                view.times.clone_from(&links.times);
                let rules = Rules::new(policy);
                let mut linker = Linker::new(Box::new(view), rules.links.clone());
                let mut t = Tracker::new(rules);
                let mut seeds = BTreeMap::new();
                seeds.insert(EVM, vec![AccountSeed::Transfer { event: theft.clone(), stolen: 5_000 }]);
                run(&mut t, &mut graphs, &mut linker, &BTreeMap::new(), &seeds).unwrap();
                let r = t.finish("prop");
                for s in &r.summary.assets {
                    let placed = s.intervention + s.still_moving + s.dark + s.dust + s.fees + s.unresolved;
                    prop_assert_eq!(s.stolen + s.linked_in, placed + s.linked_out, "{} {:?}", policy, s);
                }
                let native = r.summary.assets.iter().find(|s| s.asset == "native").unwrap();
                prop_assert_eq!(native.stolen, 5_000);
                // Taint out of the swaps is at most what their rates give for the taint in.
                let max_out: u128 = r.edges.iter().filter_map(|h| match &h.edge {
                    EdgeKind::Link(l) => Some(l.amount_out.unwrap_or(0)),
                    _ => None,
                }).sum();
                let token_in: u128 = r.summary.assets.iter().filter(|s| s.asset == TOKEN).map(|s| s.linked_in).sum();
                prop_assert!(token_in <= max_out);
            }
        }
    }
}

/// A bridge without ids: the entry is matched to the exit paying its destination with its
/// amount less at most the fee (confidence 70), not to another payment to the same address;
/// an entry whose destination is never paid stays unresolved, with its value counted.
#[test]
fn bridges_without_ids_match_by_destination_and_amount_else_stay_unresolved() {
    const L2: Chain = Chain::Evm(10);
    const PAYEE: &str = "0x00000000000000000000000000000000000000c1";
    const NOWHERE: &str = "0x00000000000000000000000000000000000000c2";
    const L2_BRIDGE: &str = "0x00000000000000000000000000000000000000b9";
    let theft = ev(
        1,
        0,
        "native",
        "0x00000000000000000000000000000000000000f0",
        THIEF,
        5 * ETHER,
    );
    let events = vec![
        theft.clone(),
        ev(2, 0, "native", THIEF, BRIDGE, 3 * ETHER),
        ev(3, 0, "native", THIEF, BRIDGE, ETHER),
        // On the other chain: the bridge pays the payee 1 ether (someone else's), then 2.997
        // ether (3 less a 0.1 % fee).
        ev(100, 0, "native", L2_BRIDGE, PAYEE, ETHER),
        ev(
            101,
            0,
            "native",
            L2_BRIDGE,
            PAYEE,
            2_997_000_000_000_000_000,
        ),
    ];
    let mut links = MemLinks::default();
    let time = |h: u32| 1_000 + u64::from(h) * 12;
    let entry = |h: u32, amount: u128, to: &str| LinkFact::Entry {
        kind: LinkKind::Bridge,
        service: "b".into(),
        contract: BRIDGE.into(),
        leg: leg(h, 0, "native", amount, THIEF),
        id: None,
        destination: Some(Destination {
            chain: None,
            address: to.into(),
            min_out: None,
        }),
        gas_price: None,
        evidence: "test".into(),
    };
    links.add(EVM, 2, time(2), entry(2, 3 * ETHER, PAYEE));
    links.add(EVM, 3, time(3), entry(3, ETHER, NOWHERE));
    for (h, amount) in [(100, ETHER), (101, 2_997_000_000_000_000_000)] {
        links.add(
            L2,
            h,
            time(h),
            LinkFact::Exit {
                kind: LinkKind::Bridge,
                service: "b".into(),
                contract: L2_BRIDGE.into(),
                leg: leg(h, 0, "native", amount, PAYEE),
                reference: None,
                relayer: None,
                gas_price: None,
                evidence: "test".into(),
            },
        );
    }
    let mut rules = Rules::new(Policy::Haircut);
    rules
        .links
        .config
        .bridges
        .push(tracehound_core::link::BridgeConfig {
            name: "b".into(),
            contracts: Vec::new(),
            lock: Vec::new(),
            release: Vec::new(),
            wallets: Vec::new(),
            max_fee_permille: 10,
            window_seconds: 3_600,
            heuristic: true,
            converts: false,
        });
    let mut linker = Linker::new(Box::new(links), rules.links.clone());
    let mut t = Tracker::new(rules);
    let mut seeds = BTreeMap::new();
    seeds.insert(
        EVM,
        vec![AccountSeed::Transfer {
            event: theft,
            stolen: 5 * ETHER,
        }],
    );
    let mut graphs = Both {
        utxo: MemUtxo::default(),
        account: MemAccounts::new(&events),
    };
    run(&mut t, &mut graphs, &mut linker, &BTreeMap::new(), &seeds).unwrap();
    let r = t.finish("no ids");
    let at = |chain: &str, address: &str| -> Vec<(u128, Stop)> {
        r.endpoints
            .iter()
            .filter(|e| e.chain == chain && e.address == address)
            .map(|e| (e.amount, e.stop))
            .collect()
    };
    assert_eq!(
        at(&L2.name(), PAYEE),
        vec![(2_997_000_000_000_000_000, Stop::Unmoved)],
        "{:?}",
        r.endpoints
    );
    assert_eq!(at("evm-31337", BRIDGE), vec![(ETHER, Stop::Unresolved)]);
    let link = r
        .edges
        .iter()
        .find_map(|h| match &h.edge {
            EdgeKind::Link(l) => Some(l.as_ref().clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(link.confidence, 70, "{}", link.evidence);
    assert!(
        link.evidence.contains("within the bridge's fee"),
        "{}",
        link.evidence
    );
    let eth = r
        .summary
        .assets
        .iter()
        .find(|s| s.chain == "evm-31337")
        .unwrap();
    assert_eq!((eth.unresolved, eth.linked_out), (ETHER, 3 * ETHER));
}
