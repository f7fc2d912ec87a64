//! `save` and `load`: image archives that are a Docker archive (`manifest.json`,
//! `repositories`) and an OCI image layout (`oci-layout`, `index.json`, `blobs/`) at once,
//! as Docker 25+ writes them. `load` reads either kind, and the older Docker archive
//! (`<id>/layer.tar`, `<hex>.json`) that Docker 20.10 writes.
//!
//! Loading first spools the archive's files into the ingest area: a tar's members come in
//! any order (Docker writes `manifest.json` last) and layers may be named twice. Each
//! member becomes a numbered file, so no name from the archive is ever a path on disk;
//! symlinks and hard links between members are resolved by name inside the archive.

use crate::manifest::Manifest;
use crate::store::{ImageRecord, Store};
use crate::writer::{LayerExpect, LayerSource};
use crate::StoreError;
use berth_model::image::ImageConfig;
use berth_model::manifest::{
    ArchiveManifestEntry, Descriptor, Index, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME,
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use berth_model::{Digest, Reference};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// One image to save, with the tags to record for it (none: saved by ID).
#[derive(Debug, Clone)]
pub struct SaveItem {
    pub image: ImageRecord,
    pub tags: Vec<Reference>,
}

/// One image a load added, with the tags the archive gives it (the caller applies them).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub image: ImageRecord,
    pub tags: Vec<Reference>,
}

/// JSON documents in an archive are small; anything bigger is refused, not read into memory.
const MAX_JSON: u64 = 16 << 20;
/// Spooled members at least this big start their fsync at once.
const EARLY_SYNC: u64 = 1 << 20;
/// Symlinks followed while resolving one name.
const MAX_LINKS: usize = 40;

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::InvalidArgument(msg.into())
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

fn header(size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_size(size);
    h.set_mtime(0);
    h
}

