//! Invites: the one-time URL a new member gets (`POST /v1/tenants/{tenant}/members`
//! answers it), and the page where the member sets a password with it. Only the token's
//! SHA-256 is stored; the invite works for [`INVITE_TTL_SECONDS`] and once.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use stele_core::{SecretHash, Status, TenantId, Timestamp};
use stele_store::directory::{Member, MemberId, RecordChange};
use stele_store::sessions::{Credential, Invite};
use stele_store::Tenant;
use stele_viewer::views::InviteView;

use super::session::{
    blocking, client_ip, csrf_of, event, hash_password, login_href, member_actor, new_token, page_with_csrf_cookie,
    pre_session_form, pre_session_secret, see_other, PreSessionForm, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};
use super::{error_page, render, PageError};
use crate::error::ApiError;
use crate::state::AppState;

/// How long an invite URL works.
pub const INVITE_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// The invite URL of a member, as the caller reached this server.
pub(crate) fn invite_url(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &TenantId,
    member: &MemberId,
    token: &str,
) -> String {
    let base = crate::public_url::base(state, headers);
    format!("{base}/invite/{tenant}/{member}/{token}")
}

/// Gives a member a new invite (any earlier one stops working; a password stays until the
/// invite is used) and records `stele.member.invited`. Answers the invite URL.
pub(crate) async fn invite(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &TenantId,
    member: &Member,
    by: &crate::audit::By<'_>,
) -> Result<String, ApiError> {
    let token = new_token();
    let now = Timestamp::now();
    let existing = state.store.credential(tenant, &member.id).await?;
    let credential = Credential {
        member: member.id,
        password_hash: existing.and_then(|c| c.password_hash),
        invite: Some(Invite {
            token_hash: SecretHash::of(&token),
            expires_at: Timestamp::from_micros(now.as_micros() + INVITE_TTL_SECONDS * 1_000_000),
        }),
        updated_at: now,
    };
    let who = member.email.clone().unwrap_or_else(|| member.user_name.clone());
    let target = crate::routes::members::member_target(member);
    let audit = by.event("stele.member.invited", target, format!("Member {who} invited to the viewer"));
    state.store.change(tenant, RecordChange::PutCredential { credential }, vec![audit]).await?;
    Ok(invite_url(state, headers, tenant, &member.id, &token))
}

/// The member and credential an invite URL names, if the invite is pending and valid.
async fn pending_invite(
    state: &AppState,
    tenant: &str,
    member: &str,
    token: &str,
) -> Result<Option<(Tenant, Member, Credential)>, ApiError> {
    let (Ok(tenant), Ok(member_id)) = (TenantId::parse(tenant), member.parse::<MemberId>()) else { return Ok(None) };
    let Some(t) = state.store.get_tenant(&tenant).await? else { return Ok(None) };
    let Some(m) = state.store.get_member(&tenant, &member_id).await?.filter(|m| m.active) else { return Ok(None) };
    let Some(c) = state.store.credential(&tenant, &member_id).await? else { return Ok(None) };
    let valid = c.invite.as_ref().is_some_and(|i| i.token_hash.matches(token) && i.expires_at > Timestamp::now());
    Ok(valid.then_some((t, m, c)))
}

fn invite_gone() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Invite not valid",
        "This invite link is unknown, already used or expired. Ask an administrator of your tenant for a new one.",
        "/login",
    )
}

/// `GET /invite/{tenant}/{member}/{token}`.
pub(crate) async fn invite_page(
    State(state): State<AppState>,
    Path((tenant, member, token)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some((t, m, _)) = pending_invite(&state, &tenant, &member, &token).await? else { return Ok(invite_gone()) };
    let (secret, fresh) = pre_session_secret(&headers);
    let view = InviteView {
        tenant: t.id.to_string(),
        tenant_name: t.name.clone(),
        email: m.email.clone().unwrap_or_else(|| m.user_name.clone()),
        action: format!("/invite/{}/{}/{}", t.id, m.id, token),
        error: None,
        csrf: csrf_of(&secret),
    };
    Ok(page_with_csrf_cookie(&state, &headers, &secret, fresh, render(StatusCode::OK, &view)))
}

/// `POST /invite/{tenant}/{member}/{token}`: sets the password, ends the invite.
pub(crate) async fn accept_invite(
    State(state): State<AppState>,
    Path((tenant, member, token)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let ip = client_ip(&request);
    let PreSessionForm { fields: form, secret, .. } = match pre_session_form(request).await? {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    let Some((t, m, _)) = pending_invite(&state, &tenant, &member, &token).await? else { return Ok(invite_gone()) };
    let password = form.get("password").cloned().unwrap_or_default();
    let confirm = form.get("confirm").cloned().unwrap_or_default();
    let chars = password.chars().count();
    let problem = if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        Some(format!("Password: use {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters."))
    } else if password != confirm {
        Some("Confirm password: the two passwords differ.".to_owned())
    } else {
        None
    };
    if let Some(error) = problem {
        let view = InviteView {
            tenant: t.id.to_string(),
            tenant_name: t.name.clone(),
            email: m.email.clone().unwrap_or_else(|| m.user_name.clone()),
            action: format!("/invite/{}/{}/{}", t.id, m.id, token),
            error: Some(error),
            csrf: csrf_of(&secret),
        };
        return Ok(render(StatusCode::BAD_REQUEST, &view));
    }
    let phc = blocking(move || hash_password(&password)).await?.map_err(|_| ApiError::internal())?;
    let credential = Credential { member: m.id, password_hash: Some(phc), invite: None, updated_at: Timestamp::now() };
    let who = m.email.clone().unwrap_or_else(|| m.user_name.clone());
    let audit = event(
        "stele.member.password_set",
        Status::Success,
        member_actor(&m, ip),
        crate::routes::members::member_target(&m),
        format!("{who} set a password through an invite"),
        None,
    );
    state.store.change(&t.id, RecordChange::PutCredential { credential }, vec![audit]).await?;
    Ok(see_other(&format!("{}&done=password", login_href(t.id.as_str()))))
}
