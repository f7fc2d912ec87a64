//! `/networks`: list, inspect, create, remove, prune, connect, disconnect.

use crate::backend::Backends;
use crate::containers::{check_json_content_type, read_body};
use crate::error::{json_ok, json_response, no_content, ApiResult};
use crate::query::Query;
use async_trait::async_trait;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use berth_model::api::{
    parse_filters, EndpointConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest,
};
use berth_model::{Error, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// The network verbs, as dockerd's network router calls them. Bodies are Docker's JSON.
#[async_trait]
pub trait NetworkBackend: Send + Sync {
    async fn list(&self, filters: BTreeMap<String, Vec<String>>) -> Result<Vec<Value>>;
    async fn inspect(&self, id: &str) -> Result<Value>;
    /// `{"Id": ..., "Warning": ""}`.
    async fn create(&self, req: NetworkCreateRequest) -> Result<Value>;
    async fn remove(&self, id: &str) -> Result<()>;
    /// `{"NetworksDeleted": [...]}`.
    async fn prune(&self, filters: BTreeMap<String, Vec<String>>) -> Result<Value>;
    async fn connect(&self, id: &str, container: &str, cfg: Option<EndpointConfig>) -> Result<()>;
    async fn disconnect(&self, id: &str, container: &str, force: bool) -> Result<()>;
}

fn filters(q: &Query) -> Result<BTreeMap<String, Vec<String>>> {
    parse_filters(q.get("filters").unwrap_or(""))
}

async fn body<T: DeserializeOwned + Default>(req: Request) -> Result<T> {
    let (headers, bytes) = read_body(req).await?;
    check_json_content_type(&headers, &bytes)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

pub(crate) async fn list(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    json_ok(&b.networks.list(filters(&q)?).await?)
}

pub(crate) async fn inspect(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    json_ok(&b.networks.inspect(&id).await?)
}

pub(crate) async fn create(State(b): State<Backends>, req: Request) -> ApiResult {
    let r: NetworkCreateRequest = body(req).await?;
    let resp = b.networks.create(r).await?;
    Ok(json_response(StatusCode::CREATED, &resp))
}

pub(crate) async fn remove(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    b.networks.remove(&id).await?;
    no_content()
}

pub(crate) async fn prune(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    json_ok(&b.networks.prune(filters(&q)?).await?)
}

pub(crate) async fn connect(
    State(b): State<Backends>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let r: NetworkConnectRequest = body(req).await?;
    b.networks
        .connect(&id, &r.container, r.endpoint_config)
        .await?;
    Ok(axum::response::IntoResponse::into_response(StatusCode::OK))
}

pub(crate) async fn disconnect(
    State(b): State<Backends>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let r: NetworkDisconnectRequest = body(req).await?;
    b.networks.disconnect(&id, &r.container, r.force).await?;
    Ok(axum::response::IntoResponse::into_response(StatusCode::OK))
}

/// A backend without networks (tests of other resources): every verb is refused.
pub struct NoNetworks;

fn unsupported() -> Error {
    Error::new(
        berth_model::ErrorKind::NotImplemented,
        "networks are not supported by this backend",
    )
}

#[async_trait]
impl NetworkBackend for NoNetworks {
    async fn list(&self, _: BTreeMap<String, Vec<String>>) -> Result<Vec<Value>> {
        Err(unsupported())
    }
    async fn inspect(&self, _: &str) -> Result<Value> {
        Err(unsupported())
    }
    async fn create(&self, _: NetworkCreateRequest) -> Result<Value> {
        Err(unsupported())
    }
    async fn remove(&self, _: &str) -> Result<()> {
        Err(unsupported())
    }
    async fn prune(&self, _: BTreeMap<String, Vec<String>>) -> Result<Value> {
        Err(unsupported())
    }
    async fn connect(&self, _: &str, _: &str, _: Option<EndpointConfig>) -> Result<()> {
        Err(unsupported())
    }
    async fn disconnect(&self, _: &str, _: &str, _: bool) -> Result<()> {
        Err(unsupported())
    }
}
