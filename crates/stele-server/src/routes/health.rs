//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// The answer of `/healthz` and `/readyz`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation shape; the handlers write it with `json!`
pub struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(pattern = "^(ok|ready)$")]
    status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive", body = Health)))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The store answers; 503 while it does not, during shutdown, and while the last write
/// failed for lack of space (until a write succeeds again).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "ready", body = Health), (status = 503, description = "not ready", body = crate::dto::Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e @ stele_store::StoreError::StorageFull(_)) => {
            tracing::warn!(error = %e, "not ready");
            Err(ApiError::from(e))
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "the store is not available",
            ))
        }
    }
}

/// Prometheus metrics: events ingested, request latency, writer batch sizes.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::render())
}
