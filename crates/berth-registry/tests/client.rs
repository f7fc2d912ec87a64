//! The distribution client against a small in-process fake registry: token flow, manifest
//! list resolution, Range resume after a dropped connection, digest mismatches refused,
//! uploads and mounts, and a quick error for an unreachable registry.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_model::manifest::{
    Descriptor, Index, Manifest, Platform, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
};
use berth_model::{Digest, ErrorKind};
use berth_registry::client::{Client, ClientError, ClientOptions, Credentials, Mount};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Default)]
struct Fake {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    /// `repo@reference` → (bytes, media type).
    manifests: Mutex<HashMap<String, (Vec<u8>, String)>>,
    /// user, password: bearer tokens required when set.
    auth: Option<(String, String)>,
    scopes: Mutex<Vec<String>>,
    drop_first: Mutex<HashSet<String>>,
    corrupt: Mutex<HashSet<String>>,
    ranges: Mutex<Vec<String>>,
    addr: OnceLock<String>,
}

impl Fake {
    fn put_blob(&self, bytes: &[u8]) -> Digest {
        let d = Digest::of(bytes);
        self.blobs
            .lock()
            .unwrap()
            .insert(d.to_string(), bytes.to_vec());
        d
    }
    fn put_manifest(&self, repo: &str, tag: &str, bytes: &[u8], media: &str) -> Digest {
        let d = Digest::of(bytes);
        let mut m = self.manifests.lock().unwrap();
        m.insert(format!("{repo}@{tag}"), (bytes.to_vec(), media.into()));
        m.insert(format!("{repo}@{d}"), (bytes.to_vec(), media.into()));
        d
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(State(f): State<Arc<Fake>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let addr = f.addr.get().cloned().unwrap_or_default();

    if path == "/token" {
        let (user, pass) = f.auth.clone().unwrap_or_default();
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        if header(&parts.headers, "authorization") != Some(want.as_str()) {
            return (StatusCode::UNAUTHORIZED, "{\"details\":\"bad\"}").into_response();
        }
        let scope = q.get("scope").cloned().unwrap_or_default();
        f.scopes.lock().unwrap().push(scope);
        return axum::Json(serde_json::json!({"token": "good"})).into_response();
    }
    if f.auth.is_some() && header(&parts.headers, "authorization") != Some("Bearer good") {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
            .into_response();
        r.headers_mut().insert(
            "www-authenticate",
            format!(r#"Bearer realm="http://{addr}/token",service="fake""#)
                .parse()
                .unwrap(),
        );
        return r;
    }
    if path == "/v2/" {
        return axum::Json(serde_json::json!({})).into_response();
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some((repo, reference)) = rest.split_once("/manifests/") {
        let key = format!("{repo}@{reference}");
        return match parts.method {
            Method::PUT => {
                let media = header(&parts.headers, "content-type")
                    .unwrap_or("")
                    .to_string();
                let d = f.put_manifest(repo, reference, &body, &media);
                let mut r = StatusCode::CREATED.into_response();
                r.headers_mut()
                    .insert("docker-content-digest", d.to_string().parse().unwrap());
                r
            }
            _ => match f.manifests.lock().unwrap().get(&key).cloned() {
                Some((bytes, media)) => {
                    let d = Digest::of(&bytes);
                    let mut r = Response::new(Body::from(bytes));
                    r.headers_mut()
                        .insert("content-type", media.parse().unwrap());
                    r.headers_mut()
                        .insert("docker-content-digest", d.to_string().parse().unwrap());
                    r
                }
                None => (
                    StatusCode::NOT_FOUND,
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                )
                    .into_response(),
            },
        };
    }
    if let Some((repo, upload)) = rest.split_once("/blobs/uploads") {
        if parts.method == Method::POST {
            if let (Some(m), Some(_from)) = (q.get("mount"), q.get("from")) {
                if f.blobs.lock().unwrap().contains_key(m) {
                    return StatusCode::CREATED.into_response();
                }
            }
            let mut r = StatusCode::ACCEPTED.into_response();
            r.headers_mut().insert(
                "location",
                format!("/v2/{repo}/blobs/uploads/u1?state=x")
                    .parse()
                    .unwrap(),
            );
            return r;
        }
        if parts.method == Method::PUT && upload.starts_with("/u1") {
            let want = q.get("digest").cloned().unwrap_or_default();
            if Digest::of(&body).to_string() != want {
                return (
                    StatusCode::BAD_REQUEST,
                    r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#,
                )
                    .into_response();
            }
            f.put_blob(&body);
            return StatusCode::CREATED.into_response();
        }
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if let Some((_repo, digest)) = rest.split_once("/blobs/") {
        let Some(mut bytes) = f.blobs.lock().unwrap().get(digest).cloned() else {
            return (
                StatusCode::NOT_FOUND,
                r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#,
            )
                .into_response();
        };
        if parts.method == Method::HEAD {
            let mut r = Response::new(Body::empty());
            r.headers_mut()
                .insert("content-length", bytes.len().to_string().parse().unwrap());
            return r;
        }
        if f.corrupt.lock().unwrap().contains(digest) {
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
        }
        let total = bytes.len();
        let start = match header(&parts.headers, "range") {
            Some(r) => {
                f.ranges.lock().unwrap().push(r.to_string());
                r.trim_start_matches("bytes=")
                    .trim_end_matches('-')
                    .parse::<usize>()
                    .unwrap_or(0)
            }
            None => 0,
        };
        let part = bytes[start..].to_vec();
        let len = part.len();
        let drop_now = start == 0 && f.drop_first.lock().unwrap().remove(digest);
        let body = if drop_now {
            let half = Bytes::from(part[..len / 2].to_vec());
            // Half the bytes, flushed, then the connection breaks.
            Body::from_stream(futures_util::stream::unfold(0u8, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok::<Bytes, std::io::Error>(half), 1)),
                        1 => {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            Some((Err(std::io::Error::other("dropped")), 2))
                        }
                        _ => None,
                    }
                }
            }))
        } else {
            Body::from(part)
        };
        let mut r = Response::new(body);
        r.headers_mut()
            .insert("content-length", len.to_string().parse().unwrap());
        if start > 0 {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            r.headers_mut().insert(
                "content-range",
                format!("bytes {start}-{}/{total}", total - 1)
                    .parse()
                    .unwrap(),
            );
        }
        return r;
    }
    StatusCode::NOT_FOUND.into_response()
}

