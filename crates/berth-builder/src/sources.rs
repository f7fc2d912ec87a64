//! COPY/ADD source resolution against an extracted context, as dockerd's legacy builder
//! (moby `builder/dockerfile/copy.go`) does it:
//!
//! - a leading `/` or `./` on a source is dropped (sources are relative to the context);
//! - a source that leaves the context (`../x`) is refused;
//! - a source that is a symlink (or goes through one) is followed *inside* the context
//!   (`FollowSymlinkInScope`: absolute targets restart at the context root, `..` stops at
//!   it) and copied under the name as written; symlinks inside a copied directory are kept;
//! - a source with wildcards is matched with Go's `filepath.Match` against every path of
//!   the context (`*` does not cross `/`); a matched directory is taken whole;
//! - a missing plain source fails with Docker's `file not found in build context or
//!   excluded by .dockerignore` message, and no source at all (e.g. a glob that matched
//!   nothing) with `no source files were specified`;
//! - more than one resulting source needs a destination ending in `/`;
//! - a directory source copies its *contents* into the destination;
//! - a relative destination is resolved against WORKDIR.
//!
//! The result is a [`CopyPlan`]: top-level items (source in context, destination in the
//! image, is_dir). [`CopyPlan::entries`] walks it into every file to write, sorted, for the
//! cache key and the layer tar.

use crate::context::clean_rel;
use crate::BuildError;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One top-level source of a COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyItem {
    /// Path in the context (`/`-separated, relative, cleaned; `""` is the context root).
    pub src: String,
    /// Absolute, cleaned path in the image. For a directory source, the directory its
    /// contents go into; for a file, the file's own path.
    pub dest: String,
    pub is_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    pub root: PathBuf,
    pub items: Vec<CopyItem>,
}

/// The kind of a file found while walking a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink(PathBuf),
}

/// One filesystem object a plan copies, with the metadata that matters to the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    /// Path in the context.
    pub src: String,
    /// Absolute path in the image.
    pub dest: String,
    pub kind: EntryKind,
    /// Permission bits (incl. setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
}

