//! Routing and access checks. Repository names contain slashes, so everything under `/v2/`
//! goes to one catch-all handler that parses the path from the right.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use super::auth::{self, SERVICE};
use super::error::ApiError;
use super::storage::valid_name;
use super::{api_version_header, blobs, manifests, search, token, Shared};

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v2", any(base))
        .route("/v2/", any(base))
        .route("/v2/{*path}", any(dispatch))
        .route("/token", get(token::get_token).post(token::post_token))
        .route("/v1/search", get(search::search))
        .route("/v1/_ping", get(v1_ping))
        .layer(axum::middleware::map_response(|r: Response| async move {
            api_version_header(r)
        }))
        .layer(axum::middleware::map_request(host_from_authority))
        .with_state(state)
}

async fn base(State(s): State<Shared>, headers: HeaderMap) -> Response {
    match authorize(&s, &headers, None, false) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// HTTP/2 carries the host in `:authority` (the URI), not in `Host`; the token realm is
/// built from `Host`, so fill it in.
async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(header::HOST) {
        let authority = req.uri().authority().map(|a| a.as_str().to_string());
        if let Some(v) = authority.and_then(|a| a.parse().ok()) {
            req.headers_mut().insert(header::HOST, v);
        }
    }
    req
}

/// dockerd pings `/v1/_ping` before it searches a registry other than Docker Hub; a
/// standalone answer tells it no index server is involved.
async fn v1_ping() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::HeaderName::from_static("x-docker-registry-standalone"),
                "true",
            ),
        ],
        r#"{"standalone":true}"#,
    )
        .into_response()
}

/// What a `/v2/...` path asks for.
enum Target<'a> {
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Upload(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

/// Builds a target from the name and the path's last segment.
type MakeTarget<'a> = fn(&'a str, &'a str) -> Target<'a>;

fn parse_target<'a>(path: &'a str) -> Option<Target<'a>> {
    if path == "_catalog" {
        return Some(Target::Catalog);
    }
    if let Some(name) = path.strip_suffix("/tags/list") {
        return Some(Target::Tags(name));
    }
    if let Some(name) = path
        .strip_suffix("/blobs/uploads")
        .or_else(|| path.strip_suffix("/blobs/uploads/"))
    {
        return Some(Target::Upload(name, ""));
    }
    let split = |marker: &str| {
        path.rfind(marker)
            .map(|i| (&path[..i], &path[i + marker.len()..]))
    };
    if let Some((name, id)) = split("/blobs/uploads/") {
        if !id.contains('/') {
            return Some(Target::Upload(name, id));
        }
    }
    let makers: [(&str, MakeTarget<'a>); 3] = [
        ("/manifests/", Target::Manifest),
        ("/blobs/", Target::Blob),
        ("/referrers/", Target::Referrers),
    ];
    for (marker, make) in makers {
        if let Some((name, rest)) = split(marker) {
            if !rest.is_empty() && !rest.contains('/') {
                return Some(make(name, rest));
            }
        }
    }
    None
}

