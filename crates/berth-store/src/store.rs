use crate::content::ContentStore;
use crate::db::Db;
use crate::snapshot::{CopySnapshotter, MountSpec, OverlaySnapshotter, Snapshotter};
use crate::StoreError;
use berth_model::digest::chain_id;
use berth_model::image::ImageConfig;
use berth_model::{Digest, Reference};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Digest of the config blob: the image ID.
    pub id: Digest,
    pub config: ImageConfig,
    pub manifest: Digest,
    /// Unpacked size: bytes of regular-file content over all layers.
    pub size: u64,
    /// Diff IDs, bottom layer first.
    pub layers: Vec<Digest>,
    /// The image this one was made on (`commit`, build steps), as dockerd's `Parent`: an
    /// untagged image with children is an intermediate one, hidden from `images`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotterKind {
    #[default]
    Overlay,
    /// Full copies, no mounts: for tests without root.
    Copy,
}

/// The image store. `Send + Sync`: share it through an `Arc`.
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) content: ContentStore,
    pub(crate) snapshots: Box<dyn Snapshotter>,
    pub(crate) db: Db,
    /// Serialises the short "make it visible" step of imports, so an undo after a failed
    /// import can never delete a blob or snapshot a concurrent import just came to rely on.
    pub(crate) publish: Mutex<()>,
    /// What image writers in progress hold (see `writer.rs`); read by collection under
    /// the publish lock.
    pub(crate) leases: Mutex<crate::writer::Leases>,
}

/// The snapshot key of a container's read-write layer.
fn rw_key(container_id: &str) -> Result<String, StoreError> {
    let ok = !container_id.is_empty()
        && container_id.len() <= 128
        && !container_id.starts_with('.')
        && container_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(StoreError::InvalidArgument(format!(
            "invalid container id {container_id:?}"
        )));
    }
    Ok(format!("rw-{container_id}"))
}

impl Store {
    pub fn open(data_root: &Path) -> Result<Store, StoreError> {
        Self::open_with(data_root, SnapshotterKind::Overlay)
    }

    pub fn open_with(data_root: &Path, kind: SnapshotterKind) -> Result<Store, StoreError> {
        for d in ["containers", "snapshots"] {
            let p = data_root.join(d);
            std::fs::create_dir_all(&p)
                .map_err(|e| StoreError::io(format!("create {}", p.display()), e))?;
        }
        // The database first: its lock keeps a second berthd from cleaning up under us.
        let db = Db::open(&data_root.join("berth.redb"))?;
        let content = ContentStore::open(&data_root.join("content"))?;
        let snap_root = data_root.join("snapshots");
        let snapshots: Box<dyn Snapshotter> = match kind {
            SnapshotterKind::Overlay => Box::new(OverlaySnapshotter::new(&snap_root)?),
            SnapshotterKind::Copy => Box::new(CopySnapshotter::new(&snap_root)?),
        };
        snapshots.cleanup()?;
        let store = Store {
            root: data_root.to_path_buf(),
            content,
            snapshots,
            db,
            publish: Mutex::new(()),
            leases: Mutex::default(),
        };
        store.recover_unsynced()?;
        Ok(store)
    }

    pub fn data_root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub fn snapshotter(&self) -> &dyn Snapshotter {
        self.snapshots.as_ref()
    }

    pub fn image(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        self.db
            .get_image(id)?
            .ok_or_else(|| StoreError::NoSuchImage(id.to_string()))
    }

    /// Points `reference` (`:latest` added when it has neither tag nor digest) at image
    /// `id`, moving it off any image it named before.
    pub fn tag(&self, reference: &Reference, id: &Digest) -> Result<(), StoreError> {
        self.db.tag(&normalise(reference), id)
    }

    pub fn untag(&self, reference: &Reference) -> Result<(), StoreError> {
        let r = normalise(reference);
        if self.db.untag(&r)? {
            Ok(())
        } else {
            Err(StoreError::NoSuchImage(r.familiar()))
        }
    }

    /// Every image with its references (sorted), in image ID order.
    pub fn list_images(&self) -> Result<Vec<(ImageRecord, Vec<Reference>)>, StoreError> {
        let mut tags = self.db.all_tags()?;
        tags.sort_by_key(|(r, _)| r.to_string());
        let images = self.db.all_images()?;
        Ok(images
            .into_iter()
            .map(|img| {
                let refs = tags
                    .iter()
                    .filter(|(_, id)| id == img.id.hex())
                    .map(|(r, _)| r.clone())
                    .collect();
                (img, refs)
            })
            .collect())
    }

