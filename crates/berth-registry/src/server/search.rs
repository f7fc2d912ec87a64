//! `GET /v1/search?q=&n=&page=`: Docker Hub's v1 search shape over repository names and the
//! labels of each repository's newest image, so `docker search <registry>/<term>` works
//! against a private registry (Docker's own registry has no search at all).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::error::ApiError;
use super::storage::parse_digest;
use super::Shared;

pub async fn search(
    State(s): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let (mut q, mut n, mut page) = (String::new(), 25usize, 1usize);
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "q" => q = v.into_owned(),
            "n" => n = v.parse().unwrap_or(25).clamp(1, 100),
            "page" => page = v.parse().unwrap_or(1).max(1),
            _ => {}
        }
    }
    let s2 = s.clone();
    let q2 = q.clone();
    let found = tokio::task::spawn_blocking(move || find(&s2, &q2, &headers)).await;
    let results = match found {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let total = results.len();
    let page_results: Vec<Value> = results.into_iter().skip((page - 1) * n).take(n).collect();
    axum::Json(json!({
        "num_results": total,
        "num_pages": total.div_ceil(n),
        "page": page,
        "page_size": n,
        "query": q,
        "results": page_results,
    }))
    .into_response()
}

fn find(s: &Shared, q: &str, headers: &HeaderMap) -> Result<Vec<Value>, ApiError> {
    let q = q.to_lowercase();
    let mut out = Vec::new();
    for name in s.store.repositories()? {
        // Only what the caller could pull is listed.
        if super::routes::authorize(s, headers, Some(("repository", &name)), false).is_err() {
            continue;
        }
        let labels = latest_labels(s, &name);
        let name_hit = name.to_lowercase().contains(&q);
        let label_hit = labels
            .iter()
            .any(|(k, v)| k.to_lowercase().contains(&q) || v.to_lowercase().contains(&q));
        if !(q.is_empty() || name_hit || label_hit) {
            continue;
        }
        let description = [
            "org.opencontainers.image.description",
            "description",
            "org.opencontainers.image.title",
        ]
        .iter()
        .find_map(|k| {
            labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_default();
        out.push(json!({
            "name": name,
            "description": description,
            "star_count": 0,
            "is_official": false,
            "is_automated": false,
        }));
    }
    Ok(out)
}

/// `config.Labels` of the repository's `latest` tag, else of its most recently pushed tag;
/// for an index, of its first listed image.
fn latest_labels(s: &Shared, name: &str) -> Vec<(String, String)> {
    let mut tags = s.store.tags_with_mtime(name);
    tags.sort_by_key(|(t, m)| (t == "latest", *m));
    let Some((tag, _)) = tags.last() else {
        return Vec::new();
    };
    let Some(mut hex) = s.store.resolve_tag(name, tag) else {
        return Vec::new();
    };
    for _ in 0..2 {
        let Ok(doc) = s
            .store
            .read_blob(&hex)
            .map(|d| serde_json::from_slice::<Value>(&d))
        else {
            return Vec::new();
        };
        let Ok(doc) = doc else { return Vec::new() };
        if let Some(first) = doc.pointer("/manifests/0/digest").and_then(Value::as_str) {
            match parse_digest(first) {
                Some(h) => {
                    hex = h.to_string();
                    continue;
                }
                None => return Vec::new(),
            }
        }
        let Some(cfg) = doc
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .and_then(parse_digest)
        else {
            return Vec::new();
        };
        let Ok(Ok(config)) = s
            .store
            .read_blob(cfg)
            .map(|d| serde_json::from_slice::<Value>(&d))
        else {
            return Vec::new();
        };
        return config
            .pointer("/config/Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
    }
    Vec::new()
}
