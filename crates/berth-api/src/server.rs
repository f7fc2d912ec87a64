//! Serving the router on a unix socket with HTTP upgrades (attach) enabled.

use crate::backend::Backends;
use crate::router::router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long in-flight requests get to finish after shutdown is requested. Long waits
/// (`wait`, `logs -f`, attach sessions) are cut off: clients see the daemon go away, as
/// with dockerd.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve on an already-bound unix listener until `shutdown` resolves (berthd binds the
/// socket and sets its mode, so permissions stay its decision).
pub async fn serve_unix(
    listener: UnixListener,
    backends: Backends,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = TowerToHyperService::new(router(backends));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The docker CLI half-closes its write side after a request body or stdin while
        // still reading; without this hyper would drop the connection on that EOF.
        .half_close(true)
        // Go canonicalises header names (`Api-Version`, `Ostype`); match it byte for byte.
        .title_case_headers(true);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_transient(&e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of descriptors: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let builder = builder.clone();
        let service = service.clone();
        let mut stop_rx = stop_rx.clone();
        conns.spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "connection ended with error");
                    }
                    return;
                }
                _ = stop_rx.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
    Ok(())
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) // ENFILE, EMFILE, ENOBUFS, ENOMEM
}
