//! `pull`: manifest (lists resolved to this platform), config, then the layers fetched in
//! parallel (resumed with Range after a dropped connection), each unpacked by the store
//! while it downloads and verified before anything is visible, then stacked bottom first
//! by the store's image writer.

use super::progress::{bar, status, status_id};
use super::{client_error, error_message, receiver_stream, RegistryAuth};
use crate::Engine;
use berth_model::image::{host_architecture, ImageConfig};
use berth_model::manifest::Manifest;
use berth_model::{Digest, Error, ErrorKind, Reference, Result};
use berth_registry::client::{Client, ClientError};
use berth_store::{LayerExpect, LayerSource};
use futures_util::stream::BoxStream;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// Layers downloaded at once.
const PARALLEL: usize = 3;

type Tx = mpsc::Sender<Value>;

/// What the manifest step found.
struct Resolved {
    /// The digest the reference resolves to (the list's, for a manifest list).
    top_digest: Digest,
    manifest: Manifest,
    manifest_bytes: bytes::Bytes,
}

/// What the unpacking threads tell the async side.
enum Unpacked {
    /// Layer `i` is stacked in the image.
    Stacked(usize),
    /// Something failed: stop the downloads.
    Failed,
}

impl Engine {
    /// `POST /images/create?fromImage=&tag=`: Docker's JSON progress messages, ending
    /// with `{"errorDetail":...,"error":...}` on failure. An unreachable registry, an
    /// unknown repository or tag, and a malformed reference are errors before the stream
    /// starts (dockerd answers those with an error status too).
    pub async fn pull(
        self: &Arc<Self>,
        reference: &str,
        auth: Option<RegistryAuth>,
    ) -> Result<BoxStream<'static, Value>> {
        let r =
            Reference::parse_normalized(reference).map_err(|e| Error::invalid(e.to_string()))?;
        let client = Arc::new(self.registry_client(&r.domain, auth.as_ref())?);
        let resolved = resolve(&client, &r).await?;
        let (tx, rx) = mpsc::channel(512);
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.pull_resolved(&client, &r, resolved, &tx).await {
                tracing::warn!(reference = %r, "pull failed: {}", e.message);
                let _ = tx.send(error_message(&e.message)).await;
            }
        });
        Ok(receiver_stream(rx))
    }

    async fn pull_resolved(
        self: &Arc<Self>,
        client: &Arc<Client>,
        r: &Reference,
        resolved: Resolved,
        tx: &Tx,
    ) -> Result<()> {
        let shown = match (&r.digest, &r.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        };
        let _ = tx
            .send(serde_json::json!({"status": format!("Pulling from {}", r.path), "id": shown}))
            .await;
        let m = &resolved.manifest;
        let config_digest = m.config.digest.clone();
        let have = {
            let d = config_digest.clone();
            self.blocking(move |s| Ok(s.image(&d).is_ok())).await?
        };
        let id = if have {
            config_digest.clone()
        } else {
            self.fetch_image(client, r, &resolved, tx).await?
        };
        for l in &m.layers {
            self.registry.remember(&l.digest, &r.domain, &r.path);
        }
        let _ = tx
            .send(status(&format!("Digest: {}", resolved.top_digest)))
            .await;

        // Tag it; the manifest digest is recorded as `repo@digest` (RepoDigests), so a
        // by-digest reference names the image locally too.
        let familiar = r.familiar();
        let mut newer = !have;
        if let Ok(top) = resolved.top_digest.to_string().parse() {
            let mut dref = r.clone();
            dref.tag = None;
            dref.digest = Some(top);
            let idc = id.clone();
            self.blocking(move |s| s.tag(&dref, &idc).map_err(Error::from))
                .await?;
        }
        if r.tag.is_some() && r.digest.is_none() {
            let (rr, idc) = (r.clone(), id.clone());
            let before = self
                .blocking(move |s| {
                    let before = s.resolve_image(&rr.to_string()).ok().map(|i| i.id);
                    s.tag(&rr, &idc).map_err(Error::from)?;
                    Ok(before)
                })
                .await?;
            newer = newer || before.as_ref() != Some(&id);
        }
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("name".to_string(), r.familiar_name());
        self.emit("image", "pull", &familiar, attrs);
        let _ = tx
            .send(status(&if newer {
                format!("Status: Downloaded newer image for {familiar}")
            } else {
                format!("Status: Image is up to date for {familiar}")
            }))
            .await;
        Ok(())
    }

    /// Config and layers into the store; returns the image ID.
    async fn fetch_image(
        self: &Arc<Self>,
        client: &Arc<Client>,
        r: &Reference,
        resolved: &Resolved,
        tx: &Tx,
    ) -> Result<Digest> {
        let m = &resolved.manifest;
        let config_bytes = client
            .blob_bytes(&r.path, &m.config.digest)
            .await
            .map_err(client_error)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            Error::invalid(format!("invalid image config {}: {e}", m.config.digest))
        })?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if diff_ids.len() != m.layers.len() {
            return Err(Error::invalid(format!(
                "image config {} lists {} layer(s) but the manifest has {}",
                m.config.digest,
                diff_ids.len(),
                m.layers.len()
            )));
        }

        // Which layers are here already? A blob without its snapshot (a pull killed
        // before it stacked the layer) is unpacked from the blob, not downloaded again.
        let local = {
            let layers: Vec<Digest> = m.layers.iter().map(|l| l.digest.clone()).collect();
            self.blocking(move |s| {
                Ok(layers
                    .iter()
                    .map(|d| s.content().exists(d))
                    .collect::<Vec<bool>>())
            })
            .await?
        };
        for (l, here) in m.layers.iter().zip(&local) {
            let msg = if *here {
                "Already exists"
            } else {
                "Pulling fs layer"
            };
            let _ = tx.send(status_id(msg, l.digest.short())).await;
        }

        // Downloads, bounded, each streamed into its layer's unpacking thread.
        let sem = Arc::new(Semaphore::new(PARALLEL));
        let mut downloads = Vec::new();
        let mut sources = Vec::new();
        for (l, here) in m.layers.iter().zip(&local) {
            if *here {
                downloads.push(None);
                sources.push(None);
                continue;
            }
            let (btx, brx) = mpsc::channel::<bytes::Bytes>(CHUNKS);
            let (client, sem, tx) = (client.clone(), sem.clone(), tx.clone());
            let (repo, digest, size) = (r.path.clone(), l.digest.clone(), l.size);
            downloads.push(Some(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                download(&client, &repo, &digest, size, btx, &tx).await
            })));
            sources.push(Some((brx, l.size)));
        }

        // Every layer unpacks on its own thread as its bytes arrive; one thread stacks
        // them bottom first and writes the image.
        let (utx, mut urx) = mpsc::unbounded_channel::<Unpacked>();
        let store = self.store.clone();
        let layers: Vec<(Digest, LayerExpect)> = m
            .layers
            .iter()
            .zip(&diff_ids)
            .map(|(l, diff)| {
                (
                    l.digest.clone(),
                    LayerExpect {
                        digest: Some(l.digest.clone()),
                        diff_id: Some(diff.clone()),
                    },
                )
            })
            .collect();
        let (config, manifest) = (config_bytes.clone(), resolved.manifest_bytes.clone());
        let ids = diff_ids.clone();
        let unpacking = tokio::task::spawn_blocking(move || {
            unpack_all(&store, &ids, layers, sources, &utx, &config, &manifest)
        });
        let mut aborted = false;
        while let Some(ev) = urx.recv().await {
            match ev {
                Unpacked::Stacked(i) => {
                    if !local[i] {
                        let id = m.layers[i].digest.short().to_string();
                        let _ = tx.send(status_id("Pull complete", &id)).await;
                    }
                }
                Unpacked::Failed if !aborted => {
                    aborted = true;
                    for h in downloads.iter().flatten() {
                        h.abort();
                    }
                }
                Unpacked::Failed => {}
            }
        }
        let result = unpacking
            .await
            .map_err(|e| Error::internal(format!("unpacking failed: {e}")))?;
        // A download's own error says more than the truncated stream its layer saw.
        let mut download_err = None;
        for h in downloads.into_iter().flatten() {
            if let Ok(Err(e)) = h.await {
                if download_err.is_none() && !e.message.contains("download cancelled") {
                    download_err = Some(e);
                }
            }
        }
        match result {
            Ok(id) => Ok(id),
            Err((i, e)) => Err(download_err.unwrap_or_else(|| {
                // Content that does not match its digests: dockerd's words.
                if !local[i] && e.kind == ErrorKind::InvalidArgument {
                    tracing::warn!(digest = %m.layers[i].digest, "layer refused: {}", e.message);
                    Error::invalid(format!(
                        "filesystem layer verification failed for digest {}",
                        m.layers[i].digest
                    ))
                } else {
                    e
                }
            })),
        }
    }
}

