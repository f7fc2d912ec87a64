//! Adding an image layer by layer: the one path every producer of images takes (`import`,
//! `load`, `commit`, and later `pull` and `build`).
//!
//! Each layer's blob is hashed while it is written and its tar unpacked in the same pass
//! into a snapshot keyed by the layer's chain ID; a layer whose snapshot already exists is
//! only verified, never unpacked twice. Nothing becomes visible before it is verified and
//! on disk. Until the image record is written, the blobs and snapshots the writer made or
//! relies on are *leased*: garbage collection leaves them alone. A writer dropped before
//! [`ImageWriter::finish`] removes what it created that nothing else uses.

use crate::content::Committed;
use crate::manifest::{Descriptor, Manifest, MEDIA_TYPE_CONFIG};
use crate::store::{ImageRecord, Store};
use crate::{random_name, StoreError};
use berth_archive::{apply_layer_with, ApplyOptions, Compression};
use berth_model::digest::{chain_id, Hasher};
use berth_model::image::ImageConfig;
use berth_model::manifest::{MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD};
use berth_model::Digest;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Keys held by operations in progress: snapshot keys and `blob:<hex>`, counted.
#[derive(Default)]
pub(crate) struct Leases(HashMap<String, usize>);

impl Leases {
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}

/// Where a layer's bytes come from.
pub enum LayerSource<'a> {
    /// A stream (an HTTP body, a pipe): copied into a new blob as it is read.
    Stream(Box<dyn Read + 'a>),
    /// A file already inside the store's ingest area (see [`Store::scratch_dir`]): hashed
    /// in place and renamed into the blob store, never copied.
    File(PathBuf),
}

/// What the caller knows about a layer before reading it; all of it is checked.
#[derive(Debug, Clone, Default)]
pub struct LayerExpect {
    /// Digest of the blob as stored (compressed bytes).
    pub digest: Option<Digest>,
    /// sha256 of the uncompressed tar.
    pub diff_id: Option<Digest>,
}

/// Copies every byte read into a writer. A failed write is kept aside so it is reported as
/// the disk's fault, not as a corrupt input.
struct Tee<R, W> {
    r: R,
    w: W,
    write_err: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        if let Err(e) = self.w.write_all(&buf[..n]) {
            let msg = e.to_string();
            self.write_err = Some(e);
            return Err(io::Error::other(msg));
        }
        Ok(n)
    }
}

/// Where a layer's raw bytes go while they are read.
enum Sink<'a> {
    /// Byte for byte into a new blob.
    Blob(&'a mut crate::content::Ingest),
    /// Plain input, gzipped into a new blob.
    Gzip(berth_archive::LayerGzip<&'a mut crate::content::Ingest>),
    /// Only hashed: the blob is a file adopted in place.
    Hash(&'a mut Hasher, &'a mut u64),
    /// Only counted: an uncompressed file, whose digest is the diff ID computed anyway.
    Count(&'a mut u64),
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Blob(i) => i.write(buf),
            Sink::Gzip(g) => g.write(buf),
            Sink::Hash(h, n) => {
                h.update(buf);
                **n += buf.len() as u64;
                Ok(buf.len())
            }
            Sink::Count(n) => {
                **n += buf.len() as u64;
                Ok(buf.len())
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink<'_> {
    /// Ends a gzip stream with its trailer; a failure here is the disk's, and must not be
    /// lost in a destructor.
    fn finish(self) -> io::Result<()> {
        if let Sink::Gzip(g) = self {
            g.finish()?;
        }
        Ok(())
    }
}

/// Hashes an uncompressed tar without unpacking it (its snapshot exists already).
fn hash_tar(mut tar: impl Read) -> io::Result<Digest> {
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match tar.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn decompressor<'r>(
    kind: Compression,
    r: Box<dyn Read + 'r>,
    n: usize,
) -> Result<Box<dyn Read + 'r>, StoreError> {
    Ok(match kind {
        Compression::None => r,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(r).map_err(|e| bad_layer(n, e))?)
        }
    })
}

fn bad_layer(n: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::InvalidArgument(format!("layer {n}: {e}"))
}

/// One layer's result, bottom first.
#[derive(Debug, Clone)]
struct Layer {
    desc: Descriptor,
    diff_id: Digest,
    size: u64,
}

