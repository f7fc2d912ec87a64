//! Feeds arbitrary bytes (plain, gzip or zstd, as `decompress` detects) to `apply_layer`
//! in a fresh root, with a sentinel directory beside it. Any panic, or anything created,
//! changed or removed outside the root, is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read sandbox")
        .map(|e| {
            let e = e.expect("dir entry");
            let p = e.path();
            let content = if p.is_file() && p.file_name() != Some("root".as_ref()) {
                std::fs::read(&p).expect("read sentinel")
            } else {
                Vec::new()
            };
            (e.file_name().to_string_lossy().into_owned(), content)
        })
        .collect();
    out.sort();
    out
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let sentinel = dir.path().join("sentinel");
    std::fs::create_dir(&root).expect("mkdir root");
    std::fs::create_dir(&sentinel).expect("mkdir sentinel");
    std::fs::write(sentinel.join("keep"), b"precious").expect("write sentinel");
    std::fs::write(dir.path().join("beside"), b"beside").expect("write beside");
    let before = (listing(dir.path()), listing(&sentinel));

    if let Ok(reader) = berth_archive::decompress(data) {
        let _ = berth_archive::apply_layer(reader, &root);
    }
    // The same bytes as a base layer, where whiteouts are dropped rather than made.
    let base = dir.path().join("root").join("base");
    if std::fs::create_dir(&base).is_ok() {
        let opts = berth_archive::ApplyOptions { base_layer: true };
        let _ = berth_archive::apply_layer_with(data, &base, opts);
    }

    let after = (listing(dir.path()), listing(&sentinel));
    assert_eq!(before, after, "something outside the root changed");
});
