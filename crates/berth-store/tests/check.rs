mod common;

use berth_model::{Digest, Reference};
use berth_store::{CheckReport, Problem, SnapshotterKind, Store, StoreError};
use common::*;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Findings as (problem, subject relative to the data root), sorted.
fn findings(root: &Path, r: &CheckReport) -> Vec<(Problem, String)> {
    let prefix = format!("{}/", root.display());
    let mut v: Vec<(Problem, String)> = r
        .findings
        .iter()
        .map(|f| (f.problem, f.subject.replace(&prefix, "")))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

fn check(root: &Path, repair: bool) -> CheckReport {
    Store::check(root, repair).unwrap()
}

fn image_blob_hexes(env: &Env, id: &Digest) -> Vec<String> {
    let img = env.store.image(id).unwrap();
    let m: berth_store::Manifest =
        serde_json::from_slice(&std::fs::read(env.blob(img.manifest.hex())).unwrap()).unwrap();
    let mut v = vec![img.manifest.hex().to_string(), img.id.hex().to_string()];
    v.extend(m.layers.iter().map(|l| l.digest.hex().to_string()));
    v
}

#[test]
fn a_store_with_images_and_containers_is_clean() {
    for kind in [SnapshotterKind::Overlay, SnapshotterKind::Copy] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open_with(dir.path(), kind).unwrap();
            let a = store
                .import_rootfs(&rootfs_tar("a")[..], config("a"))
                .unwrap();
            store
                .import_rootfs(&rootfs_tar("a")[..], config("b"))
                .unwrap();
            store
                .tag(&Reference::parse_normalized("a:1").unwrap(), &a.id)
                .unwrap();
            store.put_container("c1", b"{}").unwrap();
            store.prepare_rw("c1", &a.id).unwrap();
        }
        let r = check(dir.path(), false);
        assert!(r.findings.is_empty(), "{kind:?}: {:?}", r.findings);
        assert!(r.is_clean());
        assert_eq!((r.images, r.blobs), (2, 5), "{}", r.summary());
        assert!(r.summary().contains("store is clean"), "{}", r.summary());
    }
}

#[test]
fn orphans_and_leftovers_are_reported_then_repaired() {
    let env = Env::copy();
    let keep = env
        .store
        .import_rootfs(&rootfs_tar("keep")[..], config("keep"))
        .unwrap();
    env.store
        .tag(&Reference::parse_normalized("keep").unwrap(), &keep.id)
        .unwrap();
    // A container whose image was deleted: its layers stay, used by it.
    let under_live = env
        .store
        .import_rootfs(&rootfs_tar("live")[..], config("live"))
        .unwrap();
    env.store.put_container("live", b"{}").unwrap();
    env.store.prepare_rw("live", &under_live.id).unwrap();
    env.store.delete_image(&under_live.id).unwrap();
    // A read-write snapshot whose container record is gone, on a deleted image's layer:
    // both are orphans.
    let under_gone = env
        .store
        .import_rootfs(&rootfs_tar("gone")[..], config("gone"))
        .unwrap();
    env.store.prepare_rw("gone", &under_gone.id).unwrap();
    env.store.delete_image(&under_gone.id).unwrap();

    let root = env.root().to_path_buf();
    let orphan = b"nobody names me";
    let orphan_hex = Digest::of(orphan).hex().to_string();
    std::fs::write(env.blob(&orphan_hex), orphan).unwrap();
    let corrupt_hex = Digest::of(b"what it should be").hex().to_string();
    std::fs::write(env.blob(&corrupt_hex), b"something else").unwrap();
    let stale_snap = Digest::of(b"a layer").hex().to_string();
    std::fs::create_dir_all(root.join("snapshots").join(&stale_snap).join("fs")).unwrap();
    std::fs::create_dir_all(root.join("snapshots/tmp-halfway/fs/bin")).unwrap();
    std::fs::write(root.join("content/ingest/0123abc"), b"half a layer").unwrap();
    drop(env.store);

    let under_gone_key = under_gone.layers[0].hex().to_string();
    let mut want = vec![
        (
            Problem::CorruptBlob,
            format!("content/blobs/sha256/{corrupt_hex}"),
        ),
        (
            Problem::OrphanBlob,
            format!("content/blobs/sha256/{orphan_hex}"),
        ),
        (Problem::Leftover, "content/ingest/0123abc".to_string()),
        (Problem::OrphanSnapshot, format!("snapshots/{stale_snap}")),
        (
            Problem::OrphanSnapshot,
            format!("snapshots/{under_gone_key}"),
        ),
        (Problem::OrphanSnapshot, "snapshots/rw-gone".to_string()),
        (Problem::Leftover, "snapshots/tmp-halfway".to_string()),
    ];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    let r = check(&root, false);
    assert_eq!(findings(&root, &r), want, "{}", r.summary());
    assert!(!r.is_clean());
    assert!(r.only_repairable());
    assert!(r.findings.iter().all(|f| !f.repaired));
    // Each line names the path at fault.
    let line = r
        .findings
        .iter()
        .find(|f| f.problem == Problem::CorruptBlob)
        .unwrap()
        .to_string();
    assert!(line.contains(&corrupt_hex), "{line}");
    assert!(root.join("content/ingest/0123abc").exists());

    let r = check(&root, true);
    assert_eq!(findings(&root, &r), want);
    assert!(r.is_clean(), "{:?}", r.findings);
    assert!(r
        .findings
        .iter()
        .all(|f| f.to_string().ends_with("(removed)")));

    let r = check(&root, false);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let store = Store::open_with(&root, SnapshotterKind::Copy).unwrap();
    assert_eq!(store.resolve_image("keep").unwrap().id, keep.id);
    assert!(store.rw_mount("live").is_ok());
    let live_fs = store.rw_mount("live").unwrap().upper;
    assert!(live_fs.join("bin/hello").is_file());
    assert!(store.snapshotter().exists(under_live.layers[0].hex()));
}

