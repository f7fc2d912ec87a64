//! OCI manifests and indexes, and the `manifest.json` of Docker's image archives: the
//! documents `save`, `load`, `push` and `pull` exchange. Decoding is strict where a wrong
//! value would make Berth store or send something else than what was asked for.

use crate::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_TYPE_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The annotation containerd (and Docker 25+'s `save`) puts the full image name in.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation naming a manifest in an index: the tag only, per the image-layout spec.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            annotations: None,
            platform: None,
        }
    }
}

/// An image manifest (OCI, or Docker schema 2 which has the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

/// The compression a layer media type names; `None` when it is not a layer type Berth
/// can unpack (foreign or non-distributable layers, or not a layer at all).
pub fn layer_compression(media_type: &str) -> Option<LayerCompression> {
    match media_type {
        MEDIA_TYPE_LAYER | DOCKER_LAYER => Some(LayerCompression::None),
        MEDIA_TYPE_LAYER_GZIP | DOCKER_LAYER_GZIP => Some(LayerCompression::Gzip),
        MEDIA_TYPE_LAYER_ZSTD => Some(LayerCompression::Zstd),
        _ => None,
    }
}

impl Manifest {
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST.into(),
            config,
            layers,
            annotations: None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serialises")
    }

    /// Decodes an image manifest, refusing anything Berth would misread: another schema
    /// version, an index where a manifest was expected, a layer type it cannot unpack.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid image manifest: {e}"))?;
        if m.schema_version != 2 {
            return Err(format!(
                "unsupported manifest schema version {}",
                m.schema_version
            ));
        }
        match m.media_type.as_str() {
            "" | MEDIA_TYPE_MANIFEST | DOCKER_MANIFEST => {}
            other => return Err(format!("not an image manifest: media type {other}")),
        }
        match m.config.media_type.as_str() {
            MEDIA_TYPE_CONFIG | DOCKER_CONFIG => {}
            other => return Err(format!("unsupported config media type {other}")),
        }
        for l in &m.layers {
            if layer_compression(&l.media_type).is_none() {
                return Err(format!(
                    "unsupported layer media type {} (layer {})",
                    l.media_type, l.digest
                ));
            }
        }
        Ok(m)
    }
}

impl Index {
    pub fn new(manifests: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: MEDIA_TYPE_INDEX.into(),
            manifests,
            annotations: None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("index serialises")
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let i: Index =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid image index: {e}"))?;
        if i.schema_version != 2 {
            return Err(format!(
                "unsupported index schema version {}",
                i.schema_version
            ));
        }
        Ok(i)
    }
}

/// One entry of a Docker image archive's `manifest.json`. Paths are relative to the
/// archive root: `<hex>.json` and `<id>/layer.tar` before Docker 25, `blobs/sha256/<hex>`
/// since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifestEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_docker_and_oci_manifests() {
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","size":1,"digest":"{CFG}"}},"layers":[{{"mediaType":"{DOCKER_LAYER_GZIP}","size":2,"digest":"{CFG}"}}]}}"#
        );
        let m = Manifest::parse(docker.as_bytes()).unwrap();
        assert_eq!(m.layers.len(), 1);
        let oci = Manifest::new(
            Descriptor::new(MEDIA_TYPE_CONFIG, CFG.parse().unwrap(), 1),
            vec![Descriptor::new(
                MEDIA_TYPE_LAYER_ZSTD,
                CFG.parse().unwrap(),
                3,
            )],
        );
        assert_eq!(Manifest::parse(&oci.to_bytes()).unwrap(), oci);
    }

    #[test]
    fn refuses_what_it_would_misread() {
        let idx = Index::new(vec![]).to_bytes();
        assert!(Manifest::parse(&idx).is_err());
        let foreign = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{MEDIA_TYPE_CONFIG}","size":1,"digest":"{CFG}"}},"layers":[{{"mediaType":"{DOCKER_FOREIGN_LAYER}","size":2,"digest":"{CFG}"}}]}}"#
        );
        let err = Manifest::parse(foreign.as_bytes()).unwrap_err();
        assert!(err.contains("unsupported layer media type"), "{err}");
        let v1 = r#"{"schemaVersion":1,"config":{},"layers":[]}"#;
        assert!(Manifest::parse(v1.as_bytes()).is_err());
    }

    #[test]
    fn archive_manifest_without_tags() {
        let j = r#"[{"Config":"a.json","RepoTags":null,"Layers":["x/layer.tar"]}]"#;
        let e: Vec<ArchiveManifestEntry> = serde_json::from_str(j).unwrap();
        assert_eq!(e[0].repo_tags, None);
        assert_eq!(e[0].layers, ["x/layer.tar"]);
    }
}
