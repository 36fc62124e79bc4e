//! Key view filters: a filter expression AND-ed into every read a key makes.
//!
//! The filter language is not part of this build yet, so a view filter cannot be enforced;
//! rather than store one that reads would ignore, key creation refuses it.

use crate::auth::Principal;
use crate::error::ApiError;

/// Validates the view filter of a key being created by `creator`.
pub fn check_new(creator: &Principal, requested: Option<String>) -> Result<Option<String>, ApiError> {
    let _ = creator;
    match requested {
        None => Ok(None),
        Some(_) => Err(ApiError::bad_request(
            "unsupported",
            "view_filter: view filters need the filter language, which this build does not have yet",
        )),
    }
}
