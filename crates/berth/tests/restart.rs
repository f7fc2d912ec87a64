//! Restart policies: on-failure with a limit, always until stopped, and containers brought
//! back when berthd starts.

mod common;
use common::{stderr, stdout, Daemon};
use std::time::Duration;

fn state(d: &Daemon, name: &str) -> String {
    stdout(&d.berth(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
        name,
    ]))
    .trim()
    .to_string()
}

#[test]
fn on_failure_stops_after_its_retries() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    common::wait_until("two restarts then exited", Duration::from_secs(15), || {
        state(&d, "flaky") == "exited 2 3"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(state(&d, "flaky"), "exited 2 3", "restarted past its limit");
    // A clean exit is not a failure.
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    assert!(o.status.success());
    common::wait_until("fine exited", Duration::from_secs(10), || {
        state(&d, "fine") == "exited 0 0"
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&d, "fine"), "exited 0 0");
}

#[test]
fn always_restarts_until_stopped_and_comes_back_with_the_daemon() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    common::wait_until("restarted twice", Duration::from_secs(15), || {
        state(&d, "loop")
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0)
            >= 2
    });
    let o = d.berth(&["stop", "-t", "1", "loop"]);
    assert!(o.status.success(), "{}", stderr(&o));
    common::wait_until("loop stopped", Duration::from_secs(5), || {
        state(&d, "loop").starts_with("exited")
    });
    let count = state(&d, "loop");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(state(&d, "loop"), count, "restarted after a manual stop");

    // On daemon start: `always` comes back even after a manual stop; `unless-stopped`
    // only if it was not stopped by the user.
    assert!(d
        .berth(&[
            "run",
            "-d",
            "--name",
            "keep",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "300"
        ])
        .status
        .success());
    assert!(d
        .berth(&[
            "run",
            "-d",
            "--name",
            "held",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "300"
        ])
        .status
        .success());
    assert!(d.berth(&["stop", "-t", "1", "held"]).status.success());
    d.crash();
    d.restart();
    common::wait_until("loop back", Duration::from_secs(10), || {
        state(&d, "loop").starts_with("running") || state(&d, "loop").starts_with("restarting")
    });
    assert!(
        state(&d, "keep").starts_with("running"),
        "{}",
        state(&d, "keep")
    );
    assert!(
        state(&d, "held").starts_with("exited"),
        "{}",
        state(&d, "held")
    );
}

/// `on_exit` leaves a `--rm` container's exit to its removal to persist; one that exits
/// while berthd is down must still be removed, rootfs and all, when berthd comes back.
#[test]
fn a_rm_container_that_exited_while_berthd_was_down_is_removed_on_restart() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    let id = stdout(&d.berth(&["run", "-d", "--rm", "busybox", "sh", "-c", "sleep 1"]));
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    d.crash();
    std::thread::sleep(Duration::from_millis(1500));
    d.restart();
    common::wait_until(
        "the --rm container removed",
        Duration::from_secs(10),
        || {
            stdout(&d.berth(&["ps", "-aq", "--no-trunc"]))
                .trim()
                .is_empty()
        },
    );
    let o = d.berth(&["inspect", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such"), "{}", stderr(&o));
    assert!(!d.data_root.join("containers").join(&id).exists());
}

#[test]
fn restart_verb_with_timeout_and_signal_through_both_clis() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let script = "trap 'echo got-INT >> /seen; exit 0' INT; echo up >> /seen; \
                  while :; do sleep 0.1; done";
    let o = d.berth(&["run", "-d", "--name", "rs", "busybox", "sh", "-c", script]);
    assert!(o.status.success(), "{}", stderr(&o));
    let started = |d: &Daemon| stdout(&d.berth(&["inspect", "-f", "{{.State.StartedAt}}", "rs"]));
    let first = started(&d);
    let o = d.berth(&["restart", "-t", "30", "-s", "SIGINT", "rs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "rs");
    assert!(
        state(&d, "rs").starts_with("running"),
        "{}",
        state(&d, "rs")
    );
    assert_ne!(started(&d), first);
    common::wait_until("the second start wrote", Duration::from_secs(10), || {
        stdout(&d.berth(&["exec", "rs", "cat", "/seen"])) == "up\ngot-INT\nup\n"
    });
    let o = d.docker(&["restart", "-t", "1", "rs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        state(&d, "rs").starts_with("running"),
        "{}",
        state(&d, "rs")
    );
    let o = d.berth(&["restart", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: nosuch"),
        "{}",
        stderr(&o)
    );
    // `--until 0s` is now in whole seconds (as the docker CLI sends it): the events of the
    // current second come once it has passed.
    common::wait_until("two restart events", Duration::from_secs(5), || {
        let o = d.berth(&[
            "events",
            "--since",
            "0",
            "--until",
            "0s",
            "--filter",
            "event=restart",
        ]);
        stdout(&o).lines().count() == 2
    });
}
