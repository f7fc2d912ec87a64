//! The backend traits the HTTP layer calls. The engine implements them; `berthd` wires the
//! two together, so this crate never depends on the engine.

use async_trait::async_trait;
use berth_model::api::{
    AttachOptions, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect,
    ContainerSummary, ContainerUpdateRequest, ContainerUpdateResponse, EventMessage, EventsOptions,
    ExecConfig, ExecInspect, ExecStartConfig, ImageInspect, ImageSummary, ListOptions, LogsOptions,
    StatsResponse, StdStream, TopResponse, Version, WaitResponse,
};
use berth_model::Result;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use std::collections::BTreeMap;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};

/// A request body handed to the backend as a byte stream.
pub type BodyReader = Pin<Box<dyn AsyncRead + Send>>;

/// Output of a container: chunks tagged with the stream they came from. With a TTY every
/// chunk is `Stdout`, and the API sends it raw instead of multiplexed.
pub type OutputStream = BoxStream<'static, (StdStream, Bytes)>;

/// The two halves of an attach session.
pub struct AttachIo {
    pub tty: bool,
    /// Ends when the container's output closes (it exited) or the session is detached.
    pub output: OutputStream,
    /// The container's stdin, present when the client asked for it and the container was
    /// created with `OpenStdin`. Shutting it down closes stdin when `StdinOnce` is set.
    pub input: Option<Pin<Box<dyn AsyncWrite + Send>>>,
}

/// A log stream and whether it came from a TTY (raw framing).
pub struct LogStream {
    pub tty: bool,
    pub output: OutputStream,
}

/// `POST /images/create?fromSrc=-` parameters.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions applied to the config (`changes=CMD ["sh"]`).
    pub changes: Vec<String>,
}

/// `POST /commit` parameters.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub pause: bool,
    pub changes: Vec<String>,
    /// The request body: config fields that override the container's.
    pub config: Option<berth_model::api::ContainerConfig>,
}

#[async_trait]
pub trait SystemBackend: Send + Sync {
    async fn version(&self) -> Result<Version>;
    /// `GET /info` as JSON (many fields, few acted on: kept loose on purpose).
    async fn info(&self) -> Result<serde_json::Value>;
    /// `POST /auth`: checks credentials against the registry; `{"Status": "Login
    /// Succeeded", "IdentityToken": ""}`.
    async fn auth(&self, cfg: berth_model::api::AuthConfig) -> Result<serde_json::Value> {
        let _ = cfg;
        Err(berth_model::Error::new(
            berth_model::ErrorKind::NotImplemented,
            "registry login is not supported",
        ))
    }
    /// `GET /system/df` as JSON, dockerd's shape (`LayersSize`, `Images`, `Containers`,
    /// `Volumes`, `BuildCache`).
    async fn disk_usage(&self) -> Result<serde_json::Value> {
        Err(berth_model::Error::new(
            berth_model::ErrorKind::NotImplemented,
            "disk usage is not supported",
        ))
    }
}

/// A stream of dockerd's JSON progress messages (`status`, `progressDetail`, `id`, `aux`,
/// and `errorDetail`/`error` last on failure), each written as it comes.
pub type ProgressStream = BoxStream<'static, serde_json::Value>;

