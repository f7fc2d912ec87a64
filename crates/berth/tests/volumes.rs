//! Volumes end to end on a real daemon: named and anonymous volumes, binds, `--mount`,
//! `--volumes-from`, copy-up, read-only mounts, driver options, removal, prune, restarts,
//! through `berth` and the docker CLI; and nothing left mounted afterwards.

mod common;
use common::{ok, stderr, Daemon};
use std::path::Path;

/// Mount points under the daemon's directory other than container root filesystems
/// (which a running container has).
fn volume_mounts(d: &Daemon) -> Vec<String> {
    d.mounts()
        .into_iter()
        .filter(|m| m.contains("/volumes/"))
        .collect()
}

fn inspect(d: &Daemon, what: &str, format: &str) -> String {
    ok(&d.berth(&["inspect", "--format", format, what]))
        .trim()
        .to_string()
}

#[test]
fn named_volume_persists_across_containers_and_restarts() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    assert_eq!(ok(&d.berth(&["volume", "create", "data1"])), "data1\n");
    ok(&d.berth(&[
        "run",
        "--name",
        "wr",
        "-v",
        "data1:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]));
    ok(&d.berth(&["rm", "-v", "wr"]));
    // `rm -v` never takes a named volume.
    let path = d.data_root.join("volumes/data1/_data/f");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\n");
    d.restart();
    let ls = ok(&d.berth(&["volume", "ls"]));
    assert_eq!(ls, "DRIVER    VOLUME NAME\nlocal     data1\n");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "data1:/data",
        "busybox",
        "cat",
        "/data/f",
    ]));
    assert_eq!(out, "kept\n");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&d.berth(&["volume", "inspect", "data1"]))).unwrap();
    assert_eq!(v[0]["Name"], "data1");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(
        v[0]["Mountpoint"],
        d.data_root
            .join("volumes/data1/_data")
            .display()
            .to_string()
    );
    assert!(v[0]["Labels"].is_null() && v[0]["Options"].is_null());
    assert_eq!(ok(&d.berth(&["volume", "rm", "data1"])), "data1\n");
    assert!(!d.data_root.join("volumes/data1").exists());
    let o = d.berth(&["volume", "inspect", "data1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such volume"), "{}", stderr(&o));
    assert!(volume_mounts(&d).is_empty());
}

#[test]
fn unknown_name_in_v_creates_the_volume_and_inspect_shows_the_mount() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "create",
        "--name",
        "c1",
        "-v",
        "auto:/data",
        "-v",
        "/tmp:/host:ro",
        "busybox",
        "true",
    ]));
    assert_eq!(ok(&d.berth(&["volume", "ls", "-q"])), "auto\n");
    let mounts: serde_json::Value =
        serde_json::from_str(&inspect(&d, "c1", "{{json .Mounts}}")).unwrap();
    let vol = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Type"] == "volume")
        .unwrap();
    assert_eq!(vol["Name"], "auto");
    assert_eq!(vol["Destination"], "/data");
    assert_eq!(vol["Driver"], "local");
    assert_eq!(vol["Mode"], "z");
    assert_eq!(vol["RW"], true);
    assert_eq!(vol["Propagation"], "");
    let bind = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Type"] == "bind")
        .unwrap();
    assert_eq!(bind["Source"], "/tmp");
    assert_eq!(bind["Mode"], "ro");
    assert_eq!(bind["RW"], false);
    assert_eq!(bind["Propagation"], "rprivate");
    assert_eq!(
        inspect(&d, "c1", "{{json .HostConfig.Binds}}"),
        r#"["auto:/data","/tmp:/host:ro"]"#
    );
    // In use: refused, with dockerd's words and the container's full ID.
    let id = inspect(&d, "c1", "{{.Id}}");
    let o = d.berth(&["volume", "rm", "auto"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!("Error response from daemon: remove auto: volume is in use - [{id}]")
    );
    let dangling = ok(&d.berth(&["volume", "ls", "-q", "--filter", "dangling=true"]));
    assert_eq!(dangling, "");
    for f in ["volume=auto", "volume=/host", "volume=/tmp"] {
        assert_eq!(
            ok(&d.berth(&["ps", "-aq", "--filter", f])).trim(),
            &id[..12],
            "{f}"
        );
    }
    assert_eq!(ok(&d.berth(&["ps", "-aq", "--filter", "volume=other"])), "");
    ok(&d.berth(&["rm", "c1"]));
    let dangling = ok(&d.berth(&["volume", "ls", "-q", "--filter", "dangling=true"]));
    assert_eq!(dangling, "auto\n");
    ok(&d.berth(&["volume", "rm", "auto"]));
}

