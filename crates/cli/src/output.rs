//! Printing results: JSON on stdout for `--json`, else short human text.

use serde::Serialize;
use tracehound_core::Amount;

pub(crate) fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A base-unit amount as coins with 8 decimals (UTXO chains).
pub(crate) fn coins(a: Amount) -> String {
    a.to_decimal_string(8)
}

/// Unix seconds as `YYYY-MM-DD hh:mm:ss UTC`.
pub(crate) fn time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_genesis_time() {
        assert_eq!(super::time(1_231_006_505), "2009-01-03 18:15:05 UTC");
        assert_eq!(super::time(0), "1970-01-01 00:00:00 UTC");
    }
}
