//! Binaries wiring.
