//! `POST /build` (the legacy builder's API, which the docker CLI uses when `/_ping` does
//! not advertise BuildKit) and `POST /build/prune`.

use crate::backend::{Backends, BuildMessage, BuildOptions};
use crate::error::{json_ok, ApiResult};
use crate::images::drained_body;
use crate::query::Query;
use crate::router::ApiVersion;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use berth_model::{Error, Reference};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::convert::Infallible;

/// `POST /build?t=&dockerfile=&buildargs=...` with the context tar as the body.
///
/// The options are checked before the backend sees the body, and whatever goes wrong
/// before the first message still drains the body: a client still uploading a large
/// context would otherwise see EPIPE instead of the error.
pub(crate) async fn build(State(b): State<Backends>, req: Request) -> ApiResult {
    let q = Query::parse(req.uri().query());
    let version = req
        .extensions()
        .get::<ApiVersion>()
        .cloned()
        .unwrap_or_else(|| ApiVersion(berth_model::api::API_VERSION.to_string()));
    // `X-Registry-Config` (base64 JSON credentials for FROM pulls) is not used yet.
    let (context, feeder) = drained_body(req);
    let started = match parse_options(&q, &version) {
        Ok(opts) => b.build.build(context, opts).await,
        Err(e) => {
            drop(context);
            Err(e)
        }
    };
    let messages = match started {
        Ok(m) => m,
        Err(e) => {
            let _ = feeder.await;
            return Err(e.into());
        }
    };
    // The feeder keeps draining on its own; the backend may still be reading the context
    // while the first messages go out.
    drop(feeder);
    let body = Body::from_stream(messages.map(|m| Ok::<Bytes, Infallible>(encode_message(&m))));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /build/prune?all=`: `keep-storage` and `filters` are accepted and not acted on.
pub(crate) async fn prune(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    json_ok(&b.build.prune_cache(q.bool("all")).await?)
}

/// dockerd 20.10's `newImageBuildOptions`, then the tag check its builder does before any
/// output, in the same order so the same request fails with the same complaint.
fn parse_options(q: &Query, version: &ApiVersion) -> Result<BuildOptions, Error> {
    let shm_size = q.number::<i64>("shmsize")?;
    let build_args = json_param::<BTreeMap<String, Option<String>>>(q, "buildargs", "build args")?;
    let labels = json_param::<BTreeMap<String, String>>(q, "labels", "labels")?;
    let cache_from = json_param::<Vec<String>>(q, "cachefrom", "cachefrom")?;
    match q.get("version").unwrap_or("") {
        "" | "1" => {}
        "2" => {
            return Err(Error::invalid(
                "buildkit is not supported by this daemon (version=2): \
                 build with the legacy builder (DOCKER_BUILDKIT=0)",
            ))
        }
        v => return Err(Error::invalid(format!("invalid version {v}"))),
    }
    let mut tags = Vec::new();
    for t in q.get_all("t").into_iter().filter(|t| !t.is_empty()) {
        let r = Reference::parse_normalized(&t).map_err(|e| Error::invalid(e.to_string()))?;
        if r.digest.is_some() {
            return Err(Error::invalid(format!(
                "build tag cannot contain a digest: {t}"
            )));
        }
        tags.push(t);
    }
    Ok(BuildOptions {
        tags,
        dockerfile: q
            .non_empty("dockerfile")
            .unwrap_or_else(|| "Dockerfile".to_string()),
        build_args: build_args.unwrap_or_default(),
        no_cache: q.bool("nocache"),
        // dockerd removes intermediate containers unless told not to, and `rm=` counts as
        // not told.
        rm: q.get("rm").is_none_or(|v| v.is_empty()) || q.bool("rm"),
        force_rm: q.bool("forcerm"),
        labels: labels.unwrap_or_default(),
        target: q.non_empty("target"),
        pull: q.bool("pull"),
        quiet: q.bool("q"),
        cache_from: cache_from.unwrap_or_default(),
        // Older clients put other things there; dockerd reads it from API 1.32 on.
        platform: q.non_empty("platform").filter(|_| version.at_least("1.32")),
        remote: q.non_empty("remote"),
        extra_hosts: q
            .get_all("extrahosts")
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect(),
        network_mode: q.non_empty("networkmode"),
        shm_size: shm_size.filter(|&n| n != 0),
        // dockerd's `Int64ValueOrZero`: a malformed value is silently 0, which means unset.
        memory: lenient_number(q, "memory"),
        cpu_shares: lenient_number(q, "cpushares"),
        squash: q.bool("squash"),
    })
}

fn lenient_number(q: &Query, key: &str) -> Option<i64> {
    q.number::<i64>(key).ok().flatten().filter(|&n| n != 0)
}

/// A JSON-valued parameter; absent, empty and `null` are all `None`, as Go's
/// `json.Unmarshal` leaves the value unset for `null`.
fn json_param<T: DeserializeOwned>(q: &Query, key: &str, what: &str) -> Result<Option<T>, Error> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => serde_json::from_str::<Option<T>>(v)
            .map_err(|e| Error::invalid(format!("error reading {what} ({key}): {e}"))),
    }
}

/// One message as dockerd's `jsonmessage` writes it: one JSON object and CRLF per chunk.
fn encode_message(m: &BuildMessage) -> Bytes {
    #[derive(Serialize)]
    struct Detail<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<i64>,
        message: &'a str,
    }
    // Field order is Go's struct order: `errorDetail` before `error`.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Failure<'a> {
        error_detail: Detail<'a>,
        error: &'a str,
    }
    let json = match m {
        BuildMessage::Stream(s) => serde_json::to_string(&serde_json::json!({ "stream": s })),
        BuildMessage::Aux(v) => serde_json::to_string(&serde_json::json!({ "aux": v })),
        BuildMessage::Error { message, code } => serde_json::to_string(&Failure {
            error_detail: Detail {
                code: code.filter(|c| *c != 0),
                message,
            },
            error: message,
        }),
    };
    // Serialising a string map cannot fail; an empty object keeps the stream well formed
    // should that ever change.
    let mut out = go_escape(&json.unwrap_or_else(|_| "{}".to_string())).into_bytes();
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

/// serde_json's output rewritten to what Go's `encoding/json` writes: `<`, `>`, `&`, U+2028
/// and U+2029 as `\u` escapes (HTML-safe by default in Go), and `\b`, `\f` as `\u0008`,
/// `\u000c` (Go before 1.22, which dockerd 20.10 was built with). Clients compare build
/// output byte for byte with dockerd's in tests. Those characters only occur inside
/// strings in serde_json's output, so a plain scan that skips existing escapes is enough.
pub(crate) fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    let mut chars = json.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('b') => out.push_str("\\u0008"),
                Some('f') => out.push_str("\\u000c"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let s = serde_json::to_string(&serde_json::json!({
            "stream": "RUN a > b && c < d \\b \u{8}\u{c}\u{2028}\u{2029}\n\t\"x\"\u{1}"
        }))
        .unwrap();
        assert_eq!(
            go_escape(&s),
            r#"{"stream":"RUN a \u003e b \u0026\u0026 c \u003c d \\b \u0008\u000c\u2028\u2029\n\t\"x\"\u0001"}"#
        );
        assert_eq!(go_escape(r#"{"a":"\\"}"#), r#"{"a":"\\"}"#);
    }

    #[test]
    fn message_framing() {
        assert_eq!(
            &encode_message(&BuildMessage::Stream(" ---> c5d0e22aaf7a\n".into()))[..],
            b"{\"stream\":\" ---\\u003e c5d0e22aaf7a\\n\"}\r\n"
        );
        assert_eq!(
            &encode_message(&BuildMessage::Error {
                message: "no <such> file".into(),
                code: None
            })[..],
            b"{\"errorDetail\":{\"message\":\"no \\u003csuch\\u003e file\"},\
              \"error\":\"no \\u003csuch\\u003e file\"}\r\n"
        );
        assert_eq!(
            &encode_message(&BuildMessage::Aux(serde_json::json!({"ID": "sha256:ab"})))[..],
            b"{\"aux\":{\"ID\":\"sha256:ab\"}}\r\n"
        );
    }

    fn opts(q: &str) -> Result<BuildOptions, Error> {
        parse_options(&Query::parse(Some(q)), &ApiVersion("1.41".into()))
    }

    #[test]
    fn defaults() {
        let o = opts("").unwrap();
        assert_eq!(o.dockerfile, "Dockerfile");
        assert!(o.rm && !o.force_rm && !o.no_cache && !o.quiet);
        assert!(opts("rm=").unwrap().rm);
        assert!(!opts("rm=0").unwrap().rm);
        assert!(!opts("rm=false").unwrap().rm);
        assert!(opts("rm=True").unwrap().rm);
        assert_eq!(opts("buildargs=null").unwrap().build_args.len(), 0);
        assert_eq!(opts("memory=abc").unwrap().memory, None);
        assert!(opts("shmsize=abc").is_err());
        assert!(opts("version=3").is_err());
        assert!(opts(
            "t=a@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        )
        .is_err());
        let old = parse_options(
            &Query::parse(Some("platform=linux/amd64")),
            &ApiVersion("1.31".into()),
        )
        .unwrap();
        assert_eq!(old.platform, None);
    }
}
