//! The reading side of `docker cp`: a located [`Source`] written as a tar, walking the tree
//! by fd without following any symlink.

use super::{PathStat, Source};
use crate::resolve::own;
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use tar::EntryType;

impl Source {
    pub fn stat(&self) -> &PathStat {
        &self.stat
    }

    /// Names the tar's top entry `name` instead of the requested basename (the docker
    /// CLI's rebase of what it copies).
    pub fn renamed(mut self, name: impl Into<String>) -> Self {
        self.rebase = name.into();
        self
    }

    /// Writes the tar: the source under its rebased name, then (for a directory) what is
    /// below it, sorted by name, parents first, as Go's `filepath.Walk` orders it. Nothing
    /// is followed: symlinks are archived as symlinks, sockets left out.
    pub fn write_tar<W: Write>(self, out: W) -> io::Result<W> {
        let mut w = TarOut {
            out,
            links: HashMap::new(),
            caps: None,
        };
        let mut stack: Vec<Frame> = Vec::new();
        let top = match &self.leaf {
            Some(name) => w.add(self.dir.as_fd(), name, self.rebase.as_bytes())?,
            None => {
                let st = fstat(self.dir.as_raw_fd())?;
                w.add_dir(self.dir, &st, self.rebase.as_bytes())?
            }
        };
        if let Some(f) = top {
            stack.push(f);
        }
        while let Some(frame) = stack.last_mut() {
            let Some(name) = frame.names.next() else {
                stack.pop();
                continue;
            };
            let child = child_name(&frame.tar_name, &name);
            // SAFETY: the fd belongs to `frame.dir`, alive for this borrow (the frame is
            // only popped on a later turn).
            let dfd = unsafe { BorrowedFd::borrow_raw(frame.dir.as_raw_fd()) };
            if let Some(next) = w.add(dfd, OsStr::from_bytes(&name), &child)? {
                stack.push(next);
            }
        }
        w.out.write_all(&[0u8; 1024])?;
        Ok(w.out)
    }
}

