//! The report as one self-contained HTML page (inline CSS, no script, no external resource)
//! that prints cleanly: a cover with the digest to cite, where the value is, then one section
//! per point of intervention with its proof.

use std::fmt::Write as _;

use crate::model::{Evidence, HopDoc, PointDoc};

/// Escapes text for HTML (element content and attribute values).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font: 11pt/1.4 system-ui, 'Segoe UI', sans-serif; color: #111; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 2px solid #222; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: .25rem .4rem; text-align: left; vertical-align: top; }
th { background: #eee; }
.mono, td.mono { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; word-break: break-all; }
.num { text-align: right; white-space: nowrap; }
.cite { border: 2px solid #222; padding: .5rem .8rem; margin: 1rem 0; }
.muted { color: #555; font-size: 9pt; }
.point { page-break-inside: avoid; break-inside: avoid-page; }
.link { background: #fff6db; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-before: always; } h2.first { page-break-before: avoid; } a { color: inherit; text-decoration: none; } }
";

/// The figures of the summary table, in the order both the HTML and the PDF show them: the
/// value in first, then where it went.
pub(crate) const SUMMARY_ROWS: [(&str, &str); 9] = [
    ("stolen", "Stolen"),
    ("linked_in", "Arrived through links"),
    ("intervention", "At points of intervention"),
    ("still_moving", "Still moving"),
    ("dark", "Dark"),
    ("dust", "Dust"),
    ("fees", "Fees"),
    ("unresolved", "Unresolved"),
    ("linked_out", "Left through links"),
];

impl Evidence {
    /// The report as a self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evidence report: {}</title><style>{STYLE}</style></head><body>\n",
            esc(&self.incident)
        );
        let _ = write!(
            h,
            "<h1>Evidence report: {}</h1><p class=\"muted\">Made by {} on {} from the trace of this incident under the {} policy. Amounts are exact integers in each asset's base units, shown with its decimals.</p>",
            esc(&self.incident),
            esc(&self.tool),
            esc(&self.generated_utc),
            esc(&self.rules.policy)
        );
        let d = &self.digests;
        let _ = write!(
            h,
            "<div class=\"cite\"><b>Cite as</b>: inputs digest <span class=\"mono\">sha256:{}</span><br><span class=\"muted\">over the incident (sha256 <span class=\"mono\">{}</span>), the trace result (sha256 <span class=\"mono\">{}</span>), the rules below and the store's tips: {}</span></div>",
            esc(&d.inputs_sha256),
            esc(&d.incident_sha256),
            esc(&d.result_sha256),
            d.tips
                .iter()
                .map(|t| format!(
                    "{} at height {} (<span class=\"mono\">{}</span>)",
                    esc(&t.chain),
                    t.height,
                    esc(&t.hash)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        self.rules_html(&mut h);
        self.summary_html(&mut h);
        let _ = write!(
            h,
            "<h2 class=\"first\">Points of intervention ({})</h2>",
            self.points.len()
        );
        if self.points.is_empty() {
            h.push_str("<p>No traced value rests at an address a service can freeze.</p>");
        }
        h.push_str("<table><tr><th>#</th><th>Address</th><th>Chain</th><th>Who can freeze</th><th>Label</th><th class=\"num\">Amount</th></tr>");
        for (i, p) in self.points.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"mono\"><a href=\"#p{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                i + 1,
                i + 1,
                esc(&p.address),
                esc(&p.chain),
                esc(p.freezable_by.as_deref().unwrap_or("-")),
                esc(p.label.as_deref().unwrap_or("")),
                esc(&p.amount_shown)
            );
        }
        h.push_str("</table>");
        for (i, p) in self.points.iter().enumerate() {
            point_html(&mut h, i + 1, p);
        }
        if !self.notes.is_empty() {
            h.push_str("<h2>Notes of the trace</h2><ul>");
            for n in &self.notes {
                let _ = write!(h, "<li>{}</li>", esc(n));
            }
            h.push_str("</ul>");
        }
        h.push_str("</body></html>\n");
        h
    }

    fn rules_html(&self, h: &mut String) {
        let r = &self.rules;
        let _ = write!(
            h,
            "<h3>Policy and rules</h3><table><tr><th>Policy</th><td>{}</td></tr><tr><th>Hops followed</th><td>{}</td></tr><tr><th>Swaps, bridges, mixers</th><td>{}</td></tr>",
            esc(&r.policy),
            r.max_hops,
            if r.follow_links {
                format!(
                    "followed when matched with confidence ≥ {}",
                    r.min_link_confidence
                )
            } else {
                "not followed (value stops at the service)".to_string()
            }
        );
        if !r.dust.is_empty() {
            let _ = write!(
                h,
                "<tr><th>Dust</th><td>{}</td></tr>",
                r.dust
                    .iter()
                    .map(|(a, u)| format!("{} below {} base units", esc(a), esc(u)))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        let _ = write!(
            h,
            "<tr><th>Label sources</th><td>{}</td></tr></table>",
            if r.label_sources.is_empty() {
                "none".to_string()
            } else {
                r.label_sources
                    .iter()
                    .map(|(s, n)| format!("{} ({n})", esc(s)))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
    }

    fn summary_html(&self, h: &mut String) {
        // One column per chain and asset, one row per figure: fits a printed page however
        // many figures there are.
        h.push_str("<h3>Where the stolen value is</h3><table><tr><th></th>");
        for s in &self.summary {
            let _ = write!(
                h,
                "<th class=\"num\">{} on {}</th>",
                esc(s.symbol.as_deref().unwrap_or(&s.asset)),
                esc(&s.chain)
            );
        }
        h.push_str("</tr>");
        for (key, title) in SUMMARY_ROWS {
            let _ = write!(h, "<tr><th>{title}</th>");
            for s in &self.summary {
                let _ = write!(
                    h,
                    "<td class=\"num\">{}</td>",
                    esc(s.shown.get(key).map_or("", String::as_str))
                );
            }
            h.push_str("</tr>");
        }
        h.push_str("</table><p class=\"muted\">Per asset, stolen plus arrived through links equals the rest: at points of intervention, still moving, dark, dust, fees, unresolved and left through links.</p>");
    }
}

fn point_html(h: &mut String, n: usize, p: &PointDoc) {
    let _ = write!(
        h,
        "<div class=\"point\"><h2 id=\"p{n}\">{n}. {} at <span class=\"mono\">{}</span></h2>",
        esc(&p.amount_shown),
        esc(&p.address)
    );
    let _ = write!(
        h,
        "<table><tr><th>Chain</th><td>{}</td></tr><tr><th>Asset</th><td class=\"mono\">{}</td></tr><tr><th>Amount</th><td>{} ({} base units){}</td></tr><tr><th>Who can freeze</th><td>{}</td></tr><tr><th>Hops from the theft</th><td>{}</td></tr>",
        esc(&p.chain),
        esc(&p.asset),
        esc(&p.amount_shown),
        esc(&p.amount),
        p.fiat
            .as_deref()
            .map(|f| format!("; {} on the day it arrived", esc(f)))
            .unwrap_or_default(),
        esc(p.freezable_by.as_deref().unwrap_or("-")),
        p.hops
    );
    if let Some(e) = &p.entity {
        let _ = write!(
            h,
            "<tr><th>Entity</th><td class=\"mono\">{}</td></tr>",
            esc(&e.to_string())
        );
    }
    if !p.patterns.is_empty() {
        let _ = write!(
            h,
            "<tr><th>Patterns on its path</th><td>{}</td></tr>",
            esc(&p.patterns.join(", "))
        );
    }
    h.push_str("</table><h3>Labels</h3>");
    if p.labels.is_empty() {
        let _ = write!(
            h,
            "<p>{}</p>",
            esc(p.label.as_deref().unwrap_or("none in the label store"))
        );
    } else {
        h.push_str("<table><tr><th>Label</th><th>Category</th><th>Source</th><th>Confidence</th><th>Reference</th></tr>");
        for l in &p.labels {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&l.label),
                esc(&l.category),
                esc(&l.source),
                l.confidence,
                esc(l.reference.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h3>Proof: the path of txs from the theft</h3><table><tr><th>#</th><th>Time</th><th>Chain / tx</th><th>From → to</th><th class=\"num\">Tainted of value</th><th>Rule</th></tr>");
    for hop in &p.path {
        hop_html(h, hop);
    }
    h.push_str("</table></div>");
}

fn hop_html(h: &mut String, hop: &HopDoc) {
    let class = if hop.link.is_some() {
        " class=\"link\""
    } else {
        ""
    };
    let _ = write!(
        h,
        "<tr{class}><td>{}</td><td>{}</td><td class=\"mono\">{}<br>{} @{}</td><td class=\"mono\">{}<br>→ {}</td><td class=\"num\">{}<br><span class=\"muted\">{} of {} base units</span></td><td>{}</td></tr>",
        hop.n,
        esc(&hop.time_utc),
        esc(&hop.chain),
        esc(&hop.tx),
        esc(&hop.at),
        esc(&hop.from),
        esc(&hop.to),
        esc(&hop.tainted_shown),
        esc(&hop.tainted),
        esc(&hop.value),
        esc(&hop.rule)
    );
    if let Some(l) = &hop.link {
        let _ = write!(
            h,
            "<tr class=\"link\"><td></td><td colspan=\"5\"><b>{} via {}</b> (confidence {}): {} {} on {} in (tx <span class=\"mono\">{}</span>) → {} {} on {} out. Evidence: {}</td></tr>",
            esc(&l.kind),
            esc(&l.service),
            l.confidence,
            esc(&l.amount_in),
            esc(&l.asset_in),
            esc(&l.chain_in),
            esc(&l.tx_in),
            esc(l.amount_out.as_deref().unwrap_or("unknown")),
            esc(&l.asset_out),
            esc(&l.chain_out),
            esc(&l.evidence)
        );
    }
}
