//! `/v1/keys`: API keys. A secret is returned once, at creation; only its hash is stored.
//!
//! No key can make a key that does more than itself (`Principal::may_grant`): the new key's
//! scopes are a subset of the maker's, and its view is the maker's view AND-ed with the
//! requested one. A filtered key sees and revokes only keys whose view is at least as narrow as
//! its own (`view_filter::manages`); other keys are 404 to it, like unknown ones.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde::Deserialize;
use stele_core::{KeyId, KeySecret, Scope, Target, TenantId, Timestamp};
use stele_store::{KeyRecord, NewKey};

use crate::audit::By;
use crate::auth::Principal;
use crate::body::json_body;
use crate::dto::{CreateKey, CreatedKey, KeyDto};
use crate::error::ApiError;
use crate::routes::query_params;
use crate::state::AppState;

/// The tenant an admin request acts on: the operator names one, a tenant key has its own.
fn admin_tenant(principal: &Principal, named: Option<&str>) -> Result<TenantId, ApiError> {
    principal.require(Scope::Admin)?;
    let parse = |t: &str| TenantId::parse(t).map_err(|e| ApiError::bad_request("invalid-body", format!("tenant: {e}")));
    match (principal, named) {
        (Principal::Operator, Some(t)) => parse(t),
        (Principal::Operator, None) => {
            Err(ApiError::bad_request("invalid-body", "tenant: the operator key must name the tenant"))
        }
        (Principal::Key(k), None) => Ok(k.tenant.clone()),
        (Principal::Key(k), Some(t)) if parse(t)? == k.tenant => Ok(k.tenant.clone()),
        (Principal::Key(_), Some(_)) => Err(ApiError::forbidden("a tenant key manages only its own tenant's keys")),
    }
}

/// Create a key; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/v1/keys", tag = "admin", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let input: CreateKey = json_body(&headers, body).await?;
    let tenant = admin_tenant(&principal, input.tenant.as_deref())?;
    let created = create_key_in(&state, &By::Api(&principal), tenant, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates a key of `tenant` made by `by` (the API's `POST /v1/keys` and the viewer's keys
/// page): checks the name and scopes, that `by` may grant them, and the view filter (AND-ed
/// with `by`'s own); stores the key with its `stele.key.created` event. Answers the secret.
pub(crate) async fn create_key_in(
    state: &AppState,
    by: &By<'_>,
    tenant: TenantId,
    input: CreateKey,
) -> Result<CreatedKey, ApiError> {
    if input.name.trim().is_empty() || input.name.chars().count() > 256 {
        return Err(ApiError::bad_request("invalid-body", "name: must be 1-256 characters"));
    }
    stele_core::text::check_label(&input.name)
        .map_err(|e| ApiError::bad_request("invalid-body", format!("name: {e}")))?;
    if input.scopes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid-body",
            "scopes: name at least one of events:write, events:read, events:export, admin",
        ));
    }
    let scopes = input.scopes.into_iter().collect::<BTreeSet<_>>();
    by.may_grant(&scopes)?;
    let view_filter = crate::view_filter::check_new(by, input.view_filter)?;
    let id = KeyId::generate();
    let secret = KeySecret::generate(&id);
    let key = NewKey {
        id: id.clone(),
        tenant: tenant.clone(),
        name: input.name.clone(),
        scopes,
        view_filter: view_filter.map(|v| v.to_stored()),
        secret_hash: secret.hash(),
        created_at: Timestamp::now(),
    };
    let audit = by.event(
        "stele.key.created",
        Target { kind: Some("key".into()), id: Some(id.to_string()), name: Some(input.name), email: None },
        format!("Created key {id}"),
    );
    let record = state.store.create_key(key, audit).await?;
    Ok(CreatedKey { key: record.into(), secret: secret.expose().to_owned() })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListKeysParams {
    /// Only this tenant's keys (operator); a tenant key always sees its own tenant's.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$", example = "acme")]
    pub tenant: Option<String>,
}

/// List keys (never their secrets).
#[utoipa::path(get, path = "/v1/keys", tag = "admin", params(ListKeysParams),
    responses((status = 200, body = Vec<KeyDto>), (status = 403, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<Vec<KeyDto>>, ApiError> {
    let params: ListKeysParams = query_params(&uri)?;
    let keys = match (&principal, params.tenant) {
        (Principal::Operator, None) => state.store.list_keys(None).await?,
        (_, named) => {
            let tenant = admin_tenant(&principal, named.as_deref())?;
            if state.store.get_tenant(&tenant).await?.is_none() {
                return Err(ApiError::not_found(format!("tenant {tenant} does not exist")));
            }
            state.store.list_keys(Some(&tenant)).await?
        }
    };
    let mut visible = Vec::with_capacity(keys.len());
    for key in keys {
        if crate::view_filter::manages(&principal, key.view_filter.as_deref())? {
            visible.push(KeyDto::from(key));
        }
    }
    Ok(Json(visible))
}

/// Revoke a key. It stops working at once on this node (within 5 s on others).
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "admin", params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyDto), (status = 404, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyDto>, ApiError> {
    principal.require(Scope::Admin)?;
    let not_found = || ApiError::not_found(format!("key {id} does not exist"));
    let key_id = KeyId::parse(&id).map_err(|_| not_found())?;
    let record = state.store.get_key(&key_id).await?.ok_or_else(not_found)?;
    if let Principal::Key(k) = &principal {
        if k.tenant != record.tenant || !crate::view_filter::manages(&principal, record.view_filter.as_deref())? {
            return Err(not_found());
        }
    }
    revoke_key_in(&state, &By::Api(&principal), record).await.map(Json)
}

/// Revokes a key (the caller has checked that `by` may see it) with its `stele.key.revoked`
/// event; it stops working at once on this node (within 5 s on others).
pub(crate) async fn revoke_key_in(state: &AppState, by: &By<'_>, record: KeyRecord) -> Result<KeyDto, ApiError> {
    let key_id = record.id.clone();
    let audit = by.event(
        "stele.key.revoked",
        Target { kind: Some("key".into()), id: Some(key_id.to_string()), name: Some(record.name.clone()), email: None },
        format!("Revoked key {key_id}"),
    );
    let revoked = state.store.revoke_key(&record.tenant, &key_id, audit).await?;
    state.forget_key(&key_id);
    Ok(revoked.into())
}
