//! `docker import`: a rootfs tar becomes a one-layer image.

use crate::store::{ImageRecord, Store};
use crate::writer::{LayerExpect, LayerSource};
use crate::StoreError;
use berth_model::image::{ImageConfig, RootFs};
use std::io::Read;

impl Store {
    /// Imports a rootfs tar (plain, gzip or zstd) as a one-layer image with `config`
    /// (whose `rootfs` is replaced). The image is untagged; nothing is visible until every
    /// part is verified and on disk, and a failed import leaves nothing behind. A plain tar
    /// is stored gzipped; a compressed one byte for byte.
    pub fn import_rootfs(
        &self,
        tar: impl Read,
        mut config: ImageConfig,
    ) -> Result<ImageRecord, StoreError> {
        let mut w = self.image_writer();
        w.compress = true;
        w.add_layer(LayerSource::Stream(Box::new(tar)), LayerExpect::default())?;
        config.rootfs = RootFs {
            kind: "layers".into(),
            diff_ids: w.diff_ids(),
        };
        w.finish(&config.to_bytes(), None)
    }
}
