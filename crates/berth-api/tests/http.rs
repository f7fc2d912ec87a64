//! The HTTP layer end to end over a real unix socket, checked against what the dockerd
//! traces in `shared/reference/api-traces` show on the wire.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::start;
use tokio::io::AsyncWriteExt;

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

fn assert_common_headers(h: &support::Head) {
    assert_eq!(h.header("Api-Version"), Some("1.41"), "{}", h.raw);
    assert_eq!(h.header("Docker-Experimental"), Some("false"));
    assert_eq!(h.header("Ostype"), Some("linux"));
    assert_eq!(h.header("Server"), Some(berth_api::SERVER_HEADER));
}

#[tokio::test]
async fn ping_headers_head_and_get() {
    let s = start().await;
    let (h, _) = s.request("HEAD", "/_ping", &[], b"").await;
    assert_eq!(h.status, 200);
    assert!(h.raw.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_common_headers(&h);
    // Title case on the wire, as Go writes it.
    assert!(h.raw.contains("\r\nApi-Version: 1.41\r\n"), "{}", h.raw);
    assert!(h.raw.contains("\r\nOstype: linux\r\n"), "{}", h.raw);
    assert_eq!(h.header("Content-Length"), Some("0"));
    assert_eq!(h.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        h.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(h.header("Pragma"), Some("no-cache"));
    assert_eq!(h.header("Builder-Version"), Some("1"));
    let (h, body) = s.request("GET", "/v1.41/_ping", &[], b"").await;
    assert_eq!(h.status, 200);
    assert_eq!(body, b"OK");
    s.shutdown().await;
}

#[tokio::test]
async fn version_prefixes() {
    let s = start().await;
    for uri in [
        "/version",
        "/v1.41/version",
        "/v1.24/version",
        "/v1.30/version",
    ] {
        let (h, body) = s.request("GET", uri, &[], b"").await;
        assert_eq!(h.status, 200, "{uri}");
        assert_eq!(h.header("Content-Type"), Some("application/json"));
        assert_common_headers(&h);
        assert!(body.ends_with(b"}\n"));
        assert_eq!(json(&body)["ApiVersion"], "1.41");
    }
    let (h, body) = s.request("GET", "/v1.50/version", &[], b"").await;
    assert_eq!(h.status, 400);
    assert_common_headers(&h);
    assert_eq!(
        json(&body)["message"],
        "client version 1.50 is too new. Maximum supported API version is 1.41"
    );
    let (h, body) = s.request("GET", "/v1.12/containers/json", &[], b"").await;
    assert_eq!(h.status, 400);
    assert!(json(&body)["message"]
        .as_str()
        .unwrap()
        .starts_with("client version 1.12 is too old. Minimum supported API version is 1.24"));
    let (h, body) = s.request("GET", "/v1.41/info", &[], b"").await;
    assert_eq!(h.status, 200);
    assert_eq!(json(&body)["ID"], "fake");
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_error_mapping() {
    let s = start().await;
    let (h, body) = s.request("GET", "/v1.41/nope", &[], b"").await;
    assert_eq!(h.status, 404);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    assert_eq!(body, b"{\"message\":\"page not found\"}\n");
    let (h, body) = s.request("GET", "/v1.41/containers/x/json", &[], b"").await;
    assert_eq!(h.status, 404);
    assert_common_headers(&h);
    assert_eq!(body, b"{\"message\":\"No such container: x\"}\n");
    let (h, body) = s
        .request(
            "POST",
            "/v1.41/containers/stopped/resize?h=40&w=100",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 409);
    assert_eq!(json(&body)["message"], "Container stopped is not running");
    let (h, body) = s
        .request(
            "POST",
            "/v1.41/images/create?fromImage=busybox&tag=latest",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 501);
    assert!(json(&body)["message"].as_str().unwrap().contains("busybox"));
    s.shutdown().await;
}

#[tokio::test]
async fn create_parses_body_strictly() {
    let s = start().await;
    let ct = [("Content-Type", "application/json")];
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/api-traces/create-body-docker-run-busybox-true.json"
    ))
    .unwrap_or_else(|_| {
        br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"AutoRemove":true}}"#.to_vec()
    });
    let (h, resp) = s
        .request("POST", "/v1.41/containers/create?name=web", &ct, &body)
        .await;
    assert_eq!(h.status, 201, "{}", String::from_utf8_lossy(&resp));
    assert!(h.raw.starts_with("HTTP/1.1 201 Created\r\n"));
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    assert_eq!(
        resp,
        format!("{{\"Id\":\"{}\",\"Warnings\":[]}}\n", "c1".repeat(32)).as_bytes()
    );
    {
        let created = s.fake.created.lock().unwrap();
        assert_eq!(created[0].0.as_deref(), Some("web"));
        assert_eq!(created[0].1.config.image, "busybox");
    }

    let (h, resp) = s
        .request("POST", "/v1.41/containers/create", &ct, b"{\"Image\":")
        .await;
    assert_eq!(h.status, 400);
    assert!(
        json(&resp)["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "{resp:?}"
    );
    let (h, resp) = s
        .request(
            "POST",
            "/v1.41/containers/create",
            &ct,
            br#"{"Image":"x","Tty":"yes"}"#,
        )
        .await;
    assert_eq!(h.status, 400, "{}", String::from_utf8_lossy(&resp));
    let (h, resp) = s
        .request(
            "POST",
            "/v1.41/containers/create",
            &[("Content-Type", "text/plain")],
            br#"{"Image":"x"}"#,
        )
        .await;
    assert_eq!(h.status, 400);
    assert_eq!(
        json(&resp)["message"],
        "Content-Type specified (text/plain) must be 'application/json'"
    );
    // The backend's own validation comes back with its kind.
    let (h, _) = s
        .request(
            "POST",
            "/v1.41/containers/create",
            &ct,
            br#"{"Cmd":["x"],"Future":1}"#,
        )
        .await;
    assert_eq!(h.status, 400);
    s.shutdown().await;
}

