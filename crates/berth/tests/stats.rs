//! `stats`, `update` and `port` end to end: through `berth`, the docker CLI and the raw
//! API, checked against the container's cgroups (v1 on this host) and `inspect`.

mod common;
use common::{stderr, stdout, wait_until, Daemon};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn run_d(d: &Daemon, args: &[&str]) -> String {
    let mut argv = vec!["run", "-d"];
    argv.extend_from_slice(args);
    let o = d.berth(&argv);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
}

fn cgroup(id: &str, file: &str) -> String {
    let ctrl = file.split('.').next().unwrap();
    std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/berth/{id}/{file}"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn chrono_free_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn inspect(d: &Daemon, fmt: &str, c: &str) -> String {
    stdout(&d.berth(&["inspect", "-f", fmt, c]))
        .trim()
        .to_string()
}

#[test]
fn stats_no_stream_shows_limit_pids_and_cpu() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_d(
        &d,
        &[
            "--name",
            "three",
            "-m",
            "64m",
            "busybox",
            "sh",
            "-c",
            "sleep 1000 & sleep 1000 & wait",
        ],
    );
    let busy = run_d(
        &d,
        &[
            "--name",
            "busy",
            "busybox",
            "sh",
            "-c",
            "while :; do :; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let fmt = "{{.Name}} {{.MemUsage}} {{.PIDs}}";
    for o in [
        d.berth(&["stats", "--no-stream", "--format", fmt, "three"]),
        d.docker(&["stats", "--no-stream", "--format", fmt, "three"]),
    ] {
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(out.starts_with("three "), "{out}");
        assert!(out.ends_with(" / 64MiB 3\n"), "{out}");
    }
    // The default table, as docker prints it.
    let o = d.berth(&["stats", "--no-stream", "three", "busy"]);
    let out = stdout(&o);
    assert!(
        out.starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");
    let o = d.docker(&["stats", "--no-stream", "--format", "{{json .}}", "busy"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["Name"], "busy");
    assert_eq!(v["ID"], &busy[..12]);

    // The busy loop's CPU time grows between samples and shows as a real percentage.
    let raw = d
        .request("GET", "/containers/busy/stats?stream=0", "")
        .unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap();
    let s: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let now = s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    let before = s["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    assert!(now > before && before > 0, "{body}");
    assert!(s["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert_eq!(s["name"], "/busy");
    // On the default bridge: eth0's counters, never lo's (as dockerd reports them).
    let nets = s["networks"].as_object().expect("networks");
    assert_eq!(nets.keys().collect::<Vec<_>>(), ["eth0"], "{body}");
    assert!(nets["eth0"]["rx_bytes"].is_u64(), "{body}");
    let o = d.berth(&["stats", "--no-stream", "--format", "{{.CPUPerc}}", "busy"]);
    let pct: f64 = stdout(&o).trim().trim_end_matches('%').parse().unwrap();
    assert!(pct > 20.0, "{pct}");
    let o = d.berth(&["stats", "--no-stream", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: nope"),
        "{}",
        stderr(&o)
    );

    // A stopped container gives zeroed numbers.
    assert!(d.berth(&["kill", "busy"]).status.success());
    let raw = d
        .request("GET", "/containers/busy/stats?stream=0", "")
        .unwrap();
    assert!(raw.contains("\"read\":\"0001-01-01T00:00:00Z\""), "{raw}");
    let o = d.berth(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.CPUPerc}} {{.MemUsage}}",
        "busy",
    ]);
    assert_eq!(stdout(&o), "0.00% 0B / 0B\n");
}

#[test]
fn stats_stream_has_precpu() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_d(&d, &["--name", "st", "busybox", "sleep", "1000"]);
    let mut s = UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /v1.41/containers/st/stats HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut samples: Vec<serde_json::Value> = Vec::new();
    let mut line = String::new();
    while samples.len() < 2 {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "stream ended");
        let t = line.trim();
        if t.starts_with('{') {
            samples.push(serde_json::from_str(t).unwrap());
        }
    }
    assert_eq!(samples[0]["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(samples[1]["preread"], samples[0]["read"]);
    assert_eq!(
        samples[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        samples[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );
    assert!(
        samples[1]["precpu_stats"]["system_cpu_usage"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn update_running_and_stopped_containers() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let id = run_d(
        &d,
        &["--name", "u1", "-m", "32m", "busybox", "sleep", "1000"],
    );
    let o = d.berth(&["update", "--memory", "64m", "--pids-limit", "20", "u1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "u1\n");
    assert_eq!(cgroup(&id, "memory.limit_in_bytes"), "67108864");
    assert_eq!(cgroup(&id, "pids.max"), "20");
    assert_eq!(
        inspect(&d, "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "u1"),
        "67108864 20"
    );
    // Shrinking both memory and memsw: the kernel needs memory first.
    let o = d.berth(&["update", "-m", "16m", "--memory-swap", "24m", "u1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(cgroup(&id, "memory.limit_in_bytes"), "16777216");
    assert_eq!(cgroup(&id, "memory.memsw.limit_in_bytes"), "25165824");
    // And growing them: memsw first.
    let o = d.berth(&["update", "-m", "128m", "--memory-swap", "256m", "u1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(cgroup(&id, "memory.limit_in_bytes"), "134217728");
    assert_eq!(cgroup(&id, "memory.memsw.limit_in_bytes"), "268435456");

    // Through the docker CLI.
    let o = d.docker(&[
        "update",
        "--cpus",
        "0.5",
        "--pids-limit",
        "10",
        "--cpu-shares",
        "512",
        "u1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "u1\n");
    assert_eq!(cgroup(&id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup(&id, "cpu.shares"), "512");
    assert_eq!(cgroup(&id, "pids.max"), "10");
    assert_eq!(
        stdout(&d.docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}",
            "u1"
        ]))
        .trim(),
        "500000000 512"
    );

    // Docker's refusals and wording.
    let plain = run_d(&d, &["--name", "plain", "busybox", "sleep", "1000"]);
    let o = d.berth(&["update", "-m", "64m", "plain"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("Error response from daemon: Cannot update container {plain}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n")
    );
    let o = d.docker(&["update", "-m", "1k", "plain"]);
    assert!(
        stderr(&o).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&["update", "--cpus", "1", "--cpu-period", "50000", "plain"]);
    assert!(stderr(&o).contains("Conflicting options"), "{}", stderr(&o));
    let o = d.berth(&["update", "--pids-limit", "5", "plain", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "plain\n");
    assert!(
        stderr(&o).contains("No such container: nope"),
        "{}",
        stderr(&o)
    );

    // A stopped container's new limits apply at its next start.
    let o = d.berth(&[
        "create",
        "--name",
        "u2",
        "-m",
        "32m",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.berth(&["update", "--memory", "48m", "--pids-limit", "30", "u2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.berth(&["start", "-a", "u2"]);
    assert_eq!(stdout(&o), "30\n50331648\n", "{}", stderr(&o));
}

#[test]
fn update_restart_policy_and_event() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_d(&d, &["--name", "r1", "busybox", "sleep", "1000"]);
    let o = d.berth(&["update", "--restart", "on-failure:2", "r1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        inspect(
            &d,
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "r1"
        ),
        "on-failure 2"
    );
    let until = (chrono_free_now() + 2).to_string();
    let o = d.berth(&[
        "events",
        "--since",
        "1m",
        "--until",
        &until,
        "--filter",
        "event=update",
    ]);
    assert!(stdout(&o).contains("container update "), "{}", stdout(&o));
    // A policy set on a running container is the one applied when it exits.
    run_d(
        &d,
        &["--name", "r2", "busybox", "sh", "-c", "sleep 3; exit 3"],
    );
    let o = d.docker(&["update", "--restart", "always", "r2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_until("r2 restarted", Duration::from_secs(30), || {
        inspect(&d, "{{.RestartCount}}", "r2") != "0"
    });

    run_d(&d, &["--rm", "--name", "auto", "busybox", "sleep", "1000"]);
    let o = d.berth(&["update", "--restart", "always", "auto"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn port_without_published_ports() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_d(&d, &["--name", "np", "busybox", "sleep", "1000"]);
    for o in [d.berth(&["port", "np"]), d.docker(&["port", "np"])] {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
    let o = d.berth(&["port", "np", "80/tcp"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error: No public port '80/tcp' published for np\n"
    );
    let o = d.berth(&["port", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: No such container: nope\n"
    );
}
