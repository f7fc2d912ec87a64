//! Drives real shims (libcontainer, and crun when installed) against a busybox rootfs.
//! Needs root; prints a notice and passes otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_model::api::{LogsOptions, StdStream};
use berth_model::ErrorKind;
use berth_runtime::logs::read_logs;
use berth_runtime::runtime::{cgroup_dirs, remove_cgroup_dirs};
use berth_runtime::{read_exit_status, ShimClient, ShimConfig, ShimError};
use serde_json::json;
use tokio::io::AsyncWriteExt;

const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim-test");
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "ps", "ls", "stty", "wc", "id", "env", "head",
];

fn root_or_skip(name: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping {name}: needs root");
    false
}

struct Opts {
    args: Vec<String>,
    tty: bool,
    open_stdin: bool,
    pid_ns: bool,
    runtime_binary: Option<PathBuf>,
    log_max_size: Option<u64>,
    log_max_file: u32,
    memory_limit: Option<i64>,
}

impl Opts {
    fn new(args: &[&str]) -> Self {
        Self {
            args: args.iter().map(|s| s.to_string()).collect(),
            tty: false,
            open_stdin: false,
            pid_ns: true,
            runtime_binary: None,
            log_max_size: None,
            log_max_file: 1,
            memory_limit: None,
        }
    }
}

/// One container's temp dirs; on drop kills whatever is left and removes the runtime
/// state and cgroups, so a failing test leaks nothing.
struct Fixture {
    dir: tempfile::TempDir,
    cfg: ShimConfig,
    cgroups_path: String,
    pid: std::cell::Cell<Option<i32>>,
}

