//! SCIM filters (RFC 7644 §3.4.2.2) with their own AST, parsed by stele-core's one filter
//! parser (`stele_core::filter::parse_with`) through a [`Vocabulary`] that resolves SCIM
//! attribute names against the schemas. The grammar, string and number rules, positions and
//! bounds (4096 characters, 32 levels) are therefore the event filters'; what differs is here:
//!
//! - names are schema attributes, case-insensitive, optionally URN-qualified
//!   (`urn:ietf:params:scim:schemas:core:2.0:User:userName`) or with a sub-attribute
//!   (`name.familyName`, `meta.lastModified`);
//! - value paths `emails[type eq "work" and value co "@example.com"]` (not nested; the
//!   names inside are sub-attributes of the outer attribute);
//! - a complex attribute with a `value` sub-attribute compares as that sub-attribute
//!   (`members eq "id"` is `members.value eq "id"`, `emails co "@x"` is `emails.value co "@x"`).
//!
//! # Type rules (400 `invalidFilter` otherwise)
//!
//! strings and references compare with strings; `dateTime` attributes with an RFC 3339
//! string (compared as instants; `co sw ew` refused); booleans only with `eq`/`ne` and
//! `true`/`false`; `eq null`/`ne null` everywhere (absent / present).
//!
//! # Matching ([`ScimFilter::matches`], on the rendered resource)
//!
//! - `caseExact=false` attributes (`userName`, `displayName`, `emails.value`, ...) compare
//!   case-insensitively (Unicode lowercase), `caseExact=true` ones (`id`, `externalId`,
//!   `members.value`) exactly; `gt ge lt le` on strings are lexicographic on those forms.
//! - A multi-valued attribute matches when any value matches; `ne` is `not eq` (a missing
//!   value is "not equal"), as `not` is in event filters.
//! - `pr`: present and not null, `""`, `[]` or `{}`.
//!
//! # Index lookups
//!
//! [`ScimFilter::lookup`] finds `userName eq`, `id eq`, `externalId eq` or `displayName eq`
//! alone or as a conjunct of a top-level `and`, so the store can fetch candidates by index
//! and run [`ScimFilter::matches`] on each: the lookup only narrows, never decides.

use serde_json::Value as Json;
use stele_core::filter::{
    parse_with, CompareOp, Culprit, Value, Vocabulary, MAX_FILTER_LITERAL_CHARS, MAX_FILTER_TERMS,
};
use stele_core::Timestamp;

use crate::error::ScimError;
use crate::resource::{container, get_ci};
use crate::schema::{resolve, AttrDef, AttrPath, AttrType, ResourceKind};

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ScimFilter {
    And(Vec<ScimFilter>),
    Or(Vec<ScimFilter>),
    Not(Box<ScimFilter>),
    /// `path pr`.
    Present(AttrPath),
    /// `path op value`; inside a value path, `path` has the outer attribute and a sub-attribute.
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `path[filter]`: some value of the multi-valued (or complex) attribute matches `filter`.
    ValuePath {
        path: AttrPath,
        filter: Box<ScimFilter>,
    },
}

/// An equality the store can answer from an index (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `userName eq`, case-insensitive.
    UserName(String),
    /// `externalId eq`, case-exact.
    ExternalId(String),
    /// `id eq`, case-exact.
    Id(String),
    /// `displayName eq`, case-insensitive.
    DisplayName(String),
}

impl Lookup {
    /// Whether the indexed column compares exactly (`id`, `externalId`) rather than
    /// case-insensitively (`userName`, `displayName`).
    pub fn case_exact(&self) -> bool {
        matches!(self, Lookup::Id(_) | Lookup::ExternalId(_))
    }
}

/// The SCIM vocabulary for stele-core's parser.
struct ScimVocabulary {
    kind: ResourceKind,
}

impl Vocabulary for ScimVocabulary {
    type Attr = AttrPath;
    type Expr = ScimFilter;
    const VALUE_PATHS: bool = true;

