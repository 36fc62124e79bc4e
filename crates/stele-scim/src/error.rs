//! SCIM errors (RFC 7644 §3.12): an HTTP status, an optional `scimType` and a detail, rendered
//! as the `urn:ietf:params:scim:api:messages:2.0:Error` message with the status **as a string**
//! (the RFC's examples and Microsoft Entra's tutorial both send `"status": "404"`).
//!
//! Nothing here logs or knows HTTP: the server maps [`ScimError::status`] onto its response
//! and renders [`ScimError::to_json`]. [`ScimError::kind`] names the case without the detail,
//! for metrics and audit events.

use serde_json::{json, Value};

/// The error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    /// The keyword as the RFC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

/// A refused SCIM request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scim {status}{}: {detail}", scim_type.map(|t| format!(" {}", t.as_str())).unwrap_or_default())]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    /// 400 with a `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    /// 400 `invalidVers`: a version the service provider does not support.
    pub fn invalid_version(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidVers, detail)
    }

    /// 400 `tooMany`: a filter that would return more than the service provider allows.
    pub fn too_many_results(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }

    /// 400 `sensitive`: e.g. secrets in a query string.
    pub fn sensitive(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Sensitive, detail)
    }

    /// 409 `uniqueness`: e.g. a `userName` that is already taken.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// 409 without a `scimType`.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, None, detail)
    }

    /// 412: an `If-Match` version that is not the current one.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }

    /// 413: a Bulk request over `maxOperations` (`tooMany`, RFC 7644 §3.7.4) or
    /// `maxPayloadSize` (no `scimType`).
    pub fn payload_too_large(scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self::new(413, scim_type, detail)
    }

    /// 500.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }

    /// 501: a feature the service provider does not offer.
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }

    /// A stable name of the case (`"400.invalidFilter"`, `"404"`), without the detail.
    pub fn kind(&self) -> String {
        match self.scim_type {
            Some(t) => format!("{}.{}", self.status, t.as_str()),
            None => self.status.to_string(),
        }
    }

    /// The SCIM error message (RFC 7644 §3.12).
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(map)) = (self.scim_type, out.as_object_mut()) {
            map.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_has_the_status_as_a_string() {
        let e = ScimError::uniqueness("userName \"a\" is taken");
        assert_eq!(
            e.to_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName \"a\" is taken",
            })
        );
        assert_eq!(e.kind(), "409.uniqueness");
        let nf = ScimError::not_found("no such user").to_json();
        assert!(nf.get("scimType").is_none());
        assert_eq!(nf["status"], "404");
    }
}
