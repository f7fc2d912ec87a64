//! The embedded DNS server of user networks: one per container, listening on 127.0.0.11:53
//! (UDP and TCP) inside the container's network namespace, served by the daemon's tokio
//! runtime. It answers A (and PTR) queries for the containers on the same networks and for
//! `--link` aliases, and relays every other query to the host's resolvers.

mod answer;
mod forward;
mod table;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{NetError, Result};
use crate::netns;
use answer::{Outcome, Transport};

pub use answer::TTL;
pub use forward::{upstream_from_resolv_conf, UPSTREAM_TIMEOUT};
pub use table::{DnsTable, DnsView};

/// The address the embedded DNS listens on inside a container, as Docker's.
pub const DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
pub const DNS_PORT: u16 = 53;

/// Queries being forwarded at once per container; more are dropped (the client retries).
const MAX_IN_FLIGHT: usize = 512;
/// TCP connections open at once per container.
const MAX_TCP_CONNS: usize = 64;
/// A TCP connection with no complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(30);

/// A running DNS server for one container. Dropping it stops it.
#[derive(Debug)]
pub struct DnsServer {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    table: DnsTable,
    view: RwLock<DnsView>,
    upstream: Vec<SocketAddr>,
}

impl Shared {
    fn handle(&self, packet: &[u8], transport: Transport) -> Outcome {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        answer::handle(packet, &self.table, &view, transport)
    }
}

impl DnsServer {
    /// Binds UDP and TCP 127.0.0.11:53 inside the network namespace at `netns` and serves
    /// them on the current tokio runtime (so it must be called from within one). Queries for
    /// names not in `table` as seen through `view` go to `upstream`, tried in order.
    pub fn start_in(
        netns: &Path,
        table: DnsTable,
        view: DnsView,
        upstream: Vec<SocketAddr>,
    ) -> Result<DnsServer> {
        Self::start_at(
            netns,
            SocketAddr::from((DNS_IP, DNS_PORT)),
            table,
            view,
            upstream,
        )
    }

    /// As [`DnsServer::start_in`], on another address of the namespace.
    pub fn start_at(
        netns: &Path,
        addr: SocketAddr,
        table: DnsTable,
        view: DnsView,
        upstream: Vec<SocketAddr>,
    ) -> Result<DnsServer> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            NetError::Internal("the embedded dns server must be started on a tokio runtime".into())
        })?;
        let shown = netns.display().to_string();
        // The sockets are made on a thread inside the namespace and stay in it afterwards.
        let (udp, tcp) = netns::run_in(netns, || -> Result<_> {
            let err = |proto: &str, e| {
                NetError::io(
                    format!("bind {proto} {addr} in network namespace {shown}"),
                    e,
                )
            };
            let udp = std::net::UdpSocket::bind(addr).map_err(|e| err("udp", e))?;
            udp.set_nonblocking(true).map_err(|e| err("udp", e))?;
            let tcp = std::net::TcpListener::bind(addr).map_err(|e| err("tcp", e))?;
            tcp.set_nonblocking(true).map_err(|e| err("tcp", e))?;
            Ok((udp, tcp))
        })??;
        let _entered = runtime.enter();
        let udp =
            UdpSocket::from_std(udp).map_err(|e| NetError::io("register dns udp socket", e))?;
        let tcp =
            TcpListener::from_std(tcp).map_err(|e| NetError::io("register dns tcp socket", e))?;
        let shared = Arc::new(Shared {
            table,
            view: RwLock::new(view),
            upstream,
        });
        let tasks = vec![
            runtime.spawn(serve_udp(udp, shared.clone())),
            runtime.spawn(serve_tcp(tcp, shared.clone())),
        ];
        Ok(DnsServer { shared, tasks })
    }

    /// Replaces what the container sees (after a network connect or disconnect); queries
    /// received from now on use it.
    pub fn set_view(&self, view: DnsView) {
        *self.shared.view.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    pub fn view(&self) -> DnsView {
        self.shared
            .view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops serving. The sockets are closed as soon as the runtime drops the tasks, which
    /// is right away unless the runtime is busy; [`DnsServer::shutdown`] waits for it.
    pub fn stop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Stops serving and returns once both sockets are closed.
    pub async fn shutdown(mut self) {
        self.stop();
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The UDP loop owns the socket (so stopping it closes the socket): answers are sent here,
/// and forwarded queries run in tasks of their own that hand their reply back.
async fn serve_udp(sock: UdpSocket, shared: Arc<Shared>) {
    let (tx, mut replies) = mpsc::channel::<(Vec<u8>, SocketAddr)>(64);
    let mut in_flight = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            got = sock.recv_from(&mut buf) => {
                let Ok((n, peer)) = got else { continue };
                let packet = &buf[..n];
                match shared.handle(packet, Transport::Udp) {
                    Outcome::Reply(bytes) => {
                        let _ = sock.send_to(&bytes, peer).await;
                    }
                    Outcome::Forward { id, servfail } if in_flight.len() < MAX_IN_FLIGHT => {
                        let packet = packet.to_vec();
                        let (tx, shared) = (tx.clone(), shared.clone());
                        in_flight.spawn(async move {
                            let reply = forward::forward(&packet, id, &shared.upstream, Transport::Udp).await;
                            let _ = tx.send((reply.unwrap_or(servfail), peer)).await;
                        });
                    }
                    Outcome::Forward { .. } | Outcome::Drop => {}
                }
            }
            Some((bytes, peer)) = replies.recv() => {
                let _ = sock.send_to(&bytes, peer).await;
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

/// Accepts TCP connections; each is served by a task of its own, ended with this one.
async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            got = listener.accept() => match got {
                Ok((stream, _)) if conns.len() < MAX_TCP_CONNS => {
                    conns.spawn(serve_conn(stream, shared.clone()));
                }
                Ok(_) => {}
                // Out of file descriptors, say: do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Length-prefixed queries on one connection, answered in order, until the client closes it,
/// sends something that is not a query, or stays idle.
async fn serve_conn(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let mut len = [0u8; 2];
        if !matches!(
            tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let reply = match shared.handle(&packet, Transport::Tcp) {
            Outcome::Reply(bytes) => bytes,
            Outcome::Forward { id, servfail } => {
                forward::forward(&packet, id, &shared.upstream, Transport::Tcp)
                    .await
                    .unwrap_or(servfail)
            }
            Outcome::Drop => return,
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&reply);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}
