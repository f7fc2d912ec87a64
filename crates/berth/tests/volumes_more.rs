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

#[test]
fn generic_inspect_finds_volumes_and_networks() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&["volume", "create", "--label", "k=v", "ivol"]));
    // A volume named as a network and one named as a container: dockerd's lookup
    // order is container, image, network, volume.
    ok(&d.berth(&["volume", "create", "host"]));
    ok(&d.berth(&["volume", "create", "dupname"]));
    ok(&d.berth(&["create", "--name", "dupname", "busybox", "true"]));
    let both = |args: &[&str]| {
        let b = d.berth(args);
        let o = d.docker(args);
        assert_eq!(
            (stdout(&b), stderr(&b), b.status.code()),
            (stdout(&o), stderr(&o), o.status.code()),
            "berth vs docker for {args:?}"
        );
        b
    };
    let o = both(&[
        "inspect",
        "--format",
        "{{.Name}} {{.Driver}} {{.Labels.k}}",
        "ivol",
    ]);
    assert_eq!(stdout(&o), "ivol local v\n");
    let o = both(&["inspect", "--format", "{{.Name}} {{.Driver}}", "host"]);
    assert_eq!(stdout(&o), "host host\n");
    let o = both(&[
        "inspect",
        "--type",
        "volume",
        "--format",
        "{{.Driver}}",
        "host",
    ]);
    assert_eq!(stdout(&o), "local\n");
    let o = both(&[
        "inspect",
        "--format",
        "{{.Name}} {{.State.Status}}",
        "dupname",
    ]);
    assert_eq!(stdout(&o), "/dupname created\n");
    let o = both(&[
        "inspect",
        "--type",
        "volume",
        "--format",
        "{{.Name}}",
        "dupname",
    ]);
    assert_eq!(stdout(&o), "dupname\n");
    // Whole objects: the volume's JSON as `volume inspect` prints it.
    let o = both(&["inspect", "ivol"]);
    assert_eq!(stdout(&o), ok(&d.berth(&["volume", "inspect", "ivol"])));
    // Missing: docker's words, exit 1, what was found still printed.
    let o = both(&["inspect", "nope"]);
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str(), o.status.code()),
        ("[]\n", "Error: No such object: nope\n", Some(1))
    );
    let o = both(&["inspect", "--format", "{{.Name}}", "ivol", "nope", "bridge"]);
    assert_eq!(stdout(&o), "ivol\nbridge\n");
    assert_eq!(stderr(&o), "Error: No such object: nope\n");
    let o = both(&["inspect", "--type", "volume", "nope"]);
    assert_eq!(
        stderr(&o),
        "Error response from daemon: get nope: no such volume\n"
    );
    let o = both(&["inspect", "--type", "network", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

/// An image whose mount targets are symlinks: absolute, relative, and one climbing
/// above the root.
fn build_symlink_image(d: &Daemon) {
    let ctx = d.dir.join("symctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\n\
         RUN mkdir -p /srv/data /srv/rel && echo abs > /srv/data/f && echo rel > /srv/rel/g \
         && chown 42:43 /srv/data && chmod 710 /srv/data \
         && ln -s /srv/data /data && ln -s ../../srv/rel /rel && ln -s /../../../../etc /esc\n",
    )
    .unwrap();
    ok(&d.berth(&["build", "-q", "-t", "symimg", ctx.to_str().unwrap()]));
}

#[test]
fn copy_up_follows_a_symlink_inside_the_root() {
    require_root!();
    let d = Daemon::start().with_busybox();
    build_symlink_image(&d);
    let image_etc = ok(&d.berth(&["run", "--rm", "symimg", "ls", "-a", "/etc"]));
    let out = ok(&d.berth(&[
        "run",
        "--name",
        "sym",
        "-v",
        "sva:/data",
        "-v",
        "svr:/rel",
        "-v",
        "sve:/esc",
        "symimg",
        "sh",
        "-c",
        "cat /data/f /srv/data/f /rel/g; stat -c '%u:%g %a' /srv/data; \
         echo new > /data/n; readlink /data; ls -a /esc",
    ]));
    // The links are kept; the volumes are mounted where they lead, filled from there,
    // with the directory's owner and mode.
    assert_eq!(
        out,
        format!("abs\nabs\nrel\n42:43 710\n/srv/data\n{image_etc}")
    );
    let vol = |name: &str| d.data_root.join("volumes").join(name).join("_data");
    assert_eq!(
        std::fs::read_to_string(vol("sva").join("f")).unwrap(),
        "abs\n"
    );
    assert_eq!(
        std::fs::read_to_string(vol("sva").join("n")).unwrap(),
        "new\n"
    );
    assert_eq!(
        std::fs::read_to_string(vol("svr").join("g")).unwrap(),
        "rel\n"
    );
    // The link climbing out of the root stays inside it: the image's /etc, never the
    // host's.
    let mut copied: Vec<String> = std::fs::read_dir(vol("sve"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    copied.sort();
    let mut want: Vec<String> = image_etc
        .lines()
        .filter(|l| !matches!(*l, "." | ".." | "hosts" | "hostname" | "resolv.conf"))
        .map(str::to_string)
        .collect();
    want.sort();
    let copied: Vec<String> = copied
        .into_iter()
        .filter(|l| !matches!(l.as_str(), "hosts" | "hostname" | "resolv.conf"))
        .collect();
    assert_eq!(copied, want);
    // Inspect keeps the destinations as asked, as dockerd.
    let dests = ok(&d.docker(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Destination}} {{end}}",
        "sym",
    ]));
    assert_eq!(dests.split_whitespace().count(), 3);
    for want in ["/data", "/rel", "/esc"] {
        assert!(dests.split_whitespace().any(|x| x == want), "{dests}");
    }
    // The same through the docker CLI, with a fresh volume.
    let out = ok(&d.docker(&["run", "--rm", "-v", "svd:/data", "symimg", "cat", "/data/f"]));
    assert_eq!(out, "abs\n");
}
