//! Tar streams, compression and safe extraction into a root.
//!
//! Layers come from registries and users, so every byte of a tar is treated as hostile:
//! paths are resolved inside the target root by file descriptor, never by string joins.

mod apply;
mod compress;
pub mod copy;
mod error;
mod fsutil;
pub mod layers;
mod resolve;
mod tap;
mod upper;

pub use apply::{apply_layer, apply_layer_with, ApplyOptions, ApplyStats};
pub use compress::{decompress, detect, Compression, LayerGzip, Peeked, GZIP_LEVEL};
pub use error::ArchiveError;
pub use fsutil::remove_all_at;
pub use upper::write_layer_tar;

/// Overlay's whiteout conventions, shared with the snapshotter.
pub mod whiteout {
    /// Prefix of an OCI whiteout entry: `.wh.name` deletes `name` from the layers below.
    pub const PREFIX: &str = ".wh.";
    /// OCI marker that makes its directory opaque (hides everything below it).
    pub const OPAQUE: &str = ".wh..wh..opq";
    /// The xattr overlayfs reads to treat a directory as opaque.
    pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
}
