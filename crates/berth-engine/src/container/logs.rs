//! `logs`: read the json-file log the shim writes; follow it until the container exits.

use crate::Engine;
use berth_model::api::{LogEntry, LogsOptions, StdStream};
use berth_model::{Error, Result};
use bytes::Bytes;
use tokio::sync::mpsc;

pub struct EngineLogs {
    pub tty: bool,
    pub output: mpsc::Receiver<(StdStream, Bytes)>,
}

fn chunk(e: LogEntry, timestamps: bool) -> (StdStream, Bytes) {
    let stream = if e.stream == "stderr" {
        StdStream::Stderr
    } else {
        StdStream::Stdout
    };
    let bytes = if timestamps {
        format!("{} {}", e.time, e.log)
    } else {
        e.log
    };
    (stream, Bytes::from(bytes))
}

impl Engine {
    pub(crate) async fn read_log_entries(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> Result<Vec<(StdStream, Bytes)>> {
        let path = self.log_path(id);
        let timestamps = opts.timestamps;
        let entries =
            tokio::task::spawn_blocking(move || berth_runtime::logs::read_logs(&path, &opts))
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
        let entries = match entries {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::internal(format!("read logs of {id}: {e}"))),
        };
        Ok(entries.into_iter().map(|e| chunk(e, timestamps)).collect())
    }

    pub async fn logs(&self, id_or_name: &str, opts: LogsOptions) -> Result<EngineLogs> {
        let c = self.get(id_or_name)?;
        if !opts.stdout && !opts.stderr {
            return Err(Error::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let tty = c.record().config.tty;
        let (tx, rx) = mpsc::channel(256);
        let timestamps = opts.timestamps;
        if opts.follow && c.is_running() {
            let mut events = c.events.subscribe();
            let done = async move {
                let _ = events.wait_for(|e| !e.running).await;
            };
            let mut stream = berth_runtime::logs::follow_logs(self.log_path(&c.id), opts, done);
            tokio::spawn(async move {
                while let Some(e) = stream.recv().await {
                    if tx.send(chunk(e, timestamps)).await.is_err() {
                        break;
                    }
                }
            });
        } else {
            let entries = self.read_log_entries(&c.id, opts).await?;
            tokio::spawn(async move {
                for e in entries {
                    if tx.send(e).await.is_err() {
                        break;
                    }
                }
            });
        }
        Ok(EngineLogs { tty, output: rx })
    }
}
