//! The event vocabulary of the filter language: attribute names (with the `published` and
//! `eventType` aliases, `context.<key>`, `metadata.<path>`) and the type rules of each
//! comparison. The generic lexer and parser are in `parser.rs`.

use super::ast::{flatten, Attr, AttrKind, CompareOp, Expr, Value};
use super::parser::{is_word_char, Culprit, Vocabulary, MAX_CONTEXT_KEY, RFC3339_HINT};
use crate::timestamp::Timestamp;

/// The event filter language of the module documentation, producing [`Expr`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EventVocabulary;

impl Vocabulary for EventVocabulary {
    type Attr = Attr;
    type Expr = Expr;

    fn attr(&self, name: &str, _scope: Option<&Attr>) -> Result<Attr, String> {
        resolve_attr(name)
    }

    fn present(&self, attr: Attr) -> Result<Expr, String> {
        Ok(Expr::Present(attr))
    }

    fn compare(&self, attr: Attr, op: CompareOp, value: Value) -> Result<Expr, (Culprit, String)> {
        let value = check_comparison(&attr, op, value)
            .map_err(|(on_op, m)| (if on_op { Culprit::Operator } else { Culprit::Value }, m))?;
        Ok(Expr::Compare { attr, op, value })
    }

    fn and(&self, items: Vec<Expr>) -> Expr {
        flatten(items, true)
    }

    fn or(&self, items: Vec<Expr>) -> Expr {
        flatten(items, false)
    }

    fn not(&self, inner: Expr) -> Expr {
        Expr::Not(Box::new(inner))
    }
}

/// Resolves an attribute name (case-insensitive prefixes and names, `published` and
/// `eventType` aliases). The error is a message naming the problem.
pub(crate) fn resolve_attr(name: &str) -> Result<Attr, String> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "published" => return Ok(Attr::Time),
        "eventtype" => return Ok(Attr::Action),
        _ => {}
    }
    if let Some((_, attr)) = Attr::FIXED.iter().find(|(n, _)| *n == lower) {
        return Ok(attr.clone());
    }
    if lower.starts_with("context.") {
        let key = name.get("context.".len()..).unwrap_or_default();
        let ok = (1..=MAX_CONTEXT_KEY).contains(&key.chars().count()) && key.chars().all(is_word_char);
        if !ok {
            return Err(format!(
                "context key must be 1-{MAX_CONTEXT_KEY} characters of A-Z, a-z, 0-9, '_', '-' or '.'"
            ));
        }
        return Ok(Attr::Context(key.to_owned()));
    }
    if lower.starts_with("metadata.") {
        let path: Vec<String> =
            name.get("metadata.".len()..).unwrap_or_default().split('.').map(str::to_owned).collect();
        let ok = path
            .iter()
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !ok {
            return Err("metadata path must be dot-separated names of A-Z, a-z, 0-9, '_' or '-'".into());
        }
        return Ok(Attr::Metadata(path));
    }
    Err(format!("unknown attribute {name:?}"))
}

/// The type rules of a comparison. Returns the value to keep (date-time strings become
/// [`Value::Time`], `status`/`origin` words are lowercased) or `(on_operator, message)`.
pub(crate) fn check_comparison(attr: &Attr, op: CompareOp, value: Value) -> Result<Value, (bool, String)> {
    let name = attr.name();
    let kind = attr.kind();
    let on_value = |m: String| Err((false, m));
    let on_op = |m: String| Err((true, m));

    if let AttrKind::Enum(_) = kind {
        if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return on_op(format!("{name} supports only eq, ne and pr"));
        }
    }
    if kind == AttrKind::Time && op.is_substring() {
        return on_op(format!("{op} cannot be used with {name}"));
    }
    if kind == AttrKind::Integer && op.is_substring() {
        return on_op(format!("{op} cannot be used with {name}"));
    }
    match &value {
        Value::Null if matches!(op, CompareOp::Eq | CompareOp::Ne) => return Ok(Value::Null),
        Value::Null => return on_value(format!("{op} cannot compare with null")),
        Value::Bool(_) if op.is_ordering() => return on_value(format!("{op} cannot compare with a boolean")),
        Value::Float(x) if !x.is_finite() => return on_value("number out of range".into()),
        Value::String(_) => {}
        _ if op.is_substring() => return on_value(format!("{op} compares only with a string")),
        _ => {}
    }
    match kind {
        AttrKind::Any => match value {
            Value::Time(_) => on_value(format!("{name} cannot compare with a date-time")),
            v => Ok(v),
        },
        AttrKind::Text => match value {
            Value::String(s) => Ok(Value::String(s)),
            _ => on_value(format!("{name} compares only with a string")),
        },
        AttrKind::Integer => match value {
            Value::Int(n) => Ok(Value::Int(n)),
            _ => on_value(format!("{name} compares only with an integer")),
        },
        AttrKind::Time => match value {
            Value::Time(t) => Ok(Value::Time(t)),
            Value::String(s) => match Timestamp::parse(&s) {
                Ok(t) => Ok(Value::Time(t)),
                Err(_) => on_value(format!("{name} compares only with {RFC3339_HINT}")),
            },
            _ => on_value(format!("{name} compares only with {RFC3339_HINT}")),
        },
        AttrKind::Enum(allowed) => {
            let word = match &value {
                Value::String(s) => allowed.iter().find(|w| w.eq_ignore_ascii_case(s)),
                _ => None,
            };
            match word {
                Some(w) => Ok(Value::String((*w).to_owned())),
                None => on_value(format!("{name} must be one of {}", allowed.join(", "))),
            }
        }
    }
}
