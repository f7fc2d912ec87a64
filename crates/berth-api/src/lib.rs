//! The Docker Engine API HTTP layer over backend traits.
//!
//! `berthd` binds the socket and wires an engine into [`Backends`]; this crate only
//! translates HTTP to trait calls, so it is tested against in-memory fakes.
#![forbid(unsafe_code)]

mod archive;
mod attach;
pub mod backend;
mod build;
mod container_ops;
mod containers;
mod distribution;
mod error;
mod events;
mod exec;
mod filesystem;
mod image_archive;
mod images;
mod lifecycle;
mod logs;
pub mod networks;
mod query;
mod router;
mod server;
mod stats;
mod stream;
mod system;
pub mod volumes;

pub use error::{error_response, status_for};
pub use router::{router, ApiVersion};
pub use server::serve_unix;

pub use backend::Backends;

/// `Server` header on every response. Clients only log it, but it tells a user reading a
/// trace which engine answered.
pub const SERVER_HEADER: &str = concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)");
