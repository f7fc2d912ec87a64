//! HTTP/1.1 over a unix socket to the Engine API. One connection per request, as the
//! docker CLI effectively does for attach/wait/start, so that a long-running `wait` or an
//! upgraded attach never blocks the next request.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use tokio::net::UnixStream;

/// The API version the CLI speaks; berthd advertises exactly this one.
pub const API_PREFIX: &str = "/v1.41";
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
const USER_AGENT: &str = concat!("Berth-Client/", env!("CARGO_PKG_VERSION"), " (linux)");

pub type ReqBody = UnsyncBoxBody<Bytes, std::io::Error>;
/// The bidirectional stream of an upgraded attach.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// A non-2xx reply: what the daemon said, kept apart from transport failures so commands
/// can word it as `Error response from daemon: …` and map it to exit codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for ApiError {}

/// The daemon socket could not be reached at all.
#[derive(Debug)]
pub struct ConnectError {
    pub host: String,
    pub source: std::io::Error,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cannot connect to the Berth daemon at {}. Is the berth daemon running?",
            self.host
        )
    }
}

impl std::error::Error for ConnectError {}

pub fn api_error(err: &anyhow::Error) -> Option<&ApiError> {
    err.downcast_ref::<ApiError>()
}

pub fn is_not_found(err: &anyhow::Error) -> bool {
    api_error(err).is_some_and(|e| e.status == StatusCode::NOT_FOUND)
}

/// `-H`, then `$BERTH_HOST`, then `$DOCKER_HOST`, then the default socket.
pub fn resolve_host(flag: Option<&str>) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    flag.map(str::to_string)
        .or_else(|| env("BERTH_HOST"))
        .or_else(|| env("DOCKER_HOST"))
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    socket: PathBuf,
}

pub fn empty() -> ReqBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn full(data: impl Into<Bytes>) -> ReqBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn streaming<S>(stream: S) -> ReqBody
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    BodyExt::boxed_unsync(StreamBody::new(stream.map(|r| r.map(Frame::data))))
}

/// Go's `url.Values.Encode`: keys sorted, values form-encoded. Matching it byte for byte
/// keeps our requests identical to the docker CLI's in traces.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Escapes a user-supplied name or ID for use as one path segment.
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_")
        .replace("%3A", ":")
        .replace("%40", "@")
}

impl Client {
    pub fn new(host: &str) -> anyhow::Result<Self> {
        let socket = match host.strip_prefix("unix://") {
            Some(p) => PathBuf::from(p),
            None if host.starts_with('/') => PathBuf::from(host),
            None => anyhow::bail!("unsupported host {host:?}: only unix:// sockets are supported"),
        };
        Ok(Self {
            host: host.to_string(),
            socket,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    async fn sender(&self) -> anyhow::Result<hyper::client::conn::http1::SendRequest<ReqBody>> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ConnectError {
                host: self.host.clone(),
                source,
            })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    fn build(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: ReqBody,
    ) -> anyhow::Result<Request<ReqBody>> {
        let uri = if path.starts_with("/_ping") {
            path.to_string()
        } else {
            format!("{API_PREFIX}{path}")
        };
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", "api.moby.localhost")
            .header("User-Agent", USER_AGENT);
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        Ok(b.body(body)?)
    }

    /// Sends one request; a reply of 400 or more becomes an [`ApiError`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: ReqBody,
    ) -> anyhow::Result<Response<Incoming>> {
        let headers: Vec<(&str, &str)> = content_type
            .map(|ct| ("Content-Type", ct))
            .into_iter()
            .collect();
        self.send_with(method, path, &headers, body).await
    }

    /// [`Client::send`] with any headers (`POST /build` also sends `X-Registry-Config`).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: ReqBody,
    ) -> anyhow::Result<Response<Incoming>> {
        let mut req = self.build(method, path, None, body)?;
        for (k, v) in headers {
            req.headers_mut().insert(
                hyper::header::HeaderName::from_bytes(k.as_bytes())?,
                hyper::header::HeaderValue::from_str(v)?,
            );
        }
        let mut sender = self.sender().await?;
        let resp = sender.send_request(req).await?;
        if resp.status().as_u16() >= 400 {
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(ApiError {
                status,
                message: error_message(status, &bytes),
            }
            .into());
        }
        Ok(resp)
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        self.send(Method::HEAD, "/_ping", None, empty())
            .await
            .map(drop)
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self.send(Method::GET, path, None, empty()).await?;
        read_json(resp).await
    }

