//! The shim process itself.
//!
//! Single-threaded until the container exists: libcontainer clones from this process, so
//! the tokio runtime (current-thread) is only built after `create` returned.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use berth_model::api::StdStream;
use berth_model::ErrorKind;
use bytes::Bytes;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::exec;
use super::protocol::{frame_header, Request, Response};
use super::setup::{
    async_fd, bind_socket, create, ignore_signals, init_logging, prepare_stdio, set_nonblocking,
    set_winsize, Setup,
};
use super::{clear_exit_status, runtime_error_kind, write_exit_status, ExitStatus, ShimConfig};
use crate::logs::{format_time, JsonLogWriter};
use crate::runtime::{
    bundle_cgroups_path, cgroup_oom_killed, remove_cgroup_dirs, LibcontainerRuntime,
    OciBinaryRuntime, Runtime,
};

/// How long the exit path waits for the container's output to reach EOF; only processes
/// that escaped the container's pid namespace can hold the pipes longer.
pub(super) const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
pub(super) const READ_CHUNK: usize = 32 * 1024;

/// Entry point of `berthd shim [shim] <config.json>`; must be called before any thread
/// or async runtime exists in the process.
pub fn shim_main(args: Vec<String>) -> ! {
    let Some(path) = args
        .iter()
        .rfind(|a| a.as_str() != "shim")
        .map(PathBuf::from)
    else {
        eprintln!("usage: berthd shim <config.json>");
        std::process::exit(2);
    };
    let cfg: ShimConfig = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("read shim config {}: {e}", path.display());
            let _ = io::stdout().write_all(&Response::err(ErrorKind::Internal, msg).line());
            std::process::exit(1);
        }
    };
    // Detach: the spawner only waits for this parent, the shim proper is reparented to
    // init (or berthd's reaper) and does not die with berthd.
    // SAFETY: the process is single-threaded here (documented precondition of shim_main),
    // so the child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            // SAFETY: _exit only ends the process; skipping destructors is intended.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(e) => {
            let _ = io::stdout()
                .write_all(&Response::err(ErrorKind::Internal, format!("fork shim: {e}")).line());
            std::process::exit(1);
        }
    }
    let _ = nix::unistd::setsid();
    std::process::exit(run(cfg))
}

fn run(cfg: ShimConfig) -> i32 {
    let mut report = prepare_stdio();
    let fail = |report: &mut Option<std::fs::File>, kind: ErrorKind, msg: String| {
        tracing::error!(id = %cfg.id, "{msg}");
        if let Some(r) = report.as_mut() {
            let _ = r.write_all(&Response::err(kind, msg).line());
        }
        1
    };
    if let Err(e) = std::fs::create_dir_all(&cfg.state_dir)
        .and_then(|_| std::env::set_current_dir(&cfg.state_dir))
    {
        return fail(
            &mut report,
            ErrorKind::Internal,
            format!("state dir {}: {e}", cfg.state_dir.display()),
        );
    }
    init_logging(&cfg.state_dir.join("shim.log"));
    ignore_signals();
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        return fail(
            &mut report,
            ErrorKind::Internal,
            format!("become child subreaper: {e}"),
        );
    }
    let _ = clear_exit_status(&cfg.state_dir);
    let runtime: Box<dyn Runtime> = match &cfg.runtime_binary {
        Some(bin) => Box::new(OciBinaryRuntime::new(bin, &cfg.runtime_root)),
        None => Box::new(LibcontainerRuntime::new(&cfg.runtime_root)),
    };
    let setup = match create(&cfg, runtime.as_ref()) {
        Ok(s) => s,
        Err(msg) => {
            if let Some(cg) = bundle_cgroups_path(&cfg.bundle) {
                remove_cgroup_dirs(&cg);
            }
            return fail(&mut report, runtime_error_kind(&msg), msg);
        }
    };
    let listener = match bind_socket(&cfg.socket) {
        Ok(l) => l,
        Err(e) => {
            let _ = runtime.delete(&cfg.id, true);
            if let Some(cg) = bundle_cgroups_path(&cfg.bundle) {
                remove_cgroup_dirs(&cg);
            }
            return fail(
                &mut report,
                ErrorKind::Internal,
                format!("listen on {}: {e}", cfg.socket.display()),
            );
        }
    };
    // Nothing in the container may open this process's /proc entries (its exe is the
    // host's berthd binary, CVE-2019-5736); children of exec forks inherit this until
    // they exec the container's program.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("set shim non-dumpable: {e}");
    }
    tracing::debug!(id = %cfg.id, pid = setup.pid, "container created");
    if let Some(mut r) = report.take() {
        let _ = r.write_all(
            &Response {
                pid: Some(setup.pid),
                status: Some("created".into()),
                ..Response::ok()
            }
            .line(),
        );
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("build runtime: {e}");
            let _ = runtime.kill(&cfg.id, libc::SIGKILL, true);
            return 1;
        }
    };
    let socket = cfg.socket.clone();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(cfg, runtime, setup, listener));
    let _ = std::fs::remove_file(&socket);
    0
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Created => "created",
            Phase::Running => "running",
            Phase::Paused => "paused",
            Phase::Stopped => "stopped",
        }
    }
}

