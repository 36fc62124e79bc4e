//! The filter compiler for PostgreSQL: a [`Query`] becomes a WHERE clause of fixed SQL
//! fragments and a list of bound parameters (`$1`, `$2`…). No value is ever written into
//! the SQL text.
//!
//! It mirrors `stele-sqlite`'s compiler rule for rule, so both backends select the same
//! events: text compares with ASCII-only case folding (`stele_fold(col)`, a `COLLATE "C"`
//! column, so ordering is by code point like SQLite's `NOCASE`); `not` is pushed down to the
//! leaves with an explicit negated form that counts a missing value as "not equal";
//! `target.*` and `context.<key>` live in `event_terms` (stored folded); `metadata.<path>`
//! reads the `metadata` `jsonb` column with a type check like SQLite's `json_type`.

use serde_json::Value as JsonValue;
use std::ops::RangeInclusive;
use stele_core::filter::Value;
use stele_core::{Attr, CompareOp, Cursor, Expr, PageRequest, Query, Sort, TextQuery};
use stele_store::layout::{self, exact_plan, like_escape, place, text_of, ExactPlan, Place};
use tokio_postgres::types::ToSql;

/// A bound parameter.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// SQL text with its parameters, in order.
#[derive(Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql").field("text", &self.text).field("params", &self.params).finish()
    }
}

impl Sql {
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends `$n` for a new parameter.
    pub(crate) fn bind<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> &mut Self {
        self.params.push(Box::new(value));
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        self
    }

    /// The parameters as tokio-postgres takes them.
    pub fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// ASCII-only case folding, the same as the SQL function `stele_fold` (and SQLite's NOCASE).
pub fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// A folded LIKE pattern for `co`, `sw` or `ew`.
fn like_pattern(op: CompareOp, value: &str) -> String {
    let v = like_escape(&fold(value));
    match op {
        CompareOp::Sw => format!("{v}%"),
        CompareOp::Ew => format!("%{v}"),
        _ => format!("%{v}%"),
    }
}

/// The SQL operator of a comparison, and whether the comparison is positive (`ne` is the
/// negation of `=`).
fn operator(op: CompareOp) -> (bool, &'static str) {
    match op {
        CompareOp::Eq => (true, "="),
        CompareOp::Ne => (false, "="),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => (true, "LIKE"),
        CompareOp::Gt => (true, ">"),
        CompareOp::Ge => (true, ">="),
        CompareOp::Lt => (true, "<"),
        CompareOp::Le => (true, "<="),
    }
}

/// Appends the condition for `expr` (or its negation); `exact` for a view (an access
/// boundary), whose string comparisons are exact.
fn expr(sql: &mut Sql, arm: Arm<'_>, e: &Expr, negate: bool, exact: bool) {
    match e {
        Expr::Not(inner) => expr(sql, arm, inner, !negate, exact),
        Expr::And(items) | Expr::Or(items) => {
            let is_and = matches!(e, Expr::And(_)) != negate;
            if items.is_empty() {
                // An empty AND is true, an empty OR false.
                sql.push(if is_and { "TRUE" } else { "FALSE" });
                return;
            }
            sql.push("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(if is_and { " AND " } else { " OR " });
                }
                expr(sql, arm, item, negate, exact);
            }
            sql.push(")");
        }
        Expr::Present(attr) => present(sql, arm, attr, negate),
        Expr::Compare { attr, op, value: Value::Null } => {
            // eq null: the attribute is absent; ne null: it is present.
            present(sql, arm, attr, negate != (*op == CompareOp::Eq));
        }
        Expr::Compare { attr, op, value: Value::String(v) } if exact && !op.is_ordering() => {
            exact_compare(sql, arm, attr, *op, v, negate);
        }
        Expr::Compare { attr, op, value } => compare(sql, arm, attr, *op, value, negate),
    }
}

/// A view's string comparison, exact (`view.rs` in `stele-core` says why), mirroring
/// `stele-sqlite`: the case-insensitive comparison stays in front of the exact check where the
/// exact match is a subset of it, so the indexes still narrow the rows; single-valued `ne` is
/// `not eq`.
fn exact_compare(sql: &mut Sql, arm: Arm<'_>, attr: &Attr, op: CompareOp, value: &str, negate: bool) {
    let ExactPlan { op, negate, prefilter } = exact_plan(attr, op, negate);
    if negate {
        sql.push("NOT COALESCE(");
        exact_check(sql, attr, op, value);
        sql.push(", FALSE)");
        return;
    }
    sql.push("(");
    if prefilter {
        let folded = Expr::compare(attr.clone(), op, Value::String(value.to_owned()));
        expr(sql, arm, &folded, false, false);
        sql.push(" AND ");
    }
    sql.push("COALESCE(");
    exact_check(sql, attr, op, value);
    sql.push(", FALSE))");
}

/// `<lhs> <exact op> $n`: `=`/`<>` on `COLLATE "C"` text and `LIKE` are case-sensitive.
fn exact_op(sql: &mut Sql, op: CompareOp, value: &str, lhs: impl FnOnce(&mut Sql)) {
    let v = like_escape(value);
    let (sql_op, bound) = match op {
        CompareOp::Co => ("LIKE", format!("%{v}%")),
        CompareOp::Sw => ("LIKE", format!("{v}%")),
        CompareOp::Ew => ("LIKE", format!("%{v}")),
        CompareOp::Ne => ("<>", value.to_owned()),
        _ => ("=", value.to_owned()),
    };
    lhs(sql);
    sql.push(&format!(" COLLATE \"C\" {sql_op} ")).bind(bound);
    if sql_op == "LIKE" {
        sql.push(" ESCAPE '\\'");
    }
}

/// The exact test of one string comparison on the stored row (NULL where the value is
/// missing). `context.*` and `target.*` read the stored event's JSON.
fn exact_check(sql: &mut Sql, attr: &Attr, op: CompareOp, value: &str) {
    match (place(attr), attr) {
        (Place::Column(col, _), _) => exact_op(sql, op, value, |sql| {
            sql.push(col);
        }),
        (Place::Json(path), _) => {
            sql.push("(jsonb_typeof(metadata #> ").bind(path.clone()).push(") = 'string' AND ");
            exact_op(sql, op, value, |sql| {
                sql.push("(metadata #>> ").bind(path).push(")");
            });
            sql.push(")");
        }
        (Place::Term(_), Attr::Context(key)) => exact_op(sql, op, value, |sql| {
            sql.push("(json::jsonb -> 'context' ->> ").bind(key.clone()).push(")");
        }),
        (Place::Term(prefix), _) => {
            // `target.id=` -> `id` of each target; empty values count as absent.
            let field = prefix.trim_start_matches("target.").trim_end_matches('=').to_owned();
            sql.push("EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(json::jsonb -> 'targets') = 'array' ");
            sql.push("THEN json::jsonb -> 'targets' ELSE '[]'::jsonb END) AS t WHERE (t ->> ").bind(field.clone());
            sql.push(") <> '' AND ");
            exact_op(sql, op, value, |sql| {
                sql.push("(t ->> ").bind(field).push(")");
            });
            sql.push(")");
        }
    }
}

fn present(sql: &mut Sql, arm: Arm<'_>, attr: &Attr, negate: bool) {
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
            term_subquery(sql, arm, negate, |sql| {
                sql.push("term > ").bind(prefix.clone());
                sql.push(" AND term < ").bind(prefix_end(&prefix));
            });
        }
        Place::Json(path) => {
            // A JSON null counts as absent, as SQLite's json_extract makes it.
            sql.push(if negate { "NOT " } else { "" });
            sql.push("COALESCE(jsonb_typeof(metadata #> ").bind(path).push(") <> 'null', FALSE)");
        }
    }
}

/// The first string after every string that starts with `prefix` (which ends in `=`).
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix[..prefix.len() - 1].to_owned();
    end.push('>');
    end
}

/// Which rows a condition is compiled for: the indexed ones (`seq <= mark`, through the
/// postings) or the tail after the mark (through the rows' own terms and document text).
/// A query is the union of its two arms (`index.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arm<'a> {
    no: i64,
    tail: bool,
    bounds: Option<Bounds>,
    /// How the page's driving condition is read in the indexed arm ([`PagePlan`]).
    plan: &'a PagePlan,
}

/// The plan of a statement that leaves every choice to PostgreSQL's planner.
const PLANNER: &PagePlan = &PagePlan { driver: None, how: TextPlan::Planner };

/// The tenant's index mark and head as read earlier in the page's own snapshot (a
/// repeatable-read transaction, `read.rs::query`): the planner sees the values, and a page
/// plans no tail arm when the mark is at the head (most of the time without ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub mark: i64,
    pub head: i64,
}

