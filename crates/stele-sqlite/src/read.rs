//! Read-side SQL: tenants, keys, events, pages and counts. Values are always bound as
//! parameters; the SQL text is assembled only from fixed fragments.

use std::collections::{BTreeSet, HashMap};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;
use stele_core::{
    Cursor, EventId, KeyId, PageRequest, Query, Scope, SecretHash, Seq, StoredEvent, TenantId, Timestamp,
};
use stele_store::{KeyRecord, Page, StoreError, Tenant};

use crate::compile::{equality_term, sort_column, substring_needle, where_clause, DenseTerms, Split, Sql};
use crate::index;
use crate::rows::pos;
use crate::trigrams;

use crate::backend;

fn tenant_from_row(conn: &Connection, row: (i64, String, String, i64)) -> Result<Tenant, StoreError> {
    let (no, id, name, created_at) = row;
    let mut stmt =
        conn.prepare_cached("SELECT alias FROM tenant_aliases WHERE tenant_no = ?1 ORDER BY alias").map_err(backend)?;
    let aliases = stmt
        .query_map([no], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(Tenant {
        id: TenantId::parse(&id).map_err(backend)?,
        name,
        aliases,
        created_at: Timestamp::from_micros(created_at),
    })
}

type TenantRow = (i64, String, String, i64);

fn tenant_row(r: &Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub(crate) fn list_tenants(conn: &Connection) -> Result<Vec<Tenant>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT no, id, name, created_at FROM tenants ORDER BY id").map_err(backend)?;
    let rows = stmt.query_map([], tenant_row).and_then(|r| r.collect::<Result<Vec<_>, _>>()).map_err(backend)?;
    rows.into_iter().map(|row| tenant_from_row(conn, row)).collect()
}

pub(crate) fn find_tenant(conn: &Connection, id_or_alias: &str) -> Result<Option<Tenant>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT no, id, name, created_at FROM tenants
             WHERE id = ?1 OR no = (SELECT tenant_no FROM tenant_aliases WHERE alias = ?1)
             ORDER BY id = ?1 DESC LIMIT 1",
        )
        .and_then(|mut s| s.query_row([id_or_alias], tenant_row).optional())
        .map_err(backend)?;
    row.map(|row| tenant_from_row(conn, row)).transpose()
}

pub(crate) fn get_tenant(conn: &Connection, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
    let row = conn
        .prepare_cached("SELECT no, id, name, created_at FROM tenants WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.as_str()], tenant_row).optional())
        .map_err(backend)?;
    row.map(|row| tenant_from_row(conn, row)).transpose()
}

const KEY_COLUMNS: &str =
    "k.id, t.id, k.name, k.scopes, k.view_filter, k.secret_hash, k.created_at, k.revoked_at FROM keys k JOIN tenants t ON t.no = k.tenant_no";

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

type KeyRow = (String, String, String, String, Option<String>, Vec<u8>, i64, Option<i64>);

fn key_from_row(row: KeyRow) -> Result<KeyRecord, StoreError> {
    let (id, tenant, name, scopes, view_filter, hash, created_at, revoked_at) = row;
    let scopes: BTreeSet<Scope> = serde_json::from_str(&scopes).map_err(backend)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| backend("stored key hash has the wrong length"))?;
    Ok(KeyRecord {
        id: KeyId::parse(&id).map_err(backend)?,
        tenant: TenantId::parse(&tenant).map_err(backend)?,
        name,
        scopes,
        view_filter,
        secret_hash: SecretHash(hash),
        created_at: Timestamp::from_micros(created_at),
        revoked_at: revoked_at.map(Timestamp::from_micros),
    })
}

pub(crate) fn key_by_id(conn: &Connection, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
    let row = conn
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} WHERE k.id = ?1"))
        .and_then(|mut s| s.query_row([id.as_str()], key_row).optional())
        .map_err(backend)?;
    row.map(key_from_row).transpose()
}

pub(crate) fn list_keys(conn: &Connection, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} WHERE ?1 IS NULL OR t.id = ?1 ORDER BY t.id, k.created_at, k.id"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map([tenant.map(TenantId::as_str)], key_row)
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    rows.into_iter().map(key_from_row).collect()
}

fn seq_of(n: i64) -> Result<Seq, StoreError> {
    Seq::new(n as u64).map_err(backend)
}

/// The tenant's row number; an unknown tenant is an error, not an empty log.
pub(crate) fn tenant_no(conn: &Connection, tenant: &TenantId) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT no FROM tenants WHERE id = ?1")
        .and_then(|mut s| s.query_row([tenant.as_str()], |r| r.get(0)).optional())
        .map_err(backend)?
        .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))
}