struct Client {
    stdout: bool,
    stderr: bool,
    tx: mpsc::Sender<(u8, Bytes)>,
}

pub(super) struct Shared {
    pub(super) cfg: ShimConfig,
    pub(super) runtime: Box<dyn Runtime>,
    pid: i32,
    phase: Cell<Phase>,
    exit_tx: watch::Sender<Option<ExitStatus>>,
    clients: RefCell<Vec<Client>>,
    stdin: tokio::sync::Mutex<Option<AsyncFd<OwnedFd>>>,
    pty: Option<OwnedFd>,
    log: RefCell<Option<JsonLogWriter>>,
    /// Tasks that must finish before the shim exits: attach writers and pending waits.
    pending: RefCell<Vec<JoinHandle<()>>>,
    /// Running exec processes by pid: the reaper sends their exit codes here.
    pub(super) execs: RefCell<HashMap<i32, oneshot::Sender<i32>>>,
    /// Running execs by exec id, with the pty master of a TTY exec (for resize).
    pub(super) exec_ptys: RefCell<HashMap<String, Option<OwnedFd>>>,
}

impl Shared {
    /// The log always gets the output first; attached clients apply backpressure only
    /// while they are attached.
    async fn output(&self, stream: StdStream, data: Bytes) {
        if let Some(log) = self.log.borrow_mut().as_mut() {
            if let Err(e) = log.write(stream, &data) {
                tracing::warn!("write log {}: {e}", log.path().display());
            }
        }
        let targets: Vec<_> = self
            .clients
            .borrow()
            .iter()
            .filter(|c| {
                if stream == StdStream::Stderr {
                    c.stderr
                } else {
                    c.stdout
                }
            })
            .map(|c| c.tx.clone())
            .collect();
        for tx in targets {
            let _ = tx.send((stream as u8, data.clone())).await;
        }
        self.clients.borrow_mut().retain(|c| !c.tx.is_closed());
    }

    async fn write_stdin(&self, data: &[u8]) -> io::Result<()> {
        let guard = self.stdin.lock().await;
        let Some(fd) = guard.as_ref() else {
            return Ok(());
        };
        write_fd(fd, data).await
    }

    fn not_running(&self) -> Response {
        Response::err(
            ErrorKind::Conflict,
            format!("container {} is not running", self.cfg.id),
        )
    }

    fn state(&self) -> Response {
        Response {
            pid: Some(self.pid),
            status: Some(self.phase.get().name().into()),
            state_dir: Some(self.cfg.state_dir.clone()),
            exit: self.exit_tx.borrow().clone(),
            ..Response::ok()
        }
    }
}

