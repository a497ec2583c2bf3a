//! Bad datasets are refused with typed errors naming the directory and what is wrong.

use tracehound_jobs::DatasetError;
use tracehound_jobs::dataset::Dataset;
use tracehound_store::dataset::DatasetError as Invalid;

use crate::fixture::{child, export_v1, mainnet_store};

fn edit_manifest(dir: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("_tracehound.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_datasets_are_refused_with_what_is_wrong() {
    let stored = mainnet_store();
    let tmp = tempfile::tempdir().unwrap();
    let good = child(&tmp, "good");
    export_v1(&stored.store, &good, 100).await;
    let copy = |name: &str| {
        let dir = child(&tmp, name);
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(&good)
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        dir
    };
    let ds = Dataset::open(&good).unwrap();
    assert_eq!(ds.chains("outputs"), vec!["bitcoin".to_string()]);
    assert!(ds.manifest().tables["outputs"].files.len() >= 6);

    // No manifest: incomplete.
    let dir = copy("incomplete");
    std::fs::remove_file(dir.join("_tracehound.json")).unwrap();
    let e = Dataset::open(&dir).unwrap_err();
    assert!(
        matches!(e, DatasetError::Invalid(Invalid::NoManifest { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("incomplete"), "{e}");

    // Another schema version.
    let dir = copy("v2");
    edit_manifest(&dir, |v| v["schema_version"] = 2.into());
    let e = Dataset::open(&dir).unwrap_err();
    assert!(
        matches!(
            e,
            DatasetError::Invalid(Invalid::SchemaVersion { found: 2, .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("schema version 2"), "{e}");

    // Another format.
    let dir = copy("other");
    edit_manifest(&dir, |v| v["format"] = "delta".into());
    let e = Dataset::open(&dir).unwrap_err();
    assert!(
        matches!(e, DatasetError::Invalid(Invalid::Format { .. })),
        "{e}"
    );

    // A missing partition file.
    let dir = copy("missing");
    let first = ds.manifest().tables["outputs"].files[1].path.clone();
    std::fs::remove_file(dir.join(&first)).unwrap();
    let e = Dataset::open(&dir).unwrap_err();
    assert!(
        matches!(&e, DatasetError::Invalid(Invalid::MissingFile { file, .. }) if *file == first),
        "{e}"
    );
    assert!(e.to_string().contains(&first), "{e}");

    // A truncated one.
    let dir = copy("truncated");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(&first))
        .unwrap();
    f.set_len(100).unwrap();
    let e = Dataset::open(&dir).unwrap_err();
    assert!(
        matches!(
            e,
            DatasetError::Invalid(Invalid::FileSize { found: 100, .. })
        ),
        "{e}"
    );

    // A path leaving the dataset.
    let dir = copy("escape");
    edit_manifest(&dir, |v| {
        v["tables"]["outputs"]["files"][0]["path"] = "../../etc/passwd".into()
    });
    let e = Dataset::open(&dir).unwrap_err();
    assert!(
        matches!(e, DatasetError::Invalid(Invalid::BadManifest { .. })),
        "{e}"
    );

    // A table a job needs is missing.
    let dir = copy("no-inputs");
    edit_manifest(&dir, |v| {
        v["tables"].as_object_mut().unwrap().remove("inputs");
    });
    let ctx = datafusion::prelude::SessionContext::new();
    let ds = tracehound_jobs::register(&ctx, &dir).await.unwrap();
    let e = tracehound_jobs::cluster::run(&ctx, &ds, &child(&tmp, "out"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            tracehound_jobs::JobError::Dataset(DatasetError::MissingTable { table, .. })
                if table == "inputs"
        ),
        "{e}"
    );
    assert!(e.to_string().contains("table inputs is missing"), "{e}");
}