pub(crate) fn get_event(conn: &Connection, tenant: &TenantId, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
    let no = tenant_no(conn, tenant)?;
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, json FROM events WHERE tenant_no = ?1 AND id = ?2")
        .and_then(|mut s| s.query_row(params![no, id.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(backend)?;
    row.map(|(seq, json)| Ok(StoredEvent { seq: seq_of(seq)?, json })).transpose()
}

fn cursor_value(v: SqlValue) -> Value {
    match v {
        SqlValue::Integer(i) => Value::from(i),
        SqlValue::Text(s) => Value::from(s),
        SqlValue::Real(f) => Value::from(f),
        _ => Value::Null,
    }
}

/// A term with at least this many events is "dense": walking the time index and probing
/// each event's terms finds a page sooner than collecting every match (the two costs meet
/// near sqrt(page size x tenant size), a few thousand for tenants of millions of events).
const DENSE_TERM_ROWS: i64 = 4000;

/// A page in time order whose words or substring have at least this many indexed matches
/// (candidates), and no rarer way in, is read in windows ([`windowed_page`]) rather than
/// collected. Lower than [`DENSE_TERM_ROWS`]: a window reads only its own candidates, where
/// collecting reads and sorts every one. (Other pages keep [`DENSE_TERM_ROWS`] between
/// collecting and probing per event, which costs ~130 µs an event for words.) With
/// [`next_window`], `stele bench query` on the 1 M-event log, this against the build before
/// (alternated; session 29), p50 / p99 ms: the largest tenant's `q` 8.3 / 38, 6.5 / 36 →
/// 7.5 / 18, 6.5 / 16, 8.1 / 17 and `message co` 5.8 / 451, 6.0 / 535 → 7.4 / 201, 6.8 / 183,
/// 6.8 / 204 (a 5-character needle whose trigram candidates were 17 516 for 91 matches had
/// walked the tenant's 222 k events; only its candidates are read now); a small tenant's `q`
/// p99 15, 11 → 7.6, 7.1. Substrings windowed only from 4000 candidates: `message co` p50 8.1
/// against 6.8.
const WINDOWED_TEXT_ROWS: i64 = 1000;

/// How a page is read: which terms are probed per event rather than collected (`dense`),
/// and, for a page in time order with a term equality among its conjuncts, the term whose
/// postings it walks (`walk`).
pub(crate) struct Plan {
    dense: DenseTerms,
    walk: Option<Walk>,
}

/// A page walked along one term's postings, which are in `(time, seq)` order: the page reads
/// the postings from the page's start in its direction, each event's row by rowid, and stops
/// when the page is full, so it reads about as many events as the term has between the
/// start and the page's last match — where walking the time index read every event of the
/// tenant in between (a term in 0.3% of a 2.2 M-event tenant: 25 ms warm, 1 s cold, against
/// 1 ms), and collecting the term's matches read and sorted all of them.
#[derive(Debug)]
struct Walk {
    /// The walked term: the rarest of the conjuncts'.
    term: Term,
    /// The other conjuncts' terms, looked up in the postings before the event's row is read.
    /// (Each is a necessary condition up to the mark; the row is still checked exactly.)
    checks: Vec<Term>,
}

/// A term and its id in the index's dictionary, looked up in the read's snapshot (`None`: no
/// indexed event has it, and no posting's id is NULL). Bound as a value, the id keeps the
/// postings' key order usable for a walk: with the dictionary's lookup as a subquery in the
/// walk's SQL, SQLite sorted the term's every posting first.
#[derive(Debug)]
struct Term {
    text: String,
    id: Option<i64>,
}

impl Term {
    fn look_up(conn: &Connection, split: &Split, text: String) -> Result<Self, StoreError> {
        let id = index::dictionary_id(conn, split.no, &text).map_err(backend)?;
        Ok(Self { text, id })
    }

    fn bind(&self) -> SqlValue {
        self.id.map_or(SqlValue::Null, SqlValue::Integer)
    }
}

/// Which of the filter's term equalities are dense, by a bounded count of each, and whether
/// the words are (a bounded count of the indexed documents they match; a walk probes the
/// un-indexed tail's documents too, so only the index decides); then whether the page walks
/// a term's postings ([`Walk`]).
pub(crate) fn plan(conn: &Connection, split: &Split, query: &Query) -> Result<Plan, StoreError> {
    let no = split.no;
    let mut dense = DenseTerms::new();
    // The smallest bounded count of another way in (rare words or a rare substring).
    let mut rarest_other = DENSE_TERM_ROWS;
    // Each equality's term: its postings' bounded count and its id in the dictionary.
    let mut counts: HashMap<String, (i64, Option<i64>)> = HashMap::new();
    // Substrings among the filter's top-level conjuncts: necessary conditions answered by the
    // trigram index (a view's comparisons are exact, never through it), so each window's
    // candidates hold every match in the window. Others are never a window's way in.
    let drivers = below_in(query.filter.iter().map(|f| f.expr()), false);
    let is_driver = |e: &stele_core::Expr| drivers.iter().any(|d| std::ptr::eq(*d, e));
    let all = leaves(query);
    // Each `message co` long enough for the trigram index, with its needle and trigrams.
    let needles: Vec<(&stele_core::Expr, &str, Vec<Vec<i64>>)> =
        all.iter().filter_map(|e| substring_needle(e).map(|(needle, grams)| (*e, needle, grams))).collect();
    // A page in time order whose one way in is its words, or one such substring, is read in
    // windows from [`WINDOWED_TEXT_ROWS`] matches on, whatever more it has: counting on to
    // [`DENSE_TERM_ROWS`] would be wasted (1–4 ms for a common word in the 1 M-event log's
    // largest tenant, against 0.3–2.6 ms to 1000; `q`'s p50 there 7.7–7.9 → 6.1–6.7 ms).
    let lone = time_ordered(query)
        && all.iter().all(|e| equality_term(e).is_none())
        && match (&query.text, needles.as_slice()) {
            (Some(_), []) => true,
            (None, [(e, _, _)]) => is_driver(e),
            _ => false,
        };
    let bound = if lone { WINDOWED_TEXT_ROWS } else { DENSE_TERM_ROWS };
    match query.text.as_ref().map(crate::compile::fts_query) {
        // Words without a token match every event that is not redacted: walked.
        Some(None) => dense = dense.with_dense_text(),
        Some(Some(words)) => {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM events_fts WHERE events_fts MATCH ?1
                 AND rowid > ?2 AND rowid < ?3 LIMIT ?4)",
                )
                .and_then(|mut s| s.query_row(params![words, pos(no, 0), pos(no + 1, 0), bound], |r| r.get(0)))
                .map_err(backend)?;
            if n >= DENSE_TERM_ROWS {
                dense = dense.with_dense_text();
            }
            if n >= WINDOWED_TEXT_ROWS {
                dense = dense.with_windowed_text();
            }
            rarest_other = rarest_other.min(n);
        }
        None => {}
    }
    for (e, needle, grams) in needles {
        // Indexed candidates only: the tail's rows are read either way (both plans union
        // them), and the tail is bounded by the lag limit. Listed rather than counted: when
        // there are fewer than the bound, the list is all of them, and a page reads it.
        let seqs = trigrams::candidates(conn, no, &grams, (0, i64::MAX), bound as usize).map_err(backend)?;
        let rowids: Vec<i64> = seqs.into_iter().map(|seq| pos(no, seq as u64)).collect();
        let n = rowids.len() as i64;
        if n >= WINDOWED_TEXT_ROWS && is_driver(e) {
            dense.insert_windowed_substring(needle.to_owned(), grams);
        }
        if n < DENSE_TERM_ROWS {
            if n < bound {
                dense.insert_substring_candidates(needle.to_owned(), &rowids);
            }
            dense.insert_rare_substring(needle.to_owned());
            rarest_other = rarest_other.min(n);
        }
    }
    // The pair's postings are only ever walked (no condition reads them), so only counted.
    let pair = pair_term(query);
    let pair_key = pair.as_ref().map(|(term, _)| term);
    for term in all.into_iter().filter_map(equality_term).chain(pair_key.cloned()) {
        if counts.contains_key(&term) {
            continue;
        }
        let id = index::dictionary_id(conn, no, &term).map_err(backend)?;
        let n: i64 = match id {
            None => 0,
            Some(id) => conn
                .prepare_cached(&format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE tenant_no = ?1 AND tid = ?2 LIMIT ?3)",
                    split.postings()
                ))
                .and_then(|mut s| s.query_row(params![no, id, DENSE_TERM_ROWS], |r| r.get(0)))
                .map_err(backend)?,
        };
        if n >= DENSE_TERM_ROWS && pair_key != Some(&term) {
            dense.insert(term.clone());
        }
        counts.insert(term, (n, id));
    }
    let walk = walk(conn, split, query, &counts, rarest_other, pair)?;
    Ok(Plan { dense, walk })
}

