//! The filter compiler for SQLite: a [`Query`] becomes a WHERE clause of fixed SQL fragments
//! and a list of bound parameters. No value is ever written into the SQL text.
//!
//! Negation is pushed down to the leaves (De Morgan), and each leaf has an explicit negated
//! form that counts a missing value as "not equal", so `not (actor.email eq "x")` also finds
//! events without an actor email (SQL's `NOT NULL` would lose them).
//!
//! The index lags the log (`index.rs`): a leaf that looks values up in the index is the set
//! of indexed matches (`seq ≤ mark`, from `postings` or `events_fts`) united with the tail's
//! matches (`seq > mark`, the rows themselves through `stele_term` or the reader's
//! `tail_fts`). Column comparisons are exact on every row; their postings only give the
//! planner a way in ("sparse" values). Redacted rows match no term and no words.

use std::collections::{HashMap, HashSet};

use rusqlite::types::Value as SqlValue;
use serde_json::Value as JsonValue;
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Cursor, Expr, PageRequest, Query, Sort, TextQuery};
use stele_store::layout::{exact_plan, like_escape, place, text_of, ExactPlan, Place};

use crate::index::column_term;
use crate::rows::pos;
use crate::trigrams::needle_grams;

/// Where a read's index ends: the tenant and its high-water mark, as seen by the read's
/// transaction.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    pub no: i64,
    pub mark: u64,
    /// Whether the tenant has postings in `recent_postings` in this read's snapshot: when it
    /// has none (the idle indexer merged them), reads leave that table out.
    pub recent: bool,
    /// Whether the log holds events after the mark (the un-indexed tail) in this snapshot.
    pub tail: bool,
}

impl Split {
    /// The rowid of the tenant's seq 0 (`pos = base + seq`).
    fn base(&self) -> SqlValue {
        SqlValue::Integer(pos(self.no, 0))
    }

    /// The rowid of the mark: the tail is `pos > tail AND pos < end`.
    fn tail(&self) -> SqlValue {
        SqlValue::Integer(pos(self.no, self.mark))
    }

    fn end(&self) -> SqlValue {
        SqlValue::Integer(pos(self.no + 1, 0))
    }

    /// The postings tables a read looks in.
    pub fn postings_tables(&self) -> &'static [&'static str] {
        if self.recent {
            &["postings", "recent_postings"]
        } else {
            &["postings"]
        }
    }

    /// Where a lookup finds the tenant's postings: both tables (the `all_postings` view, whose
    /// conditions SQLite pushes into each arm) or `postings` alone.
    pub(crate) fn postings(&self) -> &'static str {
        if self.recent {
            "all_postings"
        } else {
            "postings"
        }
    }
}

/// SQL text with its parameters, in order.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
}

impl Sql {
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(crate) fn bind(&mut self, value: SqlValue) -> &mut Self {
        self.text.push('?');
        self.params.push(value);
        self
    }

    /// Appends another fragment and its parameters (which follow this one's).
    pub(crate) fn append(&mut self, other: Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
        self
    }
}

/// The SQLite JSON path of a metadata path: `$.metadata."a"."b"` (segments are
/// `[A-Za-z0-9_-]`, checked by the parser; the path is bound as a parameter anyway).
fn json_path(path: &[String]) -> String {
    path.iter().fold(String::from("$.metadata"), |acc, seg| format!("{acc}.\"{seg}\""))
}

fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Float(f) => SqlValue::Real(*f),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Null => SqlValue::Null,
        Value::Time(t) => SqlValue::Integer(t.as_micros()),
    }
}

fn like_pattern(op: CompareOp, value: &str) -> String {
    let v = like_escape(value);
    match op {
        CompareOp::Sw => format!("{v}%"),
        CompareOp::Ew => format!("%{v}"),
        _ => format!("%{v}%"),
    }
}

/// What is common enough that the query should walk the time index and probe each event
/// (`EXISTS`) rather than collect every matching event first (`IN`): term values, and the
/// full-text words (`q`) as a whole. And the other way round for `message co "…"`, which
/// walks the time index unless its trigram candidates are known to be few.
#[derive(Debug, Default, Clone)]
pub struct DenseTerms {
    terms: HashSet<String>,
    text: bool,
    /// The words' matches, and the trigram candidates of `message co`, looked up only between
    /// these rowids (inclusive): one window of a windowed walk (`read.rs::windowed_page`).
    text_window: Option<(i64, i64)>,
    /// Needles of `message co` whose trigram candidates are few: the way in, when they are
    /// listed.
    rare_substrings: HashSet<String>,
    /// Every indexed trigram candidate of a rare needle (of the window's rowids, in a
    /// window), as a JSON array of rowids: the page reads these rows. A rare needle without
    /// a list is checked on each row the page reads otherwise (exact either way).
    substring_candidates: HashMap<String, (String, usize)>,
    /// The words are common enough for a page in time order to be read in windows.
    windowed_text: bool,
    /// Needles of `message co` whose trigram candidates are many enough for a page in time
    /// order to be read in windows, each listing the candidates between its rowids, with
    /// their trigrams' alternatives.
    windowed_substrings: HashMap<String, Vec<Vec<i64>>>,
}

