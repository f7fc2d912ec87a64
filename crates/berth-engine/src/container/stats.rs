//! `GET /containers/{id}/stats`: samples of a container's cgroup, its network namespace
//! and the host's CPU time, one per second as dockerd's collector takes them.

use super::{Container, Status, ZERO_TIME};
use crate::Engine;
use berth_model::api::{CpuStats, MemoryStats, StatsResponse};
use berth_model::Result;
use berth_runtime::cgroups::{self, Cgroup};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// dockerd's collection interval.
const INTERVAL: Duration = Duration::from_secs(1);

/// Go's `time.RFC3339Nano`: the fraction without trailing zeros.
fn rfc3339_nano(t: chrono::DateTime<chrono::Utc>) -> String {
    let full = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let trimmed = full.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}Z")
}

/// The host's memory, read once: a container without a limit reports it as its limit.
fn machine_memory() -> u64 {
    static MEM: OnceLock<u64> = OnceLock::new();
    *MEM.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| cgroups::machine_memory(&m))
            .unwrap_or(0)
    })
}

/// What dockerd sends for a container that does not run: its name and ID, the rest zero.
fn zeroed(name: &str, id: &str) -> StatsResponse {
    StatsResponse {
        read: ZERO_TIME.into(),
        preread: ZERO_TIME.into(),
        name: format!("/{name}"),
        id: id.to_string(),
        ..Default::default()
    }
}

/// Reads one sample; a container that stopped meanwhile gives the zeroed one.
fn sample_blocking(name: &str, id: &str, running: bool) -> StatsResponse {
    if !running {
        return zeroed(name, id);
    }
    let cg = Cgroup::for_path(&format!("berth/{id}"));
    let ticks = cgroups::clock_ticks();
    let Ok(raw) = cg.stats(ticks) else {
        return zeroed(name, id);
    };
    // The host's CPU time is read right after the container's, as dockerd does, so the
    // two deltas cover the same interval.
    let system = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| cgroups::system_cpu_usage(&s, ticks))
        .unwrap_or(0);
    let mut memory: MemoryStats = raw.memory;
    let machine = machine_memory();
    if machine > 0 && memory.limit > machine {
        memory.limit = machine;
    }
    let networks = cg
        .pids()
        .first()
        .and_then(|pid| cgroups::read_net_stats(Path::new("/proc"), *pid));
    StatsResponse {
        read: rfc3339_nano(chrono::Utc::now()),
        preread: ZERO_TIME.into(),
        pids_stats: raw.pids,
        blkio_stats: raw.blkio,
        cpu_stats: CpuStats {
            system_cpu_usage: system,
            online_cpus: cgroups::online_cpus(),
            ..raw.cpu
        },
        memory_stats: memory,
        name: format!("/{name}"),
        id: id.to_string(),
        networks,
        ..Default::default()
    }
}

async fn sample(c: &Container) -> StatsResponse {
    let (name, status) = {
        let inner = c.lock();
        (inner.record.name.clone(), inner.record.state.status)
    };
    let running = matches!(status, Status::Running | Status::Paused);
    let id = c.id.clone();
    let fallback = zeroed(&name, &id);
    tokio::task::spawn_blocking(move || sample_blocking(&name, &id, running))
        .await
        .unwrap_or(fallback)
}

/// Carries the previous sample's CPU numbers and time into the next, as dockerd's
/// `precpu_stats` and `preread`.
fn chain(prev: &Option<(CpuStats, String)>, mut s: StatsResponse) -> StatsResponse {
    if let Some((cpu, read)) = prev {
        s.precpu_stats = cpu.clone();
        s.preread = read.clone();
    }
    s
}

impl Engine {
    /// Checks the container now (a 404 before any header). Without `stream` one sample:
    /// zeroed when the container does not run, taken at once with `one_shot`, else the
    /// second of two a second apart so `precpu_stats` is filled. With `stream` a sample
    /// per second (zeroed while stopped) until the container is removed or the caller
    /// drops the stream.
    pub async fn stats(
        &self,
        id_or_name: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, StatsResponse>> {
        let c = self.get(id_or_name)?;
        if !stream {
            let first = sample(&c).await;
            if one_shot || !c.is_running() {
                return Ok(stream::once(async move { first }).boxed());
            }
            tokio::time::sleep(INTERVAL).await;
            let prev = Some((first.cpu_stats.clone(), first.read.clone()));
            let second = chain(&prev, sample(&c).await);
            return Ok(stream::once(async move { second }).boxed());
        }
        let state: (Arc<Container>, Option<(CpuStats, String)>) = (c, None);
        Ok(stream::unfold(state, |(c, prev)| async move {
            if prev.is_some() {
                tokio::time::sleep(INTERVAL).await;
            }
            if c.events.borrow().removed {
                return None;
            }
            let s = chain(&prev, sample(&c).await);
            let next = Some((s.cpu_stats.clone(), s.read.clone()));
            Some((s, (c, next)))
        })
        .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_like_dockerd() {
        let z = zeroed("web", "abc");
        assert_eq!(
            serde_json::to_string(&z).unwrap(),
            r#"{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},"blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,"io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":null,"io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},"num_procs":0,"storage_stats":{},"cpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"precpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"memory_stats":{},"name":"/web","id":"abc"}"#
        );
    }

    #[test]
    fn trace_sample_round_trips() {
        // The body dockerd sent in trace 31_events_stats.
        let trace =
            std::fs::read_to_string("/work/shared/reference/api-traces/31_events_stats.txt")
                .unwrap();
        let line = trace
            .lines()
            .find(|l| l.starts_with("{\"read\""))
            .unwrap()
            .trim_end_matches("\\n");
        let s: StatsResponse = serde_json::from_str(line).unwrap();
        assert_eq!(s.pids_stats.current, 1);
        assert_eq!(s.networks.as_ref().unwrap()["eth0"].rx_bytes, 486);
        // Same keys in the same order; the memory stats map is sorted on both sides.
        assert_eq!(serde_json::to_string(&s).unwrap(), line);
    }

    #[test]
    fn times_like_go() {
        let t = chrono::DateTime::from_timestamp(1_795_949_038, 587_093_610).unwrap();
        assert_eq!(rfc3339_nano(t), "2026-11-29T10:43:58.58709361Z");
        let t = chrono::DateTime::from_timestamp(1_795_949_038, 0).unwrap();
        assert_eq!(rfc3339_nano(t), "2026-11-29T10:43:58Z");
    }
}
