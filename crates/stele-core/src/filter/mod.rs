//! The filter language: SCIM 2.0 filters (RFC 7644 §3.4.2.2) as Okta's System Log uses
//! them, parsed into a plain AST ([`Expr`]) that the SQL compilers translate into
//! parameterised queries.
//!
//! # Grammar
//!
//! ```text
//! filter     = ws or-expr ws EOF
//! or-expr    = and-expr *( "or" and-expr )
//! and-expr   = unary *( "and" unary )
//! unary      = "not" unary
//!            / "(" or-expr ")"
//!            / attr-path "pr"
//!            / attr-path compare-op value
//! compare-op = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "ge" / "lt" / "le"
//! value      = string / number / "true" / "false" / "null"
//! string     = JSON string: "..." with \" \\ \/ \b \f \n \r \t \uXXXX (surrogate pairs
//!              combine; a lone surrogate or a raw control character is an error)
//! number     = [ "+" / "-" ] 1*DIGIT [ "." 1*DIGIT ] [ ("e" / "E") [ "+" / "-" ] 1*DIGIT ]
//!              (an integer if it has neither "." nor exponent, and must fit in i64)
//! attr-path  = id / seq / time / received_at / action / status / origin / message
//!            / reason / correlation_id / actor.(type|id|name|email|ip)
//!            / target.(type|id|name|email) / request.(method|path|status_code|id)
//!            / "context." key        ; key: 1-128 of A-Z a-z 0-9 _ - . (dots allowed)
//!            / "metadata." seg *( "." seg )   ; seg: 1* of A-Z a-z 0-9 _ -
//!            / published             ; alias of time (Okta)
//!            / eventType             ; alias of action (Okta)
//! ```
//!
//! Keywords (operators, `and or not pr`, `true false null`), attribute names and the
//! `context.`/`metadata.` prefixes are case-insensitive; the context key and metadata path
//! after the prefix are kept exactly as written. Tokens are separated by whitespace or
//! parentheses. `not` applies to the next comparison or parenthesised expression:
//! `not a eq "x" and b pr` is `(not a eq "x") and b pr`.
//!
//! Precedence: `not` binds tightest, then `and`, then `or`; `and`/`or` are
//! left-associative and flattened in the AST (`a and (b and c)` is one `And` of three).
//!
//! # Type rules (checked by [`parse`]; [`Expr::checked`] applies them to built ASTs)
//!
//! - `time`, `received_at`: only an RFC 3339 date-time string, stored as [`Value::Time`];
//!   operators `eq ne gt ge lt le`.
//! - `seq`, `request.status_code`: only integers; operators `eq ne gt ge lt le`.
//! - `status` (`success failure warning pending`), `origin` (`user api system`): only
//!   `eq`/`ne` with one of those words, matched case-insensitively and stored lowercase.
//! - Every other fixed attribute and `context.*`: strings only.
//! - `metadata.*`: any literal (compared with the JSON value at that path).
//! - `co sw ew` need a string; `gt ge lt le` refuse `null` and booleans.
//! - `eq null` / `ne null` are allowed on every attribute and mean `not (a pr)` / `a pr`.
//!
//! # Matching semantics (implemented by the SQL compilers)
//!
//! - Strings compare case-insensitively with ASCII case folding — `eq ne co sw ew` (SCIM's
//!   `caseExact=false`) and also the ordering operators `gt ge lt le`, so that filters agree
//!   with sort order and cursors. Non-ASCII letters are compared as they are (`Ë` ≠ `ë`).
//! - `context.<key>`: the key, too, is matched case-insensitively (ASCII).
//! - Date-times compare as instants, numbers numerically.
//! - `target.*` ([`Attr::is_multi`]) matches when any target matches (also for `ne`: some
//!   target has another value); `pr` when any target has the field.
//! - `context.<key> ne v` is true when the key is absent or holds another value.
//! - `metadata.*`: only a value of the literal's JSON type matches (`"5"` ≠ `5`, `true` ≠ `1`);
//!   a JSON `null` counts as absent.
//! - `not` counts a missing value as "not equal": `not (actor.email eq "x")` includes events
//!   without an actor email.
//!
//! # Bounds
//!
//! At most [`MAX_FILTER_LEN`] (4096) characters and [`MAX_FILTER_DEPTH`] (32) levels of
//! nested parentheses and `not`; and, for text and hand-built expressions alike (the query
//! model takes only a bounded [`Filter`]), at most [`MAX_FILTER_TERMS`] (256) comparisons and
//! [`MAX_FILTER_LITERAL_CHARS`] characters of string values. The parser never panics; its
//! recursion is bounded by the depth limit and long `and`/`or` chains are parsed iteratively.
//!
//! # Other vocabularies
//!
//! The grammar, bounds and error positions are shared through [`parse_with`] and a
//! [`Vocabulary`], which says what names mean and builds its own tree; [`parse`] is
//! [`parse_with`] of [`EventVocabulary`]. A vocabulary may allow value paths
//! (`attr-path "[" or-expr "]"` as a unary term, names inside resolved relative to the
//! outer attribute, not nested; the `[` counts as a nesting level) and more name characters
//! (SCIM's URN-qualified names need `:`); event filters allow neither, so `[` is an error
//! there. The SCIM service provider (`stele-scim`) is the other vocabulary.
//!
//! # Views
//!
//! A key's view filter is a [`ViewFilter`]: the same language, compared **exactly** (it is
//! an access boundary, not a search), without text ordering or `seq`; see `view.rs`.
//!
//! # Errors
//!
//! [`FilterError`] carries a 1-based character position and displays as
//! `filter: <message> at <position>`, e.g. `filter: unknown attribute "actr.id" at 1`.

mod ast;
mod bounded;
mod event_vocabulary;
mod parser;
#[cfg(test)]
mod tests;
mod view;

pub use ast::{Attr, CompareOp, Expr, Value};
pub use bounded::{BoundsError, Filter, MAX_FILTER_LITERAL_CHARS, MAX_FILTER_TERMS};
pub use event_vocabulary::EventVocabulary;
pub use parser::{parse, parse_with, Culprit, FilterError, Vocabulary, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
pub use view::ViewFilter;
