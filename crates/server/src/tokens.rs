//! API tokens: created by `tracehound token create` (or an admin over the API), shown once,
//! stored only as SHA-256 digests in the data dir's `tokens.json`, each with a role.
//!
//! A token reads `th_<id>_<secret>`: the id finds the record, the secret (32 random bytes)
//! is checked against its digest in constant time. 256 random bits need no slow hash: there
//! is nothing to guess from a digest that was not already a 2^256 search.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// What a token may do; each role may also do what the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything.
    Read,
    /// Also write: incidents, traces, labels.
    Analyst,
    /// Also manage tokens.
    Admin,
}

impl Role {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Role::Read),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("role {s:?} is none of read, analyst, admin")),
        }
    }
}

/// A stored token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenRecord {
    /// Its id (the part after `th_`).
    pub id: String,
    /// Who or what it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made (unix seconds).
    pub created: u64,
    /// SHA-256 of the secret, hex.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    #[schema(ignore)]
    pub digest: String,
}

/// What went wrong with the token file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what this build writes.
    #[error("{path}: not a token file: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// No randomness from the operating system.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// The name is empty or too long.
    #[error("token name must be 1–100 characters")]
    Name,
}

/// The tokens of a data dir.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    /// Changes are read-modify-write of the one file: one at a time.
    writing: std::sync::Mutex<()>,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Tokens {
    /// The tokens of data dir `dir` (the file need not exist yet).
    pub fn in_dir(dir: &Path) -> Tokens {
        Tokens {
            path: dir.join("tokens.json"),
            writing: std::sync::Mutex::new(()),
        }
    }

    /// Every token record.
    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(TokenError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| TokenError::Format {
            path: self.path.clone(),
            source,
        })
    }

    fn write(&self, records: &[TokenRecord]) -> Result<(), TokenError> {
        let io = |source| TokenError::Io {
            path: self.path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(records).map_err(|source| TokenError::Format {
            path: self.path.clone(),
            source,
        })?;
        // Whole or not at all: a crash mid-write never loses the other tokens.
        let tmp = self
            .path
            .with_extension(format!("json.tmp.{}", std::process::id()));
        std::fs::write(&tmp, json).map_err(io)?;
        restrict(&tmp);
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Makes a token for `name` with `role`; returns the token (shown once) and its record.
    pub fn create(&self, name: &str, role: Role) -> Result<(String, TokenRecord), TokenError> {
        if name.is_empty() || name.chars().count() > 100 {
            return Err(TokenError::Name);
        }
        let mut bytes = [0u8; 40];
        getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
        let (id, secret) = bytes.split_at(8);
        let (id, secret) = (hex::encode(id), hex::encode(secret));
        let record = TokenRecord {
            id: id.clone(),
            name: name.to_string(),
            role,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            digest: digest(&secret),
        };
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = self.list()?;
        all.push(record.clone());
        self.write(&all)?;
        Ok((format!("th_{id}_{secret}"), record))
    }

    /// Removes token `id`; whether it existed.
    pub fn revoke(&self, id: &str) -> Result<bool, TokenError> {
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = self.list()?;
        let before = all.len();
        all.retain(|r| r.id != id);
        if all.len() == before {
            return Ok(false);
        }
        self.write(&all)?;
        Ok(true)
    }

    /// The record of `token` if it is a valid token.
    pub fn check(&self, token: &str) -> Result<Option<TokenRecord>, TokenError> {
        let Some((id, secret)) = token
            .strip_prefix("th_")
            .and_then(|rest| rest.split_once('_'))
        else {
            return Ok(None);
        };
        let given = digest(secret);
        Ok(self
            .list()?
            .into_iter()
            .find(|r| r.id == id && bool::from(r.digest.as_bytes().ct_eq(given.as_bytes()))))
    }
}

#[cfg(unix)]
fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Digests only, but nobody else needs to read them.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_check_by_secret_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::in_dir(dir.path());
        let (token, record) = tokens.create("ci", Role::Analyst).unwrap();
        assert_eq!(tokens.check(&token).unwrap().unwrap().role, Role::Analyst);
        let file = std::fs::read_to_string(dir.path().join("tokens.json")).unwrap();
        let secret = token.rsplit('_').next().unwrap();
        assert!(!file.contains(secret), "the secret is stored");
        assert!(file.contains(&record.digest));
        // A changed secret, a changed id, no prefix: none checks.
        let mut wrong = token.clone();
        wrong.pop();
        wrong.push('x');
        for bad in [wrong.as_str(), &token[3..], "th_", "", "th_00_00"] {
            assert!(tokens.check(bad).unwrap().is_none(), "{bad} checked");
        }
        assert!(tokens.revoke(&record.id).unwrap());
        assert!(tokens.check(&token).unwrap().is_none());
        assert!(!tokens.revoke(&record.id).unwrap());
    }
}