/// The tenant's index mark (`head` false) or head: the value read in this snapshot, or a
/// subquery that reads it in the statement's own snapshot (`index.rs`).
fn bound(sql: &mut Sql, arm: Arm<'_>, head: bool) {
    match (arm.bounds, head) {
        (Some(b), _) => {
            sql.bind(if head { b.head } else { b.mark });
        }
        (None, false) => {
            sql.push("(SELECT COALESCE(max(seq), 0) FROM index_marks WHERE tenant_no = ").bind(arm.no).push(")");
        }
        (None, true) => {
            sql.push("(SELECT head_seq FROM tenants WHERE no = ").bind(arm.no).push(")");
        }
    }
}

/// The rows whose terms satisfy `cond` (on a column named `term`): the postings in the
/// indexed arm, the row's own `terms` in the tail.
fn term_subquery(sql: &mut Sql, arm: Arm<'_>, negate: bool, cond: impl Fn(&mut Sql)) {
    if arm.tail {
        sql.push(if negate { "NOT " } else { "" });
        sql.push("EXISTS (SELECT 1 FROM unnest(terms) AS tail(term) WHERE ");
        cond(sql);
        sql.push(")");
        return;
    }
    sql.push(if negate { "seq NOT IN " } else { "seq IN " });
    sql.push("(SELECT seq FROM event_terms WHERE tenant_no = ").bind(arm.no).push(" AND ");
    cond(sql);
    sql.push(")");
}

/// How a page's indexed arm finds the events that match its driving condition ([`Driver`]:
/// the words of `q`, or a `message co` needle). PostgreSQL's estimate of a tenant's matches
/// multiplied the words' frequency by the tenant's share of the table although the words
/// included the tenant's token, so a word in half of a small tenant's events looked rare there
/// and every match was collected and sorted (t25 at 10 M events: 562 ms for a page), and a
/// word in 0.1% of a large tenant's looked common and the time index was walked for it (307
/// ms); keys of one tenant (a needle's trigrams, and since migration 16 the words) have no
/// frequencies of their own and are estimated alike whatever they are. `read.rs` decides from
/// the data instead ([`window_sql`], [`matches_sql`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TextPlan {
    /// The planner's choice (counts; other sort orders): the words' documents or the needle's
    /// trigram candidates as a subquery.
    #[default]
    Planner,
    /// Walk the page's order and test each event, in the page's own statement: the page is
    /// near the start of the first window [`window_sql`] walked, or the matches are common enough to walk
    /// to and the page reads more rows than a list holds ([`walks_rather_than_lists`]; a
    /// page reading fewer is [`TextPlan::Walked`]), or a needle has more matches than a list
    /// holds.
    Probe,
    /// The indexed events that match: all of them, read in the page's snapshot.
    Matches(Vec<i64>),
    /// The indexed events that match, in the page's order from its start, as many as it
    /// reads (fewer when no more match), and the least and greatest of their times, so the
    /// page reads only their rows (in the months of those times): found walking the time
    /// index — far into the first window ([`window_sql`]), or on after a window that held too
    /// few of them ([`walk_on_sql`]; no event is walked twice) —, or the first of `listed`
    /// matches, when the driver is all the page tests ([`driver_alone`]).
    Walked { seqs: Vec<i64>, times: (i64, i64), listed: Option<Listed> },
    /// The condition left out (true): the walk that finds its matches tests them itself.
    Excluded,
}

/// How a page's matches were listed ([`TextPlan::Walked`]): how many (the first window's
/// included), and from how many of the tenant's time buckets from the window's end on
/// (`None`: every match in the page's range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub matches: usize,
    pub buckets: Option<i64>,
}

/// The condition a page's plan is chosen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// The words of `q`.
    Words,
    /// A `message co` needle (folded) that the filter requires (a top-level condition) and
    /// that is long enough for the trigram index ([`needle_grams`]).
    Substring(String),
}

/// A page's driving condition and how its indexed arm reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagePlan {
    pub driver: Option<Driver>,
    pub how: TextPlan,
}

impl PagePlan {
    /// How the driver is read if it is `driver`, else as the planner likes.
    fn how_for(&self, driver: &Driver) -> &TextPlan {
        match &self.driver {
            Some(d) if d == driver => &self.how,
            _ => &TextPlan::Planner,
        }
    }
}

/// The condition whose plan a page may choose from the data: a time-ordered page's words,
/// else a `message co` needle the filter requires (the walk follows the time index; another
/// order has no index to walk).
pub fn page_driver(query: &Query) -> Option<Driver> {
    fn required_needle(e: &Expr) -> Option<String> {
        match e {
            Expr::And(items) => items.iter().find_map(required_needle),
            Expr::Compare { attr: Attr::Message, op: CompareOp::Co, value: Value::String(v) } => {
                let needle = fold(v);
                layout::needle_gram_starts(needle.chars().count()).map(|_| needle)
            }
            _ => None,
        }
    }
    if query.sort.attr != Attr::Time {
        return None;
    }
    if query.text.is_some() {
        return Some(Driver::Words);
    }
    query.filter.as_ref().and_then(|f| required_needle(f.expr())).map(Driver::Substring)
}

/// A folded needle's index keys at each offset ([`layout::needle_gram_starts`]), written as
/// the SQL function `stele_grams` writes a message's (migration 15): `<tenant_no>:<trigram>`,
/// so one tenant's candidates never include another's. `None` when it is too short.
pub fn needle_grams(tenant_no: i64, needle: &str) -> Option<Vec<Vec<String>>> {
    let chars: Vec<char> = needle.chars().collect();
    let offsets = layout::needle_gram_starts(chars.len())?;
    Some(
        offsets
            .iter()
            .map(|starts| {
                starts.iter().map(|&i| format!("{tenant_no}:{}", chars[i..i + 3].iter().collect::<String>())).collect()
            })
            .collect(),
    )
}

/// The index expression of `event_messages` (migration 17): a message's trigram keys and its
/// time bucket's key.
const MESSAGE_KEYS: &str = "stele_message_keys(tenant_no, time, message)";
/// The index expression of `event_docs` (migration 17): a document's words and its time
/// bucket's key.
const DOC_KEYS: &str = "stele_doc_keys(tenant_no, time, doc)";

/// The keys of a tenant's time buckets `buckets` ([`crate::rows::bucket_key`]).
fn bucket_keys(tenant_no: i64, buckets: &RangeInclusive<i64>) -> Vec<String> {
    buckets.clone().map(|b| crate::rows::bucket_key(tenant_no, b)).collect()
}

/// `(keys @> $a OR …)`: the messages that hold the needle's trigrams at one of the offsets (a
/// superset of those that contain it), on `event_messages`, each offset's keys asked for with
/// the keys of `buckets` when there are (`&&`, in the same index scan); every message (of
/// those buckets) when there are no trigrams to ask for.
fn grams_condition(sql: &mut Sql, grams: Vec<Vec<String>>, buckets: Option<Vec<String>>) {
    let in_buckets = |sql: &mut Sql| {
        if let Some(keys) = &buckets {
            sql.push(&format!(" AND {MESSAGE_KEYS} && ")).bind(keys.clone());
        }
    };
    if grams.is_empty() {
        sql.push("TRUE");
        in_buckets(sql);
        return;
    }
    sql.push("(");
    for (i, keys) in grams.into_iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push(&format!("({MESSAGE_KEYS} @> ")).bind(keys);
        in_buckets(sql);
        sql.push(")");
    }
    sql.push(")");
}

/// The rows whose full-text document matches `query` (a `to_tsquery` text): the postings in
/// the indexed arm as `plan` says, the row's own `search` text in the tail.
fn text_subquery(sql: &mut Sql, arm: Arm<'_>, query: String) {
    if arm.tail {
        sql.push("stele_doc(").bind(arm.no).push(", search) @@ to_tsquery('simple', ").bind(query).push(")");
        return;
    }
    match arm.plan.how_for(&Driver::Words) {
        TextPlan::Planner => {
            sql.push("seq IN (SELECT seq FROM event_docs WHERE tenant_no = ").bind(arm.no);
            sql.push(&format!(" AND {DOC_KEYS} @@ to_tsquery('simple', ")).bind(query).push("))");
        }
        // A scalar subquery is not turned into a join: it is evaluated per walked event.
        TextPlan::Probe => doc_probe(sql, arm.no, "events.seq", query),
        // The arm reads only the listed matches' rows (`arm_rows`), or the window tests them.
        TextPlan::Matches(_) | TextPlan::Walked { .. } | TextPlan::Excluded => {
            sql.push("TRUE");
        }
    }
}

/// `<message> ILIKE '%needle%'` on the row's own column (`message`, or `<alias>.message`):
/// false when it has no message. Under the C collation `ILIKE` lowers only ASCII letters
/// (PostgreSQL's `lower()` takes `asc_tolower` for a C `LC_CTYPE`), which is `stele_fold`, and
/// the needle is folded already: the same answer as comparing the folded copy in
/// `event_messages`. Walking a large tenant, it costs 0.56 µs an event against 1.8 µs for
/// looking that copy up by key, and 7 µs for folding the column with `stele_fold` (10 M-event
/// log, 20 000 events walked warm).
fn message_test(sql: &mut Sql, column: &str, needle: &str) {
    sql.push(&format!("COALESCE(({column} COLLATE \"C\") ILIKE "));
    sql.bind(like_pattern(CompareOp::Co, needle)).push(" ESCAPE '\\', FALSE)");
}

