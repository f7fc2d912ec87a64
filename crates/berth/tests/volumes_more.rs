//! More of volumes on a real daemon: `volume` events as dockerd emits them, the generic
//! `inspect` finding volumes and networks, copy-up through a symlink in the image, and
//! the propagation check of binds; through `berth` and the docker CLI.

mod common;
use common::{ok, stderr, stdout, wait_until, Daemon};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
    // Events reach the log a moment after the verb that made them answers.
    common::wait_until(
        "the volume events logged",
        std::time::Duration::from_secs(10),
        || events("docker", "type=volume") == want,
    );
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
        "FROM busybox AS links\n\
         RUN mkdir /out && ln -s /run/r.conf /out/resolv.conf\n\
         FROM busybox\n\
         RUN mkdir -p /srv/data /srv/rel /run && touch /run/r.conf && echo abs > /srv/data/f && echo rel > /srv/rel/g \
         && chown 42:43 /srv/data && chmod 710 /srv/data \
         && ln -s /srv/data /data && ln -s ../../srv/rel /rel && ln -s /../../../../etc /esc\n\
         COPY --from=links /out/ /etc/\n",
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
    // A bind over /etc/resolv.conf, a link in this image, replaces berthd's file there:
    // one mount, the user's.
    let conf = d.dir.join("myresolv");
    std::fs::write(&conf, "nameserver 192.0.2.53\n").unwrap();
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/etc/resolv.conf:ro", conf.display()),
        "symimg",
        "sh",
        "-c",
        "cat /etc/resolv.conf; grep -c r.conf /proc/self/mountinfo",
    ]));
    assert_eq!(out, "nameserver 192.0.2.53\n1\n");
    // The same through the docker CLI, with a fresh volume.
    let out = ok(&d.docker(&["run", "--rm", "-v", "svd:/data", "symimg", "cat", "/data/f"]));
    assert_eq!(out, "abs\n");
}

/// Directories bind-mounted on themselves with a propagation of the test's choosing;
/// they and everything mounted below them (propagated from containers too) are
/// unmounted when dropped, even after a failed assertion.
struct TestMounts(Vec<PathBuf>);

impl TestMounts {
    fn sh(args: &[&str]) {
        let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
        assert!(st.success(), "{args:?}");
    }

    /// `dir` on itself, `--make-<propagation>`.
    fn add(&mut self, dir: &Path, propagation: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let d = dir.to_str().unwrap();
        self.0.push(dir.to_path_buf());
        Self::sh(&["mount", "--bind", d, d]);
        Self::sh(&["mount", &format!("--make-{propagation}"), d]);
    }

    /// A slave of the shared mount `master`, at `dir`.
    fn add_slave(&mut self, master: &Path, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        self.0.push(dir.to_path_buf());
        let (m, d) = (master.to_str().unwrap(), dir.to_str().unwrap());
        Self::sh(&["mount", "--bind", m, d]);
        Self::sh(&["mount", "--make-slave", d]);
    }
}

fn mount_points_under(dir: &Path) -> Vec<String> {
    let root = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| *m == root || m.starts_with(&format!("{root}/")))
        .collect()
}

impl Drop for TestMounts {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let mut ms = mount_points_under(dir);
            ms.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in ms {
                let _ = Command::new("umount").arg("-l").arg(&m).status();
            }
        }
    }
}

