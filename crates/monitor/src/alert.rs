//! What an alert is and how its idempotency key is derived: from the fields that say what the
//! alert is about, never from when it was raised, so the same event raised again (after a
//! restart, a replay of blocks) is the same alert.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What happened.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Tainted value moved on chain.
    TaintMoved,
    /// Tainted value reached a service (an exchange, a custodian, an issuer): a point of
    /// intervention.
    ReachedService,
    /// A watched address's exposure to an incident or risky source crossed a threshold.
    Exposure,
    /// A sanctioned address was involved.
    Sanctioned,
    /// A laundering pattern was recognised.
    Pattern,
    /// An earlier alert is withdrawn (its block was reorganised away, the rule was wrong).
    Retraction,
    /// An earlier alert's block reached the confirmation depth the alert asked for
    /// (`confirmations_needed`) while the alert was in force: it is final.
    Final,
}

impl AlertKind {
    /// Every kind, in declaration order.
    pub const ALL: [AlertKind; 7] = [
        AlertKind::TaintMoved,
        AlertKind::ReachedService,
        AlertKind::Exposure,
        AlertKind::Sanctioned,
        AlertKind::Pattern,
        AlertKind::Retraction,
        AlertKind::Final,
    ];

    /// The kind as it is written in JSON (`taint_moved`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::TaintMoved => "taint_moved",
            AlertKind::ReachedService => "reached_service",
            AlertKind::Exposure => "exposure",
            AlertKind::Sanctioned => "sanctioned",
            AlertKind::Pattern => "pattern",
            AlertKind::Retraction => "retraction",
            AlertKind::Final => "final",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlertKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown alert kind {s:?} (one of: {})", all.join(", "))
            })
    }
}

/// One alert. `id` is the idempotency key: derived ([`Alert::derive_id`]) from what the alert
/// is about, so the same event raised twice is one alert. Build one with [`Alert::builder`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Alert {
    /// The idempotency key: lowercase hex SHA-256 of the identifying fields.
    pub id: String,
    /// What happened.
    pub kind: AlertKind,
    /// The incident it is about, if any.
    pub incident: Option<String>,
    /// The chain (tracehound's chain name).
    pub chain: String,
    /// Height of the block it was seen in.
    pub height: u32,
    /// Hash of that block (a reorg changes it: a different alert).
    pub block_hash: String,
    /// The transaction, if one.
    pub tx: Option<String>,
    /// The address, if one.
    pub address: Option<String>,
    /// The asset, if one.
    pub asset: Option<String>,
    /// Exact integer amount in the asset's base units, as a string.
    pub amount: Option<String>,
    /// One human line.
    pub summary: String,
    /// Proof and context (path, labels, …): opaque to the outbox.
    pub evidence: serde_json::Value,
    /// Confirmations the block needs before the alert is final.
    pub confirmations_needed: u32,
    /// For a [`AlertKind::Retraction`]: the id of the alert withdrawn.
    pub retracts: Option<String>,
    /// For a [`AlertKind::Final`]: the id of the alert that became final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalises: Option<String>,
    /// Which rule of its kind raised it, when a kind has several (a pattern alert: the
    /// pattern, `peel_chain`, `fan_out`, …): part of what identifies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Raised again after a retraction (the same event, supported once more): 1, 2, …; 0
    /// the first time. Part of the id, so a re-raised alert is delivered again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u32,
    /// When it was raised, unix seconds.
    pub raised_at: u64,
}

/// Builds an [`Alert`]; [`AlertBuilder::build`] derives its id.
#[derive(Debug, Clone)]
#[must_use]
pub struct AlertBuilder {
    alert: Alert,
}

impl Alert {
    /// Starts an alert of `kind` about block `block_hash` at `height` of `chain`; the rest is
    /// set on the builder. `raised_at` defaults to now.
    pub fn builder(
        kind: AlertKind,
        chain: impl Into<String>,
        height: u32,
        block_hash: impl Into<String>,
    ) -> AlertBuilder {
        AlertBuilder {
            alert: Alert {
                id: String::new(),
                kind,
                incident: None,
                chain: chain.into(),
                height,
                block_hash: block_hash.into(),
                tx: None,
                address: None,
                asset: None,
                amount: None,
                summary: String::new(),
                evidence: serde_json::Value::Null,
                confirmations_needed: 0,
                retracts: None,
                finalises: None,
                rule: None,
                revision: 0,
                raised_at: crate::now_ms() / 1000,
            },
        }
    }

