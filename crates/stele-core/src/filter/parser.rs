//! Lexer, recursive-descent parser (depth-bounded) and type rules for filter text.
//!
//! The lexer and parser are generic over a [`Vocabulary`]: what the names mean, which
//! literals they take and which tree the expressions become. Event filters ([`parse`]) are
//! one vocabulary, [`EventVocabulary`]; the SCIM service provider (crate `stele-scim`) is
//! another, with its own AST, value paths (`emails[type eq "work"]`) and URN-qualified names
//! (`urn:ietf:params:scim:schemas:core:2.0:User:userName`). Both get the same strings,
//! numbers, keywords, precedence, positions and bounds ([`MAX_FILTER_LEN`],
//! [`MAX_FILTER_DEPTH`]); what they do not share stays in the vocabulary, so `Attr` (also the
//! stored form of view filters) never learns SCIM's names.

use super::ast::{CompareOp, Expr, Value};
use super::event_vocabulary::EventVocabulary;

/// Most characters in a filter.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths (`[...]`) in a filter.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Longest `context.<key>` key, as ingestion allows.
pub(super) const MAX_CONTEXT_KEY: usize = 128;

const EXPECTED_OPERATOR: &str = "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";
const EXPECTED_OPERAND: &str = "expected an attribute name, \"(\" or \"not\"";
const EXPECTED_VALUE: &str = "expected a value (a string, number, true, false or null)";
pub(super) const RFC3339_HINT: &str = "an RFC 3339 date-time string such as \"2026-11-22T10:15:00Z\"";
const NO_VALUE_PATHS: &str = "complex attribute filters ([...]) are not supported";

/// A filter the parser refused: where (1-based character position; 0 for a hand-built
/// expression) and why. Displays as `filter: <message> at <position>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("filter: {message} at {position}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

/// Which token of a comparison a [`Vocabulary::compare`] refusal points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culprit {
    Operator,
    Value,
}

/// What a filter's names mean and what its expressions become; the parser supplies the
/// grammar (see the module documentation of `filter`), positions and bounds.
///
/// The parser calls [`attr`](Vocabulary::attr) as soon as it has read a name (so an unknown
/// name is reported before anything after it is read), then either
/// [`present`](Vocabulary::present), [`compare`](Vocabulary::compare) or, for
/// `name[filter]` when [`VALUE_PATHS`](Vocabulary::VALUE_PATHS) is set,
/// [`value_path`](Vocabulary::value_path) with the inner filter, whose names were resolved
/// with the outer attribute as their `scope`. `and`/`or` get two or more operands.
pub trait Vocabulary {
    /// A resolved attribute name.
    type Attr;
    /// The expression tree built.
    type Expr;

    /// Whether `[` and `]` are tokens (value paths). When false, either is an error at its
    /// position ("complex attribute filters ([...]) are not supported").
    const VALUE_PATHS: bool = false;

    /// Resolves a name; `scope` is the attribute of the enclosing value path, if any. The
    /// error message is reported at the name's position.
    fn attr(&self, name: &str, scope: Option<&Self::Attr>) -> Result<Self::Attr, String>;
    /// `attr pr`.
    fn present(&self, attr: Self::Attr) -> Result<Self::Expr, String>;
    /// `attr op value`, with the vocabulary's type rules.
    fn compare(&self, attr: Self::Attr, op: CompareOp, value: Value) -> Result<Self::Expr, (Culprit, String)>;
    /// Two or more operands joined with `and`.
    fn and(&self, items: Vec<Self::Expr>) -> Self::Expr;
    /// Two or more operands joined with `or`.
    fn or(&self, items: Vec<Self::Expr>) -> Self::Expr;
    /// `not inner`.
    fn not(&self, inner: Self::Expr) -> Self::Expr;
    /// `attr[inner]`; the error message is reported at the `[`.
    fn value_path(&self, attr: Self::Attr, inner: Self::Expr) -> Result<Self::Expr, String> {
        let _ = (attr, inner);
        Err(NO_VALUE_PATHS.to_owned())
    }
    /// Whether `c` may continue a name (a name starts with an ASCII letter).
    fn name_char(&self, c: char) -> bool {
        is_word_char(c)
    }
}

