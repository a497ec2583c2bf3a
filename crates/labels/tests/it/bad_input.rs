//! Bad input names file, line (or entry) and value; `skip_invalid` skips and counts it.

use tracehound_core::Chain;
use tracehound_labels::import::read_str;
use tracehound_labels::{Category, Format, ImportOptions, LabelError};

fn strict() -> ImportOptions {
    ImportOptions::default()
}

fn lenient() -> ImportOptions {
    ImportOptions {
        skip_invalid: true,
        ..ImportOptions::default()
    }
}

const CSV_HEAD: &str = "chain,address,label,category,source,confidence\n";
/// EIP-55 test vector, and the same with one letter's case flipped.
const GOOD: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const BAD: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";

#[test]
fn checksum_and_lowercase_forms_are_one_address_and_bad_checksums_are_rejected() {
    let text = format!(
        "{CSV_HEAD}ethereum,{GOOD},A,exchange,s,1\nethereum,{},A again,exchange,s,0.5\n",
        GOOD.to_lowercase()
    );
    let r = read_str("l.csv", "l.csv", &text, Format::Csv, &strict()).unwrap();
    assert_eq!(r.tags.len(), 1);
    assert_eq!(r.duplicates, 1);
    assert_eq!(r.tags[0].address, GOOD.to_lowercase());
    assert_eq!(r.tags[0].label, "A", "the first record wins");

    let text = format!("{CSV_HEAD}ethereum,{BAD},B,exchange,s,1\n");
    let e = read_str("l.csv", "l.csv", &text, Format::Csv, &strict())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("l.csv line 2") && e.contains("checksum") && e.contains(BAD),
        "{e}"
    );
    // Bech32 in upper case is the lower-case address; a broken base58check is rejected.
    let text = format!(
        "{CSV_HEAD}bitcoin,BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4,x,mixer,s,1\nbitcoin,bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4,y,mixer,s,1\nbitcoin,1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb,z,mixer,s,1\n"
    );
    let r = read_str("b.csv", "b.csv", &text, Format::Csv, &lenient()).unwrap();
    assert_eq!((r.tags.len(), r.duplicates, r.skipped.len()), (1, 1, 1));
    assert_eq!(
        r.tags[0].address,
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    );
    assert_eq!(r.skipped[0].at, "line 4");
    assert!(r.skipped[0].what.contains("base58check"));
}

#[test]
fn csv_errors_name_line_and_value() {
    let cases = [
        ("evm-1,0x12,a,exchange,s,1", "0x12"),
        (
            "moonchain,0x0000000000000000000000000000000000000001,a,exchange,s,1",
            "moonchain",
        ),
        (
            "evm-1,0x0000000000000000000000000000000000000001,a,bakery,s,1",
            "bakery",
        ),
        (
            "evm-1,0x0000000000000000000000000000000000000001,a,exchange,s,1.5",
            "1.5",
        ),
        (
            "evm-1,0x0000000000000000000000000000000000000001,a",
            "evm-1",
        ),
    ];
    for (row, value) in cases {
        let text = format!(
            "{CSV_HEAD}evm-1,0x0000000000000000000000000000000000000002,ok,dex,s,1\n{row}\n"
        );
        let e = read_str("f.csv", "f.csv", &text, Format::Csv, &strict()).unwrap_err();
        let LabelError::Invalid(p) = &e else {
            panic!("{e}")
        };
        assert_eq!((p.path.as_str(), p.at.as_str()), ("f.csv", "line 3"), "{e}");
        assert!(p.value.contains(value), "{e}");
        let r = read_str("f.csv", "f.csv", &text, Format::Csv, &lenient()).unwrap();
        assert_eq!((r.tags.len(), r.skipped.len()), (1, 1), "{row}");
        assert_eq!(r.tags[0].category, Category::Dex);
    }
    let e = read_str("f.csv", "f.csv", "a,b\n", Format::Csv, &lenient())
        .unwrap_err()
        .to_string();
    assert!(e.contains("f.csv line 1") && e.contains("header"), "{e}");
}

