//! The API's handlers, each with its OpenAPI description.

use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use serde::{Deserialize, Serialize};
use tracehound_core::{Address, Chain, Hash32};
use tracehound_labels::{Category, Filter, Tag, normalize};
use tracehound_store::{AccountHistoryRow, AccountView, AddressHistoryRow, AddressView, TxView};
use tracehound_trace::{Incident, Policy, Rules, SourceItem, StolenItem};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Admin, Analyst, Body, Caller, Params, PathParams, Text};
use crate::tokens::{Role, TokenRecord};
use crate::{ApiError, AppState};

type Shared = State<Arc<AppState>>;
type Answer<T> = Result<Json<T>, ApiError>;

/// Runs `f` on a blocking thread under the server's time cap.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let limit = state.config.caps.time;
    let state = Arc::clone(state);
    let work = tokio::task::spawn_blocking(move || f(&state));
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(ApiError::internal("the request failed inside the server")),
        Err(_) => Err(ApiError::timeout(format!(
            "the request took longer than the cap of {} s",
            limit.as_secs()
        ))
        .field("time")),
    }
}

fn chain(text: &str) -> Result<Chain, ApiError> {
    Chain::from_str(text).map_err(|e| ApiError::bad_request(e.to_string()).field("chain"))
}

/// The last unix second of the year 9999: later times are no times.
const LAST_TIME: u64 = 253_402_300_799;

/// Most rows a page may skip: past it a request is absurd (and documented as such).
const MAX_OFFSET: usize = 1_000_000_000;

fn offset(offset: usize) -> Result<usize, ApiError> {
    if offset > MAX_OFFSET {
        return Err(ApiError::cap(
            "offset",
            format!("offset {offset} is over the cap of {MAX_OFFSET}"),
        ));
    }
    Ok(offset)
}

pub(crate) fn page(state: &AppState, limit: Option<usize>) -> Result<usize, ApiError> {
    let cap = state.config.caps.page;
    match limit {
        None => Ok(cap.min(100)),
        Some(n) if n > cap => Err(ApiError::cap(
            "limit",
            format!("limit {n} is over the page cap of {cap}"),
        )),
        Some(n) => Ok(n),
    }
}

/// Every route of the API.
pub(crate) fn api(doc: utoipa::openapi::OpenApi) -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(doc)
        .routes(routes!(status))
        .routes(routes!(block))
        .routes(routes!(tx))
        .routes(routes!(address))
        .routes(routes!(search))
        .routes(routes!(labels_list, labels_add))
        .routes(routes!(labels_import))
        .routes(routes!(entity))
        .routes(routes!(incidents_list, incidents_create))
        .routes(routes!(incident_get))
        .routes(routes!(incident_trace))
        .routes(routes!(incident_result))
        .routes(routes!(incident_report))
        .routes(routes!(screen_one))
        .routes(routes!(screen_bulk))
        .routes(routes!(patterns))
        .routes(routes!(tokens_list, tokens_create))
        .routes(routes!(tokens_revoke))
        .pipe(crate::alerts::routes)
}

/// `x.pipe(f)` is `f(x)`: keeps the route list one chain.
trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}

impl<T> Pipe for T {}

/// The OpenAPI document as served: the one generated from the handlers, with this server's
/// caps as the schema's limits and every answer described.
pub(crate) fn document(doc: &utoipa::openapi::OpenApi, caps: &crate::Caps) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    with_caps(&mut value, caps);
    describe_answers(&mut value);
    value
}

/// The reference page and the document.
pub(crate) fn docs(
    doc: Arc<utoipa::openapi::OpenApi>,
    caps: &crate::Caps,
) -> axum::Router<Arc<AppState>> {
    let value = document(&doc, caps);
    let json = Arc::new(serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".into()));
    axum::Router::new()
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let json = Arc::clone(&json);
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        json.as_str().to_owned(),
                    )
                }
            }),
        )
        .route(
            "/api/docs",
            axum::routing::get(|| async { Html(include_str!("../assets/api-docs.html")) }),
        )
}

/// Writes the caps a server runs with into its document, so a client (or a schema-driven
/// tester) knows them: most hops, rows a page, addresses a batch.
fn with_caps(doc: &mut serde_json::Value, caps: &crate::Caps) {
    let schemas = &mut doc["components"]["schemas"];
    schemas["TraceRequest"]["properties"]["max_hops"]["maximum"] = caps.hops.into();
    schemas["BulkScreen"]["properties"]["addresses"]["maxItems"] = caps.batch.into();
    schemas["NewIncident"]["properties"]["txs"]["maxItems"] = caps.batch.into();
    schemas["NewIncident"]["properties"]["sources"]["maxItems"] = caps.batch.into();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths.values_mut().filter_map(|p| p.as_object_mut()) {
            for o in op.values_mut() {
                let Some(params) = o.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
                    continue;
                };
                for p in params.iter_mut().filter(|p| p["name"] == "limit") {
                    p["schema"]["maximum"] = caps.page.into();
                }
            }
        }
    }
}

