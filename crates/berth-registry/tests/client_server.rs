//! The client against the real `berth-registry` server in process: login with right and
//! wrong passwords, a push (upload, mount, manifest) and pull through the token flow,
//! read-only users refused on push, tags and catalog.

use berth_model::manifest::{
    Descriptor, Manifest, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
};
use berth_model::{Digest, ErrorKind};
use berth_registry::client::{Client, ClientOptions, Credentials, Mount};
use berth_registry::server::{serve, Config};
use bytes::Bytes;

/// A gzip member with stored (uncompressed) deflate blocks: valid gzip without a
/// compression crate.
fn gz(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65535).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i == chunks.len() - 1));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

async fn start(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for (u, p) in [("alice", "secret"), ("reader", "pw")] {
        let h = bcrypt::hash(p, 4).unwrap();
        text.push_str(&format!("{u}:{h}\n"));
    }
    let htpasswd = dir.join("htpasswd");
    std::fs::write(&htpasswd, text).unwrap();
    let mut cfg = Config::new(dir.join("root"));
    cfg.htpasswd = Some(htpasswd);
    cfg.read_only_users = vec!["reader".into()];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = serve(cfg, listener).await;
    });
    addr
}

fn client(addr: &str, user: &str, pass: &str) -> Client {
    Client::new(
        addr,
        Some(Credentials {
            username: user.into(),
            password: pass.into(),
            identity_token: None,
        }),
        &ClientOptions::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn login_push_pull_through_berth_registry_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;

    client(&addr, "alice", "secret").login().await.unwrap();
    let e = client(&addr, "alice", "nope").login().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");

    let c = client(&addr, "alice", "secret");
    let layer = Bytes::from(gz(b"hello layer"));
    let ld = Digest::of(&layer);
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let cd = Digest::of(&config);
    assert_eq!(c.blob_exists("team/app", &ld).await.unwrap(), None);
    c.upload_bytes("team/app", &ld, layer.clone())
        .await
        .unwrap();
    c.upload_bytes("team/app", &cd, config.clone())
        .await
        .unwrap();
    assert_eq!(
        c.mount("team/other", &ld, "team/app").await.unwrap(),
        Mount::Mounted
    );
    let mut m = Manifest::new(
        Descriptor::new(DOCKER_CONFIG, cd.clone(), config.len() as u64),
        vec![Descriptor::new(
            DOCKER_LAYER_GZIP,
            ld.clone(),
            layer.len() as u64,
        )],
    );
    m.media_type = DOCKER_MANIFEST.into();
    let mb = Bytes::from(m.to_bytes());
    let md = c
        .put_manifest("team/app", "v1", DOCKER_MANIFEST, mb.clone())
        .await
        .unwrap();
    assert_eq!(md, Digest::of(&mb));
    assert_eq!(c.tags("team/app").await.unwrap(), vec!["v1".to_string()]);

    // A reader pulls, and may not push.
    let r = client(&addr, "reader", "pw");
    let got = r.resolve("team/app", "v1", "linux", "amd64").await.unwrap();
    assert_eq!(got.manifest.digest, md);
    assert_eq!(&got.manifest.bytes[..], &mb[..]);
    let path = dir.path().join("layer");
    r.download("team/app", &ld, layer.len() as u64, &path, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), layer.to_vec());
    let e = r
        .upload_bytes("team/app", &ld, layer.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unauthorized | ErrorKind::Forbidden),
        "{e}"
    );

    let e = r
        .resolve("team/app", "missing", "linux", "amd64")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}
