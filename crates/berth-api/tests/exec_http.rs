//! Exec routes end to end over a real unix socket, checked against traces 08_exec,
//! 09_exec_stdin and 37_exec_tty.

mod support;

use serde_json::Value;
use support::fake::exec_id;
use support::{start, TestServer};
use tokio::io::AsyncWriteExt;

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

const JSON: [(&str, &str); 1] = [("Content-Type", "application/json")];

/// What `docker exec` sends on its second connection.
const UPGRADE: [(&str, &str); 3] = [
    ("Connection", "Upgrade"),
    ("Content-Type", "application/json"),
    ("Upgrade", "tcp"),
];

/// Creates an exec the way the docker CLI does and returns its ID.
async fn create(s: &TestServer, container: &str, body: &str) -> String {
    let (h, resp) = s
        .request(
            "POST",
            &format!("/v1.41/containers/{container}/exec"),
            &JSON,
            body.as_bytes(),
        )
        .await;
    assert_eq!(h.status, 201, "{}{}", h.raw, String::from_utf8_lossy(&resp));
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    let id = json(&resp)["Id"].as_str().unwrap().to_string();
    assert_eq!(resp, format!("{{\"Id\":\"{id}\"}}\n").as_bytes());
    id
}

fn exec_body(cmd: &str, stdin: bool, tty: bool) -> String {
    format!(
        r#"{{"User":"","Privileged":false,"Tty":{tty},"AttachStdin":{stdin},"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":{cmd}}}"#
    )
}

