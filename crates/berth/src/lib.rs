//! Wiring for the binaries: the daemon's startup and the adapters that let the engine serve
//! the API's backend traits (the two crates never depend on each other).
#![forbid(unsafe_code)]

pub mod daemon;
pub mod wiring;
