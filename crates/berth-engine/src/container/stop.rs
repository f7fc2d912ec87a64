//! `kill`, `stop` (signal, grace period, then SIGKILL) and `restart`.

use super::Container;
use crate::{signal, Engine};
use berth_model::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Engine {
    pub async fn kill(&self, id_or_name: &str, sig: Option<String>) -> Result<()> {
        let c = self.get(id_or_name)?;
        let sig = match sig.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => signal::parse(s)?,
            None => 9,
        };
        let shim = match c.shim().filter(|_| c.is_running()) {
            Some(s) => s,
            None => {
                return Err(Error::conflict(format!(
                    "Cannot kill container: {id_or_name}: Container {} is not running",
                    c.id
                )))
            }
        };
        if c.is_paused() && sig != 9 {
            return Err(Error::conflict(format!(
                "Container {} is paused. Unpause the container before stopping or killing",
                c.id
            )));
        }
        // As dockerd: a user's kill stops restart policies from bringing it back.
        c.lock().record.manually_stopped = true;
        self.emit_container(&c, "kill", &[("signal", sig.to_string())]);
        shim.kill(sig, false)
            .await
            .map_err(|e| Error::new(e.kind(), e.to_string()))?;
        if c.is_paused() {
            // A frozen task dies of its SIGKILL only once thawed.
            let _ = shim.resume().await;
        }
        if sig == 9 {
            wait_stopped(&c, None).await;
        }
        Ok(())
    }

    pub async fn stop(
        &self,
        id_or_name: &str,
        timeout: Option<i64>,
        sig: Option<String>,
    ) -> Result<()> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, timeout, sig).await
    }

    pub(crate) async fn stop_locked(
        &self,
        c: &Arc<Container>,
        timeout: Option<i64>,
        sig: Option<String>,
    ) -> Result<()> {
        let cancelled = {
            let mut inner = c.lock();
            let restarting = inner.record.state.status == super::Status::Restarting;
            if restarting {
                // Waiting for a policy restart: cancel it.
                inner.record.state.status = super::Status::Exited;
                inner.record.manually_stopped = true;
            }
            restarting
        };
        if cancelled {
            let _ = self.persist(c).await;
            return Ok(());
        }
        if !c.is_running() {
            return Err(Error::not_modified());
        }
        c.lock().record.manually_stopped = true;
        let rec = c.record();
        let sig = match sig
            .filter(|s| !s.is_empty())
            .or(rec.config.stop_signal.clone())
        {
            Some(s) => signal::parse(&s)?,
            None => 15,
        };
        let timeout = timeout
            .or(rec.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let Some(shim) = c.shim() else {
            return Err(Error::not_modified());
        };
        // As dockerd: no probe runs while the container is being stopped.
        self.stop_health(c).await;
        self.emit_container(c, "kill", &[("signal", sig.to_string())]);
        if let Err(e) = shim.kill(sig, false).await {
            tracing::warn!(container = %c.id, "stop signal {sig}: {e}");
        }
        if c.is_paused() {
            // As dockerd: the stop signal is delivered, then the container thawed.
            let _ = shim.resume().await;
        }
        let grace = (timeout >= 0).then(|| Duration::from_secs(timeout as u64));
        if !wait_stopped(c, grace).await {
            tracing::info!(container = %c.id, "did not stop after {timeout}s, killing");
            self.emit_container(c, "kill", &[("signal", "9".to_string())]);
            let _ = shim.kill(9, true).await;
            wait_stopped(c, None).await;
        }
        self.emit_container(c, "stop", &[]);
        Ok(())
    }

    pub async fn restart(
        self: &Arc<Self>,
        id_or_name: &str,
        timeout: Option<i64>,
        sig: Option<String>,
    ) -> Result<()> {
        let c = self.get(id_or_name)?;
        let _op = c.op.lock().await;
        match self.stop_locked(&c, timeout, sig).await {
            Ok(()) => {}
            Err(e) if e.kind == berth_model::ErrorKind::NotModified => {}
            Err(e) => return Err(e),
        }
        self.start_locked(&c).await?;
        self.emit_container(&c, "restart", &[]);
        Ok(())
    }
}

/// Waits until the container is no longer running; `false` if `limit` passed first.
pub(crate) async fn wait_stopped(c: &Container, limit: Option<Duration>) -> bool {
    let mut rx = c.events.subscribe();
    let fut = rx.wait_for(|e| !e.running);
    match limit {
        Some(d) => tokio::time::timeout(d, fut).await.is_ok(),
        None => {
            let _ = fut.await;
            true
        }
    }
}
