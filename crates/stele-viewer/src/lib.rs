//! Stele's web viewer, without HTTP or SQL: the page templates, the static assets the
//! binary serves, and the view models the templates render.
//!
//! - **Templates** are minijinja, compiled into the binary (`include_str!`), with HTML
//!   auto-escaping on for every template (they all end in `.html`): a value can never become
//!   markup. One template per page; they share `base.html`.
//! - **View models** ([`views`]) hold already-formatted text. Templates never compute, never
//!   touch a store and hold no query logic: `stele-server` builds a view from the answer of
//!   the same query path as the JSON API and renders it with [`Viewer::render`].
//! - **Assets** ([`asset`]) are one stylesheet and one small plain JavaScript module, served
//!   by the binary (no CDN, no build step). Pages carry no inline script or style, so the
//!   server's `Content-Security-Policy` is `default-src 'self'` with no `unsafe-inline`.
//!
//! The HTTP handlers, sessions and CSRF live in `stele-server/src/viewer/`.

pub mod views;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// A page a view model renders as.
pub trait Page: Serialize {
    /// The template's name.
    const TEMPLATE: &'static str;
}

/// Why a page could not be rendered (a template bug; never user input).
#[derive(Debug, thiserror::Error)]
#[error("rendering {template}: {source}")]
pub struct RenderError {
    template: &'static str,
    #[source]
    source: minijinja::Error,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("invite.html", include_str!("../templates/invite.html")),
    ("events.html", include_str!("../templates/events.html")),
    ("live.html", include_str!("../templates/live.html")),
    ("event_row.html", include_str!("../templates/event_row.html")),
    ("event.html", include_str!("../templates/event.html")),
    ("scim_logs.html", include_str!("../templates/scim_logs.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("export.html", include_str!("../templates/export.html")),
    ("integrity.html", include_str!("../templates/integrity.html")),
    ("admin_tabs.html", include_str!("../templates/admin_tabs.html")),
    ("admin_members.html", include_str!("../templates/admin_members.html")),
    ("admin_keys.html", include_str!("../templates/admin_keys.html")),
    ("admin_scim.html", include_str!("../templates/admin_scim.html")),
    ("admin_sso.html", include_str!("../templates/admin_sso.html")),
    ("admin_streams.html", include_str!("../templates/admin_streams.html")),
    ("admin_stream_edit.html", include_str!("../templates/admin_stream_edit.html")),
    ("stream_settings.html", include_str!("../templates/stream_settings.html")),
    ("admin_retention.html", include_str!("../templates/admin_retention.html")),
    ("events_summary.html", include_str!("../templates/events_summary.html")),
];

/// The compiled templates.
pub struct Viewer {
    env: Environment<'static>,
}

impl Viewer {
    /// Compiles every template. Fails only on a template syntax error (a build defect,
    /// which the crate's tests catch).
    pub fn new() -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_global("asset_version", ASSET_VERSION);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|source| RenderError { template: name, source })?;
        }
        Ok(Self { env })
    }

    /// Renders a page.
    pub fn render<P: Page>(&self, page: &P) -> Result<String, RenderError> {
        let wrap = |source| RenderError { template: P::TEMPLATE, source };
        self.env.get_template(P::TEMPLATE).map_err(wrap)?.render(page).map_err(wrap)
    }
}

/// An embedded static file: its bytes and content type.
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
}

/// The static file served at `/assets/{name}`, if there is one.
pub fn asset(name: &str) -> Option<Asset> {
    let (body, content_type): (&'static [u8], _) = match name {
        "app.css" => (include_bytes!("../assets/app.css"), "text/css; charset=utf-8"),
        "app.js" => (include_bytes!("../assets/app.js"), "text/javascript; charset=utf-8"),
        "verify.js" => (include_bytes!("../assets/verify.js"), "text/javascript; charset=utf-8"),
        "favicon.svg" => (include_bytes!("../assets/favicon.svg"), "image/svg+xml"),
        _ => return None,
    };
    Some(Asset { body, content_type })
}

/// The assets' version, for cache-busting query strings (changes with the crate version).
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests;
