//! Blobs and upload sessions.

use std::io::SeekFrom;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::error::ApiError;
use super::storage::parse_digest;
use super::Shared;

fn digest_hex(d: &str) -> Result<&str, ApiError> {
    parse_digest(d)
        .ok_or_else(|| ApiError::digest_invalid(format!("unsupported or malformed digest {d}")))
}

fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `bytes=a-b` / `bytes=a-` / `bytes=-n` against a blob of `size` bytes → (start, end incl.).
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, size.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (start <= end && end < size).then_some((start, end))
}

pub async fn get(
    s: &Shared,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let hex = digest_hex(digest)?;
    if !s.store.blob_linked(name, hex) {
        return Err(ApiError::blob_unknown(digest));
    }
    let path = s.store.blob_path(hex);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::blob_unknown(digest))?;
    let size = file.metadata().await?.len();
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("docker-content-digest", digest)
        .header(header::ETAG, format!("\"{digest}\""))
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "max-age=31536000");
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, len) = match range {
        Some(r) => match parse_range(r, size) {
            Some((a, b)) => {
                builder = builder.header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{size}"));
                (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
            }
            None => {
                let mut e = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "RANGE_INVALID",
                    "invalid content range",
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    e.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(e);
            }
        },
        None => (StatusCode::OK, 0, size),
    };
    builder = builder.status(status).header(header::CONTENT_LENGTH, len);
    let body = if head {
        Body::empty()
    } else {
        file.seek(SeekFrom::Start(start)).await?;
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            file.take(len),
            256 << 10,
        ))
    };
    builder.body(body).map_err(ApiError::internal)
}

pub fn delete(s: &Shared, name: &str, digest: &str) -> Result<Response, ApiError> {
    let hex = digest_hex(digest)?;
    if !s.store.unlink_layer(name, hex)? {
        return Err(ApiError::blob_unknown(digest));
    }
    Ok((
        StatusCode::ACCEPTED,
        [("docker-content-digest", digest.to_string())],
    )
        .into_response())
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn upload_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let range = format!("0-{}", size.saturating_sub(1));
    (
        status,
        [
            (header::LOCATION, upload_location(name, id)),
            (header::RANGE, range),
            (
                header::HeaderName::from_static("docker-upload-uuid"),
                id.to_string(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response()
}

fn blob_created(name: &str, digest: &str) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/v2/{name}/blobs/{digest}")),
            (
                header::HeaderName::from_static("docker-content-digest"),
                digest.to_string(),
            ),
            (header::CONTENT_LENGTH, "0".to_string()),
        ],
    )
        .into_response()
}

/// `POST /v2/<name>/blobs/uploads/`: a cross-repository mount, a monolithic upload
/// (`?digest=` with the body), or the start of a session.
pub async fn start_upload(
    s: &Shared,
    name: &str,
    query: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(mount) = query_param(query, "mount") {
        let hex = digest_hex(&mount)?;
        let from = query_param(query, "from").unwrap_or_default();
        // Mounting reads from `from`, so the caller needs pull there too; when it lacks it
        // (or the blob is not there) the spec says to fall back to a fresh session.
        let may_read = !from.is_empty()
            && super::storage::valid_name(&from)
            && super::routes::authorize(s, headers, Some(("repository", &from)), false).is_ok();
        if may_read && s.store.blob_linked(&from, hex) {
            s.store.link_layer(name, hex)?;
            return Ok(blob_created(name, &mount));
        }
    }
    let id = s.store.create_upload(name)?;
    if let Some(digest) = query_param(query, "digest") {
        return finish(s, name, &id, &digest, body).await;
    }
    Ok(upload_response(StatusCode::ACCEPTED, name, &id, 0))
}

/// Appends a request body to an upload session, keeping its running digest.
async fn append(s: &Shared, id: &str, size: u64, body: Body) -> Result<u64, ApiError> {
    let mut hasher = {
        let mut map = s.hashers.lock().unwrap_or_else(|e| e.into_inner());
        match map.remove(id) {
            Some((off, h)) if off == size => Some(h),
            _ if size == 0 => Some(Sha256::new()),
            _ => None,
        }
    };
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(s.store.upload_data(id))
        .await?;
    let mut written = size;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                "blob upload invalid",
            )
            .detail(serde_json::Value::String(e.to_string()))
        })?;
        file.write_all(&chunk).await?;
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        written += chunk.len() as u64;
    }
    file.flush().await?;
    if let Some(h) = hasher {
        s.hashers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), (written, h));
    }
    Ok(written)
}

