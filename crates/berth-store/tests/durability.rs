//! Layers unpacked in a boot that ended before their background sync are unpacked again
//! from their blobs when the store opens; those of the current boot are kept.

mod common;

use berth_store::{SnapshotterKind, Store};
use common::*;
use std::fs;

#[test]
fn snapshots_from_a_crashed_boot_are_unpacked_again() {
    let env = Env::copy();
    let img = env
        .store
        .import_rootfs(&rootfs_tar("durable")[..], config("d"))
        .unwrap();
    let snap = env.root().join("snapshots").join(img.layers[0].hex());
    let marker = snap.join("unsynced");
    // The background sync drops the marker soon.
    for _ in 0..200 {
        if !marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!marker.exists(), "background sync did not finish");
    let wait_synced = || {
        for _ in 0..200 {
            if !marker.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("background sync did not finish");
    };
    let file = snap.join("fs/bin/hello");
    let before = fs::read(&file).unwrap();

    // Same boot: a pending marker is only a sync to finish; nothing is unpacked again.
    fs::write(
        &marker,
        fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap(),
    )
    .unwrap();
    fs::write(snap.join("fs/bin/local-edit"), "kept").unwrap();
    let root = env.root().to_path_buf();
    drop(env.store);
    let store = Store::open_with(&root, SnapshotterKind::Copy).unwrap();
    assert!(snap.join("fs/bin/local-edit").exists());
    wait_synced();

    // Another boot: the snapshot may have lost data (simulated: a file gone), so it is
    // rebuilt from the blob.
    fs::write(&marker, "a-boot-long-gone").unwrap();
    fs::remove_file(&file).unwrap();
    drop(store);
    let store = Store::open_with(&root, SnapshotterKind::Copy).unwrap();
    assert_eq!(fs::read(&file).unwrap(), before);
    assert!(!snap.join("fs/bin/local-edit").exists());
    assert_eq!(store.image(&img.id).unwrap().layers, img.layers);
}