impl DenseTerms {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, term: &str) -> bool {
        self.terms.contains(term)
    }

    pub fn insert(&mut self, term: String) {
        self.terms.insert(term);
    }

    /// The query's words match so many events that a page is found sooner by probing.
    pub fn with_dense_text(mut self) -> Self {
        self.text = true;
        self
    }

    /// The words' matches, and every substring's trigram candidates, are collected between
    /// rowids `lo` and `hi` only; the windowed needles' candidates there are
    /// `candidates` (needle → rowids; a needle left out is checked on each row of the window).
    pub fn with_text_window(mut self, lo: i64, hi: i64, candidates: Vec<(String, Vec<i64>)>) -> Self {
        self.text = false;
        self.text_window = Some((lo, hi));
        self.rare_substrings.extend(std::mem::take(&mut self.windowed_substrings).into_keys());
        for (needle, rowids) in candidates {
            self.insert_substring_candidates(needle, &rowids);
        }
        self
    }

    /// The needles whose candidates a window lists (see [`DenseTerms::with_text_window`]),
    /// with their trigrams' alternatives.
    pub fn windowed_needles(&self) -> impl Iterator<Item = (&str, &[Vec<i64>])> {
        self.windowed_substrings.iter().map(|(needle, grams)| (needle.as_str(), grams.as_slice()))
    }

    /// The words are common enough to read a page in time order in windows.
    pub fn with_windowed_text(mut self) -> Self {
        self.windowed_text = true;
        self
    }

    /// Whether a page in time order is found sooner window by window along the time index:
    /// common words or a common substring, and no rarer words or substring to start from.
    pub fn windowed(&self, has_text: bool) -> bool {
        let substrings_common = self.rare_substrings.iter().all(|n| self.windowed_substrings.contains_key(n));
        let some_common = if has_text { self.windowed_text } else { !self.windowed_substrings.is_empty() };
        some_common && substrings_common
    }

    /// `message co <needle>` has few candidates in the trigram index.
    pub fn insert_rare_substring(&mut self, needle: String) {
        self.rare_substrings.insert(needle);
    }

    /// Every indexed candidate of the rare `message co <needle>`: `rowids`.
    pub fn insert_substring_candidates(&mut self, needle: String, rowids: &[i64]) {
        let list: Vec<String> = rowids.iter().map(i64::to_string).collect();
        self.substring_candidates.insert(needle, (format!("[{}]", list.join(",")), rowids.len()));
    }

    /// The needles whose candidates are listed, with how many there are (for `explain`).
    pub fn listed_substrings(&self) -> Vec<(&str, usize)> {
        let mut out: Vec<(&str, usize)> =
            self.substring_candidates.iter().map(|(needle, (_, n))| (needle.as_str(), *n)).collect();
        out.sort_unstable();
        out
    }

    /// `message co <needle>` (of trigrams `grams`) has enough candidates in the trigram index
    /// for a page in time order to be read in windows.
    pub fn insert_windowed_substring(&mut self, needle: String, grams: Vec<Vec<i64>>) {
        self.windowed_substrings.insert(needle, grams);
    }

    /// The listed candidates (a JSON array of rowids) of `e` if it is a `message co` with few
    /// candidates.
    fn rare_substring(&self, e: &Expr) -> Option<&str> {
        substring_needle(e)
            .filter(|(needle, _)| self.rare_substrings.contains(*needle))
            .and_then(|(needle, _)| self.substring_candidates.get(needle))
            .map(|(rowids, _)| rowids.as_str())
    }
}

/// The needle of a `message co "…"` comparison long enough for the trigram index, and its
/// trigrams' alternatives ([`needle_grams`]).
pub fn substring_needle(e: &Expr) -> Option<(&str, Vec<Vec<i64>>)> {
    match e {
        Expr::Compare { attr: Attr::Message, op: CompareOp::Co, value: Value::String(v) } => {
            needle_grams(v).map(|grams| (v.as_str(), grams))
        }
        _ => None,
    }
}

/// The folded term an equality looks up in `postings`, if `e` is one: `target.*` /
/// `context.*` equalities, and string equalities on the columns with postings.
pub fn equality_term(e: &Expr) -> Option<String> {
    match e {
        Expr::Compare { attr, op: CompareOp::Eq, value } if !matches!(value, Value::Null) => match (place(attr), value)
        {
            (Place::Term(prefix), _) => Some(format!("{prefix}{}", text_of(value)).to_ascii_lowercase()),
            (Place::Column(col, false), Value::String(v)) => column_term(col, v),
            _ => None,
        },
        _ => None,
    }
}

