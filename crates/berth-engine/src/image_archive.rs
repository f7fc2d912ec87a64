//! `save` and `load` (`GET /images/get`, `POST /images/load`) over the store's archive
//! format, with dockerd's choice of tags and its messages.

use crate::container::export::ChannelWriter;
use crate::Engine;
use berth_model::{Digest, Error, Reference, Result};
use berth_store::SaveItem;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::collections::BTreeMap;
use std::io::{self, Write};
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

/// The tags a `save` of `name` records: none for an ID, all of a repository's tags for a
/// bare name (`busybox`), the one tag otherwise (as dockerd's tarexport chooses).
fn tags_for(name: &str, img_id: &Digest, refs: &[Reference]) -> Vec<Reference> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if img_id.hex().starts_with(hex) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Vec::new();
    }
    let Ok(r) = Reference::parse_normalized(name) else {
        return Vec::new();
    };
    // parse_normalized adds `:latest`; the raw string tells whether a tag was written.
    let last = name.rsplit('/').next().unwrap_or(name);
    if !name.contains('@') && !last.contains(':') {
        return refs
            .iter()
            .filter(|t| t.full_name() == r.full_name() && t.tag.is_some())
            .cloned()
            .collect();
    }
    let mut want = r;
    if want.tag.is_none() && want.digest.is_none() {
        want.tag = Some(berth_model::reference::DEFAULT_TAG.into());
    }
    refs.iter().filter(|t| **t == want).cloned().collect()
}

impl Engine {
    /// `GET /images/get?names=...`: every name is resolved before the stream starts, so a
    /// missing image is a proper 404.
    pub async fn save_images(
        &self,
        names: Vec<String>,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>> {
        if names.is_empty() {
            return Err(Error::invalid("no images to save"));
        }
        let items = self
            .blocking(move |s| {
                let mut items: Vec<SaveItem> = Vec::new();
                for name in &names {
                    let img = s.resolve_image(name).map_err(|e| match e.kind() {
                        berth_model::ErrorKind::NotFound => {
                            Error::not_found(format!("reference does not exist: {name}"))
                        }
                        _ => Error::from(e),
                    })?;
                    let tags = tags_for(name, &img.id, &s.image_refs(&img.id)?);
                    match items.iter_mut().find(|i| i.image.id == img.id) {
                        Some(i) => {
                            for t in tags {
                                if !i.tags.contains(&t) {
                                    i.tags.push(t);
                                }
                            }
                        }
                        None => items.push(SaveItem { image: img, tags }),
                    }
                }
                Ok(items)
            })
            .await?;
        for i in &items {
            let name = i.tags.first().map(|t| t.familiar()).unwrap_or_default();
            let mut a = BTreeMap::new();
            a.insert("name".to_string(), name);
            self.emit("image", "save", &i.image.id.to_string(), a);
        }
        let store = self.store.clone();
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter::new(tx.clone());
            let res = store
                .save(&items, &mut w)
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|_| w.flush());
            if let Err(e) = res {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    tracing::warn!(error = %e, "save failed");
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )))
    }

    /// `POST /images/load`: adds the archive's images and applies its tags, moving a tag
    /// off any image that had it. Returns dockerd's lines (`Loaded image: busybox:latest`).
    pub async fn load_images<R>(&self, body: R) -> Result<Vec<String>>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let handle = tokio::runtime::Handle::current();
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let _guard = handle.enter();
            let reader = tokio_util::io::SyncIoBridge::new(body);
            store.load(reader)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
        .map_err(Error::from)?;
        let mut lines = Vec::new();
        for l in loaded {
            let id = l.image.id.clone();
            let mut a = BTreeMap::new();
            a.insert(
                "name".to_string(),
                l.tags.first().map(|t| t.familiar()).unwrap_or_default(),
            );
            self.emit("image", "load", &id.to_string(), a);
            if l.tags.is_empty() {
                lines.push(format!("Loaded image ID: {id}"));
            }
            for t in l.tags {
                let (t2, id2) = (t.clone(), id.clone());
                let old = self
                    .blocking(move |s| {
                        let old = s.resolve_image(&t2.to_string()).ok().map(|i| i.id);
                        s.tag(&t2, &id2)?;
                        Ok(old)
                    })
                    .await?;
                if let Some(old) = old.filter(|o| *o != id) {
                    lines.push(format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string",
                        t.familiar()
                    ));
                }
                let mut a = BTreeMap::new();
                a.insert("name".to_string(), t.familiar());
                self.emit("image", "tag", &id.to_string(), a);
                lines.push(format!("Loaded image: {}", t.familiar()));
            }
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse_normalized(s).unwrap()
    }

    #[test]
    fn save_tags_like_dockerd() {
        let id = Digest::of(b"x");
        let refs = vec![r("busybox:1"), r("busybox:latest"), r("other:latest")];
        assert!(tags_for(&id.hex()[..12], &id, &refs).is_empty());
        assert!(tags_for(&id.to_string(), &id, &refs).is_empty());
        assert_eq!(
            tags_for("busybox", &id, &refs),
            vec![r("busybox:1"), r("busybox:latest")]
        );
        assert_eq!(tags_for("busybox:1", &id, &refs), vec![r("busybox:1")]);
        assert_eq!(
            tags_for("other:latest", &id, &refs),
            vec![r("other:latest")]
        );
    }
}
