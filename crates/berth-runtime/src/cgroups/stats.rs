//! Reading a container's usage in the shapes dockerd reports (its `statsV1`/`statsV2`,
//! fed by containerd's cgroups metrics): nanoseconds for CPU, bytes for memory, the
//! blkio lists with the kernel's op names on v1 and `read`/`write` rows on v2.

use super::{io_err, Cgroup, CgroupError};
use berth_model::api::{
    BlkioStatEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats,
    ThrottlingData,
};
use std::collections::BTreeMap;
use std::path::Path;

/// The `memory.stat` keys containerd's v1 metrics carry, hence the ones dockerd shows;
/// newer kernels add more (`shmem`, `swap`, ...) that Docker leaves out.
const V1_MEMORY_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
];

/// What the cgroup itself tells; the engine adds the host's CPU time, the online CPUs and
/// the network counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupStats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|e| io_err(path, e))
}

/// A file that may be missing (a controller not mounted, a kernel without the
/// feature): its absence reads as `None`, other errors are errors.
fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

fn parse_u64(path: &Path, s: &str) -> Result<u64, CgroupError> {
    s.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        content: s.trim().to_string(),
    })
}

/// A number, or `max` (unlimited) as `None`.
fn parse_limit(path: &Path, s: &str) -> Result<Option<u64>, CgroupError> {
    if s.trim() == "max" {
        Ok(None)
    } else {
        parse_u64(path, s).map(Some)
    }
}

fn opt_u64(path: &Path) -> Result<u64, CgroupError> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, &s),
        None => Ok(0),
    }
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `cpuacct.stat`); malformed lines are
/// skipped, since kernels add keys over time.
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// `major:minor`.
fn device(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// v1 blkio lists: `8:0 Read 4096` rows (the trailing `Total n` row is not a device),
/// or `8:0 4096` for the files without an operation.
fn blkio_entries(text: &str) -> Vec<BlkioStatEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (major, minor) = device(f.first()?)?;
            let (op, value) = match f.as_slice() {
                [_, op, v] => (op.to_string(), v.parse().ok()?),
                [_, v] => (String::new(), v.parse().ok()?),
                _ => return None,
            };
            Some(BlkioStatEntry {
                major,
                minor,
                op,
                value,
            })
        })
        .collect()
}

/// v2 `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 ...`) as dockerd reports it: a `read` and
/// a `write` row of bytes per device, nothing else.
fn io_stat_entries(text: &str) -> Vec<BlkioStatEntry> {
    let mut out = Vec::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((major, minor)) = it.next().and_then(device) else {
            continue;
        };
        let kv: BTreeMap<&str, u64> = it
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k, v.parse().ok()?))
            })
            .collect();
        for (op, key) in [("read", "rbytes"), ("write", "wbytes")] {
            out.push(BlkioStatEntry {
                major,
                minor,
                op: op.into(),
                value: kv.get(key).copied().unwrap_or(0),
            });
        }
    }
    out
}

impl Cgroup {
    /// Reads every controller. `clock_ticks` is `USER_HZ`, the unit of `cpuacct.stat`.
    pub fn stats(&self, clock_ticks: u64) -> Result<CgroupStats, CgroupError> {
        if !self.exists() {
            return Err(CgroupError::NotFound(self.dir("memory")));
        }
        match self {
            Self::V1 { .. } => self.stats_v1(clock_ticks.max(1)),
            Self::V2 { .. } => self.stats_v2(),
        }
    }

    fn pids_stats(&self) -> Result<PidsStats, CgroupError> {
        let current = opt_u64(&self.file("pids", "pids.current"))?;
        let max = self.file("pids", "pids.max");
        let limit = match read_opt(&max)? {
            Some(s) => parse_limit(&max, &s)?.unwrap_or(0),
            None => 0,
        };
        Ok(PidsStats { current, limit })
    }

