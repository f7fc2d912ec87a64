//! Health checks end to end: `--health-*` flags and an image `HEALTHCHECK`, the probe
//! monitor, `State.Health` in inspect, the `ps` status and `health` filter, the
//! `health_status` events, and the status across stop and a daemon restart; through
//! `berth` and the docker CLI.

mod common;
use common::{stderr, stdout, wait_until, Daemon};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn health(d: &Daemon, name: &str) -> Value {
    let o = d.berth(&["inspect", name]);
    assert!(o.status.success(), "inspect {name}: {}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v[0]["State"]["Health"].clone()
}

fn status(d: &Daemon, name: &str) -> String {
    health(d, name)["Status"].as_str().unwrap_or("").to_string()
}

fn wait_status(d: &Daemon, name: &str, want: &str, within: Duration) {
    wait_until(&format!("{name} to be {want}"), within, || {
        status(d, name) == want
    });
}

fn ps_status(d: &Daemon, name: &str, docker: bool) -> String {
    let args = [
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ];
    let o = if docker {
        d.docker(&args)
    } else {
        d.berth(&args)
    };
    assert!(o.status.success(), "ps: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

fn ps_names(d: &Daemon, filter: &str) -> Vec<String> {
    let o = d.docker(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
    assert!(o.status.success(), "ps --filter {filter}: {}", stderr(&o));
    let mut v: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn run_ok(d: &Daemon, args: &[&str]) {
    let o = d.berth(args);
    assert!(o.status.success(), "berth {args:?}: {}", stderr(&o));
}

#[test]
fn healthy_container_shows_in_inspect_ps_and_filters() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "ok",
            "--health-cmd",
            "echo probing; true",
            "--health-interval",
            "200ms",
            "busybox",
            "sleep",
            "300",
        ],
    );
    run_ok(
        &d,
        &["run", "-d", "--name", "plain", "busybox", "sleep", "300"],
    );
    // The config as the docker CLI would have sent it.
    let o = d.berth(&["inspect", "-f", "{{json .Config.Healthcheck}}", "ok"]);
    let hc: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        hc,
        serde_json::json!({"Test": ["CMD-SHELL", "echo probing; true"], "Interval": 200_000_000})
    );
    wait_status(&d, "ok", "healthy", Duration::from_secs(10));
    let h = health(&d, "ok");
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{h}");
    assert_eq!(log[0]["ExitCode"], 0);
    assert_eq!(log[0]["Output"], "probing\n");
    assert!(log[0]["Start"].as_str().unwrap().ends_with('Z'));
    assert!(log[0]["End"].as_str().unwrap() >= log[0]["Start"].as_str().unwrap());
    // Only containers with a check have State.Health.
    assert!(health(&d, "plain").is_null());
    for docker in [false, true] {
        let s = ps_status(&d, "ok", docker);
        assert!(s.starts_with("Up ") && s.ends_with(" (healthy)"), "{s}");
        let s = ps_status(&d, "plain", docker);
        assert!(s.starts_with("Up ") && !s.contains('('), "{s}");
    }
    // The docker CLI reads the same State.Health.
    let o = d.docker(&["inspect", "-f", "{{.State.Health.Status}}", "ok"]);
    assert_eq!(stdout(&o).trim(), "healthy", "{}", stderr(&o));
    assert_eq!(ps_names(&d, "health=healthy"), vec!["ok"]);
    assert_eq!(ps_names(&d, "health=none"), vec!["plain"]);
    assert!(ps_names(&d, "health=unhealthy").is_empty());
    assert!(ps_names(&d, "health=starting").is_empty());
    let o = d.docker(&["ps", "--filter", "health=great"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Unrecognised filter value for health: great"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn starting_status_and_failing_probe_becomes_unhealthy() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let since = unix_now().to_string();
    // A long first interval: `starting` is visible, as `(health: starting)`.
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "slow",
            "--health-cmd",
            "true",
            "--health-interval",
            "1h",
            "busybox",
            "sleep",
            "300",
        ],
    );
    assert_eq!(status(&d, "slow"), "starting");
    assert_eq!(health(&d, "slow")["Log"], serde_json::json!([]));
    let s = ps_status(&d, "slow", true);
    assert!(s.ends_with(" (health: starting)"), "{s}");
    assert_eq!(ps_names(&d, "health=starting"), vec!["slow"]);

    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "bad",
            "--health-cmd",
            "echo broken >&2; exit 3",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "busybox",
            "sleep",
            "300",
        ],
    );
    wait_status(&d, "bad", "unhealthy", Duration::from_secs(10));
    let h = health(&d, "bad");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 3);
    assert_eq!(last["Output"], "broken\n");
    let s = ps_status(&d, "bad", false);
    assert!(s.ends_with(" (unhealthy)"), "{s}");
    // The log keeps the last five results.
    wait_until("five results", Duration::from_secs(10), || {
        health(&d, "bad")["Log"].as_array().map(Vec::len) == Some(5)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(health(&d, "bad")["Log"].as_array().unwrap().len(), 5);

    // health_status events, and the probes' exec events, as Docker emits them.
    let until = (unix_now() + 1).to_string();
    let o = d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=bad",
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        vec!["health_status: unhealthy bad"],
        "{}",
        stderr(&o)
    );
    let o = d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=bad",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    let shell = "/bin/sh -c echo broken >&2; exit 3";
    assert_eq!(
        actions[..5],
        [
            "create".to_string(),
            "start".into(),
            format!("exec_create: {shell}"),
            format!("exec_start: {shell}"),
            "exec_die".into(),
        ],
        "{actions:?}"
    );
    assert!(actions.contains(&"health_status: unhealthy".to_string()));
}

