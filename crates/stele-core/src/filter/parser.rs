//! Lexer, recursive-descent parser (depth-bounded) and type rules for filter text.

use super::ast::{flatten, Attr, AttrKind, CompareOp, Expr, Value};
use crate::timestamp::Timestamp;

/// Most characters in a filter.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not` in a filter.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Longest `context.<key>` key, as ingestion allows.
const MAX_CONTEXT_KEY: usize = 128;

const EXPECTED_OPERATOR: &str = "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";
const EXPECTED_OPERAND: &str = "expected an attribute name, \"(\" or \"not\"";
const EXPECTED_VALUE: &str = "expected a value (a string, number, true, false or null)";
const RFC3339_HINT: &str = "an RFC 3339 date-time string such as \"2026-11-22T10:15:00Z\"";

/// A filter the parser refused: where (1-based character position; 0 for a hand-built
/// expression) and why. Displays as `filter: <message> at <position>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("filter: {message} at {position}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

/// Parses and type-checks a filter (see the module documentation for the language).
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    let chars: Vec<char> = text.chars().take(MAX_FILTER_LEN + 1).collect();
    if chars.len() > MAX_FILTER_LEN {
        return Err(err(MAX_FILTER_LEN + 1, format!("longer than {MAX_FILTER_LEN} characters")));
    }
    let mut p = Parser { lexer: Lexer { chars, at: 0 }, peeked: None };
    let first = p.peek()?;
    if first.tok == Tok::End {
        return Err(err(1, "empty filter"));
    }
    let expr = p.or_expr(0)?;
    let next = p.next()?;
    if next.tok != Tok::End {
        return Err(err(next.pos, "expected end of filter"));
    }
    Ok(expr)
}

fn err(position: usize, message: impl Into<String>) -> FilterError {
    FilterError { position, message: message.into() }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    /// Attribute names and keywords.
    Word(String),
    Str(String),
    Num(Value),
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    /// 1-based character position of the token's first character.
    pos: usize,
}

impl Token {
    fn is_keyword(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

struct Lexer {
    chars: Vec<char>,
    /// 0-based index of the next character.
    at: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl Lexer {
    fn peek_char(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next_token(&mut self) -> Result<Token, FilterError> {
        while self.peek_char().is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
        let start = self.at;
        let pos = start + 1;
        let Some(c) = self.peek_char() else {
            return Ok(Token { tok: Tok::End, pos });
        };
        let tok = match c {
            '(' => {
                self.at += 1;
                Tok::LParen
            }
            ')' => {
                self.at += 1;
                Tok::RParen
            }
            '"' => Tok::Str(self.string()?),
            '-' | '+' | '0'..='9' => Tok::Num(self.number()?),
            c if c.is_ascii_alphabetic() => {
                while self.peek_char().is_some_and(is_word_char) {
                    self.at += 1;
                }
                Tok::Word(self.chars[start..self.at].iter().collect())
            }
            '[' | ']' => return Err(err(pos, "complex attribute filters ([...]) are not supported")),
            c => return Err(err(pos, format!("unexpected character {:?}", c.to_string()))),
        };
        Ok(Token { tok, pos })
    }

    /// A JSON string; `self.at` is on the opening quote.
    fn string(&mut self) -> Result<String, FilterError> {
        let open = self.at + 1;
        self.at += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(err(open, "unterminated string"));
            };
            let here = self.at + 1;
            self.at += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek_char() else {
                        return Err(err(open, "unterminated string"));
                    };
                    self.at += 1;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.unicode_escape(here)?),
                        e => return Err(err(here, format!("invalid escape \"\\{e}\""))),
                    }
                }
                c if u32::from(c) < 0x20 => {
                    return Err(err(here, "control character in string (escape it)"));
                }
                c => out.push(c),
            }
        }
    }

    /// Four hex digits after `\u`; `backslash` is the escape's position for errors.
    fn hex4(&mut self, backslash: usize) -> Result<u32, FilterError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = self.peek_char().and_then(|c| c.to_digit(16));
            let Some(d) = d else {
                return Err(err(backslash, "invalid \\u escape (expected four hex digits)"));
            };
            self.at += 1;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// The character of a `\uXXXX` escape (or a `\uD8xx\uDCxx` surrogate pair); `self.at`
    /// is just after the `u`.
    fn unicode_escape(&mut self, backslash: usize) -> Result<char, FilterError> {
        let unpaired = || err(backslash, "invalid \\u escape (unpaired surrogate)");
        let hi = self.hex4(backslash)?;
        let code = match hi {
            0xD800..=0xDBFF => {
                if self.peek_char() != Some('\\') || self.chars.get(self.at + 1) != Some(&'u') {
                    return Err(unpaired());
                }
                self.at += 2;
                let lo = self.hex4(self.at - 1)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(unpaired());
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(unpaired()),
            c => c,
        };
        char::from_u32(code).ok_or_else(unpaired)
    }

    /// `[+-]?digits(.digits)?([eE][+-]?digits)?`, followed by a delimiter.
    fn number(&mut self) -> Result<Value, FilterError> {
        let start = self.at;
        let pos = start + 1;
        let invalid = || err(pos, "invalid number");
        let digits = |lx: &mut Lexer| {
            let from = lx.at;
            while lx.peek_char().is_some_and(|c| c.is_ascii_digit()) {
                lx.at += 1;
            }
            lx.at > from
        };
        if matches!(self.peek_char(), Some('+' | '-')) {
            self.at += 1;
        }
        if !digits(self) {
            return Err(invalid());
        }
        let mut float = false;
        if self.peek_char() == Some('.') {
            self.at += 1;
            float = true;
            if !digits(self) {
                return Err(invalid());
            }
        }
        if matches!(self.peek_char(), Some('e' | 'E')) {
            self.at += 1;
            float = true;
            if matches!(self.peek_char(), Some('+' | '-')) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(invalid());
            }
        }
        if self.peek_char().is_some_and(|c| !(c.is_ascii_whitespace() || c == '(' || c == ')')) {
            return Err(invalid());
        }
        let text: String = self.chars[start..self.at].iter().collect();
        if float {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Value::Float(x)),
                _ => Err(err(pos, "number out of range")),
            }
        } else {
            text.parse::<i64>().map(Value::Int).map_err(|_| err(pos, "integer out of range"))
        }
    }
}

struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
}

impl Parser {
    fn peek(&mut self) -> Result<&Token, FilterError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        // Just filled: never None.
        Ok(self.peeked.get_or_insert(Token { tok: Tok::End, pos: 0 }))
    }

    fn next(&mut self) -> Result<Token, FilterError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    /// `and_expr ("or" and_expr)*`
    fn or_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut items = vec![self.and_expr(depth)?];
        while self.peek()?.is_keyword("or") {
            self.next()?;
            items.push(self.and_expr(depth)?);
        }
        Ok(flatten(items, false))
    }

    /// `unary ("and" unary)*`
    fn and_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut items = vec![self.unary(depth)?];
        while self.peek()?.is_keyword("and") {
            self.next()?;
            items.push(self.unary(depth)?);
        }
        Ok(flatten(items, true))
    }

    /// `"not" unary | "(" or_expr ")" | attrPath "pr" | attrPath op value`
    fn unary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let token = self.next()?;
        let deeper = |pos| {
            if depth >= MAX_FILTER_DEPTH {
                Err(err(pos, format!("nested deeper than {MAX_FILTER_DEPTH} levels")))
            } else {
                Ok(depth + 1)
            }
        };
        if token.is_keyword("not") {
            let inner = self.unary(deeper(token.pos)?)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        match token.tok {
            Tok::LParen => {
                let inner = self.or_expr(deeper(token.pos)?)?;
                let close = self.next()?;
                if close.tok != Tok::RParen {
                    return Err(err(close.pos, "expected \")\""));
                }
                Ok(inner)
            }
            Tok::Word(name) => self.attr_expr(&name, token.pos),
            _ => Err(err(token.pos, EXPECTED_OPERAND)),
        }
    }

    fn attr_expr(&mut self, name: &str, pos: usize) -> Result<Expr, FilterError> {
        let attr = resolve_attr(name).map_err(|m| err(pos, m))?;
        let op_token = self.next()?;
        let op_word = match &op_token.tok {
            Tok::Word(w) => w.to_ascii_lowercase(),
            _ => return Err(err(op_token.pos, EXPECTED_OPERATOR)),
        };
        if op_word == "pr" {
            return Ok(Expr::Present(attr));
        }
        let Some(op) = CompareOp::ALL.into_iter().find(|op| op.as_str() == op_word) else {
            return Err(err(op_token.pos, EXPECTED_OPERATOR));
        };
        let value_token = self.next()?;
        let value = match value_token.tok {
            Tok::Str(s) => Value::String(s),
            Tok::Num(v) => v,
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Value::Null,
            _ => return Err(err(value_token.pos, EXPECTED_VALUE)),
        };
        let value = check_comparison(&attr, op, value).map_err(|(on_op, m)| {
            let at = if on_op { op_token.pos } else { value_token.pos };
            err(at, m)
        })?;
        Ok(Expr::Compare { attr, op, value })
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
