//! `exec` inside the shim: a process joining the running container, a child of the shim,
//! whose output, stdin, pty and exit code belong to one control connection.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use berth_model::api::StdStream;
use berth_model::ErrorKind;
use bytes::Bytes;
use nix::fcntl::{fcntl, FcntlArg};
use serde_json::{json, Value};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::protocol::{frame_header, Response, EXIT_STREAM};
use super::server::{write_fd, Shared, DRAIN_TIMEOUT, READ_CHUNK};
use super::setup::{async_fd, pipe, receive_pty, set_nonblocking, set_winsize};
use super::{runtime_error_kind, ExecSpec};
use crate::runtime::ExecOpts;

/// Every capability this process holds (a privileged exec gets them all; one it does
/// not hold could not be granted anyway).
fn all_caps() -> Vec<String> {
    crate::spec::held_capabilities("CapPrm")
        .into_iter()
        .map(crate::spec::cap_name)
        .collect()
}

/// An exec process that runs, with the shim's ends of its stdio.
pub(super) struct Started {
    pub pid: i32,
    pub outputs: Vec<(StdStream, OwnedFd)>,
    pub stdin: Option<OwnedFd>,
    pub exit: oneshot::Receiver<i32>,
}

/// The OCI process of an exec: the container's own (capabilities, rlimits,
/// no_new_privileges, apparmor) with the exec's args, env, cwd, user and terminal.
fn exec_process(bundle: &Path, spec: &ExecSpec) -> Result<Value, Response> {
    let internal = |m: String| Response::err(ErrorKind::Internal, m);
    let cfg_path = bundle.join("config.json");
    let text = std::fs::read(&cfg_path)
        .map_err(|e| internal(format!("read {}: {e}", cfg_path.display())))?;
    let cfg: Value = serde_json::from_slice(&text)
        .map_err(|e| internal(format!("decode {}: {e}", cfg_path.display())))?;
    let root = cfg
        .pointer("/root/path")
        .and_then(Value::as_str)
        .unwrap_or("rootfs");
    let rootfs = bundle.join(root);
    let user = crate::spec::resolve_user(&rootfs, &spec.user)
        .map_err(|e| Response::err(e.kind(), e.to_string()))?;
    let mut process = cfg.get("process").cloned().unwrap_or_else(|| json!({}));
    let cwd = if !spec.cwd.is_empty() {
        spec.cwd.clone()
    } else {
        process
            .get("cwd")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .unwrap_or("/")
            .to_string()
    };
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home.as_deref().unwrap_or("/")));
    }
    let mut u = json!({"uid": user.uid, "gid": user.gid});
    if !user.additional_gids.is_empty() {
        u["additionalGids"] = json!(user.additional_gids);
    }
    process["args"] = json!(spec.args);
    process["env"] = json!(env);
    process["cwd"] = json!(cwd);
    process["user"] = u;
    process["terminal"] = json!(spec.tty);
    if let Some(obj) = process.as_object_mut() {
        obj.remove("consoleSize");
    }
    if let (true, Some((h, w))) = (spec.tty, spec.console_size) {
        process["consoleSize"] = json!({"height": h, "width": w});
    }
    if spec.privileged {
        let caps = all_caps();
        process["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    }
    Ok(process)
}

/// Starts the process (synchronously: libcontainer forks from this thread) and registers
/// it with the reaper before anything else can run.
pub(super) fn start(sh: &Rc<Shared>, spec: &ExecSpec) -> Result<Started, Response> {
    let id = &sh.cfg.id;
    if spec.exec_id.is_empty()
        || spec.exec_id.len() > 64
        || !spec.exec_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(Response::err(
            ErrorKind::InvalidArgument,
            format!("invalid exec id {:?}", spec.exec_id),
        ));
    }
    if spec.args.is_empty() {
        return Err(Response::err(
            ErrorKind::InvalidArgument,
            "no command specified".to_string(),
        ));
    }
    let internal = |m: String| Response::err(ErrorKind::Internal, m);
    let process = exec_process(&sh.cfg.bundle, spec)?;
    let short = &spec.exec_id[..spec.exec_id.len().min(12)];
    let process_json = sh.cfg.state_dir.join(format!("exec-{short}.json"));
    std::fs::write(&process_json, process.to_string())
        .map_err(|e| internal(format!("write {}: {e}", process_json.display())))?;
    let result = if spec.tty {
        start_tty(sh, spec, short, &process_json)
    } else {
        start_pipes(sh, spec, &process_json)
    };
    let _ = std::fs::remove_file(&process_json);
    let (pid, outputs, stdin, pty) = result.map_err(|msg| {
        let msg = if msg.contains("container") || msg.starts_with("exec: ") {
            msg
        } else {
            format!("exec in container {id}: {msg}")
        };
        Response::err(runtime_error_kind(&msg), msg)
    })?;
    let (tx, exit) = oneshot::channel();
    sh.execs.borrow_mut().insert(pid, tx);
    sh.exec_ptys.borrow_mut().insert(spec.exec_id.clone(), pty);
    tracing::info!(id = %id, pid, exec = %short, "exec started");
    Ok(Started {
        pid,
        outputs,
        stdin,
        exit,
    })
}

type Stdio = (
    i32,
    Vec<(StdStream, OwnedFd)>,
    Option<OwnedFd>,
    Option<OwnedFd>,
);

