//! `export` (the container's flattened filesystem as a tar) and `diff` (its changes).
//!
//! Both read the snapshot directories directly through `berth_archive::layers` instead of
//! mounting the overlay (see that module for why), so they work the same for running and
//! stopped containers and never leave a mount behind.

use crate::Engine;
use berth_archive::layers::{self, ChangeKind, LayerStack};
use berth_model::{Error, Result};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::io::{self, Write};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// One change as the API reports it: Docker's kind numbers (0 modified, 1 added, 2 deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsChange {
    pub path: String,
    pub kind: u8,
}

/// Chunks of this size go to the client: big enough to keep syscalls few, small enough
/// that a slow client holds little memory (the channel holds a few chunks at most).
pub(crate) const CHUNK: usize = 64 * 1024;

/// A `Write` that hands full chunks to the async side, blocking when the client is slow:
/// the tar is produced at the pace it is consumed, never built in memory.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub(crate) fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "export client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// What the runtime creates in the read-write layer to mount over (and what lives on
/// mounts anyway): dockerd puts these in an init layer below the container's, so its diff
/// never lists them.
pub(crate) const RUNTIME_PATHS: &[&str] = &[
    "/.dockerenv",
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

impl Engine {
    /// The container's read-write dir and the lower layers, topmost first.
    async fn layer_dirs(&self, id_or_name: &str) -> Result<(String, Vec<PathBuf>, PathBuf)> {
        let c = self.get(id_or_name)?;
        let id = c.id.clone();
        let spec = self
            .blocking({
                let id = id.clone();
                move |s| s.rw_mount(&id).map_err(Error::from)
            })
            .await?;
        Ok((id, spec.lower, spec.upper))
    }

    /// `GET /containers/{id}/export`. The container is looked up (and a missing rootfs
    /// reported) before the stream starts, so those errors get a proper status; a read
    /// error later ends the stream with an error, which aborts the response.
    pub async fn export(&self, id_or_name: &str) -> Result<BoxStream<'static, io::Result<Bytes>>> {
        let (id, lower, upper) = self.layer_dirs(id_or_name).await?;
        let mut all = vec![upper];
        all.extend(lower);
        let stack = LayerStack::new(all);
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let res = stack.write_tar(&mut w).and_then(|w| w.flush());
            if let Err(e) = res {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    tracing::warn!(container = %id, error = %e, "export failed");
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )))
    }

    /// `GET /containers/{id}/changes`, sorted by path as dockerd returns them.
    pub async fn changes(&self, id_or_name: &str) -> Result<Vec<FsChange>> {
        let (_, lower, upper) = self.layer_dirs(id_or_name).await?;
        let list = tokio::task::spawn_blocking(move || {
            layers::changes(&upper, &LayerStack::new(lower), RUNTIME_PATHS)
        })
        .await
        .map_err(|e| Error::internal(format!("blocking task failed: {e}")))?
        .map_err(|e| Error::internal(format!("compute changes: {e}")))?;
        Ok(list
            .into_iter()
            .map(|c| FsChange {
                path: c.path,
                kind: match c.kind {
                    ChangeKind::Modified => 0,
                    ChangeKind::Added => 1,
                    ChangeKind::Deleted => 2,
                },
            })
            .collect())
    }
}
