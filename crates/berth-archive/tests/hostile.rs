//! A corpus of hostile layer tars, built byte by byte, each applied to a fresh root with a
//! sentinel directory beside it. Every one must be refused with an error naming the entry,
//! or be contained: nothing outside the root created, changed or linked to.
//!
//! Complements the unit tests in `src/apply_tests.rs` (plain `..`, absolute names, writes
//! through symlinks, hard links to `/etc/passwd`, dot whiteouts, truncation at a few cuts).

use berth_archive::{apply_layer, apply_layer_with, ApplyOptions, ArchiveError};
use berth_model::ErrorKind;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use tar::EntryType;

/// Builds tars header by header, writing names `tar::Builder` would refuse.
#[derive(Default)]
struct Tar(Vec<u8>);

struct E<'a> {
    name: &'a [u8],
    kind: EntryType,
    link: &'a [u8],
    data: &'a [u8],
    mode: u32,
    dev: (u32, u32),
    /// Extra PAX records, written as an `x` entry before this one.
    pax: Vec<(&'a str, Vec<u8>)>,
}

impl<'a> E<'a> {
    fn new(name: &'a str, kind: EntryType) -> Self {
        Self {
            name: name.as_bytes(),
            kind,
            link: b"",
            data: b"",
            mode: 0o644,
            dev: (0, 0),
            pax: Vec::new(),
        }
    }
}

fn pax_record(k: &str, v: &[u8]) -> Vec<u8> {
    let base = k.len() + v.len() + 3;
    let digits = |n: usize| n.to_string().len();
    let mut len = base + digits(base);
    if digits(len) > digits(base) {
        len += 1;
    }
    let mut out = format!("{len} {k}=").into_bytes();
    out.extend_from_slice(v);
    out.push(b'\n');
    out
}

impl Tar {
    fn header(&mut self, name: &[u8], kind: EntryType, link: &[u8], size: u64, mode: u32) {
        self.header_dev(name, kind, link, size, mode, (0, 0))
    }

    fn header_dev(
        &mut self,
        name: &[u8],
        kind: EntryType,
        link: &[u8],
        size: u64,
        mode: u32,
        dev: (u32, u32),
    ) {
        let mut h = tar::Header::new_ustar();
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(100);
        h.as_old_mut().linkname[..l].copy_from_slice(&link[..l]);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(dev.0).unwrap();
            h.set_device_minor(dev.1).unwrap();
        }
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
    }

    fn data(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
    }

    fn add(&mut self, e: E<'_>) -> &mut Self {
        let mut pax: Vec<u8> = Vec::new();
        if e.name.len() > 100 {
            pax.extend(pax_record("path", e.name));
        }
        if e.link.len() > 100 {
            pax.extend(pax_record("linkpath", e.link));
        }
        for (k, v) in &e.pax {
            pax.extend(pax_record(k, v));
        }
        if !pax.is_empty() {
            self.header(b"pax", EntryType::XHeader, b"", pax.len() as u64, 0o644);
            self.data(&pax);
        }
        self.header_dev(e.name, e.kind, e.link, e.data.len() as u64, e.mode, e.dev);
        self.data(e.data);
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.add(E {
            data,
            ..E::new(name, EntryType::Regular)
        })
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.add(E {
            mode: 0o755,
            ..E::new(name, EntryType::Directory)
        })
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(E {
            link: target.as_bytes(),
            mode: 0o777,
            ..E::new(name, EntryType::Symlink)
        })
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(E {
            link: target.as_bytes(),
            ..E::new(name, EntryType::Link)
        })
    }

    /// A GNU long-name entry (`././@LongLink`, type L) naming the next entry.
    fn gnu_longname(&mut self, name: &[u8]) -> &mut Self {
        let mut body = name.to_vec();
        body.push(0);
        self.header(
            b"././@LongLink",
            EntryType::GNULongName,
            b"",
            body.len() as u64,
            0o644,
        );
        self.data(&body);
        self
    }

    fn done(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.0);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

/// What a file looked like, to tell whether anything touched it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    dev: u64,
    ino: u64,
    nlink: u64,
    mode: u32,
    mtime: i64,
    size: u64,
    content: Vec<u8>,
    link: Option<PathBuf>,
}

