//! Adapters from the API's backend traits to the engine. Kept here, not in either crate,
//! so `berth-api` and `berth-engine` stay independent and the wiring is explicit.

use async_trait::async_trait;
use berth_api::backend::{
    AttachIo, Backends, BodyReader, BuildBackend, BuildMessage, BuildOptions, ContainerBackend,
    ContainerOpsBackend, EventsBackend, ExecBackend, ImageBackend, ImportOptions, LogStream,
    OutputStream, SystemBackend,
};
use berth_engine::container::EngineAttach;
use berth_engine::images::ImportOpts;
use berth_engine::Engine;
use berth_model::api::{
    AttachOptions, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect,
    ContainerSummary, ContainerUpdateRequest, ContainerUpdateResponse, EventMessage, EventsOptions,
    ExecConfig, ExecInspect, ExecStartConfig, ImageInspect, ImageSummary, ListOptions, LogsOptions,
    StatsResponse, StdStream, TopResponse, Version, WaitResponse,
};
use berth_model::Result;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The engine, seen through the API's traits.
#[derive(Clone)]
pub struct Api(pub Arc<Engine>);

pub fn backends(engine: Arc<Engine>) -> Backends {
    let api = Arc::new(Api(engine));
    Backends {
        system: api.clone(),
        images: api.clone(),
        containers: api.clone(),
        exec: api.clone(),
        container_ops: api.clone(),
        events: api.clone(),
        volumes: api.clone(),
        networks: api.clone(),
        build: api,
    }
}

fn to_stream(rx: mpsc::Receiver<(StdStream, Bytes)>) -> OutputStream {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
        .boxed()
}

fn attach_io(a: EngineAttach) -> AttachIo {
    AttachIo {
        tty: a.tty,
        output: to_stream(a.output),
        input: a.input.map(|i| Box::pin(i) as _),
    }
}

#[async_trait]
impl SystemBackend for Api {
    async fn version(&self) -> Result<Version> {
        self.0.version()
    }
    async fn info(&self) -> Result<serde_json::Value> {
        self.0.info().await
    }
    async fn disk_usage(&self) -> Result<serde_json::Value> {
        self.0.disk_usage().await
    }
    async fn auth(&self, cfg: berth_model::api::AuthConfig) -> Result<serde_json::Value> {
        let (status, token) = self.0.login(cfg.into()).await?;
        Ok(serde_json::json!({
            "Status": status,
            "IdentityToken": token.unwrap_or_default(),
        }))
    }
}

#[async_trait]
impl ImageBackend for Api {
    async fn pull(
        &self,
        image: &str,
        auth: Option<berth_model::api::AuthConfig>,
    ) -> Result<berth_api::backend::ProgressStream> {
        self.0.pull(image, auth.map(Into::into)).await
    }
    async fn push(
        &self,
        image: &str,
        auth: Option<berth_model::api::AuthConfig>,
    ) -> Result<berth_api::backend::ProgressStream> {
        self.0.push(image, auth.map(Into::into)).await
    }
    async fn search(
        &self,
        term: &str,
        limit: Option<usize>,
        auth: Option<berth_model::api::AuthConfig>,
    ) -> Result<Vec<serde_json::Value>> {
        self.0.search(term, limit, auth.map(Into::into)).await
    }
    async fn import(&self, body: BodyReader, opts: ImportOptions) -> Result<String> {
        let opts = ImportOpts {
            repo: opts.repo,
            tag: opts.tag,
            message: opts.message,
            changes: opts.changes,
        };
        self.0.import_image(body, opts).await
    }
    async fn list(
        &self,
        all: bool,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<ImageSummary>> {
        self.0.list_images(all, filters).await
    }
    async fn inspect(&self, name: &str) -> Result<ImageInspect> {
        self.0.inspect_image(name).await
    }
    async fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        self.0.tag_image(name, repo, tag).await
    }
    async fn remove(&self, name: &str, force: bool, noprune: bool) -> Result<serde_json::Value> {
        serde_json::to_value(self.0.delete_image(name, force, noprune).await?)
            .map_err(|e| berth_model::Error::internal(e.to_string()))
    }
    async fn history(&self, name: &str) -> Result<serde_json::Value> {
        serde_json::to_value(self.0.image_history(name).await?)
            .map_err(|e| berth_model::Error::internal(e.to_string()))
    }
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<serde_json::Value> {
        serde_json::to_value(self.0.prune_images(filters).await?)
            .map_err(|e| berth_model::Error::internal(e.to_string()))
    }
    async fn save(
        &self,
        names: Vec<String>,
    ) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>> {
        self.0.save_images(names).await
    }
    async fn load(&self, body: BodyReader) -> Result<Vec<String>> {
        self.0.load_images(body).await
    }
    async fn commit(
        &self,
        container: &str,
        opts: berth_api::backend::CommitOptions,
    ) -> Result<String> {
        let opts = berth_engine::container::CommitOpts {
            repo: opts.repo,
            tag: opts.tag,
            comment: opts.comment,
            author: opts.author,
            pause: opts.pause,
            changes: opts.changes,
            config: opts.config,
        };
        self.0.commit(container, opts).await
    }
}

