//! The one query model every reader goes through (native API, profiles, viewer, export).
//!
//! `Query { range, sort, page, limit }` — the filter and text parts of the brief's §4 model
//! join this struct with the query-language work; the shape here is what they extend.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::timestamp::Timestamp;

/// Why a query parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("limit must be between 1 and {max}")]
    Limit { max: u32 },
    #[error("cursor is not one this server issued, or was issued for another sort order")]
    Cursor,
    #[error("from must be before to")]
    EmptyRange,
}

/// `[from, to)`; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl TimeRange {
    pub fn new(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<Self, QueryError> {
        match (from, to) {
            (Some(f), Some(t)) if f >= t => Err(QueryError::EmptyRange),
            _ => Ok(Self { from, to }),
        }
    }
}

/// A page size, 1..=MAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const MAX: u32 = 1000;
    pub const DEFAULT: Limit = Limit(50);

    pub fn new(n: u32) -> Result<Self, QueryError> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(QueryError::Limit { max: Self::MAX })
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PageRequest {
    #[default]
    First,
    /// Keyset continuation: the rows strictly after the cursor's row in sort order.
    After(Cursor),
    /// Skip this many rows (for page-numbered profiles; costs O(offset)).
    Offset(u64),
}

/// Keyset position: the sort-key values and `seq` of the last row of a page, bound to the
/// sort order it was issued for. Opaque to clients (base64url of JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "v")]
    pub values: Vec<Value>,
    #[serde(rename = "q")]
    pub seq: u64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a cursor and checks it was issued for `sort`.
    pub fn decode(text: &str, sort: &str) -> Result<Self, QueryError> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| QueryError::Cursor)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| QueryError::Cursor)?;
        if cursor.sort == sort {
            Ok(cursor)
        } else {
            Err(QueryError::Cursor)
        }
    }
}

/// The sort orders a query can ask for. Ties are always broken by `seq` in the same
/// direction, so every order is total and keyset pages never skip or repeat a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first: `-time`, then `-seq`.
    #[default]
    TimeDesc,
    /// Oldest first: `time`, then `seq`.
    TimeAsc,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "-time" => Some(Sort::TimeDesc),
            "time" | "+time" => Some(Sort::TimeAsc),
            _ => None,
        }
    }

    /// The canonical text form, also what cursors are bound to.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::TimeDesc => "-time",
            Sort::TimeAsc => "time",
        }
    }

    pub fn descending(self) -> bool {
        matches!(self, Sort::TimeDesc)
    }
}

/// A read of one tenant's log (the tenant is passed beside it, already authorised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub range: TimeRange,
    pub sort: Sort,
    pub page: PageRequest,
    pub limit: Limit,
}

impl Default for Query {
    fn default() -> Self {
        Self { range: TimeRange::default(), sort: Sort::default(), page: PageRequest::First, limit: Limit::DEFAULT }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_binding() {
        let c = Cursor { sort: "-time".into(), values: vec![Value::from(17)], seq: 9 };
        let text = c.encode();
        assert_eq!(Cursor::decode(&text, "-time"), Ok(c));
        assert_eq!(Cursor::decode(&text, "time"), Err(QueryError::Cursor));
        assert_eq!(Cursor::decode("not-a-cursor!", "-time"), Err(QueryError::Cursor));
    }

    #[test]
    fn limits_and_ranges() {
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(1001).is_err());
        assert_eq!(Limit::new(1000).map(Limit::get), Ok(1000));
        let t = Timestamp::from_micros(5);
        assert_eq!(TimeRange::new(Some(t), Some(t)), Err(QueryError::EmptyRange));
    }
}