fn start_pipes(sh: &Shared, spec: &ExecSpec, process_json: &Path) -> Result<Stdio, String> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_child, stdin_ours) = if spec.stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        let null = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        (OwnedFd::from(null), None)
    };
    let opts = ExecOpts {
        process_json: process_json.to_path_buf(),
        stdin: Some(stdin_child),
        stdout: Some(out_w),
        stderr: Some(err_w),
        console_socket: None,
        seccomp: !spec.privileged,
    };
    let pid = sh
        .runtime
        .exec(&sh.cfg.id, &sh.cfg.bundle, opts)
        .map_err(|e| e.to_string())?;
    Ok((
        pid,
        vec![(StdStream::Stdout, out_r), (StdStream::Stderr, err_r)],
        stdin_ours,
        None,
    ))
}

fn start_tty(
    sh: &Shared,
    spec: &ExecSpec,
    short: &str,
    process_json: &Path,
) -> Result<Stdio, String> {
    // Relative to the state dir (the shim's cwd) so long paths fit in sun_path.
    let name = format!("exec-{short}.sock");
    let _ = std::fs::remove_file(&name);
    let listener =
        StdUnixListener::bind(&name).map_err(|e| format!("listen on console socket: {e}"))?;
    let abs: PathBuf = sh.cfg.state_dir.join(&name);
    let opts = ExecOpts {
        process_json: process_json.to_path_buf(),
        console_socket: Some(abs),
        seccomp: !spec.privileged,
        ..Default::default()
    };
    let started = sh
        .runtime
        .exec(&sh.cfg.id, &sh.cfg.bundle, opts)
        .map_err(|e| e.to_string());
    let pid = match started {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&name);
            return Err(e);
        }
    };
    let master = receive_pty(&listener);
    let _ = std::fs::remove_file(&name);
    let master = match master {
        Ok(m) => m,
        Err(e) => {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            return Err(format!("receive the console of the exec: {e}"));
        }
    };
    if let Some((h, w)) = spec.console_size {
        if let Err(e) = set_winsize(master.as_raw_fd(), h, w) {
            tracing::warn!("set exec console size: {e}");
        }
    }
    let dup = |fd: &OwnedFd| -> Result<OwnedFd, String> {
        let n = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3))
            .map_err(|e| format!("dup console: {e}"))?;
        // SAFETY: fcntl just returned this new descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(n) })
    };
    let stdin = if spec.stdin {
        Some(dup(&master)?)
    } else {
        None
    };
    let resize = dup(&master)?;
    Ok((pid, vec![(StdStream::Stdout, master)], stdin, Some(resize)))
}

/// Serves a started exec on its connection until the process exited and its output was
/// delivered, then sends the exit frame and closes.
pub(super) async fn session(
    sh: Rc<Shared>,
    exec_id: String,
    started: Started,
    rd: BufReader<OwnedReadHalf>,
    mut wr: OwnedWriteHalf,
) {
    let (tx, mut rx) = mpsc::channel::<(u8, Bytes)>(64);
    for (stream, fd) in started.outputs {
        tokio::task::spawn_local(pump(stream, fd, tx.clone()));
    }
    drop(tx);
    let stdin_task = started.stdin.and_then(|fd| {
        set_nonblocking(&fd).ok()?;
        let afd = async_fd(fd).ok()?;
        Some(tokio::task::spawn_local(copy_stdin(rd, afd)))
    });
    let mut exit = started.exit;
    let mut code: Option<i32> = None;
    let mut client_gone = false;
    let drain = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(drain);
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some((stream, data)) => {
                    if !client_gone
                        && (wr.write_all(&frame_header(stream, data.len())).await.is_err()
                            || wr.write_all(&data).await.is_err())
                    {
                        client_gone = true;
                    }
                }
                None => break,
            },
            c = &mut exit, if code.is_none() => {
                code = Some(c.unwrap_or(137));
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_TIMEOUT);
            }
            _ = &mut drain, if code.is_some() => {
                tracing::warn!(exec = %exec_id, "exec output not drained in time");
                break;
            }
        }
    }
    let code = match code {
        Some(c) => c,
        None => exit.await.unwrap_or(137),
    };
    sh.exec_ptys.borrow_mut().remove(&exec_id);
    if let Some(t) = stdin_task {
        t.abort();
    }
    tracing::info!(exec = %exec_id, code, "exec exited");
    if !client_gone {
        let _ = wr.write_all(&frame_header(EXIT_STREAM, 4)).await;
        let _ = wr.write_all(&code.to_be_bytes()).await;
    }
    let _ = wr.shutdown().await;
}

async fn pump(stream: StdStream, fd: OwnedFd, tx: mpsc::Sender<(u8, Bytes)>) {
    if let Err(e) = set_nonblocking(&fd) {
        tracing::error!("set exec output nonblocking: {e}");
    }
    let Ok(afd) = async_fd(fd) else {
        return;
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
            Ok(Ok(n)) => {
                if tx
                    .send((stream as u8, Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            // EIO: the pty's last slave was closed.
            Ok(Err(_)) => break,
        }
    }
}

/// Client bytes to the process's stdin; the client's EOF closes it.
async fn copy_stdin(mut rd: BufReader<OwnedReadHalf>, fd: AsyncFd<OwnedFd>) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Err(e) = write_fd(&fd, &buf[..n]).await {
                    tracing::debug!("write exec stdin: {e}");
                    break;
                }
            }
        }
    }
}

/// Resize of an exec's pty by exec id; a running non-tty exec ignores it.
pub(super) fn resize(sh: &Shared, exec_id: &str, height: u16, width: u16) -> Response {
    match sh.exec_ptys.borrow().get(exec_id) {
        Some(None) => Response::ok(),
        Some(Some(pty)) => match set_winsize(pty.as_raw_fd(), height, width) {
            Ok(()) => Response::ok(),
            Err(e) => Response::err(ErrorKind::Internal, format!("resize exec {exec_id}: {e}")),
        },
        None => Response::err(
            ErrorKind::NotFound,
            format!("no such exec instance: {exec_id}"),
        ),
    }
}