#[test]
fn copy_up_fills_a_new_volume_from_the_image_unless_nocopy() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // busybox's /etc has passwd and group; a volume over it starts with them.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "cat",
        "/etc/group",
    ]));
    assert!(out.contains("root:x:0:"), "{out}");
    let data = d.data_root.join("volumes/etcvol/_data");
    assert!(data.join("passwd").exists());
    // Once filled, the volume is not overwritten.
    std::fs::write(data.join("passwd"), "mine\n").unwrap();
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "cat",
        "/etc/passwd",
    ]));
    assert_eq!(out, "mine\n");
    // nocopy: the volume stays empty.
    // (The runtime's own mount points for /etc/hosts and friends are all it has.)
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "bare:/etc:nocopy",
        "busybox",
        "ls",
        "-A",
        "/etc",
    ]));
    assert_eq!(out, "hostname\nhosts\nresolv.conf\n");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=bare2,dst=/etc,volume-nocopy",
        "busybox",
        "ls",
        "-A",
        "/etc",
    ]));
    assert_eq!(out, "hostname\nhosts\nresolv.conf\n");
    // Owners, modes and symlinks come along.
    ok(&d.berth(&[
        "run", "--name", "prep", "busybox", "sh", "-c",
        "mkdir -p /srv/app && echo x > /srv/app/f && chown 1234:5678 /srv/app/f && chmod 640 /srv/app/f && ln -s f /srv/app/l && chown 42:43 /srv/app && chmod 710 /srv/app",
    ]));
    ok(&d.berth(&["commit", "prep", "withapp:1"]));
    ok(&d.berth(&["run", "--rm", "-v", "appvol:/srv/app", "withapp:1", "true"]));
    let v = d.data_root.join("volumes/appvol/_data");
    use std::os::unix::fs::MetadataExt;
    let f = std::fs::metadata(v.join("f")).unwrap();
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (1234, 5678, 0o640));
    assert_eq!(std::fs::read_link(v.join("l")).unwrap(), Path::new("f"));
    let root = std::fs::metadata(&v).unwrap();
    assert_eq!(
        (root.uid(), root.gid(), root.mode() & 0o7777),
        (42, 43, 0o710)
    );
}

#[test]
fn read_only_mounts_refuse_writes() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let host = d.dir.join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/h:ro", host.display());
    for args in [
        vec!["-v", "rovol:/data:ro"],
        vec!["--mount", "type=volume,source=rovol,target=/data,readonly"],
    ] {
        let mut argv = vec!["run", "--rm"];
        argv.extend(args);
        argv.extend(["busybox", "sh", "-c", "touch /data/x 2>&1; echo rc=$?"]);
        let out = ok(&d.berth(&argv));
        assert!(out.contains("Read-only file system"), "{out}");
        assert!(out.contains("rc=1"), "{out}");
    }
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "touch /h/x 2>&1; echo rc=$?",
    ]));
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!host.join("x").exists());
    // --read-only: the root refuses writes, volumes stay writable.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        "rwvol:/data",
        "busybox",
        "sh",
        "-c",
        "touch /root-file 2>&1; echo rc=$?; touch /data/ok && echo wrote",
    ]));
    assert!(
        out.contains("Read-only file system") && out.contains("wrote"),
        "{out}"
    );
}

#[test]
fn bind_mounts_and_mount_forms() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // -v creates a missing host path, as docker does.
    let missing = d.dir.join("made/by/berth");
    let spec = format!("{}:/m", missing.display());
    ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo hi > /m/f",
    ]));
    assert_eq!(std::fs::read_to_string(missing.join("f")).unwrap(), "hi\n");
    // --mount type=bind refuses one.
    let gone = d.dir.join("not-there");
    let m = format!("type=bind,source={},target=/m", gone.display());
    let o = d.berth(&["run", "--rm", "--mount", &m, "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("bind source path does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(!gone.exists());
    // (rslave or rshared would need the source on a slave or shared mount, as dockerd:
    // volumes_more.rs tests those.)
    let m = format!(
        "type=bind,source={},target=/m,bind-propagation=rprivate",
        missing.display()
    );
    let out = ok(&d.berth(&["run", "--rm", "--mount", &m, "busybox", "cat", "/m/f"]));
    assert_eq!(out, "hi\n");
    // A single file can be bound too.
    let file = d.dir.join("one-file");
    std::fs::write(&file, "just me\n").unwrap();
    let spec = format!("{}:/etc/one:ro", file.display());
    let out = ok(&d.berth(&["run", "--rm", "-v", &spec, "busybox", "cat", "/etc/one"]));
    assert_eq!(out, "just me\n");
    // tmpfs with size and mode.
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
        "busybox",
        "sh",
        "-c",
        "stat -c %a /t; grep ' /t ' /proc/mounts",
    ]));
    assert!(out.starts_with("1770\n"), "{out}");
    assert!(out.contains("tmpfs") && out.contains("size=1024k"), "{out}");
    // Duplicate destinations and bad modes are refused with docker's words.
    let o = d.berth(&["create", "-v", "a1:/x", "-v", "b1:/x", "busybox", "true"]);
    assert!(
        stderr(&o).contains("Duplicate mount point: /x"),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&["create", "-v", "a1:/x:bogus", "busybox", "true"]);
    assert!(stderr(&o).contains("invalid mode: bogus"), "{}", stderr(&o));
    assert_eq!(ok(&d.berth(&["volume", "ls", "-q"])), "");
}

