//! The registry server.
