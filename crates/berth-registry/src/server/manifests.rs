//! Manifests (by tag or digest), tag and repository listings, and the referrers API.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use super::storage::{parse_digest, valid_tag};
use super::Shared;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn is_index(media_type: &str, doc: &Value) -> bool {
    media_type == OCI_INDEX
        || media_type == DOCKER_LIST
        || (doc.get("manifests").is_some() && doc.get("layers").is_none())
}

/// A reference resolved in a repository: the manifest's digest hex, or not found.
fn resolve(s: &Shared, name: &str, reference: &str) -> Result<String, ApiError> {
    if reference.contains(':') {
        let hex = parse_digest(reference)
            .ok_or_else(|| ApiError::digest_invalid(format!("malformed digest {reference}")))?;
        return Ok(hex.to_string());
    }
    if !valid_tag(reference) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            "manifest tag did not match URI",
        )
        .detail(json!({ "tag": reference })));
    }
    s.store
        .resolve_tag(name, reference)
        .ok_or_else(|| ApiError::manifest_unknown(reference))
}

pub fn get(s: &Shared, name: &str, reference: &str, head: bool) -> Result<Response, ApiError> {
    let hex = resolve(s, name, reference)?;
    let media_type = s
        .store
        .manifest_media_type(name, &hex)
        .ok_or_else(|| ApiError::manifest_unknown(reference))?;
    let data = s
        .store
        .read_blob(&hex)
        .map_err(|_| ApiError::manifest_unknown(reference))?;
    let digest = format!("sha256:{hex}");
    let headers = [
        (header::CONTENT_TYPE, media_type),
        (
            header::HeaderName::from_static("docker-content-digest"),
            digest.clone(),
        ),
        (header::ETAG, format!("\"{digest}\"")),
        (header::CONTENT_LENGTH, data.len().to_string()),
    ];
    if head {
        return Ok((StatusCode::OK, headers).into_response());
    }
    Ok((StatusCode::OK, headers, data).into_response())
}

/// Validates and stores a manifest: JSON, a media type agreeing with `Content-Type`, every
/// blob (or, for an index, every manifest) it names already in this repository, and the
/// size limit. Only then is it linked and tagged, so no tag ever points at a broken image.
pub async fn put(
    s: &Shared,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = s.cfg.max_manifest_bytes as usize;
    let data = axum::body::to_bytes(body, limit.saturating_add(1))
        .await
        .map_err(|_| {
            ApiError::manifest_invalid(format!("manifest is larger than {limit} bytes"))
        })?;
    if data.len() > limit {
        return Err(ApiError::manifest_invalid(format!(
            "manifest is larger than {limit} bytes"
        )));
    }
    let doc: Value = serde_json::from_slice(&data)
        .map_err(|e| ApiError::manifest_invalid(format!("not json: {e}")))?;
    if !doc.is_object() {
        return Err(ApiError::manifest_invalid("manifest is not a json object"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_string())
        .filter(|v| !v.is_empty() && v != "application/json" && v != "application/octet-stream");
    let body_type = doc
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (Some(ct), Some(bt)) = (&content_type, &body_type) {
        if ct != bt {
            return Err(ApiError::manifest_invalid(format!(
                "mediaType {bt} does not match content type {ct}"
            )));
        }
    }
    let media_type = content_type.or(body_type).unwrap_or_else(|| {
        if doc.get("manifests").is_some() {
            OCI_INDEX
        } else {
            OCI_MANIFEST
        }
        .to_string()
    });
    if media_type.starts_with("application/vnd.docker.distribution.manifest.v1")
        || doc.get("schemaVersion").and_then(Value::as_i64) == Some(1)
    {
        return Err(ApiError::manifest_invalid(
            "schema1 manifests are not supported",
        ));
    }
    let blob_unknown = |d: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(json!({ "digest": d }))
    };
    let descriptor_digest = |v: &Value| -> Result<String, ApiError> {
        let d = v.get("digest").and_then(Value::as_str).unwrap_or_default();
        parse_digest(d)
            .map(str::to_string)
            .ok_or_else(|| ApiError::manifest_invalid(format!("bad descriptor digest {d:?}")))
    };
    if is_index(&media_type, &doc) {
        let list = doc
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::manifest_invalid("index without a manifests array"))?;
        for m in list {
            let hex = descriptor_digest(m)?;
            if s.store.manifest_media_type(name, &hex).is_none() {
                return Err(blob_unknown(&format!("sha256:{hex}")));
            }
        }
    } else {
        let config = doc
            .get("config")
            .ok_or_else(|| ApiError::manifest_invalid("manifest without a config"))?;
        let layers = doc
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::manifest_invalid("manifest without a layers array"))?;
        for d in std::iter::once(config).chain(layers) {
            let hex = descriptor_digest(d)?;
            // Foreign layers live elsewhere (their `urls`), so they are not ours to have.
            if d.get("urls").is_some() {
                continue;
            }
            if !s.store.blob_linked(name, &hex) {
                return Err(blob_unknown(&format!("sha256:{hex}")));
            }
        }
    }
    let hex = hex::encode(Sha256::digest(&data));
    let digest = format!("sha256:{hex}");
    let tag = if reference.contains(':') {
        if parse_digest(reference) != Some(hex.as_str()) {
            return Err(ApiError::digest_invalid(format!(
                "manifest has digest {digest}, not {reference}"
            )));
        }
        None
    } else if valid_tag(reference) {
        Some(reference)
    } else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            "manifest tag did not match URI",
        )
        .detail(json!({ "tag": reference })));
    };
    s.store.put_blob_bytes(&hex, &data)?;
    s.store.link_manifest(name, &hex, &media_type)?;
    if let Some(tag) = tag {
        s.store.set_tag(name, tag, &hex)?;
    }
    let mut resp = (
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/v2/{name}/manifests/{digest}")),
            (
                header::HeaderName::from_static("docker-content-digest"),
                digest.clone(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response();
    if let Some(subject) = doc.pointer("/subject/digest").and_then(Value::as_str) {
        if let Ok(v) = subject.parse() {
            resp.headers_mut().insert("oci-subject", v);
        }
    }
    Ok(resp)
}

pub fn delete(s: &Shared, name: &str, reference: &str) -> Result<Response, ApiError> {
    if reference.contains(':') {
        let hex = resolve(s, name, reference)?;
        if !s.store.delete_manifest(name, &hex)? {
            return Err(ApiError::manifest_unknown(reference));
        }
    } else {
        resolve(s, name, reference)?;
        s.store.delete_tag(name, reference)?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `n`/`last` pagination over a sorted list; returns the page and whether more follow.
fn paginate(items: Vec<String>, query: &str) -> Result<(Vec<String>, Option<usize>), ApiError> {
    let mut n = None;
    let mut last = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "n" => {
                n = Some(v.parse::<usize>().map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested",
                    )
                    .detail(json!({ "n": v }))
                })?)
            }
            "last" => last = Some(v.into_owned()),
            _ => {}
        }
    }
    let rest: Vec<String> = match &last {
        Some(l) => items
            .into_iter()
            .filter(|i| i.as_str() > l.as_str())
            .collect(),
        None => items,
    };
    match n {
        Some(n) if rest.len() > n => Ok((rest[..n].to_vec(), Some(n))),
        _ => Ok((rest, None)),
    }
}

