//! List and search parameters (RFC 7644 §3.4.2, §3.4.3), sorting and the ListResponse.
//!
//! Parameters arrive as query strings (`GET /Users?filter=...&startIndex=1&count=100`) or
//! in a `POST /Users/.search` body; both become one [`ListParams`]. Out-of-range numbers are
//! clamped as RFC 7644 §3.4.2.4 says: `startIndex` below 1 is 1, a negative `count` is 0.
//! A `count` above the advertised `filter.maxResults` is capped to it (the RFC lets a
//! service provider return fewer results than asked; Okta and Entra page by `count=100`
//! and follow `totalResults`), and an absent `count` means that maximum. Text that is not
//! an integer is 400 `invalidValue`.
//!
//! Sorting ([`sort_resources`]) is stable, compares like filters do (case-insensitively for
//! `caseExact=false` attributes, instants for date-times), takes the primary value (else the
//! first) of a multi-valued attribute, and puts resources without a value last in both orders.

use std::cmp::Ordering;

use serde_json::{json, Value};
use stele_core::Timestamp;

use crate::error::ScimError;
use crate::filter::ScimFilter;
use crate::resource::{container, get_ci};
use crate::schema::{resolve, AttrPath, AttrType, ResourceKind};

/// The ListResponse message schema.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The SearchRequest message schema (`POST .search`).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// `sortOrder`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// The raw query parameters, as the server found them (already percent-decoded).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListQuery<'a> {
    pub filter: Option<&'a str>,
    pub start_index: Option<&'a str>,
    pub count: Option<&'a str>,
    pub sort_by: Option<&'a str>,
    pub sort_order: Option<&'a str>,
    pub attributes: Option<&'a str>,
    pub excluded_attributes: Option<&'a str>,
}

/// Checked list parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filter: Option<ScimFilter>,
    /// 1-based index of the first result.
    pub start_index: usize,
    /// Most resources to return (already capped).
    pub count: usize,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
}

impl ListParams {
    /// Parses query parameters for a resource type; `max_results` is the advertised
    /// `filter.maxResults`.
    pub fn parse(kind: ResourceKind, q: &ListQuery<'_>, max_results: usize) -> Result<ListParams, ScimError> {
        let filter = match q.filter.map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(ScimFilter::parse(text, kind)?),
        };
        let start_index = match q.start_index {
            None => 1,
            Some(s) => clamp(integer("startIndex", s)?, 1, i64::MAX),
        };
        let count = match q.count {
            None => max_results,
            Some(s) => clamp(integer("count", s)?, 0, i64::MAX).min(max_results),
        };
        let sort_by = match q.sort_by.map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(resolve(kind, name).map_err(|m| ScimError::invalid_value(format!("sortBy: {m}")))?),
        };
        let sort_order = match q.sort_order.map(str::trim) {
            None | Some("") => SortOrder::Ascending,
            Some(o) if o.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(o) if o.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(o) => {
                return Err(ScimError::invalid_value(format!("sortOrder must be ascending or descending, not {o:?}")))
            }
        };
        Ok(ListParams {
            filter,
            start_index,
            count,
            sort_by,
            sort_order,
            attributes: names(q.attributes),
            excluded_attributes: names(q.excluded_attributes),
        })
    }

    /// Parses a `POST .search` body (RFC 7644 §3.4.3): the same members, with numbers as
    /// JSON numbers (strings accepted) and attribute lists as arrays (a comma-separated
    /// string accepted). `schemas`, when present, must contain the SearchRequest URN.
    pub fn from_search_body(kind: ResourceKind, body: &Value, max_results: usize) -> Result<ListParams, ScimError> {
        let obj =
            body.as_object().ok_or_else(|| ScimError::invalid_syntax("a search request must be a JSON object"))?;
        if let Some(schemas) = obj.get("schemas") {
            let ok = schemas.as_array().is_some_and(|s| {
                s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA)))
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!("schemas must contain {SEARCH_REQUEST_SCHEMA}")));
            }
        }
        let get = |name: &str| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Array(items)) => {
                    let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    strings
                        .map(|s| Some(s.join(",")))
                        .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an array of strings")))
                }
                Some(_) => Err(ScimError::invalid_value(format!("{name} has the wrong type"))),
            }
        };
        let (filter, start, count) = (text("filter")?, text("startIndex")?, text("count")?);
        let (sort_by, sort_order) = (text("sortBy")?, text("sortOrder")?);
        let (attributes, excluded) = (text("attributes")?, text("excludedAttributes")?);
        let q = ListQuery {
            filter: filter.as_deref(),
            start_index: start.as_deref(),
            count: count.as_deref(),
            sort_by: sort_by.as_deref(),
            sort_order: sort_order.as_deref(),
            attributes: attributes.as_deref(),
            excluded_attributes: excluded.as_deref(),
        };
        ListParams::parse(kind, &q, max_results)
    }

    /// The number of resources to skip: `startIndex - 1`.
    pub fn offset(&self) -> usize {
        self.start_index.saturating_sub(1)
    }
}

