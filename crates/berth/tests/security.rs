//! Run flags that change what a container may touch: `--device`, `--tmpfs`, `--init` and
//! custom seccomp profiles, through berth and through the docker CLI.

mod common;
use common::{stderr, stdout, Daemon};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The static init the build puts beside berthd (see scripts/test.sh).
fn require_init() {
    let init = Path::new(common::BERTHD).with_file_name("berth-init");
    assert!(
        init.is_file(),
        "{} is missing: build it with `cargo rustc --release -p berth-init --bin berth-init \
         --features static-bin -- -C target-feature=+crt-static` (scripts/test.sh does)",
        init.display()
    );
}

#[test]
fn device_is_created_and_allowed() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "--rm",
        "--device",
        "/dev/zero:/dev/myzero",
        "busybox",
        "sh",
        "-c",
        "head -c 4 /dev/myzero | od; ls -l /dev/myzero",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out} {}", stderr(&o));
    assert!(out.starts_with("0000000 000000 000000\n0000004\n"), "{out}");
    assert!(
        out.contains("crw-rw-rw-") && out.contains("1,   5"),
        "{out}"
    );

    let o = d.berth(&["run", "--rm", "busybox", "ls", "/dev/myzero"]);
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));

    // The same through the docker CLI, the device keeping its host name.
    let o = d.docker(&[
        "run",
        "--rm",
        "--device",
        "/dev/zero",
        "busybox",
        "sh",
        "-c",
        "head -c 2 /dev/zero | od",
    ]);
    assert_eq!(stdout(&o), "0000000 000000\n0000002\n", "{}", stderr(&o));
}

