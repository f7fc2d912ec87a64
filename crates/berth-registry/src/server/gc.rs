//! Garbage collection: mark every blob a linked manifest reaches (tagged or not), sweep
//! the rest. Run it while the server is stopped or read-only: a blob uploaded between the
//! mark and the sweep, not yet named by a manifest, would be removed.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::storage::{parse_digest, Storage};

/// What a collection removed (or, in a dry run, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Digests (`sha256:<hex>`) of the blobs removed.
    pub removed: Vec<String>,
    pub bytes: u64,
    /// Blobs kept because some manifest reaches them.
    pub kept: usize,
    /// Layer links dropped from repositories because their blob went away.
    pub unlinked: usize,
    /// Upload sessions untouched for [`STALE_UPLOAD`] and removed (clients that gave up).
    pub uploads_purged: usize,
}

/// How long an upload session may sit idle before collection removes it.
pub const STALE_UPLOAD: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

pub fn garbage_collect(root: &Path, dry_run: bool) -> std::io::Result<GcReport> {
    let store = Storage::open(root)?;
    let mut marked = BTreeSet::new();
    let repos = store.repositories()?;
    for repo in &repos {
        for hex in store.manifest_revisions(repo)? {
            mark(&store, &hex, &mut marked);
        }
    }
    let mut report = GcReport::default();
    for hex in store.all_blobs()? {
        if marked.contains(&hex) {
            report.kept += 1;
            continue;
        }
        report.bytes += std::fs::metadata(store.blob_path(&hex))
            .map(|m| m.len())
            .unwrap_or(0);
        report.removed.push(format!("sha256:{hex}"));
        if !dry_run {
            store.remove_blob(&hex)?;
        }
    }
    let now = std::time::SystemTime::now();
    for e in std::fs::read_dir(root.join("uploads"))? {
        let e = e?;
        let modified = std::fs::metadata(e.path().join("data"))
            .or_else(|_| e.metadata())
            .and_then(|m| m.modified())?;
        if now.duration_since(modified).unwrap_or_default() > STALE_UPLOAD {
            report.uploads_purged += 1;
            if !dry_run {
                std::fs::remove_dir_all(e.path())?;
            }
        }
    }
    if !dry_run {
        // Links to blobs that are gone would make the repository claim what it cannot serve.
        let base = root.join("repositories");
        let mut all = Vec::new();
        collect_repo_dirs(&base, &base, &mut all)?;
        for repo in all {
            for hex in store.layer_links(&repo)? {
                if !store.blob_exists(&hex) {
                    store.unlink_layer(&repo, &hex)?;
                    report.unlinked += 1;
                }
            }
        }
    }
    Ok(report)
}

fn mark(store: &Storage, hex: &str, marked: &mut BTreeSet<String>) {
    if !marked.insert(hex.to_string()) {
        return;
    }
    let Ok(data) = store.read_blob(hex) else {
        return;
    };
    let Ok(doc) = serde_json::from_slice::<Value>(&data) else {
        return;
    };
    let mut refs = Vec::new();
    if let Some(c) = doc.pointer("/config/digest").and_then(Value::as_str) {
        refs.push(c.to_string());
    }
    for key in ["layers", "manifests", "blobs"] {
        for d in doc.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(x) = d.get("digest").and_then(Value::as_str) {
                refs.push(x.to_string());
            }
        }
    }
    for r in refs {
        if let Some(h) = parse_digest(&r) {
            mark(store, h, marked);
        }
    }
}

/// Repositories holding layer links, including those without manifests (never listed in
/// the catalog but still owning links).
fn collect_repo_dirs(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        let n = e.file_name().to_string_lossy().into_owned();
        if n == "_layers" {
            if let Ok(rel) = dir.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        } else if !n.starts_with('_') && !n.starts_with('.') {
            collect_repo_dirs(base, &e.path(), out)?;
        }
    }
    Ok(())
}
