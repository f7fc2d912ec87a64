//! Turning what a user typed into an image, the way dockerd does: a full ID, then a tag,
//! then a unique ID prefix.

use crate::store::{ImageRecord, Store};
use crate::StoreError;
use berth_model::{Digest, Reference};

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    /// Resolves `sha256:<hex>`, bare `<hex>`, a reference (`busybox` means
    /// `docker.io/library/busybox:latest`), or a unique ID prefix (with or without
    /// `sha256:`, any length, as Docker allows). Unknown or ambiguous:
    /// `No such image: <name>`.
    pub fn resolve_image(&self, name: &str) -> Result<ImageRecord, StoreError> {
        let not_found = || StoreError::NoSuchImage(name.to_string());
        let full = name.parse::<Digest>().ok().or_else(|| {
            (name.len() == 64)
                .then(|| Digest::from_hex(name).ok())
                .flatten()
        });
        if let Some(id) = full {
            return self.db.get_image(&id)?.ok_or_else(not_found);
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        match Reference::parse_normalized(name) {
            Ok(r) => {
                if let Some(id) = self.db.lookup_tag(&r)? {
                    if let Some(img) = self.db.get_image(&id)? {
                        return Ok(img);
                    }
                }
            }
            Err(e) if !is_hex(hex) => return Err(StoreError::InvalidArgument(e.to_string())),
            Err(_) => {}
        }
        if is_hex(hex) {
            let mut found = self.db.images_with_prefix(hex, 2)?;
            if found.len() == 1 {
                return Ok(found.remove(0));
            }
        }
        Err(not_found())
    }
}
