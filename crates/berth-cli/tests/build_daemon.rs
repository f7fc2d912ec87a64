//! `berth build` against a fake daemon that reads the chunked context upload the way
//! dockerd does and answers with a JSON message stream: what reaches stdout and stderr,
//! the exit code, `-q` and `--iidfile`, and the tar that was sent.

use berth_cli::client::Client;
use berth_cli::cmd::build::{build_to, BuildArgs};
use berth_cli::stream::Sink;
use clap::Parser;
use std::io::Read;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

const ID: &str = "sha256:c0b02c282abf7a42bbcbf3b64bd1067d189a33a8ed690974760ef46c57ff1815";

#[derive(Default)]
struct Seen {
    line: String,
    head: String,
    body: Vec<u8>,
}

async fn read_chunked(r: &mut BufReader<UnixStream>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).await.unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        let mut chunk = vec![0u8; n + 2];
        r.read_exact(&mut chunk).await.unwrap();
        if n == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

async fn handle(s: UnixStream, seen: Arc<Mutex<Seen>>) {
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).await.unwrap() == 0 {
            return;
        }
        head.push_str(&l);
        if l == "\r\n" {
            break;
        }
    }
    let line = head.lines().next().unwrap().to_string();
    let mut s = if line.starts_with("HEAD /_ping") {
        let mut s = r.into_inner();
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    } else {
        let body = read_chunked(&mut r).await;
        let mut g = seen.lock().unwrap();
        g.line = line.clone();
        g.head = head.to_ascii_lowercase();
        g.body = body;
        r.into_inner()
    };
    let msgs: Vec<String> = if line.contains("t=fails") {
        vec![
            r#"{"stream":"Step 1/2 : FROM busybox\n"}"#.into(),
            r#"{"stream":" ---\u003e c5d0e22aaf7a\n"}"#.into(),
            r#"{"stream":"Step 2/2 : RUN exit 3"}"#.into(),
            r#"{"stream":"\n"}"#.into(),
            r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}"#.into(),
        ]
    } else {
        vec![
            r#"{"stream":"Step 1/1 : FROM busybox\n"}"#.into(),
            r#"{"stream":" ---\u003e c5d0e22aaf7a\n"}"#.into(),
            format!(r#"{{"aux":{{"ID":"{ID}"}}}}"#),
            r#"{"stream":"Successfully built c0b02c282abf\n"}"#.into(),
        ]
    };
    let _ = s
        .write_all(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    for m in msgs {
        let m = format!("{m}\r\n");
        let _ = s
            .write_all(format!("{:x}\r\n{m}\r\n", m.len()).as_bytes())
            .await;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
}

fn spawn_daemon(dir: &std::path::Path) -> (String, Arc<Mutex<Seen>>) {
    let sock = dir.join("berth.sock");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let seen2 = seen.clone();
    let sock2 = sock.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = UnixListener::bind(&sock2).unwrap();
            ready_tx.send(()).unwrap();
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::spawn(handle(s, seen2.clone()));
            }
        });
    });
    ready_rx.recv().unwrap();
    (format!("unix://{}", sock.display()), seen)
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

#[derive(Parser)]
struct B {
    #[command(flatten)]
    a: BuildArgs,
}

fn run(host: &str, argv: &[&str]) -> (anyhow::Result<i32>, String, String) {
    let a = B::try_parse_from(std::iter::once("build").chain(argv.iter().copied()))
        .unwrap()
        .a;
    let client = Client::new(host).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut sink = Buf::default();
    let r = rt.block_on(build_to(&client, a, "build", &mut sink));
    (
        r,
        String::from_utf8_lossy(&sink.out).to_string(),
        String::from_utf8_lossy(&sink.err).to_string(),
    )
}

fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let n = String::from_utf8_lossy(&e.path_bytes()).to_string();
            let mut d = Vec::new();
            e.read_to_end(&mut d).unwrap();
            n
        })
        .collect()
}

