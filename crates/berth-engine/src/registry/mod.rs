//! Images between this engine and registries: `pull`, `push`, `login` (`POST /auth`) and
//! `search`, with dockerd's JSON progress messages.

mod progress;
mod pull;
mod push;

use crate::Engine;
use berth_model::{Error, ErrorKind, Result};
use berth_registry::client::{index_host, Client, ClientError, ClientOptions, Credentials};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// Registry credentials: the decoded `X-Registry-Auth` header or the body of `POST /auth`,
/// with Docker's field names.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: Option<String>,
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
    /// `base64(user:password)`, used when username and password are not given.
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub email: String,
}

impl RegistryAuth {
    fn credentials(&self) -> Option<Credentials> {
        let (mut user, mut pass) = (self.username.clone(), self.password.clone());
        if user.is_empty() && pass.is_empty() && !self.auth.is_empty() {
            use base64::Engine as _;
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(self.auth.trim()) {
                if let Some((u, p)) = String::from_utf8_lossy(&raw).split_once(':') {
                    user = u.to_string();
                    pass = p.to_string();
                }
            }
        }
        let token = self.identity_token.clone().filter(|t| !t.is_empty());
        if user.is_empty() && pass.is_empty() && token.is_none() {
            return None;
        }
        Some(Credentials {
            username: user,
            password: pass,
            identity_token: token,
        })
    }
}

impl From<berth_model::api::AuthConfig> for RegistryAuth {
    fn from(a: berth_model::api::AuthConfig) -> Self {
        Self {
            username: a.username,
            password: a.password,
            identity_token: Some(a.identitytoken).filter(|t| !t.is_empty()),
            server_address: a.serveraddress,
            auth: a.auth,
            email: a.email,
        }
    }
}

/// What the engine remembers between registry operations: which repositories a blob is
/// known to be in (for cross-repository mounts).
#[derive(Default)]
pub struct RegistryState {
    blob_sources: Mutex<HashMap<String, Vec<(String, String)>>>,
    /// Plain layers' gzip forms made by earlier pushes, by diff ID (so a pushed layer is
    /// found on the registry without compressing it again).
    gzipped: Mutex<HashMap<String, berth_model::manifest::Descriptor>>,
}

impl RegistryState {
    pub(crate) fn gzip_of(
        &self,
        diff_id: &berth_model::Digest,
    ) -> Option<berth_model::manifest::Descriptor> {
        let m = self.gzipped.lock().unwrap_or_else(|p| p.into_inner());
        m.get(diff_id.hex()).cloned()
    }

    pub(crate) fn remember_gzip(
        &self,
        diff_id: &berth_model::Digest,
        desc: berth_model::manifest::Descriptor,
    ) {
        let mut m = self.gzipped.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 4096 {
            m.clear();
        }
        m.insert(diff_id.hex().to_string(), desc);
    }

    pub(crate) fn remember(&self, digest: &berth_model::Digest, domain: &str, repo: &str) {
        let mut m = self.blob_sources.lock().unwrap_or_else(|p| p.into_inner());
        let v = m.entry(digest.to_string()).or_default();
        let entry = (domain.to_string(), repo.to_string());
        if !v.contains(&entry) {
            v.push(entry);
            if v.len() > 8 {
                v.remove(0);
            }
        }
    }

