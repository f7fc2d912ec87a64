//! A container's read-write directory as an OCI layer tar, for `commit` (and build steps):
//! overlayfs' own forms of a deletion (a 0/0 character device) and of an opaque directory
//! (the `trusted.overlay.opaque` xattr) become OCI's `.wh.<name>` and `.wh..wh..opq`
//! entries, so a deleted file stays deleted in every place the layer goes.

use crate::layers::{is_opaque, is_whiteout};
use crate::whiteout::{OPAQUE, PREFIX};
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

fn ctx(what: &str, p: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let msg = format!("{what} {}", p.display());
    move |e| io::Error::new(e.kind(), format!("{msg}: {e}"))
}

/// The file's extended attributes, overlayfs' private ones left out.
fn xattrs(p: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    let mut names = vec![0u8; 4096];
    // SAFETY: `c` is NUL-terminated and the buffer pointer/length describe a live array.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(Vec::new()),
            _ => Err(e),
        };
    }
    let mut out = Vec::new();
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
    {
        let name_s = String::from_utf8_lossy(name).into_owned();
        if name_s.starts_with("trusted.overlay.") {
            continue;
        }
        let cname = CString::new(name).expect("split on NUL");
        let mut val = vec![0u8; 64 * 1024];
        // SAFETY: both strings are NUL-terminated; the buffer is live and writable.
        let m = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                val.as_mut_ptr().cast(),
                val.len(),
            )
        };
        if m >= 0 {
            val.truncate(m as usize);
            out.push((name_s, val));
        }
    }
    Ok(out)
}

struct Writer<'s, W: Write> {
    b: tar::Builder<W>,
    upper: &'s Path,
    skip: &'s [&'s str],
    /// (dev, inode) of multiply-linked files already written → their path in the tar.
    links: HashMap<(u64, u64), String>,
}

/// Writes `upper` (a read-write layer directory) as an OCI layer tar to `out`, entries
/// sorted, parents first. `skip` lists absolute paths left out with everything below them
/// (what the runtime creates to mount over).
pub fn write_layer_tar<W: Write>(upper: &Path, skip: &[&str], out: W) -> io::Result<W> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut w = Writer {
        b,
        upper,
        skip,
        links: HashMap::new(),
    };
    w.dir("")?;
    w.b.into_inner()
}

impl<W: Write> Writer<'_, W> {
    fn dir(&mut self, rel: &str) -> io::Result<()> {
        let full = self.upper.join(rel);
        let mut names: Vec<_> = fs::read_dir(&full)
            .map_err(ctx("read directory", &full))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(ctx("read directory", &full))?;
        names.sort();
        for name in names {
            let name = name.to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if self.skip.iter().any(|s| s.trim_start_matches('/') == path) {
                continue;
            }
            self.entry(rel, &name, &path)?;
        }
        Ok(())
    }

    fn entry(&mut self, rel: &str, name: &str, path: &str) -> io::Result<()> {
        let full = self.upper.join(path);
        let m = fs::symlink_metadata(&full).map_err(ctx("stat", &full))?;
        let ft = m.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let mut h = tar::Header::new_gnu();
        if is_whiteout(&m) {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o600);
            h.set_size(0);
            h.set_mtime(m.mtime().max(0) as u64);
            let wh = if rel.is_empty() {
                format!("{PREFIX}{name}")
            } else {
                format!("{rel}/{PREFIX}{name}")
            };
            return self.b.append_data(&mut h, wh, io::empty());
        }
        if append_entry(&mut self.b, &full, path, &m, &mut self.links)? {
            if is_opaque(&full)? {
                let mut o = tar::Header::new_gnu();
                o.set_entry_type(tar::EntryType::Regular);
                o.set_mode(0o600);
                o.set_size(0);
                o.set_mtime(m.mtime().max(0) as u64);
                self.b
                    .append_data(&mut o, format!("{path}/{OPAQUE}"), io::empty())?;
            }
            return self.dir(path);
        }
        Ok(())
    }
}

