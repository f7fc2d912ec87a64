//! The build context: the body of `POST /build` (a tar, gzip- or zstd-compressed or plain, or
//! a bare Dockerfile) extracted into an empty directory, `.dockerignore` applied.
//!
//! Extraction goes through `berth_archive::apply_layer_with`, which resolves every entry by
//! file descriptor inside the root (no `..`, no absolute paths, no writes through symlinks).
//! Afterwards the tree is walked without following symlinks and every path the
//! `.dockerignore` excludes is removed. As in dockerd's legacy builder the Dockerfile is read
//! first, so an excluded Dockerfile (or `.dockerignore`) is still used but is not part of
//! the context seen by COPY/ADD.

use crate::BuildError;
use berth_archive::{ApplyOptions, ArchiveError};
use berth_dockerfile::{Matcher, Walk};
use berth_model::ErrorKind;
use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

/// Name used for the Dockerfile when none is given, and for a bare Dockerfile on stdin.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// An extracted build context.
#[derive(Debug)]
pub struct Context {
    /// The directory holding the context (what COPY/ADD read from).
    pub root: PathBuf,
    /// The Dockerfile's path inside the context, cleaned (`/`-separated, relative).
    pub dockerfile_path: String,
    /// The Dockerfile's bytes, read before `.dockerignore` was applied.
    pub dockerfile: Vec<u8>,
    /// The `.dockerignore` patterns (empty when there is none).
    pub ignore: Matcher,
}

/// Extracts `body` into the existing, empty directory `dir`. `dockerfile` is the `-f` /
/// `dockerfile=` path inside the context (default `Dockerfile`, falling back to
/// `dockerfile` as Docker does).
pub fn extract_context(
    body: impl Read,
    dir: &Path,
    dockerfile: Option<&str>,
) -> Result<Context, BuildError> {
    let mut reader = berth_archive::decompress(body)
        .map_err(|e| BuildError::Context(format!("reading compressed stream: {e}")))?;
    let mut head = Vec::with_capacity(512);
    (&mut reader)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| BuildError::Context(format!("reading context: {e}")))?;
    if !looks_like_tar(&head) {
        // A bare Dockerfile: the context holds only that file.
        let mut content = head;
        reader
            .read_to_end(&mut content)
            .map_err(|e| BuildError::Context(format!("reading Dockerfile from stdin: {e}")))?;
        let path = dir.join(DEFAULT_DOCKERFILE);
        fs::write(&path, &content)
            .map_err(|e| BuildError::io(format!("write {}", path.display()), e))?;
        return Ok(Context {
            root: dir.to_path_buf(),
            dockerfile_path: DEFAULT_DOCKERFILE.to_string(),
            dockerfile: content,
            ignore: Matcher::default(),
        });
    }
    let stream = TarTrailer::new(Cursor::new(head).chain(reader));
    berth_archive::apply_layer_with(stream, dir, ApplyOptions { base_layer: true }).map_err(
        |e| match e.kind() {
            ErrorKind::InvalidArgument => BuildError::Context(e.to_string()),
            _ => match e {
                ArchiveError::Io { context, source } => BuildError::Io { context, source },
                other => BuildError::Context(other.to_string()),
            },
        },
    )?;

    let ignore = match read_regular(dir, ".dockerignore")? {
        Some(bytes) => {
            Matcher::from_dockerignore(&bytes).map_err(|e| BuildError::Ignore(e.to_string()))?
        }
        None => Matcher::default(),
    };
    let (dockerfile_path, content) = find_dockerfile(dir, dockerfile)?;
    if !ignore.patterns().is_empty() {
        prune(dir, "", &ignore)?;
    }
    Ok(Context {
        root: dir.to_path_buf(),
        dockerfile_path,
        dockerfile: content,
        ignore,
    })
}

/// Whether `head` starts with a valid tar header (checksum verified), or is an all-zero
/// end-of-archive block (an empty context).
pub(crate) fn looks_like_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if head.iter().all(|&b| b == 0) {
        return true;
    }
    let field = &head[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| b as char)
        .collect();
    let text = text.trim_start();
    let Ok(want) = u32::from_str_radix(text, 8) else {
        return false;
    };
    let sum: u32 = head
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    sum == want
}