#[async_trait]
impl ContainerBackend for Api {
    async fn create(
        &self,
        name: Option<String>,
        req: ContainerCreateRequest,
    ) -> Result<ContainerCreateResponse> {
        self.0.create(name, req).await
    }
    async fn start(&self, id: &str) -> Result<()> {
        self.0.start(id).await
    }
    async fn wait(&self, id: &str, condition: &str) -> Result<BoxFuture<'static, WaitResponse>> {
        self.0.wait(id, condition).await
    }
    async fn attach(&self, id: &str, opts: AttachOptions) -> Result<AttachIo> {
        Ok(attach_io(self.0.attach(id, opts).await?))
    }
    async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        self.0.resize(id, height, width).await
    }
    async fn logs(&self, id: &str, opts: LogsOptions) -> Result<LogStream> {
        let l = self.0.logs(id, opts).await?;
        Ok(LogStream {
            tty: l.tty,
            output: to_stream(l.output),
        })
    }
    async fn kill(&self, id: &str, signal: Option<String>) -> Result<()> {
        self.0.kill(id, signal).await
    }
    async fn stop(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()> {
        self.0.stop(id, timeout, signal).await
    }
    async fn restart(&self, id: &str, timeout: Option<i64>, signal: Option<String>) -> Result<()> {
        self.0.restart(id, timeout, signal).await
    }
    async fn inspect(&self, id: &str) -> Result<ContainerInspect> {
        self.0.inspect(id).await
    }
    async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        self.0.list(opts).await
    }
    async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        self.0.remove(id, force, volumes).await
    }
}

#[async_trait]
impl ExecBackend for Api {
    async fn create(&self, container: &str, cfg: ExecConfig) -> Result<String> {
        self.0.exec_create(container, cfg).await
    }
    async fn start(&self, exec_id: &str, cfg: ExecStartConfig) -> Result<AttachIo> {
        Ok(attach_io(self.0.exec_start(exec_id, cfg).await?))
    }
    async fn resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        self.0.exec_resize(exec_id, height, width).await
    }
    async fn inspect(&self, exec_id: &str) -> Result<ExecInspect> {
        self.0.exec_inspect(exec_id).await
    }
}

#[async_trait]
impl ContainerOpsBackend for Api {
    async fn pause(&self, id: &str) -> Result<()> {
        self.0.pause(id).await
    }
    async fn unpause(&self, id: &str) -> Result<()> {
        self.0.unpause(id).await
    }
    async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.0.rename(id, new_name).await
    }
    async fn top(&self, id: &str, ps_args: Option<String>) -> Result<TopResponse> {
        self.0.top(id, ps_args).await
    }
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<serde_json::Value> {
        serde_json::to_value(self.0.prune_containers(filters).await?)
            .map_err(|e| berth_model::Error::internal(e.to_string()))
    }
    async fn stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<futures_util::stream::BoxStream<'static, StatsResponse>> {
        self.0.stats(id, stream, one_shot).await
    }
    async fn update(
        &self,
        id: &str,
        req: ContainerUpdateRequest,
    ) -> Result<ContainerUpdateResponse> {
        self.0.update(id, req).await
    }
    async fn export(
        &self,
        id: &str,
    ) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>> {
        self.0.export(id).await
    }
    async fn changes(&self, id: &str) -> Result<Vec<berth_api::backend::FilesystemChange>> {
        let list = self.0.changes(id).await?;
        Ok(list
            .into_iter()
            .map(|c| berth_api::backend::FilesystemChange {
                path: c.path,
                kind: c.kind,
            })
            .collect())
    }
    async fn archive_stat(
        &self,
        id: &str,
        path: &str,
    ) -> Result<berth_api::backend::ContainerPathStat> {
        Ok(path_stat(self.0.archive_stat(id, path).await?))
    }
    async fn archive_get(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(
        berth_api::backend::ContainerPathStat,
        futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>,
    )> {
        let (stat, tar) = self.0.archive_get(id, path).await?;
        Ok((path_stat(stat), tar))
    }
    async fn archive_put(
        &self,
        id: &str,
        path: &str,
        opts: berth_api::backend::ArchivePutOptions,
        body: BodyReader,
    ) -> Result<()> {
        let opts = berth_engine::container::PutArchiveOptions {
            no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
            copy_uid_gid: opts.copy_uid_gid,
        };
        self.0.archive_put(id, path, opts, body).await
    }
}

