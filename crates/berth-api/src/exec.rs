//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `POST /exec/{id}/resize` and
//! `GET /exec/{id}/json`: running extra processes in a container, as dockerd 20.10 serves
//! them (traces 08_exec, 09_exec_stdin, 37_exec_tty).

use crate::attach::{session, session_after_upgrade, wants_upgrade};
use crate::backend::Backends;
use crate::containers::{check_json_content_type, read_body};
use crate::error::{json_ok, json_response, ApiResult};
use crate::lifecycle::dimensions;
use crate::query::Query;
use crate::router::set_common_headers;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use berth_model::api::{ExecConfig, ExecStartConfig};
use berth_model::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Exec bodies are tiny; the cap only stops a runaway client.
const MAX_EXEC_BODY: usize = 1 << 20;

/// `{"Id":"..."}`, Go's `types.IDResponse`.
#[derive(Serialize)]
struct IdResponse<'a> {
    #[serde(rename = "Id")]
    id: &'a str,
}

/// dockerd decodes these bodies with `json.NewDecoder(..).Decode`: an empty body is the
/// client's fault ("got EOF"), `null` leaves every field at its zero value, unknown
/// fields are ignored.
fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid("got EOF while reading request body"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?;
    if value.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(value).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

/// The empty-command check is dockerd's router's (`execCommandError`), made before the
/// container is looked up, so it belongs here rather than in the engine.
fn parse_exec_config(body: &[u8]) -> Result<ExecConfig, Error> {
    let cfg: ExecConfig = parse_body(body)?;
    if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(Error::invalid("No exec command specified"));
    }
    Ok(cfg)
}

pub(crate) async fn create(
    State(b): State<Backends>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(req).await?;
    check_json_content_type(&headers, &body)?;
    let cfg = parse_exec_config(&body)?;
    let exec_id = b.exec.create(&id, cfg).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &IdResponse { id: &exec_id },
    ))
}

/// Errors from the backend (404 no such exec, 409 not running / already started) are JSON
/// answers because the backend is asked before anything is hijacked. With `Detach` the
/// answer is an empty 200 once the process started; otherwise the session is served like
/// an attach, with the framing the backend chose (`io.tty`). Unlike attach's, exec's 101
/// carries the version headers, because dockerd copies them onto the hijacked connection.
pub(crate) async fn start(
    State(b): State<Backends>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let upgrade = wants_upgrade(&req);
    let (parts, body) = req.into_parts();
    // The body is read to its end before the upgrade so no byte of it reaches the
    // hijacked stream as stdin.
    let body = axum::body::to_bytes(body, MAX_EXEC_BODY)
        .await
        .map_err(|e| Error::invalid(format!("reading request body: {e}")))?;
    check_json_content_type(&parts.headers, &body)?;
    let cfg: ExecStartConfig = parse_body(&body)?;
    let mut req = Request::from_parts(parts, Body::empty());
    if cfg.detach || !upgrade {
        let detach = cfg.detach;
        let io = b.exec.start(&id, cfg).await?;
        if detach {
            return Ok(StatusCode::OK.into_response());
        }
        return Ok(session(&mut req, io, false, format!("exec {id}")));
    }
    // What can be refused is refused as JSON before the hijack; the process itself
    // starts after it (see `session_after_upgrade`).
    let info = b.exec.inspect(&id).await?;
    if info.running || info.pid != 0 || info.exit_code.is_some() {
        return Err(Error::conflict(format!("Error: Exec command {id} has already run")).into());
    }
    let tty = info.process_config.tty || cfg.tty;
    let exec = b.exec.clone();
    let start_id = id.clone();
    let start = async move { exec.start(&start_id, cfg).await };
    let mut resp = session_after_upgrade(&mut req, tty, start, format!("exec {id}"));
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        set_common_headers(resp.headers_mut());
    }
    Ok(resp)
}

/// 200 with an empty body, like the container resize: dockerd's handler writes no status
/// of its own, so Go's default 200 is what clients see (and what the spec now says).
pub(crate) async fn resize(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (h, w) = dimensions(&Query::parse(raw.as_deref()))?;
    b.exec.resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

pub(crate) async fn inspect(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    json_ok(&b.exec.inspect(&id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_config_errors() {
        assert_eq!(
            parse_exec_config(b"").unwrap_err().message,
            "got EOF while reading request body"
        );
        assert!(parse_exec_config(b"{")
            .unwrap_err()
            .message
            .starts_with("invalid JSON: "));
        for body in [&b"null"[..], b"{}", br#"{"Cmd":[]}"#, br#"{"Cmd":null}"#] {
            assert_eq!(
                parse_exec_config(body).unwrap_err().message,
                "No exec command specified",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let ok = parse_exec_config(br#"{"Cmd":["echo","hi"],"Unknown":1,"Env":null}"#).unwrap();
        assert_eq!(ok.cmd, Some(vec!["echo".to_string(), "hi".to_string()]));
    }

    #[test]
    fn start_config() {
        let cfg: ExecStartConfig = parse_body(b"{\"Detach\":true,\"Tty\":false}\n").unwrap();
        assert!(cfg.detach);
        let cfg: ExecStartConfig = parse_body(b"null").unwrap();
        assert!(!cfg.detach && !cfg.tty);
        assert!(parse_body::<ExecStartConfig>(b" ").is_err());
    }
}
