//! `/v1/events`: ingest (one event or a batch, idempotent, durable before 201) and reads.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stele_core::{
    parse_ingest_body, Cursor, EventId, Ingested, Limit, PageRequest, Query, Scope, Sort, TimeRange, Timestamp,
};
use stele_store::{AppendOutcome, Idempotency};

use crate::auth::Principal;
use crate::body::{read_limited, require_json};
use crate::dto::{BatchReceipts, ReceiptDto};
use crate::error::ApiError;
use crate::routes::query_params;
use crate::state::AppState;

/// Bodies larger than this are parsed on the blocking pool, off the async workers.
const INLINE_PARSE_LIMIT: usize = 64 * 1024;

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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
    principal.require(Scope::EventsWrite)?;
    let tenant = principal.tenant(&headers)?;
    require_json(&headers)?;
    let idempotency_key = idempotency_key(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_batch_bytes).await?;
    let now = Timestamp::now();
    let fingerprint: Option<[u8; 32]> = idempotency_key.as_ref().map(|_| Sha256::digest(&bytes).into());
    let limits = state.limits.clone();
    let Ingested { events, batch } = if bytes.len() > INLINE_PARSE_LIMIT {
        tokio::task::spawn_blocking(move || parse_ingest_body(&bytes, &limits, now))
            .await
            .map_err(|_| ApiError::internal())??
    } else {
        parse_ingest_body(&bytes, &limits, now)?
    };
    let count = events.len();
    let idempotency = idempotency_key.zip(fingerprint).map(|(key, fingerprint)| Idempotency { key, fingerprint, now });
    let outcome = state.store.append(&tenant, events, idempotency).await?;
    let replayed = matches!(outcome, AppendOutcome::Replayed(_));
    if !replayed {
        metrics::counter!("stele_events_ingested_total").increment(count as u64);
    }
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Earliest event time, inclusive (RFC 3339).
    pub from: Option<String>,
    /// Latest event time, exclusive (RFC 3339).
    pub to: Option<String>,
    /// Page size, 1-1000 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `-time` (newest first, default) or `time`; ties are broken by `seq`.
    pub sort: Option<String>,
}

fn timestamp_param(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value.map(|v| Timestamp::parse(v).map_err(|e| ApiError::invalid_parameter(name, e))).transpose()
}

fn build_query(params: ListParams) -> Result<Query, ApiError> {
    let range =
        TimeRange::new(timestamp_param("from", params.from.as_deref())?, timestamp_param("to", params.to.as_deref())?)?;
    let sort = match params.sort.as_deref() {
        None => Sort::default(),
        Some(s) => Sort::parse(s).ok_or_else(|| {
            ApiError::invalid_parameter("sort", format!("{s:?} is not a sort order; use -time or time"))
        })?,
    };
    let limit = params.limit.map(Limit::new).transpose()?.unwrap_or(Limit::DEFAULT);
    let page = match params.cursor.as_deref() {
        None => PageRequest::First,
        Some(c) => PageRequest::After(Cursor::decode(c, sort.as_str())?),
    };
    Ok(Query { range, sort, page, limit })
}

/// List events, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(ListParams),
    responses((status = 200, body = crate::dto::EventPage), (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let query = build_query(query_params(&uri)?)?;
    let page = state.store.query(&tenant, &query).await?;
    let mut body = String::with_capacity(page.events.iter().map(|e| e.json.len() + 16).sum::<usize>() + 64);
    body.push_str("{\"events\":[");
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&e.to_json());
    }
    body.push_str("],\"next_cursor\":");
    let next = page.next.map(|c| c.encode());
    body.push_str(&serde_json::to_string(&next).map_err(|_| ApiError::internal())?);
    body.push('}');
    Ok(json_response(StatusCode::OK, body))
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
    let not_found = || ApiError::not_found(format!("event {id} does not exist"));
    let event_id = EventId::parse(&id).map_err(|_| not_found())?;
    let event = state.store.get_event(&tenant, &event_id).await?.ok_or_else(not_found)?;
    Ok(json_response(StatusCode::OK, event.to_json()))
}
