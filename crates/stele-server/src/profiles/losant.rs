//! The Losant profile (contract A.5): `GET /instance/{instanceId}/audit-logs` and
//! `GET /instance/{instanceId}/audit-logs/{instanceAuditLogId}`, authenticated with
//! `Authorization: Bearer <Stele key>`. `instanceId` is a 24-hex alias of the tenant; an
//! entry's id is its `seq` as 24 lowercase hex digits. Errors are Losant's `{type, message}`.

pub(crate) mod filter;

use axum::extract::{Path, Query as QueryString, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use stele_core::filter::Value as Literal;
use stele_core::{Attr, CompareOp, Event, Expr, Limit, PageRequest, Query, Scope, Seq, Sort, TimeRange};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{self, ProfileError};
use crate::auth::Principal;
use crate::routes::query::MAX_OFFSET;
use crate::state::AppState;

const DEFAULT_PER_PAGE: u32 = 100;
const MAX_PER_PAGE: u32 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_logs)).routes(routes!(get_audit_log))
}

/// Losant's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = LosantError)]
pub struct LosantError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
}

/// A Losant error answer.
pub struct Failure(StatusCode, LosantError, Option<u32>);

impl Failure {
    fn validation(message: impl Into<String>) -> Self {
        Failure(StatusCode::BAD_REQUEST, LosantError { kind: "Validation", message: message.into() }, None)
    }

    fn not_found(what: &str) -> Self {
        Failure(StatusCode::NOT_FOUND, LosantError { kind: "NotFound", message: format!("{what} was not found") }, None)
    }
}

impl From<ProfileError> for Failure {
    fn from(e: ProfileError) -> Self {
        let (status, kind, message) = match e {
            ProfileError::Unauthenticated => (StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized".to_owned()),
            ProfileError::MissingScope(s) => {
                (StatusCode::UNAUTHORIZED, "Unauthorized", format!("The access token lacks the {s} scope"))
            }
            // Another tenant's instance is answered like an unknown one.
            ProfileError::UnknownTenant(_) | ProfileError::OtherTenant(_) | ProfileError::NoTenant => {
                return Failure::not_found("Instance")
            }
            ProfileError::RateLimited { retry_after } => {
                let message = common::RATE_LIMITED.to_owned();
                return Failure(
                    StatusCode::TOO_MANY_REQUESTS,
                    LosantError { kind: "TooManyRequests", message },
                    Some(retry_after),
                );
            }
            ProfileError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The service is unavailable".to_owned())
            }
            ProfileError::OutOfBounds { parameter, reason } => {
                return Failure::validation(format!("{parameter} has {reason}"))
            }
            ProfileError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "An internal error occurred".to_owned())
            }
        };
        Failure(status, LosantError { kind, message }, None)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        common::retry_after((self.0, Json(self.1)).into_response(), self.2)
    }
}

/// One instance audit log entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceAuditLog {
    /// The event's `seq` as 24 lowercase hex digits.
    pub id: String,
    pub instance_audit_log_id: String,
    pub instance_id: String,
    /// Millisecond precision, UTC (`2016-06-13T04:00:00.000Z`).
    pub creation_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_target_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_target_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_action: Option<String>,
    #[schema(value_type = Object)]
    pub request_path_params: Value,
    #[schema(value_type = Object)]
    pub request_query_params: Value,
    #[schema(value_type = Object)]
    pub request_body: Value,
    #[schema(value_type = Object)]
    pub response_body: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
}

/// A page of instance audit logs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceAuditLogs {
    /// Entries on this page.
    pub count: usize,
    /// Entries matching the query.
    pub total_count: u64,
    pub per_page: u32,
    pub page: u64,
    pub sort_field: String,
    pub sort_direction: String,
    pub instance_id: String,
    pub items: Vec<InstanceAuditLog>,
}

