//! Health checks (Docker's `daemon/health.go` semantics): one monitor task per running,
//! unpaused container with a probe, which execs the probe through the container's shim,
//! keeps the last results in `State.Health`, and moves the status between `starting`,
//! `healthy` and `unhealthy`, emitting `health_status` events.
//!
//! The monitor belongs to one run of the container: start (and restore) begins it, and
//! stop, exit and pause end it and wait for it, so no probe outlives the run.

use super::{now_rfc3339, Container, Status};
use crate::Engine;
use berth_model::api::{Health, HealthConfig, HealthcheckResult};
use berth_model::health as cfg;
use berth_runtime::ExecSpec;
use chrono::{DateTime, Utc};
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";
/// The `health` filter's value for containers without a check.
pub const NONE: &str = "none";

/// Probe output kept per result; more is cut and marked with `...`.
const MAX_OUTPUT: usize = 4096;
/// Results kept in `State.Health.Log`.
const MAX_LOG: usize = 5;
/// Starting an exec can wedge; like Docker, that is bounded separately and does not eat
/// into the probe's own timeout.
const EXEC_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a killed probe to be reaped, so dying probes do not pile up but
/// a lost shim cannot hang the monitor.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A running monitor; `stop` ends it (and kills a probe in flight).
pub(crate) struct Monitor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A probe's settings with Docker's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn or_default(ns: i64, default: i64) -> Duration {
    Duration::from_nanos(if ns > 0 { ns } else { default } as u64)
}

impl Probe {
    /// `None` when the container has no check, or it is disabled (`NONE`).
    pub fn from_config(hc: Option<&HealthConfig>) -> Option<Probe> {
        let hc = hc?;
        Some(Probe {
            argv: cfg::probe_command(hc)?,
            interval: or_default(hc.interval, cfg::DEFAULT_INTERVAL_NS),
            timeout: or_default(hc.timeout, cfg::DEFAULT_TIMEOUT_NS),
            start_period: or_default(hc.start_period, 0),
            start_interval: or_default(hc.start_interval, cfg::DEFAULT_START_INTERVAL_NS),
            retries: if hc.retries > 0 {
                hc.retries
            } else {
                cfg::DEFAULT_RETRIES
            },
        })
    }