/// `(the document of event <seq>) @@ query`: false when the event has no document.
fn doc_probe(sql: &mut Sql, no: i64, seq: &str, query: String) {
    sql.push("COALESCE((SELECT doc FROM event_docs WHERE tenant_no = ").bind(no);
    sql.push(&format!(" AND seq = {seq}) @@ to_tsquery('simple', ")).bind(query).push("), FALSE)");
}

impl Driver {
    /// What reading one listed match costs against walking past one event. A match is a
    /// document (or message) read from its index's bitmap with its time (words: 1.1–3.7 µs at
    /// 10 M events, scattered over the table's pages; a needle's candidates, compared, a few
    /// µs a match); unless the driver is `alone` ([`driver_alone`]), its event is also looked
    /// up in every month's primary key and read, then sorted (~8 µs in all). A walked event
    /// is the next entry of the time index and its row read, in nearly the order they were
    /// written, and its document looked up by key (words: 1.1–3 µs, the documents in the
    /// same order) or its message compared on the row ([`message_test`], a needle: ~0.6 µs).
    fn list_cost_per_walked_event(&self, alone: bool) -> f64 {
        match (self, alone) {
            (Driver::Words, true) => 1.5,
            (Driver::Words, false) => 4.0,
            (Driver::Substring(_), true) => 5.0,
            (Driver::Substring(_), false) => 10.0,
        }
    }

    /// How many events walked to a page's rows cost more to walk again, in the page's own
    /// statement, than to look the rows found up by seq in their months (~0.3–0.7 ms for 51
    /// rows at 10 M events): a walked event costs ~1–3 µs with a document's lookup, ~0.6 µs
    /// with its message compared on the row.
    pub fn walked_again_beyond(&self) -> i64 {
        match self {
            Driver::Words => 250,
            Driver::Substring(_) => 1_000,
        }
    }

    /// Whether a walk that its first window left short goes on after it ([`walk_on_sql`])
    /// rather than starting over in the page's own statement ([`TextPlan::Probe`]). Going on
    /// costs two more statements (the window's end, the walk on: ~1 ms planned and sent) and
    /// the found rows' lookup, and saves testing the window's events again: 1 020 key
    /// lookups of documents (~2 ms), but only ~0.6 ms of messages compared on the row, which
    /// walking on made slower (`stele bench query`, 10 M events: `message co` p50 on the
    /// largest tenant 5.4, 6.2 → 7.3, 7.8 ms).
    pub fn walks_on(&self) -> bool {
        matches!(self, Driver::Words)
    }
}

/// Whether a page walks (in its own statement, or on after the window: [`walk_on_sql`])
/// rather than lists its `driver`'s matches, given that `found` of the first `window` indexed
/// events in its order match (counted up to the `need` rows the page reads) and the tenant
/// has `indexed` events up to the mark. If the page was in the window, walk. Otherwise the
/// window gives the matches' density `d`: listing reads about `d · indexed` matches, each [`Driver::list_cost_per_walked_event`] times a
/// walked event, and walking to the page about `need / d` events; walk when `d² · cost ·
/// indexed > need`. A few matches say little of the density (3 in 1 020 came from a word in
/// 0.12% of a tenant's events, whose walk would have read 42 k events to list 2 725), so `d`
/// is taken low: `(found − √found) / window`. (Stele's own rule, as SQLite's
/// `DENSE_TERM_ROWS`: the planner's estimate is what is wrong here.)
pub fn walks_rather_than_lists(driver: &Driver, alone: bool, found: i64, need: i64, window: i64, indexed: i64) -> bool {
    let found_low = found as f64 - (found as f64).sqrt();
    let density = found_low / window.max(1) as f64;
    let cost = driver.list_cost_per_walked_event(alone);
    found >= need || density * density * cost * indexed as f64 > need as f64
}

/// The most matches a page lists ([`matches_sql`]) before walking to them instead: as many
/// as cost what walking to the page costs when the matches are that many. Listing `m`
/// matches costs `m · cost` walked events ([`Driver::list_cost_per_walked_event`]); walking
/// to `need` of them, `need · indexed / m` events; the two meet at `√(need · indexed /
/// cost)` (3 366 for a needle in a tenant of 2.2 M events and a page of 50), so neither
/// choice costs more than about twice the better one, whatever the window saw. At least the
/// page's rows, at most [`TEXT_MATCHES_CAP`].
pub fn list_cap(driver: &Driver, alone: bool, need: i64, indexed: i64) -> i64 {
    let even = (need as f64 * indexed as f64 / driver.list_cost_per_walked_event(alone)).sqrt();
    (even as i64).clamp(need.min(TEXT_MATCHES_CAP), TEXT_MATCHES_CAP)
}

/// Whether a page that lists its driver's matches in its order ([`driver_alone`]) asks for
/// those of the time buckets nearest its first window's end first ([`matches_sql`]'s
/// `buckets`, from [`list_span`] on): when the `found` matches of the `window` events walked
/// say the tenant's `indexed` events hold more than four pages' worth (`need` rows). Each
/// listed match costs a read of its document's page (one heap page of `event_docs` each, from
/// disk when cold: a word in 8 451 of the largest tenant's events took 589 ms to list at 10 M
/// events), and buckets keep the matches past the page's rows from being read. Fewer are
/// listed whole.
pub fn lists_by_bucket(found: i64, need: i64, window: i64, indexed: i64) -> bool {
    (found as f64 + 1.0) * indexed as f64 >= 4.0 * need as f64 * window.max(1) as f64
}

/// How long a time past the first window's end (µs, in the page's order) a list by bucket
/// covers first: where three times the `rows` the page still needs would match at the
/// window's density, `found + 1` matches (one more, for a window with none) in `window_span`
/// µs — an estimate taken high, so that the first buckets usually hold the page. At least
/// 1 µs.
pub fn list_span(found: i64, rows: i64, window_span: i64) -> i64 {
    let span = 3.0 * rows as f64 * window_span as f64 / (found as f64 + 1.0);
    (span as i64).max(1)
}

/// Whether a page whose matches are listed by bucket ([`lists_by_bucket`]) lists them rather
/// than walks on to its `rest` rows (or walks to them again, for a needle): `found` in the
/// `window` events walked, over `window_span` µs. Walking costs `rest / d` events at the
/// window's density `d`, taken low as in [`walks_rather_than_lists`]. A list by bucket holds
/// the matches of [`list_span`] (three times `rest`) and those of up to a bucket more at its
/// edges (a bucket holds `window · 2^35 / window_span` events at the window's rate, and
/// `found + 1` in `window` of them match), each
/// [`Driver::list_cost_per_walked_event`], and costs a statement more (~250 walked events,
/// ~0.5 ms). A word in 0.5% of the largest tenant's events at 10 M: ~200 matches listed
/// against ~13 000 events walked (20 ms).
pub fn buckets_rather_than_walks(driver: &Driver, found: i64, rest: i64, window: i64, window_span: i64) -> bool {
    let (found, rest, window) = (found as f64, rest as f64, window.max(1) as f64);
    let low = (found - found.sqrt()) / window;
    if low <= 0.0 {
        return true;
    }
    let bucket_events = window * (1i64 << crate::rows::BUCKET_SHIFT) as f64 / window_span.max(1) as f64;
    let listed = 3.0 * rest + (found + 1.0) / window * bucket_events;
    driver.list_cost_per_walked_event(true) * listed + LIST_STATEMENT_EVENTS < rest / low
}

/// What one more statement costs, in walked events ([`buckets_rather_than_walks`]).
const LIST_STATEMENT_EVENTS: f64 = 250.0;

/// Most time buckets a list asks for at once (64 × 2^35 µs: about 25 days); a page that needs
/// more lists its matches whole.
pub const LIST_BUCKETS_MAX: i64 = 64;

/// Most indexed matches a page lists or walks to ([`TextPlan::Matches`],
/// [`TextPlan::Walked`]); a page reading more walks in its own statement.
pub const TEXT_MATCHES_CAP: i64 = 20_000;

/// How many events a page's first window walks ([`window_sql`]) for the `need` rows it
/// reads: twenty pages' worth, at least 1 000, at most 20 000 — what a walk that does not
/// find the page costs before the matches are listed whole —, or five pages' worth, at least
/// 250, when the driver is all the page tests ([`driver_alone`]): its matches past the
/// window are then listed by time bucket or walked on to, none tested twice
/// ([`buckets_rather_than_walks`]), and the window need only tell how common they are (a
/// word's document looked up costs ~1.7 µs an event: 1.8 ms of a rare word's 4.5 ms page in
/// the largest tenant at 10 M events was its window of 1 020).
pub fn window_events(alone: bool, need: i64) -> i64 {
    if alone {
        need.saturating_mul(5).clamp(250, 20_000)
    } else {
        need.saturating_mul(20).clamp(1_000, 20_000)
    }
}

