//! Container networking for berthd: IPAM, network namespaces, bridges and veth pairs
//! (rtnetlink), NAT/port publishing/isolation (nftables, in berth's own table) and the
//! embedded DNS server of user networks.

pub mod conntrack;
pub mod dns;
pub mod error;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod nft;
pub mod ports;

pub use error::{NetError, Result};
pub use ipam::{next_free_subnet, Pool, Subnet, DEFAULT_BRIDGE, DEFAULT_GATEWAY, DEFAULT_SUBNET};
pub use link::{bridge_name, host_if_name, mac_for, Attach};
pub use nft::{NetRule, PortRule, Ruleset};
pub use ports::Proto;
