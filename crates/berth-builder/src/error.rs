use berth_model::ErrorKind;
use std::io;

/// Why a build step failed. Bad input (context, Dockerfile, sources) is `InvalidArgument`
/// or `NotFound`; a failing local filesystem is `Internal`.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The build context is malformed or hostile; names the entry at fault.
    #[error("invalid build context: {0}")]
    Context(String),
    /// A `.dockerignore` pattern does not compile.
    #[error("invalid .dockerignore: {0}")]
    Ignore(String),
    /// A COPY/ADD source or destination is refused (Docker's message, verbatim).
    #[error("{0}")]
    Source(String),
    /// A COPY/ADD source does not exist (Docker's message, verbatim).
    #[error("{0}")]
    NotFound(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl BuildError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Context(_) | Self::Ignore(_) | Self::Source(_) => ErrorKind::InvalidArgument,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<BuildError> for berth_model::Error {
    fn from(e: BuildError) -> Self {
        berth_model::Error::new(e.kind(), e.to_string())
    }
}
