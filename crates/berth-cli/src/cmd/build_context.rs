//! The build context of `berth build`: which directory and Dockerfile the docker CLI's
//! legacy builder would send, and the tar it streams (`.dockerignore` applied, owners
//! zeroed, a Dockerfile from outside the context or from stdin added under a random name).

use berth_dockerfile::ignore::{read_dockerignore, Matcher, Walk};
use bytes::Bytes;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A local directory context, resolved as `build.GetContextFromLocalDir` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalContext {
    pub dir: PathBuf,
    /// The Dockerfile relative to `dir` (`/`-separated; starts with `../` when outside).
    pub rel_dockerfile: String,
}

impl LocalContext {
    pub fn dockerfile_outside(&self) -> bool {
        self.rel_dockerfile.starts_with("../")
    }
}

/// Go's `filepath.Rel` for two cleaned absolute paths.
fn rel_path(base: &Path, target: &Path) -> String {
    let b: Vec<_> = base.components().collect();
    let t: Vec<_> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); b.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().to_string()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    Ok(PathBuf::from(crate::opts::go_clean(
        &joined.to_string_lossy(),
    )))
}

/// `getDockerfileRelPath`: a `-f` given relative is relative to the working directory,
/// not to the context; symlinks are resolved on both so the relation is the real one.
/// Errors carry docker's wording, without the `unable to prepare context: ` prefix.
pub fn resolve_local(context: &Path, dockerfile: Option<&str>) -> anyhow::Result<LocalContext> {
    let abs_ctx = absolute(context)?;
    let abs_ctx = std::fs::canonicalize(&abs_ctx).map_err(|e| {
        anyhow::anyhow!(
            "unable to evaluate symlinks in context path: lstat {}: {}",
            abs_ctx.display(),
            io_text(&e)
        )
    })?;
    let meta = std::fs::symlink_metadata(&abs_ctx).map_err(|e| {
        anyhow::anyhow!(
            "unable to stat context directory {:?}: {}",
            abs_ctx.display().to_string(),
            io_text(&e)
        )
    })?;
    if !meta.is_dir() {
        anyhow::bail!("context must be a directory: {}", abs_ctx.display());
    }
    if dockerfile == Some("-") {
        // The Dockerfile comes from stdin: the context need not have one.
        return Ok(LocalContext {
            rel_dockerfile: "Dockerfile".into(),
            dir: abs_ctx,
        });
    }
    let abs_df = match dockerfile.filter(|d| !d.is_empty()) {
        Some(d) => absolute(Path::new(d))?,
        None => {
            let p = abs_ctx.join("Dockerfile");
            let alt = abs_ctx.join("dockerfile");
            if std::fs::symlink_metadata(&p).is_err() && std::fs::symlink_metadata(&alt).is_ok() {
                alt
            } else {
                p
            }
        }
    };
    let abs_df = std::fs::canonicalize(&abs_df).map_err(|e| {
        anyhow::anyhow!(
            "unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
            abs_df.display(),
            io_text(&e)
        )
    })?;
    Ok(LocalContext {
        rel_dockerfile: rel_path(&abs_ctx, &abs_df),
        dir: abs_ctx,
    })
}

/// Go's text for the common errnos (`no such file or directory`), without Rust's suffix.
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

/// The `.dockerignore` matcher for a context, with `TrimBuildFilesFromExcludes` applied:
/// the Dockerfile and `.dockerignore` itself are always sent, whatever the patterns say.
pub fn context_matcher(
    dir: &Path,
    rel_dockerfile: &str,
    dockerfile_from_stdin: bool,
) -> anyhow::Result<Matcher> {
    let mut patterns = match std::fs::read(dir.join(".dockerignore")) {
        Ok(data) => read_dockerignore(&data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => anyhow::bail!("error reading .dockerignore: {}", io_text(&e)),
    };
    let compile =
        |p: &[String]| Matcher::new(p).map_err(|e| anyhow::anyhow!("error checking context: {e}"));
    if compile(&patterns)?.excluded(".dockerignore") {
        patterns.push("!.dockerignore".into());
    }
    if !dockerfile_from_stdin && compile(&patterns)?.excluded(rel_dockerfile) {
        patterns.push(format!("!{rel_dockerfile}"));
    }
    compile(&patterns)
}

/// A Dockerfile that is not part of the context directory (`-f -`, or outside the
/// context): `AddDockerfileToBuildContext` adds it under a random name and lists that name
/// in `.dockerignore` so a `COPY .` does not pick it up.
#[derive(Debug, Clone)]
pub struct ExtraDockerfile {
    pub name: String,
    pub content: Vec<u8>,
}

impl ExtraDockerfile {
    pub fn new(content: Vec<u8>) -> anyhow::Result<Self> {
        let mut rnd = [0u8; 10];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut rnd)?;
        let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            name: format!(".dockerfile.{hex}"),
            content,
        })
    }
}

