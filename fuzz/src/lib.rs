//! What the fuzz targets check beyond "does not panic": the invariants that every way into
//! the query model shares, and the round trips of accepted events.
//!
//! A profile builds a filter expression from its own parameters. Whatever it builds must be
//! an expression the native filter language could have said:
//!
//! - it obeys the parser's type rules ([`Expr::checked`] changes nothing);
//! - if it is within the bounds every filter obeys ([`Filter::new`]; the route answers 400
//!   otherwise), its canonical text parses back to the same expression, up to the
//!   normalisation the parser does (flattened `and`/`or`; an empty `and` is `id pr`, an empty
//!   `or` `not id pr`);
//! - both SQL compilers turn it into a WHERE clause whose placeholders are exactly its
//!   parameters (no value is ever written into the SQL text).

use stele_core::filter::{parse, MAX_FILTER_LEN};
use stele_core::{Attr, Expr, Filter, Query};

/// Checks a profile's expression (see the crate documentation). Returns it as a [`Filter`]
/// when it is within the bounds.
pub fn check_profile_expr(expr: &Expr) -> Option<Filter> {
    assert_eq!(expr.clone().checked().as_ref(), Ok(expr), "type rules changed {expr:?}");
    let filter = Filter::new(expr.clone()).ok()?;
    check_filter(&filter);
    Some(filter)
}

/// Checks a bounded filter: its text round trip and both SQL compilers.
pub fn check_filter(filter: &Filter) {
    let expr = filter.expr();
    let text = filter.to_string();
    if text.chars().count() <= MAX_FILTER_LEN {
        let again = parse(&text).unwrap_or_else(|e| panic!("canonical text {text:?} of {expr:?} does not parse: {e}"));
        assert_eq!(again, normal(expr.clone()), "canonical text {text:?} of {expr:?}");
    }
    let query = Query { filter: Some(filter.clone()), ..Query::default() };
    check_sql(&query);
}

/// Both compilers bind every value: SQLite's `?` and PostgreSQL's `$n` are the parameters.
pub fn check_sql(query: &Query) {
    use stele_sqlite::compile::{equality_term, substring_needle, where_clause, DenseTerms, Split};
    // Every equality term and the full-text words dense: the other shape of each.
    let mut dense = DenseTerms::new();
    query.filter.iter().flat_map(|f| leaves(f.expr())).filter_map(equality_term).for_each(|t| dense.insert(t));
    let dense = dense.with_dense_text();
    // Every substring rare: without a list (checked on the rows) or with its candidates
    // listed (by the plan, or by a window between its rowids).
    let (mut rare, mut listed, mut windowed) = (DenseTerms::new(), DenseTerms::new(), DenseTerms::new());
    let mut window = Vec::new();
    for (needle, grams) in query.filter.iter().flat_map(|f| leaves(f.expr())).filter_map(substring_needle) {
        rare.insert_rare_substring(needle.to_owned());
        listed.insert_rare_substring(needle.to_owned());
        listed.insert_substring_candidates(needle.to_owned(), &[5, 9]);
        windowed.insert_windowed_substring(needle.to_owned(), grams);
        window.push((needle.to_owned(), vec![6, 8]));
    }
    let windowed = windowed.with_text_window(4, 10, window);
    // With and without recent postings (the view or `postings` alone), each shape.
    let splits = [
        (Split { no: 3, mark: 0, recent: true, tail: true }, DenseTerms::new()),
        (Split { no: 3, mark: 17, recent: true, tail: true }, dense.clone()),
        (Split { no: 3, mark: 0, recent: false, tail: true }, DenseTerms::new()),
        (Split { no: 3, mark: 17, recent: false, tail: false }, dense),
        (Split { no: 3, mark: 17, recent: false, tail: true }, rare),
        (Split { no: 3, mark: 17, recent: true, tail: false }, listed),
        (Split { no: 3, mark: 17, recent: true, tail: true }, windowed),
    ];
    for (split, dense) in splits {
        let sql = where_clause(&split, query, false, &dense);
        assert_eq!(sql.text.matches('?').count(), sql.params.len(), "SQLite: {}", sql.text);
    }
    use stele_postgres::compile::{
        matches_sql, page_driver, page_sql, walk_on_sql, window_sql, Bounds, Driver, Listed, PagePlan, Sql,
        TextPlan,
    };
    // Marks read by the statement, behind the head, and at the head (no tail arm); each way
    // the page's driver (its words, or a needle it requires) can be read, and the reads that
    // choose between them (the window's walk, the walk on, the list).
    let mut statements: Vec<Sql> = Vec::new();
    let drivers = [page_driver(query), Some(Driver::Words), Some(Driver::Substring("abcd".into()))];
    for bounds in [None, Some(Bounds { mark: 5, head: 9 }), Some(Bounds { mark: 9, head: 9 })] {
        for driver in &drivers {
            let hows = [
                TextPlan::Planner,
                TextPlan::Probe,
                TextPlan::Matches(vec![2, 4]),
                TextPlan::Walked { seqs: vec![4, 2], times: (10, 20), listed: None },
                TextPlan::Walked { seqs: vec![4], times: (10, 10), listed: Some(Listed { matches: 3, buckets: Some(2) }) },
                TextPlan::Excluded,
            ];
            for how in hows {
                statements.push(page_sql(3, query, bounds, &PagePlan { driver: driver.clone(), how }));
            }
            if let (Some(bounds), Some(driver)) = (bounds, driver) {
                statements.push(window_sql(3, query, driver, bounds, 1020, 51));
                statements.push(walk_on_sql(3, query, driver, bounds, (1_700_000_000, 77), 30));
                statements.push(matches_sql(3, query, driver, bounds, 100, None));
                statements.push(matches_sql(3, query, driver, bounds, 100, Some(-2..=1)));
            }
        }
    }
    for sql in statements {
        let mut numbers = Vec::new();
        let mut rest = sql.text.as_str();
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                numbers.push(rest[..digits].parse::<usize>().unwrap_or(0));
            }
        }
        let expected: Vec<usize> = (1..=sql.params.len()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers, expected, "PostgreSQL: {}", sql.text);
    }
}

/// The comparisons and presence tests of an expression, and the expression itself (an
/// equality term can be a top-level conjunct or the whole filter).
fn leaves(e: &Expr) -> Vec<&Expr> {
    let mut out = vec![e];
    match e {
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| out.extend(leaves(i))),
        Expr::Not(inner) => out.extend(leaves(inner)),
        Expr::Present(_) | Expr::Compare { .. } => {}
    }
    out
}

/// The expression the parser makes of `e`'s canonical text: empty `and`/`or` as the text
/// prints them, one-operand groups as their operand, nested groups of one kind flattened.
pub fn normal(e: Expr) -> Expr {
    match e {
        Expr::And(items) if items.is_empty() => Expr::Present(Attr::Id),
        Expr::Or(items) if items.is_empty() => Expr::not(Expr::Present(Attr::Id)),
        Expr::And(items) => items.into_iter().map(normal).reduce(Expr::and).unwrap_or(Expr::Present(Attr::Id)),
        Expr::Or(items) => {
            items.into_iter().map(normal).reduce(Expr::or).unwrap_or_else(|| Expr::not(Expr::Present(Attr::Id)))
        }
        Expr::Not(inner) => Expr::not(normal(*inner)),
        leaf => leaf,
    }
}
