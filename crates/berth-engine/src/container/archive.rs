//! `docker cp`: `HEAD|GET|PUT /containers/{id}/archive`, for running and stopped
//! containers alike.
//!
//! A running container's merged rootfs is already mounted (by `start`); a stopped one's
//! overlay is mounted beside it for the time of the copy and unmounted afterwards, even on
//! error. The container's `op` lock is held throughout (for a `GET`, until the tar is
//! written, as dockerd holds its container lock), so a copy never races `start`, `rm` or
//! a restart. Every path is then resolved by fd inside that root by
//! `berth_archive::copy`, never by joining strings.

use super::Container;
use crate::Engine;
use berth_archive::copy::{CopyError, CopyRoot, ExtractOptions, PathStat};
use berth_model::{Error, ErrorKind, Result};
use berth_store::MountSpec;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, oneshot};

/// Chunks handed to the client: the tar is produced at the pace it is read.
const CHUNK: usize = 64 * 1024;

/// How `PUT /containers/{id}/archive` extracts.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutArchiveOptions {
    pub no_overwrite_dir_non_dir: bool,
    /// dockerd's `copyUIDGID`: files are owned by the container's `User` (when it has one)
    /// instead of keeping the tar's ids.
    pub copy_uid_gid: bool,
}

/// What a copy needs to reach the container's root, gathered under the `op` lock.
struct Prepared {
    dir: PathBuf,
    running: bool,
    spec: MountSpec,
}

/// The root a copy works in. A temporary mount is detached on drop, whatever happened.
struct CopyMount {
    path: PathBuf,
    temporary: bool,
}

impl Drop for CopyMount {
    fn drop(&mut self) {
        if self.temporary {
            if let Err(e) = berth_store::unmount(&self.path) {
                tracing::warn!(path = %self.path.display(), "unmount after copy: {e}");
            }
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

/// Opens the container's root: the running container's own mount when it is there (the
/// device differs from its directory's), else its overlay mounted for this copy.
fn open_root(p: &Prepared) -> Result<(CopyRoot, CopyMount)> {
    let io_err = |what: String| move |e: io::Error| Error::internal(format!("{what}: {e}"));
    if p.running {
        let rootfs = p.dir.join("rootfs");
        if let Ok(root) = CopyRoot::open(&rootfs) {
            let dir_dev = std::fs::metadata(&p.dir)
                .map_err(io_err(format!("stat {}", p.dir.display())))?
                .dev();
            if root.dev().map_err(io_err("stat rootfs".into()))? != dir_dev {
                let m = CopyMount {
                    path: rootfs,
                    temporary: false,
                };
                return Ok((root, m));
            }
        }
    }
    let target = copy_mount_dir(&p.dir);
    std::fs::create_dir_all(&target).map_err(io_err(format!("create {}", target.display())))?;
    // Left over by a crash mid-copy: never stack a second overlay on it.
    let _ = berth_store::unmount(&target);
    p.spec
        .mount(&target)
        .map_err(io_err("mount rootfs for copy".into()))?;
    let m = CopyMount {
        path: target,
        temporary: true,
    };
    let root = CopyRoot::open(&m.path).map_err(io_err(format!("open {}", m.path.display())))?;
    Ok((root, m))
}

/// dockerd's wording: a missing path names the container as the client did.
fn copy_error(e: CopyError, name: &str) -> Error {
    match e {
        CopyError::NotFound(path) => Error::new(
            ErrorKind::NotFound,
            format!("Could not find the file {path} in container {name}"),
        ),
        e => Error::new(e.kind(), e.to_string()),
    }
}

/// A `Write` that hands full chunks to the async side, blocking while the client is slow.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "copy client went away"))
    }
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("blocking task failed: {e}")))
}

impl Engine {
    /// Gathers what [`open_root`] needs; the caller holds the container's `op` lock.
    async fn prepare_copy(&self, c: &Container, name: &str) -> Result<Prepared> {
        // Removed while this copy waited for the lock.
        if c.events.borrow().removed {
            return Err(Error::no_such_container(name));
        }
        let status = c.lock().record.state.status;
        if matches!(status, super::Status::Removing | super::Status::Dead) {
            return Err(Error::conflict(format!(
                "container {} is marked for removal and cannot be used",
                c.id
            )));
        }
        let id = c.id.clone();
        let spec = self
            .blocking(move |s| s.rw_mount(&id).map_err(Error::from))
            .await?;
        Ok(Prepared {
            dir: self.container_dir(&c.id),
            running: c.is_running(),
            spec,
        })
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn archive_stat(&self, id_or_name: &str, path: &str) -> Result<PathStat> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        let prep = self.prepare_copy(&c, id_or_name).await?;
        let (path, name) = (path.to_string(), id_or_name.to_string());
        run_blocking(move || {
            let (root, _mount) = open_root(&prep)?;
            root.stat(&path).map_err(|e| copy_error(e, &name))
        })
        .await?
    }

