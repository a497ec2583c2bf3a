//! The plan and the ground truth without a node: same seed, same plan (and different seed,
//! different plan); the playbook builds every pattern; impossible configs are refused with an
//! error naming the problem; the ground-truth checker accepts a truth built from the plan (with
//! made-up fees) and rejects tampered ones (a unit added, a resting place twice or missing, a
//! hop moved before the value reached it). The real-node tests are in `anvil.rs`.

use tracehound_sim::truth::{Executed, RestingKind, UtxoExecuted, UtxoRun};
use tracehound_sim::{Asset, Config, GroundTruth, Plan, Scenario};

fn small(seed: u64) -> Config {
    Config {
        seed,
        users: 6,
        background_blocks: 4,
        fan_out: 12,
        ..Config::default()
    }
}

/// Pretends every step ran, one block per planned block, with a fee of 21 000 gas at 1 gwei
/// (UTXO txs: made-up txids, one block per planned block after the faucet's).
fn dry_run(plan: &Plan) -> GroundTruth {
    let mut utxo = UtxoRun::default();
    if let Some(u) = &plan.utxo {
        for h in 1..=tracehound_sim::plan::FAUCET_COINBASES {
            utxo.coinbase.insert(h, format!("{:064x}", 0xc0_0000 + h));
        }
        for (b, block) in u.blocks.iter().enumerate() {
            for (i, s) in block.steps.iter().enumerate() {
                utxo.txs.push(UtxoExecuted {
                    step: s.id,
                    txid: format!("{:064x}", 0xa0_0000 + s.id),
                    height: u64::from(u.setup_blocks) + b as u64 + 1,
                    index: i as u32 + 1,
                    time: block.time,
                });
            }
        }
    }
    let mut executed = Vec::new();
    for (b, block) in plan.blocks.iter().enumerate() {
        for (i, s) in block.steps.iter().enumerate() {
            executed.push(Executed {
                step: s.id,
                hash: format!("0x{:064x}", s.id),
                block: b as u64 + 1,
                index: i as u32,
                time: block.time,
                fee: 21_000 * 1_000_000_000 + s.id as u128,
            });
        }
    }
    GroundTruth::build_all(plan, &executed, &utxo).expect("consistent ground truth")
}

#[test]
fn same_seed_same_plan_and_truth_other_seed_differs() {
    let a = Scenario::plan(&small(7)).unwrap();
    let b = Scenario::plan(&small(7)).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&dry_run(&a)).unwrap(),
        serde_json::to_string(&dry_run(&b)).unwrap()
    );
    let c = Scenario::plan(&small(8)).unwrap();
    assert_ne!(a, c);
    assert_ne!(a.victim, c.victim);
    let amounts = |p: &Plan| serde_json::to_string(&p.blocks).unwrap();
    assert_ne!(amounts(&a), amounts(&c));
}

#[test]
fn playbook_builds_every_pattern_with_realistic_amounts() {
    let plan = Scenario::plan(&Config::default()).unwrap();
    for kind in ["fan_out", "swap", "mixer", "fan_in", "peel_chain"] {
        assert!(plan.patterns.iter().any(|p| p.kind == kind), "no {kind}");
    }
    let fan_out = plan.patterns.iter().find(|p| p.kind == "fan_out").unwrap();
    assert_eq!(
        fan_out.addresses.len(),
        1 + 24,
        "drainer plus two dozen fresh addresses"
    );
    // Not round: few heist transfers are whole ether or whole dollars.
    let heist: Vec<u128> = plan
        .steps()
        .filter(|s| s.heist && s.purpose == "fan-out")
        .map(|s| match &s.action {
            tracehound_sim::Action::Eth { amount, .. }
            | tracehound_sim::Action::Token { amount, .. } => *amount,
            _ => 0,
        })
        .collect();
    assert!(
        heist
            .iter()
            .all(|a| a % 1_000_000 != 0 || *a % 10u128.pow(15) != 0)
    );
    // Time moves on: gaps between blocks, a day or more before mixer withdrawals.
    assert!(plan.blocks.windows(2).all(|w| w[0].time < w[1].time));
    let span = plan.blocks.last().unwrap().time;
    assert!(span > 86_400, "the scenario spans {span} s");
}

