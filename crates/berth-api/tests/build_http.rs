//! `POST /build` over a real socket: the legacy query parameters as dockerd 20.10 reads
//! them, and the JSON stream as trace 13_build_legacy shows it on the wire.

mod support;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;
use std::time::Duration;
use support::start;

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

const TAR: &[(&str, &str)] = &[
    ("Content-Type", "application/x-tar"),
    ("X-Registry-Config", "e30="),
];

#[tokio::test]
async fn query_parameters_reach_the_backend() {
    let s = start().await;
    let uri = format!(
        "/v1.41/build?t=app&t={}&t=&dockerfile=sub%2FDockerfile.dev&buildargs={}&labels={}\
         &cachefrom={}&nocache=1&forcerm=True&pull=true&q=1&squash=0&target=final\
         &platform=linux%2Famd64&extrahosts=db%3A10.0.0.2&extrahosts=x%3A1.2.3.4\
         &networkmode=host&shmsize=1048576&memory=abc&cpushares=512&version=1",
        enc("localhost:5000/a/b:v1"),
        enc(r#"{"A":"1","B":null,"C":"<&>"}"#),
        enc(r#"{"org.example":"yes"}"#),
        enc(r#"["busybox:latest"]"#),
    );
    let (h, body) = s.request("POST", &uri, TAR, &[7u8; 3000]).await;
    assert_eq!(h.status, 200, "{}", String::from_utf8_lossy(&body));
    let builds = s.fake.builds.lock().unwrap().clone();
    assert_eq!(builds.len(), 1);
    let (len, o) = &builds[0];
    assert_eq!(*len, 3000);
    assert_eq!(o.tags, vec!["app", "localhost:5000/a/b:v1"]);
    assert_eq!(o.dockerfile, "sub/Dockerfile.dev");
    assert_eq!(o.build_args.get("A"), Some(&Some("1".to_string())));
    assert_eq!(o.build_args.get("B"), Some(&None));
    assert_eq!(o.build_args.get("C"), Some(&Some("<&>".to_string())));
    assert_eq!(o.labels.get("org.example").map(String::as_str), Some("yes"));
    assert_eq!(o.cache_from, vec!["busybox:latest"]);
    assert!(o.no_cache && o.force_rm && o.pull && o.quiet && !o.squash);
    assert!(o.rm, "rm defaults to true");
    assert_eq!(o.target.as_deref(), Some("final"));
    assert_eq!(o.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(o.extra_hosts, vec!["db:10.0.0.2", "x:1.2.3.4"]);
    assert_eq!(o.network_mode.as_deref(), Some("host"));
    assert_eq!(o.shm_size, Some(1 << 20));
    assert_eq!(
        o.memory, None,
        "a malformed memory is 0, as dockerd's Int64ValueOrZero"
    );
    assert_eq!(o.cpu_shares, Some(512));
    assert_eq!(o.remote, None);
    s.shutdown().await;
}

#[tokio::test]
async fn defaults_and_rm() {
    let s = start().await;
    for (q, rm) in [
        ("", true),
        ("?rm=", true),
        ("?rm=0", false),
        ("?rm=false", false),
    ] {
        let (h, _) = s.request("POST", &format!("/build{q}"), TAR, b"ctx").await;
        assert_eq!(h.status, 200, "{q}");
        let o = s.fake.builds.lock().unwrap().pop().unwrap().1;
        assert_eq!(o.rm, rm, "{q}");
        assert_eq!(o.dockerfile, "Dockerfile");
        assert!(o.tags.is_empty() && o.build_args.is_empty() && !o.no_cache && !o.quiet);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let s = start().await;
    for (q, want) in [
        (format!("buildargs={}", enc("{\"A\":1}")), "buildargs"),
        (format!("buildargs={}", enc("{")), "buildargs"),
        (format!("labels={}", enc("[1]")), "labels"),
        (format!("cachefrom={}", enc("{}")), "cachefrom"),
        ("shmsize=big".to_string(), "shmsize"),
        ("t=Upper%3Acase".to_string(), "invalid reference format"),
        ("t=a%3A%3Ab".to_string(), "invalid reference format"),
        ("version=2".to_string(), "buildkit"),
    ] {
        let (h, body) = s
            .request("POST", &format!("/v1.41/build?{q}"), TAR, b"ctx")
            .await;
        assert_eq!(h.status, 400, "{q}");
        assert_eq!(h.header("Content-Type"), Some("application/json"));
        let msg = json(&body)["message"].as_str().unwrap().to_string();
        assert!(msg.contains(want), "{q}: {msg}");
    }
    assert!(s.fake.builds.lock().unwrap().is_empty());
    s.shutdown().await;
}

/// Each message is its own chunk, `\r\n`-terminated, escaped as Go escapes (`\u003e`).
#[tokio::test]
async fn stream_framing_as_dockerd() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request("POST", "/v1.41/build?t=x", TAR, b"0123456789")
        .await;
    let h = c.read_head().await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    assert_eq!(h.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(h.header("Api-Version"), Some("1.41"));
    let mut chunks = Vec::new();
    while let Some(ch) = c.read_chunk().await {
        chunks.push(String::from_utf8(ch).unwrap());
    }
    let id = format!("sha256:{:064}", 10);
    assert_eq!(
        chunks,
        vec![
            "{\"stream\":\"context 10 bytes\\n\"}\r\n".to_string(),
            "{\"stream\":\"tags [\\\"x\\\"]\\n\"}\r\n".to_string(),
            "{\"stream\":\"buildargs {}\\n\"}\r\n".to_string(),
            "{\"stream\":\" ---\\u003e 0123456789ab\\n\"}\r\n".to_string(),
            format!("{{\"aux\":{{\"ID\":\"{id}\"}}}}\r\n"),
        ]
    );
    s.shutdown().await;
}

#[tokio::test]
async fn failure_inside_the_stream_is_an_error_message() {
    let s = start().await;
    let (h, body) = s
        .request("POST", "/build?dockerfile=fail", TAR, b"ctx")
        .await;
    assert_eq!(h.status, 200);
    let body = String::from_utf8(body).unwrap();
    let last = body.trim_end_matches("\r\n").rsplit("\r\n").next().unwrap();
    assert_eq!(
        last,
        "{\"errorDetail\":{\"code\":1,\"message\":\"The command '/bin/sh -c false' returned a non-zero \
         code: 1\"},\"error\":\"The command '/bin/sh -c false' returned a non-zero code: 1\"}"
    );
    s.shutdown().await;
}

/// An error before the stream is a status, and the unread context is still drained so a
/// client uploading a big context reads the answer instead of EPIPE.
#[tokio::test]
async fn early_errors_drain_the_context() {
    let s = start().await;
    let big = vec![0u8; 4 << 20];
    for q in ["dockerfile=missing", "t=BAD"] {
        let mut c = s.connect().await;
        let uri = format!("/build?{q}");
        let send = c.send_request("POST", &uri, TAR, &big);
        tokio::time::timeout(Duration::from_secs(10), send)
            .await
            .expect("the body was not drained");
        let h = c.read_head().await;
        assert_eq!(h.status, 400, "{q}");
        let body = c.read_body(&h).await;
        assert!(json(&body)["message"].is_string());
    }
    s.shutdown().await;
}

/// A message reaches the client while the build is still running.
#[tokio::test]
async fn messages_stream_as_they_come() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request("POST", "/build?dockerfile=slow", TAR, b"ctx")
        .await;
    let h = c.read_head().await;
    assert_eq!(h.status, 200);
    assert_eq!(
        c.read_chunk().await.unwrap(),
        b"{\"stream\":\"context 3 bytes\\n\"}\r\n"
    );
    s.fake.build_release.notify_one();
    assert_eq!(
        c.read_chunk().await.unwrap(),
        b"{\"stream\":\"released\\n\"}\r\n"
    );
    assert_eq!(c.read_chunk().await, None);
    s.shutdown().await;
}

#[tokio::test]
async fn prune_default() {
    let s = start().await;
    let (h, body) = s
        .request("POST", "/v1.41/build/prune?all=1", &[], b"")
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(body, b"{\"CachesDeleted\":null,\"SpaceReclaimed\":0}\n");
    s.shutdown().await;
}