fn context(dir: &std::path::Path) -> std::path::PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(ctx.join("sub")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "secret\n").unwrap();
    std::fs::write(ctx.join("secret"), "s").unwrap();
    std::fs::write(ctx.join("sub/a.txt"), "a").unwrap();
    ctx
}

#[test]
fn streams_context_and_prints_stream_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (host, seen) = spawn_daemon(dir.path());
    let ctx = context(dir.path());
    let iid = dir.path().join("iid");
    let (r, out, err) = run(
        &host,
        &[
            "-t",
            "ok:1",
            "--iidfile",
            iid.to_str().unwrap(),
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(r.unwrap(), 0);
    assert_eq!(
        out,
        "Step 1/1 : FROM busybox\n ---> c5d0e22aaf7a\nSuccessfully built c0b02c282abf\n"
    );
    assert_eq!(err, "");
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), ID);
    let g = seen.lock().unwrap();
    assert_eq!(
        g.line,
        "POST /v1.41/build?dockerfile=Dockerfile&t=ok%3A1&version=1 HTTP/1.1"
    );
    assert!(
        g.head.contains("transfer-encoding: chunked\r\n"),
        "{}",
        g.head
    );
    assert!(g.head.contains("content-type: application/x-tar\r\n"));
    assert!(g.head.contains("x-registry-config: e30=\r\n"));
    assert_eq!(
        tar_names(&g.body),
        [".dockerignore", "Dockerfile", "sub/", "sub/a.txt"]
    );
}

#[test]
fn quiet_prints_only_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let (host, seen) = spawn_daemon(dir.path());
    let ctx = context(dir.path());
    let (r, out, err) = run(&host, &["-q", ctx.to_str().unwrap()]);
    assert_eq!(r.unwrap(), 0);
    assert_eq!(out, format!("{ID}\n"));
    assert_eq!(err, "");
    assert!(seen.lock().unwrap().line.contains("&q=1&"));
}

#[test]
fn stream_error_goes_to_stderr_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _seen) = spawn_daemon(dir.path());
    let ctx = context(dir.path());
    let (r, out, err) = run(&host, &["-t", "fails", ctx.to_str().unwrap()]);
    assert_eq!(r.unwrap(), 3);
    assert_eq!(
        out,
        "Step 1/2 : FROM busybox\n ---> c5d0e22aaf7a\nStep 2/2 : RUN exit 3\n"
    );
    assert_eq!(
        err,
        "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n"
    );
}

#[test]
fn dockerfile_outside_context_travels_in_the_tar() {
    let dir = tempfile::tempdir().unwrap();
    let (host, seen) = spawn_daemon(dir.path());
    let ctx = context(dir.path());
    let df = dir.path().join("Other.dockerfile");
    std::fs::write(&df, "FROM scratch\n").unwrap();
    let (r, _, _) = run(&host, &["-f", df.to_str().unwrap(), ctx.to_str().unwrap()]);
    assert_eq!(r.unwrap(), 0);
    let g = seen.lock().unwrap();
    let name = g
        .line
        .split("dockerfile=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert!(name.starts_with(".dockerfile."), "{}", g.line);
    let names = tar_names(&g.body);
    assert!(names.contains(&name), "{names:?}");
    assert!(names.contains(&"Dockerfile".to_string()));
}

#[test]
fn missing_context_and_bad_tag_fail_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (host, seen) = spawn_daemon(dir.path());
    let (r, _, _) = run(&host, &["nope-dir"]);
    let e = r.unwrap_err();
    let s = e.downcast_ref::<berth_cli::errors::StatusError>().unwrap();
    assert_eq!(s.code, 1);
    assert_eq!(
        s.message.as_deref(),
        Some("unable to prepare context: path \"nope-dir\" not found")
    );
    let code = berth_cli::main_with(["berth", "-H", &host, "build", "-t", "A:b", "."]);
    assert_eq!(code, 125);
    let code = berth_cli::main_with([
        "berth",
        "-H",
        &host,
        "image",
        "build",
        "https://example.com/repo.git",
    ]);
    assert_eq!(code, 1);
    assert!(seen.lock().unwrap().line.is_empty());
}
