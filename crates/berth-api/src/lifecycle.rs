//! Lifecycle verbs: start, stop, restart, kill, wait, resize.

use crate::backend::Backends;
use crate::error::{no_content, ApiResult};
use crate::query::Query;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use berth_model::Error;
use futures_util::{stream, FutureExt};

/// `Err(NotModified)` from the backend becomes a bodiless 304, which `docker start` on a
/// running container expects.
pub(crate) async fn start(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    b.containers.start(&id).await?;
    no_content()
}

pub(crate) async fn stop(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    b.containers
        .stop(&id, q.number("t")?, q.non_empty("signal"))
        .await?;
    no_content()
}

pub(crate) async fn restart(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    b.containers
        .restart(&id, q.number("t")?, q.non_empty("signal"))
        .await?;
    no_content()
}

pub(crate) async fn kill(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    b.containers.kill(&id, q.non_empty("signal")).await?;
    no_content()
}

/// Headers go out at once and the JSON only when the condition is met: `docker run` sends
/// `start` only after it has seen the wait's 200, so holding the headers back would
/// deadlock it. dockerd 20.10 treats an unknown condition as `not-running`, and so do we.
pub(crate) async fn wait(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let condition = match q.get("condition").unwrap_or("") {
        c @ ("next-exit" | "removed") => c,
        _ => "not-running",
    };
    let done = b.containers.wait(&id, condition).await?;
    let body = stream::once(done.map(|resp| {
        let mut line = serde_json::to_vec(&resp).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(line)
    }));
    let mut resp = Body::from_stream(body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// 200 with an empty body, as dockerd answers a resize.
pub(crate) async fn resize(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (h, w) = dimensions(&Query::parse(raw.as_deref()))?;
    b.containers.resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

/// `h` and `w` of a resize (container or exec); both are required, as dockerd's `Atoi`
/// of an empty string fails with a 400.
pub(crate) fn dimensions(q: &Query) -> Result<(u16, u16), Error> {
    let dim = |key: &str| -> Result<u16, Error> {
        q.number::<u16>(key)?
            .ok_or_else(|| Error::invalid(format!("missing {key} parameter")))
    };
    Ok((dim("h")?, dim("w")?))
}
