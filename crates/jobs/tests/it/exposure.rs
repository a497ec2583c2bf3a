//! `exposure` equals the native labeled walk (`tracehound_screen::walk`) for every origin and
//! direction: the same addresses, assets, amounts, shares and hops, on a UTXO chain and on an
//! account chain.

use std::collections::HashSet;

use tracehound_core::{Chain, Hash32};
use tracehound_jobs::exposure::{self, Direction, ExposureRequest, Origin};
use tracehound_screen::walk::{AccountFlows, FlowGraph, UtxoFlows, WalkLimits, WalkOrigin, walk};
use tracehound_sim::FilesConfig;

use crate::fixture::{ACCOUNT_CHAIN, account_store, child, session, sim_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposure_equals_the_native_walk_on_the_simulators_heist() {
    let chain = Chain::LitecoinRegtest;
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
    // Origins: whoever the theft paid (as if sanctioned). Stops: every labeled address but
    // those (exchanges, the swap vault, the privacy exit …).
    let mut origins: Vec<String> = Vec::new();
    for tx in &truth.incident.txs {
        let txid: Hash32 = tx.parse().unwrap();
        for view in stored.store.tx(Some(chain), &txid).unwrap() {
            for o in view.outputs {
                if let Some(a) = o.address
                    && !origins.contains(&a)
                {
                    origins.push(a);
                }
            }
        }
    }
    assert!(!origins.is_empty());
    let stops: HashSet<String> = truth
        .labels
        .iter()
        .filter(|l| !origins.contains(&l.address))
        .map(|l| l.address.clone())
        .collect();
    let (hops, max_frontier, max_history) = (3, 50, 200);
    let request = ExposureRequest {
        origins: origins
            .iter()
            .map(|a| Origin {
                chain: chain.name(),
                address: a.clone(),
                kind: "sanctioned".into(),
            })
            .collect(),
        stops: stops.iter().map(|a| (chain.name(), a.clone())).collect(),
        hops,
        max_frontier,
        max_history,
    };
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, dataset) = session(&stored.store, &child(&tmp, "dataset")).await;
    let out = exposure::run(&ctx, &dataset, &child(&tmp, "out"), &request)
        .await
        .unwrap();

    let mut graph = UtxoFlows::new(&stored.store, chain, max_history as usize).unwrap();
    let want = native(&mut graph, chain, &origins, &stops, &request);
    let got = rows(&out.result);
    println!(
        "{} origins: {} exposures ({} at hop 3)",
        origins.len(),
        got.len(),
        got.iter().filter(|g| g.6 == 3).count()
    );
    assert!(want.len() > 20, "{} exposures", want.len());
    assert_eq!(got, want);
}

/// (origin, direction, address, asset, amount, share, hops), sorted.
type Row = (String, Direction, String, String, u128, Option<u32>, u32);

fn rows(result: &[exposure::ExposureRow]) -> Vec<Row> {
    let mut got: Vec<Row> = result
        .iter()
        .map(|r| {
            (
                r.origin.clone(),
                r.direction,
                r.address.clone(),
                r.asset.clone(),
                r.amount,
                r.share_bps,
                r.hops,
            )
        })
        .collect();
    got.sort();
    got
}

/// The native walk from every origin, both ways.
fn native(
    graph: &mut dyn FlowGraph,
    chain: Chain,
    origins: &[String],
    stops: &HashSet<String>,
    request: &ExposureRequest,
) -> Vec<Row> {
    let passes = |a: &str| !stops.contains(a);
    let mut want = Vec::new();
    for o in origins {
        let origin = WalkOrigin {
            chain,
            address: o.clone(),
            origin: tracehound_screen::Origin::Sanctioned,
            label: None,
        };
        for (direction, native) in [
            (Direction::Incoming, tracehound_screen::Direction::Incoming),
            (Direction::Outgoing, tracehound_screen::Direction::Outgoing),
        ] {
            let limits = WalkLimits {
                hops: request.hops,
                max_frontier: request.max_frontier as usize,
            };
            for (address, e) in walk(graph, &origin, native, limits, &passes).unwrap() {
                want.push((
                    o.clone(),
                    direction,
                    address,
                    e.asset,
                    e.amount,
                    e.share_bps,
                    e.hops,
                ));
            }
        }
    }
    want.sort();
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposure_equals_the_native_walk_on_an_account_chain() {
    let (stored, world) = account_store(11, 1500);
    let people = &world.people;
    // Origins: a hub (over the history cap: no exposures) and five others; stops: a hub and
    // another (as if exchanges).
    let origins: Vec<String> = [0, 10, 25, 40, 77, 150]
        .iter()
        .map(|&i| people[i].clone())
        .collect();
    let stops: HashSet<String> = [people[1].clone(), people[30].clone()].into();
    let request = ExposureRequest {
        origins: origins
            .iter()
            .map(|a| Origin {
                chain: ACCOUNT_CHAIN.name(),
                address: a.clone(),
                kind: "sanctioned".into(),
            })
            .collect(),
        stops: stops
            .iter()
            .map(|a| (ACCOUNT_CHAIN.name(), a.clone()))
            .collect(),
        hops: 3,
        max_frontier: 25,
        // Above most addresses' transfer counts, below the hubs'.
        max_history: 150,
    };
    let tmp = tempfile::tempdir().unwrap();
    let (ctx, dataset) = session(&stored.store, &child(&tmp, "dataset")).await;
    let out = exposure::run(&ctx, &dataset, &child(&tmp, "out"), &request)
        .await
        .unwrap();
    let mut graph = AccountFlows::new(&stored.store, ACCOUNT_CHAIN, request.max_history as usize);
    let want = native(&mut graph, ACCOUNT_CHAIN, &origins, &stops, &request);
    let got = rows(&out.result);
    let tokens = got.iter().filter(|g| g.3 != "native").count();
    let capped = people
        .iter()
        .filter(|p| {
            let a = tracehound_core::Address::from_canonical(ACCOUNT_CHAIN, (*p).clone());
            stored
                .store
                .account(&a)
                .unwrap()
                .is_some_and(|v| v.transfers > request.max_history)
        })
        .count();
    println!(
        "{} origins: {} exposures ({} in tokens, {} at hop 3); {capped} addresses over the history cap",
        origins.len(),
        got.len(),
        tokens,
        got.iter().filter(|g| g.6 == 3).count()
    );
    assert_eq!(got, want);
    // The world exercises what the rules tell apart: tokens, the third hop, capped hubs.
    assert!(
        want.len() > 300 && tokens > 80 && capped >= 2,
        "{} exposures",
        want.len()
    );
    assert!(want.iter().filter(|w| w.6 == 3).count() > 50);
}