/// Reads `dir/rel` if every component is a real directory and the last a regular file.
/// `Ok(None)` when missing (or not a regular file).
fn read_regular(dir: &Path, rel: &str) -> Result<Option<Vec<u8>>, BuildError> {
    let mut path = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BuildError::io(format!("stat {rel}"), e)),
        };
        let last = i + 1 == parts.len();
        if (last && !meta.is_file()) || (!last && !meta.is_dir()) {
            return Ok(None);
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    fs::read(&path)
        .map(Some)
        .map_err(|e| BuildError::io(format!("read {rel}"), e))
}

/// Cleans a context-relative path; `None` when it leaves the context.
pub(crate) fn clean_rel(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p),
        }
    }
    Some(out.join("/"))
}

fn find_dockerfile(dir: &Path, name: Option<&str>) -> Result<(String, Vec<u8>), BuildError> {
    let given = name.filter(|n| !n.is_empty());
    let wanted = given.unwrap_or(DEFAULT_DOCKERFILE);
    let rel = clean_rel(wanted).filter(|r| !r.is_empty()).ok_or_else(|| {
        BuildError::Context(format!(
            "the Dockerfile ({wanted}) must be within the build context"
        ))
    })?;
    if let Some(content) = read_regular(dir, &rel)? {
        return Ok((rel, content));
    }
    if given.is_none() {
        if let Some(content) = read_regular(dir, "dockerfile")? {
            return Ok(("dockerfile".to_string(), content));
        }
    }
    Err(BuildError::NotFound(format!(
        "Cannot locate specified Dockerfile: {wanted}"
    )))
}

/// Removes what `ignore` excludes under `dir/rel`, never following symlinks.
fn prune(dir: &Path, rel: &str, ignore: &Matcher) -> Result<(), BuildError> {
    let here = if rel.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    };
    let entries = fs::read_dir(&here).map_err(|e| BuildError::io(format!("read {rel}/"), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| BuildError::io(format!("read {rel}/"), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(BuildError::Context(format!(
                "file name is not UTF-8: {:?}",
                entry.path().strip_prefix(dir).unwrap_or(&entry.path())
            )));
        };
        let child = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry
            .file_type()
            .map_err(|e| BuildError::io(format!("stat {child}"), e))?;
        let is_dir = ft.is_dir();
        match ignore.walk(&child, is_dir) {
            Walk::Include => {
                if is_dir {
                    prune(dir, &child, ignore)?;
                }
            }
            Walk::ExcludeButDescend => prune(dir, &child, ignore)?,
            Walk::Exclude => {
                let path = entry.path();
                let res = if is_dir {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                res.map_err(|e| BuildError::io(format!("remove {child}"), e))?;
            }
        }
    }
    Ok(())
}

/// Completes a tar that ends cleanly after an entry's data but without the padding to the
/// block and the end-of-archive blocks, as the docker CLI sends for `-f -`: Go's reader
/// takes that as the end, the tar crate as an error. Anything cut inside a header or an
/// entry's data still ends early, so truncation is still reported.
struct TarTrailer<R> {
    inner: R,
    /// Bytes of the current header read so far (0..512), when in a header.
    in_header: usize,
    header: [u8; 512],
    /// Data bytes of the current entry still to come, then its padding.
    data_left: u64,
    pad_left: u64,
    /// Zeros to hand out after the inner reader's EOF.
    fill: Option<u64>,
}

impl<R: Read> TarTrailer<R> {
    fn new(inner: R) -> Self {
        TarTrailer {
            inner,
            in_header: 0,
            header: [0; 512],
            data_left: 0,
            pad_left: 0,
            fill: None,
        }
    }

    /// Follows the framing over bytes that went by.
    fn track(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            if self.data_left > 0 {
                let n = (self.data_left.min(buf.len() as u64)) as usize;
                self.data_left -= n as u64;
                buf = &buf[n..];
            } else if self.pad_left > 0 {
                let n = (self.pad_left.min(buf.len() as u64)) as usize;
                self.pad_left -= n as u64;
                buf = &buf[n..];
            } else {
                let n = (512 - self.in_header).min(buf.len());
                self.header[self.in_header..self.in_header + n].copy_from_slice(&buf[..n]);
                self.in_header += n;
                buf = &buf[n..];
                if self.in_header == 512 {
                    self.in_header = 0;
                    let size = entry_size(&self.header);
                    self.data_left = size;
                    self.pad_left = (512 - size % 512) % 512;
                }
            }
        }
    }
}

