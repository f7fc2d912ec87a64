//! Interactive use: `run -it` on a real pseudo-terminal (raw mode, resize) and Ctrl-C
//! forwarding on a foreground `run`.

mod common;
use common::Daemon;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn wait_for(buf: &Arc<Mutex<Vec<u8>>>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if String::from_utf8_lossy(&buf.lock().unwrap()).contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "no {needle:?} in terminal output: {:?}",
        String::from_utf8_lossy(&buf.lock().unwrap())
    );
}

/// Runs `cmd` as the session leader of a new pseudo-terminal of `size`; returns the
/// child, the terminal's master (to type into and resize) and everything it printed.
fn spawn_on_pty(
    mut cmd: std::process::Command,
    size: &nix::pty::Winsize,
) -> (std::process::Child, std::fs::File, Arc<Mutex<Vec<u8>>>) {
    let pty = nix::pty::openpty(Some(size), None).unwrap();
    cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(pty.slave);
    let master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().unwrap();
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (child, master, out)
}

fn wait_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "{what} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interactive_shell_on_a_tty_with_resize() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let cmd = d.berth_cmd(&["run", "--rm", "-it", "busybox", "sh"]);
    let (mut child, master, out) = spawn_on_pty(cmd, &size);
    let mut writer = master.try_clone().unwrap();
    writer.write_all(b"echo $((6*7))\r").unwrap();
    wait_for(&out, "42");
    writer.write_all(b"stty size\r").unwrap();
    wait_for(&out, "24 80");
    let bigger = nix::pty::Winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize on our own pty master.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &bigger) };
    std::thread::sleep(Duration::from_millis(300));
    writer.write_all(b"stty size\r").unwrap();
    wait_for(&out, "30 100");
    writer.write_all(b"exit 3\r").unwrap();
    assert_eq!(wait_exit(&mut child, "berth run -it").code(), Some(3));
}

/// Ctrl-P Ctrl-Q leaves an attached terminal and the container running; the docker CLI's
/// attach says "read escape sequence" and exits 1, and so does berth's.
#[test]
fn attach_to_a_tty_and_detach_with_the_escape_keys() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&["run", "-dit", "--name", "sh1", "busybox", "sh"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    for cli in ["berth", "docker"] {
        let cmd = match cli {
            "berth" => d.berth_cmd(&["attach", "sh1"]),
            _ => d.docker_cmd(&["attach", "sh1"]),
        };
        let (mut child, master, out) = spawn_on_pty(cmd, &size);
        let mut writer = master.try_clone().unwrap();
        writer.write_all(b"echo $((6*7))\r").unwrap();
        wait_for(&out, "42");
        writer.write_all(b"\x10\x11").unwrap();
        assert_eq!(wait_exit(&mut child, cli).code(), Some(1), "{cli}");
        wait_for(&out, "read escape sequence");
        let state = d.berth(&["inspect", "-f", "{{.State.Running}}", "sh1"]);
        assert_eq!(common::stdout(&state).trim(), "true", "after {cli}");
    }
}

#[test]
fn ctrl_c_is_forwarded_to_the_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let script = "trap 'echo got INT; exit 7' INT; echo ready; while true; do sleep 0.1; done";
    let mut child = d
        .berth_cmd(&["run", "--rm", "busybox", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // SAFETY: plain kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(lines.next().unwrap().unwrap(), "got INT");
    assert_eq!(child.wait().unwrap().code(), Some(7));
}