/// Appends the condition for `expr` (or its negation); `exact` for a view (an access
/// boundary), whose string comparisons are exact.
fn expr(sql: &mut Sql, s: &Split, e: &Expr, negate: bool, dense: &DenseTerms, exact: bool) {
    match e {
        Expr::Not(inner) => expr(sql, s, inner, !negate, dense, exact),
        Expr::And(items) | Expr::Or(items) => {
            let is_and = matches!(e, Expr::And(_)) != negate;
            if items.is_empty() {
                // An empty AND is true, an empty OR false.
                sql.push(if is_and { "1" } else { "0" });
                return;
            }
            sql.push("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(if is_and { " AND " } else { " OR " });
                }
                expr(sql, s, item, negate, dense, exact);
            }
            sql.push(")");
        }
        Expr::Present(attr) => present(sql, s, attr, negate),
        Expr::Compare { attr, op, value: Value::Null } => {
            // eq null: the attribute is absent; ne null: it is present.
            present(sql, s, attr, negate != (*op == CompareOp::Eq));
        }
        Expr::Compare { attr, op, value: Value::String(v) } if exact && !op.is_ordering() => {
            exact_compare(sql, s, attr, *op, v, negate, dense);
        }
        Expr::Compare { attr, op, value } => {
            if let Some(rowids) = dense.rare_substring(e).filter(|_| !negate) {
                // Exact on the column; the trigram index's candidates (and the tail) are the
                // way in.
                sql.push("(");
                scalar(sql, "message", *op, value, false);
                let (base, tail, end) = (pos(s.no, 0), pos(s.no, s.mark), pos(s.no + 1, 0));
                sql.push(" AND pos IN (SELECT value FROM json_each(").bind(SqlValue::Text(rowids.to_owned()));
                sql.push(") WHERE TRUE");
                rowid_range(sql, "value", base, tail + 1, dense.text_window);
                sql.push(" UNION ALL SELECT pos FROM events WHERE TRUE");
                rowid_range(sql, "pos", tail, end, dense.text_window);
                sql.push("))");
                return;
            }
            let term = equality_term(e);
            let is_dense = term.as_ref().is_some_and(|t| dense.contains(t));
            match (place(attr), term) {
                (Place::Term(prefix), Some(term)) if is_dense => {
                    dense_probe(sql, s, &prefix, &term, &text_of(value).to_ascii_lowercase(), negate);
                }
                (Place::Column(col, _), Some(term)) if !is_dense && !negate => {
                    // Exact on the column; the postings (and the tail) are the way in.
                    sql.push("(");
                    scalar(sql, col, *op, value, false);
                    sql.push(" AND pos IN (SELECT ").bind(s.base()).push(" + seq FROM ").push(s.postings());
                    sql.push(" WHERE tenant_no = ").bind(SqlValue::Integer(s.no)).push(" AND tid = ");
                    term_id(sql, s, term);
                    sql.push(" UNION ALL SELECT pos FROM events WHERE pos > ").bind(s.tail());
                    sql.push(" AND pos < ").bind(s.end()).push("))");
                }
                _ => compare(sql, s, attr, *op, value, negate),
            }
        }
    }
}

/// ` AND col >= ? AND col <= ?`: the rowids strictly between `after` and `before`, within
/// `window` if there is one. One bound on each side, the tighter: FTS5 seeks to one lower and
/// one upper rowid bound and only filters on any further one (a window's bounds next to the
/// tenant's had made every window read the tenant's whole doclist).
fn rowid_range(sql: &mut Sql, col: &str, after: i64, before: i64, window: Option<(i64, i64)>) {
    let (lo, hi) = window.unwrap_or((i64::MIN, i64::MAX));
    sql.push(&format!(" AND {col} >= ")).bind(SqlValue::Integer(lo.max(after.saturating_add(1))));
    sql.push(&format!(" AND {col} <= ")).bind(SqlValue::Integer(hi.min(before.saturating_sub(1))));
}

/// Whether a top-level conjunct of `e` is an equality with a sparse term (see `where_clause`).
fn drives(e: &Expr, dense: &DenseTerms) -> bool {
    match e {
        Expr::And(items) => items.iter().any(|i| drives(i, dense)),
        // A lower seq bound: the rowid range after it is the place to start.
        Expr::Compare { attr: Attr::Seq, op: CompareOp::Gt | CompareOp::Ge | CompareOp::Eq, value: Value::Int(_) } => {
            true
        }
        Expr::Compare { .. } => {
            equality_term(e).is_some_and(|t| !dense.contains(&t)) || dense.rare_substring(e).is_some()
        }
        _ => false,
    }
}

