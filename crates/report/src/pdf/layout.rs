//! Lines of text placed down A4 pages: page breaks, blocks kept together, table rows, and
//! the drawing operations of each page.
//!
//! Everything the report shows is first turned into [`Line`]s of known height; the
//! [`Pager`] then puts them one under the other and starts a new page whenever the next
//! line would cross the bottom margin, so no text is ever drawn off a page.

use super::text::{Font, encode, wrap};

/// A4 in points.
pub(super) const PAGE_WIDTH: f32 = 595.28;
/// A4 in points.
pub(super) const PAGE_HEIGHT: f32 = 841.89;
/// Left and right margin.
pub(super) const MARGIN_X: f32 = 48.0;
/// Width between the margins.
pub(super) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;
/// Where the body starts, from the bottom of the page.
const BODY_TOP: f32 = PAGE_HEIGHT - 50.0;
/// Where the body ends; the footer lives below.
pub(super) const BODY_BOTTOM: f32 = 60.0;
/// Space between a cell's text and its column edges.
const CELL_PAD: f32 = 3.0;
/// Line height as a multiple of the font size.
const LEADING: f32 = 1.3;

/// An RGB colour, 0–1.
pub(super) type Rgb = (f32, f32, f32);

/// Background of table header rows.
pub(super) const HEADER_FILL: Rgb = (0.92, 0.92, 0.92);

/// A piece of text in one font: a cell holds one or more, each starting a new line.
#[derive(Debug, Clone)]
pub(super) struct Run {
    font: Font,
    size: f32,
    gray: f32,
    text: String,
}

impl Run {
    /// Text in `font` at `size` points, `gray` from 0 (black) to 1 (white).
    pub(super) fn new(font: Font, size: f32, gray: f32, text: impl Into<String>) -> Run {
        Run {
            font,
            size,
            gray,
            text: text.into(),
        }
    }

    /// Table and body text.
    pub(super) fn text(text: impl Into<String>) -> Run {
        Run::new(Font::Regular, 8.5, 0.0, text)
    }

    /// Emphasised text.
    pub(super) fn strong(text: impl Into<String>) -> Run {
        Run::new(Font::Bold, 8.5, 0.0, text)
    }

    /// Hashes, addresses, asset ids.
    pub(super) fn mono(text: impl Into<String>) -> Run {
        Run::new(Font::Mono, 7.5, 0.0, text)
    }

    /// Secondary remarks.
    pub(super) fn muted(text: impl Into<String>) -> Run {
        Run::new(Font::Regular, 7.5, 0.35, text)
    }
}

/// A table cell (or a paragraph): runs stacked, left or right aligned.
#[derive(Debug, Clone)]
pub(super) struct Cell {
    runs: Vec<Run>,
    right: bool,
}

impl Cell {
    /// Left-aligned runs.
    pub(super) fn left(runs: Vec<Run>) -> Cell {
        Cell { runs, right: false }
    }

    /// Right-aligned runs (amounts, so digits line up).
    pub(super) fn right(runs: Vec<Run>) -> Cell {
        Cell { runs, right: true }
    }
}

/// Encoded text at an offset from the left margin; its baseline comes from its [`Line`].
#[derive(Debug, Clone)]
pub(super) struct Span {
    x: f32,
    font: Font,
    size: f32,
    gray: f32,
    text: Vec<u8>,
}

/// One line of the body: the unit a page break can fall between.
#[derive(Debug, Clone)]
pub(super) struct Line {
    height: f32,
    baseline: f32,
    spans: Vec<Span>,
    fill: Option<Rgb>,
    /// Width and gray of a rule under the line.
    rule_below: Option<(f32, f32)>,
}

impl Line {
    /// Empty vertical space.
    pub(super) fn gap(height: f32) -> Line {
        Line {
            height,
            baseline: 0.0,
            spans: Vec::new(),
            fill: None,
            rule_below: None,
        }
    }

    /// The line's height in points.
    pub(super) fn height(&self) -> f32 {
        self.height
    }
}

/// Puts a heavy rule under the last of `lines` (under a section heading).
pub(super) fn heavy_rule_below(lines: &mut [Line]) {
    if let Some(last) = lines.last_mut() {
        last.height += 2.0;
        last.rule_below = Some((1.5, 0.15));
    }
}

/// Lays out a row of cells whose columns start at `x` (from the left margin) and have
/// `widths`: every cell wrapped to its column, the row as tall as its tallest cell, with
/// `fill` behind it and a rule under it when `rule`.
pub(super) fn row(
    x: f32,
    widths: &[f32],
    cells: &[Cell],
    fill: Option<Rgb>,
    rule: bool,
) -> Vec<Line> {
    let mut columns = Vec::new();
    let mut left = x;
    for (width, cell) in widths.iter().zip(cells) {
        columns.push(cell_spans(cell, left + CELL_PAD, width - 2.0 * CELL_PAD));
        left += width;
    }
    let size = cells
        .iter()
        .flat_map(|c| &c.runs)
        .map(|r| r.size)
        .fold(0.0_f32, f32::max);
    let count = columns.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut lines: Vec<Line> = (0..count)
        .map(|i| Line {
            height: size * LEADING,
            baseline: size,
            spans: columns.iter().filter_map(|c| c.get(i).cloned()).collect(),
            fill,
            rule_below: None,
        })
        .collect();
    pad_row(&mut lines, rule);
    lines
}

/// A paragraph across the full width, indented by `indent` on both sides.
pub(super) fn paragraph(indent: f32, runs: Vec<Run>) -> Vec<Line> {
    let width = CONTENT_WIDTH - 2.0 * indent + 2.0 * CELL_PAD;
    row(
        indent - CELL_PAD,
        &[width],
        &[Cell::left(runs)],
        None,
        false,
    )
}

