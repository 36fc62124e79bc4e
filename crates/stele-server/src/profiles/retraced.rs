//! The Retraced publisher ingest profile (contract A.6 and Part C):
//! `POST /auditlog/publisher/v1/project/{projectId}/event` and `…/event/bulk`, authenticated
//! with `Authorization: token=<Stele key>` (scope `events:write`); `projectId` is an alias of
//! the key's tenant. Events are validated with Retraced's rules, translated into native events
//! and appended through the native ingest path (validation, redaction, atomic batch, durable
//! before 201). The answer is `{id, hash}` per event with Retraced's hash, which the official
//! clients recompute.

pub(crate) mod hash;
pub(crate) mod input;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use stele_core::Scope;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::input::RetracedEvent;
use super::common::{self, ProfileError};
use crate::auth::Writer;
use crate::body::{read_limited, require_json};
use crate::error::ApiError;
use crate::routes::events::{append_body, idempotency_key, Appended};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_event)).routes(routes!(create_events_bulk))
}

/// What Retraced answers for each created event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RetracedCreated)]
pub struct Created {
    /// The event's id (its UUID without dashes).
    pub id: String,
    /// Retraced's hash of the event (sha256 hex of its canonical string).
    pub hash: String,
}

/// The error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RetracedError)]
pub struct RetracedError {
    pub error: String,
}

/// A Retraced error answer.
pub struct Failure {
    status: StatusCode,
    message: String,
    /// Seconds for `Retry-After` (a rate-limited key).
    retry_after: Option<u32>,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure { status, message: message.into(), retry_after: None }
    }

    fn rate_limited(retry_after: u32) -> Self {
        Failure { retry_after: Some(retry_after), ..Failure::new(StatusCode::TOO_MANY_REQUESTS, common::RATE_LIMITED) }
    }

    fn bad(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        common::retry_after(
            (self.status, Json(RetracedError { error: self.message })).into_response(),
            self.retry_after,
        )
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure { status: e.status, message: e.detail, retry_after: e.retry_after }
    }
}

/// The key of `Authorization: token=<key>` (also `Token token=<key>`).
fn token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let value = match value.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("token ") => value[6..].trim_start(),
        _ => value,
    };
    value.strip_prefix("token=").map(str::trim).filter(|t| !t.is_empty())
}

/// The right to write to the tenant `projectId` names, if the presented key has it.
async fn project(state: &AppState, headers: &HeaderMap, project_id: &str) -> Result<Writer, Failure> {
    let unauthorized = || Failure::new(StatusCode::UNAUTHORIZED, "Unauthorized");
    let map = |e: ProfileError| match e {
        ProfileError::Unavailable => Failure::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        ProfileError::RateLimited { retry_after } => Failure::rate_limited(retry_after),
        ProfileError::Internal => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        ProfileError::MissingScope(s) => Failure::new(StatusCode::FORBIDDEN, format!("The key lacks the {s} scope")),
        _ => unauthorized(),
    };
    let secret = token(headers).ok_or_else(unauthorized)?;
    let principal = common::authenticate(state, secret).await.map_err(map)?;
    common::require(&principal, Scope::EventsWrite).map_err(map)?;
    let tenant = common::tenant_by_alias(state, &principal, project_id).await.map_err(map)?;
    Ok(principal.writer(tenant.id)?)
}

/// The JSON body, after the content type and size checks.
async fn json_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Value, Failure> {
    require_json(headers)?;
    let _budget = crate::routes::events::ingest_permit(state, headers).await?;
    let bytes = read_limited(headers, body, state.limits.max_batch_bytes).await?;
    if let Err(stele_core::UniqueKeysError::Duplicate(d)) = stele_core::check_unique_keys(&bytes) {
        return Err(Failure::bad(format!("{d}; each key may appear once in an object")));
    }
    serde_json::from_slice(&bytes).map_err(|e| Failure::bad(format!("Malformed JSON: {e}")))
}

/// Appends the native form of `events` (one event, or a batch) and answers their receipts
/// with Retraced's hashes.
async fn append(
    state: &AppState,
    writer: &Writer,
    headers: &HeaderMap,
    events: &[RetracedEvent],
    batch: bool,
) -> Result<Vec<Created>, Failure> {
    let natives: Vec<Value> = events.iter().map(input::to_native).collect();
    let native = if batch { json!({ "events": natives }) } else { natives.into_iter().next().unwrap_or_default() };
    let key = idempotency_key(headers)?;
    let Appended { outcome, .. } = append_body(state, writer, Bytes::from(native.to_string()), key).await?;
    Ok(outcome
        .receipts()
        .iter()
        .zip(events)
        .map(|(r, e)| {
            let id = r.id.uuid().simple().to_string();
            Created { hash: hash::hash(e, &id), id }
        })
        .collect())
}

/// Report one event (Retraced publisher API `createEvent`).
#[utoipa::path(post, path = "/auditlog/publisher/v1/project/{projectId}/event", tag = "profile: Retraced",
    params(("projectId" = String, Path, description = "an alias of the key's tenant", example = "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10"),
        ("Authorization" = String, Header, description = "token=<Stele key with events:write>")),
    request_body(content = Object, description = "a Retraced event: action, crud, actor, target, group, created, source_ip, description, is_failure, is_anonymous, fields, component, version, external_id, metadata"),
    responses((status = 201, body = Created), (status = 400, body = RetracedError), (status = 401, body = RetracedError),
        (status = 403, body = RetracedError)))]
pub async fn create_event(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Created>), Failure> {
    let writer = project(&state, &headers, &project_id).await?;
    let value = json_body(&state, &headers, body).await?;
    let event = input::parse_event(&value).map_err(|v| Failure::bad(v.join("\n--")))?;
    let created = append(&state, &writer, &headers, std::slice::from_ref(&event), false).await?;
    let first = created.into_iter().next().ok_or_else(|| Failure::from(ApiError::internal()))?;
    Ok((StatusCode::CREATED, Json(first)))
}

/// Report several events at once, all or none (Retraced publisher API `createEventBulk`).
#[utoipa::path(post, path = "/auditlog/publisher/v1/project/{projectId}/event/bulk", tag = "profile: Retraced",
    params(("projectId" = String, Path, description = "an alias of the key's tenant", example = "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10"),
        ("Authorization" = String, Header, description = "token=<Stele key with events:write>")),
    request_body(content = Object, description = "{\"events\": [Retraced event, ...]}"),
    responses((status = 201, body = Vec<Created>), (status = 400, body = RetracedError), (status = 401, body = RetracedError),
        (status = 403, body = RetracedError)))]
pub async fn create_events_bulk(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Vec<Created>>), Failure> {
    let writer = project(&state, &headers, &project_id).await?;
    let value = json_body(&state, &headers, body).await?;
    let items = value
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure::bad("Field 'events' must be an array of events"))?;
    let max = state.limits.max_batch_events;
    if items.len() > max {
        return Err(Failure::bad(format!(
            "A maximum of {max} events may be created at once, received {}",
            items.len()
        )));
    }
    if items.is_empty() {
        return Err(Failure::bad("Field 'events' must hold at least one event"));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut invalid = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match input::parse_event(item) {
            Ok(e) => events.push(e),
            Err(v) => invalid.push(format!("Invalid event input at index {index}:\n-- {}", v.join("\n-- "))),
        }
    }
    if !invalid.is_empty() {
        return Err(Failure::bad(format!(
            "One or more invalid inputs, no events were logged:\n- {}",
            invalid.join("\n- ")
        )));
    }
    let created = append(&state, &writer, &headers, &events, true).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
