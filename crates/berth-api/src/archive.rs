//! `HEAD|GET|PUT /containers/{id}/archive`: what `docker cp` uses both ways.

use crate::backend::{ArchivePutOptions, Backends, ContainerPathStat};
use crate::error::ApiResult;
use crate::query::Query;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_model::Error;
use serde::Serialize;

/// The header dockerd puts the path's stat in (base64 of its JSON).
pub const STAT_HEADER: &str = "x-docker-container-path-stat";

/// dockerd's `ArchiveFormValues`: a path is required.
fn required_path(raw: Option<&str>) -> Result<String, Error> {
    match Query::parse(raw).non_empty("path") {
        Some(p) => Ok(p),
        None => Err(Error::invalid("bad parameter: path cannot be empty")),
    }
}

/// Go's `time.Time` JSON: RFC 3339 with trailing zeros of the fraction dropped.
fn go_time(secs: i64, nanos: u32) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return "0001-01-01T00:00:00Z".into();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The JSON dockerd encodes, in its field order.
pub fn stat_json(stat: &ContainerPathStat) -> String {
    #[derive(Serialize)]
    struct Wire<'a> {
        name: &'a str,
        size: i64,
        mode: u32,
        mtime: String,
        #[serde(rename = "linkTarget")]
        link_target: &'a str,
    }
    serde_json::to_string(&Wire {
        name: &stat.name,
        size: stat.size,
        mode: stat.mode,
        mtime: go_time(stat.mtime_secs, stat.mtime_nanos),
        link_target: &stat.link_target,
    })
    .unwrap_or_default()
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn with_stat(mut resp: Response, stat: &ContainerPathStat) -> Response {
    if let Ok(v) = HeaderValue::from_str(&base64(stat_json(stat).as_bytes())) {
        resp.headers_mut().insert(STAT_HEADER, v);
    }
    resp
}

pub(crate) async fn head(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let path = required_path(raw.as_deref())?;
    let stat = b.container_ops.archive_stat(&id, &path).await?;
    Ok(with_stat(StatusCode::OK.into_response(), &stat))
}

pub(crate) async fn get(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let path = required_path(raw.as_deref())?;
    let (stat, tar) = b.container_ops.archive_get(&id, &path).await?;
    let mut resp = with_stat(Body::from_stream(tar).into_response(), &stat);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// The body is streamed into the extraction, never collected. It goes through a small
/// channel so that when the backend stops early (a refused entry, a missing directory)
/// the rest is still read and dropped: answering with unread input makes clients see
/// EPIPE instead of the error.
pub(crate) async fn put(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let path = required_path(raw.as_deref())?;
    let opts = ArchivePutOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"),
        copy_uid_gid: q.bool("copyUIDGID"),
    };
    let (body, feeder) = crate::images::drained_body(req);
    let result = b.container_ops.archive_put(&id, &path, opts, body).await;
    let _ = feeder.await;
    result?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_header_matches_dockerd_trace() {
        // From reference/api-traces/30_cp.txt.
        let stat = ContainerPathStat {
            name: "h.txt".into(),
            size: 19,
            mode: 420,
            mtime_secs: 1_795_948_965,
            mtime_nanos: 0,
            link_target: String::new(),
        };
        assert_eq!(
            base64(stat_json(&stat).as_bytes()),
            "eyJuYW1lIjoiaC50eHQiLCJzaXplIjoxOSwibW9kZSI6NDIwLCJtdGltZSI6IjIwMjYtMTEtMjlUMTA6NDI6NDVaIiwibGlua1RhcmdldCI6IiJ9"
        );
    }

    #[test]
    fn base64_and_times() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(go_time(0, 120_000_000), "1970-01-01T00:00:00.12Z");
        assert_eq!(go_time(0, 1), "1970-01-01T00:00:00.000000001Z");
    }

    #[test]
    fn path_is_required() {
        assert!(required_path(Some("path=")).is_err());
        assert!(required_path(None).is_err());
        assert_eq!(
            required_path(Some("path=%2Ftmp%2Fa+b")).unwrap(),
            "/tmp/a b"
        );
    }
}
