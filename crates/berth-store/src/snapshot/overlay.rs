use super::dirs::{remove_tree, Dirs};
use super::{MountSpec, Snapshotter};
use crate::StoreError;
use std::path::{Path, PathBuf};

/// Overlay snapshots: each layer is its own directory, stacked at mount time.
pub struct OverlaySnapshotter {
    dirs: Dirs,
    /// Overlay needs a lower dir even for an image without layers.
    empty: PathBuf,
}

/// Longer chains are a loop in corrupt parent files, not an image (Docker caps at 125).
const MAX_DEPTH: usize = 500;

impl OverlaySnapshotter {
    pub fn new(root: &Path) -> Result<Self, StoreError> {
        let dirs = Dirs::new(root)?;
        let empty = root.join("empty");
        std::fs::create_dir_all(&empty)
            .map_err(|e| StoreError::io(format!("create {}", empty.display()), e))?;
        Ok(Self { dirs, empty })
    }

    fn spec(&self, key: &str, parent: Option<String>) -> Result<MountSpec, StoreError> {
        let mut lower = Vec::new();
        let mut next = parent;
        while let Some(p) = next {
            if !self.dirs.exists(&p) {
                return Err(StoreError::Corrupt(format!(
                    "snapshot {key} has missing ancestor {p}"
                )));
            }
            if lower.len() > MAX_DEPTH {
                return Err(StoreError::Corrupt(format!(
                    "snapshot {key} has a parent loop"
                )));
            }
            lower.push(self.dirs.dir(&p).join("fs"));
            next = self.dirs.read_parent(&p)?;
        }
        if lower.is_empty() {
            lower.push(self.empty.clone());
        }
        let dir = self.dirs.dir(key);
        Ok(MountSpec {
            lower,
            upper: dir.join("fs"),
            work: dir.join("work"),
        })
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<MountSpec, StoreError> {
        if let Some(p) = parent {
            Dirs::check_key(p)?;
            if !self.dirs.exists(p) {
                return Err(Dirs::not_found(p));
            }
        }
        self.prepare_layer(key, parent)?;
        self.spec(key, parent.map(str::to_string))
    }

    fn prepare_layer(&self, key: &str, parent: Option<&str>) -> Result<MountSpec, StoreError> {
        Dirs::check_key(key)?;
        if let Some(p) = parent {
            Dirs::check_key(p)?;
        }
        let tmp = self.dirs.make_tmp()?;
        if let Some(p) = parent {
            if let Err(e) = Dirs::write_parent(&tmp, p) {
                remove_tree(&tmp);
                return Err(e);
            }
        }
        if !self.dirs.publish(&tmp, key)? {
            return Err(StoreError::Conflict(format!(
                "snapshot {key} already exists"
            )));
        }
        // The parent may not be committed yet: its chain is read only when mounting.
        self.spec(key, None)
    }

    fn commit(&self, key: &str, name: &str) -> Result<bool, StoreError> {
        Dirs::check_key(key)?;
        Dirs::check_key(name)?;
        if !self.dirs.exists(key) {
            return Err(Dirs::not_found(key));
        }
        // The work dir of a committed layer is never used again; it stays for the layout.
        self.dirs.publish(&self.dirs.dir(key), name)
    }

    fn mounts(&self, key: &str) -> Result<MountSpec, StoreError> {
        Dirs::check_key(key)?;
        if !self.dirs.exists(key) {
            return Err(Dirs::not_found(key));
        }
        self.spec(key, self.dirs.read_parent(key)?)
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.dirs.remove(key)
    }

    fn exists(&self, key: &str) -> bool {
        self.dirs.exists(key)
    }

    fn cleanup(&self) -> Result<(), StoreError> {
        self.dirs.cleanup()
    }

    fn keys(&self) -> Result<Vec<String>, StoreError> {
        self.dirs.keys()
    }

    fn parent(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.dirs.read_parent(key)
    }
}
