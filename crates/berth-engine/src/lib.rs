//! The daemon core: containers, images and their lifecycle.
#![forbid(unsafe_code)]
