//! `berth cp` (also `berth container cp`): files between a container and the local
//! filesystem, with the docker CLI's client-side rules (`splitCpArg`, `CopyInfo`,
//! `PrepareArchiveCopy`, the rename of what is copied) and its messages.
//!
//! Locally, too, paths are read and written by fd through `berth_archive::copy`: a tar from
//! a container is hostile input, so it is extracted with every entry kept inside the
//! destination directory and symlinks resolved inside it.

use crate::client::{empty, query, seg, streaming, Client};
use crate::errors::StatusError;
use crate::format::human_size;
use crate::opts::go_clean;
use berth_archive::copy::{go_mode, CopyRoot, ExtractOptions};
use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde::Deserialize;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// docker prints these bare, exit status 1.
fn fail(msg: impl Into<String>) -> anyhow::Error {
    StatusError {
        code: 1,
        message: Some(msg.into()),
    }
    .into()
}

/// Go's wording of a failed syscall on a path: `lstat /x: no such file or directory`.
fn go_err(op: &str, path: &str, e: &io::Error) -> anyhow::Error {
    let text = match e.raw_os_error() {
        Some(code) => {
            let d = nix::errno::Errno::from_raw(code).desc();
            let mut c = d.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => String::new(),
            }
        }
        None => e.to_string(),
    };
    fail(format!("{op} {path}: {text}"))
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless the argument is an absolute path or an
/// explicit relative one (`./a:b`).
pub fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') && !c.is_empty() => (Some(c), p),
        Some(("", p)) => (None, p),
        _ => (None, arg),
    }
}

/// Go's `filepath.Base`.
fn go_base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `filepath.Dir`.
fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => go_clean(&path[..=i]),
        None => ".".into(),
    }
}

fn go_join(a: &str, b: &str) -> String {
    go_clean(&format!("{a}/{b}"))
}

fn specifies_current_dir(path: &str) -> bool {
    go_base(path) == "."
}

fn has_trailing_sep(path: &str) -> bool {
    path.ends_with('/')
}

/// docker's `SplitPathDirEntry`.
pub fn split_path_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = go_clean(path);
    if specifies_current_dir(path) {
        cleaned.push_str("/.");
    }
    (go_dir(&cleaned), go_base(&cleaned))
}

/// docker's `PreserveTrailingDotOrSeparator`.
fn preserve_trailing(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_string();
    if !specifies_current_dir(&out) && specifies_current_dir(original) {
        if !has_trailing_sep(&out) {
            out.push('/');
        }
        out.push('.');
    }
    if !has_trailing_sep(&out) && has_trailing_sep(original) {
        out.push('/');
    }
    out
}

/// docker's `resolveLocalPath`: absolute, keeping a trailing `/` or `/.`.
fn resolve_local_path(path: &str) -> anyhow::Result<String> {
    let abs = if path.starts_with('/') {
        go_clean(path)
    } else {
        let cwd = std::env::current_dir().map_err(|e| fail(format!("getwd: {e}")))?;
        go_join(&cwd.to_string_lossy(), path)
    };
    Ok(preserve_trailing(&abs, path))
}

/// docker's `GetRebaseName`.
fn get_rebase_name(path: &str, resolved: &str) -> (String, Option<String>) {
    let mut resolved = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    }
    if has_trailing_sep(path) && !has_trailing_sep(&resolved) {
        resolved.push('/');
    }
    let rebase = (go_base(path) != go_base(&resolved)).then(|| go_base(path));
    (resolved, rebase)
}

/// docker's `ValidateOutputPathFileMode` on Go `FileMode` bits.
fn validate_file_mode(mode: u32) -> Result<(), &'static str> {
    if mode & go_mode::DEVICE != 0 {
        return Err("got a device");
    }
    if mode & (1 << 19) != 0 {
        return Err("got an irregular file");
    }
    Ok(())
}

/// docker's `ValidateOutputPath` for a local destination.
fn validate_output_path(path: &str) -> anyhow::Result<()> {
    let dir = go_dir(&go_clean(path));
    if dir != "." && !Path::new(&dir).exists() {
        return Err(fail(format!(
            "invalid output path: directory {dir:?} does not exist"
        )));
    }
    if let Ok(m) = std::fs::metadata(path) {
        let ft = m.file_type();
        if !ft.is_dir() && !ft.is_file() {
            use std::os::unix::fs::FileTypeExt;
            let why = if ft.is_block_device() || ft.is_char_device() {
                "got a device"
            } else {
                "got an irregular file"
            };
            return Err(fail(format!(
                "invalid output path: {path:?} must be a directory or a regular file: {why}"
            )));
        }
    }
    Ok(())
}

