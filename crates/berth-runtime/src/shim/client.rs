//! The engine's side of the shim protocol (tokio, `Send + Sync`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use berth_model::api::StdStream;
use berth_model::ErrorKind;
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use super::protocol::{Request, Response, EXIT_STREAM, FRAME_HEADER};
use super::{read_exit_status, ExecSpec, ExitStatus, ShimConfig, ShimError};

/// Creating a container (rootfs setup, namespaces, hooks) rarely takes this long; past
/// it something is stuck and the caller should get an error rather than hang.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct ShimClient {
    socket: PathBuf,
    pid: i32,
    state_dir: PathBuf,
}

/// An attach session: output frames until the container's output is drained, and the
/// container's stdin when it was requested (drop or shut it down for EOF).
pub struct ShimAttach {
    pub output: mpsc::Receiver<(StdStream, Bytes)>,
    pub input: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
}

/// A process started by [`ShimClient::exec`].
pub struct ExecSession {
    pub pid: i32,
    /// Output frames; ends after the process exited and all its output was delivered.
    pub output: mpsc::Receiver<(StdStream, Bytes)>,
    /// The process's stdin when it was requested; shutdown (EOF) closes it.
    pub input: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    /// Resolves with the exit code (128+signal when killed) once the process exited;
    /// an error means the shim went away without reporting it.
    pub exit: oneshot::Receiver<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimState {
    pub pid: i32,
    /// `created`, `running` or `stopped`.
    pub status: String,
    pub exit: Option<ExitStatus>,
}

impl ShimClient {
    /// Writes the config, spawns `<exe> shim <config-path>` detached, returns once the
    /// container is created (init waiting for start) with its pid; on failure the error
    /// carries the runtime's message.
    pub async fn spawn(exe: &Path, cfg: &ShimConfig) -> Result<ShimClient, ShimError> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(|e| {
            ShimError::io(format!("create state dir {}", cfg.state_dir.display()), e)
        })?;
        let cfg_path = cfg.state_dir.join("shim.json");
        let data =
            serde_json::to_vec_pretty(cfg).map_err(|e| ShimError::Protocol(e.to_string()))?;
        std::fs::write(&cfg_path, data)
            .map_err(|e| ShimError::io(format!("write {}", cfg_path.display()), e))?;
        let mut child = tokio::process::Command::new(exe)
            .arg("shim")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| ShimError::io(format!("spawn shim {}", exe.display()), e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ShimError::Protocol("shim stdout missing".into()))?;
        let mut line = String::new();
        let read =
            tokio::time::timeout(SPAWN_TIMEOUT, BufReader::new(stdout).read_line(&mut line)).await;
        // The direct child only forks the shim and exits.
        let _ = child.wait().await;
        match read {
            Err(_) => {
                return Err(ShimError::Died {
                    id: cfg.id.clone(),
                    detail: "timed out waiting for the container".into(),
                })
            }
            Ok(Err(e)) => return Err(ShimError::io("read shim report", e)),
            Ok(Ok(_)) => {}
        }
        if line.trim().is_empty() {
            return Err(ShimError::Died {
                id: cfg.id.clone(),
                detail: shim_log_tail(&cfg.state_dir),
            });
        }
        let resp: Response = serde_json::from_str(line.trim())
            .map_err(|e| ShimError::Protocol(format!("bad shim report {line:?}: {e}")))?;
        let resp = check(resp)?;
        let pid = resp
            .pid
            .ok_or_else(|| ShimError::Protocol("shim report has no pid".into()))?;
        Ok(ShimClient {
            socket: cfg.socket.clone(),
            pid,
            state_dir: cfg.state_dir.clone(),
        })
    }