/// Gives every answer of the document the description OpenAPI requires, by status, where
/// the handler's own says nothing.
fn describe_answers(doc: &mut serde_json::Value) {
    let text = |code: &str| match code {
        "200" => "The answer",
        "204" => "Done",
        "400" => "Bad request: the message says what, the field where",
        "401" => "No valid token, where one is needed",
        "403" => "The token's role may not do this",
        "404" => "Not found",
        "409" => "It exists already",
        "422" => "Over a cap of the server: the field names which",
        "503" => "Took longer than the server's time cap",
        _ => "See the body",
    };
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut().filter_map(|p| p.as_object_mut()) {
        for op in item.values_mut() {
            let Some(answers) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            for (code, a) in answers.iter_mut() {
                let missing = a
                    .get("description")
                    .and_then(|d| d.as_str())
                    .is_none_or(str::is_empty);
                if missing {
                    a["description"] = text(code).into();
                }
            }
        }
    }
}

/// Any path the API does not have.
pub(crate) async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    ApiError::not_found(format!(
        "no such API path: {} (see /api/docs)",
        uri.path().chars().take(200).collect::<String>()
    ))
}

// ---- status, blocks, txs, addresses ----

/// The store's chains and their tips.
#[derive(Debug, Serialize, ToSchema)]
struct StatusBody {
    /// The tracehound version serving.
    version: &'static str,
    /// Per chain: tip, txs, transfers or inputs/outputs, addresses.
    #[schema(value_type = Vec<Object>)]
    chains: Vec<tracehound_store::ChainStatus>,
    /// The chains this server follows live (`serve --watch`): ingest progress, the node's
    /// reachability, alerts raised.
    watching: Vec<crate::ChainWatch>,
    /// Whether alerts and subscriptions are served (the outbox is this process's).
    alerts: bool,
}

/// What the store holds.
#[utoipa::path(get, path = "/api/v1/status", tag = "store",
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = StatusBody), (status = 401, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn status(State(s): Shared, caller: Caller) -> Answer<StatusBody> {
    caller.require(Role::Read)?;
    let chains = blocking(&s, |s| Ok(s.store.status()?)).await?;
    Ok(Json(StatusBody {
        version: env!("CARGO_PKG_VERSION"),
        chains,
        watching: s.watch.chains(),
        alerts: s.alerts.is_ok(),
    }))
}

/// A block's header.
#[utoipa::path(get, path = "/api/v1/blocks/{chain}/{height}", tag = "store",
    params(("chain" = String, Path, description = "Chain name: bitcoin, litecoin-regtest, evm-1, …", pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"),
           ("height" = u32, Path, description = "Block height")),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Object, description = "The block: height, hash, time"),
              (status = 404, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn block(
    State(s): Shared,
    caller: Caller,
    PathParams((c, height)): PathParams<(String, u32)>,
) -> Answer<tracehound_store::BlockInfo> {
    caller.require(Role::Read)?;
    let c = chain(&c)?;
    let b = blocking(&s, move |s| Ok(s.store.block_at(c, height)?)).await?;
    b.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("{c} has no block {height} in the store")))
}

/// A tx on every chain that has it: inputs and outputs (UTXO) or transfers (account).
#[derive(Debug, Serialize, ToSchema)]
struct TxBody {
    /// UTXO txs with this id.
    #[schema(value_type = Vec<Object>)]
    utxo: Vec<TxView>,
    /// Account-chain txs with this hash.
    #[schema(value_type = Vec<Object>)]
    account: Vec<tracehound_store::AccountTxView>,
}

/// Which chain to look in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ChainFilter {
    /// Only this chain.
    #[param(
        pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"
    )]
    chain: Option<String>,
}

/// A tx by id.
#[utoipa::path(get, path = "/api/v1/txs/{txid}", tag = "store",
    params(("txid" = String, Path, description = "Tx id (hex, 0x optional)", pattern = r"^(0x)?[0-9a-fA-F]{64}$"), ChainFilter),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = TxBody), (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn tx(
    State(s): Shared,
    caller: Caller,
    PathParams(txid): PathParams<String>,
    Params(q): Params<ChainFilter>,
) -> Answer<TxBody> {
    caller.require(Role::Read)?;
    let id: Hash32 = txid
        .parse()
        .map_err(|e| ApiError::bad_request(format!("txid: {e}")).field("txid"))?;
    let c = q.chain.as_deref().map(chain).transpose()?;
    let body = blocking(&s, move |s| {
        Ok(TxBody {
            utxo: s.store.tx(c, &id)?,
            account: s.store.account_tx(c, &id)?,
        })
    })
    .await?;
    if body.utxo.is_empty() && body.account.is_empty() {
        return Err(ApiError::not_found(format!("tx {id} is not in the store")));
    }
    Ok(Json(body))
}

/// A page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Rows to skip.
    #[serde(default)]
    #[param(maximum = 1_000_000_000)]
    offset: usize,
    /// Rows to return (default 100, at most the page cap).
    limit: Option<usize>,
}

/// An address: balances, labels and a page of its history.
#[derive(Debug, Serialize, ToSchema)]
struct AddressBody {
    /// The chain.
    chain: String,
    /// Canonical text.
    address: String,
    /// UTXO view: received, spent, balance, tx count.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    utxo: Option<AddressView>,
    /// Account view: balances per asset.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    account: Option<AccountView>,
    /// Every label, strongest first, with source and confidence.
    #[schema(value_type = Vec<Object>)]
    labels: Vec<Tag>,
    /// Its entity's id, when the chain is clustered (`GET /api/v1/entities/{chain}/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<u32>,
    /// The page's offset.
    offset: usize,
    /// UTXO history rows.
    #[schema(value_type = Vec<Object>)]
    txs: Vec<AddressHistoryRow>,
    /// Account history rows.
    #[schema(value_type = Vec<Object>)]
    transfers: Vec<AccountHistoryRow>,
}

