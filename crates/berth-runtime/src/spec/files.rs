//! Contents of the `/etc/hosts` and `/etc/resolv.conf` files Docker writes for a container.

use std::net::IpAddr;

/// libnetwork's fixed entries, in its order and with its tab separator.
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
    ::1\tlocalhost ip6-localhost ip6-loopback\n\
    fe00::0\tip6-localnet\n\
    ff00::0\tip6-mcastprefix\n\
    ff02::1\tip6-allnodes\n\
    ff02::2\tip6-allrouters\n";

/// `/etc/hosts` for a container that has only loopback. Docker (`--network none`) writes
/// the fixed entries and no line for the hostname: it maps the hostname only to a real
/// container address, and never to 127.0.1.1 as Debian hosts do. Berth does the same; once
/// the container has an address, use [`hosts_file`] to add that line.
pub fn default_hosts(hostname: &str) -> String {
    hosts_file(hostname, "", None)
}

/// `/etc/hosts` as libnetwork builds it: the fixed entries, then `<ip>\t<fqdn> <host>` for
/// the container's own address (just `<host>` when there is no domain).
pub fn hosts_file(hostname: &str, domainname: &str, ip: Option<IpAddr>) -> String {
    let mut out = String::from(DEFAULT_HOSTS);
    if let Some(ip) = ip {
        let fqdn = if domainname.is_empty() {
            hostname.to_string()
        } else {
            format!("{hostname}.{domainname}")
        };
        match fqdn.split_once('.') {
            Some((short, _)) => out.push_str(&format!("{ip}\t{fqdn} {short}\n")),
            None => out.push_str(&format!("{ip}\t{fqdn}\n")),
        }
    }
    out
}

/// Google's resolvers, which Docker falls back to when the host has only local ones.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// The container's `resolv.conf` from the host's, by libnetwork's `FilterResolvDNS` with
/// IPv6 disabled (Docker's default bridge): nameservers on loopback cannot be reached from
/// the container's namespace and IPv6 ones have no route, so both are dropped; when no
/// nameserver is left, 8.8.8.8 and 8.8.4.4 are used. Everything else is kept verbatim.
/// Choosing the host file (e.g. systemd-resolved's upstream file instead of the stub) is
/// the caller's job, as it needs I/O.
pub fn resolv_conf_from_host(host: &str) -> String {
    let mut out = String::new();
    let mut kept = 0;
    for line in host.lines() {
        match nameserver_addr(line) {
            Some(addr) if unusable_nameserver(addr) => continue,
            Some(_) => kept += 1,
            None => {}
        }
        out.push_str(line);
        out.push('\n');
    }
    if kept == 0 {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        for ns in FALLBACK_NAMESERVERS {
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

/// The address of a `nameserver` line, as text; `None` for any other line.
fn nameserver_addr(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    if words.next()? != "nameserver" {
        return None;
    }
    Some(words.next().unwrap_or(""))
}

fn unusable_nameserver(addr: &str) -> bool {
    // Scoped IPv6 addresses (`fe80::1%eth0`) do not parse as IpAddr but are IPv6 all the same.
    let bare = addr.split('%').next().unwrap_or(addr);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(_)) => true,
        Err(_) => bare.contains(':'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_for_loopback_only() {
        let h = default_hosts("abc123");
        assert_eq!(
            h,
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n"
        );
        assert!(!h.contains("abc123"));
    }

    #[test]
    fn hosts_with_address() {
        let ip: IpAddr = "172.17.0.2".parse().unwrap();
        let h = hosts_file("abc123", "", Some(ip));
        assert!(h.ends_with("ff02::2\tip6-allrouters\n172.17.0.2\tabc123\n"));
        let h = hosts_file("web", "example.com", Some(ip));
        assert!(h.ends_with("172.17.0.2\tweb.example.com web\n"));
        let h = hosts_file("web.corp", "", Some(ip));
        assert!(h.ends_with("172.17.0.2\tweb.corp web\n"));
    }

    #[test]
    fn resolv_drops_local_and_ipv6_nameservers() {
        let host = "# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n\
                    nameserver ::1\nnameserver 2001:4860:4860::8888\nnameserver fe80::1%eth0\n\
                    options edns0 trust-ad\n";
        assert_eq!(
            resolv_conf_from_host(host),
            "# generated\nsearch example.com\nnameserver 10.0.0.2\noptions edns0 trust-ad\n"
        );
    }

    #[test]
    fn resolv_falls_back_to_google() {
        let host = "nameserver 127.0.0.53\noptions edns0\nsearch lan";
        assert_eq!(
            resolv_conf_from_host(host),
            "options edns0\nsearch lan\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf_from_host(""),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        // 127.x.y.z in general is loopback, not just 127.0.0.1.
        assert!(resolv_conf_from_host("nameserver 127.1.2.3\n").contains("8.8.8.8"));
    }
}
