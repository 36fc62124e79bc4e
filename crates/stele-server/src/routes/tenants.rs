//! `/v1/tenants`: created by the operator; each creation is the first event of its log.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use stele_core::{Target, TenantId, Timestamp};
use stele_store::NewTenant;

use crate::audit::audit_event;
use crate::auth::Principal;
use crate::body::json_body;
use crate::dto::{CreateTenant, TenantDto};
use crate::error::ApiError;
use crate::routes::tenant_update::check_aliases;
use crate::state::AppState;

/// Create a tenant (operator key only).
#[utoipa::path(post, path = "/v1/tenants", tag = "admin", request_body = CreateTenant,
    responses((status = 201, body = TenantDto), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<TenantDto>), ApiError> {
    principal.require_operator()?;
    let input: CreateTenant = json_body(&headers, body).await?;
    let id = TenantId::parse(&input.id).map_err(|e| ApiError::bad_request("invalid-body", format!("id: {e}")))?;
    if input.name.trim().is_empty() || input.name.chars().count() > 256 {
        return Err(ApiError::bad_request("invalid-body", "name: must be 1-256 characters"));
    }
    stele_core::text::check_label(&input.name)
        .map_err(|e| ApiError::bad_request("invalid-body", format!("name: {e}")))?;
    check_aliases(&input.aliases)?;
    let audit = audit_event(
        &principal,
        "stele.tenant.created",
        Target { kind: Some("tenant".into()), id: Some(id.to_string()), name: Some(input.name.clone()), email: None },
        format!("Created tenant {id}"),
    );
    let tenant = NewTenant { id, name: input.name, aliases: input.aliases, created_at: Timestamp::now() };
    let created = state.store.create_tenant(tenant, audit).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// List tenants: all of them for the operator, its own for a tenant key.
#[utoipa::path(get, path = "/v1/tenants", tag = "admin",
    responses((status = 200, body = Vec<TenantDto>), (status = 401, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TenantDto>>, ApiError> {
    let tenants = match &principal {
        Principal::Operator => state.store.list_tenants().await?,
        Principal::Key(k) => state.store.get_tenant(&k.tenant).await?.into_iter().collect(),
    };
    Ok(Json(tenants.into_iter().map(TenantDto::from).collect()))
}
