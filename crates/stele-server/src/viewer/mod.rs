//! The web viewer's HTTP side (issue #12): sign-in, sessions and CSRF (`session.rs`), the
//! pages (`pages.rs`: Events, event detail, SCIM Audit Logs) and the embedded assets. The
//! templates, assets and view models are the `stele-viewer` crate; this module only
//! authenticates, runs reads through the same query path as the JSON API
//! (`routes::query::parse_read_in` / `fetch`, `routes::scim_log::scim_log_read`), fills view
//! models and renders them.
//!
//! Every viewer answer carries a strict `Content-Security-Policy` (scripts and styles only
//! from this origin, no inline code, no framing), `Referrer-Policy: no-referrer` (invite
//! URLs carry a token) and `Cache-Control: no-store`. Errors are HTML pages with the
//! status and the detail of the one `ApiError`.

mod admin;
mod admin_retention;
mod admin_sso;
mod admin_streams;
mod export;
mod format;
mod integrity;
pub(crate) mod invite;
mod link;
pub(crate) mod oidc;
mod pages;
pub(crate) mod session;

use std::sync::LazyLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use stele_viewer::views::ErrorView;
use stele_viewer::{Page, Viewer};

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) use session::{new_token, ViewerState};

/// The policy of every viewer answer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The compiled templates (compiled once; a template error is a build defect that the
/// `stele-viewer` tests catch, answered 500 here rather than panicking).
static VIEWER: LazyLock<Result<Viewer, stele_viewer::RenderError>> = LazyLock::new(Viewer::new);

/// The viewer's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/login") }))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/invite/{tenant}/{member}/{token}", get(invite::invite_page).post(invite::accept_invite))
        .route("/viewer-link/{tenant}/{key}/{token}", get(link::open))
        .route("/oidc/{tenant}/start", get(oidc::start))
        .route("/oidc/{tenant}/callback", get(oidc::callback))
        .route("/t/{tenant}", get(pages::home))
        .route("/t/{tenant}/events", get(pages::events))
        .route("/t/{tenant}/events/summary", get(pages::events_summary))
        .route("/t/{tenant}/events/{id}", get(pages::event))
        .route("/t/{tenant}/live", get(pages::live))
        .route("/t/{tenant}/live/stream", get(pages::live_stream))
        .route("/t/{tenant}/scim-logs", get(pages::scim_logs))
        .route("/t/{tenant}/events/{id}/proof", get(integrity::event_proof))
        .route("/t/{tenant}/integrity", get(integrity::integrity_page))
        .route("/t/{tenant}/export", get(export::export_page))
        .route("/t/{tenant}/export/download", post(export::download))
        .route("/t/{tenant}/admin", get(admin::admin_home))
        .route("/t/{tenant}/admin/members", get(admin::members_page).post(admin::invite_member))
        .route("/t/{tenant}/admin/members/{id}", post(admin::change_member))
        .route("/t/{tenant}/admin/keys", get(admin::keys_page).post(admin::create_key))
        .route("/t/{tenant}/admin/keys/{id}/revoke", post(admin::revoke_key))
        .route("/t/{tenant}/admin/scim", get(admin::scim_page).post(admin::create_connection))
        .route("/t/{tenant}/admin/scim/{id}/rotate", post(admin::rotate_connection))
        .route("/t/{tenant}/admin/scim/{id}/revoke", post(admin::revoke_connection))
        .route("/t/{tenant}/admin/sso", get(admin_sso::sso_page).post(admin_sso::save_sso))
        .route("/t/{tenant}/admin/sso/remove", post(admin_sso::remove_sso))
        .route("/t/{tenant}/admin/streams", get(admin_streams::streams_page).post(admin_streams::create_stream))
        .route("/t/{tenant}/admin/streams/{id}/edit", get(admin_streams::edit_page).post(admin_streams::edit_stream))
        .route("/t/{tenant}/admin/streams/{id}/{op}", post(admin_streams::change_stream))
        .route("/t/{tenant}/admin/retention", get(admin_retention::retention_page).post(admin_retention::save_period))
        .route("/t/{tenant}/admin/retention/hold", post(admin_retention::set_hold))
        .route("/t/{tenant}/admin/retention/lift", post(admin_retention::lift_hold))
        .route("/t/{tenant}/admin/retention/apply", post(admin_retention::apply_now))
        .route("/assets/{name}", get(asset))
        .layer(axum::middleware::map_response(secure_headers))
}

/// The trace span of every request (what tower-http's default span holds), with an invite
/// URL's token hidden: it is a secret, and trace logs must not keep it.
pub(crate) fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    // The span's fields are evaluated only when it is enabled: the URI is not formatted for
    // every request at the default level.
    tracing::debug_span!("request", method = %request.method(), uri = %loggable_uri(request.uri()), version = ?request.version())
}

/// A request's URI as logs may show it: the secret last segment of an invite or embed link
/// (`/invite/{tenant}/{member}/{token}`, `/viewer-link/{tenant}/{key}/{token}`) hidden.
fn loggable_uri(uri: &axum::http::Uri) -> String {
    for prefix in ["/invite/", "/viewer-link/"] {
        if let Some(rest) = uri.path().strip_prefix(prefix) {
            let named: Vec<&str> = rest.splitn(3, '/').take(2).collect();
            return format!("{prefix}{}/[REDACTED]", named.join("/"));
        }
    }
    uri.to_string()
}

async fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match stele_viewer::asset(&name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(a.content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            ],
            a.body,
        )
            .into_response(),
        None => error_page(StatusCode::NOT_FOUND, "Not found", "There is no such file.", "/login"),
    }
}

/// A rendered page with `status`.
pub(crate) fn render<P: Page>(status: StatusCode, page: &P) -> Response {
    let html = match &*VIEWER {
        Ok(viewer) => viewer.render(page),
        Err(e) => {
            tracing::error!(error = %e, "viewer templates do not compile");
            return ApiError::internal().into_response();
        }
    };
    match html {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a viewer page failed");
            ApiError::internal().into_response()
        }
    }
}

/// An HTML error page.
pub(crate) fn error_page(status: StatusCode, title: &str, detail: &str, home: &str) -> Response {
    render(
        status,
        &ErrorView { status: status.as_u16(), title: title.into(), detail: detail.into(), home: home.into() },
    )
}

/// What a viewer handler fails with: the one `ApiError`, shown as an HTML page, or a
/// ready answer (a redirect to sign in).
pub(crate) enum PageError {
    Api(ApiError, String),
    Answer(Response),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e, "/login".into())
    }
}

impl From<stele_store::StoreError> for PageError {
    fn from(e: stele_store::StoreError) -> Self {
        PageError::from(ApiError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Answer(r) => r,
            PageError::Api(e, home) => {
                if e.status.is_server_error() {
                    // The detail of a server error is for the log (ApiError::internal's text).
                    return error_page(e.status, e.title, &ApiError::internal().detail, &home);
                }
                error_page(e.status, e.title, &e.detail, &home)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn logs_never_show_an_invite_token() {
        let shown = |uri: &str| super::loggable_uri(&uri.parse().expect("uri"));
        assert_eq!(shown("/invite/acme/0193/SECRETTOKEN"), "/invite/acme/0193/[REDACTED]");
        assert_eq!(shown("/invite/acme"), "/invite/acme/[REDACTED]");
        assert_eq!(shown("/viewer-link/acme/key_1/SECRETTOKEN"), "/viewer-link/acme/key_1/[REDACTED]");
        assert_eq!(shown("/t/acme/events?q=x"), "/t/acme/events?q=x", "other URIs are shown whole");
    }
}