/// Builds one image; see the module docs.
pub struct ImageWriter<'s> {
    store: &'s Store,
    layers: Vec<Layer>,
    /// Keys this writer leased (released on drop).
    leased: Vec<String>,
    created_blobs: Vec<Digest>,
    created_snapshots: Vec<String>,
    /// Gzip uncompressed input while storing it (what `import` and `commit` want);
    /// otherwise blobs are kept byte for byte as they came.
    pub compress: bool,
    parent: Option<Digest>,
    finished: bool,
}

impl Store {
    /// Starts an image; layers are added bottom first.
    pub fn image_writer(&self) -> ImageWriter<'_> {
        ImageWriter {
            store: self,
            layers: Vec::new(),
            leased: Vec::new(),
            created_blobs: Vec::new(),
            created_snapshots: Vec::new(),
            compress: false,
            parent: None,
            finished: false,
        }
    }

    /// Starts an image on top of image `parent`'s layers (`commit`, and `build` steps).
    pub fn image_writer_on(&self, parent: &Digest) -> Result<ImageWriter<'_>, StoreError> {
        let mut w = self.image_writer();
        w.parent = Some(parent.clone());
        let img = self.image(parent)?;
        let m = Manifest::parse(&self.content.read(&img.manifest)?).map_err(|e| {
            StoreError::Corrupt(format!("manifest {} of image {parent}: {e}", img.manifest))
        })?;
        if m.layers.len() != img.layers.len() {
            return Err(StoreError::Corrupt(format!(
                "manifest {} of image {parent} does not match its layers",
                img.manifest
            )));
        }
        for (i, (desc, diff)) in m.layers.into_iter().zip(&img.layers).enumerate() {
            let chain = chain_id(&img.layers[..=i]).expect("one layer at least");
            w.hold(chain.hex().to_string());
            w.hold(format!("blob:{}", desc.digest.hex()));
            // Held now, so collection can no longer take it; it must still be there.
            if !self.snapshots.exists(chain.hex()) {
                return Err(StoreError::NoSuchImage(parent.to_string()));
            }
            w.layers.push(Layer {
                desc,
                diff_id: diff.clone(),
                size: self.layer_size(chain.hex()),
            });
        }
        Ok(w)
    }

    /// A new empty directory inside the ingest area (same filesystem as the blobs, removed
    /// at the next open if a crash leaves it), for spooling an archive's members.
    pub fn scratch_dir(&self) -> Result<ScratchDir, StoreError> {
        let p = self
            .content
            .ingest_dir()
            .join(format!("dir-{}", random_name()));
        std::fs::create_dir(&p)
            .map_err(|e| StoreError::io(format!("create {}", p.display()), e))?;
        Ok(ScratchDir(p))
    }

    fn lease(&self, key: &str) {
        let _publishing = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        let mut l = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        *l.0.entry(key.to_string()).or_default() += 1;
    }

    fn release(&self, key: &str) {
        let mut l = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = l.0.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                l.0.remove(key);
            }
        }
    }
}

/// Removed with everything in it when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Keys leased for one layer, released when dropped unless handed on.
struct Held<'s> {
    store: &'s Store,
    keys: Vec<String>,
}

impl Held<'_> {
    fn hold(&mut self, key: String) {
        self.store.lease(&key);
        self.keys.push(key);
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        for k in self.keys.drain(..) {
            self.store.release(&k);
        }
    }
}

/// A layer verified and unpacked on its own by [`Store::prepare_layer`], waiting to be
/// stacked on its parent by [`ImageWriter::add_prepared`]. Layers of one image are
/// prepared at the same time (a pull unpacks each as it downloads); stacking, which
/// commits the snapshot under its chain ID, stays bottom first so that a committed
/// snapshot's parent always exists. Dropped unused, it removes what it created.
pub struct PreparedLayer<'s> {
    /// Diff IDs of the layers below, bottom first.
    below: Vec<Digest>,
    layer: Layer,
    chain: String,
    /// The unpacked snapshot, not yet committed under `chain` (`None`: it existed).
    active: Option<String>,
    /// Uncompressed size, when unpacked now.
    unpacked: Option<u64>,
    created_blob: Option<Digest>,
    held: Held<'s>,
}

impl PreparedLayer<'_> {
    pub fn diff_id(&self) -> &Digest {
        &self.layer.diff_id
    }
}

