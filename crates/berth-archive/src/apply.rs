//! Extracting a layer tar into a directory, in the form overlayfs reads.

use crate::fsutil::{fsetxattr, lstat_at, remove_all_at};
use crate::resolve::{own, Root};
use crate::tap::Tap;
use crate::whiteout;
use crate::ArchiveError;
use berth_model::Digest;
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, futimens, makedev, mkdirat, mknodat, utimensat, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tar::EntryType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyStats {
    /// sha256 of the uncompressed tar stream, trailing padding included.
    pub diff_id: Digest,
    /// Bytes of regular-file content written (hard links counted once).
    pub size: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// The bottom layer: its whiteouts hide nothing, so they are dropped instead of being
    /// written as overlay whiteouts that would show up as stray device nodes.
    pub base_layer: bool,
}

/// Extracts the uncompressed tar `tar` into the existing directory `root`, OCI whiteouts
/// turned into overlay whiteouts. On error `root` is left half-written: callers extract into
/// a fresh directory and discard it.
pub fn apply_layer(tar: impl Read, root: &Path) -> Result<ApplyStats, ArchiveError> {
    apply_layer_with(tar, root, ApplyOptions::default())
}

pub fn apply_layer_with(
    tar: impl Read,
    root: &Path,
    opts: ApplyOptions,
) -> Result<ApplyStats, ArchiveError> {
    let root =
        Root::open(root).map_err(|e| ArchiveError::io(format!("open {}", root.display()), e))?;
    apply_in(tar, &root, opts)
}

pub(crate) fn apply_in(
    tar: impl Read,
    root: &Root,
    opts: ApplyOptions,
) -> Result<ApplyStats, ArchiveError> {
    let (tap, state) = Tap::new(tar);
    let mut archive = tar::Archive::new(tap);
    let mut ctx = Ctx {
        root,
        opts,
        size: 0,
        dir_times: Vec::new(),
        is_root: nix::unistd::geteuid().is_root(),
    };
    let mut entries = archive
        .entries()
        .map_err(|e| ArchiveError::read("reading tar", e))?;
    let mut last = String::from("start of stream");
    loop {
        let before = state.count.get();
        let entry = match entries.next() {
            Some(e) => e.map_err(|e| ArchiveError::read(format!("after entry {last}"), e))?,
            None => {
                // tar's end is a zero block; a plain EOF here means the stream was cut at an
                // entry boundary. Only padding (< 512) may precede the zero block.
                if state.count.get() - before < 512 || state.zero_run.get() < 512 {
                    return Err(ArchiveError::Truncated(format!(
                        "no end-of-archive marker after entry {last}"
                    )));
                }
                break;
            }
        };
        let name = entry.path_bytes().into_owned();
        last = format!("{:?}", String::from_utf8_lossy(&name));
        ctx.entry(entry, &name)?;
    }
    ctx.finish_dir_times()?;
    // Hash whatever follows the end marker too: the diff ID covers the whole stream, and
    // draining lets a compressed reader check its trailer.
    let mut tap = archive.into_inner();
    io::copy(&mut tap, &mut io::sink())
        .map_err(|e| ArchiveError::read("after end of archive", e))?;
    Ok(ApplyStats {
        diff_id: tap.finish(),
        size: ctx.size,
    })
}

struct Ctx<'r> {
    root: &'r Root,
    opts: ApplyOptions,
    size: u64,
    /// Directory mtimes, set last because creating children changes them.
    dir_times: Vec<(Vec<OsString>, TimeSpec)>,
    is_root: bool,
}

struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: TimeSpec,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Splits an entry path into components. Leading `/` and `.` parts are dropped (the path is
/// relative to the layer root whatever it says); any `..` is refused outright.
fn clean_path(name: &[u8]) -> Result<Vec<OsString>, ArchiveError> {
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(ArchiveError::unsafe_entry(
                    name,
                    "path contains a \"..\" component",
                ))
            }
            c => out.push(OsStr::from_bytes(c).to_owned()),
        }
    }
    Ok(out)
}