/// Buffers tar output and hands it on in chunks, so the context streams instead of
/// being held in memory.
pub struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChunkWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(data))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload aborted"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

fn base_header(meta: &std::fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

fn ctx_err(path: &Path, what: &str, e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        // `ValidateContextDirectory`'s wording.
        return std::io::Error::new(
            e.kind(),
            format!("no permission to read from '{}'", path.display()),
        );
    }
    std::io::Error::new(
        e.kind(),
        format!("{what} {}: {}", path.display(), io_text(&e)),
    )
}

struct TarWalk<'a, W: Write> {
    root: &'a Path,
    matcher: &'a Matcher,
    tar: tar::Builder<W>,
    /// First path seen per (dev, inode) of multiply linked files: later ones become links.
    links: HashMap<(u64, u64), String>,
    extra: Option<&'a ExtraDockerfile>,
    saw_dockerignore: bool,
}

impl<W: Write> TarWalk<'_, W> {
    fn walk_dir(&mut self, dir: &Path, rel: &str) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| ctx_err(dir, "open", e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| ctx_err(dir, "readdir", e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().to_string();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| ctx_err(&path, "lstat", e))?;
            match self.matcher.walk(&rel, meta.is_dir()) {
                Walk::Include => {
                    self.add(&path, &rel, &meta)?;
                    if meta.is_dir() {
                        self.walk_dir(&path, &rel)?;
                    }
                }
                Walk::ExcludeButDescend => self.walk_dir(&path, &rel)?,
                Walk::Exclude => {}
            }
        }
        Ok(())
    }

    fn add(&mut self, path: &Path, rel: &str, meta: &std::fs::Metadata) -> std::io::Result<()> {
        let mut h = base_header(meta);
        let ft = meta.file_type();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            let name = format!("{rel}/");
            if name.len() <= 100 {
                // Go's writer keeps the trailing slash of directories; the tar crate's
                // path setter would drop it.
                h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                self.tar.append(&h, std::io::empty())
            } else {
                self.tar.append_data(&mut h, rel, std::io::empty())
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| ctx_err(path, "readlink", e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            self.tar.append_link(&mut h, rel, target)
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    let first = first.clone();
                    return self.tar.append_link(&mut h, rel, first);
                }
                self.links.insert(key, rel.to_string());
            }
            h.set_entry_type(tar::EntryType::Regular);
            if rel == ".dockerignore" {
                if let Some(extra) = self.extra {
                    self.saw_dockerignore = true;
                    let mut content = std::fs::read(path).map_err(|e| ctx_err(path, "open", e))?;
                    content.extend_from_slice(format!("\n{}\n", extra.name).as_bytes());
                    h.set_size(content.len() as u64);
                    return self.tar.append_data(&mut h, rel, content.as_slice());
                }
            }
            let file = std::fs::File::open(path).map_err(|e| ctx_err(path, "open", e))?;
            h.set_size(meta.len());
            // A file that changes size while being sent must not corrupt the stream.
            self.tar.append_data(&mut h, rel, file.take(meta.len()))
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_fifo() {
                tar::EntryType::Fifo
            } else if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            if !ft.is_fifo() {
                h.set_device_major(dev_major(meta.rdev()))?;
                h.set_device_minor(dev_minor(meta.rdev()))?;
            }
            self.tar.append_data(&mut h, rel, std::io::empty())
        } else {
            // Sockets: docker's archive skips them too.
            Ok(())
        }
    }

    fn finish(mut self) -> std::io::Result<W> {
        if let Some(extra) = self.extra {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let mut add = |name: &str, data: &[u8]| {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(now);
                h.set_size(data.len() as u64);
                self.tar.append_data(&mut h, name, data)
            };
            add(&extra.name, &extra.content)?;
            if !self.saw_dockerignore {
                add(
                    ".dockerignore",
                    format!(".dockerignore\n{}\n", extra.name).as_bytes(),
                )?;
            }
        }
        self.tar.into_inner()
    }
}

