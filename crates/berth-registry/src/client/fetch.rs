//! Pulling helpers over [`Client`]: manifest lists resolved to a platform, and blobs
//! downloaded into a file with Range resume and digest verification.

use super::{Client, ClientError, FetchedManifest, Result, MANIFEST_ACCEPT};
use berth_model::digest::Hasher;
use berth_model::manifest::{
    Descriptor, Index, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use berth_model::Digest;
use bytes::Bytes;
use futures_util::StreamExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// Attempts after a dropped or stalled connection, per blob.
pub const RETRIES: u32 = 5;

/// A manifest reference resolved to one image manifest.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What the reference named (a list's digest, for a list).
    pub top_digest: Digest,
    pub top_media_type: String,
    /// The image manifest for the platform.
    pub manifest: FetchedManifest,
}

/// The entry of a manifest list for `os`/`arch` (and `variant` when given and listed).
pub fn select_platform<'a>(
    index: &'a Index,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| matches!(d.media_type.as_str(), DOCKER_MANIFEST | MEDIA_TYPE_MANIFEST))
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == arch)
        })
        .collect();
    if let Some(v) = variant {
        if let Some(d) = candidates.iter().find(|d| {
            d.platform
                .as_ref()
                .and_then(|p| p.variant.as_deref())
                .is_some_and(|pv| pv == v)
        }) {
            return Some(d);
        }
    }
    candidates.first().copied()
}

impl Client {
    /// Fetches `reference` (tag or digest) of `repo`; a manifest list or OCI index is
    /// resolved to the `os`/`arch` entry.
    pub async fn resolve(
        &self,
        repo: &str,
        reference: &str,
        os: &str,
        arch: &str,
    ) -> Result<Resolved> {
        let top = self.manifest(repo, reference, MANIFEST_ACCEPT).await?;
        match top.media_type.as_str() {
            DOCKER_MANIFEST_LIST | MEDIA_TYPE_INDEX => {
                let index = Index::parse(&top.bytes).map_err(ClientError::Invalid)?;
                let chosen = select_platform(&index, os, arch, None).ok_or_else(|| {
                    ClientError::NotFound(format!(
                        "no matching manifest for {os}/{arch} in the manifest list entries"
                    ))
                })?;
                let m = self
                    .manifest(repo, &chosen.digest.to_string(), MANIFEST_ACCEPT)
                    .await?;
                Ok(Resolved {
                    top_digest: top.digest,
                    top_media_type: top.media_type,
                    manifest: m,
                })
            }
            _ => Ok(Resolved {
                top_digest: top.digest.clone(),
                top_media_type: top.media_type.clone(),
                manifest: top,
            }),
        }
    }

    /// Downloads blob `digest` (of `size` bytes) into `path`, resuming with Range after a
    /// dropped or stalled connection (starting over when the registry ignores the range),
    /// and verifies its digest. `progress` gets the bytes held so far.
    pub async fn download(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        self.download_to(repo, digest, size, path, true, progress)
            .await
    }

    /// [`download`](Self::download), hashing only when `verify` (a caller whose store
    /// verifies the file anyway saves a pass over the bytes).
    pub async fn download_to(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        verify: bool,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        let file = tokio::fs::File::create(path)
            .await
            .map_err(|e| file_error(path, e))?;
        let mut sink = FileSink {
            file,
            path,
            hasher: verify.then(Hasher::new),
        };
        self.fetch_blob(repo, digest, size, &mut sink, progress)
            .await?;
        sink.file.flush().await.map_err(|e| file_error(path, e))?;
        if let Some(h) = sink.hasher {
            if h.finish() != *digest {
                return Err(ClientError::DigestMismatch(format!(
                    "filesystem layer verification failed for digest {digest}"
                )));
            }
        }
        Ok(())
    }

