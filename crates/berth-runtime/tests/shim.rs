//! Drives real shims (libcontainer, and crun when installed) against a busybox rootfs.
//! Needs root; prints a notice and passes otherwise.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use berth_model::ErrorKind;
use berth_runtime::{read_exit_status, ShimClient};
use common::*;
use tokio::io::AsyncWriteExt;

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
