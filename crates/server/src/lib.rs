//! tracehound's HTTP API: JSON over everything the CLI does with a data dir (status, blocks,
//! txs, addresses, labels, incidents and their traces, screening, patterns, tokens), with its
//! OpenAPI 3 document generated from the handlers at `/api/openapi.json` and a reference page
//! at `/api/docs`; and the web UI at `/`.
//!
//! Security, by default: bound to loopback; every write needs a token whose role allows it
//! ([`tokens`]); reads need one too unless the server was started with open reads (the
//! default on loopback only); request bodies, page sizes, hop counts, batch sizes, result
//! sizes and time are capped ([`Caps`]) and an error names the cap; CORS is off unless origins
//! are configured; errors are structured ([`error`]) and never carry internals.
//!
//! Handlers are thin: each reads its request, calls the operation the CLI calls
//! ([`tracehound_app`]) on a blocking thread under the time cap, and answers JSON.

mod alerts;
pub mod error;
mod extract;
mod routes;
pub mod tokens;
mod ui;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tracehound_app::DataDir;
use tracehound_core::link::LinkConfig;
use tracehound_store::Store;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

pub use error::{ApiError, ErrorBody};
pub use tokens::{Role, TokenRecord, Tokens};
pub use watch::{ChainWatch, WatchBoard};

/// Limits on what one request may ask for.
#[derive(Debug, Clone)]
pub struct Caps {
    /// Largest request body, in bytes.
    pub body_bytes: usize,
    /// Most rows of one page (history, labels).
    pub page: usize,
    /// Most hops a trace may follow.
    pub hops: u32,
    /// Most addresses of one bulk screening.
    pub batch: usize,
    /// Most endpoints a trace result may hold.
    pub endpoints: usize,
    /// Most places and hops a trace may track (the engine's own caps).
    pub trace_nodes: usize,
    /// Longest a request may take.
    pub time: Duration,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            body_bytes: 1 << 20,
            page: 1000,
            hops: 64,
            batch: 10_000,
            endpoints: 100_000,
            trace_nodes: 2_000_000,
            time: Duration::from_secs(60),
        }
    }
}

/// How the server runs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Caps on requests.
    pub caps: Caps,
    /// Whether reads need no token (writes always do).
    pub open_reads: bool,
    /// Origins allowed to call the API from a browser (CORS); none: CORS off.
    pub cors_origins: Vec<String>,
    /// The link config traces follow (built-in merged with the user's `links.toml`).
    pub links: LinkConfig,
}

/// What every handler reads: the data dir, its store (opened once), the alert outbox, what
/// the chains being watched in this process are doing, and the server's config.
pub struct AppState {
    data: DataDir,
    store: Store,
    tokens: Tokens,
    config: Config,
    /// The data dir's alert outbox; none when another process (a `tracehound watch`) holds it.
    alerts: Result<Arc<tracehound_monitor::Outbox>, String>,
    watch: Arc<WatchBoard>,
}

impl AppState {
    /// Opens the data dir's store and alert outbox for serving.
    pub fn open(data: DataDir, config: Config) -> Result<Arc<AppState>, tracehound_app::AppError> {
        let store = data.open_store()?;
        let tokens = Tokens::in_dir(data.root());
        let alerts = tracehound_monitor::Outbox::open(&outbox_path(data.root()))
            .map(Arc::new)
            .map_err(|e| {
                tracing::warn!("alerts are not served: {e}");
                "the alert outbox is held by another process (a `tracehound watch`?): stop it and watch from this server (`tracehound serve --watch FILE`)".to_string()
            });
        Ok(Arc::new(AppState {
            data,
            store,
            tokens,
            config,
            alerts,
            watch: Arc::new(WatchBoard::default()),
        }))
    }

    /// The data dir served.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// Its store (a watcher in this process ingests into it while handlers read).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The alert outbox, if this process holds it.
    pub fn outbox(&self) -> Option<&Arc<tracehound_monitor::Outbox>> {
        self.alerts.as_ref().ok()
    }

    /// What the chains watched by this process are doing (`GET /api/v1/status`).
    pub fn watch_board(&self) -> &Arc<WatchBoard> {
        &self.watch
    }
}

/// The alert outbox of a data dir (`tracehound watch` fills it; the server serves it).
pub fn outbox_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("alerts.redb")
}

/// The API's OpenAPI document (paths are added from the handlers by [`router`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tracehound",
        description = "Blockchain forensics over one multi-chain store: addresses, txs, labels, incidents traced under a taint policy with proof paths, screening and laundering patterns. Amounts are integers in base units, as strings.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("An API token from `tracehound token create` (`th_…`)"))
                        .build(),
                ),
            );
        }
    }
}

/// The API and its document.
pub fn router(state: Arc<AppState>) -> Router {
    let (api, doc) = routes::api(ApiDoc::openapi()).split_for_parts();
    let doc = Arc::new(doc);
    let mut app = api
        .merge(routes::docs(doc, &state.config.caps))
        .fallback(ui::asset)
        .with_state(Arc::clone(&state));
    if !state.config.cors_origins.is_empty() {
        let origins: Vec<axum::http::HeaderValue> = state
            .config
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([
                    axum::http::Method::GET,
                    axum::http::Method::POST,
                    axum::http::Method::DELETE,
                ])
                .allow_headers([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                ]),
        );
    }
    app
}

/// The OpenAPI document as a server with `caps` serves it.
pub fn openapi(caps: &Caps) -> serde_json::Value {
    routes::document(&routes::api(ApiDoc::openapi()).split_for_parts().1, caps)
}

/// Serves `state` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
