//! `POST /v1/viewer-links`: embed links (Retraced's viewer tokens). A tenant key with
//! `events:read` asks for a single-use URL that opens a read-only viewer session of its
//! tenant, seen through the key's view filter AND the one asked for — so a SaaS vendor can
//! put "Audit log" in its own product without its customers having Stele accounts.
//!
//! The URL's token is 256 random bits; only its SHA-256 is stored. The link works once,
//! within `ttl_seconds` (at most 15 minutes); the session it opens lasts
//! `[viewer] link_session_ttl_seconds` and ends when the key is revoked. Making a link is a
//! `stele.viewer.link_created` event; opening one is `stele.viewer.link_used`
//! (`viewer/link.rs`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use stele_core::{Scope, SecretHash, Target, Timestamp};
use stele_store::directory::RecordChange;
use stele_store::sessions::{ViewerLink, MAX_LIVE_LINKS_PER_TENANT};
use stele_store::StoreError;
use utoipa::ToSchema;

use crate::audit::audit_event;
use crate::auth::Principal;
use crate::body::json_body;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest (and default) time a link may wait to be opened.
pub const MAX_LINK_TTL_SECONDS: u32 = 15 * 60;
/// Shortest time a link may wait to be opened.
pub const MIN_LINK_TTL_SECONDS: u32 = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateViewerLink {
    /// Narrows what the session sees (the filter language); AND-ed with the key's own view.
    #[serde(default)]
    pub view_filter: Option<String>,
    /// Seconds the link may wait to be opened: 10–900 (default 900).
    #[serde(default)]
    #[schema(minimum = 10, maximum = 900)]
    pub ttl_seconds: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ViewerLinkDto {
    /// Open this URL in a browser, once.
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// The view the session reads through (the key's AND the requested one), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_filter: Option<String>,
}

/// Make a single-use URL that opens a read-only viewer session of the key's tenant.
#[utoipa::path(post, path = "/v1/viewer-links", tag = "events", request_body = CreateViewerLink,
    responses((status = 201, body = ViewerLinkDto), (status = 400, body = crate::dto::Problem),
        (status = 401, body = crate::dto::Problem), (status = 403, body = crate::dto::Problem),
        (status = 415, body = crate::dto::Problem), (status = 429, body = crate::dto::Problem)),
    security(("bearer" = [])))]
pub async fn create_viewer_link(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ViewerLinkDto>), ApiError> {
    principal.require(Scope::EventsRead)?;
    let Principal::Key(key) = &principal else {
        return Err(ApiError::forbidden(
            "viewer links are made with a tenant key (its revocation ends the link's session)",
        ));
    };
    let input: CreateViewerLink = json_body(&headers, body).await?;
    let ttl = input.ttl_seconds.unwrap_or(MAX_LINK_TTL_SECONDS);
    if !(MIN_LINK_TTL_SECONDS..=MAX_LINK_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid_parameter(
            "ttl_seconds",
            format!("must be {MIN_LINK_TTL_SECONDS}–{MAX_LINK_TTL_SECONDS}"),
        ));
    }
    let view = crate::view_filter::check_new(&crate::audit::By::Api(&principal), input.view_filter)?;
    let token = crate::viewer::new_token();
    let now = Timestamp::now();
    let link = ViewerLink {
        token_hash: SecretHash::of(&token),
        key: key.id.clone(),
        view_filter: view.as_ref().map(|v| v.to_stored()),
        export: key.scopes.contains(&Scope::EventsExport),
        created_at: now,
        expires_at: Timestamp::from_micros(now.as_micros() + i64::from(ttl) * 1_000_000),
    };
    let target = Target { kind: Some("viewer_link".into()), id: Some(key.id.to_string()), name: None, email: None };
    let shown = view.as_ref().map(|v| v.to_string());
    let message = match &shown {
        Some(f) => format!("Made a viewer link for {ttl} s, viewing {f}"),
        None => format!("Made a viewer link for {ttl} s"),
    };
    let audit = audit_event(&principal, "stele.viewer.link_created", target, message);
    let change = RecordChange::PutViewerLink { link: link.clone() };
    state.store.change(&key.tenant, change, vec![audit]).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-links",
            "Too many open viewer links",
            format!("the tenant has {MAX_LIVE_LINKS_PER_TENANT} unexpired viewer links; wait for some to expire"),
        ),
        other => other.into(),
    })?;
    let base = crate::public_url::base(&state, &headers);
    let url = format!("{base}/viewer-link/{}/{}/{token}", key.tenant, key.id);
    Ok((StatusCode::CREATED, Json(ViewerLinkDto { url, expires_at: link.expires_at, view_filter: shown })))
}