#[test]
fn missing_and_corrupt_parts_of_images_are_errors_repair_leaves() {
    let env = Env::new();
    let a = env
        .store
        .import_rootfs(&rootfs_tar("a")[..], config("a"))
        .unwrap();
    let b = env
        .store
        .import_rootfs(&rootfs_tar("b")[..], config("b"))
        .unwrap();
    let c = env
        .store
        .import_rootfs(&rootfs_tar("c")[..], config("c"))
        .unwrap();
    let root = env.root().to_path_buf();
    let a_layer = image_blob_hexes(&env, &a.id)[2].clone();
    std::fs::remove_file(env.blob(&a_layer)).unwrap();
    let b_snap = b.layers[0].hex().to_string();
    std::fs::remove_dir_all(root.join("snapshots").join(&b_snap)).unwrap();
    let c_config = c.id.hex().to_string();
    std::fs::write(env.blob(&c_config), b"{}").unwrap();
    drop(env.store);

    // Before repair, the repair run itself, after it: the corrupt config is removed by
    // the repair and missing afterwards; the errors stay.
    for (pass, repair) in [false, true, false].into_iter().enumerate() {
        let r = check(&root, repair);
        let errors: Vec<String> = r.errors().map(|f| f.to_string()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let has = |id: &Digest, what: &str, how: &str| {
            errors
                .iter()
                .any(|e| e.contains(&id.to_string()) && e.contains(what) && e.contains(how))
        };
        assert!(has(&a.id, &a_layer, "is missing"), "{errors:?}");
        assert!(has(&b.id, &b_snap, "is missing"), "{errors:?}");
        let c_how = if pass < 2 { "is corrupt" } else { "is missing" };
        assert!(has(&c.id, &c_config, c_how), "{errors:?}");
        assert!(errors.iter().all(|e| e.contains("repair cannot fix")));
        assert!(!r.is_clean());
        assert!(r.summary().contains("3 errors"), "{}", r.summary());
        let corrupt: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.problem == Problem::CorruptBlob)
            .collect();
        assert_eq!(corrupt.len(), usize::from(pass < 2), "{corrupt:?}");
        assert!(corrupt.iter().all(|f| f.repaired == repair));
        assert!(r
            .findings
            .iter()
            .all(|f| f.problem == Problem::Broken || f.problem == Problem::CorruptBlob));
    }
}

#[test]
fn a_store_in_use_is_refused() {
    let env = Env::new();
    match Store::check(env.root(), false) {
        Err(e @ StoreError::Locked(_)) => assert!(e.to_string().contains("berth.redb")),
        other => panic!("want locked, got {other:?}"),
    }
    let empty = tempfile::tempdir().unwrap();
    let err = Store::check(empty.path(), true).unwrap_err();
    assert!(err.to_string().contains("not a berth data root"), "{err}");
    assert!(!empty.path().join("berth.redb").exists());
}

