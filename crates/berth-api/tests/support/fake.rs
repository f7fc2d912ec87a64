//! In-memory backends: just enough behaviour for the HTTP layer's tests to observe what
//! reached the backend and to control when streams produce output.

use async_trait::async_trait;
use berth_api::backend::*;
use berth_model::api::*;
use berth_model::{Error, Result};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot, watch};

#[derive(Default)]
pub struct Fake {
    /// Every backend call, as `verb id args` lines.
    pub calls: Mutex<Vec<String>>,
    pub created: Mutex<Vec<(Option<String>, ContainerCreateRequest)>>,
    pub imported: Mutex<Vec<(usize, ImportOptions)>>,
    /// Fired by the import fake when it has read the first bytes of the body.
    pub import_started: Mutex<Option<oneshot::Sender<()>>>,
    /// Set to true to release pending `wait` futures.
    pub exit: Arc<watch::Sender<bool>>,
    pub list_opts: Mutex<Vec<ListOptions>>,
    pub logs_opts: Mutex<Vec<LogsOptions>>,
}

impl Fake {
    fn record(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

pub fn backends(fake: Arc<Fake>) -> Backends {
    Backends {
        system: fake.clone(),
        images: fake.clone(),
        containers: fake,
    }
}

/// What `create` returns; attaching to it behaves like "echo", as `docker run -i` needs.
pub fn created_id() -> String {
    "c1".repeat(32)
}

fn known(id: &str) -> Result<()> {
    match id {
        "c1" | "echo" | "tty" | "running" | "stopped" => Ok(()),
        _ if id == created_id() => Ok(()),
        _ => Err(Error::no_such_container(id)),
    }
}

#[async_trait]
impl SystemBackend for Fake {
    async fn version(&self) -> Result<Version> {
        Ok(Version {
            version: "0.1.0".into(),
            api_version: API_VERSION.into(),
            min_api_version: MIN_API_VERSION.into(),
            os: "linux".into(),
            arch: "amd64".into(),
            platform: serde_json::json!({"Name": "Berth"}),
            components: vec![
                serde_json::json!({"Name": "Engine", "Version": "0.1.0", "Details": {"ApiVersion": "1.41"}}),
            ],
            ..Default::default()
        })
    }
    async fn info(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({"ID": "fake", "Containers": 0, "OSType": "linux"}))
    }
}

#[async_trait]
impl ImageBackend for Fake {
    async fn import(&self, mut body: BodyReader, opts: ImportOptions) -> Result<String> {
        let mut total = 0;
        let mut buf = [0u8; 4096];
        loop {
            let n = body.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n;
            if let Some(tx) = self.import_started.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
        self.imported.lock().unwrap().push((total, opts));
        Ok(format!("sha256:{total:064}"))
    }
    async fn list(
        &self,
        all: bool,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<ImageSummary>> {
        self.record(format!("images all={all} filters={filters:?}"));
        Ok(vec![ImageSummary {
            id: "sha256:aa".into(),
            repo_tags: Some(vec!["busybox:latest".into()]),
            containers: -1,
            ..Default::default()
        }])
    }
    async fn inspect(&self, name: &str) -> Result<ImageInspect> {
        if name == "localhost:5000/a/b:tag" || name == "busybox" {
            Ok(ImageInspect {
                id: "sha256:bb".into(),
                repo_tags: vec![name.into()],
                ..Default::default()
            })
        } else {
            Err(Error::no_such_image(name))
        }
    }
}

/// Output channel plus stdin writer: whatever is written to stdin comes back as stdout
/// (and as "bye" on stderr once stdin closes, after which output ends and the container
/// counts as exited, releasing `wait`).
fn echo_session(tty: bool, exit: Arc<watch::Sender<bool>>) -> AttachIo {
    let (tx, rx) = mpsc::unbounded_channel::<(StdStream, Bytes)>();
    let (input, mut container_side) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            match container_side.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = tx.send((StdStream::Stdout, Bytes::copy_from_slice(&buf[..n])));
                }
            }
        }
        let stream = if tty {
            StdStream::Stdout
        } else {
            StdStream::Stderr
        };
        let _ = tx.send((stream, Bytes::from_static(b"bye\n")));
        drop(tx);
        exit.send_replace(true);
    });
    let output =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
            .boxed();
    AttachIo {
        tty,
        output,
        input: Some(Box::pin(input)),
    }
}