/// Postings read ahead of the page's start to tell which of several common terms is the
/// rarest there: the one whose this-many-th posting is farthest away in time.
const REACH_POSTINGS: i64 = 1024;

/// The [`Walk`] for a page in time order whose conjuncts (of the filter and the view) include
/// a term equality, unless rarer words or a rarer substring are the better way in; `pair` is
/// [`pair_term`]'s, as the plan counted it.
fn walk(
    conn: &Connection,
    split: &Split,
    query: &Query,
    counts: &HashMap<String, (i64, Option<i64>)>,
    rarest_other: i64,
    pair: Option<(String, [String; 2])>,
) -> Result<Option<Walk>, StoreError> {
    // The walk seeks to a cursor's (time, seq) in the postings.
    if !time_ordered(query) {
        return Ok(None);
    }
    let mut terms: Vec<String> = Vec::new();
    // The pair's postings stand for both of its terms (each of its postings has both).
    let (pair, parts) = pair.map_or((None, None), |(pair, parts)| (Some(pair), Some(parts)));
    let covered = |t: &String| parts.as_ref().is_some_and(|parts| parts.contains(t));
    for term in conjuncts(query).into_iter().filter_map(equality_term).filter(|t| !covered(t)).chain(pair) {
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    // Every conjunct's term was counted with the plan's (the fallback only keeps a missed one
    // exact).
    let counted = |text: String| match counts.get(&text) {
        Some(&(n, id)) => Ok((n, Term { text, id })),
        None => Term::look_up(conn, split, text).map(|t| (DENSE_TERM_ROWS, t)),
    };
    let terms = terms.into_iter().map(counted).collect::<Result<Vec<_>, _>>()?;
    let Some(fewest) = terms.iter().map(|(n, _)| *n).min() else { return Ok(None) };
    if fewest > rarest_other {
        return Ok(None);
    }
    // Rarest first: by the bounded counts, and among terms above the bound by how far back
    // their postings reach from the page's start. The first is walked; the others are looked
    // up in that order, so the most selective rejects a posting first.
    let several = terms.len() > 1;
    let mut ranked: Vec<((i64, i64), Term)> = Vec::with_capacity(terms.len());
    for (n, t) in terms {
        let reach = if n >= DENSE_TERM_ROWS && several {
            match reach(conn, split, query, &t)? {
                None => i64::MIN,
                // Farther back in the page's direction is rarer (a smaller key).
                Some(time) if query.sort.descending => time,
                Some(time) => time.saturating_neg(),
            }
        } else {
            0
        };
        ranked.push(((n, reach), t));
    }
    ranked.sort_by_key(|(key, _)| *key);
    let mut order = ranked.into_iter().map(|(_, t)| t);
    Ok(order.next().map(|term| Walk { term, checks: order.collect() }))
}

/// The pair posting's term (`index::action_actor_email_term`) when the query's conjuncts
/// include `action eq` and `actor.email eq` a string, with the two terms it stands for.
fn pair_term(query: &Query) -> Option<(String, [String; 2])> {
    use stele_core::{filter::Value, Attr, CompareOp, Expr};
    let conjuncts = conjuncts(query);
    let value = |want: Attr| {
        conjuncts.iter().find_map(|e| match e {
            Expr::Compare { attr, op: CompareOp::Eq, value: Value::String(v) } if *attr == want => Some(v.as_str()),
            _ => None,
        })
    };
    let (action, email) = (value(Attr::Action)?, value(Attr::ActorEmail)?);
    let parts = [index::column_term("action", action)?, index::column_term("actor_email", email)?];
    Some((index::action_actor_email_term(action, email), parts))
}

/// The time of the term's [`REACH_POSTINGS`]-th indexed posting from the page's start in its
/// direction (within the range); `None` when it has fewer there.
fn reach(conn: &Connection, split: &Split, query: &Query, term: &Term) -> Result<Option<i64>, StoreError> {
    let Some(id) = term.id else { return Ok(None) };
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    let from = query.range.from.map_or(i64::MIN, |t| t.as_micros());
    let to = query.range.to.map_or(i64::MAX, |t| t.as_micros());
    // Both tables in one ordered compound: SQLite merges their index orders (through the
    // `all_postings` view, it sorted the term's whole range).
    let arms: Vec<String> = split
        .postings_tables()
        .iter()
        .map(|table| {
            format!("SELECT time, seq FROM {table} WHERE tenant_no = ?1 AND tid = ?2 AND seq <= ?3 AND time >= ?4 AND time < ?5")
        })
        .collect();
    conn.prepare_cached(&format!("{} ORDER BY time {dir}, seq {dir} LIMIT 1 OFFSET ?6", arms.join(" UNION ALL ")))
        .and_then(|mut s| {
            s.query_row(params![split.no, id, split.mark as i64, from, to, REACH_POSTINGS - 1], |r| r.get(0)).optional()
        })
        .map_err(backend)
}

/// The top-level conjuncts of the query's filter and view (below `and`s only): each is a
/// necessary condition of a match.
fn conjuncts(query: &Query) -> Vec<&stele_core::Expr> {
    below(query, false)
}

/// What a count plans with: every term collected, and every `message co` long enough for
/// the trigram index collected from it (a count reads each candidate's row at most once,
/// where walking the time index reads every row) — unless it has more than
/// [`MAX_LISTED_CANDIDATES`], which are then checked on each row instead.
fn collect_everything(conn: &Connection, split: &Split, query: &Query) -> Result<DenseTerms, StoreError> {
    let mut plan = DenseTerms::new();
    for (needle, grams) in leaves(query).into_iter().filter_map(substring_needle) {
        let seqs =
            trigrams::candidates(conn, split.no, &grams, (0, i64::MAX), MAX_LISTED_CANDIDATES + 1).map_err(backend)?;
        if seqs.len() <= MAX_LISTED_CANDIDATES {
            let rowids: Vec<i64> = seqs.into_iter().map(|seq| pos(split.no, seq as u64)).collect();
            plan.insert_substring_candidates(needle.to_owned(), &rowids);
            plan.insert_rare_substring(needle.to_owned());
        }
    }
    Ok(plan)
}

/// The comparisons of the query's filter and view (below every `and`, `or` and `not`).
fn leaves(query: &Query) -> Vec<&stele_core::Expr> {
    below(query, true)
}

/// The expressions of the query's filter and view below its `and`s, and also below its `or`s
/// and `not`s when `through_all`.
fn below(query: &Query, through_all: bool) -> Vec<&stele_core::Expr> {
    let view = query.view.iter().map(|v| v.expr());
    below_in(query.filter.iter().map(|f| f.expr()).chain(view), through_all)
}

/// [`below`] for the given roots.
fn below_in<'a>(roots: impl Iterator<Item = &'a stele_core::Expr>, through_all: bool) -> Vec<&'a stele_core::Expr> {
    use stele_core::Expr;
    let mut stack: Vec<&Expr> = roots.collect();
    let mut out = Vec::new();
    while let Some(e) = stack.pop() {
        match e {
            Expr::And(items) => stack.extend(items),
            Expr::Or(items) if through_all => stack.extend(items),
            Expr::Not(inner) if through_all => stack.push(inner),
            leaf => out.push(leaf),
        }
    }
    out
}

