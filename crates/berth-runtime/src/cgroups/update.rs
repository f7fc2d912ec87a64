//! Changing a running container's limits in place, for `docker update`. Only the values
//! given are written (zero means "unchanged" in Docker's API), in an order the kernel
//! accepts: on v1 `memory.memsw.limit_in_bytes` may never be below
//! `memory.limit_in_bytes`, so growing writes memsw first and shrinking writes it last.

use super::{io_err, Cgroup, CgroupError};
use std::path::Path;

/// dockerd's warning when a blkio weight has nowhere to go.
const NO_BLKIO_WEIGHT: &str =
    "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.";

/// The limits to change; `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceUpdate {
    /// Bytes; -1 is unlimited.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes (Docker's `MemorySwap`); -1 is unlimited swap.
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes.
    pub memory_reservation: Option<i64>,
    pub cpu_shares: Option<u64>,
    /// Microseconds per period; -1 (or any value ≤ 0) is unlimited.
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// ≤ 0 is unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

/// runc's (and crun's) mapping of v1 `cpu.shares` (2..262144) onto v2 `cpu.weight`
/// (1..10000), so a value means the same share of CPU on both.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// v1 `blkio.weight` (10..1000) onto v2 `io.weight` (1..10000), as runc does.
fn blkio_weight_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|e| io_err(path, e))
}

fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let s = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    s.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        content: s.trim().to_string(),
    })
}

fn is_einval(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Io { source, .. } if source.raw_os_error() == Some(libc::EINVAL))
}

/// v2 spells "unlimited" `max`.
fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemFile {
    Limit,
    Memsw,
}

/// The v1 memory writes in an order the kernel takes: when the new memsw is at least
/// the current memory limit (or unlimited) it goes first, so the new memory limit lands
/// under it; otherwise the memory limit shrinks first.
fn memory_plan_v1(
    current_limit: u64,
    memory: Option<i64>,
    memsw: Option<i64>,
) -> Vec<(MemFile, i64)> {
    match (memory, memsw) {
        (Some(m), Some(s)) if s < 0 || s as u64 >= current_limit => {
            vec![(MemFile::Memsw, s), (MemFile::Limit, m)]
        }
        (Some(m), Some(s)) => vec![(MemFile::Limit, m), (MemFile::Memsw, s)],
        (Some(m), None) => vec![(MemFile::Limit, m)],
        (None, Some(s)) => vec![(MemFile::Memsw, s)],
        (None, None) => Vec::new(),
    }
}

