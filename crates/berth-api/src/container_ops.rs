//! `POST /containers/{id}/pause`, `/unpause`, `/rename` and `GET /containers/{id}/top`
//! (trace 28_lifecycle), and `POST /containers/prune`.

use crate::backend::Backends;
use crate::error::{json_ok, no_content, ApiResult};
use crate::query::Query;
use axum::extract::{Path, RawQuery, State};
use berth_model::api::parse_filters;
use berth_model::Error;
use serde::Serialize;

pub(crate) async fn pause(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    b.container_ops.pause(&id).await?;
    no_content()
}

pub(crate) async fn unpause(State(b): State<Backends>, Path(id): Path<String>) -> ApiResult {
    b.container_ops.unpause(&id).await?;
    no_content()
}

/// dockerd rejects an empty new name before looking the container up, with this message.
pub(crate) async fn rename(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let Some(name) = q.non_empty("name") else {
        return Err(Error::invalid("Neither old nor new names may be empty").into());
    };
    b.container_ops.rename(&id, &name).await?;
    no_content()
}

/// Go's `ContainerTopOKBody` declares `Processes` before `Titles`; the body is written in
/// that order so it matches dockerd's byte for byte.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TopBody<'a> {
    processes: &'a [Vec<String>],
    titles: &'a [String],
}

/// An empty `ps_args` means the default (`-ef`), which the backend applies.
pub(crate) async fn top(
    State(b): State<Backends>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let top = b.container_ops.top(&id, q.non_empty("ps_args")).await?;
    json_ok(&TopBody {
        processes: &top.processes,
        titles: &top.titles,
    })
}

/// `POST /containers/prune?filters=`: the backend checks which filters it accepts.
pub(crate) async fn prune(State(b): State<Backends>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let filters = parse_filters(q.get("filters").unwrap_or(""))?;
    json_ok(&b.container_ops.prune(filters).await?)
}
