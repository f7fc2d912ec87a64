//! `POST /build`: the engine's side of a build. The executor lives in `berth-builder`; here
//! is what it runs on: RUN steps as containers of this engine (create, attach, start,
//! wait, commit, remove, as `docker run` + `docker commit` would), image writes through
//! the store, image filesystems mounted for COPY, and the cache table.

use crate::Engine;
use async_trait::async_trait;
use berth_builder::{BuildHost, BuildMessage, HostImage, ImageRoot, RunSpec, ScratchDir};
use berth_model::api::{
    AttachOptions, ContainerConfig, ContainerCreateRequest, HealthConfig, HostConfig,
};
use berth_model::image::ImageConfig;
use berth_model::{Digest, Error, ErrorKind, Reference, Result};
use berth_store::{LayerExpect, LayerSource};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

/// Label on RUN containers, so a restart can tell them from the user's.
pub(crate) const BUILD_LABEL: &str = "io.berth.build";
/// Prefix of the read-write snapshots behind image views (COPY's destination, COPY --from).
pub(crate) const VIEW_PREFIX: &str = "buildview";

pub(crate) fn is_build_container(c: &ContainerConfig) -> bool {
    c.labels
        .as_ref()
        .is_some_and(|l| l.get(BUILD_LABEL).is_some_and(|v| v == "run"))
}

/// What a build was asked for, beyond the executor's own options.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub options: berth_builder::BuildOptions,
    /// The Dockerfile's path in the context (`dockerfile=`).
    pub dockerfile: Option<String>,
    /// Only the image ID is reported (`-q`); the output is kept for a failure.
    pub quiet: bool,
}

/// One message of the progress stream; a failure ends it.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    Message(BuildMessage),
    /// The build failed; `code` is what the docker CLI exits with.
    Error {
        message: String,
        code: i64,
    },
}

/// The engine as the builder's host.
struct Host {
    engine: Arc<Engine>,
}

/// A store scratch directory.
struct Scratch(berth_store::ScratchDir);

impl ScratchDir for Scratch {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// An image's filesystem: a throwaway read-write snapshot on its layers, mounted; the
/// mount and the snapshot go on drop.
struct Mounted {
    engine: Arc<Engine>,
    key: String,
    target: PathBuf,
    _dir: berth_store::ScratchDir,
}

impl ImageRoot for Mounted {
    fn path(&self) -> &Path {
        &self.target
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = berth_store::unmount(&self.target) {
            tracing::warn!(path = %self.target.display(), "unmount build view: {e}");
        }
        if let Err(e) = self.engine.store.remove_rw(&self.key) {
            tracing::warn!(key = %self.key, "remove build view: {e}");
        }
    }
}

/// An empty root (FROM scratch, an image without layers).
struct Empty(berth_store::ScratchDir);

impl ImageRoot for Empty {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn to_host_image(rec: berth_store::ImageRecord) -> HostImage {
    HostImage {
        id: rec.id,
        config: rec.config,
    }
}

/// Clamps every mtime under `dir` (not following symlinks) to `epoch`, so a RUN layer
/// written with `SOURCE_DATE_EPOCH` does not depend on when it ran.
fn clamp_times(dir: &Path, epoch: i64) -> std::io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    use std::os::unix::fs::MetadataExt;
    let t = TimeSpec::new(epoch, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            let m = std::fs::symlink_metadata(&p)?;
            if m.is_dir() {
                stack.push(p.clone());
            }
            if m.mtime() > epoch {
                utimensat(None, &p, &t, &t, UtimensatFlags::NoFollowSymlink)
                    .map_err(std::io::Error::from)?;
            }
        }
    }
    Ok(())
}

