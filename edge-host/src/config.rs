//! The configuration file (`--config store.toml`) and the environment.
//!
//! Precedence, lowest first: built-in defaults, the file, the environment, the command line.
//! Every key of the file is optional; `edge-host/omnirule-store.example.toml` shows them all
//! (a test parses it).
//!
//! Environment:
//!
//! - `OMNIRULE_ADMIN_TOKEN`, `OMNIRULE_EVENTS_TOKEN`, `OMNIRULE_READ_TOKEN`,
//!   `OMNIRULE_METRICS_TOKEN`: one token with that scope each (`--admin-token` wins over
//!   `OMNIRULE_ADMIN_TOKEN`);
//! - `OMNIRULE_TOKEN_<NAME>`: the secret of the file's token named `name` (upper case, `-` as
//!   `_`), so that the file can name tokens and scopes and hold no secret;
//! - `OMNIRULE_LISTEN`, `OMNIRULE_DATA_DIR`, `OMNIRULE_LOG_FORMAT` (`text` or `json`),
//!   `OMNIRULE_TLS_CERT`, `OMNIRULE_TLS_KEY`; `RUST_LOG` for the log filter;
//! - `OMNIRULE_TRUSTED_KEYS`: public keys (`ed25519:...`, comma-separated) bundles must be
//!   signed by;
//! - `OMNIRULE_FLEET_URL`, `OMNIRULE_SITE`, `OMNIRULE_FLEET_TOKEN`: joining a fleet.

use crate::auth::{Scope, Tokens};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub bundle: Option<PathBuf>,
    pub module: Option<PathBuf>,
    pub module_cache: Option<bool>,
    pub cache_dir: Option<PathBuf>,
    pub watch_ms: Option<u64>,
    pub workers: Option<usize>,
    #[serde(default)]
    pub limits: FileLimits,
    #[serde(default)]
    pub http: FileHttp,
    #[serde(default)]
    pub log: FileLog,
    pub tls: Option<TlsFiles>,
    #[serde(default)]
    pub tokens: Vec<FileToken>,
    /// Public keys (`ed25519:...`): when set, only bundles signed by one of them load.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    pub fleet: Option<FileFleet>,
    pub exposure_log: Option<PathBuf>,
    pub channel: Option<String>,
}

/// `[fleet]`: joining a fleet (see `docs/fleet.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFleet {
    pub url: Option<String>,
    pub site: Option<String>,
    /// Better in `OMNIRULE_FLEET_TOKEN` than in the file.
    pub token: Option<String>,
    pub read_wait_ms: Option<u64>,
    pub fresh_ms: Option<u64>,
    pub replicas: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub fuel: Option<u64>,
    pub max_memory_mib: Option<usize>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    pub max_body_bytes: Option<usize>,
    pub max_bundle_bytes: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub header_timeout_ms: Option<u64>,
    pub max_concurrent_requests: Option<usize>,
    pub engine_concurrency: Option<usize>,
    pub shutdown_grace_ms: Option<u64>,
    pub max_future_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLog {
    pub format: Option<LogFormat>,
    /// A `RUST_LOG`-style filter (`RUST_LOG` wins).
    pub filter: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Certificate chain and private key, PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileToken {
    pub name: String,
    /// The secret; may be left out and given as `OMNIRULE_TOKEN_<NAME>`.
    pub token: Option<String>,
    pub scopes: Vec<Scope>,
}

impl File {
    pub fn parse(text: &str) -> Result<File, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn read(path: &Path) -> Result<File, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
        File::parse(&text).map_err(|e| format!("the config file {}: {e}", path.display()))
    }
}

/// The environment variable that holds the secret of the file's token `name`.
pub fn token_env_name(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("OMNIRULE_TOKEN_{upper}")
}

/// The tokens: the file's (secrets from the file or `OMNIRULE_TOKEN_<NAME>`), then one per
/// `OMNIRULE_<SCOPE>_TOKEN` variable; `admin_flag` (`--admin-token`) replaces
/// `OMNIRULE_ADMIN_TOKEN`.
pub fn tokens(
    file: &[FileToken],
    env: &dyn Fn(&str) -> Option<String>,
    admin_flag: Option<String>,
) -> Result<Tokens, String> {
    let mut tokens = Tokens::default();
    for t in file {
        let var = token_env_name(&t.name);
        let secret = env(&var)
            .filter(|s| !s.is_empty())
            .or_else(|| t.token.clone())
            .ok_or_else(|| {
                format!(
                    "the token `{}` has no secret: set `token` in the config file or {var}",
                    t.name
                )
            })?;
        tokens.add(&t.name, &secret, &t.scopes)?;
    }
    for scope in Scope::ALL {
        let var = format!("OMNIRULE_{}_TOKEN", scope.as_str().to_ascii_uppercase());
        let value = if scope == Scope::Admin {
            admin_flag.clone().or_else(|| env(&var))
        } else {
            env(&var)
        };
        if let Some(secret) = value.filter(|s| !s.trim().is_empty()) {
            tokens.add(&format!("{}-token", scope.as_str()), &secret, &[scope])?;
        }
    }
    Ok(tokens)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::auth::Need;

    #[test]
    fn the_example_config_parses_and_its_tokens_work() {
        let text = include_str!("../omnirule-store.example.toml");
        let file = File::parse(text).unwrap();
        assert!(file.listen.is_some());
        assert!(file.tls.is_some());
        assert_eq!(file.log.format, Some(LogFormat::Json));
        let env = |k: &str| (k == "OMNIRULE_TOKEN_BEACONS").then(|| "from-env".to_string());
        let tokens = tokens(&file.tokens, &env, None).unwrap();
        assert_eq!(
            tokens.check(Some(b"Bearer from-env"), Need::Scope(Scope::Events)),
            Ok(Some("beacons"))
        );
        assert!(tokens.describe().len() >= 4, "{:?}", tokens.describe());
        assert_eq!(file.trusted_keys.len(), 1);
    }

    #[test]
    fn the_environment_adds_tokens_and_the_flag_wins() {
        let env = |k: &str| match k {
            "OMNIRULE_ADMIN_TOKEN" => Some("env-admin".to_string()),
            "OMNIRULE_READ_TOKEN" => Some("env-read".to_string()),
            _ => None,
        };
        let t = tokens(&[], &env, Some("flag-admin".into())).unwrap();
        assert!(
            t.check(Some(b"Bearer flag-admin"), Need::Scope(Scope::Admin))
                .is_ok()
        );
        assert!(t.check(Some(b"Bearer env-admin"), Need::AnyToken).is_err());
        assert!(
            t.check(Some(b"Bearer env-read"), Need::Scope(Scope::Read))
                .is_ok()
        );
        let missing = [FileToken {
            name: "pos-1".into(),
            token: None,
            scopes: vec![Scope::Events],
        }];
        let e = tokens(&missing, &|_| None, None).unwrap_err();
        assert!(e.contains("OMNIRULE_TOKEN_POS_1"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(File::parse("listen = \"127.0.0.1:1\"\nlisten_on = 2").is_err());
        assert!(File::parse("[[tokens]]\nname = \"x\"\nscopes = [\"everything\"]").is_err());
    }
}
