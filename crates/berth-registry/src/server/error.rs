//! Errors of the registry server, answered in the distribution spec's JSON shape
//! (`{"errors":[{"code":...,"message":...,"detail":...}]}`) because clients (docker, skopeo,
//! containerd) branch on `code`, not on the status alone.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_model::ErrorKind;

/// One distribution error: the spec's code, the status it travels with, and a message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
    pub detail: serde_json::Value,
    /// `WWW-Authenticate` for 401s, so the client knows where to get a token.
    pub challenge: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status,
            message: message.into(),
            detail: serde_json::Value::Null,
            challenge: None,
        }
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn blob_unknown(digest: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(serde_json::json!({ "digest": digest }))
    }

    pub fn upload_unknown(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
        .detail(serde_json::json!({ "uuid": id }))
    }

    pub fn manifest_unknown(reference: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        )
        .detail(serde_json::json!({ "reference": reference }))
    }

    pub fn manifest_invalid(why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "manifest invalid",
        )
        .detail(serde_json::Value::String(why.into()))
    }

    pub fn name_unknown(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        )
        .detail(serde_json::json!({ "name": name }))
    }

    pub fn name_invalid(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            "invalid repository name",
        )
        .detail(serde_json::json!({ "name": name }))
    }

    pub fn digest_invalid(why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
        )
        .detail(serde_json::Value::String(why.into()))
    }

    pub fn unsupported(why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the operation is unsupported",
        )
        .detail(serde_json::Value::String(why.into()))
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
    }

    pub fn unauthorized(challenge: String) -> Self {
        ApiError {
            challenge: Some(challenge),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            )
        }
    }

    pub fn denied(why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "DENIED",
            "requested access to the resource is denied",
        )
        .detail(serde_json::Value::String(why.into()))
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            err.to_string(),
        )
    }

    /// The engine-wide kind, for callers that map errors themselves.
    pub fn kind(&self) -> ErrorKind {
        match self.status {
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
            StatusCode::FORBIDDEN => ErrorKind::Forbidden,
            StatusCode::METHOD_NOT_ALLOWED => ErrorKind::NotImplemented,
            s if s.is_client_error() => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(format!("storage: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "code": self.code, "message": self.message, "detail": self.detail }]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(c) = self.challenge {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// Errors of starting or running the server (config, TLS, listener), outside any request.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("config {path}: {message}")]
    Config { path: String, message: String },
    #[error("tls: {0}")]
    Tls(String),
    #[error("htpasswd {path}: {message}")]
    Htpasswd { path: String, message: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl ServerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServerError::Config { .. } | ServerError::Tls(_) | ServerError::Htpasswd { .. } => {
                ErrorKind::InvalidArgument
            }
            ServerError::Io(_) => ErrorKind::Internal,
        }
    }
}
