//! `cp` both ways through berth and the docker CLI: files, directories, `dir/.`, tars on
//! stdin/stdout, stopped containers, ownership with and without `-a`, and hostile input:
//! container symlinks to `/`, `../../..` or a host path, tars with `..` entries. Nothing
//! may be read or written outside the container's root, and no mount may be left behind.

mod common;
use common::{stderr, stdout, with_stdin, Daemon};

use std::path::{Path, PathBuf};
use std::process::Output;

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn run_sleeper(d: &Daemon, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "300"]);
    ok(&d.berth(&args), "run");
}

fn exec(d: &Daemon, name: &str, cmd: &str) -> String {
    ok(&d.berth(&["exec", name, "sh", "-c", cmd]), cmd)
}

/// A local scratch directory under the daemon's (removed with it).
fn scratch(d: &Daemon, name: &str) -> PathBuf {
    let p = d.dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A tar built byte by byte (tar::Builder refuses `..`): (name, type, link, data, uid).
fn raw_tar(entries: &[(&str, u8, &str, &[u8], u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data, uid) in entries {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_size(data.len() as u64);
        h.set_mode(if *kind == b'5' { 0o755 } else { 0o644 });
        h.set_uid(*uid);
        h.set_gid(*uid);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn no_copy_mounts(d: &Daemon) {
    let left: Vec<String> = d
        .mounts()
        .into_iter()
        .filter(|m| m.contains("cp-rootfs"))
        .collect();
    assert!(left.is_empty(), "copy mounts left behind: {left:?}");
}

/// Runs the same round trips through `tool` (berth or docker).
fn round_trips(d: &Daemon, docker: bool) {
    let cli = |args: &[&str]| {
        if docker {
            d.docker(args)
        } else {
            d.berth(args)
        }
    };
    let tag = if docker { "dk" } else { "bt" };
    let name = format!("cp-rt-{tag}");
    run_sleeper(d, &name, &[]);
    let local = scratch(d, &format!("local-{tag}"));
    std::fs::write(local.join("hello.txt"), "hello from host\n").unwrap();
    std::fs::create_dir_all(local.join("tree/sub")).unwrap();
    std::fs::write(local.join("tree/a"), "A").unwrap();
    std::fs::write(local.join("tree/sub/b"), "B").unwrap();

    // A file in, to a new name, then back out.
    let dst = format!("{name}:/tmp/h.txt");
    ok(&cli(&["cp", s(&local.join("hello.txt")), &dst]), "cp in");
    assert_eq!(exec(d, &name, "cat /tmp/h.txt"), "hello from host\n");
    ok(&cli(&["cp", &dst, s(&local.join("back.txt"))]), "cp out");
    assert_eq!(
        std::fs::read_to_string(local.join("back.txt")).unwrap(),
        "hello from host\n"
    );
    // Into an existing directory keeps the name.
    ok(
        &cli(&["cp", s(&local.join("hello.txt")), &format!("{name}:/tmp")]),
        "cp into dir",
    );
    assert_eq!(exec(d, &name, "cat /tmp/hello.txt"), "hello from host\n");

    // A directory in (new name), out (new name, existing dir), and `dir/.` contents.
    ok(
        &cli(&["cp", s(&local.join("tree")), &format!("{name}:/tmp/t2")]),
        "cp dir in",
    );
    assert_eq!(exec(d, &name, "cat /tmp/t2/a /tmp/t2/sub/b"), "AB");
    ok(
        &cli(&["cp", &format!("{name}:/tmp/t2"), s(&local.join("out"))]),
        "cp dir out",
    );
    assert_eq!(
        std::fs::read_to_string(local.join("out/sub/b")).unwrap(),
        "B"
    );
    std::fs::create_dir_all(local.join("into")).unwrap();
    ok(
        &cli(&["cp", &format!("{name}:/tmp/t2"), s(&local.join("into"))]),
        "cp dir into dir",
    );
    assert!(local.join("into/t2/sub/b").is_file());
    std::fs::create_dir_all(local.join("contents")).unwrap();
    ok(
        &cli(&[
            "cp",
            &format!("{name}:/tmp/t2/."),
            s(&local.join("contents")),
        ]),
        "cp dir/. out",
    );
    assert!(local.join("contents/a").is_file());
    assert!(!local.join("contents/t2").exists());
    exec(d, &name, "mkdir /tmp/c");
    ok(
        &cli(&[
            "cp",
            &format!("{}/.", s(&local.join("tree"))),
            &format!("{name}:/tmp/c"),
        ]),
        "cp dir/. in",
    );
    assert_eq!(exec(d, &name, "ls /tmp/c"), "a\nsub\n");

    // `-` both ways: a tar on stdout, a tar from stdin.
    let o = cli(&["cp", &format!("{name}:/tmp/t2"), "-"]);
    let bytes = o.stdout.clone();
    ok(&o, "cp to stdout");
    let mut names = Vec::new();
    for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    // dockerd's names: directories end in `/`.
    assert_eq!(names, ["t2/", "t2/a", "t2/sub/", "t2/sub/b"]);
    let tar = raw_tar(&[("fromstdin.txt", b'0', "", b"piped", 0)]);
    let cmd = if docker {
        d.docker_cmd(&["cp", "-", &format!("{name}:/tmp")])
    } else {
        d.berth_cmd(&["cp", "-", &format!("{name}:/tmp")])
    };
    ok(&with_stdin(cmd, &tar), "cp from stdin");
    assert_eq!(exec(d, &name, "cat /tmp/fromstdin.txt"), "piped");

    // docker's messages and exit status.
    let o = cli(&["cp", &format!("{name}:/nope"), s(&local)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!("Error response from daemon: Could not find the file /nope in container {name}")
    );
    let o = cli(&[
        "cp",
        s(&local.join("hello.txt")),
        &format!("{name}:/nodir/x"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!("Error response from daemon: Could not find the file /nodir in container {name}")
    );
    let o = cli(&[
        "cp",
        s(&local.join("hello.txt")),
        &format!("{name}:/tmp/h.txt/x"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("extraction point is not a directory"),
        "{}",
        stderr(&o)
    );
    let o = cli(&["cp", s(&local.join("hello.txt")), "nosuchctr:/tmp"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: nosuchctr"),
        "{}",
        stderr(&o)
    );
    // Not a terminal: nothing on stderr when it works.
    let o = cli(&[
        "cp",
        s(&local.join("hello.txt")),
        &format!("{name}:/tmp/quiet"),
    ]);
    assert_eq!(stderr(&o), "");
    no_copy_mounts(d);
}

#[test]
fn berth_cp_round_trips() {
    require_root!();
    let d = Daemon::start().with_busybox();
    round_trips(&d, false);
}

#[test]
fn docker_cli_cp_round_trips() {
    require_root!();
    let d = Daemon::start().with_busybox();
    round_trips(&d, true);
    // Both CLIs word local errors the same.
    let name = "cp-rt-dk";
    for args in [
        vec!["cp", "a", "b"],
        vec!["cp", "x:/a", "y:/b"],
        vec!["cp", "/nonexistent-src", "cp-rt-dk:/tmp"],
    ] {
        let (b, k) = (d.berth(&args), d.docker(&args));
        assert_eq!(b.status.code(), k.status.code(), "{args:?}");
        assert_eq!(stderr(&b), stderr(&k), "{args:?}");
    }
    let _ = name;
}

#[test]
fn cp_with_a_stopped_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let local = scratch(&d, "local");
    std::fs::write(local.join("msg"), "copied while stopped\n").unwrap();
    ok(
        &d.berth(&["create", "--name", "st", "busybox", "cat", "/tmp/msg"]),
        "create",
    );
    ok(
        &d.berth(&["cp", s(&local.join("msg")), "st:/tmp/msg"]),
        "cp in",
    );
    assert!(d.mounts().is_empty(), "mounts: {:?}", d.mounts());
    let o = d.berth(&["start", "-a", "st"]);
    assert_eq!(ok(&o, "start"), "copied while stopped\n");
    // Out of the exited container, through docker too.
    ok(
        &d.berth(&["cp", "st:/tmp/msg", s(&local.join("back"))]),
        "cp out",
    );
    assert_eq!(
        std::fs::read_to_string(local.join("back")).unwrap(),
        "copied while stopped\n"
    );
    ok(
        &d.docker(&["cp", "st:/etc/passwd", s(&local.join("pw"))]),
        "docker cp out",
    );
    assert!(std::fs::read_to_string(local.join("pw"))
        .unwrap()
        .starts_with("root:"));
    let o = d.berth(&["cp", "st:/nope", s(&local)]);
    assert_eq!(o.status.code(), Some(1));
    // The temporary mount is gone after successes and failures alike.
    assert!(d.mounts().is_empty(), "mounts: {:?}", d.mounts());
    ok(&d.berth(&["rm", "st"]), "rm");
    assert!(d.mounts().is_empty());
}

#[test]
fn cp_ownership_with_and_without_archive() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_sleeper(&d, "own", &["--user", "app"]);
    let tar = raw_tar(&[("f", b'0', "", b"x", 1234)]);
    // dockerd keeps the tar's ids without -a, and gives the files to the container's user
    // with it.
    ok(
        &with_stdin(d.berth_cmd(&["cp", "-", "own:/tmp"]), &tar),
        "cp",
    );
    assert_eq!(exec(&d, "own", "stat -c %u:%g /tmp/f"), "1234:1234\n");
    ok(
        &with_stdin(d.berth_cmd(&["cp", "-a", "-", "own:/tmp"]), &tar),
        "cp -a",
    );
    assert_eq!(exec(&d, "own", "stat -c %u:%g /tmp/f"), "1000:1000\n");
    ok(
        &with_stdin(
            d.docker_cmd(&["cp", "--archive", "-", "own:/tmp"]),
            &raw_tar(&[("g", b'0', "", b"y", 77)]),
        ),
        "docker cp -a",
    );
    assert_eq!(exec(&d, "own", "stat -c %u:%g /tmp/g"), "1000:1000\n");
    // Copied out, files belong to whoever ran cp.
    let local = scratch(&d, "local");
    ok(
        &d.berth(&["cp", "own:/tmp/f", s(&local.join("f"))]),
        "cp out",
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(local.join("f")).unwrap().uid(), 0);
    // A container without a user: -a keeps the tar's ids too.
    run_sleeper(&d, "own2", &[]);
    ok(
        &with_stdin(d.berth_cmd(&["cp", "-a", "-", "own2:/tmp"]), &tar),
        "cp -a",
    );
    assert_eq!(exec(&d, "own2", "stat -c %u:%g /tmp/f"), "1234:1234\n");
}

#[test]
fn hostile_symlinks_stay_inside_the_container() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let host = scratch(&d, "hostdir");
    std::fs::write(host.join("secret"), "host secret\n").unwrap();
    let local = scratch(&d, "local");
    std::fs::write(local.join("payload"), "payload\n").unwrap();
    run_sleeper(&d, "evil", &[]);
    let h = s(&host);
    exec(
        &d,
        "evil",
        &format!(
            "ln -s / /slash; ln -s ../../../../../../.. /up; ln -s {h} /hostabs; \
             mkdir -p {h}; echo container > {h}/secret; ln -s {h}/secret /secretlink"
        ),
    );
    for (cli, tag) in [(false, "b"), (true, "d")] {
        let run = |args: &[&str]| if cli { d.docker(args) } else { d.berth(args) };
        // Writes through links land in the container.
        for dest in ["/slash/p1", "/up/p2", "/up/tmp/p3", "/hostabs/p4"] {
            let dest = format!("evil:{dest}-{tag}");
            ok(&run(&["cp", s(&local.join("payload")), &dest]), &dest);
        }
        assert_eq!(
            exec(
                &d,
                "evil",
                &format!("cat /p1-{tag} /p2-{tag} /tmp/p3-{tag} {h}/p4-{tag}")
            ),
            "payload\n".repeat(4)
        );
        assert!(
            !host.join(format!("p4-{tag}")).exists(),
            "wrote through to the host"
        );
        assert!(!Path::new(&format!("/p1-{tag}")).exists());
        assert!(!Path::new(&format!("/p2-{tag}")).exists());
        assert!(!Path::new(&format!("/tmp/p3-{tag}")).exists());
        // Reads through links read the container's files, never the host's.
        for src in [
            "evil:/hostabs/secret",
            "evil:/up/hostabs/secret",
            "evil:/secretlink",
        ] {
            let o = run(&["cp", "-L", src, "-"]);
            ok(&o, src);
            assert!(
                !String::from_utf8_lossy(&o.stdout).contains("host secret"),
                "{src}"
            );
        }
        let out = local.join(format!("read-{tag}"));
        ok(&run(&["cp", "-L", "evil:/secretlink", s(&out)]), "cp -L");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "container\n");
        // Without -L the link itself is copied.
        let out = local.join(format!("link-{tag}"));
        ok(&run(&["cp", "evil:/secretlink", s(&out)]), "cp link");
        assert!(std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_symlink());
    }
    assert_eq!(
        std::fs::read_to_string(host.join("secret")).unwrap(),
        "host secret\n"
    );

    // A tar with `..` entries is refused, through both CLIs and the raw API.
    let evil = raw_tar(&[("../../../../escape", b'0', "", b"evil", 0)]);
    for cmd in [
        d.berth_cmd(&["cp", "-", "evil:/tmp"]),
        d.docker_cmd(&["cp", "-", "evil:/tmp"]),
    ] {
        let o = with_stdin(cmd, &evil);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("is outside of \\\"/tmp\\\"")
                || stderr(&o).contains("is outside of \"/tmp\""),
            "{}",
            stderr(&o)
        );
    }
    let body = String::from_utf8(evil).unwrap();
    let resp = d
        .request("PUT", "/v1.41/containers/evil/archive?path=/tmp", &body)
        .unwrap();
    assert!(
        resp.starts_with("HTTP/1.0 400") || resp.starts_with("HTTP/1.1 400"),
        "{resp}"
    );
    assert!(!Path::new("/escape").exists());
    assert!(exec(&d, "evil", "ls /escape 2>&1 || true").contains("No such file"));
    // A tar that plants a link and then writes through it stays in the container too.
    let planted = raw_tar(&[
        ("ln", b'2', h, b"", 0),
        ("ln/secret", b'0', "", b"overwritten", 0),
        ("hl", b'1', "../etc/passwd", b"", 0),
    ]);
    let o = with_stdin(d.berth_cmd(&["cp", "-", "evil:/tmp"]), &planted);
    assert_eq!(
        o.status.code(),
        Some(1),
        "hard link out of the destination must fail"
    );
    assert!(stderr(&o).contains("outside of"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(host.join("secret")).unwrap(),
        "host secret\n"
    );
    assert_eq!(exec(&d, "evil", &format!("cat {h}/secret")), "overwritten");
    no_copy_mounts(&d);
}

#[test]
fn read_only_rootfs_refuses_copy_in() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_sleeper(&d, "ro", &["--read-only"]);
    let local = scratch(&d, "local");
    std::fs::write(local.join("f"), "x").unwrap();
    let o = d.berth(&["cp", s(&local.join("f")), "ro:/tmp/f"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "Error response from daemon: container rootfs is marked read-only"
    );
    // Reading still works.
    ok(
        &d.berth(&["cp", "ro:/etc/passwd", s(&local.join("pw"))]),
        "cp out",
    );
}

/// Copies racing `start` and `rm -f` of the same container: the `op` lock orders them, so
/// every copy lands (in the temporary mount or the running one), and no mount is left.
#[test]
fn copies_racing_start_and_rm_leave_no_mounts() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let local = scratch(&d, "local");
    std::fs::write(local.join("f"), "x").unwrap();
    ok(
        &d.berth(&["create", "--name", "race", "busybox", "sleep", "300"]),
        "create",
    );
    std::thread::scope(|sc| {
        let copies: Vec<_> = (0..6)
            .map(|i| {
                let (d, f) = (&d, local.join("f"));
                sc.spawn(move || d.berth(&["cp", s(&f), &format!("race:/tmp/f{i}")]))
            })
            .collect();
        let start = sc.spawn(|| d.berth(&["start", "race"]));
        for c in copies {
            ok(&c.join().unwrap(), "cp during start");
        }
        ok(&start.join().unwrap(), "start during cp");
    });
    assert_eq!(
        exec(
            &d,
            "race",
            "cat /tmp/f0 /tmp/f1 /tmp/f2 /tmp/f3 /tmp/f4 /tmp/f5"
        ),
        "xxxxxx"
    );
    no_copy_mounts(&d);
    std::thread::scope(|sc| {
        let reads: Vec<_> = (0..4)
            .map(|_| {
                let d = &d;
                sc.spawn(move || d.berth(&["cp", "race:/bin", "-"]))
            })
            .collect();
        let rm = sc.spawn(|| d.berth(&["rm", "-f", "race"]));
        ok(&rm.join().unwrap(), "rm during cp");
        for r in reads {
            // Each either finished before the removal or found the container gone.
            let o = r.join().unwrap();
            assert!(
                o.status.success() || stderr(&o).contains("race"),
                "{}",
                stderr(&o)
            );
        }
    });
    assert!(d.mounts().is_empty(), "mounts: {:?}", d.mounts());
}

/// The raw API: dockerd's stat header (Go FileMode bits, resolved link target) and its
/// error statuses.
#[test]
fn archive_api_stat_header_and_errors() {
    require_root!();
    let d = Daemon::start().with_busybox();
    run_sleeper(&d, "api", &[]);
    exec(&d, "api", "ln -s ../../etc /tmp/etcup; mkdir /tmp/dir");
    let stat = |path: &str| -> String {
        let resp = d
            .request(
                "HEAD",
                &format!("/v1.41/containers/api/archive?path={path}"),
                "",
            )
            .unwrap();
        assert!(
            resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
            "{resp}"
        );
        let line = resp
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with("x-docker-container-path-stat:")
            })
            .expect("stat header");
        let b64 = line.split_once(':').unwrap().1.trim();
        let o = with_stdin(
            {
                let mut c = std::process::Command::new("base64");
                c.arg("-d");
                c
            },
            b64.as_bytes(),
        );
        stdout(&o)
    };
    let s = stat("/tmp/dir");
    assert!(s.starts_with(r#"{"name":"dir","size":"#), "{s}");
    assert!(
        s.contains(&format!(r#""mode":{},"#, (1u32 << 31) | 0o755)),
        "{s}"
    );
    assert!(s.ends_with(r#""linkTarget":""}"#), "{s}");
    let s = stat("/tmp/etcup");
    assert!(
        s.contains(&format!(r#""mode":{},"#, (1u32 << 27) | 0o777)),
        "{s}"
    );
    assert!(s.ends_with(r#""linkTarget":"/etc"}"#), "{s}");
    let s = stat("/etc/passwd");
    assert!(s.contains(r#""mode":420,"#), "{s}");
    for (method, path, status) in [
        ("HEAD", "/v1.41/containers/api/archive?path=/nope", "404"),
        ("GET", "/v1.41/containers/api/archive?path=/nope", "404"),
        ("GET", "/v1.41/containers/api/archive", "400"),
        ("PUT", "/v1.41/containers/api/archive?path=", "400"),
        ("GET", "/v1.41/containers/nosuch/archive?path=/", "404"),
        (
            "PUT",
            "/v1.41/containers/api/archive?path=/etc/passwd",
            "400",
        ),
    ] {
        let resp = d.request(method, path, "").unwrap();
        assert!(
            resp.starts_with(&format!("HTTP/1.0 {status}"))
                || resp.starts_with(&format!("HTTP/1.1 {status}")),
            "{method} {path}: {resp}"
        );
    }
    let resp = d
        .request("GET", "/v1.41/containers/api/archive", "")
        .unwrap();
    assert!(
        resp.contains("bad parameter: path cannot be empty"),
        "{resp}"
    );
    let resp = d
        .request("GET", "/v1.41/containers/api/archive?path=/nope", "")
        .unwrap();
    assert!(
        resp.contains("Could not find the file /nope in container api"),
        "{resp}"
    );
}
