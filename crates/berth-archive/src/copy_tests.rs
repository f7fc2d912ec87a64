use super::*;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use tar::EntryType;

/// Builds tars byte by byte, so tests can write what `tar::Builder` refuses to (`..`).
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn raw(
        &mut self,
        name: &str,
        kind: EntryType,
        link: &str,
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(1234);
        h.set_gid(4321);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(name, EntryType::Regular, "", data, 0o644)
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name, EntryType::Directory, "", b"", 0o755)
    }

    fn done(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.0);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

/// A container root with a few files, and a host directory beside it that must never be
/// read or written through the root.
struct Fixture {
    _t: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("rootfs");
    let outside = t.path().join("host");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("data/sub")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(root.join("data/a.txt"), "alpha").unwrap();
    fs::write(root.join("data/sub/b.txt"), "beta").unwrap();
    fs::write(outside.join("secret"), "host secret").unwrap();
    // Hostile links a container process could plant.
    symlink("/", root.join("slash")).unwrap();
    symlink("../../../../../../..", root.join("up")).unwrap();
    symlink(&outside, root.join("hostabs")).unwrap();
    symlink("/etc", root.join("etclink")).unwrap();
    Fixture {
        _t: t,
        root,
        outside,
    }
}

fn roots(f: &Fixture) -> [CopyRoot; 2] {
    [
        CopyRoot::open(&f.root).unwrap(),
        CopyRoot::open(&f.root).unwrap().without_openat2(),
    ]
}

/// (name, type char, link or content) of every entry.
fn list(tar: &[u8]) -> Vec<(String, char, String)> {
    let mut ar = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type().as_byte() as char;
        let extra = match e.link_name_bytes() {
            Some(l) => String::from_utf8_lossy(&l).into_owned(),
            None => {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                s
            }
        };
        out.push((name, kind, extra));
    }
    out
}

fn tar_of(r: &CopyRoot, path: &str) -> Vec<u8> {
    r.source(path).unwrap().write_tar(Vec::new()).unwrap()
}

#[test]
fn paths_parse_like_dockerd() {
    let p = CPath::parse("/data/../etc/./passwd");
    assert_eq!(p.comps, vec![OsString::from("etc"), "passwd".into()]);
    assert_eq!(p.base(), "passwd");
    assert_eq!(CPath::parse("/").base(), "/");
    assert_eq!(CPath::parse("/../..").base(), "/");
    assert_eq!(CPath::parse("/data/.").base(), ".");
    assert_eq!(CPath::parse("/data/").base(), "data");
    assert_eq!(CPath::parse("/data/").trailing, Trailing::Slash);
    assert_eq!(CPath::parse("data").comps, vec![OsString::from("data")]);
}

#[test]
fn go_file_modes() {
    assert_eq!(go_file_mode(0o100644), 0o644);
    assert_eq!(go_file_mode(0o040755), 0o755 | 1 << 31);
    assert_eq!(go_file_mode(0o120777), 0o777 | 1 << 27);
    assert_eq!(go_file_mode(0o041777), 0o777 | 1 << 31 | 1 << 20);
    assert_eq!(go_file_mode(0o104755), 0o755 | 1 << 23);
    assert_eq!(go_file_mode(0o020666), 0o666 | 1 << 26 | 1 << 21);
    assert_eq!(go_file_mode(0o010600), 0o600 | 1 << 25);
}

#[test]
fn stat_reports_like_dockerd() {
    let f = fixture();
    for r in roots(&f) {
        let s = r.stat("/data/a.txt").unwrap();
        assert_eq!((s.name.as_str(), s.size, s.mode), ("a.txt", 5, 0o644));
        assert_eq!(s.link_target, "");
        let s = r.stat("/data").unwrap();
        assert_eq!(s.mode & go_mode::DIR, go_mode::DIR);
        assert_eq!(r.stat("/").unwrap().name, "/");
        assert_eq!(r.stat("/data/.").unwrap().name, ".");
        // A final symlink is not followed; its target is resolved inside the root.
        let s = r.stat("/etclink").unwrap();
        assert_eq!(s.mode & go_mode::SYMLINK, go_mode::SYMLINK);
        assert_eq!(s.link_target, "/etc");
        assert_eq!(r.stat("/up").unwrap().link_target, "/");
        assert_eq!(r.stat("/slash").unwrap().link_target, "/");
        // The host path a link names is a path in the container, where it does not exist.
        let s = r.stat("/hostabs").unwrap();
        assert_eq!(s.link_target, f.outside.to_string_lossy());
        assert!(matches!(
            r.stat("/hostabs/secret"),
            Err(CopyError::NotFound(_))
        ));
        assert!(matches!(r.stat("/nope"), Err(CopyError::NotFound(_))));
        assert!(matches!(
            r.stat("/etc/passwd/x"),
            Err(CopyError::NotFound(_))
        ));
        // Links in the middle are followed inside the root.
        assert_eq!(r.stat("/up/etc/passwd").unwrap().name, "passwd");
        assert_eq!(r.stat("/slash/data/sub/b.txt").unwrap().size, 4);
    }
}

