//! `POST /commit`: a container's read-write layer becomes a new image on top of its own.

use super::Status;
use crate::images::apply_change;
use crate::Engine;
use berth_model::api::ContainerConfig;
use berth_model::image::{History, ImageConfig, ImageRunConfig};
use berth_model::{Digest, Error, Reference, Result};
use berth_store::{LayerExpect, LayerSource};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// `commit` options, as the query string gives them.
#[derive(Debug, Clone, Default)]
pub struct CommitOpts {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Freeze a running container while its layer is read (dockerd's default).
    pub pause: bool,
    /// Dockerfile instructions applied to the new image's config (`-c`).
    pub changes: Vec<String>,
    /// Config fields from the request body; they override the container's.
    pub config: Option<ContainerConfig>,
}

/// The image's run config: the container's, with the request body's fields over it.
fn run_config(c: &ContainerConfig, over: Option<&ContainerConfig>) -> ImageRunConfig {
    let pick_vec = |a: &Option<Vec<String>>, b: Option<&Option<Vec<String>>>| {
        b.and_then(|v| v.clone()).or_else(|| a.clone())
    };
    let pick_str = |a: &String, b: Option<&String>| {
        b.filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| a.clone())
    };
    ImageRunConfig {
        user: pick_str(&c.user, over.map(|o| &o.user)),
        exposed_ports: over
            .and_then(|o| o.exposed_ports.clone())
            .or_else(|| c.exposed_ports.clone()),
        env: pick_vec(&c.env, over.map(|o| &o.env)),
        entrypoint: pick_vec(&c.entrypoint, over.map(|o| &o.entrypoint)),
        cmd: pick_vec(&c.cmd, over.map(|o| &o.cmd)),
        volumes: over
            .and_then(|o| o.volumes.clone())
            .or_else(|| c.volumes.clone()),
        working_dir: pick_str(&c.working_dir, over.map(|o| &o.working_dir)),
        labels: over
            .and_then(|o| o.labels.clone())
            .or_else(|| c.labels.clone()),
        stop_signal: over
            .and_then(|o| o.stop_signal.clone())
            .or_else(|| c.stop_signal.clone())
            .unwrap_or_default(),
        healthcheck: over
            .and_then(|o| o.healthcheck.clone())
            .or_else(|| c.healthcheck.clone())
            .and_then(|h| serde_json::to_value(h).ok()),
        shell: None,
        on_build: pick_vec(&c.on_build, over.map(|o| &o.on_build)),
    }
}

