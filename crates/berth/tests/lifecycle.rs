//! Detached containers: ps, logs, wait, stop, kill, inspect, and bad input.

mod common;
use common::{stderr, stdout, Daemon};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn detached_ps_logs_wait_stop_kill() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "echo started; echo oops >&2; sleep 300",
    ]);
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{} {}", stdout(&o), stderr(&o));

    let ps = stdout(&d.berth(&["ps"]));
    assert!(ps.contains("web") && ps.contains(&id[..12]), "{ps}");
    assert_eq!(stdout(&d.berth(&["ps", "-q", "--no-trunc"])).trim(), id);
    assert_eq!(
        stdout(&d.berth(&["ps", "-q", "--filter", "name=web"])).trim(),
        &id[..12]
    );
    // dockerd's name filter is a regular expression, with or without the leading slash.
    for f in ["name=^web$", "name=^/we", "name=w.b"] {
        assert_eq!(
            stdout(&d.berth(&["ps", "-q", "--filter", f])).trim(),
            &id[..12],
            "{f}"
        );
    }
    assert!(stdout(&d.berth(&["ps", "-q", "--filter", "name=^eb"]))
        .trim()
        .is_empty());
    assert_eq!(
        stdout(&d.berth(&["ps", "-q", "--filter", "label=tier=front"])).trim(),
        &id[..12]
    );
    assert!(stdout(&d.berth(&["ps", "-q", "--filter", "status=exited"]))
        .trim()
        .is_empty());

    common::wait_until("log lines", Duration::from_secs(10), || {
        let o = d.berth(&["logs", "web"]);
        stdout(&o) == "started\n" && stderr(&o) == "oops\n"
    });
    let o = d.berth(&["logs", "-t", "--tail", "1", "web"]);
    let line = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        line.starts_with("20") && line.ends_with(" oops\n"),
        "{line:?}"
    );

    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.State.Status}} {{.Name}}", "web"])),
        "running /web\n"
    );
    assert!(stdout(&d.berth(&["inspect", "web"]))
        .trim_start()
        .starts_with('['));

    let o = d.berth(&["stop", "-t", "1", "web"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // sh as PID 1 ignores SIGTERM, so stop had to SIGKILL after the grace period.
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.State.ExitCode}}", "web"])),
        "137\n"
    );
    assert_eq!(stdout(&d.berth(&["wait", "web"])), "137\n");
    assert!(stdout(&d.berth(&["ps", "-a", "--filter", "status=exited", "-q"])).contains(&id[..12]));

    // kill -s on a running container; the exit code says which signal.
    // PID 1 gets only the signals it handles, hence the trap.
    let script = "trap 'exit 143' TERM; echo trapped; while true; do sleep 0.1; done";
    let id2 = stdout(&d.berth(&["run", "-d", "busybox", "sh", "-c", script]))
        .trim()
        .to_string();
    // A signal sent before the trap is set is ignored by PID 1 and lost.
    common::wait_until("the trap is set", Duration::from_secs(10), || {
        stdout(&d.berth(&["logs", &id2])).contains("trapped")
    });
    let o = d.berth(&["kill", "-s", "TERM", &id2]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&d.berth(&["wait", &id2])), "143\n");
    let o = d.berth(&["kill", &id2]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));

    // start again after an exit; logs -f ends when the container does.
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done",
    ]);
    assert!(o.status.success());
    let o = d.berth(&["logs", "-f", "counter"]);
    assert_eq!(stdout(&o), "1\n2\n3\n");
    assert!(d.berth(&["start", "-a", "counter"]).status.success());
    assert_eq!(stdout(&d.berth(&["logs", "counter"])), "1\n2\n3\n1\n2\n3\n");
}