/// An integer parameter; integers too large for i64 saturate, anything else is refused.
fn integer(name: &str, text: &str) -> Result<i64, ScimError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return Ok(if t.starts_with('-') { i64::MIN } else { i64::MAX });
    }
    Err(ScimError::invalid_value(format!("{name} must be an integer, not {text:?}")))
}

fn clamp(n: i64, lo: i64, hi: i64) -> usize {
    usize::try_from(n.clamp(lo, hi)).unwrap_or(usize::MAX)
}

fn names(list: Option<&str>) -> Vec<String> {
    list.map(|l| l.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

/// A value to sort by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Bool(bool),
    Number(f64),
    Time(Timestamp),
    /// Lowercased for `caseExact=false` attributes.
    Text(String),
}

impl SortKey {
    fn cmp_key(&self, other: &SortKey) -> Ordering {
        match (self, other) {
            (SortKey::Bool(a), SortKey::Bool(b)) => a.cmp(b),
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Time(a), SortKey::Time(b)) => a.cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Number(_) => 1,
            SortKey::Time(_) => 2,
            SortKey::Text(_) => 3,
        }
    }
}

/// The sort key of a rendered resource for a path (primary value, else the first, of a
/// multi-valued attribute).
pub fn sort_key(resource: &Value, path: &AttrPath) -> Option<SortKey> {
    let mut top = container(resource, path).and_then(|c| {
        c.get(path.attr.name).or_else(|| c.iter().find(|(k, _)| k.eq_ignore_ascii_case(path.attr.name)).map(|(_, v)| v))
    })?;
    if let Value::Array(items) = top {
        top = items.iter().find(|i| i.get("primary") == Some(&Value::Bool(true))).or_else(|| items.first())?;
    }
    let leaf_value = match (path.sub.or_else(|| path.attr.value_sub()), top) {
        (Some(sub), Value::Object(_)) => get_ci(top, sub.name)?,
        (_, v) => v,
    };
    let def = path.sub.or_else(|| path.attr.value_sub()).unwrap_or(path.attr);
    match leaf_value {
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        Value::Number(n) => n.as_f64().map(SortKey::Number),
        Value::String(s) if def.ty == AttrType::DateTime => {
            Some(Timestamp::parse(s).map(SortKey::Time).unwrap_or_else(|_| SortKey::Text(s.clone())))
        }
        Value::String(s) if def.case_exact => Some(SortKey::Text(s.clone())),
        Value::String(s) => Some(SortKey::Text(s.to_lowercase())),
        _ => None,
    }
}

/// Sorts rendered resources by a path (stable; resources without a value last).
pub fn sort_resources(resources: &mut [Value], path: &AttrPath, order: SortOrder) {
    resources.sort_by_cached_key(|r| KeyOrd(sort_key(r, path), order));
}

/// Orders keys for [`sort_resources`]: missing last, direction applied to present keys.
#[derive(PartialEq)]
struct KeyOrd(Option<SortKey>, SortOrder);

impl Eq for KeyOrd {}

impl PartialOrd for KeyOrd {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyOrd {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => match self.1 {
                SortOrder::Ascending => a.cmp_key(b),
                SortOrder::Descending => b.cmp_key(a),
            },
        }
    }
}

/// A ListResponse (RFC 7644 §3.4.2): `itemsPerPage` is the number of resources given.
pub fn list_response(total_results: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total_results,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
