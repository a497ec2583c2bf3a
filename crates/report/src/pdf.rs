//! The report as a PDF to file with a freeze request or print: the same content as the HTML
//! page, in the same order, on numbered A4 pages.
//!
//! Every page's footer carries the incident, "page N of M" and the inputs digest, so a
//! single printed page can be matched to its report. Text is drawn with the standard 14
//! fonts (Helvetica, Helvetica-Bold, Courier for hashes and addresses), so nothing is
//! embedded; they cover WinAnsi only, and any other character (CJK, emoji, arrows) is shown
//! as `?` (the HTML and JSON reports keep it). The same [`Evidence`] always gives the same
//! bytes: no clock is read and the file ID is the inputs digest.

mod layout;
mod text;

use pdf_writer::{Content, Date, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::html::SUMMARY_ROWS;
use crate::model::{Evidence, HopDoc, LinkDoc, PointDoc};
use layout::{
    BODY_BOTTOM, CONTENT_WIDTH, Cell, HEADER_FILL, Line, MARGIN_X, Op, PAGE_HEIGHT, PAGE_WIDTH,
    Pager, Rgb, Run, heavy_rule_below, paragraph, row,
};
use text::{Font, encode, truncate};

/// Background of a hop that crosses a swap, bridge or mixer (as the HTML's `.link`).
const LINK_FILL: Rgb = (1.0, 0.965, 0.86);
/// Width of the key column of two-column tables.
const KEY_WIDTH: f32 = 130.0;
/// Columns of the path: #, time and chain, tx and from -> to, tainted of value and rule.
/// The tx column fits a 66-character hash (0x and 64 hex digits) on one line in
/// [`PATH_MONO_SIZE`]; longer ids still wrap.
const HOP_WIDTHS: [f32; 4] = [18.0, 70.0, 284.0, CONTENT_WIDTH - 372.0];
/// Size of the path's tx ids and addresses (Courier) and remarks (Helvetica): small enough
/// that a 22-digit wei amount and its value fit two lines.
const PATH_MONO_SIZE: f32 = 7.0;
/// Helvetica size of the path's text.
const PATH_TEXT_SIZE: f32 = 8.0;
/// Columns of the points overview: #, address, chain, who can freeze, label, amount. The
/// address column fits a 42-character EVM address on one line.
const POINT_WIDTHS: [f32; 6] = [18.0, 196.0, 42.0, 72.0, 76.0, CONTENT_WIDTH - 404.0];
/// Columns of a point's labels: label, category, source, confidence, reference.
const LABEL_WIDTHS: [f32; 5] = [120.0, 62.0, 110.0, 58.0, CONTENT_WIDTH - 350.0];
/// Width of the summary's first column; the assets share the rest.
const SUMMARY_KEY_WIDTH: f32 = 150.0;

impl Evidence {
    /// The report as a PDF document (A4, PDF 1.4), ready to write to a file.
    ///
    /// Shows what [`Evidence::to_html`] shows, in the same order. Characters outside
    /// WinAnsiEncoding are replaced with `?`. Deterministic: the same report gives the same
    /// bytes.
    pub fn to_pdf(&self) -> Vec<u8> {
        let mut pager = Pager::new();
        self.title_pdf(&mut pager);
        self.cite_pdf(&mut pager);
        self.rules_pdf(&mut pager);
        self.summary_pdf(&mut pager);
        self.points_overview_pdf(&mut pager);
        for (i, point) in self.points.iter().enumerate() {
            pager.page_break();
            point_pdf(&mut pager, i + 1, point);
        }
        self.notes_pdf(&mut pager);
        self.write_pdf(pager.finish())
    }

    fn title_pdf(&self, pager: &mut Pager) {
        let title = Run::new(
            Font::Bold,
            17.0,
            0.0,
            format!("Evidence report: {}", self.incident),
        );
        pager.block(&paragraph(0.0, vec![title]));
        pager.space(2.0);
        pager.lines(&paragraph(
            0.0,
            vec![Run::new(
                Font::Regular,
                8.5,
                0.35,
                format!(
                    "Made by {} on {} from the trace of this incident under the {} policy. \
                     Amounts are exact integers in each asset's base units, shown with its decimals.",
                    self.tool, self.generated_utc, self.rules.policy
                ),
            )],
        ));
        pager.space(8.0);
    }

    fn cite_pdf(&self, pager: &mut Pager) {
        const INDENT: f32 = 8.0;
        let d = &self.digests;
        let mut lines = vec![Line::gap(4.0)];
        lines.extend(paragraph(
            INDENT,
            vec![
                Run::new(Font::Bold, 10.0, 0.0, "Cite as: inputs digest"),
                Run::new(Font::Mono, 9.0, 0.0, format!("sha256:{}", d.inputs_sha256)),
            ],
        ));
        lines.extend(paragraph(
            INDENT,
            vec![Run::muted(
                "over the incident, the trace result, the rules below and the store's tips:",
            )],
        ));
        let mut facts = vec![
            ("incident sha256".to_string(), d.incident_sha256.clone()),
            ("trace result sha256".to_string(), d.result_sha256.clone()),
        ];
        facts.extend(d.tips.iter().map(|t| {
            (
                format!("{} tip at height {}", t.chain, t.height),
                t.hash.clone(),
            )
        }));
        let widths = [KEY_WIDTH, CONTENT_WIDTH - 2.0 * INDENT - KEY_WIDTH];
        for (key, value) in facts {
            let cells = [
                Cell::left(vec![Run::muted(key)]),
                Cell::left(vec![Run::mono(value)]),
            ];
            lines.extend(row(INDENT - 3.0, &widths, &cells, None, false));
        }
        lines.push(Line::gap(4.0));
        pager.framed_block(&lines);
        pager.space(4.0);
    }

    fn rules_pdf(&self, pager: &mut Pager) {
        let r = &self.rules;
        heading3(pager, "Policy and rules");
        let links = if r.follow_links {
            format!(
                "followed when matched with confidence at least {}",
                r.min_link_confidence
            )
        } else {
            "not followed (value stops at the service)".to_string()
        };
        let mut rows = vec![
            ("Policy", vec![Run::text(&r.policy)]),
            ("Hops followed", vec![Run::text(r.max_hops.to_string())]),
            ("Swaps, bridges, mixers", vec![Run::text(links)]),
        ];
        if !r.dust.is_empty() {
            let dust = r
                .dust
                .iter()
                .map(|(asset, units)| format!("{asset} below {units} base units"))
                .collect::<Vec<_>>()
                .join("; ");
            rows.push(("Dust", vec![Run::text(dust)]));
        }
        let sources = if r.label_sources.is_empty() {
            "none".to_string()
        } else {
            r.label_sources
                .iter()
                .map(|(source, n)| format!("{source} ({n})"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        rows.push(("Label sources", vec![Run::text(sources)]));
        key_values(pager, rows);
    }

    fn summary_pdf(&self, pager: &mut Pager) {
        heading3(pager, "Where the stolen value is");
        let columns = self.summary.len().max(1) as f32;
        let mut widths = vec![SUMMARY_KEY_WIDTH];
        widths.extend(
            self.summary
                .iter()
                .map(|_| (CONTENT_WIDTH - SUMMARY_KEY_WIDTH) / columns),
        );
        let mut header = vec![Cell::left(Vec::new())];
        header.extend(self.summary.iter().map(|s| {
            let symbol = s.symbol.as_deref().unwrap_or(&s.asset);
            Cell::right(vec![Run::strong(format!("{symbol} on {}", s.chain))])
        }));
        let rows = SUMMARY_ROWS
            .iter()
            .map(|(key, title)| {
                let mut cells = vec![Cell::left(vec![Run::strong(*title)])];
                cells.extend(self.summary.iter().map(|s| {
                    Cell::right(vec![Run::text(
                        s.shown.get(*key).map_or("", String::as_str),
                    )])
                }));
                row(0.0, &widths, &cells, None, true)
            })
            .collect();
        table(pager, &widths, &header, rows);
        pager.lines(&paragraph(
            0.0,
            vec![Run::muted(
                "Per asset, stolen plus arrived through links equals the rest: at points of \
                 intervention, still moving, dark, dust, fees, unresolved and left through links.",
            )],
        ));
    }

    fn points_overview_pdf(&self, pager: &mut Pager) {
        pager.space(10.0);
        heading2(
            pager,
            vec![heading2_run(format!(
                "Points of intervention ({})",
                self.points.len()
            ))],
        );
        if self.points.is_empty() {
            pager.lines(&paragraph(
                0.0,
                vec![Run::text(
                    "No traced value rests at an address a service can freeze.",
                )],
            ));
        }
        let header = header_cells(&["#", "Address", "Chain", "Who can freeze", "Label", "Amount"]);
        let rows = self
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let cells = [
                    Cell::left(vec![Run::text((i + 1).to_string())]),
                    Cell::left(vec![Run::mono(&p.address)]),
                    Cell::left(vec![Run::text(&p.chain)]),
                    Cell::left(vec![Run::text(p.freezable_by.as_deref().unwrap_or("-"))]),
                    Cell::left(vec![Run::text(p.label.as_deref().unwrap_or(""))]),
                    Cell::right(vec![Run::text(&p.amount_shown)]),
                ];
                row(0.0, &POINT_WIDTHS, &cells, None, true)
            })
            .collect();
        table(pager, &POINT_WIDTHS, &header, rows);
    }

    fn notes_pdf(&self, pager: &mut Pager) {
        if self.notes.is_empty() {
            return;
        }
        pager.page_break();
        heading2(pager, vec![heading2_run("Notes of the trace")]);
        for note in &self.notes {
            pager.lines(&paragraph(0.0, vec![Run::text(format!("\u{2022} {note}"))]));
            pager.space(2.0);
        }
    }

    /// Writes the pages as a PDF file, with their footers, fonts and document info.
    fn write_pdf(&self, pages: Vec<Vec<Op>>) -> Vec<u8> {
        let mut ids = RefAlloc::default();
        let catalog_id = ids.next();
        let tree_id = ids.next();
        let info_id = ids.next();
        let font_ids: Vec<(Font, Ref)> = Font::ALL.iter().map(|&f| (f, ids.next())).collect();
        let page_ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (ids.next(), ids.next())).collect();

        let mut pdf = Pdf::new();
        // Nothing newer is used; 1.4 is also the last version where leaving out the widths of
        // the standard 14 fonts is not deprecated.
        pdf.set_version(1, 4);
        pdf.catalog(catalog_id).pages(tree_id);
        pdf.pages(tree_id)
            .kids(page_ids.iter().map(|(page, _)| *page))
            .count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
        for (font, id) in &font_ids {
            pdf.type1_font(*id)
                .base_font(font.base_font())
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        let total = pages.len();
        for (i, (ops, (page_id, content_id))) in pages.iter().zip(&page_ids).enumerate() {
            let mut page = pdf.page(*page_id);
            page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
                .parent(tree_id)
                .contents(*content_id);
            let mut resources = page.resources();
            let mut fonts = resources.fonts();
            for (font, id) in &font_ids {
                fonts.pair(font.resource_name(), *id);
            }
            fonts.finish();
            resources.finish();
            page.finish();
            let mut ops = ops.clone();
            ops.extend(self.footer(i + 1, total));
            pdf.stream(*content_id, &page_content(&ops));
        }
        self.document_info(&mut pdf, info_id);
        let id = self.file_id();
        pdf.set_file_id((id.clone(), id));
        pdf.finish()
    }

    fn document_info(&self, pdf: &mut Pdf, id: Ref) {
        let title = format!("Evidence report: {}", self.incident);
        let mut info = pdf.document_info(id);
        info.title(TextStr(&title))
            .creator(TextStr(&self.tool))
            .producer(TextStr("tracehound-report (pdf-writer)"));
        if let Some(date) = pdf_date(&self.generated_utc) {
            info.creation_date(date);
        }
    }

    /// The first 16 bytes of the inputs digest: the same inputs give the same ID, which is
    /// what keeps the file deterministic.
    fn file_id(&self) -> Vec<u8> {
        let mut id = hex::decode(&self.digests.inputs_sha256)
            .unwrap_or_else(|_| self.digests.inputs_sha256.as_bytes().to_vec());
        id.resize(16, 0);
        id
    }

    /// The footer of page `n` of `total`: who it belongs to, where it is, what to cite.
    fn footer(&self, n: usize, total: usize) -> Vec<Op> {
        let size = 7.5;
        let page_label = encode(&format!("page {n} of {total}"));
        let page_width = Font::Regular.width(&page_label, size);
        let incident = encode(&format!("Evidence report: {}", self.incident));
        let incident = truncate(
            &incident,
            Font::Regular,
            size,
            CONTENT_WIDTH - page_width - 12.0,
        );
        let digest = encode(&format!(
            "cite as inputs sha256:{}",
            self.digests.inputs_sha256
        ));
        let digest = truncate(&digest, Font::Mono, 7.0, CONTENT_WIDTH);
        let rule_y = BODY_BOTTOM - 10.0;
        vec![
            Op::Rule {
                from: (MARGIN_X, rule_y),
                to: (MARGIN_X + CONTENT_WIDTH, rule_y),
                width: 0.5,
                gray: 0.6,
            },
            footer_text(MARGIN_X, rule_y - 11.0, Font::Regular, size, incident),
            footer_text(
                MARGIN_X + CONTENT_WIDTH - page_width,
                rule_y - 11.0,
                Font::Regular,
                size,
                page_label,
            ),
            footer_text(MARGIN_X, rule_y - 21.0, Font::Mono, 7.0, digest),
        ]
    }
}

fn footer_text(x: f32, y: f32, font: Font, size: f32, text: Vec<u8>) -> Op {
    Op::Text {
        x,
        y,
        font,
        size,
        gray: 0.3,
        text,
    }
}

/// One point of intervention: what rests there, its labels, the path that proves it.
fn point_pdf(pager: &mut Pager, n: usize, p: &PointDoc) {
    heading2(
        pager,
        vec![
            heading2_run(format!("{n}. {} at", p.amount_shown)),
            Run::new(Font::Mono, 11.0, 0.0, &p.address),
        ],
    );
    let fiat = p
        .fiat
        .as_deref()
        .map(|f| format!("; {f} on the day it arrived"))
        .unwrap_or_default();
    let mut rows = vec![
        ("Chain", vec![Run::text(&p.chain)]),
        ("Asset", vec![Run::mono(&p.asset)]),
        (
            "Amount",
            vec![Run::text(format!(
                "{} ({} base units){fiat}",
                p.amount_shown, p.amount
            ))],
        ),
        (
            "Who can freeze",
            vec![Run::text(p.freezable_by.as_deref().unwrap_or("-"))],
        ),
        ("Hops from the theft", vec![Run::text(p.hops.to_string())]),
    ];
    if let Some(entity) = &p.entity {
        rows.push(("Entity", vec![Run::mono(entity.to_string())]));
    }
    if !p.patterns.is_empty() {
        rows.push((
            "Patterns on its path",
            vec![Run::text(p.patterns.join(", "))],
        ));
    }
    key_values(pager, rows);
    labels_pdf(pager, p);
    heading3(pager, "Proof: the path of txs from the theft");
    let header = header_cells(&[
        "#",
        "Time, chain @block",
        "Tx, from -> to",
        "Tainted of value, rule",
    ]);
    let rows = p.path.iter().map(hop_lines).collect();
    table(pager, &HOP_WIDTHS, &header, rows);
}

fn labels_pdf(pager: &mut Pager, p: &PointDoc) {
    heading3(pager, "Labels");
    if p.labels.is_empty() {
        let label = p.label.as_deref().unwrap_or("none in the label store");
        pager.lines(&paragraph(0.0, vec![Run::text(label)]));
        return;
    }
    let header = header_cells(&["Label", "Category", "Source", "Confidence", "Reference"]);
    let rows = p
        .labels
        .iter()
        .map(|l| {
            let cells = [
                Cell::left(vec![Run::text(&l.label)]),
                Cell::left(vec![Run::text(&l.category)]),
                Cell::left(vec![Run::mono(&l.source)]),
                Cell::left(vec![Run::text(l.confidence.to_string())]),
                Cell::left(vec![Run::text(l.reference.as_deref().unwrap_or(""))]),
            ];
            row(0.0, &LABEL_WIDTHS, &cells, None, true)
        })
        .collect();
    table(pager, &LABEL_WIDTHS, &header, rows);
}

/// A hop's row, and under it the evidence of the link it crosses, if any: kept together.
fn hop_lines(hop: &HopDoc) -> Vec<Line> {
    let fill = hop.link.as_ref().map(|_| LINK_FILL);
    let text = |t: String| Run::new(Font::Regular, PATH_TEXT_SIZE, 0.0, t);
    let mono = |t: String| Run::new(Font::Mono, PATH_MONO_SIZE, 0.0, t);
    let muted = |t: String| Run::new(Font::Regular, PATH_MONO_SIZE, 0.35, t);
    let cells = [
        Cell::left(vec![text(hop.n.to_string())]),
        Cell::left(vec![
            text(hop.time_utc.clone()),
            mono(format!("{} @{}", hop.chain, hop.at)),
        ]),
        Cell::left(vec![
            mono(hop.tx.clone()),
            mono(hop.from.clone()),
            mono(format!("-> {}", hop.to)),
        ]),
        Cell::right(vec![
            text(hop.tainted_shown.clone()),
            muted(format!("{} of {} base units", hop.tainted, hop.value)),
            muted(format!("rule: {}", hop.rule)),
        ]),
    ];
    let mut lines = row(0.0, &HOP_WIDTHS, &cells, fill, hop.link.is_none());
    if let Some(link) = &hop.link {
        let widths = [HOP_WIDTHS[0], CONTENT_WIDTH - HOP_WIDTHS[0]];
        let cells = [Cell::left(Vec::new()), Cell::left(link_runs(link))];
        lines.extend(row(0.0, &widths, &cells, fill, true));
    }
    lines
}

/// The swap, bridge or mixer a hop crosses: what went in, what came out, what matched them.
fn link_runs(l: &LinkDoc) -> Vec<Run> {
    vec![
        Run::strong(format!(
            "{} via {} (confidence {})",
            l.kind, l.service, l.confidence
        )),
        Run::text(format!(
            "in: {} {} on {}, tx",
            l.amount_in, l.asset_in, l.chain_in
        )),
        Run::mono(&l.tx_in),
        Run::text(format!(
            "out: {} {} on {}",
            l.amount_out.as_deref().unwrap_or("unknown"),
            l.asset_out,
            l.chain_out
        )),
        Run::text(format!("Evidence: {}", l.evidence)),
    ]
}

fn heading2_run(text: impl Into<String>) -> Run {
    Run::new(Font::Bold, 13.0, 0.0, text)
}

/// A section heading, kept on a page with the start of its section.
fn heading2(pager: &mut Pager, runs: Vec<Run>) {
    let mut lines = paragraph(0.0, runs);
    heavy_rule_below(&mut lines);
    let height: f32 = lines.iter().map(Line::height).sum();
    pager.ensure(height + 80.0);
    pager.lines(&lines);
    pager.space(6.0);
}

/// A sub-heading, kept on a page with the start of what follows.
fn heading3(pager: &mut Pager, text: &str) {
    pager.space(8.0);
    let lines = paragraph(0.0, vec![Run::new(Font::Bold, 10.5, 0.0, text)]);
    let height: f32 = lines.iter().map(Line::height).sum();
    pager.ensure(height + 50.0);
    pager.lines(&lines);
    pager.space(2.0);
}

fn header_cells(titles: &[&str]) -> Vec<Cell> {
    titles
        .iter()
        .map(|t| Cell::left(vec![Run::strong(*t)]))
        .collect()
}

/// Two columns: a bold key and its value, one row each.
fn key_values(pager: &mut Pager, rows: Vec<(&str, Vec<Run>)>) {
    let widths = [KEY_WIDTH, CONTENT_WIDTH - KEY_WIDTH];
    for (key, value) in rows {
        let cells = [Cell::left(vec![Run::strong(key)]), Cell::left(value)];
        pager.block(&row(0.0, &widths, &cells, None, true));
    }
}

/// A table: the header row, repeated on every page the table runs onto, and each row kept
/// on one page where it fits. The header never ends a page alone.
fn table(pager: &mut Pager, widths: &[f32], header: &[Cell], rows: Vec<Vec<Line>>) {
    let header = row(0.0, widths, header, Some(HEADER_FILL), true);
    let mut rows = rows.into_iter();
    let mut first = header.clone();
    first.extend(rows.next().unwrap_or_default());
    pager.block(&first);
    pager.repeat_on_new_pages(header);
    for lines in rows {
        pager.block(&lines);
    }
    pager.repeat_on_new_pages(Vec::new());
}

/// A page's content stream.
fn page_content(ops: &[Op]) -> Vec<u8> {
    let mut content = Content::new();
    for op in ops {
        match op {
            Op::Text {
                x,
                y,
                font,
                size,
                gray,
                text,
            } => {
                content
                    .begin_text()
                    .set_font(font.resource_name(), *size)
                    .set_fill_gray(*gray)
                    .next_line(*x, *y)
                    .show(Str(text))
                    .end_text();
            }
            Op::Fill { rect, rgb } => {
                content
                    .set_fill_rgb(rgb.0, rgb.1, rgb.2)
                    .rect(rect[0], rect[1], rect[2], rect[3])
                    .fill_nonzero();
            }
            Op::Rule {
                from,
                to,
                width,
                gray,
            } => {
                content
                    .set_line_width(*width)
                    .set_stroke_gray(*gray)
                    .move_to(from.0, from.1)
                    .line_to(to.0, to.1)
                    .stroke();
            }
            Op::Frame { rect } => {
                content
                    .set_line_width(1.2)
                    .set_stroke_gray(0.15)
                    .rect(rect[0], rect[1], rect[2], rect[3])
                    .stroke();
            }
        }
    }
    content.finish().to_vec()
}

/// `YYYY-MM-DD hh:mm:ss UTC` (as [`crate::utc`] writes it) as a PDF date.
fn pdf_date(utc: &str) -> Option<Date> {
    let mut fields = utc
        .split(|c: char| !c.is_ascii_digit())
        .filter(|f| !f.is_empty())
        .map(str::parse::<u16>);
    let mut next = || fields.next()?.ok();
    let year = next()?;
    let mut small = || next().and_then(|v| u8::try_from(v).ok());
    Some(
        Date::new(year)
            .month(small()?)
            .day(small()?)
            .hour(small()?)
            .minute(small()?)
            .second(small()?)
            .utc_offset_hour(0),
    )
}

/// Hands out object numbers in order, so the same report numbers its objects the same way.
#[derive(Default)]
struct RefAlloc(i32);

impl RefAlloc {
    fn next(&mut self) -> Ref {
        self.0 += 1;
        Ref::new(self.0)
    }
}
