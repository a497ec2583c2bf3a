//! The API's handlers through `tower::ServiceExt::oneshot`, on a store the test writes: a
//! drain on an EVM chain split over two hops, one landing at an exchange deposit.
//! Auth, caps, bad input and the trace itself, each answer checked.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tracehound_app::DataDir;
use tracehound_core::{
    AccountBlock, AccountTransfer, AccountTx, Address, Amount, AssetId, Block, Chain, Hash32,
    Transfer, TransferKind, TxRef,
};
use tracehound_server::{AppState, Caps, Config, Role, Tokens, router};
use tracehound_store::StoreOptions;

const CHAIN: Chain = Chain::Evm(31337);
const ETH: u128 = 1_000_000_000_000_000_000;

fn addr(n: u8) -> Address {
    Address::evm(CHAIN, &[n; 20])
}

fn hex_addr(n: u8) -> String {
    addr(n).as_str().to_string()
}

fn txid(n: u8) -> Hash32 {
    Hash32([n; 32])
}

/// Block `height` holding one tx `from` → `to` of `eth` ether.
fn block(height: u32, parent: Hash32, from: u8, to: u8, eth: u128) -> AccountBlock {
    let hash = Hash32([0x80 + height as u8; 32]);
    let tx = txid(height as u8 + 1);
    AccountBlock {
        block: Block {
            chain: CHAIN,
            height,
            hash,
            parent,
            time: 1_735_700_000 + u64::from(height) * 12,
            chainwork: None,
        },
        txs: vec![AccountTx {
            hash: tx,
            index: 0,
            from: addr(from),
            to: Some(addr(to)),
            value: Amount::from_units(eth * ETH),
            success: true,
            gas_used: 21_000,
            gas_price: 0,
            created: None,
        }],
        transfers: vec![AccountTransfer {
            transfer: Transfer {
                tx: TxRef {
                    chain: CHAIN,
                    height,
                    index: 0,
                    txid: tx,
                },
                sub_index: 0,
                kind: TransferKind::Native,
                asset: AssetId::Native,
                from: addr(from),
                to: addr(to),
                amount: Amount::from_units(eth * ETH),
            },
            source: "test".into(),
        }],
        tokens: Vec::new(),
        links: Vec::new(),
    }
}

/// The world: victim 1 drained by thief 2 (tx 0x01…), who splits 60/40 to 3 and 4; 3 pays
/// exchange deposit 5.
struct World {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
    admin: String,
    analyst: String,
    reader: String,
}

fn world(open_reads: bool, caps: Caps) -> World {
    world_with(open_reads, caps, false)
}

/// The drain as an incident of `tracehound screen index`.
fn drain() -> tracehound_trace::Incident {
    tracehound_trace::Incident {
        name: "drain".into(),
        notes: None,
        assets: Vec::new(),
        stolen: vec![tracehound_trace::StolenItem {
            chain: "evm-31337".into(),
            tx: txid(2).to_string(),
            vout: None,
            sub_index: None,
            amount: None,
        }],
        sources: Vec::new(),
    }
}

/// The world, with its exposure index built (from the drain) and the chain clustered when
/// `index`.
fn world_with(open_reads: bool, caps: Caps, index: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path(), StoreOptions::default());
    {
        let store = data.open_store().unwrap();
        let mut parent = Hash32::ZERO;
        let mut blocks = Vec::new();
        for (h, (from, to, eth)) in [(9, 1, 100), (1, 2, 100), (2, 3, 60), (2, 4, 40), (3, 5, 60)]
            .into_iter()
            .enumerate()
        {
            let b = block(h as u32, parent, from, to, eth);
            parent = b.block.hash;
            blocks.push(b);
        }
        store.apply_account_blocks(&blocks).unwrap();
        if index {
            let options = tracehound_screen::BuildOptions::default();
            tracehound_screen::build(&store, dir.path(), &[drain()], &[], &options).unwrap();
            let (clustering, _) = tracehound_cluster::cluster_chain(
                &store,
                CHAIN,
                tracehound_cluster::Options::default(),
                None,
                &tracehound_cluster::deposit::DepositRules::default(),
            )
            .unwrap();
            clustering
                .save(&tracehound_cluster::Clustering::path_in(dir.path(), CHAIN))
                .unwrap();
        }
    }
    let tokens = Tokens::in_dir(dir.path());
    let admin = tokens.create("admin", Role::Admin).unwrap().0;
    let analyst = tokens.create("analyst", Role::Analyst).unwrap().0;
    let reader = tokens.create("reader", Role::Read).unwrap().0;
    let config = Config {
        caps,
        open_reads,
        ..Config::default()
    };
    let state = AppState::open(data, config).unwrap();
    World {
        _dir: dir,
        state,
        admin,
        analyst,
        reader,
    }
}