#[async_trait]
pub trait ImageBackend: Send + Sync {
    /// `POST /images/create?fromImage=`: pulls `image` (a normalised reference with tag or
    /// digest). An error before the stream starts is an ordinary error status.
    async fn pull(
        &self,
        image: &str,
        auth: Option<berth_model::api::AuthConfig>,
    ) -> Result<ProgressStream> {
        let _ = auth;
        Err(image_verb_unsupported("pull", image))
    }
    /// `POST /images/{name}/push?tag=`.
    async fn push(
        &self,
        image: &str,
        auth: Option<berth_model::api::AuthConfig>,
    ) -> Result<ProgressStream> {
        let _ = auth;
        Err(image_verb_unsupported("push", image))
    }
    /// `GET /images/search?term=&limit=`: Docker's result objects.
    async fn search(
        &self,
        term: &str,
        limit: Option<usize>,
        auth: Option<berth_model::api::AuthConfig>,
    ) -> Result<Vec<serde_json::Value>> {
        let _ = (limit, auth);
        Err(image_verb_unsupported("search", term))
    }
    /// Imports a rootfs tar (optionally gzip/zstd) as a one-layer image; returns its ID.
    async fn import(&self, body: BodyReader, opts: ImportOptions) -> Result<String>;
    async fn list(
        &self,
        all: bool,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<ImageSummary>>;
    async fn inspect(&self, name: &str) -> Result<ImageInspect>;
    /// `POST /images/{name}/tag`; `tag` may be empty (the repo may carry it).
    async fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        let _ = (repo, tag);
        Err(image_verb_unsupported("tag", name))
    }
    /// `DELETE /images/{name}`: dockerd's `[{"Untagged": ...}, {"Deleted": ...}]`, kept as
    /// JSON so the engine owns the shape.
    async fn remove(&self, name: &str, force: bool, noprune: bool) -> Result<serde_json::Value> {
        let _ = (force, noprune);
        Err(image_verb_unsupported("delete", name))
    }
    /// `GET /images/{name}/history`, newest entry first.
    async fn history(&self, name: &str) -> Result<serde_json::Value> {
        Err(image_verb_unsupported("history", name))
    }
    /// `GET /images/get`: one archive (Docker archive + OCI layout) of all the images.
    async fn save(&self, names: Vec<String>) -> Result<BoxStream<'static, std::io::Result<Bytes>>> {
        Err(image_verb_unsupported("save", &names.join(" ")))
    }
    /// `POST /images/load`: the lines to report (`Loaded image: busybox:latest`).
    async fn load(&self, body: BodyReader) -> Result<Vec<String>> {
        let _ = body;
        Err(image_verb_unsupported("load", "archive"))
    }
    /// `POST /commit`: the new image's ID.
    async fn commit(&self, container: &str, opts: CommitOptions) -> Result<String> {
        let _ = opts;
        Err(image_verb_unsupported("commit", container))
    }
    /// `POST /images/prune`: `{"ImagesDeleted": [...], "SpaceReclaimed": N}`.
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<serde_json::Value> {
        let _ = filters;
        Err(image_verb_unsupported("prune", "images"))
    }
}

/// The defaults above: backends that serve only import and inspect need not care.
fn image_verb_unsupported(verb: &str, name: &str) -> berth_model::Error {
    berth_model::Error::new(
        berth_model::ErrorKind::NotImplemented,
        format!("image {verb} is not supported: {name}"),
    )
}