/// Hashes what it writes: an uncompressed layer's digest is its diff ID.
struct HashingWriter<W> {
    inner: W,
    hasher: berth_model::digest::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes container `id`'s read-write layer as a new layer on image `parent`, with
/// `config` (its `rootfs` is filled in here). Shared by `commit` and build's RUN steps.
pub(crate) fn image_from_rw_layer(
    s: &berth_store::Store,
    id: &str,
    parent: &Digest,
    mut config: ImageConfig,
) -> Result<berth_store::ImageRecord> {
    let spec = s.rw_mount(id)?;
    let mut w = s.image_writer_on(parent)?;
    // The layer goes to a file first: its digest is then known before anything is
    // unpacked, so committing content the store already has unpacks nothing.
    let scratch = s.scratch_dir()?;
    let path = scratch.path().join("layer.tar");
    let file = std::fs::File::create(&path)
        .map_err(|e| Error::internal(format!("create {}: {e}", path.display())))?;
    let mut out = HashingWriter {
        inner: std::io::BufWriter::with_capacity(256 * 1024, file),
        hasher: berth_model::digest::Hasher::new(),
    };
    berth_archive::write_layer_tar(&spec.upper, super::export::RUNTIME_PATHS, &mut out)
        .and_then(|o| o.inner.flush())
        .map_err(|e| {
            Error::internal(format!("read the read-write layer of container {id}: {e}"))
        })?;
    let digest = out.hasher.finish();
    w.add_layer(
        LayerSource::File(path),
        LayerExpect {
            digest: Some(digest.clone()),
            diff_id: Some(digest),
        },
    )?;
    config.rootfs.diff_ids = w.diff_ids();
    Ok(w.finish(&config.to_bytes(), None)?)
}

impl Engine {
    /// Commits container `id_or_name`; returns the new image's ID (`sha256:...`).
    pub async fn commit(self: &Arc<Self>, id_or_name: &str, opts: CommitOpts) -> Result<String> {
        let reference = match opts.repo.as_deref().filter(|r| !r.is_empty()) {
            Some(repo) => {
                let full = match opts.tag.as_deref().filter(|t| !t.is_empty()) {
                    Some(t) => format!("{repo}:{t}"),
                    None => repo.to_string(),
                };
                let r = Reference::parse_normalized(&full)
                    .map_err(|e| Error::invalid(e.to_string()))?;
                if r.digest.is_some() {
                    return Err(Error::invalid(
                        "cannot commit to a digest reference, use a tag",
                    ));
                }
                Some(r)
            }
            None => None,
        };
        let c = self.get(id_or_name)?;
        // Start, stop and remove wait until the layer is read.
        let _op = c.op.lock().await;
        let rec = c.record();
        let parent: Digest = rec
            .image_id
            .parse()
            .map_err(|_| Error::internal(format!("container {} has no image", c.id)))?;
        let parent_img = {
            let p = parent.clone();
            self.blocking(move |s| s.image(&p).map_err(Error::from))
                .await
                .map_err(|_| {
                    Error::not_found(format!(
                        "the image of container {} ({parent}) no longer exists",
                        c.id
                    ))
                })?
        };

        let mut run = run_config(&rec.config, opts.config.as_ref());
        for ch in &opts.changes {
            apply_change(&mut run, ch)?;
        }
        let created = super::now_rfc3339();
        let mut history = parent_img.config.history.clone();
        history.push(History {
            created: Some(created.clone()),
            created_by: Some(
                std::iter::once(rec.path.clone())
                    .chain(rec.args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            author: opts.author.clone().filter(|a| !a.is_empty()),
            comment: opts.comment.clone().filter(|m| !m.is_empty()),
            empty_layer: false,
        });
        let config = ImageConfig {
            created: Some(created),
            author: opts.author.clone().filter(|a| !a.is_empty()),
            config: run,
            history,
            comment: opts.comment.clone().filter(|m| !m.is_empty()),
            docker_version: Some(crate::system::ENGINE_VERSION.into()),
            ..parent_img.config.clone()
        };

        let frozen = opts.pause && c.lock().record.state.status == Status::Running;
        if frozen {
            let shim = c
                .shim()
                .ok_or_else(|| Error::conflict(format!("Container {} is not running", c.id)))?;
            self.stop_health(&c).await;
            if let Err(e) = shim.pause().await {
                self.resume_health(&c);
                return Err(Error::new(e.kind(), e.to_string()));
            }
        }
        let id = c.id.clone();
        let result = self
            .blocking(move |s| image_from_rw_layer(s, &id, &parent, config))
            .await;
        if frozen {
            if let Some(shim) = c.shim() {
                if let Err(e) = shim.resume().await {
                    tracing::warn!(container = %c.id, "cannot thaw after commit: {e}");
                }
            }
            self.resume_health(&c);
        }
        let record = result?;
        drop(_op);
        if let Some(r) = &reference {
            let (r2, img) = (r.clone(), record.id.clone());
            self.blocking(move |s| s.tag(&r2, &img).map_err(Error::from))
                .await?;
        }
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "comment".to_string(),
            opts.comment.clone().unwrap_or_default(),
        );
        attrs.insert("imageID".to_string(), record.id.to_string());
        attrs.insert(
            "imageRef".to_string(),
            reference.as_ref().map(|r| r.familiar()).unwrap_or_default(),
        );
        let attrs: Vec<(&str, String)> =
            attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        self.emit_container(&c, "commit", &attrs);
        if let Some(r) = &reference {
            let mut a = BTreeMap::new();
            a.insert("name".to_string(), r.familiar());
            self.emit("image", "tag", &record.id.to_string(), a);
        }
        tracing::info!(container = %c.id, image = %record.id, "committed");
        Ok(record.id.to_string())
    }
}
