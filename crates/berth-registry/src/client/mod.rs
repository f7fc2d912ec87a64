//! The distribution client: one [`Client`] per registry host, with its credentials.
//!
//! The first request pings `/v2/` (HTTPS, or for loopback and insecure registries HTTPS
//! without verification then plain HTTP, as Docker does) and learns the registry's
//! `WWW-Authenticate` challenge; later requests carry basic credentials or a bearer token
//! fetched per scope and cached.

mod error;
mod fetch;
pub mod hosts;

pub use error::ClientError;
pub use fetch::{select_platform, Resolved, RETRIES};
pub use hosts::{api_host, index_host, is_insecure, parse_challenge, Challenge};

use berth_model::Digest;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Largest manifest or config accepted.
pub const MAX_MANIFEST: usize = 4 << 20;

/// Every manifest type Berth can pull, in preference order.
pub const MANIFEST_ACCEPT: &[&str] = &[
    berth_model::manifest::DOCKER_MANIFEST,
    berth_model::manifest::DOCKER_MANIFEST_LIST,
    berth_model::manifest::MEDIA_TYPE_INDEX,
    berth_model::manifest::MEDIA_TYPE_MANIFEST,
];

/// Credentials for one registry.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth refresh token (from an earlier login) used instead of the password.
    pub identity_token: Option<String>,
}

impl Credentials {
    fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_none()
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The daemon's `insecure-registries`.
    pub insecure: Vec<String>,
    pub connect_timeout: Duration,
    /// A body that delivers nothing for this long is a stalled transfer.
    pub stall_timeout: Duration,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

#[derive(Default)]
struct AuthState {
    /// `https://host` or `http://host`, once pinged.
    base: Option<String>,
    challenge: Option<Challenge>,
    tokens: HashMap<String, String>,
    /// A refresh token the token server handed out (for `login`).
    refresh_token: Option<String>,
}

/// What a manifest fetch returns.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// A blob body being downloaded.
pub struct BlobBody {
    /// The bytes from `offset` on.
    pub stream: BoxStream<'static, Result<Bytes>>,
    /// Where the stream starts: the offset asked for when the registry honoured the
    /// range, else 0 (the caller must start over).
    pub offset: u64,
    /// The blob's total size, when the registry said.
    pub total: Option<u64>,
}

/// The outcome of a cross-repository mount request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Mounted,
    /// The registry started an ordinary upload instead (at this location).
    Upload(String),
}

/// The bytes of an upload's last request.
pub enum UploadBody {
    Bytes(Bytes),
    Stream(BoxStream<'static, std::io::Result<Bytes>>),
}

/// A client for one registry host.
pub struct Client {
    /// `host[:port]` of the API (`registry-1.docker.io` for `docker.io`).
    host: String,
    insecure: bool,
    http: reqwest::Client,
    http_noverify: reqwest::Client,
    creds: Option<Credentials>,
    stall: Duration,
    state: Mutex<AuthState>,
}

fn build_http(opts: &ClientOptions, noverify: bool) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.stall_timeout)
        .user_agent(opts.user_agent.clone())
        .redirect(reqwest::redirect::Policy::limited(10))
        .danger_accept_invalid_certs(noverify)
        .build()
        .map_err(|e| ClientError::Io(format!("http client: {e}")))
}

/// One token request's scope: `repository:<name>:<actions>`.
pub fn repo_scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