#[test]
fn tagpack_errors_name_the_tag_line() {
    let pack = "title: t\ncreator: c\ncurrency: ETH\nconfidence: forensic\ncategory: exchange\ntags:\n- address: '0x0000000000000000000000000000000000000001'\n  label: fine\n- address: '0x0000000000000000000000000000000000000002'\n  label: odd\n  category: bakery\n- address: 'zzz'\n  label: broken\n- address: '0x0000000000000000000000000000000000000003'\n  label: odd conf\n  confidence: gut_feeling\n- address: '0x0000000000000000000000000000000000000004'\n  label: tron\n  currency: TRX\n";
    let e = read_str("p.yaml", "p.yaml", pack, Format::Tagpack, &strict()).unwrap_err();
    let LabelError::Invalid(p) = &e else {
        panic!("{e}")
    };
    assert_eq!(
        (p.at.as_str(), p.value.as_str()),
        ("line 9", "bakery"),
        "{e}"
    );
    assert!(p.what.contains("unknown category"));
    let r = read_str("p.yaml", "p.yaml", pack, Format::Tagpack, &lenient()).unwrap();
    assert_eq!(r.tags.len(), 1);
    let got: Vec<(&str, &str)> = r
        .skipped
        .iter()
        .map(|s| (s.at.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("line 9", "bakery"),
            ("line 12", "zzz"),
            ("line 14", "gut_feeling"),
            ("line 17", "TRX")
        ]
    );
    let t = &r.tags[0];
    assert_eq!((t.category, t.confidence), (Category::Exchange, 80));
    assert_eq!((t.chain, t.origin.as_str()), (Chain::Evm(1), "line 7"));
    // Malformed YAML is an error even with skip_invalid: nothing of the file is trusted.
    let e = read_str(
        "m.yaml",
        "m.yaml",
        "title: [unclosed\ncreator: x\n",
        Format::Tagpack,
        &lenient(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("m.yaml line") && e.contains("malformed YAML"),
        "{e}"
    );
}

#[test]
fn explorer_and_ofac_errors_name_entry_or_line() {
    let json = format!(
        r#"{{"{GOOD}": {{"name": "ok", "labels": ["phish-hack"]}}, "genesis": {{"name": "", "labels": []}}, "{BAD}": {{"name": "x", "labels": []}}}}"#
    );
    let e = read_str(
        "x.json",
        "bscscan-x.json",
        &json,
        Format::Etherscan,
        &strict(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("x.json entry 2") && e.contains("genesis"), "{e}");
    let r = read_str(
        "x.json",
        "bscscan-x.json",
        &json,
        Format::Etherscan,
        &lenient(),
    )
    .unwrap();
    assert_eq!((r.tags.len(), r.skipped.len()), (1, 2));
    assert_eq!(r.skipped[1].at, "entry 3");
    assert!(r.skipped[1].what.contains("checksum"));
    assert_eq!(
        (r.tags[0].chain, r.tags[0].category),
        (Chain::Evm(56), Category::Scam)
    );
    // Unknown explorer tags are `other`, raw tags kept.
    let json = format!(r#"{{"{GOOD}": {{"name": "", "labels": ["meme", "gaming"]}}}}"#);
    let r = read_str(
        "x.json",
        "x.json",
        &json,
        Format::Etherscan,
        &ImportOptions {
            chain: Some(Chain::Evm(10)),
            ..strict()
        },
    )
    .unwrap();
    assert_eq!(
        (r.tags[0].category, r.tags[0].raw_category.as_str()),
        (Category::Other, "meme,gaming")
    );
    let e = read_str(
        "x.json",
        "x.json",
        "{\"a\": ",
        Format::Etherscan,
        &ImportOptions {
            chain: Some(Chain::Evm(1)),
            ..lenient()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("x.json line 1") && e.contains("malformed JSON"),
        "{e}"
    );
    // No chain from the file name and no --chain.
    let e = read_str("x.json", "x.json", "{}", Format::Etherscan, &strict())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--chain"), "{e}");
    let e = read_str(
        "l.txt",
        "list.txt",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n",
        Format::Ofac,
        &strict(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--chain"), "{e}");
    let r = read_str(
        "l.txt",
        "list.txt",
        "# comment\n\n1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n",
        Format::Ofac,
        &ImportOptions {
            chain: Some(Chain::BitcoinMainnet),
            ..strict()
        },
    )
    .unwrap();
    assert_eq!((r.tags.len(), r.tags[0].origin.as_str()), (1, "line 3"));
}