/// Parses and type-checks an event filter (see the module documentation for the language).
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    parse_with(&EventVocabulary, text)
}

/// Parses filter text with a vocabulary: the shared grammar, bounds and error positions.
pub fn parse_with<V: Vocabulary>(vocabulary: &V, text: &str) -> Result<V::Expr, FilterError> {
    let chars: Vec<char> = text.chars().take(MAX_FILTER_LEN + 1).collect();
    if chars.len() > MAX_FILTER_LEN {
        return Err(err(MAX_FILTER_LEN + 1, format!("longer than {MAX_FILTER_LEN} characters")));
    }
    let lexer = Lexer { chars, at: 0, name_char: |c| vocabulary.name_char(c), brackets: V::VALUE_PATHS };
    let mut p = Parser { lexer, peeked: None, vocabulary };
    let first = p.peek()?;
    if first.tok == Tok::End {
        return Err(err(1, "empty filter"));
    }
    let expr = p.or_expr(0, None)?;
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
    /// `[` and `]`, only for vocabularies with value paths.
    LBracket,
    RBracket,
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

struct Lexer<F> {
    chars: Vec<char>,
    /// 0-based index of the next character.
    at: usize,
    /// The vocabulary's [`Vocabulary::name_char`].
    name_char: F,
    /// The vocabulary's [`Vocabulary::VALUE_PATHS`].
    brackets: bool,
}

pub(super) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl<F: Fn(char) -> bool> Lexer<F> {
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
                while self.peek_char().is_some_and(&self.name_char) {
                    self.at += 1;
                }
                Tok::Word(self.chars[start..self.at].iter().collect())
            }
            '[' | ']' if self.brackets => {
                self.at += 1;
                if c == '[' {
                    Tok::LBracket
                } else {
                    Tok::RBracket
                }
            }
            '[' | ']' => return Err(err(pos, NO_VALUE_PATHS)),
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
        let digits = |lx: &mut Self| {
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
        let brackets = self.brackets;
        let delimiter = |c: char| c.is_ascii_whitespace() || c == '(' || c == ')' || (brackets && c == ']');
        if self.peek_char().is_some_and(|c| !delimiter(c)) {
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

struct Parser<'v, V, F> {
    lexer: Lexer<F>,
    peeked: Option<Token>,
    vocabulary: &'v V,
}

impl<V: Vocabulary, F: Fn(char) -> bool> Parser<'_, V, F> {
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

    /// `and_expr ("or" and_expr)*`; `scope` is the attribute of the enclosing value path.
    fn or_expr(&mut self, depth: usize, scope: Option<&V::Attr>) -> Result<V::Expr, FilterError> {
        let first = self.and_expr(depth, scope)?;
        if !self.peek()?.is_keyword("or") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek()?.is_keyword("or") {
            self.next()?;
            items.push(self.and_expr(depth, scope)?);
        }
        Ok(self.vocabulary.or(items))
    }

    /// `unary ("and" unary)*`
    fn and_expr(&mut self, depth: usize, scope: Option<&V::Attr>) -> Result<V::Expr, FilterError> {
        let first = self.unary(depth, scope)?;
        if !self.peek()?.is_keyword("and") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek()?.is_keyword("and") {
            self.next()?;
            items.push(self.unary(depth, scope)?);
        }
        Ok(self.vocabulary.and(items))
    }

    /// `"not" unary | "(" or_expr ")" | attrPath "pr" | attrPath op value | attrPath "[" or_expr "]"`
    fn unary(&mut self, depth: usize, scope: Option<&V::Attr>) -> Result<V::Expr, FilterError> {
        let token = self.next()?;
        if token.is_keyword("not") {
            let inner = self.unary(deeper(depth, token.pos)?, scope)?;
            return Ok(self.vocabulary.not(inner));
        }
        match token.tok {
            Tok::LParen => {
                let inner = self.or_expr(deeper(depth, token.pos)?, scope)?;
                let close = self.next()?;
                if close.tok != Tok::RParen {
                    return Err(err(close.pos, "expected \")\""));
                }
                Ok(inner)
            }
            Tok::Word(name) => self.attr_expr(&name, token.pos, depth, scope),
            _ => Err(err(token.pos, EXPECTED_OPERAND)),
        }
    }

    fn attr_expr(
        &mut self,
        name: &str,
        pos: usize,
        depth: usize,
        scope: Option<&V::Attr>,
    ) -> Result<V::Expr, FilterError> {
        let vocabulary = self.vocabulary;
        let attr = vocabulary.attr(name, scope).map_err(|m| err(pos, m))?;
        let op_token = self.next()?;
        if op_token.tok == Tok::LBracket {
            if scope.is_some() {
                return Err(err(op_token.pos, "value filters ([...]) cannot be nested"));
            }
            let inner = self.or_expr(deeper(depth, op_token.pos)?, Some(&attr))?;
            let close = self.next()?;
            if close.tok != Tok::RBracket {
                return Err(err(close.pos, "expected \"]\""));
            }
            return vocabulary.value_path(attr, inner).map_err(|m| err(op_token.pos, m));
        }
        let op_word = match &op_token.tok {
            Tok::Word(w) => w.to_ascii_lowercase(),
            _ => return Err(err(op_token.pos, EXPECTED_OPERATOR)),
        };
        if op_word == "pr" {
            return vocabulary.present(attr).map_err(|m| err(op_token.pos, m));
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
        vocabulary.compare(attr, op, value).map_err(|(culprit, m)| {
            let at = match culprit {
                Culprit::Operator => op_token.pos,
                Culprit::Value => value_token.pos,
            };
            err(at, m)
        })
    }
}

/// One more level of nesting at `pos`, or the depth error.
fn deeper(depth: usize, pos: usize) -> Result<usize, FilterError> {
    if depth >= MAX_FILTER_DEPTH {
        Err(err(pos, format!("nested deeper than {MAX_FILTER_DEPTH} levels")))
    } else {
        Ok(depth + 1)
    }
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    /// A vocabulary that prints what it built, with value paths and `:` in names.
    struct Echo;

    impl Vocabulary for Echo {
        type Attr = String;
        type Expr = String;
        const VALUE_PATHS: bool = true;

        fn attr(&self, name: &str, scope: Option<&String>) -> Result<String, String> {
            Ok(match scope {
                Some(outer) => format!("{outer}.{name}"),
                None => name.to_owned(),
            })
        }
        fn present(&self, attr: String) -> Result<String, String> {
            Ok(format!("{attr} pr"))
        }
        fn compare(&self, attr: String, op: CompareOp, value: Value) -> Result<String, (Culprit, String)> {
            Ok(format!("{attr} {op} {value}"))
        }
        fn and(&self, items: Vec<String>) -> String {
            format!("({})", items.join(" & "))
        }
        fn or(&self, items: Vec<String>) -> String {
            format!("({})", items.join(" | "))
        }
        fn not(&self, inner: String) -> String {
            format!("!{inner}")
        }
        fn value_path(&self, attr: String, inner: String) -> Result<String, String> {
            Ok(format!("{attr}[{inner}]"))
        }
        fn name_char(&self, c: char) -> bool {
            is_word_char(c) || c == ':'
        }
    }

    #[test]
    fn another_vocabulary_gets_value_paths_and_its_own_names() {
        let cases = [
            (r#"emails[type eq "work" and n eq 5]"#, r#"emails[(emails.type eq "work" & emails.n eq 5)]"#),
            ("urn:a:b:2.0:User:userName pr", "urn:a:b:2.0:User:userName pr"),
            (r#"not x[y pr] or z eq true"#, "(!x[x.y pr] | z eq true)"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_with(&Echo, text).as_deref(), Ok(expected), "{text}");
        }
        let errors = [
            ("a[b[c pr]]", "filter: value filters ([...]) cannot be nested at 4"),
            ("a[b pr", r#"filter: expected "]" at 7"#),
            ("a]", "filter: expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) at 2"),
        ];
        for (text, expected) in errors {
            assert_eq!(parse_with(&Echo, text).map_err(|e| e.to_string()), Err(expected.to_owned()), "{text}");
        }
        // Event filters keep refusing brackets and colons.
        assert_eq!(
            parse("id pr [x]").map_err(|e| e.to_string()),
            Err("filter: complex attribute filters ([...]) are not supported at 7".to_owned())
        );
        assert!(parse("urn:x pr").is_err());
    }
}
