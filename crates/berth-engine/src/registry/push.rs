//! `push`: each layer checked (HEAD), mounted from another repository of the registry
//! when one is known to have it, else uploaded (POST then PUT); then the config and the
//! manifest by tag. Plain layers (from `commit` and `build`) are gzipped for the registry
//! into scratch files; the local image is left as it is.

use super::progress::{bar, status, status_id};
use super::{client_error, error_message, receiver_stream, RegistryAuth};
use crate::Engine;
use berth_model::manifest::{
    layer_compression, Descriptor, LayerCompression, Manifest, DOCKER_CONFIG, DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST,
};
use berth_model::{Digest, Error, Reference, Result};
use berth_registry::client::{Client, Mount, UploadBody};
use berth_store::ImageRecord;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

const PARALLEL: usize = 3;

type Tx = mpsc::Sender<Value>;

/// One layer as it goes to the registry.
struct Outgoing {
    desc: Descriptor,
    /// The file holding the bytes to send.
    path: PathBuf,
    /// Shown id: the layer's diff ID, short (as dockerd shows pushes).
    id: String,
}

impl Engine {
    /// `POST /images/{name}/push?tag=`: dockerd's progress messages. A reference without
    /// a tag pushes every local tag of the repository.
    pub async fn push(
        self: &Arc<Self>,
        reference: &str,
        auth: Option<RegistryAuth>,
    ) -> Result<BoxStream<'static, Value>> {
        let r = Reference::parse(reference).map_err(|e| Error::invalid(e.to_string()))?;
        let repo = r.clone();
        let tags: Vec<(Reference, ImageRecord)> = self
            .blocking(move |s| {
                let mut out = Vec::new();
                for (rec, refs) in s.list_images().map_err(Error::from)? {
                    for rf in refs {
                        if rf.domain != repo.domain || rf.path != repo.path || rf.tag.is_none() {
                            continue;
                        }
                        if repo.tag.is_none() || repo.tag == rf.tag {
                            out.push((rf, rec.clone()));
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        if tags.is_empty() {
            return Err(Error::not_found(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )));
        }
        let client = Arc::new(self.registry_client(&r.domain, auth.as_ref())?);
        let (tx, rx) = mpsc::channel(512);
        let engine = self.clone();
        tokio::spawn(async move {
            let _ = tx
                .send(status(&format!(
                    "The push refers to repository [{}]",
                    r.full_name()
                )))
                .await;
            for (rf, rec) in tags {
                if let Err(e) = engine.push_one(&client, &rf, &rec, &tx).await {
                    tracing::warn!(reference = %rf, "push failed: {}", e.message);
                    let _ = tx.send(error_message(&e.message)).await;
                    return;
                }
            }
        });
        Ok(receiver_stream(rx))
    }

    async fn push_one(
        self: &Arc<Self>,
        client: &Arc<Client>,
        r: &Reference,
        rec: &ImageRecord,
        tx: &Tx,
    ) -> Result<()> {
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let (manifest_bytes, config_bytes) = {
            let (m, c) = (rec.manifest.clone(), rec.id.clone());
            self.blocking(move |s| {
                Ok((
                    s.content().read(&m).map_err(Error::from)?,
                    s.content().read(&c).map_err(Error::from)?,
                ))
            })
            .await?
        };
        let m = Manifest::parse(&manifest_bytes).map_err(Error::internal)?;
        if m.layers.len() != rec.layers.len() {
            return Err(Error::internal(format!(
                "manifest {} does not match image {}",
                rec.manifest, rec.id
            )));
        }
        for d in rec.layers.iter().rev() {
            let _ = tx.send(status_id("Preparing", d.short())).await;
        }
        let plain = m
            .layers
            .iter()
            .any(|l| layer_compression(&l.media_type) == Some(LayerCompression::None));
        let scratch = Arc::new(
            self.blocking(|s| s.scratch_dir().map_err(Error::from))
                .await?,
        );

        // Layers, top first as dockerd does, a few at once.
        let sem = Arc::new(Semaphore::new(PARALLEL));
        let mut tasks = Vec::new();
        for (desc, diff) in m.layers.iter().zip(&rec.layers).rev() {
            let (engine, client, tx, sem, scratch) = (
                self.clone(),
                client.clone(),
                tx.clone(),
                sem.clone(),
                scratch.clone(),
            );
            let (desc, diff, r) = (desc.clone(), diff.clone(), r.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                let is_plain = layer_compression(&desc.media_type) == Some(LayerCompression::None);
                if let Some(gz) = engine.registry.gzip_of(&diff).filter(|_| is_plain) {
                    let there = client
                        .blob_exists(&r.path, &gz.digest)
                        .await
                        .map_err(|e| push_error(e, &r))?;
                    if there.is_some() {
                        let _ = tx
                            .send(status_id("Layer already exists", diff.short()))
                            .await;
                        return Ok(gz);
                    }
                }
                let out = engine.outgoing(&desc, &diff, scratch.path()).await?;
                if is_plain {
                    engine.registry.remember_gzip(&diff, out.desc.clone());
                }
                engine.push_layer(&client, &r, &out, &tx).await?;
                Ok::<Descriptor, Error>(out.desc)
            }));
        }
        let mut pushed = Vec::new();
        let mut failure = None;
        for t in tasks {
            match t.await {
                Ok(Ok(d)) => pushed.push(d),
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(e) => {
                    failure.get_or_insert(Error::internal(format!("layer push failed: {e}")));
                }
            }
        }
        drop(scratch);
        if let Some(e) = failure {
            return Err(e);
        }
        pushed.reverse();

        // The config, then the manifest.
        if client
            .blob_exists(&r.path, &rec.id)
            .await
            .map_err(|e| push_error(e, r))?
            .is_none()
        {
            client
                .upload_bytes(&r.path, &rec.id, config_bytes.clone().into())
                .await
                .map_err(|e| push_error(e, r))?;
        }
        let (bytes, media) = if plain {
            let mut out = Manifest::new(
                Descriptor::new(DOCKER_CONFIG, rec.id.clone(), config_bytes.len() as u64),
                pushed
                    .into_iter()
                    .map(|d| Descriptor {
                        media_type: if d.media_type == MEDIA_TYPE_LAYER_GZIP {
                            DOCKER_LAYER_GZIP.into()
                        } else {
                            d.media_type
                        },
                        ..d
                    })
                    .collect(),
            );
            out.media_type = DOCKER_MANIFEST.into();
            (out.to_bytes(), DOCKER_MANIFEST.to_string())
        } else {
            let media = if m.media_type.is_empty() {
                MEDIA_TYPE_MANIFEST.to_string()
            } else {
                m.media_type.clone()
            };
            (manifest_bytes, media)
        };
        let size = bytes.len();
        let digest = client
            .put_manifest(&r.path, &tag, &media, bytes.into())
            .await
            .map_err(|e| push_error(e, r))?;
        let _ = tx
            .send(status(&format!("{tag}: digest: {digest} size: {size}")))
            .await;
        let _ = tx
            .send(serde_json::json!({
                "progressDetail": {},
                "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size},
            }))
            .await;
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("name".to_string(), r.familiar_name());
        self.emit("image", "push", &r.familiar(), attrs);
        Ok(())
    }

    /// The bytes to send for one layer: the stored blob, or for a plain layer its gzip in
    /// a scratch file.
    async fn outgoing(
        &self,
        desc: &Descriptor,
        diff: &Digest,
        scratch: &std::path::Path,
    ) -> Result<Outgoing> {
        let id = diff.short().to_string();
        let src = self.store.content().path(&desc.digest);
        if layer_compression(&desc.media_type) != Some(LayerCompression::None) {
            return Ok(Outgoing {
                desc: desc.clone(),
                path: src,
                id,
            });
        }
        let dst = scratch.join(format!("{}.gz", diff.hex()));
        let d2 = dst.clone();
        let (digest, size) = tokio::task::spawn_blocking(move || gzip_file(&src, &d2))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        Ok(Outgoing {
            desc: Descriptor::new(MEDIA_TYPE_LAYER_GZIP, digest, size),
            path: dst,
            id,
        })
    }

    async fn push_layer(
        &self,
        client: &Client,
        r: &Reference,
        out: &Outgoing,
        tx: &Tx,
    ) -> Result<()> {
        let digest = &out.desc.digest;
        if client
            .blob_exists(&r.path, digest)
            .await
            .map_err(|e| push_error(e, r))?
            .is_some()
        {
            let _ = tx.send(status_id("Layer already exists", &out.id)).await;
            self.registry.remember(digest, &r.domain, &r.path);
            return Ok(());
        }
        let mut location = None;
        for from in self.registry.sources(digest, &r.domain, &r.path) {
            match client.mount(&r.path, digest, &from).await {
                Ok(Mount::Mounted) => {
                    let _ = tx
                        .send(status_id(&format!("Mounted from {from}"), &out.id))
                        .await;
                    self.registry.remember(digest, &r.domain, &r.path);
                    return Ok(());
                }
                Ok(Mount::Upload(loc)) => {
                    location = Some(loc);
                    break;
                }
                Err(e) => tracing::debug!(%digest, from, "mount refused: {e}"),
            }
        }
        let location = match location {
            Some(l) => l,
            None => client
                .start_upload(&r.path)
                .await
                .map_err(|e| push_error(e, r))?,
        };
        let file = tokio::fs::File::open(&out.path)
            .await
            .map_err(|e| Error::internal(format!("open {}: {e}", out.path.display())))?;
        let total = out.desc.size;
        let sent = Arc::new(AtomicU64::new(0));
        let (ptx, id) = (tx.clone(), out.id.clone());
        let counter = sent.clone();
        let mut last = Instant::now() - Duration::from_secs(1);
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
            .inspect(move |chunk| {
                if let Ok(c) = chunk {
                    let n = counter.fetch_add(c.len() as u64, Ordering::Relaxed) + c.len() as u64;
                    if last.elapsed() >= Duration::from_millis(100) || n == total {
                        last = Instant::now();
                        let _ = ptx.try_send(bar("Pushing", &id, n, Some(total)));
                    }
                }
            })
            .boxed();
        client
            .finish_upload(
                &r.path,
                &location,
                digest,
                UploadBody::Stream(stream),
                total,
            )
            .await
            .map_err(|e| push_error(e, r))?;
        let _ = tx.send(status_id("Pushed", &out.id)).await;
        self.registry.remember(digest, &r.domain, &r.path);
        Ok(())
    }
}

fn push_error(e: berth_registry::client::ClientError, r: &Reference) -> Error {
    // dockerd passes the registry's words on (`unauthorized: authentication required`).
    tracing::debug!(reference = %r, "push: {e}");
    client_error(e)
}

/// Gzips `src` into `dst`; returns the gzip's digest and size.
fn gzip_file(src: &std::path::Path, dst: &std::path::Path) -> Result<(Digest, u64)> {
    use std::io::{Read, Write};
    struct HashWrite<W> {
        inner: W,
        hasher: berth_model::digest::Hasher,
        n: u64,
    }
    impl<W: Write> Write for HashWrite<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hasher.update(&buf[..n]);
            self.n += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let io = |what: &str, e: std::io::Error| Error::internal(format!("{what}: {e}"));
    let mut input =
        std::fs::File::open(src).map_err(|e| io(&format!("open {}", src.display()), e))?;
    let out =
        std::fs::File::create(dst).map_err(|e| io(&format!("create {}", dst.display()), e))?;
    let hw = HashWrite {
        inner: std::io::BufWriter::with_capacity(256 * 1024, out),
        hasher: berth_model::digest::Hasher::new(),
        n: 0,
    };
    let mut gz = berth_archive::LayerGzip::new(hw);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input.read(&mut buf).map_err(|e| io("read layer", e))?;
        if n == 0 {
            break;
        }
        gz.write_all(&buf[..n]).map_err(|e| io("gzip layer", e))?;
    }
    let mut hw = gz.finish().map_err(|e| io("gzip layer", e))?;
    hw.flush().map_err(|e| io("gzip layer", e))?;
    Ok((hw.hasher.finish(), hw.n))
}
