//! The filter AST: plain data that the parser produces and that other code (API profiles,
//! key view filters) may also build directly.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::event_vocabulary::{check_comparison, resolve_attr};
use super::parser::FilterError;
use crate::timestamp::Timestamp;

/// A filter expression.
///
/// `And`/`Or` hold two or more operands in the parser's output and never directly contain
/// an operand of their own kind (they are flattened). Hand-built expressions may break
/// either rule: an empty `And` means "true" and an empty `Or` "false" (and [`Display`]
/// prints them as `id pr` and `not id pr`), a one-element `And`/`Or` means its operand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `attr pr`: the attribute is present (not null; for `target.*`, some target has it).
    Present(Attr),
    /// `attr op value`.
    Compare {
        attr: Attr,
        op: CompareOp,
        value: Value,
    },
}

/// An attribute path. Serialised as its canonical name (`"actor.id"`, `"context.region"`,
/// `"metadata.a.b"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Attr {
    Id,
    Seq,
    /// `time`, also spelled `published` (Okta).
    Time,
    ReceivedAt,
    /// `action`, also spelled `eventType` (Okta).
    Action,
    Status,
    Origin,
    Message,
    Reason,
    CorrelationId,
    ActorType,
    ActorId,
    ActorName,
    ActorEmail,
    ActorIp,
    TargetType,
    TargetId,
    TargetName,
    TargetEmail,
    RequestMethod,
    RequestPath,
    RequestStatusCode,
    RequestId,
    /// `context.<key>`: the key exactly as written (case-sensitive, may contain dots).
    Context(String),
    /// `metadata.<a>.<b>...`: the path segments exactly as written.
    Metadata(Vec<String>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompareOp {
    Eq,
    Ne,
    /// Contains (strings only).
    Co,
    /// Starts with (strings only).
    Sw,
    /// Ends with (strings only).
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// A date-time; the parser turns the string compared with `time`/`received_at` into this.
    Time(Timestamp),
}

/// What an attribute holds, which decides the literals it can be compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrKind {
    Text,
    Time,
    Integer,
    /// One of a fixed set of lowercase words.
    Enum(&'static [&'static str]),
    /// `metadata.*`: any JSON value.
    Any,
}

pub(crate) const STATUS_VALUES: &[&str] = &["success", "failure", "warning", "pending"];
pub(crate) const ORIGIN_VALUES: &[&str] = &["user", "api", "system"];