/// A common term's equality, probed per event: its posting (for the indexed part) or its
/// row's terms (for the tail).
fn dense_probe(sql: &mut Sql, s: &Split, prefix: &str, term: &str, value: &str, negate: bool) {
    sql.push(if negate { "NOT (" } else { "(" });
    sql.push("redacted IS NULL AND (EXISTS (SELECT 1 FROM ").push(s.postings()).push(" p WHERE p.tenant_no = ");
    sql.bind(SqlValue::Integer(s.no)).push(" AND p.tid = ");
    term_id(sql, s, term.to_owned());
    sql.push(" AND p.time = events.time AND p.seq = events.seq) OR (pos > ").bind(s.tail());
    sql.push(" AND stele_term(json, ").bind(SqlValue::Text(prefix.to_owned())).push(", 'eq', ");
    sql.bind(SqlValue::Text(value.to_owned())).push("))))");
}

/// The id of the tenant's `term` in the index's dictionary (NULL, which no posting's equals,
/// when it has none).
pub(crate) fn term_id(sql: &mut Sql, s: &Split, term: String) {
    sql.push("(SELECT id FROM dictionary WHERE tenant_no = ").bind(SqlValue::Integer(s.no));
    sql.push(" AND term = ").bind(SqlValue::Text(term)).push(")");
}

/// The events with a term under `prefix` satisfying `cond` (on `dictionary.term`) for the
/// indexed part, and `stele_term(json, prefix, op, value)` for the tail: the same condition.
fn term_set(sql: &mut Sql, s: &Split, negate: bool, prefix: &str, op: &str, value: &str, cond: impl FnOnce(&mut Sql)) {
    sql.push(if negate { "(redacted IS NOT NULL OR pos NOT IN " } else { "(redacted IS NULL AND pos IN " });
    sql.push("(SELECT ").bind(s.base()).push(" + seq FROM ").push(s.postings()).push(" WHERE tenant_no = ");
    sql.bind(SqlValue::Integer(s.no)).push(" AND tid IN (SELECT id FROM dictionary WHERE tenant_no = ");
    sql.bind(SqlValue::Integer(s.no)).push(" AND ");
    cond(sql);
    sql.push(") UNION ALL SELECT pos FROM events WHERE pos > ").bind(s.tail()).push(" AND pos < ").bind(s.end());
    sql.push(" AND stele_term(json, ").bind(SqlValue::Text(prefix.to_owned())).push(", ");
    sql.bind(SqlValue::Text(op.to_owned())).push(", ").bind(SqlValue::Text(value.to_owned())).push(")))");
}

fn present(sql: &mut Sql, s: &Split, attr: &Attr, negate: bool) {
    match place(attr) {
        Place::Column(col, true) => {
            sql.push(col).push(if negate { " IS NULL" } else { " IS NOT NULL" });
        }
        Place::Column(col, false) => {
            if negate {
                sql.push(&format!("({col} IS NULL OR {col} = '')"));
            } else {
                sql.push(&format!("({col} IS NOT NULL AND {col} <> '')"));
            }
        }
        Place::Term(prefix) => {
            let prefix = prefix.to_ascii_lowercase();
            term_set(sql, s, negate, &prefix, "pr", "", |sql| {
                sql.push("term > ").bind(SqlValue::Text(prefix.clone()));
                sql.push(" AND term < ").bind(SqlValue::Text(prefix_end(&prefix)));
            });
        }
        Place::Json(path) => {
            sql.push("json_extract(json, ").bind(SqlValue::Text(json_path(&path)));
            sql.push(if negate { ") IS NULL" } else { ") IS NOT NULL" });
        }
    }
}

/// The first string after every string that starts with `prefix` (which ends in `=`).
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix[..prefix.len() - 1].to_owned();
    end.push('>');
    end
}

