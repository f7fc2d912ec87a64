//! `docker cp` inside a container's root: stat a path, tar a path out, extract a tar into a
//! directory.
//!
//! Unlike a layer, the root here is live and belongs to the container: any process in it
//! may plant symlinks (`/x -> /`, `../../..`) or swap a directory for a link while we work.
//! So every lookup is relative to the root's fd and resolves symlinks as if chrooted there
//! (see [`crate::resolve`]), files are opened with `O_NOFOLLOW`, and the tree is walked by
//! fd, never by host path (CVE-2018-15664, CVE-2019-14271). There are no whiteouts here:
//! `.wh.` names are ordinary names.

use crate::resolve::{own, Root};
use crate::ArchiveError;
use berth_model::ErrorKind;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Symlinks followed in one lookup, as the kernel's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

/// Why a copy failed. The caller words `NotFound` with the container's name, as dockerd.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no such file or directory: {0}")]
    NotFound(String),
    #[error("extraction point is not a directory")]
    NotADirectory,
    /// Input the copy refuses: entries leaving the destination, dir/non-dir overwrites.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl CopyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::NotADirectory | Self::Refused(_) => ErrorKind::InvalidArgument,
            Self::Archive(e) => e.kind(),
            Self::Io { .. } => ErrorKind::Internal,
        }
    }

    fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Self::Io {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// What `HEAD /containers/{id}/archive` reports (dockerd's `ContainerPathStat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// Go's `filepath.Base` of the requested path: `/` for the root, `.` for `dir/.`.
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits, not the kernel's `st_mode`.
    pub mode: u32,
    pub mtime_secs: i64,
    pub mtime_nanos: u32,
    /// For a symlink, where it leads with every link followed inside the root (absolute).
    pub link_target: String,
}

/// Go's `os.FileMode` type bits.
pub mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
}

/// `st_mode` as Go's `os.FileMode` (what `fillFileStatFromSys` does).
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match SFlag::from_bits_truncate(st_mode) & SFlag::S_IFMT {
        SFlag::S_IFDIR => m |= go_mode::DIR,
        SFlag::S_IFLNK => m |= go_mode::SYMLINK,
        SFlag::S_IFBLK => m |= go_mode::DEVICE,
        SFlag::S_IFCHR => m |= go_mode::DEVICE | go_mode::CHAR_DEVICE,
        SFlag::S_IFIFO => m |= go_mode::NAMED_PIPE,
        SFlag::S_IFSOCK => m |= go_mode::SOCKET,
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        m |= go_mode::SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= go_mode::SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= go_mode::STICKY;
    }
    m
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trailing {
    None,
    Slash,
    Dot,
}

/// A path in the container as dockerd reads it: absolute, cleaned lexically (`..` never
/// climbs above `/`), remembering a trailing `/` or `/.` (`cp ctr:/dir/. x` copies the
/// contents).
#[derive(Debug, Clone, PartialEq, Eq)]
struct CPath {
    comps: Vec<OsString>,
    trailing: Trailing,
}

impl CPath {
    fn parse(path: &str) -> Self {
        let mut comps: Vec<OsString> = Vec::new();
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    comps.pop();
                }
                c => comps.push(c.into()),
            }
        }
        let trailing = if path == "." || path.ends_with("/.") {
            Trailing::Dot
        } else if path.ends_with('/') && !comps.is_empty() {
            Trailing::Slash
        } else {
            Trailing::None
        };
        Self { comps, trailing }
    }

    /// Go's `filepath.Base` of the absolute path.
    fn base(&self) -> String {
        match (self.trailing, self.comps.last()) {
            (Trailing::Dot, _) => ".".into(),
            (_, None) => "/".into(),
            (_, Some(c)) => c.to_string_lossy().into_owned(),
        }
    }

    /// The directory to open and, unless the path names that directory itself (the root,
    /// `dir/`, `dir/.`), the entry in it. The entry itself is not followed if a symlink.
    fn split(&self) -> (&[OsString], Option<&OsString>) {
        match (self.trailing, self.comps.split_last()) {
            (Trailing::None, Some((leaf, dir))) => (dir, Some(leaf)),
            _ => (&self.comps, None),
        }
    }
}

