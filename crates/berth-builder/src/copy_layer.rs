//! A COPY/ADD plan written as an uncompressed layer tar.
//!
//! The output only depends on the plan's content and the options: entries are sorted by
//! path, parents missing from the plan are added (mode 0755, `--chown`-owned, or the
//! image's own metadata when the caller says they exist), user and group
//! names are left empty, ownership is numeric (`--chown`, default 0:0 as Docker's COPY),
//! `--chmod` replaces the permission bits of every copied file and directory, and mtimes
//! come from the context, optionally clamped to `SOURCE_DATE_EPOCH`.

use crate::sources::{CopyPlan, EntryKind, PlanEntry};
use crate::BuildError;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};

/// Resolves `--chown` names; a later step implements it over the image's `/etc/passwd`
/// and `/etc/group`.
pub trait IdLookup {
    fn uid(&self, user: &str) -> Option<u32>;
    fn gid(&self, group: &str) -> Option<u32>;
}

/// Knows no names: only numeric ids are accepted.
pub struct NumericOnly;

impl IdLookup for NumericOnly {
    fn uid(&self, _: &str) -> Option<u32> {
        None
    }
    fn gid(&self, _: &str) -> Option<u32> {
        None
    }
}

/// Parses `--chown=user[:group]` as the legacy builder does: a missing group is looked up
/// with the same string as the user.
pub fn parse_chown(spec: &str, names: &dyn IdLookup) -> Result<(u32, u32), BuildError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, spec),
    };
    if user.is_empty() || group.is_empty() {
        return Err(BuildError::Source(format!(
            "invalid --chown value {spec:?}"
        )));
    }
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => names.uid(user).ok_or_else(|| {
            BuildError::NotFound(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        })?,
    };
    let gid = match group.parse::<u32>() {
        Ok(n) => n,
        Err(_) => names.gid(group).ok_or_else(|| {
            BuildError::NotFound(format!(
                "unable to find group {group}: no matching entries in group file"
            ))
        })?,
    };
    Ok((uid, gid))
}

