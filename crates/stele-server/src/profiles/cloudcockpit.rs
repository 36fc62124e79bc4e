//! The CloudCockpit profile (contract A.3): `GET /v1/AuditLogs`. The tenant is the one whose
//! domain alias `X-Tenant` names; the caller a JWT verified with that tenant's key (or a Stele
//! key of the tenant). Newest first, page numbers and a continuation token (a Stele cursor).
//! `X-Correlation-Id` is echoed (one is made when absent) in the answer's header and in error
//! bodies, which are CloudCockpit's `ErrorResponse` naming the bad parameter.

pub(crate) mod auth;
mod item;

use axum::extract::{Query as QueryString, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Cursor, Expr, Filter, PageRequest, Query, Sort, TimeRange, Timestamp, ViewFilter};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::auth::Role;
use self::item::{AuditLog, AuditLogPage, ErrorResponse, PaginationParameters, PropertyError};
use super::common::{self, ProfileError};
use crate::routes::query::MAX_OFFSET;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_logs))
}

const DEFAULT_PAGE_SIZE: u64 = 25;
const MAX_PAGE_SIZE: u64 = 2000;
const CORRELATION_HEADER: &str = "x-correlation-id";
/// Most operations one `Operations` value may list.
const MAX_OPERATIONS: usize = 100;
/// Longest operation or name searched for.
const MAX_TEXT: usize = 1024;

/// A refusal, rendered as an `ErrorResponse` with the request's correlation id.
pub struct Failure {
    status: StatusCode,
    kind: &'static str,
    description: String,
    property: Option<&'static str>,
    /// Seconds for `Retry-After` (a rate-limited key).
    retry_after: Option<u32>,
}

impl Failure {
    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The parameter a 400 names.
    pub fn property(&self) -> Option<&'static str> {
        self.property
    }

    fn new(status: StatusCode, kind: &'static str, description: impl Into<String>) -> Self {
        Self { status, kind, description: description.into(), property: None, retry_after: None }
    }

    /// 400 naming the bad parameter.
    fn invalid(property: &'static str, description: impl Into<String>) -> Self {
        Self { property: Some(property), ..Self::new(StatusCode::BAD_REQUEST, "ValidationError", description) }
    }

    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "the request could not be completed")
    }

    fn rate_limited(retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", super::common::RATE_LIMITED)
        }
    }

    fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "the service cannot answer now; retry later")
    }

    fn body(self, correlation_id: &str) -> (StatusCode, ErrorResponse) {
        let errors = self
            .property
            .map(|p| vec![PropertyError { property_name: p.to_owned(), description: vec![self.description.clone()] }]);
        let body = ErrorResponse {
            status_code: self.status.as_u16(),
            kind: Some(self.kind.to_owned()),
            description: Some(self.description),
            correlation_id: Some(correlation_id.to_owned()),
            errors,
        };
        (self.status, body)
    }
}

impl From<ProfileError> for Failure {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Unavailable => Failure::unavailable(),
            ProfileError::RateLimited { retry_after } => Failure::rate_limited(retry_after),
            ProfileError::OutOfBounds { parameter, reason } => Failure::invalid(parameter, reason.to_string()),
            _ => Failure::internal(),
        }
    }
}

