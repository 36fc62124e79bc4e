//! The OneUptime profile (contract A.1): the generic model API of `status-page-scim-log`
//! (`get-list`, `count`, `get-item`; create, update and delete refused) over the tenant's SCIM
//! log events (`action` starting with `scim.`). Auth: the `ApiKey` header holds a Stele key
//! secret; the project is the key's tenant, or the tenant whose alias a `tenantid`/`projectid`
//! header, `tenantid` query parameter or body `projectId` names (which must be the key's).
//! Errors are OneUptime's `{"error": "..."}`.

mod columns;
pub(crate) mod request;
mod row;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query as QueryString, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value as Json_};
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Expr, Limit, PageRequest, Query, Scope};
use stele_store::Tenant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::columns::MODEL;
use super::common::{self, ProfileError};
use crate::auth::Principal;
use crate::body::{read_limited, ADMIN_BODY_LIMIT};
use crate::routes::query::MAX_OFFSET;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_list))
        .routes(routes!(count))
        .routes(routes!(get_item))
        .routes(routes!(create_item))
        .routes(routes!(update_or_delete_item))
        .routes(routes!(update_item))
        .routes(routes!(delete_item))
}

/// OneUptime's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OneUptimeError)]
pub struct OneUptimeError {
    pub error: String,
}

/// A OneUptime error answer.
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
            (self.status, Json(OneUptimeError { error: self.message })).into_response(),
            self.retry_after,
        )
    }
}

fn internal(e: ProfileError) -> Failure {
    match e {
        ProfileError::Unavailable => Failure::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        ProfileError::RateLimited { retry_after } => Failure::rate_limited(retry_after),
        ProfileError::OutOfBounds { parameter, reason } => Failure::bad(format!("{parameter}: has {reason}")),
        _ => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
    }
}

/// The list answer: `count` is the total of the query, not the page length.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListAnswer {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Map<String, Json_>>,
    pub count: u64,
    pub skip: u64,
    pub limit: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OneUptimeCount)]
pub struct CountAnswer {
    pub count: u64,
}

/// What every route reads: the query string, the JSON body, the caller and its project.
struct Call {
    principal: Principal,
    tenant: Tenant,
    query_string: HashMap<String, String>,
    body: Map<String, Json_>,
}

/// The key of the `ApiKey` header (exactly one, non-empty), the project, and the body.
async fn call(state: &AppState, headers: &HeaderMap, uri: &Uri, body: Body, verb: &str) -> Result<Call, Failure> {
    let query_string: HashMap<String, String> = QueryString::try_from_uri(uri)
        .map(|q: QueryString<HashMap<String, String>>| q.0)
        .map_err(|_| Failure::bad("The query string is malformed"))?;
    let bytes = read_limited(headers, body, ADMIN_BODY_LIMIT).await.map_err(|_| {
        Failure::new(StatusCode::PAYLOAD_TOO_LARGE, format!("The request body exceeds {ADMIN_BODY_LIMIT} bytes"))
    })?;
    let body = request::body(&bytes).map_err(Failure::bad)?;
    let invalid_key = || Failure::bad("Invalid API Key");
    let keys: Vec<_> = headers.get_all("apikey").iter().collect();
    let secret = match keys.as_slice() {
        [] => {
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                format!("Authenticated user or a valid API key is needed to {verb} record of {MODEL}."),
            ))
        }
        [one] => one.to_str().map_err(|_| invalid_key())?,
        _ => return Err(invalid_key()),
    };
    let principal = common::authenticate(state, secret).await.map_err(|e| match e {
        ProfileError::Unauthenticated => invalid_key(),
        other => internal(other),
    })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let project = query_string
        .get("tenantid")
        .cloned()
        .or_else(|| header("tenantid"))
        .or_else(|| header("projectid"))
        .or_else(|| body.get("projectId").and_then(Json_::as_str).map(str::to_owned))
        .filter(|p| !p.trim().is_empty());
    let tenant = match project {
        Some(p) => common::tenant_by_alias(state, &principal, p.trim()).await,
        None => common::key_tenant(state, &principal).await,
    }
    .map_err(|e| match e {
        ProfileError::UnknownTenant(_) | ProfileError::OtherTenant(_) => Failure::bad("Invalid Project ID or API Key"),
        ProfileError::NoTenant => Failure::bad("ProjectID not found in the request header."),
        other => internal(other),
    })?;
    Ok(Call { principal, tenant, query_string, body })
}