pub async fn patch_upload(
    s: &Shared,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let size = s
        .store
        .upload_size(name, id)
        .ok_or_else(|| ApiError::upload_unknown(id))?;
    if let Some(cr) = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        let cr = cr.trim().trim_start_matches("bytes").trim();
        let start = cr
            .split(['-', '/'])
            .next()
            .and_then(|a| a.trim().parse::<u64>().ok());
        if start != Some(size) {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                format!("chunk starts at {cr}, upload {id} has {size} bytes"),
            )
            .into_response();
            let h = upload_response(StatusCode::ACCEPTED, name, id, size);
            for k in [header::LOCATION, header::RANGE] {
                if let Some(v) = h.headers().get(&k) {
                    r.headers_mut().insert(k, v.clone());
                }
            }
            return Ok(r);
        }
    }
    let size = append(s, id, size, body).await?;
    Ok(upload_response(StatusCode::ACCEPTED, name, id, size))
}

pub async fn put_upload(
    s: &Shared,
    name: &str,
    id: &str,
    query: &str,
    body: Body,
) -> Result<Response, ApiError> {
    s.store
        .upload_size(name, id)
        .ok_or_else(|| ApiError::upload_unknown(id))?;
    let Some(digest) = query_param(query, "digest") else {
        return Err(ApiError::digest_invalid(
            "the digest query parameter is required",
        ));
    };
    finish(s, name, id, &digest, body).await
}

/// Appends the last bytes, checks the digest and moves the upload into the store. On a
/// mismatch the session is dropped, so nothing of a corrupt upload is kept.
async fn finish(
    s: &Shared,
    name: &str,
    id: &str,
    digest: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let hex = match digest_hex(digest) {
        Ok(h) => h,
        Err(e) => {
            s.store.remove_upload(id)?;
            return Err(e);
        }
    };
    let size = s
        .store
        .upload_size(name, id)
        .ok_or_else(|| ApiError::upload_unknown(id))?;
    let size = append(s, id, size, body).await?;
    let hasher = s
        .hashers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    let actual = match hasher {
        Some((off, h)) if off == size => hex::encode(h.finalize()),
        _ => {
            let path = s.store.upload_data(id);
            tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                let mut f = std::fs::File::open(path)?;
                let mut h = Sha256::new();
                std::io::copy(&mut f, &mut h)?;
                Ok(hex::encode(h.finalize()))
            })
            .await
            .map_err(ApiError::internal)??
        }
    };
    if actual != hex {
        s.store.remove_upload(id)?;
        return Err(ApiError::digest_invalid(format!(
            "upload {id} has digest sha256:{actual}, not {digest}"
        )));
    }
    let store = s.store.clone();
    let (hex2, id2, name2) = (hex.to_string(), id.to_string(), name.to_string());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        store.commit_blob_file(&hex2, &store.upload_data(&id2))?;
        store.link_layer(&name2, &hex2)?;
        store.remove_upload(&id2)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(blob_created(name, digest))
}

pub fn upload_status(s: &Shared, name: &str, id: &str) -> Result<Response, ApiError> {
    let size = s
        .store
        .upload_size(name, id)
        .ok_or_else(|| ApiError::upload_unknown(id))?;
    Ok(upload_response(StatusCode::NO_CONTENT, name, id, size))
}

pub fn cancel_upload(s: &Shared, name: &str, id: &str) -> Result<Response, ApiError> {
    s.store
        .upload_size(name, id)
        .ok_or_else(|| ApiError::upload_unknown(id))?;
    s.store.remove_upload(id)?;
    s.hashers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-200", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
