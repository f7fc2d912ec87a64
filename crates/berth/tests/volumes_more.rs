//! More of volumes on a real daemon: `volume` events as dockerd emits them, the generic
//! `inspect` finding volumes and networks, copy-up through a symlink in the image, and
//! the propagation check of binds; through `berth` and the docker CLI.

mod common;
use common::{stderr, stdout, Daemon};

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

#[test]
fn volume_events_as_dockerd() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let since = now();
    ok(&d.berth(&["volume", "create", "evvol"]));
    let id = ok(&d.berth(&[
        "create",
        "--name",
        "evc",
        "-v",
        "evvol:/data:ro",
        "-v",
        "/tmp:/host",
        "busybox",
        "true",
    ]))
    .trim()
    .to_string();
    ok(&d.berth(&["start", "-a", "evc"]));
    ok(&d.berth(&["rm", "evc"]));
    ok(&d.berth(&["volume", "rm", "evvol"]));
    let until = now();
    let events = |cli: &str, filter: &str| {
        let args = [
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            filter,
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}",
        ];
        let o = if cli == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        };
        ok(&o)
    };
    let want = format!(
        "volume create evvol {{\"driver\":\"local\"}}\n\
         volume mount evvol {{\"container\":\"{id}\",\"destination\":\"/data\",\"driver\":\"local\",\"propagation\":\"\",\"read/write\":\"false\"}}\n\
         volume unmount evvol {{\"container\":\"{id}\",\"driver\":\"local\"}}\n\
         volume destroy evvol {{\"driver\":\"local\"}}\n"
    );
    // The bind of /tmp makes no event; the same through both CLIs and both filters.
    assert_eq!(events("docker", "type=volume"), want);
    assert_eq!(events("berth", "type=volume"), want);
    assert_eq!(events("docker", "volume=evvol"), want);
    assert_eq!(events("docker", "volume=other"), "");
    // dockerd's order: the mount before the container's start, the unmount before die.
    let o = d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}}",
    ]);
    let order: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| {
            matches!(
                *l,
                "volume mount" | "volume unmount" | "container start" | "container die"
            )
        })
        .map(str::to_string)
        .collect();
    assert_eq!(
        order,
        [
            "volume mount",
            "container start",
            "volume unmount",
            "container die"
        ],
        "{}",
        stdout(&o)
    );
}
