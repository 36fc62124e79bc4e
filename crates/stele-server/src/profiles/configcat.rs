//! The ConfigCat profile (contract A.4): the Public Management API's audit logs, V1 (a bare
//! array, the seed) and V2 (paged), for products and organizations. Auth: HTTP Basic with the
//! key id as user name and the key's secret as password. The product routes read the key's
//! own tenant; the organization routes name the tenant by an alias (which must be the key's).
//! Newest first. Errors: ConfigCat documents statuses without bodies, so bodies are Stele's
//! `application/problem+json` naming the parameter.

mod item;
mod types;

use axum::extract::{Path, Query as QueryString, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Expr, PageRequest, Query, Scope, TimeRange, Timestamp};
use stele_store::Tenant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::item::{AuditLogItem, PagedList, Paging};
use super::common::{self, ProfileError};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::query::MAX_OFFSET;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(product_v1))
        .routes(routes!(organization_v1))
        .routes(routes!(product_v2))
        .routes(routes!(organization_v2))
}

/// V1 without bounds answers the last 7 days (as ConfigCat does).
const V1_DEFAULT_DAYS: i64 = 7;
/// V1's largest span between the bounds (as ConfigCat).
const V1_MAX_SPAN_DAYS: i64 = 30;
/// Most rows one V1 answer holds; beyond, narrow the range or use V2's pages.
pub const V1_MAX_ROWS: u64 = 10_000;
/// V2 page size: default and maximum.
const V2_PAGE_SIZE: u64 = 100;
const DAY_MICROS: i64 = 86_400_000_000;

/// Which log a request reads.
enum Scoped {
    /// `/products/{productId}`: the key's tenant, events of that product.
    Product(String),
    /// `/organizations/{organizationId}`: the tenant with that alias.
    Organization(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// Query parameters of the V1 routes (names match case-insensitively; others are ignored).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation shape; parsed by name
struct V1Params {
    /// Only this config's items (`context.config_id`), a UUID.
    #[param(
        rename = "configId",
        pattern = "^\\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?\\s*$"
    )]
    config_id: Option<String>,
    /// Only this environment's items (`context.environment_id`), a UUID.
    #[param(
        rename = "environmentId",
        pattern = "^\\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?\\s*$"
    )]
    environment_id: Option<String>,
    /// One of the 77 `AuditLogType` names (`action` equality).
    #[param(rename = "auditLogType")]
    audit_log_type: Option<String>,
    /// Items at or after this UTC date-time, read leniently as ConfigCat does (a blank value
    /// is absent; V1 without bounds: the last 7 days).
    #[param(rename = "fromUtcDateTime", example = "2026-11-01T00:00:00Z")]
    from_utc_date_time: Option<String>,
    /// Items before this UTC date-time (V1: at most 30 days after `fromUtcDateTime`).
    #[param(rename = "toUtcDateTime")]
    to_utc_date_time: Option<String>,
}

/// V2 paging parameters.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation shape; parsed by name
struct PageParams {
    /// 1-based page (default 1).
    #[param(rename = "pageNumber", minimum = 1, maximum = 2147483647, example = 1)]
    page_number: Option<u32>,
    /// Items per page, 1-100 (default 100).
    #[param(rename = "pageSize", minimum = 1, maximum = 100, example = 100)]
    page_size: Option<u32>,
}

/// An error answer (problem+json; 401 with `WWW-Authenticate: Basic`).
struct Failure(ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let basic = self.0.status == StatusCode::UNAUTHORIZED;
        let mut response = self.0.into_response();
        if basic {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"stele\", charset=\"UTF-8\""));
        }
        response
    }
}

impl From<ProfileError> for Failure {
    fn from(e: ProfileError) -> Self {
        Failure(match e {
            ProfileError::Unauthenticated | ProfileError::NoTenant => unauthorized(),
            ProfileError::MissingScope(scope) => ApiError::forbidden(format!("the key lacks the {scope} scope")),
            ProfileError::UnknownTenant(alias) | ProfileError::OtherTenant(alias) => {
                ApiError::not_found(format!("organizationId: no organization {alias:?} for this key"))
            }
            ProfileError::OutOfBounds { parameter, reason } => {
                ApiError::invalid_parameter(parameter, reason.to_string())
            }
            ProfileError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "the server cannot answer now; retry later",
            ),
            ProfileError::RateLimited { retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                "the key made more requests than its rate limit allows; retry later",
            )
            .with_retry_after(retry_after),
            ProfileError::Internal => ApiError::internal(),
        })
    }
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized("send HTTP Basic credentials: the key id as user name, the key's secret as password")
}