/// The seq, sort key, place in the walk (from 1) and whether it matches, of the first `take`
/// indexed events in the page's order (every condition of `query` but its `driver`, from the
/// page's cursor), among the first `window` of them, that match the driver — their documents
/// the words, their messages the needle —, in the page's order, and of the window's first and
/// last events (places 1 and `window`) whether they match or not: how common the matches are
/// where the page starts ([`walks_rather_than_lists`]) and over how long a time
/// ([`list_span`]), how far the walk went for them ([`Driver::walked_again_beyond`]), and
/// where a walk on starts from (no last event: the window held every event). Each event is
/// tested on its own (a key lookup of its document, or its message compared on the row:
/// [`message_test`]), once (the test is a column of a fenced subquery).
pub fn window_sql(tenant_no: i64, query: &Query, driver: &Driver, bounds: Bounds, window: i64, take: i64) -> Sql {
    let mut sql = Sql::default();
    let key = sort_key(&query.sort);
    let message = if matches!(driver, Driver::Substring(_)) { ", message" } else { "" };
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    sql.push("SELECT seq, walk_key, place, matched FROM (SELECT seq, walk_key, place, (");
    match driver {
        Driver::Words => {
            let words = query.text.as_ref().map(|t| ts_query(tenant_no, t)).unwrap_or_default();
            doc_probe(&mut sql, tenant_no, "walked.seq", words);
        }
        Driver::Substring(needle) => message_test(&mut sql, "walked.message", needle),
    }
    sql.push(&format!(
        ") AS matched FROM (SELECT seq, {key} AS walk_key{message}, \
         row_number() OVER (ORDER BY {key} {dir}, seq {dir}) AS place "
    ));
    indexed_walk(&mut sql, (tenant_no, query, bounds), driver, TextPlan::Excluded, |_| {});
    sql.push(" LIMIT ").bind(window);
    // The window's own order, in the fenced subquery too (already the rows' order, so no
    // sort: without it the planner sorted the tested rows, testing the whole window before
    // the limit, where it stops at the `take`-th match).
    sql.push(&format!(") AS walked ORDER BY walk_key {dir}, seq {dir} OFFSET 0) AS tested "));
    sql.push("WHERE matched OR place = 1 OR place = ").bind(window);
    sql.push(&format!(" ORDER BY walk_key {dir}, seq {dir} LIMIT ")).bind(take.saturating_add(2));
    sql
}

/// `FROM events WHERE …` of the indexed arm (the `driver` read as `how`, from the page's
/// cursor), then `extra` (a walk's own bounds), then `ORDER BY` in the page's order: the walk
/// of [`window_sql`], [`window_end_sql`] and [`walk_on_sql`], each adding its own limit.
fn indexed_walk(
    sql: &mut Sql,
    (tenant_no, query, bounds): (i64, &Query, Bounds),
    driver: &Driver,
    how: TextPlan,
    extra: impl FnOnce(&mut Sql),
) {
    let plan = PagePlan { driver: Some(driver.clone()), how };
    arm_rows(sql, Arm { no: tenant_no, tail: false, bounds: Some(bounds), plan: &plan }, query, true);
    extra(sql);
    let key = sort_key(&query.sort);
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    sql.push(&format!(" ORDER BY {key} {dir}, seq {dir}"));
}

/// The seq and sort key of the first `take` indexed events that match all of `query` after
/// `(key, seq)` in the page's order, walking the time index and testing each event
/// ([`TextPlan::Probe`]): a walk that goes on after [`window_sql`]'s window (from its last
/// event). One statement whose `LIMIT` the walk serves, so the planner walks (a walk inside a
/// subquery with no limit of its own was planned as a sort of the whole tenant: seconds).
pub fn walk_on_sql(
    tenant_no: i64,
    query: &Query,
    driver: &Driver,
    bounds: Bounds,
    after: (i64, i64),
    take: i64,
) -> Sql {
    let col = sort_column(&query.sort);
    let beyond = if query.sort.descending { "<" } else { ">" };
    let mut sql = Sql::default();
    sql.push(&format!("SELECT seq, {} ", sort_key(&query.sort)));
    indexed_walk(&mut sql, (tenant_no, query, bounds), driver, TextPlan::Probe, |sql| {
        sql.push(&format!(" AND ({col}, seq) {beyond} (")).bind(after.0).push(", ").bind(after.1).push(")");
    });
    sql.push(" LIMIT ").bind(take);
    sql
}

/// The seq and time of the indexed events (up to the mark) that match the `driver` of
/// `query` — documents with its words, messages with its needle (their trigram candidates,
/// compared) — within its time range and after its cursor, and in the time `buckets` when
/// there are ([`crate::rows::bucket`]: the index's keys of those buckets asked for with the
/// words or trigrams), at most `cap + 1` of them (more than `cap`: too many to list). Each
/// document and message carries its event's time, so a list is put in the page's order
/// without reading the matches' rows ([`driver_alone`]).
///
/// The index keys are the tenant's own (`<no>x<word>`, `<no>:<trigram>`, `<no> <bucket>`), so
/// their postings are the tenant's candidates already; the tenant and the mark are tested on
/// the rows found, outside an `OFFSET 0` fence. Without it, a key the planner takes for common
/// (it keeps no frequencies per tenant key) is AND-ed with the primary key's range of the
/// tenant, every one of its events: 4.3 ms for the 89 k of the 10 M-event benchmark's small
/// tenant, where a word's 59 postings took 0.02 ms.
pub fn matches_sql(
    tenant_no: i64,
    query: &Query,
    driver: &Driver,
    bounds: Bounds,
    cap: i64,
    buckets: Option<RangeInclusive<i64>>,
) -> Sql {
    let mut sql = Sql::default();
    let buckets = buckets.map(|b| bucket_keys(tenant_no, &b));
    match driver {
        Driver::Words => {
            let words = query.text.as_ref().map(|t| ts_query(tenant_no, t)).unwrap_or_default();
            sql.push(&format!(
                "SELECT seq, time FROM (SELECT tenant_no, seq, time FROM event_docs WHERE {DOC_KEYS} @@ \
                 (to_tsquery('simple', "
            ));
            sql.bind(words).push(")");
            if let Some(keys) = buckets {
                // The keys hold a space: `to_tsquery` would parse them as two words, the
                // `tsquery` type takes them as they are (quoted as lexemes are).
                let any: Vec<String> = keys.iter().map(|k| ts_quote(k)).collect();
                sql.push(" && CAST(").bind(any.join(" | ")).push("::text AS tsquery)");
            }
            sql.push(")");
        }
        Driver::Substring(needle) => {
            sql.push("SELECT seq, time FROM (SELECT tenant_no, seq, time FROM event_messages WHERE ");
            grams_condition(&mut sql, needle_grams(tenant_no, needle).unwrap_or_default(), buckets);
            sql.push(" AND message LIKE ").bind(like_pattern(CompareOp::Co, needle)).push(" ESCAPE '\\'");
        }
    }
    sql.push(" OFFSET 0) AS keyed WHERE tenant_no = ").bind(tenant_no).push(" AND seq <= ").bind(bounds.mark);
    if let Some(from) = query.range.from {
        sql.push(" AND time >= ").bind(from.as_micros());
    }
    if let Some(to) = query.range.to {
        sql.push(" AND time < ").bind(to.as_micros());
    }
    if let PageRequest::After(cursor) = &query.page {
        keyset(&mut sql, &query.sort, cursor);
    }
    sql.push(" LIMIT ").bind(cap.saturating_add(1));
    sql
}

/// Whether the page's `driver` is all that its indexed rows are tested for besides the time
/// range and the cursor ([`matches_sql`] applies both): `q` and nothing else, or one
/// `message co` and nothing else, and no view. Then the listed matches in the page's order
/// are its rows, and only the first it reads need be looked up.
pub fn driver_alone(query: &Query, driver: &Driver) -> bool {
    if query.view.is_some() {
        return false;
    }
    match driver {
        Driver::Words => query.filter.is_none(),
        Driver::Substring(needle) => {
            fn only(e: &Expr, needle: &str) -> bool {
                match e {
                    Expr::And(items) if items.len() == 1 => only(&items[0], needle),
                    Expr::Compare { attr: Attr::Message, op: CompareOp::Co, value: Value::String(v) } => {
                        fold(v) == needle
                    }
                    _ => false,
                }
            }
            query.text.is_none() && query.filter.as_ref().is_some_and(|f| only(f.expr(), needle))
        }
    }
}