#[async_trait]
impl ContainerBackend for Fake {
    async fn create(
        &self,
        name: Option<String>,
        req: ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse> {
        if req.config.image.is_empty() {
            return Err(Error::invalid("no image specified"));
        }
        self.created.lock().unwrap().push((name, req));
        Ok(ContainerCreateResponse {
            id: "c1".repeat(32),
            warnings: vec![],
        })
    }
    async fn start(&self, id: &str) -> Result<()> {
        known(id)?;
        self.record(format!("start {id}"));
        if id == "running" {
            return Err(Error::not_modified());
        }
        Ok(())
    }
    async fn wait(&self, id: &str, condition: &str) -> Result<BoxFuture<'static, WaitResponse>> {
        known(id)?;
        self.record(format!("wait {id} {condition}"));
        let mut rx = self.exit.subscribe();
        Ok(async move {
            let _ = rx.wait_for(|exited| *exited).await;
            WaitResponse {
                error: None,
                status_code: 3,
            }
        }
        .boxed())
    }
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<AttachIo> {
        known(id)?;
        self.record(format!(
            "attach {id} stdin={} stdout={} stream={}",
            opts.stdin, opts.stdout, opts.stream
        ));
        match id {
            "tty" => Ok(echo_session(true, self.exit.clone())),
            _ if id == "echo" || id == created_id() => Ok(echo_session(false, self.exit.clone())),
            _ => Ok(AttachIo {
                tty: false,
                output: futures_util::stream::iter(vec![(
                    StdStream::Stdout,
                    Bytes::from_static(b"hi\n"),
                )])
                .boxed(),
                input: None,
            }),
        }
    }
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        known(id)?;
        if id == "stopped" {
            return Err(Error::conflict(format!("Container {id} is not running")));
        }
        self.record(format!("resize {id} {height}x{width}"));
        Ok(())
    }
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream> {
        known(id)?;
        self.logs_opts.lock().unwrap().push(opts);
        let chunks = vec![
            (StdStream::Stdout, Bytes::from_static(b"line1\n")),
            (StdStream::Stderr, Bytes::from_static(b"oops\n")),
        ];
        Ok(LogStream {
            tty: id == "tty",
            output: futures_util::stream::iter(chunks).boxed(),
        })
    }
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()> {
        known(id)?;
        self.record(format!("kill {id} {signal:?}"));
        Ok(())
    }
    async fn stop(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()> {
        known(id)?;
        self.record(format!("stop {id} {timeout:?} {signal:?}"));
        if id == "stopped" {
            return Err(Error::not_modified());
        }
        Ok(())
    }
    async fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        known(id)?;
        self.record(format!("restart {id} {timeout:?}"));
        Ok(())
    }
    async fn inspect(&self, id: &str) -> Result<ContainerInspect> {
        known(id)?;
        let mut config = ContainerConfig::default();
        // `docker start -a -i` only sends stdin to a container created with `-i`.
        if id == "echo" || id == "tty" || id == created_id() {
            config.open_stdin = true;
            config.stdin_once = true;
            config.tty = id == "tty";
        }
        Ok(ContainerInspect {
            id: id.into(),
            name: format!("/{id}"),
            config,
            ..Default::default()
        })
    }
    async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        self.list_opts.lock().unwrap().push(opts);
        Ok(vec![ContainerSummary {
            id: "c1".repeat(32),
            names: vec!["/c1".into()],
            image: "busybox".into(),
            command: "true".into(),
            state: "running".into(),
            status: "Up 1 second".into(),
            ..Default::default()
        }])
    }
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        known(id)?;
        self.record(format!("remove {id} force={force} v={volumes}"));
        Ok(())
    }
}
