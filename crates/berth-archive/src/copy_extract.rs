//! The writing side of `docker cp` (`PUT /archive`): a tar extracted into a directory of
//! the root. Entries may not climb out of the destination; every parent is opened inside
//! the root, so symlinks met on the way (planted by the container or by the tar itself)
//! resolve as in the container and never reach the host.

use super::{errno_of, CopyError};
use crate::apply::{copy_data, drain, entry_name as show};
use crate::fsutil::{fsetxattr, lstat_at, remove_all_at};
use crate::resolve::{own, Root};
use crate::ArchiveError;
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use tar::EntryType;

/// Extracts `tar` (possibly compressed) into `base` (resolved inside `root`); `dest` is the
/// destination as the client named it, for messages. Returns the bytes of content written.
pub(super) fn run(
    root: &Root,
    base: Vec<OsString>,
    dest: String,
    opts: ExtractOptions,
    tar: impl Read,
) -> Result<u64, CopyError> {
    let tar = crate::decompress(tar).map_err(|e| ArchiveError::read("reading tar", e))?;
    let mut x = Extract {
        root,
        base,
        dest,
        opts,
        size: 0,
        dir_times: Vec::new(),
        is_root: nix::unistd::geteuid().is_root(),
    };
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|e| ArchiveError::read("reading tar", e))?;
    let mut last = String::from("start of stream");
    for entry in entries {
        let entry = entry.map_err(|e| ArchiveError::read(format!("after entry {last}"), e))?;
        let mut name = entry.path_bytes().into_owned();
        if let Some((old, new)) = &x.opts.rename {
            name = replace_first(&name, old, new);
        }
        last = format!("{:?}", String::from_utf8_lossy(&name));
        x.entry(entry, &name)?;
    }
    x.finish_dir_times()?;
    Ok(x.size)
}

/// How `PUT /archive` extracts.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory or the reverse (the docker CLI
    /// always asks for this).
    pub no_overwrite_dir_non_dir: bool,
    /// Owner for everything extracted; `None` keeps the tar's uid/gid.
    pub chown: Option<(u32, u32)>,
    /// Docker's `RebaseArchiveEntries`: the first occurrence of `.0` in entry names (and
    /// hard link targets) becomes `.1`, as the docker CLI renames what it copies.
    pub rename: Option<(Vec<u8>, Vec<u8>)>,
}

/// Go's `strings.Replace(s, old, new, 1)`.
pub(super) fn replace_first(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let at = if old.is_empty() {
        Some(0)
    } else {
        s.windows(old.len()).position(|w| w == old)
    };
    match at {
        Some(i) => [&s[..i], new, &s[i + old.len()..]].concat(),
        None => s.to_vec(),
    }
}

struct Extract<'r> {
    root: &'r Root,
    /// The destination directory, resolved inside the root.
    base: Vec<OsString>,
    /// The destination as the client named it, for messages.
    dest: String,
    opts: ExtractOptions,
    size: u64,
    dir_times: Vec<(Vec<OsString>, TimeSpec)>,
    is_root: bool,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Go's `filepath.Clean` of an entry name relative to the destination; `None` when it
/// climbs out (`../x`, `a/../../x`). A leading `/` is relative to the destination too.
fn clean_rel(name: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(OsStr::from_bytes(c).to_owned()),
        }
    }
    Some(out)
}