#[async_trait]
pub trait ContainerBackend: Send + Sync {
    async fn create(
        &self,
        name: Option<String>,
        req: ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse>;
    /// `Err(NotModified)` when already running.
    async fn start(&self, id: &str) -> Result<()>;
    /// Checks the container now (so a 404 comes before any header is sent); the returned
    /// future resolves when `condition` (`not-running`, `next-exit`, `removed`) is met.
    async fn wait(&self, id: &str, condition: &str) -> Result<BoxFuture<'static, WaitResponse>>;
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<AttachIo>;
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()>;
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream>;
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()>;
    /// `Err(NotModified)` when already stopped.
    async fn stop(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()>;
    async fn restart(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()>;
    async fn inspect(&self, id: &str) -> Result<ContainerInspect>;
    async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>>;
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()>;
}

#[async_trait]
pub trait ExecBackend: Send + Sync {
    /// `POST /containers/{id}/exec`: records the exec (not run yet); returns its ID.
    /// Conflict when the container is not running (`Container <id> is not running`) or
    /// paused (`Container <id> is paused, unpause the container before exec`).
    async fn create(&self, container: &str, cfg: ExecConfig) -> Result<String>;
    /// `POST /exec/{id}/start`: runs it. With `detach` the output is discarded and the
    /// returned session's output ends at once; otherwise the output ends when the process
    /// exits (after all of it was sent). `tty` says which framing to use.
    async fn start(&self, exec_id: &str, cfg: ExecStartConfig) -> Result<AttachIo>;
    async fn resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()>;
    async fn inspect(&self, exec_id: &str) -> Result<ExecInspect>;
}

/// Container verbs beyond the skeleton's: pause, rename, top, stats, update.
#[async_trait]
pub trait ContainerOpsBackend: Send + Sync {
    async fn pause(&self, id: &str) -> Result<()>;
    async fn unpause(&self, id: &str) -> Result<()>;
    async fn rename(&self, id: &str, new_name: &str) -> Result<()>;
    /// `ps_args` as given to `docker top` (default `-ef`).
    async fn top(&self, id: &str, ps_args: Option<String>) -> Result<TopResponse>;
    /// Checks the container now (a 404 before any header). Without `stream` the stream
    /// holds one sample; with it one per second until the container is removed.
    async fn stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, StatsResponse>>;
    async fn update(
        &self,
        id: &str,
        req: ContainerUpdateRequest,
    ) -> Result<ContainerUpdateResponse>;
    /// `GET /containers/{id}/export`: the flattened filesystem as a tar, produced as it is
    /// read. Checks the container first (a 404 before any header); an error inside the
    /// stream aborts the response. Defaulted so backends without a filesystem need not care.
    async fn export(&self, id: &str) -> Result<BoxStream<'static, std::io::Result<Bytes>>> {
        Err(berth_model::Error::new(
            berth_model::ErrorKind::NotImplemented,
            format!("export of container {id} is not supported"),
        ))
    }
    /// `POST /containers/prune`: `{"ContainersDeleted": [...] or null, "SpaceReclaimed": N}`,
    /// kept as JSON so the engine owns the shape.
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<serde_json::Value> {
        let _ = filters;
        Err(berth_model::Error::new(
            berth_model::ErrorKind::NotImplemented,
            "container prune is not supported",
        ))
    }
    /// `GET /containers/{id}/changes`, sorted by path.
    async fn changes(&self, id: &str) -> Result<Vec<FilesystemChange>> {
        Err(berth_model::Error::new(
            berth_model::ErrorKind::NotImplemented,
            format!("changes of container {id} are not supported"),
        ))
    }
    /// `HEAD /containers/{id}/archive?path=`: the path's stat, a final symlink not followed.
    async fn archive_stat(&self, id: &str, path: &str) -> Result<ContainerPathStat> {
        let _ = path;
        Err(archive_unsupported(id))
    }
    /// `GET /containers/{id}/archive?path=`: the stat (sent as a header) and a tar of the
    /// path, produced as it is read. Errors before the stream get a status.
    async fn archive_get(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(
        ContainerPathStat,
        BoxStream<'static, std::io::Result<Bytes>>,
    )> {
        let _ = path;
        Err(archive_unsupported(id))
    }
    /// `PUT /containers/{id}/archive?path=DIR`: extracts the tar body into `DIR`.
    async fn archive_put(
        &self,
        id: &str,
        path: &str,
        opts: ArchivePutOptions,
        body: BodyReader,
    ) -> Result<()> {
        let _ = (path, opts, body);
        Err(archive_unsupported(id))
    }
}

fn archive_unsupported(id: &str) -> berth_model::Error {
    berth_model::Error::new(
        berth_model::ErrorKind::NotImplemented,
        format!("copying files of container {id} is not supported"),
    )
}

/// dockerd's `ContainerPathStat`, sent base64-encoded in `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits (`1 << 31` directory, `1 << 27` symlink, ...).
    pub mode: u32,
    pub mtime_secs: i64,
    pub mtime_nanos: u32,
    pub link_target: String,
}

/// `PUT /containers/{id}/archive` query flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchivePutOptions {
    pub no_overwrite_dir_non_dir: bool,
    pub copy_uid_gid: bool,
}

/// One entry of `GET /containers/{id}/changes`: `Kind` 0 modified, 1 added, 2 deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilesystemChange {
    pub path: String,
    pub kind: u8,
}