impl Cgroup {
    /// Writes the given limits; returns dockerd's warnings for limits the host cannot
    /// take. The cgroup must exist (the container runs).
    pub fn update(&self, r: &ResourceUpdate) -> Result<Vec<String>, CgroupError> {
        if !self.exists() {
            return Err(CgroupError::NotFound(self.dir("memory")));
        }
        let mut warnings = Vec::new();
        match self {
            Self::V1 { .. } => self.update_v1(r, &mut warnings)?,
            Self::V2 { .. } => self.update_v2(r, &mut warnings)?,
        }
        if let Some(cpus) = &r.cpuset_cpus {
            write(&self.file("cpuset", "cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = &r.cpuset_mems {
            write(&self.file("cpuset", "cpuset.mems"), mems)?;
        }
        if let Some(p) = r.pids_limit {
            let v = if p > 0 { p.to_string() } else { "max".into() };
            write(&self.file("pids", "pids.max"), &v)?;
        }
        Ok(warnings)
    }

    fn update_v1(&self, r: &ResourceUpdate, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        let limit = self.file("memory", "memory.limit_in_bytes");
        let memsw = self.file("memory", "memory.memsw.limit_in_bytes");
        // Without swap accounting there is no memsw file and swap cannot be limited.
        let mut swap = r.memory_swap.filter(|_| memsw.exists());
        if r.memory == Some(-1) && swap.is_none() && memsw.exists() {
            // An unlimited memory limit above a limited memsw would be refused.
            swap = Some(-1);
        }
        let current = match (r.memory, swap) {
            (Some(_), Some(_)) => read_u64(&limit)?,
            _ => 0,
        };
        for (file, v) in memory_plan_v1(current, r.memory, swap) {
            let path = match file {
                MemFile::Limit => &limit,
                MemFile::Memsw => &memsw,
            };
            write(path, &v.to_string())?;
        }
        if let Some(res) = r.memory_reservation {
            write(
                &self.file("memory", "memory.soft_limit_in_bytes"),
                &res.to_string(),
            )?;
        }
        if let Some(s) = r.cpu_shares {
            write(&self.file("cpu", "cpu.shares"), &s.to_string())?;
        }
        let period = self.file("cpu", "cpu.cfs_period_us");
        let quota = self.file("cpu", "cpu.cfs_quota_us");
        let q = |v: i64| if v > 0 { v.to_string() } else { "-1".into() };
        match (r.cpu_period, r.cpu_quota) {
            (Some(p), Some(qv)) => {
                // A new period may clash with the old quota (or the reverse); one of the
                // two orders always works.
                match write(&period, &p.to_string()) {
                    Ok(()) => write(&quota, &q(qv))?,
                    Err(e) if is_einval(&e) => {
                        write(&quota, &q(qv))?;
                        write(&period, &p.to_string())?;
                    }
                    Err(e) => return Err(e),
                }
            }
            (Some(p), None) => write(&period, &p.to_string())?,
            (None, Some(qv)) => write(&quota, &q(qv))?,
            (None, None) => {}
        }
        if let Some(w) = r.blkio_weight {
            let plain = self.file("blkio", "blkio.weight");
            let bfq = self.file("blkio", "blkio.bfq.weight");
            if plain.exists() {
                write(&plain, &w.to_string())?;
            } else if bfq.exists() {
                write(&bfq, &w.to_string())?;
            } else {
                warnings.push(NO_BLKIO_WEIGHT.into());
            }
        }
        Ok(())
    }

    fn update_v2(&self, r: &ResourceUpdate, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        let max = self.file("memory", "memory.max");
        if let Some(m) = r.memory {
            write(&max, &v2_limit(m))?;
        }
        // v2 limits swap alone, where Docker's MemorySwap counts memory plus swap.
        let swap_max = self.file("memory", "memory.swap.max");
        if let Some(s) = r.memory_swap.filter(|_| swap_max.exists()) {
            let value = if s < 0 {
                "max".to_string()
            } else {
                let memory = match r.memory {
                    Some(m) => m,
                    None => {
                        let cur = std::fs::read_to_string(&max).map_err(|e| io_err(&max, e))?;
                        cur.trim().parse().unwrap_or(-1)
                    }
                };
                if memory < 0 {
                    return Err(CgroupError::Parse {
                        path: max,
                        content: "a swap limit needs a memory limit".into(),
                    });
                }
                (s - memory).max(0).to_string()
            };
            write(&swap_max, &value)?;
        }
        if let Some(res) = r.memory_reservation {
            write(&self.file("memory", "memory.low"), &v2_limit(res))?;
        }
        if let Some(s) = r.cpu_shares {
            write(
                &self.file("cpu", "cpu.weight"),
                &cpu_shares_to_weight(s).to_string(),
            )?;
        }
        if r.cpu_quota.is_some() || r.cpu_period.is_some() {
            let path = self.file("cpu", "cpu.max");
            let cur = std::fs::read_to_string(&path).unwrap_or_default();
            let mut it = cur.split_whitespace();
            let cur_quota = it.next().unwrap_or("max").to_string();
            let cur_period: u64 = it.next().and_then(|p| p.parse().ok()).unwrap_or(100_000);
            let quota = match r.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                Some(_) => "max".into(),
                None => cur_quota,
            };
            let period = r.cpu_period.unwrap_or(cur_period);
            write(&path, &format!("{quota} {period}"))?;
        }
        if let Some(w) = r.blkio_weight {
            let bfq = self.file("io", "io.bfq.weight");
            let io = self.file("io", "io.weight");
            if bfq.exists() {
                write(&bfq, &w.to_string())?;
            } else if io.exists() {
                write(&io, &blkio_weight_to_io_weight(w).to_string())?;
            } else {
                warnings.push(NO_BLKIO_WEIGHT.into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{read, write_tree};
    use super::*;

    fn v1(root: &Path, limit: &str, memsw: &str) -> Cgroup {
        write_tree(
            root,
            &[
                ("memory/berth/c/memory.limit_in_bytes", limit),
                ("memory/berth/c/memory.memsw.limit_in_bytes", memsw),
                ("memory/berth/c/memory.soft_limit_in_bytes", "0"),
                ("cpu/berth/c/cpu.shares", "1024"),
                ("cpu/berth/c/cpu.cfs_period_us", "100000"),
                ("cpu/berth/c/cpu.cfs_quota_us", "-1"),
                ("cpuset/berth/c/cpuset.cpus", "0-1"),
                ("cpuset/berth/c/cpuset.mems", "0"),
                ("pids/berth/c/pids.max", "max"),
                ("blkio/berth/c/blkio.bfq.weight", "100"),
            ],
        );
        Cgroup::at(root, "berth/c")
    }

    #[test]
    fn v1_writes_every_limit() {
        let t = tempfile::tempdir().unwrap();
        let cg = v1(t.path(), "9223372036854771712", "9223372036854771712");
        let w = cg
            .update(&ResourceUpdate {
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                memory_reservation: Some(32 << 20),
                cpu_shares: Some(512),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                cpuset_cpus: Some("0".into()),
                cpuset_mems: Some("0".into()),
                pids_limit: Some(20),
                blkio_weight: Some(300),
            })
            .unwrap();
        assert!(w.is_empty());
        let r = |p: &str| read(t.path(), p);
        assert_eq!(r("memory/berth/c/memory.limit_in_bytes"), "67108864");
        assert_eq!(r("memory/berth/c/memory.memsw.limit_in_bytes"), "134217728");
        assert_eq!(r("memory/berth/c/memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(r("cpu/berth/c/cpu.shares"), "512");
        assert_eq!(r("cpu/berth/c/cpu.cfs_quota_us"), "50000");
        assert_eq!(r("cpuset/berth/c/cpuset.cpus"), "0");
        assert_eq!(r("pids/berth/c/pids.max"), "20");
        assert_eq!(r("blkio/berth/c/blkio.bfq.weight"), "300");
        cg.update(&ResourceUpdate {
            pids_limit: Some(0),
            cpu_quota: Some(-1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r("pids/berth/c/pids.max"), "max");
        assert_eq!(r("cpu/berth/c/cpu.cfs_quota_us"), "-1");
    }

    /// Plays the plan against the kernel's rule (memory ≤ memsw at every step).
    fn plan_is_valid(limit: i64, memsw: i64, new: (i64, i64)) -> bool {
        let unl = |v: i64| if v < 0 { i64::MAX } else { v };
        let (mut l, mut s) = (unl(limit), unl(memsw));
        for (f, v) in memory_plan_v1(l as u64, Some(new.0), Some(new.1)) {
            match f {
                MemFile::Limit => l = unl(v),
                MemFile::Memsw => s = unl(v),
            }
            if l > s {
                return false;
            }
        }
        (l, s) == (unl(new.0), unl(new.1))
    }

    #[test]
    fn v1_memory_order() {
        const M: i64 = 1 << 20;
        // Growing writes memsw first, shrinking the memory limit first.
        assert_eq!(
            memory_plan_v1((64 * M) as u64, Some(128 * M), Some(256 * M))[0].0,
            MemFile::Memsw
        );
        assert_eq!(
            memory_plan_v1((256 * M) as u64, Some(32 * M), Some(64 * M))[0].0,
            MemFile::Limit
        );
        for (old, new) in [
            ((64 * M, 64 * M), (128 * M, 256 * M)),
            ((256 * M, 512 * M), (32 * M, 64 * M)),
            ((64 * M, 128 * M), (32 * M, -1)),
            ((-1, -1), (64 * M, 64 * M)),
            ((64 * M, -1), (128 * M, 128 * M)),
            ((128 * M, 256 * M), (200 * M, 200 * M)),
            ((128 * M, 256 * M), (64 * M, 300 * M)),
        ] {
            assert!(plan_is_valid(old.0, old.1, new), "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn v1_without_swap_accounting_and_blkio() {
        let t = tempfile::tempdir().unwrap();
        write_tree(t.path(), &[("memory/berth/c/memory.limit_in_bytes", "1")]);
        let cg = Cgroup::at(t.path(), "berth/c");
        let w = cg
            .update(&ResourceUpdate {
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                blkio_weight: Some(500),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            read(t.path(), "memory/berth/c/memory.limit_in_bytes"),
            "67108864"
        );
        assert!(!t
            .path()
            .join("memory/berth/c/memory.memsw.limit_in_bytes")
            .exists());
        assert_eq!(w, vec![NO_BLKIO_WEIGHT.to_string()]);
    }

    fn v2(root: &Path) -> Cgroup {
        write_tree(
            root,
            &[
                ("cgroup.controllers", "cpuset cpu io memory pids\n"),
                ("berth/c/memory.max", "max"),
                ("berth/c/memory.swap.max", "max"),
                ("berth/c/memory.low", "0"),
                ("berth/c/cpu.weight", "100"),
                ("berth/c/cpu.max", "max 100000"),
                ("berth/c/cpuset.cpus", ""),
                ("berth/c/cpuset.mems", ""),
                ("berth/c/pids.max", "max"),
                ("berth/c/io.weight", "default 100"),
            ],
        );
        Cgroup::at(root, "berth/c")
    }

    #[test]
    fn v2_writes_every_limit() {
        let t = tempfile::tempdir().unwrap();
        let cg = v2(t.path());
        cg.update(&ResourceUpdate {
            memory: Some(64 << 20),
            memory_swap: Some(96 << 20),
            memory_reservation: Some(32 << 20),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(20),
            blkio_weight: Some(10),
            ..Default::default()
        })
        .unwrap();
        let r = |p: &str| read(t.path(), &format!("berth/c/{p}"));
        assert_eq!(r("memory.max"), "67108864");
        assert_eq!(r("memory.swap.max"), (32u64 << 20).to_string());
        assert_eq!(r("memory.low"), "33554432");
        assert_eq!(r("cpu.weight"), cpu_shares_to_weight(512).to_string());
        assert_eq!(r("cpu.max"), "50000 100000");
        assert_eq!(r("cpuset.cpus"), "0");
        assert_eq!(r("pids.max"), "20");
        assert_eq!(r("io.weight"), "1");

        // The period alone keeps the quota; swap alone is counted from memory.max.
        cg.update(&ResourceUpdate {
            cpu_period: Some(200_000),
            memory_swap: Some(128 << 20),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r("cpu.max"), "50000 200000");
        assert_eq!(r("memory.swap.max"), (64u64 << 20).to_string());
        cg.update(&ResourceUpdate {
            memory_swap: Some(-1),
            cpu_quota: Some(-1),
            pids_limit: Some(-1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r("memory.swap.max"), "max");
        assert_eq!(r("cpu.max"), "max 200000");
        assert_eq!(r("pids.max"), "max");
    }

    #[test]
    fn v2_swap_without_memory_limit_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let cg = v2(t.path());
        assert!(cg
            .update(&ResourceUpdate {
                memory_swap: Some(64 << 20),
                ..Default::default()
            })
            .is_err());
    }

    #[test]
    fn weights() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn gone_cgroup() {
        let t = tempfile::tempdir().unwrap();
        let e = Cgroup::at(t.path(), "berth/x")
            .update(&ResourceUpdate::default())
            .unwrap_err();
        assert!(matches!(e, CgroupError::NotFound(_)));
    }
}
