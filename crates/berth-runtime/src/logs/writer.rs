//! The json-file log writer the shim feeds with container output.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_model::api::StdStream;
use chrono::{DateTime, Utc};

/// Docker's copier emits a line without its newline once this many bytes are buffered, so
/// one endless line cannot grow memory without bound.
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Writes Docker json-file lines, splitting output at newlines and rotating like
/// Docker's `max-size` / `max-file` options.
pub struct JsonLogWriter {
    path: PathBuf,
    max_size: Option<u64>,
    max_file: u32,
    file: File,
    size: u64,
    pending: [Vec<u8>; 2],
    /// The `"attrs":{...},` fragment every line carries, pre-encoded once.
    attrs: Vec<u8>,
}

impl JsonLogWriter {
    /// Appends to an existing log so a restarted container keeps its history.
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> io::Result<Self> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            max_size: max_size.filter(|s| *s > 0),
            max_file: max_file.max(1),
            file,
            size,
            pending: [Vec::new(), Vec::new()],
            attrs: Vec::new(),
        })
    }

    /// Adds Docker's `attrs` object (from `--log-opt labels/env/...`) to every line, which
    /// `logs --details` shows.
    pub fn with_attrs(mut self, attrs: &std::collections::BTreeMap<String, String>) -> Self {
        self.attrs.clear();
        if !attrs.is_empty() {
            self.attrs.extend_from_slice(b"\"attrs\":{");
            for (i, (k, v)) in attrs.iter().enumerate() {
                if i > 0 {
                    self.attrs.push(b',');
                }
                go_json_string(&mut self.attrs, k.as_bytes());
                self.attrs.push(b':');
                go_json_string(&mut self.attrs, v.as_bytes());
            }
            self.attrs.extend_from_slice(b"},");
        }
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Buffers `data` and writes every complete line (and every full 16 KiB chunk).
    pub fn write(&mut self, stream: StdStream, data: &[u8]) -> io::Result<()> {
        self.write_at(stream, data, Utc::now())
    }

    pub fn write_at(
        &mut self,
        stream: StdStream,
        data: &[u8],
        now: DateTime<Utc>,
    ) -> io::Result<()> {
        let idx = slot(stream);
        self.pending[idx].extend_from_slice(data);
        let mut start = 0;
        let buf = std::mem::take(&mut self.pending[idx]);
        let mut result = Ok(());
        loop {
            let rest = &buf[start..];
            let cut = match rest.iter().position(|b| *b == b'\n') {
                Some(nl) if nl < MAX_PARTIAL => nl + 1,
                _ if rest.len() >= MAX_PARTIAL => MAX_PARTIAL,
                _ => break,
            };
            if result.is_ok() {
                result = self.write_entry(stream, &rest[..cut], now);
            }
            start += cut;
        }
        self.pending[idx] = buf[start..].to_vec();
        result
    }

    /// Writes whatever partial lines are buffered (at EOF of the container output).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        let now = Utc::now();
        for stream in [StdStream::Stdout, StdStream::Stderr] {
            let buf = std::mem::take(&mut self.pending[slot(stream)]);
            if !buf.is_empty() {
                self.write_entry(stream, &buf, now)?;
            }
        }
        Ok(())
    }

    fn write_entry(
        &mut self,
        stream: StdStream,
        line: &[u8],
        now: DateTime<Utc>,
    ) -> io::Result<()> {
        if let Some(max) = self.max_size {
            if self.size >= max {
                self.rotate()?;
            }
        }
        let mut out = Vec::with_capacity(line.len() + 80);
        out.extend_from_slice(b"{\"log\":");
        go_json_string(&mut out, line);
        out.extend_from_slice(b",\"stream\":\"");
        out.extend_from_slice(stream.name().as_bytes());
        out.extend_from_slice(b"\",");
        out.extend_from_slice(&self.attrs);
        out.extend_from_slice(b"\"time\":\"");
        out.extend_from_slice(format_time(now).as_bytes());
        out.extend_from_slice(b"\"}\n");
        self.file.write_all(&out)?;
        self.size += out.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_file > 1 {
            let name = |n: u32| rotated_name(&self.path, n);
            let _ = fs::remove_file(name(self.max_file - 1));
            for n in (1..self.max_file - 1).rev() {
                match fs::rename(name(n), name(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.path, name(1))?;
            self.file = open_append(&self.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

fn slot(stream: StdStream) -> usize {
    match stream {
        StdStream::Stderr => 1,
        _ => 0,
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// `x-json.log.N`, Docker's name for the N-th older file.
pub fn rotated_name(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Go's `time.RFC3339Nano`: nanoseconds with trailing zeros trimmed, always UTC `Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Encodes like Go's `encoding/json` (HTML-safe escaping, invalid UTF-8 replaced), so the
/// file is byte-for-byte what Docker would have written.
pub fn go_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}