/// Writes the context of `dir` as a tar to `out` (docker's `TarWithOptions` with the
/// excludes and owner 0:0), then the extra Dockerfile if there is one.
pub fn write_context<W: Write>(
    dir: &Path,
    matcher: &Matcher,
    extra: Option<&ExtraDockerfile>,
    out: W,
) -> std::io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut walk = TarWalk {
        root: dir,
        matcher,
        tar,
        links: HashMap::new(),
        extra,
        saw_dockerignore: false,
    };
    let root = walk.root.to_path_buf();
    walk.walk_dir(&root, "")?;
    let mut out = walk.finish()?;
    out.flush()?;
    Ok(out)
}

/// A tar holding only `Dockerfile`: what `GetContextFromReader` makes of a bare
/// Dockerfile piped in as the context.
pub fn dockerfile_tar(content: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h.set_size(content.len() as u64);
    tar.append_data(&mut h, "Dockerfile", content)?;
    tar.into_inner()
}

/// docker's `IsArchive` on the first bytes of stdin: a compressed stream, or a tar header
/// with a valid checksum.
pub fn is_archive(head: &[u8]) -> bool {
    const MAGIC: [&[u8]; 4] = [
        b"BZh",
        &[0x1f, 0x8b, 0x08],
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    if head.len() < 512 || head[..512].iter().all(|&b| b == 0) {
        return false;
    }
    let field = &head[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let Ok(want) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = head[..512]
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entries(tar: &[u8]) -> Vec<(String, tar::Header, Vec<u8>)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8_lossy(&e.path_bytes()).to_string();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, h, data)
            })
            .collect()
    }

    fn names(tar: &[u8]) -> Vec<String> {
        entries(tar).into_iter().map(|e| e.0).collect()
    }

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (p, data) in files {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
    }

    fn build(dir: &Path, rel_df: &str, extra: Option<&ExtraDockerfile>) -> Vec<u8> {
        let m = context_matcher(dir, rel_df, false).unwrap();
        write_context(dir, &m, extra, Vec::new()).unwrap()
    }

    #[test]
    fn entries_are_relative_sorted_root_owned_and_keep_modes() {
        let d = tempfile::tempdir().unwrap();
        tree(
            d.path(),
            &[("Dockerfile", "FROM x\n"), ("b/z", "z"), ("a.sh", "#!")],
        );
        std::fs::set_permissions(d.path().join("a.sh"), PermissionsExt::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("../nowhere", d.path().join("b/link")).unwrap();
        let tar = build(d.path(), "Dockerfile", None);
        let es = entries(&tar);
        let got: Vec<&str> = es.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(got, ["Dockerfile", "a.sh", "b/", "b/link", "b/z"]);
        for (_, h, _) in &es {
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert!(h.mtime().unwrap() > 0);
        }
        assert_eq!(es[1].1.mode().unwrap(), 0o755);
        assert_eq!(es[2].1.entry_type(), tar::EntryType::Directory);
        assert_eq!(es[3].1.entry_type(), tar::EntryType::Symlink);
        assert_eq!(
            es[3].1.link_name().unwrap().unwrap().to_str(),
            Some("../nowhere")
        );
        assert_eq!(es[0].2, b"FROM x\n");
    }

    #[test]
    fn dockerignore_with_exceptions_keeps_build_files() {
        let d = tempfile::tempdir().unwrap();
        tree(
            d.path(),
            &[
                ("Dockerfile", "FROM x\n"),
                (".dockerignore", "*\n!keep/yes.txt\n"),
                ("keep/yes.txt", "y"),
                ("keep/no.txt", "n"),
                ("other/x", "x"),
                ("top.txt", "t"),
            ],
        );
        // `*` excludes everything; the build files come back, the exception re-includes
        // one file from an excluded directory without the directory entry itself.
        assert_eq!(
            names(&build(d.path(), "Dockerfile", None)),
            [".dockerignore", "Dockerfile", "keep/yes.txt"]
        );
        std::fs::write(
            d.path().join(".dockerignore"),
            "**/*.txt\n!top.txt\nother\n",
        )
        .unwrap();
        assert_eq!(
            names(&build(d.path(), "Dockerfile", None)),
            [".dockerignore", "Dockerfile", "keep/", "top.txt"]
        );
    }

    #[test]
    fn dockerfile_outside_context_is_added_under_random_name() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path(), &[("ctx/a", "a"), ("df/Dockerfile.x", "FROM y\n")]);
        let ctx = resolve_local(
            &d.path().join("ctx"),
            Some(d.path().join("df/Dockerfile.x").to_str().unwrap()),
        )
        .unwrap();
        assert!(ctx.dockerfile_outside());
        assert_eq!(ctx.rel_dockerfile, "../df/Dockerfile.x");
        let extra = ExtraDockerfile::new(b"FROM y\n".to_vec()).unwrap();
        assert!(extra.name.starts_with(".dockerfile."));
        assert_eq!(extra.name.len(), ".dockerfile.".len() + 20);
        let es = entries(&build(&ctx.dir, &ctx.rel_dockerfile, Some(&extra)));
        let got: Vec<&str> = es.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(got, ["a", extra.name.as_str(), ".dockerignore"]);
        assert_eq!(es[1].2, b"FROM y\n");
        assert_eq!(es[1].1.mode().unwrap(), 0o600);
        assert_eq!(
            String::from_utf8_lossy(&es[2].2),
            format!(".dockerignore\n{}\n", extra.name)
        );
        // An existing .dockerignore gets the name appended in place.
        std::fs::write(ctx.dir.join(".dockerignore"), "a").unwrap();
        let es = entries(&build(&ctx.dir, &ctx.rel_dockerfile, Some(&extra)));
        assert_eq!(es[0].0, ".dockerignore");
        assert_eq!(
            String::from_utf8_lossy(&es[0].2),
            format!("a\n{}\n", extra.name)
        );
        assert_eq!(es.len(), 2);
    }

    #[test]
    fn resolve_errors_and_defaults() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve_local(&d.path().join("nope"), None).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unable to evaluate symlinks in context path: lstat "));
        let e = resolve_local(d.path(), None).unwrap_err().to_string();
        assert!(
            e.starts_with("unable to evaluate symlinks in Dockerfile path: lstat ")
                && e.ends_with("/Dockerfile: no such file or directory"),
            "{e}"
        );
        tree(d.path(), &[("dockerfile", "FROM x")]);
        let c = resolve_local(d.path(), None).unwrap();
        assert_eq!(c.rel_dockerfile, "dockerfile");
        assert!(!c.dockerfile_outside());
        tree(d.path(), &[("sub/Dockerfile.dev", "FROM x")]);
        let c = resolve_local(
            d.path(),
            Some(d.path().join("sub/Dockerfile.dev").to_str().unwrap()),
        )
        .unwrap();
        assert_eq!(c.rel_dockerfile, "sub/Dockerfile.dev");
    }

    #[test]
    fn archive_detection() {
        assert!(is_archive(&[0x1f, 0x8b, 0x08, 0]));
        assert!(is_archive(b"BZh91AY"));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
        let t = dockerfile_tar(b"FROM x\n").unwrap();
        assert!(is_archive(&t));
        assert_eq!(names(&t), ["Dockerfile"]);
        assert!(!is_archive(&[0u8; 1024]));
    }

    #[test]
    fn chunk_writer_streams_in_pieces() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut w = ChunkWriter::new(tx);
        for _ in 0..3 {
            w.write_all(&vec![7u8; CHUNK / 2]).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        let mut total = 0;
        let mut n = 0;
        while let Ok(c) = rx.try_recv() {
            total += c.unwrap().len();
            n += 1;
        }
        assert_eq!((total, n), (CHUNK / 2 * 3, 2));
    }
}