/// An address with its labels and history.
#[utoipa::path(get, path = "/api/v1/addresses/{chain}/{address}", tag = "store",
    params(("chain" = String, Path, pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"), ("address" = String, Path), Page),
    responses((status = 503, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = AddressBody), (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn address(
    State(s): Shared,
    caller: Caller,
    PathParams((c, text)): PathParams<(String, String)>,
    Params(p): Params<Page>,
) -> Answer<AddressBody> {
    caller.require(Role::Read)?;
    let c = chain(&c)?;
    let limit = page(&s, p.limit)?;
    offset(p.offset)?;
    let addr = Address::parse(c, &text).map_err(|e| {
        ApiError::bad_request(format!("not a valid {c} address: {e}")).field("address")
    })?;
    let body = blocking(&s, move |s| {
        let utxo = s.store.address(&addr)?;
        let account = s.store.account(&addr)?;
        if utxo.is_none() && account.is_none() {
            return Err(ApiError::not_found(format!(
                "{} has never appeared on {c}",
                addr.as_str()
            )));
        }
        let txs = match &utxo {
            Some(v) => s.store.address_history(c, v.id, p.offset, limit)?,
            None => Vec::new(),
        };
        let transfers = match &account {
            Some(v) => s.store.account_history(c, v.id, p.offset, limit)?,
            None => Vec::new(),
        };
        let labels = match s.data.label_store()? {
            Some(l) => l.tags_of(c, addr.as_str())?,
            None => Vec::new(),
        };
        let entity = s.data.entity_of(&s.store, &addr)?;
        Ok(AddressBody {
            chain: c.name(),
            address: addr.as_str().to_string(),
            utxo,
            account,
            labels,
            entity,
            offset: p.offset,
            txs,
            transfers,
        })
    })
    .await?;
    Ok(Json(body))
}

/// What to look for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// A tx id, an address (any stored chain), or text of a label, category, note or
    /// incident name.
    /// Surrounding whitespace is ignored; a query of whitespace alone finds nothing.
    #[param(min_length = 1, max_length = 200)]
    q: String,
    /// Most hits (default 50, at most the page cap).
    limit: Option<usize>,
}

/// One thing found.
#[derive(Debug, Serialize, ToSchema)]
struct Hit {
    /// tx, address, label or incident.
    kind: &'static str,
    /// Its chain (none for an incident).
    #[serde(skip_serializing_if = "Option::is_none")]
    chain: Option<String>,
    /// The tx id, address or incident name.
    id: String,
    /// What it is, in words.
    title: String,
}

/// Finds txs, addresses, labels and incidents.
#[utoipa::path(get, path = "/api/v1/search", tag = "store", params(SearchQuery),
    responses((status = 503, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = Vec<Hit>), (status = 400, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn search(
    State(s): Shared,
    caller: Caller,
    Params(q): Params<SearchQuery>,
) -> Answer<Vec<Hit>> {
    caller.require(Role::Read)?;
    let limit = match q.limit {
        None => s.config.caps.page.min(50),
        l => page(&s, l)?,
    };
    // Checked as the schema states it. What counts as whitespace differs between regex
    // engines (U+0085 is whitespace to Rust, not to ECMAScript's `\s`), so a query of
    // whitespace alone is valid and finds nothing rather than being refused.
    if q.q.is_empty() || q.q.chars().count() > 200 {
        return Err(ApiError::bad_request("q must be 1–200 characters").field("q"));
    }
    let text = q.q.trim().to_string();
    if text.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let hits = blocking(&s, move |s| {
        let mut hits = Vec::new();
        if let Ok(id) = text.parse::<Hash32>() {
            for t in s.store.tx(None, &id)? {
                hits.push(Hit {
                    kind: "tx",
                    chain: Some(t.chain.name()),
                    id: t.txid.to_string(),
                    title: format!("tx in block {}", t.height),
                });
            }
            for t in s.store.account_tx(None, &id)? {
                hits.push(Hit {
                    kind: "tx",
                    chain: Some(t.chain.name()),
                    id: format!("0x{}", t.hash),
                    title: format!("tx in block {}", t.height),
                });
            }
        }
        let labels = s.data.label_store()?;
        for c in s.store.chains()? {
            let Ok(a) = Address::parse(c, &text) else {
                continue;
            };
            let known = s.store.address(&a)?.is_some() || s.store.account(&a)?.is_some();
            if known {
                let label = match &labels {
                    Some(l) => l.strongest(c, a.as_str())?.map(|t| t.label),
                    None => None,
                };
                hits.push(Hit {
                    kind: "address",
                    chain: Some(c.name()),
                    id: a.as_str().to_string(),
                    title: label.unwrap_or_else(|| "address".into()),
                });
            }
        }
        let needle = text.to_lowercase();
        for i in s.data.list_incidents()? {
            if i.name.to_lowercase().contains(&needle) {
                hits.push(Hit {
                    kind: "incident",
                    chain: None,
                    id: i.name,
                    title: format!("incident: {} stolen, {} sources", i.stolen, i.sources),
                });
            }
        }
        if let Some(l) = &labels {
            for t in l.search(&text)? {
                if hits.len() >= limit {
                    break;
                }
                hits.push(Hit {
                    kind: "label",
                    chain: Some(t.chain.name()),
                    id: t.address,
                    title: format!("{} ({}, {})", t.label, t.category.name(), t.source),
                });
            }
        }
        hits.truncate(limit);
        Ok(hits)
    })
    .await?;
    Ok(Json(hits))
}

// ---- labels ----

/// Which labels.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LabelQuery {
    /// Only this chain.
    #[param(
        pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"
    )]
    chain: Option<String>,
    /// Only this category (exchange, mixer, sanctioned, hacker, …).
    #[param(
        pattern = "^(exchange|deposit_address|hot_wallet|custodian|issuer|dex|bridge|defi|mixer|privacy|gambling|miner|payment|darknet_market|sanctioned|hacker|scam|ransomware|terrorism|blacklisted|other)$"
    )]
    category: Option<String>,
    /// Only this source.
    source: Option<String>,
    /// Rows to skip.
    #[serde(default)]
    #[param(maximum = 1_000_000_000)]
    offset: usize,
    /// Rows to return (default 100, at most the page cap).
    limit: Option<usize>,
}

