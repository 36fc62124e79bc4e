//! `/v1/tenants/{tenant}/retention` and `/v1/tenants/{tenant}/legal-hold`: how long a tenant
//! keeps its events, and the hold that suspends it (`crate::retention` applies it).
//!
//! `PUT …/retention {"days": N}` (1–36 500; `null`: the deployment default) and `GET` (the
//! policy, what is in force, and what waits); `POST …/retention/run` applies it now instead
//! of at the next hourly run; `PUT …/legal-hold {"reason"}` sets a hold, `DELETE` lifts it.
//! Each change is an event of the tenant's log, in the same transaction. Who: the operator
//! or the tenant's unfiltered admin key (as for the directory).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use stele_core::{Target, TenantId, Timestamp};
use stele_store::directory::RecordChange;
use stele_store::retention::{LegalHold, RetentionPolicy};
use stele_store::StoreError;
use utoipa::ToSchema;

use crate::audit::By;
use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::routes::members::directory_admin;
use crate::state::AppState;

/// Longest retention period accepted (100 years).
const MAX_DAYS: u32 = 36_500;
const MAX_REASON_CHARS: usize = 512;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRetention {
    /// Days to keep events (1–36 500); `null` follows the deployment default.
    pub days: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutLegalHold {
    /// Why the log must be kept (a case, a matter): shown with the hold and in its event.
    pub reason: String,
}

/// A tenant's retention, as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionDto {
    /// The tenant's own period (`null`: the deployment default applies).
    pub days: Option<u32>,
    /// The deployment default (`null`: keep forever).
    pub default_days: Option<u32>,
    /// The period in force (`null`: events are kept forever).
    pub effective_days: Option<u32>,
    pub legal_hold: Option<LegalHoldDto>,
    /// Events before this time are past the period (absent when kept forever).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cutoff: Option<Timestamp>,
    /// Streams whose undelivered events retention is waiting for (they are kept until
    /// delivered).
    pub waiting_for_streams: Vec<String>,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LegalHoldDto {
    pub reason: String,
}

/// What `POST …/retention/run` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDto {
    pub expired: u64,
    pub runs: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub legal_hold: bool,
    pub waiting_for_streams: bool,
}

fn target(tenant: &TenantId) -> Target {
    Target { kind: Some("tenant".into()), id: Some(tenant.to_string()), name: None, email: None }
}

pub(crate) async fn dto(state: &AppState, tenant: &TenantId) -> Result<RetentionDto, ApiError> {
    let store = &*state.store;
    let policy = store.retention(tenant).await?;
    let effective = crate::retention::Effective::of(policy.as_ref(), state.retention.default_days);
    let now = Timestamp::now();
    let cutoff = effective.days.map(|d| crate::retention::cutoff(now, d));
    let mut waiting = Vec::new();
    if let Some(ceiling) = crate::retention::due_ceiling(store, tenant, &effective, now).await? {
        // An event past the period after a stream's cursor waits for that stream.
        let streams = store.streams(tenant).await?;
        waiting = streams.iter().filter(|s| s.progress.cursor < ceiling).map(|s| s.record.id.to_string()).collect();
    }
    Ok(RetentionDto {
        days: policy.as_ref().and_then(|p| p.days),
        default_days: state.retention.default_days,
        effective_days: effective.days,
        legal_hold: effective.legal_hold.map(|reason| LegalHoldDto { reason }),
        cutoff,
        waiting_for_streams: waiting,
        version: policy.map_or(0, |p| p.version),
    })
}

fn changed_meanwhile(e: StoreError) -> ApiError {
    match e {
        StoreError::VersionMismatch { .. } | StoreError::Conflict(_) => {
            ApiError::conflict("the retention policy changed meanwhile; retry")
        }
        other => other.into(),
    }
}

/// Stores `policy` made from the current one by `change`, with its event.
async fn put_policy(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    action: &str,
    message: String,
    change: impl FnOnce(&mut RetentionPolicy),
) -> Result<(), ApiError> {
    if state.store.get_tenant(tenant).await?.is_none() {
        return Err(ApiError::not_found(format!("tenant {tenant} does not exist")));
    }
    let current = state.store.retention(tenant).await?;
    let mut policy = current.clone().unwrap_or(RetentionPolicy {
        days: None,
        legal_hold: None,
        version: 0,
        updated_at: Timestamp::now(),
    });
    change(&mut policy);
    policy.version += 1;
    policy.updated_at = Timestamp::now();
    let audit = by.event(action, target(tenant), message);
    let change = RecordChange::PutRetention { policy, previous: current.map(|p| p.version) };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)
}

