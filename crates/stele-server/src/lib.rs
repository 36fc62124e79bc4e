//! Stele's HTTP server: the only crate that knows HTTP, JSON DTOs and HTML. It wires a
//! [`Store`](stele_store::Store) to the native API, authenticates callers, turns every error
//! into `application/problem+json`, and serves metrics and the OpenAPI document.

mod audit;
mod auth;
mod body;
pub mod config;
pub mod csv_out;
mod delivery;
mod dto;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod integrity;
mod metrics;
mod openapi;
mod profiles;
mod public_url;
pub mod rate;
mod retention;
mod routes;
mod scim;
pub mod secret_key;
mod serve;
mod startup;
mod state;
mod tenant_jwt;
mod view_filter;
mod viewer;

pub use auth::TENANT_HEADER;
pub use config::{redact_url, Config, ConfigError, Database, Integrity, Scim, Server, StoreSettings, Viewer};
pub use startup::{migrate, open_store, start, AdminKey, Running, StartError};
pub use state::AppState;

use axum::Router;

/// The application's routes and their OpenAPI document, built from the same handler list so
/// the document covers every route.
pub fn app(state: AppState) -> Router {
    let (router, api) = openapi::router().split_for_parts();
    let api_json = openapi::document(api).to_string();
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || async move {
                ([(axum::http::header::CONTENT_TYPE, "application/json")], api_json.clone())
            }),
        )
        .merge(scim::router())
        .merge(viewer::router())
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this route does not accept that method; see the Allow header",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate::failed_auth_guard))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(viewer::request_span))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(error::ApiError::internal())
        }))
        .with_state(state)
}