impl Fixture {
    fn new(name: &str, o: Opts) -> Self {
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

    async fn spawn(&self) -> Result<ShimClient, ShimError> {
        let c = ShimClient::spawn(Path::new(SHIM), &self.cfg).await?;
        self.pid.set(Some(c.pid()));
        Ok(c)
    }

    fn logs(&self) -> Vec<(String, String)> {
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
    fn assert_cleaned_up(&self) {
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

fn make_rootfs(root: &Path) {
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("data.txt"), "not a program\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
}

fn write_spec(bundle: &Path, o: &Opts, cgroups_path: &str) {
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
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();
}

/// Everything an attach session delivers until the shim closes it.
async fn collect(
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

async fn wait(c: &ShimClient) -> berth_runtime::ExitStatus {
    tokio::time::timeout(Duration::from_secs(30), c.wait())
        .await
        .expect("wait timed out")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn output_reaches_log_and_attach_and_exit_code_propagates() {
    if !root_or_skip("output_reaches_log_and_attach_and_exit_code_propagates") {
        return;
    }
    let f = Fixture::new(
        "out",
        Opts::new(&["sh", "-c", "echo out; echo err >&2; echo more; exit 3"]),
    );
    let c = f.spawn().await.unwrap();
    assert!(c.pid() > 1);
    assert_eq!(c.state().await.unwrap().status, "created");
    let a = c.attach(false, true, true).await.unwrap();
    assert!(a.input.is_none());
    c.start().await.unwrap();
    let (so, se) = collect(a.output).await;
    assert_eq!(so, "out\nmore\n");
    assert_eq!(se, "err\n");
    let st = wait(&c).await;
    assert_eq!(st.exit_code, 3);
    assert!(!st.oom_killed);
    assert!(chrono::DateTime::parse_from_rfc3339(&st.finished_at).is_ok());
    assert_eq!(read_exit_status(&f.cfg.state_dir), Some(st.clone()));
    let mut logs = f.logs();
    logs.sort();
    assert_eq!(
        logs,
        [
            ("stderr".into(), "err\n".into()),
            ("stdout".into(), "more\n".into()),
            ("stdout".into(), "out\n".into())
        ]
    );
    // The shim is gone, but wait still answers from exit.json.
    assert_eq!(c.wait().await.unwrap(), st);
    f.assert_cleaned_up();
}

#[tokio::test(flavor = "multi_thread")]
async fn output_without_clients_is_logged_and_rotated() {
    if !root_or_skip("output_without_clients_is_logged_and_rotated") {
        return;
    }
    let mut o = Opts::new(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; printf partial",
    ]);
    o.log_max_size = Some(64 * 1024);
    o.log_max_file = 10;
    let f = Fixture::new("quiet", o);
    let c = f.spawn().await.unwrap();
    c.start().await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 0);
    let logs = f.logs();
    assert_eq!(logs.len(), 3001);
    for (i, (stream, line)) in logs.iter().take(3000).enumerate() {
        assert_eq!(stream, "stdout");
        assert_eq!(line, &format!("line {i}\n"));
    }
    assert_eq!(logs[3000].1, "partial");
    assert!(berth_runtime::logs::rotated_name(&f.cfg.log_path, 1).exists());
    f.assert_cleaned_up();
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_through_attach_and_stdin_once() {
    if !root_or_skip("stdin_through_attach_and_stdin_once") {
        return;
    }
    let mut o = Opts::new(&["sh", "-c", "cat; echo done"]);
    o.open_stdin = true;
    let f = Fixture::new("stdin", o);
    let c = f.spawn().await.unwrap();
    let a = c.attach(true, true, true).await.unwrap();
    // A second client sees the same output.
    let b = c.attach(false, true, false).await.unwrap();
    c.start().await.unwrap();
    let mut input = a.input.unwrap();
    input.write_all(b"hello\nworld\n").await.unwrap();
    input.shutdown().await.unwrap();
    drop(input);
    let ((so, se), (so2, _)) = tokio::join!(collect(a.output), collect(b.output));
    assert_eq!(so, "hello\nworld\ndone\n");
    assert_eq!(so2, so);
    assert_eq!(se, "");
    assert_eq!(wait(&c).await.exit_code, 0);
    f.assert_cleaned_up();
}

#[tokio::test(flavor = "multi_thread")]
async fn tty_echo_resize_and_exit() {
    if !root_or_skip("tty_echo_resize_and_exit") {
        return;
    }
    let mut o = Opts::new(&["sh"]);
    o.tty = true;
    o.open_stdin = true;
    let f = Fixture::new("tty", o);
    let c = f.spawn().await.unwrap();
    let a = c.attach(true, true, true).await.unwrap();
    c.start().await.unwrap();
    let mut input = a.input.unwrap();
    input
        .write_all(b"stty size; echo hi-$((1+2))\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.resize(30, 100).await.unwrap();
    input.write_all(b"stty size; exit 5\n").await.unwrap();
    let (so, se) = collect(a.output).await;
    assert_eq!(se, "");
    assert!(so.contains("24 80\r\n"), "{so:?}");
    assert!(so.contains("hi-3\r\n"), "{so:?}");
    assert!(so.contains("30 100\r\n"), "{so:?}");
    assert_eq!(wait(&c).await.exit_code, 5);
    let logged: String = f.logs().into_iter().map(|(_, l)| l).collect();
    assert!(logged.contains("hi-3"), "{logged:?}");
    f.assert_cleaned_up();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_gives_143_and_sigkill_all_gives_137() {
    if !root_or_skip("sigterm_gives_143_and_sigkill_all_gives_137") {
        return;
    }
    // Without a pid namespace `sleep` is not an init, so SIGTERM's default action applies.
    let mut o = Opts::new(&["sleep", "100"]);
    o.pid_ns = false;
    let f = Fixture::new("term", o);
    let c = f.spawn().await.unwrap();
    c.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.kill(libc::SIGTERM, false).await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 143);
    f.assert_cleaned_up();

    let f = Fixture::new("kill", Opts::new(&["sh", "-c", "sleep 100 & sleep 100"]));
    let c = f.spawn().await.unwrap();
    c.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.kill(libc::SIGKILL, true).await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 137);
    f.assert_cleaned_up();
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_unexecutable_command_is_reported_with_docker_wording() {
    if !root_or_skip("missing_or_unexecutable_command_is_reported_with_docker_wording") {
        return;
    }
    let f = Fixture::new("missing", Opts::new(&["no-such-cmd", "x"]));
    let err = f.spawn().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("exec: \"no-such-cmd\": executable file not found in $PATH"),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    f.assert_cleaned_up();

    let f = Fixture::new("noexec", Opts::new(&["/data.txt"]));
    let err = f.spawn().await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert!(err.to_string().contains("exec: \"/data.txt\""), "{err}");
    f.assert_cleaned_up();
}

#[tokio::test(flavor = "multi_thread")]
async fn oom_kill_is_recorded() {
    if !root_or_skip("oom_kill_is_recorded") {
        return;
    }
    let mut o = Opts::new(&[
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    o.memory_limit = Some(16 * 1024 * 1024);
    let f = Fixture::new("oom", o);
    let c = f.spawn().await.unwrap();
    c.start().await.unwrap();
    let st = wait(&c).await;
    assert!(st.oom_killed, "{st:?} {:?}", f.logs());
    assert_eq!(st.exit_code, 137);
    f.assert_cleaned_up();
}

fn proc_status_field(pid: i32, field: &str) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn shim_outlives_client_and_container_gets_only_stdio() {
    if !root_or_skip("shim_outlives_client_and_container_gets_only_stdio") {
        return;
    }
    let f = Fixture::new("detach", Opts::new(&["sleep", "100"]));
    let c = f.spawn().await.unwrap();
    let pid = c.pid();
    c.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);

    // The init's parent is the shim: a session leader that is not our child.
    let shim = proc_status_field(pid, "PPid:").unwrap();
    assert_ne!(shim, std::process::id() as i32);
    assert_ne!(
        proc_status_field(shim, "PPid:").unwrap(),
        std::process::id() as i32
    );
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(shim))).unwrap();
    assert_eq!(sid.as_raw(), shim);

    drop(c);
    let c = ShimClient::connect(&f.cfg.socket).await.unwrap();
    assert_eq!(c.pid(), pid);
    let st = c.state().await.unwrap();
    assert_eq!(st.status, "running");
    let err = c.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    c.kill(libc::SIGKILL, false).await.unwrap();
    assert_eq!(wait(&c).await.exit_code, 137);
    let err = c.kill(libc::SIGKILL, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    f.assert_cleaned_up();
}

#[tokio::test(flavor = "multi_thread")]
async fn crun_binary_runtime() {
    if !root_or_skip("crun_binary_runtime") {
        return;
    }
    let Some(crun) = ["/usr/bin/crun", "/usr/local/bin/crun"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("skipping crun_binary_runtime: crun not installed");
        return;
    };
    let mut o = Opts::new(&["sh", "-c", "echo via crun; exit 4"]);
    o.runtime_binary = Some(crun.clone());
    let f = Fixture::new("crun", o);
    let c = match f.spawn().await {
        Err(e) if e.to_string().contains("hybrid mode not supported") => {
            eprintln!("skipping crun_binary_runtime: this crun does not support the host's cgroup layout: {e}");
            return;
        }
        r => r.unwrap(),
    };
    let a = c.attach(false, true, true).await.unwrap();
    c.start().await.unwrap();
    let (so, _) = collect(a.output).await;
    assert_eq!(so, "via crun\n");
    assert_eq!(wait(&c).await.exit_code, 4);
    f.assert_cleaned_up();

    let mut o = Opts::new(&["no-such-cmd"]);
    o.runtime_binary = Some(crun);
    let f = Fixture::new("crunmiss", o);
    let err = f.spawn().await.unwrap_err();
    assert!(err.to_string().contains("no-such-cmd"), "{err}");
}
