//! `berth port`: the published ports of a container, from `NetworkSettings.Ports` of its
//! inspect, as the docker CLI prints them.

use crate::client::{seg, Client};
use crate::errors::StatusError;
use clap::Args;
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// Go's `net.JoinHostPort`: an IPv6 host goes in brackets.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `sortorder.NaturalLess`: runs of digits compare as numbers, the rest byte-wise.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn bindings(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (s("HostIp"), s("HostPort"))
        })
        .collect()
}

fn fail(msg: String) -> anyhow::Error {
    StatusError {
        code: 1,
        message: Some(msg),
    }
    .into()
}

/// The lines docker prints for this inspect, or its error.
pub fn port_lines(
    inspect: &Value,
    container: &str,
    port: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let ports = inspect
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    match port {
        Some(p) => {
            let (num, proto) = match p.split_once('/') {
                Some((n, pr)) if !pr.is_empty() => (n, pr),
                Some((n, _)) => (n, "tcp"),
                None => (p, "tcp"),
            };
            if num.parse::<u16>().is_err() {
                let why = if num.parse::<u64>().is_ok() {
                    "value out of range"
                } else {
                    "invalid syntax"
                };
                return Err(fail(format!(
                    "Error: invalid port ({num}): strconv.ParseUint: parsing \"{num}\": {why}"
                )));
            }
            let found = bindings(ports.get(&format!("{num}/{proto}")).unwrap_or(&Value::Null));
            if found.is_empty() {
                return Err(fail(format!(
                    "Error: No public port '{p}' published for {container}"
                )));
            }
            out.extend(found.iter().map(|(h, p)| join_host_port(h, p)));
        }
        None => {
            for (from, v) in &ports {
                for (h, p) in bindings(v) {
                    out.push(format!("{from} -> {}", join_host_port(&h, &p)));
                }
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

pub async fn port(client: &Client, a: PortArgs) -> anyhow::Result<i32> {
    client.ping().await?;
    let inspect: Value = client
        .get_json(&format!("/containers/{}/json", seg(&a.container)))
        .await?;
    for line in port_lines(&inspect, &a.container, a.port.as_deref())? {
        println!("{line}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inspect() -> Value {
        json!({"NetworkSettings": {"Ports": {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18090"}],
            "9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9000"}, {"HostIp": "::", "HostPort": "9000"}],
            "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
            "443/tcp": null
        }}})
    }

    #[test]
    fn all_ports_like_the_trace() {
        assert_eq!(
            port_lines(&inspect(), "p", None).unwrap(),
            [
                "53/udp -> 0.0.0.0:5353",
                "80/tcp -> 127.0.0.1:18090",
                "9000/tcp -> 0.0.0.0:9000",
                "9000/tcp -> [::]:9000"
            ]
        );
        assert!(
            port_lines(&json!({"NetworkSettings": {"Ports": {}}}), "p", None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn one_port() {
        assert_eq!(
            port_lines(&inspect(), "p", Some("80")).unwrap(),
            ["127.0.0.1:18090"]
        );
        assert_eq!(
            port_lines(&inspect(), "p", Some("53/udp")).unwrap(),
            ["0.0.0.0:5353"]
        );
        for (p, want) in [
            ("80/udp", "Error: No public port '80/udp' published for p"),
            ("443/tcp", "Error: No public port '443/tcp' published for p"),
            ("x", "Error: invalid port (x): strconv.ParseUint: parsing \"x\": invalid syntax"),
            ("70000", "Error: invalid port (70000): strconv.ParseUint: parsing \"70000\": value out of range"),
        ] {
            assert_eq!(port_lines(&inspect(), "p", Some(p)).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("9000/tcp", "80/tcp"), Ordering::Greater);
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a", "a1"), Ordering::Less);
    }
}