fn invalid(name: &str, detail: impl std::fmt::Display) -> Failure {
    Failure(ApiError::invalid_parameter(name, detail))
}

/// The key that `Authorization: Basic base64(key id:secret)` names, with `events:read`.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, Failure> {
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| STANDARD.decode(encoded.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Failure(unauthorized()))?;
    let (user, password) = credentials.split_once(':').ok_or_else(|| Failure(unauthorized()))?;
    let principal = common::authenticate(state, password).await?;
    match &principal {
        Principal::Key(k) if k.id.as_str() == user => {}
        _ => return Err(Failure(unauthorized())),
    }
    common::require(&principal, Scope::EventsRead)?;
    Ok(principal)
}

/// The query string as name/value pairs.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(uri: &Uri) -> Result<Self, Failure> {
        QueryString::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| Params(q.0))
            .map_err(|_| Failure(ApiError::bad_request("invalid-parameter", "the query string is not URL-encoded")))
    }

    /// The first value of a parameter (names match case-insensitively; blank is absent).
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    fn uuid(&self, name: &str) -> Result<Option<String>, Failure> {
        self.get(name).map(|v| uuid_text(name, v)).transpose()
    }

    fn time(&self, name: &str) -> Result<Option<Timestamp>, Failure> {
        self.get(name)
            .map(|v| {
                common::parse_datetime(v)
                    .ok_or_else(|| invalid(name, "expected a date-time such as 2024-08-01T00:00:00Z"))
            })
            .transpose()
    }

    fn number(&self, name: &str, max: u64, default: u64) -> Result<u64, Failure> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| invalid(name, format!("must be a whole number from 1 to {max}"))),
        }
    }
}

fn uuid_text(name: &str, value: &str) -> Result<String, Failure> {
    uuid::Uuid::parse_str(value).map(|u| u.hyphenated().to_string()).map_err(|_| invalid(name, "must be a UUID"))
}

fn context_eq(key: &str, value: String) -> Expr {
    Expr::compare(Attr::Context(key.into()), CompareOp::Eq, Value::String(value))
}

/// The filter and time range of a request (the key's view filter AND-ed in).
fn parse_query(principal: &Principal, scoped: &Scoped, p: &Params, version: Version) -> Result<Query, Failure> {
    let mut parts = Vec::new();
    let product = match scoped {
        Scoped::Product(id) => Some(uuid_text("productId", id)?),
        Scoped::Organization(_) => p.uuid("productId")?,
    };
    if let Some(id) = product {
        parts.push(context_eq("product_id", id));
    }
    if let Some(id) = p.uuid("configId")? {
        parts.push(context_eq("config_id", id));
    }
    if let Some(id) = p.uuid("environmentId")? {
        parts.push(context_eq("environment_id", id));
    }
    if let Some(kind) = p.get("auditLogType") {
        let name = types::canonical(kind).ok_or_else(|| {
            invalid("auditLogType", format!("{kind:?} is not an AuditLogType (e.g. settingValueChanged)"))
        })?;
        parts.push(Expr::compare(Attr::Action, CompareOp::Eq, Value::String(name.into())));
    }
    let (mut from, mut to) = (p.time("fromUtcDateTime")?, p.time("toUtcDateTime")?);
    if version == Version::V1 {
        let end = to.unwrap_or_else(Timestamp::now);
        let start = from.unwrap_or_else(|| end.plus_micros(-V1_DEFAULT_DAYS * DAY_MICROS));
        if end.as_micros().saturating_sub(start.as_micros()) > V1_MAX_SPAN_DAYS * DAY_MICROS {
            return Err(invalid("toUtcDateTime", format!("at most {V1_MAX_SPAN_DAYS} days after fromUtcDateTime")));
        }
        (from, to) = (Some(start), Some(end));
    }
    let range = TimeRange::new(from, to).map_err(|_| invalid("fromUtcDateTime", "must be before toUtcDateTime"))?;
    Ok(Query { range, ..common::readable(principal, parts.into_iter().reduce(Expr::and), "query")? })
}

async fn tenant_of(state: &AppState, principal: &Principal, scoped: &Scoped) -> Result<Tenant, Failure> {
    Ok(match scoped {
        Scoped::Product(_) => common::key_tenant(state, principal).await?,
        Scoped::Organization(alias) => common::tenant_by_alias(state, principal, alias).await?,
    })
}

fn items(rows: Vec<(stele_core::Seq, stele_core::Event)>) -> Vec<AuditLogItem> {
    rows.into_iter().map(|(seq, e)| AuditLogItem::new(seq, e)).collect()
}

