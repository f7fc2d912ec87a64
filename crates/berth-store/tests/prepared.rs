//! Layers prepared out of order (as a pull unpacks them while they download) and stacked
//! bottom first.

mod common;

use berth_model::digest::chain_id;
use berth_model::Digest;
use berth_store::{LayerExpect, LayerSource};
use common::{config, gzip, rootfs_tar, Env};

fn layer(marker: &str) -> (Vec<u8>, Digest, Digest) {
    let tar = rootfs_tar(marker);
    let diff = Digest::of(&tar);
    let gz = gzip(&tar);
    let digest = Digest::of(&gz);
    (gz, digest, diff)
}

fn expect(digest: &Digest, diff: &Digest) -> LayerExpect {
    LayerExpect {
        digest: Some(digest.clone()),
        diff_id: Some(diff.clone()),
    }
}

fn source(bytes: &[u8]) -> LayerSource<'_> {
    LayerSource::Stream(Box::new(bytes))
}

#[test]
fn the_upper_layer_can_be_unpacked_before_the_lower() {
    let env = Env::new();
    let (l1, d1, id1) = layer("one");
    let (l2, d2, id2) = layer("two");
    let below = [id1.clone()];
    let top = env
        .store
        .prepare_layer(&below, source(&l2), expect(&d2, &id2), false)
        .unwrap();
    let bottom = env
        .store
        .prepare_layer(&[], source(&l1), expect(&d1, &id1), false)
        .unwrap();
    let chain2 = chain_id(&[id1.clone(), id2.clone()]).unwrap();
    // Nothing is committed before it is stacked.
    assert!(!env.store.snapshotter().exists(chain2.hex()));

    let mut w = env.store.image_writer();
    // Stacking out of order is refused and drops the layer.
    let err = w.add_prepared(top).unwrap_err();
    assert!(
        err.to_string().contains("prepared on other layers"),
        "{err}"
    );
    let top = env
        .store
        .prepare_layer(&below, source(&l2), expect(&d2, &id2), false)
        .unwrap();
    w.add_prepared(bottom).unwrap();
    w.add_prepared(top).unwrap();
    let mut cfg = config("prepared");
    cfg.rootfs.diff_ids = vec![id1.clone(), id2.clone()];
    let bytes = serde_json::to_vec(&cfg).unwrap();
    let rec = w.finish(&bytes, None).unwrap();
    assert_eq!(rec.layers, vec![id1.clone(), id2]);
    assert!(env.store.snapshotter().exists(chain2.hex()));
    assert_eq!(
        env.store.snapshotter().parent(chain2.hex()).unwrap(),
        Some(chain_id(&[id1]).unwrap().hex().to_string())
    );
    let hello = env
        .root()
        .join("snapshots")
        .join(chain2.hex())
        .join("fs/bin/hello");
    assert!(std::fs::read_to_string(hello).unwrap().contains("two"));
    // No unpacking leftovers.
    assert!(env
        .names("snapshots")
        .iter()
        .all(|n| !n.starts_with("tmp-")));
}

#[test]
fn a_prepared_layer_dropped_unused_leaves_nothing() {
    let env = Env::new();
    let before_blobs = env.names("content/blobs/sha256");
    let before_snaps = env.names("snapshots");
    let (l1, d1, id1) = layer("gone");
    let p = env
        .store
        .prepare_layer(&[], source(&l1), expect(&d1, &id1), false)
        .unwrap();
    assert_eq!(p.diff_id(), &id1);
    assert!(env.blob(d1.hex()).exists());
    drop(p);
    assert_eq!(env.names("content/blobs/sha256"), before_blobs);
    assert_eq!(env.names("snapshots"), before_snaps);
}

#[test]
fn a_corrupt_layer_is_refused_before_it_is_visible() {
    let env = Env::new();
    let before_blobs = env.names("content/blobs/sha256");
    let (l1, d1, id1) = layer("good");
    let (_, _, other) = layer("other");
    let err = env
        .store
        .prepare_layer(&[], source(&l1), expect(&d1, &other), false)
        .err()
        .expect("a wrong diff ID is refused");
    assert!(
        err.to_string().contains("does not match its diff ID"),
        "{err}"
    );
    assert_eq!(env.names("content/blobs/sha256"), before_blobs);
    assert!(env
        .names("snapshots")
        .iter()
        .all(|n| !n.starts_with("tmp-")));
    let _ = id1;
}
