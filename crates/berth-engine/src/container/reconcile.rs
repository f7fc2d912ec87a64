//! Startup: rebuild the in-memory table from the store and reconnect to live shims. A
//! container that exited while berthd was down gets the exit code its shim recorded.

use super::{now_rfc3339, Container, Record, Status};
use crate::Engine;
use berth_model::{Error, Result};
use berth_runtime::{ExitStatus, ShimClient};
use std::sync::Arc;

impl Engine {
    pub(crate) async fn reconcile(self: &Arc<Self>) -> Result<()> {
        let rows = self
            .blocking(|s| s.list_containers().map_err(Error::from))
            .await?;
        for (id, bytes) in rows {
            let record: Record = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(container = %id, "unreadable record, skipped: {e}");
                    continue;
                }
            };
            let status = record.state.status;
            let c = Container::new(record);
            self.containers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), c.clone());
            match status {
                Status::Running | Status::Paused | Status::Restarting => {
                    match ShimClient::connect(&self.shim_socket(&id)).await {
                        Ok(shim) => {
                            tracing::info!(container = %id, "reconnected to shim");
                            c.lock().shim = Some(shim.clone());
                            self.spawn_monitor(c.clone(), shim);
                            // As dockerd's restore: `starting` again, the log kept.
                            if status == Status::Running {
                                self.init_health(&c).await;
                            }
                        }
                        Err(e) => {
                            let status = match berth_runtime::read_exit_status(
                                &self.container_dir(&id),
                            ) {
                                Some(st) => st,
                                None => {
                                    tracing::warn!(container = %id, "shim gone and no exit record: {e}");
                                    self.reap_orphan(&c).await;
                                    ExitStatus {
                                        exit_code: 255,
                                        oom_killed: false,
                                        finished_at: now_rfc3339(),
                                    }
                                }
                            };
                            self.on_exit(&c, status).await;
                        }
                    }
                }
                Status::Removing => {
                    let engine = self.clone();
                    tokio::spawn(async move {
                        c.lock().record.state.status = Status::Dead;
                        if let Err(e) = engine.remove(&id, true, false).await {
                            tracing::warn!(container = %id, "finish removal: {e}");
                        }
                    });
                }
                _ => {}
            }
        }
        self.drop_build_leftovers().await;
        Ok(())
    }

    /// A build that berthd's end cut short leaves its RUN container and image views;
    /// nothing can resume them, so they go, as their build would have removed them.
    async fn drop_build_leftovers(self: &Arc<Self>) {
        let leftovers: Vec<String> = self
            .all_containers()
            .into_iter()
            .filter(|c| crate::build::is_build_container(&c.lock().record.config))
            .map(|c| c.id.clone())
            .collect();
        for id in leftovers {
            tracing::info!(container = %id, "removing a RUN container of an interrupted build");
            if let Err(e) = self.remove(&id, true, true).await {
                tracing::warn!(container = %id, "remove leftover build container: {e}");
            }
        }
        match self
            .blocking(|s| Ok(s.remove_rw_with_prefix(crate::build::VIEW_PREFIX)?))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(views = n, "removed image views of an interrupted build"),
            Err(e) => tracing::warn!("remove leftover build views: {e}"),
        }
    }
}