async fn serve(state: AppState, headers: HeaderMap, uri: Uri, scoped: Scoped, version: Version) -> Response {
    match answer(&state, &headers, &uri, scoped, version).await {
        Ok(response) => response,
        Err(failure) => failure.into_response(),
    }
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    scoped: Scoped,
    version: Version,
) -> Result<Response, Failure> {
    let principal = authenticate(state, headers).await?;
    let params = Params::parse(uri)?;
    let query = parse_query(&principal, &scoped, &params, version)?;
    let (page_number, page_size) = match version {
        Version::V1 => (1, 0),
        Version::V2 => {
            (params.number("pageNumber", i32::MAX as u64, 1)?, params.number("pageSize", V2_PAGE_SIZE, V2_PAGE_SIZE)?)
        }
    };
    let tenant = tenant_of(state, &principal, &scoped).await?;
    let total = common::count(state, &tenant, &query).await?;
    if version == Version::V1 {
        if total > V1_MAX_ROWS {
            return Err(invalid(
                "fromUtcDateTime",
                format!("{total} items match; V1 answers at most {V1_MAX_ROWS}: narrow the range or use the V2 pages"),
            ));
        }
        // Streamed: up to 10,000 events of up to 64 KiB (see `profiles::stream`).
        let close = |_, _| Ok("]".to_owned());
        return Ok(super::stream::json_rows(state, &tenant.id, query, total, "[", AuditLogItem::new, close).await?);
    }
    let offset = (page_number - 1).saturating_mul(page_size);
    let rows = if offset >= total {
        Vec::new()
    } else if offset > MAX_OFFSET {
        return Err(invalid("pageNumber", format!("pages may start at most {MAX_OFFSET} items deep")));
    } else {
        let query = Query { page: PageRequest::Offset(offset), ..query };
        common::events_up_to(state, &tenant, &query, page_size).await?.0
    };
    let total_pages = total.div_ceil(page_size);
    let paging = Paging {
        current_page: page_number,
        total_pages,
        page_size,
        total_count: total,
        has_previous: page_number > 1,
        has_next: page_number < total_pages,
    };
    Ok(Json(PagedList { paging, data: items(rows) }).into_response())
}

/// List a product's audit log items (V1: the whole range as one array).
#[utoipa::path(get, path = "/v1/products/{productId}/auditlogs", tag = "profile: ConfigCat",
    params(("productId" = String, Path, format = "uuid", description = "the product (UUID): `context.product_id`", example = "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10"), V1Params),
    responses((status = 200, body = Vec<AuditLogItem>), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem)),
    security(("basic" = [])))]
async fn product_v1(
    State(state): State<AppState>,
    Path(product_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    serve(state, headers, uri, Scoped::Product(product_id), Version::V1).await
}

/// List an organization's audit log items (V1: the whole range as one array).
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/auditlogs", tag = "profile: ConfigCat",
    params(("organizationId" = String, Path, description = "an alias of the key's tenant", max_length = 256, example = "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10"),
        ("productId" = Option<String>, Query, pattern = "^\\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?\\s*$", description = "only this product's items (a UUID; blank: all)"), V1Params),
    responses((status = 200, body = Vec<AuditLogItem>), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("basic" = [])))]
async fn organization_v1(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    serve(state, headers, uri, Scoped::Organization(organization_id), Version::V1).await
}

/// List a product's audit log items, one page at a time.
#[utoipa::path(get, path = "/v2/products/{productId}/auditlogs", tag = "profile: ConfigCat",
    params(("productId" = String, Path, format = "uuid", description = "the product (UUID): `context.product_id`", example = "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10"), V1Params, PageParams),
    responses((status = 200, body = PagedList), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem)),
    security(("basic" = [])))]
async fn product_v2(
    State(state): State<AppState>,
    Path(product_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    serve(state, headers, uri, Scoped::Product(product_id), Version::V2).await
}

/// List an organization's audit log items, one page at a time.
#[utoipa::path(get, path = "/v2/organizations/{organizationId}/auditlogs", tag = "profile: ConfigCat",
    params(("organizationId" = String, Path, description = "an alias of the key's tenant", max_length = 256, example = "8c1f1b5e-3a43-4a51-9d6b-0f3c2f4d9a10"),
        ("productId" = Option<String>, Query, pattern = "^\\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?\\s*$", description = "only this product's items (a UUID; blank: all)"), V1Params, PageParams),
    responses((status = 200, body = PagedList), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("basic" = [])))]
async fn organization_v2(
    State(state): State<AppState>,
    Path(organization_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    serve(state, headers, uri, Scoped::Organization(organization_id), Version::V2).await
}
