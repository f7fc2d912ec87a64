//! A container's cgroup, found where the spec's `linux.cgroupsPath` (`berth/<id>`) put it:
//! under every v1 hierarchy, or in one directory of a unified (v2) host. Reading turns
//! the controllers' files into Docker's stats shapes; writing changes a running
//! container's limits as `runc update` does.
//!
//! Every function takes the cgroup filesystem's root as a parameter (`/sys/fs/cgroup` in
//! production), so the unit tests run without root against fake directories.

mod stats;
mod update;

pub use stats::{
    clock_ticks, machine_memory, net_dev, online_cpus, read_net_stats, system_cpu_usage,
    CgroupStats,
};
pub use update::{cpu_shares_to_weight, ResourceUpdate};

use std::path::{Path, PathBuf};

/// Where the host mounts its cgroup filesystem(s).
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup of container not found at {0}")]
    NotFound(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
}

impl CgroupError {
    pub fn kind(&self) -> berth_model::ErrorKind {
        match self {
            Self::NotFound(_) => berth_model::ErrorKind::NotFound,
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput => {
                berth_model::ErrorKind::InvalidArgument
            }
            _ => berth_model::ErrorKind::Internal,
        }
    }
}

/// The cgroup of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// Controllers in separate hierarchies: `<root>/<controller>/<rel>`.
    V1 { root: PathBuf, rel: PathBuf },
    /// One directory holding every controller's files.
    V2 { dir: PathBuf },
}

impl Cgroup {
    /// The cgroup for a spec's cgroups path on this host.
    pub fn for_path(cgroups_path: &str) -> Self {
        Self::at(Path::new(CGROUP_ROOT), cgroups_path)
    }

    /// A unified host has `cgroup.controllers` at its root; a v1 or hybrid one does not
    /// (its `unified` mount holds no controllers, so v1 is where the limits are).
    pub fn at(root: &Path, cgroups_path: &str) -> Self {
        let rel = PathBuf::from(cgroups_path.trim_start_matches('/'));
        if root.join("cgroup.controllers").exists() {
            Self::V2 {
                dir: root.join(rel),
            }
        } else {
            Self::V1 {
                root: root.to_path_buf(),
                rel,
            }
        }
    }

    /// The directory holding `controller`'s files (the one directory on v2).
    pub fn dir(&self, controller: &str) -> PathBuf {
        match self {
            Self::V1 { root, rel } => root.join(controller).join(rel),
            Self::V2 { dir } => dir.clone(),
        }
    }

    pub fn is_v2(&self) -> bool {
        matches!(self, Self::V2 { .. })
    }

    /// Whether the container's cgroup exists (it is removed when the container exits).
    pub fn exists(&self) -> bool {
        match self {
            Self::V1 { .. } => ["memory", "pids", "cpuacct"]
                .iter()
                .any(|c| self.dir(c).is_dir()),
            Self::V2 { dir } => dir.is_dir(),
        }
    }

    /// Processes in the cgroup, from the first hierarchy that lists any.
    pub fn pids(&self) -> Vec<u32> {
        for c in ["pids", "memory", "cpuacct", "freezer"] {
            if let Ok(s) = std::fs::read_to_string(self.dir(c).join("cgroup.procs")) {
                let pids: Vec<u32> = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
                if !pids.is_empty() || self.is_v2() {
                    return pids;
                }
            }
        }
        Vec::new()
    }

    fn file(&self, controller: &str, name: &str) -> PathBuf {
        self.dir(controller).join(name)
    }
}

fn io_err(path: &Path, source: std::io::Error) -> CgroupError {
    CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::Path;

    /// Writes `files` (`relative path`, `content`) under `root`, creating directories.
    pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
        for (rel, content) in files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
    }

    pub fn read(root: &Path, rel: &str) -> String {
        std::fs::read_to_string(root.join(rel))
            .unwrap()
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::write_tree;
    use super::*;

    #[test]
    fn locates_v1_and_v2() {
        let t = tempfile::tempdir().unwrap();
        let cg = Cgroup::at(t.path(), "berth/abc");
        assert_eq!(
            cg.dir("memory"),
            t.path().join("memory").join("berth").join("abc")
        );
        assert!(!cg.is_v2() && !cg.exists());
        write_tree(t.path(), &[("pids/berth/abc/cgroup.procs", "12\n13\n")]);
        assert!(cg.exists());
        assert_eq!(cg.pids(), vec![12, 13]);

        let t = tempfile::tempdir().unwrap();
        write_tree(t.path(), &[("cgroup.controllers", "cpu memory pids io\n")]);
        let cg = Cgroup::at(t.path(), "/berth/abc");
        assert!(cg.is_v2());
        assert_eq!(cg.dir("memory"), t.path().join("berth/abc"));
        write_tree(t.path(), &[("berth/abc/cgroup.procs", "7\n")]);
        assert_eq!(cg.pids(), vec![7]);
    }
}