#[test]
fn ground_truth_is_consistent_and_tampering_is_caught() {
    let plan = Scenario::plan(&small(3)).unwrap();
    let truth = dry_run(&plan);
    truth.check().unwrap();
    let stolen_eth = plan.config.stolen_eth;
    assert_eq!(truth.incident.stolen.len(), 2);
    assert!(truth.resting_total(RestingKind::ExchangeDeposit, Asset::Eth) > stolen_eth / 3);
    assert!(truth.resting_total(RestingKind::FreezableStablecoin, Asset::Susd) > 0);
    assert!(truth.resting_total(RestingKind::MixerDark, Asset::Eth) > 0);
    assert!(truth.resting_total(RestingKind::ExchangeDeposit, Asset::Susd) > 0);
    assert!(truth.links.iter().any(|l| l.kind == "swap"));
    assert!(truth.links.iter().any(|l| l.kind == "mixer"));
    assert!(truth.resting_total(RestingKind::PrivacyExit, Asset::Ltc) > 0);
    assert!(truth.resting_total(RestingKind::ExchangeDeposit, Asset::Ltc) > 0);
    // LIFO per UTXO tx, by hand on the peel chain's first hop: one stolen input, the peel
    // (output 0) takes the back of it, the change the rest, the fee the front.
    let hop = truth.utxo_txs.iter().find(|t| t.purpose == "peel").unwrap();
    assert_eq!(hop.inputs.len(), 1);
    assert_eq!(hop.inputs[0].stolen, hop.inputs[0].amount);
    assert!(hop.outputs.iter().all(|o| o.stolen == o.amount));
    assert_eq!(hop.fee_stolen, hop.fee);
    // The bridge payout carries the lock's stolen part at the link's rate.
    let lock = truth
        .links
        .iter()
        .find(|l| l.kind == "bridge" && l.in_chain == "evm-31337")
        .unwrap();
    assert_eq!(
        lock.stolen_out,
        lock.stolen_in * lock.amount_out / lock.amount_in
    );
    eprintln!(
        "{} evm txs, {} utxo txs ({} heist); links {:?}; resting {:?}",
        truth.txs.len(),
        truth.utxo_txs.len(),
        truth.utxo_txs.iter().filter(|t| t.heist).count(),
        truth
            .links
            .iter()
            .filter(|l| l.in_chain != l.out_chain)
            .map(|l| (
                &l.kind,
                &l.in_chain,
                l.stolen_in,
                l.stolen_out,
                &l.memo_in,
                &l.memo_out
            ))
            .collect::<Vec<_>>(),
        truth
            .resting
            .iter()
            .map(|r| (r.kind, r.asset, r.stolen))
            .collect::<Vec<_>>()
    );

    // A unit added to a transfer, a resting place listed twice, or one dropped: all caught.
    let mut t = truth.clone();
    let tx = t.txs.iter_mut().find(|t| t.purpose == "hop").unwrap();
    tx.transfers[0].stolen += 1;
    assert!(t.check().is_err());
    let mut t = truth.clone();
    let r = t.resting[0].clone();
    t.resting.push(r);
    assert!(t.check().unwrap_err().to_string().contains("twice"));
    let mut t = truth.clone();
    let hop = t.txs.iter_mut().find(|t| t.purpose == "hop").unwrap();
    (hop.block, hop.time) = (0, 0);
    let e = t.check().unwrap_err().to_string();
    assert!(e.contains("no earlier stolen-carrying transfer"), "{e}");
    let mut t = truth.clone();
    t.resting.pop();
    assert!(t.check().is_err());
    // On the UTXO side: an output with one stolen unit fewer, a stolen input moved before the
    // tx that made it, a link paying out more than its rate: all caught.
    let mut t = truth.clone();
    let peel = t.utxo_txs.iter_mut().find(|t| t.purpose == "peel").unwrap();
    peel.outputs[1].stolen -= 1;
    let e = t.check().unwrap_err().to_string();
    assert!(e.contains("stolen in"), "{e}");
    let mut t = truth.clone();
    let cj = t
        .utxo_txs
        .iter_mut()
        .find(|t| t.purpose == "coinjoin")
        .unwrap();
    (cj.height, cj.time) = (0, 0);
    assert!(t.check().is_err());
    let mut t = truth.clone();
    let l = t
        .links
        .iter_mut()
        .find(|l| l.kind == "bridge" && l.stolen_out > 0)
        .unwrap();
    l.stolen_out += 1;
    assert!(t.check().is_err());
    let mut t = truth.clone();
    t.resting.retain(|r| r.kind != RestingKind::PrivacyExit);
    assert!(t.check().is_err());

    let mut t = truth;
    t.txs
        .iter_mut()
        .find(|t| t.purpose == "peel")
        .unwrap()
        .transfers[0]
        .stolen = u128::MAX;
    assert!(t.check().is_err());
}

