//! Saved incidents: names that cannot escape the incidents folder, no silent overwrite, and
//! what is saved lists and reads back the same.

use tracehound_app::{AppError, DataDir};
use tracehound_store::StoreOptions;
use tracehound_trace::{Incident, StolenItem};

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
