//! save/load at the store level, without root: round trip, OCI layouts with zstd and gzip
//! layers, and archives whose blobs lie about their digests.

mod common;

use berth_model::image::RootFs;
use berth_model::manifest::{
    Descriptor, Index, Manifest, ANNOTATION_IMAGE_NAME, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_ZSTD,
    MEDIA_TYPE_MANIFEST,
};
use berth_model::{Digest, Reference};
use berth_store::SaveItem;
use common::*;
use std::collections::BTreeMap;

fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        // Raw name bytes: the tar crate refuses to write `..` itself.
        let raw = name.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn blob_count(env: &Env) -> usize {
    env.names("content/blobs/sha256").len()
}

/// An OCI layout archive with one zstd layer, built by hand.
fn oci_layout(layer_tar: &[u8], tamper: bool) -> (Vec<u8>, Digest) {
    let zst = zstd::encode_all(layer_tar, 3).unwrap();
    let mut cfg = config("oci");
    cfg.rootfs = RootFs {
        kind: "layers".into(),
        diff_ids: vec![Digest::of(layer_tar)],
    };
    let cfg_bytes = cfg.to_bytes();
    let cfg_d = Digest::of(&cfg_bytes);
    let layer_d = Digest::of(&zst);
    let m = Manifest::new(
        Descriptor::new(MEDIA_TYPE_CONFIG, cfg_d.clone(), cfg_bytes.len() as u64),
        vec![Descriptor::new(
            MEDIA_TYPE_LAYER_ZSTD,
            layer_d.clone(),
            zst.len() as u64,
        )],
    );
    let m_bytes = m.to_bytes();
    let m_d = Digest::of(&m_bytes);
    let mut a = BTreeMap::new();
    a.insert(
        ANNOTATION_IMAGE_NAME.to_string(),
        "docker.io/library/oci:1".to_string(),
    );
    let index = Index::new(vec![Descriptor {
        annotations: Some(a),
        ..Descriptor::new(MEDIA_TYPE_MANIFEST, m_d.clone(), m_bytes.len() as u64)
    }]);
    let mut stored_layer = zst.clone();
    if tamper {
        let n = stored_layer.len();
        stored_layer[n - 5] ^= 0x55;
    }
    let archive = tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        (&format!("blobs/sha256/{}", cfg_d.hex()), cfg_bytes),
        (&format!("blobs/sha256/{}", layer_d.hex()), stored_layer),
        (&format!("blobs/sha256/{}", m_d.hex()), m_bytes),
        ("index.json", index.to_bytes()),
    ]);
    (archive, cfg_d)
}

#[test]
fn save_then_load_gives_the_same_images_and_tags() {
    let env = Env::copy();
    let a = env
        .store
        .import_rootfs(&rootfs_tar("a")[..], config("a"))
        .unwrap();
    let b = env
        .store
        .import_rootfs(&rootfs_tar("b")[..], config("b"))
        .unwrap();
    let tag = Reference::parse_normalized("a:1").unwrap();
    let mut out = Vec::new();
    env.store
        .save(
            &[
                SaveItem {
                    image: a.clone(),
                    tags: vec![tag.clone()],
                },
                SaveItem {
                    image: b.clone(),
                    tags: vec![],
                },
            ],
            &mut out,
        )
        .unwrap();
    let fresh = Env::copy();
    let loaded = fresh.store.load(&out[..]).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].image.id, a.id);
    assert_eq!(loaded[0].tags, vec![tag]);
    assert_eq!(loaded[1].image.id, b.id);
    assert!(loaded[1].tags.is_empty());
    // The original manifests came along (index.json), not rebuilt ones.
    assert_eq!(loaded[0].image.manifest, a.manifest);
    assert!(fresh.names("content/ingest").is_empty());
}

#[test]
fn oci_layout_with_a_zstd_layer_loads() {
    let layer = tar_of(&[("etc/hello", b"zstd layer\n".to_vec())]);
    let (archive, id) = oci_layout(&layer, false);
    let env = Env::copy();
    let loaded = env.store.load(&archive[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].image.id, id);
    assert_eq!(loaded[0].tags[0].to_string(), "docker.io/library/oci:1");
    let snap = env.root().join("snapshots").join(Digest::of(&layer).hex());
    assert_eq!(
        std::fs::read(snap.join("fs/etc/hello")).unwrap(),
        b"zstd layer\n"
    );
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused_and_leaves_nothing() {
    let layer = tar_of(&[("etc/hello", b"zstd layer\n".repeat(1000))]);
    let (archive, _) = oci_layout(&layer, true);
    let env = Env::copy();
    let err = env.store.load(&archive[..]).unwrap_err().to_string();
    assert!(err.contains("layer 1"), "{err}");
    assert_eq!(blob_count(&env), 0);
    assert!(env.names("content/ingest").is_empty());
    let snaps: Vec<String> = env
        .names("snapshots")
        .into_iter()
        .filter(|n| n != "empty")
        .collect();
    assert!(snaps.is_empty(), "{snaps:?}");
    assert!(env.store.list_images().unwrap().is_empty());
}

#[test]
fn archives_that_climb_out_or_miss_parts_are_refused() {
    let env = Env::copy();
    let climb = tar_of(&[("../manifest.json", b"[]".to_vec())]);
    let err = env.store.load(&climb[..]).unwrap_err().to_string();
    assert!(err.contains("climbs out"), "{err}");
    let missing = tar_of(&[(
        "manifest.json",
        br#"[{"Config":"nope.json","RepoTags":["x:1"],"Layers":[]}]"#.to_vec(),
    )]);
    let err = env.store.load(&missing[..]).unwrap_err().to_string();
    assert!(err.contains("no file nope.json"), "{err}");
    let neither = tar_of(&[("hello", b"x".to_vec())]);
    let err = env.store.load(&neither[..]).unwrap_err().to_string();
    assert!(
        err.contains("neither manifest.json nor index.json"),
        "{err}"
    );
    assert_eq!(blob_count(&env), 0);
}
