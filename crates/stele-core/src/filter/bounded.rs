//! [`Filter`]: a filter expression that passed the bounds every query must respect.
//!
//! Filter *text* is bounded by the parser (4096 characters, 32 levels). But profiles build
//! expressions directly from their own parameters (OneUptime's `query` operators with value
//! arrays, Losant's `auditLogFilter[...]`), and an expression of 5,000 `or`-ed equalities
//! compiles to SQL that PostgreSQL plans for minutes and SQLite refuses ("Expression tree is
//! too large"). So the query model does not take a bare [`Expr`]: [`crate::Query::filter`] is
//! a `Filter`, and the only way to make one is [`Filter::new`], which counts. Whatever the way
//! into the query model, the same bounds hold.

use std::fmt;

use super::ast::{Expr, Value};
use super::parser::{parse, FilterError, MAX_FILTER_DEPTH};

/// Most comparisons (`attr op value`, `attr pr`) in one filter: also the most values of a
/// profile's list operator (`Includes`, arrays, OR-ed `auditLogFilter` entries).
pub const MAX_FILTER_TERMS: usize = 256;
/// Most characters of all string literals of one filter together.
pub const MAX_FILTER_LITERAL_CHARS: usize = 16 * 1024;

/// Why an expression is out of bounds. Displays as a sentence without a parameter name; the
/// caller prefixes the parameter it came from (`query: …`, `auditLogFilter: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    #[error("more than {MAX_FILTER_TERMS} comparisons")]
    Terms,
    #[error("nested deeper than {MAX_FILTER_DEPTH} levels")]
    Depth,
    #[error("string values longer than {MAX_FILTER_LITERAL_CHARS} characters in all")]
    Literals,
}

/// A bounded filter expression (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Expr);

impl Filter {
    /// Checks `expr` against the bounds. Never recurses deeper than [`MAX_FILTER_DEPTH`] + 1,
    /// whatever the depth of `expr`.
    pub fn new(expr: Expr) -> Result<Self, BoundsError> {
        let mut counts = Counts::default();
        counts.visit(&expr, 0)?;
        Ok(Self(expr))
    }

    /// Parses filter text (the parser's own bounds apply first) and checks the bounds.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let expr = parse(text)?;
        Self::new(expr).map_err(|e| FilterError { position: 1, message: e.to_string() })
    }

    pub fn expr(&self) -> &Expr {
        &self.0
    }

    pub fn into_expr(self) -> Expr {
        self.0
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Default)]
struct Counts {
    terms: usize,
    literal_chars: usize,
}

impl Counts {
    /// `depth` counts the operators (`and`, `or`, `not`) above `e`: the parser's bound on
    /// nesting (parentheses and `not`) allows at most one more, the outermost group.
    fn visit(&mut self, e: &Expr, depth: usize) -> Result<(), BoundsError> {
        if depth > MAX_FILTER_DEPTH + 1 {
            return Err(BoundsError::Depth);
        }
        match e {
            Expr::And(items) | Expr::Or(items) => items.iter().try_for_each(|item| self.visit(item, depth + 1)),
            Expr::Not(inner) => self.visit(inner, depth + 1),
            Expr::Present(_) => self.term(0),
            Expr::Compare { value, .. } => {
                let chars = match value {
                    Value::String(s) => s.chars().count(),
                    _ => 0,
                };
                self.term(chars)
            }
        }
    }

    fn term(&mut self, literal_chars: usize) -> Result<(), BoundsError> {
        self.terms += 1;
        self.literal_chars += literal_chars;
        if self.terms > MAX_FILTER_TERMS {
            Err(BoundsError::Terms)
        } else if self.literal_chars > MAX_FILTER_LITERAL_CHARS {
            Err(BoundsError::Literals)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{Attr, CompareOp};

    fn eq(v: &str) -> Expr {
        Expr::compare(Attr::Action, CompareOp::Eq, Value::String(v.into()))
    }

    #[test]
    fn counts_comparisons_of_built_expressions() {
        let at_bound = Expr::Or((0..MAX_FILTER_TERMS).map(|i| eq(&i.to_string())).collect());
        assert!(Filter::new(at_bound.clone()).is_ok());
        let over = Expr::and(at_bound, eq("x"));
        assert_eq!(Filter::new(over), Err(BoundsError::Terms));
    }

    #[test]
    fn refuses_deep_and_long_expressions() {
        let mut deep = eq("x");
        for _ in 0..=MAX_FILTER_DEPTH + 1 {
            deep = Expr::not(deep);
        }
        assert_eq!(Filter::new(deep), Err(BoundsError::Depth));
        let long = Expr::Or(vec![eq(&"a".repeat(MAX_FILTER_LITERAL_CHARS)), eq("b")]);
        assert_eq!(Filter::new(long), Err(BoundsError::Literals));
        let exactly = Expr::Or(vec![eq(&"a".repeat(MAX_FILTER_LITERAL_CHARS - 1)), eq("b")]);
        assert!(Filter::new(exactly).is_ok());
    }

    #[test]
    fn groups_count_as_levels_up_to_the_bound() {
        // `a or (b and (c or (d ...)))`: every group one level deeper.
        let nest = |levels: usize| {
            (0..levels).fold(eq("x"), |inner, i| {
                if i % 2 == 0 {
                    Expr::Or(vec![eq("y"), inner])
                } else {
                    Expr::And(vec![eq("y"), inner])
                }
            })
        };
        assert!(Filter::new(nest(MAX_FILTER_DEPTH + 1)).is_ok());
        assert_eq!(Filter::new(nest(MAX_FILTER_DEPTH + 2)), Err(BoundsError::Depth));
        let mut nots = eq("x");
        for _ in 0..=MAX_FILTER_DEPTH {
            nots = Expr::not(nots);
        }
        assert!(Filter::new(nots).is_ok(), "{} nots are in bounds", MAX_FILTER_DEPTH + 1);
    }

    #[test]
    fn text_within_the_parser_bounds_can_still_be_too_many_terms() {
        let text = vec!["id pr"; MAX_FILTER_TERMS + 1].join(" or ");
        assert!(text.len() <= crate::filter::MAX_FILTER_LEN);
        let e = Filter::parse(&text).expect_err("too many terms");
        assert!(e.message.contains("more than 256 comparisons"), "{e}");
        assert!(Filter::parse(&vec!["id pr"; MAX_FILTER_TERMS].join(" or ")).is_ok());
    }

    #[test]
    fn whatever_the_parser_accepts_at_its_depth_bound_is_in_bounds() {
        // Nest groups and `not`s alternately until the parser refuses; the deepest text it
        // accepted must also pass the AST bounds.
        let (mut text, mut accepted) = ("id pr".to_owned(), 0);
        for i in 0.. {
            let deeper = if i % 2 == 0 { format!("(id pr or {text}) and id pr") } else { format!("not ({text})") };
            if parse(&deeper).is_err() {
                break;
            }
            text = deeper;
            accepted += 1;
        }
        assert!(accepted >= MAX_FILTER_DEPTH / 2, "{accepted}");
        assert!(Filter::parse(&text).is_ok(), "{text}");
    }
}