impl Client {
    /// A client for the registry serving `domain` (a reference's domain: `docker.io` maps
    /// to its API host).
    pub fn new(domain: &str, creds: Option<Credentials>, opts: &ClientOptions) -> Result<Self> {
        let host = api_host(domain).to_string();
        Ok(Self {
            insecure: is_insecure(&host, &opts.insecure),
            host,
            http: build_http(opts, false)?,
            http_noverify: build_http(opts, true)?,
            creds: creds.filter(|c| !c.is_empty()),
            stall: opts.stall_timeout,
            state: Mutex::new(AuthState::default()),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn http_for(&self, base: &str) -> &reqwest::Client {
        if self.insecure && base.starts_with("https://") {
            &self.http_noverify
        } else {
            &self.http
        }
    }

    fn transport(&self, method: &Method, url: &str, e: &reqwest::Error) -> ClientError {
        let (cause, connect) = error::describe_transport(e, &self.host);
        ClientError::Transport {
            method: title(method),
            url: url.to_string(),
            cause,
            connect,
        }
    }

    /// Pings `/v2/` (once) and returns the base URL.
    pub async fn ping(&self) -> Result<String> {
        if let Some(b) = self.lock().base.clone() {
            return Ok(b);
        }
        let https = format!("https://{}", self.host);
        let result = match self.ping_at(&https).await {
            Ok(r) => Ok((https, r)),
            Err(e) if self.insecure => {
                let http = format!("http://{}", self.host);
                match self.ping_at(&http).await {
                    Ok(r) => Ok((http, r)),
                    Err(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let (base, resp) = result?;
        let challenge = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_challenge);
        let status = resp.status();
        if !status.is_success() && status != StatusCode::UNAUTHORIZED {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(ClientError::from_reply(status.as_u16(), &body));
        }
        let mut st = self.lock();
        st.base = Some(base.clone());
        st.challenge = challenge;
        Ok(base)
    }

    async fn ping_at(&self, base: &str) -> Result<Response> {
        let url = format!("{base}/v2/");
        self.http_for(base)
            .get(&url)
            .send()
            .await
            .map_err(|e| self.transport(&Method::GET, &url, &e))
    }

    /// Checks the credentials: a ping, then a token (bearer) or an authenticated `/v2/`
    /// (basic). Returns the refresh token the token server issued, if any.
    pub async fn login(&self) -> Result<Option<String>> {
        let base = self.ping().await?;
        let challenge = self.lock().challenge.clone();
        match challenge {
            Some(Challenge::Bearer { params }) => {
                self.fetch_token(&params, &[]).await?;
                Ok(self.lock().refresh_token.clone())
            }
            Some(Challenge::Basic { .. }) => {
                let url = format!("{base}/v2/");
                let mut rb = self.http_for(&base).get(&url);
                if let Some(c) = &self.creds {
                    rb = rb.basic_auth(&c.username, Some(&c.password));
                }
                let resp = rb
                    .send()
                    .await
                    .map_err(|e| self.transport(&Method::GET, &url, &e))?;
                if resp.status() == StatusCode::UNAUTHORIZED {
                    return Err(ClientError::Unauthorized(format!(
                        "login attempt to {url} failed with status: 401 Unauthorized"
                    )));
                }
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Gets a bearer token for `scopes` from the challenge's realm.
    async fn fetch_token(
        &self,
        params: &std::collections::BTreeMap<String, String>,
        scopes: &[String],
    ) -> Result<String> {
        let key = scopes.join(" ");
        if let Some(t) = self.lock().tokens.get(&key) {
            return Ok(t.clone());
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| ClientError::Invalid("bearer challenge without a realm".into()))?;
        let service = params.get("service").cloned().unwrap_or_default();
        let mut url = url::Url::parse(realm)
            .map_err(|e| ClientError::Invalid(format!("invalid token realm {realm}: {e}")))?;
        let http = if self.insecure {
            &self.http_noverify
        } else {
            &self.http
        };
        let resp = match self.creds.as_ref().and_then(|c| c.identity_token.clone()) {
            Some(refresh) => {
                let mut form: Vec<(&str, String)> = vec![
                    ("grant_type", "refresh_token".into()),
                    ("refresh_token", refresh),
                    ("service", service.clone()),
                    ("client_id", "docker".into()),
                ];
                let scope = scopes.join(" ");
                if !scope.is_empty() {
                    form.push(("scope", scope));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", urlencode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                http.post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
            }
            None => {
                {
                    let mut q = url.query_pairs_mut();
                    if !service.is_empty() {
                        q.append_pair("service", &service);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                    if let Some(c) = &self.creds {
                        q.append_pair("account", &c.username);
                        q.append_pair("client_id", "docker");
                        q.append_pair("offline_token", "true");
                    }
                }
                let mut rb = http.get(url.clone());
                if let Some(c) = &self.creds {
                    rb = rb.basic_auth(&c.username, Some(&c.password));
                }
                rb.send().await
            }
        };
        let resp = resp.map_err(|e| self.transport(&Method::GET, url.as_str(), &e))?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ClientError::Unauthorized(
                if self.creds.is_some() {
                    "unauthorized: incorrect username or password"
                } else {
                    "unauthorized: authentication required"
                }
                .into(),
            ));
        }
        if !status.is_success() {
            return Err(ClientError::from_reply(status.as_u16(), &body));
        }
        #[derive(serde::Deserialize)]
        struct Tok {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            refresh_token: Option<String>,
        }
        let t: Tok = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Invalid(format!("invalid token reply from {realm}: {e}")))?;
        let token = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if token.is_empty() {
            return Err(ClientError::Invalid(format!(
                "no token in the reply from {realm}"
            )));
        }
        let mut st = self.lock();
        if t.refresh_token.is_some() {
            st.refresh_token = t.refresh_token;
        }
        st.tokens.insert(key, token.clone());
        Ok(token)
    }

    /// The Authorization header value for `scopes`, if the registry wants one.
    async fn authorization(&self, scopes: &[String]) -> Result<Option<String>> {
        let challenge = self.lock().challenge.clone();
        match challenge {
            Some(Challenge::Bearer { params }) => {
                let t = self.fetch_token(&params, scopes).await?;
                Ok(Some(format!("Bearer {t}")))
            }
            Some(Challenge::Basic { .. }) => Ok(self.creds.as_ref().map(|c| {
                use base64::Engine as _;
                let raw = format!("{}:{}", c.username, c.password);
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            })),
            None => Ok(None),
        }
    }

    /// Sends a request built by `make` (called again for a retry after a 401 with a new
    /// challenge); `path` is relative to the base (`/v2/...`) or an absolute URL.
    async fn send(
        &self,
        method: Method,
        path: &str,
        scopes: &[String],
        make: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let base = self.ping().await?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{base}{path}")
        };
        let mut retried = false;
        loop {
            let mut rb = make(self.http_for(&base).request(method.clone(), &url));
            if let Some(a) = self.authorization(scopes).await? {
                rb = rb.header(AUTHORIZATION, a);
            }
            let resp = rb
                .send()
                .await
                .map_err(|e| self.transport(&method, &url, &e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !retried {
                // A challenge naming a scope the cached token lacks: drop it and try again.
                let fresh = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(parse_challenge);
                let mut st = self.lock();
                let had_token = st.tokens.remove(&scopes.join(" ")).is_some();
                let changed = fresh.is_some() && fresh != st.challenge;
                if changed {
                    st.challenge = fresh;
                }
                drop(st);
                if had_token || changed {
                    retried = true;
                    continue;
                }
            }
            return Ok(resp);
        }
    }

    async fn check(resp: Response) -> Result<Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        Err(ClientError::from_reply(status, &body))
    }

    /// Fetches a manifest by tag or digest; a digest reference is verified.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<FetchedManifest> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let scopes = [repo_scope(repo, "pull")];
        let resp = self
            .send(Method::GET, &path, &scopes, |rb| {
                accept.iter().fold(rb, |rb, a| rb.header(ACCEPT, *a))
            })
            .await?;
        let resp = Self::check(resp).await?;
        let header_type = header_str(resp.headers(), CONTENT_TYPE.as_str());
        let header_digest = header_str(resp.headers(), "docker-content-digest");
        let bytes = read_limited(resp, MAX_MANIFEST).await?;
        let digest = Digest::of(&bytes);
        if let Ok(want) = reference.parse::<Digest>() {
            if want != digest {
                return Err(ClientError::DigestMismatch(format!(
                    "manifest verification failed for digest {want}"
                )));
            }
        } else if let Some(d) = header_digest.and_then(|d| d.parse::<Digest>().ok()) {
            if d != digest {
                return Err(ClientError::DigestMismatch(format!(
                    "manifest verification failed for digest {d}"
                )));
            }
        }
        let media_type = match header_type
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
            .filter(|t| !t.is_empty() && t != "application/json" && t != "text/plain")
        {
            Some(t) => t,
            None => media_type_of(&bytes),
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Fetches a small blob (a config) whole, verified.
    pub async fn blob_bytes(&self, repo: &str, digest: &Digest) -> Result<Bytes> {
        let body = self.blob(repo, digest, 0).await?;
        let mut out = Vec::new();
        let mut s = body.stream;
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
            if out.len() > MAX_MANIFEST {
                return Err(ClientError::Invalid(format!("blob {digest} is too large")));
            }
        }
        if Digest::of(&out) != *digest {
            return Err(ClientError::DigestMismatch(format!(
                "blob verification failed for digest {digest}"
            )));
        }
        Ok(out.into())
    }

    /// Streams a blob from byte `offset` (HTTP Range); see [`BlobBody::offset`].
    pub async fn blob(&self, repo: &str, digest: &Digest, offset: u64) -> Result<BlobBody> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let scopes = [repo_scope(repo, "pull")];
        let resp = self
            .send(Method::GET, &path, &scopes, |rb| {
                if offset > 0 {
                    rb.header("Range", format!("bytes={offset}-"))
                } else {
                    rb
                }
            })
            .await?;
        if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            return Err(ClientError::Registry {
                status: 416,
                code: "RANGE_INVALID".into(),
                message: format!("blob {digest}: range not satisfiable"),
            });
        }
        let resp = Self::check(resp).await?;
        let partial = resp.status() == StatusCode::PARTIAL_CONTENT;
        let start = if partial { offset } else { 0 };
        let total = match header_str(resp.headers(), "content-range")
            .and_then(|r| r.rsplit_once('/').and_then(|(_, t)| t.parse::<u64>().ok()))
        {
            Some(t) => Some(t),
            None => resp.content_length().map(|l| l + start),
        };
        let url = resp.url().to_string();
        let host = self.host.clone();
        let stream = resp
            .bytes_stream()
            .map_err(move |e| {
                let (cause, _) = error::describe_transport(&e, &host);
                ClientError::Transport {
                    method: "Get".into(),
                    url: url.clone(),
                    cause,
                    connect: false,
                }
            })
            .boxed();
        Ok(BlobBody {
            stream,
            offset: start,
            total,
        })
    }

    /// HEADs a blob: its size when the repository has it.
    pub async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let scopes = [repo_scope(repo, "pull")];
        let resp = self.send(Method::HEAD, &path, &scopes, |rb| rb).await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                header_str(resp.headers(), "content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(ClientError::from_reply(s.as_u16(), b"")),
        }
    }

    /// Asks the registry to mount `digest` from repository `from` into `repo`.
    pub async fn mount(&self, repo: &str, digest: &Digest, from: &str) -> Result<Mount> {
        let path = format!(
            "/v2/{repo}/blobs/uploads/?mount={}&from={}",
            urlencode(&digest.to_string()),
            urlencode(from)
        );
        let scopes = [repo_scope(repo, "pull,push"), repo_scope(from, "pull")];
        let resp = self
            .send(Method::POST, &path, &scopes, |rb| {
                rb.header("Content-Length", "0")
            })
            .await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(Mount::Mounted);
        }
        let resp = Self::check(resp).await?;
        let loc = header_str(resp.headers(), LOCATION.as_str())
            .ok_or_else(|| ClientError::Invalid("upload reply without a location".into()))?;
        Ok(Mount::Upload(self.absolute(&loc)))
    }

    fn absolute(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            return loc.to_string();
        }
        let base = self.lock().base.clone().unwrap_or_default();
        format!("{base}{loc}")
    }

    /// Starts an upload; returns its location.
    pub async fn start_upload(&self, repo: &str) -> Result<String> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let scopes = [repo_scope(repo, "pull,push")];
        let resp = self
            .send(Method::POST, &path, &scopes, |rb| {
                rb.header("Content-Length", "0")
            })
            .await?;
        let resp = Self::check(resp).await?;
        let loc = header_str(resp.headers(), LOCATION.as_str())
            .ok_or_else(|| ClientError::Invalid("upload reply without a location".into()))?;
        Ok(self.absolute(&loc))
    }

    /// Sends a chunk of an upload (PATCH); returns the next location.
    pub async fn upload_chunk(
        &self,
        repo: &str,
        location: &str,
        offset: u64,
        chunk: Bytes,
    ) -> Result<String> {
        let scopes = [repo_scope(repo, "pull,push")];
        let end = offset + chunk.len() as u64;
        let resp = self
            .send(Method::PATCH, location, &scopes, |rb| {
                rb.header(CONTENT_TYPE, "application/octet-stream")
                    .header(
                        "Content-Range",
                        format!("{offset}-{}", end.saturating_sub(1)),
                    )
                    .body(chunk.clone())
            })
            .await?;
        let resp = Self::check(resp).await?;
        let loc = header_str(resp.headers(), LOCATION.as_str()).unwrap_or(location.to_string());
        Ok(self.absolute(&loc))
    }

    /// Finishes an upload with the (possibly empty) last bytes: PUT `?digest=`.
    pub async fn finish_upload(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
        body: UploadBody,
        len: u64,
    ) -> Result<()> {
        let body = match body {
            UploadBody::Bytes(b) => reqwest::Body::from(b),
            UploadBody::Stream(s) => reqwest::Body::wrap_stream(s),
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", urlencode(&digest.to_string()));
        // A streamed body cannot be sent twice: authorise first.
        let scopes = [repo_scope(repo, "pull,push")];
        let base = self.ping().await?;
        let mut rb = self
            .http_for(&base)
            .put(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header("Content-Length", len.to_string())
            .body(body);
        if let Some(a) = self.authorization(&scopes).await? {
            rb = rb.header(AUTHORIZATION, a);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| self.transport(&Method::PUT, &url, &e))?;
        Self::check(resp).await?;
        Ok(())
    }

    /// Monolithic upload of an in-memory blob (POST then PUT).
    pub async fn upload_bytes(&self, repo: &str, digest: &Digest, bytes: Bytes) -> Result<()> {
        let loc = self.start_upload(repo).await?;
        let len = bytes.len() as u64;
        self.finish_upload(repo, &loc, digest, UploadBody::Bytes(bytes), len)
            .await
    }

    /// PUTs a manifest by tag or digest; returns its digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let scopes = [repo_scope(repo, "pull,push")];
        let resp = self
            .send(Method::PUT, &path, &scopes, |rb| {
                rb.header(CONTENT_TYPE, media_type).body(bytes.clone())
            })
            .await?;
        Self::check(resp).await?;
        Ok(Digest::of(&bytes))
    }

    /// `GET /v2/<repo>/tags/list`.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let path = format!("/v2/{repo}/tags/list");
        let scopes = [repo_scope(repo, "pull")];
        let resp = self.send(Method::GET, &path, &scopes, |rb| rb).await?;
        let resp = Self::check(resp).await?;
        let bytes = read_limited(resp, MAX_MANIFEST).await?;
        let t: Tags = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Invalid(format!("invalid tag list: {e}")))?;
        Ok(t.tags.unwrap_or_default())
    }

    /// `GET /v2/_catalog`.
    pub async fn catalog(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Cat {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let scopes = ["registry:catalog:*".to_string()];
        let resp = self
            .send(Method::GET, "/v2/_catalog", &scopes, |rb| rb)
            .await?;
        let resp = Self::check(resp).await?;
        let bytes = read_limited(resp, MAX_MANIFEST).await?;
        let c: Cat = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Invalid(format!("invalid catalog: {e}")))?;
        Ok(c.repositories)
    }

    /// `GET /v1/search?q=&n=`: the registry's reply (`{"results":[...]}`).
    pub async fn search(&self, query: &str, limit: Option<usize>) -> Result<serde_json::Value> {
        let mut path = format!("/v1/search?q={}", urlencode(query));
        if let Some(n) = limit {
            path.push_str(&format!("&n={n}"));
        }
        let resp = self.send(Method::GET, &path, &[], |rb| rb).await?;
        let resp = Self::check(resp).await?;
        let bytes = read_limited(resp, 16 << 20).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Invalid(format!("invalid search reply: {e}")))
    }

    /// How long a body may deliver nothing.
    pub fn stall_timeout(&self) -> Duration {
        self.stall
    }
}

fn title(m: &Method) -> String {
    let s = m.as_str();
    let mut out = s[..1].to_string();
    out.push_str(&s[1..].to_lowercase());
    out
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn read_limited(resp: Response, limit: usize) -> Result<Bytes> {
    let mut out = Vec::new();
    let url = resp.url().to_string();
    let mut s = resp.bytes_stream();
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| ClientError::Transport {
            method: "Get".into(),
            url: url.clone(),
            cause: e.to_string(),
            connect: false,
        })?;
        out.extend_from_slice(&chunk);
        if out.len() > limit {
            return Err(ClientError::Invalid(format!(
                "reply from {url} is too large"
            )));
        }
    }
    Ok(out.into())
}

/// A manifest's media type from its `mediaType` field (OCI manifests may omit it).
pub fn media_type_of(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        media_type: String,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(p) if !p.media_type.is_empty() => p.media_type,
        Ok(p) if p.manifests.is_some() => berth_model::manifest::MEDIA_TYPE_INDEX.into(),
        _ => berth_model::manifest::MEDIA_TYPE_MANIFEST.into(),
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
