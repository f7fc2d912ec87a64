//! The manifest types live in berth-model; the store re-exports the ones it writes.

pub use berth_model::manifest::{Descriptor, Manifest, MEDIA_TYPE_CONFIG};
