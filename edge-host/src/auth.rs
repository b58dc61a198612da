//! Bearer tokens with scopes.
//!
//! A token is a secret string sent as `Authorization: Bearer <token>`. Each configured token
//! has a name (for the logs, never the secret) and scopes:
//!
//! - `events`: post events (POS terminals, beacons, kiosks);
//! - `read`: read a customer, the current bundle;
//! - `metrics`: scrape `/metrics`;
//! - `sync`: merge a customer's memory from another channel (`POST /v1/customers/{id}/merge`:
//!   the web shop's backend feeding the online node);
//! - `admin`: replace the bundle, delete customers; an admin token may do everything.
//!
//! Any valid token may read `/readyz`, `/healthz` and `/v1/openapi.json`; `/livez` needs none.
//! Tokens are compared by their SHA-256 digests in constant time (`subtle`), against every
//! configured token, so neither the length nor the content of a secret leaks through timing.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Events,
    Read,
    Metrics,
    Sync,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Events,
        Scope::Read,
        Scope::Metrics,
        Scope::Sync,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Events => "events",
            Scope::Read => "read",
            Scope::Metrics => "metrics",
            Scope::Sync => "sync",
            Scope::Admin => "admin",
        }
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing (`/livez`).
    Nothing,
    /// Any valid token.
    AnyToken,
    /// A token with this scope (or `admin`).
    Scope(Scope),
}

/// A configured token.
#[derive(Clone)]
struct Token {
    name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret (nor its digest).
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The configured tokens.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    list: Vec<Token>,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer` header (401).
    Missing,
    /// A token that is not configured (401).
    Unknown,
    /// A valid token without the scope (403).
    Scope { token: String, needed: Scope },
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::Missing | Denied::Unknown => 401,
            Denied::Scope { .. } => 403,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Denied::Missing | Denied::Unknown => "unauthorized",
            Denied::Scope { .. } => "forbidden",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Denied::Missing => {
                "this endpoint needs a token: `Authorization: Bearer <token>`".to_string()
            }
            Denied::Unknown => "the token is not valid".to_string(),
            Denied::Scope { token, needed } => format!(
                "the token `{token}` does not have the `{}` scope this endpoint needs",
                needed.as_str()
            ),
        }
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Tokens {
    /// Adds a token; an empty secret is refused.
    pub fn add(&mut self, name: &str, secret: &str, scopes: &[Scope]) -> Result<(), String> {
        if secret.trim().is_empty() {
            return Err(format!("the token `{name}` is empty"));
        }
        if scopes.is_empty() {
            return Err(format!("the token `{name}` has no scope"));
        }
        let digest = digest(secret.trim());
        if self
            .list
            .iter()
            .any(|t| bool::from(t.digest.ct_eq(&digest)))
        {
            return Err(format!(
                "the token `{name}` has the same secret as another token"
            ));
        }
        self.list.push(Token {
            name: name.to_string(),
            digest,
            scopes: scopes.to_vec(),
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Names and scopes of the tokens (for the start-up log).
    pub fn describe(&self) -> Vec<String> {
        self.list
            .iter()
            .map(|t| {
                let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                format!("{} ({})", t.name, scopes.join(", "))
            })
            .collect()
    }

    /// Checks an `Authorization` header value against `need`; the token's name when allowed.
    pub fn check(&self, authorization: Option<&[u8]>, need: Need) -> Result<Option<&str>, Denied> {
        if need == Need::Nothing {
            return Ok(None);
        }
        let secret = authorization
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(Denied::Missing)?;
        let given = digest(secret);
        // Every token is compared, whichever matches.
        let mut found = None;
        for t in &self.list {
            if bool::from(t.digest.ct_eq(&given)) {
                found = Some(t);
            }
        }
        let token = found.ok_or(Denied::Unknown)?;
        match need {
            Need::Nothing | Need::AnyToken => Ok(Some(&token.name)),
            Need::Scope(s) if token.scopes.contains(&s) || token.scopes.contains(&Scope::Admin) => {
                Ok(Some(&token.name))
            }
            Need::Scope(s) => Err(Denied::Scope {
                token: token.name.clone(),
                needed: s,
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_and_admin_may_do_everything() {
        let mut t = Tokens::default();
        t.add("pos", "p0s-secret", &[Scope::Events]).unwrap();
        t.add("ops", "admin-secret", &[Scope::Admin]).unwrap();
        let bearer = |s: &str| format!("Bearer {s}");
        let pos = bearer("p0s-secret");
        assert_eq!(
            t.check(Some(pos.as_bytes()), Need::Scope(Scope::Events)),
            Ok(Some("pos"))
        );
        assert_eq!(
            t.check(Some(pos.as_bytes()), Need::Scope(Scope::Read))
                .unwrap_err()
                .status(),
            403
        );
        let ops = bearer("admin-secret");
        for s in Scope::ALL {
            assert!(t.check(Some(ops.as_bytes()), Need::Scope(s)).is_ok());
        }
        assert_eq!(t.check(None, Need::AnyToken).unwrap_err(), Denied::Missing);
        assert_eq!(
            t.check(Some(b"Bearer nope"), Need::AnyToken).unwrap_err(),
            Denied::Unknown
        );
        assert_eq!(t.check(None, Need::Nothing), Ok(None));
        assert!(t.add("again", "p0s-secret", &[Scope::Read]).is_err());
        assert!(t.add("empty", " ", &[Scope::Read]).is_err());
    }
}
