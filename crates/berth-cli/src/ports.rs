//! Port specs as the docker CLI reads them (`-p`, `--expose`) and the PORTS column of
//! `ps`. The CLI expands ranges itself: the daemon gets one `PortBindings` entry per
//! container port, and a host range only for a single container port (the daemon then
//! picks one free host port from it).

use crate::types::Port;
use anyhow::bail;
use berth_model::ports::port_range;

/// One binding of a `-p` spec: container port key (`80/tcp`), host ip (`""` = all), host
/// port (`""` = random, `8000`, or `8000-8010` for a single container port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub port: String,
    pub host_ip: String,
    pub host_port: String,
}

/// `ip:host:ctr` → the parts (Go's `splitParts`: an IPv6 address keeps its colons).
fn split_parts(raw: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    }
}

/// `port[/proto]` → (proto, port); `("", "")` without a port.
fn split_proto_port(raw: &str) -> (String, &str) {
    let (port, proto) = raw.split_once('/').unwrap_or((raw, ""));
    if port.is_empty() {
        return (String::new(), "");
    }
    let proto = if proto.is_empty() { "tcp" } else { proto };
    (proto.to_ascii_lowercase(), port)
}

/// `[ip:][hostPort[-end]:]containerPort[-end][/proto]`, expanded as `nat.ParsePortSpec`
/// does, with its error messages.
pub fn parse_port_spec(raw: &str) -> anyhow::Result<Vec<Mapping>> {
    let (mut ip, host, ctr) = split_parts(raw);
    let (proto, ctr) = split_proto_port(ctr);
    if ctr.is_empty() {
        bail!("no port specified: {raw}<empty>");
    }
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    if let Some(inner) = ip.strip_prefix('[') {
        match inner.strip_suffix(']') {
            Some(i) => ip = i.to_string(),
            None => bail!("invalid IP address {ip}: missing ']' in address"),
        }
    }
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        bail!("invalid IP address: {ip}");
    }
    let Some((start, end)) = port_range(ctr) else {
        bail!("invalid containerPort: {ctr}");
    };
    let (mut hstart, mut hend) = (0u16, 0u16);
    if !host.is_empty() {
        let Some(r) = port_range(host) else {
            bail!("invalid hostPort: {host}");
        };
        (hstart, hend) = r;
        if end - start != hend - hstart && end != start {
            bail!("invalid ranges specified for container and host Ports: {ctr} and {host}");
        }
    }
    let count = u32::from(end - start) + 1;
    Ok((0..count)
        .map(|i| {
            let host_port = if host.is_empty() {
                String::new()
            } else if count == 1 && hstart != hend {
                format!("{hstart}-{hend}")
            } else {
                (u32::from(hstart) + i).to_string()
            };
            Mapping {
                port: format!("{}/{proto}", u32::from(start) + i),
                host_ip: ip.clone(),
                host_port,
            }
        })
        .collect())
}