impl Call {
    /// Fails with OneUptime's 422 unless the key may read events.
    fn require_read(&self) -> Result<(), Failure> {
        common::require(&self.principal, Scope::EventsRead).map_err(|_| {
            Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "You do not have permissions to read {MODEL}. You need one of these permissions: Project Owner, \
                     Project Admin, Project Member, Read Status Page SCIM Log, Read All Project Resources"
                ),
            )
        })
    }

    /// A query of the SCIM log rows `query` selects, restricted to what the key may read.
    fn filter(&self, extra: Option<Expr>) -> Result<Query, Failure> {
        let alias = common::uuid_alias(&self.tenant);
        let rows = request::filter(self.body.get("query"), alias.as_deref()).map_err(Failure::bad)?;
        let wanted = match extra {
            Some(e) => Expr::and(e, rows),
            None => rows,
        };
        common::readable(&self.principal, Some(wanted), "query").map_err(internal)
    }
}

/// A query-string value (which wins over the body's).
fn param<'a>(call: &'a Call, name: &str) -> Option<std::borrow::Cow<'a, Json_>> {
    match call.query_string.get(name) {
        Some(v) => Some(std::borrow::Cow::Owned(Json_::String(v.clone()))),
        None => call.body.get(name).map(std::borrow::Cow::Borrowed),
    }
}

/// List Status Page SCIM Logs (OneUptime `get-list`). Body: `{query, select, sort}`;
/// without `select` only `_id` is returned.
#[utoipa::path(method(get, post), path = "/api/status-page-scim-log/get-list", tag = "profile: OneUptime",
    params(
        ("ApiKey" = String, Header, description = "a Stele key secret"),
        ("skip" = Option<String>, Query, description = "rows to skip, a number of at most 1 000 000 (default 0); like OneUptime, a value that is not a number is read as the default", example = "0"),
        ("limit" = Option<String>, Query, description = "rows per page, a number of at most 100 (default 10; 0: the default); like OneUptime, a value that is not a number is read as the default", example = "10"),
    ),
    request_body(content = Object, description = "{\"query\": {...}, \"select\": {...}, \"sort\": {...}}"),
    responses((status = 200, body = ListAnswer), (status = 400, body = OneUptimeError),
        (status = 401, body = OneUptimeError), (status = 422, body = OneUptimeError)))]
pub async fn get_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<ListAnswer>, Failure> {
    let call = call(&state, &headers, &uri, body, "read").await?;
    call.require_read()?;
    if call.body.get("groupBy").is_some_and(|g| g.as_object().is_some_and(|o| !o.is_empty())) {
        return Err(Failure::bad("GroupBy is currently not supported"));
    }
    let (skip, limit) = request::paging(param(&call, "skip").as_deref(), param(&call, "limit").as_deref(), MAX_OFFSET)
        .map_err(Failure::bad)?;
    let select = request::select(call.body.get("select")).map_err(Failure::bad)?;
    let sort = request::sort(call.body.get("sort")).map_err(Failure::bad)?;
    let limit_u32 = u32::try_from(limit).ok().and_then(|l| Limit::new(l).ok());
    let query = Query {
        sort,
        page: if skip == 0 { PageRequest::First } else { PageRequest::Offset(skip) },
        limit: limit_u32.ok_or_else(|| Failure::bad("Invalid limit"))?,
        ..call.filter(None)?
    };
    let rows = common::page(&state, &call.tenant, &query).await.map_err(internal)?;
    let alias = common::uuid_alias(&call.tenant);
    let data = rows.events.iter().map(|(_, e)| row::render(e, &select, alias.as_deref())).collect();
    Ok(Json(ListAnswer { data, count: rows.total, skip, limit }))
}

/// Count Status Page SCIM Logs (OneUptime `count`). Body: `{query}`.
#[utoipa::path(post, path = "/api/status-page-scim-log/count", tag = "profile: OneUptime",
    params(("ApiKey" = String, Header, description = "a Stele key secret")),
    request_body(content = Object, description = "{\"query\": {...}}"),
    responses((status = 200, body = CountAnswer), (status = 400, body = OneUptimeError),
        (status = 401, body = OneUptimeError), (status = 422, body = OneUptimeError)))]
