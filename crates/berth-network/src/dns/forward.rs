//! Relaying queries for names that are not ours to the host's resolvers, from the daemon's
//! own network namespace (these sockets are made on the runtime's threads, never in a
//! container's namespace).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use super::answer::Transport;

/// How long one upstream server gets to answer before the next one is asked.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `packet` (a query with id `id`) to each upstream server in turn until one answers,
/// and returns that answer as it came. A truncated UDP answer is fetched again over TCP when
/// the client itself asked over TCP. None when no server answered.
pub(crate) async fn forward(
    packet: &[u8],
    id: u16,
    upstream: &[SocketAddr],
    client: Transport,
) -> Option<Vec<u8>> {
    for server in upstream {
        let Ok(Ok(reply)) = timeout(UPSTREAM_TIMEOUT, udp_exchange(packet, id, *server)).await
        else {
            tracing::debug!(%server, "dns: upstream did not answer over udp");
            continue;
        };
        if client == Transport::Tcp && reply[2] & 0x02 != 0 {
            if let Ok(Ok(full)) = timeout(UPSTREAM_TIMEOUT, tcp_exchange(packet, id, *server)).await
            {
                return Some(full);
            }
        }
        return Some(reply);
    }
    None
}

/// Whether `reply` is a response to the query with this id.
fn answers(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12 && u16::from_be_bytes([reply[0], reply[1]]) == id && reply[2] & 0x80 != 0
}

async fn udp_exchange(packet: &[u8], id: u16, server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // A fresh socket (random port) per query, connected so only the server's replies arrive.
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(packet).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await?;
        if answers(&buf[..n], id) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(packet: &[u8], id: u16, server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let len = u16::try_from(packet.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut stream = TcpStream::connect(server).await?;
    let mut out = Vec::with_capacity(packet.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    stream.write_all(&out).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    if !answers(&buf, id) {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(buf)
}

/// The name servers of a resolv.conf text, as port-53 socket addresses, in order, without
/// duplicates. Loopback servers (127.0.0.53 of systemd-resolved...) are kept: queries are
/// forwarded from the daemon's own namespace, where they are reachable. Addresses with a
/// zone (`fe80::1%eth0`) are skipped.
pub fn upstream_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(Ok(ip)) = words.next().map(str::parse::<std::net::IpAddr>) else {
            continue;
        };
        let addr = SocketAddr::new(ip, 53);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_servers_in_order_loopback_kept() {
        let text = "# comment nameserver 9.9.9.9\n; nameserver 8.8.4.4\nsearch example.com\n\
                    nameserver 127.0.0.53\n  nameserver\t10.0.0.1  # trailing\nnameserver 2001:db8::1\n\
                    nameserver fe80::1%eth0\nnameserver bogus\nnameserver\nnameserver 10.0.0.1\n\
                    options ndots:2\n";
        let got: Vec<String> = upstream_from_resolv_conf(text)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["127.0.0.53:53", "10.0.0.1:53", "[2001:db8::1]:53"]);
        assert!(upstream_from_resolv_conf("").is_empty());
    }

    #[test]
    fn replies_must_carry_the_query_id_and_the_response_bit() {
        assert!(answers(
            &[0x12, 0x34, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0],
            0x1234
        ));
        assert!(!answers(
            &[0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0],
            0x1234
        ));
        assert!(!answers(
            &[0x12, 0x35, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0],
            0x1234
        ));
        assert!(!answers(&[0x12, 0x34, 0x81], 0x1234));
    }
}