#[test]
fn hanging_probe_times_out() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "hang",
            "--health-cmd",
            "echo started; sleep 60",
            "--health-interval",
            "100ms",
            "--health-timeout",
            "300ms",
            "--health-retries",
            "1",
            "busybox",
            "sleep",
            "300",
        ],
    );
    wait_status(&d, "hang", "unhealthy", Duration::from_secs(15));
    let h = health(&d, "hang");
    let first = &h["Log"][0];
    assert_eq!(first["ExitCode"], -1, "{h}");
    assert_eq!(
        first["Output"],
        "Health check exceeded timeout (300ms): started\n"
    );
    // The probe was killed: no `sleep 60` piles up in the container.
    std::thread::sleep(Duration::from_millis(800));
    let o = d.berth(&["top", "hang"]);
    assert!(stdout(&o).contains("sleep 300"), "{}", stdout(&o));
    let sleepers = stdout(&o)
        .lines()
        .filter(|l| l.contains("sleep 60"))
        .count();
    assert!(sleepers <= 1, "{}", stdout(&o));
}

#[test]
fn image_healthcheck_applies_and_no_healthcheck_disables_it() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let tar = common::busybox_tar();
    let o = d.berth(&[
        "import",
        "--change",
        "HEALTHCHECK --interval=200ms --retries=2 CMD [\"sh\", \"-c\", \"test -e /tmp/ok\"]",
        "--change",
        "CMD [\"sleep\", \"300\"]",
        tar.to_str().unwrap(),
        "checked:latest",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck}}",
        "checked",
    ]);
    let hc: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        hc,
        serde_json::json!({"Test": ["CMD", "sh", "-c", "test -e /tmp/ok"], "Interval": 200_000_000, "Retries": 2})
    );
    // A bad HEALTHCHECK is refused with the builder's message.
    let o = d.berth(&[
        "import",
        "--change",
        "HEALTHCHECK --interval=5 CMD true",
        tar.to_str().unwrap(),
        "bad:latest",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("time: missing unit in duration \"5\""),
        "{}",
        stderr(&o)
    );

    // The image's check applies, fails until the file exists, then passes.
    run_ok(&d, &["run", "-d", "--name", "img", "checked"]);
    wait_status(&d, "img", "unhealthy", Duration::from_secs(10));
    run_ok(&d, &["exec", "img", "touch", "/tmp/ok"]);
    wait_status(&d, "img", "healthy", Duration::from_secs(10));
    // Container values override the image's field by field.
    run_ok(
        &d,
        &[
            "create",
            "--name",
            "merged",
            "--health-retries",
            "7",
            "checked",
        ],
    );
    let o = d.docker(&["inspect", "-f", "{{json .Config.Healthcheck}}", "merged"]);
    let hc: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        hc,
        serde_json::json!({"Test": ["CMD", "sh", "-c", "test -e /tmp/ok"], "Interval": 200_000_000, "Retries": 7})
    );
    // --no-healthcheck disables it: no State.Health, no probes.
    let o = d.docker(&["run", "-d", "--name", "off", "--no-healthcheck", "checked"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::thread::sleep(Duration::from_millis(700));
    assert!(health(&d, "off").is_null());
    let s = ps_status(&d, "off", true);
    assert!(s.starts_with("Up ") && !s.contains('('), "{s}");
    assert_eq!(ps_names(&d, "health=none"), vec!["merged", "off"]);
    let o = d.docker(&[
        "run",
        "-d",
        "--no-healthcheck",
        "--health-retries",
        "2",
        "checked",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--no-healthcheck conflicts with --health-* options"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stop_ends_probes_and_restart_resets_to_starting() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "st",
            "--health-cmd",
            "true",
            "--health-interval",
            "100ms",
            "busybox",
            "sleep",
            "300",
        ],
    );
    wait_status(&d, "st", "healthy", Duration::from_secs(10));
    run_ok(&d, &["stop", "-t", "1", "st"]);
    let stopped_at = unix_now();
    std::thread::sleep(Duration::from_millis(600));
    // No probe after the stop: no exec events, the log no longer grows.
    let log_len = health(&d, "st")["Log"].as_array().unwrap().len();
    let end = health(&d, "st")["Log"].as_array().unwrap().last().unwrap()["End"].clone();
    std::thread::sleep(Duration::from_millis(400));
    let h = health(&d, "st");
    assert_eq!(h["Log"].as_array().unwrap().len(), log_len);
    assert_eq!(h["Log"].as_array().unwrap().last().unwrap()["End"], end);
    let o = d.docker(&[
        "events",
        "--since",
        &(stopped_at + 1).to_string(),
        "--until",
        &(unix_now() + 1).to_string(),
        "--filter",
        "container=st",
        "--format",
        "{{.Action}}",
    ]);
    assert!(
        !stdout(&o).contains("exec_"),
        "probes after stop: {}",
        stdout(&o)
    );
    // Docker keeps the last health state of a stopped container.
    assert_eq!(h["Status"], "healthy");
    let s = ps_status(&d, "st", true);
    assert_eq!(s, "", "a stopped container is not listed without -a");

    // A paused container is not probed.
    run_ok(&d, &["start", "st"]);
    wait_status(&d, "st", "healthy", Duration::from_secs(10));
    run_ok(&d, &["pause", "st"]);
    let n = health(&d, "st")["Log"].as_array().unwrap().clone();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(health(&d, "st")["Log"].as_array().unwrap(), &n);
    let s = ps_status(&d, "st", false);
    assert!(s.ends_with("(Paused)"), "{s}");
    run_ok(&d, &["unpause", "st"]);
    wait_until("a probe after unpause", Duration::from_secs(10), || {
        health(&d, "st")["Log"].as_array().unwrap() != &n
    });

    // Restarting the container starts over at `starting` (the log is kept).
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "again",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "busybox",
            "sleep",
            "300",
        ],
    );
    wait_status(&d, "again", "healthy", Duration::from_secs(10));
    let o = d.docker(&["restart", "-t", "1", "again"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let h = health(&d, "again");
    assert_eq!(h["Status"], "starting", "{h}");
    assert!(!h["Log"].as_array().unwrap().is_empty());
    wait_status(&d, "again", "healthy", Duration::from_secs(10));
}

#[test]
fn health_survives_a_daemon_restart() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "live",
            "--health-cmd",
            "true",
            "--health-interval",
            "200ms",
            "busybox",
            "sleep",
            "300",
        ],
    );
    run_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "sick",
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "100ms",
            "--health-retries",
            "1",
            "busybox",
            "sleep",
            "300",
        ],
    );
    wait_status(&d, "live", "healthy", Duration::from_secs(10));
    wait_status(&d, "sick", "unhealthy", Duration::from_secs(10));
    run_ok(&d, &["stop", "-t", "1", "sick"]);
    let before = health(&d, "sick");
    let live_first = health(&d, "live")["Log"][0].clone();
    d.restart();
    // A stopped container keeps exactly what it had.
    assert_eq!(health(&d, "sick"), before);
    assert_eq!(ps_names(&d, "health=unhealthy"), vec!["sick"]);
    // A running one keeps its log and is probed again (as dockerd's restore, it starts
    // over at `starting` and becomes healthy at the next probe).
    let h = health(&d, "live");
    assert!(h["Status"] == "starting" || h["Status"] == "healthy", "{h}");
    assert!(!h["Log"].as_array().unwrap().is_empty(), "{h}");
    wait_until("new probes after restart", Duration::from_secs(10), || {
        let h = health(&d, "live");
        h["Status"] == "healthy" && h["Log"][0] != live_first
    });
    let s = ps_status(&d, "live", true);
    assert!(s.ends_with(" (healthy)"), "{s}");
}