/// Whether a page is one that an index of `events` holds in its order: sorted by time, with no
/// words and no view, and a filter of nothing but equalities on columns with a `(tenant_no,
/// stele_fold(column), time, seq)` index (`action`, `actor.id`, `actor.email`, `status`; the
/// action and email pair has one too). Such a page walks that index and stops at its limit,
/// so `read.rs` has its statement planned without sorts (`SET LOCAL enable_sort = off`): the
/// planner, which estimates a value's frequency over every tenant, took an actor with 1 957
/// events in a small tenant for a rare one, read all of them and sorted them (p99 39–68 ms
/// on the 10 M corpus, session 45) where the walk reads the page's rows.
pub fn walks_a_column_index(query: &Query) -> bool {
    fn equalities(e: &Expr) -> bool {
        match e {
            Expr::And(items) => !items.is_empty() && items.iter().all(equalities),
            Expr::Compare {
                attr: Attr::Action | Attr::ActorId | Attr::ActorEmail | Attr::Status,
                op: CompareOp::Eq,
                value: Value::String(_),
            } => true,
            _ => false,
        }
    }
    query.sort.attr == Attr::Time
        && query.text.is_none()
        && query.view.is_none()
        && query.filter.as_ref().is_some_and(|f| equalities(f.expr()))
}

fn compare(sql: &mut Sql, arm: Arm<'_>, attr: &Attr, op: CompareOp, value: &Value, negate: bool) {
    if let (false, false, Attr::Message, CompareOp::Co) = (arm.tail, negate, attr, op) {
        let needle = fold(&text_of(value));
        if let Some(grams) = needle_grams(arm.no, &needle) {
            match arm.plan.how_for(&Driver::Substring(needle.clone())) {
                // The arm reads only the listed matches' rows, or the window tests them.
                TextPlan::Matches(_) | TextPlan::Walked { .. } | TextPlan::Excluded => {
                    sql.push("TRUE");
                    return;
                }
                // The walk compares each event's own message ([`message_test`]). Inside the
                // COALESCE the planner counts the test as keeping half the rows, so it walks
                // to the page (its estimate of a bare `ILIKE '%…%'` made it sort a small
                // tenant's rows).
                TextPlan::Probe => {
                    message_test(sql, "events.message", &needle);
                    return;
                }
                // The indexed events' folded messages (`index.rs`) whose aligned trigrams
                // hold the needle's, compared with the same LIKE.
                TextPlan::Planner => {
                    sql.push("seq IN (SELECT seq FROM event_messages WHERE tenant_no = ").bind(arm.no);
                    sql.push(" AND ");
                    grams_condition(sql, grams, None);
                    sql.push(" AND message LIKE ").bind(like_pattern(op, &needle)).push(" ESCAPE '\\')");
                    return;
                }
            }
        }
    }
    match place(attr) {
        Place::Column(col, true) => integer(sql, col, op, value, negate),
        Place::Column(col, false) => text(sql, col, op, value, negate),
        Place::Json(path) => json_compare(sql, path, op, value, negate),
        // A context key holds one value: `ne` is "not equal", counting a missing key.
        Place::Term(_) if op == CompareOp::Ne && matches!(attr, Attr::Context(_)) => {
            compare(sql, arm, attr, CompareOp::Eq, value, !negate);
        }
        Place::Term(prefix) => {
            let v = fold(&text_of(value));
            // Within one attribute's terms, "any target matches" is membership.
            term_subquery(sql, arm, negate, |sql| match op {
                CompareOp::Eq => {
                    sql.push("term = ").bind(format!("{prefix}{v}"));
                }
                CompareOp::Ne => {
                    sql.push("term > ").bind(prefix.clone());
                    sql.push(" AND term < ").bind(prefix_end(&prefix));
                    sql.push(" AND term <> ").bind(format!("{prefix}{v}"));
                }
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    let pattern = format!("{}{}", like_escape(&prefix), like_pattern(op, &v));
                    sql.push("term LIKE ").bind(pattern).push(" ESCAPE '\\'");
                }
                CompareOp::Gt | CompareOp::Ge => {
                    sql.push(if op == CompareOp::Gt { "term > " } else { "term >= " });
                    sql.bind(format!("{prefix}{v}"));
                    sql.push(" AND term < ").bind(prefix_end(&prefix));
                }
                CompareOp::Lt | CompareOp::Le => {
                    sql.push("term > ").bind(prefix.clone());
                    sql.push(if op == CompareOp::Lt { " AND term < " } else { " AND term <= " });
                    sql.bind(format!("{prefix}{v}"));
                }
            });
        }
    }
}

/// Writes `positive` as is, or its negation that also holds where `col` is NULL.
fn with_negation(sql: &mut Sql, col: &str, positive: bool, negate: bool, cond: impl FnOnce(&mut Sql)) {
    if positive != negate {
        cond(sql);
    } else {
        sql.push(&format!("({col} IS NULL OR NOT ("));
        cond(sql);
        sql.push("))");
    }
}

/// A comparison on an integer column (the parser only lets integers and instants reach it).
fn integer(sql: &mut Sql, col: &'static str, op: CompareOp, value: &Value, negate: bool) {
    let (positive, sql_op) = operator(op);
    with_negation(sql, col, positive, negate, |sql| match value {
        Value::Int(i) => {
            sql.push(&format!("{col} {sql_op} ")).bind(*i);
        }
        Value::Time(t) => {
            sql.push(&format!("{col} {sql_op} ")).bind(t.as_micros());
        }
        Value::Float(f) => {
            sql.push(&format!("{col}::float8 {sql_op} ")).bind(*f);
        }
        Value::Bool(b) => {
            sql.push(&format!("{col} {sql_op} ")).bind(i64::from(*b));
        }
        other => {
            sql.push(&format!("{col}::text {sql_op} ")).bind(text_of(other));
        }
    });
}

/// A comparison on a text column: `stele_fold(col)` against a folded value, so `=`, `<`…
/// and `LIKE` fold ASCII case and can use the expression indexes.
fn text(sql: &mut Sql, col: &'static str, op: CompareOp, value: &Value, negate: bool) {
    let (positive, sql_op) = operator(op);
    with_negation(sql, col, positive, negate, |sql| {
        sql.push(&format!("stele_fold({col}) {sql_op} "));
        if sql_op == "LIKE" {
            sql.bind(like_pattern(op, &text_of(value))).push(" ESCAPE '\\'");
        } else {
            sql.bind(fold(&text_of(value)));
        }
    });
}

/// A comparison on a metadata path: only values of the literal's JSON type can match (a
/// string never equals a number, `true` never equals 1); anything else, and a missing path,
/// counts as "not matching". Strings compare case-insensitively, like columns. The CASE
/// keeps PostgreSQL from casting a value of another type.
fn json_compare(sql: &mut Sql, path: Vec<String>, op: CompareOp, value: &Value, negate: bool) {
    let (positive, sql_op) = operator(op);
    let types = match value {
        Value::String(_) => "('string')",
        Value::Bool(_) => "('boolean')",
        _ => "('number')",
    };
    sql.push(if positive != negate { "COALESCE(" } else { "NOT COALESCE(" });
    sql.push("CASE WHEN jsonb_typeof(metadata #> ").bind(path.clone()).push(&format!(") IN {types} THEN "));
    match value {
        _ if sql_op == "LIKE" => {
            sql.push("stele_fold(metadata #>> ").bind(path).push(") LIKE ");
            sql.bind(like_pattern(op, &text_of(value))).push(" ESCAPE '\\'");
        }
        Value::String(s) => {
            sql.push("stele_fold(metadata #>> ").bind(path).push(&format!(") COLLATE \"C\" {sql_op} "));
            sql.bind(fold(s));
        }
        Value::Bool(b) => {
            sql.push("(metadata #> ").bind(path).push(&format!(")::boolean {sql_op} "));
            sql.bind(*b);
        }
        Value::Int(i) => {
            sql.push("(metadata #> ").bind(path).push(&format!(")::numeric {sql_op} "));
            sql.bind(*i).push("::int8");
        }
        Value::Float(f) => {
            sql.push("(metadata #> ").bind(path).push(&format!(")::numeric {sql_op} "));
            sql.bind(*f).push("::float8");
        }
        Value::Time(t) => {
            sql.push("(metadata #> ").bind(path).push(&format!(")::numeric {sql_op} "));
            sql.bind(t.as_micros()).push("::int8");
        }
        Value::Null => {
            sql.push("FALSE");
        }
    }
    sql.push(" ELSE FALSE END, FALSE)");
}

