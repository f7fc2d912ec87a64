//! `attach`: every session gets its own output channel and stdin pipe; they are joined to
//! the shim now when the container runs, or at its next start (so `docker run`, which
//! attaches before it starts, misses no output).

use crate::Engine;
use berth_model::api::{AttachOptions, StdStream};
use berth_model::Result;
use berth_runtime::ShimClient;
use bytes::Bytes;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

pub struct EngineAttach {
    pub tty: bool,
    pub output: mpsc::Receiver<(StdStream, Bytes)>,
    /// The client writes the container's stdin here; shutting it down is stdin's EOF.
    pub input: Option<DuplexStream>,
}

pub(crate) struct Pending {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    out: mpsc::Sender<(StdStream, Bytes)>,
    input: Option<DuplexStream>,
}

/// Joins a session to a running shim; on failure the session just ends.
pub(crate) async fn connect(shim: &ShimClient, p: Pending) {
    let attach = match shim.attach(p.stdin, p.stdout, p.stderr).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("attach to shim: {e}");
            return;
        }
    };
    let mut output = attach.output;
    let out = p.out;
    tokio::spawn(async move {
        while let Some(chunk) = output.recv().await {
            if out.send(chunk).await.is_err() {
                break;
            }
        }
    });
    if let (Some(mut from_client), Some(mut to_ctr)) = (p.input, attach.input) {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut from_client, &mut to_ctr).await;
            let _ = to_ctr.shutdown().await;
        });
    }
}

impl Engine {
    pub async fn attach(&self, id_or_name: &str, opts: AttachOptions) -> Result<EngineAttach> {
        let c = self.get(id_or_name)?;
        let rec = c.record();
        let tty = rec.config.tty;
        self.emit_container(&c, "attach", &[]);
        let (out_tx, out_rx) = mpsc::channel(64);
        let want_stdin = opts.stdin && rec.config.open_stdin;
        let (client_in, engine_in) = if want_stdin {
            let (a, b) = tokio::io::duplex(64 * 1024);
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        if opts.logs {
            let entries = self
                .read_log_entries(
                    &c.id,
                    berth_model::api::LogsOptions {
                        stdout: opts.stdout,
                        stderr: opts.stderr,
                        ..Default::default()
                    },
                )
                .await?;
            for (s, b) in entries {
                let _ = out_tx.send((s, b)).await;
            }
        }
        if opts.stream {
            let p = Pending {
                stdin: want_stdin,
                stdout: opts.stdout,
                stderr: opts.stderr,
                out: out_tx,
                input: engine_in,
            };
            let shim = {
                let mut inner = c.lock();
                match inner.shim.clone() {
                    Some(s) => Some((s, p)),
                    None => {
                        inner.pending.push(p);
                        None
                    }
                }
            };
            if let Some((shim, p)) = shim {
                connect(&shim, p).await;
            }
        }
        Ok(EngineAttach {
            tty,
            output: out_rx,
            input: client_in,
        })
    }

    pub async fn resize(&self, id_or_name: &str, height: u16, width: u16) -> Result<()> {
        let c = self.get(id_or_name)?;
        match c.shim() {
            Some(s) => s
                .resize(height, width)
                .await
                .map_err(|e| berth_model::Error::new(e.kind(), e.to_string())),
            None => Err(berth_model::Error::conflict(format!(
                "Container {} is not running",
                c.id
            ))),
        }
    }
}
