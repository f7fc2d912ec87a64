//! `/containers/create`, `/containers/json`, `/containers/{id}/json`, `DELETE /containers/{id}`.

use crate::backend::Backends;
use crate::error::{json_ok, json_response, no_content, ApiResult};
use crate::query::Query;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use berth_model::api::{parse_filters, ContainerCreateRequest, ListOptions};
use berth_model::{Error, ErrorKind};

/// Create bodies are a few KB; the cap only stops a runaway client.
const MAX_CREATE_BODY: usize = 16 << 20;

/// dockerd's `CheckForJSON`: no Content-Type is fine for an empty body, otherwise it must
/// be `application/json` (parameters such as `charset` ignored).
pub(crate) fn check_json_content_type(headers: &HeaderMap, body: &[u8]) -> Result<(), Error> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.is_empty() && body.is_empty() {
        return Ok(());
    }
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "Content-Type specified ({ct}) must be 'application/json'"
    )))
}

pub(crate) async fn read_body(req: Request) -> Result<(HeaderMap, Bytes), Error> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_CREATE_BODY)
        .await
        .map_err(|e| Error::invalid(format!("reading request body: {e}")))?;
    Ok((parts.headers, bytes))
}

/// Strict about JSON syntax and types (a 400 names what is wrong), lenient about unknown
/// fields, which newer clients send and which `inspect` must echo back.
pub(crate) fn parse_create_body(body: &[u8]) -> Result<ContainerCreateRequest, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "invalid JSON: got EOF while reading request body",
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?;
    if value.is_null() {
        return Err(Error::invalid(
            "config cannot be empty in order to create a container",
        ));
    }
    serde_json::from_value(value).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

pub(crate) async fn create(
    State(b): State<Backends>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let (headers, body) = read_body(req).await?;
    check_json_content_type(&headers, &body)?;
    let create = parse_create_body(&body)?;
    let resp = b.containers.create(q.non_empty("name"), create).await?;
    Ok(json_response(StatusCode::CREATED, &resp))
}

pub(crate) async fn list(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let opts = ListOptions {
        all: q.bool("all"),
        // dockerd uses -1 for "no limit"; any non-positive value means the same.
        limit: q
            .number::<i64>("limit")?
            .filter(|l| *l > 0)
            .map(|l| l as usize),
        size: q.bool("size"),
        filters: parse_filters(q.get("filters").unwrap_or(""))?,
    };
    json_ok(&b.containers.list(opts).await?)
}

pub(crate) async fn inspect(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    json_ok(&b.containers.inspect(&id).await?)
}

pub(crate) async fn remove(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    if q.bool("link") {
        return Err(Error::new(
            ErrorKind::NotImplemented,
            "removing links is not implemented",
        )
        .into());
    }
    b.containers
        .remove(&id, q.bool("force"), q.bool("v"))
        .await?;
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn content_type_rules() {
        let mut h = HeaderMap::new();
        assert!(check_json_content_type(&h, b"").is_ok());
        assert!(check_json_content_type(&h, b"{}").is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_json_content_type(&h, b"{}").is_ok());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let e = check_json_content_type(&h, b"{}").unwrap_err();
        assert_eq!(
            e.message,
            "Content-Type specified (text/plain) must be 'application/json'"
        );
    }

    #[test]
    fn create_body_errors() {
        assert!(parse_create_body(b"").unwrap_err().message.contains("EOF"));
        assert!(parse_create_body(b"{")
            .unwrap_err()
            .message
            .starts_with("invalid JSON: "));
        assert!(parse_create_body(b"null")
            .unwrap_err()
            .message
            .contains("cannot be empty"));
        assert!(parse_create_body(br#"{"Tty":"yes"}"#)
            .unwrap_err()
            .message
            .starts_with("invalid JSON"));
        let ok = parse_create_body(br#"{"Image":"busybox","Unknown":1}"#).unwrap();
        assert_eq!(ok.config.image, "busybox");
    }
}