    fn stats_v1(&self, ticks: u64) -> Result<CgroupStats, CgroupError> {
        let usage = self.file("cpuacct", "cpuacct.usage");
        let total_usage = parse_u64(&usage, &read(&usage)?)?;
        let percpu = read_opt(&self.file("cpuacct", "cpuacct.usage_percpu"))?.map(|s| {
            s.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect::<Vec<u64>>()
        });
        let acct =
            flat_keyed(&read_opt(&self.file("cpuacct", "cpuacct.stat"))?.unwrap_or_default());
        let to_ns = |t: u64| t.saturating_mul(1_000_000_000) / ticks;
        let throttle = flat_keyed(&read_opt(&self.file("cpu", "cpu.stat"))?.unwrap_or_default());
        let cpu = CpuStats {
            cpu_usage: CpuUsage {
                total_usage,
                percpu_usage: percpu.filter(|p| !p.is_empty()),
                usage_in_kernelmode: to_ns(acct.get("system").copied().unwrap_or(0)),
                usage_in_usermode: to_ns(acct.get("user").copied().unwrap_or(0)),
            },
            throttling_data: ThrottlingData {
                periods: throttle.get("nr_periods").copied().unwrap_or(0),
                throttled_periods: throttle.get("nr_throttled").copied().unwrap_or(0),
                throttled_time: throttle.get("throttled_time").copied().unwrap_or(0),
            },
            ..Default::default()
        };

        let all = flat_keyed(&read_opt(&self.file("memory", "memory.stat"))?.unwrap_or_default());
        let mut stats = BTreeMap::new();
        for k in V1_MEMORY_KEYS {
            if let Some(v) = all.get(*k) {
                stats.insert((*k).to_string(), *v);
            }
            let total = format!("total_{k}");
            if let Some(v) = all.get(&total) {
                stats.insert(total, *v);
            }
        }
        let memory = MemoryStats {
            usage: opt_u64(&self.file("memory", "memory.usage_in_bytes"))?,
            max_usage: opt_u64(&self.file("memory", "memory.max_usage_in_bytes"))?,
            stats,
            failcnt: opt_u64(&self.file("memory", "memory.failcnt"))?,
            limit: opt_u64(&self.file("memory", "memory.limit_in_bytes"))?,
        };

        // The CFQ files when the kernel has them, else the throttle ones (as containerd).
        let list = |names: &[&str]| -> Result<Vec<BlkioStatEntry>, CgroupError> {
            for n in names {
                if let Some(s) = read_opt(&self.file("blkio", n))? {
                    let e = blkio_entries(&s);
                    if !e.is_empty() {
                        return Ok(e);
                    }
                }
            }
            Ok(Vec::new())
        };
        let blkio = BlkioStats {
            io_service_bytes_recursive: Some(list(&[
                "blkio.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
            ])?),
            io_serviced_recursive: Some(list(&[
                "blkio.io_serviced_recursive",
                "blkio.throttle.io_serviced_recursive",
            ])?),
            io_queue_recursive: Some(list(&["blkio.io_queued_recursive"])?),
            io_service_time_recursive: Some(list(&["blkio.io_service_time_recursive"])?),
            io_wait_time_recursive: Some(list(&["blkio.io_wait_time_recursive"])?),
            io_merged_recursive: Some(list(&["blkio.io_merged_recursive"])?),
            io_time_recursive: Some(list(&["blkio.time_recursive"])?),
            sectors_recursive: Some(list(&["blkio.sectors_recursive"])?),
        };
        Ok(CgroupStats {
            cpu,
            memory,
            pids: self.pids_stats()?,
            blkio,
        })
    }

    fn stats_v2(&self) -> Result<CgroupStats, CgroupError> {
        let cs = flat_keyed(&read_opt(&self.file("cpu", "cpu.stat"))?.unwrap_or_default());
        let us = |k: &str| cs.get(k).copied().unwrap_or(0).saturating_mul(1000);
        let cpu = CpuStats {
            cpu_usage: CpuUsage {
                total_usage: us("usage_usec"),
                percpu_usage: None,
                usage_in_kernelmode: us("system_usec"),
                usage_in_usermode: us("user_usec"),
            },
            throttling_data: ThrottlingData {
                periods: cs.get("nr_periods").copied().unwrap_or(0),
                throttled_periods: cs.get("nr_throttled").copied().unwrap_or(0),
                throttled_time: us("throttled_usec"),
            },
            ..Default::default()
        };
        let max = self.file("memory", "memory.max");
        let limit = match read_opt(&max)? {
            Some(s) => parse_limit(&max, &s)?.unwrap_or(u64::MAX),
            None => u64::MAX,
        };
        let memory = MemoryStats {
            usage: opt_u64(&self.file("memory", "memory.current"))?,
            stats: flat_keyed(&read_opt(&self.file("memory", "memory.stat"))?.unwrap_or_default()),
            limit,
            ..Default::default()
        };
        let io = read_opt(&self.file("io", "io.stat"))?.unwrap_or_default();
        let blkio = BlkioStats {
            io_service_bytes_recursive: Some(io_stat_entries(&io)).filter(|v| !v.is_empty()),
            ..Default::default()
        };
        Ok(CgroupStats {
            cpu,
            memory,
            pids: self.pids_stats()?,
            blkio,
        })
    }
}