/// Documented query parameters (names match case-insensitively, as ASP.NET binds them;
/// others are ignored).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation shape; parsed by name
struct Params {
    /// 1-based page (default 1).
    #[param(rename = "PageNumber", minimum = 1, example = 1)]
    page_number: Option<i32>,
    /// Items per page, 1-2000 (default 25).
    #[param(rename = "PageSize", minimum = 1, maximum = 2000, example = 25)]
    page_size: Option<i32>,
    /// Start of the interval, a date-time read leniently as ASP.NET does (blank: absent;
    /// default: one month ago).
    #[param(rename = "StartDate", example = "2026-11-01T00:00:00Z")]
    start_date: Option<String>,
    /// End of the interval, exclusive (default: now).
    #[param(rename = "EndDate")]
    end_date: Option<String>,
    /// Operations (`action`), separated by `|`: `CreateOrder|CreateCustomer`.
    #[param(rename = "Operations")]
    operations: Option<String>,
    /// `Processing`, `Succeded` or `Failed` (any case).
    #[param(
        rename = "Status",
        pattern = "^([Pp][Rr][Oo][Cc][Ee][Ss][Ss][Ii][Nn][Gg]|[Ss][Uu][Cc][Cc][Ee][Dd][Ee][Dd]|[Ff][Aa][Ii][Ll][Ee][Dd])?$",
        example = "Failed"
    )]
    status: Option<String>,
    /// Part of the reseller's name (`context.reseller`), at most 1024 characters.
    #[param(rename = "Reseller", max_length = 1024)]
    reseller: Option<String>,
    /// Part of the customer's name (`context.customer`), at most 1024 characters.
    #[param(rename = "Customer", max_length = 1024)]
    customer: Option<String>,
    /// View as this reseller (`context.reseller_id`; csp only), a UUID (blank: absent).
    #[param(
        rename = "resellerId",
        pattern = "^\\s*([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?\\s*$"
    )]
    reseller_id: Option<String>,
    /// The `continuationToken` of the previous page.
    #[param(rename = "ContinuationToken")]
    continuation_token: Option<String>,
}

/// The query string's `name=value` pairs.
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// The first value of `name` (in any case), trimmed, unless empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    fn time(&self, name: &'static str) -> Result<Option<Timestamp>, Failure> {
        self.get(name)
            .map(|v| {
                common::parse_datetime(v).ok_or_else(|| {
                    Failure::invalid(name, format!("{v:?} is not a date-time such as 2024-04-04T00:00:00Z"))
                })
            })
            .transpose()
    }

    fn number(&self, name: &'static str, max: u64, default: u64) -> Result<u64, Failure> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| Failure::invalid(name, format!("must be a whole number from 1 to {max}"))),
        }
    }
}

fn compare(attr: Attr, op: CompareOp, value: &str) -> Expr {
    Expr::compare(attr, op, Value::String(value.to_owned()))
}

fn any_of(parts: Vec<Expr>) -> Option<Expr> {
    parts.into_iter().reduce(Expr::or)
}

/// The filter of the documented parameters and the caller's role.
/// The filter's parts, and the reseller whose events alone may be read (an access boundary:
/// it becomes the query's view, compared exactly).
fn filter(p: &Pairs, role: &Role) -> Result<(Vec<Expr>, Option<String>), Failure> {
    let mut parts = Vec::new();
    if let Some(ops) = p.get("Operations") {
        let ops: Vec<&str> = ops.split('|').map(str::trim).filter(|o| !o.is_empty()).collect();
        if ops.len() > MAX_OPERATIONS || ops.iter().any(|o| o.chars().count() > MAX_TEXT) {
            return Err(Failure::invalid(
                "Operations",
                format!("at most {MAX_OPERATIONS} operations of at most {MAX_TEXT} characters"),
            ));
        }
        parts.extend(any_of(ops.into_iter().map(|o| compare(Attr::Action, CompareOp::Eq, o)).collect()));
    }
    if let Some(status) = p.get("Status") {
        let words: &[&str] = match status.to_ascii_lowercase().as_str() {
            "processing" => &["pending"],
            "succeded" => &["success", "warning"],
            "failed" => &["failure"],
            _ => {
                return Err(Failure::invalid(
                    "Status",
                    format!("{status:?} is not one of Processing, Succeded, Failed"),
                ))
            }
        };
        parts.extend(any_of(words.iter().map(|w| compare(Attr::Status, CompareOp::Eq, w)).collect()));
    }
    for (param, key) in [("Reseller", "reseller"), ("Customer", "customer")] {
        if let Some(name) = p.get(param) {
            if name.chars().count() > MAX_TEXT {
                return Err(Failure::invalid(param, format!("at most {MAX_TEXT} characters")));
            }
            parts.push(compare(Attr::Context(key.into()), CompareOp::Co, name));
        }
    }
    let view_as = p
        .get("resellerId")
        .map(|v| uuid::Uuid::parse_str(v).map_err(|_| Failure::invalid("resellerId", format!("{v:?} is not a UUID"))))
        .transpose()?;
    let reseller = match (role, view_as) {
        (Role::Csp, view_as) => view_as.map(|u| u.hyphenated().to_string()),
        // A UUID names the same reseller in any case; the claim itself is compared exactly.
        (Role::Reseller(own), Some(u)) if uuid::Uuid::parse_str(own).ok() != Some(u) => {
            return Err(Failure::new(StatusCode::FORBIDDEN, "Forbidden", "a reseller may view only its own audit logs"))
        }
        (Role::Reseller(own), _) => Some(own.clone()),
    };
    Ok((parts, reseller))
}

