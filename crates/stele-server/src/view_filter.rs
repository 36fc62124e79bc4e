//! Key view filters: a filter expression AND-ed into every read a key makes (e.g. a reseller
//! key that sees only its customers' events). A view filter is stored as its JSON AST, not as
//! text, so reading it back never depends on text bounds or re-parsing.

use stele_core::filter::parse as parse_filter;
use stele_core::Expr;

use crate::auth::Principal;
use crate::error::ApiError;

/// The view filter of the calling key, if it has one.
pub fn of(principal: &Principal) -> Result<Option<Expr>, ApiError> {
    match principal {
        Principal::Key(k) => k.view_filter.as_deref().map(stored).transpose().map_err(|e| {
            tracing::error!(key = %k.id, error = %e, "stored view filter is unreadable");
            ApiError::internal()
        }),
        Principal::Operator => Ok(None),
    }
}

/// `filter` restricted to what the caller may read: AND-ed with the calling key's view
/// filter (every read path, native or profile, goes through this).
pub fn restrict(principal: &Principal, filter: Option<Expr>) -> Result<Option<Expr>, ApiError> {
    Ok(match (of(principal)?, filter) {
        (Some(view), Some(user)) => Some(Expr::and(view, user)),
        (view, user) => view.or(user),
    })
}

/// The view filter stored for a key being created by `creator`: the requested filter,
/// validated, AND-ed with the creator's own (a key cannot see more than the key that made it).
/// Stored in canonical form.
pub fn check_new(creator: &Principal, requested: Option<String>) -> Result<Option<String>, ApiError> {
    let requested = requested
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(parse_filter)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-filter", format!("view_filter: {e}")))?;
    let combined = match (of(creator)?, requested) {
        (Some(a), Some(b)) => Some(Expr::and(a, b)),
        (a, b) => a.or(b),
    };
    combined.map(|e| serde_json::to_string(&e)).transpose().map_err(|_| ApiError::internal())
}

/// A stored view filter (JSON AST).
pub fn stored(json: &str) -> Result<Expr, serde_json::Error> {
    serde_json::from_str(json)
}

/// A stored view filter as filter text, for showing.
pub fn display(json: &str) -> String {
    stored(json).map(|e| e.to_string()).unwrap_or_else(|_| "<unreadable>".to_owned())
}