    /// Streams blob `digest` into `tx` chunk by chunk, in order and each byte once, with
    /// the same resume as [`download`](Self::download). The receiver verifies the digest:
    /// a pull unpacks a layer while it downloads. Ends early when the receiver is gone.
    pub async fn stream_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        tx: tokio::sync::mpsc::Sender<Bytes>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        let mut sink = ChannelSink {
            tx,
            sent: 0,
            skip: 0,
        };
        self.fetch_blob(repo, digest, size, &mut sink, progress)
            .await
    }

    /// The download loop: resumes with Range after a dropped or stalled connection, and
    /// starts over (telling the sink) when the registry ignores the range.
    async fn fetch_blob<S: BlobSink>(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        sink: &mut S,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        let mut have = 0u64;
        let mut attempts = 0u32;
        let stall = self.stall_timeout();
        let too_big = || {
            ClientError::DigestMismatch(format!(
                "filesystem layer verification failed for digest {digest}"
            ))
        };
        loop {
            let res: Result<()> = async {
                let body = self.blob(repo, digest, have).await?;
                if body.offset != have {
                    sink.restart().await?;
                    have = 0;
                }
                let mut s = body.stream;
                loop {
                    let next = tokio::time::timeout(stall, s.next())
                        .await
                        .map_err(|_| ClientError::Io(format!("download of {digest} stalled")))?;
                    let Some(chunk) = next else { return Ok(()) };
                    let chunk = chunk?;
                    if have + chunk.len() as u64 > size {
                        return Err(too_big());
                    }
                    have += chunk.len() as u64;
                    sink.put(chunk).await?;
                    progress(have);
                }
            }
            .await;
            match res {
                Ok(()) if have == size => return Ok(()),
                Ok(()) => {
                    attempts += 1;
                    if attempts > RETRIES {
                        return Err(ClientError::Io(format!(
                            "download of {digest} ended early at {have} of {size} bytes"
                        )));
                    }
                }
                Err(e) if e.is_transient() && attempts < RETRIES => {
                    attempts += 1;
                    tracing::info!(%digest, have, "blob download interrupted, resuming: {e}");
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempts))).await;
        }
    }
}

fn file_error(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Io(format!("write {}: {e}", path.display()))
}

/// Where [`Client::fetch_blob`] puts a blob's bytes.
trait BlobSink {
    /// The registry ignored the range: the bytes start again from the first.
    async fn restart(&mut self) -> Result<()>;
    async fn put(&mut self, chunk: Bytes) -> Result<()>;
}

struct FileSink<'p> {
    file: tokio::fs::File,
    path: &'p Path,
    hasher: Option<Hasher>,
}

impl BlobSink for FileSink<'_> {
    async fn restart(&mut self) -> Result<()> {
        let io = |e| file_error(self.path, e);
        self.file.set_len(0).await.map_err(io)?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(io)?;
        if self.hasher.is_some() {
            self.hasher = Some(Hasher::new());
        }
        Ok(())
    }

    async fn put(&mut self, chunk: Bytes) -> Result<()> {
        self.file
            .write_all(&chunk)
            .await
            .map_err(|e| file_error(self.path, e))?;
        if let Some(h) = &mut self.hasher {
            h.update(&chunk);
        }
        Ok(())
    }
}

/// Bytes already sent cannot be taken back: after a restart they are skipped.
struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    sent: u64,
    skip: u64,
}

impl BlobSink for ChannelSink {
    async fn restart(&mut self) -> Result<()> {
        self.skip = self.sent;
        Ok(())
    }

    async fn put(&mut self, mut chunk: Bytes) -> Result<()> {
        if self.skip > 0 {
            let n = self.skip.min(chunk.len() as u64);
            self.skip -= n;
            let _ = chunk.split_to(n as usize);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        self.sent += chunk.len() as u64;
        self.tx
            .send(chunk)
            .await
            // Not transient: the receiver failed or was cancelled, and says why.
            .map_err(|_| ClientError::Invalid("download cancelled".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::manifest::Platform;

    fn entry(arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        let mut d = Descriptor::new(DOCKER_MANIFEST, Digest::of(&[n]), 10);
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(str::to_string),
        });
        d
    }

    #[test]
    fn platform_selection() {
        let idx = Index::new(vec![
            entry("arm", Some("v7"), 1),
            entry("arm64", Some("v8"), 2),
            entry("amd64", None, 3),
        ]);
        assert_eq!(
            select_platform(&idx, "linux", "amd64", None)
                .unwrap()
                .digest,
            Digest::of(&[3])
        );
        assert_eq!(
            select_platform(&idx, "linux", "arm64", Some("v8"))
                .unwrap()
                .digest,
            Digest::of(&[2])
        );
        assert!(select_platform(&idx, "linux", "s390x", None).is_none());
        assert!(select_platform(&idx, "windows", "amd64", None).is_none());
    }
}
