//! The shim test harness: a busybox rootfs, an OCI bundle, a real shim, cleanup on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_model::api::{LogsOptions, StdStream};
use berth_runtime::logs::read_logs;
use berth_runtime::runtime::{cgroup_dirs, remove_cgroup_dirs};
use berth_runtime::{ShimClient, ShimConfig, ShimError};
use serde_json::json;

pub const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim-test");
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "ps", "ls", "stty", "wc", "id", "env", "head",
    "hostname", "tty", "readlink", "mkdir",
];

pub fn root_or_skip(name: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping {name}: needs root");
    false
}

pub struct Opts {
    pub args: Vec<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub pid_ns: bool,
    pub runtime_binary: Option<PathBuf>,
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    pub memory_limit: Option<i64>,
    /// `linux.seccomp` of the spec.
    pub seccomp: Option<serde_json::Value>,
}

impl Opts {
    pub fn new(args: &[&str]) -> Self {
        Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            tty: false,
            open_stdin: false,
            pid_ns: true,
            runtime_binary: None,
            log_max_size: None,
            log_max_file: 1,
            memory_limit: None,
            seccomp: None,
        }
    }
}

/// One container's temp dirs; on drop kills whatever is left and removes the runtime
/// state and cgroups, so a failing test leaks nothing.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub cfg: ShimConfig,
    pub cgroups_path: String,
    pub pid: std::cell::Cell<Option<i32>>,
}

impl Fixture {
    pub fn new(name: &str, o: Opts) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-shim-")
            .tempdir()
            .unwrap();
        let id = format!(
            "{name}-{}-{}",
            std::process::id(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let id = id.replace('.', "");
        let bundle = dir.path().join("bundle");
        make_rootfs(&bundle.join("rootfs"));
        let cgroups_path = format!("berth-test/{id}");
        write_spec(&bundle, &o, &cgroups_path);
        let state_dir = dir.path().join("state");
        let cfg = ShimConfig {
            id: id.clone(),
            bundle,
            socket: state_dir.join("ctl.sock"),
            state_dir: state_dir.clone(),
            runtime_root: dir.path().join("runtime"),
            tty: o.tty,
            open_stdin: o.open_stdin,
            stdin_once: o.open_stdin,
            log_path: state_dir.join(format!("{id}-json.log")),
            log_max_size: o.log_max_size,
            log_max_file: o.log_max_file,
            log_attrs: Default::default(),
            console_size: o.tty.then_some((24, 80)),
            runtime_binary: o.runtime_binary,
        };
        Fixture {
            dir,
            cfg,
            cgroups_path,
            pid: Default::default(),
        }
    }

    pub async fn spawn(&self) -> Result<ShimClient, ShimError> {
        let c = ShimClient::spawn(Path::new(SHIM), &self.cfg).await?;
        self.pid.set(Some(c.pid()));
        Ok(c)
    }

    pub fn logs(&self) -> Vec<(String, String)> {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        read_logs(&self.cfg.log_path, &opts)
            .unwrap()
            .into_iter()
            .map(|e| (e.stream, e.log))
            .collect()
    }

    /// Nothing of the container may survive its exit: runtime state, cgroups, socket.
    pub fn assert_cleaned_up(&self) {
        assert!(
            !self.cfg.runtime_root.join(&self.cfg.id).exists(),
            "runtime state left behind"
        );
        for d in cgroup_dirs(&self.cgroups_path) {
            assert!(!d.exists(), "cgroup {} left behind", d.display());
        }
        assert!(!self.cfg.socket.exists(), "socket left behind");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.get() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            // A test that failed while the container was paused: a frozen process only
            // dies once thawed.
            for d in cgroup_dirs(&self.cgroups_path) {
                let _ = std::fs::write(d.join("freezer.state"), "THAWED");
                let _ = std::fs::write(d.join("cgroup.freeze"), "0");
            }
            for _ in 0..50 {
                if !self.cfg.socket.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(self.cfg.runtime_root.join(&self.cfg.id));
        remove_cgroup_dirs(&self.cgroups_path);
        let _ = &self.dir;
    }
}

pub fn make_rootfs(root: &Path) {
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("data.txt"), "not a program\n").unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n",
    )
    .unwrap();
}

pub fn write_spec(bundle: &Path, o: &Opts, cgroups_path: &str) {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    let mut namespaces = vec![
        json!({"type": "mount"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "network"}),
    ];
    if o.pid_ns {
        namespaces.push(json!({"type": "pid"}));
    }
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(limit) = o.memory_limit {
        resources["memory"] = json!({"limit": limit, "swap": limit});
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": o.tty,
            "user": {"uid": 0, "gid": 0},
            "args": o.args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "HOME=/root"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": namespaces,
            "resources": resources,
            "maskedPaths": ["/proc/kcore", "/proc/keys"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    let mut spec = spec;
    if let Some(profile) = &o.seccomp {
        spec["linux"]["seccomp"] = profile.clone();
    }
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();
}

/// Everything an attach session delivers until the shim closes it.
pub async fn collect(
    mut out: tokio::sync::mpsc::Receiver<(StdStream, bytes::Bytes)>,
) -> (String, String) {
    let (mut so, mut se) = (Vec::new(), Vec::new());
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some((s, b)) = out.recv().await {
            match s {
                StdStream::Stderr => se.extend_from_slice(&b),
                _ => so.extend_from_slice(&b),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "attach output did not end");
    (
        String::from_utf8_lossy(&so).into_owned(),
        String::from_utf8_lossy(&se).into_owned(),
    )
}

pub async fn wait(c: &ShimClient) -> berth_runtime::ExitStatus {
    tokio::time::timeout(Duration::from_secs(30), c.wait())
        .await
        .expect("wait timed out")
        .unwrap()
}
