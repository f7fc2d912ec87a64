//! When unpacked layers reach the disk.
//!
//! A layer's blob is fsynced before it becomes visible: it is the source of truth. The
//! snapshot unpacked from it is derived data, so it is not synced on the request's time
//! (that would write every byte to disk twice before `load` or `commit` could answer).
//! Instead it carries a marker naming the boot it was written in, a background thread
//! syncs it and drops the marker. A `kill -9` loses nothing (the page cache survives the
//! process); after a machine crash, snapshots still marked from an earlier boot may be
//! incomplete, so opening the store unpacks them again from their blobs.

use crate::store::Store;
use crate::writer::{LayerExpect, LayerSource};
use crate::{sync_dir, StoreError};
use berth_model::digest::chain_id;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const MARKER: &str = "unsynced";

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Marks the snapshot whose upper dir is `upper` as not yet on disk.
pub(crate) fn mark_unsynced(upper: &Path) -> Result<(), StoreError> {
    let dir = upper.parent().unwrap_or(upper);
    let p = dir.join(MARKER);
    fs::write(&p, boot_id()).map_err(|e| StoreError::io(format!("write {}", p.display()), e))
}

/// Syncs snapshot directory `dir` in the background, then drops its marker.
pub(crate) fn sync_later(dir: PathBuf) {
    std::thread::spawn(move || {
        let synced = File::open(&dir)
            .map_err(|e| e.to_string())
            .and_then(|f| nix::unistd::syncfs(f.as_raw_fd()).map_err(|e| e.to_string()));
        match synced {
            Ok(()) => {
                let _ = fs::remove_file(dir.join(MARKER));
                let _ = sync_dir(&dir);
            }
            Err(e) => tracing::warn!(snapshot = %dir.display(), "cannot sync snapshot: {e}"),
        }
    });
}

impl Store {
    pub(crate) fn snapshot_dir(&self, key: &str) -> PathBuf {
        self.root.join("snapshots").join(key)
    }

    /// At open: finishes the syncs a stopped daemon left pending in this boot, and unpacks
    /// again the snapshots an earlier boot may have lost.
    pub(crate) fn recover_unsynced(&self) -> Result<(), StoreError> {
        let boot = boot_id();
        let mut lost = Vec::new();
        for key in self.snapshots.keys()? {
            let dir = self.snapshot_dir(&key);
            let Ok(from) = fs::read_to_string(dir.join(MARKER)) else {
                continue;
            };
            if from.trim() == boot {
                sync_later(dir);
            } else {
                tracing::warn!(snapshot = %key, "layer written before a machine crash: unpacking it again");
                self.snapshots.remove(&key)?;
                lost.push(key);
            }
        }
        if !lost.is_empty() {
            self.rebuild_layers();
        }
        Ok(())
    }

    /// Unpacks from their blobs every missing layer snapshot of every image. Returns the
    /// images that could not be rebuilt (a blob missing or corrupt), with the reason.
    pub fn rebuild_layers(&self) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        let images = match self.db.all_images() {
            Ok(i) => i,
            Err(e) => return vec![("*".into(), e.to_string())],
        };
        for img in images {
            let complete = (1..=img.layers.len()).all(|n| {
                chain_id(&img.layers[..n]).is_some_and(|c| self.snapshots.exists(c.hex()))
            });
            if complete {
                continue;
            }
            let res = (|| {
                let m = crate::manifest::Manifest::parse(&self.content.read(&img.manifest)?)
                    .map_err(StoreError::Corrupt)?;
                let mut w = self.image_writer();
                for (l, diff) in m.layers.iter().zip(&img.layers) {
                    w.add_layer(
                        LayerSource::File(self.content.path(&l.digest)),
                        LayerExpect {
                            digest: Some(l.digest.clone()),
                            diff_id: Some(diff.clone()),
                        },
                    )?;
                }
                // Not finished: the image record exists; the snapshots it uses stay.
                Ok::<_, StoreError>(())
            })();
            if let Err(e) = res {
                tracing::warn!(image = %img.id, "cannot unpack the image's layers again: {e}");
                failed.push((img.id.to_string(), e.to_string()));
            }
        }
        failed
    }
}