#[test]
fn resolve_follows_links_inside_the_root() {
    let f = fixture();
    for r in roots(&f) {
        assert_eq!(r.resolve("/etclink").unwrap(), "/etc");
        assert_eq!(r.resolve("/etclink/passwd").unwrap(), "/etc/passwd");
        assert_eq!(r.resolve("/up/data/sub").unwrap(), "/data/sub");
        assert_eq!(r.resolve("/slash").unwrap(), "/");
        assert_eq!(r.resolve("/data/../../..").unwrap(), "/");
        // A host path is a path in the container; a missing tail is kept.
        let host = f.outside.to_string_lossy().to_string();
        assert_eq!(
            r.resolve("/hostabs/secret").unwrap(),
            format!("{host}/secret")
        );
        assert_eq!(r.resolve("/etclink/new/dir").unwrap(), "/etc/new/dir");
        assert_eq!(r.resolve("/data/a.txt").unwrap(), "/data/a.txt");
    }
}

#[test]
fn tar_of_a_directory_is_rebased_and_sorted() {
    let f = fixture();
    for r in roots(&f) {
        let got = list(&tar_of(&r, "/data"));
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["data/", "data/a.txt", "data/sub/", "data/sub/b.txt"]
        );
        assert_eq!(got[1].2, "alpha");
        // `dir/.` means the contents, under `.`.
        let got = list(&tar_of(&r, "/data/."));
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["./", "./a.txt", "./sub/", "./sub/b.txt"]);
        // Through a symlinked directory: rebased to the name asked for.
        let got = list(&tar_of(&r, "/etclink/"));
        assert_eq!(got[0].0, "etclink/");
        assert_eq!(
            got[1],
            (
                "etclink/passwd".into(),
                '0',
                "root:x:0:0::/root:/bin/sh\n".into()
            )
        );
        let got = list(&tar_of(&r, "/data/a.txt"));
        assert_eq!(got, [("a.txt".to_string(), '0', "alpha".to_string())]);
    }
}

#[test]
fn reading_never_follows_links_out_of_the_root() {
    let f = fixture();
    for r in roots(&f) {
        // The link itself is archived, never what it points to on the host.
        let got = list(&tar_of(&r, "/hostabs"));
        assert_eq!(
            got,
            [(
                "hostabs".to_string(),
                '2',
                f.outside.to_string_lossy().into_owned()
            )]
        );
        let whole = list(&tar_of(&r, "/"));
        assert!(whole.iter().all(|e| e.2 != "host secret"));
        assert!(whole.iter().any(|e| e.0 == "/data/sub/b.txt"));
        assert_eq!(whole[0].0, "/");
        assert!(matches!(
            r.source("/hostabs/secret"),
            Err(CopyError::NotFound(_))
        ));
        assert!(matches!(
            r.source("/up/../hostabs/secret"),
            Err(CopyError::NotFound(_))
        ));
    }
}

#[test]
fn hard_links_and_long_names_round_trip() {
    let f = fixture();
    fs::hard_link(f.root.join("data/a.txt"), f.root.join("data/z.txt")).unwrap();
    let long = "x".repeat(150);
    fs::write(f.root.join("data/sub").join(&long), "long").unwrap();
    symlink("y".repeat(120), f.root.join("data/longlink")).unwrap();
    let r = CopyRoot::open(&f.root).unwrap();
    let bytes = tar_of(&r, "/data");
    let got = list(&bytes);
    assert!(got.contains(&("data/z.txt".into(), '1', "data/a.txt".into())));
    assert!(got.contains(&(format!("data/sub/{long}"), '0', "long".into())));
    assert!(got.contains(&("data/longlink".into(), '2', "y".repeat(120))));
    // And back in, elsewhere.
    fs::create_dir_all(f.root.join("copy")).unwrap();
    r.extract("/copy", &bytes[..], ExtractOptions::default())
        .unwrap();
    let c = f.root.join("copy/data");
    assert_eq!(fs::read_to_string(c.join("a.txt")).unwrap(), "alpha");
    assert_eq!(
        fs::metadata(c.join("a.txt")).unwrap().ino(),
        fs::metadata(c.join("z.txt")).unwrap().ino()
    );
    assert_eq!(
        fs::read_to_string(c.join("sub").join(&long)).unwrap(),
        "long"
    );
    assert_eq!(
        fs::read_link(c.join("longlink")).unwrap(),
        PathBuf::from("y".repeat(120))
    );
}

