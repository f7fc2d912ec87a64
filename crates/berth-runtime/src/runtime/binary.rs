//! An OCI runtime binary (`--runtime crun`/`runc`) driven through its command line.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{docker_wording, CreateOpts, ExecOpts, Runtime, RuntimeError, RuntimeState};

pub struct OciBinaryRuntime {
    pub binary: PathBuf,
    /// Passed as `--root`, so berth's containers do not mix with the runtime's default root.
    pub state_root: PathBuf,
}

impl OciBinaryRuntime {
    pub fn new(binary: impl Into<PathBuf>, state_root: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            state_root: state_root.into(),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(&self.state_root);
        cmd
    }

    fn run(&self, id: &str, args: &[&str]) -> Result<String, RuntimeError> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| RuntimeError::Failed(format!("run {}: {e}", self.binary.display())))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if err.contains("does not exist") || (err.contains("not found") && !err.contains("exec:")) {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Err(RuntimeError::Failed(docker_wording(runtime_message(&err))))
    }
}

/// crun words a failed exec its own way; the docker CLI keys exit codes 126/127 on runc's.
fn runc_wording(msg: String) -> String {
    if let Some(rest) = msg.split("executable file `").nth(1) {
        if let Some((cmd, tail)) = rest.split_once('`') {
            if tail.trim_start().starts_with("not found") {
                return format!("exec: \"{cmd}\": executable file not found in $PATH");
            }
        }
    }
    if msg.contains("Permission denied") && !msg.contains("permission denied") {
        return msg.replace("Permission denied", "permission denied");
    }
    msg
}

/// runc/crun may log JSON lines (`{"msg": ...}`) or plain text; keep the message.
fn runtime_message(stderr: &str) -> String {
    let last = stderr.lines().last().unwrap_or("").trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(last) {
        if let Some(m) = v.get("msg").and_then(|m| m.as_str()) {
            return m.to_string();
        }
    }
    last.to_string()
}

impl OciBinaryRuntime {
    /// Runs `<runtime> --log L <args...> [--console-socket S] <id>` with the given stdio and
    /// returns the pid it wrote. The runtime's own stderr is the process's stderr, so its
    /// errors are read back from the JSON log instead, in Docker's wording.
    #[allow(clippy::too_many_arguments)]
    fn run_for_pid(
        &self,
        id: &str,
        args: &[&OsStr],
        log: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        stdio: [Option<std::os::fd::OwnedFd>; 3],
        what: &str,
    ) -> Result<i32, RuntimeError> {
        let mut cmd = self.command();
        cmd.arg("--log").arg(log).arg("--log-format").arg("json");
        cmd.args(args);
        if let Some(sock) = console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        cmd.arg(id);
        let [stdin, stdout, stderr] = stdio;
        let to_stdio =
            |fd: Option<std::os::fd::OwnedFd>| fd.map(Stdio::from).unwrap_or_else(Stdio::null);
        cmd.stdin(to_stdio(stdin))
            .stdout(to_stdio(stdout))
            .stderr(to_stdio(stderr));
        let status = cmd
            .status()
            .map_err(|e| RuntimeError::Failed(format!("run {}: {e}", self.binary.display())))?;
        let logged = std::fs::read_to_string(log).unwrap_or_default();
        let _ = std::fs::remove_file(log);
        if !status.success() {
            let msg = logged
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v.get("level").and_then(|l| l.as_str()) == Some("error"))
                .filter_map(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_string))
                .next_back()
                .unwrap_or_else(|| runtime_message(&logged));
            return Err(RuntimeError::Failed(docker_wording(runc_wording(msg))));
        }
        let pid = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .ok_or_else(|| {
                RuntimeError::Failed(format!("runtime wrote no {what}pid for container {id}"))
            })?;
        let _ = std::fs::remove_file(pid_file);
        Ok(pid)
    }
}

impl Runtime for OciBinaryRuntime {
    fn create(&self, id: &str, bundle: &Path, opts: CreateOpts) -> Result<i32, RuntimeError> {
        std::fs::create_dir_all(&self.state_root).map_err(|e| {
            RuntimeError::Failed(format!(
                "create runtime root {}: {e}",
                self.state_root.display()
            ))
        })?;
        let pid_file = self.state_root.join(format!("{id}.pid"));
        // The runtime's own stderr is the container's stderr, so its errors are read back
        // from a log file instead.
        let log = self.state_root.join(format!("{id}.log"));
        let _ = std::fs::remove_file(&log);
        let mut args: Vec<&OsStr> =
            vec!["create".as_ref(), "--bundle".as_ref(), bundle.as_os_str()];
        args.extend(["--pid-file".as_ref(), pid_file.as_os_str()]);
        self.run_for_pid(
            id,
            &args,
            &log,
            &pid_file,
            opts.console_socket.as_deref(),
            [opts.stdin, opts.stdout, opts.stderr],
            "",
        )
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run(id, &["start", id]).map(|_| ())
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.run(id, &args).map(|_| ())
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let args: Vec<&str> = if force {
            vec!["delete", "--force", id]
        } else {
            vec!["delete", id]
        };
        match self.run(id, &args) {
            Err(RuntimeError::NotFound(_)) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    fn state(&self, id: &str) -> Result<RuntimeState, RuntimeError> {
        let out = self.run(id, &["state", id])?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| RuntimeError::Failed(format!("decode state of container {id}: {e}")))?;
        Ok(RuntimeState {
            pid: v
                .get("pid")
                .and_then(|p| p.as_i64())
                .filter(|p| *p > 0)
                .map(|p| p as i32),
            status: v
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or("unknown")
                .to_string(),
        })
    }

    fn exec(&self, id: &str, _bundle: &Path, opts: ExecOpts) -> Result<i32, RuntimeError> {
        let pid_file = opts.process_json.with_extension("pid");
        let log = opts.process_json.with_extension("log");
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&log);
        let args: Vec<&OsStr> = vec![
            "exec".as_ref(),
            "--detach".as_ref(),
            "--process".as_ref(),
            opts.process_json.as_os_str(),
            "--pid-file".as_ref(),
            pid_file.as_os_str(),
        ];
        self.run_for_pid(
            id,
            &args,
            &log,
            &pid_file,
            opts.console_socket.as_deref(),
            [opts.stdin, opts.stdout, opts.stderr],
            "exec ",
        )
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.run(id, &["pause", id]).map(|_| ())
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.run(id, &["resume", id]).map(|_| ())
    }
}
