//! In-memory backends: just enough behaviour for the HTTP layer's tests to observe what
//! reached the backend and to control when streams produce output.

use async_trait::async_trait;
use berth_api::backend::*;
use berth_model::api::*;
use berth_model::{Error, Result};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
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
    /// Exec instances by ID, shared with the tasks that finish them.
    pub execs: Arc<Mutex<BTreeMap<String, FakeExec>>>,
    pub paused: Mutex<BTreeSet<String>>,
    /// Past events `GET /events` replays (those within since/until).
    pub past_events: Mutex<Vec<EventMessage>>,
    pub events_opts: Mutex<Vec<EventsOptions>>,
    /// One sender per open events stream; see [`Fake::publish`].
    pub subscribers: Mutex<Vec<mpsc::UnboundedSender<EventMessage>>>,
    /// Every build: the context's size and the options as parsed.
    pub builds: Mutex<Vec<(usize, BuildOptions)>>,
    /// Lets a `dockerfile=slow` build finish after its first message.
    pub build_release: Arc<tokio::sync::Notify>,
}

/// One exec instance: its config, and its exit code once its output has ended.
#[derive(Clone)]
pub struct FakeExec {
    pub container: String,
    pub cfg: ExecConfig,
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
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
        containers: fake.clone(),
        exec: fake.clone(),
        container_ops: fake.clone(),
        events: fake.clone(),
        build: fake,
        volumes: Arc::new(berth_api::volumes::NoVolumes),
        networks: Arc::new(berth_api::networks::NoNetworks),
    }
}

/// A container event as dockerd 20.10 sends it (trace 31_events_stats).
pub fn event(action: &str, id: &str, name: &str, time_nano: i64) -> EventMessage {
    EventMessage {
        status: action.into(),
        id: id.into(),
        from: "busybox".into(),
        kind: "container".into(),
        action: action.into(),
        actor: EventActor {
            id: id.into(),
            attributes: [
                ("name".to_string(), name.to_string()),
                ("image".to_string(), "busybox".to_string()),
            ]
            .into_iter()
            .collect(),
        },
        scope: "local".into(),
        time: time_nano / 1_000_000_000,
        time_nano,
    }
}

impl Fake {
    /// Sends a live event to every open events stream.
    pub fn publish(&self, ev: EventMessage) {
        self.subscribers
            .lock()
            .unwrap()
            .retain(|tx| tx.send(ev.clone()).is_ok());
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.lock().unwrap().len()
    }
}

#[async_trait]
impl EventsBackend for Fake {
    async fn events(
        &self,
        opts: EventsOptions,
    ) -> Result<futures_util::stream::BoxStream<'static, EventMessage>> {
        self.record(format!("events {:?} {:?}", opts.since, opts.until));
        self.events_opts.lock().unwrap().push(opts.clone());
        let in_range =
            move |t: i64| opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t <= u);
        let past: Vec<EventMessage> = self
            .past_events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| in_range(e.time_nano))
            .cloned()
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let past = futures_util::stream::iter(past);
        if opts.until.is_some_and(|u| u < now) {
            return Ok(past.boxed());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.lock().unwrap().push(tx);
        let live =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|e| (e, rx)) },
            );
        Ok(past.chain(live).boxed())
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
    async fn restart(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()> {
        known(id)?;
        self.record(format!("restart {id} {timeout:?} {signal:?}"));
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

/// The deterministic exec ID of the `n`th exec created (1-based).
pub fn exec_id(n: usize) -> String {
    format!("{n:064x}")
}

fn no_such_exec(id: &str) -> Error {
    Error::not_found(format!("No such exec instance: {id}"))
}

fn not_running(id: &str) -> Result<()> {
    if id == "stopped" {
        return Err(Error::conflict(format!("Container {id} is not running")));
    }
    Ok(())
}

/// What an exec "runs": `cat` copies stdin to stdout until stdin closes; anything else
/// prints its arguments like `echo`, and `false` (exit 1) also says so on stderr. The exit
/// code is recorded only when the output has ended, as a real process's would be.
fn exec_session(
    execs: Arc<Mutex<BTreeMap<String, FakeExec>>>,
    id: String,
    cmd: Vec<String>,
    tty: bool,
) -> AttachIo {
    let (tx, rx) = mpsc::unbounded_channel::<(StdStream, Bytes)>();
    let err_stream = if tty {
        StdStream::Stdout
    } else {
        StdStream::Stderr
    };
    let mut input: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>> = None;
    let (exit_code, cat) = match cmd[0].as_str() {
        "cat" => (0, true),
        "false" => (1, false),
        _ => (0, false),
    };
    let (stdin, mut container_side) = tokio::io::duplex(1024);
    if cat {
        input = Some(Box::pin(stdin));
    }
    tokio::spawn(async move {
        if cat {
            let mut buf = [0u8; 1024];
            loop {
                match container_side.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let _ = tx.send((StdStream::Stdout, Bytes::copy_from_slice(&buf[..n])));
                    }
                }
            }
        } else {
            let line = format!("{}\n", cmd[1..].join(" "));
            let _ = tx.send((StdStream::Stdout, Bytes::from(line)));
            if exit_code != 0 {
                let _ = tx.send((err_stream, Bytes::from_static(b"failed\n")));
            }
        }
        if let Some(e) = execs.lock().unwrap().get_mut(&id) {
            e.running = false;
            e.exit_code = Some(exit_code);
        }
        drop(tx);
    });
    let output =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
            .boxed();
    AttachIo { tty, output, input }
}