impl World {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = router(Arc::clone(&self.state)).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        (status, v)
    }
}

impl World {
    /// Labels deposit address 5 as an exchange's (as analyst `ana`), so traces stop there.
    async fn label_deposit(&self, label: &str) -> (StatusCode, Value) {
        let body = json!({"chain": "evm-31337", "address": hex_addr(5), "label": label,
            "category": "exchange", "confidence": 90, "analyst": "ana"});
        self.call(
            Method::POST,
            "/api/v1/labels",
            Some(&self.analyst),
            Some(body),
        )
        .await
    }

    /// Saves the drain (tx 0x02…) as incident `name`.
    async fn save_drain(&self, name: &str) -> (StatusCode, Value) {
        let body = json!({"name": name, "chain": "evm-31337", "txs": [txid(2).to_string()]});
        self.call(
            Method::POST,
            "/api/v1/incidents",
            Some(&self.analyst),
            Some(body),
        )
        .await
    }
}

/// The error code and field of an error answer.
fn code(v: &Value) -> (&str, Option<&str>) {
    (
        v["error"]["code"].as_str().expect("an error body"),
        v["error"]["field"].as_str(),
    )
}

#[tokio::test]
async fn reads_answer_what_the_store_holds() {
    let w = world(true, Caps::default());
    let (s, v) = w.call(Method::GET, "/api/v1/status", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["chains"][0]["chain"], "evm-31337");
    assert_eq!(v["chains"][0]["tip"]["height"], 4);

    let (s, v) = w
        .call(Method::GET, "/api/v1/blocks/evm-31337/2", None, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["height"], 2);

    let tx = format!("/api/v1/txs/{}", txid(2));
    let (s, v) = w.call(Method::GET, &tx, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["account"][0]["transfers"].as_array().unwrap().len(), 1);

    let a = format!(
        "/api/v1/addresses/evm-31337/{}?limit=1&offset=1",
        hex_addr(2)
    );
    let (s, v) = w.call(Method::GET, &a, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["address"], hex_addr(2));
    // Thief 2: in 100, out 60 and 40; the page holds the second row only.
    assert_eq!(v["transfers"].as_array().unwrap().len(), 1);
    assert_eq!(v["transfers"][0]["height"], 2);
    assert_eq!(v["account"]["transfers"], 3);
}