fn compare(sql: &mut Sql, s: &Split, attr: &Attr, op: CompareOp, value: &Value, negate: bool) {
    // A seq is a position in the tenant's rowid range (`pos = base + seq`): comparing `pos`
    // lets a window of seqs (live tails, stream delivery) read one rowid range instead of
    // testing the tenant's every row — there is no index on `seq`.
    if let (Attr::Seq, Value::Int(n)) = (attr, value) {
        if (0..1i64 << 40).contains(n) && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
            let at = Value::Int(pos(s.no, *n as u64));
            return scalar(sql, "pos", op, &at, negate);
        }
    }
    match place(attr) {
        Place::Column(col, _) => scalar(sql, col, op, value, negate),
        Place::Json(path) => json_compare(sql, &json_path(&path), op, value, negate),
        // A context key holds one value: `ne` is "not equal", counting a missing key.
        Place::Term(_) if op == CompareOp::Ne && matches!(attr, Attr::Context(_)) => {
            compare(sql, s, attr, CompareOp::Eq, value, !negate);
        }
        Place::Term(prefix) => {
            // Terms are stored ASCII case-folded; compare folded values.
            let prefix = prefix.to_ascii_lowercase();
            let v = text_of(value).to_ascii_lowercase();
            // Within one attribute's terms, "any target matches" is membership.
            term_set(sql, s, negate, &prefix, op.as_str(), &v, |sql| match op {
                CompareOp::Eq => {
                    sql.push("term = ").bind(SqlValue::Text(format!("{prefix}{v}")));
                }
                CompareOp::Ne => {
                    sql.push("term > ").bind(SqlValue::Text(prefix.clone()));
                    sql.push(" AND term < ").bind(SqlValue::Text(prefix_end(&prefix)));
                    sql.push(" AND term <> ").bind(SqlValue::Text(format!("{prefix}{v}")));
                }
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    // The attribute's range of the dictionary, then the pattern in it.
                    let pattern = format!("{}{}", like_escape(&prefix), like_pattern(op, &v));
                    sql.push("term > ").bind(SqlValue::Text(prefix.clone()));
                    sql.push(" AND term < ").bind(SqlValue::Text(prefix_end(&prefix)));
                    sql.push(" AND term LIKE ").bind(SqlValue::Text(pattern)).push(" ESCAPE '\\'");
                }
                CompareOp::Gt | CompareOp::Ge => {
                    sql.push(if op == CompareOp::Gt { "term > " } else { "term >= " });
                    sql.bind(SqlValue::Text(format!("{prefix}{v}")));
                    sql.push(" AND term < ").bind(SqlValue::Text(prefix_end(&prefix)));
                }
                CompareOp::Lt | CompareOp::Le => {
                    sql.push("term > ").bind(SqlValue::Text(prefix.clone()));
                    sql.push(if op == CompareOp::Lt { " AND term < " } else { " AND term <= " });
                    sql.bind(SqlValue::Text(format!("{prefix}{v}")));
                }
            });
        }
    }
}

/// A view's string comparison, exact (`view.rs` in `stele-core` says why). The
/// case-insensitive comparison stays in front of the exact check where the exact match is a
/// subset of it, so the indexes still narrow the rows; single-valued `ne` is `not eq`.
fn exact_compare(sql: &mut Sql, s: &Split, attr: &Attr, op: CompareOp, value: &str, negate: bool, dense: &DenseTerms) {
    let ExactPlan { op, negate, prefilter } = exact_plan(attr, op, negate);
    if negate {
        sql.push("NOT COALESCE(");
        exact_check(sql, attr, op, value);
        sql.push(", 0)");
        return;
    }
    sql.push("(");
    if prefilter {
        let folded = Expr::compare(attr.clone(), op, Value::String(value.to_owned()));
        expr(sql, s, &folded, false, dense, false);
        sql.push(" AND ");
    }
    sql.push("COALESCE(");
    exact_check(sql, attr, op, value);
    sql.push(", 0))");
}

/// `GLOB`'s wildcards taken literally: `*`, `?` and `[` each as a one-character class.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// `<lhs> <exact op> ?`: byte-wise (`COLLATE BINARY`, and `GLOB`, which is case-sensitive).
fn exact_op(sql: &mut Sql, op: CompareOp, value: &str, lhs: impl FnOnce(&mut Sql)) {
    let v = glob_escape(value);
    let (sql_op, bound) = match op {
        CompareOp::Co => ("GLOB", format!("*{v}*")),
        CompareOp::Sw => ("GLOB", format!("{v}*")),
        CompareOp::Ew => ("GLOB", format!("*{v}")),
        CompareOp::Ne => ("<>", value.to_owned()),
        _ => ("=", value.to_owned()),
    };
    lhs(sql);
    sql.push(&format!(" {sql_op} ")).bind(SqlValue::Text(bound));
    if sql_op != "GLOB" {
        sql.push(" COLLATE BINARY");
    }
}

/// `json_extract(<doc>, ?)` with the path bound.
fn json_at(doc: &'static str, path: String) -> impl FnOnce(&mut Sql) {
    move |sql: &mut Sql| {
        sql.push("json_extract(").push(doc).push(", ").bind(SqlValue::Text(path)).push(")");
    }
}

/// The exact test of one string comparison on the stored row (NULL where the value is
/// missing). `target.*` looks at every target of the stored event.
fn exact_check(sql: &mut Sql, attr: &Attr, op: CompareOp, value: &str) {
    match (place(attr), attr) {
        (Place::Column(col, _), _) => exact_op(sql, op, value, |sql| {
            sql.push(col);
        }),
        (Place::Json(path), _) => {
            let path = json_path(&path);
            sql.push("(json_type(json, ").bind(SqlValue::Text(path.clone())).push(") = 'text' AND ");
            exact_op(sql, op, value, json_at("json", path));
            sql.push(")");
        }
        (Place::Term(_), Attr::Context(key)) => {
            // Context keys are `[A-Za-z0-9_.-]` (the parser checks), safe inside quotes.
            exact_op(sql, op, value, json_at("json", format!("$.context.\"{key}\"")));
        }
        (Place::Term(prefix), _) => {
            // `target.id=` -> `$.id` of each target; empty values count as absent.
            let field = format!("$.{}", prefix.trim_start_matches("target.").trim_end_matches('='));
            sql.push("EXISTS (SELECT 1 FROM json_each(events.json, '$.targets') AS t WHERE ");
            json_at("t.value", field.clone())(sql);
            sql.push(" <> '' AND ");
            exact_op(sql, op, value, json_at("t.value", field));
            sql.push(")");
        }
    }
}

