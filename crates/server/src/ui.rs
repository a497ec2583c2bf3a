//! The web UI: the static assets built from `ui/src` by `scripts/build-ui` (cytoscape.js
//! vendored through npm), embedded in the binary and served at `/`. The app routes by URL
//! fragment, so only real files are served here; everything it shows it reads from the API.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "ui/dist/"]
#[allow_missing = true]
struct Assets;

/// Serves `/` and the UI's files; anything else is the API's not-found answer.
pub(crate) async fn asset(uri: Uri) -> Response {
    let path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    let Some(file) = Assets::get(path) else {
        if path == "index.html" {
            return (
                StatusCode::NOT_FOUND,
                "the web UI was not built into this binary: run scripts/build-ui, then rebuild",
            )
                .into_response();
        }
        return crate::routes::not_found(uri).await.into_response();
    };
    let mut resp = file.data.into_owned().into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // Everything the page loads comes from here; data from the API is text, never markup.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
