//! The token endpoint: checks basic credentials and issues a bearer token for the scopes
//! asked (`GET /token?service=&scope=...`, as docker and skopeo call it; also the OAuth2
//! password grant on `POST /token`).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{self, Access, Claims, SERVICE};
use super::error::ApiError;
use super::Shared;

pub async fn get_token(
    State(s): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let scopes: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::parse_basic);
    issue(&s, creds, &scopes)
}

pub async fn post_token(State(s): State<Shared>, body: Bytes) -> Response {
    let mut scopes = Vec::new();
    let (mut user, mut pass, mut grant) = (None, None, String::new());
    for (k, v) in url::form_urlencoded::parse(&body) {
        match &*k {
            "scope" => scopes.push(v.into_owned()),
            "username" => user = Some(v.into_owned()),
            "password" => pass = Some(v.into_owned()),
            "grant_type" => grant = v.into_owned(),
            _ => {}
        }
    }
    if grant != "password" {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "only the password grant is supported",
        )
        .into_response();
    }
    issue(&s, user.zip(pass), &scopes)
}

fn issue(s: &Shared, creds: Option<(String, String)>, scopes: &[String]) -> Response {
    let requested = auth::parse_scopes(scopes);
    let user = match (&s.htpasswd, creds) {
        (None, creds) => creds.map(|c| c.0).unwrap_or_default(),
        (Some(users), Some((u, p))) => {
            if !users.verify(&u, &p) {
                return unauthorized("invalid username or password");
            }
            u
        }
        (Some(_), None) if s.cfg.anonymous_read => String::new(),
        (Some(_), None) => return unauthorized("authentication required"),
    };
    // Grant the asked actions the user may have: everything for users, pull for read-only
    // users and anonymous readers. Unknown types and actions are dropped, not refused, as
    // Docker's token servers do.
    let read_only =
        s.htpasswd.is_some() && (user.is_empty() || s.cfg.read_only_users.contains(&user));
    let access: Vec<Access> = requested
        .into_iter()
        .filter(|a| a.kind == "repository" || a.kind == "registry")
        .map(|mut a| {
            a.actions.retain(|x| {
                matches!(x.as_str(), "pull" | "push" | "delete" | "*")
                    && (!read_only || x == "pull")
            });
            a
        })
        .filter(|a| !a.actions.is_empty())
        .collect();
    let now = chrono::Utc::now();
    let ttl = s.cfg.token_ttl_secs.max(60);
    let claims = Claims {
        iss: SERVICE.into(),
        sub: user,
        aud: SERVICE.into(),
        exp: now.timestamp() + ttl as i64,
        iat: now.timestamp(),
        access,
    };
    let token = s.signer.sign(&claims);
    axum::Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": ttl,
        "issued_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
    .into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut e = ApiError::unauthorized(format!(r#"Basic realm="{SERVICE}""#));
    e.message = message.to_string();
    e.into_response()
}