fn operator(op: CompareOp, value: &Value) -> (bool, &'static str, SqlValue) {
    match op {
        CompareOp::Eq => (true, "=", sql_value(value)),
        CompareOp::Ne => (false, "=", sql_value(value)),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            (true, "LIKE", SqlValue::Text(like_pattern(op, &text_of(value))))
        }
        CompareOp::Gt => (true, ">", sql_value(value)),
        CompareOp::Ge => (true, ">=", sql_value(value)),
        CompareOp::Lt => (true, "<", sql_value(value)),
        CompareOp::Le => (true, "<=", sql_value(value)),
    }
}

/// A comparison on a column. Text columns are `COLLATE NOCASE`, so `=`, `<`… and `LIKE` fold
/// ASCII case and can use the column's index.
fn scalar(sql: &mut Sql, col: &str, op: CompareOp, value: &Value, negate: bool) {
    let (positive, sql_op, bound) = operator(op, value);
    let escape = if sql_op == "LIKE" { " ESCAPE '\\'" } else { "" };
    if positive != negate {
        sql.push(&format!("{col} {sql_op} ")).bind(bound).push(escape);
    } else {
        sql.push(&format!("({col} IS NULL OR NOT ({col} {sql_op} ")).bind(bound).push(escape).push("))");
    }
}

/// A comparison on a metadata path: only values of the literal's JSON type can match (a
/// string never equals a number, `true` never equals 1); anything else, and a missing path,
/// counts as "not matching". Strings compare case-insensitively, like columns.
fn json_compare(sql: &mut Sql, path: &str, op: CompareOp, value: &Value, negate: bool) {
    let (positive, sql_op, bound) = operator(op, value);
    let types = match value {
        Value::String(_) => "('text')",
        Value::Bool(_) => "('true', 'false')",
        _ => "('integer', 'real')",
    };
    let (collate, escape) = match (value, sql_op) {
        (_, "LIKE") => ("", " ESCAPE '\\'"),
        (Value::String(_), _) => (" COLLATE NOCASE", ""),
        _ => ("", ""),
    };
    sql.push(if positive != negate { "COALESCE((" } else { "NOT COALESCE((" });
    sql.push("json_type(json, ").bind(SqlValue::Text(path.to_owned())).push(&format!(") IN {types} AND "));
    sql.push("json_extract(json, ").bind(SqlValue::Text(path.to_owned())).push(&format!(") {sql_op} "));
    sql.bind(bound).push(collate).push(escape).push("), 0)");
}

/// The full-text query: every token of every word, AND-ed (the index keeps no positions, so
/// `ana@acme.io` means `ana AND acme AND io`); a word ending in `*` makes its last token a
/// prefix. Tokens are quoted, so no FTS syntax gets through. `None` when the words hold no
/// token (`q=!!!`): the words then match every event not redacted, as they always have.
///
/// The tenant is not in the query: a document's rowid is its event's `pos`, so every MATCH
/// is bounded by the tenant's rowid range, which FTS5 seeks to. (Documents had started with
/// a per-tenant token AND-ed into every query; at 10 M events, a word in 1 175 of the
/// largest tenant's 2.2 M events took 13.5 ms to count that way, 0.10 ms in its rowid range.)
pub fn fts_query(text: &TextQuery) -> Option<String> {
    let mut q = String::new();
    for word in text.words() {
        let (stem, prefix) = match word.strip_suffix('*') {
            Some(stem) if !stem.is_empty() => (stem, true),
            _ => (word.as_str(), false),
        };
        let tokens: Vec<&str> = stem.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
        for (i, token) in tokens.iter().enumerate() {
            if !q.is_empty() {
                q.push_str(" AND ");
            }
            q.push('"');
            q.push_str(token);
            q.push('"');
            if prefix && i + 1 == tokens.len() {
                q.push('*');
            }
        }
    }
    (!q.is_empty()).then_some(q)
}

/// The sort key's column (sorts are on single-valued attributes, which are all columns).
pub fn sort_column(sort: &Sort) -> &'static str {
    match place(&sort.attr) {
        Place::Column(col, _) => col,
        _ => "time",
    }
}

