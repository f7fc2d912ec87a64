//! `GET /containers/{id}/logs`.

use crate::backend::Backends;
use crate::error::ApiResult;
use crate::query::Query;
use crate::stream::encode;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use berth_model::api::LogsOptions;
use berth_model::Error;
use futures_util::StreamExt;

/// `tail` as dockerd reads it: a count, anything else (`all`, garbage, negative) is all.
fn parse_tail(v: Option<&str>) -> Option<usize> {
    v.and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .map(|n| n as usize)
}

/// `since`/`until` arrive as Unix seconds with optional fraction (the CLI converts
/// durations and dates itself); empty means unbounded.
fn parse_time(q: &Query, key: &str) -> Result<f64, Error> {
    match q.get(key).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(0.0),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| Error::invalid(format!("invalid value for {key}: \"{v}\""))),
    }
}

/// dockerd 20.10 sends no `Content-Type` here (trace 10_logs), each chunk of output as its
/// own HTTP chunk, multiplexed unless the container has a TTY.
pub(crate) async fn logs(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let opts = LogsOptions {
        follow: q.bool("follow"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        since: parse_time(&q, "since")?,
        until: parse_time(&q, "until")?,
        timestamps: q.bool("timestamps"),
        tail: parse_tail(q.get("tail")),
        details: q.bool("details"),
    };
    if !(opts.stdout || opts.stderr) {
        return Err(Error::invalid("Bad parameters: you must choose at least one stream").into());
    }
    let logs = b.containers.logs(&id, opts).await?;
    let body = encode(logs.output, logs.tty).map(Ok::<_, std::convert::Infallible>);
    Ok(Body::from_stream(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_values() {
        assert_eq!(parse_tail(None), None);
        assert_eq!(parse_tail(Some("all")), None);
        assert_eq!(parse_tail(Some("5")), Some(5));
        assert_eq!(parse_tail(Some("-1")), None);
        assert_eq!(parse_tail(Some("0")), Some(0));
    }

    #[test]
    fn times() {
        let q = Query::parse(Some("since=1700000000.5&until=&bad=x"));
        assert_eq!(parse_time(&q, "since").unwrap(), 1_700_000_000.5);
        assert_eq!(parse_time(&q, "until").unwrap(), 0.0);
        assert!(parse_time(&q, "bad").is_err());
    }
}
