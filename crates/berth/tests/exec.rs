//! `exec`, `pause`/`unpause`, `rename` and `top` on a real daemon, through `berth` and the
//! docker CLI.

mod common;
use common::{stderr, stdout, with_stdin, Daemon};
use std::time::Duration;

#[test]
fn exec_runs_inside_the_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let id = stdout(&d.berth(&[
        "run",
        "-d",
        "--name",
        "box",
        "-h",
        "inner",
        "-e",
        "FROM_RUN=1",
        "busybox",
        "sleep",
        "300",
    ]))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64);

    let o = d.berth(&[
        "exec",
        "box",
        "sh",
        "-c",
        "hostname; echo $FROM_RUN $EXTRA; pwd",
    ]);
    assert_eq!(stdout(&o), "inner\n1\n/\n", "{}", stderr(&o));
    let o = d.berth(&[
        "exec",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $EXTRA; pwd",
    ]);
    assert_eq!(stdout(&o), "2\n/tmp\n", "{}", stderr(&o));
    // Exit codes, the user, stderr.
    let o = d.berth(&["exec", "box", "sh", "-c", "echo oops >&2; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(stderr(&o), "oops\n");
    let o = d.berth(&["exec", "-u", "1000", "box", "id", "-u"]);
    assert_eq!(stdout(&o), "1000\n", "{}", stderr(&o));
    let o = d.berth(&["exec", "box", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    // Same PID namespace: the container's init is PID 1 and visible.
    let o = d.berth(&["exec", "box", "ps", "-o", "pid,comm"]);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]),
        "{}",
        stdout(&o)
    );
    // stdin.
    let o = with_stdin(
        d.berth_cmd(&["exec", "-i", "box", "tr", "a-z", "A-Z"]),
        b"shout\n",
    );
    assert_eq!(stdout(&o), "SHOUT\n", "{}", stderr(&o));
    // No engine file descriptors inside.
    let o = d.berth(&[
        "exec",
        "box",
        "sh",
        "-c",
        "ls /proc/self/fd | sort -n | tr '\\n' ' '",
    ]);
    assert_eq!(stdout(&o).trim(), "0 1 2 3", "{}", stderr(&o));
    // Detached exec leaves a process behind.
    assert!(d
        .berth(&["exec", "-d", "box", "sh", "-c", "sleep 30"])
        .status
        .success());
    common::wait_until("detached exec running", Duration::from_secs(5), || {
        stdout(&d.berth(&["exec", "box", "ps", "-o", "comm"]))
            .lines()
            .filter(|l| l.trim() == "sleep")
            .count()
            == 2
    });
    // The docker CLI does the same.
    let o = d.docker(&["exec", "box", "echo", "hi-from-exec"]);
    assert_eq!(stdout(&o), "hi-from-exec\n", "{}", stderr(&o));
    let o = with_stdin(d.docker_cmd(&["exec", "-i", "box", "wc", "-c"]), b"12345");
    assert_eq!(stdout(&o).trim(), "5", "{}", stderr(&o));
    let o = d.docker(&["exec", "box", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));

    // Exec into a stopped container fails with Docker's message.
    assert!(d.berth(&["kill", "box"]).status.success());
    let o = d.berth(&["exec", "box", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
}

#[test]
fn pause_unpause_rename_top() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let script = "while true; do date +%s%N > /tmp/tick; sleep 0.05; done";
    let id = stdout(&d.berth(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", script,
    ]))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64);
    let o = d.berth(&["pause", "ticker"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&d.berth(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Paused}}",
            "ticker"
        ])),
        "paused true\n"
    );
    assert!(stdout(&d.berth(&["ps"])).contains("(Paused)"));
    // Frozen: the tick file does not change while paused.
    let tick = |d: &Daemon| {
        let pid = stdout(&d.berth(&["inspect", "-f", "{{.State.Pid}}", "ticker"]))
            .trim()
            .to_string();
        std::fs::read_to_string(format!("/proc/{pid}/root/tmp/tick")).unwrap_or_default()
    };
    let before = tick(&d);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(tick(&d), before, "container ran while paused");
    let o = d.berth(&["exec", "ticker", "true"]);
    assert!(stderr(&o).contains("is paused"), "{}", stderr(&o));
    let o = d.docker(&["unpause", "ticker"]);
    assert!(o.status.success(), "{}", stderr(&o));
    common::wait_until("ticks again", Duration::from_secs(5), || tick(&d) != before);

    let o = d.berth(&["rename", "ticker", "clock"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.Name}}", &id])),
        "/clock\n"
    );
    let o = d.berth(&["rename", "clock", "bad name"]);
    assert_ne!(o.status.code(), Some(0));

    let o = d.berth(&["top", "clock"]);
    let out = stdout(&o);
    assert!(
        out.starts_with("UID") && out.contains("while true"),
        "{out}\n{}",
        stderr(&o)
    );
    let o = d.docker(&["top", "clock", "-o", "pid,comm"]);
    assert!(stdout(&o).contains("sh"), "{}\n{}", stdout(&o), stderr(&o));

    // A paused container can still be stopped and removed.
    assert!(d.berth(&["pause", "clock"]).status.success());
    assert!(d.berth(&["rm", "-f", "clock"]).status.success());
    assert!(stdout(&d.berth(&["ps", "-aq"])).trim().is_empty());
}
