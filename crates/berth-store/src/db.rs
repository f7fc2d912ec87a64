//! The metadata database (`berth.redb`). Every public change is one write transaction.

use crate::store::ImageRecord;
use crate::StoreError;
use berth_model::{Digest, Reference};
use redb::{Database, ReadableTable, TableDefinition};
use std::path::Path;

/// Image ID hex → JSON [`ImageRecord`]. Hex keys make id-prefix lookups a range scan.
const IMAGES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("images");
/// Normalised reference (`docker.io/library/busybox:latest`) → image ID hex.
const TAGS: TableDefinition<'_, &str, &str> = TableDefinition::new("tags");
/// Container ID → the engine's JSON record, opaque here.
const CONTAINERS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("containers");
/// Network ID → the engine's JSON network record, opaque here.
const NETWORKS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("networks");
/// Layer snapshot key (chain ID hex) → unpacked bytes, so sizes need no tree walk.
const LAYER_SIZES: TableDefinition<'_, &str, u64> = TableDefinition::new("layer_sizes");
/// Build step cache key → the builder's JSON entry (the step's image, and what the key
/// was made of, to explain a later miss). Opaque here.
const BUILD_CACHE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("build_cache");
/// Volume name → the engine's JSON volume record, opaque here.
const VOLUMES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("volumes");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

const SCHEMA_VERSION: u64 = 1;

pub(crate) struct Db {
    db: Database,
}

fn decode_image(key: &str, bytes: &[u8]) -> Result<ImageRecord, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("image record {key}: {e}")))
}

fn decode_ref(key: &str) -> Result<Reference, StoreError> {
    Reference::parse(key).map_err(|e| StoreError::Corrupt(format!("tag {key:?}: {e}")))
}

