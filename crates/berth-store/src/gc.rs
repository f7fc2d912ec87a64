//! Image deletion and the garbage collection behind it.
//!
//! The image record and its tags go in one transaction first; only then are blobs and
//! snapshots that nothing else references removed. A crash in between leaves unreferenced
//! files (harmless, and what a store check removes), never a record pointing at a missing
//! file. Collection holds the publish lock, so an import that is making a shared layer
//! visible cannot have it removed under it.

use crate::manifest::Manifest;
use crate::store::{ImageRecord, Store};
use crate::StoreError;
use berth_model::digest::chain_id;
use berth_model::{Digest, Reference};
use std::collections::HashSet;

/// What deleting an image removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Tags that still named the image.
    pub untagged: Vec<Reference>,
    pub blobs: Vec<Digest>,
    pub snapshots: Vec<String>,
    /// Unpacked bytes freed: the image's size when its layers went with it.
    pub reclaimed: u64,
}

/// Chain IDs of every prefix of `layers`: the snapshot keys an image stands on.
pub(crate) fn chain_ids(layers: &[Digest]) -> Vec<String> {
    (1..=layers.len())
        .filter_map(|n| chain_id(&layers[..n]).map(|d| d.hex().to_string()))
        .collect()
}

impl Store {
    /// The blobs an image's manifest names (manifest, config, layers). An unreadable
    /// manifest yields `None`: the caller must then assume the worst.
    fn image_blobs(&self, img: &ImageRecord) -> Option<Vec<Digest>> {
        let bytes = self.content.read(&img.manifest).ok()?;
        let m: Manifest = serde_json::from_slice(&bytes).ok()?;
        let mut out = vec![img.manifest.clone(), m.config.digest];
        out.extend(m.layers.into_iter().map(|l| l.digest));
        Some(out)
    }

    /// Snapshots images use, plus every layer under a container's read-write snapshot.
    fn used_snapshots(&self) -> Result<HashSet<String>, StoreError> {
        let mut used = HashSet::new();
        for img in self.db.all_images()? {
            used.extend(chain_ids(&img.layers));
        }
        for key in self.snapshots.keys()? {
            if key.starts_with("rw-") {
                self.mark_chain(&key, &mut used)?;
            }
        }
        // Layers an image writer holds, and everything below them.
        let leased: Vec<String> = {
            let l = self.leases.lock().unwrap_or_else(|p| p.into_inner());
            l.keys()
                .filter(|k| !k.starts_with("blob:"))
                .cloned()
                .collect()
        };
        for key in leased {
            used.insert(key.clone());
            if self.snapshots.exists(&key) {
                self.mark_chain(&key, &mut used)?;
            }
        }
        Ok(used)
    }

    fn mark_chain(&self, key: &str, used: &mut HashSet<String>) -> Result<(), StoreError> {
        let mut next = self.snapshots.parent(key)?;
        let mut depth = 0;
        while let Some(p) = next {
            depth += 1;
            // A loop in corrupt parent files must not hang collection.
            if depth > 1000 || !used.insert(p.clone()) {
                break;
            }
            next = self.snapshots.parent(&p)?;
        }
        Ok(())
    }

    /// Removes layer snapshot `top` and the layers below it that nothing uses any more.
    pub(crate) fn collect_layers(&self, top: &str) -> Result<(), StoreError> {
        let _publishing = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        let used = self.used_snapshots()?;
        let mut next = Some(top.to_string());
        let mut depth = 0;
        while let Some(key) = next {
            depth += 1;
            if depth > 1000 || used.contains(&key) || key == "empty" || !self.snapshots.exists(&key)
            {
                break;
            }
            next = self.snapshots.parent(&key)?;
            self.remove_snapshot(&key)?;
        }
        Ok(())
    }

    fn remove_snapshot(&self, key: &str) -> Result<(), StoreError> {
        self.snapshots.remove(key)?;
        let _ = self.db.forget_layer_size(key);
        Ok(())
    }

    /// Blobs every image names, plus those leased; `None` in the second place when some
    /// image's manifest is unreadable (its layer blobs are then unknown).
    fn used_blobs(&self) -> Result<(HashSet<Digest>, bool), StoreError> {
        let mut used = HashSet::new();
        let mut known = true;
        for other in self.db.all_images()? {
            match self.image_blobs(&other) {
                Some(b) => used.extend(b),
                None => {
                    known = false;
                    used.insert(other.manifest.clone());
                    used.insert(other.id.clone());
                }
            }
        }
        let l = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        used.extend(
            l.keys()
                .filter_map(|k| k.strip_prefix("blob:"))
                .filter_map(|h| Digest::from_hex(h).ok()),
        );
        Ok((used, known))
    }

    /// Removes those of `blobs` and `snapshots` that no image, container or writer uses:
    /// the undo of an image write that failed half way.
    pub(crate) fn collect_unused(
        &self,
        blobs: &[Digest],
        snapshots: &[String],
    ) -> Result<(), StoreError> {
        let _publishing = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        let (used_blobs, known) = self.used_blobs()?;
        for b in blobs {
            // A layer blob might be shared with an image whose manifest is unreadable.
            if known && !used_blobs.contains(b) {
                self.content.remove(b);
            }
        }
        let used = self.used_snapshots()?;
        // Top first, so a parent is never removed before its child.
        for s in snapshots.iter().rev() {
            if !used.contains(s) {
                self.remove_snapshot(s)?;
            }
        }
        Ok(())
    }

    /// Deletes image `id` with all its tags, then the blobs and layer snapshots no other
    /// image and no container's read-write snapshot still uses. The caller checks that
    /// no container needs the image.
    pub fn delete_image(&self, id: &Digest) -> Result<Deleted, StoreError> {
        let _publishing = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        let img = self.image(id)?;
        // Read before the record goes: the manifest is one of the blobs to collect.
        let mut blobs = self
            .image_blobs(&img)
            .unwrap_or_else(|| vec![img.manifest.clone(), img.id.clone()]);
        let untagged = self
            .db
            .delete_image(id)?
            .ok_or_else(|| StoreError::NoSuchImage(id.to_string()))?;

        let (used_blobs, blobs_known) = self.used_blobs()?;
        let used_snaps = self.used_snapshots()?;
        if !blobs_known {
            // A layer blob might be shared with an image whose manifest is unreadable.
            blobs.truncate(2);
        }
        blobs.retain(|b| !used_blobs.contains(b));
        for b in &blobs {
            self.content.remove(b);
        }
        let mut snapshots = chain_ids(&img.layers);
        snapshots.retain(|s| !used_snaps.contains(s) && self.snapshots.exists(s));
        // Unpacked bytes of the layers that go, read before their sizes are forgotten.
        let reclaimed = snapshots.iter().map(|s| self.layer_size(s)).sum();
        for s in snapshots.iter().rev() {
            self.remove_snapshot(s)?;
        }
        Ok(Deleted {
            untagged,
            blobs,
            snapshots,
            reclaimed,
        })
    }
}
