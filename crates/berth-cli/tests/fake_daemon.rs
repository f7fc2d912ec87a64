//! The wire part against a tiny fake daemon on a temp unix socket: request order of
//! `run` and `exec`, the 101 upgrade, frame demultiplexing and the stdin half-close, and
//! the one-shot verbs (pause, unpause, rename).

use berth_cli::client::Client;
use berth_cli::stream::{pump, Outcome, Sink};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

const ID: &str = "30d4dc67fac274cc0156fa830580792e05a9e40b53fed2865b68cc453578dcb9";
const EXEC_ID: &str = "0ad239117e04a301076b55fd611811579597134aeb2b85592512bde955da207d";

#[derive(Default)]
struct State {
    log: Mutex<Vec<String>>,
    create_body: Mutex<String>,
    exec_body: Mutex<String>,
    /// Head (lower-cased) and body of `POST /exec/{id}/start`.
    exec_start: Mutex<(String, String)>,
    started: Notify,
    attach_done: Notify,
    /// Lets the events handler send its second event.
    events_next: Notify,
}

struct Req {
    line: String,
    head: String,
    body: Vec<u8>,
}

async fn read_req(s: &mut UnixStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let line = head
        .lines()
        .next()?
        .trim_end_matches(" HTTP/1.1")
        .to_string();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    Some(Req {
        line,
        head: head.to_ascii_lowercase(),
        body,
    })
}

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

async fn reply(s: &mut UnixStream, status: &str, body: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(msg.as_bytes()).await;
}

