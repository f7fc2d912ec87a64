//! What a build needs from the engine, as one trait: images, containers of the engine's own
//! runtime for RUN, image writes through the store, and the cache table. The engine
//! implements it; tests use a fake. Keeping the executor behind this seam lets it be tested
//! without root, and keeps the engine's container machinery in one place.

use async_trait::async_trait;
use berth_model::image::ImageConfig;
use berth_model::{Digest, Result};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// An image the build starts from or has made.
#[derive(Debug, Clone)]
pub struct HostImage {
    pub id: Digest,
    pub config: ImageConfig,
}

/// One RUN: the container's process and environment.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// Image the container runs on.
    pub image: Option<Digest>,
    /// The whole argv (SHELL + command for the shell form); no image ENTRYPOINT applies.
    pub argv: Vec<String>,
    /// `KEY=VALUE`: the config env, then the build args in effect.
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    /// `--network` of the build (`default`, `none`, `host`).
    pub network_mode: Option<String>,
    /// `--add-host` entries (`name:ip`).
    pub extra_hosts: Vec<String>,
}

/// A read-only view of an image's filesystem, released on drop.
pub trait ImageRoot: Send + Sync {
    fn path(&self) -> &Path;
}

/// A directory that lives for one build (context, layer spools), removed on drop.
pub trait ScratchDir: Send + Sync {
    fn path(&self) -> &Path;
}

#[async_trait]
pub trait BuildHost: Send + Sync {
    /// A local image by reference or ID; `None` when there is none.
    async fn image(&self, reference: &str) -> Result<Option<HostImage>>;

    /// Fetches an image from its registry (FROM with `--pull`, or a missing base).
    async fn pull(&self, reference: &str) -> Result<HostImage>;

    /// Whether image `id` still exists (a cache entry may outlive its image).
    async fn image_exists(&self, id: &Digest) -> bool;

    /// Creates the RUN container; returns its ID.
    async fn create_run(&self, spec: RunSpec) -> Result<String>;

    /// Starts it, sends its output (stdout and stderr, merged) to `output`, and returns
    /// its exit code once it has exited.
    async fn start_run(&self, container: &str, output: mpsc::Sender<Bytes>) -> Result<i64>;

    /// Commits the container's changes as a layer on its image. `config` is the new
    /// image's config; the host fills in `rootfs`. With `source_date_epoch`, file times
    /// in the layer are clamped to it.
    async fn commit_run(
        &self,
        container: &str,
        config: ImageConfig,
        source_date_epoch: Option<i64>,
    ) -> Result<Digest>;

    /// Removes a RUN container and its read-write layer.
    async fn remove_run(&self, container: &str) -> Result<()>;

    /// Writes an image on `parent`'s layers, plus `layer` (an uncompressed tar file) when
    /// given. The host fills in `config.rootfs`.
    async fn write_image(
        &self,
        parent: Option<&Digest>,
        layer: Option<&Path>,
        config: ImageConfig,
    ) -> Result<Digest>;

    /// Image `id`'s filesystem, for COPY (what exists at the destination), COPY --from,
    /// and `--chown` names.
    async fn image_root(&self, id: Option<&Digest>) -> Result<Box<dyn ImageRoot>>;

    /// A fresh scratch directory on the store's filesystem.
    async fn scratch(&self) -> Result<Box<dyn ScratchDir>>;

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    async fn cache_put(&self, entries: Vec<(String, Vec<u8>)>) -> Result<()>;

    /// Points `reference` at `id`.
    async fn tag(&self, id: &Digest, reference: &str) -> Result<()>;
}

/// A plain directory removed on drop, for hosts and tests that need nothing special.
pub struct TempDir(pub PathBuf);

impl ScratchDir for TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl ImageRoot for TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