impl Drop for PreparedLayer<'_> {
    fn drop(&mut self) {
        let store = self.held.store;
        // Unleased first, or collection would keep what this layer made.
        for k in self.held.keys.drain(..) {
            store.release(&k);
        }
        if let Some(a) = self.active.take() {
            let _ = store.snapshots.remove(&a);
        }
        if let Some(b) = self.created_blob.take() {
            if let Err(e) = store.collect_unused(&[b], &[]) {
                tracing::warn!("cannot undo a failed layer write: {e}");
            }
        }
    }
}

impl Store {
    /// Verifies and unpacks one layer that goes on the layers `below` (their diff IDs),
    /// without needing those to be unpacked yet; see [`PreparedLayer`]. `compress` gzips
    /// plain and zstd input while storing it.
    pub fn prepare_layer(
        &self,
        below: &[Digest],
        source: LayerSource<'_>,
        expect: LayerExpect,
        compress: bool,
    ) -> Result<PreparedLayer<'_>, StoreError> {
        let n = below.len() + 1;
        let mut diff_ids = below.to_vec();
        let parent = chain_id(&diff_ids).map(|d| d.hex().to_string());
        let store = self;
        let mut held = Held {
            store: self,
            keys: Vec::new(),
        };

        // Already have this exact layer (blob and snapshot)? Then nothing needs reading.
        if let (Some(d), Some(diff)) = (&expect.digest, &expect.diff_id) {
            diff_ids.push(diff.clone());
            let chain = chain_id(&diff_ids).expect("one layer at least");
            held.hold(format!("blob:{}", d.hex()));
            held.hold(chain.hex().to_string());
            if store.content.exists(d) && store.snapshots.exists(chain.hex()) {
                let size = std::fs::metadata(store.content.path(d)).map_or(0, |m| m.len());
                let media = media_type_of_blob(&store.content.path(d));
                return Ok(PreparedLayer {
                    below: below.to_vec(),
                    layer: Layer {
                        desc: Descriptor::new(media, d.clone(), size),
                        diff_id: diff.clone(),
                        size: 0,
                    },
                    chain: chain.hex().to_string(),
                    active: None,
                    unpacked: None,
                    created_blob: None,
                    held,
                });
            }
            diff_ids.pop();
        }

        let snapshot_known = expect.diff_id.as_ref().is_some_and(|diff| {
            let mut ids = diff_ids.clone();
            ids.push(diff.clone());
            let chain = chain_id(&ids).expect("one layer at least");
            held.hold(chain.hex().to_string());
            store.snapshots.exists(chain.hex())
        });

        // The blob: either a new ingest fed as the input is read, or a file hashed in place.
        let mut ingest = None;
        let mut file_hash = (Hasher::new(), 0u64);
        let (input, adopt): (Box<dyn Read + '_>, Option<PathBuf>) = match source {
            LayerSource::Stream(r) => {
                ingest = Some(store.content.begin()?);
                (r, None)
            }
            LayerSource::File(p) => {
                let f = File::open(&p)
                    .map_err(|e| StoreError::io(format!("open {}", p.display()), e))?;
                (
                    Box::new(io::BufReader::with_capacity(256 * 1024, f)),
                    Some(p),
                )
            }
        };
        let (kind, input) = berth_archive::detect(input).map_err(|e| bad_layer(n, e))?;
        // `compress` wants gzip blobs: plain and zstd input is (re)compressed as it is read.
        let recompress = compress && kind != Compression::Gzip && ingest.is_some();

        let active = format!("tmp-layer-{}", random_name());
        let mut undo_active = None;
        let mut unpack = |plain: &mut dyn Read| -> Result<(Digest, Option<u64>), StoreError> {
            if snapshot_known {
                return Ok((hash_tar(plain).map_err(|e| bad_layer(n, e))?, None));
            }
            let spec = store.snapshots.prepare_layer(&active, parent.as_deref())?;
            undo_active = Some(active.clone());
            let opts = ApplyOptions {
                base_layer: parent.is_none(),
            };
            let stats = apply_layer_with(plain, &spec.upper, opts).map_err(|e| bad_layer(n, e))?;
            crate::durability::mark_unsynced(&spec.upper)?;
            Ok((stats.diff_id, Some(stats.size)))
        };

