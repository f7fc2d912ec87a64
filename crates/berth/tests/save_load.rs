//! Multi-layer images end to end: commit (whiteouts, config changes, pause), save and load
//! (Docker archive + OCI layout, several images, shared layers stored once), through berth
//! and through the docker CLI, and refusal of bad archives.

mod common;
use common::{ok, stderr, stdout, with_stdin, Daemon};
use std::collections::BTreeSet;
use std::path::Path;

fn snapshots(d: &Daemon) -> BTreeSet<String> {
    std::fs::read_dir(d.data_root.join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "empty" && !n.starts_with("tmp-") && !n.starts_with("rw-"))
        .collect()
}

fn layers(d: &Daemon, image: &str) -> Vec<String> {
    let o = ok(&d.berth(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]));
    serde_json::from_str(o.trim()).unwrap()
}

fn tar_names(path: &Path) -> BTreeSet<String> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn commit_adds_a_layer_with_deletions_and_changes() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo hello > /greeting && rm /bin/vi && mkdir -p /data/sub && echo x > /data/sub/f",
    ]));
    let id = ok(&d.berth(&[
        "commit",
        "-m",
        "my message",
        "-a",
        "Tester <t@example.com>",
        "-c",
        "CMD [\"cat\", \"/greeting\"]",
        "-c",
        "ENV FOO=bar",
        "c1",
        "committed:v1",
    ]));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let base = layers(&d, "busybox");
    let mine = layers(&d, "committed:v1");
    assert_eq!(mine.len(), base.len() + 1);
    assert_eq!(mine[..base.len()], base[..]);

    // The new image runs with its CMD, sees the file, and the deleted file stays deleted.
    assert_eq!(
        ok(&d.berth(&["run", "--rm", "committed:v1"])).trim(),
        "hello"
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "ls /bin/vi; echo $FOO",
    ]);
    let out = stdout(&o) + &stderr(&o);
    assert!(out.contains("No such file"), "{out}");
    assert!(out.contains("bar"), "{out}");
    let hist = ok(&d.berth(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Comment}}|{{.CreatedBy}}",
        "committed:v1",
    ]));
    assert!(
        hist.lines().next().unwrap().starts_with("my message|"),
        "{hist}"
    );
    let author = ok(&d.berth(&[
        "image",
        "inspect",
        "--format",
        "{{.Author}}",
        "committed:v1",
    ]));
    assert_eq!(author.trim(), "Tester <t@example.com>");

    // Commit of a commit: a third layer, sharing the first two.
    ok(&d.berth(&["run", "--name", "c2", "committed:v1", "rm", "/greeting"]));
    ok(&d.berth(&["commit", "c2", "committed:v2"]));
    assert_eq!(layers(&d, "committed:v2").len(), base.len() + 2);
    let o = d.berth(&["run", "--rm", "committed:v2", "cat", "/greeting"]);
    assert!(!o.status.success());
    assert!(snapshots(&d).len() >= 3);
}