    /// Other repositories of `domain` known to hold `digest`.
    pub(crate) fn sources(
        &self,
        digest: &berth_model::Digest,
        domain: &str,
        except: &str,
    ) -> Vec<String> {
        let m = self.blob_sources.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&digest.to_string())
            .map(|v| {
                v.iter()
                    .rev()
                    .filter(|(d, r)| d == domain && r != except)
                    .map(|(_, r)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) fn client_error(e: ClientError) -> Error {
    Error::new(e.kind(), e.to_string())
}

pub(crate) fn error_message(m: &str) -> serde_json::Value {
    serde_json::json!({"errorDetail": {"message": m}, "error": m})
}

/// A receiver as a stream of messages.
pub(crate) fn receiver_stream(
    rx: tokio::sync::mpsc::Receiver<serde_json::Value>,
) -> BoxStream<'static, serde_json::Value> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
        .boxed()
}

impl Engine {
    /// A registry client for `domain` (a reference's domain) with the daemon's settings.
    pub(crate) fn registry_client(
        &self,
        domain: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<Client> {
        let opts = ClientOptions {
            insecure: self.cfg.insecure_registries.clone(),
            user_agent: format!("berth/{} (linux)", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        Client::new(domain, auth.and_then(RegistryAuth::credentials), &opts).map_err(client_error)
    }

    /// `POST /auth`: checks the credentials against the registry (ping, then a token or
    /// an authenticated `/v2/`). Returns `"Login Succeeded"` and the identity token the
    /// registry issued, if any.
    pub async fn login(&self, auth: RegistryAuth) -> Result<(String, Option<String>)> {
        let server = auth.server_address.trim().to_string();
        let domain = login_domain(&server);
        let client = self.registry_client(&domain, Some(&auth))?;
        let token = client.login().await.map_err(|e| match e.kind() {
            ErrorKind::Unauthorized => Error::new(ErrorKind::Unauthorized, e.to_string()),
            _ => client_error(e),
        })?;
        Ok(("Login Succeeded".to_string(), token))
    }

    /// `GET /images/search?term=&limit=`: Docker's result objects (`name`,
    /// `description`, `star_count`, `is_official`, `is_automated`).
    pub async fn search(
        &self,
        term: &str,
        limit: Option<usize>,
        auth: Option<RegistryAuth>,
    ) -> Result<Vec<serde_json::Value>> {
        let (domain, query) = split_search_term(term);
        let limit = limit.filter(|l| *l > 0).unwrap_or(25);
        if limit > 100 {
            return Err(Error::invalid("limit must be between 1 and 100"));
        }
        let client = self.registry_client(index_host(&domain), auth.as_ref())?;
        let reply = client
            .search(&query, Some(limit))
            .await
            .map_err(client_error)?;
        let results = reply
            .get("results")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(results
            .into_iter()
            .take(limit)
            .map(|r| {
                serde_json::json!({
                    "star_count": r.get("star_count").and_then(|v| v.as_u64()).unwrap_or(0),
                    "is_official": r.get("is_official").and_then(|v| v.as_bool()).unwrap_or(false),
                    "name": r.get("name").and_then(|v| v.as_str()).unwrap_or_default(),
                    "is_automated": r.get("is_automated").and_then(|v| v.as_bool()).unwrap_or(false),
                    "description": r.get("description").and_then(|v| v.as_str()).unwrap_or_default(),
                })
            })
            .collect())
    }
}

/// The registry a `login` server address names: empty or Docker Hub's index URL is
/// `docker.io`; a URL is reduced to its host.
fn login_domain(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// `127.0.0.1:5000/busy` searches `busy` on `127.0.0.1:5000`; other terms search Docker
/// Hub.
fn split_search_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            return (first.to_string(), rest.to_string());
        }
    }
    ("docker.io".to_string(), term.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_decodes_docker_fields() {
        let a: RegistryAuth = serde_json::from_str(
            r#"{"username":"u","password":"p","serveraddress":"127.0.0.1:5000","identitytoken":""}"#,
        )
        .unwrap();
        let c = a.credentials().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(c.identity_token.is_none());
        let a: RegistryAuth = serde_json::from_str(r#"{"auth":"dTpwOnE="}"#).unwrap();
        let c = a.credentials().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:q"));
        let a: RegistryAuth = serde_json::from_str("{}").unwrap();
        assert!(a.credentials().is_none());
    }

    #[test]
    fn login_and_search_hosts() {
        assert_eq!(login_domain(""), "docker.io");
        assert_eq!(login_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_domain("http://localhost:5000/v2/"), "localhost:5000");
        assert_eq!(
            split_search_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000".into(), "busy".into())
        );
        assert_eq!(
            split_search_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
    }
}