/// The Stele key of `Authorization: Bearer <key>`.
async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, Failure> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret)
        .ok_or(ProfileError::Unauthenticated)?;
    let principal = common::authenticate(state, secret).await?;
    common::require(&principal, Scope::EventsRead)?;
    Ok(principal)
}

fn check_hex_id(name: &str, value: &str) -> Result<(), Failure> {
    if value.len() == 24 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Failure::validation(format!("{name} must be a 24 character hex string")))
    }
}

/// The tenant named by the path's `instanceId`, if the caller may read it.
async fn instance(state: &AppState, principal: &Principal, instance_id: &str) -> Result<stele_store::Tenant, Failure> {
    check_hex_id("instanceId", instance_id)?;
    match common::tenant_by_alias(state, principal, instance_id).await {
        Err(ProfileError::UnknownTenant(_)) if instance_id.bytes().any(|b| b.is_ascii_uppercase()) => {
            Ok(common::tenant_by_alias(state, principal, &instance_id.to_ascii_lowercase()).await?)
        }
        other => Ok(other?),
    }
}

/// The parsed list parameters.
pub struct ListParams {
    pub sort_field: &'static str,
    pub sort_direction: String,
    pub page: u64,
    pub per_page: u32,
    pub range: TimeRange,
    pub filter: Option<Expr>,
}

fn millis_param(name: &str, value: &str) -> Result<stele_core::Timestamp, Failure> {
    if let Ok(ms) = value.trim().parse::<i64>() {
        return stele_core::Timestamp::from_unix_millis(ms)
            .map_err(|_| Failure::validation(format!("{name} is outside the representable time range")));
    }
    stele_core::Timestamp::parse(value.trim())
        .map_err(|_| Failure::validation(format!("{name} must be a time in epoch milliseconds")))
}

/// The list parameters of a request (Losant's own and `auditLogFilter`).
pub fn parse_list(pairs: &[(String, String)]) -> Result<ListParams, Failure> {
    let mut p = ListParams {
        sort_field: "creationDate",
        sort_direction: "desc".into(),
        page: 0,
        per_page: DEFAULT_PER_PAGE,
        range: TimeRange::default(),
        filter: None,
    };
    let (mut start, mut end) = (None, None);
    for (name, value) in pairs {
        match name.as_str() {
            "sortField" => {
                p.sort_field =
                    ["creationDate", "responseStatus", "actorName"].into_iter().find(|f| *f == value).ok_or_else(
                        || Failure::validation("sortField must be one of creationDate, responseStatus, actorName"),
                    )?;
            }
            "sortDirection" => match value.as_str() {
                "asc" | "desc" | "ASC" | "DESC" => p.sort_direction = value.clone(),
                "" => {}
                _ => return Err(Failure::validation("sortDirection must be one of asc, desc")),
            },
            "page" => {
                p.page =
                    value.trim().parse().map_err(|_| Failure::validation("page must be a number of at least 0"))?;
            }
            "perPage" => {
                p.per_page =
                    value.trim().parse().ok().filter(|n| (1..=MAX_PER_PAGE).contains(n)).ok_or_else(|| {
                        Failure::validation(format!("perPage must be a number from 1 to {MAX_PER_PAGE}"))
                    })?;
            }
            "start" => start = Some(millis_param("start", value)?),
            // `end` is inclusive, at Losant's millisecond precision.
            "end" => end = Some(millis_param("end", value)?.plus_micros(1000)),
            // Losant's global parameters and anything else Losant ignores.
            _ => {}
        }
    }
    p.range = TimeRange::new(start, end).map_err(|_| Failure::validation("start must not be after end"))?;
    let filter_pairs = pairs.iter().filter(|(n, _)| filter::is_filter_param(n)).map(|(n, v)| (n.as_str(), v.as_str()));
    p.filter = filter::parse(filter_pairs).map_err(Failure::validation)?;
    Ok(p)
}

fn hex_id(seq: Seq) -> String {
    format!("{:024x}", seq.get())
}

