//! Test harness: a real unix socket served by `serve_unix` over the fake backend, and a
//! hand-written HTTP/1.1 client so tests see the exact bytes a docker CLI would.
#![allow(dead_code)]

pub mod fake;

use fake::Fake;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub fake: Arc<Fake>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub async fn start() -> TestServer {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "berth-api-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("api.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let fake = Arc::new(Fake::default());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(berth_api::serve_unix(
        listener,
        fake::backends(fake.clone()),
        async {
            let _ = rx.await;
        },
    ));
    TestServer {
        dir,
        sock,
        fake,
        stop: Some(tx),
        task: Some(task),
    }
}

impl TestServer {
    pub async fn connect(&self) -> Conn {
        Conn {
            stream: UnixStream::connect(&self.sock).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// One request on a fresh connection; the body is read per the response's framing.
    pub async fn request(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (Head, Vec<u8>) {
        let mut c = self.connect().await;
        c.send_request(method, uri, headers, body).await;
        let head = c.read_head().await;
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            c.read_body(&head).await
        };
        (head, body)
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let res = tokio::time::timeout(TIMEOUT, self.task.take().unwrap()).await;
        res.expect("server did not stop").unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// The head exactly as received, `\r\n` included.
    pub raw: String,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Conn {
    pub stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send_request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let mut req = format!("{method} {uri} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\n");
        let mut has_len = false;
        for (k, v) in headers {
            has_len |= k.eq_ignore_ascii_case("content-length")
                || k.eq_ignore_ascii_case("transfer-encoding");
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !has_len && (!body.is_empty() || method == "POST") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes).await;
    }

    async fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 8192];
        let n = tokio::time::timeout(TIMEOUT, self.stream.read(&mut tmp))
            .await
            .expect("read timed out")
            .unwrap_or(0);
        self.buf.extend_from_slice(&tmp[..n]);
        n > 0
    }

    pub async fn read_head(&mut self) -> Head {
        loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let raw: Vec<u8> = self.buf.drain(..pos + 4).collect();
                let raw = String::from_utf8(raw).unwrap();
                let mut lines = raw.split("\r\n");
                let status_line = lines.next().unwrap();
                let mut parts = status_line.splitn(3, ' ');
                parts.next();
                let status = parts.next().unwrap().parse().unwrap();
                let reason = parts.next().unwrap_or("").to_string();
                let headers = lines
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (k, v) = l.split_once(':').unwrap();
                        (k.to_string(), v.trim().to_string())
                    })
                    .collect();
                return Head {
                    status,
                    reason,
                    headers,
                    raw,
                };
            }
            assert!(
                self.fill().await,
                "connection closed before the response head"
            );
        }
    }

    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed early");
        }
        self.buf.drain(..n).collect()
    }

    async fn read_line(&mut self) -> String {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return String::from_utf8(line[..pos].to_vec()).unwrap();
            }
            assert!(self.fill().await, "connection closed inside a chunk");
        }
    }

    /// One HTTP chunk's payload; `None` at the terminating zero chunk.
    pub async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let size = usize::from_str_radix(self.read_line().await.trim(), 16).unwrap();
        if size == 0 {
            self.read_line().await;
            return None;
        }
        let data = self.read_exact(size).await;
        assert_eq!(self.read_exact(2).await, b"\r\n");
        Some(data)
    }

    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    pub async fn read_body(&mut self, head: &Head) -> Vec<u8> {
        if matches!(head.status, 204 | 304) {
            return Vec::new();
        }
        if let Some(len) = head.header("content-length") {
            return self.read_exact(len.parse().unwrap()).await;
        }
        if head.header("transfer-encoding") == Some("chunked") {
            let mut out = Vec::new();
            while let Some(c) = self.read_chunk().await {
                out.extend(c);
            }
            return out;
        }
        self.read_to_end().await
    }
}