/// Parses `--chmod=` as octal permission bits.
pub fn parse_chmod(spec: &str) -> Result<u32, BuildError> {
    match u32::from_str_radix(spec, 8) {
        Ok(m) if !spec.is_empty() && m <= 0o7777 => Ok(m),
        _ => Err(BuildError::Source(format!(
            "invalid --chmod value {spec:?}: want octal permission bits"
        ))),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Numeric owner of every copied object; `None` is 0:0.
    pub chown: Option<(u32, u32)>,
    /// Permission bits for every copied file and directory (not symlinks).
    pub chmod: Option<u32>,
    /// `SOURCE_DATE_EPOCH`: mtimes later than it are clamped to it.
    pub source_date_epoch: Option<i64>,
    /// mtime of parent directories the plan creates (clamped like the rest).
    pub parent_mtime: i64,
}

/// Metadata of a directory that already exists in the image below the new layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingDir {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

enum Item<'p> {
    Parent,
    Copied(&'p PlanEntry),
}

/// Writes `plan` as a layer tar to `out` (end-of-archive marker included), for an image
/// with no directories yet: parents are new.
pub fn write_copy_layer(
    plan: &CopyPlan,
    opts: &LayerOptions,
    out: impl Write,
) -> Result<(), BuildError> {
    write_copy_layer_with(plan, opts, &|_| None, out)
}

/// As [`write_copy_layer`], with `existing` telling which parent directories (absolute
/// image paths) the image already has: those keep their mode and owner (the copy only
/// changes their mtime, as in the diff dockerd would commit). New parents are created
/// as Docker's `MkdirAllAndChownNew` does: mode 0755, owned by the `--chown` ids.
pub fn write_copy_layer_with(
    plan: &CopyPlan,
    opts: &LayerOptions,
    existing: &dyn Fn(&str) -> Option<ExistingDir>,
    out: impl Write,
) -> Result<(), BuildError> {
    let entries = plan.entries()?;
    let mut items: BTreeMap<String, Item<'_>> = BTreeMap::new();
    for e in &entries {
        let rel = e.dest.trim_start_matches('/');
        if rel.is_empty() {
            // Copying into `/`: the root itself is not an entry.
            continue;
        }
        if let Some(name) = rel.rsplit('/').next() {
            if name.starts_with(berth_archive::whiteout::PREFIX) {
                return Err(BuildError::Source(format!(
                    "cannot copy {}: {} names are reserved for layer whiteouts",
                    e.src,
                    berth_archive::whiteout::PREFIX
                )));
            }
        }
        let mut parent = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(p);
            items.entry(parent.clone()).or_insert(Item::Parent);
        }
        items.insert(rel.to_string(), Item::Copied(e));
    }
    let clamp = |t: i64| -> u64 {
        let t = match opts.source_date_epoch {
            Some(sde) => t.min(sde),
            None => t,
        };
        t.max(0) as u64
    };
    let (uid, gid) = opts.chown.unwrap_or((0, 0));
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    let werr = |path: &str, e: io::Error| BuildError::io(format!("write layer entry {path}"), e);
    for (path, item) in &items {
        let mut h = tar::Header::new_gnu();
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        match item {
            Item::Parent => {
                h.set_entry_type(tar::EntryType::Directory);
                let meta = existing(&format!("/{path}")).unwrap_or(ExistingDir {
                    mode: 0o755,
                    uid,
                    gid,
                });
                h.set_mode(meta.mode);
                h.set_uid(meta.uid as u64);
                h.set_gid(meta.gid as u64);
                h.set_size(0);
                h.set_mtime(clamp(opts.parent_mtime));
                tar.append_data(&mut h, format!("{path}/"), io::empty())
                    .map_err(|e| werr(path, e))?;
            }
            Item::Copied(e) => {
                h.set_mtime(clamp(e.mtime));
                let mode = opts.chmod.unwrap_or(e.mode);
                match &e.kind {
                    EntryKind::Dir => {
                        h.set_entry_type(tar::EntryType::Directory);
                        h.set_mode(mode);
                        h.set_size(0);
                        tar.append_data(&mut h, format!("{path}/"), io::empty())
                            .map_err(|err| werr(path, err))?;
                    }
                    EntryKind::Symlink(target) => {
                        h.set_entry_type(tar::EntryType::Symlink);
                        h.set_mode(0o777);
                        h.set_size(0);
                        tar.append_link(&mut h, path, target)
                            .map_err(|err| werr(path, err))?;
                    }
                    EntryKind::File => {
                        h.set_entry_type(tar::EntryType::Regular);
                        h.set_mode(mode);
                        h.set_size(e.size);
                        let f = File::open(plan.root.join(&e.src))
                            .map_err(|err| BuildError::io(format!("open {}", e.src), err))?;
                        let mut body = Exact {
                            inner: f.take(e.size),
                            left: e.size,
                            src: &e.src,
                        };
                        tar.append_data(&mut h, path, &mut body)
                            .map_err(|err| werr(path, err))?;
                    }
                }
            }
        }
    }
    tar.into_inner()
        .map_err(|e| BuildError::io("finish layer tar", e))?
        .flush()
        .map_err(|e| BuildError::io("finish layer tar", e))?;
    Ok(())
}

