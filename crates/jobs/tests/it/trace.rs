//! `trace` equals the native engine (links not followed, no labels): every tainted output and
//! fee share, every endpoint, and the totals, under poison and haircut.

use std::collections::BTreeMap;

use tracehound_core::Chain;
use tracehound_jobs::trace::{self, Policy, StolenOutput, TraceRequest};
use tracehound_sim::FilesConfig;
use tracehound_store::Store;
use tracehound_trace::{Incident, Rules, StolenItem};

use crate::fixture::{child, mainnet_store, session, sim_store};

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
                amount: None,
            })
            .collect(),
        sources: Vec::new(),
        policy,
        max_hops,
        dust: 0,
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
        .map(|e| {
            (
                (e.place.clone(), e.stop.clone()),
                (u128::from(e.amount), e.hops),
            )
        })
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
                u128::from(h.value),
                u128::from(h.taint),
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