impl Attr {
    /// The fixed attributes with their canonical names (aliases are handled by the parser).
    pub(crate) const FIXED: &'static [(&'static str, Attr)] = &[
        ("id", Attr::Id),
        ("seq", Attr::Seq),
        ("time", Attr::Time),
        ("received_at", Attr::ReceivedAt),
        ("action", Attr::Action),
        ("status", Attr::Status),
        ("origin", Attr::Origin),
        ("message", Attr::Message),
        ("reason", Attr::Reason),
        ("correlation_id", Attr::CorrelationId),
        ("actor.type", Attr::ActorType),
        ("actor.id", Attr::ActorId),
        ("actor.name", Attr::ActorName),
        ("actor.email", Attr::ActorEmail),
        ("actor.ip", Attr::ActorIp),
        ("target.type", Attr::TargetType),
        ("target.id", Attr::TargetId),
        ("target.name", Attr::TargetName),
        ("target.email", Attr::TargetEmail),
        ("request.method", Attr::RequestMethod),
        ("request.path", Attr::RequestPath),
        ("request.status_code", Attr::RequestStatusCode),
        ("request.id", Attr::RequestId),
    ];

    /// The canonical text form: `actor.id`, `context.<key>`, `metadata.<a>.<b>`.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            Attr::Context(key) => Cow::Owned(format!("context.{key}")),
            Attr::Metadata(path) => Cow::Owned(format!("metadata.{}", path.join("."))),
            fixed => {
                Cow::Borrowed(Attr::FIXED.iter().find(|(_, a)| a == fixed).map(|(name, _)| *name).unwrap_or_default())
            }
        }
    }

    /// True for attributes of which an event may hold several values (`target.*`): a
    /// comparison matches when any target matches.
    pub fn is_multi(&self) -> bool {
        matches!(self, Attr::TargetType | Attr::TargetId | Attr::TargetName | Attr::TargetEmail)
    }

    pub(crate) fn kind(&self) -> AttrKind {
        match self {
            Attr::Time | Attr::ReceivedAt => AttrKind::Time,
            Attr::Seq | Attr::RequestStatusCode => AttrKind::Integer,
            Attr::Status => AttrKind::Enum(STATUS_VALUES),
            Attr::Origin => AttrKind::Enum(ORIGIN_VALUES),
            Attr::Metadata(_) => AttrKind::Any,
            _ => AttrKind::Text,
        }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Attr {
    type Err = FilterError;

    /// Resolves an attribute name as the filter language spells it (case-insensitive,
    /// aliases accepted). Errors are at position 1.
    fn from_str(s: &str) -> Result<Self, FilterError> {
        resolve_attr(s).map_err(|message| FilterError { position: 1, message })
    }
}

impl From<Attr> for String {
    fn from(attr: Attr) -> String {
        attr.name().into_owned()
    }
}

impl TryFrom<String> for Attr {
    type Error = FilterError;

    fn try_from(s: String) -> Result<Self, FilterError> {
        s.parse()
    }
}

impl CompareOp {
    pub(crate) const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The keyword, lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// `co`, `sw`, `ew`.
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }

    /// `gt`, `ge`, `lt`, `le`.
    pub fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Value {
    /// The literal as filter text: strings JSON-escaped in double quotes, date-times as
    /// quoted RFC 3339 UTC, floats always with a `.` or an exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write_quoted(f, s),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Time(t) => write!(f, "\"{t}\""),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write as _;
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if u32::from(c) < 0x20 || c == '\u{7f}' => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Binding strength of an expression as printed: 1 = `or`, 2 = `and`, 3 = unary.
fn strength(e: &Expr) -> u8 {
    match e {
        Expr::Or(items) if items.len() == 1 => strength(&items[0]),
        Expr::And(items) if items.len() == 1 => strength(&items[0]),
        Expr::Or(items) if items.len() > 1 => 1,
        Expr::And(items) if items.len() > 1 => 2,
        _ => 3,
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, e: &Expr, min_strength: u8) -> fmt::Result {
    if strength(e) < min_strength {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for Expr {
    /// Canonical filter text that parses back to the same expression (for expressions in
    /// the parser's flattened form): lowercase keywords, canonical attribute names, and
    /// only the parentheses that precedence requires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                let (sep, min, empty) = match self {
                    Expr::And(_) => (" and ", 2, "id pr"),
                    _ => (" or ", 1, "not id pr"),
                };
                if items.is_empty() {
                    return f.write_str(empty);
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write_operand(f, item, min)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_str("not ")?;
                write_operand(f, inner, 3)
            }
            Expr::Present(attr) => write!(f, "{attr} pr"),
            Expr::Compare { attr, op, value } => write!(f, "{attr} {op} {value}"),
        }
    }
}

impl Expr {
    /// `a and b`, flattened (used to AND a key's view filter into every read).
    #[allow(clippy::should_implement_trait)]
    pub fn and(a: Expr, b: Expr) -> Expr {
        flatten(vec![a, b], true)
    }

    /// `a or b`, flattened.
    pub fn or(a: Expr, b: Expr) -> Expr {
        flatten(vec![a, b], false)
    }

    /// `not e`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }

    /// `attr op value`.
    pub fn compare(attr: Attr, op: CompareOp, value: Value) -> Expr {
        Expr::Compare { attr, op, value }
    }

    /// Applies the parser's type rules to a hand-built expression: returns it with
    /// date-time strings compared with `time`/`received_at` turned into [`Value::Time`] and
    /// `status`/`origin` words lowercased, or the first rule broken (at position 0, since
    /// there is no text).
    pub fn checked(self) -> Result<Expr, FilterError> {
        let at0 = |message| FilterError { position: 0, message };
        Ok(match self {
            Expr::And(items) => Expr::And(items.into_iter().map(Expr::checked).collect::<Result<_, _>>()?),
            Expr::Or(items) => Expr::Or(items.into_iter().map(Expr::checked).collect::<Result<_, _>>()?),
            Expr::Not(inner) => Expr::Not(Box::new(inner.checked()?)),
            Expr::Present(attr) => {
                let attr = recheck_attr(attr).map_err(at0)?;
                Expr::Present(attr)
            }
            Expr::Compare { attr, op, value } => {
                let attr = recheck_attr(attr).map_err(at0)?;
                let value = check_comparison(&attr, op, value).map_err(|(_, m)| at0(m))?;
                Expr::Compare { attr, op, value }
            }
        })
    }
}

/// A hand-built `Context`/`Metadata` attribute must be one the filter text could name.
fn recheck_attr(attr: Attr) -> Result<Attr, String> {
    match &attr {
        Attr::Context(_) | Attr::Metadata(_) => {
            let again = resolve_attr(&attr.name())?;
            if again == attr {
                Ok(attr)
            } else {
                Err(format!("invalid attribute {:?}", attr.name()))
            }
        }
        _ => Ok(attr),
    }
}

fn push_flat(items: &mut Vec<Expr>, e: Expr, and: bool) {
    match (e, and) {
        (Expr::And(inner), true) | (Expr::Or(inner), false) => items.extend(inner),
        (e, _) => items.push(e),
    }
}

/// Joins operands with `and` (or `or`), splicing in operands of the same kind; a single
/// operand is returned as is.
pub(crate) fn flatten(items: Vec<Expr>, and: bool) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        push_flat(&mut out, e, and);
    }
    if out.len() == 1 {
        if let Some(only) = out.pop() {
            return only;
        }
    }
    if and {
        Expr::And(out)
    } else {
        Expr::Or(out)
    }
}