/// Writes all of `data` to a nonblocking descriptor.
pub(super) async fn write_fd(fd: &AsyncFd<OwnedFd>, data: &[u8]) -> io::Result<()> {
    let mut off = 0;
    while off < data.len() {
        let mut ready = fd.writable().await?;
        match ready.try_io(|inner| {
            nix::unistd::write(inner.get_ref(), &data[off..]).map_err(io::Error::from)
        }) {
            Ok(Ok(n)) => off += n,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

async fn serve(
    cfg: ShimConfig,
    runtime: Box<dyn Runtime>,
    setup: Setup,
    listener: StdUnixListener,
) {
    let log = match JsonLogWriter::open(&cfg.log_path, cfg.log_max_size, cfg.log_max_file)
        .map(|w| w.with_attrs(&cfg.log_attrs))
    {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::error!("open log {}: {e}", cfg.log_path.display());
            None
        }
    };
    let stdin = setup.stdin.and_then(|fd| {
        set_nonblocking(&fd).ok()?;
        async_fd(fd)
            .map_err(|e| tracing::error!("register stdin: {e}"))
            .ok()
    });
    let (exit_tx, _) = watch::channel(None);
    let sh = Rc::new(Shared {
        cfg,
        runtime,
        pid: setup.pid,
        phase: Cell::new(Phase::Created),
        exit_tx,
        clients: RefCell::new(Vec::new()),
        stdin: tokio::sync::Mutex::new(stdin),
        pty: setup.pty,
        log: RefCell::new(log),
        pending: RefCell::new(Vec::new()),
        execs: RefCell::new(HashMap::new()),
        exec_ptys: RefCell::new(HashMap::new()),
    });
    let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!("watch SIGCHLD: {e}");
            None
        }
    };
    let pumps: Vec<_> = setup
        .outputs
        .into_iter()
        .map(|(stream, fd)| tokio::task::spawn_local(pump(sh.clone(), stream, fd)))
        .collect();
    let accept = match UnixListener::from_std(listener) {
        Ok(l) => tokio::task::spawn_local(accept_loop(sh.clone(), l)),
        Err(e) => {
            tracing::error!("serve control socket: {e}");
            tokio::task::spawn_local(async {})
        }
    };

    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let code = loop {
        if let Some(code) = reap(sh.pid, &sh.execs) {
            break code;
        }
        match sigchld.as_mut() {
            Some(s) => {
                tokio::select! {
                    _ = s.recv() => {}
                    _ = tick.tick() => {}
                }
            }
            None => {
                tick.tick().await;
            }
        }
    };
    sh.phase.set(Phase::Stopped);
    tracing::debug!(id = %sh.cfg.id, code, "container exited");
    reap_execs(&sh, sigchld.as_mut()).await;

    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        for p in pumps {
            let _ = p.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(id = %sh.cfg.id, "output not drained in time");
    }
    if let Some(log) = sh.log.borrow_mut().as_mut() {
        let _ = log.flush_partial();
    }
    // Dropping the senders lets every attach writer flush what it has queued and close.
    sh.clients.borrow_mut().clear();
    *sh.stdin.lock().await = None;

    let cgroups_path = bundle_cgroups_path(&sh.cfg.bundle);
    let oom_killed = cgroups_path
        .as_deref()
        .map(cgroup_oom_killed)
        .unwrap_or(false);
    let exit = ExitStatus {
        exit_code: code,
        oom_killed,
        finished_at: format_time(chrono::Utc::now()),
    };
    if let Err(e) = write_exit_status(&sh.cfg.state_dir, &exit) {
        tracing::error!("record exit status in {}: {e}", sh.cfg.state_dir.display());
    }
    if let Err(e) = sh.runtime.delete(&sh.cfg.id, true) {
        tracing::warn!(id = %sh.cfg.id, "delete: {e}");
    }
    if let Some(cg) = &cgroups_path {
        remove_cgroup_dirs(cg);
    }
    sh.exit_tx.send_replace(Some(exit));
    let _ = std::fs::remove_file(&sh.cfg.socket);
    accept.abort();
    let pending: Vec<_> = sh.pending.borrow_mut().drain(..).collect();
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        for p in pending {
            let _ = p.await;
        }
    })
    .await;
}

/// After the init exited: exec processes die with the pid namespace (or are killed when
/// the container shares the host's); their sessions get the codes waitpid reports.
async fn reap_execs(sh: &Shared, mut sigchld: Option<&mut tokio::signal::unix::Signal>) {
    let start = tokio::time::Instant::now();
    let mut killed = false;
    while !sh.execs.borrow().is_empty() {
        reap(sh.pid, &sh.execs);
        if sh.execs.borrow().is_empty() {
            break;
        }
        let waited = start.elapsed();
        if waited > Duration::from_secs(1) && !killed {
            for pid in sh.execs.borrow().keys() {
                let _ = nix::sys::signal::kill(Pid::from_raw(*pid), nix::sys::signal::SIGKILL);
            }
            killed = true;
        }
        if waited > DRAIN_TIMEOUT {
            break;
        }
        let nap = tokio::time::sleep(Duration::from_millis(50));
        match sigchld.as_mut() {
            Some(s) => {
                tokio::select! {
                    _ = s.recv() => {}
                    _ = nap => {}
                }
            }
            None => nap.await,
        }
    }
    for (pid, tx) in sh.execs.borrow_mut().drain() {
        tracing::warn!(pid, "exec process not reaped");
        let _ = tx.send(137);
    }
}

