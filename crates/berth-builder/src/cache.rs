//! Build cache keys and records.
//!
//! A step's key is a digest over the parent image and what the step is made of; its entry
//! names the image the step made. Beside it, a *hint* keyed by the instruction (file, line,
//! text) remembers what the step was made of last time, so a miss can say why: another
//! parent, other build args, or which source file changed.

use crate::cachekey::first_change;
use berth_model::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// Bumped when what goes into a key changes, so old entries simply stop matching.
const VERSION: &str = "berth-build-cache-v1";

fn digest_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The key of a step: parent image (`scratch` for none), step kind, and its parts.
pub fn step_key(parent: Option<&Digest>, kind: &str, parts: &[&str]) -> String {
    let parent = parent
        .map(|d| d.to_string())
        .unwrap_or_else(|| "scratch".into());
    let mut all = vec![VERSION, parent.as_str(), kind];
    all.extend_from_slice(parts);
    format!("step:{}", digest_of(&all))
}

/// The key of an instruction's hint.
pub fn hint_key(file: &str, line: usize, text: &str) -> String {
    format!(
        "hint:{}",
        digest_of(&[VERSION, file, &line.to_string(), text])
    )
}

/// A step's cached result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    pub image: Digest,
}

impl CacheEntry {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `None` for an entry this version cannot read: treated as a miss.
    pub fn decode(b: &[u8]) -> Option<Self> {
        serde_json::from_slice(b).ok()
    }
}

/// What a step was made of the last time it ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    pub parent: Option<Digest>,
    pub key: String,
    /// RUN: the build args it saw (`K=V`).
    #[serde(default)]
    pub args: Vec<String>,
    /// COPY/ADD: per-source digests.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl Hint {
    pub fn new(parent: Option<&Digest>, key: &str) -> Self {
        Hint {
            parent: parent.cloned(),
            key: key.to_string(),
            ..Default::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        serde_json::from_slice(b).ok()
    }
}

/// Why `current` missed, given the hint of its last run.
pub fn miss_reason(previous: Option<&Hint>, current: &Hint) -> String {
    let Some(prev) = previous else {
        return "not built before".into();
    };
    if prev.key == current.key {
        return "its image was removed".into();
    }
    if prev.parent != current.parent {
        return "previous step changed".into();
    }
    if prev.args != current.args {
        let changed: Vec<&str> = current
            .args
            .iter()
            .filter(|a| !prev.args.contains(a))
            .chain(prev.args.iter().filter(|a| !current.args.contains(a)))
            .map(|a| a.split('=').next().unwrap_or(a))
            .collect();
        let mut names: Vec<&str> = changed;
        names.sort();
        names.dedup();
        return format!("build arg {} changed", names.join(", "));
    }
    if let Some(c) = first_change(&prev.files, &current.files) {
        return c.to_string();
    }
    "instruction changed".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::from_hex(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn keys_depend_on_every_part() {
        let a = step_key(Some(&d('a')), "run", &["echo hi"]);
        assert_eq!(a, step_key(Some(&d('a')), "run", &["echo hi"]));
        assert_ne!(a, step_key(Some(&d('b')), "run", &["echo hi"]));
        assert_ne!(a, step_key(Some(&d('a')), "run", &["echo ho"]));
        assert_ne!(a, step_key(None, "run", &["echo hi"]));
        // Part boundaries matter: ["ab", "c"] is not ["a", "bc"].
        assert_ne!(
            step_key(None, "x", &["ab", "c"]),
            step_key(None, "x", &["a", "bc"])
        );
    }

    #[test]
    fn miss_reasons_name_the_cause() {
        let mut cur = Hint::new(Some(&d('a')), "k2");
        assert_eq!(miss_reason(None, &cur), "not built before");
        let prev = Hint::new(Some(&d('b')), "k1");
        assert_eq!(miss_reason(Some(&prev), &cur), "previous step changed");
        let mut prev = Hint::new(Some(&d('a')), "k1");
        prev.args = vec!["V=1".into()];
        cur.args = vec!["V=2".into()];
        assert_eq!(miss_reason(Some(&prev), &cur), "build arg V changed");
        cur.args = prev.args.clone();
        prev.files.insert("app/main.rs".into(), "1".into());
        cur.files.insert("app/main.rs".into(), "2".into());
        assert_eq!(miss_reason(Some(&prev), &cur), "app/main.rs changed");
        let same = Hint::new(Some(&d('a')), "k2");
        assert_eq!(
            miss_reason(Some(&same), &Hint::new(Some(&d('a')), "k2")),
            "its image was removed"
        );
    }

    #[test]
    fn undecodable_entries_are_misses() {
        assert!(CacheEntry::decode(b"garbage").is_none());
        let e = CacheEntry { image: d('c') };
        assert_eq!(CacheEntry::decode(&e.encode()), Some(e));
    }
}
