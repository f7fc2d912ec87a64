//! Interop with a peer Berth did not write: skopeo copies an image from an OCI layout into
//! berth-registry (through the token flow) and back out to a `dir:`. Skipped when skopeo is
//! not installed.

mod server_common;

use reqwest::StatusCode;
use serde_json::json;
use server_common::*;

fn have_skopeo() -> bool {
    std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn write_blob(layout: &std::path::Path, data: &[u8]) -> String {
    let d = digest(data);
    std::fs::write(layout.join("blobs/sha256").join(&d[7..]), data).unwrap();
    d
}

/// An OCI layout with one image (a gzipped layer, so skopeo keeps it as is), tagged `1`.
fn oci_layout(dir: &std::path::Path) -> (std::path::PathBuf, String, Vec<String>) {
    let layout = dir.join("oci");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let src = dir.join("content");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello.txt"), "hello from berth\n").unwrap();
    let tgz = dir.join("layer.tar.gz");
    let ok = std::process::Command::new("tar")
        .args(["czf"])
        .arg(&tgz)
        .arg("-C")
        .arg(&src)
        .arg("hello.txt")
        .status()
        .unwrap();
    assert!(ok.success());
    let layer = std::fs::read(&tgz).unwrap();
    let layer_d = write_blob(&layout, &layer);
    let config = config_json(json!({"org.opencontainers.image.description": "skopeo test"}));
    let config_d = write_blob(&layout, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_d, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_d = write_blob(&layout, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_d,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "1"},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    (layout, manifest_d, vec![config_d, layer_d])
}

async fn skopeo(args: &[&str]) {
    let out = tokio::process::Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_into_and_out_of_the_registry_with_auth() {
    if !have_skopeo() {
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let reg = start(|cfg, dir| {
        let h = bcrypt::hash("secret", 4).unwrap();
        std::fs::write(dir.join("htpasswd"), format!("alice:{h}\n")).unwrap();
        cfg.htpasswd = Some(dir.join("htpasswd"));
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let (layout, manifest_d, blobs) = oci_layout(work.path());
    let host = reg.url.trim_start_matches("http://").to_string();
    let dest = format!("docker://{host}/skopeo/x:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:secret",
        &format!("oci:{}:1", layout.display()),
        &dest,
    ])
    .await;

    let r = reg
        .client
        .head(reg.at("/v2/skopeo/x/manifests/1"))
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["docker-content-digest"], manifest_d.as_str());

    let out = work.path().join("out");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:secret",
        &dest,
        &format!("dir:{}", out.display()),
    ])
    .await;
    let pulled = std::fs::read(out.join("manifest.json")).unwrap();
    assert_eq!(digest(&pulled), manifest_d);
    for d in blobs {
        let data = std::fs::read(out.join(&d[7..])).unwrap();
        assert_eq!(digest(&data), d);
    }

    // Wrong credentials fail cleanly.
    let bad = tokio::process::Command::new("skopeo")
        .args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "alice:wrong",
            &dest,
        ])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_over_tls_with_a_trusted_self_signed_certificate() {
    if !have_skopeo() {
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("ca.crt"), ck.cert.pem()).unwrap();
    let reg = start(|cfg, dir| {
        std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
        cfg.tls_cert = Some(dir.join("cert.pem"));
        cfg.tls_key = Some(dir.join("key.pem"));
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let (layout, manifest_d, _) = oci_layout(work.path());
    let host = reg.url.trim_start_matches("https://").to_string();
    let dest = format!("docker://{host}/tls/x:1");
    let cert_dir = certs.path().display().to_string();
    skopeo(&[
        "copy",
        "--dest-cert-dir",
        &cert_dir,
        &format!("oci:{}:1", layout.display()),
        &dest,
    ])
    .await;
    let out = work.path().join("out");
    skopeo(&[
        "copy",
        "--src-cert-dir",
        &cert_dir,
        &dest,
        &format!("dir:{}", out.display()),
    ])
    .await;
    let pulled = std::fs::read(out.join("manifest.json")).unwrap();
    assert_eq!(digest(&pulled), manifest_d);
}