/// Labels, filtered and paged.
#[utoipa::path(get, path = "/api/v1/labels", tag = "labels", params(LabelQuery),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = Vec<Object>), (status = 400, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn labels_list(
    State(s): Shared,
    caller: Caller,
    Params(q): Params<LabelQuery>,
) -> Answer<Vec<Tag>> {
    caller.require(Role::Read)?;
    let limit = page(&s, q.limit)?;
    offset(q.offset)?;
    let filter = Filter {
        chain: q.chain.as_deref().map(chain).transpose()?,
        category: q
            .category
            .as_deref()
            .map(Category::from_str)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()).field("category"))?,
        source: q.source,
    };
    let tags = blocking(&s, move |s| {
        Ok(match s.data.label_store()? {
            Some(l) => l
                .list(&filter)?
                .into_iter()
                .skip(q.offset)
                .take(limit)
                .collect(),
            None => Vec::new(),
        })
    })
    .await?;
    Ok(Json(tags))
}

/// An analyst's label.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLabel {
    /// The chain.
    #[schema(
        pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"
    )]
    chain: String,
    /// The address.
    address: String,
    /// The name (`Binance 14`, `Lazarus Group`).
    #[schema(min_length = 1, max_length = 200)]
    label: String,
    /// The category (exchange, mixer, sanctioned, hacker, …).
    #[schema(
        pattern = "^(exchange|deposit_address|hot_wallet|custodian|issuer|dex|bridge|defi|mixer|privacy|gambling|miner|payment|darknet_market|sanctioned|hacker|scam|ransomware|terrorism|blacklisted|other)$"
    )]
    category: String,
    /// 0–100.
    #[serde(deserialize_with = "crate::extract::integer")]
    #[schema(maximum = 100)]
    confidence: u8,
    /// The analyst's name (the source becomes `analyst:<name>`).
    #[schema(min_length = 1, max_length = 100, pattern = "^[^:]+$")]
    analyst: String,
    /// A note.
    #[schema(max_length = 2000)]
    note: Option<String>,
}

/// Whether a label was added or replaced one of the same source.
#[derive(Debug, Serialize, ToSchema)]
struct LabelAdded {
    /// It replaced the same source's label of the address.
    replaced: bool,
    /// The label as stored.
    #[schema(value_type = Object)]
    tag: Tag,
}

/// Adds an analyst's label (role analyst).
#[utoipa::path(post, path = "/api/v1/labels", tag = "labels", request_body = NewLabel,
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 200, body = LabelAdded), (status = 400, body = crate::ErrorBody),
              (status = 401, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn labels_add(State(s): Shared, _: Analyst, Body(n): Body<NewLabel>) -> Answer<LabelAdded> {
    let c = chain(&n.chain)?;
    let address = normalize::address(c, &n.address)
        .map_err(|e| ApiError::bad_request(e.to_string()).field("address"))?;
    let category = Category::from_str(&n.category)
        .map_err(|e| ApiError::bad_request(e.to_string()).field("category"))?;
    if n.confidence > 100 {
        return Err(ApiError::bad_request("confidence is 0–100").field("confidence"));
    }
    let text_ok = |t: &str, max: usize| !t.is_empty() && t.chars().count() <= max;
    if !text_ok(&n.label, 200) {
        return Err(ApiError::bad_request("label must be 1–200 characters").field("label"));
    }
    if !text_ok(&n.analyst, 100) || n.analyst.contains(':') {
        return Err(
            ApiError::bad_request("analyst must be 1–100 characters without ':'").field("analyst"),
        );
    }
    if n.note.as_deref().is_some_and(|t| t.chars().count() > 2000) {
        return Err(ApiError::bad_request("note must be at most 2000 characters").field("note"));
    }
    let tag = Tag {
        chain: c,
        address: address.as_str().to_string(),
        label: n.label,
        category,
        raw_category: n.category,
        source: format!("{}{}", tracehound_labels::ANALYST_PREFIX, n.analyst),
        confidence: n.confidence,
        raw_confidence: "analyst".into(),
        reference: None,
        actor: None,
        context: None,
        note: n.note,
        origin: String::new(),
        added: tracehound_labels::now(),
    };
    let added = blocking(&s, move |s| {
        let replaced = s.data.open_labels()?.add(&tag)?;
        Ok(LabelAdded { replaced, tag })
    })
    .await?;
    Ok(Json(added))
}

/// How to read an uploaded label file.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// tagpack (GraphSense YAML), ofac (a sanctioned_addresses_<ASSET>.txt), etherscan
    /// (explorer label dump JSON) or csv (chain,address,label,category,source,confidence).
    #[param(pattern = "^(tagpack|ofac|etherscan|csv)$")]
    format: String,
    /// The source the labels are stored under (replacing that source's earlier import).
    #[param(min_length = 1, max_length = 200, pattern = r"^[^:][^\s]*$")]
    source: String,
    /// The file's name (OFAC and explorer files name their chain in it).
    file_name: Option<String>,
    /// The chain of every address (instead of the file's own).
    #[param(
        pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"
    )]
    chain: Option<String>,
    /// Skip bad records (counted) instead of refusing the file at the first.
    #[serde(default)]
    skip_invalid: bool,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
