//! `GET /events`: the engine's event stream, one JSON object per line.

use crate::backend::Backends;
use crate::error::ApiResult;
use crate::query::Query;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use berth_model::api::{parse_filters, EventsOptions};
use berth_model::Error;
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// dockerd's `timetypes.ParseTimestamps`: `seconds[.fraction]`, the fraction scaled to
/// nanoseconds by its number of digits. RFC3339 dates are accepted as well. `None` when
/// empty (unbounded).
pub(crate) fn parse_event_time(key: &str, raw: Option<&str>) -> Result<Option<i64>, Error> {
    let v = match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => return Ok(None),
        Some(v) => v,
    };
    let bad = || Error::invalid(format!("invalid value for {key}: \"{v}\""));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return t.timestamp_nanos_opt().map(Some).ok_or_else(bad);
    }
    let (secs, frac) = match v.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (v, None),
    };
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: i64 = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - f.len() as u32)
        }
        Some(_) => return Err(bad()),
    };
    secs.checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(nanos))
        .map(Some)
        .ok_or_else(bad)
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Headers go out at once (dockerd flushes before subscribing), then every event as its
/// own chunk; the body ends when the backend's stream does, or at `until`.
pub(crate) async fn events(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let since = parse_event_time("since", q.get("since"))?;
    let until = parse_event_time("until", q.get("until"))?;
    if let Some(u) = until {
        if u < since.unwrap_or(0) {
            return Err(Error::invalid(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                q.get("since").unwrap_or(""),
                q.get("until").unwrap_or("")
            ))
            .into());
        }
    }
    let filters = parse_filters(q.get("filters").unwrap_or(""))?;
    let stream = b
        .events
        .events(EventsOptions {
            since,
            until,
            filters,
        })
        .await?;
    let lines = stream.filter_map(|ev| async move {
        let mut line = serde_json::to_vec(&ev).ok()?;
        line.push(b'\n');
        Some(Ok::<_, std::convert::Infallible>(Bytes::from(line)))
    });
    let body = match until {
        Some(u) => {
            let left = Duration::from_nanos(u.saturating_sub(now_nanos()).max(0) as u64);
            Body::from_stream(lines.take_until(tokio::time::sleep(left)))
        }
        None => Body::from_stream(lines),
    };
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times() {
        let p = |v: &str| parse_event_time("since", Some(v));
        assert_eq!(p("").unwrap(), None);
        assert_eq!(parse_event_time("since", None).unwrap(), None);
        assert_eq!(p("1795949029").unwrap(), Some(1_795_949_029_000_000_000));
        assert_eq!(
            p("1795949029.123456789").unwrap(),
            Some(1_795_949_029_123_456_789)
        );
        assert_eq!(p("1795949029.5").unwrap(), Some(1_795_949_029_500_000_000));
        assert_eq!(p("0").unwrap(), Some(0));
        assert_eq!(
            p("2026-11-29T10:43:57.274027302Z").unwrap(),
            Some(1_795_949_037_274_027_302)
        );
        assert_eq!(
            p("2026-11-29T11:43:57+01:00").unwrap(),
            Some(1_795_949_037_000_000_000)
        );
        for bad in ["abc", "10s", "1.x", "1.", "1.1234567890"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
