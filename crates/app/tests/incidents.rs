//! Saved incidents: names that cannot escape the incidents folder, no silent overwrite, and
//! what is saved lists and reads back the same; a result that cannot be written replaces nothing.

use tracehound_app::{AppError, DataDir, TraceSettings};
use tracehound_store::StoreOptions;
use tracehound_trace::link::EdgeKind;
use tracehound_trace::{Endpoint, Hop, Incident, Policy, StolenItem, Stop, Summary, TraceResult};

fn incident(name: &str) -> Incident {
    Incident {
        name: name.to_string(),
        notes: Some("drained hot wallet".into()),
        assets: Vec::new(),
        stolen: vec![StolenItem {
            chain: "bitcoin".into(),
            tx: "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b".into(),
            vout: None,
            sub_index: None,
            amount: None,
        }],
        sources: Vec::new(),
    }
}

#[test]
fn saved_incidents_list_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path(), StoreOptions::default());
    assert!(data.list_incidents().unwrap().is_empty());
    let path = data
        .save_incident(&incident("hot-wallet"), None, false)
        .unwrap();
    assert_eq!(path, data.incidents_dir().join("hot-wallet.toml"));
    let listed = data.list_incidents().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].stolen),
        ("hot-wallet", 1)
    );
    let found = data.saved_incident_path("hot-wallet").unwrap();
    assert_eq!(data.read_incident(&found).unwrap(), incident("hot-wallet"));

    // A second save under the same name is refused unless forced; no temp file is left.
    let again = data.save_incident(&incident("hot-wallet"), None, false);
    assert!(
        matches!(&again, Err(AppError::Exists(m)) if m == "incident \"hot-wallet\" exists (use --force to overwrite)"),
        "{again:?}"
    );
    data.save_incident(&incident("hot-wallet"), None, true)
        .unwrap();
    let files: Vec<_> = std::fs::read_dir(data.incidents_dir()).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn names_cannot_reach_out_of_the_incidents_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path(), StoreOptions::default());
    // A file next to the data dir that a crafted name would reach.
    std::fs::write(dir.path().join("secret.toml"), "name = \"x\"").unwrap();
    for bad in ["../secret", "..", ".hidden", "a/b", "a\\b", ""] {
        let saved = data.save_incident(&incident(bad), None, false);
        assert!(
            matches!(saved, Err(AppError::Invalid(_))),
            "{bad:?} was saved: {saved:?}"
        );
        assert!(
            matches!(data.saved_incident_path(bad), Err(AppError::NotFound(_))),
            "{bad:?} was found"
        );
    }
    assert!(!data.incidents_dir().exists());
}

#[test]
fn kept_settings_give_back_the_rules_they_were_taken_from() {
    let mut rules = tracehound_trace::Rules::new("lifo".parse().unwrap());
    rules.max_hops = 7;
    rules.links.follow = false;
    rules.links.min_confidence = 70;
    rules.dust.insert("native".into(), 5_000);
    let settings = tracehound_app::TraceSettings::of(&rules);
    let again = settings
        .rules(tracehound_trace::Labels::default(), Default::default())
        .unwrap();
    assert_eq!(tracehound_app::TraceSettings::of(&again), settings);
    assert_eq!(again.policy.to_string(), "lifo");

    let mut bad = settings.clone();
    bad.policy = "guess".into();
    assert!(matches!(
        bad.rules(tracehound_trace::Labels::default(), Default::default()),
        Err(AppError::Invalid(m)) if m.starts_with("kept trace settings")
    ));
    let mut bad = settings;
    bad.dust.insert("native".into(), "lots".into());
    assert!(
        bad.rules(tracehound_trace::Labels::default(), Default::default())
            .is_err()
    );
}

/// A result of one endpoint whose path is `path`, with `edges` as its trace graph.
fn result_with(edges: Vec<std::sync::Arc<Hop>>, path: Vec<std::sync::Arc<Hop>>) -> TraceResult {
    TraceResult {
        incident: "hot-wallet".into(),
        policy: Policy::Haircut,
        endpoints: vec![Endpoint {
            chain: "bitcoin".into(),
            address: "1HLoD9E4SDFFPDiYfNYnkBLQ85Y51J3Zb1".into(),
            asset: "native".into(),
            amount: 5_000_000_000,
            label: None,
            category: None,
            freezable_by: None,
            stop: Stop::Unmoved,
            hops: 1,
            path,
            inflows: 1,
            fiat: None,
            entity: None,
            patterns: Vec::new(),
        }],
        summary: Summary {
            policy: Policy::Haircut,
            exposure: false,
            assets: Vec::new(),
            links: Vec::new(),
        },
        edges,
        notes: Vec::new(),
    }
}

fn hop(tx: &str) -> std::sync::Arc<Hop> {
    std::sync::Arc::new(Hop {
        chain: "bitcoin".into(),
        tx: tx.into(),
        at: "9:0".into(),
        time: 1_231_473_279,
        from: "incident".into(),
        to: "1HLoD9E4SDFFPDiYfNYnkBLQ85Y51J3Zb1".into(),
        asset: "native".into(),
        value: 5_000_000_000,
        tainted: 5_000_000_000,
        rule: "incident: stolen output".into(),
        edge: EdgeKind::UtxoTx,
    })
}

#[test]
fn a_result_that_cannot_be_written_leaves_the_kept_one_and_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path(), StoreOptions::default());
    data.save_incident(&incident("hot-wallet"), None, false)
        .unwrap();
    let settings = |max_hops| TraceSettings {
        policy: "haircut".into(),
        max_hops,
        follow_links: false,
        min_link_confidence: 0,
        dust: Default::default(),
    };
    let theft = hop("theft");
    data.save_result(
        "hot-wallet",
        &result_with(vec![hop("other"), theft.clone()], vec![theft]),
        &settings(10),
    )
    .unwrap();
    let kept = data.load_result("hot-wallet").unwrap();
    let json: serde_json::Value = serde_json::from_str(&kept).unwrap();
    // The path is the hop's position in the trace graph.
    assert_eq!(json["endpoints"][0]["path"], serde_json::json!([1]));
    assert_eq!(json["edges"][1]["tx"], "theft");

    // A path naming a hop its trace graph lacks cannot be written: nothing is replaced.
    let broken = result_with(vec![hop("other")], vec![hop("elsewhere")]);
    let err = data
        .save_result("hot-wallet", &broken, &settings(64))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tx elsewhere is not in the trace graph"),
        "{err}"
    );
    assert_eq!(data.load_result("hot-wallet").unwrap(), kept);
    assert_eq!(data.load_settings("hot-wallet").unwrap().max_hops, 10);
    let mut files: Vec<String> = std::fs::read_dir(data.incidents_dir())
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "hot-wallet.result.json",
            "hot-wallet.settings.json",
            "hot-wallet.toml"
        ]
    );
}
