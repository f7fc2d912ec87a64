//! The filesystem store. Layout under the root:
//!
//! - `blobs/sha256/<hex>`: every blob and manifest, once for all repositories;
//! - `uploads/<id>/{data,repo}`: upload sessions in progress;
//! - `repositories/<name>/_layers/sha256/<hex>`: which blobs a repository may serve
//!   (pushing or mounting links them; deleting unlinks them);
//! - `repositories/<name>/_manifests/revisions/sha256/<hex>`: the manifests of a repository,
//!   each link file holding the media type the manifest was pushed with;
//! - `repositories/<name>/_manifests/tags/<tag>`: the digest a tag points to.
//!
//! Every file is written to a temporary name in the same directory, fsynced, then renamed,
//! so a crash leaves either the old or the new content, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::Rng;

/// The store rooted at one directory.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

/// A `sha256:<hex>` digest checked for shape; other algorithms are refused.
pub fn parse_digest(s: &str) -> Option<&str> {
    let hex = s.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

/// Repository names as the distribution spec allows them: lower-case path components of
/// alphanumerics joined by `.`, `_`, `__` or dashes. This also keeps names from escaping the
/// root (`..`, empty components, components starting with `_` like our own `_manifests`).
pub fn valid_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| {
                x.is_ascii_digit() || x.is_ascii_lowercase() || x == b'.' || x == b'_' || x == b'-'
            })
            && !c.contains("..")
    })
}

/// Tags: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// A random hex id (upload sessions, temp files).
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    hex::encode(bytes)
}

/// Writes `data` to `path` atomically: temp file beside it, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", random_id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Makes a rename durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn remove_if_exists(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

impl Storage {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        for d in ["blobs/sha256", "uploads", "repositories"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        Ok(Storage { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex)
    }

    pub fn blob_exists(&self, hex: &str) -> bool {
        self.blob_path(hex).is_file()
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    pub fn repo_exists(&self, name: &str) -> bool {
        let d = self.repo_dir(name);
        d.join("_manifests").is_dir() || d.join("_layers").is_dir()
    }

    fn layer_link(&self, name: &str, hex: &str) -> PathBuf {
        self.repo_dir(name).join("_layers/sha256").join(hex)
    }

    fn revision_link(&self, name: &str, hex: &str) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests/revisions/sha256")
            .join(hex)
    }

    fn tag_path(&self, name: &str, tag: &str) -> PathBuf {
        self.repo_dir(name).join("_manifests/tags").join(tag)
    }

    /// Whether the repository may serve this blob: linked as a layer, or one of its manifests.
    pub fn blob_linked(&self, name: &str, hex: &str) -> bool {
        self.blob_exists(hex)
            && (self.layer_link(name, hex).is_file() || self.revision_link(name, hex).is_file())
    }

    pub fn link_layer(&self, name: &str, hex: &str) -> std::io::Result<()> {
        let p = self.layer_link(name, hex);
        if p.is_file() {
            return Ok(());
        }
        write_atomic(&p, format!("sha256:{hex}").as_bytes())
    }

    pub fn unlink_layer(&self, name: &str, hex: &str) -> std::io::Result<bool> {
        remove_if_exists(&self.layer_link(name, hex))
    }

    /// Stores bytes as a blob (manifests; small blobs) unless already there.
    pub fn put_blob_bytes(&self, hex: &str, data: &[u8]) -> std::io::Result<()> {
        let p = self.blob_path(hex);
        if p.is_file() {
            return Ok(());
        }
        write_atomic(&p, data)
    }

    /// Moves a finished, verified upload file into the blob store.
    pub fn commit_blob_file(&self, hex: &str, file: &Path) -> std::io::Result<()> {
        let p = self.blob_path(hex);
        if p.is_file() {
            return std::fs::remove_file(file);
        }
        std::fs::File::open(file)?.sync_all()?;
        std::fs::rename(file, &p)?;
        sync_dir(p.parent().unwrap_or(&self.root))
    }

    pub fn link_manifest(&self, name: &str, hex: &str, media_type: &str) -> std::io::Result<()> {
        write_atomic(&self.revision_link(name, hex), media_type.as_bytes())
    }

    /// The media type a linked manifest was pushed with, or `None` when not in the repository.
    pub fn manifest_media_type(&self, name: &str, hex: &str) -> Option<String> {
        if !self.blob_exists(hex) {
            return None;
        }
        std::fs::read_to_string(self.revision_link(name, hex)).ok()
    }

    pub fn set_tag(&self, name: &str, tag: &str, hex: &str) -> std::io::Result<()> {
        write_atomic(
            &self.tag_path(name, tag),
            format!("sha256:{hex}").as_bytes(),
        )
    }

    pub fn resolve_tag(&self, name: &str, tag: &str) -> Option<String> {
        let s = std::fs::read_to_string(self.tag_path(name, tag)).ok()?;
        parse_digest(s.trim()).map(str::to_string)
    }

    pub fn delete_tag(&self, name: &str, tag: &str) -> std::io::Result<bool> {
        remove_if_exists(&self.tag_path(name, tag))
    }

    /// Unlinks a manifest from a repository, and every tag that pointed at it.
    pub fn delete_manifest(&self, name: &str, hex: &str) -> std::io::Result<bool> {
        let existed = remove_if_exists(&self.revision_link(name, hex))?;
        for tag in self.tags(name)? {
            if self.resolve_tag(name, &tag).as_deref() == Some(hex) {
                self.delete_tag(name, &tag)?;
            }
        }
        Ok(existed)
    }

    /// Tags of a repository, sorted (the spec asks for lexical order).
    pub fn tags(&self, name: &str) -> std::io::Result<Vec<String>> {
        list_files(&self.repo_dir(name).join("_manifests/tags"))
    }

    /// Tags with the time they were last written, to pick a repository's newest image.
    pub fn tags_with_mtime(&self, name: &str) -> Vec<(String, std::time::SystemTime)> {
        let dir = self.repo_dir(name).join("_manifests/tags");
        self.tags(name)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| {
                let m = std::fs::metadata(dir.join(&t)).ok()?.modified().ok()?;
                Some((t, m))
            })
            .collect()
    }

