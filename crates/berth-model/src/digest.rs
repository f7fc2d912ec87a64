//! Content digests (`sha256:<64 hex>`), parsed strictly so a bad digest never names a path.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// A validated `sha256:` digest. Only sha256 is accepted: it is all Docker and OCI use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid digest {0:?}: want sha256:<64 lowercase hex>")]
pub struct DigestError(pub String);

impl Digest {
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self {
                hex: hex.to_string(),
            })
        } else {
            Err(DigestError(hex.to_string()))
        }
    }
    /// Digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }
    pub fn from_sha256(raw: [u8; 32]) -> Self {
        Self {
            hex: hex::encode(raw),
        }
    }
    pub fn hex(&self) -> &str {
        &self.hex
    }
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }
    /// The 12-character short form Docker prints.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("sha256:") {
            Some(hex) => Self::from_hex(hex).map_err(|_| DigestError(s.to_string())),
            None => Err(DigestError(s.to_string())),
        }
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Streaming sha256 for callers that hash while copying.
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Self {
        Self(Sha256::new())
    }
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes)
    }
    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.0.finalize().into())
    }
}

/// Chain ID of a layer stack (OCI image spec): chain(L0) = diff(L0),
/// chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)).
pub fn chain_id(diff_ids: &[Digest]) -> Option<Digest> {
    let mut iter = diff_ids.iter();
    let mut chain = iter.next()?.clone();
    for d in iter {
        chain = Digest::of(format!("{chain} {d}").as_bytes());
    }
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(d.short(), "e3b0c44298fc");
    }

    #[test]
    fn rejects_bad() {
        for bad in [
            "",
            "sha256:",
            "sha256:../../etc",
            "md5:abcd",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn chain_ids() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(chain_id(std::slice::from_ref(&a)), Some(a.clone()));
        assert_eq!(
            chain_id(&[a.clone(), b.clone()]),
            Some(Digest::of(format!("{a} {b}").as_bytes()))
        );
        assert_eq!(chain_id(&[]), None);
    }
}