impl Store {
    /// Writes `items` as one archive to `out`, streaming blob files; shared blobs once.
    pub fn save(&self, items: &[SaveItem], out: impl Write) -> Result<(), StoreError> {
        let werr = |e: io::Error| StoreError::io("write archive", e);
        let mut b = tar::Builder::new(out);
        for dir in ["blobs/", "blobs/sha256/"] {
            b.append_data(&mut header(0, true), dir, io::empty())
                .map_err(werr)?;
        }
        let mut written = HashSet::new();
        let mut index = Vec::new();
        let mut entries = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for item in items {
            let img = &item.image;
            let manifest_bytes = self.content.read(&img.manifest)?;
            let m = Manifest::parse(&manifest_bytes).map_err(|e| {
                StoreError::Corrupt(format!(
                    "manifest {} of image {}: {e}",
                    img.manifest, img.id
                ))
            })?;
            let blobs = std::iter::once((&m.config.digest, m.config.size))
                .chain(m.layers.iter().map(|l| (&l.digest, l.size)))
                .chain(std::iter::once((
                    &img.manifest,
                    manifest_bytes.len() as u64,
                )));
            for (d, _) in blobs {
                if !written.insert(d.clone()) {
                    continue;
                }
                let path = self.content.path(d);
                let f = File::open(&path).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => {
                        StoreError::Corrupt(format!("blob {d} of image {} is missing", img.id))
                    }
                    _ => StoreError::io(format!("open blob {d}"), e),
                })?;
                let len = f
                    .metadata()
                    .map_err(|e| StoreError::io(format!("stat blob {d}"), e))?
                    .len();
                let name = blob_path(d);
                b.append_data(&mut header(len, false), &name, f)
                    .map_err(werr)?;
            }
            let manifest_desc = |annotations| Descriptor {
                annotations,
                ..Descriptor::new(
                    MEDIA_TYPE_MANIFEST,
                    img.manifest.clone(),
                    manifest_bytes.len() as u64,
                )
            };
            let mut media = manifest_desc(None);
            if !m.media_type.is_empty() {
                media.media_type = m.media_type.clone();
            }
            if item.tags.is_empty() {
                index.push(media.clone());
            }
            for t in &item.tags {
                let mut a = BTreeMap::new();
                a.insert(ANNOTATION_IMAGE_NAME.to_string(), t.to_string());
                if let Some(tag) = &t.tag {
                    a.insert(ANNOTATION_REF_NAME.to_string(), tag.clone());
                    if let Some(top) = m.layers.last() {
                        repositories
                            .entry(t.familiar_name())
                            .or_default()
                            .insert(tag.clone(), top.digest.hex().to_string());
                    }
                }
                index.push(Descriptor {
                    annotations: Some(a),
                    ..media.clone()
                });
            }
            let tags: Vec<String> = item.tags.iter().map(|t| t.familiar()).collect();
            entries.push(ArchiveManifestEntry {
                config: blob_path(&m.config.digest),
                repo_tags: (!tags.is_empty()).then_some(tags),
                layers: m.layers.iter().map(|l| blob_path(&l.digest)).collect(),
            });
        }
        let mut small = |name: &str, bytes: &[u8]| {
            b.append_data(&mut header(bytes.len() as u64, false), name, bytes)
                .map_err(werr)
        };
        small("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        small("index.json", &Index::new(index).to_bytes())?;
        small(
            "manifest.json",
            &serde_json::to_vec(&entries).expect("manifest.json serialises"),
        )?;
        if !repositories.is_empty() {
            small(
                "repositories",
                &serde_json::to_vec(&repositories).expect("repositories serialises"),
            )?;
        }
        b.into_inner().map_err(werr)?.flush().map_err(werr)?;
        Ok(())
    }

    /// Reads an image archive (plain or compressed) and adds its images, verified, to the
    /// store. Tags are returned, not applied. Nothing partial stays behind on error.
    pub fn load(&self, input: impl Read) -> Result<Vec<Loaded>, StoreError> {
        let scratch = self.scratch_dir()?;
        let files = Spool::read(input, scratch.path())?;
        if files.has("manifest.json") {
            self.load_docker(&files)
        } else if files.has("index.json") {
            self.load_oci(&files)
        } else {
            Err(invalid(
                "invalid image archive: it has neither manifest.json nor index.json",
            ))
        }
    }

    fn load_docker(&self, files: &Spool) -> Result<Vec<Loaded>, StoreError> {
        let entries: Vec<ArchiveManifestEntry> =
            serde_json::from_slice(&files.json("manifest.json")?)
                .map_err(|e| invalid(format!("invalid manifest.json: {e}")))?;
        // Docker 25+ archives carry the original manifests too: keep them when they match.
        let originals = if files.has("index.json") {
            files.index_manifests().unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        for e in entries {
            let config_bytes = files.json(&e.config)?;
            let config: ImageConfig = serde_json::from_slice(&config_bytes)
                .map_err(|err| invalid(format!("invalid image config {}: {err}", e.config)))?;
            if config.rootfs.diff_ids.len() != e.layers.len() {
                return Err(invalid(format!(
                    "image config {} lists {} layer(s) but manifest.json gives {}",
                    e.config,
                    config.rootfs.diff_ids.len(),
                    e.layers.len()
                )));
            }
            let mut w = self.image_writer();
            for (layer, diff) in e.layers.iter().zip(&config.rootfs.diff_ids) {
                let path = files.file(layer)?;
                w.add_layer(
                    LayerSource::File(path),
                    LayerExpect {
                        digest: None,
                        diff_id: Some(diff.clone()),
                    },
                )?;
            }
            let config_digest = Digest::of(&config_bytes);
            let original = originals.iter().find(|(_, m)| {
                m.config.digest == config_digest && m.layers.len() == e.layers.len()
            });
            let record = match original {
                Some((bytes, _)) => w.finish(&config_bytes, Some(bytes)).or_else(|_| {
                    let mut w = self.image_writer_again(&e, &config.rootfs.diff_ids, files)?;
                    w.compress = false;
                    w.finish(&config_bytes, None)
                })?,
                None => w.finish(&config_bytes, None)?,
            };
            let mut tags = Vec::new();
            for t in e.repo_tags.iter().flatten() {
                tags.push(Reference::parse_normalized(t).map_err(|err| {
                    invalid(format!("invalid tag {t:?} in manifest.json: {err}"))
                })?);
            }
            out.push(Loaded {
                image: record,
                tags,
            });
        }
        Ok(out)
    }

    /// The layers of a docker-archive entry again (all known now, so nothing is re-read),
    /// for when the archive's original manifest turned out not to match them.
    fn image_writer_again(
        &self,
        e: &ArchiveManifestEntry,
        diff_ids: &[Digest],
        files: &Spool,
    ) -> Result<crate::ImageWriter<'_>, StoreError> {
        let mut w = self.image_writer();
        for (layer, diff) in e.layers.iter().zip(diff_ids) {
            w.add_layer(
                LayerSource::File(files.file(layer)?),
                LayerExpect {
                    digest: None,
                    diff_id: Some(diff.clone()),
                },
            )?;
        }
        Ok(w)
    }

    fn load_oci(&self, files: &Spool) -> Result<Vec<Loaded>, StoreError> {
        let index = Index::parse(&files.json("index.json")?).map_err(invalid)?;
        let mut by_manifest: Vec<(Digest, Vec<Reference>)> = Vec::new();
        for desc in &index.manifests {
            let manifest = files.resolve_manifest(desc, 0)?;
            let name = desc.annotations.as_ref().and_then(|a| {
                a.get(ANNOTATION_IMAGE_NAME).or_else(|| {
                    a.get(ANNOTATION_REF_NAME)
                        .filter(|r| r.contains([':', '/']))
                })
            });
            let tag = match name {
                Some(n) => Some(Reference::parse_normalized(n).map_err(|e| {
                    invalid(format!("invalid image name {n:?} in index.json: {e}"))
                })?),
                None => None,
            };
            match by_manifest.iter_mut().find(|(d, _)| *d == manifest) {
                Some((_, tags)) => tags.extend(tag),
                None => by_manifest.push((manifest, tag.into_iter().collect())),
            }
        }
        let mut out = Vec::new();
        for (digest, tags) in by_manifest {
            let bytes = files.blob(&digest)?;
            let m =
                Manifest::parse(&bytes).map_err(|e| invalid(format!("manifest {digest}: {e}")))?;
            let config_bytes = files.blob(&m.config.digest)?;
            let config: ImageConfig = serde_json::from_slice(&config_bytes)
                .map_err(|e| invalid(format!("invalid image config {}: {e}", m.config.digest)))?;
            if config.rootfs.diff_ids.len() != m.layers.len() {
                return Err(invalid(format!(
                    "manifest {digest} has {} layer(s) but its config lists {}",
                    m.layers.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            let mut w = self.image_writer();
            for (l, diff) in m.layers.iter().zip(&config.rootfs.diff_ids) {
                w.add_layer(
                    LayerSource::File(files.file(&blob_path(&l.digest))?),
                    LayerExpect {
                        digest: Some(l.digest.clone()),
                        diff_id: Some(diff.clone()),
                    },
                )?;
            }
            out.push(Loaded {
                image: w.finish(&config_bytes, Some(&bytes))?,
                tags,
            });
        }
        Ok(out)
    }
}

/// An archive's members, spooled to numbered files.
struct Spool {
    files: HashMap<String, PathBuf>,
    /// name → target name (already made absolute within the archive).
    links: HashMap<String, String>,
}

/// An archive member's name as a clean relative path; `None` when it climbs out.
fn clean(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl Spool {
    fn read(input: impl Read, dir: &std::path::Path) -> Result<Spool, StoreError> {
        let rerr = |e: io::Error| invalid(format!("reading image archive: {e}"));
        let input = berth_archive::decompress(input).map_err(rerr)?;
        let mut archive = tar::Archive::new(input);
        let mut spool = Spool {
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let mut n = 0u64;
        for entry in archive.entries().map_err(rerr)? {
            let mut entry = entry.map_err(rerr)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean(&raw) else {
                return Err(invalid(format!(
                    "image archive member {raw:?} climbs out of the archive"
                )));
            };
            let kind = entry.header().entry_type();
            if kind.is_file() || kind == tar::EntryType::Continuous {
                n += 1;
                let path = dir.join(n.to_string());
                let mut f = File::create(&path)
                    .map_err(|e| StoreError::io(format!("create {}", path.display()), e))?;
                let len = io::copy(&mut entry, &mut f).map_err(rerr)?;
                if len >= EARLY_SYNC {
                    // Layers are fsynced before they become blobs; starting now lets the
                    // disk write overlap the unpacking, and the later fsync finds it done.
                    std::thread::spawn(move || {
                        let _ = f.sync_all();
                    });
                }
                spool.files.insert(name, path);
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(t.as_ref()).into_owned())
                    .unwrap_or_default();
                let base = if kind.is_symlink() && !target.starts_with('/') {
                    name.rsplit_once('/').map_or("", |(d, _)| d).to_string()
                } else {
                    String::new()
                };
                let Some(t) = clean(&format!("{base}/{target}")) else {
                    return Err(invalid(format!(
                        "image archive link {raw:?} points out of the archive"
                    )));
                };
                spool.links.insert(name, t);
            }
        }
        Ok(spool)
    }

    /// The spooled file for `name`, through links inside the archive.
    fn file(&self, name: &str) -> Result<PathBuf, StoreError> {
        let missing = || invalid(format!("image archive has no file {name}"));
        let mut cur = clean(name).ok_or_else(missing)?;
        for _ in 0..MAX_LINKS {
            if let Some(p) = self.files.get(&cur) {
                return Ok(p.clone());
            }
            // A link anywhere on the path: rewrite the longest linked prefix.
            let mut next = None;
            let mut prefix = cur.as_str();
            loop {
                if let Some(t) = self.links.get(prefix) {
                    next = Some(format!("{t}{}", &cur[prefix.len()..]));
                    break;
                }
                match prefix.rsplit_once('/') {
                    Some((p, _)) => prefix = p,
                    None => break,
                }
            }
            cur = clean(&next.ok_or_else(missing)?).ok_or_else(missing)?;
        }
        Err(invalid(format!(
            "image archive has a symlink loop at {name}"
        )))
    }

    fn has(&self, name: &str) -> bool {
        self.file(name).is_ok()
    }

    fn json(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.file(name)?;
        let f = File::open(&p).map_err(|e| StoreError::io(format!("open {}", p.display()), e))?;
        let mut bytes = Vec::new();
        f.take(MAX_JSON + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(format!("read {}", p.display()), e))?;
        if bytes.len() as u64 > MAX_JSON {
            return Err(invalid(format!("{name} in the image archive is too large")));
        }
        Ok(bytes)
    }

    /// A small blob of the OCI layout, checked against its digest.
    fn blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let bytes = self.json(&blob_path(d))?;
        let got = Digest::of(&bytes);
        if got != *d {
            return Err(invalid(format!(
                "blob {d} in the image archive does not match its digest (got {got})"
            )));
        }
        Ok(bytes)
    }

    /// The image manifest an index entry leads to: itself, or for a nested index the
    /// entry for this machine's platform (else the first).
    fn resolve_manifest(&self, desc: &Descriptor, depth: usize) -> Result<Digest, StoreError> {
        match desc.media_type.as_str() {
            MEDIA_TYPE_INDEX | DOCKER_MANIFEST_LIST if depth < 4 => {
                let inner = Index::parse(&self.blob(&desc.digest)?).map_err(invalid)?;
                let arch = berth_model::image::host_architecture();
                let pick = inner
                    .manifests
                    .iter()
                    .find(|m| {
                        m.platform
                            .as_ref()
                            .is_some_and(|p| p.architecture == arch && p.os == "linux")
                    })
                    .or_else(|| inner.manifests.first())
                    .ok_or_else(|| invalid(format!("index {} lists no manifest", desc.digest)))?;
                self.resolve_manifest(pick, depth + 1)
            }
            MEDIA_TYPE_MANIFEST | DOCKER_MANIFEST => Ok(desc.digest.clone()),
            other => Err(invalid(format!(
                "index.json names {} with unsupported media type {other}",
                desc.digest
            ))),
        }
    }

    /// The image manifests index.json names directly, with their bytes.
    fn index_manifests(&self) -> Result<Vec<(Vec<u8>, Manifest)>, StoreError> {
        let index = Index::parse(&self.json("index.json")?).map_err(invalid)?;
        let mut out = Vec::new();
        for d in &index.manifests {
            if let Ok(digest) = self.resolve_manifest(d, 0) {
                let bytes = self.blob(&digest)?;
                if let Ok(m) = Manifest::parse(&bytes) {
                    out.push((bytes, m));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn member_names_stay_inside() {
        assert_eq!(clean("./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(clean("/blobs/sha256/x").as_deref(), Some("blobs/sha256/x"));
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("a/../../x"), None);
    }
}
