//! Authentication: `Authorization: Bearer <secret>` names either the operator key or a
//! tenant key. Secrets are compared by hash, in constant time.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use stele_core::{Actor, KeyId, KeySecret, Scope, TenantId, ViewFilter};
use stele_store::KeyRecord;

use crate::error::ApiError;
use crate::state::AppState;

/// Header with which the operator key names the tenant a tenant-scoped request acts on.
pub const TENANT_HEADER: &str = "x-stele-tenant";

/// The right to append to one tenant's log, with the writing key's view: the only way into
/// `routes::events::append_body` (the one ingest path of the native API and of Retraced), so
/// no ingest path can skip the scope check or the view check.
#[derive(Debug, Clone)]
pub struct Writer {
    pub tenant: TenantId,
    pub view: Option<ViewFilter>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The deployment's operator key: every scope, every tenant.
    Operator,
    /// A tenant key.
    Key(KeyRecord),
}

impl Principal {
    /// Fails with 403 unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Principal::Operator => Ok(()),
            Principal::Key(k) if k.scopes.contains(&scope) => Ok(()),
            Principal::Key(k) => Err(ApiError::forbidden(format!("key {} lacks the {scope} scope", k.id))),
        }
    }

    /// Fails with 403 unless the caller holds every one of `scopes` (a key cannot make a key
    /// that does more than itself).
    pub fn may_grant(&self, scopes: &std::collections::BTreeSet<Scope>) -> Result<(), ApiError> {
        match self {
            Principal::Operator => Ok(()),
            Principal::Key(k) => match scopes.iter().find(|s| !k.scopes.contains(s)) {
                Some(missing) => Err(ApiError::forbidden(format!(
                    "key {} cannot grant the {missing} scope, which it does not hold itself",
                    k.id
                ))),
                None => Ok(()),
            },
        }
    }

    /// The right to write to `tenant` (a key's own tenant; any for the operator): needs
    /// `events:write`; carries the key's view, which every written event must match.
    pub fn writer(&self, tenant: TenantId) -> Result<Writer, ApiError> {
        self.require(Scope::EventsWrite)?;
        if let Principal::Key(k) = self {
            if k.tenant != tenant {
                return Err(ApiError::forbidden(format!("key {} writes only to its own tenant", k.id)));
            }
        }
        Ok(Writer { tenant, view: crate::view_filter::of(self)? })
    }

    /// Fails with 403 unless the caller is the operator.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self {
            Principal::Operator => Ok(()),
            Principal::Key(k) => {
                Err(ApiError::forbidden(format!("only the operator key may do this; key {} is a tenant key", k.id)))
            }
        }
    }

    /// The tenant a request acts on: a key's own tenant, or the one the operator names in
    /// the `X-Stele-Tenant` header.
    pub fn tenant(&self, headers: &HeaderMap) -> Result<TenantId, ApiError> {
        match self {
            Principal::Key(k) => Ok(k.tenant.clone()),
            Principal::Operator => {
                let value = headers.get(TENANT_HEADER).ok_or_else(|| {
                    ApiError::bad_request(
                        "missing-tenant",
                        "the operator key must name a tenant in the X-Stele-Tenant header",
                    )
                })?;
                let text = value
                    .to_str()
                    .map_err(|_| ApiError::bad_request("missing-tenant", "X-Stele-Tenant is not text"))?;
                TenantId::parse(text)
                    .map_err(|e| ApiError::bad_request("missing-tenant", format!("X-Stele-Tenant: {e}")))
            }
        }
    }

    /// The actor recorded on events the caller causes (tenant and key changes).
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Operator => Actor {
                kind: Some("key".into()),
                id: Some("operator".into()),
                name: Some("operator".into()),
                ..Actor::default()
            },
            Principal::Key(k) => Actor {
                kind: Some("key".into()),
                id: Some(k.id.to_string()),
                name: Some(k.name.clone()),
                ..Actor::default()
            },
        }
    }
}

/// The bearer secret of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization header; send Authorization: Bearer <key>"))?;
    let text = value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    let (scheme, secret) =
        text.split_once(' ').ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <key>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(ApiError::unauthorized("expected Authorization: Bearer <key>"));
    }
    Ok(secret.trim())
}

/// Resolves a presented secret to a principal. Unknown, wrong and revoked keys get the same
/// answer, so the answer tells nothing about which keys exist.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthorized("the key is unknown, wrong or revoked");
    if state.operator.matches(secret) {
        return Ok(Principal::Operator);
    }
    let id: KeyId = KeySecret::key_id_of(secret).ok_or_else(invalid)?;
    let record = state.key(&id).await?.ok_or_else(invalid)?;
    if record.revoked_at.is_some() || !record.secret_hash.matches(secret) {
        return Err(invalid());
    }
    if let Some(limiter) = &state.rates.per_key {
        if let Err(wait) = limiter.take(&record.id.to_string(), std::time::Instant::now()) {
            crate::metrics::rejected(crate::metrics::Rejection::KeyRateLimit);
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!("key {} made more requests than its rate limit allows; retry later", record.id),
            )
            .with_retry_after(crate::rate::retry_after(wait)));
        }
    }
    Ok(Principal::Key(record))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = bearer(&parts.headers)?;
        authenticate(state, secret).await
    }
}
