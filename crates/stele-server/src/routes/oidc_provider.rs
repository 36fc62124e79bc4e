//! `/v1/tenants/{tenant}/oidc`: the tenant's OpenID Connect provider for viewer sign-in
//! (`viewer/oidc.rs` runs the flow). `PUT` sets or replaces it — the issuer must answer
//! discovery (and its keys) then and there, so a typo is a 400 and not a broken sign-in
//! page — `GET` shows it (never the client secret), `DELETE` removes it. The client secret
//! is sealed with the deployment secret key before it is stored. Each change is a
//! `stele.oidc_provider.*` event of the tenant's log, in the same transaction.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use stele_core::{Target, TenantId, Timestamp};
use stele_store::directory::RecordChange;
use stele_store::sessions::OidcProvider;
use stele_store::StoreError;
use utoipa::ToSchema;

use crate::audit::By;
use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::routes::members::directory_admin;
use crate::state::AppState;
use crate::viewer::oidc;

const MAX_ISSUER_CHARS: usize = 2048;
const MAX_CLIENT_ID_CHARS: usize = 256;
const MAX_SECRET_CHARS: usize = 1024;
const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOidcProvider {
    /// The issuer URL (`https://…`); discovery is `<issuer>/.well-known/openid-configuration`.
    #[schema(max_length = 2048)]
    pub issuer: String,
    #[schema(max_length = 256)]
    pub client_id: String,
    /// Stored sealed; never shown again.
    #[schema(max_length = 1024)]
    pub client_secret: String,
    /// What the sign-in button says after "Sign in with" (default "SSO").
    #[serde(default)]
    #[schema(max_length = 64)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OidcProviderDto {
    pub issuer: String,
    pub client_id: String,
    pub name: String,
    /// Register this redirect URI with the provider.
    pub redirect_uri: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

pub(crate) fn dto(state: &AppState, headers: &HeaderMap, tenant: &TenantId, p: &OidcProvider) -> OidcProviderDto {
    OidcProviderDto {
        issuer: p.issuer.clone(),
        client_id: p.client_id.clone(),
        name: p.name.clone(),
        redirect_uri: oidc::redirect_uri(state, headers, tenant),
        updated_at: p.updated_at,
    }
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid_parameter(field, format!("must be 1–{max} characters, no control characters")));
    }
    Ok(())
}

fn target(tenant: &TenantId, name: &str) -> Target {
    Target {
        kind: Some("oidc_provider".into()),
        id: Some(tenant.to_string()),
        name: Some(name.to_owned()),
        email: None,
    }
}

/// Set (or replace) the tenant's OpenID Connect provider.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/oidc", tag = "directory", request_body = PutOidcProvider,
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = OidcProviderDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem),
        (status = 415, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn put_oidc_provider(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<OidcProviderDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let input: PutOidcProvider = json_body(&headers, body).await?;
    let provider = set_provider_in(&state, &By::Api(&principal), &tenant, input).await?;
    Ok(Json(dto(&state, &headers, &tenant, &provider)))
}

/// Checks and stores a tenant's provider made by `by` (the API and the viewer's Admin page):
/// the fields' bounds, the issuer's form and discovery, the secret sealed, the change with
/// its `stele.oidc_provider.set` event.
pub(crate) async fn set_provider_in(
    state: &AppState,
    by: &By<'_>,
    tenant: &TenantId,
    input: PutOidcProvider,
) -> Result<OidcProvider, ApiError> {
    check_text("issuer", &input.issuer, MAX_ISSUER_CHARS)?;
    check_text("client_id", &input.client_id, MAX_CLIENT_ID_CHARS)?;
    check_text("client_secret", &input.client_secret, MAX_SECRET_CHARS)?;
    let name = input.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "SSO".into());
    check_text("name", &name, MAX_NAME_CHARS)?;
    let issuer = oidc::check_issuer(&input.issuer, state.viewer.settings.oidc_allow_http)
        .map_err(|e| ApiError::invalid_parameter("issuer", e.to_string()))?;
    if state.store.get_tenant(tenant).await?.is_none() {
        return Err(ApiError::not_found(format!("tenant {tenant} does not exist")));
    }
    oidc::discover(issuer).await.map_err(|e| ApiError::invalid_parameter("issuer", e.to_string()))?;
    let before = state.store.oidc_provider(tenant).await?;
    let provider = OidcProvider {
        issuer: input.issuer,
        client_id: input.client_id,
        client_secret_sealed: state.secrets.seal(&oidc::secret_context(tenant), input.client_secret.as_bytes()),
        name,
        version: before.as_ref().map_or(1, |b| b.version + 1),
        updated_at: Timestamp::now(),
    };
    let message = format!("Set the viewer's OpenID Connect provider to {} ({})", provider.name, provider.issuer);
    let audit = by.event("stele.oidc_provider.set", target(tenant, &provider.name), message);
    let change = RecordChange::PutOidcProvider {
        provider: Some(provider.clone()),
        previous: before.as_ref().map(|b| b.version),
    };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)?;
    Ok(provider)
}

/// Removes a tenant's provider (`stele.oidc_provider.removed`); 404 when there is none.
pub(crate) async fn remove_provider_in(state: &AppState, by: &By<'_>, tenant: &TenantId) -> Result<(), ApiError> {
    let provider = state.store.oidc_provider(tenant).await?;
    let provider =
        provider.ok_or_else(|| ApiError::not_found(format!("tenant {tenant} has no OpenID Connect provider")))?;
    let message = format!("Removed the viewer's OpenID Connect provider {}", provider.name);
    let audit = by.event("stele.oidc_provider.removed", target(tenant, &provider.name), message);
    let change = RecordChange::PutOidcProvider { provider: None, previous: Some(provider.version) };
    state.store.change(tenant, change, vec![audit]).await.map_err(changed_meanwhile)?;
    Ok(())
}

fn changed_meanwhile(e: StoreError) -> ApiError {
    match e {
        StoreError::VersionMismatch { .. } | StoreError::Conflict(_) => {
            ApiError::conflict("the provider changed meanwhile; retry")
        }
        other => other.into(),
    }
}

/// The tenant's OpenID Connect provider (never its client secret).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/oidc", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = OidcProviderDto), (status = 401, body = crate::dto::Problem),
        (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn get_oidc_provider(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Json<OidcProviderDto>, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    let provider = state.store.oidc_provider(&tenant).await?;
    let provider =
        provider.ok_or_else(|| ApiError::not_found(format!("tenant {tenant} has no OpenID Connect provider")))?;
    Ok(Json(dto(&state, &headers, &tenant, &provider)))
}

/// Remove the tenant's OpenID Connect provider (members sign in with passwords only).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/oidc", tag = "directory",
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 204), (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn delete_oidc_provider(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = directory_admin(&principal, &tenant)?;
    remove_provider_in(&state, &By::Api(&principal), &tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}