async fn dispatch(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match route(s, method, uri, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(
    s: Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let query = uri.query().unwrap_or_default();
    let target = parse_target(path).ok_or_else(ApiError::not_found)?;
    let name = match &target {
        Target::Catalog => {
            authorize(&s, &headers, Some(("registry", "catalog")), false)?;
            if method != Method::GET {
                return Err(ApiError::unsupported("catalog is read only"));
            }
            return manifests::catalog(&s, query);
        }
        Target::Tags(n)
        | Target::Manifest(n, _)
        | Target::Upload(n, _)
        | Target::Blob(n, _)
        | Target::Referrers(n, _) => *n,
    };
    if !valid_name(name) {
        return Err(ApiError::name_invalid(name));
    }
    let write = !matches!(method, Method::GET | Method::HEAD);
    authorize(&s, &headers, Some(("repository", name)), write)?;
    match (target, method) {
        (Target::Tags(_), Method::GET) => manifests::tags(&s, name, query),
        (Target::Manifest(_, r), Method::GET) => manifests::get(&s, name, r, false),
        (Target::Manifest(_, r), Method::HEAD) => manifests::get(&s, name, r, true),
        (Target::Manifest(_, r), Method::PUT) => manifests::put(&s, name, r, &headers, body).await,
        (Target::Manifest(_, r), Method::DELETE) => manifests::delete(&s, name, r),
        (Target::Referrers(_, d), Method::GET) => manifests::referrers(&s, name, d, query),
        (Target::Blob(_, d), Method::GET) => blobs::get(&s, name, d, &headers, false).await,
        (Target::Blob(_, d), Method::HEAD) => blobs::get(&s, name, d, &headers, true).await,
        (Target::Blob(_, d), Method::DELETE) => blobs::delete(&s, name, d),
        (Target::Upload(_, ""), Method::POST) => {
            blobs::start_upload(&s, name, query, &headers, body).await
        }
        (Target::Upload(_, id), Method::PATCH) if !id.is_empty() => {
            blobs::patch_upload(&s, name, id, &headers, body).await
        }
        (Target::Upload(_, id), Method::PUT) if !id.is_empty() => {
            blobs::put_upload(&s, name, id, query, body).await
        }
        (Target::Upload(_, id), Method::GET) if !id.is_empty() => {
            blobs::upload_status(&s, name, id)
        }
        (Target::Upload(_, id), Method::DELETE) if !id.is_empty() => {
            blobs::cancel_upload(&s, name, id)
        }
        (_, m) => Err(ApiError::unsupported(format!("{m} {}", uri.path()))),
    }
}

/// Checks a request's credentials. `scope` is `(type, name)`: a repository (pull for
/// reads, push for writes) or the catalog; `None` asks only "who are you" (`/v2/`).
/// Without acceptable credentials the answer is 401 with a Bearer challenge pointing at our
/// token endpoint, which is what sends docker and skopeo through the token flow.
pub(crate) fn authorize(
    s: &Shared,
    headers: &HeaderMap,
    scope: Option<(&str, &str)>,
    write: bool,
) -> Result<(), ApiError> {
    let Some(users) = &s.htpasswd else {
        return Ok(());
    };
    let action = if write { "push" } else { "pull" };
    let challenge = |error: Option<&str>| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let scheme = if s.tls { "https" } else { "http" };
        let mut c = format!(r#"Bearer realm="{scheme}://{host}/token",service="{SERVICE}""#);
        if let Some((kind, name)) = scope {
            let actions = match (kind, write) {
                ("registry", _) => "*",
                (_, true) => "pull,push",
                (_, false) => "pull",
            };
            c.push_str(&format!(r#",scope="{kind}:{name}:{actions}""#));
        }
        if let Some(e) = error {
            c.push_str(&format!(r#",error="{e}""#));
        }
        c
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match value {
        Some(v) if v.starts_with("Basic ") || v.starts_with("basic ") => {
            let Some((user, pass)) = auth::parse_basic(v) else {
                return Err(ApiError::unauthorized(challenge(None)));
            };
            if !users.verify(&user, &pass) {
                return Err(ApiError::unauthorized(challenge(None)));
            }
            if write && s.cfg.read_only_users.contains(&user) {
                return Err(ApiError::denied(format!("user {user} may only pull")));
            }
            Ok(())
        }
        Some(v) if v.starts_with("Bearer ") || v.starts_with("bearer ") => {
            let Some(claims) = s.signer.verify(v[7..].trim()) else {
                return Err(ApiError::unauthorized(challenge(Some("invalid_token"))));
            };
            let ok = match scope {
                None => true,
                // Any authenticated user may list repositories; anonymous ones when reads
                // are open.
                Some(("registry", _)) => !claims.sub.is_empty() || s.cfg.anonymous_read,
                Some((kind, name)) => {
                    claims.allows(kind, name, action)
                        || (write && claims.allows(kind, name, "delete"))
                }
            };
            if ok {
                return Ok(());
            }
            if !claims.sub.is_empty() && write && s.cfg.read_only_users.contains(&claims.sub) {
                return Err(ApiError::denied(format!(
                    "user {} may only pull",
                    claims.sub
                )));
            }
            let mut e = ApiError::unauthorized(challenge(Some("insufficient_scope")));
            if !claims.sub.is_empty() {
                e.message = format!(
                    "authentication required: token lacks {action} on {name}",
                    name = scope.map(|s| s.1).unwrap_or_default()
                );
            }
            Err(e)
        }
        _ if s.cfg.anonymous_read && !write && scope.is_some() => Ok(()),
        _ => Err(ApiError::unauthorized(challenge(None))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_from_the_right() {
        assert!(matches!(
            parse_target("a/b/manifests/v1"),
            Some(Target::Manifest("a/b", "v1"))
        ));
        assert!(matches!(
            parse_target("a/blobs/c/blobs/sha256:x"),
            Some(Target::Blob("a/blobs/c", "sha256:x"))
        ));
        assert!(matches!(
            parse_target("a/b/blobs/uploads/"),
            Some(Target::Upload("a/b", ""))
        ));
        assert!(matches!(
            parse_target("a/blobs/uploads/u1"),
            Some(Target::Upload("a", "u1"))
        ));
        assert!(matches!(
            parse_target("x/y/tags/list"),
            Some(Target::Tags("x/y"))
        ));
        assert!(matches!(parse_target("_catalog"), Some(Target::Catalog)));
        assert!(matches!(
            parse_target("x/referrers/sha256:1"),
            Some(Target::Referrers("x", "sha256:1"))
        ));
        assert!(parse_target("x/unknown").is_none());
    }
}
