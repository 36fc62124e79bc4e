//! Reading request bodies: content type, size limit, and JSON with errors that name the field.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest body accepted by the admin routes.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// Fails with 415 unless the request declares a JSON body.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else if value.is_empty() {
        Err(ApiError::unsupported_media_type("missing Content-Type; send application/json"))
    } else {
        Err(ApiError::unsupported_media_type(format!("Content-Type {value:?} is not accepted; send application/json")))
    }
}

/// Reads the whole body, refusing (413) one larger than `limit` bytes.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::too_large(format!("the request body is larger than {limit} bytes"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // The only way reading a limited body fails short of a broken connection is the limit.
    axum::body::to_bytes(body, limit).await.map_err(|_| too_large())
}

/// Refuses (400) a JSON body in which an object repeats a key; every JSON body Stele reads
/// passes here or through the ingest parser's same check. A syntax error is left to the
/// caller's parse, which reports it in its own words.
pub fn reject_duplicate_keys(bytes: &[u8]) -> Result<(), ApiError> {
    match stele_core::check_unique_keys(bytes) {
        Err(stele_core::UniqueKeysError::Duplicate(d)) => {
            Err(ApiError::bad_request("invalid-body", format!("{d}; each key may appear once in an object")))
        }
        Ok(()) | Err(stele_core::UniqueKeysError::Syntax(_)) => Ok(()),
    }
}

/// A JSON body of an admin route, parsed with errors naming the offending field.
pub async fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    require_json(headers)?;
    let bytes = read_limited(headers, body, ADMIN_BODY_LIMIT).await?;
    reject_duplicate_keys(&bytes)?;
    // Every admin body is an object. serde reads a struct from an array too (its fields by
    // position), so `[null, null]` would have been a PATCH setting both fields to null.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
    {
        return Err(ApiError::bad_request("invalid-body", "the body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request("malformed-json", format!("malformed JSON: {message}"))
        } else if path == "." {
            ApiError::bad_request("invalid-body", message)
        } else {
            ApiError::bad_request("invalid-body", format!("{path}: {message}"))
        }
    })?;
    de.end()
        .map_err(|_| ApiError::bad_request("malformed-json", "malformed JSON: trailing characters after the value"))?;
    Ok(value)
}
