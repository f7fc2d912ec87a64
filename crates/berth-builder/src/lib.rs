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

pub mod cachekey;
pub mod context;
pub mod copy_layer;
mod error;
pub mod sources;

pub use error::BuildError;