/// What the caller may read: a Stele key's view, and the reseller's own events only.
fn view(caller: &auth::Caller, reseller: Option<String>) -> Result<Option<ViewFilter>, Failure> {
    let key_view = match &caller.key {
        Some(principal) => crate::view_filter::of(principal).map_err(|_| Failure::internal())?,
        None => None,
    };
    let reseller = reseller
        .map(|id| ViewFilter::new(compare(Attr::Context("reseller_id".into()), CompareOp::Eq, &id)))
        .transpose()
        .map_err(|e| Failure::invalid("reseller_id", e.message))?;
    Ok(match (key_view, reseller) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    })
}

/// The documented parameters, read and checked before the store is asked.
pub struct Parsed {
    pub page_size: u64,
    pub page_number: u64,
    pub range: TimeRange,
    pub filter: Option<Filter>,
    /// The reseller whose events alone may be read (see [`filter`]).
    pub reseller: Option<String>,
}

/// Reads the paging, interval and filter parameters for a caller of `role`; `now` is the
/// default end of the interval.
pub fn parse(pairs: &Pairs, role: &Role, now: Timestamp) -> Result<Parsed, Failure> {
    let page_size = pairs.number("PageSize", MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)?;
    let page_number = pairs.number("PageNumber", i32::MAX as u64, 1)?;
    let end = pairs.time("EndDate")?.unwrap_or(now);
    let start = pairs.time("StartDate")?.unwrap_or_else(|| common::months_before(now, 1));
    let range =
        TimeRange::new(Some(start), Some(end)).map_err(|_| Failure::invalid("StartDate", "must be before EndDate"))?;
    let (parts, reseller) = filter(pairs, role)?;
    let filter = parts.into_iter().reduce(Expr::and).map(Filter::new).transpose();
    let filter = filter.map_err(|e| Failure::invalid("Operations", e.to_string()))?;
    Ok(Parsed { page_size, page_number, range, filter, reseller })
}

/// A `ContinuationToken`: its cursor, and `filter` narrowed to the rows up to the cursor's
/// row (whose count is the page's offset).
pub fn continuation(filter: Option<&Filter>, token: &str) -> Result<(Cursor, Filter), Failure> {
    let cursor = Sort::default()
        .decode_cursor(token)
        .map_err(|_| Failure::invalid("ContinuationToken", "not a token this server issued"))?;
    let before =
        up_to_cursor(&cursor).ok_or_else(|| Failure::invalid("ContinuationToken", "not a token this server issued"))?;
    let filter = match filter.cloned() {
        Some(f) => Filter::new(Expr::and(f.into_expr(), before)),
        None => Filter::new(before),
    };
    Ok((cursor, filter.map_err(|e| Failure::invalid("ContinuationToken", e.to_string()))?))
}

/// Rows before the cursor's row (inclusive) in newest-first order: how deep the token is.
fn up_to_cursor(cursor: &Cursor) -> Option<Expr> {
    let micros = cursor.values.first()?.as_i64()?;
    let time = Value::Time(Timestamp::from_unix_micros(micros).ok()?);
    let seq = Value::Int(i64::try_from(cursor.seq).ok()?);
    Some(Expr::or(
        Expr::compare(Attr::Time, CompareOp::Gt, time.clone()),
        Expr::and(Expr::compare(Attr::Time, CompareOp::Eq, time), Expr::compare(Attr::Seq, CompareOp::Ge, seq)),
    ))
}