#[async_trait]
impl ExecBackend for Fake {
    async fn create(&self, container: &str, cfg: ExecConfig) -> Result<String> {
        known(container)?;
        not_running(container)?;
        if self.paused.lock().unwrap().contains(container) {
            return Err(Error::conflict(format!(
                "Container {container} is paused, unpause the container before exec"
            )));
        }
        let mut execs = self.execs.lock().unwrap();
        let id = exec_id(execs.len() + 1);
        self.record(format!("exec-create {container} {:?}", cfg.cmd));
        execs.insert(
            id.clone(),
            FakeExec {
                container: container.to_string(),
                cfg,
                started: false,
                running: false,
                exit_code: None,
            },
        );
        Ok(id)
    }
    async fn start(&self, exec_id: &str, cfg: ExecStartConfig) -> Result<AttachIo> {
        let cmd = {
            let mut execs = self.execs.lock().unwrap();
            let e = execs
                .get_mut(exec_id)
                .ok_or_else(|| no_such_exec(exec_id))?;
            if e.started {
                return Err(Error::conflict(format!(
                    "Exec command {exec_id} has already run"
                )));
            }
            e.started = true;
            e.running = true;
            e.cfg.cmd.clone().unwrap_or_default()
        };
        self.record(format!(
            "exec-start {exec_id} detach={} tty={}",
            cfg.detach, cfg.tty
        ));
        let io = exec_session(self.execs.clone(), exec_id.to_string(), cmd, cfg.tty);
        if cfg.detach {
            // Output is discarded; the process still runs to its end.
            tokio::spawn(io.output.for_each(|_| async {}));
            return Ok(AttachIo {
                tty: cfg.tty,
                output: futures_util::stream::empty().boxed(),
                input: None,
            });
        }
        Ok(io)
    }
    async fn resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        if !self.execs.lock().unwrap().contains_key(exec_id) {
            return Err(no_such_exec(exec_id));
        }
        self.record(format!("exec-resize {exec_id} {height}x{width}"));
        Ok(())
    }
    async fn inspect(&self, exec_id: &str) -> Result<ExecInspect> {
        let execs = self.execs.lock().unwrap();
        let e = execs.get(exec_id).ok_or_else(|| no_such_exec(exec_id))?;
        let cmd = e.cfg.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            id: exec_id.to_string(),
            running: e.running,
            exit_code: e.exit_code,
            process_config: ExecProcessConfig {
                tty: e.cfg.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
                privileged: e.cfg.privileged,
                user: e.cfg.user.clone(),
            },
            open_stdin: e.cfg.attach_stdin,
            open_stderr: e.cfg.attach_stderr,
            open_stdout: e.cfg.attach_stdout,
            can_remove: false,
            container_id: e.container.clone(),
            detach_keys: e.cfg.detach_keys.clone(),
            pid: if e.started { 4242 } else { 0 },
        })
    }
}