fn keyset(sql: &mut Sql, s: &Split, sort: &Sort, cursor: &Cursor) {
    let col = sort_column(sort);
    let seq = SqlValue::Integer(cursor.seq as i64);
    let (after, tie) = if sort.descending { ("<", "<") } else { (">", ">") };
    let key = match cursor.values.first() {
        Some(JsonValue::Number(n)) => n.as_i64().map(SqlValue::Integer),
        Some(JsonValue::String(s)) => Some(SqlValue::Text(s.clone())),
        _ => None,
    };
    match (key, sort.descending) {
        (Some(k), _) if matches!(sort.attr, Attr::Time | Attr::ReceivedAt) => {
            sql.push(&format!(" AND ({col}, seq) {after} (")).bind(k).push(", ").bind(seq).push(")");
        }
        (Some(_), _) if sort.attr == Attr::Seq => {
            sql.push(&format!(" AND pos {after} ")).bind(SqlValue::Integer(pos(s.no, cursor.seq)));
        }
        (Some(k), false) => {
            sql.push(&format!(" AND ({col} > ")).bind(k.clone());
            sql.push(&format!(" OR ({col} = ")).bind(k).push(" AND seq > ").bind(seq).push("))");
        }
        (Some(k), true) => {
            sql.push(&format!(" AND ({col} < ")).bind(k.clone());
            sql.push(&format!(" OR {col} IS NULL OR ({col} = ")).bind(k).push(" AND seq < ").bind(seq).push("))");
        }
        // NULLs sort first ascending, last descending.
        (None, false) => {
            sql.push(&format!(" AND ({col} IS NOT NULL OR seq > ")).bind(seq).push(")");
        }
        (None, true) => {
            sql.push(&format!(" AND ({col} IS NULL AND seq {tie} ")).bind(seq).push(")");
        }
    }
}