#[tokio::test]
async fn an_incident_is_created_traced_and_its_result_kept() {
    let w = world(true, Caps::default());
    // Label the exchange deposit, so the trace stops there as a point of intervention.
    let (s, v) = w.label_deposit("Exchange X deposit").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["replaced"], false);

    let incident = json!({"name": "drain", "chain": "evm-31337", "txs": [txid(2).to_string()],
        "notes": "victim 1 drained"});
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&w.analyst),
            Some(incident.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&w.analyst),
            Some(incident),
        )
        .await;
    assert_eq!((s, code(&v).0), (StatusCode::CONFLICT, "conflict"));
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("incident \"drain\" exists"),
        "{message}"
    );
    assert!(
        !message.contains('/'),
        "no server path in an error: {message}"
    );

    let (s, v) = w.call(Method::GET, "/api/v1/incidents", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v[0]["name"], "drain");

    let (s, v) = w
        .call(Method::GET, "/api/v1/incidents/drain/result", None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/incidents/drain/trace",
            Some(&w.analyst),
            Some(json!({"policy": "haircut"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let endpoints = v["endpoints"].as_array().unwrap();
    let at = |a: &str| {
        endpoints
            .iter()
            .find(|e| e["address"] == a)
            .unwrap_or_else(|| panic!("no endpoint {a} in {v}"))
    };
    let exchange = at(&hex_addr(5));
    // Amounts are base units, as strings (u128 is past what JSON readers keep exact).
    assert_eq!(exchange["amount"], json!((60 * ETH).to_string()));
    assert_eq!(exchange["label"], "Exchange X deposit");
    assert_eq!(exchange["stop"], "service");
    // Its proof: the drain, the split, the deposit.
    let edges = v["edges"].as_array().unwrap();
    let path: Vec<&str> = exchange["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| edges[i.as_u64().unwrap() as usize]["tx"].as_str().unwrap())
        .collect();
    assert_eq!(path.len(), 3, "{path:?}");
    assert_eq!(at(&hex_addr(4))["amount"], json!((40 * ETH).to_string()));

    let (s, kept) = w
        .call(Method::GET, "/api/v1/incidents/drain/result", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kept, v);
}

#[tokio::test]
async fn writes_need_a_token_of_the_right_role() {
    let w = world(true, Caps::default());
    let incident = json!({"name": "x", "chain": "evm-31337", "txs": [txid(2).to_string()]});
    let post = |t: Option<String>| {
        let i = incident.clone();
        let w = &w;
        async move {
            w.call(Method::POST, "/api/v1/incidents", t.as_deref(), Some(i))
                .await
        }
    };
    let (s, v) = post(None).await;
    assert_eq!((s, code(&v).0), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = post(Some(w.reader.clone())).await;
    assert_eq!((s, code(&v).0), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, v) = post(Some(format!("{}0", w.analyst))).await;
    assert_eq!((s, code(&v).0), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, v) = post(Some("Basic abc".into())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    // Nothing was saved by the refused calls.
    let (_, v) = w.call(Method::GET, "/api/v1/incidents", None, None).await;
    assert_eq!(v, json!([]));

    // Tokens are the admin's: an analyst may not list them; an admin makes and revokes one.
    let (s, _) = w
        .call(Method::GET, "/api/v1/tokens", Some(&w.analyst), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, made) = w
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&w.admin),
            Some(json!({"name": "ci", "role": "read"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{made}");
    let (s, list) = w
        .call(Method::GET, "/api/v1/tokens", Some(&w.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert!(
        list.to_string().find("digest").is_none(),
        "digests listed: {list}"
    );
    let new = made["token"].as_str().unwrap();
    let (s, _) = w.call(Method::GET, "/api/v1/status", Some(new), None).await;
    assert_eq!(s, StatusCode::OK);
    let id = made["record"]["id"].as_str().unwrap();
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = w.call(Method::GET, "/api/v1/status", Some(new), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn closed_reads_need_a_token_too() {
    let w = world(false, Caps::default());
    let (s, v) = w.call(Method::GET, "/api/v1/status", None, None).await;
    assert_eq!((s, code(&v).0), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, _) = w
        .call(Method::GET, "/api/v1/status", Some(&w.reader), None)
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn caps_are_named_when_exceeded() {
    let caps = Caps {
        body_bytes: 300,
        page: 10,
        hops: 5,
        batch: 2,
        ..Caps::default()
    };
    let w = world(true, caps);
    let a = format!("/api/v1/addresses/evm-31337/{}?limit=11", hex_addr(2));
    let (s, v) = w.call(Method::GET, &a, None, None).await;
    assert_eq!(
        (s, code(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ("cap_exceeded", Some("limit"))
        )
    );

    let big = json!({"name": "n", "chain": "evm-31337", "notes": "x".repeat(400)});
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&w.analyst),
            Some(big),
        )
        .await;
    assert_eq!(code(&v), ("cap_exceeded", Some("body")), "{s}");

    w.save_drain("drain").await;
    let (s, v) = w
        .call(
            Method::POST,
            "/api/v1/incidents/drain/trace",
            Some(&w.analyst),
            Some(json!({"max_hops": 6})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ("cap_exceeded", Some("max_hops"))
        )
    );

    let three = json!({"addresses": [
        {"chain": "evm-31337", "address": hex_addr(1)},
        {"chain": "evm-31337", "address": hex_addr(2)},
        {"chain": "evm-31337", "address": hex_addr(3)}]});
    let (s, v) = w
        .call(Method::POST, "/api/v1/screen", None, Some(three))
        .await;
    assert_eq!(code(&v), ("cap_exceeded", Some("addresses")), "{s}");

    let (_, v) = w
        .call(
            Method::GET,
            &format!("/api/v1/patterns/evm-31337/{}?hops=9", hex_addr(2)),
            None,
            None,
        )
        .await;
    assert_eq!(code(&v), ("cap_exceeded", Some("hops")));
}

/// A bad request: method, path, body, and the status, error code and field it must get.
type Case<'a> = (
    Method,
    &'a str,
    Option<Value>,
    StatusCode,
    &'a str,
    Option<&'a str>,
);

#[tokio::test]
async fn bad_input_gets_a_structured_error_and_changes_nothing() {
    let w = world(true, Caps::default());
    let cases: Vec<Case<'_>> = vec![
        (
            Method::GET,
            "/api/v1/addresses/evm-31337/0xnothex",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("address"),
        ),
        (
            Method::GET,
            "/api/v1/addresses/dogecoin-9/0x00",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("chain"),
        ),
        (
            Method::GET,
            "/api/v1/addresses/evm-31337/0x0000000000000000000000000000000000000077",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            Method::GET,
            "/api/v1/txs/zz",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("txid"),
        ),
        (
            Method::GET,
            "/api/v1/blocks/evm-31337/notanumber",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
        ),
        (
            Method::GET,
            "/api/v1/blocks/evm-31337/99",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            Method::GET,
            "/api/v1/incidents/..%2F..%2Fetc%2Fpasswd",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            Method::GET,
            "/api/v1/labels?limit=ten",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
        ),
        (
            Method::GET,
            "/api/v1/labels?category=%3Cscript%3E",
            None,
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("category"),
        ),
        (
            Method::GET,
            "/api/v1/no/such/path",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"name": "../escape", "chain": "evm-31337", "txs": ["00"]})),
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
        ),
        (
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"name": "n", "chain": "evm-31337", "txs": "not a list"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("txs"),
        ),
        (
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"name": "n", "chain": "evm-31337", "surprise": 1})),
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
        ),
        (
            Method::POST,
            "/api/v1/labels",
            Some(
                json!({"chain": "evm-31337", "address": "0x12", "label": "l", "category": "exchange", "confidence": 1, "analyst": "a"}),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("address"),
        ),
        (
            Method::POST,
            "/api/v1/labels",
            Some(
                json!({"chain": "evm-31337", "address": hex_addr(5), "label": "l", "category": "exchange", "confidence": 101, "analyst": "a"}),
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("confidence"),
        ),
        (
            Method::POST,
            "/api/v1/incidents/none/trace",
            Some(json!({})),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            Method::POST,
            "/api/v1/incidents/none/trace",
            Some(json!({"policy": "guess"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("policy"),
        ),
        // An array is not the object the schema says, though serde would read its fields
        // from it in order (found by the API conformance fuzzing).
        (
            Method::POST,
            "/api/v1/incidents/drain/trace",
            Some(json!([null, null])),
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
        ),
    ];
    for (method, uri, body, status, want, field) in cases {
        let (s, v) = w.call(method.clone(), uri, Some(&w.analyst), body).await;
        assert_eq!(s, status, "{method} {uri}: {v}");
        assert_eq!(code(&v).0, want, "{method} {uri}: {v}");
        if field.is_some() {
            assert_eq!(code(&v).1, field, "{method} {uri}: {v}");
        }
        let text = v.to_string();
        assert!(
            !text.contains("/tmp") && !text.contains("panicked"),
            "internals in {text}"
        );
    }

    // Malformed JSON and a wrong content type.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/labels")
        .header("authorization", format!("Bearer {}", w.analyst))
        .header("content-type", "application/json")
        .body(Body::from("{\"chain\": "))
        .unwrap();
    let (s, v) = w.send(req).await;
    assert_eq!((s, code(&v).0), (StatusCode::BAD_REQUEST, "bad_request"));
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/labels")
        .header("authorization", format!("Bearer {}", w.analyst))
        .body(Body::from("chain=x"))
        .unwrap();
    let (s, _) = w.send(req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // None of it stored anything.
    let (_, v) = w.call(Method::GET, "/api/v1/incidents", None, None).await;
    assert_eq!(v, json!([]));
    let (_, v) = w.call(Method::GET, "/api/v1/labels", None, None).await;
    assert_eq!(v, json!([]));
    assert!(!w.state_dir_has("incidents"));
}

impl World {
    fn state_dir_has(&self, name: &str) -> bool {
        self._dir.path().join(name).exists()
    }
}

#[tokio::test]
async fn labels_keep_markup_as_text() {
    let w = world(true, Caps::default());
    let evil = "<script>alert('x')</script>";
    let label = json!({"chain": "evm-31337", "address": hex_addr(4), "label": evil,
        "category": "exchange", "confidence": 50, "analyst": "ana"});
    let (s, _) = w
        .call(
            Method::POST,
            "/api/v1/labels",
            Some(&w.analyst),
            Some(label),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = w
        .call(Method::GET, "/api/v1/labels?chain=evm-31337", None, None)
        .await;
    // Stored and answered as the text it is; JSON escaping is the API's, HTML escaping the UI's.
    assert_eq!(v[0]["label"], evil);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_the_docs_page_renders_it() {
    let w = world(true, Caps::default());
    let (s, doc) = w.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"].as_str().unwrap().chars().next(), Some('3'));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/status",
        "/api/v1/blocks/{chain}/{height}",
        "/api/v1/txs/{txid}",
        "/api/v1/addresses/{chain}/{address}",
        "/api/v1/labels",
        "/api/v1/incidents",
        "/api/v1/incidents/{name}",
        "/api/v1/incidents/{name}/trace",
        "/api/v1/incidents/{name}/result",
        "/api/v1/screen/{chain}/{address}",
        "/api/v1/screen",
        "/api/v1/patterns/{chain}/{address}",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/labels/import",
        "/api/v1/entities/{chain}/{which}",
        "/api/v1/incidents/{name}/report",
        "/api/v1/search",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the document");
    }
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    // A subscription's kinds are the alert kinds, finals included.
    let kinds = &doc["components"]["schemas"]["AlertKindName"]["enum"];
    assert!(
        kinds
            .as_array()
            .is_some_and(|k| k.contains(&json!("final")) && k.contains(&json!("retraction"))),
        "{kinds}"
    );
    let req = Request::builder()
        .uri("/api/docs")
        .body(Body::empty())
        .unwrap();
    let resp = router(Arc::clone(&w.state)).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&html).contains("/api/openapi.json"));
}

#[tokio::test]
async fn a_refused_write_is_refused_before_its_body_is_read() {
    let w = world(true, Caps::default());
    for token in [None, Some(w.reader.as_str())] {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/incidents")
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let (s, v) = w.send(req.body(Body::from("not json")).unwrap()).await;
        let want = if token.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(s, want, "{v}");
    }
}

#[tokio::test]
async fn the_evidence_report_proves_each_point_of_intervention() {
    let w = world(true, Caps::default());
    w.label_deposit("<b>Exchange X</b> deposit").await;
    w.save_drain("drain").await;
    let (s, v) = w
        .call(Method::GET, "/api/v1/incidents/drain/report", None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a report before any trace: {v}");
    w.call(
        Method::POST,
        "/api/v1/incidents/drain/trace",
        Some(&w.analyst),
        Some(json!({"policy": "fifo", "max_hops": 10})),
    )
    .await;

    let (s, r) = w
        .call(
            Method::GET,
            "/api/v1/incidents/drain/report?format=json",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["rules"]["policy"], "fifo");
    assert_eq!(r["rules"]["max_hops"], 10);
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "one freezable endpoint: {r}");
    let p = &points[0];
    assert_eq!(p["address"], hex_addr(5));
    assert_eq!(p["amount"], json!((60 * ETH).to_string()));
    assert_eq!(p["amount_shown"], "60 ETH");
    assert_eq!(p["labels"][0]["source"], "analyst:ana");
    let path = p["path"].as_array().unwrap();
    let txs: Vec<&str> = path.iter().map(|h| h["tx"].as_str().unwrap()).collect();
    let want: Vec<String> = [2u8, 3, 5]
        .iter()
        .map(|n| format!("0x{}", txid(*n)))
        .collect();
    assert_eq!(txs, want);
    assert_eq!(path[0]["time_utc"], "2025-01-01 02:53:32 UTC"); // 1,735,700,012 s
    assert_eq!(r["digests"]["tips"][0]["height"], 4);
    assert_eq!(r["digests"]["inputs_sha256"].as_str().unwrap().len(), 64);
    let stolen = &r["summary"][0]["figures"];
    assert_eq!(stolen["stolen"], json!((100 * ETH).to_string()));
    assert_eq!(stolen["intervention"], json!((60 * ETH).to_string()));

    // The same as HTML: inert, self-contained, the label's markup shown as text.
    let req = Request::builder()
        .uri("/api/v1/incidents/drain/report")
        .body(Body::empty())
        .unwrap();
    let resp = router(Arc::clone(&w.state)).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("&lt;b&gt;Exchange X&lt;/b&gt; deposit"));
    assert!(!html.contains("<b>Exchange X</b>"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    for t in &want {
        assert!(html.contains(t.as_str()), "{t} missing");
    }
    assert!(html.contains(r["digests"]["inputs_sha256"].as_str().unwrap()));

    // One endpoint only; an address that is no endpoint is refused.
    let one = format!(
        "/api/v1/incidents/drain/report?format=json&endpoint={}",
        hex_addr(4)
    );
    let (_, r) = w.call(Method::GET, &one, None, None).await;
    assert_eq!(r["points"][0]["address"], hex_addr(4));
    assert_eq!(r["points"][0]["amount_shown"], "40 ETH");
    let none = "/api/v1/incidents/drain/report?endpoint=0x0000000000000000000000000000000000000077";
    let (s, _) = w.call(Method::GET, none, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/incidents/drain/report?format=docx",
            None,
            None,
        )
        .await;
    assert_eq!((s, code(&v).1), (StatusCode::BAD_REQUEST, Some("format")));

    // As PDF: a PDF file naming the digest (its text layout is the report crate's test).
    let req = Request::builder()
        .uri("/api/v1/incidents/drain/report?format=pdf")
        .body(Body::empty())
        .unwrap();
    let resp = router(Arc::clone(&w.state)).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let pdf = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(pdf.starts_with(b"%PDF-"));
    let digest = r["digests"]["inputs_sha256"].as_str().unwrap();
    assert!(
        pdf.windows(digest.len()).any(|w| w == digest.as_bytes()),
        "the inputs digest is in the PDF's footer text"
    );
}

#[tokio::test]
async fn search_finds_txs_addresses_labels_and_incidents() {
    let w = world(true, Caps::default());
    w.label_deposit("Exchange X deposit").await;
    w.save_drain("exchange-drain").await;
    let find = |q: String| {
        let w = &w;
        async move {
            let (s, v) = w
                .call(Method::GET, &format!("/api/v1/search?q={q}"), None, None)
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v.as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h["kind"].as_str().unwrap().to_string(),
                        h["id"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        find(txid(3).to_string()).await,
        [("tx".into(), format!("0x{}", txid(3)))]
    );
    let by_address = find(hex_addr(5)).await;
    assert_eq!(by_address[0], ("address".into(), hex_addr(5)));
    let by_text = find("exchange".into()).await;
    assert!(
        by_text.contains(&("incident".into(), "exchange-drain".into())),
        "{by_text:?}"
    );
    assert!(
        by_text.contains(&("label".into(), hex_addr(5))),
        "{by_text:?}"
    );
    assert!(find("nothing-like-this".into()).await.is_empty());
    let (s, v) = w.call(Method::GET, "/api/v1/search?q=", None, None).await;
    assert_eq!((s, code(&v).1), (StatusCode::BAD_REQUEST, Some("q")));
    // Whitespace alone, by Rust's measure or ECMAScript's (schemathesis sent U+0085, NEL,
    // which the schema's regexes do not call whitespace): valid, and nothing is found.
    for blank in ["%20%20", "%C2%85", "%09"] {
        let (s, v) = w
            .call(
                Method::GET,
                &format!("/api/v1/search?q={blank}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{blank}: {v}");
        assert_eq!(v, serde_json::json!([]), "{blank}");
    }
    let long = "a".repeat(201);
    let (s, _) = w
        .call(Method::GET, &format!("/api/v1/search?q={long}"), None, None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_share_the_stores() {
    let w = world_with(true, Caps::default(), true);
    let mut tasks = Vec::new();
    for i in 0..96u8 {
        let state = Arc::clone(&w.state);
        let uri = match i % 4 {
            0 => format!("/api/v1/addresses/evm-31337/{}", hex_addr(2 + i % 4)),
            1 => "/api/v1/labels?chain=evm-31337".to_string(),
            2 => format!("/api/v1/search?q={}", hex_addr(5)),
            _ => format!("/api/v1/screen/evm-31337/{}", hex_addr(2 + i % 4)),
        };
        tasks.push(tokio::spawn(async move {
            let req = Request::builder().uri(&uri).body(Body::empty()).unwrap();
            let resp = router(state).oneshot(req).await.unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (uri, status, body)
        }));
    }
    for t in tasks {
        let (uri, status, body) = t.await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        if uri.contains("/screen/") && uri.contains(&hex_addr(5)) {
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                v["level"], "high",
                "the deposit that received 60 of the stolen 100"
            );
        }
    }
}

#[tokio::test]
async fn label_files_import_whole_or_not_at_all() {
    let w = world(true, Caps::default());
    let csv = format!(
        "chain,address,label,category,source,confidence\n\
         evm-31337,{},Exchange X <b>deposit</b>,exchange,case-7,0.9\n\
         evm-31337,{},Mixer pool,mixer,case-7,0.8\n",
        hex_addr(5),
        hex_addr(4)
    );
    let upload = |body: String, query: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/labels/import?{query}"))
            .header("authorization", format!("Bearer {}", w.analyst))
            .header("content-type", "text/csv")
            .body(Body::from(body))
            .unwrap()
    };
    // A bad record refuses the file, naming where; nothing is stored.
    let bad = format!("{csv}evm-31337,0xnot-an-address,x,exchange,case-7,0.5\n");
    let (s, v) = w.send(upload(bad, "format=csv&source=case-7")).await;
    assert_eq!(
        (s, code(&v).1),
        (StatusCode::BAD_REQUEST, Some("body")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line 4"),
        "{v}"
    );
    let (_, listed) = w.call(Method::GET, "/api/v1/labels", None, None).await;
    assert_eq!(listed, json!([]));

    let (s, v) = w.send(upload(csv, "format=csv&source=case-7")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["imported"], 2);
    let (_, listed) = w
        .call(Method::GET, "/api/v1/labels?category=mixer", None, None)
        .await;
    assert_eq!(listed[0]["address"], hex_addr(4));
    assert_eq!(listed[0]["source"], "case-7");

    // Imports cannot pose as an analyst; a reader cannot import.
    let (s, _) = w
        .send(upload("x".into(), "format=csv&source=analyst:eve"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut req = upload("x".into(), "format=csv&source=s");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", w.reader).parse().unwrap(),
    );
    let (s, _) = w.send(req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn entities_answer_by_id_and_by_member() {
    let w = world(true, Caps::default());
    let (s, v) = w
        .call(
            Method::GET,
            &format!("/api/v1/entities/evm-31337/{}", hex_addr(5)),
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v).0),
        (StatusCode::NOT_FOUND, "not_found"),
        "not clustered yet: {v}"
    );
    let w = world_with(true, Caps::default(), true);
    let (s, by_member) = w
        .call(
            Method::GET,
            &format!("/api/v1/entities/evm-31337/{}", hex_addr(5)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{by_member}");
    let id = by_member["entity"].as_u64().unwrap();
    let (s, by_id) = w
        .call(
            Method::GET,
            &format!("/api/v1/entities/evm-31337/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{by_id}");
    assert_eq!(by_id["entity"], by_member["entity"]);
    assert_eq!(by_id["size"], by_member["size"]);
    let (_, a) = w
        .call(
            Method::GET,
            &format!("/api/v1/addresses/evm-31337/{}", hex_addr(5)),
            None,
            None,
        )
        .await;
    assert_eq!(a["entity"].as_u64(), Some(id));
    let (s, _) = w
        .call(
            Method::GET,
            "/api/v1/entities/evm-31337/4000000",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn alerts_and_webhook_subscriptions_are_served_and_streamed() {
    let w = world(true, Caps::default());
    let (s, v) = w.call(Method::GET, "/api/v1/alerts", None, None).await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    let (s, v) = w.call(Method::GET, "/api/v1/status", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["alerts"].clone(), v["watching"].clone()),
        (json!(true), json!([]))
    );

    // Subscriptions are the admin's; the secret is shown once, never listed.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "kinds": ["reached_service"]});
    let (s, _) = w
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            Some(&w.analyst),
            Some(hook.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, made) = w
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            Some(&w.admin),
            Some(hook),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{made}");
    let secret = made["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    let id = made["subscription"]["id"].as_str().unwrap().to_string();
    let (_, listed) = w
        .call(Method::GET, "/api/v1/subscriptions", Some(&w.admin), None)
        .await;
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(!listed.to_string().contains(secret), "{listed}");
    for (bad, field) in [
        (json!({"url": "ftp://example.org/x"}), "url"),
        (json!({"url": "http://user:pw@example.org/x"}), "url"),
        (
            json!({"url": "http://example.org/x", "kinds": ["rumour"]}),
            "kinds",
        ),
    ] {
        let (s, v) = w
            .call(
                Method::POST,
                "/api/v1/subscriptions",
                Some(&w.admin),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            (s, code(&v).1),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{bad}: {v}"
        );
        assert!(!v.to_string().contains("pw@"), "no credentials echoed: {v}");
    }

    // An alert raised (as `watch` raises them): listed with its pending delivery, streamed.
    let outbox = w.state.outbox().unwrap();
    let alert = tracehound_monitor::Alert::builder(
        tracehound_monitor::AlertKind::ReachedService,
        "evm-31337",
        4,
        "ab".repeat(32),
    )
    .incident("drain")
    .address(hex_addr(5))
    .amount("native", 60 * ETH)
    .summary("<b>60 ETH</b> reached Exchange X")
    .build();
    let seq = outbox.push(&alert).unwrap().unwrap();
    let (_, v) = w
        .call(Method::GET, "/api/v1/alerts?after=0", None, None)
        .await;
    assert_eq!(v[0]["seq"], seq);
    assert_eq!(v[0]["alert"]["id"], alert.id.as_str());
    assert_eq!(v[0]["alert"]["amount"], (60 * ETH).to_string());
    assert_eq!(v[0]["deliveries"][0]["subscription"], id.as_str());
    assert_eq!(v[0]["deliveries"][0]["state"], "pending");
    let (s, v) = w
        .call(Method::GET, "/api/v1/alerts?limit=0", None, None)
        .await;
    assert_eq!((s, code(&v).1), (StatusCode::BAD_REQUEST, Some("limit")));
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/alerts?after=9223372036854775808",
            None,
            None,
        )
        .await;
    assert_eq!((s, code(&v).1), (StatusCode::BAD_REQUEST, Some("after")));
    let (s, v) = w
        .call(Method::GET, "/api/v1/alerts/stream?seconds=0", None, None)
        .await;
    assert_eq!((s, code(&v).1), (StatusCode::BAD_REQUEST, Some("seconds")));
    let (s, v) = w
        .call(Method::GET, "/api/v1/alerts?limit=100000", None, None)
        .await;
    assert_eq!(
        (s, code(&v).1),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
    );

    let req = Request::builder()
        .uri("/api/v1/alerts/stream?after=0&seconds=1")
        .body(Body::empty())
        .unwrap();
    let resp = router(Arc::clone(&w.state)).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(text.contains("event: alert"), "{text}");
    assert!(text.contains(&format!("id: {seq}")), "{text}");
    assert!(text.contains(&alert.id), "{text}");
    let (s, v) = w
        .call(
            Method::GET,
            "/api/v1/alerts/stream?seconds=100000",
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v).1),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("seconds"))
    );

    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/subscriptions/{id}"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = w
        .call(
            Method::DELETE,
            &format!("/api/v1/subscriptions/{id}"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