fn entry_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<Meta, ArchiveError> {
    let bad = |e: io::Error| ArchiveError::Corrupt(format!("entry {:?}: {e}", show(name)));
    let h = entry.header();
    let old = h.as_old();
    let num = |r: io::Result<u64>, raw: &[u8]| match r {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(bad(e)),
    };
    let mode = num(h.mode().map(u64::from), &old.mode)? as u32 & 0o7777;
    let uid = num(h.uid(), &old.uid)?;
    let gid = num(h.gid(), &old.gid)?;
    let id = |v: u64| {
        u32::try_from(v).map_err(|_| {
            ArchiveError::Corrupt(format!("entry {:?}: id {v} out of range", show(name)))
        })
    };
    let (uid, gid) = (id(uid)?, id(gid)?);
    let mut mtime = TimeSpec::new(num(h.mtime(), &old.mtime)? as i64, 0);
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(bad)? {
        for ext in pax {
            let ext = ext.map_err(bad)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.push((x.to_string(), ext.value_bytes().to_vec()));
            } else if key == "mtime" {
                if let Some(secs) = ext
                    .value()
                    .ok()
                    .and_then(|v| v.split('.').next())
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    mtime = TimeSpec::new(secs, 0);
                }
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

impl Extract<'_> {
    fn under_base(&self, comps: &[OsString]) -> Vec<OsString> {
        let mut v = self.base.clone();
        v.extend_from_slice(comps);
        v
    }

    /// The entry's path in the container, for messages.
    fn shown(&self, comps: &[OsString]) -> String {
        let mut s = self.dest.trim_end_matches('/').to_string();
        for c in comps {
            s.push('/');
            s.push_str(&c.to_string_lossy());
        }
        s
    }

    fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        raw: &[u8],
    ) -> Result<(), CopyError> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return Ok(drain(&mut entry, raw)?);
        }
        let Some(comps) = clean_rel(raw) else {
            return Err(CopyError::Refused(format!(
                "{:?} is outside of {:?}",
                show(raw),
                self.dest
            )));
        };
        let mut meta = entry_meta(&mut entry, raw)?;
        if let Some((uid, gid)) = self.opts.chown {
            meta.uid = uid;
            meta.gid = gid;
        }
        let Some((leaf, parents)) = comps.split_last() else {
            // The destination itself: dockerd leaves it alone.
            if !kind.is_dir() {
                return Err(CopyError::Refused(format!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    self.dest,
                    show(raw)
                )));
            }
            return Ok(drain(&mut entry, raw)?);
        };
        let parent = self
            .root
            .open_dir(&self.under_base(parents), true)
            .map_err(|e| match errno_of(&e) {
                Some(libc::ENOTDIR) => CopyError::Refused(format!(
                    "cannot extract {:?}: a parent is not a directory",
                    show(raw)
                )),
                _ => CopyError::io(format!("open parent directory of {}", show(raw)), e),
            })?;
        let pfd = parent.as_fd();
        let ctx = |what: &str| format!("{what} {}", show(raw));
        let existing = lstat_at(pfd, leaf).map_err(|e| CopyError::io(ctx("stat"), e))?;
        let exists_dir = existing == Some(SFlag::S_IFDIR);
        if existing.is_some() && self.opts.no_overwrite_dir_non_dir {
            let path = self.shown(&comps);
            if exists_dir && !kind.is_dir() {
                return Err(CopyError::Refused(format!(
                    "cannot overwrite directory {path:?} with non-directory {:?}",
                    self.dest
                )));
            }
            if !exists_dir && kind.is_dir() {
                return Err(CopyError::Refused(format!(
                    "cannot overwrite non-directory {path:?} with directory {:?}",
                    self.dest
                )));
            }
        }
        if existing.is_some() && !(kind.is_dir() && exists_dir) {
            remove_all_at(pfd, leaf).map_err(|e| CopyError::io(ctx("replace"), e))?;
        }
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = openat(
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| CopyError::io(ctx("create"), e))?;
                let mut file = File::from(own(fd));
                let want = entry.size();
                let got = copy_data(&mut entry, &mut file, raw)?;
                if got != want {
                    return Err(ArchiveError::Truncated(format!(
                        "entry {:?} ends after {got} of {want} bytes",
                        show(raw)
                    ))
                    .into());
                }
                self.size += got;
                self.set_meta(file.as_fd(), &meta, raw)?;
                futimens(file.as_raw_fd(), &meta.mtime, &meta.mtime)
                    .map_err(|e| CopyError::io(ctx("set times of"), e))?;
            }
            EntryType::Directory => {
                if !exists_dir {
                    mkdirat(
                        Some(pfd.as_raw_fd()),
                        leaf.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .map_err(|e| CopyError::io(ctx("mkdir"), e))?;
                }
                let fd = openat(
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| CopyError::io(ctx("open"), e))?;
                self.set_meta(own(fd).as_fd(), &meta, raw)?;
                self.dir_times.push((self.under_base(&comps), meta.mtime));
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        ArchiveError::Corrupt(format!("symlink {:?} has no target", show(raw)))
                    })?
                    .into_owned();
                symlinkat(
                    OsStr::from_bytes(&target),
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                )
                .map_err(|e| CopyError::io(ctx("symlink"), e))?;
                self.chown_at(pfd, leaf, &meta, raw)?;
                utimensat(
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                    &meta.mtime,
                    &meta.mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| CopyError::io(ctx("set times of"), e))?;
            }
            EntryType::Link => self.hardlink(&mut entry, pfd, leaf, raw)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let perm = Mode::from_bits_truncate(meta.mode);
                match mknodat(
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                    sflag,
                    perm,
                    makedev(major.into(), minor.into()),
                ) {
                    Ok(()) => {
                        self.chown_at(pfd, leaf, &meta, raw)?;
                        fchmodat(
                            Some(pfd.as_raw_fd()),
                            leaf.as_os_str(),
                            perm,
                            FchmodatFlags::FollowSymlink,
                        )
                        .map_err(|e| CopyError::io(ctx("chmod"), e))?;
                    }
                    Err(Errno::EPERM) if sflag != SFlag::S_IFIFO && !self.is_root => {
                        tracing::warn!(entry = %show(raw), "skipping device node: not permitted");
                    }
                    Err(e) => return Err(CopyError::io(ctx("mknod"), e)),
                }
            }
            other => {
                return Err(ArchiveError::Corrupt(format!(
                    "entry {:?} has unsupported type {:?}",
                    show(raw),
                    other.as_byte() as char
                ))
                .into())
            }
        }
        Ok(drain(&mut entry, raw)?)
    }

    /// A hard link's target is relative to the destination (as dockerd joins it) and must
    /// stay below it; it is looked up inside the root and never followed if a symlink.
    fn hardlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        pfd: BorrowedFd<'_>,
        leaf: &OsStr,
        raw: &[u8],
    ) -> Result<(), CopyError> {
        let mut target = entry
            .link_name_bytes()
            .ok_or_else(|| {
                ArchiveError::Corrupt(format!("hard link {:?} has no target", show(raw)))
            })?
            .into_owned();
        if let Some((old, new)) = &self.opts.rename {
            target = replace_first(&target, old, new);
        }
        let outside = || {
            CopyError::Refused(format!(
                "hard link {:?} to {:?} is outside of {:?}",
                show(raw),
                show(&target),
                self.dest
            ))
        };
        let tcomps = clean_rel(&target).ok_or_else(outside)?;
        let Some((tleaf, tparents)) = tcomps.split_last() else {
            return Err(outside());
        };
        let missing = || {
            CopyError::Refused(format!(
                "hard link {:?}: target {:?} not found",
                show(raw),
                show(&target)
            ))
        };
        let tdir = match self.root.open_dir(&self.under_base(tparents), false) {
            Ok(fd) => fd,
            Err(e) if matches!(errno_of(&e), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Err(missing())
            }
            Err(e) => return Err(CopyError::io(format!("resolve hard link {}", show(raw)), e)),
        };
        match linkat(
            Some(tdir.as_raw_fd()),
            tleaf.as_os_str(),
            Some(pfd.as_raw_fd()),
            leaf,
            AtFlags::empty(),
        ) {
            Ok(()) => Ok(()),
            Err(Errno::ENOENT) => Err(missing()),
            Err(e) => Err(CopyError::io(format!("hard link {}", show(raw)), e)),
        }
    }

    fn set_meta(&self, fd: BorrowedFd<'_>, meta: &Meta, raw: &[u8]) -> Result<(), CopyError> {
        let ctx = |what: &str| format!("{what} {}", show(raw));
        match fchown(
            fd.as_raw_fd(),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        ) {
            Ok(()) => {}
            Err(Errno::EPERM | Errno::EINVAL) if !self.is_root => {}
            Err(e) => return Err(CopyError::io(ctx("chown"), e)),
        }
        // After chown, which clears setuid/setgid bits.
        fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(meta.mode))
            .map_err(|e| CopyError::io(ctx("chmod"), e))?;
        for (key, value) in &meta.xattrs {
            // A copy must not steer overlayfs (redirects, metacopy, opacity).
            if key.starts_with("trusted.overlay.") || key.starts_with("user.overlay.") {
                tracing::warn!(entry = %show(raw), xattr = %key, "ignoring overlay xattr");
                continue;
            }
            match fsetxattr(fd, key, value) {
                Ok(()) => {}
                Err(e) if matches!(errno_of(&e), Some(libc::ENOTSUP | libc::EPERM)) => {
                    tracing::warn!(entry = %show(raw), xattr = %key, "cannot set xattr: {e}");
                }
                Err(e) => {
                    return Err(CopyError::io(
                        format!("set xattr {key} on {}", show(raw)),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    fn chown_at(
        &self,
        pfd: BorrowedFd<'_>,
        leaf: &OsStr,
        meta: &Meta,
        raw: &[u8],
    ) -> Result<(), CopyError> {
        match fchownat(
            Some(pfd.as_raw_fd()),
            leaf,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(()) => Ok(()),
            Err(Errno::EPERM | Errno::EINVAL) if !self.is_root => Ok(()),
            Err(e) => Err(CopyError::io(format!("chown {}", show(raw)), e)),
        }
    }

    fn finish_dir_times(&mut self) -> Result<(), CopyError> {
        for (comps, mtime) in self.dir_times.drain(..).rev() {
            let Some((leaf, parents)) = comps.split_last() else {
                continue;
            };
            let res = self.root.open_dir(parents, false).and_then(|p: OwnedFd| {
                utimensat(
                    Some(p.as_raw_fd()),
                    leaf.as_os_str(),
                    &mtime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(io::Error::from)
            });
            // A later entry (or the container) may have replaced it; its time is then moot.
            if let Err(e) = res {
                if !matches!(errno_of(&e), Some(libc::ENOENT | libc::ENOTDIR)) {
                    return Err(CopyError::io("set directory times", e));
                }
            }
        }
        Ok(())
    }
}