async fn answer(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Response, Failure> {
    let pairs = QueryString::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| Pairs(q.0))
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "ValidationError", "the query string is not URL-encoded"))?;
    let caller = auth::caller(state, headers).await?;
    let Parsed { page_size, page_number, range, filter, reseller } = parse(&pairs, &caller.role, Timestamp::now())?;
    let base = Query { range, filter, view: view(&caller, reseller)?, ..Query::default() };
    let total = common::count(state, &caller.tenant, &base).await?;

    let (page, offset) = match pairs.get("ContinuationToken") {
        Some(token) => {
            let (cursor, filter) = continuation(base.filter.as_ref(), token)?;
            let offset = common::count(state, &caller.tenant, &Query { filter: Some(filter), ..base.clone() }).await?;
            (PageRequest::After(cursor), offset)
        }
        None => {
            let offset = (page_number - 1).saturating_mul(page_size);
            if offset > MAX_OFFSET && offset < total {
                return Err(Failure::invalid(
                    "PageNumber",
                    format!("pages may start at most {MAX_OFFSET} items deep; follow continuationToken instead"),
                ));
            }
            (PageRequest::Offset(offset), offset)
        }
    };
    // Streamed: pages of up to 2,000 events of up to 64 KiB (see `profiles::stream`). The
    // fields after `items` depend on how many rows were sent and where they ended.
    let n = if offset >= total { 0 } else { page_size };
    let rest = move |sent: u64, next: Option<Cursor>| {
        let has_next = offset + sent < total;
        let page = AuditLogPage {
            items: Vec::new(),
            pagination_parameters: PaginationParameters { page_number: offset / page_size + 1, page_size },
            total_pages: total.div_ceil(page_size),
            total_count: total,
            has_previous_page: offset > 0,
            has_next_page: has_next,
            continuation_token: next.filter(|_| has_next).map(|c| c.encode()),
        };
        let text = serde_json::to_string(&page).map_err(|_| ProfileError::Internal)?;
        text.strip_prefix(ITEMS_OPEN).map(str::to_owned).ok_or(ProfileError::Internal)
    };
    let query = Query { page, ..base };
    Ok(super::stream::json_rows(state, &caller.tenant.id, query, n, ITEMS_OPEN, AuditLog::from_row, rest).await?)
}

/// How a serialized [`AuditLogPage`] starts: `items` is its first field.
const ITEMS_OPEN: &str = "{\"items\":[";

/// The request's correlation id: `X-Correlation-Id` as sent, or a new UUID.
fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 256)
        .map(str::to_owned)
        .unwrap_or_else(|| stele_core::EventId::new_v7().to_string())
}

/// List the tenant's audit logs, newest first.
#[utoipa::path(get, path = "/v1/AuditLogs", tag = "profile: CloudCockpit",
    params(
        ("X-Tenant" = String, Header, description = "a domain alias of the tenant", min_length = 1, example = "acme.example.com"),
        ("Authorization" = String, Header, description = "Bearer <JWT signed with the tenant's key> (or a Stele key of the tenant)"),
        ("X-Correlation-Id" = Option<String>, Header, description = "echoed in the answer's header and error bodies"),
        Params),
    responses((status = 200, body = AuditLogPage), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 500, body = ErrorResponse)),
    security(("bearer" = [])))]
async fn list_audit_logs(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let correlation = correlation_id(&headers);
    let mut response = match answer(&state, &headers, &uri).await {
        Ok(response) => response,
        Err(failure) => {
            let (status, retry_after) = (failure.status, failure.retry_after);
            let (status_code, body) = failure.body(&correlation);
            let mut r = common::retry_after((status_code, Json(body)).into_response(), retry_after);
            if status == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            r
        }
    };
    if let Ok(value) = HeaderValue::from_str(&correlation) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}
