//! The one error type of the HTTP layer: every failure becomes an RFC 9457
//! `application/problem+json` answer with a stable `type`, and internal details stay in the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use stele_core::{IngestError, IngestErrorKind, QueryError};
use stele_store::StoreError;

/// Prefix of every problem `type`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:stele:problem:";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The stable slug after [`PROBLEM_TYPE_PREFIX`].
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// Extra members of the problem object.
    pub extra: Option<Value>,
    pub www_authenticate: bool,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self { status, kind, title, detail: detail.into(), extra: None, www_authenticate: false, retry_after: None }
    }

    pub fn bad_request(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, "Bad request", detail)
    }

    /// A JSON body that parsed but says something refused (its detail names the member).
    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::bad_request("invalid-body", detail)
    }

    pub fn invalid_parameter(name: &str, detail: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid query parameter",
            format!("{name}: {detail}"),
        );
        e.extra = Some(json!({ "parameter": name }));
        e
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail);
        e.www_authenticate = true;
        e
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large", detail)
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server could not complete the request; it has been logged",
        )
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn with_extra(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let (status, kind, title) = match e.kind {
            IngestErrorKind::Syntax => (StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON"),
            IngestErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid-event", "Invalid event"),
            IngestErrorKind::EventTooLarge => (StatusCode::BAD_REQUEST, "event-too-large", "Event too large"),
            IngestErrorKind::BatchSize => (StatusCode::BAD_REQUEST, "invalid-batch", "Invalid batch"),
        };
        let error = json!({ "index": e.index, "field": e.location(), "message": e.message });
        ApiError::new(status, kind, title, e.detail()).with_extra(json!({ "errors": [error] }))
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let name = match e {
            QueryError::Limit { .. } => "limit",
            QueryError::Cursor => "cursor",
            QueryError::EmptyRange => "from",
            QueryError::Sort(_) => "sort",
            QueryError::Text => "q",
        };
        ApiError::invalid_parameter(name, e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownTenant(t) => ApiError::not_found(format!("tenant {t} does not exist")),
            StoreError::TenantExists(t) => ApiError::conflict(format!("tenant {t} already exists")),
            StoreError::AliasTaken(a) => ApiError::conflict(format!(
                "{a:?} is already the id or an alias of a tenant (ids and aliases share one namespace)"
            )),
            StoreError::KeyNotFound(k) => ApiError::not_found(format!("key {k} does not exist")),
            StoreError::EventNotFound(id) => ApiError::not_found(format!("event {id} does not exist")),
            StoreError::AlreadyRedacted(id) => ApiError::conflict(format!("event {id} is already redacted")),
            StoreError::Conflict(field) => ApiError::conflict(format!("another record has the same {field}")),
            StoreError::RecordNotFound(kind, id) => ApiError::not_found(format!("{kind} {id} does not exist")),
            StoreError::VersionMismatch { current } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                "Version mismatch",
                format!("the record changed meanwhile (its version is now {current}); read it again and retry"),
            ),
            StoreError::UnknownMember(id) => {
                ApiError::invalid_parameter("members", format!("member {id} does not exist in this tenant"))
            }
            StoreError::Tree(message) => {
                tracing::error!(error = %message, "Merkle tree read failed");
                ApiError::internal()
            }
            StoreError::IdempotencyMismatch => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was used with a different request body in the last 24 hours",
            ),
            StoreError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "the server is shutting down",
            ),
            StoreError::QueryTimeout => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "query-timeout",
                "Query took too long",
                "the query did not finish in time; narrow the filter or the time range and retry",
            )
            .with_retry_after(5),
            StoreError::StorageFull(message) => {
                tracing::error!(error = %message, "the database is out of space");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage-full",
                    "Storage full",
                    "the server has no space left to store this; nothing was stored, retry later",
                )
                .with_retry_after(60)
            }
            StoreError::IndexBehind(lag) => {
                tracing::warn!(lag, "ingest refused: the index is behind");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "index-behind",
                    "Index behind",
                    "the server is indexing earlier events; nothing was stored, retry shortly",
                )
                .with_retry_after(1)
            }
            StoreError::Backend(message) => {
                tracing::error!(error = %message, "storage error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let (Some(Value::Object(extra)), Some(obj)) = (self.extra, body.as_object_mut()) {
            obj.extend(extra);
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"stele\""));
        }
        response
    }
}