#[test]
fn extract_files_dirs_and_links() {
    let f = fixture();
    for (i, r) in roots(&f).into_iter().enumerate() {
        let dest = format!("/in{i}");
        fs::create_dir_all(f.root.join(&dest[1..])).unwrap();
        let bytes = Tar::default()
            .dir("d/")
            .file("d/f.txt", b"hello")
            .raw("d/l", EntryType::Symlink, "/etc/passwd", b"", 0o777)
            .raw("d/.wh.x", EntryType::Regular, "", b"plain", 0o600)
            .done();
        let n = r
            .extract(&dest, &bytes[..], ExtractOptions::default())
            .unwrap();
        assert_eq!(n, 10);
        let d = f.root.join(&dest[1..]).join("d");
        assert_eq!(fs::read_to_string(d.join("f.txt")).unwrap(), "hello");
        assert_eq!(fs::read_to_string(d.join(".wh.x")).unwrap(), "plain");
        assert_eq!(
            fs::read_link(d.join("l")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
        let m = fs::metadata(d.join("f.txt")).unwrap();
        assert_eq!(m.mtime(), 1_600_000_000);
        assert_eq!(m.permissions().mode() & 0o7777, 0o644);
        assert_eq!(fs::metadata(&d).unwrap().mtime(), 1_600_000_000);
        if nix::unistd::geteuid().is_root() {
            assert_eq!((m.uid(), m.gid()), (1234, 4321));
        }
    }
}

#[test]
fn extract_chowns_when_asked() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let f = fixture();
    let r = CopyRoot::open(&f.root).unwrap();
    let bytes = Tar::default().dir("o/").file("o/f", b"x").done();
    let opts = ExtractOptions {
        chown: Some((7, 8)),
        ..Default::default()
    };
    r.extract("/data", &bytes[..], opts).unwrap();
    for p in ["data/o", "data/o/f"] {
        let m = fs::metadata(f.root.join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (7, 8), "{p}");
    }
}

#[test]
fn extract_refuses_entries_leaving_the_destination() {
    let f = fixture();
    for r in roots(&f) {
        for name in [
            "../escape",
            "a/../../escape",
            "../../../../../../tmp/escape",
        ] {
            let bytes = Tar::default().file(name, b"evil").done();
            let err = r
                .extract("/data", &bytes[..], ExtractOptions::default())
                .unwrap_err();
            assert!(matches!(err, CopyError::Refused(_)), "{name}: {err}");
            assert!(err.to_string().contains("is outside of \"/data\""), "{err}");
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        }
        assert!(!f.root.join("escape").exists());
        // An absolute name is taken relative to the destination, and `a/../b` is just `b`.
        let bytes = Tar::default()
            .file("/abs.txt", b"1")
            .file("q/../b.txt", b"2")
            .done();
        r.extract("/data", &bytes[..], ExtractOptions::default())
            .unwrap();
        assert!(f.root.join("data/abs.txt").is_file());
        assert!(f.root.join("data/b.txt").is_file());
        // Hard links must name something below the destination.
        let bytes = Tar::default()
            .raw("h", EntryType::Link, "../etc/passwd", b"", 0o644)
            .done();
        let err = r
            .extract("/data", &bytes[..], ExtractOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("outside of"), "{err}");
    }
}

#[test]
fn extract_through_links_stays_in_the_root() {
    let f = fixture();
    let host = f.outside.to_string_lossy().into_owned();
    let inside_host = f.root.join(host.trim_start_matches('/'));
    for r in roots(&f) {
        // Destinations that are (or pass) links to `/`, `../../..` or a host path.
        for dest in ["/slash", "/up", "/up/data", "/hostabs"] {
            if dest == "/hostabs" {
                fs::create_dir_all(&inside_host).unwrap();
            }
            let bytes = Tar::default().file("planted", b"x").done();
            r.extract(dest, &bytes[..], ExtractOptions::default())
                .unwrap();
            assert!(!f.outside.join("planted").exists(), "{dest}");
        }
        assert!(f.root.join("planted").is_file());
        assert!(f.root.join("data/planted").is_file());
        assert!(inside_host.join("planted").is_file());
        // A link inside the tar, then a write through it: lands in the container's /etc.
        let bytes = Tar::default()
            .raw("ln", EntryType::Symlink, &host, b"", 0o777)
            .file("ln/secret", b"overwritten")
            .raw("up2", EntryType::Symlink, "../../../../../..", b"", 0o777)
            .file("up2/written-through", b"y")
            .done();
        r.extract("/data", &bytes[..], ExtractOptions::default())
            .unwrap();
        assert_eq!(
            fs::read_to_string(f.outside.join("secret")).unwrap(),
            "host secret"
        );
        assert_eq!(
            fs::read_to_string(inside_host.join("secret")).unwrap(),
            "overwritten"
        );
        assert!(f.root.join("written-through").is_file());
        assert!(!f.outside.join("written-through").exists());
        let _ = fs::remove_dir_all(
            f.root
                .join(host.trim_start_matches('/').split('/').next().unwrap()),
        );
        let _ = fs::remove_file(f.root.join("data/ln"));
        let _ = fs::remove_file(f.root.join("data/up2"));
    }
}

#[test]
fn extract_destination_errors() {
    let f = fixture();
    let r = CopyRoot::open(&f.root).unwrap();
    let bytes = Tar::default().file("x", b"1").done();
    let err = r
        .extract("/nope", &bytes[..], ExtractOptions::default())
        .unwrap_err();
    assert!(matches!(err, CopyError::NotFound(_)), "{err}");
    let err = r
        .extract("/etc/passwd", &bytes[..], ExtractOptions::default())
        .unwrap_err();
    assert!(matches!(err, CopyError::NotADirectory), "{err}");
    assert_eq!(err.to_string(), "extraction point is not a directory");
    // dir ↔ non-dir overwrites, refused when asked.
    let no = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..Default::default()
    };
    let bytes = Tar::default().file("sub", b"1").done();
    let err = r.extract("/data", &bytes[..], no.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot overwrite directory \"/data/sub\" with non-directory \"/data\""
    );
    let bytes = Tar::default().dir("a.txt/").done();
    let err = r.extract("/data", &bytes[..], no.clone()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot overwrite non-directory"),
        "{err}"
    );
    // Without the option a file replaces a directory, as dockerd.
    let bytes = Tar::default().file("sub", b"1").done();
    r.extract("/data", &bytes[..], ExtractOptions::default())
        .unwrap();
    assert!(f.root.join("data/sub").is_file());
    // A truncated stream is an error, not a silent half-file.
    // Docker's rename of the top entry (and hard link targets).
    let bytes = Tar::default()
        .dir("src/")
        .file("src/f", b"1")
        .raw("src/h", EntryType::Link, "src/f", b"", 0o644)
        .done();
    let opts = ExtractOptions {
        rename: Some((b"src".to_vec(), b"renamed".to_vec())),
        ..Default::default()
    };
    r.extract("/data", &bytes[..], opts).unwrap();
    assert!(f.root.join("data/renamed/h").is_file());
    assert!(!f.root.join("data/src").exists());
    assert_eq!(extract::replace_first(b"./a", b".", b"out"), b"out/a");
    assert_eq!(extract::replace_first(b"/x", b"", b"y"), b"y/x");
    let mut bytes = Tar::default().file("big", &[7u8; 4000]).done();
    bytes.truncate(2048);
    let err = r
        .extract("/data", &bytes[..], ExtractOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn small_files_are_read_inside_the_root() {
    let f = fixture();
    let r = CopyRoot::open(&f.root).unwrap();
    let got = r
        .read_small_file("/etclink/passwd", 1 << 20)
        .unwrap()
        .unwrap();
    assert!(got.starts_with(b"root:"));
    assert!(r
        .read_small_file("/hostabs/secret", 1 << 20)
        .unwrap()
        .is_none());
    assert!(r.read_small_file("/nope", 1 << 20).unwrap().is_none());
}

#[test]
fn file_capabilities_round_trip() {
    let f = fixture();
    let file = f.root.join("data/a.txt");
    // VFS_CAP_REVISION_2 with CAP_NET_BIND_SERVICE (10) permitted and effective.
    let mut caps = vec![0u8; 20];
    caps[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    caps[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
    let set = |p: &Path, v: &[u8]| {
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: NUL-terminated strings and a live buffer for the call.
        unsafe {
            libc::setxattr(
                c.as_ptr(),
                c"security.capability".as_ptr(),
                v.as_ptr().cast(),
                v.len(),
                0,
            )
        }
    };
    if set(&file, &caps) != 0 {
        eprintln!("skipped: cannot set file capabilities here");
        return;
    }
    let r = CopyRoot::open(&f.root).unwrap();
    let bytes = tar_of(&r, "/data/a.txt");
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut e = ar.entries().unwrap().next().unwrap().unwrap();
    let pax: Vec<(String, Vec<u8>)> = e
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|x| {
            let x = x.unwrap();
            (x.key().unwrap().to_string(), x.value_bytes().to_vec())
        })
        .collect();
    assert_eq!(
        pax,
        [("SCHILY.xattr.security.capability".to_string(), caps.clone())]
    );
    fs::create_dir_all(f.root.join("caps")).unwrap();
    r.extract("/caps", &bytes[..], ExtractOptions::default())
        .unwrap();
    let c = std::ffi::CString::new(f.root.join("caps/a.txt").as_os_str().as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: NUL-terminated strings and a live, writable buffer for the call.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(&buf[..n.max(0) as usize], &caps[..]);
}
