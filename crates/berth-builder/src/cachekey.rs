//! Content digests of a COPY/ADD's sources, the content part of the step's cache key.
//!
//! Each copied object gets a digest of what ends up in the image: its destination, kind,
//! permission bits, uid/gid, and its content (regular file) or target (symlink). mtimes
//! are left out, so touching a file does not invalidate the cache. The overall digest is a
//! sha256 over the sorted per-file listing, which is kept so a later miss can name the
//! first path that changed.

use crate::sources::{CopyPlan, EntryKind};
use crate::BuildError;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;

/// The digest of a plan's sources with its per-file listing (context path → digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesDigest {
    /// `sha256:<hex>` over the listing.
    pub digest: String,
    pub files: BTreeMap<String, String>,
}

/// How a path differs between two listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Changed(String),
    Added(String),
    Removed(String),
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Changed(p) | Change::Added(p) | Change::Removed(p) => p,
        }
    }
}

impl fmt::Display for Change {
    /// As in `cache miss: COPY app /app (app/main.rs changed)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |p: &str| {
            if p.is_empty() {
                ".".to_string()
            } else {
                p.to_string()
            }
        };
        match self {
            Change::Changed(p) => write!(f, "{} changed", shown(p)),
            Change::Added(p) => write!(f, "{} added", shown(p)),
            Change::Removed(p) => write!(f, "{} removed", shown(p)),
        }
    }
}

/// Digests every object of `plan`.
pub fn sources_digest(plan: &CopyPlan) -> Result<SourcesDigest, BuildError> {
    let mut files = BTreeMap::new();
    for e in plan.entries()? {
        let mut h = Sha256::new();
        h.update(e.dest.as_bytes());
        h.update([0]);
        match &e.kind {
            EntryKind::Dir => h.update(b"dir\0"),
            EntryKind::File => {
                h.update(b"file\0");
                let path = plan.root.join(&e.src);
                let mut f = File::open(&path)
                    .map_err(|err| BuildError::io(format!("open {}", e.src), err))?;
                let mut content = Sha256::new();
                io::copy(&mut f, &mut content)
                    .map_err(|err| BuildError::io(format!("read {}", e.src), err))?;
                h.update(content.finalize());
            }
            EntryKind::Symlink(target) => {
                h.update(b"symlink\0");
                h.update(target.as_os_str().as_bytes());
            }
        }
        h.update(format!("\0{:o}\0{}\0{}", e.mode, e.uid, e.gid).as_bytes());
        let d = hex::encode(h.finalize());
        // The same context path copied twice (e.g. `COPY a a /d/`) hashes both copies.
        files
            .entry(e.src)
            .and_modify(|prev: &mut String| {
                let mut h = Sha256::new();
                h.update(prev.as_bytes());
                h.update(d.as_bytes());
                *prev = hex::encode(h.finalize());
            })
            .or_insert(d);
    }
    let mut h = Sha256::new();
    for (path, d) in &files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(d.as_bytes());
        h.update(b"\n");
    }
    Ok(SourcesDigest {
        digest: format!("sha256:{}", hex::encode(h.finalize())),
        files,
    })
}

/// The first path (in sorted order) that differs between a cached listing and the
/// current one; `None` when they are the same.
pub fn first_change(
    cached: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Option<Change> {
    let mut a = cached.iter().peekable();
    let mut b = current.iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some((p, _)), None) => return Some(Change::Removed((*p).clone())),
            (None, Some((p, _))) => return Some(Change::Added((*p).clone())),
            (Some((pa, da)), Some((pb, db))) => match pa.cmp(pb) {
                std::cmp::Ordering::Less => return Some(Change::Removed((*pa).clone())),
                std::cmp::Ordering::Greater => return Some(Change::Added((*pb).clone())),
                std::cmp::Ordering::Equal => {
                    if da != db {
                        return Some(Change::Changed((*pa).clone()));
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::resolve;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    fn digest(root: &Path) -> SourcesDigest {
        let plan = resolve("COPY", root, &["app".to_string()], "/app", "/", &|_| false).unwrap();
        sources_digest(&plan).unwrap()
    }

    fn setup() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("app/src")).unwrap();
        fs::write(r.join("app/main.rs"), "fn main(){}").unwrap();
        fs::write(r.join("app/src/lib.rs"), "").unwrap();
        symlink("main.rs", r.join("app/ln")).unwrap();
        t
    }

    #[test]
    fn mtime_does_not_matter_content_mode_link_names_do() {
        let t = setup();
        let r = t.path();
        let base = digest(r);
        assert_eq!(base.files.len(), 5, "{:?}", base.files);
        let f = fs::File::options()
            .write(true)
            .open(r.join("app/main.rs"))
            .unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(12345))
            .unwrap();
        drop(f);
        assert_eq!(digest(r), base);

        fs::write(r.join("app/main.rs"), "fn main(){ }").unwrap();
        let changed = digest(r);
        assert_ne!(changed.digest, base.digest);
        assert_eq!(
            first_change(&base.files, &changed.files)
                .unwrap()
                .to_string(),
            "app/main.rs changed"
        );
        fs::write(r.join("app/main.rs"), "fn main(){}").unwrap();
        assert_eq!(digest(r), base);

        fs::set_permissions(r.join("app/src/lib.rs"), fs::Permissions::from_mode(0o755)).unwrap();
        let d = digest(r);
        assert_eq!(
            first_change(&base.files, &d.files),
            Some(Change::Changed("app/src/lib.rs".into()))
        );
        fs::set_permissions(r.join("app/src/lib.rs"), fs::Permissions::from_mode(0o644)).unwrap();

        fs::remove_file(r.join("app/ln")).unwrap();
        symlink("src", r.join("app/ln")).unwrap();
        let d = digest(r);
        assert_eq!(
            first_change(&base.files, &d.files),
            Some(Change::Changed("app/ln".into()))
        );
        fs::remove_file(r.join("app/ln")).unwrap();
        symlink("main.rs", r.join("app/ln")).unwrap();
        assert_eq!(digest(r).digest, base.digest);

        fs::write(r.join("app/new"), "").unwrap();
        let d = digest(r);
        assert_ne!(d.digest, base.digest);
        assert_eq!(
            first_change(&base.files, &d.files).unwrap().to_string(),
            "app/new added"
        );
        fs::remove_file(r.join("app/new")).unwrap();
        fs::remove_file(r.join("app/src/lib.rs")).unwrap();
        let d = digest(r);
        assert_eq!(
            first_change(&base.files, &d.files).unwrap().to_string(),
            "app/src/lib.rs removed"
        );
        assert_eq!(first_change(&base.files, &base.files), None);
    }

    #[test]
    fn renaming_changes_the_digest() {
        let t = setup();
        let base = digest(t.path());
        fs::rename(
            t.path().join("app/src/lib.rs"),
            t.path().join("app/src/lib2.rs"),
        )
        .unwrap();
        assert_ne!(digest(t.path()).digest, base.digest);
    }
}