    fn attr(&self, name: &str, scope: Option<&AttrPath>) -> Result<AttrPath, String> {
        match scope {
            None => resolve(self.kind, name),
            Some(outer) if outer.sub.is_some() || outer.attr.ty != AttrType::Complex => {
                Err(format!("{} has no sub-attributes to filter on", outer.canonical()))
            }
            Some(outer) => match outer.attr.sub(name) {
                Some(sub) => Ok(AttrPath { sub: Some(sub), ..*outer }),
                None => Err(format!("unknown attribute {name:?} in {}", outer.canonical())),
            },
        }
    }

    fn present(&self, attr: AttrPath) -> Result<ScimFilter, String> {
        Ok(ScimFilter::Present(attr))
    }

    fn compare(&self, path: AttrPath, op: CompareOp, value: Value) -> Result<ScimFilter, (Culprit, String)> {
        let path = match (path.sub, path.attr.value_sub()) {
            (None, Some(value_sub)) => AttrPath { sub: Some(value_sub), ..path },
            _ => path,
        };
        let leaf = path.leaf();
        let name = path.canonical();
        let on_op = |m: String| Err((Culprit::Operator, m));
        let on_value = |m: String| Err((Culprit::Value, m));
        if leaf.ty == AttrType::Complex {
            return on_op(format!("{name} is a complex attribute: compare one of its sub-attributes"));
        }
        let value = match (leaf.ty, value) {
            (_, Value::Null) if matches!(op, CompareOp::Eq | CompareOp::Ne) => Value::Null,
            (_, Value::Null) => return on_value(format!("{op} cannot compare with null")),
            (AttrType::Boolean, Value::Bool(b)) if matches!(op, CompareOp::Eq | CompareOp::Ne) => Value::Bool(b),
            (AttrType::Boolean, Value::Bool(_)) => return on_op(format!("{name} supports only eq, ne and pr")),
            (AttrType::Boolean, _) => return on_value(format!("{name} compares only with true or false")),
            (AttrType::DateTime, _) if op.is_substring() => return on_op(format!("{op} cannot be used with {name}")),
            (AttrType::DateTime, Value::String(s)) => match Timestamp::parse(&s) {
                Ok(t) => Value::Time(t),
                Err(_) => return on_value(format!("{name} compares only with an RFC 3339 date-time string")),
            },
            (AttrType::DateTime, _) => {
                return on_value(format!("{name} compares only with an RFC 3339 date-time string"))
            }
            (AttrType::Integer | AttrType::Decimal, _) if op.is_substring() => {
                return on_op(format!("{op} cannot be used with {name}"))
            }
            (AttrType::Integer | AttrType::Decimal, v @ (Value::Int(_) | Value::Float(_))) => v,
            (AttrType::Integer | AttrType::Decimal, _) => {
                return on_value(format!("{name} compares only with a number"))
            }
            (_, Value::String(s)) => Value::String(s),
            (_, _) => return on_value(format!("{name} compares only with a string")),
        };
        Ok(ScimFilter::Compare { path, op, value })
    }

    fn and(&self, items: Vec<ScimFilter>) -> ScimFilter {
        ScimFilter::And(flatten(items, true))
    }

    fn or(&self, items: Vec<ScimFilter>) -> ScimFilter {
        ScimFilter::Or(flatten(items, false))
    }

    fn not(&self, inner: ScimFilter) -> ScimFilter {
        ScimFilter::Not(Box::new(inner))
    }

    fn value_path(&self, path: AttrPath, inner: ScimFilter) -> Result<ScimFilter, String> {
        if path.sub.is_some() || path.attr.ty != AttrType::Complex {
            return Err(format!("{} has no sub-attributes to filter on", path.canonical()));
        }
        Ok(ScimFilter::ValuePath { path, filter: Box::new(inner) })
    }

    fn name_char(&self, c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '$')
    }
}

fn flatten(items: Vec<ScimFilter>, and: bool) -> Vec<ScimFilter> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match (item, and) {
            (ScimFilter::And(inner), true) | (ScimFilter::Or(inner), false) => out.extend(inner),
            (item, _) => out.push(item),
        }
    }
    out
}

