//! `GET /containers/{id}/export` and `GET /containers/{id}/changes`.

use crate::backend::Backends;
use crate::error::{json_ok, ApiResult};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;

/// dockerd answers with `application/x-tar` (the spec's `octet-stream` is not what it
/// sends), and the docker CLI only copies the body.
pub(crate) async fn export(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    let tar = b.container_ops.export(&id).await?;
    let mut resp = Body::from_stream(tar).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// No changes is `null`, as dockerd encodes its nil slice.
pub(crate) async fn changes(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    let list = b.container_ops.changes(&id).await?;
    if list.is_empty() {
        json_ok(&serde_json::Value::Null)
    } else {
        json_ok(&list)
    }
}
