//! `/v1/streams`: a tenant's streams to SIEMs and archives (`crate::delivery` delivers them).
//!
//! `POST` makes one from `{"name", "kind", "filter"?, "start"?, …the kind's settings}` (the
//! settings and their checks are `stele_streams::parse`'s); `GET` lists them or shows one
//! with its delivery status (cursor, lag in events and seconds, last success, last error);
//! `PATCH` renames, refilters or replaces the settings (the viewer's Edit form is the same
//! change, `Change::Edit`, except that the secrets it leaves out are kept and it names the
//! version it was filled from); `POST …/pause` and `…/resume`; `DELETE`. The destination's secrets are sealed with the deployment secret key, bound to
//! the tenant and the stream, and never answered. Each change is a `stele.stream.*` event of
//! the tenant's log, in the same transaction.
//!
//! Who: the operator (naming the tenant in `X-Stele-Tenant`) or an admin key of the tenant
//! without a view filter — a stream sends every matching event out of Stele, so a key that
//! may read only part of the log may not make one.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stele_core::filter::Value as FilterValue;
use stele_core::{Attr, CompareOp, Expr, Filter, PageRequest, Scope, Target, TenantId, Timestamp};
use stele_store::delivery::{Stream, StreamId, StreamRecord, StreamStart};
use stele_store::directory::RecordChange;
use stele_store::StoreError;
use utoipa::ToSchema;

use crate::audit::By;
use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::routes::members::check_name;
use crate::routes::query::{parse_read_in, SearchParams};
use crate::state::AppState;

/// The sealing context of a stream's secrets: a sealed value copied to another stream or
/// tenant does not open.
pub(crate) fn secret_context(tenant: &TenantId, id: &StreamId) -> Vec<u8> {
    format!("stream-secrets:{tenant}:{id}").into_bytes()
}

/// Who may manage streams: the operator (for the tenant it names) or an unfiltered admin key.
fn stream_admin(principal: &Principal, headers: &HeaderMap) -> Result<TenantId, ApiError> {
    principal.require(Scope::Admin)?;
    if let Principal::Key(k) = principal {
        if k.view_filter.is_some() {
            return Err(ApiError::forbidden(format!(
                "key {} has a view filter; only an unfiltered admin key manages streams",
                k.id
            )));
        }
    }
    principal.tenant(headers)
}

/// A stream as the API shows it (never its secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamDto {
    pub id: String,
    pub name: String,
    /// `webhook`, `splunk_hec`, `datadog`, `syslog` or `s3`.
    pub kind: String,
    /// The destination's settings, without its secrets.
    #[schema(value_type = Object)]
    pub destination: Value,
    pub filter: Option<String>,
    /// `active`, `failing` (the last attempt failed; retrying) or `paused`.
    pub state: &'static str,
    pub version: u64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub status: StreamStatus,
}

/// How far a stream got.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamStatus {
    /// The last seq the destination acknowledged (every event up to it was delivered or did
    /// not match the filter).
    pub cursor: u64,
    /// The tenant's newest seq.
    pub head: u64,
    /// Events of the log after the cursor (matching or not).
    pub lag_events: u64,
    /// Seconds since the oldest event after the cursor was received (0 when caught up).
    pub lag_seconds: u64,
    /// Events acknowledged in all.
    pub delivered: u64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success: Option<Timestamp>,
    /// The last failure, by kind ("answered HTTP 503", "timed out after 10 s").
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_error_at: Option<Timestamp>,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// The node delivering the stream while its lease runs (its `<data-dir>/node.id`).
    pub node: Option<String>,
    /// Events past the tenant's retention period wait for this stream to deliver them
    /// (retention never removes an undelivered event).
    pub holds_retention: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamList {
    pub streams: Vec<StreamDto>,
}

/// The body of `POST /v1/streams`: these members and the kind's own settings (README). The
/// handler reads the body as one JSON object (the settings sit beside these members, flat);
/// this type only documents it.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct NewStreamDoc {
    pub name: String,
    /// `webhook`, `splunk_hec`, `datadog`, `syslog` or `s3`.
    pub kind: String,
    /// Only events matching this filter (the one filter language).
    pub filter: Option<String>,
    /// `now` (default: from the next event) or `beginning` (the whole log first).
    pub start: Option<String>,
}