impl ScimFilter {
    /// Parses a filter for a resource type: 400 `invalidFilter` with the parser's message
    /// and 1-based position (`filter: unknown attribute "nope" at 1`).
    pub fn parse(text: &str, kind: ResourceKind) -> Result<ScimFilter, ScimError> {
        let filter =
            parse_with(&ScimVocabulary { kind }, text).map_err(|e| ScimError::invalid_filter(e.to_string()))?;
        let (terms, chars) = filter.size();
        if terms > MAX_FILTER_TERMS {
            return Err(ScimError::invalid_filter(format!("filter: more than {MAX_FILTER_TERMS} comparisons")));
        }
        if chars > MAX_FILTER_LITERAL_CHARS {
            return Err(ScimError::invalid_filter(format!(
                "filter: string values longer than {MAX_FILTER_LITERAL_CHARS} characters in all"
            )));
        }
        Ok(filter)
    }

    /// Comparisons (and `pr`) and characters of string literals.
    fn size(&self) -> (usize, usize) {
        match self {
            ScimFilter::And(items) | ScimFilter::Or(items) => {
                items.iter().map(ScimFilter::size).fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
            }
            ScimFilter::Not(inner) => inner.size(),
            ScimFilter::ValuePath { filter, .. } => filter.size(),
            ScimFilter::Present(_) => (1, 0),
            ScimFilter::Compare { value: Value::String(s), .. } => (1, s.chars().count()),
            ScimFilter::Compare { .. } => (1, 0),
        }
    }

    /// Whether a rendered resource (as [`crate::resource::render_user`] gives it) matches.
    pub fn matches(&self, resource: &Json) -> bool {
        self.eval(resource, None)
    }

    /// Whether one value of a multi-valued attribute matches the inner filter of a value
    /// path (PATCH `emails[type eq "work"]`).
    pub(crate) fn matches_element(&self, element: &Json) -> bool {
        self.eval(&Json::Null, Some(element))
    }

    fn eval(&self, resource: &Json, element: Option<&Json>) -> bool {
        match self {
            ScimFilter::And(items) => items.iter().all(|f| f.eval(resource, element)),
            ScimFilter::Or(items) => items.iter().any(|f| f.eval(resource, element)),
            ScimFilter::Not(inner) => !inner.eval(resource, element),
            ScimFilter::Present(path) => values(resource, path, element).into_iter().any(is_present),
            ScimFilter::Compare { path, op, value } => {
                let vals = values(resource, path, element);
                match (op, value) {
                    (CompareOp::Eq, Value::Null) => !vals.into_iter().any(is_present),
                    (CompareOp::Ne, Value::Null) => vals.into_iter().any(is_present),
                    (CompareOp::Ne, _) => !vals.iter().any(|v| compare(v, path.leaf(), CompareOp::Eq, value)),
                    _ => vals.iter().any(|v| compare(v, path.leaf(), *op, value)),
                }
            }
            ScimFilter::ValuePath { path, filter } => {
                let items = match container(resource, path).and_then(|c| get_ci_map(c, path.attr.name)) {
                    Some(Json::Array(items)) => items.iter().collect(),
                    Some(one) => vec![one],
                    None => Vec::new(),
                };
                items.into_iter().any(|e| filter.eval(resource, Some(e)))
            }
        }
    }

    /// The index lookup the store may use first (see the module documentation).
    pub fn lookup(&self) -> Option<Lookup> {
        match self {
            ScimFilter::Compare { path, op: CompareOp::Eq, value: Value::String(s) } => {
                let s = s.clone();
                [
                    ("id", Lookup::Id as fn(String) -> Lookup),
                    ("userName", Lookup::UserName),
                    ("externalId", Lookup::ExternalId),
                    ("displayName", Lookup::DisplayName),
                ]
                .into_iter()
                .find(|(name, _)| path.is_core(name))
                .map(|(_, make)| make(s))
            }
            ScimFilter::And(items) => {
                let found: Vec<Lookup> = items.iter().filter_map(ScimFilter::lookup).collect();
                let rank = |l: &Lookup| match l {
                    Lookup::Id(_) => 0,
                    Lookup::UserName(_) => 1,
                    Lookup::ExternalId(_) => 2,
                    Lookup::DisplayName(_) => 3,
                };
                found.into_iter().min_by_key(rank)
            }
            _ => None,
        }
    }