/// The host's CPU time in nanoseconds from `/proc/stat`'s `cpu` line: dockerd sums its
/// first seven fields (user … softirq) and converts from clock ticks.
pub fn system_cpu_usage(proc_stat: &str, clock_ticks: u64) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 7 {
        return None;
    }
    let ticks: u64 = fields.iter().sum();
    Some(ticks.saturating_mul(1_000_000_000) / clock_ticks.max(1))
}

/// `USER_HZ`, the unit of `/proc/stat` and `cpuacct.stat`.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value; it has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Online CPUs, as dockerd reports them (`sysconf(_SC_NPROCESSORS_ONLN)`).
pub fn online_cpus() -> u32 {
    // SAFETY: sysconf only reads a configuration value; it has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as u32
    } else {
        1
    }
}

/// `MemTotal` of `/proc/meminfo` in bytes: dockerd reports it as the limit of a
/// container without one, rather than the cgroup's "unlimited" number.
pub fn machine_memory(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Interfaces of a `/proc/<pid>/net/dev` except `lo` (Docker leaves the loopback out);
/// `None` when nothing is left, so the sample carries no `networks` as with
/// `--network none`.
pub fn net_dev(text: &str) -> Option<BTreeMap<String, NetworkStats>> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" || name.is_empty() {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetworkStats {
                rx_bytes: f[0],
                rx_packets: f[1],
                rx_errors: f[2],
                rx_dropped: f[3],
                tx_bytes: f[8],
                tx_packets: f[9],
                tx_errors: f[10],
                tx_dropped: f[11],
            },
        );
    }
    (!out.is_empty()).then_some(out)
}

