//! The PDF report read back with a real reader (poppler's `pdfinfo` and `pdftotext`): its
//! pages, title, footers, amounts, every tx of a long path, text kept within the page,
//! characters outside WinAnsi, and determinism.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracehound_report::{AssetFacts, ChainTip, Evidence, Inputs, LabelDoc, RulesDoc};

const INCIDENT: &str = "bridge-heist-2024-03";
const TOOL: &str = "tracehound 0.9.0-test";
const ETH_POINT: &str = "0x28c6c06298d514db089934071355e5743bf21d60";
const BTC_POINT: &str = "bc1qm34lsc65zpw79lxes69zkqmk6ee3ewf0j77s3h";
const LONG_PATH: usize = 200;
const LINK_HOP: usize = 57;
const NON_LATIN_LABEL: &str = "交易所 🦊 hot wallet";
const MARKUP_LABEL: &str = "<script>alert(1)</script>";
const LINK_EVIDENCE: &str = "memo OUT:1A2B matched the outbound tx within 3 blocks";

fn hex_of(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

fn tx_of(point: &str, n: usize) -> String {
    hex_of(&format!("{point}-tx-{n}"))
}

fn eth_address(n: usize) -> String {
    format!("0x{}", &hex_of(&format!("addr-{n}"))[..40])
}

fn hop(chain: &str, asset: &str, tx: String, n: usize, to: String, link: Option<Value>) -> Value {
    let edge = link.unwrap_or_else(|| json!({"kind": "transfer"}));
    json!({
        "chain": chain, "tx": tx, "at": format!("{}:{}", 19_300_000 + n, n % 7),
        "time": 1_709_000_000 + 600 * n as u64, "from": eth_address(n), "to": to,
        "asset": asset, "value": "1300000000000000000000", "tainted": "1234500000000000000000",
        "rule": "haircut", "edge": edge,
    })
}

/// The trace result of an incident with two points of intervention (an ETH deposit at the
/// end of a 200-hop path that crosses a swap, and a BTC deposit three hops out) as the engine
/// writes it: each path as positions in the trace graph's `edges`, which holds one more hop
/// than the paths, first.
fn result_json() -> String {
    let mut v = result_with_whole_paths();
    let mut edges = vec![hop(
        "eth",
        "native",
        tx_of("elsewhere", 0),
        0,
        eth_address(0),
        None,
    )];
    for e in v["endpoints"].as_array_mut().unwrap() {
        let path = e["path"].as_array().unwrap().clone();
        e["path"] = path
            .into_iter()
            .map(|h| {
                edges.push(h);
                json!(edges.len() - 1)
            })
            .collect();
    }
    v["edges"] = Value::Array(edges);
    v.to_string()
}

/// The same result with each path's hops written whole, as results saved before paths were
/// positions in `edges`.
fn result_with_whole_paths() -> Value {
    let eth_path: Vec<Value> = (1..=LONG_PATH)
        .map(|n| {
            let to = if n == LONG_PATH {
                ETH_POINT.to_string()
            } else {
                eth_address(n + 1)
            };
            let link = (n == LINK_HOP).then(|| {
                json!({
                    "kind": "link", "link": "swap", "service": "THORChain", "confidence": 92,
                    "tx_in": hex_of("link-in"), "chain_in": "btc", "asset_in": "native",
                    "amount_in": "5000000000", "chain_out": "eth", "asset_out": "native",
                    "amount_out": "1300000000000000000000", "evidence": LINK_EVIDENCE,
                })
            });
            hop("eth", "native", tx_of("eth", n), n, to, link)
        })
        .collect();
    let btc_path: Vec<Value> = (1..=3)
        .map(|n| {
            let to = if n == 3 {
                BTC_POINT.to_string()
            } else {
                eth_address(900 + n)
            };
            hop("btc", "native", tx_of("btc", n), n, to, None)
        })
        .collect();
    json!({
        "incident": INCIDENT,
        "policy": "haircut",
        "endpoints": [
            {"chain": "btc", "address": BTC_POINT, "asset": "native", "amount": "148213776551",
             "label": "Exchange B deposit", "category": "exchange", "freezable_by": "Exchange B",
             "stop": "service", "hops": 3, "path": btc_path},
            {"chain": "eth", "address": ETH_POINT, "asset": "native",
             "amount": "1234500000000000000000", "label": "Exchange A deposit",
             "category": "exchange", "freezable_by": "Exchange A", "stop": "service",
             "hops": LONG_PATH, "path": eth_path, "fiat": "USD 4,321,000.00",
             "patterns": ["peel chain"]},
        ],
        "summary": {"assets": [
            {"chain": "eth", "asset": "native", "stolen": "1300000000000000000000",
             "intervention": "1234500000000000000000", "still_moving": "0", "dark": "0",
             "dust": "0", "fees": "65500000000000000000"},
            {"chain": "btc", "asset": "native", "stolen": "148213776551",
             "intervention": "148213776551", "still_moving": "0", "dark": "0", "dust": "0",
             "fees": "0"},
        ]},
        "notes": ["2 blocks of btc were not yet stored"],
    })
}

fn labels(_chain: &str, address: &str) -> Vec<LabelDoc> {
    if address != ETH_POINT {
        return Vec::new();
    }
    [NON_LATIN_LABEL, MARKUP_LABEL]
        .iter()
        .map(|label| LabelDoc {
            label: label.to_string(),
            category: "exchange".into(),
            source: "analyst:alice".into(),
            confidence: 90,
            reference: Some("case 1142".into()),
        })
        .collect()
}

fn assets(chain: &str, _asset: &str) -> AssetFacts {
    let (symbol, decimals) = if chain == "btc" {
        ("BTC", 8)
    } else {
        ("ETH", 18)
    };
    AssetFacts {
        symbol: Some(symbol.into()),
        decimals: Some(decimals),
    }
}

fn evidence() -> Evidence {
    evidence_of(&result_json()).expect("the test's trace result builds a report")
}

fn evidence_of(result: &str) -> Result<Evidence, tracehound_report::ReportError> {
    let inputs = Inputs {
        incident_text: "name = \"bridge-heist-2024-03\"\n",
        result_json: result,
        rules: RulesDoc {
            policy: String::new(),
            max_hops: 250,
            follow_links: true,
            min_link_confidence: 80,
            dust: BTreeMap::from([("eth:native".into(), "1000".into())]),
            label_sources: BTreeMap::from([("analyst".into(), 2)]),
        },
        tips: vec![ChainTip {
            chain: "eth".into(),
            height: 19_400_000,
            hash: hex_of("tip"),
        }],
        labels: &labels,
        assets: &assets,
        endpoint: None,
        generated: 1_709_287_405,
        tool: TOOL.into(),
    };
    Evidence::build(&inputs)
}

#[test]
fn paths_are_read_as_edge_positions_and_as_whole_hops() {
    let now = serde_json::to_value(evidence()).unwrap();
    let before = serde_json::to_value(
        evidence_of(&result_with_whole_paths().to_string()).expect("an older result reads"),
    )
    .unwrap();
    assert_eq!(now["points"], before["points"]);
    let eth = now["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == ETH_POINT)
        .unwrap();
    let path = eth["path"].as_array().unwrap();
    assert_eq!(path.len(), LONG_PATH);
    assert_eq!(path[0]["tx"], tx_of("eth", 1));
    assert_eq!(path[LINK_HOP - 1]["link"]["service"], "THORChain");

    // A path naming an edge the result does not have is refused, naming the endpoint.
    let mut broken: Value = serde_json::from_str(&result_json()).unwrap();
    broken["endpoints"][0]["path"][1] = json!(10_000);
    let err = evidence_of(&broken.to_string())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains(BTC_POINT) && err.contains("edge 10000"),
        "{err}"
    );
}

/// Writes the report's PDF where cargo keeps test scratch files.
fn written_pdf(name: &str) -> (Evidence, PathBuf) {
    let report = evidence();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, report.to_pdf()).expect("the PDF is written");
    (report, path)
}

