//! Alerts raised by the chains watched in this process, their deliveries, a live stream of
//! them (server-sent events) for the web UI, and the webhook subscriptions they go to.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use tracehound_monitor::{Alert, DeliveryStatus, NewSubscription, Outbox, Subscription};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, Body, Caller, Params, PathParams};
use crate::routes::{blocking, page};
use crate::tokens::Role;
use crate::{ApiError, AppState};

type Shared = State<Arc<AppState>>;

fn outbox(s: &AppState) -> Result<&Arc<Outbox>, ApiError> {
    s.alerts
        .as_ref()
        .map_err(|why| ApiError::unavailable(why.clone()))
}

fn outbox_error(e: tracehound_monitor::MonitorError) -> ApiError {
    tracing::error!("alert outbox: {e}");
    ApiError::internal("reading or writing the alert outbox failed")
}

/// Which alerts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AlertsQuery {
    /// Only alerts after this sequence number.
    #[param(minimum = 0)]
    after: Option<u64>,
    /// At most this many (the server's page cap).
    #[param(minimum = 1)]
    limit: Option<usize>,
}

/// An alert with where its deliveries stand.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertRow {
    /// Its sequence number (order raised).
    seq: u64,
    /// The alert.
    #[schema(value_type = Object)]
    alert: Alert,
    /// Per subscription: pending, delivered or dead, with attempts and the last error.
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<DeliveryStatus>,
}

/// Alerts in the order raised, with their deliveries.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = Vec<AlertRow>), (status = 400, body = crate::ErrorBody),
              (status = 401, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody), (status = 503, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn alerts_list(
    State(s): Shared,
    caller: Caller,
    Params(q): Params<AlertsQuery>,
) -> Result<Json<Vec<AlertRow>>, ApiError> {
    caller.require(Role::Read)?;
    if q.limit == Some(0) {
        return Err(ApiError::bad_request("limit must be at least 1").field("limit"));
    }
    let limit = page(&s, q.limit)?;
    let after = sequence(q.after)?;
    let rows = blocking(&s, move |s| {
        let outbox = outbox(s)?;
        let alerts = outbox.alerts(after, limit).map_err(outbox_error)?;
        let mut rows = Vec::with_capacity(alerts.len());
        for (seq, alert) in alerts {
            let deliveries = outbox.deliveries(Some(seq)).map_err(outbox_error)?;
            rows.push(AlertRow {
                seq,
                alert,
                deliveries,
            });
        }
        Ok(rows)
    })
    .await?;
    Ok(Json(rows))
}

/// A sequence number as asked for: the outbox's are below 2^63 (the document says int64).
fn sequence(after: Option<u64>) -> Result<u64, ApiError> {
    match after {
        Some(n) if n > i64::MAX as u64 => Err(ApiError::bad_request(format!(
            "after {n} is beyond any sequence number (at most {})",
            i64::MAX
        ))
        .field("after")),
        n => Ok(n.unwrap_or(0)),
    }
}

/// How long a stream stays open.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Start after this sequence number (a reconnecting client sends its last one; the
    /// `Last-Event-ID` header is not read).
    #[param(minimum = 0)]
    after: Option<u64>,
    /// Close the stream after this many seconds (default and most: the server's time cap).
    #[param(minimum = 1)]
    seconds: Option<u64>,
}

