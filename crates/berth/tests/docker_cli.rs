//! The real docker CLI (28.2.2) pointed at berthd.

mod common;
use common::{stderr, stdout, with_stdin, Daemon};

fn have_docker() -> bool {
    std::process::Command::new("docker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn docker_cli_runs_containers() {
    require_root!();
    if !have_docker() {
        eprintln!("skipped: no docker CLI");
        return;
    }
    let d = Daemon::start();
    // import through docker
    let o = d.docker(&[
        "import",
        common::busybox_tar().to_str().unwrap(),
        "busybox:latest",
    ]);
    assert!(o.status.success(), "docker import: {}", stderr(&o));
    assert!(
        stdout(&d.docker(&["images"])).contains("busybox"),
        "{}",
        stdout(&d.docker(&["images"]))
    );
    let v = d.docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(stdout(&v).trim(), "1.41", "{}", stderr(&v));

    let o = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(stdout(&o), "hi\n", "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo e >&2; exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr(&o), "e\n");
    let o = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));

    let o = with_stdin(
        d.docker_cmd(&["run", "--rm", "-i", "busybox", "wc", "-l"]),
        b"a\nb\nc\n",
    );
    assert_eq!(stdout(&o).trim(), "3", "{}", stderr(&o));

    // -t without a terminal on our side still runs through a pty inside.
    let o = d.docker(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "test -t 1 && echo tty",
    ]);
    assert_eq!(stdout(&o).trim(), "tty", "{}", stderr(&o));

    let id = stdout(&d.docker(&[
        "run",
        "-d",
        "--name",
        "bg",
        "busybox",
        "sh",
        "-c",
        "echo log-line; sleep 300",
    ]))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64);
    assert!(stdout(&d.docker(&["ps"])).contains("bg"));
    common::wait_until("docker logs", std::time::Duration::from_secs(10), || {
        stdout(&d.docker(&["logs", "bg"])) == "log-line\n"
    });
    assert_eq!(
        stdout(&d.docker(&["inspect", "-f", "{{.State.Running}}", "bg"])).trim(),
        "true"
    );
    let o = d.docker(&["stop", "-t", "1", "bg"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.docker(&["rm", "bg"]).status.success());
    assert!(stdout(&d.docker(&["ps", "-a", "-q"])).trim().is_empty());
    assert!(d.mounts().is_empty());
}
