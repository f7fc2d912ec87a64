//! `docker import`: a rootfs tar becomes a one-layer image.

use crate::content::{Committed, Ingest};
use crate::manifest::{Descriptor, Manifest, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER_GZIP};
use crate::store::{ImageRecord, Store};
use crate::{random_name, StoreError};
use berth_archive::{apply_layer_with, ApplyOptions, ApplyStats, Compression};
use berth_model::image::{ImageConfig, RootFs};
use berth_model::Digest;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

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

/// Removes what a failed import already made visible.
struct Undo<'a> {
    store: &'a Store,
    blobs: Vec<Digest>,
    snapshot: Option<String>,
    /// Snapshot key still being built, removed unless committed.
    active: Option<String>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        for b in &self.blobs {
            self.store.content.remove(b);
        }
        for key in self.snapshot.iter().chain(self.active.iter()) {
            if let Err(e) = self.store.snapshots.remove(key) {
                tracing::warn!(snapshot = %key, "cannot undo snapshot: {e}");
            }
        }
    }
}

fn finish_undo(mut u: Undo<'_>) {
    u.blobs.clear();
    u.snapshot = None;
    u.active = None;
}

/// Streams the input into the layer blob (gzip: kept byte for byte; otherwise gzipped here)
/// while extracting it into `dest`.
fn ingest_and_apply(
    input: impl Read,
    ingest: &mut Ingest,
    dest: &Path,
) -> Result<ApplyStats, StoreError> {
    let (kind, input) = berth_archive::detect(input)
        .map_err(|e| StoreError::InvalidArgument(format!("reading layer: {e}")))?;
    let opts = ApplyOptions { base_layer: true };
    match kind {
        Compression::Gzip => {
            let mut tee = Tee {
                r: input,
                w: &mut *ingest,
                write_err: None,
            };
            let res = apply_layer_with(flate2::read::MultiGzDecoder::new(&mut tee), dest, opts);
            match tee.write_err {
                Some(e) => Err(StoreError::io("write layer blob", e)),
                None => Ok(res?),
            }
        }
        _ => {
            let plain = berth_archive::decompress(input)
                .map_err(|e| StoreError::InvalidArgument(format!("reading layer: {e}")))?;
            let gz = flate2::write::GzEncoder::new(&mut *ingest, flate2::Compression::default());
            let mut tee = Tee {
                r: plain,
                w: gz,
                write_err: None,
            };
            let res = apply_layer_with(&mut tee, dest, opts);
            if let Some(e) = tee.write_err {
                return Err(StoreError::io("write layer blob", e));
            }
            let stats = res?;
            tee.w
                .finish()
                .map_err(|e| StoreError::io("write layer blob", e))?;
            Ok(stats)
        }
    }
}

/// Flushes everything under `dir` to disk with one syncfs instead of an fsync per file.
fn sync_tree(dir: &Path) -> Result<(), StoreError> {
    let f = File::open(dir).map_err(|e| StoreError::io(format!("open {}", dir.display()), e))?;
    nix::unistd::syncfs(f.as_raw_fd())
        .map_err(|e| StoreError::io(format!("syncfs {}", dir.display()), e))
}

impl Store {
    /// Imports a rootfs tar (plain, gzip or zstd) as a one-layer image with `config`
    /// (whose `rootfs` is replaced). The image is untagged; nothing is visible until every
    /// part is verified and on disk, and a failed import leaves nothing behind.
    pub fn import_rootfs(
        &self,
        tar: impl Read,
        mut config: ImageConfig,
    ) -> Result<ImageRecord, StoreError> {
        let active = format!("tmp-import-{}", random_name());
        let spec = self.snapshots.prepare(&active, None)?;
        let mut undo = Undo {
            store: self,
            blobs: Vec::new(),
            snapshot: None,
            active: Some(active.clone()),
        };
        let mut ingest = self.content.begin()?;
        let stats = ingest_and_apply(tar, &mut ingest, &spec.upper)?;
        sync_tree(&spec.upper)?;

        let diff_id = stats.diff_id.clone();
        config.rootfs = RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.clone()],
        };
        let config_bytes = config.to_bytes();

        // Held until the undo below has run, so no concurrent import sees a half-undone state.
        let _publishing = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        // The single layer's chain ID is its diff ID.
        undo.active = None;
        let published = (|| {
            if self.snapshots.commit(&active, diff_id.hex())? {
                undo.snapshot = Some(diff_id.hex().to_string());
            }
            let mut keep = |c: Committed| {
                if c.created {
                    undo.blobs.push(c.digest.clone());
                }
                Descriptor {
                    media_type: String::new(),
                    digest: c.digest,
                    size: c.size,
                }
            };
            let layer = Descriptor {
                media_type: MEDIA_TYPE_LAYER_GZIP.into(),
                ..keep(ingest.commit(None)?)
            };
            let conf = Descriptor {
                media_type: MEDIA_TYPE_CONFIG.into(),
                ..keep(self.content.write_blob(&config_bytes)?)
            };
            let manifest = Manifest::new(conf.clone(), vec![layer]);
            let manifest_digest = keep(self.content.write_blob(&manifest.to_bytes())?).digest;
            let record = ImageRecord {
                id: conf.digest,
                config,
                manifest: manifest_digest,
                size: stats.size,
                layers: vec![diff_id],
            };
            self.db.put_image(&record)?;
            Ok::<_, StoreError>(record)
        })();
        match published {
            Ok(record) => {
                finish_undo(undo);
                Ok(record)
            }
            Err(e) => {
                drop(undo);
                Err(e)
            }
        }
    }
}