/// Appends one entry as it is on disk: xattrs (overlay's own left out) in a PAX header, a
/// second name of a multiply-linked file as a link to the first. Returns whether it was a
/// directory, for the caller to descend into. Sockets are skipped: tar cannot hold them.
pub(crate) fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    full: &Path,
    path: &str,
    m: &fs::Metadata,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<bool> {
    let ft = m.file_type();
    if ft.is_socket() {
        return Ok(false);
    }
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(m, tar::HeaderMode::Complete);
    let attrs = xattrs(full).map_err(ctx("read xattrs of", full))?;
    if !attrs.is_empty() {
        let pax: Vec<(String, Vec<u8>)> = attrs
            .into_iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
            .collect();
        b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
    }
    if ft.is_dir() {
        h.set_size(0);
        b.append_data(&mut h, format!("{path}/"), io::empty())?;
        return Ok(true);
    }
    if ft.is_symlink() {
        let target = fs::read_link(full).map_err(ctx("read link", full))?;
        h.set_size(0);
        b.append_link(&mut h, path, target)?;
        return Ok(false);
    }
    if ft.is_file() && m.nlink() > 1 {
        match links.get(&(m.dev(), m.ino())) {
            Some(first) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                let first = first.clone();
                b.append_link(&mut h, path, first)?;
                return Ok(false);
            }
            None => {
                links.insert((m.dev(), m.ino()), path.to_string());
            }
        }
    }
    if ft.is_file() {
        let f = File::open(full).map_err(ctx("open", full))?;
        b.append_data(&mut h, path, f)?;
        return Ok(false);
    }
    // Devices and fifos: the header says everything.
    h.set_size(0);
    b.append_data(&mut h, path, io::empty())?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(tar: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn files_links_and_skips() {
        let d = tempfile::tempdir().unwrap();
        let u = d.path();
        fs::create_dir_all(u.join("etc")).unwrap();
        fs::write(u.join("etc/hosts"), "").unwrap();
        fs::write(u.join("etc/motd"), "hi").unwrap();
        fs::hard_link(u.join("etc/motd"), u.join("etc/motd2")).unwrap();
        symlink("/etc/motd", u.join("m")).unwrap();
        let tar = write_layer_tar(u, &["/etc/hosts"], Vec::new()).unwrap();
        let got = names(&tar);
        assert_eq!(
            got,
            vec![
                ("etc/".into(), tar::EntryType::Directory),
                ("etc/motd".into(), tar::EntryType::Regular),
                ("etc/motd2".into(), tar::EntryType::Link),
                ("m".into(), tar::EntryType::Symlink),
            ]
        );
        // What it writes applies back to the same tree.
        let back = tempfile::tempdir().unwrap();
        crate::apply_layer(&tar[..], back.path()).unwrap();
        assert_eq!(fs::read(back.path().join("etc/motd2")).unwrap(), b"hi");
    }

    #[test]
    fn overlay_whiteouts_become_oci_whiteouts() {
        if !nix::unistd::geteuid().is_root() {
            return; // mknod of a whiteout and trusted.* xattrs need root
        }
        let d = tempfile::tempdir().unwrap();
        let u = d.path();
        fs::create_dir(u.join("gone-dir")).unwrap();
        fs::create_dir(u.join("opaque")).unwrap();
        fs::write(u.join("opaque/new"), "n").unwrap();
        let c = CString::new(u.join("deleted").as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path.
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0);
        let o = CString::new(u.join("opaque").as_os_str().as_bytes()).unwrap();
        let k = CString::new("trusted.overlay.opaque").unwrap();
        // SAFETY: NUL-terminated strings and a live one-byte value.
        let rc = unsafe { libc::setxattr(o.as_ptr(), k.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        assert_eq!(rc, 0);
        let tar = write_layer_tar(u, &[], Vec::new()).unwrap();
        let got: Vec<String> = names(&tar).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            got,
            vec![
                ".wh.deleted",
                "gone-dir/",
                "opaque/",
                "opaque/.wh..wh..opq",
                "opaque/new"
            ]
        );
    }
}