    /// The retraction of `of`: the same subject (chain, block, tx, address, asset, amount,
    /// incident), kind [`AlertKind::Retraction`], `retracts` = `of.id`, the reason in the
    /// summary and the evidence. Its id depends on `of`'s, not on the reason or the time, so
    /// retracting the same alert twice is one retraction.
    pub fn retraction(of: &Alert, reason: &str, now: u64) -> Alert {
        let mut alert = Alert::follow_up(
            of,
            AlertKind::Retraction,
            format!("retracted ({reason}): {}", of.summary),
            serde_json::json!({
                "reason": reason,
                "retracted_kind": of.kind,
                "retracted_summary": of.summary,
            }),
            now,
        );
        alert.retracts = Some(of.id.clone());
        alert.id = alert.derive_id();
        alert
    }

    /// The event saying `of` is final: its block is `confirmations` deep (at least
    /// `of.confirmations_needed`) and `of` was never retracted. The same subject as `of`, kind
    /// [`AlertKind::Final`], `finalises` = `of.id`; like a retraction's, its id depends on
    /// `of`'s alone (not on the depth seen or the time), so a cycle repeated after a crash
    /// raises the same final once.
    pub fn finality(of: &Alert, confirmations: u32, now: u64) -> Alert {
        let mut alert = Alert::follow_up(
            of,
            AlertKind::Final,
            format!(
                "final at {confirmations} confirmations (needed {}): {}",
                of.confirmations_needed, of.summary
            ),
            serde_json::json!({
                "confirmations": confirmations,
                "final_kind": of.kind,
                "final_summary": of.summary,
            }),
            now,
        );
        alert.confirmations_needed = of.confirmations_needed;
        alert.finalises = Some(of.id.clone());
        alert.id = alert.derive_id();
        alert
    }

    /// An event about `of` (a retraction, a final): its subject and rule, revision 0, no id
    /// yet (the caller names what it follows, which the id covers).
    fn follow_up(
        of: &Alert,
        kind: AlertKind,
        summary: String,
        evidence: serde_json::Value,
        now: u64,
    ) -> Alert {
        Alert {
            id: String::new(),
            kind,
            incident: of.incident.clone(),
            chain: of.chain.clone(),
            height: of.height,
            block_hash: of.block_hash.clone(),
            tx: of.tx.clone(),
            address: of.address.clone(),
            asset: of.asset.clone(),
            amount: of.amount.clone(),
            summary,
            evidence,
            confirmations_needed: 0,
            retracts: None,
            finalises: None,
            rule: of.rule.clone(),
            revision: 0,
            raised_at: now,
        }
    }

    /// The alert this one follows up on, which a subscription must have had first: the one a
    /// retraction withdraws or a final finalises.
    pub fn follows(&self) -> Option<&str> {
        self.retracts.as_deref().or(self.finalises.as_deref())
    }

