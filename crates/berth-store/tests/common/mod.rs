#![allow(dead_code)]

use berth_model::image::{ImageConfig, ImageRunConfig};
use berth_store::{SnapshotterKind, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn rootfs_tar(marker: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    b.append_data(&mut dir, "bin/", &[][..]).unwrap();
    let body = format!("#!/bin/sh\necho {marker}\n");
    let mut f = tar::Header::new_gnu();
    f.set_mode(0o755);
    f.set_size(body.len() as u64);
    b.append_data(&mut f, "bin/hello", body.as_bytes()).unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    b.append_link(&mut l, "bin/sh", "/bin/hello").unwrap();
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub fn config(comment: &str) -> ImageConfig {
    ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        comment: Some(comment.into()),
        config: ImageRunConfig {
            cmd: Some(vec!["/bin/hello".into()]),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Self { dir, store }
    }

    pub fn copy() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), SnapshotterKind::Copy).unwrap();
        Self { dir, store }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn names(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    pub fn blob(&self, hex: &str) -> PathBuf {
        self.root().join("content/blobs/sha256").join(hex)
    }
}