/// The data size a header announces (octal or base-256); 0 for a zero block.
fn entry_size(h: &[u8; 512]) -> u64 {
    let field = &h[124..136];
    if field[0] & 0x80 != 0 {
        return field[1..]
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b));
    }
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| b as char)
        .collect();
    u64::from_str_radix(text.trim(), 8).unwrap_or(0)
}

impl<R: Read> Read for TarTrailer<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.fill.as_mut() {
            let n = (*left).min(buf.len() as u64) as usize;
            buf[..n].fill(0);
            *left -= n as u64;
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.track(&buf[..n]);
            return Ok(n);
        }
        // EOF: only at a clean point (between entries, or in the padding after data).
        if self.in_header == 0 && self.data_left == 0 {
            self.fill = Some(self.pad_left + 1024);
            self.pad_left = 0;
            return self.read(buf);
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            if name.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, &[][..]).unwrap();
            } else {
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, *data).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    fn exists(root: &Path, rel: &str) -> bool {
        fs::symlink_metadata(root.join(rel)).is_ok()
    }

    #[test]
    fn plain_tar_with_dockerignore() {
        let t = tempfile::tempdir().unwrap();
        let body = tar_of(&[
            ("Dockerfile", b"FROM scratch\n"),
            (".dockerignore", b"*.log\nbuild\n!build/keep\nDockerfile\n"),
            ("a.log", b"x"),
            ("src/", b""),
            ("src/main.rs", b"fn main(){}"),
            ("src/b.log", b"kept: pattern is not **"),
            ("build/", b""),
            ("build/out", b"x"),
            ("build/keep", b"y"),
        ]);
        let ctx = extract_context(&body[..], t.path(), None).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM scratch\n");
        assert_eq!(ctx.dockerfile_path, "Dockerfile");
        let r = t.path();
        assert!(!exists(r, "a.log"));
        assert!(exists(r, "src/main.rs"));
        assert!(exists(r, "src/b.log"));
        assert!(!exists(r, "build/out"));
        assert!(exists(r, "build/keep"));
        // Excluded Dockerfile: read, then removed from the context as dockerd does.
        assert!(!exists(r, "Dockerfile"));
        assert!(exists(r, ".dockerignore"));
    }

    #[test]
    fn gzip_context_and_custom_dockerfile() {
        let t = tempfile::tempdir().unwrap();
        let body = tar_of(&[("d/", b""), ("d/Build.df", b"FROM busybox\n")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&body).unwrap();
        let gz = gz.finish().unwrap();
        let ctx = extract_context(&gz[..], t.path(), Some("./d/Build.df")).unwrap();
        assert_eq!(ctx.dockerfile_path, "d/Build.df");
        assert_eq!(ctx.dockerfile, b"FROM busybox\n");
    }

    #[test]
    fn zstd_context() {
        let t = tempfile::tempdir().unwrap();
        let body = tar_of(&[("Dockerfile", b"FROM z\n"), ("f", b"1")]);
        let z = zstd::encode_all(&body[..], 3).unwrap();
        let ctx = extract_context(&z[..], t.path(), None).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM z\n");
        assert_eq!(fs::read(t.path().join("f")).unwrap(), b"1");
    }

    #[test]
    fn lowercase_dockerfile_fallback_and_missing() {
        let t = tempfile::tempdir().unwrap();
        let body = tar_of(&[("dockerfile", b"FROM a\n")]);
        let ctx = extract_context(&body[..], t.path(), None).unwrap();
        assert_eq!(ctx.dockerfile_path, "dockerfile");
        let t = tempfile::tempdir().unwrap();
        let body = tar_of(&[("x", b"1")]);
        let err = extract_context(&body[..], t.path(), Some("nope")).unwrap_err();
        assert_eq!(err.to_string(), "Cannot locate specified Dockerfile: nope");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let t = tempfile::tempdir().unwrap();
        let err = extract_context(&body[..], t.path(), Some("../x")).unwrap_err();
        assert!(err.to_string().contains("../x"), "{err}");
    }

    #[test]
    fn bare_dockerfile_on_stdin() {
        let t = tempfile::tempdir().unwrap();
        let ctx = extract_context(&b"FROM busybox\nRUN true\n"[..], t.path(), None).unwrap();
        assert_eq!(ctx.dockerfile_path, "Dockerfile");
        assert_eq!(
            fs::read(t.path().join("Dockerfile")).unwrap(),
            b"FROM busybox\nRUN true\n"
        );
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    fn escaping_entries_are_refused_by_name() {
        for bad in ["../evil", "/abs/../../evil"] {
            let t = tempfile::tempdir().unwrap();
            let mut raw = tar_of(&[("Dockerfile", b"FROM a\n"), ("placeholder", b"z")]);
            // Rewrite the second entry's name in place (tar::Builder refuses `..`).
            let off = 1024;
            raw[off..off + 100].fill(0);
            raw[off..off + bad.len()].copy_from_slice(bad.as_bytes());
            let mut h = tar::Header::from_byte_slice(&raw[off..off + 512]).clone();
            h.set_cksum();
            raw[off..off + 512].copy_from_slice(h.as_bytes());
            let err = extract_context(&raw[..], t.path(), None).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}: {err}");
            assert!(err.to_string().contains("evil"), "{bad}: {err}");
            assert!(!t.path().parent().unwrap().join("evil").exists());
        }
    }

    #[test]
    fn symlink_escape_write_refused() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "link", outside.path()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "link/pwned", &b"x"[..]).unwrap();
        let raw = b.into_inner().unwrap();
        // Either refused or resolved inside the root; never written outside. (No
        // Dockerfile here, so success is not possible either way.)
        let res = extract_context(&raw[..], t.path(), None);
        assert!(!outside.path().join("pwned").exists());
        assert!(res.is_err());
    }

    #[test]
    fn truncated_tar_is_an_error_not_a_panic() {
        let t = tempfile::tempdir().unwrap();
        let raw = tar_of(&[("Dockerfile", b"FROM a\n"), ("big", &[7u8; 4000])]);
        let err = extract_context(&raw[..1800], t.path(), None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }

    /// The docker CLI's `-f -` context stops right after the last entry's data.
    #[test]
    fn tar_without_padding_or_trailer_is_accepted() {
        let t = tempfile::tempdir().unwrap();
        let raw = tar_of(&[
            ("Dockerfile", b"FROM a\n"),
            ("x", b"47 bytes of data, not a multiple of the block"),
        ]);
        // Two headers and the first entry's padded data, then the second's data alone.
        let cut = 512 + 512 + 512 + 45;
        let ctx = extract_context(&raw[..cut], t.path(), None).unwrap();
        assert_eq!(ctx.dockerfile, b"FROM a\n");
        assert_eq!(fs::read(t.path().join("x")).unwrap().len(), 45);
        // Cut inside the data: still an error.
        let t2 = tempfile::tempdir().unwrap();
        assert!(extract_context(&raw[..cut - 10], t2.path(), None).is_err());
    }

    #[test]
    fn bad_dockerignore_pattern() {
        let t = tempfile::tempdir().unwrap();
        let raw = tar_of(&[("Dockerfile", b"FROM a\n"), (".dockerignore", b"!\n")]);
        let err = extract_context(&raw[..], t.path(), None).unwrap_err();
        assert!(err.to_string().contains("invalid .dockerignore"), "{err}");
    }
}
