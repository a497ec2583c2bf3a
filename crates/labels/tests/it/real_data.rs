//! Every shipped label file imports, and the counts match the files: expected numbers are
//! computed here by simple counts over each file, not taken from the importer.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tracehound_core::Chain;
use tracehound_core::fixtures::shared_data;
use tracehound_labels::import::{self, Actors};
use tracehound_labels::{Category, Format, ImportOptions, LabelIndex, LabelStore};

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared_data(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn skip() -> ImportOptions {
    ImportOptions {
        skip_invalid: true,
        ..ImportOptions::default()
    }
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Per file (data README): XBT 435, ETH 152, USDT 26, LTC 10, BCH 7, TRX 6, DASH 3, XMR 3,
/// ZEC 3, USDC 2, and 1 each for ARB, BSC, BSV, BTG, ETC, XRP and XVG; 654 in all.
#[test]
fn ofac_lists_import_with_every_line_accounted_for() {
    let readme = [
        ("XBT", 435),
        ("ETH", 152),
        ("USDT", 26),
        ("LTC", 10),
        ("BCH", 7),
        ("TRX", 6),
        ("DASH", 3),
        ("XMR", 3),
        ("ZEC", 3),
        ("USDC", 2),
        ("ARB", 1),
        ("BSC", 1),
        ("BSV", 1),
        ("BTG", 1),
        ("ETC", 1),
        ("XRP", 1),
        ("XVG", 1),
    ];
    // Assets of chains tracehound does not model: every line is skipped as unknown chain.
    let unmodelled = ["TRX", "DASH", "XMR", "BSV", "BTG", "XRP", "XVG"];
    let (mut total, mut imported) = (0, 0);
    let ofac = files("labels/ofac");
    assert_eq!(ofac.len(), readme.len());
    for p in &ofac {
        let asset = name(p)
            .trim_start_matches("sanctioned_addresses_")
            .trim_end_matches(".txt")
            .to_string();
        let text = std::fs::read_to_string(p).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let want = readme.iter().find(|(a, _)| *a == asset).unwrap().1;
        assert_eq!(lines.len(), want, "{asset}");
        // Skipped, by a count of the file: Tron `T…` addresses (in XBT and USDT), CashAddr
        // `q…` (no CashAddr support yet), and every line of an unmodelled chain.
        let want_skipped = if unmodelled.contains(&asset.as_str()) {
            lines.len()
        } else {
            lines
                .iter()
                .filter(|l| l.starts_with('T') || l.starts_with('q'))
                .count()
        };
        let r = import::read_file(p, Format::Ofac, &skip()).unwrap();
        assert_eq!(r.skipped.len(), want_skipped, "{asset}: {:?}", r.skipped);
        assert_eq!(
            r.tags.len() + r.skipped.len() + r.duplicates as usize,
            lines.len(),
            "{asset}"
        );
        for t in &r.tags {
            assert_eq!(t.category, Category::Sanctioned);
            assert_eq!(
                (t.confidence, t.raw_confidence.as_str()),
                (100, "authority_data")
            );
            assert_eq!(
                t.source,
                format!("ofac:{}", p.canonicalize().unwrap().display())
            );
        }
        total += lines.len();
        imported += r.tags.len();
    }
    assert_eq!(total, 654);
    // 654 less 6 TRX, 3 DASH, 3 XMR, 1 each BSV BTG XRP XVG, 6 CashAddr, 11 + 1 Tron.
    assert_eq!(imported, 654 - 6 - 3 - 3 - 4 - 6 - 12);
    // Without --skip-invalid the first bad line stops the import, naming file, line, value.
    let trx = ofac.iter().find(|p| name(p).contains("TRX")).unwrap();
    let e = import::read_file(trx, Format::Ofac, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sanctioned_addresses_TRX.txt line 1") && e.contains("unknown chain"),
        "{e}"
    );
    // ETH: 115 checksummed and 37 lowercase addresses, all valid, all one per line.
    let eth = ofac.iter().find(|p| name(p).contains("_ETH")).unwrap();
    let r = import::read_file(eth, Format::Ofac, &ImportOptions::default()).unwrap();
    assert_eq!(r.tags.len(), 152);
    assert!(
        r.tags
            .iter()
            .all(|t| t.chain == Chain::Evm(1) && t.address == t.address.to_lowercase())
    );
}

/// Entries per file (data README): etherscan 29,945, bscscan 6,726, polygonscan 4,997,
/// arbiscan 837, optimism 546.
#[test]
fn explorer_dumps_import_with_quirks_handled() {
    let readme = [
        ("etherscan", 29_945, Chain::Evm(1)),
        ("bscscan", 6_726, Chain::Evm(56)),
        ("polygonscan", 4_997, Chain::Evm(137)),
        ("arbiscan", 837, Chain::Evm(42161)),
        ("optimism", 546, Chain::Evm(10)),
    ];
    for p in files("labels/etherscan") {
        let file = name(&p);
        let (_, entries, chain) = readme.iter().find(|(n, _, _)| file.starts_with(n)).unwrap();
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(json.len(), *entries, "{file}");
        // Independent counts: keys that are not 0x + 40 hex digits are skipped; a key whose
        // lower case was seen before is a duplicate of it.
        let is_addr = |k: &str| {
            k.len() == 42 && k.starts_with("0x") && k[2..].bytes().all(|b| b.is_ascii_hexdigit())
        };
        let not_addresses = json.keys().filter(|k| !is_addr(k)).count();
        let distinct: HashSet<String> = json
            .keys()
            .filter(|k| is_addr(k))
            .map(|k| k.to_lowercase())
            .collect();
        let r = import::read_file(&p, Format::Etherscan, &skip()).unwrap();
        assert_eq!(r.skipped.len(), not_addresses, "{file}: {:?}", r.skipped);
        assert_eq!(r.tags.len(), distinct.len(), "{file}");
        assert_eq!(
            r.tags.len() + r.skipped.len() + r.duplicates as usize,
            *entries,
            "{file}"
        );
        assert!(
            r.tags
                .iter()
                .all(|t| t.chain == *chain && t.confidence == 60)
        );
        if file.starts_with("etherscan") {
            // The README's 173 mixed-case/lowercase pairs in the Ethereum file.
            assert_eq!(r.duplicates, 173);
            assert_eq!(not_addresses, 0);
            let tornado = r
                .tags
                .iter()
                .filter(|t| t.raw_category.split(',').any(|l| l == "tornado-cash"))
                .collect::<Vec<_>>();
            assert!(!tornado.is_empty());
            // Tornado contracts also tagged as OFAC-sanctioned take the graver category.
            assert!(tornado.iter().any(|t| t.category == Category::Mixer));
            assert!(
                tornado
                    .iter()
                    .all(|t| matches!(t.category, Category::Mixer | Category::Sanctioned))
            );
            let ex = r
                .tags
                .iter()
                .find(|t| t.address == "0xf977814e90da44bfa03b6295a0616a897441acec");
            if let Some(ex) = ex {
                assert_eq!(
                    ex.category.freezable_by().map(|f| f.name()),
                    Some("exchange")
                );
            }
        }
    }
}

/// Tags per pack, counted as the lines that hold an `address:` key.
#[test]
fn graphsense_packs_import_and_counts_add_up() {
    let actors = Actors::from_file(&shared_data(
        "labels/graphsense/actors/graphsense.actorpack.yaml",
    ))
    .unwrap();
    assert_eq!(actors.len(), 3_813);
    let opts = ImportOptions {
        skip_invalid: true,
        actors: Some(actors),
        ..ImportOptions::default()
    };
    let mut used_actors = HashSet::new();
    let mut total = 0;
    for p in files("labels/graphsense/packs") {
        let file = name(&p);
        let text = std::fs::read_to_string(&p).unwrap();
        let tags = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                l.strip_prefix("- ").unwrap_or(l).starts_with("address:")
            })
            .count();
        let r = import::read_file(&p, Format::Tagpack, &opts).unwrap();
        assert_eq!(
            r.tags.len() + r.skipped.len() + r.duplicates as usize,
            tags,
            "{file}"
        );
        // Every skip is a chain tracehound does not model or an address that is not one;
        // never a category, confidence or actor of the shipped packs.
        for s in &r.skipped {
            assert!(
                s.what.contains("unknown chain") || s.what.contains("not a valid"),
                "{s}"
            );
        }
        used_actors.extend(r.tags.iter().filter_map(|t| t.actor.clone()));
        total += tags;
        let by_name = |n: &str, count: usize, cat: Category, conf: u8| {
            if file == n {
                assert_eq!(r.tags.len(), count, "{file}");
                assert!(r.tags.iter().all(|t| t.category == cat), "{file}");
                assert!(r.tags.iter().all(|t| t.confidence == conf), "{file}");
            }
        };
        by_name("samourai.yaml", 36_548, Category::Mixer, 80);
        by_name("ransomware.yaml", 7_178, Category::Ransomware, 80);
        by_name("usdt_blacklist.yaml", 774, Category::Blacklisted, 95);
        by_name("lazarus.yaml", 21, Category::Sanctioned, 100);
        by_name("hydra.yaml", 117, Category::DarknetMarket, 100);
        if file == "usdt_blacklist.yaml" {
            assert!(
                r.tags
                    .iter()
                    .all(|t| t.context.as_deref().is_some_and(|c| c.contains("USDT")))
            );
        }
        if file == "hacks.yaml" {
            let hack = r
                .tags
                .iter()
                .find(|t| t.address == "1HVi6re6zDr5c5v9Sk2mmL9u7svEHfiBt4")
                .unwrap();
            assert_eq!(hack.category, Category::Hacker);
            assert_eq!(hack.raw_category, "service_hack");
            assert_eq!(hack.raw_confidence, "web_crawl");
            assert!(hack.origin.starts_with("line "));
        }
    }
    assert!(total > 55_000, "{total}");
    // The README: all 382 actor ids used by the packs resolve (checked above by import);
    // some sit on tags of unmodelled chains, so at least most of them are seen here.
    assert!(used_actors.len() > 300, "{}", used_actors.len());
}

