//! Opening an embed link (`routes/viewer_links.rs` makes them):
//! `GET /viewer-link/{tenant}/{key}/{token}` opens the link once and answers a `303` to the
//! tenant's Events page with the `stele_link` cookie of a read-only session, seen through
//! the link's view. A link that was used, has expired, was made by a key since revoked, or
//! does not exist answers the same 404 page. Attempts spend the client address's sign-in
//! budget (`[viewer] login_attempts_per_ip_per_minute`), so tokens cannot be guessed at
//! speed. Opening is a `stele.viewer.link_used` event, in the same transaction.

use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use stele_core::{KeyId, SecretHash, Status, Target, TenantId, Timestamp};
use stele_store::directory::RecordChange;
use stele_store::StoreError;

use super::session::{
    client_ip, event, is_token, link_actor, new_token, over_ip_budget, secure, see_other, set_cookie, with_cookie,
    LINK_COOKIE,
};
use super::{error_page, PageError};
use crate::state::AppState;

fn gone() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "It was already used, has expired, or never existed. Ask the application that gave it to you for a new one.",
        "/login",
    )
}

/// `GET /viewer-link/{tenant}/{key}/{token}`.
pub(crate) async fn open(
    State(state): State<AppState>,
    Path((tenant, key, token)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let ip = client_ip(&request);
    let headers = request.headers();
    if let Some(page) = over_ip_budget(&state, ip) {
        return Ok(page);
    }
    let (Ok(tenant), Ok(key)) = (TenantId::parse(&tenant), key.parse::<KeyId>()) else { return Ok(gone()) };
    if !is_token(&token) || state.store.get_tenant(&tenant).await?.is_none() {
        return Ok(gone());
    }
    let session = new_token();
    let now = Timestamp::now();
    let ttl = i64::try_from(state.viewer.settings.link_session_ttl_seconds).unwrap_or(i64::MAX / 2_000_000);
    let expires = Timestamp::from_micros(now.as_micros().saturating_add(ttl.saturating_mul(1_000_000)));
    let actor = link_actor(&key, ip);
    let target = Target { kind: Some("viewer_link".into()), id: Some(key.to_string()), ..Target::default() };
    let audit = event(
        "stele.viewer.link_used",
        Status::Success,
        actor,
        target,
        format!("A viewer link of key {key} was opened"),
        None,
    );
    let change = RecordChange::OpenViewerLink {
        key,
        token_hash: SecretHash::of(&token),
        session_hash: SecretHash::of(&session),
        session_expires_at: expires,
        now,
    };
    match state.store.change(&tenant, change, vec![audit]).await {
        Ok(()) => {}
        Err(StoreError::RecordNotFound(..)) => return Ok(gone()),
        Err(e) => return Err(e.into()),
    }
    let cookie = set_cookie(LINK_COOKIE, &format!("{tenant}.{session}"), ttl, "Lax", secure(&state, headers));
    Ok(with_cookie(see_other(&format!("/t/{tenant}/events")), cookie).into_response())
}