#[async_trait]
impl BuildHost for Host {
    async fn image(&self, reference: &str) -> Result<Option<HostImage>> {
        let r = reference.to_string();
        match self
            .engine
            .blocking(move |s| s.resolve_image(&r).map_err(Error::from))
            .await
        {
            Ok(rec) => Ok(Some(to_host_image(rec))),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn pull(&self, reference: &str) -> Result<HostImage> {
        let mut progress = self.engine.pull(reference, None).await?;
        while let Some(m) = progress.next().await {
            if let Some(e) = m.get("errorDetail").and_then(|d| d.get("message")) {
                return Err(Error::not_found(e.as_str().unwrap_or_default().to_string()));
            }
        }
        self.image(reference).await?.ok_or_else(|| {
            Error::not_found(format!("pulled image {reference} is not in the store"))
        })
    }

    async fn image_exists(&self, id: &Digest) -> bool {
        let id = id.clone();
        self.engine
            .blocking(move |s| s.image(&id).map_err(Error::from))
            .await
            .is_ok()
    }

    async fn create_run(&self, spec: RunSpec) -> Result<String> {
        let image = spec
            .image
            .as_ref()
            .map(|d| d.to_string())
            .ok_or_else(|| Error::invalid("RUN needs an image: FROM scratch has no shell"))?;
        let config = ContainerConfig {
            image,
            cmd: Some(spec.argv),
            entrypoint: Some(Vec::new()),
            env: Some(spec.env),
            user: spec.user,
            working_dir: spec.working_dir,
            attach_stdout: true,
            attach_stderr: true,
            // The image's healthcheck is for its containers, not for build steps.
            healthcheck: Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            }),
            labels: Some(
                [(BUILD_LABEL.to_string(), "run".to_string())]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        let host_config = HostConfig {
            network_mode: spec.network_mode.unwrap_or_default(),
            extra_hosts: (!spec.extra_hosts.is_empty()).then_some(spec.extra_hosts),
            ..Default::default()
        };
        let resp = self
            .engine
            .create(
                None,
                ContainerCreateRequest {
                    config,
                    host_config: Some(host_config),
                    networking_config: None,
                },
            )
            .await?;
        Ok(resp.id)
    }

    async fn start_run(&self, container: &str, output: mpsc::Sender<Bytes>) -> Result<i64> {
        let attach = self
            .engine
            .attach(
                container,
                AttachOptions {
                    stdout: true,
                    stderr: true,
                    stream: true,
                    ..Default::default()
                },
            )
            .await?;
        let exited = self.engine.wait(container, "next-exit").await?;
        self.engine.start(container).await?;
        let mut rx = attach.output;
        while let Some((_, chunk)) = rx.recv().await {
            if output.send(chunk).await.is_err() {
                break;
            }
        }
        Ok(exited.await.status_code)
    }

    async fn commit_run(
        &self,
        container: &str,
        config: ImageConfig,
        source_date_epoch: Option<i64>,
    ) -> Result<Digest> {
        let c = self.engine.get(container)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let parent: Digest = rec
            .image_id
            .parse()
            .map_err(|_| Error::internal(format!("container {} has no image", c.id)))?;
        let id = c.id.clone();
        let img = self
            .engine
            .blocking(move |s| {
                if let Some(epoch) = source_date_epoch {
                    let spec = s.rw_mount(&id)?;
                    clamp_times(&spec.upper, epoch).map_err(|e| {
                        Error::internal(format!("clamp file times of container {id}: {e}"))
                    })?;
                }
                crate::container::image_from_rw_layer(s, &id, &parent, config)
            })
            .await?;
        Ok(img.id)
    }

    async fn remove_run(&self, container: &str) -> Result<()> {
        self.engine.remove(container, true, true).await
    }

    async fn write_image(
        &self,
        parent: Option<&Digest>,
        layer: Option<&Path>,
        mut config: ImageConfig,
    ) -> Result<Digest> {
        let parent = parent.cloned();
        let layer = layer.map(Path::to_path_buf);
        let rec = self
            .engine
            .blocking(move |s| {
                let mut w = match &parent {
                    Some(p) => s.image_writer_on(p)?,
                    None => s.image_writer(),
                };
                if let Some(path) = layer {
                    let mut f = std::fs::File::open(&path)
                        .map_err(|e| Error::internal(format!("open {}: {e}", path.display())))?;
                    let mut h = berth_model::digest::Hasher::new();
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        let n = f.read(&mut buf).map_err(|e| {
                            Error::internal(format!("read {}: {e}", path.display()))
                        })?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                    let digest = h.finish();
                    w.add_layer(
                        LayerSource::File(path),
                        LayerExpect {
                            digest: Some(digest.clone()),
                            diff_id: Some(digest),
                        },
                    )?;
                }
                config.rootfs.kind = "layers".into();
                config.rootfs.diff_ids = w.diff_ids();
                Ok(w.finish(&config.to_bytes(), None)?)
            })
            .await?;
        Ok(rec.id)
    }

    async fn image_root(&self, id: Option<&Digest>) -> Result<Box<dyn ImageRoot>> {
        let id = id.cloned();
        let engine = self.engine.clone();
        let root = self
            .engine
            .blocking(move |s| -> Result<Box<dyn ImageRoot>> {
                let dir = s.scratch_dir()?;
                let layers = match &id {
                    Some(id) => s.image(id)?.layers.len(),
                    None => 0,
                };
                let Some(id) = id.filter(|_| layers > 0) else {
                    return Ok(Box::new(Empty(dir)));
                };
                let suffix: String = dir
                    .path()
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect();
                let key = format!("{VIEW_PREFIX}{suffix}");
                let spec = s.prepare_rw(&key, &id)?;
                let target = dir.path().join("root");
                let mounted = std::fs::create_dir(&target).and_then(|_| spec.mount(&target));
                if let Err(e) = mounted {
                    let _ = s.remove_rw(&key);
                    return Err(Error::internal(format!(
                        "mount image {id} for the build: {e}"
                    )));
                }
                Ok(Box::new(Mounted {
                    engine,
                    key,
                    target,
                    _dir: dir,
                }))
            })
            .await?;
        Ok(root)
    }

    async fn scratch(&self) -> Result<Box<dyn ScratchDir>> {
        let dir = self.engine.blocking(|s| Ok(s.scratch_dir()?)).await?;
        Ok(Box::new(Scratch(dir)))
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.to_string();
        self.engine
            .blocking(move |s| Ok(s.build_cache_get(&key)?))
            .await
    }

    async fn cache_put(&self, entries: Vec<(String, Vec<u8>)>) -> Result<()> {
        self.engine
            .blocking(move |s| {
                let refs: Vec<(&str, &[u8])> = entries
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                Ok(s.build_cache_put(&refs)?)
            })
            .await
    }

    async fn tag(&self, id: &Digest, reference: &str) -> Result<()> {
        self.engine.tag_image(&id.to_string(), reference, "").await
    }
}

impl Engine {
    /// Reads the context from `body`, then builds in the background; the stream carries
    /// the progress and ends with the result. Errors before the build starts (a bad
    /// context, no Dockerfile) are returned as such.
    pub async fn build<R>(
        self: &Arc<Self>,
        body: R,
        req: BuildRequest,
    ) -> Result<BoxStream<'static, BuildEvent>>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let scratch = self.blocking(|s| Ok(s.scratch_dir()?)).await?;
        let dir = scratch.path().join("context");
        std::fs::create_dir(&dir)?;
        let dockerfile = req.dockerfile.clone().filter(|d| !d.is_empty());
        let d2 = dir.clone();
        let ctx = tokio::task::spawn_blocking(move || {
            let reader = tokio_util::io::SyncIoBridge::new(body);
            berth_builder::context::extract_context(reader, &d2, dockerfile.as_deref())
        })
        .await
        .map_err(|e| Error::internal(format!("context task failed: {e}")))?
        .map_err(Error::from)?;

        let (tx, rx) = mpsc::channel::<BuildEvent>(64);
        let engine = self.clone();
        tokio::spawn(async move {
            let _scratch = scratch;
            let host = Host {
                engine: engine.clone(),
            };
            let (mtx, mut mrx) = mpsc::channel::<BuildMessage>(64);
            let quiet = req.quiet;
            let fwd_tx = tx.clone();
            // Progress goes out as it comes, or is held back for a failure report (-q).
            let forward = tokio::spawn(async move {
                let mut held = String::new();
                while let Some(m) = mrx.recv().await {
                    match m {
                        BuildMessage::Stream(s) if quiet => held.push_str(&s),
                        m => {
                            let _ = fwd_tx.send(BuildEvent::Message(m)).await;
                        }
                    }
                }
                held
            });
            let result = berth_builder::build(
                &host,
                &ctx.root,
                &ctx.dockerfile,
                &ctx.dockerfile_path,
                &req.options,
                &mtx,
            )
            .await;
            drop(mtx);
            let held = forward.await.unwrap_or_default();
            let say = |s: String| BuildEvent::Message(BuildMessage::Stream(s));
            match result {
                Ok(done) => {
                    let mut tagged = Vec::new();
                    for t in &req.options.tags {
                        if let Err(e) = host.tag(&done.id, t).await {
                            let _ = tx
                                .send(BuildEvent::Error {
                                    message: e.message,
                                    code: 1,
                                })
                                .await;
                            return;
                        }
                        tagged.push(
                            Reference::parse_normalized(t)
                                .map(|mut r| {
                                    if r.tag.is_none() && r.digest.is_none() {
                                        r.tag = Some("latest".into());
                                    }
                                    r.familiar()
                                })
                                .unwrap_or_else(|_| t.clone()),
                        );
                    }
                    let _ = tx
                        .send(BuildEvent::Message(BuildMessage::Aux(
                            serde_json::json!({ "ID": done.id.to_string() }),
                        )))
                        .await;
                    if quiet {
                        let _ = tx.send(say(format!("{}\n", done.id))).await;
                    } else {
                        let _ = tx
                            .send(say(format!(
                                "Successfully built {}\n",
                                &done.id.hex()[..12]
                            )))
                            .await;
                        for t in tagged {
                            let _ = tx.send(say(format!("Successfully tagged {t}\n"))).await;
                        }
                    }
                    tracing::info!(image = %done.id, "built");
                }
                Err(f) => {
                    if quiet && !held.is_empty() {
                        let _ = tx.send(say(held)).await;
                    }
                    let _ = tx
                        .send(BuildEvent::Error {
                            message: f.error.message,
                            code: f.code,
                        })
                        .await;
                }
            }
        });
        Ok(tokio_stream_from(rx))
    }

    /// `POST /build/prune`: forgets every cache entry (the step images stay until pruned
    /// as images).
    pub async fn prune_build_cache(&self) -> Result<u64> {
        self.blocking(|s| Ok(s.build_cache_clear()?)).await
    }
}

fn tokio_stream_from(mut rx: mpsc::Receiver<BuildEvent>) -> BoxStream<'static, BuildEvent> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