/// New alerts as they are raised, as server-sent events (`event: alert`, `id:` the sequence
/// number, `data:` the alert's JSON). The stream ends after `seconds` (reconnect with `after`).
#[utoipa::path(get, path = "/api/v1/alerts/stream", tag = "alerts", params(StreamQuery),
    responses((status = 200, description = "text/event-stream of alerts", content_type = "text/event-stream"),
              (status = 400, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody),
              (status = 403, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 503, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn alerts_stream(
    State(s): Shared,
    caller: Caller,
    Params(q): Params<StreamQuery>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Role::Read)?;
    let outbox = Arc::clone(outbox(&s)?);
    let cap = s.config.caps.time;
    let seconds = q.seconds.unwrap_or(cap.as_secs());
    if seconds == 0 {
        return Err(ApiError::bad_request("seconds must be at least 1").field("seconds"));
    }
    if seconds > cap.as_secs() {
        return Err(ApiError::cap(
            "seconds",
            format!(
                "seconds {seconds} is over the time cap of {}",
                cap.as_secs()
            ),
        ));
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let changes = outbox.watch();
    let start = sequence(q.after)?;
    // (outbox, change notifications, last seq sent, alerts read but not yet sent)
    let state = (outbox, changes, start, std::collections::VecDeque::new());
    let stream = futures_util::stream::unfold(
        state,
        move |(outbox, mut changes, mut last, mut queued)| async move {
            loop {
                if let Some((seq, alert)) = queued.pop_front() {
                    last = seq;
                    let data = serde_json::to_string(&alert).unwrap_or_default();
                    let event = Event::default()
                        .event("alert")
                        .id(seq.to_string())
                        .data(data);
                    return Some((Ok(event), (outbox, changes, last, queued)));
                }
                changes.borrow_and_update();
                let read = Arc::clone(&outbox);
                let page = tokio::task::spawn_blocking(move || read.alerts(last, 100))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                if !page.is_empty() {
                    queued.extend(page);
                    continue;
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return None },
                    () = tokio::time::sleep_until(until) => return None,
                }
            }
        },
    );
    // A comment first: a client sees the stream open at once, not at the first alert or
    // keep-alive.
    let hello = futures_util::stream::once(async { Ok(Event::default().comment("connected")) });
    Ok(Sse::new(futures_util::StreamExt::chain(hello, stream)).keep_alive(KeepAlive::default()))
}

/// Subscriptions (never their secrets).
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "alerts",
    responses((status = 200, body = Vec<Object>), (status = 401, body = crate::ErrorBody),
              (status = 403, body = crate::ErrorBody), (status = 503, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn subscriptions_list(
    State(s): Shared,
    _: Admin,
) -> Result<Json<Vec<Subscription>>, ApiError> {
    let subs = blocking(&s, |s| outbox(s)?.subscriptions().map_err(outbox_error)).await?;
    Ok(Json(subs))
}

/// An alert's kind as JSON writes it: what the OpenAPI document lists (the monitor crate's
/// `AlertKind` itself knows nothing of OpenAPI; a test keeps the two the same).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
// Never built: only its schema is used (and the test below).
#[allow(dead_code)]
pub(crate) enum AlertKindName {
    /// Tainted value moved on chain.
    TaintMoved,
    /// Tainted value reached a service that can freeze it.
    ReachedService,
    /// Tainted value reached a watched address.
    Exposure,
    /// An address labeled sanctioned moved value.
    Sanctioned,
    /// A laundering pattern was recognised.
    Pattern,
    /// An earlier alert is withdrawn (`retracts` names it).
    Retraction,
    /// An earlier alert's block reached its confirmation depth while the alert was in force
    /// (`finalises` names it).
    Final,
}

/// A webhook to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// Where to POST alerts: an http or https URL without credentials.
    url: String,
    /// The signing secret (default: 32 random bytes, returned once).
    secret: Option<String>,
    /// Kinds to deliver; empty or absent: all. A retraction or a final goes to every
    /// subscription that had the alert it follows up on, whatever its kinds.
    #[serde(default)]
    #[schema(value_type = Vec<AlertKindName>)]
    kinds: Vec<String>,
    /// Incidents to deliver; empty or absent: all.
    #[serde(default)]
    incidents: Vec<String>,
    /// Who owns the receiver.
    description: Option<String>,
}

/// A subscription made: its secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookMade {
    /// The subscription.
    #[schema(value_type = Object)]
    subscription: Subscription,
    /// The signing secret (HMAC-SHA256 key of `X-Tracehound-Signature`).
    secret: String,
}

/// Adds a webhook subscription (role admin); alerts are signed with its secret.
#[utoipa::path(post, path = "/api/v1/subscriptions", tag = "alerts", request_body = NewWebhook,
    responses((status = 200, body = WebhookMade), (status = 400, body = crate::ErrorBody),
              (status = 401, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody),
              (status = 413, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 503, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn subscriptions_add(
    State(s): Shared,
    _: Admin,
    Body(n): Body<NewWebhook>,
) -> Result<Json<WebhookMade>, ApiError> {
    let kinds = n
        .kinds
        .iter()
        .map(|k| k.parse())
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| ApiError::bad_request(e).field("kinds"))?;
    let sub = blocking(&s, move |s| {
        outbox(s)?
            .subscribe(NewSubscription {
                url: n.url,
                secret: n.secret,
                kinds,
                incidents: n.incidents,
                description: n.description,
            })
            .map_err(|e| match e {
                tracehound_monitor::MonitorError::InvalidUrl { .. } => {
                    ApiError::bad_request(e.to_string()).field("url")
                }
                other => outbox_error(other),
            })
    })
    .await?;
    let secret = sub.secret().unwrap_or_default().to_string();
    Ok(Json(WebhookMade {
        subscription: sub,
        secret,
    }))
}

/// Removes a webhook subscription (role admin).
#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", tag = "alerts",
    params(("id" = String, Path)),
    responses((status = 204), (status = 400, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody),
              (status = 403, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody), (status = 503, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn subscriptions_remove(
    State(s): Shared,
    _: Admin,
    PathParams(id): PathParams<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let found = blocking(&s, move |s| {
        outbox(s)?.unsubscribe(&id).map_err(outbox_error)
    })
    .await?;
    if found {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such subscription"))
    }
}

/// The alert routes.
pub(crate) fn routes(
    router: utoipa_axum::router::OpenApiRouter<Arc<AppState>>,
) -> utoipa_axum::router::OpenApiRouter<Arc<AppState>> {
    use utoipa_axum::routes;
    router
        .routes(routes!(alerts_list))
        .routes(routes!(alerts_stream))
        .routes(routes!(subscriptions_list, subscriptions_add))
        .routes(routes!(subscriptions_remove))
}

#[cfg(test)]
mod tests {
    use super::AlertKindName;
    use tracehound_monitor::AlertKind;

    #[test]
    fn the_documented_kinds_are_the_monitors() {
        let documented = [
            AlertKindName::TaintMoved,
            AlertKindName::ReachedService,
            AlertKindName::Exposure,
            AlertKindName::Sanctioned,
            AlertKindName::Pattern,
            AlertKindName::Retraction,
            AlertKindName::Final,
        ]
        .map(|k| serde_json::to_value(k).unwrap_or_default());
        let actual = AlertKind::ALL.map(|k| serde_json::to_value(k).unwrap_or_default());
        assert_eq!(documented, actual);
    }
}
