//! Restart policies (`no`, `on-failure[:N]`, `always`, `unless-stopped`) with Docker's
//! back-off, and starting `always`/`unless-stopped` containers when berthd starts.

use super::{Container, Status};
use crate::Engine;
use berth_model::api::RestartPolicy;
use std::sync::Arc;
use std::time::Duration;

const FIRST_DELAY_MS: u64 = 100;
const MAX_DELAY_MS: u64 = 60_000;

/// Whether `policy` restarts a container after this exit. A container the user stopped is
/// not restarted (until the daemon starts again, for `always`).
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i64,
    restart_count: i64,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            exit_code != 0
                && (policy.maximum_retry_count == 0 || restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// Docker's back-off: 100 ms, doubled on each restart up to a minute, back to the start
/// when the container had run for 10 s or more.
pub fn next_delay(prev_ms: u64, ran_for: Duration) -> u64 {
    if prev_ms == 0 || ran_for >= Duration::from_secs(10) {
        FIRST_DELAY_MS
    } else {
        (prev_ms * 2).min(MAX_DELAY_MS)
    }
}

fn ran_for(started_at: &str) -> Duration {
    chrono::DateTime::parse_from_rfc3339(started_at)
        .ok()
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or_default()
}

impl Engine {
    /// Called on every exit; schedules a restart when the policy asks for one.
    pub(crate) async fn maybe_restart(self: &Arc<Self>, c: &Arc<Container>) -> bool {
        let delay = {
            let mut inner = c.lock();
            let r = &inner.record;
            if r.host_config.auto_remove
                || !should_restart(
                    &r.host_config.restart_policy,
                    r.state.exit_code,
                    r.restart_count,
                    r.manually_stopped,
                )
            {
                return false;
            }
            let delay = next_delay(inner.backoff_ms, ran_for(&inner.record.state.started_at));
            inner.backoff_ms = delay;
            inner.record.state.status = Status::Restarting;
            delay
        };
        let _ = self.persist(c).await;
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let _op = c.op.lock().await;
            if c.lock().record.state.status != Status::Restarting || engine.get(&c.id).is_err() {
                return; // stopped or removed meanwhile
            }
            c.lock().record.restart_count += 1;
            if let Err(e) = engine.start_locked(&c).await {
                tracing::warn!(container = %c.id, "restart failed: {e}");
                c.lock().record.state.status = Status::Exited;
                let _ = engine.persist(&c).await;
            }
        });
        true
    }

    /// After reconciliation: start what the restart policies say should run.
    pub(crate) async fn start_on_boot(self: &Arc<Self>) {
        for c in self.all_containers() {
            let (status, policy, manual) = {
                let inner = c.lock();
                let r = &inner.record;
                (
                    r.state.status,
                    r.host_config.restart_policy.name.clone(),
                    r.manually_stopped,
                )
            };
            if !matches!(
                status,
                Status::Exited | Status::Restarting | Status::Created
            ) {
                continue;
            }
            if status == Status::Created && policy != "always" {
                continue;
            }
            let wanted = match policy.as_str() {
                "always" => true,
                "unless-stopped" => !manual,
                "on-failure" => status == Status::Restarting,
                _ => false,
            };
            if !wanted {
                continue;
            }
            let _op = c.op.lock().await;
            c.lock().record.manually_stopped = false;
            if let Err(e) = self.start_locked(&c).await {
                tracing::warn!(container = %c.id, "start on boot: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies() {
        assert!(!should_restart(&policy("no", 0), 1, 0, false));
        assert!(should_restart(&policy("always", 0), 0, 50, false));
        assert!(!should_restart(&policy("always", 0), 0, 0, true));
        assert!(should_restart(&policy("unless-stopped", 0), 0, 0, false));
        assert!(should_restart(&policy("on-failure", 2), 1, 1, false));
        assert!(!should_restart(&policy("on-failure", 2), 1, 2, false));
        assert!(!should_restart(&policy("on-failure", 0), 0, 0, false));
        assert!(should_restart(&policy("on-failure", 0), 3, 99, false));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let short = Duration::from_millis(50);
        assert_eq!(next_delay(0, short), 100);
        assert_eq!(next_delay(100, short), 200);
        assert_eq!(next_delay(40_000, short), 60_000);
        assert_eq!(next_delay(60_000, short), 60_000);
        assert_eq!(next_delay(6_400, Duration::from_secs(11)), 100);
    }
}
