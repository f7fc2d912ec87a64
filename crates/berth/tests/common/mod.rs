//! Test harness: a real berthd on a temporary data root, exec root and socket, driven by
//! `berth` and the docker CLI, and torn down completely (containers, shims, mounts,
//! cgroups, files) even when a test fails.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BERTHD: &str = env!("CARGO_BIN_EXE_berthd");
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips a test that needs root (namespaces, mounts) when not run as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

pub struct Daemon {
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    child: Option<Child>,
    /// More berthd flags (e.g. a bridge and nft table of the test's own).
    extra_args: Vec<String>,
}

fn short_tmp() -> PathBuf {
    // Short paths: unix socket paths are limited to 108 bytes.
    let mut rnd = [0u8; 6];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut rnd)
        .unwrap();
    let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let p = PathBuf::from(format!("/tmp/bt-{name}"));
    std::fs::create_dir_all(&p).unwrap();
    p
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_with_args(&[])
    }

    /// [`Daemon::start`] with more berthd flags, kept across [`Daemon::restart`].
    pub fn start_with_args(args: &[&str]) -> Daemon {
        let dir = short_tmp();
        let mut d = Daemon {
            sock: dir.join("berth.sock"),
            data_root: dir.join("data"),
            exec_root: dir.join("exec"),
            dir,
            child: None,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
        };
        d.spawn();
        d
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("berthd.log"))
            .unwrap();
        let child = Command::new(BERTHD)
            .arg("-H")
            .arg(self.host())
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--log-level")
            .arg("debug")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("berthd exited early ({st}): {}", self.log());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not answer /_ping: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    pub fn ping(&self) -> bool {
        self.request("GET", "/_ping", "")
            .is_some_and(|r| r.contains("200 OK"))
    }

    /// A raw HTTP/1.0 request, for tests that need exact status lines.
    pub fn request(&self, method: &str, path: &str, body: &str) -> Option<String> {
        let mut s = UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let req = format!(
            "{method} {path} HTTP/1.0\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `kill -9` the daemon, leaving its containers and shims running.
    pub fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.crash();
        self.spawn();
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd(args).output().expect("run berth")
    }

    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.args(args)
            .env("BERTH_HOST", self.host())
            .env_remove("DOCKER_HOST");
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("run docker")
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .env("DOCKER_BUILDKIT", "0");
        c
    }

    /// Imports the shared busybox rootfs as `busybox:latest`.
    pub fn with_busybox(self) -> Daemon {
        let out = self.berth(&["import", busybox_tar().to_str().unwrap(), "busybox:latest"]);
        assert!(
            out.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self
    }

    /// Processes whose command line names this daemon's directory: its shims. A
    /// container's init or exec process is a fork of its shim and carries the same
    /// command line until it execs, so children of a shim are left out.
    pub fn shim_pids(&self) -> Vec<i32> {
        let needle = self.dir.to_string_lossy().to_string();
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(" shim ") && cmd.contains(&needle) {
                    found.push((pid, parent_pid(pid)));
                }
            }
        }
        let pids: Vec<i32> = found.iter().map(|(p, _)| *p).collect();
        found
            .into_iter()
            .filter(|(_, ppid)| !ppid.is_some_and(|pp| pids.contains(&pp)))
            .map(|(p, _)| p)
            .collect()
    }

    /// Mount points under this daemon's directory.
    pub fn mounts(&self) -> Vec<String> {
        let root = self.dir.to_string_lossy().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() && self.ping() {
            if let Ok(out) = self.berth_cmd(&["ps", "-aq"]).output() {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = self.berth_cmd(&["rm", "-f", id]).output();
                }
            }
        }
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on the daemon we spawned.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Containers of a test that failed half-way: end their shims (the init dies with
        // its pid namespace when the shim kills it), then mounts, then files.
        for pid in self.shim_pids() {
            // SAFETY: plain kill(2) on a shim this test's daemon started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        if std::env::var_os("BERTH_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The parent of `pid` from `/proc/<pid>/stat` (the field after the parenthesised name).
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// A busybox rootfs tar from Debian's busybox-static, with /etc/passwd and /etc/group
/// lines (busybox-static has no adduser). Built into cargo's per-target test dir (so
/// nothing is left in /tmp), under a temporary name then renamed, so test binaries
/// running at once never see half a file.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("busybox.tar");
        let tmp = dir.join(format!("busybox.tar.{}", std::process::id()));
        build_busybox_tar(&tmp);
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
    .clone()
}

pub fn build_busybox_tar(path: &Path) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is installed (apt-get install busybox-static)");
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let dir = |b: &mut tar::Builder<std::fs::File>, name: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    };
    for d in [
        "bin", "etc", "root", "tmp", "proc", "sys", "dev", "home", "var", "usr", "usr/bin",
    ] {
        dir(&mut b, d, if d == "tmp" { 0o1777 } else { 0o755 });
    }
    let mut h = tar::Header::new_gnu();
    let data = std::fs::read(busybox).unwrap();
    h.set_size(data.len() as u64);
    h.set_mode(0o755);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", &data[..]).unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let files = [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        ("etc/group", "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"),
    ];
    for (name, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, content.as_bytes()).unwrap();
    }
    b.finish().unwrap();
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The stdout of a command that must have succeeded; the panic names the caller's line.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Runs a command with bytes on its stdin.
pub fn with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The docker-py release the client scripts in `tests/py` are written against.
pub const DOCKER_PY: &str = "docker==7.1.0";

/// A venv with docker-py, made once per target dir and reused; its python. Tests of one
/// binary run in parallel, so making it is serialised (the guard is held until return):
/// two `venv` runs into one directory fail with EEXIST.
pub fn docker_py_venv() -> PathBuf {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("docker-py-venv");
    let py = dir.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import docker"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = std::fs::remove_dir_all(&dir);
        let st = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .expect("python3");
        assert!(st.success(), "python3 -m venv failed");
        let o = Command::new(dir.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", DOCKER_PY])
            .output()
            .expect("pip");
        assert!(
            o.status.success(),
            "pip install {DOCKER_PY}: {}",
            stderr(&o)
        );
    }
    py
}
