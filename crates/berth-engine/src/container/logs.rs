//! `logs`: read the json-file log the shim writes; follow it until the container exits.

use crate::Engine;
use berth_model::api::{LogEntry, LogsOptions, StdStream};
use berth_model::{Error, Result};
use bytes::Bytes;
use std::collections::BTreeMap;
use tokio::sync::mpsc;

pub struct EngineLogs {
    pub tty: bool,
    pub output: mpsc::Receiver<(StdStream, Bytes)>,
}

/// Shapes a line as dockerd's log writer does: `[time ][attrs ]line`, the attributes as
/// sorted, query-escaped `k=v` pairs joined by commas (and an empty prefix when none).
fn chunk(e: LogEntry, opts: &LogsOptions) -> (StdStream, Bytes) {
    let stream = if e.stream == "stderr" {
        StdStream::Stderr
    } else {
        StdStream::Stdout
    };
    let mut out = String::new();
    if opts.timestamps {
        out.push_str(&fixed_nanos(&e.time));
        out.push(' ');
    }
    if opts.details {
        let attrs = e.attrs.unwrap_or_default();
        let pairs: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        out.push_str(&pairs.join(","));
        out.push(' ');
    }
    out.push_str(&e.log);
    (stream, Bytes::from(out))
}

/// Docker prints log timestamps with exactly nine fractional digits
/// (`RFC3339NanoFixed`), while the file keeps Go's trimmed form.
fn fixed_nanos(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.9fZ")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The attributes json-file records on every line (Docker's `ExtraAttributes`): the
/// container labels named by `labels` or matching `labels-regex`, and the env values named
/// by `env` or matching `env-regex`.
pub(crate) fn log_attrs(
    labels: &BTreeMap<String, String>,
    env: &[String],
    opts: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let list = |key: &str| -> Vec<String> {
        opts.get(key)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let regex = |key: &str| -> Result<Option<regex::Regex>> {
        match opts.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => regex::Regex::new(v)
                .map(Some)
                .map_err(|e| Error::invalid(format!("invalid log-opt {key}={v}: {e}"))),
        }
    };
    for l in list("labels") {
        if let Some(v) = labels.get(&l) {
            out.insert(l, v.clone());
        }
    }
    if let Some(re) = regex("labels-regex")? {
        for (k, v) in labels {
            if re.is_match(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
    for l in list("env") {
        if let Some(v) = env.get(l.as_str()) {
            out.insert(l, v.to_string());
        }
    }
    if let Some(re) = regex("env-regex")? {
        for (k, v) in &env {
            if re.is_match(k) {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(out)
}

impl Engine {
    pub(crate) async fn read_log_entries(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> Result<Vec<(StdStream, Bytes)>> {
        let path = self.log_path(id);
        let o = opts.clone();
        let entries =
            tokio::task::spawn_blocking(move || berth_runtime::logs::read_logs(&path, &o))
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
        let entries = match entries {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::internal(format!("read logs of {id}: {e}"))),
        };
        Ok(entries.into_iter().map(|e| chunk(e, &opts)).collect())
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
        if opts.follow && c.is_running() {
            let mut events = c.events.subscribe();
            let done = async move {
                let _ = events.wait_for(|e| !e.running).await;
            };
            let mut stream =
                berth_runtime::logs::follow_logs(self.log_path(&c.id), opts.clone(), done);
            tokio::spawn(async move {
                while let Some(e) = stream.recv().await {
                    if tx.send(chunk(e, &opts)).await.is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: Option<BTreeMap<String, String>>) -> LogEntry {
        LogEntry {
            log: "hi\n".into(),
            stream: "stdout".into(),
            attrs,
            time: "2024-01-02T03:04:05.1Z".into(),
        }
    }

    #[test]
    fn details_and_timestamps_prefix_like_dockerd() {
        let mut opts = LogsOptions {
            details: true,
            ..Default::default()
        };
        assert_eq!(chunk(entry(None), &opts).1, " hi\n");
        let attrs: BTreeMap<String, String> = [
            ("team".to_string(), "a b".to_string()),
            ("env".into(), "x=1".into()),
        ]
        .into();
        assert_eq!(
            chunk(entry(Some(attrs)), &opts).1,
            "env=x%3D1,team=a+b hi\n"
        );
        opts.timestamps = true;
        opts.details = false;
        assert_eq!(
            chunk(entry(None), &opts).1,
            "2024-01-02T03:04:05.100000000Z hi\n"
        );
    }

    #[test]
    fn attrs_from_labels_and_env_options() {
        let labels: BTreeMap<String, String> = [
            ("team".to_string(), "a".to_string()),
            ("com.x.tier".into(), "web".into()),
            ("other".into(), "o".into()),
        ]
        .into();
        let env = vec!["FOO=1".to_string(), "BAR_X=2".into(), "BAZ=3".into()];
        let opts: BTreeMap<String, String> = [
            ("labels".to_string(), "team,missing".to_string()),
            ("labels-regex".into(), "^com\\.x\\.".into()),
            ("env".into(), "FOO".into()),
            ("env-regex".into(), "^BAR".into()),
        ]
        .into();
        let got = log_attrs(&labels, &env, &opts).unwrap();
        let want: BTreeMap<String, String> = [
            ("team".to_string(), "a".to_string()),
            ("com.x.tier".into(), "web".into()),
            ("FOO".into(), "1".into()),
            ("BAR_X".into(), "2".into()),
        ]
        .into();
        assert_eq!(got, want);
        let bad: BTreeMap<String, String> = [("env-regex".to_string(), "(".to_string())].into();
        let e = log_attrs(&labels, &env, &bad).unwrap_err();
        assert!(e.to_string().contains("env-regex"), "{e}");
    }
}
