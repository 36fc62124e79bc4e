//! HTTP handlers, one module per resource.

pub mod events;
pub mod export;
pub mod health;
pub mod integrity;
pub mod keys;
pub mod members;
pub mod oidc_provider;
pub mod query;
pub mod retention;
pub mod scim_connections;
pub mod scim_log;
pub mod stats;
pub mod streams;
pub mod tail;
pub mod tenant_update;
pub mod tenants;
pub mod viewer_links;

use axum::extract::Query;
use axum::http::Uri;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses the query string into `T`, answering 400 with the parameter named on failure.
pub fn query_params<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(uri).map(|q| q.0).map_err(|e| {
        let text = e.body_text();
        let detail = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text).to_owned();
        ApiError::bad_request("invalid-parameter", detail)
    })
}
