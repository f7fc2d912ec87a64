use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Builds tars byte by byte so tests can write what `tar::Builder` refuses to.
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn entry(
        &mut self,
        name: &str,
        kind: EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        self.entry_pax(name, kind, link, data, mode, &[])
    }

    fn entry_pax(
        &mut self,
        name: &str,
        kind: EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
        pax: &[(&str, &[u8])],
    ) -> &mut Self {
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in pax {
                let base = k.len() + v.len() + 3; // ' ', '=', '\n'
                let digits = |n: usize| n.to_string().len();
                let mut len = base + digits(base);
                if digits(len) > digits(base) {
                    len += 1;
                }
                body.extend_from_slice(format!("{len} {k}=").as_bytes());
                body.extend_from_slice(v);
                body.push(b'\n');
            }
            self.raw("pax", EntryType::XHeader, "", &body, 0o644, 0);
        }
        self.raw(name, kind, link, data, mode, 1_600_000_000);
        self
    }

    fn raw(&mut self, name: &str, kind: EntryType, link: &str, data: &[u8], mode: u32, mtime: u64) {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(mtime);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, EntryType::Regular, "", data, 0o644)
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, EntryType::Directory, "", b"", 0o755)
    }

    fn done(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.0);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

fn apply(bytes: &[u8], root: &Path) -> Result<ApplyStats, ArchiveError> {
    apply_layer(bytes, root)
}

