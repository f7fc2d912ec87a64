mod common;

use berth_model::ErrorKind;
use berth_store::{MountSpec, OverlaySnapshotter, Snapshotter};
use common::*;
use std::path::PathBuf;

#[test]
fn rw_snapshot_sits_on_the_image_layers() {
    let env = Env::new();
    let s = &env.store;
    let img = s.import_rootfs(&rootfs_tar("rw")[..], config("c")).unwrap();
    let spec = s.prepare_rw("c1", &img.id).unwrap();
    let snaps = env.root().join("snapshots");
    assert_eq!(spec.lower, vec![snaps.join(img.layers[0].hex()).join("fs")]);
    assert_eq!(spec.upper, snaps.join("rw-c1/fs"));
    assert_eq!(spec.work, snaps.join("rw-c1/work"));
    assert!(spec.upper.is_dir() && spec.work.is_dir());
    assert_eq!(s.rw_mount("c1").unwrap(), spec);
    assert_eq!(
        s.prepare_rw("c1", &img.id).unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        s.prepare_rw("../x", &img.id).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        s.prepare_rw("c2", &berth_model::Digest::of(b"no"))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    s.remove_rw("c1").unwrap();
    assert!(!snaps.join("rw-c1").exists());
    assert_eq!(s.rw_mount("c1").unwrap_err().kind(), ErrorKind::NotFound);
    s.remove_rw("c1").unwrap();
    // The layer itself stays.
    assert!(snaps
        .join(img.layers[0].hex())
        .join("fs/bin/hello")
        .is_file());
}

#[test]
fn scratch_gets_an_empty_lower_and_chains_stack_topmost_first() {
    let dir = tempfile::tempdir().unwrap();
    let sn = OverlaySnapshotter::new(dir.path()).unwrap();
    let base = sn.prepare("tmp-a", None).unwrap();
    assert_eq!(base.lower, vec![dir.path().join("empty")]);
    assert!(sn.commit("tmp-a", "a").unwrap());
    sn.prepare("tmp-b", Some("a")).unwrap();
    assert!(sn.commit("tmp-b", "b").unwrap());
    let top = sn.prepare("rw", Some("b")).unwrap();
    assert_eq!(
        top.lower,
        vec![dir.path().join("b/fs"), dir.path().join("a/fs")]
    );
    assert_eq!(sn.mounts("rw").unwrap(), top);
    // Committing an identical snapshot again keeps the first.
    sn.prepare("tmp-c", None).unwrap();
    assert!(!sn.commit("tmp-c", "a").unwrap());
    assert!(!sn.exists("tmp-c"));
    assert_eq!(
        sn.prepare("x", Some("../etc")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        sn.prepare("x", Some("missing")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn options_escape_separators() {
    let spec = MountSpec {
        lower: vec![PathBuf::from("/l/b"), PathBuf::from("/l/a:x")],
        upper: PathBuf::from("/u,1"),
        work: PathBuf::from("/w"),
    };
    assert_eq!(
        spec.options(),
        r"lowerdir=/l/b:/l/a\:x,upperdir=/u\,1,workdir=/w"
    );
}

#[test]
fn copy_snapshotter_gives_a_full_tree_without_mounts() {
    let env = Env::copy();
    let img = env
        .store
        .import_rootfs(&rootfs_tar("copy")[..], config("c"))
        .unwrap();
    let spec = env.store.prepare_rw("c1", &img.id).unwrap();
    assert!(spec.lower.is_empty());
    assert_eq!(
        std::fs::read_to_string(spec.upper.join("bin/hello")).unwrap(),
        "#!/bin/sh\necho copy\n"
    );
}

#[test]
fn overlay_mount_writes_only_the_upper() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping overlay mount test: needs root");
        return;
    }
    let env = Env::new();
    let s = &env.store;
    let img = s
        .import_rootfs(&rootfs_tar("ovl")[..], config("c"))
        .unwrap();
    let spec = s.prepare_rw("c1", &img.id).unwrap();
    let target = tempfile::tempdir().unwrap();
    spec.mount(target.path()).unwrap();
    let res = (|| -> std::io::Result<()> {
        assert_eq!(
            std::fs::read_to_string(target.path().join("bin/hello"))?,
            "#!/bin/sh\necho ovl\n"
        );
        std::fs::write(target.path().join("new-file"), b"new")?;
        std::fs::write(target.path().join("bin/hello"), b"changed")?;
        std::fs::remove_file(target.path().join("bin/sh"))?;
        Ok(())
    })();
    berth_store::unmount(target.path()).unwrap();
    berth_store::unmount(target.path()).unwrap(); // not mounted any more: fine
    res.unwrap();
    let lower = &spec.lower[0];
    assert_eq!(
        std::fs::read_to_string(lower.join("bin/hello")).unwrap(),
        "#!/bin/sh\necho ovl\n"
    );
    assert!(std::fs::symlink_metadata(lower.join("bin/sh")).is_ok());
    assert!(!lower.join("new-file").exists());
    assert_eq!(std::fs::read(spec.upper.join("new-file")).unwrap(), b"new");
    assert_eq!(
        std::fs::read(spec.upper.join("bin/hello")).unwrap(),
        b"changed"
    );
    assert!(!target.path().join("new-file").exists());
    s.remove_rw("c1").unwrap();
}
