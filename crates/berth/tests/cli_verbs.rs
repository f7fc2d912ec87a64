//! `container prune` (berth and the docker CLI), `berth container <verb>` as the top-level
//! verbs, `berth attach`, and `system prune`.

mod common;
use common::{ok, stderr, stdout, with_stdin, Daemon};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn id_of(d: &Daemon, name: &str) -> String {
    ok(&d.berth(&["inspect", "--format", "{{.Id}}", name]))
        .trim()
        .to_string()
}

fn names(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = ok(&d.berth(&["ps", "-a", "--format", "{{.Names}}"]))
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn container_prune_through_berth_and_docker() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&["run", "-d", "--name", "up", "busybox", "sleep", "300"]));
    ok(&d.berth(&["run", "-d", "--name", "frozen", "busybox", "sleep", "300"]));
    ok(&d.berth(&["pause", "frozen"]));
    // 100 KiB in its read-write layer: what the prune reclaims.
    ok(&d.berth(&[
        "run",
        "--name",
        "done",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/blob",
        "bs=1024",
        "count=100",
    ]));
    ok(&d.berth(&["create", "--name", "fresh", "busybox", "true"]));
    ok(&d.berth(&["run", "--name", "kept", "-l", "keep=1", "busybox", "true"]));
    let done = id_of(&d, "done");
    let fresh = id_of(&d, "fresh");
    let kept = id_of(&d, "kept");

    // Refusing the prompt: docker's text, nothing removed, status 0, as the docker CLI.
    let b = with_stdin(d.berth_cmd(&["container", "prune"]), b"n\n");
    let k = with_stdin(d.docker_cmd(&["container", "prune"]), b"n\n");
    assert_eq!(
        stdout(&b),
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(stdout(&b), stdout(&k));
    assert_eq!((b.status.code(), k.status.code()), (Some(0), Some(0)));
    assert_eq!(names(&d).len(), 5);

    // A filter the daemon does not accept is refused.
    let bad = d.berth(&["container", "prune", "-f", "--filter", "status=exited"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("invalid filter 'status'"),
        "{}",
        stderr(&bad)
    );

    // All were made within the hour: `until=1h` spares them (the docker CLI's encoding).
    assert_eq!(
        ok(&d.docker(&["container", "prune", "-f", "--filter", "until=1h"])),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(names(&d).len(), 5);

    let since = now() - 1;
    let out = ok(&d.berth(&["container", "prune", "-f", "--filter", "label!=keep"]));
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"Deleted Containers:"), "{out}");
    let total = lines.pop().unwrap();
    assert_eq!(lines.pop(), Some(""), "{out}");
    let mut deleted = lines[1..].to_vec();
    deleted.sort();
    let mut want = vec![done.as_str(), fresh.as_str()];
    want.sort();
    assert_eq!(deleted, want, "{out}");
    // At least the 100 KiB written (102.4kB); the layer holds a little more at most.
    let size = total
        .strip_prefix("Total reclaimed space: ")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(size.ends_with("kB"), "{out}");
    let kb: f64 = size.trim_end_matches("kB").parse().unwrap();
    assert!((102.4..200.0).contains(&kb), "{out}");
    assert_eq!(names(&d), ["frozen", "kept", "up"]);
    // The rw layers went with them, as with rm.
    let snaps = std::fs::read_dir(d.data_root.join("snapshots"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert!(snaps > 0);
    let mounts = d.mounts().join("\n");
    assert!(
        !mounts.contains(&done) && !mounts.contains(&fresh),
        "{mounts}"
    );

    // dockerd's event: type container, action prune, the bytes reclaimed.
    let until = (now() + 1).to_string();
    let ev = ok(&d.docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until,
        "--filter",
        "event=prune",
        "--format",
        "{{.Type}} {{.Action}} {{index .Actor.Attributes \"reclaimed\"}}",
    ]));
    // (`since` has a second's granularity: the `until=1h` prune's event may be there too.)
    let ev: Vec<&str> = ev.lines().collect();
    assert!(matches!(ev.len(), 1 | 2), "{ev:?}");
    let bytes: u64 = ev[ev.len() - 1]
        .strip_prefix("container prune ")
        .unwrap_or_else(|| panic!("{ev:?}"))
        .parse()
        .unwrap();
    assert!(bytes >= 102_400, "{bytes}");

    // The docker CLI against berthd: the labelled one goes now; running and paused stay.
    let out = ok(&d.docker(&["container", "prune", "-f"]));
    assert!(
        out.starts_with(&format!(
            "Deleted Containers:\n{kept}\n\nTotal reclaimed space: "
        )),
        "{out}"
    );
    assert_eq!(names(&d), ["frozen", "up"]);
    // Nothing left to prune: no section, zero.
    assert_eq!(
        ok(&d.docker(&["container", "prune", "-f"])),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(
        ok(&d.berth(&["container", "prune", "-f"])),
        "Total reclaimed space: 0B\n"
    );
    ok(&d.berth(&["unpause", "frozen"]));
}

#[test]
fn container_verbs_are_the_top_level_ones() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "container",
        "run",
        "-d",
        "--name",
        "c1",
        "-l",
        "a=b",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(&d.berth(&["container", "create", "--name", "c2", "busybox", "true"]));
    ok(&d.berth(&["container", "run", "--name", "c3", "busybox", "true"]));
    for args in [
        &["-a"][..],
        &["-a", "-q"],
        &["-q"],
        &[
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Labels}}",
        ],
        &["--filter", "status=created", "--format", "{{.Names}}"],
        &["-a", "--format", "json"],
    ] {
        let ps = ok(&d.berth(&[&["ps"][..], args].concat()));
        for verb in ["ls", "ps", "list"] {
            let ls = ok(&d.berth(&[&["container", verb][..], args].concat()));
            // The default table's times may tick between two calls: compare without them.
            if args == ["-a"] {
                assert_eq!(ls.lines().count(), ps.lines().count());
                assert_eq!(ls.lines().next(), ps.lines().next());
            } else {
                assert_eq!(ls, ps, "container {verb} {args:?}");
            }
        }
    }
    assert_eq!(
        ok(&d.berth(&["container", "ls", "-a", "--format", "{{.Names}}"]))
            .lines()
            .count(),
        3
    );
    // A few more verbs through the management command.
    assert_eq!(
        ok(&d.berth(&["container", "exec", "c1", "echo", "hi"])),
        "hi\n"
    );
    ok(&d.berth(&["container", "stop", "-t", "0", "c1"]));
    assert_eq!(
        ok(&d.berth(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Status}}",
            "c1"
        ]))
        .trim(),
        "exited"
    );
    ok(&d.berth(&["container", "rm", "c1", "c2", "c3"]));
    assert!(ok(&d.berth(&["ps", "-aq"])).is_empty());
    // A flag error under `container run` is run's: 125.
    let bad = d.berth(&["container", "run", "--no-such-flag", "busybox"]);
    assert_eq!(bad.status.code(), Some(125));
    // `container inspect` finds containers only, as the docker CLI's.
    ok(&d.berth(&["volume", "create", "notactr"]));
    for o in [
        d.berth(&["container", "inspect", "notactr"]),
        d.docker(&["container", "inspect", "notactr"]),
    ] {
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("No such container: notactr"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn attach_shows_output_and_exits_with_the_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // The container waits for a line on stdin, which only the attach can bring: the
    // output cannot come before the session exists.
    ok(&d.berth(&[
        "run",
        "-d",
        "-i",
        "--name",
        "at",
        "busybox",
        "sh",
        "-c",
        "read x; echo attached-out $x; echo to-err >&2; exit 5",
    ]));
    let o = with_stdin(d.berth_cmd(&["attach", "at"]), b"go\n");
    assert_eq!(stdout(&o), "attached-out go\n", "{}", stderr(&o));
    assert_eq!(stderr(&o), "to-err\n");
    assert_eq!(o.status.code(), Some(5));

    // The same through `container attach`, with an exit status of 0.
    ok(&d.berth(&[
        "run",
        "-d",
        "-i",
        "--name",
        "at0",
        "busybox",
        "sh",
        "-c",
        "read x; echo $x",
    ]));
    let o = with_stdin(d.berth_cmd(&["container", "attach", "at0"]), b"zero\n");
    assert_eq!(stdout(&o), "zero\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));

    // Stopped, paused and missing containers are refused, as docker does.
    let o = d.berth(&["attach", "at"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("You cannot attach to a stopped container, start it first"),
        "{}",
        stderr(&o)
    );
    ok(&d.berth(&["run", "-d", "--name", "pz", "busybox", "sleep", "300"]));
    ok(&d.berth(&["pause", "pz"]));
    let o = d.berth(&["attach", "--no-stdin", "pz"]);
    assert!(
        stderr(&o).contains("You cannot attach to a paused container, unpause it first"),
        "{}",
        stderr(&o)
    );
    ok(&d.berth(&["unpause", "pz"]));
    let o = d.berth(&["attach", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: nope"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn system_prune() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // The prompt is docker 28's, word for word.
    for args in [
        &["system", "prune"][..],
        &["system", "prune", "-a", "--volumes"],
    ] {
        let b = with_stdin(d.berth_cmd(args), b"n\n");
        let k = with_stdin(d.docker_cmd(args), b"n\n");
        assert_eq!(stdout(&b), stdout(&k), "{args:?}");
        assert!(stdout(&b).starts_with("WARNING! This will remove:\n  - all stopped containers\n"));
        assert_eq!(b.status.code(), Some(0));
    }
    let o = d.berth(&["system", "prune", "-f", "--volumes", "--filter", "until=1h"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(r#"The "until" filter is not supported with "--volumes""#));

    ok(&d.berth(&["run", "-d", "--name", "up", "busybox", "sleep", "300"]));
    ok(&d.berth(&["run", "--name", "done", "busybox", "true"]));
    let done = id_of(&d, "done");
    ok(&d.berth(&["network", "create", "spare"]));
    ok(&d.berth(&["volume", "create", "vol1"]));
    // Committed twice under one tag: the first image is left dangling.
    ok(&d.berth(&["commit", "done", "snap:1"]));
    let first = ok(&d.berth(&["images", "-q", "--no-trunc", "snap:1"]))
        .trim()
        .to_string();
    ok(&d.berth(&["commit", "-c", "ENV X=1", "done", "snap:1"]));

    let out = ok(&d.berth(&["system", "prune", "-f"]));
    let c = out.find(&format!("Deleted Containers:\n{done}\n\n"));
    let n = out.find("Deleted Networks:\nspare\n\n");
    let i = out.find("Deleted Images:\n");
    assert!(out.contains(&format!("deleted: {first}\n")), "{out}");
    assert!(c.is_some() && n.is_some() && i.is_some(), "{out}");
    assert!(c < n && n < i, "{out}");
    assert!(!out.contains("Deleted Volumes"), "{out}");
    assert!(
        out.ends_with("B\n") && out.contains("\nTotal reclaimed space: "),
        "{out}"
    );
    // Running containers, used networks, tagged images and (without --volumes) volumes stay.
    assert_eq!(names(&d), ["up"]);
    assert!(ok(&d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])).contains("snap:1"));
    assert!(ok(&d.berth(&["volume", "ls", "-q"])).contains("vol1"));
    assert!(!ok(&d.berth(&["network", "ls", "--format", "{{.Name}}"])).contains("spare"));

    // With --volumes the unused volume goes too, after the networks.
    let out = ok(&d.docker(&["system", "prune", "-f", "--volumes"]));
    assert!(out.contains("Deleted Volumes:\nvol1\n\n"), "{out}");
    let out = ok(&d.berth(&["system", "prune", "-f", "--volumes"]));
    assert_eq!(out, "Total reclaimed space: 0B\n");
    assert!(!ok(&d.berth(&["volume", "ls", "-q"])).contains("vol1"));
}