/// The page's offset (`OFFSET`), 0 unless it asks for one.
fn offset_of(query: &Query) -> i64 {
    match query.page {
        PageRequest::Offset(n) => i64::try_from(n).unwrap_or(i64::MAX),
        _ => 0,
    }
}

/// Whether the page is in time order and starts where a walk or windows can seek to: at
/// either end, at an offset, or after a cursor whose key is a time (every cursor of a time
/// sort is; checked when it is parsed).
fn time_ordered(query: &Query) -> bool {
    query.sort.attr == stele_core::Attr::Time
        && (!matches!(query.page, PageRequest::After(_)) || cursor_key(query).is_some())
}

/// The `(time, seq)` of the page's cursor, if it has one with a time key.
fn cursor_key(query: &Query) -> Option<TimeKey> {
    match &query.page {
        PageRequest::After(cursor) => cursor.values.first().and_then(Value::as_i64).map(|t| (t, cursor.seq as i64)),
        _ => None,
    }
}

/// ` AND time >= ? AND time < ?` for the ends the query's range has.
fn push_range(sql: &mut Sql, query: &Query) {
    if let Some(from) = query.range.from {
        sql.push(" AND time >= ").bind(SqlValue::Integer(from.as_micros()));
    }
    if let Some(to) = query.range.to {
        sql.push(" AND time < ").bind(SqlValue::Integer(to.as_micros()));
    }
}

/// ` AND (time, seq) <op> (?, ?)`: a seek on a `(time, seq)` index.
fn push_key_bound(sql: &mut Sql, op: &str, (time, seq): TimeKey) {
    sql.push(&format!(" AND (time, seq) {op} (")).bind(SqlValue::Integer(time));
    sql.push(", ").bind(SqlValue::Integer(seq)).push(")");
}

/// The SELECT for one page (exposed to tests through `SqliteStore::explain`).
pub(crate) fn page_sql(split: &Split, query: &Query, plan: &Plan) -> Sql {
    if let Some(walk) = &plan.walk {
        return walk_sql(split, query, walk);
    }
    let mut sql = where_clause(split, query, true, &plan.dense);
    let col = sort_column(&query.sort);
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    let filter = std::mem::take(&mut sql.text);
    // Within a tenant, seq order is rowid order.
    let order = match query.sort.attr {
        stele_core::Attr::Seq => format!("pos {dir}"),
        _ => format!("{col} {dir}, seq {dir}"),
    };
    // The page's rows are chosen on their keys first and their JSON read only for the page:
    // sorting collected matches with their JSON had copied every match's ~1.5 KB into the
    // sorter (an `actor.email` with 1 500 events on a 10 M-event log: 14.6 → 8.5 ms).
    sql.text = format!(
        "SELECT seq, {col}, json FROM events WHERE pos IN \
         (SELECT pos FROM events WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?) ORDER BY {order}"
    );
    sql.params.push(SqlValue::Integer(i64::from(query.limit.get()) + 1));
    sql.params.push(SqlValue::Integer(offset_of(query)));
    sql
}