/// The network counters of the namespace `pid` lives in.
pub fn read_net_stats(proc_root: &Path, pid: u32) -> Option<BTreeMap<String, NetworkStats>> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("net/dev")).ok()?;
    net_dev(&text)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::write_tree;
    use super::*;

    const MEMORY_STAT_V1: &str = "cache 0\nrss 49152\nrss_huge 0\nshmem 0\nmapped_file 0\ndirty 0\nwriteback 0\npgpgin 752\npgpgout 740\npgfault 1034\npgmajfault 0\ninactive_anon 45056\nactive_anon 4096\ninactive_file 0\nactive_file 0\nunevictable 0\nhierarchical_memory_limit 67108864\nhierarchical_memsw_limit 9223372036854771712\ntotal_cache 0\ntotal_rss 49152\ntotal_shmem 0\ntotal_inactive_file 8192\n";

    fn v1_tree(root: &Path) {
        write_tree(
            root,
            &[
                ("cpuacct/berth/c1/cpuacct.usage", "23254000\n"),
                ("cpuacct/berth/c1/cpuacct.usage_percpu", "28781 23225219 \n"),
                ("cpuacct/berth/c1/cpuacct.stat", "user 1\nsystem 2\n"),
                (
                    "cpu/berth/c1/cpu.stat",
                    "nr_periods 10\nnr_throttled 3\nthrottled_time 4000\n",
                ),
                ("memory/berth/c1/memory.usage_in_bytes", "327680\n"),
                ("memory/berth/c1/memory.max_usage_in_bytes", "3559424\n"),
                ("memory/berth/c1/memory.failcnt", "0\n"),
                ("memory/berth/c1/memory.limit_in_bytes", "67108864\n"),
                ("memory/berth/c1/memory.stat", MEMORY_STAT_V1),
                ("pids/berth/c1/pids.current", "3\n"),
                ("pids/berth/c1/pids.max", "max\n"),
                (
                    "blkio/berth/c1/blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n",
                ),
                (
                    "blkio/berth/c1/blkio.throttle.io_serviced_recursive",
                    "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
                ),
                ("blkio/berth/c1/blkio.io_service_bytes_recursive", "Total 0\n"),
            ],
        );
    }

    #[test]
    fn reads_v1() {
        let t = tempfile::tempdir().unwrap();
        v1_tree(t.path());
        let s = Cgroup::at(t.path(), "berth/c1").stats(100).unwrap();
        assert_eq!(s.cpu.cpu_usage.total_usage, 23254000);
        assert_eq!(s.cpu.cpu_usage.percpu_usage, Some(vec![28781, 23225219]));
        assert_eq!(s.cpu.cpu_usage.usage_in_usermode, 10_000_000);
        assert_eq!(s.cpu.cpu_usage.usage_in_kernelmode, 20_000_000);
        assert_eq!(s.cpu.throttling_data.periods, 10);
        assert_eq!(s.cpu.throttling_data.throttled_periods, 3);
        assert_eq!(s.cpu.throttling_data.throttled_time, 4000);
        assert_eq!(s.memory.usage, 327680);
        assert_eq!(s.memory.max_usage, 3559424);
        assert_eq!(s.memory.limit, 67108864);
        assert_eq!(s.memory.stats["rss"], 49152);
        assert_eq!(s.memory.stats["total_inactive_file"], 8192);
        assert!(!s.memory.stats.contains_key("shmem"));
        assert!(!s.memory.stats.contains_key("total_shmem"));
        assert_eq!(
            s.pids,
            PidsStats {
                current: 3,
                limit: 0
            }
        );
        let bytes = s.blkio.io_service_bytes_recursive.unwrap();
        assert_eq!(bytes.len(), 5);
        assert_eq!(
            bytes[1],
            BlkioStatEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        );
        assert_eq!(s.blkio.io_serviced_recursive.unwrap().len(), 2);
        assert_eq!(s.blkio.sectors_recursive, Some(vec![]));
        // As in trace 31_events_stats: every v1 list is `[]` when empty.
        let json = serde_json::to_value(BlkioStats {
            io_service_bytes_recursive: Some(vec![]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(json["io_service_bytes_recursive"], serde_json::json!([]));
        assert_eq!(json["io_queue_recursive"], serde_json::Value::Null);
    }

    #[test]
    fn reads_v2() {
        let t = tempfile::tempdir().unwrap();
        write_tree(
            t.path(),
            &[
                ("cgroup.controllers", "cpu io memory pids\n"),
                (
                    "berth/c2/cpu.stat",
                    "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
                ),
                ("berth/c2/memory.current", "1048576\n"),
                ("berth/c2/memory.max", "max\n"),
                ("berth/c2/memory.stat", "anon 4096\nfile 8192\ninactive_file 4096\n"),
                ("berth/c2/pids.current", "2\n"),
                ("berth/c2/pids.max", "20\n"),
                (
                    "berth/c2/io.stat",
                    "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
                ),
            ],
        );
        let s = Cgroup::at(t.path(), "berth/c2").stats(100).unwrap();
        assert_eq!(s.cpu.cpu_usage.total_usage, 5_000_000);
        assert_eq!(s.cpu.cpu_usage.usage_in_usermode, 3_000_000);
        assert_eq!(s.cpu.cpu_usage.usage_in_kernelmode, 2_000_000);
        assert_eq!(s.cpu.cpu_usage.percpu_usage, None);
        assert_eq!(s.cpu.throttling_data.throttled_time, 7000);
        assert_eq!(s.memory.usage, 1048576);
        assert_eq!(s.memory.limit, u64::MAX);
        assert_eq!(s.memory.stats["inactive_file"], 4096);
        assert_eq!((s.memory.max_usage, s.memory.failcnt), (0, 0));
        assert_eq!(
            s.pids,
            PidsStats {
                current: 2,
                limit: 20
            }
        );
        let io = s.blkio.io_service_bytes_recursive.unwrap();
        assert_eq!(
            io.iter()
                .map(|e| (e.op.as_str(), e.value))
                .collect::<Vec<_>>(),
            vec![("read", 100), ("write", 200)]
        );
        assert_eq!(s.blkio.io_serviced_recursive, None);
    }

    #[test]
    fn missing_cgroup_is_not_found() {
        let t = tempfile::tempdir().unwrap();
        let e = Cgroup::at(t.path(), "berth/gone").stats(100).unwrap_err();
        assert_eq!(e.kind(), berth_model::ErrorKind::NotFound);
    }

    #[test]
    fn host_numbers() {
        let stat = "cpu  1506265 0 100914 544293 3316 0 582 2665 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(
            system_cpu_usage(stat, 100),
            Some((1506265 + 100914 + 544293 + 3316 + 582) * 10_000_000)
        );
        assert_eq!(system_cpu_usage("cpu 1 2\n", 100), None);
        assert_eq!(
            machine_memory("MemTotal:       24683652 kB\nMemFree: 1 kB\n"),
            Some(24683652 * 1024)
        );
        assert!(online_cpus() >= 1 && clock_ticks() >= 1);
    }

    #[test]
    fn network_counters_without_lo() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:     486       5    1    2    0     0          0         0       10       1    3    4    0     0       0          0\n";
        let n = net_dev(dev).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(
            n["eth0"],
            NetworkStats {
                rx_bytes: 486,
                rx_packets: 5,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 10,
                tx_packets: 1,
                tx_errors: 3,
                tx_dropped: 4
            }
        );
        let lo_only: String = dev.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(net_dev(&lo_only), None);
    }
}