#[test]
fn extracts_every_kind_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Tar::default();
    t.dir("etc/")
        .file("etc/hosts", b"127.0.0.1 localhost\n")
        .entry("bin/tool", EntryType::Regular, "", b"#!/bin/sh\n", 0o4755)
        .entry("bin/sh", EntryType::Symlink, "/bin/busybox", b"", 0o777)
        .entry("etc/hosts.link", EntryType::Link, "etc/hosts", b"", 0o644)
        .entry("run/fifo", EntryType::Fifo, "", b"", 0o600)
        .entry_pax(
            "etc/attr",
            EntryType::Regular,
            "",
            b"x",
            0o640,
            &[("SCHILY.xattr.user.berth", b"yes")],
        );
    if is_root() {
        t.entry("dev/null", EntryType::Char, "", b"", 0o666);
    }
    let bytes = t.done();
    let stats = apply(&bytes, dir.path()).unwrap();
    assert_eq!(stats.diff_id, Digest::of(&bytes));
    assert_eq!(stats.size, 20 + 10 + 1);
    let r = dir.path();
    assert_eq!(
        std::fs::read(r.join("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    let m = std::fs::metadata(r.join("etc/hosts")).unwrap();
    assert_eq!(m.mtime(), 1_600_000_000);
    assert_eq!(m.permissions().mode() & 0o7777, 0o644);
    assert_eq!(m.nlink(), 2);
    assert_eq!(
        std::fs::read_link(r.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert!(std::fs::metadata(r.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::metadata(r.join("etc")).unwrap().mtime(),
        1_600_000_000
    );
    if is_root() {
        assert_eq!(m.uid(), 1000);
        assert_eq!(m.gid(), 1001);
        assert_eq!(
            std::fs::metadata(r.join("bin/tool"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o4755
        );
        assert!(std::fs::symlink_metadata(r.join("dev/null"))
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(
            std::fs::symlink_metadata(r.join("bin/sh")).unwrap().uid(),
            1000
        );
    }
    let mut v = [0u8; 8];
    let c = std::ffi::CString::new(r.join("etc/attr").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings and a live buffer of the given length.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"user.berth".as_ptr(),
            v.as_mut_ptr().cast(),
            v.len(),
        )
    };
    assert_eq!(&v[..n.max(0) as usize], b"yes");
}

#[test]
fn refuses_dotdot() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let bytes = Tar::default().file("a/../../evil", b"x").done();
    let err = apply(&bytes, &root).unwrap_err();
    assert!(matches!(err, ArchiveError::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("a/../../evil"), "{err}");
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
    assert!(!outer.path().join("evil").exists());
}

#[test]
fn absolute_names_land_inside() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = Tar::default().file("/abs/file", b"x").done();
    apply(&bytes, dir.path()).unwrap();
    assert!(dir.path().join("abs/file").is_file());
}

fn write_through_symlinks(use_openat2: bool) {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = outside.path().to_str().unwrap();
    let bytes = Tar::default()
        .entry("evil", EntryType::Symlink, out, b"", 0o777)
        .file("evil/pwned", b"x")
        .entry("up", EntryType::Symlink, "../../../../../..", b"", 0o777)
        .file(&format!("up{out}/pwned2"), b"x")
        // A file entry over a symlink replaces the link, never writes to its target.
        .entry(
            "victim",
            EntryType::Symlink,
            &format!("{out}/target"),
            b"",
            0o777,
        )
        .file("victim", b"x")
        .done();
    let root = Root::open(dir.path()).unwrap();
    let root = if use_openat2 {
        root
    } else {
        root.without_openat2()
    };
    apply_in(&bytes[..], &root, ApplyOptions::default()).unwrap();
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "wrote outside the root"
    );
    let inside = dir.path().join(outside.path().strip_prefix("/").unwrap());
    assert!(inside.join("pwned").is_file());
    assert!(inside.join("pwned2").is_file());
    assert!(std::fs::symlink_metadata(dir.path().join("victim"))
        .unwrap()
        .is_file());
}

#[test]
fn never_writes_through_symlinks() {
    write_through_symlinks(true);
}

#[test]
fn never_writes_through_symlinks_without_openat2() {
    write_through_symlinks(false);
}

#[test]
fn hard_links_stay_inside() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = Tar::default()
        .entry("passwd", EntryType::Link, "/etc/passwd", b"", 0o644)
        .done();
    let err = apply(&bytes, dir.path()).unwrap_err();
    assert!(err.to_string().contains("passwd"), "{err}");
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument);
    assert!(!dir.path().join("passwd").exists());

    let bytes = Tar::default()
        .entry("p", EntryType::Link, "../../etc/passwd", b"", 0o644)
        .done();
    assert!(matches!(
        apply(&bytes, dir.path()).unwrap_err(),
        ArchiveError::Unsafe { .. }
    ));

    // Through a symlink to /etc: resolved inside the root, where there is no passwd.
    let bytes = Tar::default()
        .entry("etc", EntryType::Symlink, "/etc", b"", 0o777)
        .entry("p", EntryType::Link, "etc/passwd", b"", 0o644)
        .done();
    assert!(apply(&bytes, dir.path()).is_err());
    assert!(!dir.path().join("p").exists());
}

#[test]
fn truncated_streams_are_refused() {
    let full = Tar::default()
        .file("a", &[7u8; 3000])
        .file("b", b"b")
        .done();
    for cut in [
        100,
        512 + 1000,
        512 + 3072,
        512 + 3072 + 512 + 512,
        full.len() - 1024,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let err = apply(&full[..cut], dir.path()).unwrap_err();
        assert_eq!(
            err.kind(),
            berth_model::ErrorKind::InvalidArgument,
            "cut {cut}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(apply(b"", dir.path()).is_err());
    // One zero block is enough, as for Go's archive/tar.
    apply(&full[..full.len() - 512], dir.path()).unwrap();
}

#[test]
fn corrupt_header_is_refused() {
    let mut bytes = Tar::default().file("a", b"x").done();
    bytes[0] = b'z';
    let dir = tempfile::tempdir().unwrap();
    let err = apply(&bytes, dir.path()).unwrap_err();
    assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
}

#[test]
fn gzip_layers_apply_after_decompress() {
    let bytes = Tar::default().file("hello", b"world").done();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stats = apply_layer(crate::decompress(&gz[..]).unwrap(), dir.path()).unwrap();
    assert_eq!(stats.diff_id, Digest::of(&bytes));
    assert_eq!(std::fs::read(dir.path().join("hello")).unwrap(), b"world");

    let dir = tempfile::tempdir().unwrap();
    let err = apply_layer(crate::decompress(&gz[..gz.len() - 4]).unwrap(), dir.path()).unwrap_err();
    assert_eq!(err.kind(), berth_model::ErrorKind::InvalidArgument, "{err}");
}

fn xattr(path: &Path, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut v = [0u8; 16];
    // SAFETY: valid NUL-terminated strings and a live buffer of the given length.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
    (n >= 0).then(|| v[..n as usize].to_vec())
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let bytes = Tar::default()
        .dir("d/")
        .file("d/.wh..wh..opq", b"")
        .file("d/kept", b"k")
        .file(".wh.gone", b"")
        .file("x/.wh..wh.plnk", b"")
        .entry_pax(
            "y",
            EntryType::Regular,
            "",
            b"",
            0o644,
            &[("SCHILY.xattr.trusted.overlay.opaque", b"y")],
        )
        .done();
    let dir = tempfile::tempdir().unwrap();
    apply(&bytes, dir.path()).unwrap();
    let gone = std::fs::symlink_metadata(dir.path().join("gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(!dir.path().join(".wh.gone").exists());
    assert!(dir.path().join("d/kept").is_file());
    assert!(!dir.path().join("x/.wh..wh.plnk").exists());
    if is_root() {
        assert_eq!(
            xattr(&dir.path().join("d"), c"trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            xattr(&dir.path().join("y"), c"trusted.overlay.opaque"),
            None,
            "layer set an overlay xattr"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    apply_layer_with(&bytes[..], dir.path(), ApplyOptions { base_layer: true }).unwrap();
    assert!(!dir.path().join("gone").exists());
    assert!(dir.path().join("d/kept").is_file());
    assert_eq!(
        xattr(&dir.path().join("d"), c"trusted.overlay.opaque"),
        None
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    let bytes = Tar::default()
        .file("a", b"file")
        .dir("a/")
        .file("a/inner", b"i")
        .file("a", b"file again")
        .dir("b/")
        .dir("b/")
        .done();
    let dir = tempfile::tempdir().unwrap();
    apply(&bytes, dir.path()).unwrap();
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"file again");
    assert!(dir.path().join("b").is_dir());
}

#[test]
fn dot_whiteouts_are_refused() {
    for name in [".wh..", ".wh...", "sub/.wh...", ".wh."] {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(outer.path().join("precious"), b"p").unwrap();
        let bytes = Tar::default().file(name, b"").done();
        let err = apply(&bytes, &root).unwrap_err();
        assert!(matches!(err, ArchiveError::Unsafe { .. }), "{name}: {err}");
        assert!(outer.path().join("precious").exists(), "{name}");
        assert!(root.join("sub").exists(), "{name}");
        // A base layer ignores whiteouts, so it has nothing to refuse.
        apply_layer_with(&bytes[..], &root, ApplyOptions { base_layer: true }).unwrap();
    }
}
