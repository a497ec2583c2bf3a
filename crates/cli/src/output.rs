//! Printing results: JSON on stdout for `--json`, else short human text.

use serde::Serialize;
use tracehound_core::Amount;

/// Streams `value` as pretty JSON: a deep trace's result is written as it is encoded, never
/// held as one string.
pub(crate) fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// A base-unit amount as coins with 8 decimals (UTXO chains).
pub(crate) fn coins(a: Amount) -> String {
    a.to_decimal_string(8)
}

/// Unix seconds as `YYYY-MM-DD hh:mm:ss UTC`.
pub(crate) fn time(secs: u64) -> String {
    tracehound_report::utc(secs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_genesis_time() {
        assert_eq!(super::time(1_231_006_505), "2009-01-03 18:15:05 UTC");
        assert_eq!(super::time(0), "1970-01-01 00:00:00 UTC");
    }
}