/// The SELECT for a page walked along `walk.term`'s postings (in time order, from the
/// cursor), each event's row read by rowid and checked with the whole filter, united with the
/// un-indexed tail's matches (a rowid range bounded by the lag limit); the first page's worth
/// of the two, in order, is the page.
fn walk_sql(split: &Split, query: &Query, walk: &Walk) -> Sql {
    // Every term and the words probed per walked event (the walk is the way in), substrings
    // tested on the row.
    let mut probed = DenseTerms::new().with_dense_text();
    for term in leaves(query).into_iter().filter_map(equality_term) {
        probed.insert(term);
    }
    let (dir, after) = if query.sort.descending { ("DESC", "<") } else { ("ASC", ">") };
    let limit = i64::from(query.limit.get()) + 1;
    let offset = offset_of(query);
    let mut sql = Sql::default();
    sql.push("SELECT seq, time, json FROM events WHERE pos IN (SELECT pos FROM (");
    // One arm per postings table, each in the page's order and as long as the page: a walk
    // through the `all_postings` view would sort the term's every posting first.
    for (i, table) in split.postings_tables().iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(
            "SELECT pos, time, seq FROM (SELECT events.pos AS pos, events.time AS time, events.seq AS seq FROM \
             (SELECT time AS ptime, seq AS pseq FROM ",
        );
        sql.push(table).push(" WHERE tenant_no = ").bind(SqlValue::Integer(split.no));
        sql.push(" AND tid = ").bind(walk.term.bind());
        sql.push(" AND seq <= ").bind(SqlValue::Integer(split.mark as i64));
        push_range(&mut sql, query);
        if let Some(key) = cursor_key(query) {
            push_key_bound(&mut sql, after, key);
        }
        // Each other term, looked up in each table (`c`, for the plan's readers).
        for check in &walk.checks {
            for (j, other) in split.postings_tables().iter().enumerate() {
                sql.push(if j == 0 { " AND (EXISTS (SELECT 1 FROM " } else { " OR EXISTS (SELECT 1 FROM " });
                sql.push(other).push(" c WHERE c.tenant_no = ").bind(SqlValue::Integer(split.no));
                sql.push(" AND c.tid = ").bind(check.bind());
                sql.push(&format!(" AND c.time = {table}.time AND c.seq = {table}.seq)"));
            }
            sql.push(")");
        }
        sql.push(") AS p CROSS JOIN events ON events.pos = ").bind(SqlValue::Integer(pos(split.no, 0)));
        sql.push(" + p.pseq WHERE ");
        sql.append(where_clause(split, query, false, &probed));
        sql.push(&format!(" ORDER BY p.ptime {dir}, p.pseq {dir} LIMIT "))
            .bind(SqlValue::Integer(limit.saturating_add(offset)));
        sql.push(")");
    }
    // The tail: `NOT INDEXED` keeps the planner on the rowid range.
    sql.push(" UNION ALL SELECT pos, time, seq FROM events NOT INDEXED WHERE pos > ");
    sql.bind(SqlValue::Integer(pos(split.no, split.mark)))
        .push(" AND pos < ")
        .bind(SqlValue::Integer(pos(split.no + 1, 0)));
    sql.push(" AND ");
    sql.append(where_clause(split, query, true, &probed));
    sql.push(&format!(" ORDER BY time {dir}, seq {dir} LIMIT ")).bind(SqlValue::Integer(limit));
    sql.push(" OFFSET ").bind(SqlValue::Integer(offset));
    sql.push(&format!(")) ORDER BY time {dir}, seq {dir}"));
    sql
}

/// Events in a page's first window; each window that leaves the page short is followed by a
/// larger one ([`next_window`]). A first window of 2 048 read more candidates than a common
/// word's page needs: 256 took `q`'s p99 on the 10 M-event log's largest tenant from 173 / 77
/// ms to 93 / 67 ms (two alternated runs each).
const WINDOW_EVENTS: i64 = 256;
const MAX_WINDOW_EVENTS: i64 = 65_536;

/// Whether a page is read in windows ([`windowed_page`]): common words or a common
/// substring and no rarer way in, no term to walk, in time order.
fn windowed(query: &Query, plan: &Plan) -> bool {
    plan.walk.is_none() && plan.dense.windowed(query.text.is_some()) && time_ordered(query)
}