/// All shipped files into one store: the same address from two sources is one key.
#[test]
fn all_files_into_one_store_merge_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let store = LabelStore::open_in(dir.path()).unwrap();
    let mut imported = 0;
    for (d, f) in [
        ("labels/ofac", Format::Ofac),
        ("labels/etherscan", Format::Etherscan),
        ("labels/graphsense/packs", Format::Tagpack),
    ] {
        for p in files(d) {
            let parsed = import::read_file(&p, f, &skip()).unwrap();
            imported += store.import(&parsed, f, &name(&p)).unwrap().imported;
        }
    }
    let mut n = 0;
    store.for_each(|_| n += 1).unwrap();
    assert_eq!(n, imported);
    // Tornado Cash's router is on OFAC's ETH list (checksummed) and in the tornado pack.
    let idx = LabelIndex::load(&store).unwrap();
    let a = "0x8589427373d6d84e98730d7795d8f6f8731fda16";
    let tags = store.tags_of(Chain::Evm(1), a).unwrap();
    let sources: Vec<&str> = tags.iter().map(|t| t.source.as_str()).collect();
    assert!(
        sources
            .iter()
            .any(|s| s.starts_with("ofac:/") && s.ends_with("/sanctioned_addresses_ETH.txt")),
        "{sources:?}"
    );
    assert!(tags.len() >= 2, "{sources:?}");
    assert_eq!(
        idx.get(Chain::Evm(1), a).unwrap().category,
        Category::Sanctioned
    );
}