/// Quotes one lexeme for `to_tsquery`.
fn ts_quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The full-text query: every word, split into its letters-and-digits runs as documents are
/// ([`crate::rows::document`]; SQLite's `fts_query` does the same), each under the tenant's
/// key ([`crate::rows::tenant_key`], as `stele_doc` writes documents) and quoted; `*` keeps
/// the last run of a word a prefix. With no word, the tenant's token, which every document has.
pub fn ts_query(tenant_no: i64, text: &TextQuery) -> String {
    let mut runs = Vec::new();
    for word in text.words() {
        let (stem, prefix) = match word.strip_suffix('*') {
            Some(stem) if !stem.is_empty() => (stem, true),
            _ => (word.as_str(), false),
        };
        let tokens: Vec<&str> = stem.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
        for (i, token) in tokens.iter().enumerate() {
            let quoted = ts_quote(&crate::rows::tenant_key(tenant_no, token));
            runs.push(if prefix && i + 1 == tokens.len() { format!("{quoted}:*") } else { quoted });
        }
    }
    if runs.is_empty() {
        runs.push(ts_quote(&crate::rows::tenant_key(tenant_no, &crate::rows::tenant_token(tenant_no))));
    }
    runs.join(" & ")
}

/// The sort key's column (sorts are on single-valued attributes, which are all columns).
pub fn sort_column(sort: &Sort) -> &'static str {
    match place(&sort.attr) {
        Place::Column(col, _) => col,
        _ => "time",
    }
}

/// The sort key as compared and ordered: text folded, integers as they are.
pub fn sort_key(sort: &Sort) -> String {
    let col = sort_column(sort);
    if sort.is_integer() {
        col.to_owned()
    } else {
        format!("stele_fold({col})")
    }
}

fn keyset(sql: &mut Sql, sort: &Sort, cursor: &Cursor) {
    let col = sort_column(sort);
    let key = sort_key(sort);
    let seq = cursor.seq as i64;
    let after = if sort.descending { "<" } else { ">" };
    enum Key {
        Int(i64),
        Text(String),
    }
    let value = match cursor.values.first() {
        Some(JsonValue::Number(n)) => n.as_i64().map(Key::Int),
        Some(JsonValue::String(s)) => Some(Key::Text(fold(s))),
        _ => None,
    };
    let bind_key = |sql: &mut Sql, k: &Key| match k {
        Key::Int(i) if sort.is_integer() => {
            sql.bind(*i);
        }
        Key::Int(i) => {
            sql.bind(i.to_string());
        }
        Key::Text(s) if sort.is_integer() => {
            sql.bind(s.parse::<i64>().unwrap_or_default());
        }
        Key::Text(s) => {
            sql.bind(s.clone());
        }
    };
    match (value, sort.descending) {
        (Some(k), _) if matches!(sort.attr, Attr::Time | Attr::ReceivedAt) => {
            sql.push(&format!(" AND ({col}, seq) {after} ("));
            bind_key(sql, &k);
            sql.push(", ").bind(seq).push(")");
        }
        (Some(_), _) if sort.attr == Attr::Seq => {
            sql.push(&format!(" AND seq {after} ")).bind(seq);
        }
        (Some(k), false) => {
            sql.push(&format!(" AND ({key} > "));
            bind_key(sql, &k);
            sql.push(&format!(" OR ({key} = "));
            bind_key(sql, &k);
            sql.push(" AND seq > ").bind(seq).push("))");
        }
        (Some(k), true) => {
            sql.push(&format!(" AND ({key} < "));
            bind_key(sql, &k);
            sql.push(&format!(" OR {col} IS NULL OR ({key} = "));
            bind_key(sql, &k);
            sql.push(" AND seq < ").bind(seq).push("))");
        }
        // NULLs sort first ascending, last descending (as in SQLite).
        (None, false) => {
            sql.push(&format!(" AND ({col} IS NOT NULL OR seq > ")).bind(seq).push(")");
        }
        (None, true) => {
            sql.push(&format!(" AND ({col} IS NULL AND seq < ")).bind(seq).push(")");
        }
    }
}

/// One arm's rows: `FROM <source> WHERE <range> AND <filter> AND <text> [AND <keyset>]`.
/// The indexed arm reads `events` up to the mark. The tail reads the primary key's range
/// after the mark, up to the head (both read in the read's snapshot: [`Bounds`]), fenced by
/// `OFFSET 0`: otherwise the planner, which cannot know the mark, walks the tenant's whole
/// time index for an ordered page and filters `seq > mark` (14 ms on a 222 k-event tenant,
/// where the range is a few rows).
fn arm_rows(sql: &mut Sql, arm: Arm<'_>, query: &Query, with_keyset: bool) {
    if arm.tail {
        sql.push("FROM (SELECT * FROM events WHERE tenant_no = ").bind(arm.no).push(" AND seq > ");
        bound(sql, arm, false);
        sql.push(" AND seq <= ");
        bound(sql, arm, true);
        sql.push(" OFFSET 0) AS events WHERE TRUE");
    } else if let (Some(_), TextPlan::Matches(seqs) | TextPlan::Walked { seqs, .. }) = (&arm.plan.driver, &arm.plan.how)
    {
        // The listed matches' rows, fenced as the tail is: otherwise the planner, which
        // counts each listed seq as found in several tenants, still walks the time index
        // past the matches (1 960 of 2.2 M events: 51 k rows walked, 72 ms, against 18 ms
        // for reading the 1 960 and sorting them; `explain analyze`, 10 M events). Walked
        // matches come with their times, which leave out the other months' partitions (51
        // rows: 0.7 ms looked up in all seven, 0.3 ms in one).
        sql.push("FROM (SELECT * FROM events WHERE tenant_no = ").bind(arm.no);
        sql.push(" AND seq = ANY(").bind(seqs.clone()).push(")");
        if let TextPlan::Walked { times: (from, to), .. } = &arm.plan.how {
            sql.push(" AND time >= ").bind(*from).push(" AND time <= ").bind(*to);
        }
        sql.push(" OFFSET 0) AS events WHERE seq <= ");
        bound(sql, arm, false);
    } else {
        sql.push("FROM events WHERE tenant_no = ").bind(arm.no).push(" AND seq <= ");
        bound(sql, arm, false);
    }
    if let Some(from) = query.range.from {
        sql.push(" AND time >= ").bind(from.as_micros());
    }
    if let Some(to) = query.range.to {
        sql.push(" AND time < ").bind(to.as_micros());
    }
    if let Some(view) = &query.view {
        sql.push(" AND ");
        expr(sql, arm, view.expr(), false, true);
    }
    if let Some(filter) = &query.filter {
        sql.push(" AND ");
        expr(sql, arm, filter.expr(), false, false);
    }
    if let Some(text) = &query.text {
        sql.push(" AND ");
        text_subquery(sql, arm, ts_query(arm.no, text));
    }
    if let (true, PageRequest::After(cursor)) = (with_keyset, &query.page) {
        keyset(sql, &query.sort, cursor);
    }
}

/// The tenant's events that match `query`, as a derived table of `events` rows: the indexed
/// arm united with the tail (`(SELECT * FROM events WHERE … UNION ALL SELECT * FROM events
/// WHERE …)`). Counts, histograms and facets read from it.
pub fn matching(tenant_no: i64, query: &Query) -> Sql {
    let mut sql = Sql::default();
    sql.push("(SELECT * ");
    arm_rows(&mut sql, Arm { no: tenant_no, tail: false, bounds: None, plan: PLANNER }, query, false);
    sql.push(" UNION ALL SELECT * ");
    arm_rows(&mut sql, Arm { no: tenant_no, tail: true, bounds: None, plan: PLANNER }, query, false);
    sql.push(")");
    sql
}

/// The rows a page skips (an offset page's offset).
fn page_offset(query: &Query) -> i64 {
    match query.page {
        PageRequest::Offset(n) => i64::try_from(n).unwrap_or(i64::MAX),
        _ => 0,
    }
}

/// The rows a page reads to answer: its offset, its limit and one more (is there a next page).
pub fn rows_needed(query: &Query) -> i64 {
    page_offset(query).saturating_add(i64::from(query.limit.get())).saturating_add(1)
}