/// A page of common words (or a common substring) read window by window in time order: each
/// window is about the next [`WINDOW_EVENTS`] events in the page's order, growing
/// ([`next_window`]) while windows come up short (their rowids' least and greatest found by
/// [`spans_window`] or [`walked_window`]), and its matches are the full-text (or trigram) index's matches
/// between those rowids (one FTS5 query, which seeks its doclists to the range) that fall in
/// the window, checked with the whole filter. Looking each walked event up in the full-text
/// index had cost ~130 µs per event on a 10 M-event log (FTS5 sets up its query for every
/// lookup): a window of 2 048 events took 230–280 ms that way and 0.1 ms as one ranged query.
/// Events appended roughly in time order make each window's rowids a narrow range;
/// out-of-order times widen it, which costs time, never exactness (the window's own bounds
/// decide).
fn windowed_page(
    conn: &Connection,
    split: &Split,
    query: &Query,
    dense: &DenseTerms,
) -> Result<Vec<(i64, SqlValue, String)>, StoreError> {
    let limit = query.limit.get() as usize + 1;
    // Matches before the offset are counted as they stream past, never kept: the page's rows
    // are all a read holds, however deep the offset.
    let mut skip = usize::try_from(offset_of(query)).unwrap_or(usize::MAX);
    // The window's exclusive start: the cursor, then each window's last event.
    let mut start = cursor_key(query);
    let mut rows = Vec::new();
    let mut size = WINDOW_EVENTS;
    // Events the windows have covered, and the matches they found (skipped ones included).
    let (mut covered, mut matched) = (0i64, 0i64);
    // Each window: whole time spans when the `spans` table can tell, else a walk of the time
    // index.
    let next = |start: Option<TimeKey>, size: i64| -> Result<Option<WindowSpan>, StoreError> {
        match spans_window(conn, split, query, start, size)? {
            Some(window) => Ok(window),
            None => walked_window(conn, split, query, start, size),
        }
    };
    while let Some(WindowSpan { rowids, last, events }) = next(start, size)? {
        let take = (limit - rows.len()).saturating_add(skip);
        let listed = window_candidates(conn, split, dense, rowids)?;
        let dense = dense.clone().with_text_window(rowids.0, rowids.1, listed);
        let window = window_sql(split, query, &dense, (start, last), i64::try_from(take).unwrap_or(i64::MAX));
        let mut stmt = conn.prepare_cached(&window.text).map_err(backend)?;
        let found = stmt
            .query_map(params_from_iter(window.params), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(backend)?;
        let before = matched;
        for row in found {
            let row = row.map_err(backend)?;
            matched += 1;
            if skip > 0 {
                skip -= 1;
            } else {
                rows.push(row);
            }
        }
        covered = covered.saturating_add(events);
        match last {
            Some(last) if rows.len() < limit => {
                start = Some(last);
                let wanted = i64::try_from((limit - rows.len()).saturating_add(skip)).unwrap_or(i64::MAX);
                size = next_window(size, covered, (matched, matched - before), wanted);
            }
            _ => break,
        }
    }
    Ok(rows)
}

/// A window of a span is at most this many times the events asked for ([`spans_window`]).
const SPAN_OVERSHOOT: i64 = 2;

/// The next window after `start` as whole time spans (`index::SPAN_SHIFT`) from the `spans`
/// table: from the span `start` is in, in the page's order, until they hold `size` events, or
/// before one that would take them past [`SPAN_OVERSHOOT`] × `size`; the window's rowids are
/// the least and greatest seq of its spans (a superset of its events', which the window's
/// bounds narrow). A window of 65 536 events had walked as many entries of the time index for
/// its rowids (7–9 ms warm on the 10 M-event log's largest tenant, most of a sparse
/// substring's page); its spans are a few hundred rows. `None` when the spans cannot tell:
/// the log has events after the mark (the table counts indexed events only), or the first
/// span alone is denser than [`SPAN_OVERSHOOT`] windows (the walk then reads no more than
/// the window). Outer `Some(None)`: no event is left.
fn spans_window(
    conn: &Connection,
    split: &Split,
    query: &Query,
    start: Option<TimeKey>,
    size: i64,
) -> Result<Option<Option<WindowSpan>>, StoreError> {
    if split.tail {
        return Ok(None);
    }
    let span_of = |time: i64| time >> index::SPAN_SHIFT;
    let from = query.range.from.map(|t| span_of(t.as_micros()));
    // `to` is exclusive.
    let to = query.range.to.map(|t| span_of(t.as_micros().saturating_sub(1)));
    // The span of the first event after the (exclusive) start: a window's last key is a
    // span's edge with the least (or greatest) seq, so the next one starts in the next span.
    let (dir, lo, hi) = if query.sort.descending {
        let at = start.map(|(time, seq)| span_of(if seq == i64::MIN { time.saturating_sub(1) } else { time }));
        ("DESC", from.unwrap_or(i64::MIN), at.unwrap_or(i64::MAX).min(to.unwrap_or(i64::MAX)))
    } else {
        let at = start.map(|(time, seq)| span_of(if seq == i64::MAX { time.saturating_add(1) } else { time }));
        ("ASC", at.unwrap_or(i64::MIN).max(from.unwrap_or(i64::MIN)), to.unwrap_or(i64::MAX))
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT span, events, lo, hi FROM spans WHERE tenant_no = ?1 AND span >= ?2 AND span <= ?3 ORDER BY span {dir}"
        ))
        .map_err(backend)?;
    let mut rows = stmt.query(params![split.no, lo, hi]).map_err(backend)?;
    let (mut events, mut seqs, mut last_span, mut more) = (0i64, None::<(i64, i64)>, None::<i64>, false);
    while let Some(r) = rows.next().map_err(backend)? {
        let (span, n, first, last): (i64, i64, i64, i64) = (
            r.get(0).map_err(backend)?,
            r.get(1).map_err(backend)?,
            r.get(2).map_err(backend)?,
            r.get(3).map_err(backend)?,
        );
        let over = events.saturating_add(n) > size.saturating_mul(SPAN_OVERSHOOT);
        if last_span.is_none() && over {
            return Ok(None);
        }
        if events >= size || over {
            more = true;
            break;
        }
        events += n;
        seqs = Some(seqs.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
        last_span = Some(span);
    }
    let (Some((first, last)), Some(span)) = (seqs, last_span) else { return Ok(Some(None)) };
    // The window's inclusive last key: the span's first or last instant, with any seq.
    let end = if query.sort.descending {
        (span.saturating_mul(1 << index::SPAN_SHIFT), i64::MIN)
    } else {
        (span.saturating_add(1).saturating_mul(1 << index::SPAN_SHIFT).saturating_sub(1), i64::MAX)
    };
    let base = pos(split.no, 0);
    Ok(Some(Some(WindowSpan { rowids: (base + first, base + last), last: more.then_some(end), events })))
}

/// The next window after `start` (at most `size` events in the page's order), found in one
/// walk of the covering time index: its rowids' least and greatest (from the least and
/// greatest seq, not those of its ends, since times need not follow seqs) and its last key,
/// `None` when it holds the rest of the range (fewer than `size` events). `None` when no
/// event is left. Two queries (the last key through OFFSET, then MIN/MAX(pos) over the
/// window) had walked it twice: 2.4 + 6.4 ms for 65 536 events of the 10 M-event log's
/// largest tenant, against 3.7-4.3 ms for this one.
fn walked_window(
    conn: &Connection,
    split: &Split,
    query: &Query,
    start: Option<TimeKey>,
    size: i64,
) -> Result<Option<WindowSpan>, StoreError> {
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    let b = window_bounds(split, query, start, None);
    let mut walk = conn
        .prepare_cached(&format!(
            "SELECT time, seq FROM events WHERE {} ORDER BY time {dir}, seq {dir} LIMIT ?",
            b.text
        ))
        .map_err(backend)?;
    let mut keys =
        walk.query(params_from_iter(b.params.into_iter().chain([SqlValue::Integer(size)]))).map_err(backend)?;
    let (mut events, mut seqs, mut end) = (0i64, None::<(i64, i64)>, None::<TimeKey>);
    while let Some(r) = keys.next().map_err(backend)? {
        let key: TimeKey = (r.get(0).map_err(backend)?, r.get(1).map_err(backend)?);
        events += 1;
        seqs = Some(seqs.map_or((key.1, key.1), |(lo, hi)| (lo.min(key.1), hi.max(key.1))));
        end = Some(key);
    }
    let base = pos(split.no, 0);
    Ok(seqs.map(|(lo, hi)| WindowSpan {
        rowids: (base + lo, base + hi),
        last: if events < size { None } else { end },
        events,
    }))
}

/// A window found by [`spans_window`] or [`walked_window`]: its least and greatest rowid, its last key (`None`
/// when it holds the rest of the range) and the events it covers (as the spans count them).
struct WindowSpan {
    rowids: (i64, i64),
    last: Option<TimeKey>,
    events: i64,
}

/// The next window's size: as many events as the matches still wanted take at the density
/// seen so far (a quarter more), at most [`MAX_WINDOW_EVENTS`]. Each window costs a full-text
/// query (~1–2 ms on the 1 M-event log, whatever its size), so a sparse word's page took five
/// or six doubling windows; sized by the density it takes two or three. While the density
/// rests on fewer than [`TRUSTED_MATCHES`] matches, or the last window found none, the window
/// at least doubles (four times while nothing matched): the number of windows stays
/// logarithmic. Past that the estimate alone decides, so the last window is no larger than
/// the page needs: a rare 4-character needle in the 10 M-event log's largest tenant (1 182
/// matches in 2.2 M events) had been asked for 5 more matches with 46 found in 87 k events,
/// and its last window had doubled to 65 536 events where 11 800 take them.
fn next_window(size: i64, covered: i64, (matched, found): (i64, i64), wanted: i64) -> i64 {
    let estimate = covered.saturating_mul(wanted).saturating_mul(5) / (4 * matched.max(1));
    let grown = if matched == 0 {
        size.saturating_mul(4)
    } else if matched < TRUSTED_MATCHES || found == 0 {
        estimate.max(size.saturating_mul(2))
    } else {
        estimate.max(WINDOW_EVENTS)
    };
    grown.min(MAX_WINDOW_EVENTS)
}

/// Matches after which the density seen sizes the next window alone ([`next_window`]).
const TRUSTED_MATCHES: i64 = 16;

/// A `(time, seq)` key of the time index.
type TimeKey = (i64, i64);

/// `tenant_no = ? [AND <range>] [AND (time, seq) after start] [AND (time, seq) up to last]`:
/// the events of a window (from after `start` through `last`, in the page's order).
fn window_bounds(split: &Split, query: &Query, start: Option<TimeKey>, last: Option<TimeKey>) -> Sql {
    let (before, from_last) = if query.sort.descending { ("<", ">=") } else { (">", "<=") };
    let mut sql = Sql::default();
    sql.push("tenant_no = ").bind(SqlValue::Integer(split.no));
    push_range(&mut sql, query);
    if let Some(key) = start {
        push_key_bound(&mut sql, before, key);
    }
    if let Some(key) = last {
        push_key_bound(&mut sql, from_last, key);
    }
    sql
}

/// Most trigram candidates a query lists for one needle (2 MB of rowids, twice that as the
/// JSON the page reads them from). A window is sized to a few times the matches a page still
/// wants, so its candidates are far fewer; only a window whose rowids spread wide (times far
/// out of seq order), or a count of a common needle, could have more, and the needle is then
/// checked on each row read instead (still exact; memory stays bounded).
const MAX_LISTED_CANDIDATES: usize = 4 * MAX_WINDOW_EVENTS as usize;

/// The candidates of the plan's windowed needles between rowids `lo..=hi` (from the trigram
/// index; the tail's rows are read by the window's query itself).
fn window_candidates(
    conn: &Connection,
    split: &Split,
    dense: &DenseTerms,
    (lo, hi): (i64, i64),
) -> Result<Vec<(String, Vec<i64>)>, StoreError> {
    let base = pos(split.no, 0);
    let mut out = Vec::new();
    for (needle, grams) in dense.windowed_needles() {
        let seqs = trigrams::candidates(conn, split.no, grams, (lo - base, hi - base), MAX_LISTED_CANDIDATES + 1)
            .map_err(backend)?;
        if seqs.len() <= MAX_LISTED_CANDIDATES {
            out.push((needle.to_owned(), seqs.into_iter().map(|seq| base + seq).collect()));
        }
    }
    Ok(out)
}

/// The SELECT of one window's matches (at most `take`, in the page's order): the words'
/// matches (or a substring's listed candidates) between the window's rowids drive it (rowid
/// lookups; `dense` is [`DenseTerms::with_text_window`]'s), each checked with the whole
/// filter and the window's bounds (`+tenant_no` keeps the planner off the time index).
fn window_sql(
    split: &Split,
    query: &Query,
    dense: &DenseTerms,
    (start, last): (Option<TimeKey>, Option<TimeKey>),
    take: i64,
) -> Sql {
    let dir = if query.sort.descending { "DESC" } else { "ASC" };
    let mut sql = Sql::default();
    sql.push("SELECT seq, time, json FROM events WHERE ");
    sql.append(where_clause(split, query, false, dense));
    let mut b = window_bounds(split, query, start, last);
    b.text.insert(0, '+');
    sql.push(" AND ").append(b);
    sql.push(&format!(" ORDER BY time {dir}, seq {dir} LIMIT ")).bind(SqlValue::Integer(take));
    sql
}

/// Runs `f` in one read transaction. Its first read is of the log (the tenant's number),
/// so the log's snapshot is taken before the index's: the index can then be ahead of the
/// log (its extra entries join no row) but never behind it where the tail starts.
pub(crate) fn snapshot<T>(conn: &Connection, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN").map_err(backend)?;
    let result = f();
    let ended = conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }).map_err(backend);
    result.and_then(|r| ended.map(|()| r))
}