/// Set the tenant's retention period.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/retention", tag = "retention", request_body = PutRetention,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = RetentionDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem),
        (status = 415, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn put_retention(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RetentionDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let input: PutRetention = json_body(&headers, body).await?;
    set_days_in(&state, &By::Api(&principal), &tenant, input.days).await?;
    Ok(Json(dto(&state, &tenant).await?))
}

/// Sets the period for `by` (the API and the viewer's Admin page).
pub(crate) async fn set_days_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    days: Option<u32>,
) -> Result<(), ApiError> {
    if let Some(d) = days {
        if d == 0 || d > MAX_DAYS {
            return Err(ApiError::invalid_body(format!("days: must be 1–{MAX_DAYS}, or null")));
        }
    }
    let message = match days {
        Some(d) => format!("Set retention to {d} days"),
        None => "Set retention to the deployment default".to_owned(),
    };
    put_policy(state, by, tenant, "stele.retention.set", message, |p| p.days = days).await
}

/// The tenant's retention policy and what is in force.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/retention", tag = "retention",
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = RetentionDto), (status = 401, body = crate::dto::Problem),
        (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn get_retention(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<Json<RetentionDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    if state.store.get_tenant(&tenant).await?.is_none() {
        return Err(ApiError::not_found(format!("tenant {tenant} does not exist")));
    }
    Ok(Json(dto(&state, &tenant).await?))
}

/// Apply retention now (instead of at the next scheduled run).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/retention/run", tag = "retention",
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = RunDto), (status = 401, body = crate::dto::Problem),
        (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn run_retention(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<Json<RunDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    if state.store.get_tenant(&tenant).await?.is_none() {
        return Err(ApiError::not_found(format!("tenant {tenant} does not exist")));
    }
    let runs = crate::retention::apply_all(&state, &tenant, Timestamp::now()).await?;
    Ok(Json(RunDto {
        expired: runs.iter().map(|r| r.expired).sum(),
        runs: runs.len(),
        first_seq: runs.iter().filter_map(|r| r.first_seq).min(),
        last_seq: runs.iter().filter_map(|r| r.last_seq).max(),
        legal_hold: runs.iter().any(|r| r.held),
        waiting_for_streams: runs.iter().any(|r| r.waiting_for_streams),
    }))
}

/// Put the tenant's log under legal hold (retention is suspended until it is lifted).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/legal-hold", tag = "retention", request_body = PutLegalHold,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = RetentionDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem),
        (status = 415, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn put_legal_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RetentionDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let input: PutLegalHold = json_body(&headers, body).await?;
    set_hold_in(&state, &By::Api(&principal), &tenant, Some(input.reason)).await?;
    Ok(Json(dto(&state, &tenant).await?))
}

/// Lift the tenant's legal hold.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/legal-hold", tag = "retention",
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = RetentionDto), (status = 401, body = crate::dto::Problem),
        (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem),
        (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn delete_legal_hold(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<Json<RetentionDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    set_hold_in(&state, &By::Api(&principal), &tenant, None).await?;
    Ok(Json(dto(&state, &tenant).await?))
}

/// Sets (`Some(reason)`) or lifts (`None`) the hold for `by`. Lifting a hold that is not
/// set is 404; setting one that is set replaces its reason.
pub(crate) async fn set_hold_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    reason: Option<String>,
) -> Result<(), ApiError> {
    match reason {
        Some(reason) => {
            let ok = !reason.trim().is_empty()
                && reason.chars().count() <= MAX_REASON_CHARS
                && stele_core::text::check_prose(&reason).is_ok();
            if !ok {
                return Err(ApiError::invalid_body(format!("reason: must be 1–{MAX_REASON_CHARS} characters of text")));
            }
            let message = format!("Put the log under legal hold: {reason}");
            put_policy(state, by, tenant, "stele.legal_hold.set", message, |p| {
                p.legal_hold = Some(LegalHold { reason })
            })
            .await
        }
        None => {
            let held = state.store.retention(tenant).await?.and_then(|p| p.legal_hold);
            let Some(hold) = held else {
                return Err(ApiError::not_found(format!("tenant {tenant} is not under legal hold")));
            };
            let message = format!("Lifted the legal hold ({})", hold.reason);
            put_policy(state, by, tenant, "stele.legal_hold.lifted", message, |p| p.legal_hold = None).await
        }
    }
}
