//! Executes a Dockerfile: the build context, content-based cache keys, RUN through the
//! runtime, COPY/ADD through the archive crate, commit through the store.
//!
//! This first slice is the pure part, testable without root or a daemon:
//! - [`context`]: a `POST /build` body (tar, gzip/zstd tar, or a bare Dockerfile) extracted
//!   safely into a directory, `.dockerignore` applied;
//! - [`sources`]: COPY/ADD source patterns resolved against the context into a copy plan;
//! - [`cachekey`]: content digests of a plan's sources (mtimes ignored), with a per-file
//!   listing that names the first changed path on a cache miss;
//! - [`copy_layer`]: a plan written as a reproducible, uncompressed layer tar.

#![forbid(unsafe_code)]

pub mod build;
pub mod cache;
pub mod cachekey;
pub mod context;
pub mod copy_layer;
pub mod dispatch;
mod error;
pub mod host;
mod ids;
pub mod layers;
pub mod remote;
pub mod sources;

pub use build::{build, BuildMessage, BuildOptions, BuildResult, Failed};
pub use error::BuildError;
pub use host::{BuildHost, HostImage, ImageRoot, RunSpec, ScratchDir};
