//! `/v1/events`: ingest (one event or a batch, idempotent, durable before 201) and reads.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use stele_core::{parse_ingest_body_with, EventId, Ingested, Scope, Timestamp};
use stele_store::{AppendOutcome, Idempotency};

use crate::auth::{Principal, Writer};
use crate::body::{read_limited, require_json};
use crate::dto::{BatchReceipts, ReceiptDto};
use crate::error::ApiError;
use crate::state::AppState;

/// Bodies larger than this are parsed on the blocking pool, off the async workers.
const INLINE_PARSE_LIMIT: usize = 64 * 1024;

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let text = value
        .to_str()
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 255 && t.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .ok_or_else(|| {
            ApiError::bad_request("invalid-header", "Idempotency-Key: 1-255 printable ASCII characters without spaces")
        })?;
    Ok(Some(text.to_owned()))
}

/// The bytes of ingest bodies that may be in flight at once.
pub struct IngestBudget {
    semaphore: std::sync::Arc<tokio::sync::Semaphore>,
    total: usize,
}

impl IngestBudget {
    pub fn new(total: usize) -> Self {
        Self { semaphore: std::sync::Arc::new(tokio::sync::Semaphore::new(total)), total }
    }

    /// Publishes the bytes in flight, not counting `leaving` (a share being returned).
    fn publish(&self, leaving: usize) {
        let in_flight = self.total.saturating_sub(self.semaphore.available_permits()).saturating_sub(leaving);
        crate::metrics::ingest_in_flight(in_flight);
    }
}

/// A share of the ingest budget, held while a body is read, parsed and appended.
pub(crate) struct IngestShare<'a> {
    _permit: tokio::sync::OwnedSemaphorePermit,
    budget: &'a IngestBudget,
    bytes: usize,
}

impl Drop for IngestShare<'_> {
    fn drop(&mut self) {
        self.budget.publish(self.bytes);
    }
}

/// Takes a share of the ingest budget (`server.max_inflight_ingest_bytes`): the body's
/// `Content-Length` (or the largest body allowed, when it has none). 503 `ingest-busy` with
/// `Retry-After: 1` when the budget is spent, so a flood costs bounded memory; 503
/// `index-behind` when the store takes no appends within `[store] index_lag_wait_ms`, before
/// the body is parsed (what is left of a refused body is read off the connection and dropped
/// by `serve.rs`). A request waiting for the index holds no share and no body.
pub(crate) async fn ingest_permit<'a>(state: &'a AppState, headers: &HeaderMap) -> Result<IngestShare<'a>, ApiError> {
    state.store.admit_appends().await?;
    let max = state.limits.max_batch_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .filter(|n| *n <= max)
        .unwrap_or(max)
        .max(1);
    let budget = &state.ingest_budget;
    let permits = u32::try_from(declared).unwrap_or(u32::MAX);
    let permit = budget.semaphore.clone().try_acquire_many_owned(permits).map_err(|_| {
        crate::metrics::rejected(crate::metrics::Rejection::IngestBusy);
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ingest-busy",
            "Ingest busy",
            "the server is reading as many ingest bodies as it holds at once; retry shortly",
        )
        .with_retry_after(1)
    })?;
    budget.publish(0);
    Ok(IngestShare { _permit: permit, budget, bytes: declared })
}

/// What an accepted ingest body produced.
pub(crate) struct Appended {
    pub outcome: AppendOutcome,
    /// Whether the body was a batch (`{"events": [...]}`).
    pub batch: bool,
}

/// The one ingest path, shared by the native API and ingest profiles (which translate their
/// events into the native form first): validates and redacts the whole body before anything
/// is stored, appends it atomically (all or nothing), and returns once it is durable.
pub(crate) async fn append_body(
    state: &AppState,
    writer: &Writer,
    bytes: Bytes,
    idempotency_key: Option<String>,
) -> Result<Appended, ApiError> {
    let now = Timestamp::now();
    let fingerprint: Option<[u8; 32]> = idempotency_key.as_ref().map(|_| Sha256::digest(&bytes).into());
    let (limits, leaves) = (state.limits.clone(), state.integrity);
    let Ingested { events, batch } = if bytes.len() > INLINE_PARSE_LIMIT {
        tokio::task::spawn_blocking(move || parse_ingest_body_with(&bytes, &limits, now, leaves))
            .await
            .map_err(|_| ApiError::internal())??
    } else {
        parse_ingest_body_with(&bytes, &limits, now, leaves)?
    };
    for (i, e) in events.iter().enumerate() {
        crate::view_filter::check_write(writer.view.as_ref(), i, batch, &e.event)?;
    }
    let count = events.len();
    let idempotency = idempotency_key.zip(fingerprint).map(|(key, fingerprint)| Idempotency { key, fingerprint, now });
    let outcome = state.store.append(&writer.tenant, events, idempotency).await?;
    if !matches!(outcome, AppendOutcome::Replayed(_)) {
        crate::metrics::events_ingested(count as u64);
    }
    Ok(Appended { outcome, batch })
}