/// The tenant and its mark for this read; with words to search, the reader's tail
/// documents brought up to the log's head first.
fn split(conn: &Connection, tenant: &TenantId, query: &Query) -> Result<Split, StoreError> {
    split_of(conn, tenant_no(conn, tenant)?, query)
}

/// [`split`] for a known tenant number. Reads the log (its head) before the index (the
/// mark), so that inside [`snapshot`] the log's snapshot is the older one.
pub(crate) fn split_of(conn: &Connection, no: i64, query: &Query) -> Result<Split, StoreError> {
    let head = index::head(conn, "main", no).map_err(backend)?;
    let mark = index::reader_mark(conn, no).map_err(backend)?;
    if query.text.is_some() && head > mark {
        index::fill_tail(conn, no, mark, head).map_err(backend)?;
    }
    let recent = index::reader_has_recent(conn, no).map_err(backend)?;
    Ok(Split { no, mark, recent, tail: head > mark })
}

pub(crate) fn query(conn: &Connection, tenant: &TenantId, query: &Query) -> Result<Page, StoreError> {
    snapshot(conn, || {
        let split = split(conn, tenant, query)?;
        let plan = plan(conn, &split, query)?;
        let limit = query.limit.get() as usize;
        let mut rows = if windowed(query, &plan) {
            windowed_page(conn, &split, query, &plan.dense)?
        } else {
            let sql = page_sql(&split, query, &plan);
            let mut stmt = conn.prepare_cached(&sql.text).map_err(backend)?;
            stmt.query_map(params_from_iter(sql.params), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|r| r.collect::<Result<Vec<_>, _>>())
                .map_err(backend)?
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match (more, rows.last()) {
            (true, Some((seq, key, _))) => {
                Some(Cursor { sort: query.sort.as_text(), values: vec![cursor_value(key.clone())], seq: *seq as u64 })
            }
            _ => None,
        };
        let events = rows
            .into_iter()
            .map(|(seq, _, json)| Ok(StoredEvent { seq: seq_of(seq)?, json }))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page { events, next })
    })
}

pub(crate) fn count(conn: &Connection, tenant: &TenantId, query: &Query) -> Result<u64, StoreError> {
    snapshot(conn, || {
        if query.matches_everything() {
            // The log size: one index probe instead of a scan that grows with the log.
            return crate::tree::size(conn, tenant_no(conn, tenant)?);
        }
        let split = split(conn, tenant, query)?;
        if let Some(n) = count_from_postings(conn, &split, query)? {
            return Ok(n);
        }
        // A count visits every match anyway: collecting term matches (and substring
        // candidates) first is always right.
        let sql = where_clause(&split, query, false, &collect_everything(conn, &split, query)?);
        let n: i64 = conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM events WHERE {}", sql.text))
            .and_then(|mut s| s.query_row(params_from_iter(sql.params), |r| r.get(0)))
            .map_err(backend)?;
        Ok(n as u64)
    })
}

