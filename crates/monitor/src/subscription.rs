//! Webhook subscriptions: where alerts go, which ones, and the secret that signs them. Checks
//! what a user gives (URL, secret, filter) before anything is stored, and keeps the secret out
//! of every listing, log line and `Debug` output.

use serde::{Deserialize, Serialize};

use crate::{Alert, AlertKind, MonitorError};

/// Longest webhook URL accepted.
const MAX_URL: usize = 2048;
/// Shortest secret a user may give (the generated ones are 64 hex characters).
const MIN_SECRET: usize = 32;
/// Longest secret a user may give.
const MAX_SECRET: usize = 256;

/// What a user asks for when subscribing (CLI flags or an API body).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where to POST: an `http` or `https` URL without credentials.
    pub url: String,
    /// The signing secret; `None`: generate one (32 random bytes, hex).
    #[serde(default)]
    pub secret: Option<String>,
    /// Kinds to deliver; empty: all.
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    /// Incidents to deliver (alerts without an incident then never match); empty: all.
    #[serde(default)]
    pub incidents: Vec<String>,
    /// A note for humans (who owns the receiver).
    #[serde(default)]
    pub description: Option<String>,
}

impl std::fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscription")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("kinds", &self.kinds)
            .field("incidents", &self.incidents)
            .field("description", &self.description)
            .finish()
    }
}

/// A subscription as listed. The secret is only on the value [`crate::Outbox::subscribe`]
/// returns ([`Subscription::secret`]), for the caller to show once; listings never carry it,
/// and neither `Debug` nor `Serialize` ever write it.
#[derive(Clone, Serialize, PartialEq, Eq)]
pub struct Subscription {
    /// Its id (`wh_` and 16 hex digits).
    pub id: String,
    /// Where alerts are POSTed.
    pub url: String,
    /// Kinds delivered; empty: all.
    pub kinds: Vec<AlertKind>,
    /// Incidents delivered; empty: all.
    pub incidents: Vec<String>,
    /// A note for humans.
    pub description: Option<String>,
    /// When it was created, unix seconds.
    pub created_at: u64,
    #[serde(skip)]
    secret: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("kinds", &self.kinds)
            .field("incidents", &self.incidents)
            .field("description", &self.description)
            .field("created_at", &self.created_at)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Subscription {
    /// The signing secret: only on what [`crate::Outbox::subscribe`] returned (show it once);
    /// `None` on listings.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// Whether an alert passes this subscription's filter (retractions are routed by the
    /// alert they retract instead, see [`crate::Outbox::push`]).
    pub fn matches(&self, alert: &Alert) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&alert.kind))
            && (self.incidents.is_empty()
                || alert
                    .incident
                    .as_ref()
                    .is_some_and(|i| self.incidents.contains(i)))
    }
}

/// A subscription as stored: with its secret, which the deliverer needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSubscription {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) kinds: Vec<AlertKind>,
    pub(crate) incidents: Vec<String>,
    pub(crate) description: Option<String>,
    pub(crate) created_at: u64,
}

impl StoredSubscription {
    /// Checks `new`, generating the id and (if none is given) the secret.
    pub(crate) fn create(new: NewSubscription, now_secs: u64) -> Result<Self, MonitorError> {
        let url = check_url(&new.url)?;
        let secret = match new.secret {
            Some(s) => {
                if s.len() < MIN_SECRET || s.len() > MAX_SECRET {
                    return Err(MonitorError::InvalidSubscription(format!(
                        "a secret must be {MIN_SECRET} to {MAX_SECRET} characters long, this one has {} (leave it out to have one generated)",
                        s.len()
                    )));
                }
                if !s.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(MonitorError::InvalidSubscription(
                        "a secret must be visible ASCII characters (no spaces or control characters)".into(),
                    ));
                }
                s
            }
            None => random_hex(32, "webhook secret")?,
        };
        let mut kinds = new.kinds;
        kinds.sort();
        kinds.dedup();
        let mut incidents = new.incidents;
        if let Some(bad) = incidents.iter().find(|i| i.trim().is_empty()) {
            return Err(MonitorError::InvalidSubscription(format!(
                "incident filter {bad:?} is empty"
            )));
        }
        incidents.sort();
        incidents.dedup();
        Ok(StoredSubscription {
            id: format!("wh_{}", random_hex(8, "subscription id")?),
            url,
            secret,
            kinds,
            incidents,
            description: new.description.filter(|d| !d.trim().is_empty()),
            created_at: now_secs,
        })
    }

    /// The listing form, with or without the secret.
    pub(crate) fn public(&self, with_secret: bool) -> Subscription {
        Subscription {
            id: self.id.clone(),
            url: self.url.clone(),
            kinds: self.kinds.clone(),
            incidents: self.incidents.clone(),
            description: self.description.clone(),
            created_at: self.created_at,
            secret: with_secret.then(|| self.secret.clone()),
        }
    }
}