/// The body of `PATCH /v1/streams/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamPatch {
    pub name: Option<String>,
    /// A new filter; `""` streams every event.
    pub filter: Option<String>,
    /// The kind's complete settings, secrets included (they replace the stored ones).
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "stream record");
    ApiError::internal()
}

fn text_member(body: &mut Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_body(format!("{name}: must be a string"))),
    }
}

/// A filter checked as the stream's reads will use it; `""` is none.
fn check_filter(filter: Option<String>) -> Result<Option<String>, ApiError> {
    let filter = filter.filter(|f| !f.trim().is_empty());
    if let Some(f) = &filter {
        // The read's own refusal already names `filter` (`filter: expected a value at 10`).
        stream_query(Some(f.clone())).map_err(|e| match e.detail.starts_with("filter: ") {
            true => ApiError::invalid_body(e.detail),
            false => ApiError::invalid_body(format!("filter: {}", e.detail)),
        })?;
    }
    Ok(filter)
}

/// The query a stream reads through: its filter, sorted by seq, with room in the filter's
/// bounds for the two seq bounds each delivery window adds.
pub(crate) fn stream_query(filter: Option<String>) -> Result<stele_core::Query, ApiError> {
    let params = SearchParams { filter, sort: Some("seq".into()), ..SearchParams::default() };
    let query = parse_read_in(None, params)?.query;
    crate::routes::tail::window(&query, 0, 0, 1).map_err(|e| ApiError::invalid_parameter("filter", e))?;
    Ok(query)
}

/// The kind's settings parsed and checked; errors name the field.
fn parse_settings(
    state: &AppState,
    kind: &str,
    fields: &Map<String, Value>,
) -> Result<(stele_streams::Destination, stele_streams::Secrets), ApiError> {
    let kind: stele_streams::Kind = kind
        .parse()
        .map_err(|_| ApiError::invalid_body("kind: must be one of webhook, splunk_hec, datadog, syslog, s3"))?;
    let options = stele_streams::ParseOptions { allow_http: state.streams.allow_http };
    stele_streams::parse(kind, fields, options).map_err(|e| ApiError::invalid_body(e.to_string()))
}

fn target(record: &StreamRecord) -> Target {
    Target {
        kind: Some("stream".into()),
        id: Some(record.id.to_string()),
        name: Some(record.name.clone()),
        email: None,
    }
}

fn changed_meanwhile(e: StoreError) -> ApiError {
    match e {
        StoreError::VersionMismatch { .. } => ApiError::conflict("the stream changed meanwhile; retry"),
        StoreError::Conflict(what) if what == "streams" => ApiError::conflict(format!(
            "a tenant has at most {} streams",
            stele_store::delivery::MAX_STREAMS_PER_TENANT
        )),
        StoreError::RecordNotFound(..) => ApiError::not_found("no such stream"),
        other => other.into(),
    }
}

/// The stream's answer: its record and status now.
pub(crate) async fn dto(state: &AppState, tenant: &TenantId, stream: &Stream) -> Result<StreamDto, ApiError> {
    let mut one = dtos(state, tenant, std::slice::from_ref(stream)).await?;
    one.pop().ok_or_else(|| internal("no answer for the stream"))
}