#[test]
fn volumes_from_shares_another_containers_mounts() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/s",
        "-v",
        "/anon",
        "busybox",
        "true",
    ]));
    ok(&d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /s/f; echo 2 > /anon/g",
    ]));
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "sh",
        "-c",
        "cat /s/f /anon/g; touch /s/x 2>&1; true",
    ]));
    assert!(out.starts_with("1\n2\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    let o = d.berth(&["create", "--volumes-from", "nope", "busybox", "true"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("No such container: nope"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn anonymous_volumes_go_with_rm_v_only() {
    require_root!();
    let d = Daemon::start().with_busybox();
    // An image with VOLUME: each container gets its own anonymous volume.
    ok(&d.berth(&["create", "--name", "base", "busybox", "true"]));
    ok(&d.berth(&["commit", "--change", "VOLUME /vol", "base", "volimg:1"]));
    ok(&d.berth(&[
        "run",
        "--name",
        "ca",
        "volimg:1",
        "sh",
        "-c",
        "echo a > /vol/f",
    ]));
    ok(&d.berth(&["run", "--name", "cb", "volimg:1", "true"]));
    let names = ok(&d.berth(&["volume", "ls", "-q"]));
    assert_eq!(names.lines().count(), 2, "{names}");
    assert!(names.lines().all(|n| n.len() == 64));
    let a_vol = inspect(&d, "ca", "{{(index .Mounts 0).Name}}");
    assert_eq!(inspect(&d, "ca", "{{(index .Mounts 0).Mode}}"), "");
    ok(&d.berth(&["rm", "ca"]));
    // Kept without -v.
    assert!(ok(&d.berth(&["volume", "ls", "-q"])).contains(&a_vol));
    let b_vol = inspect(&d, "cb", "{{(index .Mounts 0).Name}}");
    ok(&d.berth(&["rm", "-v", "cb"]));
    let left = ok(&d.berth(&["volume", "ls", "-q"]));
    assert!(!left.contains(&b_vol) && left.contains(&a_vol), "{left}");
    // -v /path and --rm.
    ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "-v",
        "keepme:/k",
        "busybox",
        "true",
    ]));
    let left = ok(&d.berth(&["volume", "ls", "-q"]));
    assert_eq!(left, format!("{a_vol}\nkeepme\n"));
}