/// The count of `action eq "…"` or `status eq "…"` alone (with a time range or not), from
/// the postings without reading the events: every indexed event, tombstones included (they
/// keep both values), has exactly one such posting, so the count is the postings up to the
/// log's head in this snapshot (the index may be ahead of it) plus the tail's matching rows.
/// `None` for any other query.
fn count_from_postings(conn: &Connection, split: &Split, query: &Query) -> Result<Option<u64>, StoreError> {
    use stele_core::{filter::Value, Attr, CompareOp, Expr};
    if query.view.is_some() || query.text.is_some() {
        return Ok(None);
    }
    let Some(Expr::Compare { attr, op: CompareOp::Eq, value: Value::String(v) }) =
        query.filter.as_ref().map(|f| f.expr())
    else {
        return Ok(None);
    };
    let (column, term) = match attr {
        Attr::Action => ("action", index::column_term("action", v)),
        Attr::Status => ("status", index::column_term("status", v)),
        _ => return Ok(None),
    };
    let Some(term) = term else { return Ok(None) };
    // No id: no indexed event has the term (the arms then count none).
    let id = index::dictionary_id(conn, split.no, &term).map_err(backend)?;
    let head = index::head(conn, "main", split.no).map_err(backend)?;
    let from = query.range.from.map_or(i64::MIN, |t| t.as_micros());
    let to = query.range.to.map_or(i64::MAX, |t| t.as_micros());
    // A count per table, added: through the `all_postings` view each posting passed through
    // a co-routine (an `action eq` count of 11 481 on the 1 M-event log: p50 1.0 → 1.7–2.1 ms).
    let arms: Vec<String> = split
        .postings_tables()
        .iter()
        .map(|table| {
            format!("(SELECT COUNT(*) FROM {table} WHERE tenant_no = ?1 AND tid = ?2 AND time >= ?3 AND time < ?4 AND seq <= ?5)")
        })
        .collect();
    let indexed: i64 = conn
        .prepare_cached(&format!("SELECT {}", arms.join(" + ")))
        .and_then(|mut s| s.query_row(params![split.no, id, from, to, head as i64], |r| r.get(0)))
        .map_err(backend)?;
    let tail: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM events WHERE pos > ?1 AND pos <= ?2 AND {column} = ?3 AND time >= ?4 AND time < ?5"
        ))
        .and_then(|mut s| {
            let (lo, hi) = (crate::rows::pos(split.no, split.mark), crate::rows::pos(split.no, head));
            s.query_row(params![lo, hi, v, from, to], |r| r.get(0))
        })
        .map_err(backend)?;
    Ok(Some((indexed + tail) as u64))
}

/// `EXPLAIN QUERY PLAN` of a page query, one line per plan step (and `WALK <term> [CHECK
/// <term>, …]` last when the page walks a term's postings, `WINDOWS …` when it is read in
/// windows).
pub(crate) fn explain(conn: &Connection, tenant: &TenantId, query: &Query) -> Result<Vec<String>, StoreError> {
    snapshot(conn, || {
        let split = split(conn, tenant, query)?;
        let plan = plan(conn, &split, query)?;
        let windows = windowed(query, &plan);
        let sql = if windows {
            // A window over the tenant's whole rowid range, with empty lists of candidates,
            // stands for every window.
            let span = (pos(split.no, 0), pos(split.no + 1, 0) - 1);
            let listed = plan.dense.windowed_needles().map(|(n, _)| (n.to_owned(), Vec::new())).collect();
            let dense = plan.dense.clone().with_text_window(span.0, span.1, listed);
            window_sql(&split, query, &dense, (None, None), i64::from(query.limit.get()) + 1)
        } else {
            page_sql(&split, query, &plan)
        };
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text)).map_err(backend)?;
        let mut rows = stmt
            .query_map(params_from_iter(sql.params), |r| r.get::<_, String>(3))
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(backend)?;
        // The walked term is a bound value, so the plan cannot show it: a last line does.
        if let Some(walk) = &plan.walk {
            let checks = if walk.checks.is_empty() {
                String::new()
            } else {
                format!(" CHECK {}", walk.checks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(", "))
            };
            rows.push(format!("WALK {}{checks}", walk.term.text));
        }
        for (needle, n) in plan.dense.listed_substrings() {
            rows.push(format!("LISTED {n} candidates of {needle:?} from tri_blocks"));
        }
        if windows {
            rows.push(format!("WINDOWS from {WINDOW_EVENTS} events"));
        }
        Ok(rows)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_grow_with_the_density_seen() {
        // 5 matches in 256 events, 46 wanted: 46 / (5 / 256) = 2355, a quarter more (2944).
        assert_eq!(next_window(256, 256, (5, 5), 46), 256 * 46 * 5 / (4 * 5));
        // Few matches, dense enough that the estimate is small: still twice the last window.
        assert_eq!(next_window(256, 256, (10, 10), 11), 512);
        // Enough matches to trust: the estimate, however small (46 in 87 040 events, 5
        // wanted: 11 826), but never below the first window.
        assert_eq!(next_window(65_536, 87_040, (46, 30), 5), 87_040 * 5 * 5 / (4 * 46));
        assert_eq!(next_window(4096, 8000, (400, 300), 1), WINDOW_EVENTS);
        // The last window found nothing: at least twice it, whatever the density before.
        assert_eq!(next_window(8192, 87_040, (46, 0), 5), 16_384);
        // Nothing matched yet: four times.
        assert_eq!(next_window(1024, 1792, (0, 0), 51), 4096);
        // Bounded, whatever the estimate or the request.
        assert_eq!(next_window(4096, 8000, (1, 1), 10_000), MAX_WINDOW_EVENTS);
        assert_eq!(next_window(4096, 8000, (100, 50), 100_000), MAX_WINDOW_EVENTS);
        assert_eq!(next_window(MAX_WINDOW_EVENTS, i64::MAX, (1, 1), i64::MAX), MAX_WINDOW_EVENTS);
    }
}