#[tokio::test]
async fn list_and_inspect() {
    let s = start().await;
    let filters = "%7B%22name%22%3A%7B%22research-trace%22%3Atrue%7D%7D";
    let (h, body) = s
        .request(
            "GET",
            &format!("/v1.41/containers/json?all=1&limit=-1&filters={filters}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 200);
    let v = json(&body);
    assert_eq!(v[0]["Names"][0], "/c1");
    {
        let opts = s.fake.list_opts.lock().unwrap();
        assert!(opts[0].all);
        assert_eq!(opts[0].limit, None);
        assert_eq!(opts[0].filters["name"], vec!["research-trace"]);
    }
    let (h, _) = s
        .request("GET", "/v1.41/containers/json?filters=%7Bbad", &[], b"")
        .await;
    assert_eq!(h.status, 400);
    let (h, body) = s
        .request("GET", "/v1.41/containers/c1/json", &[], b"")
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(json(&body)["Name"], "/c1");

    let (h, body) = s
        .request("GET", "/v1.41/images/json?all=True", &[], b"")
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(json(&body)[0]["RepoTags"][0], "busybox:latest");
    assert!(s
        .fake
        .calls()
        .contains(&"images all=true filters={}".to_string()));
    let (h, body) = s
        .request("GET", "/v1.41/images/localhost:5000/a/b:tag/json", &[], b"")
        .await;
    assert_eq!(h.status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["RepoTags"][0], "localhost:5000/a/b:tag");
    let (h, body) = s.request("GET", "/images/busybox/json", &[], b"").await;
    assert_eq!(h.status, 200);
    assert_eq!(json(&body)["Id"], "sha256:bb");
    let (h, body) = s
        .request("GET", "/v1.41/images/nope:1/json", &[], b"")
        .await;
    assert_eq!(h.status, 404);
    assert_eq!(json(&body)["message"], "No such image: nope:1");
    s.shutdown().await;
}

#[tokio::test]
async fn lifecycle_verbs() {
    let s = start().await;
    let (h, _) = s
        .request("POST", "/v1.41/containers/c1/start", &[], b"")
        .await;
    assert_eq!(h.status, 204);
    assert!(h.raw.starts_with("HTTP/1.1 204 No Content\r\n"));
    assert_common_headers(&h);
    let (h, body) = s
        .request("POST", "/v1.41/containers/running/start", &[], b"")
        .await;
    assert_eq!((h.status, body.len()), (304, 0));
    assert_eq!(h.header("Content-Type"), None);
    let (h, _) = s
        .request("POST", "/v1.41/containers/c1/stop?t=1", &[], b"")
        .await;
    assert_eq!(h.status, 204);
    let (h, _) = s
        .request("POST", "/v1.41/containers/stopped/stop", &[], b"")
        .await;
    assert_eq!(h.status, 304);
    let (h, _) = s
        .request("POST", "/v1.41/containers/c1/stop?t=abc", &[], b"")
        .await;
    assert_eq!(h.status, 400);
    let (h, _) = s
        .request(
            "POST",
            "/v1.41/containers/c1/restart?t=1&signal=SIGINT",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 204);
    let (h, _) = s
        .request("POST", "/v1.41/containers/c1/kill?signal=SIGTERM", &[], b"")
        .await;
    assert_eq!(h.status, 204);
    let (h, _) = s
        .request("POST", "/v1.41/containers/c1/kill", &[], b"")
        .await;
    assert_eq!(h.status, 204);
    let (h, body) = s
        .request("POST", "/v1.41/containers/c1/resize?h=40&w=100", &[], b"")
        .await;
    assert_eq!((h.status, body.len()), (200, 0));
    let (h, _) = s
        .request("POST", "/v1.41/containers/c1/resize?h=40", &[], b"")
        .await;
    assert_eq!(h.status, 400);
    let (h, _) = s
        .request("DELETE", "/v1.41/containers/c1?force=1&v=0", &[], b"")
        .await;
    assert_eq!(h.status, 204);
    let (h, _) = s.request("DELETE", "/v1.41/containers/zzz", &[], b"").await;
    assert_eq!(h.status, 404);
    assert_eq!(
        s.fake.calls(),
        vec![
            "start c1",
            "start running",
            "stop c1 Some(1) None",
            "stop stopped None None",
            "restart c1 Some(1) Some(\"SIGINT\")",
            "kill c1 Some(\"SIGTERM\")",
            "kill c1 None",
            "resize c1 40x100",
            "remove c1 force=true v=false",
        ]
    );
    s.shutdown().await;
}

#[tokio::test]
async fn wait_sends_headers_before_the_exit() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request(
        "POST",
        "/v1.41/containers/c1/wait?condition=removed",
        &[],
        b"",
    )
    .await;
    let h = c.read_head().await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    assert_eq!(h.header("Transfer-Encoding"), Some("chunked"));
    assert_common_headers(&h);
    // Nothing else arrives until the container exits.
    let early = tokio::time::timeout(Duration::from_millis(200), c.read_chunk()).await;
    assert!(early.is_err(), "body sent before the exit");
    s.fake.exit.send_replace(true);
    assert_eq!(
        c.read_chunk().await.unwrap(),
        b"{\"Error\":null,\"StatusCode\":3}\n"
    );
    assert_eq!(c.read_chunk().await, None);
    assert!(s.fake.calls().contains(&"wait c1 removed".to_string()));
    // An unknown container fails before any header.
    let (h, _) = s
        .request("POST", "/v1.41/containers/nope/wait", &[], b"")
        .await;
    assert_eq!(h.status, 404);
    s.shutdown().await;
}

const UPGRADE: [(&str, &str); 3] = [
    ("Connection", "Upgrade"),
    ("Content-Type", "text/plain"),
    ("Upgrade", "tcp"),
];

#[tokio::test]
async fn attach_upgrade_multiplexed_with_stdin_echo() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request(
        "POST",
        "/v1.41/containers/echo/attach?stderr=1&stdin=1&stdout=1&stream=1",
        &UPGRADE,
        b"",
    )
    .await;
    let h = c.read_head().await;
    assert_eq!(h.status, 101, "{}", h.raw);
    assert!(h.raw.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{}", h.raw);
    assert_eq!(
        h.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(h.header("Connection"), Some("Upgrade"));
    assert_eq!(h.header("Upgrade"), Some("tcp"));
    assert_eq!(h.header("Api-Version"), None);
    c.send(b"hello-stdin\n").await;
    assert_eq!(
        c.read_exact(20).await,
        b"\x01\x00\x00\x00\x00\x00\x00\x0chello-stdin\n"
    );
    // Half-close: stdin ends, output keeps flowing until the container is done.
    c.stream.shutdown().await.unwrap();
    assert_eq!(
        c.read_to_end().await,
        b"\x02\x00\x00\x00\x00\x00\x00\x04bye\n"
    );
    assert!(s
        .fake
        .calls()
        .contains(&"attach echo stdin=true stdout=true stream=true".to_string()));
    s.shutdown().await;
}

#[tokio::test]
async fn attach_tty_is_raw() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request(
        "POST",
        "/v1.41/containers/tty/attach?stdin=1&stdout=1&stream=1",
        &UPGRADE,
        b"",
    )
    .await;
    assert_eq!(c.read_head().await.status, 101);
    c.send(b"\x00ls\r").await;
    assert_eq!(c.read_exact(4).await, b"\x00ls\r");
    c.stream.shutdown().await.unwrap();
    assert_eq!(c.read_to_end().await, b"bye\n");
    s.shutdown().await;
}

#[tokio::test]
async fn attach_errors_and_plain_200() {
    let s = start().await;
    let (h, body) = s
        .request(
            "POST",
            "/v1.41/containers/x/attach?stream=1&stdout=1",
            &UPGRADE,
            b"",
        )
        .await;
    assert_eq!(h.status, 404);
    assert_eq!(json(&body)["message"], "No such container: x");
    // Without Upgrade: the same stream on a 200 body, and stdin is never offered.
    let (h, body) = s
        .request(
            "POST",
            "/v1.41/containers/c1/attach?stream=1&stdout=1&stdin=1",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(
        h.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(body, b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n");
    assert!(s
        .fake
        .calls()
        .contains(&"attach c1 stdin=false stdout=true stream=true".to_string()));
    s.shutdown().await;
}

#[tokio::test]
async fn logs_framing() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request(
        "GET",
        "/v1.41/containers/c1/logs?stderr=1&stdout=1&tail=5&timestamps=1&since=10.5",
        &[],
        b"",
    )
    .await;
    let h = c.read_head().await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Type"), None, "dockerd 20.10 sends none");
    assert_eq!(h.header("Transfer-Encoding"), Some("chunked"));
    assert_common_headers(&h);
    // One HTTP chunk per frame, as trace 38_logs_follow shows.
    assert_eq!(
        c.read_chunk().await.unwrap(),
        b"\x01\x00\x00\x00\x00\x00\x00\x06line1\n"
    );
    assert_eq!(
        c.read_chunk().await.unwrap(),
        b"\x02\x00\x00\x00\x00\x00\x00\x05oops\n"
    );
    assert_eq!(c.read_chunk().await, None);
    {
        let opts = s.fake.logs_opts.lock().unwrap();
        assert_eq!(opts[0].tail, Some(5));
        assert!(opts[0].timestamps && opts[0].stdout && opts[0].stderr && !opts[0].follow);
        assert_eq!(opts[0].since, 10.5);
    }
    let (h, body) = s
        .request(
            "GET",
            "/v1.41/containers/tty/logs?stdout=1&tail=all",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(body, b"line1\noops\n");
    let (h, body) = s
        .request("GET", "/v1.41/containers/c1/logs", &[], b"")
        .await;
    assert_eq!(h.status, 400);
    assert_eq!(
        json(&body)["message"],
        "Bad parameters: you must choose at least one stream"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn import_streams_the_body() {
    let s = start().await;
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    *s.fake.import_started.lock().unwrap() = Some(started_tx);
    let mut c = s.connect().await;
    let total = 3 * 65536;
    c.send_request(
        "POST",
        "/v1.41/images/create?fromSrc=-&repo=myimg&tag=v1&message=hi+there&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1",
        &[("Content-Type", "application/x-tar"), ("Content-Length", &total.to_string())],
        &vec![7u8; 65536],
    )
    .await;
    // The backend is reading while most of the body has not even been sent.
    tokio::time::timeout(Duration::from_secs(5), started_rx)
        .await
        .expect("import did not start")
        .unwrap();
    c.send(&vec![7u8; total - 65536]).await;
    let h = c.read_head().await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    let body = c.read_body(&h).await;
    assert_eq!(
        body,
        format!("{{\"status\":\"sha256:{total:064}\"}}\r\n").as_bytes()
    );
    let imported = s.fake.imported.lock().unwrap().clone();
    assert_eq!(imported[0].0, total);
    let opts = &imported[0].1;
    assert_eq!(opts.repo.as_deref(), Some("myimg"));
    assert_eq!(opts.tag.as_deref(), Some("v1"));
    assert_eq!(opts.message.as_deref(), Some("hi there"));
    assert_eq!(opts.changes, vec!["CMD [\"sh\"]", "ENV A=1"]);
    s.shutdown().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request("HEAD", "/_ping", &[], b"").await;
    assert_eq!(c.read_head().await.status, 200);
    c.send_request("GET", "/v1.41/containers/c1/json", &[], b"")
        .await;
    let h = c.read_head().await;
    let body = c.read_body(&h).await;
    assert_eq!(json(&body)["Id"], "c1");
    // A half-closed client still gets its answer.
    c.send_request("GET", "/v1.41/version", &[], b"").await;
    c.stream.shutdown().await.unwrap();
    let h = c.read_head().await;
    assert_eq!(h.status, 200);
    s.shutdown().await;
}
