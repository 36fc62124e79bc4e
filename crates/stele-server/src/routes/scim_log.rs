//! `GET /v1/scim-log`: the tenant's SCIM audit log with the filters of the SCIM Audit Logs
//! page (seed 001, `profiles.md` A.2) — date range, HTTP method, resource type, endpoint,
//! status — so the page (and any program) holds no query logic of its own. It is a thin
//! adapter: the parameters become a filter of the one query model (AND-ed with the key's
//! view like every read) and the answer is `GET /v1/events`'s.
//!
//! The same rows through the plain API: `GET /v1/events?filter=action sw "scim." and
//! request.method eq "POST" and context.scim_resource_type eq "Users" and request.path co
//! "/Users" and status ne "success"`.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Expr, Filter};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::query::{answer, parse_read_in, Read, SearchParams};
use crate::routes::query_params;
use crate::state::AppState;

/// The page's filters (all optional).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScimLogParams {
    /// Earliest event time, inclusive (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Latest event time, exclusive (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE` (any case; empty: any).
    #[param(
        pattern = "^([Gg][Ee][Tt]|[Pp][Oo][Ss][Tt]|[Pp][Uu][Tt]|[Pp][Aa][Tt][Cc][Hh]|[Dd][Ee][Ll][Ee][Tt][Ee])?$",
        example = "POST"
    )]
    pub method: Option<String>,
    /// `Users`, `Groups`, `Me` or `Bulk` (from the request path, any case); `all` or empty for any.
    #[param(
        pattern = "^(all|[Uu][Ss][Ee][Rr][Ss]|[Gg][Rr][Oo][Uu][Pp][Ss]|[Mm][Ee]|[Bb][Uu][Ll][Kk])?$",
        example = "Users"
    )]
    pub resource_type: Option<String>,
    /// Text the request path contains (`/Users/2819c223`), at most 1024 characters.
    #[param(max_length = 1024)]
    pub endpoint: Option<String>,
    /// `success`, `failed` or `all` (empty: all).
    #[param(pattern = "^(all|success|failed)?$", example = "failed")]
    pub status: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows to skip (page numbers; at most 1 000 000). Not with `cursor`.
    #[param(maximum = 1000000)]
    pub offset: Option<u64>,
    /// Also answer `total`.
    pub total: Option<bool>,
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// The filter the page's parameters mean.
fn filter(p: &ScimLogParams) -> Result<Filter, ApiError> {
    let mut terms = vec![Expr::compare(Attr::Action, CompareOp::Sw, text("scim."))];
    if let Some(method) = p.method.as_deref().filter(|m| !m.is_empty()) {
        let known = ["GET", "POST", "PUT", "PATCH", "DELETE"];
        let Some(m) = known.iter().find(|k| k.eq_ignore_ascii_case(method)) else {
            return Err(ApiError::invalid_parameter("method", format!("must be one of {}", known.join(", "))));
        };
        terms.push(Expr::compare(Attr::RequestMethod, CompareOp::Eq, text(m)));
    }
    match p.resource_type.as_deref() {
        None | Some("") | Some("all") => {}
        Some(kind) => {
            let known = ["Users", "Groups", "Me", "Bulk"];
            let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(kind)) else {
                return Err(ApiError::invalid_parameter(
                    "resource_type",
                    "must be one of all, Users, Groups, Me, Bulk",
                ));
            };
            terms.push(Expr::compare(Attr::Context("scim_resource_type".into()), CompareOp::Eq, text(k)));
        }
    }
    if let Some(endpoint) = p.endpoint.as_deref().filter(|e| !e.is_empty()) {
        if endpoint.chars().count() > 1024 {
            return Err(ApiError::invalid_parameter("endpoint", "at most 1024 characters"));
        }
        terms.push(Expr::compare(Attr::RequestPath, CompareOp::Co, text(endpoint)));
    }
    match p.status.as_deref() {
        None | Some("") | Some("all") => {}
        Some("success") => terms.push(Expr::compare(Attr::Status, CompareOp::Eq, text("success"))),
        Some("failed") => terms.push(Expr::compare(Attr::Status, CompareOp::Ne, text("success"))),
        Some(_) => return Err(ApiError::invalid_parameter("status", "must be one of all, success, failed")),
    }
    Filter::new(Expr::And(terms)).map_err(|e| ApiError::invalid_parameter("endpoint", e))
}

/// The SCIM audit log, newest first, with the SCIM Audit Logs page's filters.
#[utoipa::path(get, path = "/v1/scim-log", tag = "events", params(ScimLogParams),
    responses((status = 200, body = crate::dto::EventPage), (status = 400, body = crate::dto::Problem), (status = 401, body = crate::dto::Problem),
        (status = 403, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn scim_log(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let p: ScimLogParams = query_params(&uri)?;
    let read = scim_log_read(crate::view_filter::of(&principal)?, p)?;
    answer(&state, &principal, &headers, read).await
}

/// The read the page's parameters mean, under `view` (the JSON route and the viewer's SCIM
/// Audit Logs page both run this).
pub(crate) fn scim_log_read(view: Option<stele_core::ViewFilter>, p: ScimLogParams) -> Result<Read, ApiError> {
    let filter = filter(&p)?;
    let params = SearchParams {
        from: p.from,
        to: p.to,
        limit: p.limit,
        cursor: p.cursor,
        offset: p.offset,
        total: p.total,
        ..SearchParams::default()
    };
    let mut read = parse_read_in(view, params)?;
    read.query.filter = Some(filter);
    Ok(read)
}
