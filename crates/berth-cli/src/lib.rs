//! The `berth` command tree.
#![forbid(unsafe_code)]
