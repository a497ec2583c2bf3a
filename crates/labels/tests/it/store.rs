//! The label store: idempotent imports, source replacement, analysts' labels.

use tracehound_core::Chain;
use tracehound_labels::import::read_str;
use tracehound_labels::{
    Category, Filter, Format, ImportOptions, LabelIndex, LabelStore, Tag, now,
};

const HEAD: &str = "chain,address,label,category,source,confidence\n";
const A: &str = "0x0000000000000000000000000000000000000001";
const B: &str = "0x0000000000000000000000000000000000000002";

fn import(store: &LabelStore, text: &str) -> tracehound_labels::ImportReport {
    let p = read_str(
        "l.csv",
        "l.csv",
        text,
        Format::Csv,
        &ImportOptions::default(),
    )
    .unwrap();
    store.import(&p, Format::Csv, "l.csv").unwrap()
}

fn analyst(name: &str, address: &str, category: Category, note: &str) -> Tag {
    Tag {
        chain: Chain::Evm(1),
        address: address.into(),
        label: format!("{name}'s label"),
        category,
        raw_category: category.name().into(),
        source: format!("analyst:{name}"),
        confidence: 100,
        raw_confidence: "analyst".into(),
        reference: None,
        actor: None,
        context: None,
        note: Some(note.into()),
        origin: String::new(),
        added: now(),
    }
}

#[test]
fn imports_are_idempotent_and_replace_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = LabelStore::open_in(dir.path()).unwrap();
    let v1 = format!("{HEAD}ethereum,{A},Ex,exchange,x,0.9\nethereum,{B},Mix,mixer,x,1\n");
    let r = import(&store, &v1);
    assert_eq!((r.imported, r.replaced), (2, 0));
    let r = import(&store, &v1);
    assert_eq!((r.imported, r.replaced), (2, 2));
    assert_eq!(store.list(&Filter::default()).unwrap().len(), 2);
    // A newer file of the same source replaces it: B is gone, A changed.
    let v2 = format!("{HEAD}ethereum,{A},Ex hot,hot_wallet,x,0.95\n");
    import(&store, &v2);
    let all = store.list(&Filter::default()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].category, all[0].confidence),
        (Category::HotWallet, 95)
    );
    assert!(store.tags_of(Chain::Evm(1), B).unwrap().is_empty());
    assert_eq!(store.sources().unwrap()[0].tags, 1);
    // Reopening sees the same.
    drop(store);
    let store = LabelStore::open_in(dir.path()).unwrap();
    assert_eq!(store.list(&Filter::default()).unwrap().len(), 1);
}

#[test]
fn analysts_labels_are_kept_apart_and_win_ties() {
    let dir = tempfile::tempdir().unwrap();
    let store = LabelStore::open_in(dir.path()).unwrap();
    import(&store, &format!("{HEAD}ethereum,{A},Ex,exchange,x,1\n"));
    let mine = analyst("alice", A, Category::DepositAddress, "seen in case 7");
    assert!(!store.add(&mine).unwrap());
    assert!(store.add(&mine).unwrap(), "adding again replaces");
    let tags = store.tags_of(Chain::Evm(1), A).unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(
        tags[0].source, "analyst:alice",
        "same confidence: the analyst's word wins"
    );
    assert_eq!(tags[0].note.as_deref(), Some("seen in case 7"));
    // Re-importing the file leaves the analyst's label alone.
    import(&store, &format!("{HEAD}ethereum,{B},Other,dex,x,1\n"));
    assert_eq!(store.tags_of(Chain::Evm(1), A).unwrap().len(), 1);
    assert_eq!(
        store
            .list(&Filter {
                source: Some("analyst:".into()),
                ..Filter::default()
            })
            .unwrap()
            .len(),
        1
    );
    // Search finds notes and labels.
    assert_eq!(store.search("CASE 7").unwrap().len(), 1);
    assert_eq!(store.search("other").unwrap().len(), 1);
    let idx = LabelIndex::load(&store).unwrap();
    assert_eq!(idx.len(), 2);
    assert_eq!(
        idx.get(Chain::Evm(1), A).unwrap().category,
        Category::DepositAddress
    );
    assert!(store.remove(Chain::Evm(1), A, "analyst:alice").unwrap());
    assert!(!store.remove(Chain::Evm(1), A, "analyst:alice").unwrap());
    assert!(store.tags_of(Chain::Evm(1), A).unwrap().is_empty());
    // Imports cannot pose as analysts, and analysts need a name.
    let mut p = read_str(
        "l.csv",
        "l.csv",
        &format!("{HEAD}ethereum,{A},E,exchange,x,1\n"),
        Format::Csv,
        &ImportOptions::default(),
    )
    .unwrap();
    p.source = "analyst:mallory".into();
    assert!(store.import(&p, Format::Csv, "l.csv").is_err());
    assert!(store.add(&analyst("", A, Category::Exchange, "")).is_err());
}

#[test]
fn strongest_label_prefers_confidence_then_analyst_then_gravity() {
    let dir = tempfile::tempdir().unwrap();
    let store = LabelStore::open_in(dir.path()).unwrap();
    import(&store, &format!("{HEAD}ethereum,{A},Ex,exchange,x,0.6\n"));
    let p = read_str(
        "s.csv",
        "s.csv",
        &format!("{HEAD}ethereum,{A},Sanctioned,sanction,x,authority_data\n"),
        Format::Csv,
        &ImportOptions::default(),
    )
    .unwrap();
    store.import(&p, Format::Csv, "s.csv").unwrap();
    let best = store.strongest(Chain::Evm(1), A).unwrap().unwrap();
    assert_eq!(
        (best.category, best.confidence),
        (Category::Sanctioned, 100)
    );
    assert_eq!(best.raw_category, "sanction");
}

#[test]
fn two_files_of_one_name_keep_their_own_tags() {
    let dir = tempfile::tempdir().unwrap();
    let store = LabelStore::open_in(dir.path()).unwrap();
    // Each chain's simulator output is a `labels.csv`: importing the second must not replace
    // the first (sources are named by full path), while re-importing one replaces itself.
    let mut files = Vec::new();
    for (sub, addr) in [("ltc", A), ("evm", B)] {
        let d = dir.path().join(sub);
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("labels.csv");
        std::fs::write(&f, format!("{HEAD}ethereum,{addr},Ex {sub},exchange,x,1\n")).unwrap();
        files.push(f);
    }
    for f in files.iter().chain(&files) {
        let p = tracehound_labels::import::read_file(f, Format::Csv, &ImportOptions::default())
            .unwrap();
        store.import(&p, Format::Csv, "labels.csv").unwrap();
    }
    for (addr, name) in [(A, "Ex ltc"), (B, "Ex evm")] {
        let tags = store.tags_of(Chain::Evm(1), addr).unwrap();
        assert_eq!(tags.len(), 1, "{tags:?}");
        assert_eq!(tags[0].label, name);
    }
}
