//! `berthd check [--repair]`: a consistency check of a store that no daemon has open.
//!
//! It looks at the tree as a crash left it, before anything cleans up: opening a [`Store`]
//! drops ingest leftovers and `tmp-*` snapshots, so the check opens only the database
//! (whose lock also tells that a berthd still has the store) and reads the directories
//! itself.
//!
//! Repairable findings are files nothing needs: blobs no image's manifest names, blobs
//! whose bytes do not match their name, snapshots no image and no live container stands
//! on, half-written ingests, `tmp-*` snapshot dirs, tags naming a missing image. Errors are
//! image or container records whose blobs or snapshots are missing or corrupt: the check
//! cannot recreate those; the image must be pulled or imported again.

use crate::db::Db;
use crate::gc::chain_ids;
use crate::manifest::Manifest;
use crate::store::Store;
use crate::{random_name, StoreError};
use berth_model::digest::Hasher;
use berth_model::Digest;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What is wrong with one path, digest or record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A blob no image's manifest names.
    OrphanBlob,
    /// A blob whose content does not hash to its name.
    CorruptBlob,
    /// A snapshot no image's chain and no live container's read-write layer uses.
    OrphanSnapshot,
    /// A half-written ingest file or a `tmp-*` snapshot dir.
    Leftover,
    /// A file in the blob or snapshot dirs that is neither a blob nor a snapshot.
    Stray,
    /// A tag naming an image that has no record.
    DanglingTag,
    /// A record whose blobs or snapshots are missing or corrupt: not repairable.
    Broken,
}

impl Problem {
    pub fn repairable(self) -> bool {
        self != Problem::Broken
    }

    fn label(self) -> &'static str {
        match self {
            Problem::OrphanBlob => "orphan blob",
            Problem::CorruptBlob => "corrupt blob",
            Problem::OrphanSnapshot => "orphan snapshot",
            Problem::Leftover => "leftover",
            Problem::Stray => "stray file",
            Problem::DanglingTag => "dangling tag",
            Problem::Broken => "error",
        }
    }
}

/// One finding: the path, digest or reference at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub problem: Problem,
    /// The path (blobs, snapshots, leftovers) or reference (tags) at fault.
    pub subject: String,
    pub detail: String,
    /// Set when `--repair` removed it.
    pub repaired: bool,
    /// Why a repair attempt failed.
    pub repair_error: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.problem.label(),
            self.subject,
            self.detail
        )?;
        if self.repaired {
            write!(f, " (removed)")?;
        } else if let Some(e) = &self.repair_error {
            write!(f, " (repair failed: {e})")?;
        } else if self.problem == Problem::Broken {
            write!(f, " (repair cannot fix this)")?;
        }
        Ok(())
    }
}

/// What a check found (and, with repair, removed).
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
    pub images: usize,
    pub blobs: usize,
    pub snapshots: usize,
    /// Orphan blobs were not looked for: some image's manifest is unreadable, so which
    /// blobs it needs is unknown.
    pub orphan_blobs_skipped: bool,
}

impl CheckReport {
    /// Nothing left wrong: no findings, or every one repaired.
    pub fn is_clean(&self) -> bool {
        self.findings.iter().all(|f| f.repaired)
    }

    /// Findings repair cannot fix.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.problem.repairable())
    }

    /// Every finding is one repair removes (or already removed).
    pub fn only_repairable(&self) -> bool {
        self.errors().next().is_none()
    }

    pub fn summary(&self) -> String {
        let scanned = format!(
            "{} images, {} blobs, {} snapshots checked",
            self.images, self.blobs, self.snapshots
        );
        if self.findings.is_empty() {
            return format!("{scanned}: store is clean");
        }
        let errors = self.errors().count();
        let repairable = self.findings.len() - errors;
        let repaired = self.findings.iter().filter(|f| f.repaired).count();
        let mut s = format!("{scanned}: {} problems", self.findings.len());
        s += &format!(", {repairable} repairable");
        if repaired > 0 {
            s += &format!(" ({repaired} removed)");
        } else if repairable > 0 {
            s += " (run with --repair to remove them)";
        }
        if errors > 0 {
            s += &format!(
                ", {errors} errors repair cannot fix (pull or import the images named again)"
            );
        }
        if self.orphan_blobs_skipped {
            s += "; orphan blobs were not looked for: an image's manifest is unreadable";
        }
        s
    }

    fn add(&mut self, problem: Problem, subject: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            problem,
            subject: subject.into(),
            detail: detail.into(),
            repaired: false,
            repair_error: None,
        });
    }
}

/// sha256 of a file, streamed.
fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut f = fs::File::open(path)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

