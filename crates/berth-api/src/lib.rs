//! The Docker Engine API HTTP layer over backend traits.
#![forbid(unsafe_code)]

pub mod backend;
