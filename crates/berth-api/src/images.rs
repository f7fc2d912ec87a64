//! `/images/...`: import, list, inspect, tag, delete, history, prune.

use crate::backend::{Backends, BodyReader, ImportOptions};
use crate::error::{json_ok, not_found_page, ApiResult};
use crate::query::Query;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_model::api::parse_filters;
use berth_model::{Error, ErrorKind};
use futures_util::StreamExt;
use serde_json::json;
use tokio_util::io::StreamReader;

/// `POST /images/create`. Only `fromSrc=-` (import of the request body) is served yet.
///
/// dockerd writes nothing for an import from the body until the image exists, so a failure
/// is still an ordinary error status; success is one progress-stream line.
pub(crate) async fn create(
    State(b): State<Backends>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    if let Some(image) = q.non_empty("fromImage") {
        return crate::distribution::pull(&b, &q, req.headers(), &image).await;
    }
    match q.non_empty("fromSrc").as_deref() {
        Some("-") => {}
        Some(src) => {
            return Err(Error::new(
                ErrorKind::NotImplemented,
                format!("importing from a URL is not implemented yet: {src}"),
            )
            .into())
        }
        None => return Err(Error::invalid("either fromImage or fromSrc must be specified").into()),
    }
    let opts = ImportOptions {
        repo: q.non_empty("repo"),
        tag: q.non_empty("tag"),
        message: q.non_empty("message"),
        changes: q
            .get_all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
    };
    let (body, feeder) = drained_body(req);
    let result = b.images.import(body, opts).await;
    let _ = feeder.await;
    let id = result?;
    Ok(progress_line(&json!({ "status": id })))
}

/// The request body as a reader for the backend. Streamed, never collected: a tarball can
/// be gigabytes. It goes through a small channel so that, when the backend refuses the
/// input before reading it all (a bad `changes` line, a corrupt tar), the rest is still
/// read and dropped: answering with unread input makes clients see EPIPE instead of the
/// error. Await the handle before answering.
pub(crate) fn drained_body(req: Request) -> (BodyReader, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let mut stream = req.into_body().into_data_stream();
    let feeder = tokio::spawn(async move {
        let mut tx = Some(tx);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other);
            let failed = chunk.is_err();
            if let Some(t) = &tx {
                if t.send(chunk).await.is_err() {
                    tx = None;
                }
            }
            if failed {
                break;
            }
        }
    });
    let body: BodyReader = Box::pin(StreamReader::new(tokio_stream_from(rx)));
    (body, feeder)
}

/// A receiver as a stream (what `tokio-stream`'s wrapper does, without the dependency).
fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// One line of a JSON progress stream; dockerd's stream formatter ends lines with CRLF.
pub(crate) fn progress_line(v: &serde_json::Value) -> Response {
    let mut line = v.to_string().into_bytes();
    line.extend_from_slice(b"\r\n");
    let mut resp = (StatusCode::OK, line).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) async fn list(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let filters = parse_filters(q.get("filters").unwrap_or(""))?;
    json_ok(&b.images.list(q.bool("all"), filters).await?)
}

/// `GET /images/{name}/json`, where the name itself may hold slashes and a registry port
/// (`localhost:5000/a/b:tag`), hence one catch-all route split here.
pub(crate) async fn get_by_name(State(b): State<Backends>, Path(rest): Path<String>) -> ApiResult {
    if let Some(name) = rest.strip_suffix("/json").filter(|n| !n.is_empty()) {
        return json_ok(&b.images.inspect(name).await?);
    }
    if let Some(name) = rest.strip_suffix("/get").filter(|n| !n.is_empty()) {
        return crate::image_archive::save(&b, vec![name.to_string()]).await;
    }
    match rest.strip_suffix("/history") {
        Some(name) if !name.is_empty() => json_ok(&b.images.history(name).await?),
        _ => Ok(not_found_page()),
    }
}

/// `POST /images/{name}/tag?repo=&tag=`: 201 with an empty body, as dockerd.
pub(crate) async fn post_by_name(
    State(b): State<Backends>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    if let Some(name) = rest.strip_suffix("/push").filter(|n| !n.is_empty()) {
        return crate::distribution::push(&b, &q, &headers, name).await;
    }
    let Some(name) = rest.strip_suffix("/tag").filter(|n| !n.is_empty()) else {
        return Ok(not_found_page());
    };
    let repo = q.get("repo").unwrap_or("");
    b.images.tag(name, repo, q.get("tag").unwrap_or("")).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /images/{name}?force=&noprune=`; the name may hold slashes.
pub(crate) async fn delete_by_name(
    State(b): State<Backends>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    json_ok(
        &b.images
            .remove(&rest, q.bool("force"), q.bool("noprune"))
            .await?,
    )
}

pub(crate) async fn prune(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let filters = parse_filters(q.get("filters").unwrap_or(""))?;
    json_ok(&b.images.prune(filters).await?)
}