    /// For a value path's inner filter: the `sub eq literal` terms of a conjunction of
    /// equalities, as the value they describe (`type eq "work"` → `{"type": "work"}`); `None`
    /// for any other filter. A PATCH `replace` that matches no value adds this one.
    pub(crate) fn as_new_value(&self) -> Option<serde_json::Map<String, Json>> {
        let mut out = serde_json::Map::new();
        let terms: Vec<&ScimFilter> = match self {
            ScimFilter::And(items) => items.iter().collect(),
            one => vec![one],
        };
        for term in terms {
            let ScimFilter::Compare { path, op: CompareOp::Eq, value } = term else { return None };
            let sub = path.sub?;
            let v = match value {
                Value::String(s) => Json::String(s.clone()),
                Value::Bool(b) => Json::Bool(*b),
                Value::Int(n) => Json::from(*n),
                Value::Float(x) => serde_json::Number::from_f64(*x).map(Json::Number)?,
                Value::Time(t) => Json::String(t.to_string()),
                Value::Null => return None,
            };
            out.insert(sub.name.to_owned(), v);
        }
        Some(out)
    }
}

fn get_ci_map<'a>(m: &'a serde_json::Map<String, Json>, key: &str) -> Option<&'a Json> {
    m.get(key).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The values a path names in a resource (or in one element of a value path), arrays
/// flattened, nulls skipped.
fn values<'a>(resource: &'a Json, path: &AttrPath, element: Option<&'a Json>) -> Vec<&'a Json> {
    let mut out = Vec::new();
    let mut push = |v: &'a Json| match v {
        Json::Array(items) => out.extend(items.iter().filter(|x| !x.is_null())),
        Json::Null => {}
        v => out.push(v),
    };
    if let Some(e) = element {
        match path.sub {
            Some(sub) => {
                if let Some(v) = get_ci(e, sub.name) {
                    push(v);
                }
            }
            None => push(e),
        }
        return out;
    }
    let Some(top) = container(resource, path).and_then(|c| get_ci_map(c, path.attr.name)) else { return out };
    match (path.sub, top) {
        (None, v) => push(v),
        (Some(sub), Json::Array(items)) => {
            for item in items {
                if let Some(v) = get_ci(item, sub.name) {
                    push(v);
                }
            }
        }
        (Some(sub), v) => {
            if let Some(v) = get_ci(v, sub.name) {
                push(v);
            }
        }
    }
    out
}

fn is_present(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(m) => !m.is_empty(),
        _ => true,
    }
}

/// One value against a literal under the attribute's rules.
fn compare(v: &Json, def: &AttrDef, op: CompareOp, literal: &Value) -> bool {
    use std::cmp::Ordering;
    let ordered = |o: Ordering| match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    };
    match (literal, v) {
        (Value::String(lit), Json::String(s)) => {
            let (s, lit) =
                if def.case_exact { (s.clone(), lit.clone()) } else { (s.to_lowercase(), lit.to_lowercase()) };
            match op {
                CompareOp::Co => s.contains(&lit),
                CompareOp::Sw => s.starts_with(&lit),
                CompareOp::Ew => s.ends_with(&lit),
                _ => ordered(s.cmp(&lit)),
            }
        }
        (Value::Time(t), Json::String(s)) => Timestamp::parse(s).map(|x| ordered(x.cmp(t))).unwrap_or(false),
        (Value::Bool(b), Json::Bool(x)) => ordered(x.cmp(b)),
        (Value::Int(n), Json::Number(x)) => x.as_f64().and_then(|x| x.partial_cmp(&(*n as f64))).is_some_and(ordered),
        (Value::Float(n), Json::Number(x)) => x.as_f64().and_then(|x| x.partial_cmp(n)).is_some_and(ordered),
        _ => false,
    }
}

/// Parses a PATCH value path `attr[filter]` (without a trailing `.sub`): the attribute and
/// the inner filter. Unparseable filters are 400 `invalidFilter`.
pub(crate) fn parse_value_path(kind: ResourceKind, text: &str) -> Result<(AttrPath, ScimFilter), ScimError> {
    match parse_with(&ScimVocabulary { kind }, text) {
        Ok(ScimFilter::ValuePath { path, filter }) => Ok((path, *filter)),
        Ok(_) => Err(ScimError::invalid_path(format!("{text:?} is not a value path"))),
        Err(e) => Err(ScimError::invalid_filter(e.to_string())),
    }
}
