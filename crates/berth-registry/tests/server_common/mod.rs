//! Helpers shared by the registry server tests: an in-process server on a free port and
//! small push helpers over reqwest.
#![allow(dead_code)]

use berth_registry::server::{serve, Config};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub struct Reg {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Reg {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Reg {
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }
}

/// Starts a server on 127.0.0.1:0 with a config adjusted by `f` (its root is preset).
pub async fn start(f: impl FnOnce(&mut Config, &std::path::Path)) -> Reg {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(dir.path().join("root"));
    f(&mut cfg, dir.path());
    let tls = cfg.tls_cert.is_some();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        serve(cfg, listener).await.unwrap();
    });
    let scheme = if tls { "https" } else { "http" };
    Reg {
        url: format!("{scheme}://127.0.0.1:{port}"),
        dir,
        client: reqwest::Client::new(),
        task,
    }
}

pub async fn plain() -> Reg {
    start(|_, _| {}).await
}

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Monolithic upload; returns the digest.
pub async fn push_blob(reg: &Reg, name: &str, data: &[u8]) -> String {
    let d = digest(data);
    let r = reg
        .client
        .post(reg.at(&format!("/v2/{name}/blobs/uploads/?digest={d}")))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    d
}

pub fn config_json(labels: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": labels },
        "rootfs": { "type": "layers", "diff_ids": [] },
    }))
    .unwrap()
}

pub fn manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest(config),
            "size": config.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest(l),
            "size": l.len(),
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

pub async fn put_manifest(
    reg: &Reg,
    name: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> reqwest::Response {
    reg.client
        .put(reg.at(&format!("/v2/{name}/manifests/{reference}")))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Pushes config + layers + manifest under `tag`; returns the manifest digest.
pub async fn push_image(
    reg: &Reg,
    name: &str,
    tag: &str,
    config: &[u8],
    layers: &[&[u8]],
) -> String {
    push_blob(reg, name, config).await;
    for l in layers {
        push_blob(reg, name, l).await;
    }
    let m = manifest(config, layers);
    let r = put_manifest(
        reg,
        name,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &m,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    digest(&m)
}

pub async fn error_code(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