/// Chunks buffered between a layer's download and its unpacking.
const CHUNKS: usize = 64;

/// The blocking half of a pull: prepares every layer at once (scoped threads), stacks
/// them in order and writes the image. An error names the layer's index.
fn unpack_all(
    store: &berth_store::Store,
    diff_ids: &[Digest],
    layers: Vec<(Digest, LayerExpect)>,
    sources: Vec<Option<(mpsc::Receiver<bytes::Bytes>, u64)>>,
    events: &mpsc::UnboundedSender<Unpacked>,
    config: &[u8],
    manifest: &[u8],
) -> std::result::Result<Digest, (usize, Error)> {
    std::thread::scope(|sc| {
        let workers: Vec<_> = layers
            .into_iter()
            .zip(sources)
            .enumerate()
            .map(|(i, ((digest, expect), source))| {
                sc.spawn(move || {
                    let source = match source {
                        Some((rx, size)) => LayerSource::Stream(Box::new(ChannelReader {
                            rx,
                            buf: bytes::Bytes::new(),
                            left: size,
                        })),
                        None => {
                            let path = store.content().path(&digest);
                            let f = std::fs::File::open(&path).map_err(|e| {
                                Error::internal(format!("open {}: {e}", path.display()))
                            })?;
                            LayerSource::Stream(Box::new(std::io::BufReader::with_capacity(
                                256 * 1024,
                                f,
                            )))
                        }
                    };
                    let res = store
                        .prepare_layer(&diff_ids[..i], source, expect, false)
                        .map_err(Error::from);
                    if res.is_err() {
                        let _ = events.send(Unpacked::Failed);
                    }
                    res
                })
            })
            .collect();
        let mut w = store.image_writer();
        for (i, h) in workers.into_iter().enumerate() {
            let stacked = h
                .join()
                .unwrap_or_else(|_| Err(Error::internal("layer unpacking panicked")))
                .and_then(|p| w.add_prepared(p).map_err(Error::from));
            if let Err(e) = stacked {
                let _ = events.send(Unpacked::Failed);
                return Err((i, e));
            }
            let _ = events.send(Unpacked::Stacked(i));
        }
        w.finish(config, Some(manifest))
            .map(|rec| rec.id)
            .map_err(|e| (diff_ids.len().saturating_sub(1), Error::from(e)))
    })
}

