//! `/volumes`: create, list, inspect, remove, prune.

use crate::backend::Backends;
use crate::containers::{check_json_content_type, read_body};
use crate::error::{json_ok, json_response, no_content, ApiResult};
use crate::query::Query;
use async_trait::async_trait;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use berth_model::api::{
    parse_filters, Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};
use berth_model::{Error, ErrorKind, Result};
use std::collections::BTreeMap;

/// The volume verbs, as dockerd's volume router calls them.
#[async_trait]
pub trait VolumeBackend: Send + Sync {
    async fn create(&self, req: VolumeCreateRequest) -> Result<Volume>;
    /// Filters: `dangling`, `name`, `label`, `driver`.
    async fn list(&self, filters: BTreeMap<String, Vec<String>>) -> Result<VolumeListResponse>;
    async fn inspect(&self, name: &str) -> Result<Volume>;
    async fn remove(&self, name: &str, force: bool) -> Result<()>;
    /// Filters: `label`, `label!`, `all`.
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<VolumePruneResponse>;
}

/// A backend without volumes, for servers (and test fakes) that do not serve them.
pub struct NoVolumes;

fn unsupported() -> Error {
    Error::new(ErrorKind::NotImplemented, "volumes are not supported")
}

#[async_trait]
impl VolumeBackend for NoVolumes {
    async fn create(&self, _: VolumeCreateRequest) -> Result<Volume> {
        Err(unsupported())
    }
    async fn list(&self, _: BTreeMap<String, Vec<String>>) -> Result<VolumeListResponse> {
        Err(unsupported())
    }
    async fn inspect(&self, _: &str) -> Result<Volume> {
        Err(unsupported())
    }
    async fn remove(&self, _: &str, _: bool) -> Result<()> {
        Err(unsupported())
    }
    async fn prune(&self, _: BTreeMap<String, Vec<String>>) -> Result<VolumePruneResponse> {
        Err(unsupported())
    }
}

fn filters(q: &Query) -> Result<BTreeMap<String, Vec<String>>> {
    parse_filters(q.get("filters").unwrap_or(""))
}

/// `POST /volumes/create`: 201 with the volume.
pub(crate) async fn create(State(b): State<Backends>, req: Request) -> ApiResult {
    let (headers, bytes) = read_body(req).await?;
    check_json_content_type(&headers, &bytes)?;
    let r: VolumeCreateRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        VolumeCreateRequest::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?
    };
    let v = b.volumes.create(r).await?;
    Ok(json_response(StatusCode::CREATED, &v))
}

pub(crate) async fn list(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    json_ok(&b.volumes.list(filters(&q)?).await?)
}

pub(crate) async fn inspect(State(b): State<Backends>, Path(name): Path<String>) -> ApiResult {
    json_ok(&b.volumes.inspect(&name).await?)
}

pub(crate) async fn remove(
    State(b): State<Backends>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    b.volumes.remove(&name, q.bool("force")).await?;
    no_content()
}

pub(crate) async fn prune(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    json_ok(&b.volumes.prune(filters(&q)?).await?)
}
