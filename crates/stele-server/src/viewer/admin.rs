//! The Admin pages (admins and owners; others get 403): members (invite, role,
//! deactivate/reactivate, a new invite URL), API keys (create with scopes and a view filter,
//! revoke) and SCIM connections (create, rotate the token, revoke).
//!
//! Every change runs the JSON API's own function (`routes::members::create_member_in`,
//! `update_member_in`, `invite_member_in`, `routes::keys::create_key_in`, `revoke_key_in`,
//! `routes::scim_connections::*_connection_in`) with the member as the maker
//! (`audit::By::Member`: the member is the actor of the event, through `Origin::User`), so
//! the validation, the store change and the audit event are the API's.
//!
//! Forms are POSTs with the session's CSRF token (`session::session_form`). A change that
//! shows a secret (an invite URL, a key's secret, a SCIM token) answers the page itself with
//! the secret, once, never in a URL; other changes redirect (Post/Redirect/Get) to the page
//! with a `done` notice.
//!
//! Roles: an admin gives at most its own role (an admin cannot make an owner) and changes
//! no member who acts with a role above its own (its own role or one a group gives it);
//! nobody changes their own role or deactivates themselves here (no admin locks themselves
//! out; another admin or the API can).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use stele_core::Scope;
use stele_store::directory::{Listing, Member, MemberOrder, Role};
use stele_viewer::views::{
    AdminKeysView, AdminMembersView, AdminScimView, Check, Choice, ConnectionRow, Field, KeyRow, MemberRow, Shown,
};

use super::format::short_time;
use super::session::{forbidden, see_other, session_form, signed_in, SessionForm, SignedIn};
use super::{render, PageError};
use crate::audit::By;
use crate::dto::{CreateKey, KeyDto};
use crate::error::ApiError;
use crate::routes::members::{CreateMember, UpdateMember};
use crate::routes::query_params;
use crate::state::AppState;

/// Members the page lists (the API pages through more).
const MEMBERS_SHOWN: u32 = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DoneParams {
    #[serde(default)]
    done: String,
}

