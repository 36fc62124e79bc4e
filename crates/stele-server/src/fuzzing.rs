//! The request parsers the fuzz targets (`fuzz/`, a workspace of its own) drive, named here
//! for them alone: not an API. Each is the function its route calls, unchanged.

/// Losant's list parameters and its `auditLogFilter` bracket notation.
pub mod losant {
    pub use crate::profiles::losant::filter::{is_filter_param, parse as parse_filter};
    pub use crate::profiles::losant::{parse_list, Failure, ListParams};
}

/// OneUptime's request body (`query`, `select`, `sort`, `skip`, `limit`).
pub mod oneuptime {
    pub use crate::profiles::oneuptime::request::{body, filter, paging, select, sort};
    pub use crate::routes::query::MAX_OFFSET;
}

/// CloudCockpit's query parameters and continuation token.
pub mod cloudcockpit {
    pub use crate::profiles::cloudcockpit::auth::Role;
    pub use crate::profiles::cloudcockpit::{continuation, parse, Failure, Pairs, Parsed};
}

/// A Retraced publisher event, its native form and Retraced's hash of it.
pub mod retraced {
    pub use crate::profiles::retraced::hash::hash;
    pub use crate::profiles::retraced::input::{parse_event, to_native, Named, RetracedEvent};
}
