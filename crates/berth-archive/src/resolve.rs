//! Opening directories inside a root without ever leaving it.
//!
//! Every lookup is relative to the root's fd and treats the root as `/`: absolute symlinks
//! and `..` in link targets stay inside, as they would in the container. The kernel does
//! this for us with openat2(RESOLVE_IN_ROOT); where that is missing (old kernels, seccomp)
//! or a directory must be created on the way, we walk one component at a time with
//! O_NOFOLLOW and resolve symlinks ourselves.

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Symlinks followed in one lookup before giving up, as the kernel's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_CLOEXEC);

pub(crate) fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass an fd just returned by a successful syscall; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub(crate) struct Root {
    fd: OwnedFd,
    use_openat2: bool,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = nix::fcntl::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Self {
            fd: own(fd),
            use_openat2: true,
        })
    }

    #[cfg(test)]
    pub fn without_openat2(mut self) -> Self {
        self.use_openat2 = false;
        self
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `comps` (already free of `..`) inside the root, creating
    /// missing directories (0755) when `create` is set.
    pub fn open_dir(&self, comps: &[OsString], create: bool) -> io::Result<OwnedFd> {
        if self.use_openat2 {
            let path = join(comps);
            let how = OpenHow::new()
                .flags(DIR_FLAGS)
                .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            match openat2(self.fd.as_raw_fd(), path.as_os_str(), how) {
                Ok(fd) => return Ok(own(fd)),
                // Missing parts are created by the walk; ENOSYS/EPERM mean no openat2 here
                // (old kernel or a seccomp filter); EAGAIN is a racing rename elsewhere.
                Err(Errno::ENOENT) if create => {}
                Err(Errno::ENOSYS | Errno::EPERM | Errno::EAGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.walk(comps, create)
    }

    fn walk(&self, comps: &[OsString], create: bool) -> io::Result<OwnedFd> {
        // The directories entered so far below the root; empty means "at the root".
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut todo: VecDeque<OsString> = comps.iter().cloned().collect();
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            if c.is_empty() || c == "." {
                continue;
            }
            if c == ".." {
                stack.pop();
                continue;
            }
            let cur = stack.last().map_or(self.fd.as_raw_fd(), |f| f.as_raw_fd());
            match openat(
                Some(cur),
                c.as_os_str(),
                DIR_FLAGS | OFlag::O_NOFOLLOW,
                Mode::empty(),
            ) {
                Ok(fd) => stack.push(own(fd)),
                Err(Errno::ELOOP | Errno::ENOTDIR) => {
                    let target = match readlinkat(Some(cur), c.as_os_str()) {
                        Ok(t) => t,
                        Err(Errno::EINVAL) => return Err(Errno::ENOTDIR.into()),
                        Err(e) => return Err(e.into()),
                    };
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::ELOOP.into());
                    }
                    if target.as_bytes().starts_with(b"/") {
                        stack.clear();
                    }
                    let parts: Vec<OsString> = split(target.as_bytes()).collect();
                    for p in parts.into_iter().rev() {
                        todo.push_front(p);
                    }
                }
                Err(Errno::ENOENT) if create => {
                    match mkdirat(Some(cur), c.as_os_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => todo.push_front(c),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        match stack.pop() {
            Some(fd) => Ok(fd),
            None => Ok(self.fd.try_clone()?),
        }
    }
}

fn split(bytes: &[u8]) -> impl Iterator<Item = OsString> + '_ {
    bytes
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| OsStr::from_bytes(c).to_owned())
}

fn join(comps: &[OsString]) -> OsString {
    let mut out = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push("/");
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn comps(s: &str) -> Vec<OsString> {
        split(s.as_bytes()).collect()
    }

    #[test]
    fn absolute_and_dotdot_links_stay_inside() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("abs")).unwrap();
        symlink("../../../../..", root.path().join("up")).unwrap();
        for r in [
            Root::open(root.path()).unwrap(),
            Root::open(root.path()).unwrap().without_openat2(),
        ] {
            // Both links resolve to the root itself, never to `outside`.
            let fd = r.open_dir(&comps("up/abs/made"), true).unwrap();
            drop(fd);
            assert!(!outside.path().join("made").exists());
            assert!(root
                .path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("made")
                .is_dir());
            std::fs::remove_dir_all(
                root.path().join(
                    outside
                        .path()
                        .strip_prefix("/")
                        .unwrap()
                        .components()
                        .next()
                        .unwrap(),
                ),
            )
            .unwrap();
        }
    }

    #[test]
    fn symlink_loops_fail() {
        let root = tempfile::tempdir().unwrap();
        symlink("b", root.path().join("a")).unwrap();
        symlink("a", root.path().join("b")).unwrap();
        let r = Root::open(root.path()).unwrap().without_openat2();
        assert_eq!(
            r.open_dir(&comps("a"), true).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
    }
}