    /// The wait before the next probe: the interval, or the start interval while the
    /// container is still starting within its start period, never past the period's
    /// end (so the first regular probe comes right when it ends).
    pub fn next_delay(&self, since_start: Duration, status: &str) -> Duration {
        if since_start >= self.start_period {
            return self.interval;
        }
        let remaining = self.start_period - since_start;
        if remaining < self.interval {
            return remaining;
        }
        if status == STARTING {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// Adds a result to the health state; returns the new status when it changed. Failures
/// while still `starting` inside the start period do not count towards `retries`.
pub fn record_result(
    h: &mut Health,
    result: HealthcheckResult,
    retries: i64,
    in_start_period: bool,
) -> Option<String> {
    let old = h.status.clone();
    let ok = result.exit_code == 0;
    h.log.push(result);
    if h.log.len() > MAX_LOG {
        let extra = h.log.len() - MAX_LOG;
        h.log.drain(..extra);
    }
    if ok {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
    } else if !(h.status == STARTING && in_start_period) {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = UNHEALTHY.into();
        }
    }
    (h.status != old).then(|| h.status.clone())
}

/// Probe output up to [`MAX_OUTPUT`] bytes.
#[derive(Default)]
struct Output {
    buf: Vec<u8>,
    truncated: bool,
}

impl Output {
    fn push(&mut self, data: &[u8]) {
        let room = MAX_OUTPUT.saturating_sub(self.buf.len());
        let keep = room.min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// Resolves once `stop` is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    t.and_then(|t| (now - t).to_std().ok()).unwrap_or_default()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn failure(start: DateTime<Utc>, output: String) -> HealthcheckResult {
    HealthcheckResult {
        start: rfc3339(start),
        end: now_rfc3339(),
        exit_code: -1,
        output,
    }
}

/// Kills a probe by pid, but only while that pid is in this container's cgroup, so a
/// pid reused after the probe was reaped is never hit.
fn kill_probe(container_id: &str, pid: i32) {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    if pid > 0 && cgroups.contains(container_id) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

impl Engine {
    /// When the container starts or is restored: reset the status to `starting` (the log
    /// stays) and start the monitor.
    pub(crate) async fn init_health(self: &Arc<Self>, c: &Arc<Container>) {
        if Probe::from_config(c.lock().record.config.healthcheck.as_ref()).is_none() {
            return;
        }
        self.stop_health(c).await;
        {
            let mut inner = c.lock();
            let h = inner
                .record
                .state
                .health
                .get_or_insert_with(Health::default);
            h.status = STARTING.into();
            h.failing_streak = 0;
        }
        self.resume_health(c);
    }

    /// Starts the monitor of a running, unpaused container that has a check and none
    /// running (after start, restore, unpause).
    pub(crate) fn resume_health(self: &Arc<Self>, c: &Arc<Container>) {
        let mut inner = c.lock();
        if inner.health.is_some()
            || inner.record.state.health.is_none()
            || inner.record.state.status != Status::Running
        {
            return;
        }
        let Some(probe) = Probe::from_config(inner.record.config.healthcheck.as_ref()) else {
            return;
        };
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(monitor(self.clone(), c.clone(), probe, rx));
        inner.health = Some(Monitor { stop, task });
    }

    /// Ends the monitor and a probe in flight, and waits for both.
    pub(crate) async fn stop_health(&self, c: &Container) {
        let m = {
            let mut inner = c.lock();
            let m = inner.health.take();
            // Set under the lock, so a result being recorded sees it (see `record_probe`).
            if let Some(m) = &m {
                let _ = m.stop.send(true);
            }
            m
        };
        if let Some(m) = m {
            if let Err(e) = m.task.await {
                tracing::warn!(container = %c.id, "health monitor ended badly: {e}");
            }
        }
    }

    /// Runs the probe once; `None` when stopped meanwhile (the probe is then killed).
    async fn run_probe(
        &self,
        c: &Arc<Container>,
        probe: &Probe,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<HealthcheckResult> {
        let start = Utc::now();
        let Some(shim) = c.shim() else {
            return Some(failure(start, format!("Container {} is not running", c.id)));
        };
        let rec = c.record();
        let mut id = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut id);
        let exec_id = hex::encode(id);
        let spec = ExecSpec {
            exec_id: exec_id.clone(),
            args: probe.argv.clone(),
            env: super::exec::exec_env(&rec, &[], false),
            cwd: rec.config.working_dir.clone(),
            user: rec.config.user.clone(),
            tty: false,
            stdin: false,
            privileged: false,
            console_size: None,
        };
        // Docker's wording: entrypoint, a space, the arguments (so `true ` for a lone one).
        let line = format!("{} {}", probe.argv[0], probe.argv[1..].join(" "));
        let exec_attr = || [("execID", exec_id.clone())];
        self.emit_container(c, &format!("exec_create: {line}"), &exec_attr());
        let session = match tokio::time::timeout(EXEC_START_TIMEOUT, shim.exec(&spec)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Some(failure(start, e.to_string())),
            Err(_) => {
                return Some(failure(
                    start,
                    format!("timed out starting health check for container {}", c.id),
                ))
            }
        };
        self.emit_container(c, &format!("exec_start: {line}"), &exec_attr());
        let mut output = session.output;
        let mut exit = session.exit;
        let mut out = Output::default();
        enum End {
            Exited,
            TimedOut,
            Stopped,
        }
        let deadline = tokio::time::sleep(probe.timeout);
        tokio::pin!(deadline);
        let end = loop {
            tokio::select! {
                chunk = output.recv() => match chunk {
                    Some((_, data)) => out.push(&data),
                    None => break End::Exited,
                },
                _ = &mut deadline => break End::TimedOut,
                _ = stopped(stop) => break End::Stopped,
            }
        };
        if !matches!(end, End::Exited) {
            kill_probe(&c.id, session.pid);
            // Drain while the kill lands, so the exit frame behind the output is read.
            let drain = async {
                while let Some((_, data)) = output.recv().await {
                    out.push(&data);
                }
            };
            let _ = tokio::time::timeout(KILL_WAIT, drain).await;
        }
        let code = tokio::time::timeout(KILL_WAIT, &mut exit)
            .await
            .ok()
            .and_then(|r| r.ok());
        if let Some(code) = code {
            self.emit_container(
                c,
                "exec_die",
                &[("execID", exec_id.clone()), ("exitCode", code.to_string())],
            );
        }
        let text = out.text();
        match end {
            End::Stopped => None,
            End::TimedOut => {
                let limit = cfg::format_go_duration(probe.timeout.as_nanos() as i64);
                let output = if text.is_empty() {
                    format!("Health check exceeded timeout ({limit})")
                } else {
                    format!("Health check exceeded timeout ({limit}): {text}")
                };
                Some(failure(start, output))
            }
            End::Exited => Some(match code {
                Some(code) => HealthcheckResult {
                    start: rfc3339(start),
                    end: now_rfc3339(),
                    exit_code: code as i64,
                    output: text,
                },
                None => failure(
                    start,
                    format!("healthcheck for container {} has no exit code", c.id),
                ),
            }),
        }
    }

    /// Records a result unless the monitor was stopped meanwhile; persists and announces
    /// a change of status.
    async fn record_probe(
        &self,
        c: &Arc<Container>,
        probe: &Probe,
        result: HealthcheckResult,
        stop: &watch::Receiver<bool>,
    ) {
        let changed = {
            let mut inner = c.lock();
            if *stop.borrow() || inner.record.state.status != Status::Running {
                return;
            }
            let started = parse_time(&inner.record.state.started_at);
            let probe_start = parse_time(&result.start).unwrap_or_else(Utc::now);
            let in_start_period = since(started, probe_start) < probe.start_period;
            let Some(h) = inner.record.state.health.as_mut() else {
                return;
            };
            record_result(h, result, probe.retries, in_start_period)
        };
        if let Some(status) = changed {
            if let Err(e) = self.persist(c).await {
                tracing::warn!(container = %c.id, "persist health: {e}");
            }
            tracing::info!(container = %c.id, %status, "health status");
            self.emit_container(c, &format!("health_status: {status}"), &[]);
        }
    }
}

async fn monitor(
    engine: Arc<Engine>,
    c: Arc<Container>,
    probe: Probe,
    mut stop: watch::Receiver<bool>,
) {
    let started = parse_time(&c.lock().record.state.started_at);
    loop {
        let status = c
            .lock()
            .record
            .state
            .health
            .as_ref()
            .map(|h| h.status.clone())
            .unwrap_or_default();
        let delay = probe.next_delay(since(started, Utc::now()), &status);
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(delay) => {}
        }
        // The run this monitor belongs to is over even if no one said so.
        if c.lock().record.state.status != Status::Running {
            return;
        }
        let Some(result) = engine.run_probe(&c, &probe, &mut stop).await else {
            return;
        };
        engine.record_probe(&c, &probe, result, &stop).await;
    }
}

/// The `Status` suffix of `ps` for a running container: `(healthy)`, `(unhealthy)`,
/// `(health: starting)`.
pub fn status_suffix(h: &Health) -> String {
    if h.status == STARTING {
        " (health: starting)".into()
    } else {
        format!(" ({})", h.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe::from_config(Some(&HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "true".into()]),
            ..Default::default()
        }))
        .unwrap()
    }

    fn result(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: code,
            ..Default::default()
        }
    }