#[test]
fn device_permissions_are_enforced() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // /dev/kmsg is outside Docker's default device allow-list, so only its own rule counts.
    let o = d.berth(&[
        "run",
        "--rm",
        "--device",
        "/dev/kmsg:/dev/mykmsg:r",
        "busybox",
        "sh",
        "-c",
        "echo berth-device-test > /dev/mykmsg",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "--device",
        "/dev/kmsg:/dev/mykmsg:rw",
        "busybox",
        "sh",
        "-c",
        "echo berth-device-test > /dev/mykmsg",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn device_cgroup_rules_allow_nodes_made_inside() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let script = "mknod /tmp/k c 1 11 && echo berth-rule-test > /tmp/k";
    let o = d.berth(&["run", "--rm", "busybox", "sh", "-c", script]);
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    for client in ["berth", "docker"] {
        let args = [
            "run",
            "--rm",
            "--device-cgroup-rule",
            "c 1:11 w",
            "busybox",
            "sh",
            "-c",
            script,
        ];
        let o = if client == "berth" {
            d.berth(&args)
        } else {
            d.docker(&args)
        };
        assert!(o.status.success(), "{client}: {}", stderr(&o));
    }
    let o = d.berth(&[
        "run",
        "--rm",
        "--device-cgroup-rule",
        "c 1:11",
        "busybox",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("invalid device cgroup format 'c 1:11'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_device_fails_with_docker_message() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let want = "error gathering device information while adding custom device \"/dev/berth-nope\": no such file or directory";
    let o = d.berth(&[
        "run",
        "--rm",
        "--device",
        "/dev/berth-nope",
        "busybox",
        "true",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains(want), "{}", stderr(&o));
    let o = d.docker(&["run", "--device", "/dev/berth-nope", "busybox", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains(want), "{}", stderr(&o));
}

#[test]
fn tmpfs_with_options_under_read_only_rootfs() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        "busybox",
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts; echo hi > /scratch/f && cat /scratch/f; \
         printf '#!/bin/sh\\necho ran\\n' > /scratch/s; chmod +x /scratch/s; /scratch/s; \
         touch /x",
    ]);
    let out = stdout(&o);
    let err = stderr(&o);
    let line = out.lines().next().unwrap_or_default();
    assert!(line.starts_with("tmpfs /scratch tmpfs rw,"), "{out} {err}");
    for opt in ["nosuid", "nodev", "noexec", "size=1024k"] {
        assert!(line.split([',', ' ']).any(|o| o == opt), "{opt} in {line}");
    }
    assert!(out.contains("\nhi\n"), "{out} {err}");
    assert!(!out.contains("ran"), "{out}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(err.contains("Read-only file system"), "{err}");

    // The docker CLI's map form, with `exec` overriding the default `noexec`.
    let o = d.docker(&[
        "run",
        "--rm",
        "--tmpfs",
        "/run/x:exec,mode=1777",
        "busybox",
        "sh",
        "-c",
        "grep ' /run/x ' /proc/mounts; stat -c %a /run/x",
    ]);
    let out = stdout(&o);
    assert!(
        !out.contains("noexec") && out.ends_with("\n1777\n"),
        "{out} {}",
        stderr(&o)
    );

    let o = d.berth(&["run", "--rm", "--tmpfs", "/x:bogus", "busybox", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Invalid tmpfs option [\"bogus\"]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn init_is_pid_one_and_runs_the_command() {
    require_root!();
    require_init();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline; echo; grep ' /sbin/docker-init ' /proc/mounts",
    ]);
    let out = stdout(&o);
    assert!(
        out.starts_with("/sbin/docker-init -- sh -c "),
        "{out} {}",
        stderr(&o)
    );
    // The host's binary is bind-mounted read-only.
    let mount = out.lines().nth(1).unwrap_or_default();
    assert!(
        mount
            .split(' ')
            .nth(3)
            .is_some_and(|o| o.split(',').any(|o| o == "ro")),
        "{out}"
    );

    // The exit code passes through; inspect shows the user's command, not the init.
    let o = d.berth(&[
        "run", "--name", "seven", "--init", "busybox", "sh", "-c", "exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let o = d.docker(&[
        "inspect",
        "-f",
        "{{.Path}} {{json .Args}} {{.HostConfig.Init}} {{.State.ExitCode}}",
        "seven",
    ]);
    assert_eq!(
        stdout(&o),
        "sh [\"-c\",\"exit 7\"] true 7\n",
        "{}",
        stderr(&o)
    );

    let o = d.docker(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn init_reaps_zombies() {
    require_root!();
    require_init();
    let d = Daemon::start().with_busybox();
    // The backgrounded sleep is orphaned when its subshell exits, so the init inherits it.
    let o = d.berth(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "(sleep 0.1 &); sleep 1; ps -o pid,ppid,stat,comm",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out} {}", stderr(&o));
    assert!(out.contains("docker-init"), "{out}");
    assert!(
        !out.lines().skip(1).any(|l| l
            .split_whitespace()
            .nth(2)
            .is_some_and(|s| s.starts_with('Z'))),
        "zombie left: {out}"
    );
}

#[test]
fn init_forwards_stop_signal() {
    require_root!();
    require_init();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run", "-d", "--name", "sl", "--init", "busybox", "sleep", "1000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A signal that reaches PID 1 before the init has blocked it is dropped by the kernel
    // (as with Docker); once the init has forked the command, its handling is in place.
    common::wait_until("init and its child", Duration::from_secs(10), || {
        stdout(&d.berth(&["top", "sl"])).lines().count() == 3
    });
    let t = Instant::now();
    let o = d.berth(&["stop", "-t", "10", "sl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}: SIGTERM was not forwarded",
        t.elapsed()
    );
    assert_eq!(
        stdout(&d.berth(&["inspect", "-f", "{{.State.ExitCode}}", "sl"])),
        "143\n"
    );
}

fn write_profile(d: &Daemon) -> PathBuf {
    let path = d.dir.join("no-mkdir.json");
    std::fs::write(
        &path,
        r#"{
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
    ]
}
"#,
    )
    .unwrap();
    path
}

#[test]
fn seccomp_profile_file_blocks_mkdir() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let profile = write_profile(&d);
    let opt = format!("seccomp={}", profile.display());
    for client in ["berth", "docker"] {
        let args = [
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "sh",
            "-c",
            "mkdir /x",
        ];
        let o = if client == "berth" {
            d.berth(&args)
        } else {
            d.docker(&args)
        };
        assert_ne!(o.status.code(), Some(0), "{client}");
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{client}: {}",
            stderr(&o)
        );
    }
    let o = d.berth(&["run", "--rm", "busybox", "mkdir", "/x"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Built-in names still work, alone or with no-new-privileges.
    let o = d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sh",
        "-c",
        "mkdir /x && grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
    ]);
    assert_eq!(
        stdout(&o),
        "NoNewPrivs:\t1\nSeccomp:\t0\n",
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_seccomp_profiles_are_refused() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/nonexistent/profile.json",
        "busybox",
        "true",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains(
            "opening seccomp profile (/nonexistent/profile.json) failed: open /nonexistent/profile.json: no such file or directory"
        ),
        "{}",
        stderr(&o)
    );

    let bad = d.dir.join("bad.json");
    std::fs::write(&bad, r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#).unwrap();
    let opt = format!("seccomp={}", bad.display());
    for client in ["berth", "docker"] {
        let args = ["create", "--security-opt", &opt, "busybox", "true"];
        let o = if client == "berth" {
            d.berth(&args)
        } else {
            d.docker(&args)
        };
        assert_ne!(o.status.code(), Some(0), "{client}");
        let err = stderr(&o);
        assert!(
            err.contains("Decoding seccomp profile failed") && err.contains("SCMP_ACT_SOMETIMES"),
            "{client}: {err}"
        );
    }
    // Nothing was created.
    assert_eq!(stdout(&d.berth(&["ps", "-aq"])), "");
}
