//! Registry verbs: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push`,
//! `GET /images/search` and `POST /auth`. Credentials come as dockerd reads them: the
//! `X-Registry-Auth` header, base64url JSON (`e30=` is `{}`, no credentials).

use crate::backend::{Backends, ProgressStream};
use crate::build::go_escape;
use crate::error::{json_ok, ApiResult};
use crate::query::Query;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_model::api::AuthConfig;
use berth_model::{Error, Reference};
use futures_util::StreamExt;
use std::convert::Infallible;

/// The credentials of `X-Registry-Auth`; `None` when absent, empty or unreadable (dockerd
/// then goes on without credentials too).
pub(crate) fn registry_auth(headers: &HeaderMap) -> Option<AuthConfig> {
    let raw = headers.get("x-registry-auth")?.to_str().ok()?.trim();
    if raw.is_empty() {
        return None;
    }
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let bytes = engines.iter().find_map(|e| e.decode(raw).ok())?;
    let cfg: AuthConfig = serde_json::from_slice(&bytes).ok()?;
    (!cfg.is_empty()).then_some(cfg)
}

/// A progress stream as dockerd writes it: one JSON object and CRLF per chunk.
pub(crate) fn progress_response(messages: ProgressStream) -> Response {
    let body = Body::from_stream(messages.map(|m| {
        let mut line = go_escape(&m.to_string()).into_bytes();
        line.extend_from_slice(b"\r\n");
        Ok::<Bytes, Infallible>(Bytes::from(line))
    }));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `fromImage` and `tag` as dockerd joins them: a tag that is a digest is `@`, a missing
/// one is `latest`.
pub(crate) fn pull_reference(image: &str, tag: Option<&str>) -> Result<String, Error> {
    let mut r = Reference::parse_normalized(image).map_err(|e| Error::invalid(e.to_string()))?;
    match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.contains(':') => {
            r.tag = None;
            r.digest = Some(
                t.parse()
                    .map_err(|_| Error::invalid(format!("invalid digest {t:?}")))?,
            );
        }
        Some(t) => {
            if r.digest.is_none() {
                r.tag = Some(t.to_string());
            }
        }
        None => {
            if r.tag.is_none() && r.digest.is_none() {
                r.tag = Some(berth_model::reference::DEFAULT_TAG.to_string());
            }
        }
    }
    Ok(r.to_string())
}

pub(crate) async fn pull(b: &Backends, q: &Query, headers: &HeaderMap, image: &str) -> ApiResult {
    let reference = pull_reference(image, q.get("tag"))?;
    let messages = b.images.pull(&reference, registry_auth(headers)).await?;
    Ok(progress_response(messages))
}

/// `POST /images/{name}/push?tag=`.
pub(crate) async fn push(b: &Backends, q: &Query, headers: &HeaderMap, name: &str) -> ApiResult {
    let reference = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    Reference::parse_normalized(&reference).map_err(|e| Error::invalid(e.to_string()))?;
    let messages = b.images.push(&reference, registry_auth(headers)).await?;
    Ok(progress_response(messages))
}

/// `GET /images/search?term=&limit=`.
pub(crate) async fn search(
    State(b): State<Backends>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let term = q.get("term").unwrap_or("").to_string();
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| Error::invalid(format!("invalid limit {l:?}")))?,
        ),
        None => None,
    };
    json_ok(
        &b.images
            .search(&term, limit, registry_auth(&headers))
            .await?,
    )
}

/// `POST /auth` with an AuthConfig body.
pub(crate) async fn auth(State(b): State<Backends>, body: Bytes) -> ApiResult {
    let cfg: AuthConfig = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("invalid auth configuration: {e}")))?;
    json_ok(&b.system.auth(cfg).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_header_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(registry_auth(&h), None);
        h.insert("x-registry-auth", HeaderValue::from_static("e30="));
        assert_eq!(registry_auth(&h), None, "{{}} is no credentials");
        let json = r#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#;
        for e in [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let v = e.encode(json);
            h.insert("x-registry-auth", HeaderValue::from_str(&v).unwrap());
            let a = registry_auth(&h).unwrap();
            assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p?>"));
            assert_eq!(a.serveraddress, "127.0.0.1:5000");
        }
        h.insert("x-registry-auth", HeaderValue::from_static("!!notbase64"));
        assert_eq!(registry_auth(&h), None);
    }

    #[test]
    fn pull_reference_joins_tag_and_digest() {
        assert_eq!(
            pull_reference("busybox", None).unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            pull_reference("127.0.0.1:5055/research/busybox", Some("t1")).unwrap(),
            "127.0.0.1:5055/research/busybox:t1"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            pull_reference("busybox", Some(&d)).unwrap(),
            format!("docker.io/library/busybox@{d}")
        );
        assert!(pull_reference("Bad Name", None).is_err());
    }
}
