//! An executor SIGKILLed while a job runs: the job completes with the embedded result, or
//! fails with an error; it never gives a wrong result or leaves a result looking complete.

use std::time::Duration;

use tracehound_jobs::trace::Policy;

use crate::cluster::Cluster;
use crate::fixture::Heist;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_mid_job_never_gives_a_wrong_result() {
    let heist = Heist::new(320);
    let dir = heist.dir.path();
    let request = heist.utxo_trace_request(Policy::Haircut, 12);

    let (embedded, local) = heist.embedded().await;
    let want = tracehound_jobs::trace::run(&embedded, &local, &dir.join("embedded"), &request)
        .await
        .unwrap();

    let mut nodes = Cluster::start(&dir.join("cluster"), 2, 1);
    let (remote, distributed) = nodes.session(&heist.dataset()).await;
    let out = dir.join("ballista");
    let job = {
        let (remote, distributed, out, request) = (
            remote.clone(),
            distributed.clone(),
            out.clone(),
            request.clone(),
        );
        tokio::spawn(async move {
            tracehound_jobs::trace::run(&remote, &distributed, &out, &request).await
        })
    };
    // The haircut trace iterates for seconds on this cluster; kill one executor a few
    // iterations in, while tasks are running on both.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !job.is_finished(),
        "the job ended before the kill: make it longer"
    );
    nodes.kill_executor(1);
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(300), job)
        .await
        .expect("the job neither completed nor failed within 300 s of the kill")
        .unwrap();
    match ended {
        Ok(got) => {
            assert_eq!(
                got.result, want.result,
                "a completed job has the right result"
            );
            println!(
                "completed on the surviving executor {:.1} s after the kill ({} iterations)",
                started.elapsed().as_secs_f64(),
                got.iterations
            );
        }
        Err(e) => {
            println!(
                "failed {:.1} s after the kill: {e}",
                started.elapsed().as_secs_f64()
            );
            assert!(
                !out.join("trace_hops").exists(),
                "a failed job leaves no result looking complete"
            );
        }
    }
}
