use berth_model::ErrorKind;

/// Failures while turning a container's configuration into an OCI spec. The messages follow
/// Docker's wording because clients show them verbatim.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    #[error("uids and gids must be in range 0-2147483647")]
    IdRange,
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    #[error("invalid --security-opt 2: {0:?}")]
    InvalidSecurityOpt(String),
    #[error("{0}")]
    UnsupportedSecurityOpt(String),
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    InvalidWorkingDir(String),
    #[error("reading {path} in the container rootfs: {source}")]
    RootfsFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A resource setting Docker would refuse; the text is Docker's.
    #[error("{0}")]
    InvalidResources(String),
    #[error("seccomp profile: {0}")]
    Seccomp(String),
    /// A profile given with `--security-opt seccomp=` that cannot be used; the text says why.
    #[error("{0}")]
    InvalidSeccompProfile(String),
    /// A `--device` that cannot be added; the text is Docker's.
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    InvalidTmpfs(String),
    /// A `-v`/`--mount`/`--volumes-from` Docker would refuse; the text is Docker's.
    #[error("{0}")]
    InvalidMount(String),
    #[error("building oci spec: {0}")]
    Build(#[from] oci_spec::OciSpecError),
}

impl SpecError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SpecError::UserNotFound(_)
            | SpecError::GroupNotFound(_)
            | SpecError::IdRange
            | SpecError::UnknownCapability(_)
            | SpecError::InvalidSecurityOpt(_)
            | SpecError::UnsupportedSecurityOpt(_)
            | SpecError::InvalidWorkingDir(_)
            | SpecError::InvalidResources(_)
            | SpecError::InvalidSeccompProfile(_)
            | SpecError::Device(_)
            | SpecError::InvalidTmpfs(_)
            | SpecError::InvalidMount(_) => ErrorKind::InvalidArgument,
            SpecError::RootfsFile { .. } | SpecError::Seccomp(_) | SpecError::Build(_) => {
                ErrorKind::Internal
            }
        }
    }
}