pub(super) fn notice(uri: &Uri) -> Option<String> {
    let p: DoneParams = query_params(uri).unwrap_or_default();
    let text = match p.done.as_str() {
        "role" => "The role is changed.",
        "deactivated" => "The member is deactivated; their sessions have ended.",
        "reactivated" => "The member is active again.",
        "revoked" => "Revoked. It stops working at once.",
        "sso_saved" => "The provider is saved: the sign-in page shows its button.",
        "sso_removed" => "The provider is removed: members sign in with passwords only.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// The 403 of a session that may not manage the tenant.
pub(super) fn not_admin(me: &SignedIn) -> PageError {
    forbidden(me, "The Admin pages are for the tenant's admins and owners.")
}

/// The session of an admin page's `GET`: an admin's or owner's, else the 403 page.
pub(super) async fn admin_session(state: &AppState, tenant: &str, headers: &HeaderMap) -> Result<SignedIn, PageError> {
    let me = signed_in(state, tenant, headers).await?;
    if !me.may_manage() {
        return Err(not_admin(&me));
    }
    Ok(me)
}

/// A form posted to an admin page, its maker and the maker's role.
pub(super) async fn admin_form(
    state: &AppState,
    tenant: &str,
    request: Request,
) -> Result<(SessionForm, By<'static>, Role), PageError> {
    let form = session_form(state, tenant, request).await?;
    match (form.me.may_manage(), form.me.by(form.ip), form.me.role()) {
        (true, Some(by), Some(role)) => Ok((form, by, role)),
        _ => Err(not_admin(&form.me)),
    }
}

/// An API refusal (4xx) shown on the page under its status; anything else is the error page.
fn shown_error<V: stele_viewer::Page>(
    e: ApiError,
    view: &mut V,
    slot: impl FnOnce(&mut V) -> &mut Option<String>,
) -> Response {
    super::pages::refused(e, view, slot)
}

fn role_choices(up_to: Role, current: Role) -> Vec<Choice> {
    Role::ALL
        .into_iter()
        .filter(|r| *r <= up_to)
        .map(|r| Choice { value: r.as_str().into(), label: r.as_str().into(), selected: r == current })
        .collect()
}

fn member_row(m: &Member, me: &SignedIn, my_role: Role) -> MemberRow {
    let own = me.member().is_some_and(|x| x.id == m.id);
    let locked = if own {
        Some("You".to_owned())
    } else if m.role > my_role {
        Some(format!("{}: above your role", m.role.as_str()))
    } else {
        None
    };
    MemberRow {
        id: m.id.to_string(),
        name: m.display_name.clone().unwrap_or_else(|| m.user_name.clone()),
        email: m.email.clone().unwrap_or_default(),
        role: m.role.as_str().into(),
        active: m.active,
        source: if m.external_id.is_some() { "SCIM".into() } else { String::new() },
        roles: if locked.is_some() { Vec::new() } else { role_choices(my_role, m.role) },
        locked,
        action: format!("/t/{}/admin/members/{}", me.tenant.id, m.id),
    }
}

async fn members_view(state: &AppState, me: &SignedIn) -> Result<AdminMembersView, PageError> {
    let my_role = me.role().unwrap_or(Role::Member);
    let listing = Listing { order: MemberOrder::UserName, descending: false, after: None, limit: MEMBERS_SHOWN };
    let members = state.store.list_members(&me.tenant.id, &listing).await?;
    let total = state.store.count_members(&me.tenant.id).await?;
    Ok(AdminMembersView {
        chrome: me.chrome("admin"),
        tab: "members",
        members: members.iter().map(|m| member_row(m, me, my_role)).collect(),
        more: (total > members.len() as u64).then(|| {
            format!(
                "{} of {total} members shown; the API (GET /v1/tenants/{}/members) lists every one.",
                members.len(),
                me.tenant.id
            )
        }),
        roles: role_choices(my_role, Role::Member),
        ..AdminMembersView::default()
    })
}

/// `GET /t/{tenant}/admin`.
pub(crate) async fn admin_home(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    Ok(see_other(&format!("/t/{}/admin/members", me.tenant.id)))
}

/// `GET /t/{tenant}/admin/members`.
pub(crate) async fn members_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    let view = AdminMembersView { notice: notice(&uri), ..members_view(&state, &me).await? };
    Ok(render(StatusCode::OK, &view))
}

/// `POST /t/{tenant}/admin/members`: invites a new member (shows its invite URL once).
pub(crate) async fn invite_member(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, my_role) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let (email, name, role) = (form.field("email"), form.field("name"), form.field("role"));
    let mut view = members_view(&state, me).await?;
    view.email.clone_from(&email);
    view.name.clone_from(&name);
    let wanted = Role::parse(&role).unwrap_or(Role::Member);
    view.roles = role_choices(my_role, wanted);
    if wanted > my_role {
        let e = ApiError::forbidden(format!("role: you cannot give the role {role}, which is above your own"));
        return Ok(shown_error(e, &mut view, |v| &mut v.error));
    }
    let input = CreateMember {
        email: email.clone(),
        name: Some(name).filter(|n| !n.is_empty()),
        user_name: None,
        role: Some(role).filter(|r| !r.is_empty()),
    };
    match crate::routes::members::create_member_in(&state, &form.headers, &by, &me.tenant.id, input).await {
        Ok((member, url)) => {
            let mut view = members_view(&state, me).await?;
            view.notice = Some(format!("{email} is a member now."));
            view.shown = url.map(|secret| Shown {
                title: format!("Invite URL for {}", member.email.as_deref().unwrap_or(&email)),
                secret,
                extra: Vec::new(),
            });
            if view.shown.is_none() {
                view.error = Some("The member exists, but storing the invite failed: use New invite URL.".into());
            }
            Ok(render(StatusCode::OK, &view))
        }
        Err(e) => Ok(shown_error(e, &mut view, |v| &mut v.error)),
    }
}