struct Imported {
    /// Imported, skipped, duplicates, replaced; the source.
    #[schema(value_type = Object)]
    report: tracehound_labels::ImportReport,
    /// Each skipped record and why (with `skip_invalid`).
    skipped: Vec<String>,
}

/// Imports a label file (role analyst): the body is the file (at most the body cap). A bad
/// record refuses the whole file, naming its place, unless `skip_invalid`; nothing is stored
/// from a refused file.
#[utoipa::path(post, path = "/api/v1/labels/import", tag = "labels", params(ImportQuery),
    request_body(content = String, content_type = "text/plain", description = "The file"),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Imported)),
    security(("token" = [])))]
async fn labels_import(
    State(s): Shared,
    _: Analyst,
    Params(q): Params<ImportQuery>,
    Text(text): Text,
) -> Answer<Imported> {
    let format: tracehound_labels::Format = q
        .format
        .parse()
        .map_err(|e: String| ApiError::bad_request(e).field("format"))?;
    if q.source.is_empty() || q.source.starts_with(tracehound_labels::ANALYST_PREFIX) {
        return Err(ApiError::bad_request(
            "source must name the data set (imports cannot write analysts' labels)",
        )
        .field("source"));
    }
    let opts = tracehound_labels::ImportOptions {
        chain: q.chain.as_deref().map(chain).transpose()?,
        skip_invalid: q.skip_invalid,
        source: Some(q.source.clone()),
        actors: None,
    };
    let file_name = q
        .file_name
        .unwrap_or_else(|| format!("upload.{}", q.format));
    let imported = blocking(&s, move |s| {
        let parsed = tracehound_labels::import::read_str(
            &format!("upload {file_name}"),
            &file_name,
            &text,
            format,
            &opts,
        )
        .map_err(|e| ApiError::bad_request(e.to_string()).field("body"))?;
        let report = s
            .data
            .open_labels()?
            .import(&parsed, format, &format!("api:{file_name}"))?;
        Ok(Imported {
            report,
            skipped: parsed.skipped.iter().map(ToString::to_string).collect(),
        })
    })
    .await?;
    Ok(Json(imported))
}

/// How many members to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EntityQuery {
    /// Members (and their labels) shown (default 20, at most the page cap).
    limit: Option<usize>,
}

/// An entity of a clustered chain, by its id or by a member address: size, members with
/// labels, and the evidence that joined them (with an address: the path from it).
#[utoipa::path(get, path = "/api/v1/entities/{chain}/{which}", tag = "store",
    params(("chain" = String, Path, pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"),
           ("which" = String, Path, description = "An entity id or a member address"), EntityQuery),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Object, description = "The entity")),
    security((), ("token" = [])))]
async fn entity(
    State(s): Shared,
    caller: Caller,
    PathParams((c, which)): PathParams<(String, String)>,
    Params(q): Params<EntityQuery>,
) -> Answer<tracehound_cluster::EntityView> {
    caller.require(Role::Read)?;
    let c = chain(&c)?;
    let limit = match q.limit {
        None => 20,
        l => page(&s, l)?,
    };
    let v = blocking(&s, move |s| {
        Ok(s.data.entity(&s.store, c, &which, limit)?)
    })
    .await?;
    Ok(Json(v))
}

// ---- incidents ----

/// Saved incidents.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Vec<Object>)), security((), ("token" = [])))]
async fn incidents_list(
    State(s): Shared,
    caller: Caller,
) -> Answer<Vec<tracehound_app::IncidentSummary>> {
    caller.require(Role::Read)?;
    Ok(Json(blocking(&s, |s| Ok(s.data.list_incidents()?)).await?))
}

/// A new incident: stolen txs and/or source addresses on one chain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewIncident {
    /// Its name (a file name: no `/`, `\`, leading dot).
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^./\\][^/\\]*$")]
    name: String,
    /// Free text.
    notes: Option<String>,
    /// The chain of the txs and sources.
    #[schema(
        pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"
    )]
    chain: String,
    /// Stolen txs (all their outputs or transfers).
    #[serde(default)]
    #[schema(value_type = Vec<String>, pattern = r"^(0x)?[0-9a-fA-F]{64}$")]
    txs: Vec<String>,
    /// Source addresses: everything they sent from `since` on is stolen.
    #[serde(default)]
    sources: Vec<String>,
    /// From this time (unix seconds) for sources.
    #[serde(default, deserialize_with = "crate::extract::integer_opt")]
    #[schema(maximum = 253_402_300_799_u64)]
    since: Option<u64>,
    /// Only these assets (`native` or token contracts).
    #[serde(default)]
    assets: Vec<String>,
}

