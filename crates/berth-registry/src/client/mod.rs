//! The distribution client.