async fn handle(mut s: UnixStream, st: Arc<State>) {
    let Some(req) = read_req(&mut s).await else {
        return;
    };
    st.log.lock().unwrap().push(req.line.clone());
    let path = req.line.split(' ').nth(1).unwrap_or("").to_string();
    match req.line.split(' ').next().unwrap_or("") {
        "HEAD" => reply(&mut s, "200 OK", "").await,
        "GET" if path == "/v1.41/version" => {
            reply(
                &mut s,
                "200 OK",
                r#"{"Version":"0.1.0","ApiVersion":"1.41"}"#,
            )
            .await
        }
        "GET" if path.starts_with("/v1.41/events") => {
            // As dockerd: the head at once, one chunk per event, then the end.
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            for (i, action) in ["create", "start"].into_iter().enumerate() {
                if i == 1 {
                    st.events_next.notified().await;
                }
                let ev = format!(
                    r#"{{"status":"{action}","id":"{ID}","from":"busybox","Type":"container","Action":"{action}","Actor":{{"ID":"{ID}","Attributes":{{"image":"busybox","name":"box"}}}},"scope":"local","time":1795949037,"timeNano":179594903727402730{i}}}"#
                );
                let _ = s
                    .write_all(format!("{:x}\r\n{ev}\n\r\n", ev.len() + 1).as_bytes())
                    .await;
            }
            let _ = s.write_all(b"0\r\n\r\n").await;
        }
        "GET" if path == "/v1.41/containers/box/json" => {
            let body =
                format!(r#"{{"Id":"{ID}","Config":{{"Tty":false}},"State":{{"Running":true}}}}"#);
            reply(&mut s, "200 OK", &body).await
        }
        "POST" if path == "/v1.41/containers/box/exec" => {
            *st.exec_body.lock().unwrap() = String::from_utf8_lossy(&req.body).to_string();
            reply(&mut s, "201 Created", &format!(r#"{{"Id":"{EXEC_ID}"}}"#)).await
        }
        "POST" if path == format!("/v1.41/exec/{EXEC_ID}/start") => {
            *st.exec_start.lock().unwrap() = (
                req.head.clone(),
                String::from_utf8_lossy(&req.body).to_string(),
            );
            if !req.head.contains("upgrade: tcp") {
                return reply(&mut s, "200 OK", "").await;
            }
            let head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
            s.write_all(head.as_bytes()).await.unwrap();
            // No -i: the CLI half-closes at once, as in 08_exec.txt; output follows.
            let mut input = Vec::new();
            s.read_to_end(&mut input).await.unwrap();
            assert!(input.is_empty());
            s.write_all(&frame(1, b"exec-out\n")).await.unwrap();
            s.write_all(&frame(2, b"exec-err\n")).await.unwrap();
            let _ = s.shutdown().await;
        }
        "GET" if path == format!("/v1.41/exec/{EXEC_ID}/json") => {
            let body = format!(
                r#"{{"ID":"{EXEC_ID}","Running":false,"ExitCode":3,"ContainerID":"{ID}","Pid":42}}"#
            );
            reply(&mut s, "200 OK", &body).await
        }
        "POST"
            if path.starts_with("/v1.41/containers/box/")
                && ["/pause", "/unpause"].iter().any(|v| path.ends_with(v))
                || path.starts_with("/v1.41/containers/box/rename?") =>
        {
            let _ = s
                .write_all(b"HTTP/1.1 204 No Content\r\nApi-Version: 1.41\r\n\r\n")
                .await;
        }
        "POST" if path.starts_with("/v1.41/containers/ghost/") => {
            reply(
                &mut s,
                "404 Not Found",
                r#"{"message":"No such container: ghost"}"#,
            )
            .await
        }
        "POST" if path.starts_with("/v1.41/containers/create") => {
            *st.create_body.lock().unwrap() = String::from_utf8_lossy(&req.body).to_string();
            reply(
                &mut s,
                "201 Created",
                &format!(r#"{{"Id":"{ID}","Warnings":[]}}"#),
            )
            .await
        }
        "POST" if path.contains("/attach") => {
            let head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
            s.write_all(head.as_bytes()).await.unwrap();
            if path.contains("stdin=1") {
                // Echo stdin back once the client half-closes: proves the EOF arrived.
                let mut input = Vec::new();
                s.read_to_end(&mut input).await.unwrap();
                s.write_all(&frame(1, &input)).await.unwrap();
            } else {
                st.started.notified().await;
                s.write_all(&frame(1, b"out\n")).await.unwrap();
                s.write_all(&frame(2, b"err\n")).await.unwrap();
            }
            let _ = s.shutdown().await;
            st.attach_done.notify_one();
        }
        "POST" if path.contains("/wait") => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            s.write_all(head.as_bytes()).await.unwrap();
            st.attach_done.notified().await;
            let body = "{\"Error\":null,\"StatusCode\":3}\n";
            let chunk = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
            let _ = s.write_all(chunk.as_bytes()).await;
        }
        "POST" if path.ends_with("/start") => {
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            st.started.notify_one();
        }
        _ => reply(&mut s, "404 Not Found", r#"{"message":"page not found"}"#).await,
    }
}

fn spawn_daemon(dir: &std::path::Path) -> (String, Arc<State>, std::thread::JoinHandle<()>) {
    let sock = dir.join("berth.sock");
    let st = Arc::new(State::default());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let st2 = st.clone();
    let sock2 = sock.clone();
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = UnixListener::bind(&sock2).unwrap();
            ready_tx.send(()).unwrap();
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::spawn(handle(s, st2.clone()));
            }
        });
    });
    ready_rx.recv().unwrap();
    (format!("unix://{}", sock.display()), st, t)
}

