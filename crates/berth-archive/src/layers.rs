//! Reading a stack of overlay layer directories (as the snapshotter leaves them) without
//! mounting it: the flattened tree for `export`, and the read-write layer's changes for
//! `diff`.
//!
//! The union is computed here, in user space, rather than by mounting an overlay: a
//! stopped container has no mount, a running one's mount lives wherever the runtime put
//! it, a second overlay on the same upper dir is "undefined behaviour" to the kernel, and a
//! mount that outlives a crashed export would have to be found and cleaned up. Reading the
//! directories needs none of that and works with the copy snapshotter too.

use crate::whiteout::OVERLAY_OPAQUE_XATTR;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsString};
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Overlayfs records a deletion as a character device with device number 0/0.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether overlayfs hides the lower layers' contents of this directory.
pub fn is_opaque(dir: &Path) -> io::Result<bool> {
    let cpath = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    let cname = CString::new(OVERLAY_OPAQUE_XATTR).expect("constant has no NUL");
    let mut buf = [0u8; 4];
    // SAFETY: both strings are NUL-terminated and live across the call; the buffer
    // pointer/length pair describes a live, writable array.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n >= 0 {
        return Ok(n == 1 && buf[0] == b'y');
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // No such attribute, a filesystem without xattrs, or a longer (foreign) value.
        Some(libc::ENODATA) | Some(libc::ENOTSUP) | Some(libc::ERANGE) => Ok(false),
        _ => Err(io::Error::new(
            e.kind(),
            format!("read {OVERLAY_OPAQUE_XATTR} of {}: {e}", dir.display()),
        )),
    }
}

fn lstat(p: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // A file where a directory was expected on the way (ENOTDIR) hides the rest too.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("stat {}: {e}", p.display()),
        )),
    }
}

fn ctx<'a>(what: &str, p: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    let what = what.to_string();
    move |e| io::Error::new(e.kind(), format!("{what} {}: {e}", p.display()))
}

/// A stack of layer directories, topmost first, read with overlayfs' rules.
#[derive(Debug, Clone)]
pub struct LayerStack {
    layers: Vec<PathBuf>,
}

impl LayerStack {
    pub fn new(top_first: Vec<PathBuf>) -> Self {
        Self { layers: top_first }
    }

    /// The layers below `top` that show through a directory `rel` which layer `from`
    /// provides: overlay keeps merging downwards until an opaque directory, a whiteout or
    /// a non-directory at that path.
    fn dir_layers(&self, rel: &Path, from: usize, candidates: &[usize]) -> io::Result<Vec<usize>> {
        let mut out = vec![from];
        if is_opaque(&self.layers[from].join(rel))? {
            return Ok(out);
        }
        for &j in candidates.iter().filter(|&&j| j > from) {
            let p = self.layers[j].join(rel);
            match lstat(&p)? {
                None => continue,
                Some(m) if m.is_dir() => {
                    out.push(j);
                    if is_opaque(&p)? {
                        break;
                    }
                }
                Some(_) => break,
            }
        }
        Ok(out)
    }

    /// The metadata of `rel` (relative, no `..`) as the union shows it, or `None` when it
    /// is absent or deleted.
    pub fn lookup(&self, rel: &Path) -> io::Result<Option<Metadata>> {
        let mut candidates: Vec<usize> = (0..self.layers.len()).collect();
        let mut cur = PathBuf::new();
        let comps: Vec<_> = rel
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        if comps.is_empty() {
            return Ok(candidates
                .first()
                .map(|&i| lstat(&self.layers[i]))
                .transpose()?
                .flatten());
        }
        for (n, c) in comps.iter().enumerate() {
            cur.push(c);
            let mut found = None;
            for &i in &candidates {
                if let Some(m) = lstat(&self.layers[i].join(&cur))? {
                    found = Some((i, m));
                    break;
                }
            }
            let Some((i, m)) = found else { return Ok(None) };
            if is_whiteout(&m) {
                return Ok(None);
            }
            if n + 1 == comps.len() {
                return Ok(Some(m));
            }
            if !m.is_dir() {
                return Ok(None);
            }
            candidates = self.dir_layers(&cur, i, &candidates)?;
        }
        Ok(None)
    }

