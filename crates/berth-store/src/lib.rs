//! Content store, metadata database and snapshotter.
//!
//! Everything here is written so that a `kill -9` at any instant leaves a store that opens
//! cleanly: files are written under `content/ingest` or `snapshots/tmp-*`, fsynced, then
//! renamed into place, and the database changes in single transactions.
#![forbid(unsafe_code)]

mod archive;
mod check;
mod content;
mod db;
mod durability;
mod error;
mod gc;
mod import;
mod manifest;
mod resolve;
pub mod snapshot;
mod store;
mod writer;

pub use archive::{Loaded, SaveItem};
pub use check::{CheckReport, Finding, Problem};
pub use content::ContentStore;
pub use error::StoreError;
pub use gc::Deleted;
pub use manifest::{Descriptor, Manifest};
pub use snapshot::{unmount, CopySnapshotter, MountSpec, OverlaySnapshotter, Snapshotter};
pub use store::{ImageRecord, SnapshotterKind, Store};
pub use writer::{ImageWriter, LayerExpect, LayerSource, ScratchDir};

/// A random name for temporary files and directories.
pub(crate) fn random_name() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// fsync a directory so a rename or create inside it survives a crash.
pub(crate) fn sync_dir(dir: &std::path::Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(format!("fsync {}", dir.display()), e))
}