/// Resolves `sources` (already expanded words) and `dest` for `cmd` (`COPY` or `ADD`).
/// `workdir` is the image's WORKDIR; `dest_is_dir` says whether a path already exists as a
/// directory in the image (a file copied onto an existing directory goes inside it).
pub fn resolve(
    cmd: &str,
    root: &Path,
    sources: &[String],
    dest: &str,
    workdir: &str,
    dest_is_dir: &dyn Fn(&str) -> bool,
) -> Result<CopyPlan, BuildError> {
    let failed = |m: String| format!("{cmd} failed: {m}");
    if sources.is_empty() {
        return Err(BuildError::Source(failed(
            "no source files were specified".into(),
        )));
    }
    // (the name as written, for the destination's base name; the resolved path; is_dir)
    let mut found: Vec<(String, String, bool)> = Vec::new();
    for orig in sources {
        let mut p = orig.as_str();
        if p.len() > 1 && p.starts_with('/') {
            p = &p[1..];
        }
        let p = p.strip_prefix("./").unwrap_or(p);
        let Some(rel) = clean_rel(p) else {
            return Err(BuildError::Source(failed(format!(
                "forbidden path outside the build context: {orig} ()"
            ))));
        };
        if has_wildcards(p) {
            let pattern = p.trim_end_matches('/');
            let mut hits = Vec::new();
            glob_walk(root, "", pattern, &mut hits)?;
            for (hit, _) in hits {
                let (real, meta) = follow_in_scope(root, &hit)?
                    .ok_or_else(|| BuildError::NotFound(failed(format!(
                        "file not found in build context or excluded by .dockerignore: stat {hit}: file does not exist"
                    ))))?;
                found.push((hit, real, meta.is_dir()));
            }
            continue;
        }
        match follow_in_scope(root, &rel)? {
            Some((real, meta)) => found.push((rel, real, meta.is_dir())),
            None => {
                return Err(BuildError::NotFound(failed(format!(
                    "file not found in build context or excluded by .dockerignore: stat {p}: file does not exist"
                ))))
            }
        }
    }
    if found.is_empty() {
        return Err(BuildError::Source(failed(
            "no source files were specified".into(),
        )));
    }
    let dest_dir_syntax = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    if found.len() > 1 && !dest.ends_with('/') {
        return Err(BuildError::Source(format!(
            "When using {cmd} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    let abs = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), dest)
    };
    let dest_clean = format!("/{}", clean_rel(&abs).unwrap_or_default());
    let into_dir = dest_dir_syntax || dest_is_dir(&dest_clean);
    let items = found
        .into_iter()
        .map(|(named, src, is_dir)| {
            let d = if is_dir || !into_dir {
                dest_clean.clone()
            } else {
                // The name as written: a symlink source keeps the link's name.
                let base = named.rsplit('/').next().unwrap_or(&named);
                join_abs(&dest_clean, base)
            };
            CopyItem {
                src,
                dest: d,
                is_dir,
            }
        })
        .collect();
    Ok(CopyPlan {
        root: root.to_path_buf(),
        items,
    })
}

fn join_abs(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn full(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// lstat of a context path whose parents must all be real directories (a source is never
/// reached through a symlinked directory: that could leave the context).
fn lstat(root: &Path, rel: &str) -> Result<Option<fs::Metadata>, BuildError> {
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let mut meta = fs::symlink_metadata(root).map_err(|e| BuildError::io("stat context", e))?;
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BuildError::io(format!("stat {rel}"), e)),
        };
        if i + 1 < parts.len() && !meta.is_dir() {
            if meta.file_type().is_symlink() {
                return Err(BuildError::Source(format!(
                    "source {rel} is reached through a symlinked directory ({})",
                    parts[..=i].join("/")
                )));
            }
            return Ok(None);
        }
    }
    Ok(Some(meta))
}

/// Resolves a context path following every symlink *inside the context*, as dockerd's
/// `FollowSymlinkInScope`: absolute targets start again at the context root and `..` stops
/// at it, so the result can never leave the context. Returns the real path (no symlink in
/// any component) and its metadata, or `None` when it does not exist.
fn follow_in_scope(root: &Path, rel: &str) -> Result<Option<(String, fs::Metadata)>, BuildError> {
    let mut todo: Vec<String> = rel
        .split('/')
        .rev()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        cur.push(part);
        let path = full(root, &cur.join("/"));
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(20) => return Ok(None), // ENOTDIR
            Err(e) => return Err(BuildError::io(format!("stat {rel}"), e)),
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 255 {
                return Err(BuildError::Source(format!(
                    "too many levels of symbolic links resolving {rel}"
                )));
            }
            let target = fs::read_link(&path)
                .map_err(|e| BuildError::io(format!("readlink {}", cur.join("/")), e))?;
            let target = target.to_string_lossy().into_owned();
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            todo.extend(
                target
                    .split('/')
                    .rev()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        } else if !todo.is_empty() && !meta.is_dir() {
            return Ok(None);
        }
    }
    let real = cur.join("/");
    let meta = fs::symlink_metadata(full(root, &real))
        .map_err(|e| BuildError::io(format!("stat {rel}"), e))?;
    Ok(Some((real, meta)))
}

fn has_wildcards(p: &str) -> bool {
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Walks the context like `filepath.Walk`, collecting paths matching `pattern`; a matched
/// directory is not descended into.
fn glob_walk(
    root: &Path,
    rel: &str,
    pattern: &str,
    out: &mut Vec<(String, bool)>,
) -> Result<(), BuildError> {
    let dir = full(root, rel);
    let mut names: Vec<(String, bool)> = Vec::new();
    for e in fs::read_dir(&dir).map_err(|e| BuildError::io(format!("read {rel}/"), e))? {
        let e = e.map_err(|e| BuildError::io(format!("read {rel}/"), e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ft = e
            .file_type()
            .map_err(|err| BuildError::io(format!("stat {rel}/{name}"), err))?;
        names.push((name, ft.is_dir()));
    }
    names.sort();
    for (name, is_dir) in names {
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let m = go_match(pattern, &child)
            .map_err(|_| BuildError::Source(format!("syntax error in pattern {pattern:?}")))?;
        if m {
            out.push((child, is_dir));
        } else if is_dir {
            glob_walk(root, &child, pattern, out)?;
        }
    }
    Ok(())
}

/// Go's `path/filepath.Match`: `*` and `?` never match `/`, `[...]` classes with `^`
/// negation and ranges, `\` escapes. `Err` on a malformed pattern.
pub(crate) fn go_match(pattern: &str, name: &str) -> Result<bool, ()> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> Result<bool, ()> {
    if p.is_empty() {
        return Ok(n.is_empty());
    }
    match p[0] {
        '*' => {
            // Try every split that does not cross a separator.
            let mut k = 0;
            loop {
                if match_from(&p[1..], &n[k..])? {
                    return Ok(true);
                }
                if k >= n.len() || n[k] == '/' {
                    // Still validate the rest of the pattern for syntax errors.
                    check_syntax(&p[1..])?;
                    return Ok(false);
                }
                k += 1;
            }
        }
        '?' => {
            if n.is_empty() || n[0] == '/' {
                check_syntax(&p[1..])?;
                return Ok(false);
            }
            match_from(&p[1..], &n[1..])
        }
        '[' => {
            let (matched, used) = match_class(&p[1..], n.first().copied())?;
            if !matched {
                check_syntax(&p[1 + used..])?;
                return Ok(false);
            }
            match_from(&p[1 + used..], &n[1..])
        }
        '\\' => {
            let c = *p.get(1).ok_or(())?;
            if n.first() != Some(&c) {
                check_syntax(&p[2..])?;
                return Ok(false);
            }
            match_from(&p[2..], &n[1..])
        }
        c => {
            if n.first() != Some(&c) {
                check_syntax(&p[1..])?;
                return Ok(false);
            }
            match_from(&p[1..], &n[1..])
        }
    }
}

fn check_syntax(p: &[char]) -> Result<(), ()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(());
                }
                i += 2;
            }
            '[' => {
                let (_, used) = match_class(&p[i + 1..], None)?;
                i += 1 + used;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses a class after `[`; returns whether `c` matches and how many chars were used
/// (including the closing `]`).
fn match_class(p: &[char], c: Option<char>) -> Result<(bool, usize), ()> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i).ok_or(())?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = class_char(p, &mut i)?;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            i += 1;
            hi = class_char(p, &mut i)?;
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    let ok = match c {
        None | Some('/') => false,
        Some(_) => matched != negated,
    };
    Ok((ok, i))
}

fn class_char(p: &[char], i: &mut usize) -> Result<char, ()> {
    let mut ch = *p.get(*i).ok_or(())?;
    if ch == '-' || ch == ']' {
        return Err(());
    }
    if ch == '\\' {
        *i += 1;
        ch = *p.get(*i).ok_or(())?;
    }
    *i += 1;
    Ok(ch)
}

impl CopyPlan {
    /// Every object the plan copies, walked without following symlinks, sorted by
    /// destination (then source) so the same context always yields the same list.
    pub fn entries(&self) -> Result<Vec<PlanEntry>, BuildError> {
        let mut out = Vec::new();
        for item in &self.items {
            let meta = lstat(&self.root, &item.src)?
                .ok_or_else(|| BuildError::NotFound(format!("source {} disappeared", item.src)))?;
            if item.is_dir {
                // The destination directory itself takes the source directory's metadata.
                out.push(entry(&self.root, &item.src, &item.dest, &meta)?);
                walk_dir(&self.root, &item.src, &item.dest, &mut out)?;
            } else {
                out.push(entry(&self.root, &item.src, &item.dest, &meta)?);
            }
        }
        out.sort_by(|a, b| a.dest.cmp(&b.dest).then(a.src.cmp(&b.src)));
        // Later sources overwrite earlier ones at the same destination.
        out.dedup_by(|later, earlier| {
            if later.dest == earlier.dest {
                *earlier = later.clone();
                true
            } else {
                false
            }
        });
        Ok(out)
    }
}

fn entry(root: &Path, src: &str, dest: &str, meta: &fs::Metadata) -> Result<PlanEntry, BuildError> {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_symlink() {
        let target = fs::read_link(full(root, src))
            .map_err(|e| BuildError::io(format!("readlink {src}"), e))?;
        EntryKind::Symlink(target)
    } else if ft.is_file() {
        EntryKind::File
    } else {
        return Err(BuildError::Source(format!(
            "source {src} is not a regular file, directory or symlink"
        )));
    };
    Ok(PlanEntry {
        src: src.to_string(),
        dest: dest.to_string(),
        size: if kind == EntryKind::File {
            meta.len()
        } else {
            0
        },
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
    })
}

fn walk_dir(
    root: &Path,
    src: &str,
    dest: &str,
    out: &mut Vec<PlanEntry>,
) -> Result<(), BuildError> {
    let dir = full(root, src);
    for e in fs::read_dir(&dir).map_err(|e| BuildError::io(format!("read {src}/"), e))? {
        let e = e.map_err(|e| BuildError::io(format!("read {src}/"), e))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            return Err(BuildError::Source(format!(
                "file name in {src}/ is not UTF-8: {name:?}"
            )));
        };
        let child_src = if src.is_empty() {
            name.to_string()
        } else {
            format!("{src}/{name}")
        };
        let child_dest = join_abs(dest, name);
        let meta = e
            .metadata()
            .map_err(|err| BuildError::io(format!("stat {child_src}"), err))?;
        out.push(entry(root, &child_src, &child_dest, &meta)?);
        if meta.is_dir() {
            walk_dir(root, &child_src, &child_dest, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ctx() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("app/src")).unwrap();
        fs::write(r.join("app/src/main.rs"), "fn main(){}").unwrap();
        fs::write(r.join("app/Cargo.toml"), "[package]").unwrap();
        fs::write(r.join("a.txt"), "a").unwrap();
        fs::write(r.join("b.txt"), "b").unwrap();
        fs::write(r.join("c.md"), "c").unwrap();
        symlink("a.txt", r.join("link")).unwrap();
        t
    }

    fn no_dirs(_: &str) -> bool {
        false
    }

    fn res(root: &Path, srcs: &[&str], dest: &str, wd: &str) -> Result<CopyPlan, BuildError> {
        let s: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
        resolve("COPY", root, &s, dest, wd, &no_dirs)
    }

    fn item(src: &str, dest: &str, is_dir: bool) -> CopyItem {
        CopyItem {
            src: src.into(),
            dest: dest.into(),
            is_dir,
        }
    }

    #[test]
    fn single_file_to_file_and_dir() {
        let t = ctx();
        let p = res(t.path(), &["a.txt"], "/x", "/").unwrap();
        assert_eq!(p.items, vec![item("a.txt", "/x", false)]);
        let p = res(t.path(), &["./a.txt"], "/x/", "/").unwrap();
        assert_eq!(p.items, vec![item("a.txt", "/x/a.txt", false)]);
        // Leading slash: still relative to the context.
        let p = res(t.path(), &["/a.txt"], "rel/", "/work").unwrap();
        assert_eq!(p.items, vec![item("a.txt", "/work/rel/a.txt", false)]);
        let p = res(t.path(), &["a.txt"], ".", "/work").unwrap();
        assert_eq!(p.items, vec![item("a.txt", "/work/a.txt", false)]);
        // An existing directory in the image takes the file inside.
        let s = vec!["a.txt".to_string()];
        let p = resolve("COPY", t.path(), &s, "/etc", "/", &|d| d == "/etc").unwrap();
        assert_eq!(p.items, vec![item("a.txt", "/etc/a.txt", false)]);
    }

    #[test]
    fn directory_copies_contents() {
        let t = ctx();
        let p = res(t.path(), &["app"], "/app", "/").unwrap();
        assert_eq!(p.items, vec![item("app", "/app", true)]);
        let dests: Vec<String> = p.entries().unwrap().into_iter().map(|e| e.dest).collect();
        assert_eq!(
            dests,
            vec!["/app", "/app/Cargo.toml", "/app/src", "/app/src/main.rs"]
        );
        let p = res(t.path(), &["."], "/ctx/", "/").unwrap();
        assert_eq!(p.items, vec![item("", "/ctx", true)]);
    }

    #[test]
    fn globs_like_go_filepath_match() {
        let t = ctx();
        let p = res(t.path(), &["*.txt"], "/d/", "/").unwrap();
        assert_eq!(
            p.items,
            vec![
                item("a.txt", "/d/a.txt", false),
                item("b.txt", "/d/b.txt", false)
            ]
        );
        let p = res(t.path(), &["app/*/m?in.rs"], "/d/", "/").unwrap();
        assert_eq!(p.items, vec![item("app/src/main.rs", "/d/main.rs", false)]);
        let p = res(t.path(), &["[a-b].txt", "[^a-b].md"], "/d/", "/").unwrap();
        assert_eq!(p.items.len(), 3);
        // `*` does not cross `/`.
        let err = res(t.path(), &["*.rs"], "/d/", "/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "COPY failed: no source files were specified"
        );
        assert!(go_match("a[", "a").is_err());
        assert!(go_match("\\*", "*").unwrap());
        assert!(!go_match("\\*", "x").unwrap());
    }

    #[test]
    fn docker_errors() {
        let t = ctx();
        let err = res(t.path(), &["../x"], "/d/", "/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "COPY failed: forbidden path outside the build context: ../x ()"
        );
        let err = res(t.path(), &["app/../../x"], "/d/", "/").unwrap_err();
        assert!(err.to_string().contains("outside the build context"));
        let err = res(t.path(), &["missing"], "/d/", "/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist"
        );
        assert_eq!(err.kind(), berth_model::ErrorKind::NotFound);
        let err = res(t.path(), &[], "/d/", "/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "COPY failed: no source files were specified"
        );
        let err = res(t.path(), &["a.txt", "b.txt"], "/d", "/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
        );
        // A glob expanding to two sources counts as two.
        assert!(res(t.path(), &["*.txt"], "/d", "/").is_err());
    }

    #[test]
    fn top_level_symlinks_followed_in_scope_inner_ones_kept() {
        let t = ctx();
        let r = t.path();
        // A symlinked source is copied as its target, under the link's name.
        let p = res(r, &["link"], "/d/", "/").unwrap();
        assert_eq!(p.items, vec![item("a.txt", "/d/link", false)]);
        assert_eq!(p.entries().unwrap()[0].kind, EntryKind::File);
        // Absolute and `..` targets stay inside the context.
        symlink("/", r.join("rootlink")).unwrap();
        let p = res(r, &["rootlink/a.txt"], "/d/", "/").unwrap();
        assert_eq!(p.items, vec![item("a.txt", "/d/a.txt", false)]);
        let err = res(r, &["rootlink/etc/passwd"], "/d/", "/").unwrap_err();
        assert_eq!(err.kind(), berth_model::ErrorKind::NotFound, "{err}");
        symlink("../../../../b.txt", r.join("app/up")).unwrap();
        let p = res(r, &["app/up"], "/x", "/").unwrap();
        assert_eq!(p.items, vec![item("b.txt", "/x", false)]);
        // A symlinked directory source copies the directory's contents.
        symlink("app", r.join("applink")).unwrap();
        let p = res(r, &["applink"], "/a", "/").unwrap();
        assert_eq!(p.items, vec![item("app", "/a", true)]);
        // Symlinks inside a copied directory are kept as symlinks.
        let e = p.entries().unwrap();
        let up = e.iter().find(|e| e.dest == "/a/up").unwrap();
        assert_eq!(up.kind, EntryKind::Symlink("../../../../b.txt".into()));
        // Loops end with an error naming the source.
        symlink("loop", r.join("loop")).unwrap();
        let err = res(r, &["loop"], "/d/", "/").unwrap_err();
        assert!(err.to_string().contains("loop"), "{err}");
    }
}