fn child_name(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = parent.to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// A directory being archived: its fd and the names still to visit.
struct Frame {
    dir: Dir,
    tar_name: Vec<u8>,
    names: std::vec::IntoIter<Vec<u8>>,
}

struct TarOut<W> {
    out: W,
    /// (dev, ino) of multiply-linked files already archived → their tar name.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// `security.capability` of the next entry written.
    caps: Option<Vec<u8>>,
}

/// The file's `security.capability` xattr, if it has one.
fn file_caps(fd: BorrowedFd<'_>) -> Option<Vec<u8>> {
    let name = c"security.capability";
    let mut buf = vec![0u8; 256];
    // SAFETY: fd is open for the call, the name is NUL-terminated, and the pointer/length
    // pair describes a live, writable buffer.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

fn base_header(st: &FileStat) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// One PAX record: `"<len> <key>=<value>\n"`, the length counting itself.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let mut len = base + base.to_string().len();
    if len.to_string().len() > base.to_string().len() {
        len += 1;
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

impl<W: Write> TarOut<W> {
    /// Writes one entry; names and link targets too long for the ustar fields go in a PAX
    /// header before it, as Go's archive/tar does.
    fn write(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: Option<(File, u64)>,
    ) -> io::Result<()> {
        let mut pax = Vec::new();
        if name.len() > 100 {
            pax_record(&mut pax, "path", name);
        }
        if let Some(l) = link.filter(|l| l.len() > 100) {
            pax_record(&mut pax, "linkpath", l);
        }
        if let Some(caps) = self.caps.take() {
            pax_record(&mut pax, "SCHILY.xattr.security.capability", &caps);
        }
        if !pax.is_empty() {
            let mut ph = tar::Header::new_ustar();
            let pname = b"PaxHeaders.0/entry";
            ph.as_old_mut().name[..pname.len()].copy_from_slice(pname);
            ph.set_entry_type(EntryType::XHeader);
            ph.set_mode(0o644);
            ph.set_size(pax.len() as u64);
            ph.set_mtime(0);
            ph.set_cksum();
            self.out.write_all(ph.as_bytes())?;
            self.out.write_all(&pax)?;
            pad(&mut self.out, pax.len() as u64)?;
        }
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        if let Some(l) = link {
            let n = l.len().min(100);
            h.as_old_mut().linkname[..n].copy_from_slice(&l[..n]);
        }
        h.set_cksum();
        self.out.write_all(h.as_bytes())?;
        if let Some((file, size)) = data {
            // Exactly `size` bytes whatever the file does meanwhile: a running container
            // may grow or truncate it, and the header already promised the size.
            let got = io::copy(&mut file.take(size), &mut self.out)?;
            let mut left = size - got;
            let zeros = [0u8; 8192];
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                self.out.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            pad(&mut self.out, size)?;
        }
        Ok(())
    }

    /// Archives `name` in `dir` as `tar_name`; a directory is returned to be walked.
    fn add(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        tar_name: &[u8],
    ) -> io::Result<Option<Frame>> {
        let st = match fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Deleted while we walked: a running container's files come and go.
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        match kind {
            SFlag::S_IFDIR => {
                let fd = match openat(
                    Some(dir.as_raw_fd()),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => own(fd),
                    Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let st = fstat(fd.as_raw_fd())?;
                self.add_dir(fd, &st, tar_name)
            }
            SFlag::S_IFREG => {
                // O_NONBLOCK: if a FIFO was swapped in meanwhile, opening must not hang.
                let fd = match openat(
                    Some(dir.as_raw_fd()),
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => own(fd),
                    Err(Errno::ENOENT | Errno::ELOOP) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let st = fstat(fd.as_raw_fd())?;
                if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
                    return Ok(None);
                }
                let mut h = base_header(&st);
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        h.set_entry_type(EntryType::Link);
                        self.write(h, tar_name, Some(&first), None)?;
                        return Ok(None);
                    }
                    self.links.insert(key, tar_name.to_vec());
                }
                h.set_entry_type(EntryType::Regular);
                // File capabilities travel with the file, as dockerd archives them.
                self.caps = file_caps(fd.as_fd());
                let size = st.st_size.max(0) as u64;
                h.set_size(size);
                self.write(h, tar_name, None, Some((File::from(fd), size)))?;
                Ok(None)
            }
            SFlag::S_IFLNK => {
                let target = match readlinkat(Some(dir.as_raw_fd()), name) {
                    Ok(t) => t,
                    Err(Errno::ENOENT | Errno::EINVAL) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let mut h = base_header(&st);
                h.set_entry_type(EntryType::Symlink);
                self.write(h, tar_name, Some(target.as_bytes()), None)?;
                Ok(None)
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let mut h = base_header(&st);
                h.set_entry_type(match kind {
                    SFlag::S_IFCHR => EntryType::Char,
                    SFlag::S_IFBLK => EntryType::Block,
                    _ => EntryType::Fifo,
                });
                if kind != SFlag::S_IFIFO {
                    let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
                    h.set_device_major(major)?;
                    h.set_device_minor(minor)?;
                }
                self.write(h, tar_name, None, None)?;
                Ok(None)
            }
            // Sockets cannot be archived; dockerd skips them too.
            _ => Ok(None),
        }
    }

    fn add_dir(
        &mut self,
        fd: OwnedFd,
        st: &FileStat,
        tar_name: &[u8],
    ) -> io::Result<Option<Frame>> {
        let mut h = base_header(st);
        h.set_entry_type(EntryType::Directory);
        let mut name = tar_name.to_vec();
        if !name.ends_with(b"/") {
            name.push(b'/');
        }
        self.write(h, &name, None, None)?;
        let mut dir = Dir::from(fd)?;
        let mut names: Vec<Vec<u8>> = Vec::new();
        for e in dir.iter() {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        Ok(Some(Frame {
            dir,
            tar_name: tar_name.to_vec(),
            names: names.into_iter(),
        }))
    }
}

fn pad(out: &mut impl Write, len: u64) -> io::Result<()> {
    let rem = (512 - len % 512) % 512;
    out.write_all(&[0u8; 512][..rem as usize])
}