/// Saves an incident (role analyst).
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = NewIncident,
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = Object, description = "The incident as saved"),
              (status = 400, body = crate::ErrorBody), (status = 409, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn incidents_create(
    State(s): Shared,
    _: Analyst,
    Body(n): Body<NewIncident>,
) -> Answer<Incident> {
    let c = chain(&n.chain)?;
    let batch = s.config.caps.batch;
    for (field, n) in [("txs", n.txs.len()), ("sources", n.sources.len())] {
        if n > batch {
            return Err(ApiError::cap(
                field,
                format!("an incident may name at most {batch} {field}"),
            ));
        }
    }
    if n.since.is_some_and(|t| t > LAST_TIME) {
        return Err(
            ApiError::bad_request("since is a unix time before the year 10000").field("since"),
        );
    }
    for (i, t) in n.txs.iter().enumerate() {
        if t.parse::<Hash32>().is_err() {
            return Err(ApiError::bad_request(format!(
                "txs[{i}]: {t:?} is not a tx id (64 hex digits)"
            ))
            .field(&format!("txs[{i}]")));
        }
    }
    for (i, a) in n.assets.iter().enumerate() {
        if a != "native" && Address::parse(c, a).is_err() {
            return Err(ApiError::bad_request(format!(
                "assets[{i}]: {a:?} is neither `native` nor a token contract on {c}"
            ))
            .field(&format!("assets[{i}]")));
        }
    }
    let sources = n
        .sources
        .iter()
        .map(|a| {
            Address::parse(c, a)
                .map(|a| SourceItem {
                    chain: c.to_string(),
                    address: a.as_str().to_string(),
                    since: n.since,
                })
                .map_err(|e| ApiError::bad_request(format!("source {a:?}: {e}")).field("sources"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let incident = Incident {
        name: n.name,
        notes: n.notes,
        assets: n.assets,
        stolen: n
            .txs
            .iter()
            .map(|t| StolenItem {
                chain: c.to_string(),
                tx: t.clone(),
                vout: None,
                sub_index: None,
                amount: None,
            })
            .collect(),
        sources,
    };
    let saved = blocking(&s, move |s| {
        s.data.save_incident(&incident, None, false)?;
        Ok(incident)
    })
    .await?;
    Ok(Json(saved))
}

/// A saved incident.
#[utoipa::path(get, path = "/api/v1/incidents/{name}", tag = "incidents",
    params(("name" = String, Path)),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Object), (status = 404, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn incident_get(
    State(s): Shared,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> Answer<Incident> {
    caller.require(Role::Read)?;
    let i = blocking(&s, move |s| {
        let path = s.data.saved_incident_path(&name)?;
        Ok(s.data.read_incident(&path)?)
    })
    .await?;
    Ok(Json(i))
}

/// How to trace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TraceRequest {
    /// haircut (default), poison, fifo, lifo or tiho.
    #[schema(pattern = "^(haircut|poison|fifo|lifo|tiho)$")]
    policy: Option<String>,
    /// Hops to follow (default and most: the hop cap).
    #[serde(default, deserialize_with = "crate::extract::integer_opt")]
    max_hops: Option<u32>,
    /// Do not follow swaps, bridges, mixers.
    #[serde(default)]
    no_links: bool,
    /// Links matched with lower confidence (0–100) are not followed (default 50).
    #[serde(default, deserialize_with = "crate::extract::integer_opt")]
    #[schema(maximum = 100)]
    min_link_confidence: Option<u8>,
}

/// Traces a saved incident and saves the result (role analyst): every endpoint with its
/// amount and proof path, the summary per asset, the links crossed and the patterns.
#[utoipa::path(post, path = "/api/v1/incidents/{name}/trace", tag = "incidents",
    params(("name" = String, Path)), request_body = TraceRequest,
    responses((status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Object, description = "The trace result, as `tracehound trace --json`"),
              (status = 404, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 503, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn incident_trace(
    State(s): Shared,
    _: Analyst,
    PathParams(name): PathParams<String>,
    Body(r): Body<TraceRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let policy: Policy = r
        .policy
        .as_deref()
        .unwrap_or("haircut")
        .parse()
        .map_err(|e: String| ApiError::bad_request(e).field("policy"))?;
    let caps = s.config.caps.clone();
    let hops = r.max_hops.unwrap_or(caps.hops);
    if hops > caps.hops {
        return Err(ApiError::cap(
            "max_hops",
            format!("max_hops {hops} is over the cap of {}", caps.hops),
        ));
    }
    if r.min_link_confidence.is_some_and(|c| c > 100) {
        return Err(
            ApiError::bad_request("min_link_confidence is 0–100").field("min_link_confidence")
        );
    }
    let json = blocking(&s, move |s| {
        let path = s.data.saved_incident_path(&name)?;
        let incident = s.data.read_incident(&path)?;
        let mut rules = Rules::new(policy);
        rules.max_hops = hops;
        rules.labels = s.data.trace_labels()?;
        rules.caps.max_nodes = caps.trace_nodes;
        rules.caps.max_edges = caps.trace_nodes;
        rules.links.follow = !r.no_links;
        if let Some(c) = r.min_link_confidence {
            rules.links.min_confidence = c;
        }
        rules.links.config = s.config.links.clone();
        let settings = tracehound_app::TraceSettings::of(&rules);
        let result = s.data.trace(&s.store, &incident, rules)?;
        if result.endpoints.len() > caps.endpoints {
            return Err(ApiError::cap(
                "endpoints",
                format!(
                    "the trace has {} endpoints, over the cap of {}: lower max_hops",
                    result.endpoints.len(),
                    caps.endpoints
                ),
            ));
        }
        // Encoded once, for the answer and the file: the endpoint cap above bounds its size.
        let json = serde_json::to_string(&result).map_err(|e| {
            ApiError::from(tracehound_app::AppError::Invalid(format!(
                "encoding the trace result: {e}"
            )))
        })?;
        s.data.save_result_json(&name, &json, &settings)?;
        Ok(json)
    })
    .await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    ))
}

/// The last saved trace result of an incident.
#[utoipa::path(get, path = "/api/v1/incidents/{name}/result", tag = "incidents",
    params(("name" = String, Path)),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Object), (status = 404, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn incident_result(
    State(s): Shared,
    caller: Caller,
    PathParams(name): PathParams<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Read)?;
    let json = blocking(&s, move |s| Ok(s.data.load_result(&name)?)).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    ))
}

/// Which report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// html (default: a self-contained page that prints cleanly), json, or pdf (A4).
    #[param(pattern = "^(html|json|pdf)$")]
    format: Option<String>,
    /// Only this endpoint address.
    endpoint: Option<String>,
}

/// The evidence report of an incident's last trace, for a freeze request: every point of
/// intervention with amount, path of txs, rules, labels with sources, link evidence, and a
/// digest of the inputs to cite.
#[utoipa::path(get, path = "/api/v1/incidents/{name}/report", tag = "incidents",
    params(("name" = String, Path), ReportQuery),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, description = "HTML page, JSON or PDF", content(
                  (String = "text/html"), (Object = "application/json"), (Vec<u8> = "application/pdf"))),
              (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn incident_report(
    State(s): Shared,
    caller: Caller,
    PathParams(name): PathParams<String>,
    Params(q): Params<ReportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Read)?;
    let format = match q.format.as_deref() {
        None | Some("html") => ReportFormat::Html,
        Some("json") => ReportFormat::Json,
        Some("pdf") => ReportFormat::Pdf,
        Some(other) => {
            return Err(
                ApiError::bad_request(format!("format {other:?}: html, json or pdf"))
                    .field("format"),
            );
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = blocking(&s, move |s| {
        let e = s
            .data
            .evidence(&s.store, &name, q.endpoint.as_deref(), now)?;
        Ok(match format {
            ReportFormat::Html => e.to_html().into_bytes(),
            ReportFormat::Json => e.to_json().into_bytes(),
            ReportFormat::Pdf => e.to_pdf(),
        })
    })
    .await?;
    let kind = match format {
        ReportFormat::Html => "text/html; charset=utf-8",
        ReportFormat::Json => "application/json",
        ReportFormat::Pdf => "application/pdf",
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, kind),
            // The page is inert: no script, nothing loaded from anywhere.
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        body,
    ))
}

