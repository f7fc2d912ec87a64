mod common;

use berth_model::Digest;
use common::*;
use std::io::Read;

#[test]
fn imports_a_plain_tar_as_a_one_layer_image() {
    let env = Env::new();
    let tar = rootfs_tar("plain");
    let rec = env.store.import_rootfs(&tar[..], config("c")).unwrap();
    let diff_id = Digest::of(&tar);
    assert_eq!(rec.layers, vec![diff_id.clone()]);
    assert_eq!(rec.config.rootfs.kind, "layers");
    assert_eq!(rec.config.rootfs.diff_ids, vec![diff_id.clone()]);
    assert_eq!(rec.size, "#!/bin/sh\necho plain\n".len() as u64);

    // Every blob's name is its sha256.
    let blobs = env.names("content/blobs/sha256");
    assert_eq!(blobs.len(), 3);
    for b in &blobs {
        assert_eq!(Digest::of(&std::fs::read(env.blob(b)).unwrap()).hex(), b);
    }
    let config_bytes = std::fs::read(env.blob(rec.id.hex())).unwrap();
    assert_eq!(Digest::of(&config_bytes), rec.id);

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.blob(rec.manifest.hex())).unwrap()).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(manifest["config"]["digest"], rec.id.to_string());
    assert_eq!(manifest["config"]["size"], config_bytes.len() as u64);
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer_digest: Digest = layer["digest"].as_str().unwrap().parse().unwrap();
    let gz = std::fs::read(env.blob(layer_digest.hex())).unwrap();
    assert_eq!(layer["size"], gz.len() as u64);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, tar);

    let fs = env.root().join("snapshots").join(diff_id.hex()).join("fs");
    assert_eq!(
        std::fs::read_to_string(fs.join("bin/hello")).unwrap(),
        "#!/bin/sh\necho plain\n"
    );
    assert_eq!(
        std::fs::read_link(fs.join("bin/sh")).unwrap().to_str(),
        Some("/bin/hello")
    );
    assert!(env.names("content/ingest").is_empty());
    assert_eq!(env.store.resolve_image(rec.id.hex()).unwrap(), rec);
}

#[test]
fn gzip_input_is_stored_byte_for_byte() {
    let env = Env::new();
    let tar = rootfs_tar("gz");
    let gz = gzip(&tar);
    let rec = env.store.import_rootfs(&gz[..], config("c")).unwrap();
    assert_eq!(rec.layers, vec![Digest::of(&tar)]);
    assert!(env.blob(Digest::of(&gz).hex()).is_file());
}

#[test]
fn zstd_input_is_stored_as_gzip() {
    let env = Env::new();
    let tar = rootfs_tar("zst");
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let rec = env.store.import_rootfs(&zst[..], config("c")).unwrap();
    assert_eq!(rec.layers, vec![Digest::of(&tar)]);
    assert!(!env.blob(Digest::of(&zst).hex()).exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.blob(rec.manifest.hex())).unwrap()).unwrap();
    let layer: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        &std::fs::read(env.blob(layer.hex())).unwrap()[..2],
        &[0x1f, 0x8b]
    );
}

#[test]
fn same_layer_twice_shares_the_snapshot() {
    let env = Env::new();
    let tar = rootfs_tar("x");
    let a = env.store.import_rootfs(&tar[..], config("a")).unwrap();
    let b = env.store.import_rootfs(&tar[..], config("b")).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.layers, b.layers);
    assert_eq!(
        env.names("snapshots"),
        vec![a.layers[0].hex().to_string(), "empty".to_string()]
    );
    assert_eq!(env.store.list_images().unwrap().len(), 2);
}

#[test]
fn a_bad_tar_leaves_nothing_behind() {
    let env = Env::new();
    let tar = rootfs_tar("t");
    let gz = gzip(&tar);
    let mut corrupt = tar.clone();
    corrupt[600] ^= 0xff; // inside the second header: checksum mismatch
    for bad in [
        &tar[..tar.len() - 1024],
        &tar[..700],
        &gz[..gz.len() - 8],
        &corrupt[..],
        b"not a tar at all",
    ] {
        let err = env.store.import_rootfs(bad, config("c")).unwrap_err();
        assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument, "{err}");
        assert!(env.names("content/blobs/sha256").is_empty());
        assert!(env.names("content/ingest").is_empty());
        assert_eq!(env.names("snapshots"), vec!["empty".to_string()]);
        assert!(env.store.list_images().unwrap().is_empty());
    }
}

#[test]
fn reopen_keeps_images_and_drops_crash_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let (id, r) = {
        let store = berth_store::Store::open(dir.path()).unwrap();
        // A second opener is refused while the first holds the database.
        let err = berth_store::Store::open(dir.path())
            .err()
            .expect("second open must fail");
        assert_eq!(err.kind(), berth_model::ErrorKind::Unavailable, "{err}");
        let rec = store
            .import_rootfs(&rootfs_tar("r")[..], config("c"))
            .unwrap();
        let r = berth_model::Reference::parse("app:v1").unwrap();
        store.tag(&r, &rec.id).unwrap();
        store.put_container("c1", b"{}").unwrap();
        (rec.id, r)
    };
    std::fs::write(dir.path().join("content/ingest/half"), b"partial").unwrap();
    std::fs::create_dir_all(dir.path().join("snapshots/tmp-import-dead/fs/bin")).unwrap();
    let store = berth_store::Store::open(dir.path()).unwrap();
    assert_eq!(store.resolve_image("app:v1").unwrap().id, id);
    assert_eq!(store.image_refs(&id).unwrap(), vec![r]);
    assert_eq!(
        store.get_container("c1").unwrap().as_deref(),
        Some(&b"{}"[..])
    );
    assert!(!dir.path().join("content/ingest/half").exists());
    assert!(!dir.path().join("snapshots/tmp-import-dead").exists());
    assert!(dir.path().join("containers").is_dir());
    assert!(dir.path().join("berth.redb").is_file());
}