#[test]
fn bad_input_is_refused_clearly() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // The socket is mode 0660, and the default pidfile names the daemon.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let pid = std::fs::read_to_string(d.exec_root.join("berthd.pid")).unwrap();
    assert_eq!(pid.trim(), d.pid().to_string());
    // Unknown image.
    let r = d
        .request(
            "POST",
            "/v1.41/containers/create",
            r#"{"Image":"nope:1","Cmd":["true"]}"#,
        )
        .unwrap();
    assert!(
        r.starts_with("HTTP/1.1 404") || r.starts_with("HTTP/1.0 404"),
        "{r}"
    );
    assert!(r.contains("No such image: nope:1"), "{r}");
    // Malformed body.
    let r = d
        .request("POST", "/v1.41/containers/create", r#"{"Image": ["#)
        .unwrap();
    assert!(r.contains(" 400 "), "{r}");
    // Unknown container.
    let r = d
        .request("GET", "/v1.41/containers/missing/json", "")
        .unwrap();
    assert!(
        r.contains(" 404 ") && r.contains("No such container: missing"),
        "{r}"
    );
    // Name conflict.
    assert!(d
        .berth(&["create", "--name", "twin", "busybox", "true"])
        .status
        .success());
    let o = d.berth(&["create", "--name", "twin", "busybox", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    let r = d
        .request(
            "POST",
            "/v1.41/containers/create?name=twin",
            r#"{"Image":"busybox","Cmd":["true"]}"#,
        )
        .unwrap();
    assert!(r.contains(" 409 "), "{r}");
    // A corrupt tar is refused and leaves nothing in the store.
    let blobs = d.data_root.join("content/blobs/sha256");
    let before = std::fs::read_dir(&blobs).unwrap().count();
    let bad = d.dir.join("bad.tar");
    let mut bytes = std::fs::read(common::busybox_tar()).unwrap();
    bytes.truncate(bytes.len() / 2);
    bytes[600] ^= 0xff;
    std::fs::write(&bad, &bytes).unwrap();
    let o = d.berth(&["import", bad.to_str().unwrap(), "broken:1"]);
    assert_ne!(o.status.code(), Some(0), "corrupt import succeeded");
    assert_eq!(
        std::fs::read_dir(&blobs).unwrap().count(),
        before,
        "blobs were left behind"
    );
    assert!(!stdout(&d.berth(&["images"])).contains("broken"));
    let ingest = d.data_root.join("content/ingest");
    assert_eq!(
        std::fs::read_dir(&ingest).map(|r| r.count()).unwrap_or(0),
        0
    );
}

#[test]
fn containers_survive_a_daemon_crash() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    let long = stdout(&d.berth(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 300",
    ]))
    .trim()
    .to_string();
    let short = stdout(&d.berth(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ]))
    .trim()
    .to_string();
    let follow = stdout(&d.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "sleep 2; echo after; sleep 300",
    ]))
    .trim()
    .to_string();
    assert_eq!(long.len(), 64);
    assert_eq!(short.len(), 64);
    assert_eq!(follow.len(), 64);
    common::wait_until("first log line", Duration::from_secs(10), || {
        stdout(&d.berth(&["logs", "long"])) == "before\n"
    });

    d.crash();
    std::thread::sleep(Duration::from_millis(1500));
    d.restart();

    let ps = stdout(&d.berth(&["ps", "--format", "{{.Names}}"]));
    assert!(ps.contains("long") && ps.contains("ticker"), "{ps}");
    assert_eq!(stdout(&d.berth(&["logs", "long"])), "before\n");
    // `short` exited while berthd was down: its real exit code is known.
    common::wait_until("short exited", Duration::from_secs(10), || {
        stdout(&d.berth(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "short",
        ])) == "exited 7\n"
    });
    // logs -f on a reconnected container sees new lines.
    let child = d
        .berth_cmd(&["logs", "-f", "ticker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until("ticker printed after", Duration::from_secs(10), || {
        stdout(&d.berth(&["logs", "ticker"])).contains("after")
    });
    // stop and wait work on reconnected containers.
    let o = d.berth(&["stop", "-t", "1", "ticker"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "after\n");
    let waiter = d
        .berth_cmd(&["wait", "long"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(d.berth(&["kill", "long"]).status.success());
    assert_eq!(stdout(&waiter.wait_with_output().unwrap()), "137\n");
}

#[test]
fn a_killed_shim_takes_its_container_with_it() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let id = stdout(&d.berth(&["run", "-d", "busybox", "sleep", "300"]))
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    let pid: i32 = stdout(&d.berth(&["inspect", "-f", "{{.State.Pid}}", &id]))
        .trim()
        .parse()
        .unwrap();
    let shims = d.shim_pids();
    assert_eq!(shims.len(), 1, "{shims:?}");
    // SAFETY: plain kill(2) on the shim our daemon started.
    unsafe { libc::kill(shims[0], libc::SIGKILL) };
    common::wait_until("container marked exited", Duration::from_secs(10), || {
        stdout(&d.berth(&["inspect", "-f", "{{.State.Status}}", &id])) == "exited\n"
    });
    common::wait_until("container init gone", Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    for ctl in ["memory", "pids", "cpu", "freezer", "devices"] {
        let p = std::path::Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join("berth")
            .join(&id);
        assert!(!p.exists(), "cgroup left: {}", p.display());
    }
    assert!(d.berth(&["rm", &id]).status.success());
    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
}

#[test]
fn json_file_logs_rotate_with_log_opts() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let script =
        "i=0; while [ $i -lt 300 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done";
    let o = d.berth(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&d.berth(&["inspect", "-f", "{{.Id}}", "chatty"]))
        .trim()
        .to_string();
    let mut files: Vec<String> = std::fs::read_dir(d.data_root.join("containers").join(&id))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("-json.log"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![format!("{id}-json.log"), format!("{id}-json.log.1")]
    );
    let logs = stdout(&d.berth(&["logs", "chatty"]));
    assert!(
        logs.ends_with("line-299-padding-padding-padding\n"),
        "{logs}"
    );
    assert!(!logs.starts_with("line-0-"), "nothing was rotated away");
}

#[test]
fn wait_conditions() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "create",
        "--name",
        "waiter",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; exit 3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // not-running (the default) is met at once by a created container.
    assert_eq!(stdout(&d.berth(&["wait", "waiter"])).trim(), "0");
    // next-exit waits for the coming start to end.
    let next = d
        .berth_cmd(&["wait", "--condition", "next-exit", "waiter"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.berth(&["start", "waiter"]).status.success());
    let out = next.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
    // removed waits for rm, and reports the last exit code.
    let removed = d
        .berth_cmd(&["wait", "--condition", "removed", "waiter"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.berth(&["rm", "waiter"]).status.success());
    let out = removed.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
}