/// Record events: one event object, or `{"events": [...]}` (at most 1000 events, 8 MiB).
/// Answers 201 only once the events are committed and synced to disk.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = crate::dto::IngestBatch, description = "one event object, or {\"events\": [...]}"),
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat a request safely: the same key and body within 24 h return the first answer")),
    responses(
        (status = 201, description = "receipts: one object for one event, {\"events\": [...]} for a batch", body = BatchReceipts),
        (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 413, body = crate::dto::Problem), (status = 415, body = crate::dto::Problem), (status = 422, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let writer = principal.writer(principal.tenant(&headers)?)?;
    require_json(&headers)?;
    let idempotency_key = idempotency_key(&headers)?;
    let _budget = ingest_permit(&state, &headers).await?;
    let bytes = read_limited(&headers, body, state.limits.max_batch_bytes).await?;
    let Appended { outcome, batch } = append_body(&state, &writer, bytes, idempotency_key).await?;
    let replayed = matches!(outcome, AppendOutcome::Replayed(_));
    let receipts: Vec<ReceiptDto> = outcome.receipts().iter().map(ReceiptDto::from).collect();
    let body = if batch {
        serde_json::to_string(&BatchReceipts { events: receipts })
    } else {
        serde_json::to_string(&receipts.first())
    }
    .map_err(|_| ApiError::internal())?;
    let mut response = json_response(StatusCode::CREATED, body);
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let (false, Some(r)) = (batch, outcome.receipts().first()) {
        if let Ok(v) = HeaderValue::from_str(&format!("/v1/events/{}", r.id)) {
            response.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(response)
}

/// One event by id. Another tenant's id answers 404, like an unknown one.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "event id (UUID)")),
    responses((status = 200, body = crate::dto::StoredEventDoc), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn get_event(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let event = visible_event(&state, &principal, &tenant, &id).await?;
    Ok(json_response(StatusCode::OK, event.to_json()))
}

/// An event of `tenant` the caller may see: 404 for unknown ids, other tenants' ids and
/// events outside a key's view filter alike.
pub async fn visible_event(
    state: &AppState,
    principal: &Principal,
    tenant: &stele_core::TenantId,
    id: &str,
) -> Result<stele_core::StoredEvent, ApiError> {
    visible_event_in(state, crate::view_filter::of(principal)?, tenant, id).await
}

/// An event of `tenant` that a reader with `view` may see (the viewer's sessions use this
/// directly; API keys through [`visible_event`]).
pub async fn visible_event_in(
    state: &AppState,
    view: Option<stele_core::ViewFilter>,
    tenant: &stele_core::TenantId,
    id: &str,
) -> Result<stele_core::StoredEvent, ApiError> {
    let not_found = || ApiError::not_found(format!("event {id} does not exist"));
    let event_id = EventId::parse(id).map_err(|_| not_found())?;
    let event = state.store.get_event(tenant, &event_id).await?.ok_or_else(not_found)?;
    if view.is_some() {
        let by_id = stele_core::Filter::new(id_filter(&event_id)).map_err(|_| ApiError::internal())?;
        let query = stele_core::Query { view, filter: Some(by_id), ..stele_core::Query::default() };
        if state.store.count(tenant, &query).await? == 0 {
            return Err(not_found());
        }
    }
    Ok(event)
}

fn id_filter(id: &EventId) -> stele_core::Expr {
    stele_core::Expr::compare(
        stele_core::Attr::Id,
        stele_core::CompareOp::Eq,
        stele_core::filter::Value::String(id.to_string()),
    )
}