#[async_trait]
impl ContainerOpsBackend for Fake {
    async fn pause(&self, id: &str) -> Result<()> {
        known(id)?;
        not_running(id)?;
        if !self.paused.lock().unwrap().insert(id.to_string()) {
            return Err(Error::conflict(format!("Container {id} is already paused")));
        }
        self.record(format!("pause {id}"));
        Ok(())
    }
    async fn unpause(&self, id: &str) -> Result<()> {
        known(id)?;
        if !self.paused.lock().unwrap().remove(id) {
            return Err(Error::conflict(format!("Container {id} is not paused")));
        }
        self.record(format!("unpause {id}"));
        Ok(())
    }
    async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        known(id)?;
        if known(new_name).is_ok() {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{new_name}\". \
                 You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        self.record(format!("rename {id} {new_name}"));
        Ok(())
    }
    /// Prunes the one stopped container, "stopped", unless a filter is given: then nothing
    /// matches. Keys other than dockerd's are a 400, as the engine's.
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<serde_json::Value> {
        if let Some(k) = filters
            .keys()
            .find(|k| !["until", "label", "label!"].contains(&k.as_str()))
        {
            return Err(Error::invalid(format!("invalid filter '{k}'")));
        }
        self.record(format!("prune containers {filters:?}"));
        Ok(if filters.is_empty() {
            serde_json::json!({"ContainersDeleted": ["stopped"], "SpaceReclaimed": 12})
        } else {
            serde_json::json!({"ContainersDeleted": null, "SpaceReclaimed": 0})
        })
    }
    async fn top(&self, id: &str, ps_args: Option<String>) -> Result<TopResponse> {
        known(id)?;
        not_running(id)?;
        self.record(format!("top {id} {ps_args:?}"));
        let (titles, row): (&[&str], &[&str]) = match ps_args.as_deref() {
            None | Some("-ef") => (
                &["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
                &[
                    "root",
                    "4242",
                    "4241",
                    "0",
                    "10:43",
                    "?",
                    "00:00:00",
                    "sleep 300",
                ],
            ),
            Some(_) => (&["PID", "COMMAND"], &["4242", "sleep 300"]),
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Ok(TopResponse {
            titles: strings(titles),
            processes: vec![strings(row)],
        })
    }
    /// Samples numbered by `cpu_stats.cpu_usage.total_usage` (1, 2, ...), each naming
    /// the previous one's in `precpu_stats`; a stream of three, a second apart no more.
    async fn stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<futures_util::stream::BoxStream<'static, StatsResponse>> {
        known(id)?;
        self.record(format!("stats {id} stream={stream} one_shot={one_shot}"));
        let sample = move |n: u64| {
            let mut s = StatsResponse {
                read: format!("2026-11-29T10:43:5{n}Z"),
                preread: "0001-01-01T00:00:00Z".into(),
                name: format!("/{id}"),
                id: id.to_string(),
                ..Default::default()
            };
            s.cpu_stats.cpu_usage.total_usage = n;
            if n > 1 {
                s.precpu_stats.cpu_usage.total_usage = n - 1;
                s.preread = format!("2026-11-29T10:43:5{}Z", n - 1);
            }
            s
        };
        let samples: Vec<StatsResponse> = if stream {
            (1..=3).map(sample).collect()
        } else if one_shot {
            vec![sample(1)]
        } else {
            vec![sample(2)]
        };
        Ok(futures_util::stream::iter(samples).boxed())
    }
    async fn update(
        &self,
        id: &str,
        req: ContainerUpdateRequest,
    ) -> Result<ContainerUpdateResponse> {
        known(id)?;
        self.record(format!(
            "update {id} memory={} pids={:?} restart={}",
            req.memory, req.pids_limit, req.restart_policy.name
        ));
        if req.memory != 0 && req.memory < 6 << 20 {
            return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
        }
        Ok(ContainerUpdateResponse { warnings: None })
    }
}

/// Reads the whole context, then echoes the options back as messages so tests see what
/// the query parser made of them. `dockerfile` picks a behaviour: `missing` fails before
/// the stream (a status), `fail` fails inside it, `slow` waits for `build_release` after
/// its first message.
#[async_trait]
impl BuildBackend for Fake {
    async fn build(
        &self,
        mut context: BodyReader,
        opts: BuildOptions,
    ) -> Result<futures_util::stream::BoxStream<'static, BuildMessage>> {
        if opts.dockerfile == "missing" {
            return Err(Error::invalid(
                "Cannot locate specified Dockerfile: missing",
            ));
        }
        let mut ctx = Vec::new();
        context.read_to_end(&mut ctx).await?;
        self.builds.lock().unwrap().push((ctx.len(), opts.clone()));
        let mut msgs = vec![
            BuildMessage::Stream(format!("context {} bytes\n", ctx.len())),
            BuildMessage::Stream(format!("tags {:?}\n", opts.tags)),
            BuildMessage::Stream(format!("buildargs {:?}\n", opts.build_args)),
            BuildMessage::Stream(" ---> 0123456789ab\n".to_string()),
        ];
        match opts.dockerfile.as_str() {
            "fail" => msgs.push(BuildMessage::Error {
                message: "The command '/bin/sh -c false' returned a non-zero code: 1".to_string(),
                code: Some(1),
            }),
            "slow" => {
                let release = self.build_release.clone();
                let first = futures_util::stream::iter(msgs.drain(..1).collect::<Vec<_>>());
                let rest = futures_util::stream::once(async move {
                    release.notified().await;
                    futures_util::stream::iter(vec![BuildMessage::Stream("released\n".to_string())])
                })
                .flatten();
                return Ok(first.chain(rest).boxed());
            }
            _ => msgs.push(BuildMessage::Aux(
                serde_json::json!({ "ID": format!("sha256:{:064}", ctx.len()) }),
            )),
        }
        Ok(futures_util::stream::iter(msgs).boxed())
    }
}