    /// Reconnects to a running shim after berthd restarted.
    pub async fn connect(socket: &Path) -> Result<ShimClient, ShimError> {
        let mut c = ShimClient {
            socket: socket.to_path_buf(),
            pid: 0,
            state_dir: PathBuf::new(),
        };
        let resp = c.call(&Request::State).await?.0;
        c.pid = resp.pid.unwrap_or(0);
        c.state_dir = resp.state_dir.unwrap_or_default();
        Ok(c)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn state(&self) -> Result<ShimState, ShimError> {
        let resp = self.call(&Request::State).await?.0;
        Ok(ShimState {
            pid: resp.pid.unwrap_or(self.pid),
            status: resp.status.unwrap_or_default(),
            exit: resp.exit,
        })
    }

    pub async fn start(&self) -> Result<(), ShimError> {
        self.call(&Request::Start).await.map(|_| ())
    }

    pub async fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<ShimAttach, ShimError> {
        let (_, rd, wr) = self
            .call(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(read_frames(rd, tx));
        let input: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> =
            if stdin { Some(Box::new(wr)) } else { None };
        Ok(ShimAttach { output: rx, input })
    }

    pub async fn resize(&self, height: u16, width: u16) -> Result<(), ShimError> {
        self.call(&Request::Resize { height, width })
            .await
            .map(|_| ())
    }

    /// Starts a process inside the running container (its namespaces and cgroup, its
    /// capabilities and seccomp profile unless privileged); returns once it runs.
    pub async fn exec(&self, spec: &ExecSpec) -> Result<ExecSession, ShimError> {
        let (resp, rd, wr) = self.call(&Request::Exec { spec: spec.clone() }).await?;
        let pid = resp
            .pid
            .ok_or_else(|| ShimError::Protocol("exec reply has no pid".into()))?;
        let (tx, rx) = mpsc::channel(64);
        let (exit_tx, exit_rx) = oneshot::channel();
        tokio::spawn(read_frames_exit(rd, tx, Some(exit_tx)));
        let input: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> =
            if spec.stdin { Some(Box::new(wr)) } else { None };
        Ok(ExecSession {
            pid,
            output: rx,
            input,
            exit: exit_rx,
        })
    }

    pub async fn exec_resize(
        &self,
        exec_id: &str,
        height: u16,
        width: u16,
    ) -> Result<(), ShimError> {
        self.call(&Request::ExecResize {
            exec_id: exec_id.to_string(),
            height,
            width,
        })
        .await
        .map(|_| ())
    }

    /// Freezes the container (freezer cgroup); `state` reports `paused` until resumed.
    pub async fn pause(&self) -> Result<(), ShimError> {
        self.call(&Request::Pause).await.map(|_| ())
    }

    pub async fn resume(&self) -> Result<(), ShimError> {
        self.call(&Request::Resume).await.map(|_| ())
    }

    pub async fn kill(&self, signal: i32, all: bool) -> Result<(), ShimError> {
        self.call(&Request::Kill { signal, all }).await.map(|_| ())
    }

    /// Resolves when the container has exited and was deleted; if the shim is gone, the
    /// exit status it recorded is the answer.
    pub async fn wait(&self) -> Result<ExitStatus, ShimError> {
        let err = match self.call(&Request::Wait).await {
            Ok((resp, _, _)) => match resp.exit {
                Some(e) => return Ok(e),
                None => ShimError::Protocol("wait reply without exit status".into()),
            },
            Err(e @ ShimError::Remote { .. }) => return Err(e),
            Err(e) => e,
        };
        // The shim answers waits only after exit.json is durable, so a vanished shim
        // with no file really died abnormally.
        if !self.state_dir.as_os_str().is_empty() {
            for _ in 0..20 {
                if let Some(st) = read_exit_status(&self.state_dir) {
                    return Ok(st);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(err)
    }

    async fn call(
        &self,
        req: &Request,
    ) -> Result<(Response, BufReader<OwnedReadHalf>, OwnedWriteHalf), ShimError> {
        let conn =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ShimError::Unreachable {
                    path: self.socket.clone(),
                    source,
                })?;
        let (rd, mut wr) = conn.into_split();
        let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Protocol(e.to_string()))?;
        line.push(b'\n');
        wr.write_all(&line)
            .await
            .map_err(|source| ShimError::Unreachable {
                path: self.socket.clone(),
                source,
            })?;
        let mut rd = BufReader::new(rd);
        let mut reply = String::new();
        let n = rd
            .read_line(&mut reply)
            .await
            .map_err(|e| ShimError::io("read shim reply", e))?;
        if n == 0 {
            return Err(ShimError::Unreachable {
                path: self.socket.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "shim closed the connection",
                ),
            });
        }
        let resp: Response = serde_json::from_str(reply.trim_end())
            .map_err(|e| ShimError::Protocol(format!("bad shim reply {reply:?}: {e}")))?;
        Ok((check(resp)?, rd, wr))
    }
}

fn check(resp: Response) -> Result<Response, ShimError> {
    if resp.ok {
        return Ok(resp);
    }
    Err(ShimError::Remote {
        kind: resp.kind.unwrap_or(ErrorKind::Internal),
        message: resp.error.unwrap_or_else(|| "shim request failed".into()),
    })
}

async fn read_frames(rd: BufReader<OwnedReadHalf>, tx: mpsc::Sender<(StdStream, Bytes)>) {
    read_frames_exit(rd, tx, None).await
}

/// Output frames to `tx`; an exec session's exit frame resolves `exit` and ends it.
async fn read_frames_exit(
    mut rd: BufReader<OwnedReadHalf>,
    tx: mpsc::Sender<(StdStream, Bytes)>,
    mut exit: Option<oneshot::Sender<i32>>,
) {
    let mut header = [0u8; FRAME_HEADER];
    loop {
        if rd.read_exact(&mut header).await.is_err() {
            return;
        }
        let stream = match header[0] {
            2 => StdStream::Stderr,
            _ => StdStream::Stdout,
        };
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut data = vec![0u8; len];
        if rd.read_exact(&mut data).await.is_err() {
            return;
        }
        if header[0] == EXIT_STREAM {
            if let (Some(exit), Ok(code)) = (exit.take(), <[u8; 4]>::try_from(&data[..])) {
                // Output first: the session's output ends before the exit resolves.
                drop(tx);
                let _ = exit.send(i32::from_be_bytes(code));
            }
            return;
        }
        // A closed receiver (the caller only wants the exit code) must not stop the
        // exit frame from being read.
        if tx.is_closed() {
            continue;
        }
        if tx.send((stream, Bytes::from(data))).await.is_err() && exit.is_none() {
            return;
        }
    }
}

/// The end of shim.log, which says why a shim died before reporting.
fn shim_log_tail(state_dir: &Path) -> String {
    let text = std::fs::read_to_string(state_dir.join("shim.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("; ");
    if tail.is_empty() {
        "no shim log".into()
    } else {
        tail
    }
}
