//! Fiat values of traced amounts, from a price table the user supplies.
//!
//! A price never replaces a base amount: it is shown next to it. The table is a CSV with the
//! header `date,chain,asset,decimals,price`: `date` a UTC day (`YYYY-MM-DD`), `chain` and
//! `asset` as a trace names them (`ethereum`, `native` or a token contract), `decimals` the
//! asset's (18 for ether, 8 for bitcoin, 6 for USDC), `price` a decimal number of the table's
//! currency for one whole unit, at most 8 digits after the point. An amount is valued at the
//! latest price on or before its day, and rounded down to the cent with integer arithmetic
//! only.

use std::collections::BTreeMap;
use std::path::Path;

use crate::arith::mul_div_floor;

/// Why a price table cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {reason}")]
pub struct PriceError {
    /// The file.
    pub path: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong, naming the field.
    pub reason: String,
}

const HEADER: &str = "date,chain,asset,decimals,price";
/// Prices are kept in units of 10⁻⁸ of the currency.
const PRICE_SCALE_DIGITS: u32 = 8;

/// One row: (days since 1970-01-01, the asset's decimals, price × 10⁸).
type DayPrice = (i64, u8, u128);

/// Prices by (chain, asset), each list by day.
#[derive(Debug, Default, Clone)]
pub struct PriceTable {
    prices: BTreeMap<(String, String), Vec<DayPrice>>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_day(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `123.45` → 12_345_000_000 (× 10⁸), refusing signs, exponents and more than 8 decimals.
fn parse_price(s: &str) -> Option<u128> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > PRICE_SCALE_DIGITS as usize {
        return None;
    }
    let whole: u128 = int.parse().ok()?;
    let mut frac_units: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..PRICE_SCALE_DIGITS as usize {
        frac_units *= 10;
    }
    whole
        .checked_mul(10u128.pow(PRICE_SCALE_DIGITS))?
        .checked_add(frac_units)
}

impl PriceTable {
    /// Reads a price table (see the [module docs](self)).
    pub fn from_csv_file(path: &Path) -> Result<PriceTable, PriceError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PriceError {
            path: name.clone(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        PriceTable::from_csv(&name, &text)
    }

    /// Reads a price table from `text` (named `name` in errors).
    pub fn from_csv(name: &str, text: &str) -> Result<PriceTable, PriceError> {
        let err = |line: usize, reason: String| PriceError {
            path: name.to_string(),
            line,
            reason,
        };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.next() {
            Some((_, HEADER)) => {}
            other => {
                return Err(err(
                    1,
                    format!(
                        "the header must be {HEADER:?}, found {:?}",
                        other.map(|o| o.1)
                    ),
                ));
            }
        }
        let mut table = PriceTable::default();
        for (line, row) in lines {
            if row.is_empty() {
                continue;
            }
            let f: Vec<&str> = row.split(',').map(str::trim).collect();
            let [date, chain, asset, decimals, price] = f.as_slice() else {
                return Err(err(
                    line,
                    format!("expected 5 fields ({HEADER}), found {}", f.len()),
                ));
            };
            let day = parse_day(date)
                .ok_or_else(|| err(line, format!("field date: {date:?} is not YYYY-MM-DD")))?;
            let decimals: u8 =
                decimals.parse().ok().filter(|d| *d <= 36).ok_or_else(|| {
                    err(line, format!("field decimals: {decimals:?} is not 0 to 36"))
                })?;
            let price = parse_price(price).ok_or_else(|| {
                err(
                    line,
                    format!("field price: {price:?} is not a decimal number with at most 8 digits after the point"),
                )
            })?;
            table
                .prices
                .entry((chain.to_string(), asset.to_ascii_lowercase()))
                .or_default()
                .push((day, decimals, price));
        }
        for list in table.prices.values_mut() {
            list.sort_unstable();
        }
        Ok(table)
    }

    /// The value of `amount` base units of (`chain`, `asset`) at unix time `time`, in cents of
    /// the table's currency (rounded down); `None` when the table has no price on or before
    /// that day.
    pub fn cents(&self, chain: &str, asset: &str, time: u64, amount: u128) -> Option<u128> {
        let list = self
            .prices
            .get(&(chain.to_string(), asset.to_ascii_lowercase()))?;
        let day = i64::try_from(time / 86_400).ok()?;
        let &(_, decimals, price) = list.iter().rev().find(|p| p.0 <= day)?;
        // amount / 10^decimals whole units × price / 10^8 × 100 cents.
        let divisor = 10u128.checked_pow(u32::from(decimals) + PRICE_SCALE_DIGITS - 2)?;
        Some(mul_div_floor(amount, price, divisor))
    }
}

/// `123456` cents as `1234.56`.
pub fn format_cents(cents: u128) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "date,chain,asset,decimals,price\n\
        2025-02-21,ethereum,native,18,2765.40\n\
        2025-02-20,ethereum,native,18,2741.5\n\
        2025-02-21,ethereum,0xA0b86991c6218b36c1d19d4a2e9eb0ce3606eb48,6,0.99987\n\
        2025-02-21,bitcoin,native,8,96342.12345678\n";

    #[test]
    fn amounts_are_valued_at_the_latest_price_on_or_before_their_day() {
        let t = PriceTable::from_csv("p.csv", TABLE).unwrap();
        let feb21 = 1_740_096_000; // 2025-02-21T00:00:00Z
        assert_eq!(days_from_civil(2025, 2, 21), feb21 / 86_400);
        let eth = 401_346_000_000_000_000_000_000u128; // 401,346 ETH (the Bybit heist)
        assert_eq!(
            t.cents("ethereum", "native", feb21 as u64 + 3600, eth),
            Some(110_988_222_840)
        );
        // The day before takes the day before's price; earlier still, none.
        assert_eq!(
            t.cents("ethereum", "native", feb21 as u64 - 1, 10u128.pow(18)),
            Some(274_150)
        );
        assert_eq!(t.cents("ethereum", "native", 1_700_000_000, 1), None);
        // Tokens by contract, any case; rounding is down to the cent.
        assert_eq!(
            t.cents(
                "ethereum",
                "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
                feb21 as u64,
                1_000_000_000
            ),
            Some(99_987)
        );
        assert_eq!(
            t.cents("bitcoin", "native", feb21 as u64, 1),
            Some(0),
            "one satoshi is less than a cent"
        );
        assert_eq!(format_cents(110_988_222_840), "1109882228.40");
        assert_eq!(format_cents(7), "0.07");
    }

    #[test]
    fn bad_tables_name_line_and_field() {
        for (text, expected) in [
            ("date,price\n", "p.csv:1: the header"),
            (
                "date,chain,asset,decimals,price\n2025-13-01,bitcoin,native,8,1\n",
                "p.csv:2: field date",
            ),
            (
                "date,chain,asset,decimals,price\n2025-01-01,bitcoin,native,8,1e5\n",
                "p.csv:2: field price",
            ),
            (
                "date,chain,asset,decimals,price\n2025-01-01,bitcoin,native,8,-3\n",
                "p.csv:2: field price",
            ),
            (
                "date,chain,asset,decimals,price\n2025-01-01,bitcoin,native,8,1.123456789\n",
                "p.csv:2: field price",
            ),
            (
                "date,chain,asset,decimals,price\n2025-01-01,bitcoin,native,x,1\n",
                "p.csv:2: field decimals",
            ),
            (
                "date,chain,asset,decimals,price\n2025-01-01,bitcoin,native\n",
                "p.csv:2: expected 5 fields",
            ),
        ] {
            let e = PriceTable::from_csv("p.csv", text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }
}
