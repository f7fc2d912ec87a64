//! Tar streams, compression and safe extraction into a root.
