//! `trace` equals the native engine (links not followed, no labels): every tainted output, fee
//! share and transfer, every endpoint, and the totals, under poison and haircut, on UTXO and
//! account chains.

use std::collections::BTreeMap;

use tracehound_core::Chain;
use tracehound_jobs::trace::{self, Policy, SourceAddress, StolenOutput, TraceRequest};
use tracehound_sim::FilesConfig;
use tracehound_store::Store;
use tracehound_trace::{Incident, Rules, SourceItem, StolenItem};

use crate::fixture::{ACCOUNT_CHAIN, account_store, child, mainnet_store, session, sim_store};

fn native_policy(p: Policy) -> tracehound_trace::Policy {
    match p {
        Policy::Poison => tracehound_trace::Policy::Poison,
        Policy::Haircut => tracehound_trace::Policy::Haircut,
    }
}

/// Runs both engines on `stolen` and compares everything; returns (tainted hops, iterations).
async fn compare(
    store: &Store,
    chain: Chain,
    stolen: &[(String, Option<u32>)],
    policy: Policy,
    max_hops: u32,
    tmp: &tempfile::TempDir,
) -> (usize, u32) {
    let request = TraceRequest {
        stolen: stolen
            .iter()
            .map(|(tx, vout)| StolenOutput {
                chain: chain.name(),
                txid: tx.clone(),
                vout: *vout,
                sub_index: None,
                amount: None,
            })
            .collect(),
        sources: Vec::new(),
        policy,
        max_hops,
        dust: Default::default(),
        assets: Vec::new(),
    };
    let (ctx, dataset) = session(store, &child(tmp, "dataset")).await;
    let out = trace::run(&ctx, &dataset, &child(tmp, "out"), &request)
        .await
        .unwrap();
    let incident = Incident {
        name: "compare".into(),
        stolen: stolen
            .iter()
            .map(|(tx, vout)| StolenItem {
                chain: chain.name(),
                tx: tx.clone(),
                vout: *vout,
                sub_index: None,
                amount: None,
            })
            .collect(),
        ..Incident::default()
    };
    let mut rules = Rules::new(native_policy(policy));
    rules.max_hops = max_hops;
    rules.links.follow = false;
    let native = tracehound_trace::trace(store, &incident, rules).unwrap();

    // Endpoints: (place, stop) → (amount, fewest hops).
    let mut want: BTreeMap<(String, String), (u128, u32)> = BTreeMap::new();
    for e in &native.endpoints {
        let w = want
            .entry((e.address.clone(), e.stop.name().to_string()))
            .or_insert((0, u32::MAX));
        w.0 += e.amount;
        w.1 = w.1.min(e.hops);
    }
    let got: BTreeMap<(String, String), (u128, u32)> = out
        .result
        .endpoints
        .iter()
        .map(|e| ((e.place.clone(), e.stop.clone()), (e.amount, e.hops)))
        .collect();
    assert_eq!(got.len(), want.len(), "endpoint count");
    for (k, v) in &want {
        assert_eq!(got.get(k), Some(v), "endpoint {k:?}");
    }
    // Every hop: (at, place, value, taint), as a multiset.
    let mut want_hops: Vec<(String, String, u128, u128)> = native
        .edges
        .iter()
        // A stolen output of no value (OP_RETURN) is an edge of 0 in the native graph; the
        // job does not list what carries no taint.
        .filter(|h| h.tainted > 0)
        .map(|h| (h.at.to_string(), h.to.to_string(), h.value, h.tainted))
        .collect();
    let mut got_hops: Vec<(String, String, u128, u128)> = out
        .result
        .hops
        .iter()
        .map(|h| {
            (
                format!("{}:{}", h.height, h.tx_index),
                h.place.clone(),
                h.value,
                h.taint,
            )
        })
        .collect();
    want_hops.sort();
    got_hops.sort();
    assert_eq!(got_hops, want_hops);
    // Totals.
    let summary = native
        .summary
        .assets
        .iter()
        .find(|a| a.chain == chain.name())
        .unwrap();
    let totals = &out.result.totals[0];
    assert_eq!(totals.asset, "native");
    assert_eq!(totals.stolen, summary.stolen);
    assert_eq!(totals.fees, summary.fees);
    assert_eq!(totals.dark, summary.dark);
    assert_eq!(totals.dust, summary.dust);
    assert_eq!(totals.still_moving, summary.still_moving);
    if policy == Policy::Haircut {
        // Conservation: every stolen unit rests somewhere, never more.
        assert_eq!(totals.placed, totals.stolen);
    }
    (out.result.hops.len(), out.iterations)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_equals_native_on_the_simulators_heist() {
    let (stored, truth) = sim_store(&FilesConfig {
        seed: 3,
        blocks: 320,
        txs_per_block: 60,
        users: 400,
        exchanges: 3,
        fan_out: 6,
        hops: 4,
        coinjoin_peers: 4,
        ..FilesConfig::default()
    });
    let stolen: Vec<(String, Option<u32>)> = truth
        .incident
        .txs
        .iter()
        .map(|t| (t.clone(), None))
        .collect();
    for (policy, max_hops) in [
        (Policy::Haircut, 64),
        (Policy::Poison, 64),
        (Policy::Haircut, 3),
        (Policy::Poison, 2),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (hops, iterations) = compare(
            &stored.store,
            Chain::LitecoinRegtest,
            &stolen,
            policy,
            max_hops,
            &tmp,
        )
        .await;
        println!(
            "sim {policy:?}, {max_hops} hops: {hops} tainted outputs and fees, {iterations} iterations"
        );
        assert!(hops > 10);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_equals_native_on_mainnet_blocks() {
    let stored = mainnet_store();
    // Block 9's coinbase, spent in block 170 (Satoshi to Hal Finney) and on.
    let coinbase_9 = "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9";
    for policy in [Policy::Haircut, Policy::Poison] {
        let tmp = tempfile::tempdir().unwrap();
        let (hops, _) = compare(
            &stored.store,
            Chain::BitcoinMainnet,
            &[(coinbase_9.to_string(), Some(0))],
            policy,
            64,
            &tmp,
        )
        .await;
        assert!(hops >= 3, "{hops}");
    }
}

/// Endpoints as (place, asset, stop) → (amount, fewest hops), tainted transfers as (at,
/// place, asset) → (value, taint), totals as (asset) → (stolen, fees, dust, still moving).
type Compared = (
    BTreeMap<(String, String, String), (u128, u32)>,
    BTreeMap<(String, String, String), (u128, u128)>,
    BTreeMap<String, (u128, u128, u128, u128)>,
);

/// Runs both engines on an account chain and compares everything; returns the job's view.
async fn compare_account(
    store: &Store,
    incident: &Incident,
    policy: Policy,
    max_hops: u32,
    dust: &[(&str, u128)],
    tmp: &tempfile::TempDir,
) -> (Compared, u32) {
    let request = TraceRequest {
        stolen: incident
            .stolen
            .iter()
            .map(|s| StolenOutput {
                chain: s.chain.clone(),
                txid: s.tx.clone(),
                vout: None,
                sub_index: s.sub_index,
                amount: s.amount,
            })
            .collect(),
        sources: incident
            .sources
            .iter()
            .map(|s| SourceAddress {
                chain: s.chain.clone(),
                address: s.address.clone(),
                since: s.since,
            })
            .collect(),
        policy,
        max_hops,
        dust: dust.iter().map(|(a, d)| ((*a).to_string(), *d)).collect(),
        assets: incident.assets.clone(),
    };
    let (ctx, dataset) = session(store, &child(tmp, "dataset")).await;
    let out = trace::run(&ctx, &dataset, &child(tmp, "out"), &request)
        .await
        .unwrap();

    let mut rules = Rules::new(native_policy(policy));
    rules.max_hops = max_hops;
    rules.links.follow = false;
    rules.caps.max_history = 1 << 30;
    rules.caps.max_nodes = 1 << 30;
    rules.caps.max_edges = 1 << 30;
    for (asset, d) in dust {
        rules.dust.insert((*asset).to_string(), *d);
    }
    let native = tracehound_trace::trace(store, incident, rules).unwrap();

    let mut want: Compared = Default::default();
    for e in &native.endpoints {
        let w = want
            .0
            .entry((
                e.address.clone(),
                e.asset.clone(),
                e.stop.name().to_string(),
            ))
            .or_insert((0, u32::MAX));
        w.0 += e.amount;
        w.1 = w.1.min(e.hops);
    }
    for h in native.edges.iter().filter(|h| h.tainted > 0) {
        let w = want
            .1
            .entry((h.at.to_string(), h.to.to_string(), h.asset.to_string()))
            .or_insert((h.value, 0));
        w.1 += h.tainted;
    }
    for a in &native.summary.assets {
        want.2
            .insert(a.asset.clone(), (a.stolen, a.fees, a.dust, a.still_moving));
    }
    let mut got: Compared = Default::default();
    for e in &out.result.endpoints {
        assert!(
            got.0
                .insert(
                    (e.place.clone(), e.asset.clone(), e.stop.clone()),
                    (e.amount, e.hops)
                )
                .is_none()
        );
    }
    for h in &out.result.hops {
        let at = format!("{}:{}:{}", h.height, h.tx_index, h.sub_index.unwrap());
        assert!(
            got.1
                .insert((at, h.place.clone(), h.asset.clone()), (h.value, h.taint))
                .is_none()
        );
    }
    for t in &out.result.totals {
        got.2
            .insert(t.asset.clone(), (t.stolen, t.fees, t.dust, t.still_moving));
        if policy == Policy::Haircut {
            // Conservation: every stolen unit rests somewhere, never more.
            assert_eq!(t.placed, t.stolen, "{}", t.asset);
        }
    }
    // Transfers first, the earliest difference first: the rest follows from it.
    let key = |k: &(String, String, String)| {
        let n: Vec<u64> = k.0.split(':').map(|x| x.parse().unwrap()).collect();
        (n, k.1.clone(), k.2.clone())
    };
    let mut keys: Vec<&(String, String, String)> = want.1.keys().chain(got.1.keys()).collect();
    keys.sort_by_key(|k| key(k));
    keys.dedup();
    for k in keys {
        assert_eq!(
            got.1.get(k),
            want.1.get(k),
            "tainted transfer {k:?} (job, native)"
        );
    }
    assert_eq!(got.0.len(), want.0.len(), "endpoint count");
    for (k, v) in &want.0 {
        assert_eq!(got.0.get(k), Some(v), "endpoint {k:?}");
    }
    // Assets the native summary lists with nothing in them have no row in the job's.
    want.2.retain(|_, v| *v != (0, 0, 0, 0));
    assert_eq!(got.2, want.2, "totals");
    (got, out.iterations)
}

const TOKEN_A: &str = "0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5aa001";
const TOKEN_B: &str = "0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5aa002";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_equals_native_on_an_account_chain() {
    let (stored, world) = account_store(11, 1500);
    let chain = ACCOUNT_CHAIN.name();
    // Stolen: a whole tx of several transfers, one transfer of another by its sub-index and
    // part of its amount, and a source (not a hub) from a time on.
    let txs: Vec<&tracehound_core::AccountBlock> = world.blocks.iter().collect();
    let pick = |height: usize, many: bool| {
        txs[height..]
            .iter()
            .flat_map(|b| b.txs.iter().map(move |t| (b, t)))
            .find(|(b, t)| {
                let n = b
                    .transfers
                    .iter()
                    .map(|x| &x.transfer)
                    .filter(|x| {
                        x.tx.index == t.index
                            && x.kind != tracehound_core::TransferKind::Fee
                            && x.kind != tracehound_core::TransferKind::Nft
                            && x.from != x.to
                    })
                    .count();
                if many { n >= 2 } else { n == 1 }
            })
            .map(|(b, t)| {
                let sub = b
                    .transfers
                    .iter()
                    .map(|x| &x.transfer)
                    .find(|x| x.tx.index == t.index && x.kind != tracehound_core::TransferKind::Fee)
                    .map(|x| (x.sub_index, x.amount.units()))
                    .unwrap();
                (format!("0x{}", t.hash), sub)
            })
            .unwrap()
    };
    let (whole, _) = pick(40, true);
    let (part, (sub, amount)) = pick(200, false);
    let source = world.people[57].clone();
    let incident = Incident {
        name: "account".into(),
        stolen: vec![
            StolenItem {
                chain: chain.clone(),
                tx: whole,
                vout: None,
                sub_index: None,
                amount: None,
            },
            StolenItem {
                chain: chain.clone(),
                tx: part,
                vout: None,
                sub_index: Some(sub),
                amount: Some(amount / 3 + 1),
            },
        ],
        sources: vec![SourceItem {
            chain: chain.clone(),
            address: source,
            since: Some(world.blocks[300].block.time),
        }],
        ..Incident::default()
    };
    let mut all_stops = std::collections::BTreeSet::new();
    let dust: &[(&str, u128)] = &[
        ("native", 10u128.pow(15)),
        (TOKEN_A, 10u128.pow(9)),
        (TOKEN_B, 10u128.pow(20)),
    ];
    for (policy, max_hops, dust) in [
        (Policy::Haircut, 64, &[][..]),
        (Policy::Poison, 64, &[]),
        (Policy::Haircut, 2, &[]),
        (Policy::Haircut, 64, dust),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let ((ends, hops, totals), iterations) =
            compare_account(&stored.store, &incident, policy, max_hops, dust, &tmp).await;
        let stops: std::collections::BTreeSet<&str> = ends.keys().map(|k| k.2.as_str()).collect();
        println!(
            "account {policy:?}, {max_hops} hops, dust {dust:?}: {} tainted transfers, {} endpoints ({stops:?}), {} assets, {iterations} iterations",
            hops.len(),
            ends.len(),
            totals.len()
        );
        assert!(hops.len() > 50 && totals.len() >= 2, "{totals:?}");
        all_stops.extend(stops.into_iter().map(str::to_string));
    }
    // Only ether said stolen: the stolen tx's token transfers and the source's token sends
    // are not seeds.
    let ether = Incident {
        assets: vec!["native".into()],
        ..incident.clone()
    };
    let tmp = tempfile::tempdir().unwrap();
    let ((_, hops, totals), _) =
        compare_account(&stored.store, &ether, Policy::Haircut, 64, &[], &tmp).await;
    println!(
        "account, ether only: {} tainted transfers, {} assets",
        hops.len(),
        totals.len()
    );
    assert!(hops.keys().all(|k| k.2 == "native") && !hops.is_empty());
    // Named twice: a stolen transfer's parts add up (to its amount at most), and a source's
    // last naming counts (here the same address in capitals).
    let mut twice = incident.clone();
    twice.stolen.push(twice.stolen[1].clone());
    twice.stolen.push(twice.stolen[1].clone());
    twice.sources.push(SourceItem {
        address: twice.sources[0]
            .address
            .to_uppercase()
            .replacen("0X", "0x", 1),
        ..twice.sources[0].clone()
    });
    let tmp = tempfile::tempdir().unwrap();
    compare_account(&stored.store, &twice, Policy::Haircut, 64, &[], &tmp).await;
    // Every rule the account walk has was met: fees, dust, the hop limit, taint at rest.
    assert_eq!(
        all_stops,
        ["dust", "fee", "hop_limit", "unmoved"]
            .map(str::to_string)
            .into()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_trace_refuses_bad_requests() {
    let (stored, world) = account_store(5, 120);
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, dataset) = session(&stored.store, &child(&tmp, "dataset")).await;
    let chain = ACCOUNT_CHAIN.name();
    let tx = world.blocks[30].txs[0].hash;
    let stolen = |txid: String, vout: Option<u32>, sub_index: Option<u32>, amount| TraceRequest {
        stolen: vec![StolenOutput {
            chain: chain.clone(),
            txid,
            vout,
            sub_index,
            amount,
        }],
        sources: Vec::new(),
        policy: Policy::Haircut,
        max_hops: 8,
        dust: Default::default(),
        assets: Vec::new(),
    };
    let cases = [
        (
            stolen(format!("0x{}", "ab".repeat(32)), None, None, None),
            "is not in the dataset",
        ),
        (
            stolen(format!("0x{tx}"), Some(0), None, None),
            "vout is for UTXO chains",
        ),
        (
            stolen(format!("0x{tx}"), None, Some(999), None),
            "has no transfer at sub_index 999",
        ),
        (
            stolen(format!("0x{tx}"), None, Some(0), Some(u128::MAX)),
            "exceeds the transfer's",
        ),
        (
            TraceRequest {
                stolen: Vec::new(),
                sources: vec![SourceAddress {
                    chain: chain.clone(),
                    address: world.people[9].clone(),
                    since: Some(u64::MAX / 2),
                }],
                ..stolen(String::new(), None, None, None)
            },
            "sends nothing from time",
        ),
    ];
    for (i, (request, want)) in cases.into_iter().enumerate() {
        let err = trace::run(&ctx, &dataset, &child(&tmp, &format!("out{i}")), &request)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
        // Nothing is written as a result.
        assert!(!child(&tmp, &format!("out{i}")).join("trace_hops").exists());
    }
}