fn listing(body: Value, page: &[String], more: Option<usize>, path: &str) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if let (Some(n), Some(last)) = (more, page.last()) {
        let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
        if let Ok(v) = format!("<{path}?n={n}&last={last}>; rel=\"next\"").parse() {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

pub fn tags(s: &Shared, name: &str, query: &str) -> Result<Response, ApiError> {
    if !s.store.repo_exists(name) {
        return Err(ApiError::name_unknown(name));
    }
    let (page, more) = paginate(s.store.tags(name)?, query)?;
    let body = json!({ "name": name, "tags": page });
    Ok(listing(body, &page, more, &format!("/v2/{name}/tags/list")))
}

pub fn catalog(s: &Shared, query: &str) -> Result<Response, ApiError> {
    let (page, more) = paginate(s.store.repositories()?, query)?;
    let body = json!({ "repositories": page });
    Ok(listing(body, &page, more, "/v2/_catalog"))
}

/// The manifests of a repository whose `subject` is `digest`, as an OCI index; filtered by
/// `artifactType` when asked (and then says so in `OCI-Filters-Applied`).
pub fn referrers(s: &Shared, name: &str, digest: &str, query: &str) -> Result<Response, ApiError> {
    parse_digest(digest)
        .ok_or_else(|| ApiError::digest_invalid(format!("malformed digest {digest}")))?;
    let filter = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v.into_owned());
    let mut manifests = Vec::new();
    for hex in s.store.manifest_revisions(name)? {
        let Some(media_type) = s.store.manifest_media_type(name, &hex) else {
            continue;
        };
        let Ok(data) = s.store.read_blob(&hex) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&data) else {
            continue;
        };
        if doc.pointer("/subject/digest").and_then(Value::as_str) != Some(digest) {
            continue;
        }
        let artifact_type = doc
            .get("artifactType")
            .or_else(|| doc.pointer("/config/mediaType"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if filter.is_some() && filter != artifact_type {
            continue;
        }
        let mut d = json!({
            "mediaType": media_type,
            "digest": format!("sha256:{hex}"),
            "size": data.len(),
        });
        if let Some(t) = artifact_type {
            d["artifactType"] = Value::String(t);
        }
        if let Some(a) = doc.get("annotations") {
            d["annotations"] = a.clone();
        }
        manifests.push(d);
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, OCI_INDEX)],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    if filter.is_some() {
        resp.headers_mut().insert(
            "oci-filters-applied",
            header::HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}
