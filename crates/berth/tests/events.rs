//! `events`: the lifecycle of a container as Docker reports it, through the docker CLI and
//! `berth`.

mod common;
use common::{stderr, stdout, Daemon};
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn lifecycle_events_in_order() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let since = format!("{}", unix_now() as u64);
    let id = stdout(&d.berth(&[
        "run", "-d", "--name", "ev", "-l", "team=a", "busybox", "sleep", "300",
    ]))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64);
    assert!(d.berth(&["exec", "ev", "true"]).status.success());
    assert!(d.berth(&["pause", "ev"]).status.success());
    assert!(d.berth(&["unpause", "ev"]).status.success());
    assert!(d.berth(&["stop", "-t", "1", "ev"]).status.success());
    assert!(d.berth(&["rm", "ev"]).status.success());
    let until = format!("{:.3}", unix_now() + 1.0);
    let want = [
        "create",
        "start",
        "exec_create: true",
        "exec_start: true",
        "exec_die",
        "pause",
        "unpause",
        "kill",
        "kill",
        "die",
        "stop",
        "destroy",
    ];
    let o = d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=ev",
        "--format",
        "{{.Action}}",
    ]);
    let got: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(got, want, "{}", stderr(&o));
    // Attributes as Docker sends them: image, name, labels, exit code on die.
    let o = d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--format",
        "{{json .Actor.Attributes}}",
    ]);
    let attrs: serde_json::Value =
        serde_json::from_str(stdout(&o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    assert_eq!(attrs["exitCode"], "137");
    assert_eq!(attrs["name"], "ev");
    assert_eq!(attrs["image"], "busybox");
    assert_eq!(attrs["team"], "a");
    // berth's own `events` prints the same actions.
    let o = d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=ev",
        "--format",
        "{{.Action}}",
    ]);
    let got: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(got, want, "{}", stderr(&o));
    // Image events from the import.
    let o = d.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(stdout(&o), "import\ntag\n", "{}", stderr(&o));
}
