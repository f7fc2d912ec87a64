//! `GET /images/get`, `GET /images/{name}/get`, `POST /images/load` and `POST /commit`.

use crate::backend::{Backends, CommitOptions};
use crate::error::ApiResult;
use crate::images::drained_body;
use crate::query::Query;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use berth_model::Error;
use serde_json::json;

/// Both forms of save end here; dockerd answers with `application/x-tar`.
pub(crate) async fn save(b: &Backends, names: Vec<String>) -> ApiResult {
    let tar = b.images.save(names).await?;
    let mut resp = Body::from_stream(tar).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

pub(crate) async fn get(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let names: Vec<String> = q
        .get_all("names")
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    save(&b, names).await
}

/// The lines go out as dockerd's JSON stream (`{"stream":"Loaded image: x\n"}`), whether
/// or not `quiet` is set: without a terminal the docker CLI prints the same either way.
pub(crate) async fn load(State(b): State<Backends>, req: Request) -> ApiResult {
    let (body, feeder) = drained_body(req);
    let result = b.images.load(body).await;
    let _ = feeder.await;
    let lines = result?;
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(json!({ "stream": format!("{l}\n") }).to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut resp = (StatusCode::OK, out).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`: 201 `{"Id": ...}`.
pub(crate) async fn commit(
    State(b): State<Backends>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let container = q
        .non_empty("container")
        .ok_or_else(|| Error::invalid("a container to commit is required"))?;
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("invalid JSON body: {e}")))?;
        if v.is_null() {
            None
        } else {
            Some(
                serde_json::from_value(v)
                    .map_err(|e| Error::invalid(format!("invalid container config: {e}")))?,
            )
        }
    };
    let opts = CommitOptions {
        repo: q.non_empty("repo"),
        tag: q.non_empty("tag"),
        comment: q.non_empty("comment"),
        author: q.non_empty("author"),
        // Absent means pause, as in dockerd.
        pause: q.get("pause").is_none_or(|_| q.bool("pause")),
        changes: q
            .get_all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        config,
    };
    let id = b.images.commit(&container, opts).await?;
    let mut resp = (StatusCode::CREATED, json!({ "Id": id }).to_string() + "\n").into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
