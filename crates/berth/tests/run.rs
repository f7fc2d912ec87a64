//! `berth run` end to end on a real daemon: exit codes, stdio, config, isolation, cleanup.

mod common;
use common::{stderr, stdout, with_stdin, Daemon};
use std::time::Duration;

#[test]
fn echo_and_exit_codes() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&["run", "--rm", "busybox", "echo", "hello from berth"]);
    assert_eq!(
        stdout(&o),
        "hello from berth\n",
        "stderr: {}\n{}",
        stderr(&o),
        d.log()
    );
    assert_eq!(o.status.code(), Some(0));

    let o = d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 42"]);
    assert_eq!(o.status.code(), Some(42));

    let o = d.berth(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "stderr: {}", stderr(&o));
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );

    let o = d.berth(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "stderr: {}", stderr(&o));

    let o = d.berth(&["run", "--rm", "no-such-image:1", "true"]);
    assert_eq!(o.status.code(), Some(125), "stderr: {}", stderr(&o));
}

#[test]
fn stdio_is_separated_and_stdin_reaches_the_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");

    let o = with_stdin(
        d.berth_cmd(&[
            "run",
            "--rm",
            "-i",
            "busybox",
            "sh",
            "-c",
            "tr a-z A-Z; echo done",
        ]),
        b"piped input\n",
    );
    assert_eq!(stdout(&o), "PIPED INPUT\ndone\n", "stderr: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn env_workdir_user_hostname() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let envfile = d.dir.join("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\n").unwrap();
    let o = d.berth(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi there",
        "--env-file",
        envfile.to_str().unwrap(),
        "-w",
        "/tmp",
        "-u",
        "app",
        "-h",
        "boxy",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; echo $FROM_FILE; pwd; id -u; id -g; hostname; cat /etc/hostname",
    ]);
    assert_eq!(
        stdout(&o),
        "hi there\nyes\n/tmp\n1000\n1000\nboxy\nboxy\n",
        "stderr: {}",
        stderr(&o)
    );

    let o = d.berth(&["run", "--rm", "-u", "1234:5678", "busybox", "id"]);
    assert!(
        stdout(&o).starts_with("uid=1234 gid=5678"),
        "{}",
        stdout(&o)
    );

    let o = d.berth(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "via",
        "entrypoint",
    ]);
    assert_eq!(stdout(&o), "via entrypoint\n");
}

#[test]
fn container_is_isolated() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // Own PID namespace: its command is PID 1 and the only process.
    let o = d.berth(&["run", "--rm", "busybox", "ps", "-o", "pid,comm"]);
    let rows: Vec<_> = stdout(&o)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows, vec!["1 ps"], "{}", stdout(&o));
    // Own UTS namespace.
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let o = d.berth(&["run", "--rm", "busybox", "hostname"]);
    let inside = stdout(&o).trim().to_string();
    assert!(
        !inside.is_empty() && inside != host,
        "hostname {inside:?} vs host {host:?}"
    );
    // No CAP_SYS_ADMIN: mount is refused.
    let o = d.berth(&[
        "run", "--rm", "busybox", "mount", "-t", "tmpfs", "none", "/mnt",
    ]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "mount succeeded inside the container"
    );
    // Cgroup hierarchies are read-only: a container cannot raise its own limits.
    let o = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do \
           [ -e $f ] || continue; echo 1 > $f 2>/dev/null && echo writable $f; done; \
         mkdir /sys/fs/cgroup/memory/x 2>/dev/null && echo mkdir; \
         touch /sys/fs/cgroup/x 2>/dev/null && echo touch; echo checked",
    ]);
    assert_eq!(stdout(&o), "checked\n", "{}", stderr(&o));
    // Its own network namespace: lo and its veth on the default bridge (only lo with
    // `--network none`).
    let o = d.berth(&["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        vec!["eth0", "lo"]
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        vec!["lo"]
    );
    // /sys is read-only, /proc/kcore masked.
    let o = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "touch /sys/x 2>/dev/null && echo writable || echo ro",
    ]);
    assert_eq!(stdout(&o), "ro\n");
}

#[test]
fn rm_leaves_nothing_behind() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&["run", "--rm", "--name", "gone", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    common::wait_until("container removed", Duration::from_secs(10), || {
        stdout(&d.berth(&["ps", "-aq"])).trim().is_empty()
    });
    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
    let left: Vec<_> = std::fs::read_dir(d.data_root.join("containers"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "container dirs left: {left:?}");
    common::wait_until("shims gone", Duration::from_secs(5), || {
        d.shim_pids().is_empty()
    });

    // create + start + rm: the same.
    let id = stdout(&d.berth(&["create", "busybox", "sleep", "30"]))
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    assert!(d.berth(&["start", &id]).status.success());
    let o = d.berth(&["rm", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("You cannot remove a running container"),
        "{}",
        stderr(&o)
    );
    assert!(d.berth(&["rm", "-f", &id]).status.success());
    assert!(d.mounts().is_empty(), "mounts left: {:?}", d.mounts());
    assert!(!d.data_root.join("containers").join(&id).exists());
    let snaps: Vec<_> = std::fs::read_dir(d.data_root.join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("rw-") || n.starts_with("tmp-"))
        .collect();
    assert!(snaps.is_empty(), "snapshot dirs left: {snaps:?}");
    for ctl in ["memory", "pids", "cpu", "freezer", "devices"] {
        let p = std::path::Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join("berth")
            .join(&id);
        assert!(!p.exists(), "cgroup left: {}", p.display());
    }
}
