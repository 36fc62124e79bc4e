//! The one query model every reader goes through (native API, profiles, viewer, export).
//!
//! `Query { range, filter, text, sort, page, limit }` — brief §4. Projection (`fields=`) is
//! applied to the answer by [`crate::project`], after the store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::filter::{Attr, Filter, ViewFilter};
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
    #[error("{0:?} is not a sort order; use a single-valued attribute such as -time, action or actor.email")]
    Sort(String),
    #[error("at most 16 words of at most 128 characters each")]
    Text,
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

/// A sort order: one single-valued attribute, ascending or descending. Ties are always
/// broken by `seq` in the same direction, so every order is total and keyset pages never
/// skip or repeat a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub attr: Attr,
    pub descending: bool,
}

impl Default for Sort {
    /// Newest first.
    fn default() -> Self {
        Self { attr: Attr::Time, descending: true }
    }
}

impl Sort {
    /// `-time`, `time`, `+actor.name`, `request.status_code`…
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let (descending, name) = match text.trim() {
            t if t.starts_with('-') => (true, &t[1..]),
            t if t.starts_with('+') => (false, &t[1..]),
            t => (false, t),
        };
        let bad = || QueryError::Sort(text.to_owned());
        let attr: Attr = name.parse().map_err(|_| bad())?;
        if attr.is_multi() || matches!(attr, Attr::Context(_) | Attr::Metadata(_)) {
            return Err(bad());
        }
        Ok(Self { attr, descending })
    }

    /// The canonical text form, also what cursors are bound to.
    pub fn as_text(&self) -> String {
        format!("{}{}", if self.descending { "-" } else { "" }, self.attr.name())
    }

    /// Whether the sort key is an integer (time, seq, status code) rather than text.
    pub fn is_integer(&self) -> bool {
        matches!(self.attr, Attr::Time | Attr::ReceivedAt | Attr::Seq | Attr::RequestStatusCode)
    }

    /// Decodes a cursor issued for this sort order and checks its key has the right type.
    pub fn decode_cursor(&self, text: &str) -> Result<Cursor, QueryError> {
        let cursor = Cursor::decode(text, &self.as_text())?;
        let ok = match cursor.values.as_slice() {
            [Value::Number(n)] => self.is_integer() && n.is_i64(),
            [Value::String(_)] => !self.is_integer(),
            [Value::Null] => !matches!(self.attr, Attr::Time | Attr::ReceivedAt | Attr::Seq),
            _ => false,
        };
        if ok && cursor.seq > 0 && cursor.seq <= i64::MAX as u64 {
            Ok(cursor)
        } else {
            Err(QueryError::Cursor)
        }
    }
}

/// Words to find (all of them) in an event's message, action, actor, targets and reason.
/// A word ending in `*` matches as a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery(Vec<String>);

impl TextQuery {
    pub const MAX_WORDS: usize = 16;

    /// `None` for a blank query.
    pub fn parse(text: &str) -> Result<Option<Self>, QueryError> {
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        if words.len() > Self::MAX_WORDS || words.iter().any(|w| w.chars().count() > 128) {
            return Err(QueryError::Text);
        }
        Ok((!words.is_empty()).then_some(Self(words)))
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }
}

/// A read of one tenant's log (the tenant is passed beside it, already authorised).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub range: TimeRange,
    /// The reader's access boundary (its key's view filter, a CloudCockpit reseller claim):
    /// AND-ed into the read, with exact string comparisons ([`ViewFilter`]).
    pub view: Option<ViewFilter>,
    /// What the reader asked for: bounded, strings compared case-insensitively.
    pub filter: Option<Filter>,
    pub text: Option<TextQuery>,
    pub sort: Sort,
    pub page: PageRequest,
    pub limit: Limit,
}

impl Query {
    /// Whether the query matches every event of the tenant (no range, view, filter or
    /// words): its count is then the tenant's log size, which the store knows without
    /// counting rows (a log is gapless, and a redacted event stays as its tombstone).
    pub fn matches_everything(&self) -> bool {
        self.range.from.is_none()
            && self.range.to.is_none()
            && self.view.is_none()
            && self.filter.is_none()
            && self.text.is_none()
    }
}

impl Default for Limit {
    fn default() -> Self {
        Limit::DEFAULT
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
    fn sorts_and_typed_cursors() {
        let sort = Sort::parse("-time").expect("sort");
        assert_eq!(sort, Sort::default());
        assert_eq!(Sort::parse("+Actor.Email").expect("sort").as_text(), "actor.email");
        for bad in ["target.id", "context.x", "metadata.a", "nope", "--time"] {
            assert!(Sort::parse(bad).is_err(), "{bad}");
        }
        let good = Cursor { sort: "-time".into(), values: vec![Value::from(5)], seq: 3 }.encode();
        assert!(sort.decode_cursor(&good).is_ok());
        for values in [vec![Value::from("x")], vec![], vec![Value::from(1.5)], vec![Value::Null]] {
            let forged = Cursor { sort: "-time".into(), values, seq: 3 }.encode();
            assert_eq!(sort.decode_cursor(&forged), Err(QueryError::Cursor));
        }
        let by_name = Sort::parse("actor.name").expect("sort");
        let null_key = Cursor { sort: "actor.name".into(), values: vec![Value::Null], seq: 3 }.encode();
        assert!(by_name.decode_cursor(&null_key).is_ok());
    }

    #[test]
    fn text_queries() {
        assert_eq!(TextQuery::parse("  ").expect("blank"), None);
        assert_eq!(TextQuery::parse("ana  created").expect("words").map(|t| t.words().len()), Some(2));
        assert!(TextQuery::parse(&"w ".repeat(17)).is_err());
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
