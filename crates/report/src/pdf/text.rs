//! Text for the standard 14 fonts: WinAnsi encoding, glyph widths and line wrapping.
//!
//! The report uses Helvetica, Helvetica-Bold and Courier, which every PDF reader has built
//! in, so no font is embedded. Their built-in encoding here is WinAnsiEncoding (one byte a
//! glyph), so text is encoded to it before it is measured or drawn. A character WinAnsi
//! lacks (CJK, emoji, arrows, …) becomes `?`: the file stays valid and a reader sees that
//! something was there; the HTML and JSON reports keep the original text.

use pdf_writer::Name;

/// The three fonts the report draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
    /// Courier: tx ids, addresses, digests (fixed width so hashes line up and break evenly).
    Mono,
}

impl Font {
    /// Every font, in the order of their resource names.
    pub(super) const ALL: [Font; 3] = [Font::Regular, Font::Bold, Font::Mono];

    /// Its name in a page's resource dictionary.
    pub(super) fn resource_name(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
            Font::Mono => Name(b"F3"),
        }
    }

    /// Its PostScript name, one of the standard 14.
    pub(super) fn base_font(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"Helvetica"),
            Font::Bold => Name(b"Helvetica-Bold"),
            Font::Mono => Name(b"Courier"),
        }
    }

    /// Advance width of a WinAnsi code, in 1/1000 em.
    fn advance(self, code: u8) -> u16 {
        let table = match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
            Font::Mono => return COURIER_ADVANCE,
        };
        // Codes below the space are never produced by `encode`; measuring them as a space
        // keeps the arithmetic total.
        let index = usize::from(code.saturating_sub(FIRST_CODE));
        table.get(index).copied().unwrap_or(COURIER_ADVANCE)
    }

    /// Width of WinAnsi-encoded `text` at `size` points.
    pub(super) fn width(self, text: &[u8], size: f32) -> f32 {
        let units: u32 = text.iter().map(|&c| u32::from(self.advance(c))).sum();
        units as f32 * size / 1000.0
    }
}

/// Encodes `text` as WinAnsiEncoding: one byte a character, `?` for characters it lacks,
/// a space for tabs and line breaks (text is laid out by the report, not by the data).
pub(super) fn encode(text: &str) -> Vec<u8> {
    text.chars().map(winansi_code).collect()
}

fn winansi_code(c: char) -> u8 {
    match c {
        ' '..='~' | '\u{A0}'..='\u{FF}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
        '\t' | '\n' | '\r' => b' ',
        _ => WINANSI_HIGH
            .iter()
            .find(|(ch, _)| *ch == c)
            .map_or(b'?', |(_, code)| *code),
    }
}

/// The characters of WinAnsi's 0x80–0x9F range (where it differs from Latin-1).
const WINANSI_HIGH: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('\u{2018}', 0x91),
    ('\u{2019}', 0x92),
    ('\u{201C}', 0x93),
    ('\u{201D}', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

/// Breaks encoded `text` into lines no wider than `max_width` points: at spaces where it
/// can, and inside a word (a tx hash, an address) where the word alone is too wide. Always
/// at least one line, so an empty cell still takes its row's height.
pub(super) fn wrap(text: &[u8], font: Font, size: f32, max_width: f32) -> Vec<Vec<u8>> {
    let fits = |line: &[u8]| font.width(line, size) <= max_width;
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in text.split(|&c| c == b' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() {
            let mut joined = line.clone();
            joined.push(b' ');
            joined.extend_from_slice(word);
            if fits(&joined) {
                line = joined;
                continue;
            }
            lines.push(std::mem::take(&mut line));
        }
        line = break_word(word, &fits, &mut lines);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Pushes the full-width pieces of a word too wide for a line to `lines` and returns the
/// rest, which starts the next line.
fn break_word(word: &[u8], fits: &impl Fn(&[u8]) -> bool, lines: &mut Vec<Vec<u8>>) -> Vec<u8> {
    let mut piece: Vec<u8> = Vec::new();
    for &c in word {
        piece.push(c);
        // A piece keeps at least one character, so a very narrow column still progresses.
        if piece.len() > 1 && !fits(&piece) {
            piece.pop();
            lines.push(std::mem::replace(&mut piece, vec![c]));
        }
    }
    piece
}

/// Shortens encoded `text` with "..." until it fits `max_width` points.
pub(super) fn truncate(text: &[u8], font: Font, size: f32, max_width: f32) -> Vec<u8> {
    if font.width(text, size) <= max_width {
        return text.to_vec();
    }
    let mut cut = text.to_vec();
    while !cut.is_empty() {
        cut.pop();
        let mut shown = cut.clone();
        shown.extend_from_slice(b"...");
        if font.width(&shown, size) <= max_width {
            return shown;
        }
    }
    b"...".to_vec()
}

/// Every Courier glyph is 600/1000 em wide.
const COURIER_ADVANCE: u16 = 600;

/// The first code of the width tables (the space).
const FIRST_CODE: u8 = 32;

// Advance widths (1/1000 em) of WinAnsi codes 0x20–0xFF, from Adobe's public font metrics
// (AFM) of the standard Helvetica and Helvetica-Bold; 0 where WinAnsi has no glyph.
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0x30
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 0x40
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 0x50
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 0x60
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0, // 0x70
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, // 0x80
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667, // 0x90
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 0xa0
    400, 584, 333, 333, 333, 578, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 0xb0
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 0xc0
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 0xd0
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, // 0xe0
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, // 0xf0
];
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0x30
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // 0x40
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // 0x50
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // 0x60
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0, // 0x70
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, // 0x80
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667, // 0x90
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 0xa0
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 0xb0
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 0xc0
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 0xd0
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, // 0xe0
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556, // 0xf0
];

#[cfg(test)]
mod tests {
    use super::{Font, encode, truncate, wrap};

    #[test]
    fn winansi_keeps_latin_and_replaces_the_rest() {
        assert_eq!(encode("Zürich €5 – ok"), b"Z\xfcrich \x805 \x96 ok");
        assert_eq!(encode("交易所 🦊"), b"??? ?");
        assert_eq!(encode("a\tb\nc\u{7f}"), b"a b c?");
    }

    #[test]
    fn widths_follow_the_metrics() {
        // Helvetica: "A" 667, "i" 222; Courier: 600 for every glyph.
        assert!((Font::Regular.width(b"Ai", 10.0) - 8.89).abs() < 1e-4);
        assert!((Font::Bold.width(b"A", 10.0) - 7.22).abs() < 1e-4);
        assert!((Font::Mono.width(b"Ai", 10.0) - 12.0).abs() < 1e-4);
    }

    #[test]
    fn wrapped_lines_fit_and_a_hash_breaks_inside() {
        let hash = "ab".repeat(32);
        let text = encode(&format!("tx {hash} at block 840000"));
        let lines = wrap(&text, Font::Mono, 10.0, 120.0);
        for line in &lines {
            assert!(Font::Mono.width(line, 10.0) <= 120.0);
        }
        let joined: Vec<u8> = lines.concat();
        assert!(joined.windows(64).any(|w| w == hash.as_bytes()));
        assert_eq!(wrap(b"", Font::Regular, 9.0, 50.0), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn truncation_fits() {
        let long = encode(&"incident ".repeat(20));
        let cut = truncate(&long, Font::Regular, 8.0, 100.0);
        assert!(cut.ends_with(b"...") && Font::Regular.width(&cut, 8.0) <= 100.0);
        assert_eq!(truncate(b"short", Font::Regular, 8.0, 100.0), b"short");
    }
}
