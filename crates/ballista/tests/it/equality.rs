//! Every job on a two-executor cluster gives the embedded engine's result exactly (the
//! embedded engine is itself tested equal to the native engines in `tracehound-jobs`).

use std::future::Future;
use std::time::Duration;

use tracehound_jobs::trace::Policy;
use tracehound_jobs::{balances, cluster, exposure, trace};

use crate::cluster::Cluster;
use crate::fixture::{ACCOUNT_CHAIN, Heist};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_on_ballista_equals_the_embedded_engine() {
    let heist = Heist::new(320);
    let dir = heist.dir.path();
    let nodes = Cluster::start(&dir.join("cluster"), 2, 2);

    let (embedded, local) = heist.embedded().await;
    let (remote, distributed) = nodes.session(&heist.dataset()).await;
    let (e, d) = (dir.join("embedded"), dir.join("ballista"));

    let want = balances::run(&embedded, &local, &e).await.unwrap();
    let got = bounded(balances::run(&remote, &distributed, &d)).await;
    assert!(want.result.len() > 500, "{} balances", want.result.len());
    let accounts = want
        .result
        .iter()
        .filter(|b| b.chain == ACCOUNT_CHAIN.name());
    assert!(accounts.count() > 800, "the account chain's balances");
    assert_eq!(got.result, want.result, "balances");
    println!(
        "balances: {} rows, embedded {:.2} s, ballista {:.2} s",
        want.result.len(),
        want.seconds,
        got.seconds
    );

    let want = cluster::run(&embedded, &local, &e).await.unwrap();
    let got = bounded(cluster::run(&remote, &distributed, &d)).await;
    assert!(!want.result.coinjoins.is_empty(), "the heist has CoinJoins");
    assert_eq!(got.result, want.result, "cluster");
    assert_eq!(got.iterations, want.iterations);
    println!(
        "cluster: {} iterations, embedded {:.2} s, ballista {:.2} s",
        want.iterations, want.seconds, got.seconds
    );

    // The last without a source: no query may read an empty table (Ballista 55 never
    // finishes a union with an empty input).
    for (policy, hops, source) in [
        (Policy::Haircut, 6, true),
        (Policy::Poison, 3, true),
        (Policy::Haircut, 4, false),
    ] {
        let mut request = heist.trace_request(policy, hops);
        if !source {
            request.sources.clear();
        }
        let want = trace::run(&embedded, &local, &e, &request).await.unwrap();
        let got = bounded(trace::run(&remote, &distributed, &d, &request)).await;
        assert!(want.result.hops.len() > 10);
        // Both chains, and the account chain in ether and tokens.
        let assets: std::collections::BTreeSet<(&str, &str)> = want
            .result
            .totals
            .iter()
            .map(|t| (t.chain.as_str(), t.asset.as_str()))
            .collect();
        assert!(assets.len() >= 3, "{assets:?}");
        assert_eq!(
            got.result, want.result,
            "trace {policy:?} (source: {source})"
        );
        println!(
            "trace {policy:?} {hops} hops: {} hops, embedded {:.2} s, ballista {:.2} s",
            want.result.hops.len(),
            want.seconds,
            got.seconds
        );
    }

    let request = heist.exposure_request();
    let want = exposure::run(&embedded, &local, &e, &request)
        .await
        .unwrap();
    let got = bounded(exposure::run(&remote, &distributed, &d, &request)).await;
    let accounts = want
        .result
        .iter()
        .filter(|r| r.chain == ACCOUNT_CHAIN.name());
    assert!(accounts.count() > 300, "the account chain's exposures");
    assert!(want.result.len() > 320, "and the heist's");
    assert_eq!(got.result, want.result, "exposure");
    println!(
        "exposure: {} rows, embedded {:.2} s, ballista {:.2} s",
        want.result.len(),
        want.seconds,
        got.seconds
    );
}

/// A job on the cluster, failed if it neither ends nor fails within 5 minutes (a hung job
/// is a failure the test must name, not wait out).
async fn bounded<T>(job: impl Future<Output = Result<T, tracehound_jobs::JobError>>) -> T {
    tokio::time::timeout(Duration::from_secs(300), job)
        .await
        .expect("the job on Ballista neither ended nor failed within 300 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_scheduler_is_named() {
    let port = crate::cluster::free_port();
    let url = format!("df://127.0.0.1:{port}");
    let Err(e) = tracehound_ballista::connect(&url, &Default::default()).await else {
        panic!("nothing listens on {url}, yet connect answered a session");
    };
    assert!(
        matches!(e, tracehound_ballista::BallistaError::Unreachable { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(&url), "{e}");
}