    pub fn image_refs(&self, id: &Digest) -> Result<Vec<Reference>, StoreError> {
        let mut refs: Vec<Reference> = self
            .db
            .all_tags()?
            .into_iter()
            .filter(|(_, v)| v == id.hex())
            .map(|(r, _)| r)
            .collect();
        refs.sort_by_key(|r| r.to_string());
        Ok(refs)
    }

    /// Creates the container's read-write snapshot on top of the image's layers.
    pub fn prepare_rw(&self, container_id: &str, image: &Digest) -> Result<MountSpec, StoreError> {
        let key = rw_key(container_id)?;
        // Under the publish lock: an image deleted meanwhile is then either still whole
        // here or gone, never half collected.
        let _publishing = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        let img = self.image(image)?;
        let parent = chain_id(&img.layers);
        if let Some(p) = &parent {
            if !self.snapshots.exists(p.hex()) {
                return Err(StoreError::Corrupt(format!(
                    "layers of image {image} are missing (snapshot {p})"
                )));
            }
        }
        self.snapshots
            .prepare(&key, parent.as_ref().map(|p| p.hex()))
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("container {container_id} already has a rootfs"))
                }
                e => e,
            })
    }

    /// Removes the read-write snapshots whose owner id starts with `prefix` (scratch views
    /// a crash left behind: the engine names them so). Returns how many went.
    pub fn remove_rw_with_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let want = format!("rw-{prefix}");
        let mut n = 0;
        for key in self.snapshots.keys()? {
            if key.starts_with(&want) {
                self.snapshots.remove(&key)?;
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn rw_mount(&self, container_id: &str) -> Result<MountSpec, StoreError> {
        self.snapshots
            .mounts(&rw_key(container_id)?)
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    StoreError::NotFound(format!("no rootfs for container {container_id}"))
                }
                e => e,
            })
    }

    /// Deletes the container's read-write snapshot (unmount it first); missing is fine.
    /// Layers it stood on that no image and no other container uses any more (their image
    /// was force-deleted meanwhile) go with it.
    pub fn remove_rw(&self, container_id: &str) -> Result<(), StoreError> {
        let key = rw_key(container_id)?;
        let parent = if self.snapshots.exists(&key) {
            self.snapshots.parent(&key)?
        } else {
            None
        };
        self.snapshots.remove(&key)?;
        match parent {
            Some(p) => self.collect_layers(&p),
            None => Ok(()),
        }
    }

    /// Unpacked bytes of layer snapshot `chain` (0 when unknown).
    pub fn layer_size(&self, chain: &str) -> u64 {
        self.db.layer_size(chain).ok().flatten().unwrap_or(0)
    }

    pub(crate) fn record_layer_size(&self, chain: &str, size: u64) {
        if let Err(e) = self.db.set_layer_size(chain, size) {
            tracing::warn!(snapshot = chain, "cannot record layer size: {e}");
        }
    }

    pub fn put_container(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        self.db.put_container(id, record)
    }

    pub fn get_container(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_container(id)
    }

    pub fn delete_container(&self, id: &str) -> Result<(), StoreError> {
        self.db.delete_container(id)
    }

    /// A network record (the engine owns the format); one transaction each.
    pub fn put_network(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        self.db.put_network(id, record)
    }

    pub fn delete_network(&self, id: &str) -> Result<(), StoreError> {
        self.db.delete_network(id)
    }

    pub fn list_networks(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.db.list_networks()
    }

    pub fn list_containers(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.db.list_containers()
    }

    /// A volume record (the engine owns the format); one transaction each.
    pub fn put_volume(&self, name: &str, record: &[u8]) -> Result<(), StoreError> {
        self.db.put_volume(name, record)
    }

    pub fn get_volume(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_volume(name)
    }

    /// False when there was no such volume.
    pub fn delete_volume(&self, name: &str) -> Result<bool, StoreError> {
        self.db.delete_volume(name)
    }

    pub fn list_volumes(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.db.list_volumes()
    }

    /// A build cache entry; the builder owns the format.
    pub fn build_cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.build_cache_get(key)
    }

    pub fn build_cache_put(&self, entries: &[(&str, &[u8])]) -> Result<(), StoreError> {
        self.db.build_cache_put(entries)
    }

    pub fn build_cache_clear(&self) -> Result<u64, StoreError> {
        self.db.build_cache_clear()
    }
}

fn normalise(r: &Reference) -> Reference {
    let mut r = r.clone();
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some(berth_model::reference::DEFAULT_TAG.to_string());
    }
    r
}