    fn starting() -> Health {
        Health {
            status: STARTING.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_disabled() {
        let p = probe();
        assert_eq!(p.argv, vec!["/bin/sh", "-c", "true"]);
        assert_eq!(p.interval, Duration::from_secs(30));
        assert_eq!(p.timeout, Duration::from_secs(30));
        assert_eq!(p.start_period, Duration::ZERO);
        assert_eq!(p.start_interval, Duration::from_secs(5));
        assert_eq!(p.retries, 3);
        let none = HealthConfig {
            test: Some(vec!["NONE".into()]),
            interval: 1_000_000,
            ..Default::default()
        };
        assert_eq!(Probe::from_config(Some(&none)), None);
        assert_eq!(Probe::from_config(None), None);
    }

    #[test]
    fn intervals() {
        let mut p = probe();
        p.interval = Duration::from_secs(10);
        p.start_interval = Duration::from_secs(1);
        // No start period: always the interval.
        assert_eq!(p.next_delay(Duration::ZERO, STARTING), p.interval);
        p.start_period = Duration::from_secs(60);
        assert_eq!(
            p.next_delay(Duration::from_secs(5), STARTING),
            p.start_interval
        );
        assert_eq!(p.next_delay(Duration::from_secs(5), HEALTHY), p.interval);
        // The period ends before the next interval: probe right when it ends.
        assert_eq!(
            p.next_delay(Duration::from_secs(55), HEALTHY),
            Duration::from_secs(5)
        );
        assert_eq!(p.next_delay(Duration::from_secs(61), STARTING), p.interval);
    }

    #[test]
    fn transitions() {
        let mut h = starting();
        assert_eq!(record_result(&mut h, result(1), 2, false), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(
            record_result(&mut h, result(1), 2, false).as_deref(),
            Some(UNHEALTHY)
        );
        assert_eq!(record_result(&mut h, result(1), 2, false), None);
        assert_eq!(h.failing_streak, 3);
        assert_eq!(
            record_result(&mut h, result(0), 2, false).as_deref(),
            Some(HEALTHY)
        );
        assert_eq!(h.failing_streak, 0);
        assert_eq!(record_result(&mut h, result(0), 2, false), None);
        // Any non-zero code is a failure, including a timed-out probe's -1.
        assert_eq!(
            record_result(&mut h, result(-1), 1, false).as_deref(),
            Some(UNHEALTHY)
        );
    }

    #[test]
    fn start_period_failures_do_not_count_until_healthy() {
        let mut h = starting();
        for _ in 0..5 {
            assert_eq!(record_result(&mut h, result(1), 1, true), None);
        }
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.status, STARTING);
        assert_eq!(
            record_result(&mut h, result(0), 1, true).as_deref(),
            Some(HEALTHY)
        );
        // Once healthy, failures count even inside the period.
        assert_eq!(
            record_result(&mut h, result(1), 1, true).as_deref(),
            Some(UNHEALTHY)
        );
    }

    #[test]
    fn log_keeps_the_last_five() {
        let mut h = starting();
        for code in 0..7 {
            record_result(&mut h, result(code), 100, false);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn output_is_capped() {
        let mut o = Output::default();
        o.push(&[b'a'; 4000]);
        o.push(&[b'b'; 200]);
        let t = o.text();
        assert_eq!(t.len(), 4096 + 3);
        assert!(t.ends_with("bbb..."));
        let mut o = Output::default();
        o.push(b"ok\n");
        assert_eq!(o.text(), "ok\n");
    }

    #[test]
    fn ps_suffixes() {
        assert_eq!(status_suffix(&starting()), " (health: starting)");
        let h = Health {
            status: HEALTHY.into(),
            ..Default::default()
        };
        assert_eq!(status_suffix(&h), " (healthy)");
    }
}
