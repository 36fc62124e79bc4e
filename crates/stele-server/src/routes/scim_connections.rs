//! `/v1/tenants/{tenant}/scim-connections`: the ways an identity provider manages a
//! tenant's directory over SCIM. Creating one answers `{id, base_url, token}`; the token is
//! shown this once and only its SHA-256 is stored (it is 256 random bits, so a fast hash is
//! enough). Rotating replaces the token; revoking ends it (requests with it are then
//! `scim.Unauthorized` events). Each change is a `stele.scim_connection.*` event.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use stele_core::{SecretHash, Target, TenantId, Timestamp};
use stele_store::directory::{RecordChange, ScimConnection, ScimConnectionId};
use stele_store::StoreError;
use utoipa::ToSchema;

use crate::audit::By;
use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::routes::members::{check_name, directory_admin};
use crate::state::AppState;

/// Most SCIM connections one tenant may have.
pub const MAX_CONNECTIONS: usize = 20;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScimConnection {
    /// What the connection is for ("Okta", "Entra ID"); default "SCIM".
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScimConnectionDto {
    pub id: String,
    pub name: String,
    /// The SCIM base URL to give the identity provider.
    pub base_url: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

/// A connection with its bearer token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimConnectionWithToken {
    #[serde(flatten)]
    pub connection: ScimConnectionDto,
    pub token: String,
}

/// `scim_<43 base64url characters>` (256 random bits).
fn new_token() -> String {
    let mut random = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    format!("scim_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
}

fn dto(state: &AppState, c: &ScimConnection, headers: &HeaderMap) -> ScimConnectionDto {
    ScimConnectionDto {
        id: c.id.to_string(),
        name: c.name.clone(),
        base_url: crate::scim::base_url(state, headers, &c.id),
        created_at: c.created_at,
        updated_at: c.updated_at,
        revoked_at: c.revoked_at,
    }
}

fn event(by: &By<'_>, action: &str, c: &ScimConnection) -> stele_core::NewEvent {
    let target = Target {
        kind: Some("scim_connection".into()),
        id: Some(c.id.to_string()),
        name: Some(c.name.clone()),
        email: None,
    };
    let verb = action.rsplit('.').next().unwrap_or(action);
    let mut audit = by.event(action, target, format!("SCIM connection {} {verb}", c.name));
    audit.event.context.insert("scim_connection_id".into(), c.id.to_string());
    stele_core::NewEvent::new(audit.event)
}

/// Create a SCIM connection; the answer holds its token, shown this once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/scim-connections", tag = "directory", request_body = CreateScimConnection,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 201, body = ScimConnectionWithToken), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn create_scim_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ScimConnectionWithToken>), ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let input: CreateScimConnection = json_body(&headers, body).await?;
    let (connection, token) = create_connection_in(&state, &By::Api(&principal), &tenant, input.name).await?;
    let body = ScimConnectionWithToken { connection: dto(&state, &connection, &headers), token };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Creates a SCIM connection of `tenant` made by `by` (the API and the viewer's SCIM page)
/// with its `stele.scim_connection.created` event; answers it with its token.
pub(crate) async fn create_connection_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    name: Option<String>,
) -> Result<(ScimConnection, String), ApiError> {
    let name = name.unwrap_or_else(|| "SCIM".into());
    check_name(&name, "name")?;
    let live = state.store.list_scim_connections(tenant).await?.iter().filter(|c| c.revoked_at.is_none()).count();
    if live >= MAX_CONNECTIONS {
        return Err(ApiError::conflict(format!("the tenant already has {MAX_CONNECTIONS} SCIM connections")));
    }
    let token = new_token();
    let now = Timestamp::now();
    let connection = ScimConnection {
        id: ScimConnectionId::generate(),
        tenant: tenant.clone(),
        name,
        token_hash: SecretHash::of(&token),
        version: 1,
        created_at: now,
        updated_at: now,
        revoked_at: None,
    };
    let audit = event(by, "stele.scim_connection.created", &connection);
    let change = RecordChange::PutScimConnection { connection: connection.clone(), previous: None };
    state.store.change(tenant, change, vec![audit]).await?;
    Ok((connection, token))
}

/// List the tenant's SCIM connections (never their tokens).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/scim-connections", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = Vec<ScimConnectionDto>), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_scim_connections(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<ScimConnectionDto>>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let all = state.store.list_scim_connections(&tenant).await?;
    Ok(Json(all.iter().map(|c| dto(&state, c, &headers)).collect()))
}

async fn connection_of(state: &AppState, tenant: &TenantId, id: &str) -> Result<ScimConnection, ApiError> {
    let not_found = || ApiError::not_found(format!("SCIM connection {id} does not exist"));
    let id: ScimConnectionId = id.parse().map_err(|_| not_found())?;
    match state.store.get_scim_connection(&id).await? {
        Some(c) if &c.tenant == tenant => Ok(c),
        _ => Err(not_found()),
    }
}

/// Replace a connection's token; the answer holds the new one, shown this once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/scim-connections/{id}/rotate", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "connection id")),
    responses((status = 200, body = ScimConnectionWithToken), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem),
        (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn rotate_scim_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<ScimConnectionWithToken>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let (after, token) = rotate_connection_in(&state, &By::Api(&principal), &tenant, &id).await?;
    Ok(Json(ScimConnectionWithToken { connection: dto(&state, &after, &headers), token }))
}

/// Replaces a connection's token (`stele.scim_connection.rotated`); answers the new one.
pub(crate) async fn rotate_connection_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    id: &str,
) -> Result<(ScimConnection, String), ApiError> {
    let before = connection_of(state, tenant, id).await?;
    if before.revoked_at.is_some() {
        return Err(ApiError::conflict("the connection is revoked; create a new one"));
    }
    let token = new_token();
    let after = ScimConnection {
        token_hash: SecretHash::of(&token),
        version: before.version + 1,
        updated_at: Timestamp::now(),
        ..before.clone()
    };
    let audit = event(by, "stele.scim_connection.rotated", &after);
    let change = RecordChange::PutScimConnection { connection: after.clone(), previous: Some(before.version) };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)?;
    Ok((after, token))
}

fn changed_meanwhile(e: StoreError) -> ApiError {
    match e {
        StoreError::VersionMismatch { .. } => ApiError::conflict("the connection changed meanwhile; retry"),
        other => other.into(),
    }
}

/// Revoke a connection: its token stops working at once. Revoking twice changes nothing.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/scim-connections/{id}", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "connection id")),
    responses((status = 204), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn revoke_scim_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    revoke_connection_in(&state, &By::Api(&principal), &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a connection (`stele.scim_connection.revoked`): its token stops working at once.
/// Revoking twice changes nothing.
pub(crate) async fn revoke_connection_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    id: &str,
) -> Result<(), ApiError> {
    let before = connection_of(state, tenant, id).await?;
    if before.revoked_at.is_some() {
        return Ok(());
    }
    let now = Timestamp::now();
    let after =
        ScimConnection { version: before.version + 1, updated_at: now, revoked_at: Some(now), ..before.clone() };
    let audit = event(by, "stele.scim_connection.revoked", &after);
    let change = RecordChange::PutScimConnection { connection: after, previous: Some(before.version) };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)?;
    Ok(())
}