#[test]
fn bind_propagation_needs_a_shared_or_slave_source() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let mut mounts = TestMounts(Vec::new());
    let private = d.dir.join("private");
    let shared = d.dir.join("shared");
    let slave = d.dir.join("slave");
    mounts.add(&private, "private");
    mounts.add(&shared, "shared");
    mounts.add_slave(&shared, &slave);
    let (p, sh, sl) = (
        private.to_str().unwrap(),
        shared.to_str().unwrap(),
        slave.to_str().unwrap(),
    );
    // A private source refuses shared and slave propagation, with dockerd's words, at
    // start; through both CLIs and both forms.
    let sub = format!("{p}/sub");
    std::fs::create_dir_all(&sub).unwrap();
    for cli in ["berth", "docker"] {
        let run = |args: &[&str]| {
            if cli == "docker" {
                d.docker(args)
            } else {
                d.berth(args)
            }
        };
        let o = run(&[
            "run",
            "--rm",
            "-v",
            &format!("{sub}:/x:rshared"),
            "busybox",
            "true",
        ]);
        assert!(!o.status.success());
        let want = format!("path {sub} is mounted on {p} but it is not a shared mount");
        assert!(stderr(&o).contains(&want), "{cli}: {}", stderr(&o));
        let o = run(&[
            "run",
            "--rm",
            "--mount",
            &format!("type=bind,source={p},target=/x,bind-propagation=rslave"),
            "busybox",
            "true",
        ]);
        assert!(!o.status.success());
        let want = format!("path {p} is mounted on {p} but it is not a shared or slave mount");
        assert!(stderr(&o).contains(&want), "{cli}: {}", stderr(&o));
        // Private propagation asks nothing of the source.
        ok(&run(&[
            "run",
            "--rm",
            "-v",
            &format!("{p}:/x:rprivate"),
            "busybox",
            "true",
        ]));
    }
    // A slave source is enough for rslave, not for rshared.
    ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{sl}:/x:rslave"),
        "busybox",
        "true",
    ]));
    let o = d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{sl}:/x:rshared"),
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&o).contains(&format!(
            "path {sl} is mounted on {sl} but it is not a shared mount"
        )),
        "{}",
        stderr(&o)
    );
    // A shared source: a mount made in the container shows on the host, and one made on
    // the host shows in the container (and through the slave, in another one).
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "prop",
        "--privileged",
        "-v",
        &format!("{sh}:/x:rshared"),
        "busybox",
        "sh",
        "-c",
        "mkdir -p /x/fromctr && mount -t tmpfs t /x/fromctr && echo in > /x/fromctr/f && sleep 300",
    ]));
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "propsl",
        "-v",
        &format!("{sl}:/y:rslave"),
        "busybox",
        "sleep",
        "300",
    ]));
    let from_ctr = shared.join("fromctr");
    wait_until(
        "the container's mount on the host",
        Duration::from_secs(10),
        || std::fs::read_to_string(from_ctr.join("f")).is_ok_and(|s| s == "in\n"),
    );
    assert!(mount_points_under(&shared).contains(&from_ctr.display().to_string()));
    let from_host = shared.join("fromhost");
    std::fs::create_dir_all(&from_host).unwrap();
    TestMounts::sh(&["mount", "-t", "tmpfs", "h", from_host.to_str().unwrap()]);
    std::fs::write(from_host.join("g"), "host\n").unwrap();
    assert_eq!(
        ok(&d.berth(&["exec", "prop", "cat", "/x/fromhost/g"])),
        "host\n"
    );
    assert_eq!(
        ok(&d.berth(&["exec", "propsl", "cat", "/y/fromhost/g"])),
        "host\n"
    );
    ok(&d.berth(&["rm", "-f", "prop", "propsl"]));
}

#[test]
fn an_image_with_resolv_conf_linked_to_nothing_runs() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let ctx = d.dir.join("danglectx");
    std::fs::create_dir_all(&ctx).unwrap();
    // As images whose /etc/resolv.conf points into a /run that is empty until boot.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox AS links\n\
         RUN mkdir /out && ln -s ../run/resolve/stub.conf /out/resolv.conf\n\
         FROM busybox\n\
         COPY --from=links /out/ /etc/\n",
    )
    .unwrap();
    ok(&d.berth(&["build", "-q", "-t", "dangle", ctx.to_str().unwrap()]));
    let host_conf = ok(&d.berth(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]));
    // berthd's file is mounted where the link leads; the link stays.
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "dangle",
        "sh",
        "-c",
        "readlink /etc/resolv.conf; cat /etc/resolv.conf; cat /run/resolve/stub.conf",
    ]));
    assert_eq!(
        out,
        format!("../run/resolve/stub.conf\n{host_conf}{host_conf}")
    );
}
