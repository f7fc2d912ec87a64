//! Route table, API version prefix handling and the headers every response carries.

use crate::backend::Backends;
use crate::error::{error_response, not_found_page};
use crate::{
    archive, attach, build, container_ops, containers, distribution, events, exec, filesystem,
    image_archive, images, lifecycle, logs, networks, stats, system, volumes, SERVER_HEADER,
};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use berth_model::api::{API_VERSION, MIN_API_VERSION};
use berth_model::Error;
use hyper::service::Service as _;
use hyper_util::service::TowerToHyperService;
use std::cmp::Ordering;

/// The API version a request was made with (from its `/vX.Y` prefix, else the newest),
/// kept in the request extensions for handlers whose behaviour changed between versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion(pub String);

impl ApiVersion {
    /// Whether this request's version is `v` or newer.
    pub fn at_least(&self, v: &str) -> bool {
        compare_versions(&self.0, v) != Ordering::Less
    }
}

/// Go's `versions.compare`: dot-separated numbers, missing parts count as 0.
fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).copied().unwrap_or(0),
            pb.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

/// Splits `/v1.41/containers/json` into `("1.41", "/containers/json")`; dockerd's mux
/// accepts `v` followed by digits and dots only.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (ver, tail) = rest.split_at(end);
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((ver, tail))
}

/// The whole Docker Engine API served by Berth, versioned and unversioned.
///
/// Versions are handled before routing (axum middleware added with `layer` would run after
/// it), by an outer router whose only route is a fallback that strips the prefix and calls
/// the inner one.
pub fn router(backends: Backends) -> Router {
    let api = routes(backends);
    Router::new().fallback(move |req: Request| dispatch(api.clone(), req))
}

fn routes(backends: Backends) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(system::disk_usage))
        .route("/events", get(events::events))
        .route("/images/create", post(images::create))
        .route("/images/json", get(images::list))
        .route("/images/prune", post(images::prune))
        .route("/images/get", get(image_archive::get))
        .route("/images/load", post(image_archive::load))
        .route("/commit", post(image_archive::commit))
        .route("/auth", post(distribution::auth))
        .route("/images/search", get(distribution::search))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route(
            "/images/{*rest}",
            get(images::get_by_name)
                .post(images::post_by_name)
                .delete(images::delete_by_name),
        )
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(container_ops::prune))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(lifecycle::start))
        .route("/containers/{id}/stop", post(lifecycle::stop))
        .route("/containers/{id}/restart", post(lifecycle::restart))
        .route("/containers/{id}/kill", post(lifecycle::kill))
        .route("/containers/{id}/wait", post(lifecycle::wait))
        .route("/containers/{id}/resize", post(lifecycle::resize))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/pause", post(container_ops::pause))
        .route("/containers/{id}/unpause", post(container_ops::unpause))
        .route("/containers/{id}/rename", post(container_ops::rename))
        .route("/containers/{id}/top", get(container_ops::top))
        .route("/containers/{id}/export", get(filesystem::export))
        .route("/containers/{id}/changes", get(filesystem::changes))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/update", post(stats::update))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .fallback(|| async { not_found_page() })
        .with_state(backends)
}

async fn dispatch(api: Router, mut req: Request) -> Response {
    let version = match split_version(req.uri().path()) {
        None => API_VERSION.to_string(),
        Some((ver, tail)) => {
            let ver = ver.to_string();
            let tail = if tail.is_empty() { "/" } else { tail };
            let pq = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            match Uri::builder().path_and_query(pq).build() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => return with_common_headers(not_found_page()),
            }
            ver
        }
    };
    if compare_versions(&version, MIN_API_VERSION) == Ordering::Less {
        return with_common_headers(error_response(&Error::invalid(format!(
            "client version {version} is too old. Minimum supported API version is \
             {MIN_API_VERSION}, please upgrade your client to a newer version"
        ))));
    }
    if compare_versions(&version, API_VERSION) == Ordering::Greater {
        return with_common_headers(error_response(&Error::invalid(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        ))));
    }
    req.extensions_mut().insert(ApiVersion(version));
    let resp = match TowerToHyperService::new(api).call(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    with_common_headers(resp)
}

/// dockerd's version middleware sets these on every answer; the hijacked 101 of attach is
/// written raw by dockerd and has none, so neither does ours (exec's 101 adds them itself,
/// see [`set_common_headers`]).
fn with_common_headers(mut resp: Response) -> Response {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return resp;
    }
    set_common_headers(resp.headers_mut());
    resp
}

/// The version middleware's headers, in the order dockerd writes them. Exec start's 101
/// carries them too: dockerd copies them onto the hijacked connection after its own three.
pub(crate) fn set_common_headers(h: &mut HeaderMap) {
    let mut set = |k: &'static str, v: &'static str| {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    };
    set("api-version", API_VERSION);
    set("docker-experimental", "false");
    set("ostype", "linux");
    set("server", SERVER_HEADER);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix() {
        assert_eq!(
            split_version("/v1.41/containers/json"),
            Some(("1.41", "/containers/json"))
        );
        assert_eq!(split_version("/v1.24"), Some(("1.24", "")));
        assert_eq!(split_version("/volumes"), None);
        assert_eq!(split_version("/containers/json"), None);
        assert_eq!(split_version("/v/x"), None);
    }

    #[test]
    fn version_order() {
        assert_eq!(compare_versions("1.41", "1.41"), Ordering::Equal);
        assert_eq!(compare_versions("1.9", "1.24"), Ordering::Less);
        assert_eq!(compare_versions("1.50", "1.41"), Ordering::Greater);
        assert_eq!(compare_versions("2", "1.41"), Ordering::Greater);
        assert!(ApiVersion("1.41".into()).at_least("1.40"));
        assert!(!ApiVersion("1.25".into()).at_least("1.40"));
    }
}
