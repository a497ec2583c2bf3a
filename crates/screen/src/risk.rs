//! Risk levels and their reasons, from an address's exposures and its own labels.
//!
//! | level | when |
//! |---|---|
//! | severe | the address is labeled sanctioned; or it paid or was paid by a sanctioned address directly (hop 1) |
//! | high | the address received stolen funds of an incident (any hop of its trace); or it is labeled mixer, hacker, ransomware, terrorism, darknet market or scam; or it dealt with a mixer directly (hop 1) |
//! | medium | indirect (hop ≥ 2) exposure to a sanctioned or mixer address of at least [`MEDIUM_SHARE_BPS`] of what it received (incoming) or sent (outgoing) in the asset |
//! | low | any other exposure (below that share, or of unknown share) |
//! | none | no exposure and no grave label |
//!
//! The level is the gravest of its reasons; every reason is listed, gravest first.

use serde::Serialize;
use tracehound_labels::{Category, Tag};

use crate::record::{Exposure, Origin};

/// Indirect exposure to sanctioned or mixer funds from this share on (basis points: 1%) is
/// `medium`, below it `low`.
pub const MEDIUM_SHARE_BPS: u32 = 100;

/// How risky an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Nothing found.
    None,
    /// Some exposure, small or far.
    Low,
    /// Notable indirect exposure.
    Medium,
    /// Stolen funds received, or a grave label, or a mixer counterparty.
    High,
    /// Sanctioned, or a direct sanctioned counterparty.
    Severe,
}

impl Level {
    /// The name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Severe => "severe",
        }
    }
}

/// One reason for a level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The level this reason alone gives.
    pub level: Level,
    /// In words.
    pub text: String,
    /// The exposure behind it (with amount, share, hops and path), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure: Option<Exposure>,
}

/// An address's own label, as screening shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnLabel {
    /// The label.
    pub label: String,
    /// Its category.
    pub category: String,
    /// Who says so.
    pub source: String,
    /// 0–100.
    pub confidence: u8,
}

/// The answer for one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Screening {
    /// The chain.
    pub chain: String,
    /// Canonical address.
    pub address: String,
    /// The gravest reason's level.
    pub level: Level,
    /// Every reason, gravest first.
    pub reasons: Vec<Reason>,
    /// The address's own labels, strongest first.
    pub labels: Vec<OwnLabel>,
}

/// The level an address's own label gives, if any.
fn label_level(c: Category) -> Option<Level> {
    match c {
        Category::Sanctioned => Some(Level::Severe),
        Category::Mixer
        | Category::Hacker
        | Category::Ransomware
        | Category::Terrorism
        | Category::DarknetMarket
        | Category::Scam => Some(Level::High),
        _ => None,
    }
}

/// The level one exposure gives.
pub fn exposure_level(e: &Exposure) -> Level {
    match e.origin {
        Origin::Stolen => Level::High,
        Origin::Sanctioned if e.hops <= 1 => Level::Severe,
        Origin::Mixer if e.hops <= 1 => Level::High,
        Origin::Sanctioned | Origin::Mixer => {
            if e.share_bps.is_some_and(|s| s >= MEDIUM_SHARE_BPS) {
                Level::Medium
            } else {
                Level::Low
            }
        }
    }
}

fn describe(e: &Exposure) -> String {
    let share = e
        .share_bps
        .map(|s| {
            format!(
                " ({}.{:02}% of what it {})",
                s / 100,
                s % 100,
                match e.direction {
                    crate::Direction::Incoming => "received",
                    crate::Direction::Outgoing => "sent",
                }
            )
        })
        .unwrap_or_default();
    let what = match e.origin {
        Origin::Stolen => format!("stolen funds of incident {}", e.source),
        o => format!(
            "{} address {}{}",
            o.name(),
            e.source,
            e.label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        ),
    };
    let dir = match e.direction {
        crate::Direction::Incoming => "received from",
        crate::Direction::Outgoing => "sent to",
    };
    format!(
        "{dir} {what}: {} {}{share}, {} hop(s) away",
        e.amount, e.asset, e.hops
    )
}

/// Screens one address from its exposures and its tags (strongest first).
pub fn screen_one(chain: &str, address: &str, exposures: Vec<Exposure>, tags: &[Tag]) -> Screening {
    let mut reasons = Vec::new();
    for t in tags {
        if let Some(level) = label_level(t.category) {
            reasons.push(Reason {
                level,
                text: format!(
                    "the address is labeled {} ({}, source {}, confidence {})",
                    t.category.name(),
                    t.label,
                    t.source,
                    t.confidence
                ),
                exposure: None,
            });
        }
    }
    for e in exposures {
        reasons.push(Reason {
            level: exposure_level(&e),
            text: describe(&e),
            exposure: Some(e),
        });
    }
    // Gravest first; then the larger amount, then the nearer.
    reasons.sort_by(|a, b| {
        let amount = |r: &Reason| r.exposure.as_ref().map_or(0, |e| e.amount);
        let hops = |r: &Reason| r.exposure.as_ref().map_or(0, |e| e.hops);
        b.level
            .cmp(&a.level)
            .then_with(|| amount(b).cmp(&amount(a)))
            .then_with(|| hops(a).cmp(&hops(b)))
    });
    Screening {
        chain: chain.to_string(),
        address: address.to_string(),
        level: reasons.first().map_or(Level::None, |r| r.level),
        reasons,
        labels: tags
            .iter()
            .map(|t| OwnLabel {
                label: t.label.clone(),
                category: t.category.name().to_string(),
                source: t.source.clone(),
                confidence: t.confidence,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Direction;

    fn exp(origin: Origin, hops: u32, share: Option<u32>) -> Exposure {
        Exposure {
            origin,
            direction: Direction::Incoming,
            source: "s".into(),
            label: None,
            chain: "bitcoin".into(),
            asset: "native".into(),
            amount: 10,
            share_bps: share,
            hops,
            path: Vec::new(),
        }
    }

    #[test]
    fn levels_follow_the_documented_table() {
        assert_eq!(
            exposure_level(&exp(Origin::Sanctioned, 1, None)),
            Level::Severe
        );
        assert_eq!(
            exposure_level(&exp(Origin::Stolen, 5, Some(1))),
            Level::High
        );
        assert_eq!(exposure_level(&exp(Origin::Mixer, 1, Some(1))), Level::High);
        assert_eq!(
            exposure_level(&exp(Origin::Mixer, 2, Some(100))),
            Level::Medium
        );
        assert_eq!(
            exposure_level(&exp(Origin::Sanctioned, 3, Some(99))),
            Level::Low
        );
        assert_eq!(
            exposure_level(&exp(Origin::Sanctioned, 3, None)),
            Level::Low
        );
        let s = screen_one(
            "bitcoin",
            "a",
            vec![
                exp(Origin::Mixer, 2, Some(5000)),
                exp(Origin::Stolen, 2, None),
            ],
            &[],
        );
        assert_eq!(s.level, Level::High);
        assert_eq!(s.reasons.len(), 2);
        assert_eq!(
            screen_one("bitcoin", "a", Vec::new(), &[]).level,
            Level::None
        );
    }
}