/// What an evidence report is rendered as.
#[derive(Debug, Clone, Copy)]
enum ReportFormat {
    Html,
    Json,
    Pdf,
}

// ---- screening, patterns ----

/// Screens one address against the exposure index and labels.
#[utoipa::path(get, path = "/api/v1/screen/{chain}/{address}", tag = "screening",
    params(("chain" = String, Path, pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"), ("address" = String, Path)),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = Object, description = "Level, reasons, exposures with paths"),
              (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn screen_one(
    State(s): Shared,
    caller: Caller,
    PathParams((c, text)): PathParams<(String, String)>,
) -> Answer<tracehound_screen::Screening> {
    caller.require(Role::Read)?;
    let c = chain(&c)?;
    let address = normalize::address(c, &text)
        .map_err(|e| ApiError::bad_request(e.to_string()).field("address"))?;
    let screening = blocking(&s, move |s| {
        let index = s.data.exposure_index()?;
        let reader = index.reader().map_err(tracehound_app::AppError::from)?;
        let labels = s.data.label_store()?;
        Ok(tracehound_app::screen(
            &reader,
            labels.as_deref(),
            c,
            address.as_str(),
        )?)
    })
    .await?;
    Ok(Json(screening))
}

/// Addresses to screen at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkScreen {
    /// Each address with its chain.
    addresses: Vec<ChainAddress>,
}

/// An address of a chain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChainAddress {
    /// The chain.
    #[schema(
        pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"
    )]
    chain: String,
    /// The address.
    address: String,
}

