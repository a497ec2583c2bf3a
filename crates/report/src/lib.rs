//! Evidence reports for freeze requests.
//!
//! An exchange's compliance team acts on a document that says, for the deposit address it
//! controls: how much stolen value sits there, in which asset, and the path of txs (with
//! times and per-hop amounts) that proves it, under which policy and rules, with the labels
//! and their sources and the evidence of every swap, bridge or mixer crossed; and that can be
//! cited: when it was made and a digest of everything it was made from.
//!
//! [`Evidence::build`] reads a trace result (the JSON `tracehound trace --json` prints and the
//! API keeps) with the facts the caller looked up (labels with sources, asset decimals, the
//! store's tips); [`Evidence::to_html`] renders one self-contained page that prints cleanly,
//! [`Evidence::to_pdf`] the same content as a paginated A4 PDF (every page footed with the
//! incident, its page number and the digest to cite) and [`Evidence::to_json`] as JSON.
//! Amounts stay integers in base units; decimals only shape how they are shown.

mod html;
mod model;
mod pdf;

pub use model::{
    AssetFacts, ChainTip, Evidence, HopDoc, Inputs, LabelDoc, LinkDoc, PointDoc, RulesDoc,
    SummaryDoc, utc,
};

/// What is wrong with a report's inputs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The trace result is not a result `tracehound trace --json` writes.
    #[error("the trace result does not read as one: {0}")]
    Result(String),
    /// The endpoint asked for is not a point of intervention of the trace.
    #[error("{0} is not an endpoint of the trace")]
    NoSuchEndpoint(String),
}

/// Formats base units with `decimals` (exact: integer arithmetic only), trimming trailing
/// zeros of the fraction.
pub fn format_units(units: u128, decimals: u8) -> String {
    if decimals == 0 {
        return units.to_string();
    }
    let scale = 10u128.checked_pow(u32::from(decimals));
    let Some(scale) = scale else {
        return units.to_string();
    };
    let (whole, frac) = (units / scale, units % scale);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0width$}", width = usize::from(decimals));
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::format_units;

    #[test]
    fn units_format_exactly() {
        assert_eq!(format_units(148_213_776_551, 8), "1482.13776551");
        assert_eq!(format_units(100_000_000, 8), "1");
        assert_eq!(format_units(1, 18), "0.000000000000000001");
        assert_eq!(
            format_units(u128::MAX, 18),
            "340282366920938463463.374607431768211455"
        );
        assert_eq!(format_units(5, 0), "5");
    }
}