fn entry_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<Meta, ArchiveError> {
    let bad = |e: io::Error| {
        ArchiveError::Corrupt(format!("entry {:?}: {e}", String::from_utf8_lossy(name)))
    };
    let h = entry.header();
    let old = h.as_old();
    // Like Go's archive/tar, an empty (all NUL or space) numeric field reads as zero.
    let num = |r: io::Result<u64>, raw: &[u8]| match r {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(bad(e)),
    };
    let mode = num(h.mode().map(u64::from), &old.mode)? as u32 & 0o7777;
    let uid = num(h.uid(), &old.uid)?;
    let gid = num(h.gid(), &old.gid)?;
    let mut mtime = TimeSpec::new(num(h.mtime(), &old.mtime)? as i64, 0);
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(bad)? {
        for ext in pax {
            let ext = ext.map_err(bad)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.push((x.to_string(), ext.value_bytes().to_vec()));
            } else if key == "mtime" {
                if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                    mtime = t;
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

fn parse_pax_time(s: &str) -> Option<TimeSpec> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0i64;
    for (i, d) in frac.bytes().take(9).enumerate() {
        if !d.is_ascii_digit() {
            return None;
        }
        nanos += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(TimeSpec::new(secs, if secs < 0 { -nanos } else { nanos }))
}

pub(crate) fn entry_name(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl Ctx<'_> {
    fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        raw: &[u8],
    ) -> Result<(), ArchiveError> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return drain(&mut entry, raw);
        }
        let comps = clean_path(raw)?;
        let meta = entry_meta(&mut entry, raw)?;
        let Some((leaf, parents)) = comps.split_last() else {
            // The layer root itself: only a directory may describe it.
            if !kind.is_dir() {
                return Err(ArchiveError::unsafe_entry(
                    raw,
                    "a non-directory entry would replace the layer root",
                ));
            }
            self.set_meta(self.root.fd(), &meta, raw, true)?;
            self.dir_times.push((Vec::new(), meta.mtime));
            return drain(&mut entry, raw);
        };
        let leaf_bytes = leaf.as_bytes();
        if let Some(rest) = leaf_bytes.strip_prefix(whiteout::PREFIX.as_bytes()) {
            self.whiteout(parents, rest, &meta, raw)?;
            return drain(&mut entry, raw);
        }
        let parent = self.root.open_dir(parents, true).map_err(|e| {
            ArchiveError::io(format!("open parent directory of {}", entry_name(raw)), e)
        })?;
        let pfd = parent.as_fd();
        let ctx = |what: &str| format!("{what} {}", entry_name(raw));
        let existing = lstat_at(pfd, leaf).map_err(|e| ArchiveError::io(ctx("stat"), e))?;
        // A directory merges with a directory already there; anything else replaces it.
        if existing.is_some() && !(kind.is_dir() && existing == Some(SFlag::S_IFDIR)) {
            remove_all_at(pfd, leaf).map_err(|e| ArchiveError::io(ctx("replace"), e))?;
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
                .map_err(|e| ArchiveError::io(ctx("create"), e))?;
                let mut file = File::from(own(fd));
                let want = entry.size();
                let got = copy_data(&mut entry, &mut file, raw)?;
                if got != want {
                    return Err(ArchiveError::Truncated(format!(
                        "entry {:?} ends after {got} of {want} bytes",
                        entry_name(raw)
                    )));
                }
                self.size += got;
                self.set_meta(file.as_fd(), &meta, raw, false)?;
                futimens(file.as_raw_fd(), &meta.mtime, &meta.mtime)
                    .map_err(|e| ArchiveError::io(ctx("set times of"), e))?;
            }
            EntryType::Directory => {
                if existing != Some(SFlag::S_IFDIR) {
                    mkdirat(
                        Some(pfd.as_raw_fd()),
                        leaf.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .map_err(|e| ArchiveError::io(ctx("mkdir"), e))?;
                }
                let fd = openat(
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| ArchiveError::io(ctx("open"), e))?;
                self.set_meta(own(fd).as_fd(), &meta, raw, true)?;
                self.dir_times.push((comps.clone(), meta.mtime));
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        ArchiveError::Corrupt(format!(
                            "symlink {:?} has no target",
                            entry_name(raw)
                        ))
                    })?
                    .into_owned();
                symlinkat(
                    OsStr::from_bytes(&target),
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                )
                .map_err(|e| ArchiveError::io(ctx("symlink"), e))?;
                self.chown_at(pfd, leaf, &meta, raw)?;
                utimensat(
                    Some(pfd.as_raw_fd()),
                    leaf.as_os_str(),
                    &meta.mtime,
                    &meta.mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| ArchiveError::io(ctx("set times of"), e))?;
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
                        // mknod applies the umask; chmod does not.
                        nix::sys::stat::fchmodat(
                            Some(pfd.as_raw_fd()),
                            leaf.as_os_str(),
                            perm,
                            nix::sys::stat::FchmodatFlags::FollowSymlink,
                        )
                        .map_err(|e| ArchiveError::io(ctx("chmod"), e))?;
                    }
                    // Without CAP_MKNOD (rootless) device nodes cannot exist; Docker skips them too.
                    Err(Errno::EPERM) if sflag != SFlag::S_IFIFO && !self.is_root => {
                        tracing::warn!(entry = %entry_name(raw), "skipping device node: not permitted");
                    }
                    Err(e) => return Err(ArchiveError::io(ctx("mknod"), e)),
                }
            }
            other => {
                return Err(ArchiveError::Corrupt(format!(
                    "entry {:?} has unsupported type {:?}",
                    entry_name(raw),
                    other.as_byte() as char
                )))
            }
        }
        drain(&mut entry, raw)
    }

    fn hardlink<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        pfd: BorrowedFd<'_>,
        leaf: &OsStr,
        raw: &[u8],
    ) -> Result<(), ArchiveError> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| {
                ArchiveError::Corrupt(format!("hard link {:?} has no target", entry_name(raw)))
            })?
            .into_owned();
        let tcomps = clean_path(&target).map_err(|_| {
            ArchiveError::unsafe_entry(
                raw,
                format!(
                    "hard link target {:?} leaves the layer",
                    entry_name(&target)
                ),
            )
        })?;
        let Some((tleaf, tparents)) = tcomps.split_last() else {
            return Err(ArchiveError::unsafe_entry(
                raw,
                "hard link to the layer root",
            ));
        };
        let not_found = || {
            ArchiveError::unsafe_entry(
                raw,
                format!(
                    "hard link target {:?} is not in the layer",
                    entry_name(&target)
                ),
            )
        };
        let tdir = match self.root.open_dir(tparents, false) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Err(not_found())
            }
            Err(e) => {
                return Err(ArchiveError::io(
                    format!("resolve hard link target of {}", entry_name(raw)),
                    e,
                ))
            }
        };
        // Flags 0: if the target is a symlink, link the symlink itself, never what it points to.
        match linkat(
            Some(tdir.as_raw_fd()),
            tleaf.as_os_str(),
            Some(pfd.as_raw_fd()),
            leaf,
            AtFlags::empty(),
        ) {
            Ok(()) => Ok(()),
            Err(Errno::ENOENT) => Err(not_found()),
            Err(e) => Err(ArchiveError::io(
                format!("hard link {}", entry_name(raw)),
                e,
            )),
        }
    }

    fn whiteout(
        &mut self,
        parents: &[OsString],
        rest: &[u8],
        meta: &Meta,
        raw: &[u8],
    ) -> Result<(), ArchiveError> {
        if self.opts.base_layer {
            return Ok(());
        }
        let opaque = whiteout::OPAQUE
            .strip_prefix(whiteout::PREFIX)
            .unwrap_or_default();
        if rest != opaque.as_bytes() && rest.starts_with(whiteout::PREFIX.as_bytes()) {
            // Other `.wh..wh.*` names are aufs bookkeeping with no meaning here.
            return Ok(());
        }
        // `.wh..` would otherwise delete the parent's parent: outside the root at the top.
        if matches!(rest, b"" | b"." | b"..") {
            return Err(ArchiveError::unsafe_entry(raw, "whiteout names no entry"));
        }
        let parent = self.root.open_dir(parents, true).map_err(|e| {
            ArchiveError::io(format!("open parent directory of {}", entry_name(raw)), e)
        })?;
        let pfd = parent.as_fd();
        let ctx = |what: &str| format!("{what} {}", entry_name(raw));
        if rest == opaque.as_bytes() {
            return fsetxattr(pfd, whiteout::OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(|e| ArchiveError::io(ctx("mark opaque for"), e));
        }
        let target = OsStr::from_bytes(rest);
        remove_all_at(pfd, target).map_err(|e| ArchiveError::io(ctx("replace"), e))?;
        mknodat(
            Some(pfd.as_raw_fd()),
            target,
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(|e| ArchiveError::io(ctx("create whiteout for"), e))?;
        self.chown_at(pfd, target, meta, raw)
    }

    fn set_meta(
        &self,
        fd: BorrowedFd<'_>,
        meta: &Meta,
        raw: &[u8],
        is_dir: bool,
    ) -> Result<(), ArchiveError> {
        let ctx = |what: &str| format!("{what} {}", entry_name(raw));
        match fchown(
            fd.as_raw_fd(),
            Some(Uid::from_raw(meta.uid as u32)),
            Some(Gid::from_raw(meta.gid as u32)),
        ) {
            Ok(()) => {}
            Err(Errno::EPERM | Errno::EINVAL) if !self.is_root => {}
            Err(e) => return Err(ArchiveError::io(ctx("chown"), e)),
        }
        // After chown, which clears setuid/setgid bits.
        fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(meta.mode))
            .map_err(|e| ArchiveError::io(ctx("chmod"), e))?;
        for (key, value) in &meta.xattrs {
            // A layer must not steer overlayfs (redirects, metacopy, opacity) by itself.
            if key.starts_with("trusted.overlay.") || key.starts_with("user.overlay.") {
                tracing::warn!(entry = %entry_name(raw), xattr = %key, "ignoring overlay xattr from layer");
                continue;
            }
            match fsetxattr(fd, key, value) {
                Ok(()) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM)) => {
                    tracing::warn!(entry = %entry_name(raw), xattr = %key, is_dir, "cannot set xattr: {e}");
                }
                Err(e) => {
                    return Err(ArchiveError::io(
                        format!("set xattr {key} on {}", entry_name(raw)),
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
    ) -> Result<(), ArchiveError> {
        match fchownat(
            Some(pfd.as_raw_fd()),
            leaf,
            Some(Uid::from_raw(meta.uid as u32)),
            Some(Gid::from_raw(meta.gid as u32)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(()) => Ok(()),
            Err(Errno::EPERM | Errno::EINVAL) if !self.is_root => Ok(()),
            Err(e) => Err(ArchiveError::io(format!("chown {}", entry_name(raw)), e)),
        }
    }

    fn finish_dir_times(&mut self) -> Result<(), ArchiveError> {
        for (comps, mtime) in self.dir_times.drain(..).rev() {
            let res = match comps.split_last() {
                None => {
                    futimens(self.root.fd().as_raw_fd(), &mtime, &mtime).map_err(io::Error::from)
                }
                Some((leaf, parents)) => {
                    self.root.open_dir(parents, false).and_then(|p: OwnedFd| {
                        utimensat(
                            Some(p.as_raw_fd()),
                            leaf.as_os_str(),
                            &mtime,
                            &mtime,
                            UtimensatFlags::NoFollowSymlink,
                        )
                        .map_err(io::Error::from)
                    })
                }
            };
            // A later entry may have replaced the directory; its time is then moot.
            if let Err(e) = res {
                if e.raw_os_error() != Some(libc::ENOENT) {
                    return Err(ArchiveError::io("set directory times", e));
                }
            }
        }
        Ok(())
    }
}

/// Copies entry data, telling a bad stream (input's fault) from a failing write (ours).
pub(crate) fn copy_data(
    from: &mut impl Read,
    to: &mut File,
    raw: &[u8],
) -> Result<u64, ArchiveError> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ArchiveError::read(
                    format!("entry {:?}", entry_name(raw)),
                    e,
                ))
            }
        };
        to.write_all(&buf[..n])
            .map_err(|e| ArchiveError::io(format!("write {}", entry_name(raw)), e))?;
        total += n as u64;
    }
}

/// Reads what is left of an entry so the archive position only ever skips padding (which
/// is what lets the end-of-archive check tell a clean end from a cut one).
pub(crate) fn drain<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    raw: &[u8],
) -> Result<(), ArchiveError> {
    io::copy(entry, &mut io::sink())
        .map_err(|e| ArchiveError::read(format!("entry {:?}", entry_name(raw)), e))?;
    Ok(())
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