#[test]
fn commit_of_a_running_container_pauses_it_and_docker_cli_commits() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo up > /state; sleep 300",
    ]));
    common::wait_until("state file", std::time::Duration::from_secs(10), || {
        d.berth(&["exec", "live", "cat", "/state"]).status.success()
    });
    let o = d.docker(&[
        "commit",
        "--change",
        "CMD [\"cat\",\"/state\"]",
        "live",
        "fromdocker",
    ]);
    ok(&o);
    // Still running (thawed) afterwards.
    let st = ok(&d.berth(&["inspect", "--format", "{{.State.Status}}", "live"]));
    assert_eq!(st.trim(), "running");
    assert_eq!(ok(&d.docker(&["run", "--rm", "fromdocker"])).trim(), "up");
    ok(&d.berth(&["rm", "-f", "live"]));
    let o = d.berth(&["commit", "nosuch", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such container: nosuch"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn save_writes_docker_archive_and_oci_layout_and_load_restores() {
    require_root!();
    let d = Daemon::start().with_busybox();
    ok(&d.berth(&[
        "run",
        "--name",
        "cc",
        "busybox",
        "sh",
        "-c",
        "echo one > /one",
    ]));
    ok(&d.berth(&["commit", "cc", "app:1"]));
    ok(&d.berth(&["tag", "busybox", "busybox:other"]));
    let archive = d.dir.join("all.tar");
    ok(&d.berth(&["save", "-o", archive.to_str().unwrap(), "app:1", "busybox"]));
    let names = tar_names(&archive);
    for n in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.contains(n), "{n} missing: {names:?}");
    }
    // Shared layers appear once: busybox's layer + app's layer + 2 configs + 2 manifests.
    let blobs = names
        .iter()
        .filter(|n| n.starts_with("blobs/sha256/") && n.len() > 13)
        .count();
    assert_eq!(blobs, 6, "{names:?}");
    let manifest: serde_json::Value = {
        let mut a = tar::Archive::new(std::fs::File::open(&archive).unwrap());
        let mut e = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
            .unwrap();
        serde_json::from_reader(&mut e).unwrap()
    };
    let tags: BTreeSet<String> = manifest
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["RepoTags"].as_array().unwrap().iter())
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        tags,
        ["app:1", "busybox:latest", "busybox:other"]
            .map(String::from)
            .into()
    );
    let app_id = ok(&d.berth(&["image", "inspect", "--format", "{{.Id}}", "app:1"]));

    // Into a fresh daemon: same IDs, same tags, runs.
    let d2 = Daemon::start();
    let out = ok(&d2.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert!(out.contains("Loaded image: app:1"), "{out}");
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let app2 = ok(&d2.berth(&["image", "inspect", "--format", "{{.Id}}", "app:1"]));
    assert_eq!(app_id, app2);
    assert_eq!(
        ok(&d2.berth(&["run", "--rm", "app:1", "cat", "/one"])).trim(),
        "one"
    );
    // Two images, two layers: the base's snapshot exists once.
    assert_eq!(snapshots(&d2).len(), 2);

    // Loading again changes nothing and says so the same way.
    let again = ok(&d2.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(again, out);
    assert_eq!(snapshots(&d2).len(), 2);

    // Through the docker CLI, by stdin/stdout.
    let d3 = Daemon::start();
    let saved = d.docker_cmd(&["save", "app:1"]).output().unwrap();
    assert!(saved.status.success(), "{}", stderr(&saved));
    let o = with_stdin(d3.docker_cmd(&["load"]), &saved.stdout);
    assert!(
        stdout(&o).contains("Loaded image: app:1"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert_eq!(
        ok(&d3.docker(&["run", "--rm", "app:1", "cat", "/one"])).trim(),
        "one"
    );
    // Saved by ID: no tags, loaded as an untagged image.
    let d4 = Daemon::start();
    let by_id = d.docker_cmd(&["save", app_id.trim()]).output().unwrap();
    let o = with_stdin(d4.docker_cmd(&["load", "-q"]), &by_id.stdout);
    assert!(
        stdout(&o).contains(&format!("Loaded image ID: {}", app_id.trim())),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn load_refuses_bad_archives_and_leaves_nothing() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let archive = d.dir.join("bb.tar");
    ok(&d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    let bytes = std::fs::read(&archive).unwrap();
    let d2 = Daemon::start();
    let blobs = |d: &Daemon| {
        std::fs::read_dir(d.data_root.join("content/blobs/sha256"))
            .unwrap()
            .count()
    };

    // Not an archive at all.
    let o = with_stdin(d2.berth_cmd(&["load"]), b"this is not a tar");
    assert_eq!(o.status.code(), Some(1));
    // Truncated in the middle of the layer.
    let o = with_stdin(d2.berth_cmd(&["load"]), &bytes[..bytes.len() / 2]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // A layer whose content does not match the config's diff ID.
    let mut corrupt = Vec::new();
    {
        let mut src = tar::Archive::new(&bytes[..]);
        let mut b = tar::Builder::new(&mut corrupt);
        for e in src.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            let mut h = e.header().clone();
            if data.len() > 100_000 {
                let mid = data.len() / 2;
                data[mid] ^= 0xff;
            }
            b.append_data(&mut h, e.path().unwrap(), &data[..]).unwrap();
        }
        b.finish().unwrap();
    }
    let o = with_stdin(d2.berth_cmd(&["load"]), &corrupt);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("layer 1"), "{}", stderr(&o));
    assert_eq!(blobs(&d2), 0, "a refused load left blobs behind");
    assert!(
        snapshots(&d2).is_empty(),
        "a refused load left snapshots behind"
    );
    assert!(ok(&d2.berth(&["images", "-q"])).trim().is_empty());
    let ingest = std::fs::read_dir(d2.data_root.join("content/ingest"))
        .unwrap()
        .count();
    assert_eq!(ingest, 0);
}
