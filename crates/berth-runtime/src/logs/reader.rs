//! Reading json-file logs back for `docker logs`, including `--follow`.

use std::fs::{self, File};
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_model::api::{LogEntry, LogsOptions};
use tokio::sync::mpsc;

use super::writer::rotated_name;

const FOLLOW_POLL: Duration = Duration::from_millis(75);

/// Every entry selected by `opts`, oldest first, across rotated files.
pub fn read_logs(path: &Path, opts: &LogsOptions) -> io::Result<Vec<LogEntry>> {
    Ok(read_initial(path, opts)?.0)
}

/// Streams what [`read_logs`] returns, then lines as they are appended, until `done`
/// resolves (the container stopped); what was written before that is still delivered.
pub fn follow_logs(
    path: PathBuf,
    opts: LogsOptions,
    done: impl Future<Output = ()> + Send + 'static,
) -> mpsc::Receiver<LogEntry> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut done = Box::pin(done);
        let p = path.clone();
        let o = opts.clone();
        let Ok(Ok((initial, mut tail))) =
            tokio::task::spawn_blocking(move || read_initial(&p, &o)).await
        else {
            return;
        };
        for e in initial {
            if tx.send(e).await.is_err() {
                return;
            }
        }
        let filter = Filter::new(&opts);
        let mut finished = false;
        loop {
            tokio::select! {
                _ = &mut done, if !finished => finished = true,
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = tx.closed() => return,
            }
            let entries = match tail.poll(&path) {
                Ok(e) => e,
                Err(_) => return,
            };
            for e in entries {
                match filter.check(&e) {
                    Verdict::Keep => {
                        if tx.send(e).await.is_err() {
                            return;
                        }
                    }
                    Verdict::Skip => {}
                    Verdict::Stop => return,
                }
            }
            if finished {
                return;
            }
        }
    });
    rx
}

enum Verdict {
    Keep,
    Skip,
    Stop,
}

struct Filter {
    stdout: bool,
    stderr: bool,
    since: Option<f64>,
    until: Option<f64>,
}

impl Filter {
    fn new(opts: &LogsOptions) -> Self {
        let bound = |v: f64| (v > 0.0).then_some(v);
        Self {
            stdout: opts.stdout,
            stderr: opts.stderr,
            since: bound(opts.since),
            until: bound(opts.until),
        }
    }

    fn check(&self, e: &LogEntry) -> Verdict {
        let wanted = match e.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => false,
        };
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = entry_time(e) else {
                return Verdict::Skip;
            };
            if self.until.is_some_and(|u| t > u) {
                return Verdict::Stop;
            }
            if self.since.is_some_and(|s| t < s) {
                return Verdict::Skip;
            }
        }
        if wanted {
            Verdict::Keep
        } else {
            Verdict::Skip
        }
    }
}

fn entry_time(e: &LogEntry) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(&e.time).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

/// Rotated files oldest first (`x.log.3`, `x.log.2`, `x.log.1`), without the live file.
fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut found: Vec<u32> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix)?.parse::<u32>().ok()
        })
        .collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    found.into_iter().map(|n| rotated_name(path, n)).collect()
}

fn parse_lines(data: &[u8], out: &mut Vec<LogEntry>) {
    for line in data.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        if let Ok(e) = serde_json::from_slice::<LogEntry>(line) {
            out.push(e);
        }
    }
}

fn read_initial(path: &Path, opts: &LogsOptions) -> io::Result<(Vec<LogEntry>, Tail)> {
    let mut raw = Vec::new();
    for f in rotated_files(path) {
        match fs::read(&f) {
            Ok(data) => parse_lines(&data, &mut raw),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut tail = Tail {
        file: None,
        ino: 0,
        offset: 0,
    };
    raw.extend(tail.poll(path)?);
    if let Some(n) = opts.tail {
        let skip = raw.len().saturating_sub(n);
        raw.drain(..skip);
    }
    let filter = Filter::new(opts);
    let mut out = Vec::with_capacity(raw.len());
    for e in raw {
        match filter.check(&e) {
            Verdict::Keep => out.push(e),
            Verdict::Skip => {}
            Verdict::Stop => break,
        }
    }
    Ok((out, tail))
}

/// Position in the live log file; notices rotation by inode and truncation by size.
struct Tail {
    file: Option<File>,
    ino: u64,
    offset: u64,
}

impl Tail {
    fn poll(&mut self, path: &Path) -> io::Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        if self.file.is_some() {
            self.read_more(&mut out)?;
        }
        match fs::metadata(path) {
            Ok(md) => {
                let replaced = self.file.is_none() || md.ino() != self.ino;
                if replaced {
                    match File::open(path) {
                        Ok(f) => {
                            self.ino = f.metadata()?.ino();
                            self.file = Some(f);
                            self.offset = 0;
                            self.read_more(&mut out)?;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                } else if md.len() < self.offset {
                    self.offset = 0;
                    self.read_more(&mut out)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(out)
    }

    fn read_more(&mut self, out: &mut Vec<LogEntry>) -> io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.seek(SeekFrom::Start(self.offset))?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        let Some(last_nl) = data.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        let complete = &data[..=last_nl];
        self.offset += complete.len() as u64;
        parse_lines(complete, out);
        Ok(())
    }
}
