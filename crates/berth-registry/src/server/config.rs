//! Server settings, from flags or a config file (JSON, or `key = value` lines).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ServerError;

/// Default manifest size limit (4 MiB), as Docker's registry enforces.
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listen address (used by the binary; `serve` takes a bound listener).
    pub addr: Option<String>,
    pub root: PathBuf,
    /// htpasswd file with bcrypt entries; auth is on when set.
    pub htpasswd: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Pulls without credentials when auth is on.
    pub anonymous_read: bool,
    /// HMAC key of bearer tokens; random per process when unset (tokens then die with it).
    pub token_secret: Option<String>,
    pub token_ttl_secs: u64,
    pub max_manifest_bytes: u64,
    /// htpasswd users who may only pull.
    pub read_only_users: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: None,
            root: PathBuf::from("/var/lib/berth-registry"),
            htpasswd: None,
            tls_cert: None,
            tls_key: None,
            anonymous_read: false,
            token_secret: None,
            token_ttl_secs: 300,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            read_only_users: Vec::new(),
        }
    }
}

impl Config {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Config {
            root: root.into(),
            ..Config::default()
        }
    }

    /// Reads a config file: JSON when it starts with `{`, else `key = value` (or `key: value`)
    /// lines with `#` comments, the keys named as in JSON.
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        let err = |message: String| ServerError::Config {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim_start().starts_with('{') {
            return serde_json::from_str(text).map_err(|e| e.to_string());
        }
        let mut obj = serde_json::Map::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| format!("line {}: expected key = value", i + 1))?;
            let (k, v) = (k.trim().replace('-', "_"), v.trim().trim_matches('"'));
            let value = match k.as_str() {
                "anonymous_read" => {
                    serde_json::Value::Bool(matches!(v, "true" | "yes" | "1" | "on"))
                }
                "max_manifest_bytes" | "token_ttl_secs" => serde_json::Value::Number(
                    v.parse::<u64>()
                        .map_err(|e| format!("line {}: {k}: {e}", i + 1))?
                        .into(),
                ),
                "read_only_users" => serde_json::Value::Array(
                    v.split(',')
                        .map(|s| serde_json::Value::String(s.trim().to_string()))
                        .collect(),
                ),
                _ => serde_json::Value::String(v.to_string()),
            };
            obj.insert(k, value);
        }
        serde_json::from_value(serde_json::Value::Object(obj)).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_lines() {
        let c = Config::parse(r#"{"root":"/r","anonymous_read":true}"#).unwrap();
        assert!(c.anonymous_read);
        assert_eq!(c.max_manifest_bytes, DEFAULT_MAX_MANIFEST_BYTES);
        let c = Config::parse("# x\nroot = /r\nhtpasswd: /h\nmax-manifest-bytes = 10\n").unwrap();
        assert_eq!(c.root, PathBuf::from("/r"));
        assert_eq!(c.htpasswd, Some(PathBuf::from("/h")));
        assert_eq!(c.max_manifest_bytes, 10);
        assert!(Config::parse("bogus = 1").is_err());
    }
}