/// `--expose port[-end][/proto]` → the port keys it exposes.
pub fn expand_expose(raw: &str) -> anyhow::Result<Vec<String>> {
    if raw.contains(':') {
        bail!("invalid port format for --expose: {raw}");
    }
    let (proto, port) = split_proto_port(raw);
    let Some((start, end)) = port_range(port) else {
        bail!("invalid range format for --expose: {raw}, error: invalid port range: {port}");
    };
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The PORTS column, as the docker CLI's `DisplayablePorts`: ports published on the same
/// number (or only exposed) collapse into ranges per address and protocol
/// (`0.0.0.0:8000-8001->8000-8001/tcp`, `80-81/tcp`); a port published on another number
/// is listed alone (`0.0.0.0:8000->80/tcp`), after the groups.
pub fn displayable_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        (a.private_port, &a.ip, a.public_port, &a.kind).cmp(&(
            b.private_port,
            &b.ip,
            b.public_port,
            &b.kind,
        ))
    });
    // key → (first, last), in the order the keys first appear.
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let cur = p.private_port;
        let mut key = p.kind.clone();
        if !p.ip.is_empty() {
            if p.public_port != cur {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&p.ip, &p.public_port.to_string()),
                    p.private_port,
                    p.kind
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.kind);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, cur, cur)),
            Some(g) if u32::from(cur) == u32::from(g.2) + 1 => g.2 = cur,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                (g.1, g.2) = (cur, cur);
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form_group(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, kind) = match key.split_once('/') {
        Some((ip, kind)) => (ip, kind),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(port: &str, ip: &str, host: &str) -> Mapping {
        Mapping {
            port: port.into(),
            host_ip: ip.into(),
            host_port: host.into(),
        }
    }

    #[test]
    fn ranges_expand_as_the_docker_cli() {
        assert_eq!(
            parse_port_spec("8000-8001:80-81").unwrap(),
            [m("80/tcp", "", "8000"), m("81/tcp", "", "8001")]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1:8000-8001:80-81/udp").unwrap(),
            [
                m("80/udp", "127.0.0.1", "8000"),
                m("81/udp", "127.0.0.1", "8001")
            ]
        );
        assert_eq!(
            parse_port_spec("80-81").unwrap(),
            [m("80/tcp", "", ""), m("81/tcp", "", "")]
        );
        assert_eq!(
            parse_port_spec("8000-8010:80").unwrap(),
            [m("80/tcp", "", "8000-8010")]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1::80/UDP").unwrap(),
            [m("80/udp", "127.0.0.1", "")]
        );
        assert_eq!(
            parse_port_spec("[::1]:8080:80").unwrap(),
            [m("80/tcp", "::1", "8080")]
        );
        assert_eq!(parse_port_spec("80").unwrap(), [m("80/tcp", "", "")]);
    }

    #[test]
    fn bad_specs_fail_in_dockers_words() {
        for (spec, want) in [
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
            (
                "8000:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000",
            ),
            ("70000:80", "invalid hostPort: 70000"),
            ("8000:x", "invalid containerPort: x"),
            ("81-80", "invalid containerPort: 81-80"),
            ("80/icmp", "invalid proto: icmp"),
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
            ("8080:", "no port specified: 8080:<empty>"),
        ] {
            assert_eq!(
                parse_port_spec(spec).unwrap_err().to_string(),
                want,
                "{spec}"
            );
        }
    }

    #[test]
    fn expose_ranges() {
        assert_eq!(
            expand_expose("80-82/udp").unwrap(),
            ["80/udp", "81/udp", "82/udp"]
        );
        assert_eq!(expand_expose("443").unwrap(), ["443/tcp"]);
        assert!(expand_expose("1:2").is_err());
        assert!(expand_expose("9-8").is_err());
    }

    fn p(ip: &str, private: u16, public: u16, kind: &str) -> Port {
        Port {
            ip: ip.into(),
            private_port: private,
            public_port: public,
            kind: kind.into(),
        }
    }

    #[test]
    fn ps_column_groups_like_the_docker_cli() {
        // -p 8000-8001:80-81: different numbers, listed one by one.
        assert_eq!(
            displayable_ports(&[p("0.0.0.0", 81, 8001, "tcp"), p("0.0.0.0", 80, 8000, "tcp")]),
            "0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp"
        );
        // -p 8000-8001:8000-8001 and exposed-only ranges collapse.
        assert_eq!(
            displayable_ports(&[
                p("0.0.0.0", 8001, 8001, "tcp"),
                p("0.0.0.0", 8000, 8000, "tcp"),
                p("", 80, 0, "tcp"),
                p("", 81, 0, "tcp"),
                p("", 53, 0, "udp"),
            ]),
            "53/udp, 80-81/tcp, 0.0.0.0:8000-8001->8000-8001/tcp"
        );
        // A gap closes a group; the key keeps its first place.
        assert_eq!(
            displayable_ports(&[
                p("", 80, 0, "tcp"),
                p("", 82, 0, "tcp"),
                p("", 83, 0, "tcp")
            ]),
            "80/tcp, 82-83/tcp"
        );
        assert_eq!(
            displayable_ports(&[p("127.0.0.1", 80, 18089, "tcp"), p("", 53, 0, "udp")]),
            "53/udp, 127.0.0.1:18089->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[p("::", 80, 80, "tcp")]),
            "[::]:80->80/tcp"
        );
        assert_eq!(displayable_ports(&[]), "");
    }
}