/// docker's `archive.CopyInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyInfo {
    pub path: String,
    pub exists: bool,
    pub is_dir: bool,
    pub rebase_name: Option<String>,
}

/// A rename of the archive's top entry: `(old, new)` base names.
pub type Rename = (String, String);

/// docker's `PrepareArchiveCopy`: the directory to extract into, and the rename of the
/// archive's top entry (`(old, new)` base names) that makes the copy land as asked.
pub fn prepare_archive_copy(
    src: &CopyInfo,
    dst: &CopyInfo,
) -> Result<(String, Option<Rename>), &'static str> {
    let (dst_dir, dst_base) = split_path_dir_entry(&dst.path);
    let (_, mut src_base) = split_path_dir_entry(&src.path);
    if let Some(r) = &src.rebase_name {
        src_base = r.clone();
    }
    if dst.exists && dst.is_dir {
        return Ok((dst.path.clone(), None));
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory");
    }
    if !dst.exists && !src.is_dir && has_trailing_sep(&dst.path) {
        return Err("no such directory");
    }
    Ok((dst_dir, Some((src_base, dst_base))))
}

/// docker's `CopyInfoDestinationPath` for a local destination: symlinks at the end are
/// followed (the copy writes their target); a missing one needs its parent to exist.
fn copy_info_destination_path(path: &str) -> anyhow::Result<CopyInfo> {
    let mut path = path.to_string();
    let mut n = 0;
    loop {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                n += 1;
                if n > 10 {
                    return Err(fail(format!("too many symlinks in {path}")));
                }
                let target = std::fs::read_link(&path)
                    .map_err(|e| go_err("readlink", &path, &e))?
                    .to_string_lossy()
                    .into_owned();
                path = if target.starts_with('/') {
                    target
                } else {
                    go_join(&split_path_dir_entry(&path).0, &target)
                };
            }
            Ok(m) => {
                return Ok(CopyInfo {
                    path,
                    exists: true,
                    is_dir: m.is_dir(),
                    rebase_name: None,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = split_path_dir_entry(&path).0;
                let m = std::fs::metadata(&parent).map_err(|e| go_err("stat", &parent, &e))?;
                if !m.is_dir() {
                    return Err(fail("not a directory"));
                }
                return Ok(CopyInfo {
                    path,
                    ..Default::default()
                });
            }
            Err(e) => return Err(go_err("lstat", &path, &e)),
        }
    }
}

/// docker's `CopyInfoSourcePath` for a local source.
fn copy_info_source_path(path: &str, follow_link: bool) -> anyhow::Result<CopyInfo> {
    let (resolved, rebase_name) = if follow_link {
        let real = std::fs::canonicalize(path).map_err(|e| go_err("lstat", path, &e))?;
        get_rebase_name(path, &real.to_string_lossy())
    } else {
        let (dir, base) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("", path),
        };
        let dir = if dir.is_empty() { "." } else { dir };
        let real = std::fs::canonicalize(dir).map_err(|e| go_err("lstat", dir, &e))?;
        let real = real.to_string_lossy();
        // Go joins by hand: `/` + `/x` reads `//x` in its messages, as docker's do.
        let resolved = format!("{real}/{base}");
        let rebase =
            (has_trailing_sep(path) && go_base(path) != go_base(&resolved)).then(|| go_base(path));
        (resolved, rebase)
    };
    let m = std::fs::symlink_metadata(&resolved).map_err(|e| go_err("lstat", &resolved, &e))?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: m.is_dir(),
        rebase_name,
    })
}

/// The daemon's `ContainerPathStat`.
#[derive(Debug, Clone, Deserialize)]
pub struct PathStat {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub mode: u32,
    #[serde(default, rename = "linkTarget")]
    pub link_target: String,
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let take = chunk.len().saturating_sub(1);
        for i in 0..take {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

fn parse_stat_header(h: Option<&hyper::header::HeaderValue>) -> anyhow::Result<PathStat> {
    let raw = h
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| fail("unable to get resource stat from response"))?;
    let json = decode_base64(raw).ok_or_else(|| fail("unable to decode container path stat"))?;
    serde_json::from_slice(&json)
        .map_err(|e| fail(format!("unable to decode container path stat: {e}")))
}

async fn stat_path(client: &Client, container: &str, path: &str) -> anyhow::Result<PathStat> {
    let resp = client
        .send(
            Method::HEAD,
            &format!(
                "/containers/{}/archive{}",
                seg(container),
                query(&[("path", path.to_string())])
            ),
            None,
            empty(),
        )
        .await?;
    parse_stat_header(resp.headers().get("x-docker-container-path-stat"))
}

/// A blocking `Read` over chunks arriving from the async side.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// A blocking `Write` that hands chunks to the async side (the request body).
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "daemon went away"))
    }
}

