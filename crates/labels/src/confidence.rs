//! The confidence scale: how far a tag can be trusted, as an integer from 0 to 100, with the
//! source's own term kept next to it.
//!
//! | level | value | what it means | from |
//! |---|---|---|---|
//! | `analyst` | 100 | an analyst of this installation said so | `labels add` (default) |
//! | `authority_data` | 100 | an authority published it (sanctions list, court, law enforcement) | OFAC lists; GraphSense `authority_data` |
//! | `ledger_immanent` | 95 | follows from the ledger itself (an issuer's on-chain blacklist event) | GraphSense `ledger_immanent` |
//! | `service_data` | 90 | the service itself published it (reserve wallets) | GraphSense `service_data` |
//! | `forensic` | 80 | a forensic investigation or report | GraphSense `forensic` |
//! | `explorer` | 60 | a block explorer's public name tag (curated, method unpublished) | Etherscan-family dumps |
//! | `web_crawl` | 50 | scraped from web pages, forums | GraphSense `web_crawl` |
//! | `unspecified` | 40 | the source gives no confidence | a tagpack without `confidence` |
//! | `untrusted_transaction` | 20 | inferred from a transaction of an untrusted party | GraphSense `untrusted_transaction` |
//!
//! CSV files give a number from 0 to 1 (as the simulator writes it: `0.8`), which becomes
//! that many hundredths rounded to the nearest (`0.8` → 80), or one of the level names above.

/// Named levels of the scale, with their values (see the module docs).
pub const LEVELS: &[(&str, u8)] = &[
    ("analyst", 100),
    ("authority_data", 100),
    ("ledger_immanent", 95),
    ("service_data", 90),
    ("forensic", 80),
    ("explorer", 60),
    ("web_crawl", 50),
    ("unspecified", 40),
    ("untrusted_transaction", 20),
];

/// The value of a named level.
pub fn level(name: &str) -> Option<u8> {
    let n = crate::category::normalize_term(name);
    LEVELS.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
}

/// A decimal fraction from 0 to 1 (`1`, `0.8`, `0.95`, `.5`) as hundredths, rounded half up;
/// integer arithmetic only. `None` for anything else.
pub fn from_fraction(text: &str) -> Option<u8> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: u32 = if int.is_empty() { 0 } else { int.parse().ok()? };
    if int > 1 || (int == 1 && frac.bytes().any(|b| b != b'0')) {
        return None;
    }
    let digit = |i: usize| u32::from(frac.as_bytes().get(i).map_or(0, |b| b - b'0'));
    let mut hundredths = int * 100 + digit(0) * 10 + digit(1);
    if digit(2) >= 5 {
        hundredths += 1;
    }
    u8::try_from(hundredths).ok()
}

/// A CSV confidence: a fraction from 0 to 1, or a level name.
pub fn parse_csv(text: &str) -> Option<u8> {
    from_fraction(text).or_else(|| level(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_become_hundredths() {
        assert_eq!(from_fraction("1"), Some(100));
        assert_eq!(from_fraction("1.0"), Some(100));
        assert_eq!(from_fraction("0.8"), Some(80));
        assert_eq!(from_fraction("0.95"), Some(95));
        assert_eq!(from_fraction(".5"), Some(50));
        assert_eq!(from_fraction("0.125"), Some(13));
        assert_eq!(from_fraction("0"), Some(0));
        for bad in ["", ".", "1.01", "2", "-0.5", "0.8x", "1e-1", "1.001"] {
            assert_eq!(from_fraction(bad), None, "{bad}");
        }
        assert_eq!(parse_csv("forensic"), Some(80));
        assert_eq!(parse_csv("Authority-Data"), Some(100));
        assert_eq!(parse_csv("sure"), None);
    }
}
