//! `GET /containers/{id}/stats` (trace 31_events_stats) and `POST /containers/{id}/update`.

use crate::backend::Backends;
use crate::containers::{check_json_content_type, read_body};
use crate::error::{json_ok, ApiResult};
use crate::query::Query;
use crate::router::ApiVersion;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use berth_model::api::ContainerUpdateRequest;
use berth_model::Error;
use bytes::Bytes;
use futures_util::StreamExt;

/// dockerd's `BoolValueOrDefault`: an absent parameter takes the default, a present one
/// is read by `BoolValue`.
fn bool_or(q: &Query, key: &str, default: bool) -> bool {
    if q.get(key).is_some() {
        q.bool(key)
    } else {
        default
    }
}

/// `stream` defaults to true. Without it the answer is one JSON document with a
/// Content-Length; with it one document per line as samples are taken, with the
/// Content-Type Go's sniffing gives a body starting with `{` (dockerd sets none).
/// `one-shot` exists from API 1.41.
pub(crate) async fn stats(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    version: Option<Extension<ApiVersion>>,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let stream = bool_or(&q, "stream", true);
    let one_shot =
        version.is_none_or(|Extension(v)| v.at_least("1.41")) && bool_or(&q, "one-shot", false);
    let mut samples = b.container_ops.stats(&id, stream, one_shot).await?;
    if !stream {
        let Some(s) = samples.next().await else {
            return Err(Error::internal(format!("no stats for container {id}")).into());
        };
        return json_ok(&s);
    }
    let lines = samples.filter_map(|s| async move {
        let mut line = serde_json::to_vec(&s).ok()?;
        line.push(b'\n');
        Some(Ok::<_, std::convert::Infallible>(Bytes::from(line)))
    });
    let mut resp = Body::from_stream(lines).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

/// The body is Docker's `UpdateConfig`; `PidsLimit` is ignored before API 1.40, as
/// dockerd does.
pub(crate) async fn update(
    State(b): State<Backends>,
    Path(id): Path<String>,
    version: Option<Extension<ApiVersion>>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(req).await?;
    check_json_content_type(&headers, &body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid("got EOF while reading request body").into());
    }
    let mut update: ContainerUpdateRequest =
        serde_json::from_slice(&body).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?;
    if version.is_some_and(|Extension(v)| !v.at_least("1.40")) {
        update.pids_limit = None;
    }
    let resp = b.container_ops.update(&id, update).await?;
    json_ok(&resp)
}