/// `tenant_no = ? AND <range> AND <filter> AND <text> [AND <keyset>]`.
pub fn where_clause(s: &Split, query: &Query, with_keyset: bool, dense: &DenseTerms) -> Sql {
    let mut sql = Sql::default();
    // With a small set of candidates in a top-level conjunct (a rare value's postings, or
    // the words' documents), the query should start from that set (`pos IN …`, rowid
    // lookups) and sort what it finds, rather than walk the tenant's time index and test
    // every event: `+tenant_no` keeps the planner off that index.
    let view = query.view.as_ref().map(|v| v.expr());
    let driven = (query.text.is_some() && !dense.text)
        || query.filter.as_ref().map(|f| f.expr()).into_iter().chain(view).any(|e| drives(e, dense));
    // A page in seq order over a time range (exports, streams, tails): walking the time
    // index and sorting made every page read and sort the whole range's rows, JSON and all,
    // so exporting the last minute slowed down as the log grew. Instead the page walks the
    // rowids (seq order, nothing to sort) between the least and the greatest rowid in the
    // range — found on the covering time index — testing each row's time, and stops at the
    // page's end. `+` keeps the planner off the time index for the outer query.
    let seq_range =
        with_keyset && query.sort.attr == Attr::Seq && (query.range.from.is_some() || query.range.to.is_some());
    sql.push(if driven || seq_range { "+tenant_no = " } else { "tenant_no = " }).bind(SqlValue::Integer(s.no));
    let time = if seq_range { "+time" } else { "time" };
    if let Some(from) = query.range.from {
        sql.push(&format!(" AND {time} >= ")).bind(SqlValue::Integer(from.as_micros()));
    }
    if let Some(to) = query.range.to {
        sql.push(&format!(" AND {time} < ")).bind(SqlValue::Integer(to.as_micros()));
    }
    if seq_range {
        for (bound, edge, end) in [(" AND pos >= ", "MIN", s.base()), (" AND pos <= ", "MAX", s.end())] {
            sql.push(bound);
            match (edge, query.range.from, query.range.to) {
                // An open end: the tenant's own rowids bound the walk.
                ("MIN", None, _) | ("MAX", _, None) => {
                    sql.bind(end);
                }
                _ => {
                    sql.push(&format!("(SELECT {edge}(pos) FROM events WHERE tenant_no = "))
                        .bind(SqlValue::Integer(s.no));
                    if let Some(from) = query.range.from {
                        sql.push(" AND time >= ").bind(SqlValue::Integer(from.as_micros()));
                    }
                    if let Some(to) = query.range.to {
                        sql.push(" AND time < ").bind(SqlValue::Integer(to.as_micros()));
                    }
                    sql.push(")");
                }
            }
        }
    }
    if let Some(view) = &query.view {
        sql.push(" AND ");
        expr(&mut sql, s, view.expr(), false, dense, true);
    }
    if let Some(filter) = &query.filter {
        sql.push(" AND ");
        expr(&mut sql, s, filter.expr(), false, dense, false);
    }
    if let Some(text) = &query.text {
        // The index's documents up to the mark, the reader's tail documents after it
        // (`index::fill_tail` made them for this read).
        match fts_query(text) {
            // No token: every event that is not redacted (a redacted event has no document).
            None => {
                sql.push(" AND redacted IS NULL");
            }
            // Common words: each event walked in the page's order is looked up in the index
            // (FTS5 seeks its doclists to one rowid, the event's own), so a page reads about
            // its own rows rather than every match, sorted.
            Some(words) if dense.text => {
                let words = SqlValue::Text(words);
                sql.push(" AND redacted IS NULL AND (EXISTS (SELECT 1 FROM events_fts WHERE events_fts MATCH ");
                sql.bind(words.clone()).push(" AND rowid = events.pos) OR (pos > ").bind(s.tail());
                sql.push(" AND EXISTS (SELECT 1 FROM tail_fts WHERE tail_fts MATCH ").bind(words);
                sql.push(" AND rowid = events.pos)))");
            }
            // FTS5 seeks its doclists to a rowid range: the indexed part's (or a window's)
            // matches cost about their share of the word's.
            Some(words) => {
                let words = SqlValue::Text(words);
                sql.push(" AND redacted IS NULL AND pos IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ");
                sql.bind(words.clone());
                rowid_range(&mut sql, "rowid", pos(s.no, 0), pos(s.no, s.mark).saturating_add(1), dense.text_window);
                sql.push(" UNION ALL SELECT rowid FROM tail_fts WHERE tail_fts MATCH ").bind(words);
                rowid_range(&mut sql, "rowid", pos(s.no, s.mark), pos(s.no + 1, 0), dense.text_window);
                sql.push(")");
            }
        }
    }
    if let (true, PageRequest::After(cursor)) = (with_keyset, &query.page) {
        keyset(&mut sql, s, &query.sort, cursor);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use stele_core::Filter;

    fn compiled(filter: &str) -> Sql {
        let query = Query { filter: Some(Filter::parse(filter).expect("valid filter")), ..Query::default() };
        where_clause(&Split { no: 7, mark: 0, recent: true, tail: true }, &query, false, &DenseTerms::new())
    }

    #[test]
    fn values_are_parameters_never_text() {
        let sql = compiled(r#"actor.email eq "x' OR 1=1 --" or target.id co "%_\\" or context.env sw "p""#);
        assert!(!sql.text.contains("OR 1=1"), "{}", sql.text);
        assert!(sql.params.contains(&SqlValue::Text("x' OR 1=1 --".into())));
        assert!(sql.params.contains(&SqlValue::Text("target.id=%\\%\\_\\\\%".into())), "{:?}", sql.params);
        assert!(sql.params.contains(&SqlValue::Text("context.env=p%".into())));
        assert_eq!(sql.text.matches('?').count(), sql.params.len());
    }

    #[test]
    fn dense_terms_probe_per_event() {
        let query =
            Query { filter: Some(Filter::parse(r#"not context.Env eq "Prod""#).expect("filter")), ..Query::default() };
        let mut dense = DenseTerms::new();
        dense.insert("context.env=prod".to_owned());
        let split = Split { no: 7, mark: 0, recent: true, tail: true };
        let sql = where_clause(&split, &query, false, &dense);
        assert!(sql.text.contains("NOT (redacted IS NULL AND (EXISTS (SELECT 1 FROM all_postings p"), "{}", sql.text);
        let sparse = where_clause(&split, &query, false, &DenseTerms::new());
        assert!(sparse.text.contains("pos NOT IN (SELECT ? + seq FROM all_postings"), "{}", sparse.text);
    }

    #[test]
    fn negation_keeps_missing_values() {
        let sql = compiled(r#"not (actor.email eq "a" and status eq "failure")"#);
        assert_eq!(sql.text, "tenant_no = ? AND ((actor_email IS NULL OR NOT (actor_email = ?)) OR (status IS NULL OR NOT (status = ?)))");
    }

    #[test]
    fn common_words_probe_per_event() {
        let query = Query { text: TextQuery::parse("login").expect("words"), ..Query::default() };
        let split = Split { no: 7, mark: 10, recent: true, tail: true };
        let dense = where_clause(&split, &query, false, &DenseTerms::new().with_dense_text());
        assert!(dense.text.starts_with("tenant_no = ?"), "walks the time index: {}", dense.text);
        assert!(dense
            .text
            .contains("EXISTS (SELECT 1 FROM events_fts WHERE events_fts MATCH ? AND rowid = events.pos)"));
        assert!(dense.text.contains("EXISTS (SELECT 1 FROM tail_fts WHERE tail_fts MATCH ? AND rowid = events.pos)"));
        assert_eq!(dense.text.matches('?').count(), dense.params.len());
        let sparse = where_clause(&split, &query, false, &DenseTerms::new());
        assert!(sparse.text.starts_with("+tenant_no = ?"), "starts from the matches: {}", sparse.text);
        assert!(sparse.text.contains("pos IN (SELECT rowid FROM events_fts"), "{}", sparse.text);
    }

    #[test]
    fn fts_words_become_quoted_tokens() {
        let text = TextQuery::parse(r#"ana@acme.io "x" cre* ")"#).expect("words").expect("some");
        assert_eq!(fts_query(&text).as_deref(), Some(r#""ana" AND "acme" AND "io" AND "x" AND "cre"*"#));
        let blank = TextQuery::parse("!!! ...").expect("words").expect("some");
        assert_eq!(fts_query(&blank), None, "no token");
    }
}
