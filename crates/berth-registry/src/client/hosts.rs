//! Pure rules: which host serves a reference's domain, which registries may use plain
//! HTTP, and `WWW-Authenticate` challenges.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// The registry API host for an image reference's domain (`docker.io` is served by
/// `registry-1.docker.io`).
pub fn api_host(domain: &str) -> &str {
    match domain {
        "docker.io" | "index.docker.io" | "registry.hub.docker.com" => "registry-1.docker.io",
        d => d,
    }
}

/// The host searched for a reference's domain (`docker.io` searches `index.docker.io`).
pub fn index_host(domain: &str) -> &str {
    match domain {
        "docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "index.docker.io",
        d => d,
    }
}

/// Splits `host:port` (also `[::1]:5000`); the port is `None` when absent.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((h, after)) = rest.split_once(']') {
            return (h, after.strip_prefix(':'));
        }
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (host, None),
    }
}

/// Whether `host` (with port) may be reached over plain HTTP, as Docker allows: loopback
/// registries and those in the daemon's `insecure-registries` (names, `host:port`, or
/// IPv4 CIDRs).
pub fn is_insecure(host: &str, insecure: &[String]) -> bool {
    let (name, _) = split_host(host);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let ip = name.parse::<IpAddr>().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    insecure.iter().any(|entry| {
        let entry = entry
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if entry == host || entry == name {
            return true;
        }
        match (entry.split_once('/'), ip) {
            (Some((net, bits)), Some(IpAddr::V4(addr))) => {
                match (net.parse::<Ipv4Addr>(), bits.parse::<u32>()) {
                    (Ok(net), Ok(bits)) if bits <= 32 => {
                        let mask = if bits == 0 {
                            0
                        } else {
                            u32::MAX << (32 - bits)
                        };
                        u32::from(net) & mask == u32::from(addr) & mask
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    })
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic { realm: Option<String> },
    Bearer { params: BTreeMap<String, String> },
}

impl Challenge {
    pub fn realm(&self) -> Option<&str> {
        match self {
            Challenge::Basic { realm } => realm.as_deref(),
            Challenge::Bearer { params } => params.get("realm").map(String::as_str),
        }
    }
}

/// Parses `Bearer realm="https://auth",service="registry",scope="repository:x:pull"` or
/// `Basic realm="x"`; `None` for other schemes.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(Challenge::Bearer { params }),
        "basic" => Some(Challenge::Basic {
            realm: params.get("realm").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = s[start..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut value = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch = s[i..].chars().next().unwrap_or(' ');
                value.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
        } else {
            let st = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            value = s[st..i].trim().to_string();
        }
        if !key.is_empty() {
            out.insert(key, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        let Challenge::Bearer { params } = &c else {
            panic!("not bearer")
        };
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:library/busybox:pull,push");
        assert_eq!(c.realm(), Some("https://auth.docker.io/token"));
    }

    #[test]
    fn basic_challenge_and_others() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic {
                realm: Some("Registry Realm".into())
            })
        );
        assert_eq!(
            parse_challenge("basic"),
            Some(Challenge::Basic { realm: None })
        );
        assert_eq!(parse_challenge("Digest realm=x"), None);
        let Some(Challenge::Bearer { params }) =
            parse_challenge(r#"Bearer realm=http://h/t, service="a\"b""#)
        else {
            panic!()
        };
        assert_eq!(params["realm"], "http://h/t");
        assert_eq!(params["service"], "a\"b");
    }

    #[test]
    fn hosts() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(index_host("docker.io"), "index.docker.io");
        let r = berth_model::Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(api_host(&r.domain), "registry-1.docker.io");
    }

    #[test]
    fn insecure_rules() {
        let none: Vec<String> = vec![];
        assert!(is_insecure("127.0.0.1:5000", &none));
        assert!(is_insecure("127.3.4.5", &none));
        assert!(is_insecure("localhost:5000", &none));
        assert!(is_insecure("[::1]:5000", &none));
        assert!(!is_insecure("registry-1.docker.io", &none));
        assert!(!is_insecure("10.0.0.5:5000", &none));
        let list = vec![
            "myreg.local:5000".to_string(),
            "plain.example".to_string(),
            "10.1.0.0/16".to_string(),
        ];
        assert!(is_insecure("myreg.local:5000", &list));
        assert!(!is_insecure("myreg.local:6000", &list));
        assert!(is_insecure("plain.example:443", &list));
        assert!(is_insecure("10.1.2.3:5000", &list));
        assert!(!is_insecure("10.2.0.1:5000", &list));
    }
}
