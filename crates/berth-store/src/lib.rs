//! Content store, metadata database and snapshotter.
#![forbid(unsafe_code)]
