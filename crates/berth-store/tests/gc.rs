mod common;

use berth_model::Reference;
use common::*;

fn blob_count(env: &Env) -> usize {
    env.names("content/blobs/sha256").len()
}

#[test]
fn deleting_images_frees_layers_only_when_unshared() {
    let env = Env::new();
    let tar = rootfs_tar("x");
    let a = env.store.import_rootfs(&tar[..], config("a")).unwrap();
    let b = env.store.import_rootfs(&tar[..], config("b")).unwrap();
    let r = Reference::parse_normalized("a:1").unwrap();
    env.store.tag(&r, &a.id).unwrap();
    // Layer shared; a's config and manifest are its own.
    assert_eq!(blob_count(&env), 5);

    let gone = env.store.delete_image(&a.id).unwrap();
    assert_eq!(gone.untagged.len(), 1);
    assert_eq!(gone.blobs.len(), 2);
    assert!(gone.snapshots.is_empty());
    assert_eq!(gone.reclaimed, 0);
    assert!(env.store.resolve_image("a:1").is_err());
    assert!(env.store.image(&a.id).is_err());
    assert_eq!(blob_count(&env), 3);

    let gone = env.store.delete_image(&b.id).unwrap();
    assert_eq!(gone.blobs.len(), 3);
    assert_eq!(gone.snapshots, vec![b.layers[0].hex().to_string()]);
    assert_eq!(gone.reclaimed, b.size);
    assert_eq!(blob_count(&env), 0);
    assert_eq!(env.names("snapshots"), vec!["empty".to_string()]);
    assert!(env.store.delete_image(&b.id).is_err());
}

#[test]
fn a_containers_layers_outlive_its_image() {
    let env = Env::new();
    let img = env
        .store
        .import_rootfs(&rootfs_tar("y")[..], config("c"))
        .unwrap();
    env.store.prepare_rw("c1", &img.id).unwrap();
    let gone = env.store.delete_image(&img.id).unwrap();
    assert!(gone.snapshots.is_empty());
    assert!(env.store.rw_mount("c1").is_ok());
    env.store.remove_rw("c1").unwrap();
    assert!(env.store.list_images().unwrap().is_empty());
}
