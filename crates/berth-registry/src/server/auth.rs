//! Access control: htpasswd users (bcrypt, as `htpasswd -B` writes them) and HMAC-signed
//! bearer tokens scoped to repositories and actions.
//!
//! Tokens are JWT-shaped (`header.claims.signature`, HS256) so that they read like the ones
//! Docker's token servers hand out, but only this server verifies them: the secret never
//! leaves it. Clients treat tokens as opaque strings anyway.

use std::collections::HashMap;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::ServerError;

/// The `service` this registry names in its challenges and tokens.
pub const SERVICE: &str = "berth-registry";

/// Users and their bcrypt hashes.
#[derive(Debug, Default)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// Credentials already verified (user → sha256 of user, hash and password): bcrypt
    /// costs tens of milliseconds by design, and clients using basic auth send it on every
    /// request of a pull.
    verified: std::sync::Mutex<HashMap<String, [u8; 32]>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::Htpasswd {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|message| ServerError::Htpasswd {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| format!("line {}: expected user:hash", i + 1))?;
            if !hash.starts_with("$2") {
                return Err(format!(
                    "line {}: only bcrypt hashes are supported (htpasswd -B)",
                    i + 1
                ));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: Default::default(),
        })
    }

    pub fn verify(&self, user: &str, password: &str) -> bool {
        use sha2::Digest;
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.get(user) == Some(&key) {
            return true;
        }
        drop(cache);
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            cache.insert(user.to_string(), key);
        }
        ok
    }
}

/// One htpasswd line (`user:$2y$...`), as `htpasswd -B` writes it.
pub fn htpasswd_line(user: &str, password: &str, cost: u32) -> Result<String, bcrypt::BcryptError> {
    let hash = bcrypt::hash(password, cost)?.replacen("$2b$", "$2y$", 1);
    Ok(format!("{user}:{hash}"))
}

/// `user:password` from a `Basic` authorization value.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    let b64 = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// One access entry of a scope or a token: `repository:<name>:<actions>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// Parses `scope` values (`repository:a/b:pull,push`, several separated by spaces). The name
/// may hold a port-less host's colons only in the middle, so split the type off the left and
/// the actions off the right.
pub fn parse_scopes(scopes: &[String]) -> Vec<Access> {
    let mut out = Vec::new();
    for s in scopes.iter().flat_map(|s| s.split(' ')) {
        let Some((kind, rest)) = s.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        out.push(Access {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub access: Vec<Access>,
}

impl Claims {
    /// Whether the token grants `action` on repository `name` (`*` grants everything).
    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access.iter().any(|a| {
            a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*")
        })
    }
}

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner")
    }
}

impl TokenSigner {
    pub fn new(secret: Vec<u8>) -> Self {
        TokenSigner { secret }
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).expect("hmac takes any key");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing = format!("{header}.{body}");
        let sig = URL_SAFE_NO_PAD.encode(self.mac(signing.as_bytes()));
        format!("{signing}.{sig}")
    }

    /// The claims of a token this server signed and that has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (signing, sig) = token.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        m.update(signing.as_bytes());
        m.verify_slice(&sig).ok()?;
        let (_, body) = signing.split_once('.')?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (claims.exp > chrono::Utc::now().timestamp()).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        let s = parse_scopes(&["repository:a/b:pull,push repository:c:pull".into()]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "a/b");
        assert_eq!(s[0].actions, vec!["pull", "push"]);
        assert_eq!(s[1].actions, vec!["pull"]);
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let signer = TokenSigner::new(b"k".to_vec());
        let claims = Claims {
            iss: SERVICE.into(),
            sub: "u".into(),
            aud: SERVICE.into(),
            exp: chrono::Utc::now().timestamp() + 60,
            iat: 0,
            access: parse_scopes(&["repository:x:pull".into()]),
        };
        let t = signer.sign(&claims);
        let c = signer.verify(&t).unwrap();
        assert!(c.allows("repository", "x", "pull"));
        assert!(!c.allows("repository", "x", "push"));
        assert!(TokenSigner::new(b"other".to_vec()).verify(&t).is_none());
        let expired = Claims { exp: 1, ..claims };
        assert!(signer.verify(&signer.sign(&expired)).is_none());
    }

    #[test]
    fn htpasswd_bcrypt() {
        let hash = bcrypt::hash("pw", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let h = Htpasswd::parse(&format!("alice:{hash}\n")).unwrap();
        assert!(h.verify("alice", "pw"));
        assert!(!h.verify("alice", "nope"));
        assert!(!h.verify("bob", "pw"));
    }
}
