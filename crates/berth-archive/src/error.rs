use berth_model::ErrorKind;
use std::io;

/// Why a layer could not be applied. Bad input (hostile paths, truncated or corrupt streams)
/// is `InvalidArgument`; a failing local filesystem is `Internal`.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("refusing layer entry {entry:?}: {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("truncated layer tar: {0}")]
    Truncated(String),
    #[error("corrupt layer tar: {0}")]
    Corrupt(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl ArchiveError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unsafe { .. } | Self::Truncated(_) | Self::Corrupt(_) => {
                ErrorKind::InvalidArgument
            }
            Self::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn unsafe_entry(entry: &[u8], reason: impl Into<String>) -> Self {
        Self::Unsafe {
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Self::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    /// A failure while reading the stream: the input is at fault, not the disk.
    pub(crate) fn read(context: impl std::fmt::Display, e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Self::Truncated(format!("{context}: {e}")),
            _ => Self::Corrupt(format!("{context}: {e}")),
        }
    }
}

impl From<ArchiveError> for berth_model::Error {
    fn from(e: ArchiveError) -> Self {
        berth_model::Error::new(e.kind(), e.to_string())
    }
}
