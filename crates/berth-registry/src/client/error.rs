//! The client's errors, worded as dockerd words them.

use berth_model::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry could not be reached (`Get "https://x/v2/": dial tcp ...`).
    #[error("{method} \"{url}\": {cause}")]
    Transport {
        method: String,
        url: String,
        cause: String,
        /// A connect failure (refused, no route, timeout) rather than a dropped body.
        connect: bool,
    },
    /// An error reply in the distribution spec's `{"errors":[...]}` form, or a bare status.
    #[error("{message}")]
    Registry {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// Content whose digest is not the one asked for.
    #[error("{0}")]
    DigestMismatch(String),
    #[error("{0}")]
    Io(String),
}

impl ClientError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Transport { connect: true, .. } => ErrorKind::Unavailable,
            ClientError::Transport { .. } => ErrorKind::Unavailable,
            ClientError::Registry { status, code, .. } => match (*status, code.as_str()) {
                (_, "MANIFEST_UNKNOWN" | "BLOB_UNKNOWN" | "NAME_UNKNOWN" | "TAG_INVALID") => {
                    if code == "TAG_INVALID" {
                        ErrorKind::InvalidArgument
                    } else {
                        ErrorKind::NotFound
                    }
                }
                (_, "UNAUTHORIZED") | (401, _) => ErrorKind::Unauthorized,
                (_, "DENIED") | (403, _) => ErrorKind::Forbidden,
                (404, _) => ErrorKind::NotFound,
                (400, _) | (_, "MANIFEST_INVALID" | "DIGEST_INVALID" | "NAME_INVALID") => {
                    ErrorKind::InvalidArgument
                }
                (429 | 502 | 503 | 504, _) => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            ClientError::Unauthorized(_) => ErrorKind::Unauthorized,
            ClientError::Invalid(_) | ClientError::DigestMismatch(_) => ErrorKind::InvalidArgument,
            ClientError::NotFound(_) => ErrorKind::NotFound,
            ClientError::Io(_) => ErrorKind::Internal,
        }
    }

    /// Worth retrying (a dropped connection, a stall, a busy registry)?
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. } | ClientError::Io(_) => true,
            ClientError::Registry { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Builds the error of a non-success reply from its status and body.
    pub fn from_reply(status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Errs {
            #[serde(default)]
            errors: Vec<Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        if let Ok(e) = serde_json::from_slice::<Errs>(body) {
            if let Some(first) = e.errors.first() {
                let code = first.code.clone();
                let text = code.to_lowercase().replace('_', " ");
                let message = if first.message.is_empty() {
                    text
                } else {
                    format!("{text}: {}", first.message)
                };
                return ClientError::Registry {
                    status,
                    code,
                    message,
                };
            }
        }
        let (code, message) = match status {
            401 => (
                "UNAUTHORIZED",
                "unauthorized: authentication required".to_string(),
            ),
            403 => (
                "DENIED",
                "denied: requested access to the resource is denied".into(),
            ),
            404 => ("NOT_FOUND", "not found".into()),
            s => (
                "UNKNOWN",
                format!(
                    "received unexpected HTTP status: {s} {}",
                    http_reason(s).unwrap_or("")
                )
                .trim_end()
                .to_string(),
            ),
        };
        ClientError::Registry {
            status,
            code: code.into(),
            message,
        }
    }
}

fn http_reason(s: u16) -> Option<&'static str> {
    reqwest::StatusCode::from_u16(s)
        .ok()
        .and_then(|s| s.canonical_reason())
}

/// Go's wording of a transport failure (what dockerd prints after `Get "url": `).
pub(crate) fn describe_transport(e: &reqwest::Error, host: &str) -> (String, bool) {
    use std::error::Error as _;
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.source();
    let mut io_kind = None;
    let mut texts = Vec::new();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        texts.push(s.to_string());
        src = s.source();
    }
    let joined = texts.join(": ").to_lowercase();
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:443")
    };
    if e.is_connect() {
        let cause = match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => {
                format!("dial tcp {addr}: connect: connection refused")
            }
            Some(std::io::ErrorKind::TimedOut) => format!("dial tcp {addr}: i/o timeout"),
            _ if joined.contains("dns")
                || joined.contains("lookup")
                || joined.contains("resolve") =>
            {
                let h = host.rsplit_once(':').map_or(host, |(h, _)| h);
                format!("dial tcp: lookup {h}: no such host")
            }
            _ if e.is_timeout() => format!("dial tcp {addr}: i/o timeout"),
            _ => format!("dial tcp {addr}: {joined}"),
        };
        return (cause, true);
    }
    if e.is_timeout() {
        return ("net/http: timeout awaiting response headers".into(), false);
    }
    let cause = if joined.is_empty() {
        e.to_string()
    } else {
        joined
    };
    (cause, false)
}