#[test]
fn prune_and_filters() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&["volume", "create", "--label", "keep=yes", "p1"]));
    ok(&d.berth(&["volume", "create", "p2"]));
    ok(&d.berth(&["volume", "create", "used"]));
    ok(&d.berth(&["create", "-v", "used:/u", "busybox", "true"]));
    std::fs::write(d.data_root.join("volumes/p2/_data/blob"), vec![0u8; 1000]).unwrap();
    assert_eq!(
        ok(&d.berth(&["volume", "ls", "-q", "--filter", "label=keep"])),
        "p1\n"
    );
    assert_eq!(
        ok(&d.berth(&["volume", "ls", "-q", "--filter", "name=p"])),
        "p1\np2\n"
    );
    assert_eq!(
        ok(&d.berth(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Labels}}",
            "--filter",
            "label=keep=yes"
        ])),
        "p1 keep=yes\n"
    );
    let out = ok(&d.berth(&["volume", "prune", "-f", "--filter", "label!=keep"]));
    assert_eq!(out, "Deleted Volumes:\np2\n\nTotal reclaimed space: 1kB\n");
    let out = ok(&d.berth(&["volume", "prune", "-f"]));
    assert_eq!(out, "Deleted Volumes:\np1\n\nTotal reclaimed space: 0B\n");
    assert_eq!(ok(&d.berth(&["volume", "ls", "-q"])), "used\n");
    let o = d.berth(&["volume", "ls", "--filter", "colour=red"]);
    assert!(
        stderr(&o).contains("invalid filter 'colour'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn tmpfs_and_bind_device_volumes_mount_while_used() {
    require_root!();
    let mut d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "tv",
    ]));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&d.berth(&["volume", "inspect", "tv"]))).unwrap();
    assert_eq!(v[0]["Options"]["type"], "tmpfs");
    let out = ok(&d.berth(&[
        "run",
        "--rm",
        "-v",
        "tv:/t",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; echo x > /t/f; cat /t/f",
    ]));
    assert!(out.contains("tmpfs") && out.contains("size=2048k"), "{out}");
    assert!(out.ends_with("x\n"));
    // Unmounted when the container stopped: the tmpfs content is gone.
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
    assert!(!d.data_root.join("volumes/tv/_data/f").exists());

    let dev = d.dir.join("device-dir");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(dev.join("hello"), "from host\n").unwrap();
    let o = format!("device={}", dev.display());
    ok(&d.berth(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &o,
        "bv",
    ]));
    ok(&d.berth(&[
        "run", "-d", "--name", "long", "-v", "bv:/b", "busybox", "sleep", "1000",
    ]));
    assert_eq!(volume_mounts(&d).len(), 1);
    let out = ok(&d.berth(&["exec", "long", "cat", "/b/hello"]));
    assert_eq!(out, "from host\n");
    // A restart of berthd keeps the running container's volume mounted, and its stop
    // still unmounts it.
    d.restart();
    assert_eq!(volume_mounts(&d).len(), 1);
    ok(&d.berth(&["rm", "-f", "long"]));
    common::wait_until(
        "volume unmounted",
        std::time::Duration::from_secs(10),
        || volume_mounts(&d).is_empty(),
    );
    ok(&d.berth(&["volume", "rm", "bv", "tv"]));
    // The device's content is the host's, untouched by the removal.
    assert_eq!(
        std::fs::read_to_string(dev.join("hello")).unwrap(),
        "from host\n"
    );
    let o = d.berth(&["volume", "create", "-o", "colour=red", "bad"]);
    assert!(
        stderr(&o).contains("invalid option key: \"colour\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_docker_cli_drives_volumes() {
    require_root!();
    let d = Daemon::start().with_busybox();
    assert_eq!(ok(&d.docker(&["volume", "create", "dv"])), "dv\n");
    ok(&d.docker(&[
        "volume",
        "create",
        "--label",
        "a=b",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "dv2",
    ]));
    assert_eq!(
        ok(&d.docker(&["volume", "ls"])),
        "DRIVER    VOLUME NAME\nlocal     dv\nlocal     dv2\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(&d.docker(&["volume", "inspect", "dv2"]))).unwrap();
    assert_eq!(v[0]["Labels"]["a"], "b");
    assert_eq!(v[0]["Options"]["device"], "tmpfs");
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "-v",
        "dv:/data",
        "busybox",
        "sh",
        "-c",
        "echo via docker > /data/f; cat /data/f",
    ]));
    assert_eq!(out, "via docker\n");
    let out = ok(&d.docker(&[
        "run",
        "--rm",
        "--mount",
        "source=dv,target=/d,readonly",
        "busybox",
        "cat",
        "/d/f",
    ]));
    assert_eq!(out, "via docker\n");
    ok(&d.docker(&[
        "create", "--name", "holder", "-v", "dv:/data", "busybox", "true",
    ]));
    // `system df -v`: the same volume rows from both CLIs.
    let section = |o: String| -> String {
        let start = o.find("VOLUME NAME").expect("volumes section");
        let end = o[start..].find("\n\n").map_or(o.len(), |e| start + e);
        o[start..end].to_string()
    };
    let theirs = section(ok(&d.docker(&["system", "df", "-v"])));
    let ours = section(ok(&d.berth(&["system", "df", "-v"])));
    assert_eq!(ours, theirs);
    assert!(ours.contains("\ndv            1         11B"), "{ours}");
    let o = d.docker(&["volume", "rm", "dv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("volume is in use"), "{}", stderr(&o));
    let mounts = ok(&d.docker(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
        "holder",
    ]));
    assert_eq!(mounts.trim(), "volume dv /data true");
    ok(&d.docker(&["rm", "holder"]));
    assert_eq!(ok(&d.docker(&["volume", "rm", "dv", "dv2"])), "dv\ndv2\n");
    let o = d.docker(&["volume", "inspect", "dv"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such volume"), "{}", stderr(&o));
    let out = ok(&d.docker(&["volume", "prune", "-f"]));
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    let df = ok(&d.docker(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]));
    assert!(df.contains("Local Volumes 0"), "{df}");
}

#[test]
fn nothing_stays_mounted_after_everything_is_removed() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "t1",
    ]));
    ok(&d.berth(&[
        "run", "-d", "--name", "cx", "-v", "t1:/t", "-v", "n1:/n", "-v", "/a", "busybox", "sleep",
        "1000",
    ]));
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "cy",
        "--volumes-from",
        "cx",
        "busybox",
        "sleep",
        "1000",
    ]));
    // One mount for t1 however many containers use it.
    assert_eq!(volume_mounts(&d).len(), 1);
    ok(&d.berth(&["rm", "-f", "cx"]));
    assert_eq!(volume_mounts(&d).len(), 1, "y still uses t1");
    ok(&d.berth(&["rm", "-f", "-v", "cy"]));
    common::wait_until("all unmounted", std::time::Duration::from_secs(10), || {
        d.mounts().is_empty()
    });
    ok(&d.berth(&["volume", "prune", "-f"]));
    assert_eq!(ok(&d.berth(&["volume", "ls", "-q"])), "");
    assert!(d.mounts().is_empty(), "{:?}", d.mounts());
}

