//! Images between machines: the distribution client (`client`: token and basic auth,
//! parallel resumable layer fetch, push with exists/mount checks, progress) and the
//! registry server (`server`: the OCI distribution API over a filesystem store).

#![forbid(unsafe_code)]

pub mod client;
pub mod server;