/// `POST /t/{tenant}/admin/members/{id}` with `do` = `role`, `deactivate`, `reactivate` or
/// `invite`.
pub(crate) async fn change_member(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, my_role) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let t = me.tenant.id.to_string();
    let mut view = members_view(&state, me).await?;
    let target = match id.parse::<stele_store::directory::MemberId>().ok() {
        Some(member_id) => state.store.get_member(&me.tenant.id, &member_id).await?,
        None => None,
    };
    let Some(target) = target else {
        let e = ApiError::not_found(format!("member {id} does not exist"));
        return Ok(shown_error(e, &mut view, |v| &mut v.error));
    };
    let who = target.email.clone().unwrap_or_else(|| target.user_name.clone());
    if me.member().is_some_and(|m| m.id == target.id) {
        let e = ApiError::forbidden("you cannot change your own role or deactivate yourself here");
        return Ok(shown_error(e, &mut view, |v| &mut v.error));
    }
    // The role the target acts with (its groups may raise it), not only its own.
    let groups = state.store.member_groups(&me.tenant.id, &target.id).await?;
    let acts_as = stele_store::directory::effective_role(&target, &groups);
    if acts_as > my_role {
        let e = ApiError::forbidden(format!("{who} acts as {}, above your own role", acts_as.as_str()));
        return Ok(shown_error(e, &mut view, |v| &mut v.error));
    }
    let update = |role: Option<String>, active: Option<bool>| UpdateMember { role, active, name: None };
    let (input, done) = match form.field("do").as_str() {
        "role" => {
            let role = form.field("role");
            if Role::parse(&role).is_some_and(|r| r > my_role) {
                let e = ApiError::forbidden(format!("role: you cannot give the role {role}, which is above your own"));
                return Ok(shown_error(e, &mut view, |v| &mut v.error));
            }
            (update(Some(role), None), "role")
        }
        "deactivate" => (update(None, Some(false)), "deactivated"),
        "reactivate" => (update(None, Some(true)), "reactivated"),
        "invite" => {
            let url = crate::routes::members::invite_member_in(&state, &form.headers, &by, &me.tenant.id, &id).await;
            return match url {
                Ok(secret) => {
                    view.shown = Some(Shown { title: format!("Invite URL for {who}"), secret, extra: Vec::new() });
                    view.notice = Some(format!("A new invite URL for {who}; any earlier one stopped working."));
                    Ok(render(StatusCode::OK, &view))
                }
                Err(e) => Ok(shown_error(e, &mut view, |v| &mut v.error)),
            };
        }
        _ => {
            let e = ApiError::bad_request("invalid-body", "do: must be role, deactivate, reactivate or invite");
            return Ok(shown_error(e, &mut view, |v| &mut v.error));
        }
    };
    match crate::routes::members::update_member_in(&state, &by, &me.tenant.id, &id, input).await {
        Ok(_) => Ok(see_other(&format!("/t/{t}/admin/members?done={done}"))),
        Err(e) => Ok(shown_error(e, &mut view, |v| &mut v.error)),
    }
}

fn scope_hint(s: Scope) -> &'static str {
    match s {
        Scope::EventsWrite => "send events",
        Scope::EventsRead => "read, search, tail and prove events",
        Scope::EventsExport => "export events",
        Scope::Admin => "manage keys, members and SCIM connections",
    }
}

fn scope_checks(checked: &[Scope]) -> Vec<Check> {
    Scope::ALL
        .into_iter()
        .map(|s| Check {
            value: s.as_str().into(),
            label: s.as_str().into(),
            hint: scope_hint(s).into(),
            checked: checked.contains(&s),
        })
        .collect()
}

async fn keys_view(state: &AppState, me: &SignedIn) -> Result<AdminKeysView, PageError> {
    let mut keys: Vec<KeyDto> =
        state.store.list_keys(Some(&me.tenant.id)).await?.into_iter().map(KeyDto::from).collect();
    keys.sort_by(|a, b| (a.revoked_at.is_some(), b.created_at).cmp(&(b.revoked_at.is_some(), a.created_at)));
    let t = me.tenant.id.to_string();
    Ok(AdminKeysView {
        chrome: me.chrome("admin"),
        tab: "keys",
        keys: keys
            .into_iter()
            .map(|k| KeyRow {
                action: format!("/t/{t}/admin/keys/{}/revoke", k.id),
                scopes: k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
                view_filter: k.view_filter.unwrap_or_else(|| "(whole tenant)".into()),
                created: short_time(&k.created_at.to_string()),
                revoked: k.revoked_at.map(|r| short_time(&r.to_string())),
                id: k.id,
                name: k.name,
            })
            .collect(),
        scopes: scope_checks(&[Scope::EventsWrite]),
        ..AdminKeysView::default()
    })
}

/// `GET /t/{tenant}/admin/keys`.
pub(crate) async fn keys_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    let view = AdminKeysView { notice: notice(&uri), ..keys_view(&state, &me).await? };
    Ok(render(StatusCode::OK, &view))
}

/// `POST /t/{tenant}/admin/keys`: creates a key (shows its secret once). Each scope is a
/// checkbox named `scope-<scope>`.
pub(crate) async fn create_key(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let scopes: Vec<Scope> =
        Scope::ALL.into_iter().filter(|s| form.fields.contains_key(&format!("scope-{}", s.as_str()))).collect();
    let (name, view_filter) = (form.field("name"), form.field("view_filter"));
    let mut view = keys_view(&state, me).await?;
    view.scopes = scope_checks(&scopes);
    view.name.clone_from(&name);
    view.view_filter.clone_from(&view_filter);
    let input = CreateKey {
        tenant: None,
        name: name.clone(),
        scopes,
        view_filter: Some(view_filter).filter(|f| !f.is_empty()),
    };
    match crate::routes::keys::create_key_in(&state, &by, me.tenant.id.clone(), input).await {
        Ok(created) => {
            let mut view = keys_view(&state, me).await?;
            view.notice = Some(format!("Key {} is created.", created.key.id));
            view.shown = Some(Shown {
                title: format!("Secret of key {name}"),
                secret: created.secret,
                extra: vec![
                    Field { name: "Key id".into(), value: created.key.id, mono: true },
                    Field {
                        name: "Scopes".into(),
                        value: created.key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
                        mono: true,
                    },
                ],
            });
            Ok(render(StatusCode::OK, &view))
        }
        Err(e) => Ok(shown_error(e, &mut view, |v| &mut v.error)),
    }
}