/// Screens many addresses (at most the batch cap); a bad address fails the request naming
/// its position.
#[utoipa::path(post, path = "/api/v1/screen", tag = "screening", request_body = BulkScreen,
    responses((status = 503, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = Vec<Object>), (status = 400, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn screen_bulk(
    State(s): Shared,
    caller: Caller,
    Body(b): Body<BulkScreen>,
) -> Answer<Vec<tracehound_screen::Screening>> {
    caller.require(Role::Read)?;
    let cap = s.config.caps.batch;
    if b.addresses.len() > cap {
        return Err(ApiError::cap(
            "addresses",
            format!(
                "{} addresses is over the batch cap of {cap}",
                b.addresses.len()
            ),
        ));
    }
    let mut wanted = Vec::with_capacity(b.addresses.len());
    for (i, a) in b.addresses.iter().enumerate() {
        let c = chain(&a.chain).map_err(|e| e.field(&format!("addresses[{i}].chain")))?;
        let address = normalize::address(c, &a.address).map_err(|e| {
            ApiError::bad_request(format!("addresses[{i}]: {e}"))
                .field(&format!("addresses[{i}].address"))
        })?;
        wanted.push((c, address));
    }
    let out = blocking(&s, move |s| {
        let index = s.data.exposure_index()?;
        let reader = index.reader().map_err(tracehound_app::AppError::from)?;
        let labels = s.data.label_store()?;
        wanted
            .iter()
            .map(|(c, a)| {
                Ok(tracehound_app::screen(
                    &reader,
                    labels.as_deref(),
                    *c,
                    a.as_str(),
                )?)
            })
            .collect()
    })
    .await?;
    Ok(Json(out))
}

/// How far around an address to look.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PatternQuery {
    /// Hops out from the address (default 2, at most 4).
    #[param(maximum = 4)]
    hops: Option<u32>,
}

/// Laundering patterns around an address.
#[utoipa::path(get, path = "/api/v1/patterns/{chain}/{address}", tag = "patterns",
    params(("chain" = String, Path, pattern = r"^(bitcoin(-testnet4?|-signet|-regtest|-cash)?|litecoin(-testnet|-regtest)?|dogecoin|zcash|ethereum|optimism|bsc|polygon|base|arbitrum|evm-[1-9][0-9]{0,8})$"), ("address" = String, Path), PatternQuery),
    responses((status = 503, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 200, body = Vec<Object>, description = "Detections: kind, score, txs, addresses, explanation"),
              (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)),
    security((), ("token" = [])))]
async fn patterns(
    State(s): Shared,
    caller: Caller,
    PathParams((c, text)): PathParams<(String, String)>,
    Params(q): Params<PatternQuery>,
) -> Answer<Vec<tracehound_patterns::Detection>> {
    caller.require(Role::Read)?;
    let c = chain(&c)?;
    let hops = q.hops.unwrap_or(2);
    if hops > 4 {
        return Err(ApiError::cap(
            "hops",
            format!("hops {hops} is over the cap of 4"),
        ));
    }
    let addr = Address::parse(c, &text).map_err(|e| {
        ApiError::bad_request(format!("not a valid {c} address: {e}")).field("address")
    })?;
    let found = blocking(&s, move |s| {
        let labels = s.data.trace_labels()?;
        let reach = tracehound_patterns::store::Reach {
            hops,
            ..Default::default()
        };
        let g = tracehound_patterns::store::around(&s.store, &labels, &addr, reach)
            .map_err(tracehound_app::AppError::from)?;
        Ok(tracehound_patterns::detect_all(
            &g,
            &tracehound_patterns::Config::default(),
        ))
    })
    .await?;
    Ok(Json(found))
}

// ---- tokens ----

/// Every token (role admin); secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 200, body = Vec<TokenRecord>), (status = 401, body = crate::ErrorBody),
              (status = 403, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn tokens_list(State(s): Shared, _: Admin) -> Answer<Vec<TokenRecord>> {
    let list = blocking(&s, |s| s.tokens.list().map_err(token_error)).await?;
    Ok(Json(
        list.into_iter()
            .map(|mut r| {
                r.digest.clear();
                r
            })
            .collect(),
    ))
}

fn token_error(e: crate::tokens::TokenError) -> ApiError {
    match e {
        crate::tokens::TokenError::Name => ApiError::bad_request(e.to_string()).field("name"),
        other => {
            tracing::warn!("tokens: {other}");
            ApiError::internal("the server could not write its tokens; see its log")
        }
    }
}

/// A token to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// Who or what it is for.
    name: String,
    /// read, analyst or admin.
    role: Role,
}

/// A made token: shown this once.
#[derive(Debug, Serialize, ToSchema)]
struct TokenMade {
    /// The token (`th_…`); only its digest is stored.
    token: String,
    /// Its record.
    record: TokenRecord,
}

/// Makes a token (role admin).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody), (status = 200, body = TokenMade), (status = 400, body = crate::ErrorBody),
              (status = 401, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn tokens_create(State(s): Shared, _: Admin, Body(n): Body<NewToken>) -> Answer<TokenMade> {
    let (token, mut record) = blocking(&s, move |s| {
        s.tokens.create(&n.name, n.role).map_err(token_error)
    })
    .await?;
    record.digest.clear();
    Ok(Json(TokenMade { token, record }))
}

/// Revokes a token (role admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path)),
    responses((status = 503, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody), (status = 403, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody), (status = 400, body = crate::ErrorBody), (status = 204), (status = 404, body = crate::ErrorBody)),
    security(("token" = [])))]
async fn tokens_revoke(
    State(s): Shared,
    _: Admin,
    PathParams(id): PathParams<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let found = blocking(&s, move |s| s.tokens.revoke(&id).map_err(token_error)).await?;
    if found {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such token"))
    }
}