#[test]
fn run_sends_docker_requests_in_order_and_exits_with_container_code() {
    let dir = tempfile::tempdir().unwrap();
    let (host, st, _t) = spawn_daemon(dir.path());
    let code = berth_cli::main_with([
        "berth", "-H", &host, "run", "--rm", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(code, 3);
    let log = st.log.lock().unwrap().clone();
    let want = [
        "HEAD /_ping".to_string(),
        "POST /v1.41/containers/create".to_string(),
        format!("POST /v1.41/containers/{ID}/attach?stderr=1&stdout=1&stream=1"),
        format!("POST /v1.41/containers/{ID}/wait?condition=removed"),
        format!("POST /v1.41/containers/{ID}/start"),
    ];
    assert_eq!(log, want);
    let body: serde_json::Value = serde_json::from_str(&st.create_body.lock().unwrap()).unwrap();
    assert_eq!(body["Cmd"], serde_json::json!(["sh", "-c", "exit 3"]));
    assert_eq!(body["HostConfig"]["AutoRemove"], serde_json::json!(true));
}

#[test]
fn daemon_errors_and_missing_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _st, _t) = spawn_daemon(dir.path());
    // Unknown route: the daemon's message, exit 1.
    assert_eq!(berth_cli::main_with(["berth", "-H", &host, "stop", "x"]), 1);
    assert_eq!(berth_cli::main_with(["berth", "-H", &host, "version"]), 0);
    let nowhere = format!("unix://{}/nope.sock", dir.path().display());
    assert_eq!(berth_cli::main_with(["berth", "-H", &nowhere, "ps"]), 1);
    assert_eq!(
        berth_cli::main_with(["berth", "-H", &nowhere, "run", "busybox"]),
        125
    );
    assert_eq!(
        berth_cli::main_with(["berth", "run", "--bogus-flag", "busybox"]),
        125
    );
}

#[derive(Default)]
struct Buf {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Sink for Buf {
    fn out(&mut self, d: &[u8]) {
        self.out.extend_from_slice(d);
    }
    fn err(&mut self, d: &[u8]) {
        self.err.extend_from_slice(d);
    }
}

#[test]
fn upgraded_attach_demuxes_frames_and_half_closes_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (host, st, _t) = spawn_daemon(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = Client::new(&host).unwrap();
        let conn = client
            .upgrade(&format!(
                "/containers/{ID}/attach?stderr=1&stdout=1&stream=1"
            ))
            .await
            .unwrap();
        client
            .post(&format!("/containers/{ID}/start"))
            .await
            .unwrap();
        let mut sink = Buf::default();
        assert_eq!(
            pump(conn, false, None, None, &mut sink).await.unwrap(),
            Outcome::Ended
        );
        assert_eq!(sink.out, b"out\n");
        assert_eq!(sink.err, b"err\n");

        let conn = client
            .upgrade(&format!("/containers/{ID}/attach?stdin=1&stream=1"))
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(bytes::Bytes::from_static(b"hello-stdin\n"))
            .await
            .unwrap();
        drop(tx);
        let mut sink = Buf::default();
        assert_eq!(
            pump(conn, false, Some(rx), None, &mut sink).await.unwrap(),
            Outcome::Ended
        );
        assert_eq!(sink.out, b"hello-stdin\n");
    });
    drop(st);
}

#[test]
fn exec_follows_docker_sequence_and_exits_with_exec_code() {
    let dir = tempfile::tempdir().unwrap();
    let (host, st, _t) = spawn_daemon(dir.path());
    let code = berth_cli::main_with([
        "berth", "-H", &host, "exec", "-e", "K=V", "box", "sh", "-c", "exit 3",
    ]);
    assert_eq!(code, 3);
    let log = st.log.lock().unwrap().clone();
    let want = [
        "HEAD /_ping".to_string(),
        "GET /v1.41/containers/box/json".to_string(),
        "POST /v1.41/containers/box/exec".to_string(),
        format!("POST /v1.41/exec/{EXEC_ID}/start"),
        format!("GET /v1.41/exec/{EXEC_ID}/json"),
    ];
    assert_eq!(log, want);
    assert_eq!(
        *st.exec_body.lock().unwrap(),
        "{\"User\":\"\",\"Privileged\":false,\"Tty\":false,\"AttachStdin\":false,\"AttachStderr\":true,\"AttachStdout\":true,\"Detach\":false,\"DetachKeys\":\"\",\"Env\":[\"K=V\"],\"WorkingDir\":\"\",\"Cmd\":[\"sh\",\"-c\",\"exit 3\"]}\n"
    );
    let (head, body) = st.exec_start.lock().unwrap().clone();
    assert!(head.contains("connection: upgrade\r\n"), "{head}");
    assert!(head.contains("upgrade: tcp\r\n"), "{head}");
    assert!(
        head.contains("content-type: application/json\r\n"),
        "{head}"
    );
    assert_eq!(body, "{\"Detach\":false,\"Tty\":false}\n");
}

