mod common;

use berth_model::{ErrorKind, Reference};
use common::*;

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

#[test]
fn resolves_ids_prefixes_and_references() {
    let env = Env::new();
    let s = &env.store;
    let img = s.import_rootfs(&rootfs_tar("a")[..], config("a")).unwrap();
    s.tag(&r("busybox"), &img.id).unwrap();
    let hex = img.id.hex();
    for name in [
        img.id.to_string(),
        hex.to_string(),
        hex[..12].to_string(),
        hex[..4].to_string(),
        format!("sha256:{}", &hex[..6]),
        "busybox".into(),
        "busybox:latest".into(),
        "docker.io/library/busybox".into(),
        "library/busybox:latest".into(),
    ] {
        assert_eq!(s.resolve_image(&name).unwrap().id, img.id, "{name}");
    }
    for name in [
        "busybox:1.0",
        "nope",
        "sha256:0000",
        &format!("sha256:{}", "0".repeat(64)),
    ] {
        let err = s.resolve_image(name).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.to_string(), format!("No such image: {name}"));
        assert_eq!(
            berth_model::Error::from(err).message,
            format!("No such image: {name}")
        );
    }
    assert_eq!(
        s.resolve_image("BusyBox").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn ambiguous_prefixes_are_not_found() {
    let env = Env::copy();
    let s = &env.store;
    let tar = rootfs_tar("p");
    let mut ids = Vec::new();
    // Pigeonhole: among 17 images two share a first hex digit.
    for i in 0..17 {
        ids.push(
            s.import_rootfs(&tar[..], config(&i.to_string()))
                .unwrap()
                .id,
        );
    }
    let first = ids
        .iter()
        .map(|d| &d.hex()[..1])
        .find(|c| ids.iter().filter(|d| d.hex().starts_with(*c)).count() > 1)
        .unwrap();
    let err = s.resolve_image(first).unwrap_err();
    assert_eq!(err.to_string(), format!("No such image: {first}"));
}

#[test]
fn tags_move_and_untag() {
    let env = Env::copy();
    let s = &env.store;
    let a = s.import_rootfs(&rootfs_tar("a")[..], config("a")).unwrap();
    let b = s.import_rootfs(&rootfs_tar("b")[..], config("b")).unwrap();
    s.tag(&r("app"), &a.id).unwrap();
    s.tag(&r("localhost:5000/x/app:1"), &a.id).unwrap();
    assert_eq!(
        s.image_refs(&a.id).unwrap(),
        vec![
            r("docker.io/library/app:latest"),
            r("localhost:5000/x/app:1")
        ]
    );
    s.tag(&r("app:latest"), &b.id).unwrap();
    assert_eq!(
        s.image_refs(&a.id).unwrap(),
        vec![r("localhost:5000/x/app:1")]
    );
    assert_eq!(s.resolve_image("app").unwrap().id, b.id);
    let listed = s.list_images().unwrap();
    assert_eq!(listed.len(), 2);
    for (img, refs) in &listed {
        assert_eq!(refs, &s.image_refs(&img.id).unwrap());
    }
    s.untag(&r("app")).unwrap();
    assert_eq!(
        s.untag(&r("app")).unwrap_err().to_string(),
        "No such image: app:latest"
    );
    assert!(s.image_refs(&b.id).unwrap().is_empty());
    let missing = berth_model::Digest::of(b"none");
    assert_eq!(
        s.tag(&r("x"), &missing).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn container_records() {
    let env = Env::copy();
    let s = &env.store;
    assert_eq!(s.get_container("a").unwrap(), None);
    s.put_container("a", b"1").unwrap();
    s.put_container("b", b"2").unwrap();
    s.put_container("a", b"3").unwrap();
    assert_eq!(s.get_container("a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(
        s.list_containers().unwrap(),
        vec![
            ("a".to_string(), b"3".to_vec()),
            ("b".to_string(), b"2".to_vec())
        ]
    );
    s.delete_container("a").unwrap();
    s.delete_container("a").unwrap();
    assert_eq!(s.list_containers().unwrap().len(), 1);
}
