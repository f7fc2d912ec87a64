//! The crate's error type: every failure names what is wrong and maps to an `ErrorKind`.

use berth_model::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A value given by the caller is malformed or out of range (subnet, ip, name).
    #[error("{0}")]
    InvalidArgument(String),
    /// A link, namespace or address that must exist does not.
    #[error("{0}")]
    NotFound(String),
    /// Something is already taken: an ip address, a port, a subnet.
    #[error("{0}")]
    Conflict(String),
    /// A pool has nothing left to hand out (addresses, subnets, ports).
    #[error("{0}")]
    Exhausted(String),
    /// A netlink request failed; `op` says what was being done.
    #[error("{op}: {msg}")]
    Netlink { op: String, msg: String },
    /// `nft` refused or failed; the message carries its stderr.
    #[error("{0}")]
    Nft(String),
    /// A system call or file operation failed; `what` names the path or object.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, NetError>;

impl NetError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            NetError::NotFound(_) => ErrorKind::NotFound,
            NetError::Conflict(_) => ErrorKind::Conflict,
            NetError::Exhausted(_) => ErrorKind::Unavailable,
            NetError::NotImplemented(_) => ErrorKind::NotImplemented,
            NetError::Netlink { .. }
            | NetError::Nft(_)
            | NetError::Io { .. }
            | NetError::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn errno(what: impl Into<String>, e: nix::errno::Errno) -> Self {
        NetError::Io {
            what: what.into(),
            source: std::io::Error::from_raw_os_error(e as i32),
        }
    }
}

impl From<NetError> for berth_model::Error {
    fn from(e: NetError) -> Self {
        berth_model::Error::new(e.kind(), e.to_string())
    }
}
