//! OCI spec generation, the Runtime trait, the per-container shim.

pub mod logs;
pub mod spec;