#[test]
fn impossible_configs_are_refused_before_anything_is_sent() {
    let err = |c: Config| Scenario::plan(&c).unwrap_err().to_string();
    let more = err(Config {
        stolen_eth: 421 * tracehound_sim::config::ETHER,
        ..Config::default()
    });
    assert!(more.contains("more than the victim holds"), "{more}");
    let tok = err(Config {
        stolen_token: Config::default().victim_token + 1,
        ..Config::default()
    });
    assert!(tok.contains("more than the victim holds"), "{tok}");
    let zero = err(Config {
        users: 0,
        ..Config::default()
    });
    assert!(zero.contains("users is 0"), "{zero}");
    let fan = err(Config {
        fan_out: 0,
        ..Config::default()
    });
    assert!(fan.contains("fan_out is 0"), "{fan}");
    let chain = err(Config {
        chain: "solana".into(),
        ..Config::default()
    });
    assert!(chain.contains("unknown chain \"solana\""), "{chain}");
    let nothing = err(Config {
        stolen_eth: 0,
        stolen_token: 0,
        ..Config::default()
    });
    assert!(nothing.contains("nothing is stolen"), "{nothing}");
    let denoms = err(Config {
        mixer_denominations: vec![10, 1],
        ..Config::default()
    });
    assert!(denoms.contains("ascending"), "{denoms}");
    // The UTXO side: a bridge to an unknown chain, more users than its chain can fund, no
    // ether to bridge, a bad rate.
    let chain = err(Config {
        utxo_chain: "dogecoin".into(),
        ..Config::default()
    });
    assert!(
        chain.contains("unknown chain") && chain.contains("dogecoin"),
        "{chain}"
    );
    let many = err(Config {
        users: 400,
        ..Config::default()
    });
    assert!(
        many.contains("users is 400") && many.contains("utxo"),
        "{many}"
    );
    let no_eth = err(Config {
        stolen_eth: 0,
        ..Config::default()
    });
    assert!(no_eth.contains("bridges stolen ether"), "{no_eth}");
    let rate = err(Config {
        ltc_per_eth: 0,
        ..Config::default()
    });
    assert!(rate.contains("ltc_per_eth"), "{rate}");
    let peers = err(Config {
        coinjoin_peers: 12,
        ..Config::default()
    });
    assert!(peers.contains("coinjoin_peers"), "{peers}");
    let long = err(Config {
        background_blocks: 400,
        ..Config::default()
    });
    assert!(long.contains("MWEB"), "{long}");
    // Off, the same config plans the EVM half alone.
    let evm = Scenario::plan(&Config {
        stolen_eth: 0,
        utxo: false,
        ..Config::default()
    })
    .unwrap();
    assert!(evm.utxo.is_none());

    // From a file: unknown fields and bad JSON name the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"seed": 1, "victims": 3}"#).unwrap();
    let e = Config::from_json_file(&path).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("victims"), "{e}");
    std::fs::write(
        &path,
        r#"{"seed": 9, "users": 5, "stolen_eth": 300123456789012345678}"#,
    )
    .unwrap();
    let c = Config::from_json_file(&path).unwrap();
    assert_eq!((c.seed, c.users, c.exchanges), (9, 5, 2));
    assert_eq!(c.stolen_eth, 300_123_456_789_012_345_678);
    std::fs::write(&path, r#"{"stolen_eth": 999000000000000000000}"#).unwrap();
    let e = Config::from_json_file(&path).unwrap_err().to_string();
    assert!(e.contains("more than the victim holds"), "{e}");
}
