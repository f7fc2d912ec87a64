//! `POST /containers/{id}/attach`: the hijacked bidirectional stream, and the session
//! plumbing that `POST /exec/{id}/start` shares with it.

use crate::backend::{AttachIo, Backends};
use crate::error::ApiResult;
use crate::query::Query;
use crate::stream::{encode, RAW_STREAM};
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_model::api::AttachOptions;
use futures_util::StreamExt;
use hyper::ext::ReasonPhrase;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long to wait, once output has ended, for the client to half-close before dropping
/// the connection. Closing a unix socket with unread input makes the peer's next read
/// fail with ECONNRESET instead of a clean EOF, which the docker CLI reports as an error.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Backend errors (404, 409) are answered as ordinary JSON errors because the backend is
/// asked before anything is hijacked. With an `Upgrade` header the answer is dockerd's
/// `101 UPGRADED`; without one a client cannot send stdin, so output streams on a plain
/// 200 body.
pub(crate) async fn attach(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    mut req: Request,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let upgrade = wants_upgrade(&req);
    let opts = AttachOptions {
        stdin: upgrade && q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        stream: q.bool("stream"),
        logs: q.bool("logs"),
        detach_keys: q.non_empty("detachKeys"),
    };
    let io = b.containers.attach(&id, opts).await?;
    Ok(session(&mut req, io, upgrade, format!("attach {id}")))
}

/// Whether the client asked to hijack the connection (`Upgrade: tcp`).
pub(crate) fn wants_upgrade(req: &Request) -> bool {
    req.headers().contains_key(header::UPGRADE)
}

/// Serves an attach-like session (container attach, exec start) once the backend has
/// accepted it: with `upgrade` the connection is hijacked (`101 UPGRADED`, client bytes to
/// `io.input`, output back), otherwise the output streams on a plain 200 body and `input`
/// is dropped, because a client that did not upgrade cannot send stdin. `what` names the
/// session in debug logs.
pub(crate) fn session(req: &mut Request, io: AttachIo, upgrade: bool, what: String) -> Response {
    if !upgrade {
        let body = encode(io.output, io.tty).map(Ok::<_, std::convert::Infallible>);
        let mut resp = Body::from_stream(body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
        return resp;
    }
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => pump(TokioIo::new(upgraded), io).await,
            Err(e) => tracing::debug!(session = %what, error = %e, "upgrade failed"),
        }
    });
    switching_protocols()
}

/// Like [`session`] with an upgrade, but the process is started (`start`) only once the
/// 101 head is on the wire, as dockerd does. Clients such as docker-py parse that head
/// through a buffered reader and then read the raw socket: output sent right behind the
/// head lands in that buffer and is lost. A start that fails now is reported on the
/// stream, as dockerd writes it.
pub(crate) fn session_after_upgrade<F>(
    req: &mut Request,
    tty: bool,
    start: F,
    what: String,
) -> Response
where
    F: std::future::Future<Output = berth_model::Result<AttachIo>> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(session = %what, error = %e, "upgrade failed");
                return;
            }
        };
        let mut conn = TokioIo::new(upgraded);
        match start.await {
            Ok(io) => pump(conn, io).await,
            Err(e) => {
                // On the stdout stream, framed when the session is multiplexed.
                let text = format!("{}\r\n", e.message);
                let mut out = Vec::with_capacity(text.len() + 8);
                if !tty {
                    out.extend_from_slice(&[1, 0, 0, 0]);
                    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                let _ = conn.write_all(&out).await;
                let _ = conn.shutdown().await;
            }
        }
    });
    switching_protocols()
}

/// Exactly the head dockerd writes on the hijacked connection.
fn switching_protocols() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp.extensions_mut()
        .insert(ReasonPhrase::from_static(b"UPGRADED"));
    resp
}

/// Copies client bytes to the container's stdin and container output to the client.
///
/// A client EOF (the docker CLI half-closes once its stdin is exhausted, or at once when
/// it has none) shuts the container's stdin down but keeps output flowing; the end of
/// output half-closes our side, then the connection is dropped.
pub(crate) async fn pump<S>(conn: S, io: AttachIo)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    let mut sink = io.input;
    let mut input = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // After the container's stdin fails (it exited or closed it), keep draining so
            // the client's writes do not block; the bytes have nowhere to go.
            if let Some(w) = sink.as_mut() {
                if w.write_all(&buf[..n]).await.is_err() || w.flush().await.is_err() {
                    sink = None;
                }
            }
        }
        if let Some(mut w) = sink {
            let _ = w.shutdown().await;
        }
    });
    let mut out = std::pin::pin!(encode(io.output, io.tty));
    while let Some(bytes) = out.next().await {
        if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
            break;
        }
    }
    let _ = wr.shutdown().await;
    if tokio::time::timeout(CLOSE_GRACE, &mut input).await.is_err() {
        input.abort();
    }
}
