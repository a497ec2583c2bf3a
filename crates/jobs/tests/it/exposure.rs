//! `exposure` equals the native labeled walk (`tracehound_screen::walk`) for every origin and
//! direction: the same addresses, amounts, shares and hops.

use std::collections::HashSet;

use tracehound_core::{Chain, Hash32};
use tracehound_jobs::exposure::{self, Direction, ExposureRequest, Origin};
use tracehound_screen::walk::{UtxoFlows, WalkLimits, WalkOrigin, walk};
use tracehound_sim::FilesConfig;

use crate::fixture::{child, session, sim_store};

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
    let passes = |a: &str| !stops.contains(a);
    let mut want = Vec::new();
    for o in &origins {
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
                hops,
                max_frontier: max_frontier as usize,
            };
            for (address, e) in walk(&mut graph, &origin, native, limits, &passes).unwrap() {
                want.push((
                    o.clone(),
                    direction,
                    address,
                    u64::try_from(e.amount).unwrap(),
                    e.share_bps,
                    e.hops,
                ));
            }
        }
    }
    let mut got: Vec<_> = out
        .result
        .iter()
        .map(|r| {
            (
                r.origin.clone(),
                r.direction,
                r.address.clone(),
                r.amount,
                r.share_bps,
                r.hops,
            )
        })
        .collect();
    want.sort();
    got.sort();
    println!(
        "{} origins: {} exposures ({} at hop 3)",
        origins.len(),
        got.len(),
        got.iter().filter(|g| g.5 == 3).count()
    );
    assert!(want.len() > 20, "{} exposures", want.len());
    assert_eq!(got, want);
}