pub async fn cp(client: &Client, a: CpArgs) -> anyhow::Result<i32> {
    if a.src.is_empty() {
        return Err(fail("source can not be empty"));
    }
    if a.dest.is_empty() {
        return Err(fail("destination can not be empty"));
    }
    // docker: progress only when the output is a terminal.
    let quiet = a.quiet || !io::stdout().is_terminal();
    match (split_cp_arg(&a.src), split_cp_arg(&a.dest)) {
        ((Some(c), src), (None, dst)) => from_container(client, &a, c, src, dst, quiet).await,
        ((None, src), (Some(c), dst)) => to_container(client, &a, c, src, dst, quiet).await,
        ((Some(_), _), (Some(_), _)) => Err(fail("copying between containers is not supported")),
        _ => Err(fail("must specify at least one container source")),
    }
}

async fn from_container(
    client: &Client,
    a: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
    quiet: bool,
) -> anyhow::Result<i32> {
    let dst = if dst == "-" {
        dst.to_string()
    } else {
        resolve_local_path(dst)?
    };
    validate_output_path(&dst)?;
    let mut src = src.to_string();
    let mut rebase = None;
    if a.follow_link {
        if let Ok(st) = stat_path(client, container, &src).await {
            if st.mode & go_mode::SYMLINK != 0 {
                let mut target = st.link_target;
                if !target.starts_with('/') {
                    target = go_join(&split_path_dir_entry(&src).0, &target);
                }
                let (p, r) = get_rebase_name(&src, &target);
                src = p;
                rebase = r;
            }
        }
    }
    let resp = client
        .send(
            Method::GET,
            &format!(
                "/containers/{}/archive{}",
                seg(container),
                query(&[("path", src.clone())])
            ),
            None,
            empty(),
        )
        .await?;
    let stat = parse_stat_header(resp.headers().get("x-docker-container-path-stat"))?;
    let mut body = resp.into_body();
    if dst == "-" {
        let mut out = io::stdout().lock();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                out.write_all(&data)?;
            }
        }
        out.flush()?;
        return Ok(0);
    }
    let src_info = CopyInfo {
        path: src.clone(),
        exists: true,
        is_dir: stat.mode & go_mode::DIR != 0,
        rebase_name: rebase.clone(),
    };
    let dst_info = copy_info_destination_path(&dst)?;
    let (dst_dir, rename) = prepare_archive_copy(&src_info, &dst_info).map_err(fail)?;
    // The daemon named the top entry after the requested path; docker's two renames
    // (link rebase, then destination) compose into one from that name.
    let (_, mut daemon_base) = split_path_dir_entry(&src);
    if daemon_base == "/" {
        daemon_base = String::new();
    }
    let rename = match (rename, rebase) {
        (Some((_, new)), _) => Some((daemon_base, new)),
        (None, Some(r)) => Some((daemon_base, r)),
        (None, None) => None,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let extract = tokio::task::spawn_blocking(move || {
        let root = CopyRoot::open(Path::new(&dst_dir))
            .map_err(|e| fail(format!("open {dst_dir}: {e}")))?;
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            chown: Some((uid, gid)),
            rename: rename.map(|(o, n)| (o.into_bytes(), n.into_bytes())),
        };
        let reader = ChannelReader {
            rx,
            cur: Bytes::new(),
        };
        root.extract("/", reader, opts)
            .map(drop)
            .map_err(|e| fail(e.to_string()))
    });
    let mut copied = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            copied += data.len() as u64;
            if tx.send(data).await.is_err() {
                // The extraction stopped: its error is reported below.
                break;
            }
        }
    }
    drop(tx);
    extract
        .await
        .map_err(|e| fail(format!("extraction task failed: {e}")))??;
    if !quiet {
        eprintln!(
            "Successfully copied {} to {dst}",
            human_size(copied as f64, 3)
        );
    }
    Ok(0)
}