#[test]
fn exec_detached_starts_without_hijack() {
    let dir = tempfile::tempdir().unwrap();
    let (host, st, _t) = spawn_daemon(dir.path());
    let code = berth_cli::main_with(["berth", "-H", &host, "exec", "-d", "box", "sleep", "9"]);
    assert_eq!(code, 0);
    let log = st.log.lock().unwrap().clone();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[3], format!("POST /v1.41/exec/{EXEC_ID}/start"));
    let (head, body) = st.exec_start.lock().unwrap().clone();
    assert!(!head.contains("upgrade"), "{head}");
    assert_eq!(body, "{\"Detach\":true,\"Tty\":false}\n");
    let exec_body: serde_json::Value = serde_json::from_str(&st.exec_body.lock().unwrap()).unwrap();
    assert_eq!(exec_body["Detach"], serde_json::json!(true));
    assert_eq!(exec_body["AttachStdout"], serde_json::json!(false));
}

#[test]
fn pause_unpause_rename() {
    let dir = tempfile::tempdir().unwrap();
    let (host, st, _t) = spawn_daemon(dir.path());
    let run = |args: &[&str]| {
        let mut argv = vec!["berth", "-H", &host];
        argv.extend_from_slice(args);
        berth_cli::main_with(argv)
    };
    assert_eq!(run(&["pause", "box"]), 0);
    assert_eq!(run(&["unpause", "box"]), 0);
    assert_eq!(run(&["rename", "box", "box 2"]), 0);
    // One failure among several: the others still happen, exit 1.
    assert_eq!(run(&["pause", "ghost", "box"]), 1);
    assert_eq!(run(&["rename", "box", " "]), 1);
    let mut log: Vec<String> = st
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !l.starts_with("HEAD"))
        .cloned()
        .collect();
    // Several containers are handled at once (as the docker CLI does), so the last two
    // requests may arrive in either order.
    log[3..].sort();
    assert_eq!(
        log,
        [
            "POST /v1.41/containers/box/pause",
            "POST /v1.41/containers/box/unpause",
            "POST /v1.41/containers/box/rename?name=box+2",
            "POST /v1.41/containers/box/pause",
            "POST /v1.41/containers/ghost/pause",
        ]
    );
}

/// Sends every write to a channel so the test sees lines as they are printed.
struct ChanWriter(std::sync::mpsc::Sender<String>);

impl std::io::Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(b).to_string());
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn events_streams_lines_as_they_arrive() {
    use berth_cli::cmd::events::{stream_events, EventsArgs};
    let dir = tempfile::tempdir().unwrap();
    let (host, st, _t) = spawn_daemon(dir.path());
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let args = EventsArgs {
        filter: vec!["container=box".into()],
        format: Some("{{.Action}} {{.Actor.Attributes.name}} {{.TimeNano}}".into()),
        since: Some("1795949029".into()),
        until: None,
    };
    let task = rt.spawn(async move {
        let client = Client::new(&host).unwrap();
        let mut w = ChanWriter(tx);
        stream_events(&client, &args, &mut w).await
    });
    let timeout = std::time::Duration::from_secs(10);
    // The first line is printed while the daemon still holds the second event back.
    assert_eq!(
        rx.recv_timeout(timeout).unwrap(),
        "create box 1795949037274027300\n"
    );
    st.events_next.notify_one();
    assert_eq!(
        rx.recv_timeout(timeout).unwrap(),
        "start box 1795949037274027301\n"
    );
    rt.block_on(task).unwrap().unwrap();
    let log = st.log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "HEAD /_ping",
            "GET /v1.41/events?filters=%7B%22container%22%3A%7B%22box%22%3Atrue%7D%7D&since=1795949029"
        ]
    );
    // The default format, through the real entry point (stdout is not captured here).
    assert_eq!(
        berth_cli::main_with([
            "berth",
            "-H",
            &format!("unix://{}", dir.path().join("berth.sock").display()),
            "events",
            "--since",
            "x y"
        ]),
        1
    );
}