    /// The id this alert's identifying fields give: lowercase hex SHA-256 over a domain tag
    /// and, length-prefixed (so no two field lists collide), kind, incident, chain, height,
    /// block hash, tx, address, asset, amount, `retracts`, `rule`, then `revision` and
    /// `finalises` when set. Summary, evidence, confirmations and `raised_at` are left out:
    /// they describe, they do not identify.
    pub fn derive_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"tracehound-alert/1");
        let height = self.height.to_string();
        let fields: [Option<&str>; 11] = [
            Some(self.kind.as_str()),
            self.incident.as_deref(),
            Some(&self.chain),
            Some(&height),
            Some(&self.block_hash),
            self.tx.as_deref(),
            self.address.as_deref(),
            self.asset.as_deref(),
            self.amount.as_deref(),
            self.retracts.as_deref(),
            self.rule.as_deref(),
        ];
        let revision = self.revision.to_string();
        // Revision 0 adds nothing: first alerts keep the ids they always had.
        let revision = (self.revision > 0).then_some(Some(revision.as_str()));
        // Like revision: only a final has it, so other alerts keep the ids they always had.
        let finalises = self.finalises.as_deref().map(Some);
        for field in fields.into_iter().chain(revision).chain(finalises) {
            match field {
                // A missing field and an empty one must differ.
                None => h.update([0u8]),
                Some(s) => {
                    h.update([1u8]);
                    h.update((s.len() as u64).to_le_bytes());
                    h.update(s.as_bytes());
                }
            }
        }
        hex::encode(h.finalize())
    }

    /// Why the outbox would refuse this alert, if it would: an id that is empty, longer than
    /// 128 characters or not visible ASCII (it travels in a header), an amount that is not an
    /// integer, a retraction without `retracts` or `retracts` on another kind, and the same
    /// of a final and `finalises`.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.id.is_empty() {
            return Some("its id is empty (build it with Alert::builder(..).build())".into());
        }
        if self.id.len() > 128 || !self.id.bytes().all(|b| b.is_ascii_graphic()) {
            return Some("its id must be 1 to 128 visible ASCII characters".into());
        }
        if let Some(amount) = &self.amount
            && (amount.is_empty() || !amount.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(format!("amount {amount:?} is not an integer in base units"));
        }
        match (self.kind, &self.retracts) {
            (AlertKind::Retraction, None) => {
                Some("a retraction must name the alert it retracts (retracts)".into())
            }
            (AlertKind::Retraction, Some(r)) if r == &self.id => {
                Some("a retraction cannot retract itself".into())
            }
            (kind, Some(_)) if kind != AlertKind::Retraction => Some(format!(
                "a {kind} alert cannot retract another (only a retraction)"
            )),
            _ => match (self.kind, &self.finalises) {
                (AlertKind::Final, None) => {
                    Some("a final must name the alert it finalises (finalises)".into())
                }
                (AlertKind::Final, Some(f)) if f == &self.id => {
                    Some("a final cannot finalise itself".into())
                }
                (kind, Some(_)) if kind != AlertKind::Final => Some(format!(
                    "a {kind} alert cannot finalise another (only a final)"
                )),
                _ => None,
            },
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Alert {
    /// This alert raised again after a retraction, as revision `revision` (its id changes).
    pub fn reissued(&self, revision: u32) -> Alert {
        let mut a = self.clone();
        a.revision = revision;
        a.id = a.derive_id();
        a
    }
}

impl AlertBuilder {
    /// Which rule of its kind raised it (a pattern's kind).
    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.alert.rule = Some(rule.into());
        self
    }

    /// The incident it is about.
    pub fn incident(mut self, incident: impl Into<String>) -> Self {
        self.alert.incident = Some(incident.into());
        self
    }

    /// The transaction.
    pub fn tx(mut self, tx: impl Into<String>) -> Self {
        self.alert.tx = Some(tx.into());
        self
    }

    /// The address.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.alert.address = Some(address.into());
        self
    }

    /// The asset and the exact amount in its base units.
    pub fn amount(mut self, asset: impl Into<String>, amount: u128) -> Self {
        self.alert.asset = Some(asset.into());
        self.alert.amount = Some(amount.to_string());
        self
    }

    /// The asset alone (when no amount applies).
    pub fn asset(mut self, asset: impl Into<String>) -> Self {
        self.alert.asset = Some(asset.into());
        self
    }

    /// The human line.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.alert.summary = summary.into();
        self
    }

    /// Proof and context.
    pub fn evidence(mut self, evidence: serde_json::Value) -> Self {
        self.alert.evidence = evidence;
        self
    }

    /// Confirmations the block needs before the alert is final.
    pub fn confirmations_needed(mut self, n: u32) -> Self {
        self.alert.confirmations_needed = n;
        self
    }

    /// When it was raised, unix seconds (default: now).
    pub fn raised_at(mut self, unix_secs: u64) -> Self {
        self.alert.raised_at = unix_secs;
        self
    }

    /// The alert, with its id derived.
    pub fn build(self) -> Alert {
        let mut alert = self.alert;
        alert.id = alert.derive_id();
        alert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> AlertBuilder {
        Alert::builder(AlertKind::ReachedService, "ethereum", 100, "0xabc")
            .incident("heist")
            .tx("0xt")
            .amount("ETH", 15)
    }

    #[test]
    fn id_ignores_description_and_time_but_not_subject() {
        let a = base().summary("one").raised_at(1).build();
        let b = base()
            .summary("two")
            .raised_at(2)
            .evidence(serde_json::json!({"x": 1}))
            .build();
        assert_eq!(a.id, b.id);
        assert_eq!(a.id.len(), 64);
        let c = base().amount("ETH", 16).build();
        assert_ne!(a.id, c.id);
        let d = Alert::builder(AlertKind::ReachedService, "ethereum", 100, "0xabd")
            .incident("heist")
            .tx("0xt")
            .amount("ETH", 15)
            .build();
        assert_ne!(a.id, d.id, "another block (a reorg) is another alert");
        let peel = base().rule("peel_chain").build();
        let fan = base().rule("fan_out").build();
        assert!(
            a.id != peel.id && peel.id != fan.id,
            "two patterns on one tx are two alerts"
        );
        let back = Alert::retraction(&peel, "reorg", 3);
        assert_eq!(back.rule.as_deref(), Some("peel_chain"));
        let again = peel.reissued(1);
        assert!(again.id != peel.id && again.id != peel.reissued(2).id);
        assert_eq!(
            again.reissued(0).id,
            peel.id,
            "revision 0 is the first alert"
        );
    }

    #[test]
    fn missing_and_empty_fields_differ() {
        let a = Alert::builder(AlertKind::Exposure, "btc", 1, "h").build();
        let b = Alert::builder(AlertKind::Exposure, "btc", 1, "h")
            .incident("")
            .build();
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn retraction_is_deterministic_and_valid() {
        let a = base().build();
        let r1 = Alert::retraction(&a, "reorg", 10);
        let r2 = Alert::retraction(&a, "other reason", 20);
        assert_eq!(r1.id, r2.id);
        assert_eq!(r1.retracts.as_deref(), Some(a.id.as_str()));
        assert_eq!(r1.problem(), None);
        assert_eq!(a.problem(), None);
    }

    #[test]
    fn a_final_names_its_alert_and_its_id_depends_on_that_alone() {
        let a = base().confirmations_needed(6).build();
        let f1 = Alert::finality(&a, 6, 10);
        let f2 = Alert::finality(&a, 9, 20);
        assert_eq!(
            f1.id, f2.id,
            "the depth seen and the time do not identify it"
        );
        assert_eq!(f1.kind, AlertKind::Final);
        assert_eq!(f1.finalises.as_deref(), Some(a.id.as_str()));
        assert_eq!(f1.follows(), Some(a.id.as_str()));
        assert_eq!(f1.retracts, None);
        assert_eq!(f1.problem(), None);
        assert_eq!((f1.block_hash.as_str(), f1.height), ("0xabc", 100));
        assert!(f1.summary.contains("6 confirmations"), "{}", f1.summary);
        assert_ne!(
            f1.id,
            Alert::finality(&base().build().reissued(1), 6, 10).id
        );
        // Neither the retraction of the same alert nor the final of another.
        assert_ne!(f1.id, Alert::retraction(&a, "reorg", 10).id);
        let other = base().amount("ETH", 16).build();
        assert_ne!(f1.id, Alert::finality(&other, 6, 10).id);
        // Its JSON round-trips, and an alert without `finalises` does not carry the field.
        let json = serde_json::to_value(&f1).unwrap_or_default();
        assert_eq!(json["kind"], "final");
        assert_eq!(json["finalises"], a.id.as_str());
        let back: Alert = serde_json::from_value(json).unwrap_or_else(|_| a.clone());
        assert_eq!(back, f1);
        let plain = serde_json::to_value(&a).unwrap_or_default();
        assert!(plain.get("finalises").is_none(), "{plain}");
    }

    #[test]
    fn kinds_round_trip_in_snake_case() {
        for k in AlertKind::ALL {
            let json = serde_json::to_string(&k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(k.as_str().parse::<AlertKind>(), Ok(k));
        }
        assert!("nope".parse::<AlertKind>().is_err());
    }

    #[test]
    fn problems_are_named() {
        let mut a = base().build();
        a.amount = Some("1.5".into());
        assert!(a.problem().is_some_and(|p| p.contains("1.5")));
        let mut b = base().build();
        b.id = "has space".into();
        assert!(b.problem().is_some());
        let mut c = base().build();
        c.retracts = Some("x".into());
        assert!(c.problem().is_some());
        let mut d = base().build();
        d.finalises = Some("x".into());
        assert!(d.problem().is_some_and(|p| p.contains("finalise")));
        let mut e = Alert::finality(&base().build(), 3, 1);
        e.finalises = None;
        assert!(e.problem().is_some_and(|p| p.contains("finalises")));
    }
}
