//! The API's errors: a status and a structured body `{"error": {"code", "message", "field"}}`
//! that says what was wrong and, for a cap, which one; never a stack trace or a path inside
//! the server.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracehound_app::AppError;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `too_large`, `cap_exceeded`, `timeout`, `unavailable`, `conflict`, `internal`.
    pub code: &'static str,
    /// What was wrong, for a person.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error as the API answers it.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: ErrorDetail {
                code,
                message: message.into(),
                field: None,
            },
        }
    }
    /// The request is malformed or names something impossible.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// No (valid) token was given.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// The token's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// No such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// It exists already.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// A cap of the server was exceeded (page size, hops, result size, body, batch).
    pub fn cap(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "cap_exceeded", message).field(field)
    }
    /// The work took longer than the server allows.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", message)
    }
    /// What was asked is not available from this server now (the message says why).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    /// The server failed; the message says what it was doing, not how.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    /// Names the field at fault.
    pub fn field(mut self, field: &str) -> Self {
        self.detail.field = Some(field.to_string());
        self
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.detail })).into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(m) => ApiError::not_found(m),
            AppError::Exists(m) => ApiError::conflict(m),
            AppError::Invalid(m) => ApiError::bad_request(m),
            AppError::Trace { incident, source } => match *source {
                tracehound_trace::TraceError::Cap { what, limit, flag } => ApiError::cap(
                    flag.trim_start_matches("--"),
                    format!("{what}: over the cap of {limit}"),
                ),
                tracehound_trace::TraceError::Incident(what) => {
                    ApiError::bad_request(format!("incident {incident:?}: {what}"))
                }
                tracehound_trace::TraceError::Unknown(what) => {
                    ApiError::not_found(format!("tracing {incident:?}: not in the store: {what}"))
                }
                other => {
                    tracing::warn!("trace of {incident:?} failed: {other}");
                    ApiError::internal(format!("tracing {incident:?} failed: {other}"))
                }
            },
            other => {
                // Store and file errors name paths on the server: logged, not answered.
                tracing::warn!("request failed: {other}");
                ApiError::internal("the server could not read its data; see its log")
            }
        }
    }
}

/// Any store error: logged, answered without internals.
impl From<tracehound_store::StoreError> for ApiError {
    fn from(e: tracehound_store::StoreError) -> Self {
        tracing::warn!("store: {e}");
        ApiError::internal("the server could not read its store; see its log")
    }
}

impl From<tracehound_labels::LabelError> for ApiError {
    fn from(e: tracehound_labels::LabelError) -> Self {
        tracing::warn!("labels: {e}");
        ApiError::internal("the server could not read its labels; see its log")
    }
}
