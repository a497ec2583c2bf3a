//! `tracehound serve`: the HTTP API (crate `tracehound-server`) over the data dir, and
//! `tracehound token`: its API tokens; `tracehound report`: evidence reports.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use tracehound_server::{AppState, Caps, Config, Role, Tokens};

use crate::args::{Global, ReportArgs, ServeArgs, TokenCommand};
use crate::output;

pub(crate) fn run(global: &Global, args: &ServeArgs) -> anyhow::Result<()> {
    let loopback = args.bind.ip().is_loopback();
    let open_reads = args.open_reads || (loopback && !args.closed_reads);
    let config = Config {
        caps: Caps {
            body_bytes: args.max_body,
            page: args.max_page,
            hops: args.max_hops,
            batch: args.max_batch,
            time: Duration::from_secs(args.max_seconds),
            ..Caps::default()
        },
        open_reads,
        cors_origins: args.cors_origin.clone(),
        links: crate::links::load(args.links.as_deref())?,
    };
    let watch_specs = match &args.watch {
        Some(path) => Some(crate::watch::load_config(path)?),
        None => None,
    };
    let state = AppState::open(global.data(), config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watching = match watch_specs {
        Some(specs) => Some(start_watching(&runtime, &state, specs, &stop_watch)?),
        None => None,
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("listening on {}", args.bind))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "serving {} on http://{addr} (API reference: http://{addr}/api/docs); reads {}, writes need a token; Ctrl-C stops",
            global.data_dir().display(),
            if open_reads { "open" } else { "need a token" }
        );
        if !loopback {
            eprintln!("warning: {addr} is not loopback: the API is reachable from the network");
        }
        // Ctrl-C or SIGTERM stop it gracefully (so `demo --serve` removes its temporary data).
        let stop = stop_signal();
        tracehound_server::serve(listener, state, stop)
            .await
            .context("serving")
    })?;
    stop_watch.store(true, Ordering::Relaxed);
    if let Some((chains, delivery)) = watching {
        chains
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the watch panicked")))?;
        runtime.block_on(delivery)??;
    }
    Ok(())
}

/// Resolves at Ctrl-C or SIGTERM: how `serve` and `watch` are asked to stop.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

type Watching = (
    std::thread::JoinHandle<anyhow::Result<()>>,
    tokio::task::JoinHandle<Result<(), tracehound_monitor::MonitorError>>,
);

/// Follows `specs`' chains on threads of their own and delivers webhooks on the server's
/// runtime, until `stop` is set.
fn start_watching(
    runtime: &tokio::runtime::Runtime,
    state: &Arc<AppState>,
    specs: Vec<crate::watch::ChainSpec>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Watching> {
    let Some(outbox) = state.outbox().cloned() else {
        bail!(
            "--watch: the alert outbox {} is held by another process (a `tracehound watch`?): stop it first",
            tracehound_server::outbox_path(state.data().root()).display()
        );
    };
    let delivery = runtime.spawn(crate::watch::deliver_until(
        Arc::clone(&outbox),
        Arc::clone(stop),
    ));
    let (state, stop) = (Arc::clone(state), Arc::clone(stop));
    let chains = std::thread::spawn(move || -> anyhow::Result<()> {
        let shared = crate::watch::Shared::new(
            state.data(),
            state.store(),
            &outbox,
            Some(state.watch_board().as_ref()),
        )?;
        std::thread::scope(|s| {
            let handles: Vec<_> = specs
                .iter()
                .map(|spec| {
                    let (shared, stop) = (&shared, &stop);
                    s.spawn(move || {
                        // A chain failing for good is shown on the status board; the server
                        // and the other chains go on.
                        if let Err(e) = crate::watch::follow(shared, spec, stop, false, false) {
                            eprintln!("error: {e:#}");
                        }
                    })
                })
                .collect();
            for h in handles {
                let _ = h.join();
            }
        });
        Ok(())
    });
    Ok((chains, delivery))
}

pub(crate) fn token(global: &Global, cmd: TokenCommand) -> anyhow::Result<()> {
    let dir = global.data_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tokens = Tokens::in_dir(&dir);
    match cmd {
        TokenCommand::Create { name, role } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let (token, record) = tokens.create(&name, role)?;
            if global.json {
                return output::json(
                    &serde_json::json!({"token": token, "id": record.id, "name": record.name, "role": record.role}),
                );
            }
            println!("{token}");
            eprintln!(
                "token {} for {} with role {}: shown this once, only its digest is kept",
                record.id,
                record.name,
                role.name()
            );
        }
        TokenCommand::List => {
            let mut list = tokens.list()?;
            for r in &mut list {
                r.digest.clear();
            }
            if global.json {
                return output::json(&list);
            }
            if list.is_empty() {
                println!(
                    "no tokens: `tracehound token create --name NAME --role read|analyst|admin`"
                );
            }
            for r in list {
                println!(
                    "{}  {:<8} {}  (created {})",
                    r.id,
                    r.role.name(),
                    r.name,
                    output::time(r.created)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if !tokens.revoke(&id)? {
                bail!("no token with id {id} (see `tracehound token list`)");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}

pub(crate) fn report(global: &Global, args: &ReportArgs) -> anyhow::Result<()> {
    let data = global.data();
    let store = data.open_store()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let evidence = data.evidence(&store, &args.incident, args.endpoint.as_deref(), now)?;
    let bytes = match args.format.as_str() {
        "html" => evidence.to_html().into_bytes(),
        "json" => evidence.to_json().into_bytes(),
        "pdf" => evidence.to_pdf(),
        other => bail!("--format {other:?}: html, json or pdf"),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "evidence report of {:?}: {} points of intervention, inputs digest sha256:{} → {}",
                args.incident,
                evidence.points.len(),
                evidence.digests.inputs_sha256,
                path.display()
            );
        }
        None if args.format == "pdf" && std::io::stdout().is_terminal() => {
            bail!("--format pdf writes binary: give --out FILE or redirect stdout to a file")
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .context("writing the report to stdout")?,
    }
    Ok(())
}