    /// Writes the union as a tar (no whiteouts, no `.wh.` entries, sockets left out as
    /// tar cannot hold them), streaming file contents, with xattrs and hard links kept. Entries are sorted by name within
    /// each directory, parents before children.
    pub fn write_tar<W: Write>(&self, out: W) -> io::Result<W> {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        if !self.layers.is_empty() {
            let all: Vec<usize> = (0..self.layers.len()).collect();
            let root = self.dir_layers(Path::new(""), 0, &all)?;
            self.tar_dir(&mut b, Path::new(""), &root, &mut HashMap::new())?;
        }
        b.into_inner()
    }

    fn tar_dir<W: Write>(
        &self,
        b: &mut tar::Builder<W>,
        rel: &Path,
        layers: &[usize],
        links: &mut HashMap<(u64, u64), String>,
    ) -> io::Result<()> {
        // name → the layer providing it (None: deleted by a higher layer).
        let mut names: BTreeMap<OsString, Option<usize>> = BTreeMap::new();
        for &i in layers {
            let dir = self.layers[i].join(rel);
            for entry in fs::read_dir(&dir).map_err(ctx("read directory", &dir))? {
                let entry = entry.map_err(ctx("read directory", &dir))?;
                let name = entry.file_name();
                if names.contains_key(&name) {
                    continue;
                }
                let m = entry.metadata().map_err(ctx("stat", &entry.path()))?;
                names.insert(name, (!is_whiteout(&m)).then_some(i));
            }
        }
        for (name, layer) in names {
            let Some(i) = layer else { continue };
            let path = rel.join(&name);
            let full = self.layers[i].join(&path);
            let Some(m) = lstat(&full)? else { continue };
            if m.file_type().is_socket() {
                continue;
            }
            let name = path.to_string_lossy();
            let is_dir = crate::upper::append_entry(b, &full, &name, &m, links)
                .map_err(ctx("archive", &full))?;
            if is_dir {
                let below = self.dir_layers(&path, i, layers)?;
                self.tar_dir(b, &path, &below, links)?;
            }
        }
        Ok(())
    }
}

/// Docker's change kinds, with its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute inside the container: `/etc/passwd`.
    pub path: String,
    pub kind: ChangeKind,
}

/// What the walk of the read-write layer found at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpperKind {
    Whiteout,
    /// A directory marked opaque: what was below it was removed.
    OpaqueDir,
    /// A directory, with what Docker compares to decide it was only copied up.
    Dir(DirMeta),
    Other,
}

/// The fields Docker compares between a directory in the read-write layer and below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirMeta {
    pub mode: u32,
    pub size: u64,
    pub mtime: (i64, i64),
}

impl DirMeta {
    pub fn of(m: &Metadata) -> Self {
        Self {
            mode: m.mode(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
        }
    }
}

/// What the lower layers hold at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lower {
    Absent,
    Dir(DirMeta),
    Other,
}

/// Classifies the read-write layer's entries, given as `(path, kind)` with parents before
/// children, against the lower layers, as Docker's overlay diff does:
/// - a whiteout is a deletion, and so is an opaque directory that hides a lower one;
/// - anything else present below is a modification, absent below an addition;
/// - a directory merely copied up (same mode, size and mtime below) is left out, unless
///   something under it changed: every parent of a reported change is reported modified
///   (an added parent is already reported as added).
///
/// The result is sorted by path, as dockerd returns it.
pub fn classify<F>(entries: &[(String, UpperKind)], mut lower: F) -> Vec<Change>
where
    F: FnMut(&str) -> Lower,
{
    let mut found: BTreeMap<String, ChangeKind> = BTreeMap::new();
    for (path, kind) in entries {
        if path == "/" || path.is_empty() {
            continue;
        }
        let below = lower(path);
        let k = match (kind, below) {
            (UpperKind::Whiteout, _) => ChangeKind::Deleted,
            (UpperKind::OpaqueDir, Lower::Absent) => ChangeKind::Added,
            (UpperKind::OpaqueDir, _) => ChangeKind::Deleted,
            (_, Lower::Absent) => ChangeKind::Added,
            (UpperKind::Dir(up), Lower::Dir(low)) if *up == low => continue,
            _ => ChangeKind::Modified,
        };
        found.insert(path.clone(), k);
    }
    let changed: Vec<String> = found.keys().cloned().collect();
    for path in changed {
        let mut p = path.as_str();
        while let Some(idx) = p.rfind('/') {
            p = &p[..idx];
            if p.is_empty() {
                break;
            }
            found.entry(p.to_string()).or_insert(ChangeKind::Modified);
        }
    }
    found
        .into_iter()
        .map(|(path, kind)| Change { path, kind })
        .collect()
}

