//! The one place where error kinds become HTTP statuses, so every route agrees.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_model::{Error, ErrorKind};
use serde::Serialize;

/// Status code for an error kind, as dockerd's `errdefs` maps them.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `{"message":"..."}` with the kind's status. A 304 carries no body at all: HTTP forbids
/// one, and the docker CLI treats the status alone as "already in that state".
pub fn error_response(err: &Error) -> Response {
    let status = status_for(err.kind);
    if status == StatusCode::NOT_MODIFIED {
        return (status, Body::empty()).into_response();
    }
    #[derive(Serialize)]
    struct Message<'a> {
        message: &'a str,
    }
    let resp = json_response(
        status,
        &Message {
            message: &err.message,
        },
    );
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), message = %err.message, "request failed");
    }
    resp
}

/// Handler error: wraps the model error so axum can render it.
#[derive(Debug)]
pub(crate) struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// JSON body terminated by a newline, as Go's `json.Encoder` writes it; some clients
/// compare bodies byte for byte with dockerd's.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => error_response(&Error::internal(format!("encoding response: {e}"))),
    }
}

pub(crate) fn json_ok<T: Serialize + ?Sized>(value: &T) -> ApiResult {
    Ok(json_response(StatusCode::OK, value))
}

/// 204 as dockerd sends it for verbs that have nothing to say.
pub(crate) fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) fn not_found_page() -> Response {
    error_response(&Error::not_found("page not found"))
}