async fn to_container(
    client: &Client,
    a: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
    quiet: bool,
) -> anyhow::Result<i32> {
    let src = if src == "-" {
        src.to_string()
    } else {
        resolve_local_path(src)?
    };
    let mut dst_info = CopyInfo {
        path: dst.to_string(),
        ..Default::default()
    };
    let mut st = stat_path(client, container, dst).await;
    if let Ok(s) = &st {
        if s.mode & go_mode::SYMLINK != 0 {
            let mut target = s.link_target.clone();
            if !target.starts_with('/') {
                target = go_join(&split_path_dir_entry(dst).0, &target);
            }
            dst_info.path = target.clone();
            st = stat_path(client, container, &target).await;
        }
    }
    if let Ok(s) = &st {
        if let Err(why) = validate_file_mode(s.mode) {
            return Err(fail(format!(
                "destination \"{container}:{dst}\" must be a directory or a regular file: {why}"
            )));
        }
        dst_info.exists = true;
        dst_info.is_dir = s.mode & go_mode::DIR != 0;
    }
    let copied = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let (resolved_dst, producer) = if src == "-" {
        if !dst_info.is_dir {
            return Err(fail(format!(
                "destination \"{container}:{dst}\" must be a directory"
            )));
        }
        let task = tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx
                            .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        break;
                    }
                }
            }
        });
        (dst_info.path.clone(), task)
    } else {
        let src_info = copy_info_source_path(&src, a.follow_link)?;
        let (dst_dir, rename) = prepare_archive_copy(&src_info, &dst_info).map_err(fail)?;
        let top = match (&rename, &src_info.rebase_name) {
            (Some((_, new)), _) => Some(new.clone()),
            (None, Some(r)) => Some(r.clone()),
            (None, None) => None,
        };
        let root = CopyRoot::open(Path::new("/")).map_err(|e| fail(format!("open /: {e}")))?;
        let mut source = root
            .source(&src_info.path)
            .map_err(|e| fail(format!("lstat {}: {e}", src_info.path)))?;
        if let Some(name) = top {
            source = source.renamed(name);
        }
        let task = tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::new(),
            };
            if let Err(e) = source.write_tar(&mut w).and_then(|w| w.flush()) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        (dst_dir, task)
    };
    let counter = copied.clone();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let counter = counter.clone();
        async move {
            let item = rx.recv().await?;
            if let Ok(b) = &item {
                counter.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            Some((item, rx))
        }
    });
    let mut q = vec![
        ("noOverwriteDirNonDir", "true".to_string()),
        ("path", resolved_dst),
    ];
    if a.archive {
        q.push(("copyUIDGID", "true".to_string()));
    }
    let res = client
        .send(
            Method::PUT,
            &format!("/containers/{}/archive{}", seg(container), query(&q)),
            Some("text/plain"),
            streaming(stream),
        )
        .await;
    producer.abort();
    let resp = res?;
    resp.into_body().collect().await?;
    if !quiet {
        eprintln!(
            "Successfully copied {} to {container}:{}",
            human_size(copied.load(Ordering::Relaxed) as f64, 3),
            dst_info.path
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_args_split_like_docker() {
        assert_eq!(split_cp_arg("c1:/tmp/x"), (Some("c1"), "/tmp/x"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
        assert_eq!(split_cp_arg(":/x"), (None, "/x"));
    }

    #[test]
    fn go_path_helpers() {
        assert_eq!(go_clean("/a/../b/./c/"), "/b/c");
        assert_eq!(go_clean("a/../../b"), "../b");
        assert_eq!(go_clean(""), ".");
        assert_eq!(go_base("/a/b/"), "b");
        assert_eq!(go_base("/"), "/");
        assert_eq!(go_dir("/a/b"), "/a");
        assert_eq!(go_dir("b"), ".");
        assert_eq!(split_path_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_path_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(preserve_trailing("/x/d", "d/."), "/x/d/.");
        assert_eq!(preserve_trailing("/x/d", "d/"), "/x/d/");
        assert_eq!(
            get_rebase_name("/l/", "/target"),
            ("/target/".into(), Some("l".into()))
        );
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
    }

    #[test]
    fn prepare_archive_copy_cases() {
        let file = |p: &str| CopyInfo {
            path: p.into(),
            exists: true,
            ..Default::default()
        };
        let dir = |p: &str| CopyInfo {
            path: p.into(),
            exists: true,
            is_dir: true,
            ..Default::default()
        };
        let missing = |p: &str| CopyInfo {
            path: p.into(),
            ..Default::default()
        };
        assert_eq!(
            prepare_archive_copy(&file("/s/f"), &dir("/d")).unwrap(),
            ("/d".into(), None)
        );
        assert_eq!(
            prepare_archive_copy(&dir("/s/d"), &file("/d/x")),
            Err("cannot copy directory")
        );
        assert_eq!(
            prepare_archive_copy(&file("/s/f"), &missing("/d/new/")),
            Err("no such directory")
        );
        assert_eq!(
            prepare_archive_copy(&dir("/s/d/."), &missing("/d/new")).unwrap(),
            ("/d".into(), Some((".".into(), "new".into())))
        );
        assert_eq!(
            prepare_archive_copy(&file("/s/f"), &file("/d/g")).unwrap(),
            ("/d".into(), Some(("f".into(), "g".into())))
        );
    }
}