#[async_trait]
pub trait EventsBackend: Send + Sync {
    /// Past events in `[since, until]` from the engine's recent-events buffer, then (when
    /// `until` is unset or in the future) live ones as they happen; filtered by `filters`
    /// (container, image, event, type, label) in the backend. The stream ends at `until`.
    async fn events(&self, opts: EventsOptions) -> Result<BoxStream<'static, EventMessage>>;
}

/// `POST /build` parameters, dockerd's legacy builder options as the query carries them.
/// `Default` gives `rm: false`; only the query parser applies dockerd's `rm` default (true).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `t`, repeated; validated as references, empty ones dropped, order kept.
    pub tags: Vec<String>,
    /// Path of the Dockerfile inside the context (`Dockerfile` when not given).
    pub dockerfile: String,
    /// `None` is `--build-arg NAME` with NAME unset on the client: the builder still needs
    /// to know it was named, to warn when no `ARG` consumes it.
    pub build_args: BTreeMap<String, Option<String>>,
    pub no_cache: bool,
    pub rm: bool,
    pub force_rm: bool,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub pull: bool,
    pub quiet: bool,
    pub cache_from: Vec<String>,
    pub platform: Option<String>,
    /// A remote context (git URL, tarball URL); the request body is then empty.
    pub remote: Option<String>,
    pub extra_hosts: Vec<String>,
    pub network_mode: Option<String>,
    pub shm_size: Option<i64>,
    pub memory: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub squash: bool,
}

/// One message of dockerd's JSON build stream.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildMessage {
    /// Output text, sent as is (`Step 1/3 : FROM busybox`, a RUN's output, ...).
    Stream(String),
    /// Machine-readable side data; the legacy builder sends `{"ID": "sha256:..."}` last.
    Aux(serde_json::Value),
    /// The build failed after it started; the stream should end after it.
    /// A failure; `code` (a failing RUN's exit code) is what the docker CLI exits with.
    Error { message: String, code: Option<i64> },
}

#[async_trait]
pub trait BuildBackend: Send + Sync {
    /// Starts a build and returns its messages as they happen. The backend reads `context`
    /// (the tar, possibly compressed) itself, so a big context is never held in memory by
    /// the HTTP layer. An `Err` returned here, before any message, becomes an ordinary
    /// error status; once the stream has begun the status is 200 and failures are
    /// [`BuildMessage::Error`].
    async fn build(
        &self,
        context: BodyReader,
        opts: BuildOptions,
    ) -> Result<BoxStream<'static, BuildMessage>>;
    /// `POST /build/prune`: `{"CachesDeleted": [...], "SpaceReclaimed": N}`. Defaulted so
    /// a builder without a cache has nothing to prune.
    async fn prune_cache(&self, all: bool) -> Result<serde_json::Value> {
        let _ = all;
        Ok(serde_json::json!({ "CachesDeleted": null, "SpaceReclaimed": 0 }))
    }
}

/// Everything the router needs, bundled so `berthd` passes one value.
#[derive(Clone)]
pub struct Backends {
    pub system: std::sync::Arc<dyn SystemBackend>,
    pub images: std::sync::Arc<dyn ImageBackend>,
    pub containers: std::sync::Arc<dyn ContainerBackend>,
    pub exec: std::sync::Arc<dyn ExecBackend>,
    pub container_ops: std::sync::Arc<dyn ContainerOpsBackend>,
    pub events: std::sync::Arc<dyn EventsBackend>,
    pub build: std::sync::Arc<dyn BuildBackend>,
    pub volumes: std::sync::Arc<dyn crate::volumes::VolumeBackend>,
    pub networks: std::sync::Arc<dyn crate::networks::NetworkBackend>,
}