#[tokio::test]
async fn exec_hijacked_multiplexed_with_stdin_and_half_close() {
    let s = start().await;
    let id = create(&s, "c1", &exec_body(r#"["cat"]"#, true, false)).await;
    assert_eq!(id, exec_id(1));
    let mut c = s.connect().await;
    c.send_request(
        "POST",
        &format!("/v1.41/exec/{id}/start"),
        &UPGRADE,
        b"{\"Detach\":false,\"Tty\":false}\n",
    )
    .await;
    let h = c.read_head().await;
    // Byte for byte the head of trace 09 except for the Server value and hyper's Date
    // line (which every Berth response carries; clients ignore it).
    let without_date: String = h
        .raw
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect();
    assert_eq!(
        without_date,
        format!(
            "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\
             Connection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: 1.41\r\n\
             Docker-Experimental: false\r\nOstype: linux\r\nServer: {}\r\n\r\n",
            berth_api::SERVER_HEADER
        )
    );
    c.send(b"piped\n").await;
    assert_eq!(
        c.read_exact(14).await,
        b"\x01\x00\x00\x00\x00\x00\x00\x06piped\n"
    );
    c.send(b"more\n").await;
    assert_eq!(
        c.read_exact(13).await,
        b"\x01\x00\x00\x00\x00\x00\x00\x05more\n"
    );
    // Half-close ends `cat`'s stdin; its output ends and the server closes.
    c.stream.shutdown().await.unwrap();
    assert_eq!(c.read_to_end().await, b"");

    let (h, body) = s
        .request("GET", &format!("/v1.41/exec/{id}/json"), &[], b"")
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    let want = format!(
        "{{\"ID\":\"{id}\",\"Running\":false,\"ExitCode\":0,\"ProcessConfig\":{{\"tty\":false,\
         \"entrypoint\":\"cat\",\"arguments\":[],\"privileged\":false}},\"OpenStdin\":true,\
         \"OpenStderr\":true,\"OpenStdout\":true,\"CanRemove\":false,\"ContainerID\":\"c1\",\
         \"DetachKeys\":\"\",\"Pid\":4242}}\n"
    );
    assert_eq!(String::from_utf8_lossy(&body), want);
    assert!(s
        .fake
        .calls()
        .contains(&format!("exec-start {id} detach=false tty=false")));
    s.shutdown().await;
}

/// Trace 08: no stdin, the client half-closes at once, output is one stdout frame.
#[tokio::test]
async fn exec_output_without_stdin_and_stderr_frames() {
    let s = start().await;
    let id = create(
        &s,
        "c1",
        &exec_body(r#"["echo","hi-from-exec"]"#, false, false),
    )
    .await;
    let mut c = s.connect().await;
    c.send_request(
        "POST",
        &format!("/exec/{id}/start"),
        &UPGRADE,
        b"{\"Detach\":false,\"Tty\":false}\n",
    )
    .await;
    assert_eq!(c.read_head().await.status, 101);
    c.stream.shutdown().await.unwrap();
    assert_eq!(
        c.read_to_end().await,
        b"\x01\x00\x00\x00\x00\x00\x00\x0dhi-from-exec\n"
    );

    let id = create(&s, "c1", &exec_body(r#"["false","x"]"#, false, false)).await;
    let mut c = s.connect().await;
    c.send_request("POST", &format!("/exec/{id}/start"), &UPGRADE, b"{}")
        .await;
    assert_eq!(c.read_head().await.status, 101);
    c.stream.shutdown().await.unwrap();
    assert_eq!(
        c.read_to_end().await,
        b"\x01\x00\x00\x00\x00\x00\x00\x02x\n\x02\x00\x00\x00\x00\x00\x00\x07failed\n"
    );
    let (_, body) = s
        .request("GET", &format!("/exec/{id}/json"), &[], b"")
        .await;
    assert_eq!(json(&body)["ExitCode"], 1);
    s.shutdown().await;
}

/// Trace 37: with a TTY the stream is raw in both directions.
#[tokio::test]
async fn exec_tty_is_raw() {
    let s = start().await;
    let id = create(&s, "c1", &exec_body(r#"["cat"]"#, true, true)).await;
    let mut c = s.connect().await;
    c.send_request(
        "POST",
        &format!("/v1.41/exec/{id}/start"),
        &UPGRADE,
        b"{\"Detach\":false,\"Tty\":true}\n",
    )
    .await;
    assert_eq!(c.read_head().await.status, 101);
    c.send(b"\x00ls\r").await;
    assert_eq!(c.read_exact(4).await, b"\x00ls\r");
    c.stream.shutdown().await.unwrap();
    assert_eq!(c.read_to_end().await, b"");
    let (_, body) = s
        .request("GET", &format!("/exec/{id}/json"), &[], b"")
        .await;
    assert_eq!(json(&body)["ProcessConfig"]["tty"], true);
    s.shutdown().await;
}

#[tokio::test]
async fn exec_detach_and_plain_200() {
    let s = start().await;
    let id = create(&s, "c1", &exec_body(r#"["echo","bg"]"#, false, false)).await;
    let (h, body) = s
        .request(
            "POST",
            &format!("/v1.41/exec/{id}/start"),
            &JSON,
            b"{\"Detach\":true,\"Tty\":false}",
        )
        .await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.header("Content-Length"), Some("0"));
    assert!(body.is_empty());
    assert!(s
        .fake
        .calls()
        .contains(&format!("exec-start {id} detach=true tty=false")));
    // Starting twice is the backend's conflict, answered as JSON.
    let (h, body) = s
        .request("POST", &format!("/exec/{id}/start"), &UPGRADE, b"{}")
        .await;
    assert_eq!(h.status, 409);
    assert!(json(&body)["message"]
        .as_str()
        .unwrap()
        .ends_with(&format!("Exec command {id} has already run")));

    // Without Upgrade the stream is the 200 body.
    let id = create(&s, "c1", &exec_body(r#"["echo","plain"]"#, false, false)).await;
    let (h, body) = s
        .request("POST", &format!("/exec/{id}/start"), &JSON, b"{}")
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(
        h.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(body, b"\x01\x00\x00\x00\x00\x00\x00\x06plain\n");
    s.shutdown().await;
}

#[tokio::test]
async fn exec_resize_and_inspect_before_start() {
    let s = start().await;
    let id = create(&s, "c1", &exec_body(r#"["sh"]"#, true, true)).await;
    let (h, body) = s
        .request(
            "POST",
            &format!("/v1.41/exec/{id}/resize?h=40&w=100"),
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert!(body.is_empty());
    assert!(s.fake.calls().contains(&format!("exec-resize {id} 40x100")));
    for q in ["h=40", "w=1", "h=x&w=1"] {
        let (h, _) = s
            .request("POST", &format!("/exec/{id}/resize?{q}"), &[], b"")
            .await;
        assert_eq!(h.status, 400, "{q}");
    }
    let (h, body) = s
        .request("GET", &format!("/exec/{id}/json"), &[], b"")
        .await;
    assert_eq!(h.status, 200);
    let v = json(&body);
    assert_eq!(v["Running"], false);
    assert_eq!(v["ExitCode"], Value::Null);
    assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    s.shutdown().await;
}

/// Container, request headers, body, expected status, expected message prefix.
type CreateCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    u16,
    &'static str,
);

#[tokio::test]
async fn exec_errors() {
    let s = start().await;
    // Unknown exec: the backend's 404 on every exec route.
    let missing = "deadbeef";
    for (method, path, body) in [
        ("GET", format!("/v1.41/exec/{missing}/json"), &b""[..]),
        ("POST", format!("/v1.41/exec/{missing}/resize?h=1&w=1"), b""),
        ("POST", format!("/v1.41/exec/{missing}/start"), b"{}"),
    ] {
        let (h, resp) = s.request(method, &path, &UPGRADE, body).await;
        assert_eq!(h.status, 404, "{path}");
        assert_eq!(
            json(&resp)["message"],
            format!("No such exec instance: {missing}")
        );
    }
    // Create: missing command, bad JSON, wrong content type, unknown/stopped/paused container.
    let cases: [CreateCase; 7] = [
        (
            "c1",
            &JSON,
            r#"{"Cmd":[]}"#,
            400,
            "No exec command specified",
        ),
        (
            "c1",
            &JSON,
            r#"{"User":""}"#,
            400,
            "No exec command specified",
        ),
        ("c1", &JSON, "", 400, "got EOF while reading request body"),
        ("c1", &JSON, "{", 400, "invalid JSON: "),
        (
            "c1",
            &[("Content-Type", "text/plain")],
            r#"{"Cmd":["ls"]}"#,
            400,
            "Content-Type specified (text/plain) must be 'application/json'",
        ),
        (
            "nope",
            &JSON,
            r#"{"Cmd":["ls"]}"#,
            404,
            "No such container: nope",
        ),
        (
            "stopped",
            &JSON,
            r#"{"Cmd":["ls"]}"#,
            409,
            "Container stopped is not running",
        ),
    ];
    for (container, headers, body, status, msg) in cases {
        let (h, resp) = s
            .request(
                "POST",
                &format!("/v1.41/containers/{container}/exec"),
                headers,
                body.as_bytes(),
            )
            .await;
        assert_eq!(h.status, status, "{body}");
        let m = json(&resp)["message"].as_str().unwrap().to_string();
        assert!(m.starts_with(msg), "{m}");
    }
    let (h, _) = s.request("POST", "/containers/c1/pause", &[], b"").await;
    assert_eq!(h.status, 204);
    let (h, resp) = s
        .request("POST", "/containers/c1/exec", &JSON, br#"{"Cmd":["ls"]}"#)
        .await;
    assert_eq!(h.status, 409);
    assert_eq!(
        json(&resp)["message"],
        "Container c1 is paused, unpause the container before exec"
    );
    // Start with an empty body is a 400, as dockerd's JSON decoder gives EOF.
    let id = create(&s, "echo", &exec_body(r#"["ls"]"#, false, false)).await;
    let (h, resp) = s
        .request("POST", &format!("/exec/{id}/start"), &JSON, b"")
        .await;
    assert_eq!(h.status, 400);
    assert_eq!(json(&resp)["message"], "got EOF while reading request body");
    s.shutdown().await;
}
