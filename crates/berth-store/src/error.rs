use berth_archive::ArchiveError;
use berth_model::ErrorKind;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Docker's wording, which clients match on.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Conflict(String),
    #[error("metadata database {0} is locked by another process")]
    Locked(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("metadata database: {0}")]
    Db(String),
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoSuchImage(_) | Self::NotFound(_) => ErrorKind::NotFound,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Locked(_) => ErrorKind::Unavailable,
            Self::Archive(e) => e.kind(),
            Self::Io { .. } | Self::Db(_) | Self::Corrupt(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Self::Io {
            context: context.into(),
            source: source.into(),
        }
    }
}

impl From<StoreError> for berth_model::Error {
    fn from(e: StoreError) -> Self {
        berth_model::Error::new(e.kind(), e.to_string())
    }
}

macro_rules! db_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Db(redb::Error::from(e).to_string())
            }
        }
    )*};
}
db_errors!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