async fn serve(fake: Fake) -> (Arc<Fake>, String) {
    let fake = Arc::new(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    fake.addr.set(addr.clone()).unwrap();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(fake.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (fake, addr)
}

fn client(addr: &str, creds: Option<(&str, &str)>) -> Client {
    Client::new(
        addr,
        creds.map(|(u, p)| Credentials {
            username: u.into(),
            password: p.into(),
            identity_token: None,
        }),
        &ClientOptions::default(),
    )
    .unwrap()
}

fn image(fake: &Fake, layer: &[u8]) -> (Vec<u8>, Digest) {
    let l = fake.put_blob(layer);
    let c = fake.put_blob(b"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
    let mut m = Manifest::new(
        Descriptor::new(DOCKER_CONFIG, c, 40),
        vec![Descriptor::new(
            DOCKER_LAYER_GZIP,
            l.clone(),
            layer.len() as u64,
        )],
    );
    m.media_type = DOCKER_MANIFEST.into();
    (m.to_bytes(), l)
}

#[tokio::test]
async fn bearer_token_flow_with_basic_credentials() {
    let fake = Fake {
        auth: Some(("alice".into(), "secret".into())),
        ..Default::default()
    };
    let (m, _) = image(&fake, b"layer");
    let d = fake.put_manifest("team/app", "v1", &m, DOCKER_MANIFEST);
    let (fake, addr) = serve(fake).await;

    let c = client(&addr, Some(("alice", "secret")));
    let got = c
        .manifest("team/app", "v1", &[DOCKER_MANIFEST])
        .await
        .unwrap();
    assert_eq!(got.digest, d);
    assert_eq!(got.media_type, DOCKER_MANIFEST);
    assert_eq!(&got.bytes[..], &m[..]);
    // The token is cached per scope: a second fetch asks no new token.
    c.manifest("team/app", "v1", &[DOCKER_MANIFEST])
        .await
        .unwrap();
    assert_eq!(
        fake.scopes.lock().unwrap().clone(),
        vec!["repository:team/app:pull".to_string()]
    );
    assert_eq!(c.login().await.unwrap(), None);

    let bad = client(&addr, Some(("alice", "wrong")));
    let e = bad
        .manifest("team/app", "v1", &[DOCKER_MANIFEST])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert_eq!(
        e.to_string(),
        "unauthorized: incorrect username or password"
    );
    assert!(bad.login().await.is_err());

    let anon = client(&addr, None);
    let e = anon
        .manifest("team/app", "v1", &[DOCKER_MANIFEST])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
}

#[tokio::test]
async fn manifest_list_resolves_to_the_platform_and_unknown_tags_are_not_found() {
    let fake = Fake::default();
    let (m_amd, _) = image(&fake, b"amd64 layer");
    let (m_arm, _) = image(&fake, b"arm64 layer");
    let d_amd = fake.put_manifest("lib/multi", "amd", &m_amd, DOCKER_MANIFEST);
    let d_arm = fake.put_manifest("lib/multi", "arm", &m_arm, DOCKER_MANIFEST);
    let entry = |d: Digest, arch: &str, len: usize| {
        let mut e = Descriptor::new(DOCKER_MANIFEST, d, len as u64);
        e.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
        });
        e
    };
    let mut idx = Index::new(vec![
        entry(d_arm.clone(), "arm64", m_arm.len()),
        entry(d_amd.clone(), "amd64", m_amd.len()),
    ]);
    idx.media_type = DOCKER_MANIFEST_LIST.into();
    let idx_bytes = idx.to_bytes();
    let d_idx = fake.put_manifest("lib/multi", "latest", &idx_bytes, DOCKER_MANIFEST_LIST);
    let (_fake, addr) = serve(fake).await;
    let c = client(&addr, None);

    let r = c
        .resolve("lib/multi", "latest", "linux", "amd64")
        .await
        .unwrap();
    assert_eq!(r.top_digest, d_idx);
    assert_eq!(r.top_media_type, DOCKER_MANIFEST_LIST);
    assert_eq!(r.manifest.digest, d_amd);
    let r = c
        .resolve("lib/multi", "latest", "linux", "arm64")
        .await
        .unwrap();
    assert_eq!(r.manifest.digest, d_arm);
    let e = c
        .resolve("lib/multi", "latest", "linux", "s390x")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
    // By digest, and a plain manifest passes through.
    let r = c
        .resolve("lib/multi", &d_arm.to_string(), "linux", "amd64")
        .await
        .unwrap();
    assert_eq!(r.top_digest, d_arm);

    let e = c
        .resolve("lib/multi", "nope", "linux", "amd64")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
}

#[tokio::test]
async fn download_resumes_with_range_after_a_dropped_connection() {
    let fake = Fake::default();
    let blob: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = fake.put_blob(&blob);
    fake.drop_first.lock().unwrap().insert(d.to_string());
    let (fake, addr) = serve(fake).await;
    let c = client(&addr, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    let mut seen = 0u64;
    c.download("lib/x", &d, blob.len() as u64, &path, &mut |n| seen = n)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), blob);
    assert_eq!(seen, blob.len() as u64);
    let ranges = fake.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    let from: u64 = ranges[0]
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(from > 0 && from < blob.len() as u64, "{ranges:?}");
}