/// Reaps every exited child (the shim is a subreaper); exec processes' codes go to their
/// sessions; returns the init's exit code, 128+signal when it was killed, as Docker
/// reports it.
fn reap(init: i32, execs: &RefCell<HashMap<i32, oneshot::Sender<i32>>>) -> Option<i32> {
    let mut found = None;
    let exec_exit = |pid: Pid, code: i32| {
        if let Some(tx) = execs.borrow_mut().remove(&pid.as_raw()) {
            let _ = tx.send(code);
        }
    };
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == init => found = Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == init => {
                found = Some(128 + sig as i32)
            }
            Ok(WaitStatus::Exited(p, code)) => exec_exit(p, code),
            Ok(WaitStatus::Signaled(p, sig, _)) => exec_exit(p, 128 + sig as i32),
            Ok(WaitStatus::StillAlive) => break,
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => {
                // Not our child (should not happen with the subreaper bit): notice the
                // exit, lose the code.
                if found.is_none()
                    && nix::sys::signal::kill(Pid::from_raw(init), None) == Err(Errno::ESRCH)
                {
                    tracing::warn!(pid = init, "init exited without being reaped by the shim");
                    found = Some(255);
                }
                break;
            }
            Err(_) => break,
        }
    }
    found
}

async fn pump(sh: Rc<Shared>, stream: StdStream, fd: OwnedFd) {
    if let Err(e) = set_nonblocking(&fd) {
        tracing::error!("set output nonblocking: {e}");
    }
    let afd = match async_fd(fd) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("register output: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let Ok(mut ready) = afd.readable().await else {
            break;
        };
        match ready.try_io(|inner| {
            nix::unistd::read(inner.get_ref().as_raw_fd(), &mut buf).map_err(io::Error::from)
        }) {
            Err(_would_block) => continue,
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => sh.output(stream, Bytes::copy_from_slice(&buf[..n])).await,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            // EIO: the pty's last slave was closed.
            Ok(Err(_)) => break,
        }
    }
}