/// The answers of `streams`: the tenant's head and what retention waits for are read once
/// for all of them; each stream adds one read (its oldest undelivered event, when behind).
pub(crate) async fn dtos(state: &AppState, tenant: &TenantId, streams: &[Stream]) -> Result<Vec<StreamDto>, ApiError> {
    let head = state.store.tree(tenant).await?.size;
    let now = Timestamp::now();
    let policy = crate::retention::effective(&*state.store, state.retention.default_days, tenant).await?;
    let ceiling = match streams.iter().any(|s| s.progress.cursor < head) {
        true => crate::retention::due_ceiling(&*state.store, tenant, &policy, now).await?,
        false => None,
    };
    let mut out = Vec::with_capacity(streams.len());
    for Stream { record, progress } in streams {
        let lag_events = head.saturating_sub(progress.cursor);
        let oldest = match lag_events {
            0 => None,
            _ => event_at(state, tenant, progress.cursor + 1).await?,
        };
        let now = now.as_micros();
        let lag_seconds = oldest.map_or(0, |received| (now - received.as_micros()).max(0) as u64 / 1_000_000);
        let state_name = match (record.paused, progress.failures) {
            (true, _) => "paused",
            (false, 0) => "active",
            (false, _) => "failing",
        };
        out.push(StreamDto {
            id: record.id.to_string(),
            name: record.name.clone(),
            kind: record.kind.clone(),
            destination: serde_json::from_str(&record.destination).unwrap_or(Value::Null),
            filter: record.filter.clone(),
            state: state_name,
            version: record.version,
            created_at: record.created_at,
            updated_at: record.updated_at,
            status: StreamStatus {
                cursor: progress.cursor,
                head,
                lag_events,
                lag_seconds,
                delivered: progress.delivered,
                last_success: progress.last_success,
                last_error: progress.last_error.clone(),
                last_error_at: progress.last_error_at,
                failures: progress.failures,
                node: progress.lease.as_ref().filter(|l| l.until.as_micros() > now).map(|l| l.node.clone()),
                holds_retention: ceiling.is_some_and(|c| c > progress.cursor),
            },
        });
    }
    Ok(out)
}

/// When the event with this seq was received.
async fn event_at(state: &AppState, tenant: &TenantId, seq: u64) -> Result<Option<Timestamp>, ApiError> {
    let mut query = stele_core::Query::default();
    let at = Expr::compare(Attr::Seq, CompareOp::Eq, FilterValue::Int(seq.min(i64::MAX as u64) as i64));
    query.filter = Some(Filter::new(at).map_err(|e| ApiError::invalid_parameter("seq", e.to_string()))?);
    query.page = PageRequest::First;
    let page = state.store.query(tenant, &query).await?;
    let Some(event) = page.events.first() else { return Ok(None) };
    #[derive(Deserialize)]
    struct Received {
        received_at: Timestamp,
    }
    let r: Received = serde_json::from_str(&event.json).map_err(internal)?;
    Ok(Some(r.received_at))
}

/// Stream `id` of `tenant`, else 404 (an id that does not parse is one that does not exist).
pub(crate) async fn find(state: &AppState, tenant: &TenantId, id: &str) -> Result<Stream, ApiError> {
    let missing = || ApiError::not_found(format!("stream {id} does not exist"));
    let id: StreamId = id.parse().map_err(|_| missing())?;
    state.store.stream(tenant, &id).await?.ok_or_else(missing)
}

/// Make a stream.
#[utoipa::path(post, path = "/v1/streams", tag = "streams", request_body = NewStreamDoc,
    responses((status = 201, body = StreamDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 409, body = crate::dto::Problem), (status = 415, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn create_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<StreamDto>), ApiError> {
    let tenant = stream_admin(&principal, &headers)?;
    let body: Map<String, Value> = json_body(&headers, body).await?;
    let stream = create_stream_in(&state, &By::Api(&principal), &tenant, body).await?;
    Ok((StatusCode::CREATED, Json(dto(&state, &tenant, &stream).await?)))
}

/// Checks and makes a stream for `by` (the API and the viewer's Admin page).
pub(crate) async fn create_stream_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    mut body: Map<String, Value>,
) -> Result<Stream, ApiError> {
    let name = text_member(&mut body, "name")?.ok_or_else(|| ApiError::invalid_body("name: required"))?;
    check_name(&name, "name")?;
    let kind = text_member(&mut body, "kind")?.ok_or_else(|| ApiError::invalid_body("kind: required"))?;
    let filter = check_filter(text_member(&mut body, "filter")?)?;
    let start = match text_member(&mut body, "start")?.as_deref() {
        None | Some("now") => StreamStart::Now,
        Some("beginning") => StreamStart::Beginning,
        Some(_) => return Err(ApiError::invalid_body("start: must be now or beginning")),
    };
    let (destination, secrets) = parse_settings(state, &kind, &body)?;
    if state.store.get_tenant(tenant).await?.is_none() {
        return Err(ApiError::not_found(format!("tenant {tenant} does not exist")));
    }
    let id = StreamId::generate();
    let now = Timestamp::now();
    let record = StreamRecord {
        secrets_sealed: seal(state, tenant, &id, &secrets)?,
        id,
        name,
        kind,
        destination: serde_json::to_string(&destination).map_err(internal)?,
        filter,
        paused: false,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let from = match start {
        StreamStart::Now => "from its next event",
        StreamStart::Beginning => "from the beginning of the log",
    };
    let message = format!("Made the {} stream {} ({from})", record.kind, record.name);
    let audit = by.event("stele.stream.created", target(&record), message);
    let change = RecordChange::PutStream { stream: record.clone(), previous: None, start };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)?;
    find(state, tenant, record.id.as_str()).await
}

