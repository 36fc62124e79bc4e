//! The URL this server was reached at, for links it hands out (invite URLs, SCIM base URLs,
//! embed links, the OpenID Connect redirect): `X-Forwarded-Proto` (only `https` counts) and
//! `Host` of the request, unless `[viewer] public_url` names it.

use axum::http::{header, HeaderMap};

/// `proto://host` of the request, or the configured public URL (without a trailing `/`).
pub fn base(configured: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(url) = configured.map(|u| u.trim_end_matches('/')).filter(|u| !u.is_empty()) {
        return url.to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    let proto = if proto == "https" { "https" } else { "http" };
    format!("{proto}://{host}")
}