async fn accept_loop(sh: Rc<Shared>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                tokio::task::spawn_local(handle(sh.clone(), conn));
            }
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle(sh: Rc<Shared>, conn: UnixStream) {
    let (rd, mut wr) = conn.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    match (&mut rd).take(64 * 1024).read_line(&mut line).await {
        Ok(n) if n > 0 => {}
        _ => return,
    }
    let req: Request = match serde_json::from_str(line.trim_end()) {
        Ok(r) => r,
        Err(e) => {
            let _ = wr
                .write_all(
                    &Response::err(ErrorKind::InvalidArgument, format!("bad request: {e}")).line(),
                )
                .await;
            return;
        }
    };
    let resp = match req {
        Request::State => sh.state(),
        Request::Start => match sh.phase.get() {
            Phase::Created => match sh.runtime.start(&sh.cfg.id) {
                Ok(()) => {
                    sh.phase.set(Phase::Running);
                    Response::ok()
                }
                Err(e) => {
                    let msg = e.to_string();
                    Response::err(runtime_error_kind(&msg), msg)
                }
            },
            Phase::Running | Phase::Paused => Response::err(
                ErrorKind::Conflict,
                format!("container {} is already running", sh.cfg.id),
            ),
            Phase::Stopped => sh.not_running(),
        },
        Request::Kill { signal, all } => {
            if sh.phase.get() == Phase::Stopped {
                sh.not_running()
            } else {
                match sh.runtime.kill(&sh.cfg.id, signal, all) {
                    Ok(()) if sh.phase.get() == Phase::Paused && signal == libc::SIGKILL => {
                        // A frozen process does not die until thawed (cgroup v1).
                        if let Err(e) = sh.runtime.resume(&sh.cfg.id) {
                            tracing::warn!(id = %sh.cfg.id, "resume after kill: {e}");
                        }
                        sh.phase.set(Phase::Running);
                        Response::ok()
                    }
                    Ok(()) => Response::ok(),
                    Err(_) if sh.phase.get() == Phase::Stopped => sh.not_running(),
                    Err(e) => Response::err(ErrorKind::Internal, e.to_string()),
                }
            }
        }
        Request::Resize { height, width } => match &sh.pty {
            Some(pty) => match set_winsize(pty.as_raw_fd(), height, width) {
                Ok(()) => Response::ok(),
                Err(e) => Response::err(
                    ErrorKind::Internal,
                    format!("resize container {}: {e}", sh.cfg.id),
                ),
            },
            None => Response::ok(),
        },
        Request::Pause => match sh.phase.get() {
            Phase::Running => match sh.runtime.pause(&sh.cfg.id) {
                Ok(()) => {
                    sh.phase.set(Phase::Paused);
                    Response::ok()
                }
                Err(e) => Response::err(ErrorKind::Internal, e.to_string()),
            },
            Phase::Paused => Response::err(
                ErrorKind::Conflict,
                format!("container {} is already paused", sh.cfg.id),
            ),
            _ => sh.not_running(),
        },
        Request::Resume => match sh.phase.get() {
            Phase::Paused => match sh.runtime.resume(&sh.cfg.id) {
                Ok(()) => {
                    sh.phase.set(Phase::Running);
                    Response::ok()
                }
                Err(e) => Response::err(ErrorKind::Internal, e.to_string()),
            },
            Phase::Running | Phase::Created => Response::err(
                ErrorKind::Conflict,
                format!("container {} is not paused", sh.cfg.id),
            ),
            Phase::Stopped => sh.not_running(),
        },
        Request::ExecResize {
            exec_id,
            height,
            width,
        } => exec::resize(&sh, &exec_id, height, width),
        Request::Exec { spec } => match sh.phase.get() {
            Phase::Running => match exec::start(&sh, &spec) {
                Ok(started) => {
                    let ok = Response {
                        pid: Some(started.pid),
                        ..Response::ok()
                    };
                    // The session runs even if the client is gone: the reaper owes the
                    // process's exit to someone.
                    let _ = wr.write_all(&ok.line()).await;
                    let task = tokio::task::spawn_local(exec::session(
                        sh.clone(),
                        spec.exec_id,
                        started,
                        rd,
                        wr,
                    ));
                    sh.pending.borrow_mut().push(task);
                    return;
                }
                Err(resp) => resp,
            },
            Phase::Paused => Response::err(
                ErrorKind::Conflict,
                format!(
                    "container {} is paused, unpause the container before exec",
                    sh.cfg.id
                ),
            ),
            _ => sh.not_running(),
        },
        Request::Wait => {
            let sh2 = sh.clone();
            let task = tokio::task::spawn_local(async move {
                let mut rx = sh2.exit_tx.subscribe();
                let exit = loop {
                    if let Some(e) = rx.borrow_and_update().clone() {
                        break e;
                    }
                    if rx.changed().await.is_err() {
                        return;
                    }
                };
                let _ = wr
                    .write_all(
                        &Response {
                            exit: Some(exit),
                            ..Response::ok()
                        }
                        .line(),
                    )
                    .await;
                let _ = wr.shutdown().await;
            });
            sh.pending.borrow_mut().push(task);
            return;
        }
        Request::Attach {
            stdin,
            stdout,
            stderr,
        } => {
            if wr.write_all(&Response::ok().line()).await.is_err() {
                return;
            }
            attach(sh, rd, wr, stdin, stdout, stderr);
            return;
        }
    };
    let _ = wr.write_all(&resp.line()).await;
    let _ = wr.shutdown().await;
}

fn attach(
    sh: Rc<Shared>,
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) {
    let (tx, rx) = mpsc::channel::<(u8, Bytes)>(256);
    if sh.phase.get() != Phase::Stopped {
        sh.clients.borrow_mut().push(Client { stdout, stderr, tx });
    }
    let writer = tokio::task::spawn_local(attach_writer(wr, rx));
    sh.pending.borrow_mut().push(writer);
    if stdin && sh.cfg.open_stdin {
        tokio::task::spawn_local(copy_stdin(sh, rd));
    }
}

async fn attach_writer(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<(u8, Bytes)>) {
    while let Some((stream, data)) = rx.recv().await {
        if wr
            .write_all(&frame_header(stream, data.len()))
            .await
            .is_err()
            || wr.write_all(&data).await.is_err()
        {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

async fn copy_stdin(sh: Rc<Shared>, mut rd: BufReader<OwnedReadHalf>) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Err(e) = sh.write_stdin(&buf[..n]).await {
                    tracing::debug!("write stdin: {e}");
                    break;
                }
            }
        }
    }
    // With a tty, closing the master would hang the terminal up; Docker leaves it open.
    if sh.cfg.stdin_once && !sh.cfg.tty {
        *sh.stdin.lock().await = None;
    }
}
