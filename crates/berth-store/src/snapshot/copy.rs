use super::dirs::{remove_tree, Dirs};
use super::{MountSpec, Snapshotter};
use crate::StoreError;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// Test double: every snapshot is a full copy of its parent, so its `fs` dir is the whole
/// root filesystem and needs no mount (no lower dirs). Ownership, xattrs and special files
/// are not copied, and overlay whiteouts in applied layers are not interpreted.
pub struct CopySnapshotter {
    dirs: Dirs,
}

impl CopySnapshotter {
    pub fn new(root: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            dirs: Dirs::new(root)?,
        })
    }

    fn spec(&self, key: &str) -> MountSpec {
        let dir = self.dirs.dir(key);
        MountSpec {
            lower: Vec::new(),
            upper: dir.join("fs"),
            work: dir.join("work"),
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ft = entry.file_type()?;
        if ft.is_dir() {
            fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
            fs::set_permissions(
                &dst,
                fs::Permissions::from_mode(entry.metadata()?.permissions().mode()),
            )?;
        } else if ft.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

impl Snapshotter for CopySnapshotter {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<MountSpec, StoreError> {
        Dirs::check_key(key)?;
        let tmp = self.dirs.make_tmp()?;
        if let Some(p) = parent {
            Dirs::check_key(p)?;
            let res = if self.dirs.exists(p) {
                copy_tree(&self.dirs.dir(p).join("fs"), &tmp.join("fs"))
                    .map_err(|e| StoreError::io(format!("copy snapshot {p}"), e))
                    .and_then(|()| Dirs::write_parent(&tmp, p))
            } else {
                Err(Dirs::not_found(p))
            };
            if let Err(e) = res {
                remove_tree(&tmp);
                return Err(e);
            }
        }
        if !self.dirs.publish(&tmp, key)? {
            return Err(StoreError::Conflict(format!(
                "snapshot {key} already exists"
            )));
        }
        Ok(self.spec(key))
    }

    fn commit(&self, key: &str, name: &str) -> Result<bool, StoreError> {
        Dirs::check_key(key)?;
        Dirs::check_key(name)?;
        if !self.dirs.exists(key) {
            return Err(Dirs::not_found(key));
        }
        self.dirs.publish(&self.dirs.dir(key), name)
    }

    fn mounts(&self, key: &str) -> Result<MountSpec, StoreError> {
        if !self.dirs.exists(key) {
            return Err(Dirs::not_found(key));
        }
        Ok(self.spec(key))
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
