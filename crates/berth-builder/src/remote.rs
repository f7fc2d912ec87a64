//! ADD's remote sources: an `http://` URL is downloaded into the context and then copied
//! like a local file (mode 0600, not extracted, as Docker does). The file is named after
//! the URL's last path segment.

use berth_model::{Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Whether an ADD source is a URL rather than a context path.
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// The file name Docker gives a download: the last path segment, else `__unnamed__`.
pub fn file_name(url: &str) -> String {
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(url)
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let path = path.split_once('/').map(|(_, p)| p).unwrap_or("");
    match path.rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." && n != ".." => n.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// Downloads `url` to `dest` (a new file). Redirects are not followed; a status other than
/// 200 fails with the status, as dockerd reports it.
pub async fn download(url: &str, dest: &Path) -> Result<()> {
    if url.starts_with("https://") {
        return Err(Error::new(
            berth_model::ErrorKind::NotImplemented,
            format!("ADD from an https URL is not supported yet: {url}"),
        ));
    }
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| Error::invalid(format!("invalid URL {url}: {e}")))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let fetch = async {
        let resp = client
            .get(uri)
            .await
            .map_err(|e| Error::invalid(format!("failed to GET {url}: {e}")))?;
        if resp.status() != hyper::StatusCode::OK {
            return Err(Error::invalid(format!(
                "failed to GET {url} with status {}",
                resp.status()
            )));
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| Error::internal(format!("create {}: {e}", dest.display())))?;
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::invalid(format!("read {url}: {e}")))?;
            if let Ok(data) = frame.into_data() {
                file.write_all(&data)
                    .await
                    .map_err(|e| Error::internal(format!("write {}: {e}", dest.display())))?;
            }
        }
        file.flush()
            .await
            .map_err(|e| Error::internal(format!("write {}: {e}", dest.display())))?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(600), fetch)
        .await
        .map_err(|_| Error::invalid(format!("failed to GET {url}: timed out")))??;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::internal(format!("chmod {}: {e}", dest.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_last_segment() {
        assert_eq!(file_name("http://h/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(file_name("http://h:8080/f"), "f");
        assert_eq!(file_name("http://h/"), "__unnamed__");
        assert_eq!(file_name("http://h"), "__unnamed__");
        assert!(is_url("http://x/y") && !is_url("x/http://"));
    }

    #[tokio::test]
    async fn downloads_over_http_and_refuses_errors() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 1024];
                let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
                    .await
                    .unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let resp = if req.starts_with("GET /ok ") {
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                };
                s.write_all(resp.as_bytes()).await.unwrap();
            }
        });
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("ok");
        download(&format!("http://{addr}/ok"), &f).await.unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"hello");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let e = download(&format!("http://{addr}/missing"), &t.path().join("m"))
            .await
            .unwrap_err();
        assert!(e.message.contains("404"), "{e}");
    }
}
