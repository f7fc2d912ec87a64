//! Resource limits reach the container's cgroups (v1 here) and `inspect`; an OOM kill is
//! reported.

mod common;
use common::{stderr, stdout, Daemon};

#[test]
fn limits_are_applied_and_shown() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run", "--rm", "-m", "32m", "--pids-limit", "20", "--cpus", "0.5", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    assert_eq!(stdout(&o), "33554432\n20\n50000\n", "{}", stderr(&o));
    let o = d.docker(&[
        "run", "-d", "--name", "lim", "-m", "64m", "busybox", "sleep", "300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&d.docker(&["inspect", "-f", "{{.HostConfig.Memory}}", "lim"])).trim(),
        "67108864"
    );
    let o = d.berth(&["run", "--rm", "-m", "1k", "busybox", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Minimum memory limit"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_oom_kill_is_reported() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo survived",
    ]);
    assert_eq!(o.status.code(), Some(137), "{} {}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&d.berth(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "hog"
        ])),
        "true 137\n"
    );
}
