//! Key view filters: the access boundary of a key (e.g. a reseller key that sees only its
//! customers' events). A view is a [`ViewFilter`] (`stele-core`): it goes into every read the
//! key makes as [`Query::view`] (compared exactly, apart from the user's case-insensitive
//! filter) and every event the key writes must match it. It is stored as its JSON AST, not as
//! text, so reading it back never depends on text bounds or re-parsing.
//!
//! Every read path (native API, export, profiles) builds its `Query` from [`query`], which
//! sets the view; `tests/it/views.rs` walks every read route with a filtered key.

use stele_core::{Event, Filter, Query, ViewFilter};

use crate::auth::Principal;
use crate::error::ApiError;

/// The view filter of the calling key, if it has one.
pub fn of(principal: &Principal) -> Result<Option<ViewFilter>, ApiError> {
    match principal {
        Principal::Key(k) => k.view_filter.as_deref().map(stored).transpose().map_err(|e| {
            tracing::error!(key = %k.id, error = %e, "stored view filter is unreadable");
            ApiError::internal()
        }),
        Principal::Operator => Ok(None),
    }
}

/// A query of what the caller may read: its view, and the caller's own (bounded) filter.
/// Set the other fields with `Query { range, sort, ..view_filter::query(…)? }`.
pub fn query(principal: &Principal, filter: Option<Filter>) -> Result<Query, ApiError> {
    Ok(Query { view: of(principal)?, filter, ..Query::default() })
}

/// The view filter stored for a key being created by `creator`: the requested filter, checked
/// as a view, AND-ed with the creator's own (a key cannot see more than the key that made it).
pub fn check_new(creator: &crate::audit::By<'_>, requested: Option<String>) -> Result<Option<ViewFilter>, ApiError> {
    let requested = requested
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(ViewFilter::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-filter", format!("view_filter: {e}")))?;
    Ok(match (creator.view()?, requested) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    })
}

/// Whether `principal` may see and manage a key with view `theirs`: an unfiltered caller any,
/// a filtered one only keys whose view is at least as narrow as its own.
pub fn manages(principal: &Principal, theirs: Option<&str>) -> Result<bool, ApiError> {
    let Some(own) = of(principal)? else { return Ok(true) };
    let theirs = theirs.map(stored).transpose().map_err(|_| ApiError::internal())?;
    Ok(own.covers(theirs.as_ref()))
}

/// Refuses events a filtered key may not write: each must match the key's view. `index` is
/// the event's position in the request, for the error.
pub fn check_write(view: Option<&ViewFilter>, index: usize, batch: bool, event: &Event) -> Result<(), ApiError> {
    match view {
        Some(view) if !view.matches(event) => {
            let at = if batch { format!("events[{index}]") } else { "event".to_owned() };
            Err(ApiError::bad_request(
                "outside-view",
                format!(
                    "{at}: outside the key's view filter ({view}); a filtered key writes only events it could read"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// A stored view filter (JSON AST).
pub fn stored(json: &str) -> Result<ViewFilter, serde_json::Error> {
    ViewFilter::from_stored(json)
}

/// A stored view filter as filter text, for showing.
pub fn display(json: &str) -> String {
    stored(json).map(|e| e.to_string()).unwrap_or_else(|_| "<unreadable>".to_owned())
}
