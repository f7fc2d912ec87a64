//! `/_ping`, `/version`, `/info`, `/system/df`.

use crate::backend::Backends;
use crate::error::{json_ok, ApiResult};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The docker CLI negotiates its API version from these headers. `Builder-Version` must
/// never be 2: without buildx the CLI would then refuse to build, while with 1 it falls
/// back to the legacy `POST /build`.
fn ping_response(body: &'static str) -> Response {
    let mut resp = Body::from(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("builder-version", HeaderValue::from_static("1"));
    resp
}

pub(crate) async fn ping() -> Response {
    ping_response("OK")
}

/// dockerd answers `HEAD /_ping` with `Content-Length: 0`, not the length of "OK".
pub(crate) async fn ping_head() -> Response {
    ping_response("")
}

pub(crate) async fn version(State(b): State<Backends>) -> ApiResult {
    json_ok(&b.system.version().await?)
}

pub(crate) async fn info(State(b): State<Backends>) -> ApiResult {
    json_ok(&b.system.info().await?)
}

/// `GET /system/df`. The `type` filter is API 1.42; 1.41 clients never send it.
pub(crate) async fn disk_usage(State(b): State<Backends>) -> ApiResult {
    json_ok(&b.system.disk_usage().await?)
}