/// Space above the first and below the last line of a row, so text clears the rules.
fn pad_row(lines: &mut [Line], rule: bool) {
    const PAD: f32 = 2.0;
    if let Some(first) = lines.first_mut() {
        first.height += PAD;
        first.baseline += PAD;
    }
    if let Some(last) = lines.last_mut() {
        last.height += PAD;
        last.rule_below = rule.then_some((0.4, 0.7));
    }
}

/// The lines of one cell, each a span: runs wrapped to `width`, one under the other.
fn cell_spans(cell: &Cell, x: f32, width: f32) -> Vec<Span> {
    let mut spans = Vec::new();
    for run in &cell.runs {
        for text in wrap(&encode(&run.text), run.font, run.size, width) {
            let shift = if cell.right {
                (width - run.font.width(&text, run.size)).max(0.0)
            } else {
                0.0
            };
            spans.push(Span {
                x: x + shift,
                font: run.font,
                size: run.size,
                gray: run.gray,
                text,
            });
        }
    }
    spans
}

/// A drawing operation on a page, in page coordinates (points from the bottom left).
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Text with its baseline starting at (x, y).
    Text {
        /// Left.
        x: f32,
        /// Baseline.
        y: f32,
        /// Font.
        font: Font,
        /// Size in points.
        size: f32,
        /// 0 black to 1 white.
        gray: f32,
        /// WinAnsi bytes.
        text: Vec<u8>,
    },
    /// A filled rectangle.
    Fill {
        /// Left, bottom, width, height.
        rect: [f32; 4],
        /// Colour.
        rgb: Rgb,
    },
    /// A stroked line.
    Rule {
        /// From (x, y) to (x, y).
        from: (f32, f32),
        /// To.
        to: (f32, f32),
        /// Line width.
        width: f32,
        /// 0 black to 1 white.
        gray: f32,
    },
    /// A stroked rectangle.
    Frame {
        /// Left, bottom, width, height.
        rect: [f32; 4],
    },
}

/// Places lines down pages.
pub(super) struct Pager {
    pages: Vec<Vec<Op>>,
    /// Top of the free space on the current page.
    y: f32,
    /// Lines repeated at the top of each new page (a table's header row).
    repeat: Vec<Line>,
}

impl Pager {
    /// One empty page.
    pub(super) fn new() -> Pager {
        Pager {
            pages: vec![Vec::new()],
            y: BODY_TOP,
            repeat: Vec::new(),
        }
    }

    /// The pages' drawing operations.
    pub(super) fn finish(self) -> Vec<Vec<Op>> {
        self.pages
    }

    fn remaining(&self) -> f32 {
        self.y - BODY_BOTTOM
    }

    fn at_top(&self) -> bool {
        self.y >= BODY_TOP
    }

    /// Starts a new page unless the current one is still empty.
    pub(super) fn page_break(&mut self) {
        if !self.at_top() {
            self.new_page();
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = BODY_TOP;
        for line in std::mem::take(&mut self.repeat) {
            self.draw(&line);
            self.repeat.push(line);
        }
    }

    /// Starts a new page unless `height` points are left on this one.
    pub(super) fn ensure(&mut self, height: f32) {
        if self.remaining() < height {
            self.new_page();
        }
    }

    /// Repeats `lines` at the top of every page started from now on (empty to stop).
    pub(super) fn repeat_on_new_pages(&mut self, lines: Vec<Line>) {
        self.repeat = lines;
    }

    /// Vertical space, dropped at the top of a page.
    pub(super) fn space(&mut self, height: f32) {
        if !self.at_top() {
            self.y = (self.y - height).max(BODY_BOTTOM);
        }
    }

    /// Places one line, on a new page if it does not fit on this one.
    pub(super) fn line(&mut self, line: &Line) {
        if line.height > self.remaining() {
            self.new_page();
        }
        self.draw(line);
    }

    /// Places lines, each where it fits (a paragraph may run onto the next page).
    pub(super) fn lines(&mut self, lines: &[Line]) {
        for line in lines {
            self.line(line);
        }
    }

    /// Places lines on one page when they fit on a page at all (a table row, a heading with
    /// its first lines); else line by line.
    pub(super) fn block(&mut self, lines: &[Line]) {
        let height: f32 = lines.iter().map(Line::height).sum();
        if height > self.remaining() && height <= BODY_TOP - BODY_BOTTOM {
            self.new_page();
        }
        self.lines(lines);
    }

    /// Places lines as a block with a frame around them when they fit on one page.
    pub(super) fn framed_block(&mut self, lines: &[Line]) {
        let height: f32 = lines.iter().map(Line::height).sum();
        if height > BODY_TOP - BODY_BOTTOM {
            self.lines(lines);
            return;
        }
        self.block(lines);
        self.push(Op::Frame {
            rect: [MARGIN_X, self.y, CONTENT_WIDTH, height],
        });
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    /// Draws a line at the top of the free space; the caller made sure it fits.
    fn draw(&mut self, line: &Line) {
        let top = self.y;
        let bottom = top - line.height;
        if let Some(rgb) = line.fill {
            self.push(Op::Fill {
                rect: [MARGIN_X, bottom, CONTENT_WIDTH, line.height],
                rgb,
            });
        }
        for span in &line.spans {
            self.push(Op::Text {
                x: MARGIN_X + span.x,
                y: top - line.baseline,
                font: span.font,
                size: span.size,
                gray: span.gray,
                text: span.text.clone(),
            });
        }
        if let Some((width, gray)) = line.rule_below {
            self.push(Op::Rule {
                from: (MARGIN_X, bottom),
                to: (MARGIN_X + CONTENT_WIDTH, bottom),
                width,
                gray,
            });
        }
        self.y = bottom;
    }
}