/// `POST /t/{tenant}/admin/keys/{id}/revoke`.
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let record = match stele_core::KeyId::parse(&id) {
        Ok(key_id) => state.store.get_key(&key_id).await?.filter(|k| k.tenant == me.tenant.id),
        Err(_) => None,
    };
    let result = match record {
        Some(record) => crate::routes::keys::revoke_key_in(&state, &by, record).await.map(|_| ()),
        None => Err(ApiError::not_found(format!("key {id} does not exist"))),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/t/{}/admin/keys?done=revoked", me.tenant.id))),
        Err(e) => {
            let mut view = keys_view(&state, me).await?;
            Ok(shown_error(e, &mut view, |v| &mut v.error))
        }
    }
}

async fn scim_view(state: &AppState, me: &SignedIn, headers: &HeaderMap) -> Result<AdminScimView, PageError> {
    let mut all = state.store.list_scim_connections(&me.tenant.id).await?;
    all.sort_by(|a, b| (a.revoked_at.is_some(), b.created_at).cmp(&(b.revoked_at.is_some(), a.created_at)));
    let t = me.tenant.id.to_string();
    Ok(AdminScimView {
        chrome: me.chrome("admin"),
        tab: "scim",
        connections: all
            .iter()
            .map(|c| ConnectionRow {
                id: c.id.to_string(),
                name: c.name.clone(),
                base_url: crate::scim::base_url(state, headers, &c.id),
                created: short_time(&c.created_at.to_string()),
                updated: short_time(&c.updated_at.to_string()),
                revoked: c.revoked_at.map(|r| short_time(&r.to_string())),
                action: format!("/t/{t}/admin/scim/{}", c.id),
            })
            .collect(),
        ..AdminScimView::default()
    })
}

fn token_shown(title: String, base_url: String, token: String) -> Shown {
    Shown { title, secret: token, extra: vec![Field { name: "SCIM base URL".into(), value: base_url, mono: true }] }
}

/// `GET /t/{tenant}/admin/scim`.
pub(crate) async fn scim_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    let view = AdminScimView { notice: notice(&uri), ..scim_view(&state, &me, &headers).await? };
    Ok(render(StatusCode::OK, &view))
}

/// `POST /t/{tenant}/admin/scim`: creates a connection (shows its token once).
pub(crate) async fn create_connection(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let name = form.field("name");
    let made = crate::routes::scim_connections::create_connection_in(
        &state,
        &by,
        &me.tenant.id,
        Some(name.clone()).filter(|n| !n.is_empty()),
    )
    .await;
    let mut view = scim_view(&state, me, &form.headers).await?;
    match made {
        Ok((c, token)) => {
            let base = crate::scim::base_url(&state, &form.headers, &c.id);
            view.shown = Some(token_shown(format!("Bearer token of {}", c.name), base, token));
            view.notice = Some(format!("SCIM connection {} is created.", c.name));
            Ok(render(StatusCode::OK, &view))
        }
        Err(e) => {
            view.name = name;
            Ok(shown_error(e, &mut view, |v| &mut v.error))
        }
    }
}

/// `POST /t/{tenant}/admin/scim/{id}/rotate`: a new token (shown once); the old one stops.
pub(crate) async fn rotate_connection(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let rotated = crate::routes::scim_connections::rotate_connection_in(&state, &by, &me.tenant.id, &id).await;
    let mut view = scim_view(&state, me, &form.headers).await?;
    match rotated {
        Ok((c, token)) => {
            let base = crate::scim::base_url(&state, &form.headers, &c.id);
            view.shown = Some(token_shown(format!("New bearer token of {}", c.name), base, token));
            view.notice = Some(format!("The token of {} is replaced; the old one stopped working.", c.name));
            Ok(render(StatusCode::OK, &view))
        }
        Err(e) => Ok(shown_error(e, &mut view, |v| &mut v.error)),
    }
}

/// `POST /t/{tenant}/admin/scim/{id}/revoke`.
pub(crate) async fn revoke_connection(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    match crate::routes::scim_connections::revoke_connection_in(&state, &by, &me.tenant.id, &id).await {
        Ok(()) => Ok(see_other(&format!("/t/{}/admin/scim?done=revoked", me.tenant.id))),
        Err(e) => {
            let mut view = scim_view(&state, me, &form.headers).await?;
            Ok(shown_error(e, &mut view, |v| &mut v.error))
        }
    }
}