/// A reader that fails if the file shrank after it was listed.
struct Exact<'s, R> {
    inner: R,
    left: u64,
    src: &'s str,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} changed size while being copied", self.src),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::resolve;
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    fn setup() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("app/src")).unwrap();
        fs::write(r.join("app/main.rs"), "fn main(){}").unwrap();
        fs::write(r.join("app/src/lib.rs"), "pub fn x(){}").unwrap();
        fs::write(r.join("b.txt"), "b").unwrap();
        symlink("main.rs", r.join("app/ln")).unwrap();
        t
    }

    fn layer(root: &Path, opts: &LayerOptions) -> Vec<u8> {
        let plan = resolve(
            "COPY",
            root,
            &["app".to_string(), "b.txt".to_string()],
            "/opt/app/",
            "/",
            &|_| false,
        )
        .unwrap();
        let mut out = Vec::new();
        write_copy_layer(&plan, opts, &mut out).unwrap();
        out
    }

    fn listing(tar: &[u8]) -> Vec<(String, u32, u64, u64, u64)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn layout_parents_owner_and_mode() {
        let t = setup();
        let opts = LayerOptions {
            chown: Some(parse_chown("1000:50", &NumericOnly).unwrap()),
            chmod: Some(parse_chmod("640").unwrap()),
            ..Default::default()
        };
        let l = listing(&layer(t.path(), &opts));
        let names: Vec<&str> = l.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "opt/",
                "opt/app/",
                "opt/app/b.txt",
                "opt/app/ln",
                "opt/app/main.rs",
                "opt/app/src/",
                "opt/app/src/lib.rs"
            ]
        );
        assert_eq!((l[0].1, l[0].2, l[0].3), (0o755, 1000, 50), "new parent");
        assert_eq!((l[2].1, l[2].2, l[2].3), (0o640, 1000, 50), "file");
        assert_eq!(l[5].1, 0o640, "copied dir takes --chmod");
        let bytes = layer(t.path(), &opts);
        let mut a = tar::Archive::new(&bytes[..]);
        let ln = a.entries().unwrap().nth(3).unwrap().unwrap();
        assert_eq!(ln.link_name().unwrap().unwrap().to_str(), Some("main.rs"));
    }

    #[test]
    fn existing_parents_keep_their_metadata() {
        let t = setup();
        let plan = resolve(
            "COPY",
            t.path(),
            &["b.txt".into()],
            "/opt/app/",
            "/",
            &|_| false,
        )
        .unwrap();
        let opts = LayerOptions {
            chown: Some((5, 6)),
            ..Default::default()
        };
        let mut out = Vec::new();
        let existing = |p: &str| {
            (p == "/opt").then_some(ExistingDir {
                mode: 0o1777,
                uid: 9,
                gid: 9,
            })
        };
        write_copy_layer_with(&plan, &opts, &existing, &mut out).unwrap();
        let l = listing(&out);
        assert_eq!(l[0].0, "opt/");
        assert_eq!((l[0].1, l[0].2, l[0].3), (0o1777, 9, 9));
        assert_eq!(l[1].0, "opt/app/");
        assert_eq!((l[1].1, l[1].2, l[1].3), (0o755, 5, 6));
    }

    #[test]
    fn byte_identical_and_epoch_clamped() {
        let t = setup();
        let sde = LayerOptions {
            source_date_epoch: Some(1_000_000),
            ..Default::default()
        };
        let a = layer(t.path(), &sde);
        assert_eq!(a, layer(t.path(), &sde));
        assert_eq!(
            layer(t.path(), &LayerOptions::default()),
            layer(t.path(), &LayerOptions::default())
        );
        let f = fs::File::options()
            .write(true)
            .open(t.path().join("app/main.rs"))
            .unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(3600))
            .unwrap();
        drop(f);
        assert_eq!(layer(t.path(), &sde), a);
        assert!(listing(&a).iter().all(|x| x.4 <= 1_000_000));
        // Without the clamp the mtime shows.
        let f = fs::File::options()
            .write(true)
            .open(t.path().join("app/main.rs"))
            .unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(77))
            .unwrap();
        drop(f);
        let l = listing(&layer(t.path(), &LayerOptions::default()));
        assert_eq!(l.iter().find(|x| x.0 == "opt/app/main.rs").unwrap().4, 77);
        // Content changes show even with the clamp.
        fs::write(t.path().join("b.txt"), "c").unwrap();
        assert_ne!(layer(t.path(), &sde), a);
    }

    #[test]
    fn layer_applies_cleanly() {
        let t = setup();
        let tarball = layer(t.path(), &LayerOptions::default());
        let out = tempfile::tempdir().unwrap();
        berth_archive::apply_layer(&tarball[..], out.path()).unwrap();
        assert_eq!(
            fs::read_to_string(out.path().join("opt/app/src/lib.rs")).unwrap(),
            "pub fn x(){}"
        );
        assert_eq!(
            fs::read_link(out.path().join("opt/app/ln"))
                .unwrap()
                .to_str(),
            Some("main.rs")
        );
    }

    #[test]
    fn bad_flags_and_whiteout_names() {
        assert_eq!(parse_chown("7", &NumericOnly).unwrap(), (7, 7));
        let err = parse_chown("app", &NumericOnly).unwrap_err();
        assert!(err.to_string().contains("app"), "{err}");
        struct Names;
        impl IdLookup for Names {
            fn uid(&self, u: &str) -> Option<u32> {
                (u == "app").then_some(1001)
            }
            fn gid(&self, g: &str) -> Option<u32> {
                (g == "app").then_some(1002)
            }
        }
        assert_eq!(parse_chown("app", &Names).unwrap(), (1001, 1002));
        assert_eq!(parse_chown("app:0", &Names).unwrap(), (1001, 0));
        assert!(parse_chown(":1", &NumericOnly).is_err());
        assert!(parse_chmod("9").is_err());
        assert!(parse_chmod("").is_err());
        assert!(parse_chmod("17777").is_err());
        assert_eq!(parse_chmod("0755").unwrap(), 0o755);

        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(".wh.x"), "").unwrap();
        let plan = resolve("COPY", t.path(), &[".wh.x".into()], "/d/", "/", &|_| false).unwrap();
        let err = write_copy_layer(&plan, &LayerOptions::default(), Vec::new()).unwrap_err();
        assert!(err.to_string().contains(".wh.x"), "{err}");
    }
}
