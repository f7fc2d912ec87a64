//! The per-container shim (`berthd shim <config>`) and the engine's client for it.
//!
//! The shim is the parent and reaper of the container's init, owns its stdio, writes its
//! json-file log and its exit status, and serves a small control socket. It lives in its
//! own session so it outlives berthd.

mod client;
mod exec;
mod protocol;
mod server;
mod setup;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_model::ErrorKind;
use serde::{Deserialize, Serialize};

pub use client::{ExecSession, ShimAttach, ShimClient, ShimState};
pub use protocol::{Request, Response};
pub use server::shim_main;

/// A process to run inside the running container (`docker exec`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ExecSpec {
    /// Unique per exec, `[0-9a-f]{64}`.
    pub exec_id: String,
    pub args: Vec<String>,
    /// The full environment of the process (the engine merges container and exec env).
    pub env: Vec<String>,
    /// `""` = the container's working dir (`/` if none).
    pub cwd: String,
    /// Docker form (`""`, `name`, `uid:gid`), resolved against the container's rootfs.
    pub user: String,
    pub tty: bool,
    /// Open a stdin pipe.
    pub stdin: bool,
    /// All capabilities, no seccomp (as `docker exec --privileged`).
    pub privileged: bool,
    /// (height, width)
    pub console_size: Option<(u16, u16)>,
}

/// Everything the shim needs, written by the engine as JSON next to the container state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub runtime_root: PathBuf,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub log_path: PathBuf,
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    /// Docker's log `attrs` (`--log-opt labels=`, `env=`, ...), written on every line.
    #[serde(default)]
    pub log_attrs: std::collections::BTreeMap<String, String>,
    /// (height, width) applied to the pty before the process starts.
    pub console_size: Option<(u16, u16)>,
    /// An OCI runtime binary (`crun`, `runc`) instead of the built-in libcontainer.
    #[serde(default)]
    pub runtime_binary: Option<PathBuf>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    pub exit_code: i32,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
}

const EXIT_FILE: &str = "exit.json";

/// The exit status a shim recorded, so berthd can learn how a container ended while it
/// was down.
pub fn read_exit_status(state_dir: &Path) -> Option<ExitStatus> {
    let text = std::fs::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Written atomically and durably: a crash at any point leaves the old file or the new one.
pub fn write_exit_status(state_dir: &Path, status: &ExitStatus) -> io::Result<()> {
    let tmp = state_dir.join(format!("{EXIT_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(status).map_err(io::Error::other)?)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, state_dir.join(EXIT_FILE))?;
    std::fs::File::open(state_dir)?.sync_all()
}

/// Removes a previous run's exit status before a new start.
pub fn clear_exit_status(state_dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(state_dir.join(EXIT_FILE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The shim or the runtime refused; the message is the one the user should see.
    #[error("{message}")]
    Remote { kind: ErrorKind, message: String },
    #[error("shim at {path} is not reachable: {source}")]
    Unreachable { path: PathBuf, source: io::Error },
    #[error("shim for container {id} exited without reporting: {detail}")]
    Died { id: String, detail: String },
    #[error("shim protocol error: {0}")]
    Protocol(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl ShimError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Remote { kind, .. } => *kind,
            Self::Unreachable { .. } => ErrorKind::Unavailable,
            Self::Died { .. } | Self::Protocol(_) | Self::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// What kind a runtime failure is, judged by the words the docker CLI also keys on.
pub(crate) fn runtime_error_kind(message: &str) -> ErrorKind {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("permission denied")
        || message.contains("is a directory")
    {
        ErrorKind::InvalidArgument
    } else {
        ErrorKind::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send<T: Send>(_: T) {}

    /// The engine holds clients across tasks: the client and its futures must be Send.
    #[allow(dead_code)]
    fn client_futures_are_send(c: &ShimClient, cfg: &ShimConfig) {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<ShimClient>();
        is_send(ShimClient::spawn(Path::new("x"), cfg));
        is_send(ShimClient::connect(Path::new("x")));
        is_send(c.start());
        is_send(c.attach(true, true, true));
        is_send(c.resize(1, 1));
        is_send(c.kill(9, false));
        is_send(c.wait());
        is_send(c.exec(&ExecSpec::default()));
        is_send(c.exec_resize("x", 1, 1));
        is_send(c.pause());
        is_send(c.resume());
    }

    #[test]
    fn exit_status_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_exit_status(dir.path()).is_none());
        let st = ExitStatus {
            exit_code: 143,
            oom_killed: false,
            finished_at: "2026-01-01T00:00:00.5Z".into(),
        };
        write_exit_status(dir.path(), &st).unwrap();
        assert_eq!(read_exit_status(dir.path()), Some(st));
        assert!(!dir.path().join("exit.json.tmp").exists());
        clear_exit_status(dir.path()).unwrap();
        assert!(read_exit_status(dir.path()).is_none());
        clear_exit_status(dir.path()).unwrap();
    }
}
