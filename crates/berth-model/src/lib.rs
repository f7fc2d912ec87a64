//! Pure types shared by every Berth crate: digests, image references, image configs,
//! the Docker Engine API bodies, and the error kinds every layer maps onto.
#![forbid(unsafe_code)]

pub mod api;
pub mod digest;
pub mod error;
pub mod health;
pub mod image;
pub mod manifest;
pub mod ports;
pub mod reference;

pub use digest::Digest;
pub use error::{Error, ErrorKind, Result};
pub use reference::Reference;
