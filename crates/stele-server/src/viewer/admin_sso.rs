//! The Admin pages' Single sign-on tab (`/t/{tenant}/admin/sso`): the tenant's OpenID
//! Connect provider, set and removed through the API's own functions
//! (`routes::oidc_provider::set_provider_in`, `remove_provider_in`) with the member as the
//! maker. The client secret is a password field, never shown back; saving needs it again.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use stele_viewer::views::{AdminSsoView, SsoSettings};

use super::admin::{admin_form, admin_session, notice};
use super::format::short_time;
use super::session::{see_other, SignedIn};
use super::{render, PageError};
use crate::routes::oidc_provider::{remove_provider_in, set_provider_in, PutOidcProvider};
use crate::state::AppState;

async fn sso_view(state: &AppState, me: &SignedIn, headers: &HeaderMap) -> Result<AdminSsoView, PageError> {
    let current = state.store.oidc_provider(&me.tenant.id).await?;
    Ok(AdminSsoView {
        chrome: me.chrome("admin"),
        tab: "sso",
        redirect_uri: super::oidc::redirect_uri(state, headers, &me.tenant.id),
        issuer: current.as_ref().map(|p| p.issuer.clone()).unwrap_or_default(),
        client_id: current.as_ref().map(|p| p.client_id.clone()).unwrap_or_default(),
        name: current.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        current: current.map(|p| SsoSettings {
            issuer: p.issuer,
            client_id: p.client_id,
            name: p.name,
            updated: short_time(&p.updated_at.to_string()),
        }),
        ..AdminSsoView::default()
    })
}

/// `GET /t/{tenant}/admin/sso`.
pub(crate) async fn sso_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let me = admin_session(&state, &tenant, &headers).await?;
    let view = AdminSsoView { notice: notice(&uri), ..sso_view(&state, &me, &headers).await? };
    Ok(render(StatusCode::OK, &view))
}

/// `POST /t/{tenant}/admin/sso`: sets the provider (checked against its discovery first).
pub(crate) async fn save_sso(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    let input = PutOidcProvider {
        issuer: form.field("issuer"),
        client_id: form.field("client_id"),
        client_secret: form.field("client_secret"),
        name: Some(form.field("name")),
    };
    let (issuer, client_id, name) = (input.issuer.clone(), input.client_id.clone(), form.field("name"));
    match set_provider_in(&state, &by, &me.tenant.id, input).await {
        Ok(_) => Ok(see_other(&format!("/t/{}/admin/sso?done=sso_saved", me.tenant.id))),
        Err(e) => {
            let mut view = sso_view(&state, me, &form.headers).await?;
            view.issuer = issuer;
            view.client_id = client_id;
            view.name = name;
            Ok(super::pages::refused(e, &mut view, |v| &mut v.error))
        }
    }
}

/// `POST /t/{tenant}/admin/sso/remove`.
pub(crate) async fn remove_sso(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let (form, by, _) = admin_form(&state, &tenant, request).await?;
    let me = &form.me;
    match remove_provider_in(&state, &by, &me.tenant.id).await {
        Ok(()) => Ok(see_other(&format!("/t/{}/admin/sso?done=sso_removed", me.tenant.id))),
        Err(e) => {
            let mut view = sso_view(&state, me, &form.headers).await?;
            Ok(super::pages::refused(e, &mut view, |v| &mut v.error))
        }
    }
}