fn read_dir_names(dir: &Path) -> Result<Vec<(String, fs::FileType)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("read {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(format!("read {}", dir.display()), e))?;
        let ft = entry
            .file_type()
            .map_err(|e| StoreError::io(format!("stat {}", entry.path().display()), e))?;
        out.push((entry.file_name().to_string_lossy().into_owned(), ft));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The snapshot dirs as the check sees them (no snapshotter is opened).
struct Snaps {
    root: PathBuf,
}

impl Snaps {
    fn exists(&self, key: &str) -> bool {
        !key.is_empty() && !key.contains('/') && self.root.join(key).join("fs").is_dir()
    }

    fn parent(&self, key: &str) -> Result<Option<String>, String> {
        let p = self.root.join(key).join("parent");
        match fs::read_to_string(&p) {
            Ok(s) => {
                let s = s.trim();
                if s.is_empty() || s.contains('/') || s.starts_with('.') {
                    Err(format!("bad parent {s:?} in {}", p.display()))
                } else {
                    Ok(Some(s.to_string()))
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("read {}: {e}", p.display())),
        }
    }
}

/// Removes a snapshot dir by renaming it aside first, so a crash mid-removal never leaves
/// a half-emptied dir under a key an import would take as complete.
fn remove_snapshot_dir(root: &Path, dir: &Path) -> io::Result<()> {
    let aside = root.join(format!("tmp-{}", random_name()));
    fs::rename(dir, &aside)?;
    fs::File::open(root)?.sync_all()?;
    fs::remove_dir_all(&aside)
}

fn remove_path(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Checks the store under `data_root`, which no berthd may have open (the database
    /// lock tells: [`StoreError::Locked`]). With `repair`, removes what is repairable.
    /// Nothing is cleaned up before the look: the report shows the tree as it was.
    pub fn check(data_root: &Path, repair: bool) -> Result<CheckReport, StoreError> {
        let db_path = data_root.join("berth.redb");
        if !db_path.is_file() {
            return Err(StoreError::NotFound(format!(
                "{} not found: {} is not a berth data root",
                db_path.display(),
                data_root.display()
            )));
        }
        // Held to the end: a berthd starting meanwhile fails on the lock.
        let db = Db::open(&db_path)?;
        let mut report = CheckReport::default();
        let blob_dir = data_root.join("content/blobs/sha256");
        let ingest_dir = data_root.join("content/ingest");
        let snaps = Snaps {
            root: data_root.join("snapshots"),
        };
        let blob_path = |d: &Digest| blob_dir.join(d.hex());

        // Blobs on disk and whether their bytes match their name.
        let mut corrupt: HashSet<String> = HashSet::new();
        let mut on_disk: Vec<(String, PathBuf)> = Vec::new();
        for (name, ft) in read_dir_names(&blob_dir)? {
            let path = blob_dir.join(&name);
            if !ft.is_file() || Digest::from_hex(&name).is_err() {
                report.add(
                    Problem::Stray,
                    path.display().to_string(),
                    "not a blob (name is not a sha256 hex digest, or not a regular file)",
                );
                continue;
            }
            report.blobs += 1;
            match hash_file(&path) {
                Ok(d) if d.hex() == name => on_disk.push((name, path)),
                Ok(d) => {
                    report.add(
                        Problem::CorruptBlob,
                        path.display().to_string(),
                        format!("content is {d}, not sha256:{name}"),
                    );
                    corrupt.insert(name);
                }
                Err(e) => {
                    report.add(
                        Problem::CorruptBlob,
                        path.display().to_string(),
                        format!("unreadable: {e}"),
                    );
                    corrupt.insert(name);
                }
            }
        }

        // What the records need.
        let images = db.all_images()?;
        report.images = images.len();
        let ids: HashSet<&str> = images.iter().map(|i| i.id.hex()).collect();
        let mut used_blobs: HashSet<String> = HashSet::new();
        let mut used_snaps: HashSet<String> = HashSet::new();
        for img in &images {
            let mut needed = vec![
                ("manifest", img.manifest.clone()),
                ("config", img.id.clone()),
            ];
            let manifest_path = blob_path(&img.manifest);
            match fs::read(&manifest_path) {
                Ok(bytes) if !corrupt.contains(img.manifest.hex()) => {
                    match serde_json::from_slice::<Manifest>(&bytes) {
                        Ok(m) => {
                            if m.config.digest != img.id {
                                report.add(
                                    Problem::Broken,
                                    format!("image {}", img.id),
                                    format!(
                                        "manifest {} names config {}",
                                        img.manifest, m.config.digest
                                    ),
                                );
                                needed.push(("config", m.config.digest));
                            }
                            needed.extend(m.layers.into_iter().map(|l| ("layer", l.digest)));
                        }
                        Err(e) => {
                            report.orphan_blobs_skipped = true;
                            report.add(
                                Problem::Broken,
                                format!("image {}", img.id),
                                format!(
                                    "manifest {} ({}) is unreadable: {e}",
                                    img.manifest,
                                    manifest_path.display()
                                ),
                            );
                        }
                    }
                }
                // Missing or corrupt: reported below with the other blobs.
                Ok(_) => report.orphan_blobs_skipped = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => report.orphan_blobs_skipped = true,
                Err(e) => {
                    report.orphan_blobs_skipped = true;
                    report.add(
                        Problem::Broken,
                        format!("image {}", img.id),
                        format!("read {}: {e}", manifest_path.display()),
                    );
                }
            }
            for (what, d) in needed {
                let p = blob_path(&d);
                if corrupt.contains(d.hex()) {
                    report.add(
                        Problem::Broken,
                        format!("image {}", img.id),
                        format!("{what} blob {d} ({}) is corrupt", p.display()),
                    );
                } else if !p.is_file() {
                    report.add(
                        Problem::Broken,
                        format!("image {}", img.id),
                        format!("{what} blob {d} ({}) is missing", p.display()),
                    );
                }
                used_blobs.insert(d.hex().to_string());
            }
            for key in chain_ids(&img.layers) {
                if !snaps.exists(&key) {
                    report.add(
                        Problem::Broken,
                        format!("image {}", img.id),
                        format!(
                            "layer snapshot {key} ({}) is missing",
                            snaps.root.join(&key).display()
                        ),
                    );
                }
                used_snaps.insert(key);
            }
        }

        for (reference, id) in db.all_tags()? {
            if !ids.contains(id.as_str()) {
                report.add(
                    Problem::DanglingTag,
                    reference.to_string(),
                    format!("names image sha256:{id}, which has no record"),
                );
            }
        }

        // Snapshots: the layers under live containers' read-write snapshots are used.
        let containers: HashSet<String> = db
            .list_containers()?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let entries = read_dir_names(&snaps.root)?;
        let mut orphan_rw: HashSet<String> = HashSet::new();
        for (name, ft) in &entries {
            let Some(cid) = name.strip_prefix("rw-") else {
                continue;
            };
            if !ft.is_dir() {
                continue;
            }
            if !containers.contains(cid) {
                orphan_rw.insert(name.clone());
                continue;
            }
            let mut next = snaps.parent(name);
            let mut depth = 0;
            loop {
                match next {
                    Ok(Some(p)) => {
                        depth += 1;
                        if !snaps.exists(&p) {
                            report.add(
                                Problem::Broken,
                                format!("container {cid}"),
                                format!(
                                    "its read-write snapshot {name} stands on missing snapshot {p} ({})",
                                    snaps.root.join(&p).display()
                                ),
                            );
                            break;
                        }
                        // A loop in corrupt parent files must not hang the check.
                        if depth > 1000 || !used_snaps.insert(p.clone()) {
                            break;
                        }
                        next = snaps.parent(&p);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        report.add(Problem::Broken, format!("container {cid}"), e);
                        break;
                    }
                }
            }
        }
        for (name, ft) in &entries {
            let path = snaps.root.join(name);
            if name.starts_with("tmp-") {
                report.add(
                    Problem::Leftover,
                    path.display().to_string(),
                    "snapshot an interrupted import, commit or removal left behind",
                );
                continue;
            }
            // The overlay snapshotter's lower dir for images without layers.
            if name == "empty" && ft.is_dir() {
                continue;
            }
            if !ft.is_dir() {
                report.add(Problem::Stray, path.display().to_string(), "not a snapshot");
                continue;
            }
            report.snapshots += 1;
            if orphan_rw.contains(name) {
                report.add(
                    Problem::OrphanSnapshot,
                    path.display().to_string(),
                    format!(
                        "read-write snapshot of container {}, which has no record",
                        &name[3..]
                    ),
                );
            } else if !name.starts_with("rw-") && !used_snaps.contains(name) {
                report.add(
                    Problem::OrphanSnapshot,
                    path.display().to_string(),
                    "no image or container uses it",
                );
            }
        }

        for (name, ft) in read_dir_names(&ingest_dir)? {
            let path = ingest_dir.join(&name);
            let what = if ft.is_dir() { "dir" } else { "file" };
            report.add(
                Problem::Leftover,
                path.display().to_string(),
                format!("half-written ingest {what}"),
            );
        }

        if !report.orphan_blobs_skipped {
            for (name, path) in &on_disk {
                if !used_blobs.contains(name) {
                    report.add(
                        Problem::OrphanBlob,
                        path.display().to_string(),
                        "no image's manifest names it",
                    );
                }
            }
        }

        if repair {
            let tags: HashMap<String, berth_model::Reference> = db
                .all_tags()?
                .into_iter()
                .map(|(r, _)| (r.to_string(), r))
                .collect();
            for f in report.findings.iter_mut() {
                let res = match f.problem {
                    Problem::Broken => continue,
                    Problem::DanglingTag => match tags.get(&f.subject) {
                        Some(r) => db.untag(r).map(|_| ()).map_err(|e| e.to_string()),
                        None => Ok(()),
                    },
                    Problem::OrphanSnapshot => {
                        remove_snapshot_dir(&snaps.root, Path::new(&f.subject))
                            .map_err(|e| e.to_string())
                    }
                    Problem::OrphanBlob
                    | Problem::CorruptBlob
                    | Problem::Leftover
                    | Problem::Stray => {
                        remove_path(Path::new(&f.subject)).map_err(|e| e.to_string())
                    }
                };
                match res {
                    Ok(()) => f.repaired = true,
                    Err(e) => f.repair_error = Some(e),
                }
            }
            for d in [&blob_dir, &snaps.root] {
                if d.is_dir() {
                    crate::sync_dir(d)?;
                }
            }
        }
        Ok(report)
    }
}