    /// `GET /containers/{id}/archive?path=`: the stat (for the header) and the tar, which
    /// is written while the client reads it. Errors found before the first byte get a
    /// status; a failure later ends the stream with an error, aborting the response.
    pub async fn archive_get(
        self: &Arc<Self>,
        id_or_name: &str,
        path: &str,
    ) -> Result<(PathStat, BoxStream<'static, io::Result<Bytes>>)> {
        let c = self.get(id_or_name)?;
        let (ready_tx, ready_rx) = oneshot::channel::<Result<PathStat>>();
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let engine = self.clone();
        let (path, name) = (path.to_string(), id_or_name.to_string());
        let task_c = c.clone();
        tokio::spawn(async move {
            let c = task_c;
            let _op = c.op.lock().await;
            let prep = match engine.prepare_copy(&c, &name).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let id = c.id.clone();
            let _ = run_blocking(move || {
                let (root, mount) = match open_root(&prep) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // The mount goes before the client hears anything final (an error, the
                // end of the tar), so nothing it does next can see it.
                let src = root.source(&path);
                drop(root);
                let src = match src {
                    Ok(s) => s,
                    Err(e) => {
                        drop(mount);
                        let _ = ready_tx.send(Err(copy_error(e, &name)));
                        return;
                    }
                };
                if ready_tx.send(Ok(src.stat().clone())).is_err() {
                    return;
                }
                let mut w = ChannelWriter {
                    tx: tx.clone(),
                    buf: Vec::with_capacity(CHUNK),
                };
                let res = src.write_tar(&mut w).and_then(|w| w.flush());
                drop(mount);
                if let Err(e) = res {
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        tracing::warn!(container = %id, error = %e, "archive failed");
                        let _ = tx.blocking_send(Err(e));
                    }
                }
            })
            .await;
        });
        let stat = ready_rx
            .await
            .map_err(|_| Error::internal("archive task ended early"))??;
        self.emit_container(&c, "archive-path", &[]);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok((stat, Box::pin(stream)))
    }

    /// `PUT /containers/{id}/archive?path=DIR`: extracts the tar `body` into `DIR`.
    pub async fn archive_put(
        &self,
        id_or_name: &str,
        path: &str,
        opts: PutArchiveOptions,
        body: Pin<Box<dyn AsyncRead + Send>>,
    ) -> Result<()> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        let prep = self.prepare_copy(&c, id_or_name).await?;
        let rec = c.record();
        let readonly = rec.host_config.readonly_rootfs;
        let user = Some(rec.config.user.clone()).filter(|u| !u.is_empty());
        let (path, name) = (path.to_string(), id_or_name.to_string());
        run_blocking(move || {
            let (root, mount) = open_root(&prep)?;
            root.check_dest(&path).map_err(|e| copy_error(e, &name))?;
            if readonly {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "container rootfs is marked read-only",
                ));
            }
            let chown = match (&user, opts.copy_uid_gid) {
                (Some(u), true) => {
                    let r = berth_runtime::spec::resolve_user(&mount.path, u)
                        .map_err(|e| Error::new(e.kind(), e.to_string()))?;
                    Some((r.uid, r.gid))
                }
                _ => None,
            };
            let xopts = ExtractOptions {
                no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                chown,
                ..Default::default()
            };
            let reader = tokio_util::io::SyncIoBridge::new(body);
            let res = root.extract(&path, reader, xopts);
            drop(root);
            drop(mount);
            res.map(drop).map_err(|e| copy_error(e, &name))
        })
        .await??;
        self.emit_container(&c, "extract-to-dir", &[]);
        Ok(())
    }
}

/// Where a stopped container's rootfs is mounted during a copy.
fn copy_mount_dir(container_dir: &Path) -> PathBuf {
    container_dir.join("cp-rootfs")
}
