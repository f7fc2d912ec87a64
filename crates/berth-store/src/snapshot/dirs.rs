//! Directory bookkeeping shared by the overlay and copy snapshotters.

use crate::{random_name, sync_dir, StoreError};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) const TMP_PREFIX: &str = "tmp-";

pub(crate) struct Dirs {
    pub root: PathBuf,
}

impl Dirs {
    pub fn new(root: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(root)
            .map_err(|e| StoreError::io(format!("create {}", root.display()), e))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Keys become directory names: no separators, no dot names.
    pub fn check_key(key: &str) -> Result<(), StoreError> {
        let ok = !key.is_empty()
            && key.len() <= 200
            && !key.starts_with('.')
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(StoreError::InvalidArgument(format!(
                "invalid snapshot key {key:?}"
            )))
        }
    }

    pub fn dir(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub fn exists(&self, key: &str) -> bool {
        Self::check_key(key).is_ok() && self.dir(key).join("fs").is_dir()
    }

    /// A fresh `tmp-*` directory holding empty `fs` and `work`.
    pub fn make_tmp(&self) -> Result<PathBuf, StoreError> {
        let tmp = self.root.join(format!("{TMP_PREFIX}{}", random_name()));
        for d in [tmp.join("fs"), tmp.join("work")] {
            fs::create_dir_all(&d)
                .map_err(|e| StoreError::io(format!("create {}", d.display()), e))?;
        }
        Ok(tmp)
    }

    /// Renames a finished tmp dir to `key`. False if `key` exists (the tmp dir is removed).
    pub fn publish(&self, tmp: &Path, key: &str) -> Result<bool, StoreError> {
        let dest = self.dir(key);
        if dest.exists() {
            remove_tree(tmp);
            return Ok(false);
        }
        match fs::rename(tmp, &dest) {
            Ok(()) => {}
            // Lost a race with an identical snapshot: renaming onto a non-empty dir fails.
            Err(e)
                if dest.exists()
                    && matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) =>
            {
                remove_tree(tmp);
                return Ok(false);
            }
            Err(e) => {
                remove_tree(tmp);
                return Err(StoreError::io(
                    format!("rename {} to {}", tmp.display(), dest.display()),
                    e,
                ));
            }
        }
        sync_dir(&self.root)?;
        Ok(true)
    }

    /// Moves `key` aside first, so a crash mid-delete leaves a `tmp-*` dir, never a
    /// half-deleted snapshot under a live key.
    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        Self::check_key(key)?;
        let dir = self.dir(key);
        let aside = self.root.join(format!("{TMP_PREFIX}{}", random_name()));
        match fs::rename(&dir, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(StoreError::io(
                    format!("remove snapshot {}", dir.display()),
                    e,
                ))
            }
        }
        sync_dir(&self.root)?;
        fs::remove_dir_all(&aside)
            .map_err(|e| StoreError::io(format!("remove {}", aside.display()), e))
    }

    pub fn cleanup(&self) -> Result<(), StoreError> {
        let entries = fs::read_dir(&self.root)
            .map_err(|e| StoreError::io(format!("read {}", self.root.display()), e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                remove_tree(&entry.path());
            }
        }
        Ok(())
    }

    pub fn keys(&self) -> Result<Vec<String>, StoreError> {
        let entries = fs::read_dir(&self.root)
            .map_err(|e| StoreError::io(format!("read {}", self.root.display()), e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| StoreError::io(format!("read {}", self.root.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(TMP_PREFIX) && entry.path().is_dir() {
                out.push(name);
            }
        }
        Ok(out)
    }

    pub fn read_parent(&self, key: &str) -> Result<Option<String>, StoreError> {
        let p = self.dir(key).join("parent");
        match fs::read_to_string(&p) {
            Ok(s) => {
                let s = s.trim().to_string();
                Self::check_key(&s)
                    .map_err(|_| StoreError::Corrupt(format!("bad parent in {}", p.display())))?;
                Ok(Some(s))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(format!("read {}", p.display()), e)),
        }
    }

    pub fn write_parent(tmp: &Path, parent: &str) -> Result<(), StoreError> {
        let p = tmp.join("parent");
        fs::write(&p, parent).map_err(|e| StoreError::io(format!("write {}", p.display()), e))
    }

    pub fn not_found(key: &str) -> StoreError {
        StoreError::NotFound(format!("snapshot {key} not found"))
    }
}

pub(crate) fn remove_tree(p: &Path) {
    if let Err(e) = fs::remove_dir_all(p) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %p.display(), "cannot remove: {e}");
        }
    }
}
