//! Snapshots: directories of unpacked layers, keyed by chain ID, plus one read-write
//! snapshot per container. A snapshotter hands out mount specs and never mounts; the
//! caller mounts with [`MountSpec::mount`] where and when it wants.
//!
//! Layout: `snapshots/<key>/{fs,work}` and `snapshots/<key>/parent` (the parent's key).
//! A snapshot is built under `snapshots/tmp-<random>` and renamed to its key, so a key that
//! exists is complete; `tmp-*` dirs are a crash's leftovers and are removed at open.

mod copy;
mod dirs;
mod mount;
mod overlay;

pub use copy::CopySnapshotter;
pub use mount::{unmount, MountSpec};
pub use overlay::OverlaySnapshotter;

use crate::StoreError;

pub trait Snapshotter: Send + Sync {
    /// Creates the active (writable) snapshot `key` on top of committed `parent`.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<MountSpec, StoreError>;
    /// [`prepare`](Self::prepare) for unpacking a layer whose parent may still be being
    /// unpacked elsewhere, so that the layers of one image unpack at the same time. Overlay
    /// layers do not depend on their parent's content; the parent must still be committed
    /// before this snapshot is. By default the parent is needed now.
    fn prepare_layer(&self, key: &str, parent: Option<&str>) -> Result<MountSpec, StoreError> {
        self.prepare(key, parent)
    }
    /// Turns active snapshot `key` into the committed snapshot `name`. Returns false when
    /// `name` already existed: snapshots are content-addressed, so the new one is dropped.
    fn commit(&self, key: &str, name: &str) -> Result<bool, StoreError>;
    /// The mount spec of an existing snapshot.
    fn mounts(&self, key: &str) -> Result<MountSpec, StoreError>;
    /// Deletes a snapshot; a missing one is not an error.
    fn remove(&self, key: &str) -> Result<(), StoreError>;
    fn exists(&self, key: &str) -> bool;
    /// Removes what an interrupted prepare/commit/remove left behind.
    fn cleanup(&self) -> Result<(), StoreError>;
    /// Every complete snapshot's key (never the `tmp-*` ones), so garbage collection can
    /// see which layers a container's read-write snapshot still stands on.
    fn keys(&self) -> Result<Vec<String>, StoreError>;
    /// The committed snapshot `key` was prepared on, if any.
    fn parent(&self, key: &str) -> Result<Option<String>, StoreError>;
}