fn path_stat(s: berth_archive::copy::PathStat) -> berth_api::backend::ContainerPathStat {
    berth_api::backend::ContainerPathStat {
        name: s.name,
        size: s.size,
        mode: s.mode,
        mtime_secs: s.mtime_secs,
        mtime_nanos: s.mtime_nanos,
        link_target: s.link_target,
    }
}

#[async_trait]
impl EventsBackend for Api {
    async fn events(
        &self,
        opts: EventsOptions,
    ) -> Result<futures_util::stream::BoxStream<'static, EventMessage>> {
        self.0.events(opts).await
    }
}

#[async_trait]
impl BuildBackend for Api {
    async fn build(
        &self,
        context: BodyReader,
        opts: BuildOptions,
    ) -> Result<futures_util::stream::BoxStream<'static, BuildMessage>> {
        use berth_engine::build::{BuildEvent, BuildRequest};
        let req = BuildRequest {
            options: berth_builder::BuildOptions {
                tags: opts.tags,
                build_args: opts.build_args,
                no_cache: opts.no_cache,
                pull: opts.pull,
                labels: opts.labels,
                target: opts.target,
                network_mode: opts.network_mode,
                extra_hosts: opts.extra_hosts,
            },
            dockerfile: Some(opts.dockerfile),
            quiet: opts.quiet,
        };
        let events = self.0.build(context, req).await?;
        Ok(events
            .map(|e| match e {
                BuildEvent::Message(berth_builder::BuildMessage::Stream(s)) => {
                    BuildMessage::Stream(s)
                }
                BuildEvent::Message(berth_builder::BuildMessage::Aux(v)) => BuildMessage::Aux(v),
                BuildEvent::Error { message, code } => BuildMessage::Error {
                    message,
                    code: Some(code),
                },
            })
            .boxed())
    }

    async fn prune_cache(&self, _all: bool) -> Result<serde_json::Value> {
        let n = self.0.prune_build_cache().await?;
        Ok(serde_json::json!({ "CachesDeleted": null, "SpaceReclaimed": 0, "EntriesDeleted": n }))
    }
}

#[async_trait]
impl berth_api::networks::NetworkBackend for Api {
    async fn list(&self, filters: BTreeMap<String, Vec<String>>) -> Result<Vec<serde_json::Value>> {
        self.0.network_list(filters).await
    }
    async fn inspect(&self, id: &str) -> Result<serde_json::Value> {
        self.0.network_inspect(id).await
    }
    async fn create(
        &self,
        req: berth_model::api::NetworkCreateRequest,
    ) -> Result<serde_json::Value> {
        self.0.network_create(req).await
    }
    async fn remove(&self, id: &str) -> Result<()> {
        self.0.network_remove(id).await
    }
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<serde_json::Value> {
        self.0.network_prune(filters).await
    }
    async fn connect(
        &self,
        id: &str,
        container: &str,
        cfg: Option<berth_model::api::EndpointConfig>,
    ) -> Result<()> {
        self.0.network_connect(id, container, cfg).await
    }
    async fn disconnect(&self, id: &str, container: &str, force: bool) -> Result<()> {
        self.0.network_disconnect(id, container, force).await
    }
}

#[async_trait]
impl berth_api::volumes::VolumeBackend for Api {
    async fn create(
        &self,
        req: berth_model::api::VolumeCreateRequest,
    ) -> Result<berth_model::api::Volume> {
        self.0.create_volume(req).await
    }
    async fn list(
        &self,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<berth_model::api::VolumeListResponse> {
        self.0.list_volumes(filters).await
    }
    async fn inspect(&self, name: &str) -> Result<berth_model::api::Volume> {
        self.0.inspect_volume(name).await
    }
    async fn remove(&self, name: &str, force: bool) -> Result<()> {
        self.0.remove_volume(name, force).await
    }
    async fn prune(
        &self,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<berth_model::api::VolumePruneResponse> {
        self.0.prune_volumes(filters).await
    }
}