#[test]
fn api_statuses_and_bodies() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let r = d.request("POST", "/v1.41/volumes/create", "").unwrap();
    assert!(r.starts_with("HTTP/1.0 201"), "{r}");
    let body: serde_json::Value =
        serde_json::from_str(r.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let name = body["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
    // dockerd's field order, as the traces show it.
    let text = r.split("\r\n\r\n").nth(1).unwrap();
    let order: Vec<usize> = [
        "CreatedAt",
        "Driver",
        "Labels",
        "Mountpoint",
        "Name",
        "Options",
        "Scope",
    ]
    .iter()
    .map(|k| text.find(&format!("\"{k}\"")).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    let r = d
        .request(
            "POST",
            "/volumes/create",
            r#"{"Name":"lab","Labels":{"x":"1"},"DriverOpts":{"type":"tmpfs","device":"tmpfs"}}"#,
        )
        .unwrap();
    assert!(r.starts_with("HTTP/1.0 201"), "{r}");
    assert!(r.contains(r#""Labels":{"x":"1"}"#), "{r}");
    let r = d
        .request(
            "GET",
            "/volumes?filters=%7B%22label%22%3A%5B%22x%3D1%22%5D%7D",
            "",
        )
        .unwrap();
    assert!(r.contains(r#""Name":"lab""#) && !r.contains(&name), "{r}");
    assert!(r.contains(r#""Warnings":null"#), "{r}");
    let r = d.request("GET", "/volumes/nope", "").unwrap();
    assert!(r.starts_with("HTTP/1.0 404"), "{r}");
    assert!(
        r.contains(r#"{"message":"get nope: no such volume"}"#),
        "{r}"
    );
    let r = d.request("DELETE", "/volumes/nope", "").unwrap();
    assert!(r.starts_with("HTTP/1.0 404"), "{r}");
    let r = d.request("DELETE", "/volumes/nope?force=1", "").unwrap();
    assert!(r.starts_with("HTTP/1.0 204"), "{r}");
    ok(&d.berth(&[
        "create", "--name", "user", "-v", "lab:/l", "busybox", "true",
    ]));
    let r = d.request("DELETE", "/volumes/lab?force=1", "").unwrap();
    assert!(r.starts_with("HTTP/1.0 409"), "{r}");
    let r = d
        .request(
            "POST",
            "/volumes/prune?filters=%7B%22all%22%3A%5B%22false%22%5D%7D",
            "",
        )
        .unwrap();
    assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    // Only the anonymous one goes with all=false; "lab" is named and in use anyway.
    assert!(
        r.contains(&format!(r#""VolumesDeleted":["{name}"]"#)),
        "{r}"
    );
    let r = d
        .request(
            "POST",
            "/volumes/create",
            r#"{"Name":"x1","Driver":"nfsplug"}"#,
        )
        .unwrap();
    assert!(r.starts_with("HTTP/1.0 404"), "{r}");
    let r = d.request("GET", "/system/df", "").unwrap();
    let df: serde_json::Value = serde_json::from_str(r.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(df["Volumes"][0]["Name"], "lab");
    assert_eq!(df["Volumes"][0]["UsageData"]["RefCount"], 1);
    assert_eq!(df["Volumes"][0]["UsageData"]["Size"], 0);
}