/// A layer's bytes as they download. Ends with an error when the download stops short:
/// the store must not mistake a cut stream for a whole one.
struct ChannelReader {
    rx: mpsc::Receiver<bytes::Bytes>,
    buf: bytes::Bytes,
    left: u64,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.buf = b,
                None if self.left == 0 => return Ok(0),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "download stopped before the end of the layer",
                    ))
                }
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// Fetches the manifest for `r`, resolving a list or index to this platform.
async fn resolve(client: &Client, r: &Reference) -> Result<Resolved> {
    let want = match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".into(),
    };
    let res = client
        .resolve(&r.path, &want, "linux", host_architecture())
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound if matches!(e, ClientError::Registry { .. }) => {
                Error::not_found(format!("manifest for {} not found: {e}", r.familiar()))
            }
            ErrorKind::Unauthorized | ErrorKind::Forbidden => Error::new(
                ErrorKind::NotFound,
                format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
                    r.familiar_name()
                ),
            ),
            _ => client_error(e),
        })?;
    let media = &res.manifest.media_type;
    // Schema 1 only: the OCI manifest's media type also says `manifest.v1`.
    if media.contains("prettyjws")
        || media.starts_with("application/vnd.docker.distribution.manifest.v1")
    {
        return Err(Error::invalid(format!(
            "image {} uses a schema 1 manifest, which is not supported",
            r.familiar()
        )));
    }
    let manifest = Manifest::parse(&res.manifest.bytes).map_err(Error::invalid)?;
    Ok(Resolved {
        top_digest: res.top_digest,
        manifest,
        manifest_bytes: res.manifest.bytes,
    })
}

/// Streams one layer to its unpacking thread (resumed; the store verifies it), with
/// dockerd's messages.
async fn download(
    client: &Client,
    repo: &str,
    digest: &Digest,
    size: u64,
    out: mpsc::Sender<bytes::Bytes>,
    tx: &Tx,
) -> Result<()> {
    let id = digest.short().to_string();
    let mut last = Instant::now() - Duration::from_secs(1);
    let ptx = tx.clone();
    let pid = id.clone();
    let mut progress = move |have: u64| {
        if last.elapsed() >= Duration::from_millis(100) || have == size {
            last = Instant::now();
            let _ = ptx.try_send(bar("Downloading", &pid, have, Some(size)));
        }
    };
    client
        .stream_blob(repo, digest, size, out, &mut progress)
        .await
        .map_err(client_error)?;
    let _ = tx.send(status_id("Verifying Checksum", &id)).await;
    let _ = tx.send(status_id("Download complete", &id)).await;
    let _ = tx.send(bar("Extracting", &id, size, Some(size))).await;
    Ok(())
}
