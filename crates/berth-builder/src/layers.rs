//! Layers the builder writes itself (WORKDIR's directory) and ADD's archive extraction.

use crate::copy_layer::{self, ExistingDir, LayerOptions};
use crate::dispatch::resolve_workdir;
use crate::sources::{CopyItem, CopyPlan};
use crate::BuildError;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Metadata of directory `p` (absolute image path) in the image mounted at `root`, for
/// the parents a new layer must repeat with their own mode and owner.
pub fn existing_dir(root: &Path, p: &str) -> Option<ExistingDir> {
    let m = fs::symlink_metadata(root.join(p.trim_start_matches('/'))).ok()?;
    m.is_dir().then(|| ExistingDir {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    })
}

/// A layer holding directory `dir` (mode 0755, root-owned) and its parents, the way
/// WORKDIR creates a missing directory. `scratch` is an empty work directory.
pub fn dir_layer(
    parent_root: &Path,
    scratch: &Path,
    dir: &str,
    epoch: Option<i64>,
    out: &Path,
) -> Result<(), BuildError> {
    let src = scratch.join("workdir");
    fs::create_dir(&src).map_err(|e| BuildError::io(format!("create {}", src.display()), e))?;
    fs::set_permissions(&src, fs::Permissions::from_mode(0o755))
        .map_err(|e| BuildError::io(format!("chmod {}", src.display()), e))?;
    let plan = CopyPlan {
        root: scratch.to_path_buf(),
        items: vec![CopyItem {
            src: "workdir".into(),
            dest: dir.to_string(),
            is_dir: true,
        }],
    };
    let now = chrono::Utc::now().timestamp();
    let opts = LayerOptions {
        chown: None,
        chmod: None,
        source_date_epoch: epoch,
        parent_mtime: epoch.unwrap_or(now),
    };
    let file = fs::File::create(out)
        .map_err(|e| BuildError::io(format!("create {}", out.display()), e))?;
    copy_layer::write_copy_layer_with(
        &plan,
        &opts,
        &|p| existing_dir(parent_root, p),
        std::io::BufWriter::new(file),
    )
}

/// Whether the file at `path` is a tar archive, plain or compressed.
fn is_archive(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let Ok(mut r) = berth_archive::decompress(f) else {
        return false;
    };
    let mut head = Vec::with_capacity(512);
    if r.by_ref().take(512).read_to_end(&mut head).is_err() {
        return false;
    }
    head.len() == 512 && !head.iter().all(|&b| b == 0) && crate::context::looks_like_tar(&head)
}

/// ADD's rule for local archives: a source file that is a tar (plain, gzip or zstd) is
/// unpacked into the destination directory instead of copied. Archives are extracted
/// safely (by file descriptor, inside a fresh directory) under the plan's root, and the
/// item becomes that directory.
pub fn expand_add_archives(
    mut plan: CopyPlan,
    dest: &str,
    workdir: &str,
    dest_is_dir: &dyn Fn(&str) -> bool,
) -> Result<CopyPlan, BuildError> {
    let resolved = resolve_workdir(workdir, dest);
    let into_dir = dest.ends_with('/') || dest_is_dir(&resolved);
    for (n, item) in plan.items.iter_mut().enumerate() {
        // Downloads (see `remote`) are copied as they are, never unpacked.
        if item.is_dir || item.src.starts_with(".berth-remote-") {
            continue;
        }
        let path = plan.root.join(&item.src);
        if !fs::symlink_metadata(&path)
            .map(|m| m.is_file())
            .unwrap_or(false)
            || !is_archive(&path)
        {
            continue;
        }
        // A fixed name keeps the step's cache key stable across daemon restarts.
        let rel = format!(".berth-add-{n}");
        let dir = plan.root.join(&rel);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).map_err(|e| BuildError::io(format!("create {}", dir.display()), e))?;
        let f =
            fs::File::open(&path).map_err(|e| BuildError::io(format!("open {}", item.src), e))?;
        let tar = berth_archive::decompress(f)
            .map_err(|e| BuildError::io(format!("read {}", item.src), e))?;
        berth_archive::apply_layer_with(
            tar,
            &dir,
            berth_archive::ApplyOptions { base_layer: true },
        )
        .map_err(|e| BuildError::Source(format!("ADD failed: extract {}: {e}", item.src)))?;
        let dest_dir = if into_dir {
            match item.dest.rsplit_once('/') {
                Some(("", _)) | None => "/".to_string(),
                Some((parent, _)) => parent.to_string(),
            }
        } else {
            item.dest.clone()
        };
        *item = CopyItem {
            src: rel,
            dest: dest_dir,
            is_dir: true,
        };
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn add_unpacks_a_gzip_tar_into_the_destination() {
        let t = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar_with("inner/f.txt", b"hi")).unwrap();
        fs::write(t.path().join("a.tgz"), gz.finish().unwrap()).unwrap();
        fs::write(t.path().join("plain.txt"), b"not a tar").unwrap();
        let plan = crate::sources::resolve(
            "ADD",
            t.path(),
            &["a.tgz".into(), "plain.txt".into()],
            "/opt/",
            "",
            &|_| false,
        )
        .unwrap();
        let plan = expand_add_archives(plan, "/opt/", "", &|_| false).unwrap();
        let entries = plan.entries().unwrap();
        let dests: Vec<&str> = entries.iter().map(|e| e.dest.as_str()).collect();
        assert!(dests.contains(&"/opt/inner/f.txt"), "{dests:?}");
        assert!(dests.contains(&"/opt/plain.txt"), "{dests:?}");
        assert!(!dests.iter().any(|d| d.ends_with("a.tgz")));
    }

    #[test]
    fn workdir_layer_repeats_existing_parents() {
        let parent = tempfile::tempdir().unwrap();
        fs::create_dir(parent.path().join("srv")).unwrap();
        fs::set_permissions(parent.path().join("srv"), fs::Permissions::from_mode(0o700)).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join("l.tar");
        dir_layer(parent.path(), scratch.path(), "/srv/app", Some(10), &out).unwrap();
        let mut a = tar::Archive::new(fs::File::open(&out).unwrap());
        let got: Vec<(String, u32, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(got[0].0.trim_end_matches('/'), "srv");
        assert_eq!(got[0].1 & 0o7777, 0o700);
        assert_eq!(got[1].0.trim_end_matches('/'), "srv/app");
        assert_eq!(got[1].1 & 0o7777, 0o755);
        assert!(got.iter().all(|g| g.2 <= 10));
    }
}