fn seal(
    state: &AppState,
    tenant: &TenantId,
    id: &StreamId,
    secrets: &stele_streams::Secrets,
) -> Result<Vec<u8>, ApiError> {
    let clear = serde_json::to_vec(secrets).map_err(internal)?;
    Ok(state.secrets.seal(&secret_context(tenant, id), &clear))
}

/// List the tenant's streams with their status.
#[utoipa::path(get, path = "/v1/streams", tag = "streams",
    responses((status = 200, body = StreamList), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_streams(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Json<StreamList>, ApiError> {
    let tenant = stream_admin(&principal, &headers)?;
    let streams = dtos(&state, &tenant, &state.store.streams(&tenant).await?).await?;
    Ok(Json(StreamList { streams }))
}

/// One stream with its status.
#[utoipa::path(get, path = "/v1/streams/{id}", tag = "streams", params(("id" = String, Path)),
    responses((status = 200, body = StreamDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn get_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamDto>, ApiError> {
    let tenant = stream_admin(&principal, &headers)?;
    let stream = find(&state, &tenant, &id).await?;
    Ok(Json(dto(&state, &tenant, &stream).await?))
}

/// Rename a stream, change its filter or replace its settings.
#[utoipa::path(patch, path = "/v1/streams/{id}", tag = "streams", params(("id" = String, Path)),
    request_body = StreamPatch,
    responses((status = 200, body = StreamDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem),
        (status = 415, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn update_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<StreamDto>, ApiError> {
    let tenant = stream_admin(&principal, &headers)?;
    let patch: StreamPatch = json_body(&headers, body).await?;
    let stream = update_stream_in(&state, &By::Api(&principal), &tenant, &id, Change::Patch(patch)).await?;
    Ok(Json(dto(&state, &tenant, &stream).await?))
}

/// What an update does.
pub(crate) enum Change {
    /// `PATCH /v1/streams/{id}`: its settings are complete, secrets included.
    Patch(StreamPatch),
    /// The viewer's Edit form: a patch whose settings may leave secrets out (the stored ones
    /// are kept: a page never holds them), made from the stream at `version` (an older one
    /// is refused rather than overwritten).
    Edit {
        patch: StreamPatch,
        version: u64,
    },
    Pause(bool),
}

/// `settings` with each secret of `kind` they leave out taken from the stream's sealed
/// secrets, so `stele_streams::parse` checks and re-seals the complete settings as for a
/// `PATCH`. Opened only when one is left out.
fn keep_secrets(
    state: &AppState,
    tenant: &TenantId,
    record: &StreamRecord,
    settings: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let Ok(kind) = record.kind.parse::<stele_streams::Kind>() else { return Ok(()) };
    let missing: Vec<&str> = kind.secret_names().iter().copied().filter(|n| !settings.contains_key(*n)).collect();
    let Some(first) = missing.first() else { return Ok(()) };
    let clear = state.secrets.open(&secret_context(tenant, &record.id), &record.secrets_sealed).map_err(|_| {
        ApiError::invalid_body(format!(
            "{first}: the stored secret cannot be opened with this deployment's secret key; enter it again"
        ))
    })?;
    let mut stored: Map<String, Value> = serde_json::from_slice(&clear).map_err(internal)?;
    for name in missing {
        if let Some(value) = stored.remove(name) {
            settings.insert(name.to_owned(), value);
        }
    }
    Ok(())
}

/// `patch` applied to `record` (nothing stored yet): the same checks whichever way it came.
fn apply_patch(
    state: &AppState,
    tenant: &TenantId,
    record: &mut StreamRecord,
    patch: StreamPatch,
) -> Result<(), ApiError> {
    if let Some(name) = patch.name {
        check_name(&name, "name")?;
        record.name = name;
    }
    if let Some(filter) = patch.filter {
        record.filter = check_filter(Some(filter))?;
    }
    if let Some(settings) = patch.settings {
        let (destination, secrets) = parse_settings(state, &record.kind, &settings)?;
        record.destination = serde_json::to_string(&destination).map_err(internal)?;
        record.secrets_sealed = seal(state, tenant, &record.id, &secrets)?;
    }
    Ok(())
}

/// Applies `change` to stream `id` for `by` (the API and the viewer's Admin page).
pub(crate) async fn update_stream_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    id: &str,
    change: Change,
) -> Result<Stream, ApiError> {
    let current = find(state, tenant, id).await?;
    let mut record = current.record.clone();
    let (action, message) = match change {
        Change::Pause(paused) => {
            record.paused = paused;
            match paused {
                true => ("stele.stream.paused", format!("Paused the stream {}", record.name)),
                false => ("stele.stream.resumed", format!("Resumed the stream {}", record.name)),
            }
        }
        Change::Patch(patch) => {
            apply_patch(state, tenant, &mut record, patch)?;
            ("stele.stream.updated", format!("Changed the stream {}", record.name))
        }
        Change::Edit { mut patch, version } => {
            if version != current.record.version {
                return Err(ApiError::conflict(format!(
                    "the stream changed since this form was opened (version {version}, now {}); \
                     open it again to see the change",
                    current.record.version
                )));
            }
            if let Some(settings) = patch.settings.as_mut() {
                keep_secrets(state, tenant, &record, settings)?;
            }
            apply_patch(state, tenant, &mut record, patch)?;
            ("stele.stream.updated", format!("Changed the stream {}", record.name))
        }
    };
    record.version = current.record.version + 1;
    record.updated_at = Timestamp::now();
    let audit = by.event(action, target(&record), message);
    let change = RecordChange::PutStream {
        stream: record.clone(),
        previous: Some(current.record.version),
        start: StreamStart::Now,
    };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)?;
    find(state, tenant, id).await
}

/// Pause a stream (delivery stops; the cursor stays).
#[utoipa::path(post, path = "/v1/streams/{id}/pause", tag = "streams", params(("id" = String, Path)),
    responses((status = 200, body = StreamDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn pause_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamDto>, ApiError> {
    let tenant = stream_admin(&principal, &headers)?;
    let stream = update_stream_in(&state, &By::Api(&principal), &tenant, &id, Change::Pause(true)).await?;
    Ok(Json(dto(&state, &tenant, &stream).await?))
}

/// Resume a paused stream where it stopped.
#[utoipa::path(post, path = "/v1/streams/{id}/resume", tag = "streams", params(("id" = String, Path)),
    responses((status = 200, body = StreamDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn resume_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<StreamDto>, ApiError> {
    let tenant = stream_admin(&principal, &headers)?;
    let stream = update_stream_in(&state, &By::Api(&principal), &tenant, &id, Change::Pause(false)).await?;
    Ok(Json(dto(&state, &tenant, &stream).await?))
}

/// Delete a stream and its progress.
#[utoipa::path(delete, path = "/v1/streams/{id}", tag = "streams", params(("id" = String, Path)),
    responses((status = 204), (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem),
        (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem),
        (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn delete_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = stream_admin(&principal, &headers)?;
    delete_stream_in(&state, &By::Api(&principal), &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_stream_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    id: &str,
) -> Result<(), ApiError> {
    let current = find(state, tenant, id).await?;
    let message = format!("Deleted the stream {}", current.record.name);
    let audit = by.event("stele.stream.deleted", target(&current.record), message);
    let change = RecordChange::DeleteStream { id: current.record.id.clone(), previous: current.record.version };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)?;
    Ok(())
}