    /// The raw JSON bytes, for `inspect`, which must keep the daemon's key order.
    pub async fn get_raw(&self, path: &str) -> anyhow::Result<Bytes> {
        let resp = self.send(Method::GET, path, None, empty()).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }

    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let data = serde_json::to_vec(body)?;
        let resp = self
            .send(Method::POST, path, Some("application/json"), full(data))
            .await?;
        read_json(resp).await
    }

    /// A POST without a body whose reply body does not matter (start, stop, kill, resize…).
    pub async fn post(&self, path: &str) -> anyhow::Result<()> {
        let resp = self.send(Method::POST, path, None, empty()).await?;
        resp.into_body().collect().await?;
        Ok(())
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let resp = self.send(Method::DELETE, path, None, empty()).await?;
        resp.into_body().collect().await?;
        Ok(())
    }

    /// `POST …/attach` with `Upgrade: tcp`; after the 101 the connection carries raw
    /// stdio (multiplexed frames unless the container has a TTY).
    pub async fn upgrade(&self, path: &str) -> anyhow::Result<Upgraded> {
        self.upgrade_with(path, "text/plain", empty()).await
    }

    /// [`Client::upgrade`] with a request body, as `POST /exec/{id}/start` needs.
    pub async fn upgrade_with(
        &self,
        path: &str,
        content_type: &str,
        body: ReqBody,
    ) -> anyhow::Result<Upgraded> {
        let mut req = self.build(Method::POST, path, Some(content_type), body)?;
        req.headers_mut().insert("Connection", "Upgrade".parse()?);
        req.headers_mut().insert("Upgrade", "tcp".parse()?);
        let mut sender = self.sender().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let bytes = resp.into_body().collect().await?.to_bytes();
            if status.as_u16() >= 400 {
                return Err(ApiError {
                    status,
                    message: error_message(status, &bytes),
                }
                .into());
            }
            anyhow::bail!("attach: daemon did not upgrade the connection (status {status})");
        }
        Ok(TokioIo::new(hyper::upgrade::on(resp).await?))
    }
}

pub async fn read_json<T: DeserializeOwned>(resp: Response<Incoming>) -> anyhow::Result<T> {
    let bytes = resp.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("cannot decode daemon reply: {e}"))
}

/// The `message` of a JSON error body, else the body text, else the status reason.
pub fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Msg {
        message: String,
    }
    if let Ok(m) = serde_json::from_slice::<Msg>(body) {
        return m.message;
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("unknown error")
            .to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_matches_go_encoding() {
        assert_eq!(
            query(&[
                ("stream", "1".into()),
                ("stdout", "1".into()),
                ("stderr", "1".into())
            ]),
            "?stderr=1&stdout=1&stream=1"
        );
        assert_eq!(
            query(&[
                ("all", "1".into()),
                ("filters", r#"{"name":{"research-trace":true}}"#.into())
            ]),
            "?all=1&filters=%7B%22name%22%3A%7B%22research-trace%22%3Atrue%7D%7D"
        );
        assert_eq!(query(&[]), "");
        assert_eq!(query_escape("a b/c"), "a+b%2Fc");
    }

    #[test]
    fn error_message_from_body() {
        let b = br#"{"message":"No such container: x"}"#;
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, b),
            "No such container: x"
        );
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, b"page not found\n"),
            "page not found"
        );
        assert_eq!(error_message(StatusCode::CONFLICT, b""), "Conflict");
    }

    #[test]
    fn host_resolution_and_socket() {
        assert_eq!(
            resolve_host(Some("unix:///tmp/x.sock")),
            "unix:///tmp/x.sock"
        );
        let c = Client::new("unix:///tmp/x.sock").unwrap();
        assert_eq!(c.socket, PathBuf::from("/tmp/x.sock"));
        assert!(Client::new("tcp://1.2.3.4:2375").is_err());
        assert_eq!(seg("my-name_1.x"), "my-name_1.x");
        assert_eq!(seg("a/b"), "a%2Fb");
    }
}