impl Db {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::Locked(path.display().to_string())
            }
            e => StoreError::Db(format!("open {}: {e}", path.display())),
        })?;
        let txn = db.begin_write()?;
        {
            txn.open_table(IMAGES)?;
            txn.open_table(TAGS)?;
            txn.open_table(CONTAINERS)?;
            txn.open_table(NETWORKS)?;
            txn.open_table(LAYER_SIZES)?;
            txn.open_table(BUILD_CACHE)?;
            txn.open_table(VOLUMES)?;
            let mut meta = txn.open_table(META)?;
            let version = meta.get("schema")?.map(|v| v.value());
            match version {
                None => {
                    meta.insert("schema", SCHEMA_VERSION)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(v) => {
                    return Err(StoreError::Corrupt(format!(
                        "{} has schema version {v}, this berth knows {SCHEMA_VERSION}",
                        path.display()
                    )))
                }
            }
        }
        txn.commit()?;
        Ok(Self { db })
    }

    pub fn put_image(&self, rec: &ImageRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(rec).expect("image record serialises");
        let txn = self.db.begin_write()?;
        txn.open_table(IMAGES)?
            .insert(rec.id.hex(), bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    pub fn get_image(&self, id: &Digest) -> Result<Option<ImageRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(IMAGES)?;
        let got = table.get(id.hex())?;
        got.map(|v| decode_image(id.hex(), v.value())).transpose()
    }

    /// Images whose ID starts with `prefix` (lowercase hex); stops after `limit`.
    pub fn images_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(IMAGES)?;
        let mut out = Vec::new();
        for item in table.range(prefix..)? {
            let (k, v) = item?;
            if !k.value().starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(decode_image(k.value(), v.value())?);
        }
        Ok(out)
    }

    pub fn all_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(IMAGES)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push(decode_image(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Points `reference` at `id`, checking in the same transaction that the image exists.
    pub fn tag(&self, reference: &Reference, id: &Digest) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            if txn.open_table(IMAGES)?.get(id.hex())?.is_none() {
                return Err(StoreError::NoSuchImage(id.to_string()));
            }
            txn.open_table(TAGS)?
                .insert(reference.to_string().as_str(), id.hex())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes image `id` and every tag naming it in one transaction, so a crash never
    /// leaves a tag pointing at a missing image. Returns the removed tags; `None` when
    /// there was no such image.
    pub fn delete_image(&self, id: &Digest) -> Result<Option<Vec<Reference>>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut removed = Vec::new();
        {
            if txn.open_table(IMAGES)?.remove(id.hex())?.is_none() {
                return Ok(None);
            }
            let mut tags = txn.open_table(TAGS)?;
            let mut keys = Vec::new();
            for item in tags.iter()? {
                let (k, v) = item?;
                if v.value() == id.hex() {
                    keys.push(k.value().to_string());
                }
            }
            for k in keys {
                tags.remove(k.as_str())?;
                removed.push(decode_ref(&k)?);
            }
        }
        txn.commit()?;
        Ok(Some(removed))
    }

    /// Removes a tag; false if there was none.
    pub fn untag(&self, reference: &Reference) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = txn
            .open_table(TAGS)?
            .remove(reference.to_string().as_str())?
            .is_some();
        txn.commit()?;
        Ok(removed)
    }

    pub fn lookup_tag(&self, reference: &Reference) -> Result<Option<Digest>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TAGS)?;
        let got = table.get(reference.to_string().as_str())?;
        got.map(|v| {
            Digest::from_hex(v.value())
                .map_err(|e| StoreError::Corrupt(format!("tag {reference}: {e}")))
        })
        .transpose()
    }

    /// Every tag as (reference, image ID hex).
    pub fn all_tags(&self) -> Result<Vec<(Reference, String)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TAGS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((decode_ref(k.value())?, v.value().to_string()));
        }
        Ok(out)
    }

    pub fn layer_size(&self, chain: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LAYER_SIZES)?;
        let got = table.get(chain)?;
        Ok(got.map(|v| v.value()))
    }

    pub fn set_layer_size(&self, chain: &str, size: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(LAYER_SIZES)?.insert(chain, size)?;
        txn.commit()?;
        Ok(())
    }

    pub fn forget_layer_size(&self, chain: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(LAYER_SIZES)?.remove(chain)?;
        txn.commit()?;
        Ok(())
    }

    pub fn put_container(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(CONTAINERS)?.insert(id, record)?;
        txn.commit()?;
        Ok(())
    }

    pub fn get_container(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONTAINERS)?;
        let got = table.get(id)?;
        Ok(got.map(|v| v.value().to_vec()))
    }

    pub fn delete_container(&self, id: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(CONTAINERS)?.remove(id)?;
        txn.commit()?;
        Ok(())
    }

    pub fn put_network(&self, id: &str, record: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(NETWORKS)?.insert(id, record)?;
        txn.commit()?;
        Ok(())
    }

    pub fn delete_network(&self, id: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(NETWORKS)?.remove(id)?;
        txn.commit()?;
        Ok(())
    }

    pub fn list_networks(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(NETWORKS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn list_containers(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONTAINERS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn put_volume(&self, name: &str, record: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(VOLUMES)?.insert(name, record)?;
        txn.commit()?;
        Ok(())
    }

    pub fn get_volume(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(VOLUMES)?;
        let got = table.get(name)?;
        Ok(got.map(|v| v.value().to_vec()))
    }

    /// False when there was no such volume.
    pub fn delete_volume(&self, name: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = txn.open_table(VOLUMES)?.remove(name)?.is_some();
        txn.commit()?;
        Ok(removed)
    }

    pub fn list_volumes(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(VOLUMES)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn build_cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BUILD_CACHE)?;
        let got = table.get(key)?;
        Ok(got.map(|v| v.value().to_vec()))
    }

    /// Writes several entries in one transaction (a step's key and its hint).
    pub fn build_cache_put(&self, entries: &[(&str, &[u8])]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(BUILD_CACHE)?;
            for (k, v) in entries {
                t.insert(*k, *v)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Empties the build cache; returns how many entries it held.
    pub fn build_cache_clear(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_write()?;
        let n = {
            let mut t = txn.open_table(BUILD_CACHE)?;
            let mut n = 0;
            t.retain(|_, _| {
                n += 1;
                false
            })?;
            n
        };
        txn.commit()?;
        Ok(n)
    }
}