fn object_or_empty(v: Option<Value>) -> Value {
    v.unwrap_or_else(|| Value::Object(serde_json::Map::new()))
}

/// An event in Losant's item shape (contract A.5 table).
fn render(seq: Seq, event: Event, instance_id: &str) -> InstanceAuditLog {
    let id = hex_id(seq);
    let actor = event.actor.unwrap_or_default();
    let mut targets = event.targets.into_iter();
    let (first, second) = (targets.next().unwrap_or_default(), targets.next().unwrap_or_default());
    let (resource, action) = match event.action.rsplit_once('.') {
        Some((r, a)) => (Some(r.to_owned()), Some(a.to_owned())),
        None => (Some(event.action.clone()), None),
    };
    let request = event.request.unwrap_or_default();
    InstanceAuditLog {
        instance_audit_log_id: id.clone(),
        id,
        instance_id: instance_id.to_owned(),
        creation_date: common::iso_millis(event.time),
        actor_id: actor.id,
        actor_name: actor.name.or(actor.email),
        actor_type: actor.kind,
        primary_target_id: first.id,
        primary_target_name: first.name,
        primary_target_type: first.kind,
        secondary_target_id: second.id,
        secondary_target_name: second.name,
        secondary_target_type: second.kind,
        request_resource: resource,
        request_action: action,
        // Stele's event model has no path parameters.
        request_path_params: object_or_empty(None),
        request_query_params: object_or_empty(request.query.map(|v| v.to_value())),
        request_body: object_or_empty(request.body.map(|v| v.to_value())),
        response_body: object_or_empty(request.response_body.map(|v| v.to_value())),
        response_status: request.status_code,
    }
}

/// Returns the audit logs for the instance (Losant "Instance Audit Logs: Get").
#[utoipa::path(get, path = "/instance/{instanceId}/audit-logs", tag = "profile: Losant",
    params(
        ("instanceId" = String, Path, description = "24-hex alias of the tenant", pattern = "^[0-9a-fA-F]{24}$", example = "5f1a2b3c4d5e6f7a8b9c0d1e"),
        ("sortField" = Option<String>, Query, description = "creationDate (default), responseStatus or actorName", pattern = "^(creationDate|responseStatus|actorName)$"),
        ("sortDirection" = Option<String>, Query, description = "asc or desc (default)", pattern = "^(asc|desc|ASC|DESC)?$"),
        ("page" = Option<u64>, Query, description = "0-based page (default 0); page × perPage at most 1 000 000", maximum = 1000000),
        ("perPage" = Option<u32>, Query, description = "1-1000 (default 100)", minimum = 1, maximum = 1000, example = 100),
        ("start" = Option<i64>, Query, description = "earliest time, epoch milliseconds (years 0000-9999)", minimum = -62167219200000i64, maximum = 253402300799999i64),
        ("end" = Option<i64>, Query, description = "latest time (inclusive), epoch milliseconds (years 0000-9999), not before start", minimum = -62167219200000i64, maximum = 253402300798999i64),
        ("auditLogFilter" = Option<String>, Query, description = "bracket notation: auditLogFilter[actor][0][id]=...; OR within a key, AND across keys"),
    ),
    responses((status = 200, body = InstanceAuditLogs), (status = 400, body = LosantError),
        (status = 401, body = LosantError), (status = 404, body = LosantError)),
    security(("bearer" = [])))]