    /// Digests (hex) of the manifests linked in a repository.
    pub fn manifest_revisions(&self, name: &str) -> std::io::Result<Vec<String>> {
        list_files(&self.repo_dir(name).join("_manifests/revisions/sha256"))
    }

    pub fn layer_links(&self, name: &str) -> std::io::Result<Vec<String>> {
        list_files(&self.repo_dir(name).join("_layers/sha256"))
    }

    /// Every repository name, sorted.
    pub fn repositories(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        let base = self.root.join("repositories");
        walk_repos(&base, &base, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Every blob digest (hex) in the store.
    pub fn all_blobs(&self) -> std::io::Result<Vec<String>> {
        Ok(list_files(&self.root.join("blobs/sha256"))?
            .into_iter()
            .filter(|h| parse_digest(&format!("sha256:{h}")).is_some())
            .collect())
    }

    pub fn read_blob(&self, hex: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.blob_path(hex))
    }

    pub fn remove_blob(&self, hex: &str) -> std::io::Result<bool> {
        remove_if_exists(&self.blob_path(hex))
    }

    // upload sessions

    pub fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    pub fn upload_data(&self, id: &str) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    pub fn create_upload(&self, name: &str) -> std::io::Result<String> {
        let id = random_id();
        let dir = self.upload_dir(&id);
        std::fs::create_dir_all(&dir)?;
        std::fs::File::create(dir.join("data"))?;
        write_atomic(&dir.join("repo"), name.as_bytes())?;
        Ok(id)
    }

    /// The size of an upload session of this repository, or `None` when it does not exist.
    pub fn upload_size(&self, name: &str, id: &str) -> Option<u64> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let repo = std::fs::read_to_string(self.upload_dir(id).join("repo")).ok()?;
        if repo != name {
            return None;
        }
        std::fs::metadata(self.upload_data(id))
            .ok()
            .map(|m| m.len())
    }

    pub fn remove_upload(&self, id: &str) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.upload_dir(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        if !n.starts_with('.') && e.file_type()?.is_file() {
            out.push(n);
        }
    }
    out.sort();
    Ok(out)
}

fn walk_repos(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut is_repo = false;
    for e in rd {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        let n = e.file_name().to_string_lossy().into_owned();
        if n == "_manifests" {
            is_repo = true;
        } else if !n.starts_with('_') && !n.starts_with('.') {
            walk_repos(base, &e.path(), out)?;
        }
    }
    if is_repo {
        if let Ok(rel) = dir.strip_prefix(base) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("a/b-c/d_e.f"));
        assert!(valid_name("library/busybox"));
        for bad in [
            "",
            "A",
            "a//b",
            "../x",
            "a/..",
            "_manifests",
            "a/",
            "-a",
            "a..b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn tags_and_digests() {
        assert!(valid_tag("v1.0_rc-1"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag("a/b"));
        assert!(parse_digest(&format!("sha256:{}", "a".repeat(64))).is_some());
        assert!(parse_digest(&format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(parse_digest("sha512:abc").is_none());
    }
}