/// Runs a poppler tool; fails (never skips) when it is not installed.
fn poppler(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {tool} ({e}): install Debian's poppler-utils (apt-get install poppler-utils)")
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} rejected the PDF: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // poppler reports damaged structure (bad xref, syntax errors) on stderr.
    assert!(
        output.stderr.is_empty(),
        "{tool} complained about the PDF: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn text_of(path: &Path) -> String {
    poppler("pdftotext", &["-layout", path_str(path), "-"])
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("the temp path is UTF-8")
}

fn page_count(info: &str) -> usize {
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo gives a page count")
}

fn info_field<'a>(info: &'a str, field: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(field))
        .map_or("", str::trim)
}

/// Whether `hash` is in the text whole or broken across lines: as consecutive pieces that
/// each stand as a word of the text (other columns sit between them in the layout).
fn hash_shown(hash: &str, words: &[&str]) -> bool {
    let mut rest = hash;
    while !rest.is_empty() {
        let piece = words
            .iter()
            .filter(|w| w.len() >= rest.len().min(8) && rest.starts_with(**w))
            .max_by_key(|w| w.len());
        match piece {
            Some(piece) => rest = &rest[piece.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn poppler_reads_pages_title_and_a_footer_on_every_page() {
    let (report, path) = written_pdf("report-pages.pdf");
    let info = poppler("pdfinfo", &[path_str(&path)]);
    let pages = page_count(&info);
    assert!(
        pages >= 3,
        "a 200-hop path needs 3 or more pages, got {pages}"
    );
    assert_eq!(
        info_field(&info, "Title:"),
        format!("Evidence report: {INCIDENT}")
    );
    assert_eq!(info_field(&info, "Creator:"), TOOL);
    assert!(info_field(&info, "Page size:").contains("(A4)"), "{info}");
    assert!(
        info_field(&info, "CreationDate:").contains("2024"),
        "{info}"
    );

    let text = text_of(&path);
    let digest_footer = format!("cite as inputs sha256:{}", report.digests.inputs_sha256);
    assert_eq!(text.matches(&digest_footer).count(), pages);
    assert_eq!(
        text.matches(&format!("Evidence report: {INCIDENT}"))
            .count(),
        pages + 1,
        "the title and every footer name the incident"
    );
    for n in 1..=pages {
        assert!(
            text.contains(&format!("page {n} of {pages}")),
            "footer of page {n} missing"
        );
    }
    // pdftotext separates pages with a form feed: each page ends with its own footer.
    for (i, page) in text.split('\u{c}').take(pages).enumerate() {
        assert!(page.contains(&format!("page {} of {pages}", i + 1)));
        assert!(page.contains(&digest_footer));
    }
}

#[test]
fn every_amount_label_and_tx_of_the_paths_is_shown() {
    let (report, path) = written_pdf("report-content.pdf");
    let text = text_of(&path);
    assert_eq!(report.points.len(), 2);
    for point in &report.points {
        assert!(
            text.contains(&point.amount_shown),
            "amount {} missing",
            point.amount_shown
        );
        assert!(text.contains(&point.address), "{} missing", point.address);
    }
    assert!(text.contains("1234.5 ETH"));
    assert!(text.contains("1482.13776551 BTC"));
    assert!(text.contains("USD 4,321,000.00 on the day it arrived"));
    assert!(text.contains("analyst:alice"));
    assert!(text.contains("2 blocks of btc were not yet stored"));
    assert!(text.contains(&report.digests.inputs_sha256));
    assert!(text.contains(&report.digests.result_sha256));

    let words: Vec<&str> = text.split_whitespace().collect();
    let hops: Vec<_> = report.points.iter().flat_map(|p| &p.path).collect();
    assert_eq!(hops.len(), LONG_PATH + 3);
    for hop in hops {
        assert!(
            hash_shown(&hop.tx, &words),
            "tx {} of hop {} missing",
            hop.tx,
            hop.n
        );
        // A narrow time column may put the date and the time on two lines.
        let (date, time) = hop.time_utc.split_once(' ').expect("date and time");
        assert!(
            text.contains(date) && text.contains(time),
            "time of hop {} missing",
            hop.n
        );
    }
    assert!(text.contains("swap via THORChain (confidence 92)"));
    assert!(text.contains(LINK_EVIDENCE));
    assert!(
        hash_shown(&hex_of("link-in"), &words),
        "the link's tx in is missing"
    );
}

#[test]
fn characters_outside_winansi_become_question_marks_and_markup_stays_text() {
    let (_, path) = written_pdf("report-text.pdf");
    let text = text_of(&path);
    assert!(
        text.contains("??? ? hot wallet"),
        "non-WinAnsi label not replaced"
    );
    assert!(!text.contains("交易所"));
    assert!(text.contains(MARKUP_LABEL), "markup must show literally");
}

#[test]
fn no_text_is_drawn_outside_the_margins() {
    let (_, path) = written_pdf("report-bbox.pdf");
    let boxes = poppler("pdftotext", &["-bbox", path_str(&path), "-"]);
    let mut words = 0;
    for line in boxes
        .lines()
        .filter(|l| l.trim_start().starts_with("<word "))
    {
        let coord = |name: &str| -> f32 {
            let start = line.find(&format!("{name}=\"")).expect("word box") + name.len() + 2;
            let end = line[start..].find('"').expect("word box") + start;
            line[start..end].parse().expect("a number")
        };
        // A4 with 48 pt side margins and 40 pt top margin (y grows downward here).
        let (x_min, x_max) = (coord("xMin"), coord("xMax"));
        let (y_min, y_max) = (coord("yMin"), coord("yMax"));
        assert!(
            x_min >= 47.0 && x_max <= 595.28 - 47.0,
            "off the side: {line}"
        );
        assert!(
            y_min >= 40.0 && y_max <= 841.89 - 20.0,
            "off the page: {line}"
        );
        words += 1;
    }
    assert!(words > 1000, "only {words} words read");
}

#[test]
fn the_same_report_gives_the_same_bytes() {
    let report = evidence();
    let first = report.to_pdf();
    assert!(first.starts_with(b"%PDF-1.4"));
    assert_eq!(first, report.to_pdf());
    assert_eq!(first, evidence().to_pdf());
}