fn join_abs(comps: &[OsString]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn errno_of(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

/// A container's root filesystem, opened once; every path below is resolved from its fd.
pub struct CopyRoot {
    root: Root,
}

/// A located source of `GET /archive`: its stat, and what to tar under which name.
pub struct Source {
    stat: PathStat,
    dir: OwnedFd,
    /// The entry in `dir`; `None` when the source is `dir` itself.
    leaf: Option<OsString>,
    /// The tar's top entry name (dockerd rebases it to the requested basename).
    rebase: String,
}

impl CopyRoot {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            root: Root::open(path)?,
        })
    }

    #[cfg(test)]
    fn without_openat2(self) -> Self {
        Self {
            root: self.root.without_openat2(),
        }
    }

    fn open_dir(&self, comps: &[OsString], path: &str) -> Result<OwnedFd, CopyError> {
        self.root
            .open_dir(comps, false)
            .map_err(|e| match errno_of(&e) {
                Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => {
                    CopyError::NotFound(path.into())
                }
                _ => CopyError::io(format!("open {path}"), e),
            })
    }

    /// `HEAD /containers/{id}/archive?path=`: lstat of the path (a final symlink is not
    /// followed, its fully resolved target is reported instead).
    pub fn stat(&self, path: &str) -> Result<PathStat, CopyError> {
        Ok(self.source(path)?.stat)
    }

    /// Finds what `GET /containers/{id}/archive?path=` sends; the tar is written later by
    /// [`Source::write_tar`] so the stat can go out as a header first.
    pub fn source(&self, path: &str) -> Result<Source, CopyError> {
        let p = CPath::parse(path);
        let (dir_comps, leaf) = p.split();
        let dir = self.open_dir(dir_comps, path)?;
        let (st, link_target) = match leaf {
            None => (
                fstat(dir.as_raw_fd()).map_err(|e| CopyError::io(format!("stat {path}"), e))?,
                String::new(),
            ),
            Some(name) => {
                let st = match fstatat(
                    Some(dir.as_raw_fd()),
                    name.as_os_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) => st,
                    Err(Errno::ENOENT | Errno::ENOTDIR) => {
                        return Err(CopyError::NotFound(path.into()))
                    }
                    Err(e) => return Err(CopyError::io(format!("stat {path}"), e)),
                };
                let target =
                    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
                        let resolved = self
                            .resolve_path(&p.comps)
                            .map_err(|e| CopyError::io(format!("resolve {path}"), e))?;
                        join_abs(&resolved)
                    } else {
                        String::new()
                    };
                (st, target)
            }
        };
        let stat = PathStat {
            name: p.base(),
            size: st.st_size,
            mode: go_file_mode(st.st_mode),
            mtime_secs: st.st_mtime,
            mtime_nanos: st.st_mtime_nsec as u32,
            link_target,
        };
        Ok(Source {
            rebase: stat.name.clone(),
            stat,
            dir,
            leaf: leaf.cloned(),
        })
    }

    /// `path` with every symlink followed inside the root (an absolute link is relative to
    /// the root, `..` stops at it), as Docker's `FollowSymlinkInScope`; a missing tail is
    /// kept as it is. Always absolute.
    pub fn resolve(&self, path: &str) -> io::Result<String> {
        Ok(join_abs(&self.resolve_path(&CPath::parse(path).comps)?))
    }

    /// The path `comps` leads to with every symlink followed inside the root, as Docker's
    /// `FollowSymlinkInScope`: a missing tail is appended as it is.
    pub(crate) fn resolve_path(&self, comps: &[OsString]) -> io::Result<Vec<OsString>> {
        let mut names: Vec<OsString> = Vec::new();
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut todo: VecDeque<OsString> = comps.iter().cloned().collect();
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            if c.is_empty() || c == "." {
                continue;
            }
            if c == ".." {
                names.pop();
                fds.pop();
                continue;
            }
            let cur = fds.last().map_or(self.root.fd(), |f| f.as_fd());
            let st = match fstatat(
                Some(cur.as_raw_fd()),
                c.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => st,
                Err(Errno::ENOENT) => {
                    // Not there (yet): the rest is taken lexically.
                    names.push(c);
                    for rest in todo {
                        if rest == ".." {
                            names.pop();
                        } else if !rest.is_empty() && rest != "." {
                            names.push(rest);
                        }
                    }
                    return Ok(names);
                }
                Err(e) => return Err(e.into()),
            };
            match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
                SFlag::S_IFLNK => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::ELOOP.into());
                    }
                    let target = readlinkat(Some(cur.as_raw_fd()), c.as_os_str())?;
                    if target.as_bytes().starts_with(b"/") {
                        names.clear();
                        fds.clear();
                    }
                    let parts: Vec<OsString> = target
                        .as_bytes()
                        .split(|b| *b == b'/')
                        .filter(|p| !p.is_empty())
                        .map(|p| OsStr::from_bytes(p).to_owned())
                        .collect();
                    for p in parts.into_iter().rev() {
                        todo.push_front(p);
                    }
                }
                SFlag::S_IFDIR => {
                    match openat(
                        Some(cur.as_raw_fd()),
                        c.as_os_str(),
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    ) {
                        Ok(fd) => {
                            fds.push(own(fd));
                            names.push(c);
                        }
                        // Swapped for a link meanwhile: look again (bounded like links).
                        Err(Errno::ELOOP | Errno::ENOTDIR) => {
                            links += 1;
                            if links > MAX_LINKS {
                                return Err(Errno::ELOOP.into());
                            }
                            todo.push_front(c);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                _ if todo.iter().all(|t| t.is_empty() || t == ".") => {
                    names.push(c);
                    return Ok(names);
                }
                _ => return Err(Errno::ENOTDIR.into()),
            }
        }
        Ok(names)
    }

    /// `PUT /containers/{id}/archive?path=DIR`: extracts the (possibly compressed) tar into
    /// `dir` (a final symlink is followed, inside the root). Entry paths are relative to
    /// `dir` and may not climb out of it; symlinks met on the way resolve inside the root.
    /// Returns the bytes of file content written.
    pub fn extract(
        &self,
        dir: &str,
        tar: impl Read,
        opts: ExtractOptions,
    ) -> Result<u64, CopyError> {
        let base = self.dest_dir(dir)?;
        extract::run(
            &self.root,
            base,
            join_abs(&CPath::parse(dir).comps),
            opts,
            tar,
        )
    }

    /// Checks that `dir` (a final symlink followed) is a directory to extract into, as
    /// [`CopyRoot::extract`] does first: callers that check more (a read-only rootfs) do
    /// it after this, in dockerd's order.
    pub fn check_dest(&self, dir: &str) -> Result<(), CopyError> {
        self.dest_dir(dir).map(drop)
    }

    fn dest_dir(&self, dir: &str) -> Result<Vec<OsString>, CopyError> {
        let p = CPath::parse(dir);
        let base = self
            .resolve_path(&p.comps)
            .map_err(|e| match errno_of(&e) {
                Some(libc::ENOTDIR) => CopyError::NotADirectory,
                Some(libc::ELOOP) => CopyError::NotFound(dir.into()),
                _ => CopyError::io(format!("resolve {dir}"), e),
            })?;
        match self.root.open_dir(&base, false) {
            Ok(_) => Ok(base),
            Err(e) if errno_of(&e) == Some(libc::ENOENT) => Err(CopyError::NotFound(dir.into())),
            Err(e) if errno_of(&e) == Some(libc::ENOTDIR) => Err(CopyError::NotADirectory),
            Err(e) => Err(CopyError::io(format!("open {dir}"), e)),
        }
    }

    /// The device the root's filesystem is on: tells a mounted rootfs from the empty
    /// directory under it.
    pub fn dev(&self) -> io::Result<u64> {
        Ok(fstat(self.root.fd().as_raw_fd())?.st_dev)
    }

    /// Reads a small regular file inside the root (`/etc/passwd`), `None` when missing.
    pub fn read_small_file(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, CopyError> {
        let p = CPath::parse(path);
        let Some((leaf, dir)) = p.comps.split_last() else {
            return Ok(None);
        };
        let dfd = match self.open_dir(dir, path) {
            Ok(fd) => fd,
            Err(CopyError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let fd = match openat(
            Some(dfd.as_raw_fd()),
            leaf.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => own(fd),
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(CopyError::io(format!("open {path}"), e)),
        };
        let st = fstat(fd.as_raw_fd()).map_err(|e| CopyError::io(format!("stat {path}"), e))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(CopyError::Refused(format!("{path} is not a regular file")));
        }
        let mut out = Vec::new();
        File::from(fd)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| CopyError::io(format!("read {path}"), e))?;
        Ok(Some(out))
    }
}

#[path = "copy_extract.rs"]
mod extract;
#[path = "copy_tar.rs"]
mod write;

pub use extract::ExtractOptions;

#[cfg(test)]
#[path = "copy_tests.rs"]
mod tests;
