//! Push from one data root to berth-registry (in process, on loopback) and pull into
//! another: same image ID and diff IDs; plain layers gzipped on the way; dockerd's
//! progress messages; unknown tags and unreachable registries as errors.

use berth_engine::registry::RegistryAuth;
use berth_engine::{Engine, EngineConfig};
use berth_model::{ErrorKind, Reference};
use berth_store::{LayerExpect, LayerSource, Store};
use futures_util::StreamExt;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

fn layer_tar(name: &str, body: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1);
    h.set_cksum();
    b.append_data(&mut h, name, body).unwrap();
    b.into_inner().unwrap()
}

/// A two-layer image with plain (uncompressed) layer blobs, as `commit` and `build` make.
fn make_plain_image(root: &Path, reference: &str) -> String {
    let store = Store::open(root).unwrap();
    let mut w = store.image_writer();
    for (n, body) in [
        ("a.txt", &b"first layer"[..]),
        ("b.txt", &[7u8; 300_000][..]),
    ] {
        let tar = layer_tar(n, body);
        w.add_layer(
            LayerSource::Stream(Box::new(std::io::Cursor::new(tar))),
            LayerExpect::default(),
        )
        .unwrap();
    }
    let diff_ids: Vec<String> = w.diff_ids().iter().map(|d| d.to_string()).collect();
    let config = serde_json::json!({
        "architecture": berth_model::image::host_architecture(),
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let rec = w
        .finish(&serde_json::to_vec(&config).unwrap(), None)
        .unwrap();
    store
        .tag(&Reference::parse_normalized(reference).unwrap(), &rec.id)
        .unwrap();
    rec.id.to_string()
}

async fn engine(root: &Path) -> Arc<Engine> {
    Engine::open(EngineConfig {
        data_root: root.join("data"),
        exec_root: root.join("run"),
        shim_exe: "/bin/false".into(),
        init: false,
        init_path: "/bin/false".into(),
        insecure_registries: vec![],
        network: Default::default(),
    })
    .await
    .unwrap()
}

async fn collect(s: futures_util::stream::BoxStream<'static, Value>) -> Vec<Value> {
    s.collect().await
}

fn statuses(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| m.get("status").and_then(|s| s.as_str()))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_into_another_root_is_bit_identical() {
    let reg_root = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cfg = berth_registry::server::Config::new(reg_root.path());
    tokio::spawn(async move {
        let _ = berth_registry::server::serve(cfg, listener).await;
    });

    let a = tempfile::tempdir().unwrap();
    let reference = format!("{addr}/test/plain:v1");
    let id = make_plain_image(&a.path().join("data"), &reference);
    let ea = engine(a.path()).await;

    let msgs = collect(ea.push(&reference, None).await.unwrap()).await;
    let st = statuses(&msgs);
    assert!(
        msgs.iter().all(|m| m.get("error").is_none()),
        "push failed: {msgs:?}"
    );
    assert_eq!(
        st[0],
        format!("The push refers to repository [{addr}/test/plain]")
    );
    assert_eq!(st.iter().filter(|s| *s == "Preparing").count(), 2);
    assert_eq!(st.iter().filter(|s| *s == "Pushed").count(), 2);
    let aux = msgs.last().unwrap()["aux"].clone();
    assert_eq!(aux["Tag"], "v1");
    let pushed_digest = aux["Digest"].as_str().unwrap().to_string();

    // Pushing again: every layer is there already.
    let msgs = collect(ea.push(&reference, None).await.unwrap()).await;
    let st = statuses(&msgs);
    assert_eq!(
        st.iter().filter(|s| *s == "Layer already exists").count(),
        2,
        "{msgs:?}"
    );
    assert_eq!(
        msgs.last().unwrap()["aux"]["Digest"],
        pushed_digest.as_str()
    );

    // Into another data root.
    let b = tempfile::tempdir().unwrap();
    let eb = engine(b.path()).await;
    let msgs = collect(eb.pull(&reference, None).await.unwrap()).await;
    assert!(
        msgs.iter().all(|m| m.get("error").is_none()),
        "pull failed: {msgs:?}"
    );
    let st = statuses(&msgs);
    assert_eq!(st[0], "Pulling from test/plain");
    assert_eq!(st.iter().filter(|s| *s == "Pull complete").count(), 2);
    assert!(st.contains(&format!("Digest: {pushed_digest}")), "{st:?}");
    assert_eq!(
        st.last().unwrap(),
        &format!("Status: Downloaded newer image for {reference}")
    );
    let ia = ea.inspect_image(&reference).await.unwrap();
    let ib = eb.inspect_image(&reference).await.unwrap();
    assert_eq!(ib.id, id);
    assert_eq!(ia.id, ib.id);
    assert_eq!(ia.root_fs.layers, ib.root_fs.layers);

    // Again: up to date, nothing downloaded.
    let msgs = collect(eb.pull(&reference, None).await.unwrap()).await;
    let st = statuses(&msgs);
    assert_eq!(
        st.last().unwrap(),
        &format!("Status: Image is up to date for {reference}")
    );
    assert!(!st.iter().any(|s| s == "Pull complete"), "{st:?}");

    // The pulled image (gzip layers) pushed to another repository: mounted.
    let other = format!("{addr}/test/copy:v2");
    eb.tag_image(&reference, &format!("{addr}/test/copy"), "v2")
        .await
        .unwrap();
    let msgs = collect(eb.push(&other, None).await.unwrap()).await;
    let st = statuses(&msgs);
    assert_eq!(
        st.iter().filter(|s| s.starts_with("Mounted from")).count(),
        2,
        "{msgs:?}"
    );
    assert_eq!(
        msgs.last().unwrap()["aux"]["Digest"],
        pushed_digest.as_str()
    );

    // Errors: unknown tag (before the stream), unreachable registry.
    let e = match eb.pull(&format!("{addr}/test/plain:nope"), None).await {
        Err(e) => e,
        Ok(_) => panic!("pull of an unknown tag succeeded"),
    };
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(
        e.message,
        format!(
            "manifest for {addr}/test/plain:nope not found: manifest unknown: manifest unknown"
        )
    );
    let e = match eb
        .pull("127.0.0.1:1/x:y", Some(RegistryAuth::default()))
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("pull from nowhere succeeded"),
    };
    assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
    let e = match eb.push("127.0.0.1:1/x:y", None).await {
        Err(e) => e,
        Ok(_) => panic!("push of a missing image succeeded"),
    };
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(
        e.message,
        "An image does not exist locally with the tag: 127.0.0.1:1/x"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_images_with_gzip_layers_are_pushed_as_they_are() {
    let reg_root = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cfg = berth_registry::server::Config::new(reg_root.path());
    tokio::spawn(async move {
        let _ = berth_registry::server::serve(cfg, listener).await;
    });

    let a = tempfile::tempdir().unwrap();
    let reference = format!("{addr}/test/oci:1");
    let (id, manifest_digest) = {
        let store = Store::open(&a.path().join("data")).unwrap();
        let config: berth_model::image::ImageConfig = serde_json::from_value(serde_json::json!({
            "architecture": berth_model::image::host_architecture(),
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap();
        let tar = layer_tar("hello.txt", b"imported");
        let rec = store
            .import_rootfs(std::io::Cursor::new(tar), config)
            .unwrap();
        store
            .tag(&Reference::parse_normalized(&reference).unwrap(), &rec.id)
            .unwrap();
        (rec.id.to_string(), rec.manifest.to_string())
    };
    let ea = engine(a.path()).await;
    let msgs = collect(ea.push(&reference, None).await.unwrap()).await;
    assert!(
        msgs.iter().all(|m| m.get("error").is_none()),
        "push failed: {msgs:?}"
    );
    // Stored manifest bytes went as they are: the same digest.
    assert_eq!(
        msgs.last().unwrap()["aux"]["Digest"],
        manifest_digest.as_str()
    );

    let b = tempfile::tempdir().unwrap();
    let eb = engine(b.path()).await;
    let msgs = collect(eb.pull(&reference, None).await.unwrap()).await;
    assert!(
        msgs.iter().all(|m| m.get("error").is_none()),
        "pull failed: {msgs:?}"
    );
    assert!(statuses(&msgs).contains(&format!("Digest: {manifest_digest}")));
    assert_eq!(eb.inspect_image(&reference).await.unwrap().id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_layer_is_refused_and_nothing_is_kept() {
    let reg_root = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cfg = berth_registry::server::Config::new(reg_root.path());
    tokio::spawn(async move {
        let _ = berth_registry::server::serve(cfg, listener).await;
    });
    let a = tempfile::tempdir().unwrap();
    let reference = format!("{addr}/test/bad:1");
    make_plain_image(&a.path().join("data"), &reference);
    let ea = engine(a.path()).await;
    let msgs = collect(ea.push(&reference, None).await.unwrap()).await;
    assert!(msgs.iter().all(|m| m.get("error").is_none()), "{msgs:?}");

    // Flip the last byte of a layer (a gzip blob) in the registry's storage.
    let blobs = reg_root.path().join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read(p).unwrap().starts_with(&[0x1f, 0x8b]))
        .unwrap();
    let digest = format!("sha256:{}", biggest.file_name().unwrap().to_str().unwrap());
    let mut bytes = std::fs::read(&biggest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&biggest, bytes).unwrap();

    let b = tempfile::tempdir().unwrap();
    let eb = engine(b.path()).await;
    let msgs = collect(eb.pull(&reference, None).await.unwrap()).await;
    let last = msgs.last().unwrap();
    assert_eq!(
        last["error"],
        format!("filesystem layer verification failed for digest {digest}").as_str(),
        "{msgs:?}"
    );
    assert_eq!(last["errorDetail"]["message"], last["error"]);
    assert!(eb.inspect_image(&reference).await.is_err());
    let content = b.path().join("data/content/blobs/sha256");
    let kept: Vec<_> = std::fs::read_dir(&content)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        !kept.iter().any(|n| digest.ends_with(n.to_str().unwrap())),
        "corrupt blob kept: {kept:?}"
    );
}
