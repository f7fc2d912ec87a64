//! The seam between the shim and an OCI runtime: youki's libcontainer in-process, or an
//! OCI runtime binary (crun, runc).
//!
//! Implementations clone or fork from the calling process, so they are only used inside
//! the single-threaded shim, never in berthd.

mod binary;
mod executor;
mod libcontainer_rt;
pub mod seccomp_bpf;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use binary::OciBinaryRuntime;
pub use executor::{lookup_error, BerthExecutor, ExecExecutor, Filter};
pub use libcontainer_rt::LibcontainerRuntime;

/// The stdio the container's init gets; `None` means the runtime's default (the console
/// when a console socket is given).
#[derive(Default)]
pub struct CreateOpts {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Unix socket the runtime connects to and sends the pty master over (`SCM_RIGHTS`).
    pub console_socket: Option<PathBuf>,
}

/// A process to start inside a running container (`docker exec`).
#[derive(Default)]
pub struct ExecOpts {
    /// The OCI `process` object (args, env, cwd, user, capabilities, terminal) as a file.
    pub process_json: PathBuf,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// For a terminal process: where the runtime sends the pty master.
    pub console_socket: Option<PathBuf>,
    /// Apply the container's seccomp profile (false for a privileged exec).
    pub seccomp: bool,
}

/// What the runtime knows about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeState {
    pub pid: Option<i32>,
    /// OCI status: `creating`, `created`, `running`, `stopped`, `paused`.
    pub status: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0} not found in the runtime")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

impl RuntimeError {
    pub fn kind(&self) -> berth_model::ErrorKind {
        match self {
            Self::NotFound(_) => berth_model::ErrorKind::NotFound,
            Self::Failed(_) => berth_model::ErrorKind::Internal,
        }
    }
}

/// An OCI runtime, addressed by container id; the bundle is the whole contract.
pub trait Runtime {
    /// Creates the container (init waits for `start`) and returns the init's host pid.
    fn create(&self, id: &str, bundle: &Path, opts: CreateOpts) -> Result<i32, RuntimeError>;
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;
    /// Removes the runtime's state and the container's cgroups.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
    fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError>;
    /// Starts a process in the running container (its namespaces and cgroup); returns
    /// its host pid once it runs. The process is a child of the caller (or, with a
    /// runtime binary, of the caller's subreaper).
    fn exec(&self, id: &str, bundle: &Path, opts: ExecOpts) -> Result<i32, RuntimeError>;
    /// Freezes every process of the container.
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
}

/// Flattens an error and its sources into one line, the way runc words nested errors.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        cur = e.source();
    }
    msg
}

/// Keeps the part of a runtime error the docker CLI keys its exit codes on
/// (`exec: "x": executable file not found in $PATH` → 127, `permission denied` → 126).
pub(crate) fn docker_wording(msg: String) -> String {
    match msg.find("exec: \"") {
        Some(i) => msg[i..].to_string(),
        None => msg,
    }
}

/// Where a cgroups path (as in the spec) lives in the memory hierarchy, v1 or v2.
fn memory_cgroup_files(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    vec![
        Path::new("/sys/fs/cgroup/memory")
            .join(rel)
            .join("memory.oom_control"),
        Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
        Path::new("/sys/fs/cgroup/unified")
            .join(rel)
            .join("memory.events"),
    ]
}

/// Whether the kernel OOM-killed something in the container's cgroup; read before the
/// cgroup is removed.
pub fn cgroup_oom_killed(cgroups_path: &str) -> bool {
    for f in memory_cgroup_files(cgroups_path) {
        if let Ok(text) = std::fs::read_to_string(&f) {
            for line in text.lines() {
                if let Some(n) = line.strip_prefix("oom_kill ") {
                    if n.trim().parse::<u64>().unwrap_or(0) > 0 {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// Every cgroup directory a cgroups path may have produced on this host (all v1
/// hierarchies, the unified one, or the pure v2 root).
pub fn cgroup_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    let root = Path::new("/sys/fs/cgroup");
    let mut out = Vec::new();
    if root.join("cgroup.controllers").exists() {
        out.push(root.join(rel));
        return out;
    }
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            out.push(e.path().join(rel));
        }
    }
    out
}

/// Removes whatever cgroup directories are left for a container (leaf only), so
/// hierarchies libcontainer does not manage (the `unified` one on a hybrid host,
/// named ones) do not leak.
pub fn remove_cgroup_dirs(cgroups_path: &str) {
    for dir in cgroup_dirs(cgroups_path) {
        if dir.is_dir() {
            for _ in 0..10 {
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

/// The `linux.cgroupsPath` of a bundle, which both the OOM check and the cleanup need.
pub fn bundle_cgroups_path(bundle: &Path) -> Option<String> {
    let text = std::fs::read_to_string(bundle.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("linux")?
        .get("cgroupsPath")?
        .as_str()
        .map(str::to_string)
}