#[tokio::test]
async fn corrupt_blobs_and_manifests_are_refused() {
    let fake = Fake::default();
    let blob = vec![42u8; 10_000];
    let d = fake.put_blob(&blob);
    fake.corrupt.lock().unwrap().insert(d.to_string());
    // A manifest stored under a digest that is not its own.
    let wrong = Digest::of(b"something else");
    fake.manifests.lock().unwrap().insert(
        format!("lib/x@{wrong}"),
        (b"{}".to_vec(), DOCKER_MANIFEST.into()),
    );
    let (_fake, addr) = serve(fake).await;
    let c = client(&addr, None);
    let dir = tempfile::tempdir().unwrap();
    let e = c
        .download(
            "lib/x",
            &d,
            blob.len() as u64,
            &dir.path().join("b"),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::DigestMismatch(_)), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.to_string(),
        format!("filesystem layer verification failed for digest {d}")
    );
    let e = c.blob_bytes("lib/x", &d).await.unwrap_err();
    assert!(matches!(e, ClientError::DigestMismatch(_)), "{e:?}");
    let e = c
        .manifest("lib/x", &wrong.to_string(), &[DOCKER_MANIFEST])
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::DigestMismatch(_)), "{e:?}");
}

#[tokio::test]
async fn uploads_mounts_and_manifest_push() {
    let (fake, addr) = serve(Fake::default()).await;
    let c = client(&addr, None);
    let blob = Bytes::from_static(b"some layer bytes");
    let d = Digest::of(&blob);
    assert_eq!(c.blob_exists("a/one", &d).await.unwrap(), None);
    c.upload_bytes("a/one", &d, blob.clone()).await.unwrap();
    assert_eq!(
        c.blob_exists("a/one", &d).await.unwrap(),
        Some(blob.len() as u64)
    );
    assert_eq!(c.mount("a/two", &d, "a/one").await.unwrap(), Mount::Mounted);
    let other = Digest::of(b"unknown");
    assert!(matches!(
        c.mount("a/two", &other, "a/one").await.unwrap(),
        Mount::Upload(_)
    ));
    // A wrong digest is refused by the registry.
    let e = c
        .upload_bytes("a/one", &other, blob.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let (m, _) = image(&fake, b"x");
    let md = c
        .put_manifest("a/one", "v1", DOCKER_MANIFEST, m.clone().into())
        .await
        .unwrap();
    assert_eq!(md, Digest::of(&m));
    let got = c.manifest("a/one", "v1", &[DOCKER_MANIFEST]).await.unwrap();
    assert_eq!(got.digest, md);
}

#[tokio::test]
async fn unreachable_registry_fails_fast_with_dockers_wording() {
    // Nothing listens on port 1 of loopback.
    let c = client("127.0.0.1:1", None);
    let t = std::time::Instant::now();
    let e = c
        .manifest("lib/x", "latest", &[DOCKER_MANIFEST])
        .await
        .unwrap_err();
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(
        e.to_string(),
        "Get \"https://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"
    );
}
