//! Who calls `GET /v1/AuditLogs`: a JWT verified with the key configured for the tenant that
//! `X-Tenant` names (claims `role` = `csp` | `reseller`, `reseller_id`, `exp`), or a Stele key
//! of that tenant (read as a `csp`, within the key's view filter).

use axum::http::{header, HeaderMap, StatusCode};
use jsonwebtoken::Validation;
use serde::Deserialize;
use serde_json::Value;
use stele_core::Scope;
use stele_store::Tenant;

use super::Failure;
use crate::auth::Principal;
use crate::profiles::common::{self, ProfileError};
use crate::state::AppState;
use crate::tenant_jwt;

/// The same answer for an unknown tenant and a tenant without a key.
const NO_KEY: &str = "X-Tenant names no tenant with a JWT key configured";

/// Clock skew tolerated on `exp` and `nbf` (seconds).
pub const LEEWAY_SECONDS: u64 = 30;

/// What the caller may see.
pub enum Role {
    /// Every reseller's logs (or one reseller's, with `resellerId`).
    Csp,
    /// Only the logs whose `context.reseller_id` is this.
    Reseller(String),
}

pub struct Caller {
    pub tenant: Tenant,
    pub role: Role,
    /// Set when a Stele key called: its view filter applies.
    pub key: Option<Principal>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    role: Option<Value>,
    #[serde(default)]
    reseller_id: Option<Value>,
}

fn unauthorized(description: impl Into<String>) -> Failure {
    Failure::new(StatusCode::UNAUTHORIZED, "Unauthorized", description)
}

fn forbidden(description: impl Into<String>) -> Failure {
    Failure::new(StatusCode::FORBIDDEN, "Forbidden", description)
}

fn from_profile(e: ProfileError) -> Failure {
    match e {
        ProfileError::MissingScope(scope) => forbidden(format!("the key lacks the {scope} scope")),
        ProfileError::Unavailable => Failure::unavailable(),
        ProfileError::RateLimited { retry_after } => Failure::rate_limited(retry_after),
        ProfileError::Internal => Failure::internal(),
        _ => unauthorized("the credential is not valid for the tenant named by X-Tenant"),
    }
}

/// The tenant domain of `X-Tenant`.
fn tenant_header(headers: &HeaderMap) -> Result<&str, Failure> {
    headers
        .get("x-tenant")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::invalid("X-Tenant", "the X-Tenant header must name the tenant's domain"))
}

fn bearer(headers: &HeaderMap) -> Result<&str, Failure> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
        .ok_or_else(|| unauthorized("send Authorization: Bearer <JWT>"))
}

/// Authenticates the request against the tenant `X-Tenant` names.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Failure> {
    let domain = tenant_header(headers)?;
    let token = bearer(headers)?;
    if token.starts_with("stl_") {
        let principal = common::authenticate(state, token).await.map_err(from_profile)?;
        common::require(&principal, Scope::EventsRead).map_err(from_profile)?;
        let tenant = match common::tenant_by_alias(state, &principal, domain).await {
            Err(ProfileError::UnknownTenant(_)) => {
                common::tenant_by_alias(state, &principal, &domain.to_ascii_lowercase()).await
            }
            other => other,
        }
        .map_err(from_profile)?;
        return Ok(Caller { tenant, role: Role::Csp, key: Some(principal) });
    }
    let tenant = find(state, domain).await?.ok_or_else(|| unauthorized(NO_KEY))?;
    let role = verify(state, &tenant, token).await?;
    Ok(Caller { tenant, role, key: None })
}

/// The tenant with this domain alias (exactly, else lowercased: domains are case-insensitive).
async fn find(state: &AppState, domain: &str) -> Result<Option<Tenant>, Failure> {
    let store_error = |e| from_profile(ProfileError::from(e));
    if let Some(t) = state.store.find_tenant(domain).await.map_err(store_error)? {
        return Ok(Some(t));
    }
    let lower = domain.to_ascii_lowercase();
    if lower == domain {
        return Ok(None);
    }
    state.store.find_tenant(&lower).await.map_err(store_error)
}

/// Verifies the JWT with the tenant's key and reads its role.
async fn verify(state: &AppState, tenant: &Tenant, token: &str) -> Result<Role, Failure> {
    let stored = state
        .store
        .tenant_jwt(&tenant.id)
        .await
        .map_err(|e| from_profile(ProfileError::from(e)))?
        .ok_or_else(|| unauthorized(NO_KEY))?;
    let key = tenant_jwt::verification_key(&state.secrets, &tenant.id, &stored).map_err(|e| {
        tracing::error!(tenant = %tenant.id, error = %e, "cannot use the tenant's JWT key");
        unauthorized("the token cannot be verified")
    })?;
    let validation = validation(&stored);
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| unauthorized(format!("the token is not valid: {}", token_error(&e))))?
        .claims;
    let roles: Vec<String> = match claims.role {
        Some(Value::String(r)) => vec![r],
        Some(Value::Array(rs)) => rs.into_iter().filter_map(|r| r.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    if roles.iter().any(|r| r.eq_ignore_ascii_case("csp")) {
        return Ok(Role::Csp);
    }
    if roles.iter().any(|r| r.eq_ignore_ascii_case("reseller")) {
        let id = match claims.reseller_id {
            Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
            _ => return Err(forbidden("a reseller token needs a reseller_id claim")),
        };
        return Ok(Role::Reseller(id));
    }
    Err(forbidden("the token's role claim must be csp or reseller"))
}

/// What a token must satisfy: the tenant's algorithm, `exp` (required) and `nbf` (when
/// present) within [`LEEWAY_SECONDS`], and the tenant's issuer and audience when configured.
fn validation(stored: &stele_store::TenantJwt) -> Validation {
    let mut validation = Validation::new(tenant_jwt::algorithm(stored.alg));
    let mut required = vec!["exp"];
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_aud = false;
    if let Some(issuer) = &stored.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    if let Some(audience) = &stored.audience {
        validation.set_audience(&[audience]);
        validation.validate_aud = true;
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation
}

fn token_error(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => "it has no iss claim; the tenant requires one",
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => "it has no aud claim; the tenant requires one",
        ErrorKind::MissingRequiredClaim(_) => "it has no exp claim",
        ErrorKind::InvalidIssuer => "its iss claim is not the tenant's issuer",
        ErrorKind::InvalidAudience => "its aud claim does not name the tenant's audience",
        ErrorKind::InvalidSignature => "its signature does not match the tenant's key",
        ErrorKind::InvalidAlgorithm => "it is not signed with the tenant's algorithm",
        ErrorKind::ImmatureSignature => "it is not valid yet",
        _ => "it is malformed",
    }
}
