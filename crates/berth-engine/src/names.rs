//! Container names: validation and Docker-style generated names.

use berth_model::{Error, Result};
use rand::seq::SliceRandom;

const LEFT: &[&str] = &[
    "admiring", "brave", "busy", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen",
    "loving", "modest", "nifty", "quirky", "relaxed", "serene", "sharp", "stoic", "tender",
    "vibrant", "wizardly", "zealous",
];
const RIGHT: &[&str] = &[
    "babbage", "curie", "darwin", "einstein", "fermi", "galileo", "hopper", "kepler", "lovelace",
    "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "tesla", "thompson", "turing",
    "wozniak", "yalow",
];

/// Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional leading slash.
pub fn validate(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(n.to_string())
    } else {
        Err(Error::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

pub fn generate() -> String {
    let mut rng = rand::thread_rng();
    format!(
        "{}_{}",
        LEFT.choose(&mut rng).unwrap(),
        RIGHT.choose(&mut rng).unwrap()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_docker() {
        assert_eq!(validate("/web").unwrap(), "web");
        assert_eq!(validate("a_b.c-1").unwrap(), "a_b.c-1");
        for bad in ["", "a", "-x", "a b", "x/y", "é1"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert!(validate(&generate()).is_ok());
    }
}