/// `n` random bytes from the OS, as hex.
fn random_hex(n: usize, what: &'static str) -> Result<String, MonitorError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| MonitorError::Random {
        what,
        reason: e.to_string(),
    })?;
    Ok(hex::encode(bytes))
}

/// The URL normalised, if it is one alerts may be sent to.
fn check_url(raw: &str) -> Result<String, MonitorError> {
    let refuse = |shown: String, reason: &str| MonitorError::InvalidUrl {
        url: shown,
        reason: reason.to_string(),
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(refuse(String::new(), "it is empty"));
    }
    if trimmed.len() > MAX_URL {
        return Err(refuse(
            format!("{}…", trimmed.chars().take(60).collect::<String>()),
            &format!("it is longer than {MAX_URL} bytes"),
        ));
    }
    let mut url = match reqwest::Url::parse(trimmed) {
        Ok(url) => url,
        Err(e) => return Err(refuse(mask_unparsed(trimmed), &e.to_string())),
    };
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo them back: errors end up in logs and API answers.
        let _ = url.set_username("***");
        let _ = url.set_password(None);
        return Err(refuse(
            url.to_string(),
            "credentials in a webhook URL are refused (they would be stored and listed in clear); \
             receivers authenticate tracehound by the X-Tracehound-Signature header",
        ));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(
            url.to_string(),
            &format!("scheme {:?} is not http or https", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse(url.to_string(), "it names no host"));
    }
    if url.fragment().is_some() {
        return Err(refuse(
            url.to_string(),
            "a #fragment is never sent to a server; remove it",
        ));
    }
    Ok(url.to_string())
}

/// A URL that did not parse, with whatever looks like `user:password@` masked.
fn mask_unparsed(raw: &str) -> String {
    let shown: String = raw.chars().take(200).collect();
    match (shown.find("://"), shown.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &shown[..s + 3], &shown[at..]),
        _ => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_checked() {
        assert_eq!(
            check_url(" http://127.0.0.1:8080/hook ").ok().as_deref(),
            Some("http://127.0.0.1:8080/hook")
        );
        assert!(check_url("https://example.com").is_ok());
        for bad in [
            "",
            "   ",
            "ftp://example.com/x",
            "example.com/hook",
            "http://",
            "file:///etc/passwd",
            "http://a.example/#frag",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn credentials_refused_and_never_echoed() {
        let err = check_url("https://alice:hunter2@example.com/hook")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("credentials"), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("alice"), "{err}");
        assert_eq!(mask_unparsed("http://u:p@[bad"), "http://***@[bad");
    }

    #[test]
    fn secrets_generated_or_checked_and_hidden() {
        let s = StoredSubscription::create(
            NewSubscription {
                url: "http://127.0.0.1/".into(),
                ..Default::default()
            },
            1,
        );
        let s = s.ok();
        assert!(s.as_ref().is_some_and(|s| s.secret.len() == 64));
        let shown = s.as_ref().map(|s| s.public(true));
        let listed = s.as_ref().map(|s| s.public(false));
        assert!(shown.as_ref().is_some_and(|p| p.secret().is_some()));
        assert!(listed.as_ref().is_some_and(|p| p.secret().is_none()));
        let secret = s.map(|s| s.secret).unwrap_or_default();
        let debug = format!("{shown:?}");
        let json = serde_json::to_string(&shown).unwrap_or_default();
        assert!(!debug.contains(&secret) && !json.contains(&secret));
        let short = StoredSubscription::create(
            NewSubscription {
                url: "http://127.0.0.1/".into(),
                secret: Some("short".into()),
                ..Default::default()
            },
            1,
        );
        assert!(short.is_err());
    }

    #[test]
    fn malformed_config_is_refused_by_name() {
        let err =
            serde_json::from_str::<NewSubscription>(r#"{"url":"http://x/","kind":["pattern"]}"#)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(err.contains("kind"), "{err}");
        let err =
            serde_json::from_str::<NewSubscription>(r#"{"url":"http://x/","kinds":["nope"]}"#)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(err.contains("nope"), "{err}");
    }
}
