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

/// dockerd's `name` filter: the value is a regular expression matched (unanchored) against
/// the name with and without its leading slash, or equal to it; one that does not compile
/// matches nothing.
pub fn filter_matches(pattern: &str, name: &str) -> bool {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let slashed = format!("/{bare}");
    if pattern == bare || pattern == slashed {
        return true;
    }
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(bare) || re.is_match(&slashed))
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

    #[test]
    fn name_filter_is_a_regex_on_the_name_with_and_without_its_slash() {
        assert!(filter_matches("web", "web-1"));
        assert!(filter_matches("^web$", "web"));
        assert!(filter_matches("^/web$", "web"));
        assert!(filter_matches("/web", "web"));
        assert!(!filter_matches("^web$", "web-1"));
        assert!(filter_matches("^web-[0-9]+$", "web-12"));
        assert!(!filter_matches("^db", "web-db"));
        assert!(!filter_matches("(", "web"));
    }
}
