use berth_model::ErrorKind;

/// A problem with one line of a Dockerfile: where it is, what it says, and Docker's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The Dockerfile's name as the user gave it (`Dockerfile`, `-f` path...).
    pub file: String,
    /// 1-based line where the offending instruction starts.
    pub line: usize,
    /// The offending text (the instruction with its continuations joined, or the raw line).
    pub text: String,
    /// Docker's message, without location.
    pub message: String,
}

impl SyntaxError {
    /// Exactly what dockerd 20.10's legacy builder says, for clients that match on it.
    pub fn docker_message(&self) -> String {
        format!(
            "dockerfile parse error line {}: {}",
            self.line, self.message
        )
    }
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text: String = self.text.trim().chars().take(200).collect();
        if text.len() < self.text.trim().len() {
            text.push('…');
        }
        write!(
            f,
            "{} ({}:{}: {:?})",
            self.docker_message(),
            self.file,
            self.line,
            text
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The Dockerfile does not parse, or an instruction's arguments are invalid.
    #[error("{0}")]
    Syntax(SyntaxError),
    /// `--target` names no stage.
    #[error("failed to reach build target {0} in Dockerfile")]
    UnknownTarget(String),
    /// Anything else about the file as a whole (no stage, duplicate stage name...).
    #[error("{0}")]
    Invalid(String),
    /// A `.dockerignore` pattern that cannot be compiled.
    #[error("{0}")]
    Pattern(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }

    pub(crate) fn syntax(file: &str, line: usize, text: &str, message: impl Into<String>) -> Self {
        Error::Syntax(SyntaxError {
            file: file.to_string(),
            line,
            text: text.to_string(),
            message: message.into(),
        })
    }
}

impl From<Error> for berth_model::Error {
    fn from(e: Error) -> Self {
        berth_model::Error::new(e.kind(), e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
