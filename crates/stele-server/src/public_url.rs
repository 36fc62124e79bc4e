//! The URL this server was reached at, for links it hands out (invite URLs, SCIM base URLs,
//! embed links, the OpenID Connect redirect): `X-Forwarded-Proto` (only `https` counts) and
//! `Host` of the request, unless `[viewer] public_url` names it.

use axum::http::{header, HeaderMap};

/// `proto://host` of the request, or the configured public URL (without a trailing `/`).
pub fn base(state: &crate::state::AppState, headers: &HeaderMap) -> String {
    base_of(state.viewer.settings.public_url.as_deref(), headers)
}

fn base_of(configured: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(url) = configured.map(|u| u.trim_end_matches('/')).filter(|u| !u.is_empty()) {
        return url.to_owned();
    }
    // A Host that is not a plain host[:port] is not echoed into links.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255 && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)))
        .unwrap_or("localhost");
    let https = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) == Some("https");
    format!("{}://{host}", if https { "https" } else { "http" })
}
