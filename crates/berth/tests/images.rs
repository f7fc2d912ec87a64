//! Image verbs end to end: tag, rmi (with its conflicts and garbage collection), history,
//! prune and list filters, through berth and through the docker CLI.

mod common;
use common::{stderr, stdout, Daemon};
use std::collections::BTreeSet;
use std::path::Path;

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Imports a one-file rootfs whose content is unique to `marker`, so its layer is its own.
fn import_unique(d: &Daemon, marker: &str, reference: Option<&str>) -> String {
    let root = d.dir.join(format!("rootfs-{marker}"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("marker"), marker).unwrap();
    let tar = d.dir.join(format!("{marker}.tar"));
    let ok = std::process::Command::new("tar")
        .args([
            "-C",
            root.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut args = vec!["import", tar.to_str().unwrap()];
    args.extend(reference);
    let o = d.berth(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
}

fn layer_of(d: &Daemon, name: &str) -> String {
    let body = d
        .request("GET", &format!("/images/{name}/json"), "")
        .expect("inspect");
    let start = body.find("\"Layers\":[\"sha256:").expect("layers") + 18;
    body[start..start + 64].to_string()
}

#[test]
fn tag_rmi_and_layer_collection_through_berth() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let blobs_dir = d.data_root.join("content/blobs/sha256");
    let snaps_dir = d.data_root.join("snapshots");

    let o = d.berth(&["tag", "busybox", "mybox:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let listed: BTreeSet<_> = stdout(&o).lines().map(String::from).collect();
    assert!(
        listed.contains("busybox:latest") && listed.contains("mybox:1"),
        "{listed:?}"
    );
    let o = d.berth(&[
        "images",
        "--filter",
        "reference=my*",
        "--format",
        "{{.Repository}}",
    ]);
    assert_eq!(stdout(&o), "mybox\n");

    // One tag of several: only untagged.
    let o = d.berth(&["rmi", "mybox:1"]);
    assert_eq!(stdout(&o), "Untagged: mybox:1\n", "{}", stderr(&o));
    assert!(d.berth(&["history", "busybox"]).status.success());

    let (blobs0, snaps0) = (names(&blobs_dir), names(&snaps_dir));
    let id = import_unique(&d, "solo", Some("solo:1"));
    let layer = layer_of(&d, "solo:1");
    assert!(snaps_dir.join(&layer).is_dir());
    assert_eq!(names(&blobs_dir).len(), blobs0.len() + 3);

    // A stopped container keeps the image unless forced.
    let o = d.berth(&["create", "--name", "user", "solo:1", "/marker"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cid = stdout(&o).trim()[..12].to_string();
    let short = &id.trim_start_matches("sha256:")[..12];
    let o = d.berth(&["rmi", short]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("Error response from daemon: conflict: unable to delete {short} (must be forced) - image is being used by stopped container {cid}\n")
    );
    let o = d.berth(&["rmi", "solo:1"]);
    assert!(
        stderr(&o).contains(&format!("conflict: unable to remove repository reference \"solo:1\" (must force) - container {cid} is using its referenced image {short}")),
        "{}",
        stderr(&o)
    );
    let o = d.berth(&["rmi", "-f", "solo:1"]);
    assert_eq!(
        stdout(&o),
        format!("Untagged: solo:1\nDeleted: {id}\n"),
        "{}",
        stderr(&o)
    );
    // The container still stands on the layer; removing it frees the layer.
    assert!(snaps_dir.join(&layer).is_dir());
    assert!(d.berth(&["rm", "user"]).status.success());
    assert!(!snaps_dir.join(&layer).exists());
    assert_eq!(names(&blobs_dir), blobs0);
    assert_eq!(names(&snaps_dir), snaps0);

    // The last tag of an unused image deletes it and its layer at once.
    let id = import_unique(&d, "solo2", Some("solo:2"));
    let layer = layer_of(&d, "solo:2");
    let o = d.berth(&["image", "rm", "solo:2"]);
    assert_eq!(
        stdout(&o),
        format!("Untagged: solo:2\nDeleted: {id}\n"),
        "{}",
        stderr(&o)
    );
    assert!(!snaps_dir.join(&layer).exists());
    assert_eq!(names(&blobs_dir), blobs0);
    let o = d.berth(&["rmi", "solo:2"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: No such image: solo:2\n"
    );

    // Several tags by ID: refused, then -f untags all and deletes.
    let id = import_unique(&d, "multi", Some("m:1"));
    assert!(d.berth(&["image", "tag", "m:1", "m:2"]).status.success());
    let short = &id.trim_start_matches("sha256:")[..12];
    let o = d.berth(&["rmi", short]);
    assert!(stderr(&o).contains(&format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")), "{}", stderr(&o));
    let o = d.berth(&["rmi", "-f", short]);
    assert_eq!(
        stdout(&o),
        format!("Untagged: m:1\nUntagged: m:2\nDeleted: {id}\n"),
        "{}",
        stderr(&o)
    );
    assert_eq!(names(&blobs_dir), blobs0);

    // A running container's image cannot be deleted even with -f.
    let o = d.berth(&["run", "-d", "--name", "runner", "busybox", "sleep", "60"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rid = stdout(&o).trim()[..12].to_string();
    let o = d.berth(&["image", "inspect", "busybox", "--format", "{{.Id}}"]);
    let bid = if o.status.success() {
        stdout(&o).trim().to_string()
    } else {
        let body = d.request("GET", "/images/busybox/json", "").unwrap();
        let s = body.find("sha256:").unwrap();
        body[s..s + 71].to_string()
    };
    let bshort = &bid.trim_start_matches("sha256:")[..12];
    let o = d.berth(&["rmi", "-f", bshort]);
    assert!(stderr(&o).contains(&format!("conflict: unable to delete {bshort} (cannot be forced) - image is being used by running container {rid}")), "{}", stderr(&o));
    assert!(d.berth(&["rm", "-f", "runner"]).status.success());
}

#[test]
fn history_and_prune_through_berth() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.berth(&["history", "busybox"]);
    let out = stdout(&o);
    let mut lines = out.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with("IMAGE          CREATED        "), "{out}");
    assert!(
        head.contains("CREATED BY") && head.ends_with("COMMENT"),
        "{out}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains("Imported from -") && row.contains(" ago "),
        "{out}"
    );
    let o = d.berth(&["image", "history", "--no-trunc", "-q", "busybox"]);
    assert!(stdout(&o).starts_with("sha256:") && stdout(&o).lines().count() == 1);

    let id = import_unique(&d, "dangling", None);
    let o = d.berth(&["images", "--filter", "dangling=true", "-q", "--no-trunc"]);
    assert_eq!(stdout(&o), format!("{id}\n"));
    let o = d.berth(&["image", "prune", "-f"]);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "Deleted Images:\ndeleted: {id}\n\nTotal reclaimed space: "
        )),
        "{out}\n{}",
        stderr(&o)
    );
    let o = d.berth(&["images", "--filter", "dangling=true", "-q"]);
    assert_eq!(stdout(&o), "");
    let o = d.berth(&["image", "prune", "-f"]);
    assert_eq!(stdout(&o), "Total reclaimed space: 0B\n");

    // -a: every image no container uses.
    import_unique(&d, "tagged", Some("extra:1"));
    assert!(d
        .berth(&["create", "--name", "keep", "busybox", "true"])
        .status
        .success());
    // until: an image made just now is younger than an hour ago, so it stays.
    let o = d.berth(&["image", "prune", "-a", "-f", "--filter", "until=1h"]);
    assert_eq!(stdout(&o), "Total reclaimed space: 0B\n", "{}", stderr(&o));
    let o = d.berth(&["image", "prune", "-a", "-f", "--filter", "until=soon"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("until"), "{}", stderr(&o));
    let o = d.berth(&["image", "prune", "-a", "-f"]);
    assert!(
        stdout(&o).contains("untagged: extra:1\ndeleted: sha256:"),
        "{}",
        stdout(&o)
    );
    let o = d.berth(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(stdout(&o), "busybox\n");
}

#[test]
fn docker_cli_tag_rmi_history_prune() {
    require_root!();
    let d = Daemon::start().with_busybox();
    let o = d.docker(&["tag", "busybox", "research-trace:tagged"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        stdout(&o).contains("research-trace:tagged\n"),
        "{}",
        stdout(&o)
    );
    let o = d.docker(&["rmi", "research-trace:tagged"]);
    assert_eq!(
        stdout(&o),
        "Untagged: research-trace:tagged\n",
        "{}",
        stderr(&o)
    );

    let o = d.docker(&["history", "busybox"]);
    let out = stdout(&o);
    assert!(
        out.starts_with("IMAGE          CREATED"),
        "{out}{}",
        stderr(&o)
    );
    assert!(out.contains("Imported from -"), "{out}");
    let o = d.docker(&[
        "history",
        "--format",
        "{{.ID}} {{.Size}}",
        "-H=false",
        "busybox",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let id = import_unique(&d, "dangling", None);
    let o = d.docker(&["images", "--filter", "dangling=true", "-q"]);
    assert_eq!(stdout(&o), format!("{}\n", &id[7..19]), "{}", stderr(&o));
    let o = d.docker(&["image", "prune", "-f"]);
    assert!(
        stdout(&o).contains(&format!("deleted: {id}")),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("Total reclaimed space:"));
    let o = d.docker(&["images", "--filter", "dangling=true", "-q"]);
    assert_eq!(stdout(&o), "");

    let id = import_unique(&d, "used", Some("used:1"));
    assert!(d
        .docker(&["create", "--name", "c1", "used:1", "/marker"])
        .status
        .success());
    let o = d.docker(&["rmi", &id[7..19]]);
    assert!(
        stderr(&o).contains("(must be forced) - image is being used by stopped container"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["rmi", "-f", &id[7..19]]);
    assert_eq!(
        stdout(&o),
        format!("Untagged: used:1\nDeleted: {id}\n"),
        "{}",
        stderr(&o)
    );
    assert!(d.docker(&["rm", "c1"]).status.success());
}
