//! Reading the log: `GET /v1/events`, `POST /v1/events/search`, `GET /v1/events/count`.
//! All three parse into the one `Query` model; a key's view filter is AND-ed into it.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stele_core::{Fields, Filter, Limit, PageRequest, Query, Scope, Sort, TextQuery, TimeRange, Timestamp};

use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::routes::events::json_response;
use crate::routes::query_params;
use crate::state::AppState;

/// Deepest offset a page may start at (offset pages cost O(offset); cursors do not).
pub const MAX_OFFSET: u64 = 1_000_000;

/// Parameters of a read, from a query string or a JSON body.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// SCIM filter, e.g. `actor.email eq "ana@acme.io" and status eq "failure"`.
    pub filter: Option<String>,
    /// Words that must all appear in message, action, actor, targets or reason (`word*` = prefix).
    pub q: Option<String>,
    /// Earliest event time, inclusive (RFC 3339).
    #[param(format = DateTime, example = "2026-11-01T00:00:00Z")]
    #[schema(format = DateTime, example = "2026-11-01T00:00:00Z")]
    pub from: Option<String>,
    /// Latest event time, exclusive (RFC 3339).
    #[param(format = DateTime)]
    #[schema(format = DateTime)]
    pub to: Option<String>,
    /// One attribute, `-` for descending: `-time` (default), `action`, `actor.name`, `request.status_code`…
    pub sort: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000, example = 50)]
    #[schema(minimum = 1, maximum = 1000, example = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (keyset: same cost at any depth).
    pub cursor: Option<String>,
    /// Rows to skip (for page numbers; at most 1 000 000). Not with `cursor`.
    #[param(maximum = 1000000)]
    #[schema(maximum = 1000000)]
    pub offset: Option<u64>,
    /// Only these fields of each event: `id,time,action,actor.email`.
    pub fields: Option<String>,
    /// Also answer `total`: the exact number of events the filter matches.
    pub total: Option<bool>,
}

/// A parsed read.
pub struct Read {
    pub query: Query,
    pub fields: Option<Fields>,
    pub total: bool,
}

fn timestamp_param(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    value.map(|v| Timestamp::parse(v).map_err(|e| ApiError::invalid_parameter(name, e))).transpose()
}

fn filter_error(e: stele_core::FilterError) -> ApiError {
    let mut err = ApiError::new(StatusCode::BAD_REQUEST, "invalid-filter", "Invalid filter", e.to_string());
    err.extra = Some(json!({"parameter": "filter", "position": e.position}));
    err
}

/// Turns parameters into the query model, with the caller's view filter AND-ed in.
pub fn parse_read(principal: &Principal, p: SearchParams) -> Result<Read, ApiError> {
    parse_read_in(crate::view_filter::of(principal)?, p)
}

/// [`parse_read`] for a reader whose view is already known (a signed-in viewer member
/// reads the whole tenant: `None`).
pub fn parse_read_in(view: Option<stele_core::ViewFilter>, p: SearchParams) -> Result<Read, ApiError> {
    let range = TimeRange::new(timestamp_param("from", p.from.as_deref())?, timestamp_param("to", p.to.as_deref())?)?;
    let sort = p.sort.as_deref().map(Sort::parse).transpose()?.unwrap_or_default();
    let limit = p.limit.map(Limit::new).transpose()?.unwrap_or_default();
    let page = match (p.cursor.as_deref(), p.offset) {
        (Some(_), Some(_)) => return Err(ApiError::invalid_parameter("offset", "cannot be combined with cursor")),
        (Some(c), None) => PageRequest::After(sort.decode_cursor(c)?),
        (None, Some(n)) if n > MAX_OFFSET => {
            return Err(ApiError::invalid_parameter("offset", format!("at most {MAX_OFFSET}; use cursor to go deeper")))
        }
        (None, Some(n)) => PageRequest::Offset(n),
        (None, None) => PageRequest::First,
    };
    let filter =
        p.filter.as_deref().filter(|f| !f.trim().is_empty()).map(Filter::parse).transpose().map_err(filter_error)?;
    let text = p.q.as_deref().map(TextQuery::parse).transpose()?.flatten();
    let fields =
        p.fields.as_deref().map(Fields::parse).transpose().map_err(|e| ApiError::invalid_parameter("fields", e))?;
    let query = Query { range, text, sort, page, limit, view, filter };
    Ok(Read { query, fields, total: p.total.unwrap_or(false) })
}

/// Runs a parsed read: the page and, when asked, the exact total (the JSON API and the
/// viewer's pages share this).
pub(crate) async fn fetch(
    state: &AppState,
    tenant: &stele_core::TenantId,
    read: &Read,
) -> Result<(stele_store::Page, Option<u64>), ApiError> {
    let total = if read.total { Some(state.store.count(tenant, &read.query).await?) } else { None };
    let page = state.store.query(tenant, &read.query).await?;
    Ok((page, total))
}

pub(crate) async fn answer(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    read: Read,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(headers)?;
    let (page, total) = fetch(state, &tenant, &read).await?;
    let mut body = String::with_capacity(page.events.iter().map(|e| e.json.len() + 16).sum::<usize>() + 64);
    body.push_str("{\"events\":[");
    for (i, e) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        match &read.fields {
            None => body.push_str(&e.to_json()),
            Some(fields) => {
                let value: serde_json::Value = serde_json::from_str(&e.to_json()).map_err(|_| ApiError::internal())?;
                body.push_str(&fields.project(&value).to_string());
            }
        }
    }
    body.push_str("],\"next_cursor\":");
    let next = page.next.map(|c| c.encode());
    body.push_str(&serde_json::to_string(&next).map_err(|_| ApiError::internal())?);
    if let Some(total) = total {
        body.push_str(&format!(",\"total\":{total}"));
    }
    body.push('}');
    Ok(json_response(StatusCode::OK, body))
}

/// List events: filter, search, sort, page (cursor or offset), project, count.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(SearchParams),
    responses((status = 200, body = crate::dto::EventPage), (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let read = parse_read(&principal, query_params(&uri)?)?;
    answer(&state, &principal, &headers, read).await
}

/// The same as `GET /v1/events`, with the parameters as a JSON body (for long filters).
#[utoipa::path(post, path = "/v1/events/search", tag = "events", request_body = SearchParams,
    responses((status = 200, body = crate::dto::EventPage), (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn search_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let params: SearchParams = json_body(&headers, body).await?;
    let read = parse_read(&principal, params)?;
    answer(&state, &principal, &headers, read).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CountParams {
    /// SCIM filter.
    pub filter: Option<String>,
    /// Words to find.
    pub q: Option<String>,
    /// Earliest event time, inclusive (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Latest event time, exclusive (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountAnswer {
    pub count: u64,
}

/// The exact number of events a filter matches.
#[utoipa::path(get, path = "/v1/events/count", tag = "events", params(CountParams),
    responses((status = 200, body = CountAnswer), (status = 400, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn count_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<CountAnswer>, ApiError> {
    principal.require(Scope::EventsRead)?;
    let tenant = principal.tenant(&headers)?;
    let p: CountParams = query_params(&uri)?;
    let read = parse_read(
        &principal,
        SearchParams { filter: p.filter, q: p.q, from: p.from, to: p.to, ..SearchParams::default() },
    )?;
    Ok(Json(CountAnswer { count: state.store.count(&tenant, &read.query).await? }))
}