/// Yields `data` then fails, as a client that hangs up mid-upload.
struct Failing<'a> {
    data: &'a [u8],
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "hung up"));
        }
        let n = buf.len().min(self.data.len()).min(1000);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn big_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..64 {
        let body = vec![b'x' + (i % 3) as u8; 16 * 1024];
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        b.append_data(&mut h, format!("f{i}"), &body[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn an_interrupted_import_leaves_a_clean_store() {
    let env = Env::copy();
    env.store
        .import_rootfs(&rootfs_tar("base")[..], config("base"))
        .unwrap();
    let tar = big_tar();
    for cut in [0, 700, 100 * 1024, tar.len() - 1024] {
        let plain = Failing { data: &tar[..cut] };
        assert!(env.store.import_rootfs(plain, config("cut")).is_err());
        let gz = gzip(&tar);
        let gz = Failing {
            data: &gz[..cut.min(gz.len() - 10)],
        };
        assert!(env.store.import_rootfs(gz, config("cut")).is_err());
    }
    let root = env.root().to_path_buf();
    drop(env.store);
    let r = check(&root, false);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.images, 1);
}

/// Child half of `a_killed_import_leaves_only_leftovers`: imports from a reader that
/// stalls forever after some bytes, until the parent kills it.
#[test]
fn killed_import_child() {
    let Some(root) = std::env::var_os("BERTH_CHECK_CHILD_ROOT") else {
        return;
    };
    let store = Store::open_with(Path::new(&root), SnapshotterKind::Copy).unwrap();
    struct Stall(Vec<u8>, usize);
    impl Read for Stall {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() {
                loop {
                    std::thread::sleep(Duration::from_secs(60));
                }
            }
            let n = buf.len().min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let tar = big_tar();
    let half = tar.len() / 2;
    let _ = store.import_rootfs(Stall(tar[..half].to_vec(), 0), config("killed"));
}

#[test]
fn a_killed_import_leaves_only_leftovers() {
    let env = Env::copy();
    let base = env
        .store
        .import_rootfs(&rootfs_tar("base")[..], config("base"))
        .unwrap();
    let root = env.root().to_path_buf();
    drop(env.store);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["killed_import_child", "--exact", "--nocapture"])
        .env("BERTH_CHECK_CHILD_ROOT", &root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until the import has applied some files into its tmp snapshot.
    let deadline = Instant::now() + Duration::from_secs(30);
    let applied = || {
        std::fs::read_dir(root.join("snapshots"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
            .any(|e| e.path().join("fs/f3").exists())
    };
    while !applied() {
        assert!(Instant::now() < deadline, "the child import never started");
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let r = check(&root, false);
    assert!(!r.findings.is_empty());
    assert!(
        r.findings.iter().all(|f| f.problem == Problem::Leftover),
        "{:?}",
        r.findings
    );
    assert!(r
        .findings
        .iter()
        .any(|f| f.subject.contains("content/ingest/")));
    assert!(r
        .findings
        .iter()
        .any(|f| f.subject.contains("snapshots/tmp-")));
    assert!(check(&root, true).is_clean());
    let r = check(&root, false);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let store = Store::open_with(&root, SnapshotterKind::Copy).unwrap();
    assert_eq!(store.list_images().unwrap().len(), 1);
    assert_eq!(store.image(&base.id).unwrap().id, base.id);
}

fn layer_tar(name: &str, body: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(body.len() as u64);
    b.append_data(&mut h, name, body).unwrap();
    b.into_inner().unwrap()
}

/// Writes an image of `layers` (on `parent` when given) through the image writer.
fn write_image(
    store: &Store,
    parent: Option<&Digest>,
    layers: &[Vec<u8>],
    comment: &str,
) -> Result<berth_store::ImageRecord, StoreError> {
    let mut w = match parent {
        Some(p) => store.image_writer_on(p)?,
        None => store.image_writer(),
    };
    for l in layers {
        w.add_layer(
            berth_store::LayerSource::Stream(Box::new(&l[..])),
            berth_store::LayerExpect::default(),
        )?;
    }
    let mut c = config(comment);
    c.rootfs = berth_model::image::RootFs {
        kind: "layers".into(),
        diff_ids: w.diff_ids(),
    };
    w.finish(&c.to_bytes(), None)
}

#[test]
fn multi_layer_images_on_shared_parents_are_clean() {
    let env = Env::new();
    let base = write_image(
        &env.store,
        None,
        &[layer_tar("a", b"first"), layer_tar("b", b"second")],
        "base",
    )
    .unwrap();
    let child = write_image(
        &env.store,
        Some(&base.id),
        &[layer_tar("c", b"third")],
        "child",
    )
    .unwrap();
    assert_eq!(child.layers.len(), 3);
    // A write that fails half way (its stream breaks) leaves nothing to report.
    let tar = big_tar();
    let mut w = env.store.image_writer_on(&child.id).unwrap();
    let broken = Failing {
        data: &tar[..tar.len() / 2],
    };
    assert!(w
        .add_layer(
            berth_store::LayerSource::Stream(Box::new(broken)),
            berth_store::LayerExpect::default(),
        )
        .is_err());
    drop(w);
    let root = env.root().to_path_buf();
    let Env { dir, store } = env;
    drop(store);
    let r = check(&root, false);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!((r.images, r.snapshots), (2, 3), "{}", r.summary());

    // The parent deleted: the child still stands on all three layers.
    let store = Store::open(&root).unwrap();
    store.delete_image(&base.id).unwrap();
    drop(store);
    let r = check(&root, false);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // A layer in the middle of the child's chain gone: an error naming it.
    let middle = berth_model::digest::chain_id(&child.layers[..2]).unwrap();
    std::fs::remove_dir_all(root.join("snapshots").join(middle.hex())).unwrap();
    let r = check(&root, true);
    let errors: Vec<String> = r.errors().map(|f| f.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains(middle.hex()) && errors[0].contains(&child.id.to_string()));
    drop(dir);
}
