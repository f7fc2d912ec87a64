//! `GET /system/df`, as dockerd 20.10 (API 1.41) answers it: every image with its
//! `SharedSize` and container count, every container with `SizeRw`/`SizeRootFs`, the size of
//! all layers images use counted once (`LayersSize`), no volumes and no build cache.

use crate::Engine;
use berth_model::api::ListOptions;
use berth_model::digest::chain_id;
use berth_model::{Digest, Error, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes of regular-file content under `dir`, each inode once (hard links are one file),
/// as dockerd's `directory.Size`. Unreadable parts count as empty.
pub fn tree_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            // `DirEntry::metadata` does not follow symlinks.
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                todo.push(e.path());
            } else if m.is_file() && (m.nlink() < 2 || seen.insert((m.dev(), m.ino()))) {
                total += m.len();
            }
        }
    }
    total
}

/// Chain IDs (hex) of every prefix of `layers`: the layer snapshots an image stands on.
fn chains(layers: &[Digest]) -> Vec<String> {
    (1..=layers.len())
        .filter_map(|n| chain_id(&layers[..n]).map(|d| d.hex().to_string()))
        .collect()
}

/// What the store walk found: per image, (shared bytes, layer bytes); per container, the
/// read-write layer's bytes; the bytes of all layers.
struct Sizes {
    images: HashMap<String, (u64, u64)>,
    rw: HashMap<String, u64>,
    layers: u64,
}

/// Which layers are shared, from each image's chain and the size of each layer.
fn image_sizes(
    images: &[(String, Vec<String>)],
    layer_size: &dyn Fn(&str) -> u64,
) -> (HashMap<String, (u64, u64)>, u64) {
    let mut refs: HashMap<&str, usize> = HashMap::new();
    for (_, chain) in images {
        for c in chain {
            *refs.entry(c.as_str()).or_default() += 1;
        }
    }
    let sizes: HashMap<&str, u64> = refs.keys().map(|c| (*c, layer_size(c))).collect();
    let layers = sizes.values().sum();
    let per_image = images
        .iter()
        .map(|(id, chain)| {
            let shared = chain
                .iter()
                .filter(|c| refs.get(c.as_str()).copied().unwrap_or(0) > 1)
                .map(|c| sizes[c.as_str()])
                .sum();
            let own = chain.iter().map(|c| sizes[c.as_str()]).sum();
            (id.clone(), (shared, own))
        })
        .collect();
    (per_image, layers)
}

impl Engine {
    /// `GET /system/df`.
    pub async fn disk_usage(&self) -> Result<Value> {
        let containers = self
            .list(ListOptions {
                all: true,
                ..Default::default()
            })
            .await?;
        let images = self.list_images(false, BTreeMap::new()).await?;
        let ids: Vec<String> = containers.iter().map(|c| c.id.clone()).collect();
        let sizes = self
            .blocking(move |s| {
                let records: Vec<(String, Vec<String>)> = s
                    .list_images()
                    .map_err(Error::from)?
                    .into_iter()
                    .map(|(img, _)| (img.id.to_string(), chains(&img.layers)))
                    .collect();
                // The size recorded when the layer was unpacked (what image sizes add
                // up); else a walk of the snapshot's `fs` dir, which holds that layer's
                // files only (overlay).
                let layer_size = |c: &str| match s.layer_size(c) {
                    0 => s.snapshotter().mounts(c).map_or(0, |m| tree_size(&m.upper)),
                    n => n,
                };
                let (images, layers) = image_sizes(&records, &layer_size);
                let rw = ids
                    .iter()
                    .map(|id| {
                        let size = s.rw_mount(id).map_or(0, |m| tree_size(&m.upper));
                        (id.clone(), size)
                    })
                    .collect();
                Ok(Sizes { images, rw, layers })
            })
            .await?;

        let mut used_by: HashMap<&str, i64> = HashMap::new();
        for c in &containers {
            *used_by.entry(c.image_id.as_str()).or_default() += 1;
        }
        let image_size: HashMap<&str, i64> =
            images.iter().map(|i| (i.id.as_str(), i.size)).collect();
        let mut image_rows = Vec::new();
        for img in &images {
            let mut row = img.clone();
            let (shared, _) = sizes.images.get(&img.id).copied().unwrap_or((0, 0));
            row.containers = used_by.get(img.id.as_str()).copied().unwrap_or(0);
            // Never more than the image, whatever a walk of the disk found.
            row.shared_size = (shared as i64).min(img.size.max(0));
            image_rows.push(row);
        }
        let mut container_rows = Vec::new();
        for c in &containers {
            let mut v = serde_json::to_value(c).map_err(|e| Error::internal(e.to_string()))?;
            let rw = sizes.rw.get(&c.id).copied().unwrap_or(0) as i64;
            let below = match image_size.get(c.image_id.as_str()) {
                Some(size) => *size,
                // Image force-deleted: its layers are still there, under the container.
                None => 0,
            };
            if let Some(o) = v.as_object_mut() {
                o.insert("SizeRw".into(), json!(rw));
                o.insert("SizeRootFs".into(), json!(rw + below));
            }
            container_rows.push(v);
        }
        Ok(json!({
            "LayersSize": sizes.layers,
            "Images": image_rows,
            "Containers": container_rows,
            "Volumes": self.volumes_usage().await?,
            // dockerd 20.10 without BuildKit answers null and 0 here.
            "BuildCache": null,
            "BuilderSize": 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_layers_count_once() {
        let images = vec![
            ("a".to_string(), vec!["base".to_string(), "a1".to_string()]),
            ("b".to_string(), vec!["base".to_string(), "b1".to_string()]),
            ("c".to_string(), vec!["other".to_string()]),
        ];
        let size = |c: &str| match c {
            "base" => 1000,
            "a1" => 10,
            "b1" => 20,
            "other" => 5,
            _ => panic!("unknown layer {c}"),
        };
        let (per, layers) = image_sizes(&images, &size);
        assert_eq!(layers, 1035);
        assert_eq!(per["a"], (1000, 1010));
        assert_eq!(per["b"], (1000, 1020));
        assert_eq!(per["c"], (0, 5));
    }

    #[test]
    fn tree_size_counts_hard_links_once_and_skips_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), vec![0u8; 100]).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![0u8; 50]).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("sub/a2")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert_eq!(tree_size(dir.path()), 150);
        assert_eq!(tree_size(&dir.path().join("missing")), 0);
    }
}