        let result = (|| {
            let sink = match ingest.as_mut() {
                Some(i) if recompress => Sink::Gzip(berth_archive::LayerGzip::new(i)),
                Some(i) => Sink::Blob(i),
                None if kind == Compression::None => Sink::Count(&mut file_hash.1),
                None => Sink::Hash(&mut file_hash.0, &mut file_hash.1),
            };
            // The tee sits where the stored bytes flow: after decompression when
            // recompressing, before it otherwise.
            let (out, mut tee) = if recompress {
                let mut tee = Tee {
                    r: decompressor(kind, Box::new(input), n)?,
                    w: sink,
                    write_err: None,
                };
                (unpack(&mut tee), tee)
            } else {
                let mut tee = Tee {
                    r: Box::new(input) as Box<dyn Read + '_>,
                    w: sink,
                    write_err: None,
                };
                let out = match decompressor(kind, Box::new(&mut tee), n) {
                    Ok(mut plain) => unpack(&mut plain),
                    Err(e) => Err(e),
                };
                (out, tee)
            };
            // A decompressor stops at its stream's end: the blob's digest covers any bytes
            // after it too.
            let drained = if out.is_ok() {
                io::copy(&mut tee, &mut io::sink()).map(|_| ())
            } else {
                Ok(())
            };
            if let Some(e) = tee.write_err.take() {
                return Err(StoreError::io("write layer blob", e));
            }
            let (diff_id, size) = out?;
            drained.map_err(|e| bad_layer(n, e))?;
            // Finish a gzip stream (its trailer) before the blob is committed.
            tee.w
                .finish()
                .map_err(|e| StoreError::io("write layer blob", e))?;
            Ok((diff_id, size))
        })();
        let (diff_id, size) = match result {
            Ok(v) => v,
            Err(e) => {
                if let Some(a) = undo_active {
                    let _ = store.snapshots.remove(&a);
                }
                return Err(e);
            }
        };
        // From here on, dropping `prepared` undoes the snapshot and the blob.
        let mut prepared = PreparedLayer {
            below: below.to_vec(),
            layer: Layer {
                desc: Descriptor::new(MEDIA_TYPE_LAYER, diff_id.clone(), 0),
                diff_id: diff_id.clone(),
                size: 0,
            },
            chain: String::new(),
            active: undo_active,
            unpacked: size,
            created_blob: None,
            held,
        };
        if let Some(want) = &expect.diff_id {
            if *want != diff_id {
                return Err(StoreError::InvalidArgument(format!(
                    "layer {n}: content does not match its diff ID: expected {want}, got {diff_id}"
                )));
            }
        }
        diff_ids.push(diff_id.clone());
        let chain = chain_id(&diff_ids).expect("one layer at least");
        if !snapshot_known {
            prepared.held.hold(chain.hex().to_string());
        }
        prepared.chain = chain.hex().to_string();

        // The blob, verified against its expected digest, becomes visible.
        let committed = match (ingest, adopt) {
            (Some(i), _) => i.commit(expect.digest.as_ref()),
            (None, Some(path)) => {
                let (h, len) = file_hash;
                // A plain tar's blob digest is its diff ID: hashed once, not twice.
                let digest = if kind == Compression::None {
                    diff_id.clone()
                } else {
                    h.finish()
                };
                store
                    .content
                    .adopt(&path, digest, len, expect.digest.as_ref())
            }
            (None, None) => unreachable!("a layer has a stream or a file"),
        };
        let committed: Committed = committed.map_err(|e| match e {
            StoreError::InvalidArgument(m) => bad_layer(n, m),
            e => e,
        })?;
        prepared
            .held
            .hold(format!("blob:{}", committed.digest.hex()));
        if committed.created {
            prepared.created_blob = Some(committed.digest.clone());
        }
        let media = match (kind, recompress) {
            (_, true) | (Compression::Gzip, _) => MEDIA_TYPE_LAYER_GZIP,
            (Compression::Zstd, _) => MEDIA_TYPE_LAYER_ZSTD,
            (Compression::None, _) => MEDIA_TYPE_LAYER,
        };
        prepared.layer.desc = Descriptor::new(media, committed.digest, committed.size);
        Ok(prepared)
    }
}