fn seen(p: &Path) -> Seen {
    let m = std::fs::symlink_metadata(p).unwrap();
    let ft = m.file_type();
    Seen {
        kind: if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "other"
        },
        dev: m.dev(),
        ino: m.ino(),
        nlink: m.nlink(),
        mode: m.mode(),
        mtime: m.mtime(),
        size: m.len(),
        content: if ft.is_file() {
            std::fs::read(p).unwrap()
        } else {
            Vec::new()
        },
        link: ft.is_symlink().then(|| std::fs::read_link(p).unwrap()),
    }
}

/// Everything under `dir` (itself included), skipping `skip`.
fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, Seen>) {
    out.insert(dir.to_path_buf(), seen(dir));
    if !std::fs::symlink_metadata(dir).unwrap().is_dir() {
        return;
    }
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p == skip {
            continue;
        }
        snapshot(&p, skip, out);
    }
}

/// A temp dir holding `root` (where layers go) and `sentinel` (which must stay as it is).
struct Sandbox {
    dir: tempfile::TempDir,
    before: BTreeMap<PathBuf, Seen>,
    passwd: Seen,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let s = dir.path().join("sentinel");
        std::fs::create_dir_all(s.join("sub")).unwrap();
        std::fs::write(s.join("keep"), b"precious").unwrap();
        std::fs::write(s.join("sub/deep"), b"deep").unwrap();
        std::os::unix::fs::symlink("keep", s.join("alias")).unwrap();
        let mut before = BTreeMap::new();
        snapshot(dir.path(), &dir.path().join("root"), &mut before);
        Self {
            dir,
            before,
            passwd: seen(Path::new("/etc/passwd")),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn sentinel(&self) -> String {
        self.dir.path().join("sentinel").display().to_string()
    }

    /// The sandbox dir's name seen from the root: `..` steps that would reach it.
    fn name(&self) -> String {
        self.dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// Nothing outside the root changed, and nothing inside the root is a hard link to a
    /// file outside it.
    fn assert_contained(&self, case: &str) {
        let mut after = BTreeMap::new();
        snapshot(self.dir.path(), &self.root(), &mut after);
        // The sandbox dir's own times change when nothing but root changes: compare kids.
        let strip = |m: &BTreeMap<PathBuf, Seen>| {
            let mut m = m.clone();
            m.remove(self.dir.path());
            m
        };
        assert_eq!(
            strip(&after),
            strip(&self.before),
            "{case}: outside changed"
        );
        let outer: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(outer.len(), 2, "{case}: new entries beside root: {outer:?}");
        assert_eq!(
            seen(Path::new("/etc/passwd")),
            self.passwd,
            "{case}: /etc/passwd changed"
        );
        let outside: Vec<(u64, u64)> = self
            .before
            .values()
            .chain(std::iter::once(&self.passwd))
            .filter(|s| s.kind == "file")
            .map(|s| (s.dev, s.ino))
            .collect();
        let mut inside = BTreeMap::new();
        snapshot(&self.root(), Path::new(""), &mut inside);
        for (p, s) in &inside {
            assert!(
                !outside.contains(&(s.dev, s.ino)),
                "{case}: {} is a hard link to a file outside the root",
                p.display()
            );
        }
    }
}

enum Want {
    /// Refused as bad input, the message containing this text.
    Refused(&'static str),
    /// Applied (or failed) without touching anything outside.
    Contained,
    /// Must apply and leave these paths (relative to root) as described.
    Applied(Vec<(String, &'static str)>),
}

fn run_case(case: &str, bytes: &[u8], want: Want) {
    let sb = Sandbox::new();
    let res = apply_layer(bytes, &sb.root());
    match (&want, &res) {
        (Want::Refused(text), Err(e)) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{case}: {e}");
            assert!(e.to_string().contains(text), "{case}: {e:?} lacks {text:?}");
        }
        (Want::Refused(_), Ok(_)) => panic!("{case}: applied, want refused"),
        (Want::Contained, _) => {}
        (Want::Applied(paths), Ok(_)) => {
            for (p, kind) in paths {
                let got = std::fs::symlink_metadata(sb.root().join(p))
                    .map(|m| {
                        let ft = m.file_type();
                        if ft.is_dir() {
                            "dir"
                        } else if ft.is_symlink() {
                            "symlink"
                        } else if ft.is_file() {
                            "file"
                        } else if ft.is_char_device() {
                            "char"
                        } else if ft.is_block_device() {
                            "block"
                        } else if ft.is_fifo() {
                            "fifo"
                        } else {
                            "other"
                        }
                    })
                    .unwrap_or("missing");
                assert_eq!(got, *kind, "{case}: root/{p}");
            }
        }
        (Want::Applied(_), Err(e)) => panic!("{case}: want applied, got {e}"),
    }
    sb.assert_contained(case);
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Paths that name the sandbox's sentinel from inside the root in various ways. Cases
/// take the sandbox to know its absolute path, so they are built per sandbox.
fn with_sandbox(case: &str, build: impl Fn(&Sandbox) -> Vec<u8>, want: impl Fn(&Sandbox) -> Want) {
    let sb = Sandbox::new();
    let bytes = build(&sb);
    let w = want(&sb);
    let res = apply_layer(&bytes[..], &sb.root());
    match (&w, &res) {
        (Want::Refused(text), Err(e)) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{case}: {e}");
            assert!(e.to_string().contains(text), "{case}: {e:?} lacks {text:?}");
        }
        (Want::Refused(_), Ok(_)) => panic!("{case}: applied, want refused"),
        (Want::Applied(paths), Ok(_)) => {
            for (p, kind) in paths {
                let m = std::fs::symlink_metadata(sb.root().join(p));
                let got = match &m {
                    Ok(m) if m.is_dir() => "dir",
                    Ok(m) if m.file_type().is_symlink() => "symlink",
                    Ok(m) if m.is_file() => "file",
                    Ok(_) => "other",
                    Err(_) => "missing",
                };
                assert_eq!(got, *kind, "{case}: root/{p}");
            }
        }
        (Want::Applied(_), Err(e)) => panic!("{case}: want applied, got {e}"),
        (Want::Contained, _) => {}
    }
    sb.assert_contained(case);
}

#[test]
#[should_panic(expected = "outside changed")]
fn the_sandbox_sees_a_write_outside() {
    let sb = Sandbox::new();
    std::fs::write(sb.dir.path().join("sentinel/sub/deep"), b"changed").unwrap();
    sb.assert_contained("self-test");
}

#[test]
#[should_panic(expected = "hard link to a file outside")]
fn the_sandbox_sees_a_hard_link_out() {
    let sb = Sandbox::new();
    std::fs::hard_link(sb.dir.path().join("sentinel/keep"), sb.root().join("h")).unwrap();
    // The link count of the sentinel changes too; look only at the inode check.
    let mut sb = sb;
    sb.before = {
        let mut m = BTreeMap::new();
        snapshot(sb.dir.path(), &sb.root(), &mut m);
        m
    };
    sb.assert_contained("self-test");
}

#[test]
fn dotdot_names_in_every_encoding_are_refused() {
    run_case(
        "leading ../",
        &Tar::default().file("../escape", b"x").done(),
        Want::Refused("../escape"),
    );
    run_case(
        "deep ../",
        &Tar::default().file("a/b/../../../../escape", b"x").done(),
        Want::Refused("escape"),
    );
    run_case(
        "bare ..",
        &Tar::default().dir("..").done(),
        Want::Refused("\"..\""),
    );
    run_case(
        "dir entry ../x/",
        &Tar::default().dir("../x/").done(),
        Want::Refused("../x"),
    );
    // A harmless ustar name overridden by a PAX path: the PAX one counts.
    run_case(
        "pax path",
        &Tar::default()
            .add(E {
                data: b"x",
                pax: vec![("path", b"../pax-escape".to_vec())],
                ..E::new("harmless", EntryType::Regular)
            })
            .done(),
        Want::Refused("pax-escape"),
    );
    run_case(
        "gnu long name",
        &Tar::default()
            .gnu_longname(format!("{}/../../../gnu-escape", "d".repeat(120)).as_bytes())
            .file("harmless", b"x")
            .done(),
        Want::Refused("gnu-escape"),
    );
    run_case(
        "symlink named ..",
        &Tar::default().symlink("sub/..", "/").done(),
        Want::Refused(".."),
    );
}

#[test]
fn absolute_names_stay_inside() {
    with_sandbox(
        "absolute name of the sentinel",
        |sb| {
            Tar::default()
                .file(&format!("{}/keep", sb.sentinel()), b"overwritten?")
                .file("/etc/passwd", b"root::0:0::/:/bin/sh\n")
                .file("//double//slash", b"x")
                .done()
        },
        |sb| {
            Want::Applied(vec![
                (format!("{}/keep", &sb.sentinel()[1..]), "file"),
                ("etc/passwd".into(), "file"),
                ("double/slash".into(), "file"),
            ])
        },
    );
}

#[test]
fn writes_through_symlinks_stay_inside() {
    // (case, link target, name written through the link, where it must land in the root)
    type Where = fn(&Sandbox) -> String;
    let case = |name: &str, target: Where, through: &'static str, lands: Where| {
        with_sandbox(
            name,
            |sb| {
                let t = target(sb);
                Tar::default()
                    .symlink("l", &t)
                    .file(&format!("l/{through}"), b"pwned")
                    .dir(&format!("l/{through}.d/"))
                    .file(&format!("l/{through}.d/inner"), b"pwned")
                    .symlink(&format!("l/{through}.s"), "/")
                    .hardlink(&format!("l/{through}.h"), &format!("l/{through}"))
                    .done()
            },
            |sb| {
                let at = lands(sb);
                Want::Applied(vec![
                    ("l".into(), "symlink"),
                    (at.clone(), "file"),
                    (format!("{at}.d/inner"), "file"),
                    (format!("{at}.s"), "symlink"),
                    (format!("{at}.h"), "file"),
                ])
            },
        );
    };
    case(
        "symlink to /",
        |_| "/".into(),
        "tmp/escape",
        |_| "tmp/escape".into(),
    );
    case(
        "symlink to the sentinel",
        |sb| sb.sentinel(),
        "keep",
        |sb| format!("{}/keep", &sb.sentinel()[1..]),
    );
    case(
        "symlink to ../..",
        |_| "../..".into(),
        "escape",
        |_| "escape".into(),
    );
    case(
        "symlink climbing to the sentinel",
        |sb| format!("../../../../../../../..{}", sb.sentinel()),
        "keep",
        |sb| format!("{}/keep", &sb.sentinel()[1..]),
    );
    case(
        "symlink to /proc/self/root",
        |_| "/proc/self/root/tmp".into(),
        "escape",
        |_| "proc/self/root/tmp/escape".into(),
    );
    // Chains: a link to a link to the outside.
    with_sandbox(
        "chained symlinks",
        |sb| {
            Tar::default()
                .symlink("a", "b")
                .symlink("b", "c/../d")
                .dir("c/")
                .symlink("d", &sb.sentinel())
                .file("a/keep", b"pwned")
                .file("a/sub/deep", b"pwned")
                .done()
        },
        |_| Want::Contained,
    );
    run_case(
        "symlink loop",
        &Tar::default()
            .symlink("a", "b")
            .symlink("b", "a")
            .file("a/x", b"x")
            .done(),
        Want::Contained,
    );
}

#[test]
fn a_symlink_replaced_by_a_directory_is_a_directory() {
    with_sandbox(
        "symlink then dir then file",
        |sb| {
            Tar::default()
                .symlink("d", &sb.sentinel())
                .dir("d/")
                .file("d/keep", b"inside")
                .done()
        },
        |_| Want::Applied(vec![("d".into(), "dir"), ("d/keep".into(), "file")]),
    );
    // A directory replaced by a symlink, then written through.
    with_sandbox(
        "dir then symlink then file",
        |sb| {
            Tar::default()
                .dir("d/")
                .file("d/f", b"x")
                .symlink("d", &sb.sentinel())
                .file("d/keep", b"pwned")
                .done()
        },
        |_| Want::Applied(vec![("d".into(), "symlink")]),
    );
    // A file over a symlink to a directory outside: the link goes, nothing is followed.
    with_sandbox(
        "file over symlink to dir",
        |sb| {
            Tar::default()
                .symlink("s", &sb.sentinel())
                .file("s", b"file now")
                .done()
        },
        |_| Want::Applied(vec![("s".into(), "file")]),
    );
}

#[test]
fn hard_links_never_reach_outside() {
    with_sandbox(
        "hard link to the sentinel by absolute path",
        |sb| {
            Tar::default()
                .hardlink("h", &format!("{}/keep", sb.sentinel()))
                .done()
        },
        |_| Want::Refused("is not in the layer"),
    );
    run_case(
        "hard link to ../outside",
        &Tar::default().hardlink("h", "../outside").done(),
        Want::Refused("leaves the layer"),
    );
    run_case(
        "hard link to a/../../x",
        &Tar::default().hardlink("h", "a/../../x").done(),
        Want::Refused("leaves the layer"),
    );
    with_sandbox(
        "hard link through a symlinked dir",
        |sb| {
            Tar::default()
                .symlink("s", &sb.sentinel())
                .hardlink("h", "s/keep")
                .done()
        },
        |_| Want::Refused("is not in the layer"),
    );
    with_sandbox(
        "hard link through a climbing symlink",
        |sb| {
            Tar::default()
                .symlink("up", &format!("../../../../..{}", sb.sentinel()))
                .hardlink("h", "up/sub/deep")
                .done()
        },
        |_| Want::Refused("is not in the layer"),
    );
    // Linking a symlink links the symlink itself: `h` is a link, not /etc/passwd.
    run_case(
        "hard link to a symlink pointing out",
        &Tar::default()
            .symlink("s", "/etc/passwd")
            .hardlink("h", "s")
            .done(),
        Want::Applied(vec![("h".into(), "symlink"), ("s".into(), "symlink")]),
    );
    // A long (PAX) link target that escapes.
    run_case(
        "pax linkpath",
        &Tar::default()
            .add(E {
                pax: vec![("linkpath", b"../../../etc/passwd".to_vec())],
                link: b"harmless",
                ..E::new("h", EntryType::Link)
            })
            .done(),
        Want::Refused("leaves the layer"),
    );
    run_case(
        "hard link to the root",
        &Tar::default().hardlink("h", "/").done(),
        Want::Refused("layer root"),
    );
    run_case(
        "hard link to a directory",
        &Tar::default().dir("d/").hardlink("h", "d").done(),
        Want::Contained,
    );
    // A hard link inside, then a file entry at the link's name: the link is replaced,
    // never written through (its target keeps its content).
    run_case(
        "file over a hard link",
        &Tar::default()
            .file("orig", b"original")
            .hardlink("h", "orig")
            .file("h", b"replaced")
            .done(),
        Want::Applied(vec![("orig".into(), "file"), ("h".into(), "file")]),
    );
    let sb = Sandbox::new();
    let bytes = Tar::default()
        .file("orig", b"original")
        .hardlink("h", "orig")
        .file("h", b"replaced")
        .done();
    apply_layer(&bytes[..], &sb.root()).unwrap();
    assert_eq!(std::fs::read(sb.root().join("orig")).unwrap(), b"original");
    assert_eq!(std::fs::read(sb.root().join("h")).unwrap(), b"replaced");
}

#[test]
fn device_nodes_are_made_inside_only() {
    let nodes = |prefix: &str| {
        let mut t = Tar::default();
        t.add(E {
            dev: (1, 3),
            mode: 0o666,
            ..E::new(&format!("{prefix}null"), EntryType::Char)
        })
        .add(E {
            dev: (8, 0),
            mode: 0o660,
            ..E::new(&format!("{prefix}sda"), EntryType::Block)
        })
        .add(E {
            mode: 0o600,
            ..E::new(&format!("{prefix}fifo"), EntryType::Fifo)
        });
        t
    };
    if is_root() {
        run_case(
            "device nodes",
            &nodes("dev/").done(),
            Want::Applied(vec![
                ("dev/null".into(), "char"),
                ("dev/sda".into(), "block"),
                ("dev/fifo".into(), "fifo"),
            ]),
        );
    }
    // Through a symlink to the host's /dev: made in the root's own dev.
    let mut t = Tar::default();
    t.symlink("hostdev", "/dev");
    let mut n = nodes("hostdev/berth-hostile-");
    t.0.extend(std::mem::take(&mut n.0));
    run_case("device nodes through /dev link", &t.done(), Want::Contained);
    assert!(!Path::new("/dev/berth-hostile-null").exists());
    assert!(!Path::new("/dev/berth-hostile-fifo").exists());
    // Over the sentinel through a link.
    with_sandbox(
        "device node over the sentinel",
        |sb| {
            Tar::default()
                .symlink("s", &sb.sentinel())
                .add(E {
                    mode: 0o600,
                    ..E::new("s/keep", EntryType::Fifo)
                })
                .done()
        },
        |_| Want::Contained,
    );
}

#[test]
fn whiteouts_never_delete_outside() {
    with_sandbox(
        "whiteout through a symlink to the sentinel",
        |sb| {
            Tar::default()
                .symlink("s", &sb.sentinel())
                .file("s/.wh.keep", b"")
                .file("s/.wh.sub", b"")
                .file("s/.wh..wh..opq", b"")
                .done()
        },
        |_| Want::Contained,
    );
    with_sandbox(
        "whiteout through a climbing symlink",
        |sb| {
            Tar::default()
                .symlink("up", "../../../../../..")
                .file(&format!("up/{}/.wh.sentinel", sb.name()), b"")
                .file(&format!("up{}/.wh.keep", sb.sentinel()), b"")
                .done()
        },
        |_| Want::Contained,
    );
    run_case(
        "whiteout of ../",
        &Tar::default().file("../.wh.sentinel", b"").done(),
        Want::Refused(".."),
    );
    run_case(
        "whiteout with a PAX path escaping",
        &Tar::default()
            .add(E {
                pax: vec![("path", b"a/../../.wh.sentinel".to_vec())],
                ..E::new(".wh.harmless", EntryType::Regular)
            })
            .done(),
        Want::Refused("sentinel"),
    );
    run_case(
        "whiteout of the root",
        &Tar::default().file("/.wh.", b"").done(),
        Want::Refused("whiteout"),
    );
    run_case(
        "whiteout of .. below a dir",
        &Tar::default()
            .dir("a/")
            .dir("a/b/")
            .file("a/b/.wh...", b"")
            .done(),
        Want::Refused("whiteout"),
    );
    // A whiteout as a symlink or a directory entry is still only a whiteout.
    with_sandbox(
        "whiteout entry that is a symlink",
        |sb| {
            Tar::default()
                .symlink(".wh.x", &sb.sentinel())
                .dir(".wh.y/")
                .done()
        },
        |_| Want::Contained,
    );
}

#[test]
fn the_root_itself_cannot_be_replaced() {
    for (name, kind) in [
        ("./", EntryType::Symlink),
        (".", EntryType::Regular),
        ("/", EntryType::Fifo),
        ("", EntryType::Link),
    ] {
        run_case(
            &format!("root as {kind:?}"),
            &Tar::default()
                .add(E {
                    link: b"/",
                    ..E::new(name, kind)
                })
                .done(),
            Want::Refused("layer root"),
        );
    }
}

#[test]
fn huge_names_fail_cleanly() {
    // One component longer than NAME_MAX.
    let long = "n".repeat(300);
    run_case(
        "component over NAME_MAX",
        &Tar::default().file(&long, b"x").done(),
        Want::Contained,
    );
    // A path far over PATH_MAX, in 200-byte components.
    let deep: Vec<String> = (0..40).map(|i| format!("{i}{}", "d".repeat(200))).collect();
    run_case(
        "path over PATH_MAX",
        &Tar::default().file(&deep.join("/"), b"x").done(),
        Want::Contained,
    );
    // Thousands of tiny components.
    let many = vec!["a"; 3000].join("/");
    run_case(
        "3000 nested dirs",
        &Tar::default().file(&format!("{many}/f"), b"x").done(),
        Want::Contained,
    );
    // A symlink whose target is enormous, and one followed through.
    let target = format!("/{}", vec!["x"; 2000].join("/"));
    run_case(
        "huge symlink target",
        &Tar::default()
            .symlink("l", &target)
            .file("l/f", b"x")
            .done(),
        Want::Contained,
    );
    // A PAX record of several MB.
    run_case(
        "huge pax path",
        &Tar::default()
            .add(E {
                data: b"x",
                pax: vec![("path", vec![b'p'; 4 << 20])],
                ..E::new("short", EntryType::Regular)
            })
            .done(),
        Want::Contained,
    );
}

fn check_err(case: &str, res: Result<berth_archive::ApplyStats, ArchiveError>) {
    let e = match res {
        Ok(_) => panic!("{case}: applied"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{case}: {e}");
}

#[test]
fn cut_or_corrupt_streams_are_errors() {
    let full = Tar::default()
        .dir("d/")
        .file("d/a", &[1u8; 5000])
        .symlink("s", "d/a")
        .file("b", &[2u8; 700])
        .done();
    // Every cut that is not past the end marker.
    let body_end = full.len() - 1024;
    for cut in (0..body_end).step_by(97).chain([body_end, body_end + 100]) {
        let sb = Sandbox::new();
        check_err(
            &format!("plain cut at {cut}"),
            apply_layer(&full[..cut], &sb.root()),
        );
        sb.assert_contained(&format!("plain cut at {cut}"));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&full).unwrap();
    let gz = gz.finish().unwrap();
    for cut in (0..gz.len() - 1).step_by(13) {
        let sb = Sandbox::new();
        let res = berth_archive::decompress(&gz[..cut])
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))
            .and_then(|r| apply_layer(r, &sb.root()));
        assert!(res.is_err(), "gzip cut at {cut} applied");
        sb.assert_contained(&format!("gzip cut at {cut}"));
    }
    // Flipped bytes in the deflate data or the trailer's CRC: an error, never a panic.
    for pos in [12, gz.len() / 2, gz.len() - 6, gz.len() - 2] {
        let mut bad = gz.clone();
        bad[pos] ^= 0x5a;
        let sb = Sandbox::new();
        let res = berth_archive::decompress(&bad[..])
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))
            .and_then(|r| apply_layer(r, &sb.root()));
        assert!(res.is_err(), "gzip with byte {pos} flipped applied");
        sb.assert_contained(&format!("gzip flip at {pos}"));
    }
    // Headers with garbage in a field, checksum recomputed so the field itself is read,
    // and one with a bad checksum.
    for (what, off, val) in [
        ("checksum", 148usize, b'9'),
        ("size", 124, b'z'),
        ("mode", 100, b'9'),
        ("uid", 108, b'x'),
        ("type", 156, b'Z'),
    ] {
        let mut bad = Tar::default().file("x", b"data").done();
        bad[off] = val;
        if what != "checksum" {
            let mut h = tar::Header::new_old();
            h.as_mut_bytes().copy_from_slice(&bad[..512]);
            h.set_cksum();
            bad[..512].copy_from_slice(h.as_bytes());
        }
        let sb = Sandbox::new();
        check_err(what, apply_layer(&bad[..], &sb.root()));
        sb.assert_contained(what);
    }
    // A header claiming an enormous size on a short stream.
    let mut t = Tar::default();
    t.header(b"big", EntryType::Regular, b"", 1 << 40, 0o644);
    t.data(b"short");
    let sb = Sandbox::new();
    check_err("huge size", apply_layer(&t.0[..], &sb.root()));
    sb.assert_contained("huge size");
}

#[test]
fn many_entries_apply_or_fail_without_escaping() {
    // Not a real bomb (that would be slow), but enough entries to reuse names heavily.
    let mut t = Tar::default();
    for i in 0..5000 {
        let name = format!("d{}/f{}", i % 7, i % 50);
        if i % 3 == 0 {
            t.symlink(&name, "/");
        } else if i % 3 == 1 {
            t.file(&name, b"x");
        } else {
            t.dir(&format!("{name}/"));
        }
    }
    run_case("5000 entries", &t.done(), Want::Contained);
    // And as a base layer, where whiteouts are dropped.
    let sb = Sandbox::new();
    let bytes = Tar::default()
        .file(".wh.sentinel", b"")
        .file("a/.wh..wh..opq", b"")
        .done();
    apply_layer_with(&bytes[..], &sb.root(), ApplyOptions { base_layer: true }).unwrap();
    sb.assert_contained("base layer whiteouts");
}

#[test]
fn random_garbage_never_panics() {
    // A cheap deterministic stand-in for the fuzz target, so CI covers the same path.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = Tar::default()
        .dir("d/")
        .file("d/a", b"hello")
        .symlink("s", "/")
        .hardlink("h", "d/a")
        .file("s/x", b"x")
        .done();
    for _ in 0..300 {
        let mut bytes = base.clone();
        for _ in 0..(next() % 8 + 1) {
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
        }
        let sb = Sandbox::new();
        let _ = apply_layer(&bytes[..], &sb.root());
        sb.assert_contained("mutated tar");
    }
    let mut buf = vec![0u8; 0];
    std::io::repeat(0).take(10).read_to_end(&mut buf).unwrap();
    let sb = Sandbox::new();
    assert!(apply_layer(&buf[..], &sb.root()).is_err());
}