pub async fn count(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<CountAnswer>, Failure> {
    let call = call(&state, &headers, &uri, body, "read").await?;
    call.require_read()?;
    let query = call.filter(None)?;
    let count = common::count(&state, &call.tenant, &query).await.map_err(internal)?;
    Ok(Json(CountAnswer { count }))
}

/// One Status Page SCIM Log by id (OneUptime `get-item`): the bare object, or `{}` when there
/// is none the key may read.
#[utoipa::path(method(get, post), path = "/api/status-page-scim-log/{id}/get-item", tag = "profile: OneUptime",
    params(("id" = String, Path, format = "uuid", description = "the event id (UUID)"), ("ApiKey" = String, Header, description = "a Stele key secret")),
    request_body(content = Object, description = "{\"select\": {...}}"),
    responses((status = 200, body = Object), (status = 400, body = OneUptimeError),
        (status = 401, body = OneUptimeError), (status = 422, body = OneUptimeError)))]
pub async fn get_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Json<Map<String, Json_>>, Failure> {
    let call = call(&state, &headers, &uri, body, "read").await?;
    call.require_read()?;
    let uuid = uuid::Uuid::parse_str(&id).map_err(|_| {
        Failure::bad(format!(
            "Invalid ID format: \"{id}\". Expected a valid UUID (e.g., \"550e8400-e29b-41d4-a716-446655440000\")."
        ))
    })?;
    let select = request::select(call.body.get("select")).map_err(Failure::bad)?;
    let by_id = Expr::compare(Attr::Id, CompareOp::Eq, Value::String(uuid.hyphenated().to_string()));
    let query = Query { limit: Limit::new(1).map_err(|_| Failure::bad("Invalid limit"))?, ..call.filter(Some(by_id))? };
    let events = common::events(&state, &call.tenant, &query).await.map_err(internal)?;
    let alias = common::uuid_alias(&call.tenant);
    Ok(Json(events.first().map(|(_, e)| row::render(e, &select, alias.as_deref())).unwrap_or_default()))
}

/// Every write answers OneUptime's 422 for a model that nobody may create, update or delete.
async fn refuse(state: &AppState, headers: &HeaderMap, uri: &Uri, body: Body, verb: &str) -> Failure {
    match call(state, headers, uri, body, verb).await {
        Err(f) => f,
        Ok(_) => Failure::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{verb} on {MODEL} is not allowed.")),
    }
}

/// Create: not allowed (the log is written by Stele's SCIM service only).
#[utoipa::path(post, path = "/api/status-page-scim-log", tag = "profile: OneUptime",
    params(("ApiKey" = String, Header, description = "a Stele key secret")),
    responses((status = 422, body = OneUptimeError)))]
pub async fn create_item(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Failure {
    refuse(&state, &headers, &uri, body, "create").await
}

/// Update (PUT) or delete (DELETE) by id: not allowed.
#[utoipa::path(method(put, delete), path = "/api/status-page-scim-log/{id}", tag = "profile: OneUptime",
    params(("id" = String, Path, description = "the event id"), ("ApiKey" = String, Header, description = "a Stele key secret")),
    responses((status = 422, body = OneUptimeError)))]
pub async fn update_or_delete_item(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Failure {
    let verb = if method == axum::http::Method::DELETE { "delete" } else { "update" };
    refuse(&state, &headers, &uri, body, verb).await
}

/// Update by id: not allowed.
#[utoipa::path(method(get, post), path = "/api/status-page-scim-log/{id}/update-item", tag = "profile: OneUptime",
    params(("id" = String, Path, description = "the event id"), ("ApiKey" = String, Header, description = "a Stele key secret")),
    responses((status = 422, body = OneUptimeError)))]
pub async fn update_item(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Failure {
    refuse(&state, &headers, &uri, body, "update").await
}

/// Delete by id: not allowed.
#[utoipa::path(method(get, post), path = "/api/status-page-scim-log/{id}/delete-item", tag = "profile: OneUptime",
    params(("id" = String, Path, description = "the event id"), ("ApiKey" = String, Header, description = "a Stele key secret")),
    responses((status = 422, body = OneUptimeError)))]
pub async fn delete_item(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Failure {
    refuse(&state, &headers, &uri, body, "delete").await
}
