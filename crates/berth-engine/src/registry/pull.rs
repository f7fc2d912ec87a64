//! `pull`: manifest (lists resolved to this platform), config, then the layers fetched in
//! parallel into files in the store's ingest area (resumed with Range after a dropped
//! connection) and handed, bottom first, to the store's verified image writer.

use super::progress::{bar, status, status_id};
use super::{client_error, error_message, receiver_stream, RegistryAuth};
use crate::Engine;
use berth_model::digest::chain_id;
use berth_model::image::{host_architecture, ImageConfig};
use berth_model::manifest::Manifest;
use berth_model::{Digest, Error, ErrorKind, Reference, Result};
use berth_registry::client::{Client, ClientError};
use berth_store::{LayerExpect, LayerSource};
use futures_util::stream::BoxStream;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};

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

/// One step for the image writer's thread.
enum Step {
    Layer(Option<PathBuf>, LayerExpect),
    Finish(bytes::Bytes, bytes::Bytes),
}

type StepReply = oneshot::Sender<std::result::Result<Option<Digest>, berth_store::StoreError>>;

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

        // Which layers are here already (blob and unpacked snapshot)?
        let present = {
            let layers: Vec<Digest> = m.layers.iter().map(|l| l.digest.clone()).collect();
            let ids = diff_ids.clone();
            self.blocking(move |s| {
                Ok(layers
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let chain = chain_id(&ids[..=i]).expect("one layer at least");
                        s.content().exists(d) && s.snapshotter().exists(chain.hex())
                    })
                    .collect::<Vec<bool>>())
            })
            .await?
        };
        for (l, here) in m.layers.iter().zip(&present) {
            let msg = if *here {
                "Already exists"
            } else {
                "Pulling fs layer"
            };
            let _ = tx.send(status_id(msg, l.digest.short())).await;
        }

        let scratch = Arc::new(
            self.blocking(|s| s.scratch_dir().map_err(Error::from))
                .await?,
        );
        // Downloads, bounded, each into its own file.
        let sem = Arc::new(Semaphore::new(PARALLEL));
        let mut downloads = Vec::new();
        for (l, here) in m.layers.iter().zip(&present) {
            if *here {
                downloads.push(None);
                continue;
            }
            let path = scratch.path().join(l.digest.hex());
            let (client, sem, tx) = (client.clone(), sem.clone(), tx.clone());
            let (repo, digest, size) = (r.path.clone(), l.digest.clone(), l.size);
            let p = path.clone();
            let h = tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                download(&client, &repo, &digest, size, &p, &tx).await
            });
            downloads.push(Some((path, h)));
        }

        // The writer runs on one blocking thread and takes the layers bottom first.
        let (wtx, wrx) = std::sync::mpsc::channel::<(Step, StepReply)>();
        let store = self.store.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let mut w = store.image_writer();
            while let Ok((step, reply)) = wrx.recv() {
                match step {
                    Step::Layer(path, expect) => {
                        let src = match path {
                            Some(p) => LayerSource::File(p),
                            None => LayerSource::Stream(Box::new(std::io::empty())),
                        };
                        let res = w.add_layer(src, expect);
                        let failed = res.is_err();
                        let _ = reply.send(res.map(|_| None));
                        if failed {
                            return;
                        }
                    }
                    Step::Finish(config, manifest) => {
                        let res = w.finish(&config, Some(&manifest));
                        let _ = reply.send(res.map(|rec| Some(rec.id)));
                        return;
                    }
                }
            }
        });
        let step = |s: Step| {
            let (rtx, rrx) = oneshot::channel();
            let sent = wtx.send((s, rtx)).is_ok();
            async move {
                if !sent {
                    return Err(Error::internal("image writer ended early"));
                }
                rrx.await
                    .map_err(|_| Error::internal("image writer ended early"))?
                    .map_err(Error::from)
            }
        };

        let mut result: Result<Digest> = Err(Error::internal("pull did not finish"));
        let mut failed = None;
        for (i, l) in m.layers.iter().enumerate() {
            let expect = LayerExpect {
                digest: Some(l.digest.clone()),
                diff_id: Some(diff_ids[i].clone()),
            };
            let id = l.digest.short().to_string();
            let path = match downloads[i].as_mut() {
                None => None,
                Some((path, h)) => {
                    match h.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            failed = Some(e);
                            break;
                        }
                        Err(e) => {
                            failed = Some(Error::internal(format!("download of {id} failed: {e}")));
                            break;
                        }
                    }
                    let _ = tx.send(bar("Extracting", &id, l.size, Some(l.size))).await;
                    Some(path.clone())
                }
            };
            let from_net = path.is_some();
            if let Err(e) = step(Step::Layer(path, expect)).await {
                // Content that does not match its digests: dockerd's words.
                let e = if from_net && e.kind == ErrorKind::InvalidArgument {
                    tracing::warn!(digest = %l.digest, "layer refused: {}", e.message);
                    Error::invalid(format!(
                        "filesystem layer verification failed for digest {}",
                        l.digest
                    ))
                } else {
                    e
                };
                failed = Some(e);
                break;
            }
            if from_net {
                let _ = tx.send(status_id("Pull complete", &id)).await;
            }
        }
        if failed.is_none() {
            result = match step(Step::Finish(
                config_bytes.clone(),
                resolved.manifest_bytes.clone(),
            ))
            .await
            {
                Ok(Some(id)) => Ok(id),
                Ok(None) => Err(Error::internal("image writer returned no image")),
                Err(e) => Err(e),
            };
        }
        for (_, h) in downloads.iter().flatten() {
            h.abort();
        }
        drop(wtx);
        let _ = writer.await;
        drop(scratch);
        match failed {
            Some(e) => Err(e),
            None => result,
        }
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

/// Downloads one layer into `path` (resumed, verified), with dockerd's messages.
async fn download(
    client: &Client,
    repo: &str,
    digest: &Digest,
    size: u64,
    path: &std::path::Path,
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
        // The store verifies the digest (and the diff ID) before the layer is visible.
        .download_to(repo, digest, size, path, false, &mut progress)
        .await
        .map_err(client_error)?;
    let _ = tx.send(status_id("Verifying Checksum", &id)).await;
    let _ = tx.send(status_id("Download complete", &id)).await;
    Ok(())
}