impl ImageWriter<'_> {
    /// Diff IDs of the layers added so far, bottom first.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    fn hold(&mut self, key: String) {
        self.store.lease(&key);
        self.leased.push(key);
    }

    /// Verifies and stores one layer on top of those added so far.
    pub fn add_layer(
        &mut self,
        source: LayerSource<'_>,
        expect: LayerExpect,
    ) -> Result<(), StoreError> {
        let p = self
            .store
            .prepare_layer(&self.diff_ids(), source, expect, self.compress)?;
        self.add_prepared(p)
    }

    /// Stacks a layer prepared on exactly the layers added so far, committing its
    /// snapshot.
    pub fn add_prepared(&mut self, mut p: PreparedLayer<'_>) -> Result<(), StoreError> {
        let store = self.store;
        if p.below != self.diff_ids() {
            return Err(StoreError::InvalidArgument(format!(
                "layer {} was prepared on other layers",
                p.layer.diff_id
            )));
        }
        if let Some(active) = p.active.clone() {
            if store.snapshots.commit(&active, &p.chain)? {
                self.created_snapshots.push(p.chain.clone());
                store.record_layer_size(&p.chain, p.unpacked.unwrap_or(0));
                crate::durability::sync_later(store.snapshot_dir(&p.chain));
            }
            // Committed, or dropped as a duplicate: nothing left to undo.
            p.active = None;
        }
        p.layer.size = store.layer_size(&p.chain);
        self.leased.append(&mut p.held.keys);
        if let Some(b) = p.created_blob.take() {
            self.created_blobs.push(b);
        }
        self.layers.push(p.layer.clone());
        Ok(())
    }

    /// Writes the config (exactly `config_bytes`: their digest is the image ID), and a
    /// manifest over the layers (or `manifest_bytes` when the image came with one, which
    /// must name the same config and layers), then the image record. The config's diff IDs
    /// must be the layers' own.
    pub fn finish(
        mut self,
        config_bytes: &[u8],
        manifest_bytes: Option<&[u8]>,
    ) -> Result<ImageRecord, StoreError> {
        let store = self.store;
        let config: ImageConfig = serde_json::from_slice(config_bytes)
            .map_err(|e| StoreError::InvalidArgument(format!("invalid image config: {e}")))?;
        let ids = self.diff_ids();
        if config.rootfs.diff_ids != ids {
            return Err(StoreError::InvalidArgument(format!(
                "image config lists {} layer(s) that do not match the {} layer(s) given",
                config.rootfs.diff_ids.len(),
                ids.len()
            )));
        }
        let conf = store.content.write_blob(config_bytes)?;
        self.hold(format!("blob:{}", conf.digest.hex()));
        if conf.created {
            self.created_blobs.push(conf.digest.clone());
        }
        let conf_desc = Descriptor::new(MEDIA_TYPE_CONFIG, conf.digest.clone(), conf.size);
        let manifest_bytes = match manifest_bytes {
            Some(b) => {
                let m = Manifest::parse(b).map_err(StoreError::InvalidArgument)?;
                let same_layers = m.layers.len() == self.layers.len()
                    && m.layers
                        .iter()
                        .zip(&self.layers)
                        .all(|(a, b)| a.digest == b.desc.digest);
                if m.config.digest != conf.digest || !same_layers {
                    return Err(StoreError::InvalidArgument(
                        "manifest does not name the image's config and layers".into(),
                    ));
                }
                b.to_vec()
            }
            None => Manifest::new(
                conf_desc,
                self.layers.iter().map(|l| l.desc.clone()).collect(),
            )
            .to_bytes(),
        };
        let man = store.content.write_blob(&manifest_bytes)?;
        self.hold(format!("blob:{}", man.digest.hex()));
        if man.created {
            self.created_blobs.push(man.digest.clone());
        }
        let record = ImageRecord {
            id: conf.digest,
            config,
            manifest: man.digest,
            size: self.layers.iter().map(|l| l.size).sum(),
            layers: ids,
            parent: self.parent.clone(),
        };
        store.db.put_image(&record)?;
        self.finished = true;
        Ok(record)
    }
}

impl Drop for ImageWriter<'_> {
    fn drop(&mut self) {
        for k in std::mem::take(&mut self.leased) {
            self.store.release(&k);
        }
        if !self.finished {
            let blobs = std::mem::take(&mut self.created_blobs);
            let snaps = std::mem::take(&mut self.created_snapshots);
            if let Err(e) = self.store.collect_unused(&blobs, &snaps) {
                tracing::warn!("cannot undo a failed image write: {e}");
            }
        }
    }
}

/// The media type matching a stored blob's compression.
fn media_type_of_blob(path: &Path) -> &'static str {
    let kind = File::open(path)
        .and_then(|f| berth_archive::detect(f).map(|(k, _)| k))
        .unwrap_or(Compression::None);
    match kind {
        Compression::None => MEDIA_TYPE_LAYER,
        Compression::Gzip => MEDIA_TYPE_LAYER_GZIP,
        Compression::Zstd => MEDIA_TYPE_LAYER_ZSTD,
    }
}