/// Whether `path` is `root` or below it.
fn under(path: &str, root: &str) -> bool {
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The changes of the read-write layer `upper` against the `lower` stack (topmost first).
///
/// `skip` names paths (and what is below them) the runtime creates in the read-write
/// layer as mount points: Docker keeps those in a separate init layer, so they never show
/// in its diff, and neither does the directory that holds them unless something else in
/// it changed.
pub fn changes(upper: &Path, lower: &LayerStack, skip: &[&str]) -> io::Result<Vec<Change>> {
    let mut entries = Vec::new();
    walk_upper(upper, Path::new(""), &mut entries)?;
    let skipped: Vec<String> = entries
        .iter()
        .filter(|(p, _)| skip.iter().any(|s| under(p, s)))
        .map(|(p, _)| p.clone())
        .collect();
    entries.retain(|(p, _)| !skip.iter().any(|s| under(p, s)));
    for (path, kind) in entries.iter_mut() {
        if let UpperKind::Dir(_) = kind {
            if skipped.iter().any(|s| under(s, path)) {
                let rel = Path::new(path.trim_start_matches('/'));
                if let Some(m) = lower.lookup(rel)?.filter(|m| m.is_dir()) {
                    *kind = UpperKind::Dir(DirMeta::of(&m));
                }
            }
        }
    }
    let mut err = None;
    let out = classify(&entries, |path| {
        let rel = Path::new(path.trim_start_matches('/'));
        match lower.lookup(rel) {
            Ok(None) => Lower::Absent,
            Ok(Some(m)) if m.is_dir() => Lower::Dir(DirMeta::of(&m)),
            Ok(Some(_)) => Lower::Other,
            Err(e) => {
                err.get_or_insert(e);
                Lower::Absent
            }
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn walk_upper(root: &Path, rel: &Path, out: &mut Vec<(String, UpperKind)>) -> io::Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<OsString> = fs::read_dir(&dir)
        .map_err(ctx("read directory", &dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(ctx("read directory", &dir))?;
    names.sort();
    for name in names {
        let path = rel.join(&name);
        let full = root.join(&path);
        let Some(m) = lstat(&full)? else { continue };
        let shown = format!("/{}", path.to_string_lossy());
        let kind = if is_whiteout(&m) {
            UpperKind::Whiteout
        } else if m.is_dir() {
            if is_opaque(&full)? {
                UpperKind::OpaqueDir
            } else {
                UpperKind::Dir(DirMeta::of(&m))
            }
        } else {
            UpperKind::Other
        };
        out.push((shown, kind));
        if m.is_dir() {
            walk_upper(root, &path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: DirMeta = DirMeta {
        mode: 0o40755,
        size: 4096,
        mtime: (1, 0),
    };
    const D2: DirMeta = DirMeta {
        mode: 0o40755,
        size: 4096,
        mtime: (2, 0),
    };

    fn run(entries: &[(&str, UpperKind)], lower: &[(&str, Lower)]) -> Vec<String> {
        let entries: Vec<(String, UpperKind)> =
            entries.iter().map(|(p, k)| (p.to_string(), *k)).collect();
        classify(&entries, |p| {
            lower
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, l)| *l)
                .unwrap_or(Lower::Absent)
        })
        .into_iter()
        .map(|c| {
            let k = match c.kind {
                ChangeKind::Added => 'A',
                ChangeKind::Modified => 'C',
                ChangeKind::Deleted => 'D',
            };
            format!("{k} {}", c.path)
        })
        .collect()
    }

    #[test]
    fn the_brief_example() {
        let got = run(
            &[
                ("/bin", UpperKind::Dir(D2)),
                ("/bin/ls", UpperKind::Whiteout),
                ("/etc", UpperKind::Dir(D)),
                ("/etc/passwd", UpperKind::Other),
                ("/new", UpperKind::Dir(D)),
                ("/new/f", UpperKind::Other),
            ],
            &[
                ("/bin", Lower::Dir(D)),
                ("/bin/ls", Lower::Other),
                ("/etc", Lower::Dir(D)),
                ("/etc/passwd", Lower::Other),
            ],
        );
        assert_eq!(
            got,
            [
                "C /bin",
                "D /bin/ls",
                "C /etc",
                "C /etc/passwd",
                "A /new",
                "A /new/f"
            ]
        );
    }

    #[test]
    fn copied_up_dir_without_changes_is_left_out() {
        let got = run(&[("/tmp", UpperKind::Dir(D))], &[("/tmp", Lower::Dir(D))]);
        assert!(got.is_empty());
        let got = run(&[("/tmp", UpperKind::Dir(D2))], &[("/tmp", Lower::Dir(D))]);
        assert_eq!(got, ["C /tmp"]);
    }

    #[test]
    fn opaque_dirs() {
        let got = run(
            &[("/etc", UpperKind::OpaqueDir), ("/etc/x", UpperKind::Other)],
            &[("/etc", Lower::Dir(D))],
        );
        assert_eq!(got, ["D /etc", "A /etc/x"]);
        let got = run(&[("/fresh", UpperKind::OpaqueDir)], &[]);
        assert_eq!(got, ["A /fresh"]);
    }

    #[test]
    fn parents_of_deep_changes_are_modified_and_type_changes_are_modified() {
        let got = run(
            &[
                ("/a", UpperKind::Dir(D)),
                ("/a/b", UpperKind::Dir(D)),
                ("/a/b/c", UpperKind::Whiteout),
                ("/link", UpperKind::Other),
            ],
            &[
                ("/a", Lower::Dir(D)),
                ("/a/b", Lower::Dir(D)),
                ("/a/b/c", Lower::Other),
                ("/link", Lower::Dir(D)),
            ],
        );
        assert_eq!(got, ["C /a", "C /a/b", "D /a/b/c", "C /link"]);
    }

    #[test]
    fn nothing_changed_is_empty() {
        assert!(run(&[], &[]).is_empty());
    }

    /// Mount points the runtime made are no changes, nor is the directory holding them.
    #[test]
    fn runtime_mount_points_are_not_changes() {
        let t = tempfile::tempdir().unwrap();
        let (upper, low) = (t.path().join("upper"), t.path().join("low"));
        fs::create_dir_all(low.join("etc")).unwrap();
        fs::write(low.join("etc/passwd"), "root").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/hosts"), "").unwrap();
        let stack = LayerStack::new(vec![low]);
        assert!(changes(&upper, &stack, &["/etc/hosts"]).unwrap().is_empty());
        fs::write(upper.join("etc/new"), "").unwrap();
        let got: Vec<(String, ChangeKind)> = changes(&upper, &stack, &["/etc/hosts"])
            .unwrap()
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("/etc".to_string(), ChangeKind::Modified),
                ("/etc/new".to_string(), ChangeKind::Added)
            ]
        );
    }

    /// Builds layers on disk with plain files (whiteouts need root: tested through berthd).
    #[test]
    fn union_tar_prefers_upper_layers() {
        let t = tempfile::tempdir().unwrap();
        let (top, low) = (t.path().join("top"), t.path().join("low"));
        fs::create_dir_all(top.join("d")).unwrap();
        fs::create_dir_all(low.join("d")).unwrap();
        fs::write(top.join("d/f"), "top").unwrap();
        fs::write(low.join("d/f"), "low").unwrap();
        fs::write(low.join("d/g"), "g").unwrap();
        // A second name for a lower file: one file body, then a link entry.
        fs::hard_link(low.join("d/g"), low.join("d/h")).unwrap();
        let stack = LayerStack::new(vec![top.clone(), low.clone()]);
        let bytes = stack.write_tar(Vec::new()).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            let mut s = String::new();
            if e.header().entry_type().is_file() {
                io::Read::read_to_string(&mut e, &mut s).unwrap();
            }
            seen.push(format!("{p}={s}"));
        }
        // Directories end in `/`, as in dockerd's archives.
        assert_eq!(seen, ["d/=", "d/f=top", "d/g=g", "d/h="]);
        assert!(stack.lookup(Path::new("d/g")).unwrap().is_some());
        assert!(stack.lookup(Path::new("d/nope")).unwrap().is_none());
        assert!(stack.lookup(Path::new("d/f/x")).unwrap().is_none());
    }
}
