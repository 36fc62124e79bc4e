//! `PATCH /v1/tenants/{id}` (operator only): replace a tenant's aliases and set or remove
//! its JWT key. The change is an event of the tenant's own log, written with it.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use stele_core::{Changes, FreeJson, NewEvent, Target, TenantId};
use stele_store::{Tenant, TenantUpdate};
use utoipa::ToSchema;

use crate::audit::audit_event;
use crate::auth::Principal;
use crate::body::json_body;
use crate::dto::TenantDto;
use crate::error::ApiError;
use crate::state::AppState;

/// Most aliases one tenant may have.
pub const MAX_ALIASES: usize = 100;

/// What to change; at least one member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// The new alias set (replaces the old one; `[]` removes all).
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// The key that verifies the tenant's JWTs (CloudCockpit profile); `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<JwtInput>)]
    pub jwt: Option<Option<JwtInput>>,
}

/// `{"alg": "HS256", "secret": "…"}` or `{"alg": "EdDSA" | "RS256", "public_key_pem": "…"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtInput {
    /// `HS256`, `EdDSA` or `RS256`.
    pub alg: String,
    /// The HS256 shared secret (at least 32 bytes); stored encrypted, never shown again.
    #[serde(default)]
    pub secret: Option<String>,
    /// The EdDSA (Ed25519) or RS256 public key, PEM.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// When set, a token's `iss` claim must equal this (else 401).
    #[serde(default)]
    pub issuer: Option<String>,
    /// When set, a token's `aud` claim must hold this (else 401).
    #[serde(default)]
    pub audience: Option<String>,
}

/// A member that is present (`null` included) becomes `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Whether a tenant has a JWT key (its secret is never shown), and the claims it requires.
#[derive(Debug, Serialize, ToSchema)]
pub struct JwtInfo {
    pub alg: String,
    pub configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// The tenant after the change.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedTenant {
    #[serde(flatten)]
    pub tenant: TenantDto,
    pub jwt: Option<JwtInfo>,
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::invalid_body(detail)
}

/// The one alias rule, at creation and at update: at most [`MAX_ALIASES`], each 1-256
/// characters without spaces, control or bidi-override characters, none repeated.
pub(crate) fn check_aliases(aliases: &[String]) -> Result<(), ApiError> {
    if aliases.len() > MAX_ALIASES {
        return Err(invalid(format!("aliases: at most {MAX_ALIASES}")));
    }
    for (i, alias) in aliases.iter().enumerate() {
        if alias.is_empty() || alias.chars().count() > 256 || alias.chars().any(char::is_whitespace) {
            return Err(invalid(format!("aliases[{i}]: must be 1-256 characters without spaces")));
        }
        stele_core::text::check_label(alias).map_err(|e| invalid(format!("aliases[{i}]: {e}")))?;
        if aliases[..i].contains(alias) {
            return Err(invalid(format!("aliases[{i}]: {alias:?} is repeated")));
        }
    }
    Ok(())
}

/// Update a tenant's aliases and/or JWT key (operator key only).
#[utoipa::path(patch, path = "/v1/tenants/{id}", tag = "admin", request_body = UpdateTenant,
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = UpdatedTenant), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 404, body = crate::dto::Problem), (status = 409, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn update_tenant(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UpdatedTenant>, ApiError> {
    principal.require_operator()?;
    let not_found = || ApiError::not_found(format!("tenant {id} does not exist"));
    let tenant_id = TenantId::parse(&id).map_err(|_| not_found())?;
    let input: UpdateTenant = json_body(&headers, body).await?;
    if input.aliases.is_none() && input.jwt.is_none() {
        return Err(invalid("name at least one of aliases, jwt"));
    }
    if let Some(aliases) = &input.aliases {
        check_aliases(aliases)?;
    }
    let jwt = match &input.jwt {
        None => None,
        Some(None) => Some(None),
        Some(Some(j)) => {
            let mut key = crate::tenant_jwt::configure(
                &state.secrets,
                &tenant_id,
                &j.alg,
                j.secret.as_deref(),
                j.public_key_pem.as_deref(),
            )
            .map_err(|e| invalid(e.to_string()))?;
            key.issuer = crate::tenant_jwt::required_claim("jwt.issuer", j.issuer.as_deref())
                .map_err(|e| invalid(e.to_string()))?;
            key.audience = crate::tenant_jwt::required_claim("jwt.audience", j.audience.as_deref())
                .map_err(|e| invalid(e.to_string()))?;
            Some(Some(key))
        }
    };
    let before = state.store.get_tenant(&tenant_id).await?.ok_or_else(not_found)?;
    let before_jwt = state.store.tenant_jwt(&tenant_id).await?.map(|j| j.alg.as_str());
    let after_jwt = match &jwt {
        None => before_jwt,
        Some(j) => j.as_ref().map(|j| j.alg.as_str()),
    };
    let update = TenantUpdate { aliases: input.aliases.clone(), jwt };
    let jwt_changed = update.jwt.is_some();
    let audit =
        change_event(&principal, &before, before_jwt, update.aliases.as_ref(), jwt_changed.then_some(after_jwt));
    let updated = state.store.update_tenant(&tenant_id, update, audit).await?;
    let jwt = state.store.tenant_jwt(&tenant_id).await?.map(|j| JwtInfo {
        alg: j.alg.to_string(),
        configured: true,
        issuer: j.issuer,
        audience: j.audience,
    });
    Ok(Json(UpdatedTenant { tenant: updated.into(), jwt }))
}

/// The `stele.tenant.updated` event: what changed, before and after (never a secret).
fn change_event(
    principal: &Principal,
    before: &Tenant,
    before_jwt: Option<&str>,
    aliases: Option<&Vec<String>>,
    jwt: Option<Option<&str>>,
) -> NewEvent {
    let mut changed = Vec::new();
    if aliases.is_some() {
        changed.push("aliases");
    }
    if jwt.is_some() {
        changed.push("JWT key");
    }
    let after_jwt = jwt.unwrap_or(before_jwt);
    let mut audit = audit_event(
        principal,
        "stele.tenant.updated",
        Target {
            kind: Some("tenant".into()),
            id: Some(before.id.to_string()),
            name: Some(before.name.clone()),
            email: None,
        },
        format!("Updated tenant {}: {}", before.id, changed.join(", ")),
    );
    audit.event.changes = Some(Changes {
        before: Some(FreeJson::from_value(&json!({"aliases": before.aliases, "jwt": before_jwt}))),
        after: Some(FreeJson::from_value(&json!({"aliases": aliases.unwrap_or(&before.aliases), "jwt": after_jwt}))),
    });
    NewEvent::new(audit.event)
}
