//! `rm`: kill when forced, then take away everything the container owned: mounts, the
//! read-write snapshot, its directory, its shim socket and its record.

use super::Status;
use crate::Engine;
use berth_model::{Error, Result};
use std::sync::Arc;

impl Engine {
    pub async fn remove(
        self: &Arc<Self>,
        id_or_name: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        if c.is_running() {
            if !force {
                return Err(Error::conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            if let Some(shim) = c.shim() {
                let _ = shim.kill(9, true).await;
                if c.is_paused() {
                    // A frozen task dies of its SIGKILL only once thawed.
                    let _ = shim.resume().await;
                }
            }
            super::stop::wait_stopped(&c, None).await;
        }
        {
            let mut inner = c.lock();
            if inner.record.state.status == Status::Removing {
                return Ok(());
            }
            inner.record.state.status = Status::Removing;
        }
        let _ = self.persist(&c).await;
        self.net_stop(&c).await;
        let dir = self.container_dir(&c.id);
        let _ = berth_store::unmount(&dir.join("rootfs"));
        // A copy's temporary mount, left behind if berthd died during `cp`.
        let _ = berth_store::unmount(&dir.join("cp-rootfs"));
        let id = c.id.clone();
        self.blocking(move |s| s.remove_rw(&id).map_err(Error::from))
            .await?;
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::internal(format!("remove {}: {e}", dir.display())));
            }
        }
        let _ = std::fs::remove_file(self.shim_socket(&c.id));
        let id = c.id.clone();
        self.blocking(move |s| s.delete_container(&id).map_err(Error::from))
            .await?;
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
        self.drop_execs(&c.id);
        self.release_volumes(&c.id);
        if volumes {
            self.remove_anonymous_volumes(&c.record().mounts).await;
        }
        c.events.send_modify(|e| e.removed = true);
        self.emit_container(&c, "destroy", &[]);
        tracing::info!(container = %c.id, "removed");
        Ok(())
    }
}