/// The SELECT for one page: `seq`, the raw sort key (for the cursor) and the stored JSON,
/// one row more than the limit. Each arm is ordered and cut on its own (so the indexed arm
/// keeps the plans of a plain indexed query: a walk along an index that stops at the page's
/// end), then the two are merged. With `bounds` (read in the same snapshot) whose mark is at
/// the head, the tail arm, which would hold nothing, is left out.
pub fn page_sql(tenant_no: i64, query: &Query, bounds: Option<Bounds>, plan: &PagePlan) -> Sql {
    let col = sort_column(&query.sort);
    let key = sort_key(&query.sort);
    // NULLs first ascending, last descending, as in SQLite; columns that are never NULL
    // take the plain direction, which lets the planner walk their indexes (backwards).
    let nullable =
        !matches!(query.sort.attr, Attr::Time | Attr::ReceivedAt | Attr::Seq | Attr::Id | Attr::Action | Attr::Status);
    let dir = match (query.sort.descending, nullable) {
        (true, true) => "DESC NULLS LAST",
        (false, true) => "ASC NULLS FIRST",
        (true, false) => "DESC",
        (false, false) => "ASC",
    };
    let seq_dir = if query.sort.descending { "DESC" } else { "ASC" };
    let offset = page_offset(query);
    let limit = i64::from(query.limit.get()) + 1;
    let mut sql = Sql::default();
    sql.push("SELECT seq, sort_col, json FROM (");
    let caught_up = bounds.is_some_and(|b| b.mark >= b.head);
    for tail in if caught_up { &[false][..] } else { &[false, true][..] } {
        let tail = *tail;
        sql.push(if tail { " UNION ALL (" } else { "(" });
        sql.push(&format!("SELECT seq, {col} AS sort_col, {key} AS sort_key, json "));
        arm_rows(&mut sql, Arm { no: tenant_no, tail, bounds, plan }, query, true);
        sql.push(&format!(" ORDER BY {key} {dir}, seq {seq_dir} LIMIT ")).bind(rows_needed(query));
        sql.push(")");
    }
    sql.push(&format!(") AS page ORDER BY sort_key {dir}, seq {seq_dir} LIMIT ")).bind(limit);
    sql.push(" OFFSET ").bind(offset);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use stele_core::{Filter, ViewFilter};

    fn compiled(filter: &str) -> Sql {
        let query = Query { filter: Some(Filter::parse(filter).expect("valid filter")), ..Query::default() };
        let mut sql = Sql::default();
        arm_rows(&mut sql, Arm { no: 7, tail: false, bounds: None, plan: PLANNER }, &query, false);
        sql
    }

    #[test]
    fn values_are_parameters_never_text() {
        let sql = compiled(r#"actor.email eq "x' OR 1=1 --" or target.id co "%_\\" or context.env sw "p""#);
        assert!(!sql.text.contains("OR 1=1"), "{}", sql.text);
        let params = format!("{:?}", sql.params);
        assert!(params.contains(r#""x' or 1=1 --""#), "{params}");
        assert!(params.contains(r#""target.id=%\\%\\_\\\\%""#), "{params}");
        assert!(params.contains(r#""context.env=p%""#), "{params}");
        assert_eq!(sql.text.matches('$').count(), sql.params.len());
    }

    #[test]
    fn negation_keeps_missing_values() {
        let sql = compiled(r#"not (actor.email eq "a" and status eq "failure")"#);
        assert_eq!(
            sql.text,
            "FROM events WHERE tenant_no = $1 AND seq <= (SELECT COALESCE(max(seq), 0) FROM index_marks WHERE tenant_no = $2) \
             AND ((actor_email IS NULL OR NOT (stele_fold(actor_email) = $3)) \
             OR (status IS NULL OR NOT (stele_fold(status) = $4)))"
        );
    }

    #[test]
    fn message_co_takes_trigram_candidates_only_where_they_exist() {
        // Positive control: a needle of four characters, in the indexed arm.
        let sql = compiled(r#"message co "LogD""#);
        assert!(sql.text.contains("FROM event_messages") && sql.text.contains("stele_message_keys"), "{}", sql.text);
        assert!(format!("{:?}", sql.params).contains(r#"["7:log"], ["7:ogd"]"#), "{:?}", sql.params);
        for filter in [r#"message co "log""#, r#"not message co "logged""#, r#"message sw "logged""#] {
            assert!(!compiled(filter).text.contains("event_messages"), "{filter}");
        }
        let query = Query { filter: Some(Filter::parse(r#"message co "logged""#).expect("valid")), ..Query::default() };
        let mut tail = Sql::default();
        arm_rows(&mut tail, Arm { no: 7, tail: true, bounds: None, plan: PLANNER }, &query, false);
        assert!(!tail.text.contains("event_messages"), "the tail has no candidates: {}", tail.text);
    }

    #[test]
    fn a_page_is_driven_by_its_words_or_a_needle_it_requires() {
        let driver = |filter: &str, text: Option<&str>| {
            let query = Query {
                filter: Some(Filter::parse(filter).expect("valid")),
                text: text.and_then(|t| TextQuery::parse(t).expect("words")),
                ..Query::default()
            };
            page_driver(&query)
        };
        let needle = |n: &str| Some(Driver::Substring(n.to_owned()));
        assert_eq!(driver(r#"message co "LogD""#, None), needle("logd"));
        assert_eq!(
            driver(r#"action eq "a" and (status eq "success" and message co "Zeppelin")"#, None),
            needle("zeppelin")
        );
        assert_eq!(driver(r#"message co "logd""#, Some("word")), Some(Driver::Words));
        for filter in [r#"message co "log""#, r#"not message co "logged""#, r#"action eq "a" or message co "logged""#] {
            assert_eq!(driver(filter, None), None, "{filter}");
        }
        let by_action = Query {
            filter: Some(Filter::parse(r#"message co "logged""#).expect("valid")),
            sort: stele_core::Sort::parse("action").expect("sort"),
            ..Query::default()
        };
        assert_eq!(page_driver(&by_action), None, "no walk along another order");
        // A driven needle is read as its plan says, wherever it is required.
        let query = Query { filter: Some(Filter::parse(r#"message co "logged""#).expect("valid")), ..Query::default() };
        let plan = |how| PagePlan { driver: needle("logged"), how };
        let listed = page_sql(7, &query, None, &plan(TextPlan::Matches(vec![3, 5])));
        assert!(listed.text.contains("seq = ANY(") && !listed.text.contains("stele_message_keys"), "{}", listed.text);
        let walked = page_sql(7, &query, None, &plan(TextPlan::Probe));
        assert!(
            walked.text.contains("(events.message COLLATE \"C\") ILIKE")
                && !walked.text.contains("event_messages")
                && !walked.text.contains("stele_message_keys"),
            "{}",
            walked.text
        );
    }

    #[test]
    fn bounds_are_values_and_a_caught_up_page_has_no_tail_arm() {
        let query = Query { filter: Some(Filter::parse(r#"action eq "a""#).expect("valid")), ..Query::default() };
        let subqueries = page_sql(7, &query, None, PLANNER);
        assert!(subqueries.text.contains("FROM index_marks") && subqueries.text.contains("UNION ALL"));
        let behind = page_sql(7, &query, Some(Bounds { mark: 5, head: 9 }), PLANNER);
        assert!(!behind.text.contains("FROM index_marks") && !behind.text.contains("FROM tenants"), "{}", behind.text);
        assert!(behind.text.contains("UNION ALL"), "{}", behind.text);
        let params = format!("{:?}", behind.params);
        assert!(params.contains('5') && params.contains('9'), "{params}");
        let caught_up = page_sql(7, &query, Some(Bounds { mark: 9, head: 9 }), PLANNER);
        assert!(!caught_up.text.contains("UNION ALL") && caught_up.text.contains("seq <= $"), "{}", caught_up.text);
        assert_eq!(caught_up.text.matches('$').count(), caught_up.params.len());
    }

    #[test]
    fn a_list_holds_as_many_matches_as_walking_to_the_page_costs() {
        let needle = Driver::Substring("tifupe".into());
        // √(51 · 2 222 640 / 10): listing 3 366 matches costs what walking 51 of them does.
        assert_eq!(list_cap(&needle, false, 51, 2_222_640), 3366);
        assert_eq!(list_cap(&Driver::Words, false, 51, 2_222_640), 5323);
        assert_eq!(list_cap(&Driver::Words, false, 51, 88_904), 1064);
        // Lists of a driver alone read no rows but the page's: longer ones pay.
        assert_eq!(list_cap(&needle, true, 51, 2_222_640), 4761);
        assert_eq!(list_cap(&Driver::Words, true, 51, 2_222_640), 8693);
        // Never fewer than the page's rows, never more than a list holds.
        assert_eq!(list_cap(&needle, false, 51, 100), 51);
        assert_eq!(list_cap(&Driver::Words, true, 501, i64::MAX), TEXT_MATCHES_CAP);
        assert_eq!(list_cap(&Driver::Words, false, 30_001, 100), TEXT_MATCHES_CAP);
    }

    #[test]
    fn lists_ask_for_buckets_when_the_tenant_holds_pages_of_matches_past_the_window() {
        // (found in the window of 1 020, indexed events, by bucket): four pages of 51 or more
        // at the window's density, one match more than found.
        let cases = [
            (0, 2_222_640, true),
            (4, 2_222_640, true),
            (0, 208_080, true),
            (0, 208_079, false),
            (3, 52_020, true),
            (3, 52_019, false),
            (0, 88_904, false),
        ];
        for (found, indexed, by_bucket) in cases {
            assert_eq!(lists_by_bucket(found, 51, 1_020, indexed), by_bucket, "{found} of {indexed}");
        }
        // Three times the rows still needed, at the window's density: 4 matches in a window
        // of 3.5 · 10⁹ µs leave 47 rows, found in about 1.2 · 10¹¹ µs (3.6 buckets).
        assert_eq!(list_span(4, 47, 3_500_000_000), 98_700_000_000);
        assert_eq!(list_span(0, 6, 1_000), 18_000);
        assert_eq!(list_span(0, 6, 0), 1, "at least a microsecond");
    }

    #[test]
    fn a_window_is_five_pages_when_the_driver_is_alone_and_twenty_else() {
        for (alone, need, window) in
            [(true, 51, 255), (true, 6, 250), (true, 10_001, 20_000), (false, 51, 1_020), (false, 6, 1_000)]
        {
            assert_eq!(window_events(alone, need), window, "{alone} {need}");
        }
        assert_eq!(window_events(false, 5_001), 20_000);
    }

    #[test]
    fn buckets_are_listed_unless_walking_on_is_shorter() {
        let words = Driver::Words;
        // The largest tenant at 10 M events: 1 020 events in 3.57 · 10⁹ µs (9 800 a bucket).
        let span = 3_570_000_000;
        // A word in 0.5% of them: ~200 listed against ~13 000 events walked.
        assert!(buckets_rather_than_walks(&words, 6, 45, 1_020, span));
        // None found: the walk's length is unknown.
        assert!(buckets_rather_than_walks(&words, 0, 51, 1_020, span));
        // 45 found, 6 more: 160 events walked against a bucket's 450 matches.
        assert!(!buckets_rather_than_walks(&words, 45, 6, 1_020, span));
        // A needle's matches cost more to list: where words list, a needle may walk.
        let needle = Driver::Substring("tifupe".into());
        assert!(buckets_rather_than_walks(&words, 25, 26, 1_020, span));
        assert!(!buckets_rather_than_walks(&needle, 25, 26, 1_020, span));
        // Every event in one bucket: listing it costs more than any walk.
        assert!(!buckets_rather_than_walks(&words, 3, 48, 1_020, 1_019));
    }

    #[test]
    fn time_buckets_are_the_times_high_bits_below_zero_too() {
        use crate::rows::{bucket, bucket_key, bucket_start, BUCKET_SHIFT};
        let size = 1i64 << BUCKET_SHIFT;
        for (time, expected) in [(0, 0), (size - 1, 0), (size, 1), (-1, -1), (-size, -1), (-size - 1, -2)] {
            assert_eq!(bucket(time), expected, "{time}");
            assert!(bucket_start(expected) <= time && time < bucket_start(expected + 1), "{time}");
        }
        assert_eq!(bucket_key(7, -2), "7 -2", "a space, which no word's key holds");
    }

    #[test]
    fn words_are_walked_to_when_the_walk_is_shorter_than_their_list() {
        // (alone, found in the window of 1 020, page needs 51, indexed events, walks?)
        let words = [
            (false, 51, 51, 1020, 100, true),       // the page is in the window
            (false, 0, 51, 1020, 2_222_640, false), // none nearby: list them
            (false, 5, 51, 1020, 2_222_640, true),  // 0.5% of 2.2 M: 11 k to list, ~10 k to walk
            (false, 3, 51, 1020, 2_222_640, false), // as likely 0.1% as 0.3%: list them
            (false, 2, 51, 1020, 2_222_640, false), // 0.2%: 4.4 k to list, ~26 k to walk
            (false, 5, 51, 1020, 88_904, false),    // 0.5% of 89 k: 440 to list, ~10 k to walk
            (false, 20, 51, 1020, 88_904, true),    // 2% of 89 k: 1 800 to list, ~2.6 k to walk
            (false, 20, 51, 1020, 3_000, false),    // 2% of 3 000: 60 to list
            // Alone, a listed match costs about one and a half walked events.
            (true, 0, 51, 1020, 2_222_640, false),
            (true, 6, 51, 1020, 2_222_640, false), // 0.35% of 2.2 M: 7.7 k to list, ~15 k to walk
            (true, 7, 51, 1020, 2_222_640, true),  // 0.43%: 9.5 k to list, ~12 k to walk
            (true, 24, 51, 1020, 88_904, false),
            (true, 25, 51, 1020, 88_904, true), // 2% of 89 k: 1 700 to list, ~2.6 k to walk
        ];
        // A walked event costs a needle less (its row's own message is compared): walking
        // pays from a lower density on.
        let needle = Driver::Substring("tifupe".into());
        let needles = [
            (false, 51, 51, 1020, 100, true),       // the page is in the window
            (false, 0, 51, 1020, 2_222_640, false), // none nearby: list them
            (false, 4, 51, 1020, 2_222_640, true),  // ~0.3% of 2.2 M: 6.7 k to list, ~17 k to walk
            (false, 3, 51, 1020, 2_222_640, false), // as likely 0.1% as 0.3%: list them
            (false, 5, 51, 1020, 88_904, false),    // 0.5% of 89 k: 440 to list, ~10 k to walk
            (false, 12, 51, 1020, 88_904, true),    // 1.2% of 89 k: 1 070 to list, ~4 k to walk
            (true, 4, 51, 1020, 2_222_640, false),
            (true, 5, 51, 1020, 2_222_640, true),
        ];
        for (driver, cases) in [(&Driver::Words, &words[..]), (&needle, &needles[..])] {
            for &(alone, found, need, window, indexed, walks) in cases {
                assert_eq!(
                    walks_rather_than_lists(driver, alone, found, need, window, indexed),
                    walks,
                    "{driver:?} (alone {alone}): {found} of {window} in {indexed}"
                );
            }
        }
    }

    /// A time-ordered query of words, a filter and a view, each optional.
    fn query(text: Option<&str>, filter: Option<&str>, view: Option<&str>) -> Query {
        Query {
            text: text.and_then(|t| TextQuery::parse(t).expect("words")),
            filter: filter.map(|f| Filter::parse(f).expect("filter")),
            view: view.map(|v| ViewFilter::new(Filter::parse(v).expect("view").into_expr()).expect("view")),
            ..Query::default()
        }
    }

    #[test]
    fn a_list_is_the_page_only_when_the_driver_is_all_it_tests() {
        let needle = Driver::Substring("zeppelin".into());
        let cases = [
            (query(Some("zeppelin"), None, None), Driver::Words, true),
            (query(Some("zeppelin"), Some(r#"action eq "a""#), None), Driver::Words, false),
            (query(Some("zeppelin"), None, Some(r#"action eq "a""#)), Driver::Words, false),
            (query(None, Some(r#"message co "Zeppelin""#), None), needle.clone(), true),
            (query(None, Some(r#"message co "zeppelin" and message co "zep""#), None), needle.clone(), false),
            (query(None, Some(r#"message co "zeppelin" and action eq "a""#), None), needle.clone(), false),
            (query(None, Some(r#"message co "zeppelin" or message co "zeppelin""#), None), needle.clone(), false),
            (query(None, Some(r#"message co "zeppelin""#), Some(r#"action eq "a""#)), needle.clone(), false),
            (query(None, Some(r#"message co "other""#), None), needle, false),
        ];
        for (query, driver, alone) in cases {
            assert_eq!(driver_alone(&query, &driver), alone, "{query:?}");
        }
    }

    #[test]
    fn only_pages_of_indexed_column_equalities_are_planned_without_sorts() {
        let cases = [
            (query(None, Some(r#"actor.email eq "a@b.c""#), None), true),
            (query(None, Some(r#"action eq "a" and actor.email eq "a@b.c""#), None), true),
            (query(None, Some(r#"status eq "failure""#), None), true),
            (query(None, Some(r#"actor.id eq "u_1""#), None), true),
            (query(None, None, None), false),
            (query(None, Some(r#"action ne "a""#), None), false),
            (query(None, Some(r#"actor.email co "a""#), None), false),
            (query(None, Some(r#"action eq "a" or actor.email eq "a@b.c""#), None), false),
            (query(None, Some(r#"action eq "a" and target.id eq "t""#), None), false),
            (query(None, Some(r#"context.env eq "prod""#), None), false),
            (query(Some("word"), Some(r#"action eq "a""#), None), false),
            (query(None, Some(r#"action eq "a""#), Some(r#"status eq "failure""#)), false),
        ];
        for (query, expected) in cases {
            assert_eq!(walks_a_column_index(&query), expected, "{query:?}");
        }
        let by_action =
            Query { sort: Sort::parse("action").expect("sort"), ..query(None, Some(r#"action eq "a""#), None) };
        assert!(!walks_a_column_index(&by_action), "another order has no such index");
    }

    #[test]
    fn ts_words_are_split_and_quoted() {
        let text = TextQuery::parse(r#"ana@acme.io "x" cre* it's ")"#).expect("words").expect("some");
        assert_eq!(ts_query(3, &text), "'3xana' & '3xacme' & '3xio' & '3xx' & '3xcre':* & '3xit' & '3xs'");
        let none = TextQuery::parse(r#"!!! "...""#).expect("words").expect("some");
        assert_eq!(ts_query(12, &none), "'12xzzt12'");
    }
}
