//! Blobs by digest under `content/blobs/sha256/<hex>`. A blob is written to
//! `content/ingest/<random>`, hashed while written, fsynced and only then renamed into
//! place, so a blob file that exists is always complete and matches its name.

use crate::{random_name, sync_dir, StoreError};
use berth_model::digest::Hasher;
use berth_model::Digest;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Creates the directories and drops ingest files a crash left behind.
    pub fn open(content_root: &Path) -> Result<Self, StoreError> {
        let blobs = content_root.join("blobs/sha256");
        let ingest = content_root.join("ingest");
        for d in [&blobs, &ingest] {
            fs::create_dir_all(d)
                .map_err(|e| StoreError::io(format!("create {}", d.display()), e))?;
        }
        // A build's image views are mounted under scratch directories here; after a crash
        // they must be detached first, or removing the leftovers would walk into them.
        unmount_under(&ingest);
        let leftovers = fs::read_dir(&ingest)
            .map_err(|e| StoreError::io(format!("read {}", ingest.display()), e))?;
        for entry in leftovers.flatten() {
            let p = entry.path();
            let res = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            if let Err(e) = res {
                tracing::warn!(path = %p.display(), "cannot remove leftover ingest file: {e}");
            }
        }
        Ok(Self { blobs, ingest })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        fs::read(self.path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(format!("blob {digest} not found")),
            _ => StoreError::io(format!("read blob {digest}"), e),
        })
    }

    pub fn begin(&self) -> Result<Ingest, StoreError> {
        let path = self.ingest.join(random_name());
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("create {}", path.display()), e))?;
        Ok(Ingest {
            file: BufWriter::new(file),
            path,
            hasher: Hasher::new(),
            size: 0,
            blobs: self.blobs.clone(),
        })
    }

    /// Writes a small blob whole. Returns its descriptor parts and whether it is new.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Committed, StoreError> {
        let mut ingest = self.begin()?;
        ingest
            .write_all(bytes)
            .map_err(|e| StoreError::io("write blob", e))?;
        ingest.commit(None)
    }

    pub(crate) fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    /// Makes `path` (a file under the ingest area whose bytes hashed to `digest`) the blob
    /// `digest` by hard link, so no byte is copied and the file can back several layers of
    /// one load: fsynced first, checked against `expected` when given.
    pub(crate) fn adopt(
        &self,
        path: &Path,
        digest: Digest,
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<Committed, StoreError> {
        if let Some(want) = expected {
            if *want != digest {
                return Err(StoreError::InvalidArgument(format!(
                    "blob digest mismatch: expected {want}, got {digest}"
                )));
            }
        }
        let dest = self.blobs.join(digest.hex());
        let created = !dest.exists();
        if created {
            File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io(format!("fsync {}", path.display()), e))?;
            // Linked under a temporary name first: the blob name must only ever appear
            // complete, and a link can't be renamed over atomically if it raced in.
            let tmp = self.ingest.join(random_name());
            fs::hard_link(path, &tmp)
                .map_err(|e| StoreError::io(format!("link {}", path.display()), e))?;
            let moved = fs::rename(&tmp, &dest);
            if moved.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            moved.map_err(|e| StoreError::io(format!("rename blob {digest} into place"), e))?;
            sync_dir(&self.blobs)?;
        }
        Ok(Committed {
            digest,
            size,
            created,
        })
    }

    /// Every stored blob's digest; names that are not digests are skipped.
    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = fs::read_dir(&self.blobs)
            .map_err(|e| StoreError::io(format!("read {}", self.blobs.display()), e))?;
        Ok(dir
            .flatten()
            .filter_map(|e| Digest::from_hex(&e.file_name().to_string_lossy()).ok())
            .collect())
    }

    /// Deletes a blob; used to undo a blob this process just created.
    pub(crate) fn remove(&self, digest: &Digest) {
        let _ = fs::remove_file(self.path(digest));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub digest: Digest,
    pub size: u64,
    /// False when an identical blob was already stored.
    pub created: bool,
}

/// A blob being written. Dropped without `commit`, it deletes its file.
pub struct Ingest {
    file: BufWriter<File>,
    path: PathBuf,
    hasher: Hasher,
    size: u64,
    blobs: PathBuf,
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Ingest {
    /// Digest and size of what was written so far.
    pub fn digest(&self) -> (Digest, u64) {
        (self.hasher.clone().finish(), self.size)
    }

    /// Fsyncs, checks the digest against `expected` if given, and renames into place.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Committed, StoreError> {
        let (digest, size) = self.digest();
        if let Some(want) = expected {
            if *want != digest {
                return Err(StoreError::InvalidArgument(format!(
                    "blob digest mismatch: expected {want}, got {digest}"
                )));
            }
        }
        self.file
            .flush()
            .map_err(|e| StoreError::io(format!("write {}", self.path.display()), e))?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(|e| StoreError::io(format!("fsync {}", self.path.display()), e))?;
        let dest = self.blobs.join(digest.hex());
        let created = !dest.exists();
        if created {
            fs::rename(&self.path, &dest)
                .map_err(|e| StoreError::io(format!("rename blob {digest} into place"), e))?;
            sync_dir(&self.blobs)?;
        }
        Ok(Committed {
            digest,
            size,
            created,
        })
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // After a successful rename the path is gone and this is a no-op.
        let _ = fs::remove_file(&self.path);
    }
}

/// Detaches every mount below `dir` (deepest first), as `/proc/self/mountinfo` lists them.
pub(crate) fn unmount_under(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Err(e) = crate::snapshot::unmount(Path::new(&p)) {
            tracing::warn!(path = %p, "cannot detach leftover mount: {e}");
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod mountinfo_tests {
    use super::unescape_mountinfo;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/end\\04"), "/end\\04");
    }
}