pub async fn list_audit_logs(
    State(state): State<AppState>,
    Path(instance_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<InstanceAuditLogs>, Failure> {
    let principal = principal(&state, &headers).await?;
    let tenant = instance(&state, &principal, &instance_id).await?;
    let pairs: Vec<(String, String)> = QueryString::try_from_uri(&uri)
        .map(|q: QueryString<Vec<(String, String)>>| q.0)
        .map_err(|_| Failure::validation("the query string is malformed"))?;
    let p = parse_list(&pairs)?;
    let offset = p.page.saturating_mul(u64::from(p.per_page));
    if offset > MAX_OFFSET {
        return Err(Failure::validation(format!("page * perPage must be at most {MAX_OFFSET}")));
    }
    let attr = match p.sort_field {
        "responseStatus" => Attr::RequestStatusCode,
        "actorName" => Attr::ActorName,
        _ => Attr::Time,
    };
    let query = Query {
        range: p.range,
        sort: Sort { attr, descending: !p.sort_direction.eq_ignore_ascii_case("asc") },
        page: if offset == 0 { PageRequest::First } else { PageRequest::Offset(offset) },
        limit: Limit::new(p.per_page).map_err(|_| Failure::validation("perPage is out of range"))?,
        text: None,
        ..common::readable(&principal, p.filter, "auditLogFilter")?
    };
    let rows = common::page(&state, &tenant, &query).await?;
    let items: Vec<InstanceAuditLog> = rows.events.into_iter().map(|(seq, e)| render(seq, e, &instance_id)).collect();
    Ok(Json(InstanceAuditLogs {
        count: items.len(),
        total_count: rows.total,
        per_page: p.per_page,
        page: p.page,
        sort_field: p.sort_field.to_owned(),
        sort_direction: p.sort_direction,
        instance_id,
        items,
    }))
}

/// Returns one audit log entry of the instance (Losant "Instance Audit Log: Get").
#[utoipa::path(get, path = "/instance/{instanceId}/audit-logs/{instanceAuditLogId}", tag = "profile: Losant",
    params(
        ("instanceId" = String, Path, description = "24-hex alias of the tenant", pattern = "^[0-9a-fA-F]{24}$", example = "5f1a2b3c4d5e6f7a8b9c0d1e"),
        ("instanceAuditLogId" = String, Path, description = "the event's seq as 24 hex digits", pattern = "^[0-9a-fA-F]{24}$", example = "000000000000000000000001"),
    ),
    responses((status = 200, body = InstanceAuditLog), (status = 400, body = LosantError),
        (status = 401, body = LosantError), (status = 404, body = LosantError)),
    security(("bearer" = [])))]
pub async fn get_audit_log(
    State(state): State<AppState>,
    Path((instance_id, log_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<InstanceAuditLog>, Failure> {
    let principal = principal(&state, &headers).await?;
    let tenant = instance(&state, &principal, &instance_id).await?;
    check_hex_id("instanceAuditLogId", &log_id)?;
    let not_found = || Failure::not_found("Instance audit log");
    let seq = u128::from_str_radix(&log_id, 16)
        .ok()
        .and_then(|n| i64::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(not_found)?;
    let by_seq = Expr::compare(Attr::Seq, CompareOp::Eq, Literal::Int(seq));
    let query =
        Query { limit: Limit::new(1).map_err(|_| not_found())?, ..common::readable(&principal, Some(by_seq), "id")? };
    let (seq, event) = common::events(&state, &tenant, &query).await?.into_iter().next().ok_or_else(not_found)?;
    Ok(Json(render(seq, event, &instance_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_digits() {
        assert_eq!(hex_id(Seq::new(255).expect("seq")), "0000000000000000000000ff");
    }

    #[test]
    fn list_parameters() {
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let p = parse_list(&pairs(&[("_actions", "false"), ("perPage", "5"), ("sortField", "actorName")]))
            .unwrap_or_else(|_| panic!("valid"));
        assert_eq!((p.per_page, p.sort_field, p.page), (5, "actorName", 0));
        for bad in [("perPage", "1001"), ("perPage", "0"), ("page", "-1"), ("sortField", "x"), ("start", "soon")] {
            assert!(parse_list(&pairs(&[bad])).is_err(), "{bad:?}");
        }
        assert!(parse_list(&pairs(&[("start", "2000"), ("end", "1000")])).is_err());
        assert!(parse_list(&pairs(&[("start", "1000"), ("end", "1000")])).is_ok());
    }
}
