//! Read-side SQL: tenants, keys, events, pages and counts. Values are always bound as
//! parameters; the SQL text is assembled only from fixed fragments.

use std::collections::BTreeSet;

use deadpool_postgres::ClientWrapper;
use serde_json::Value;
use stele_core::{
    Cursor, EventId, KeyId, PageRequest, Query, Scope, SecretHash, Seq, StoredEvent, TenantId, Timestamp,
};
use stele_store::{KeyRecord, Page, StoreError, Tenant};
use tokio_postgres::{Client, GenericClient, Row};

use crate::backend;
use crate::compile::{
    buckets_rather_than_walks, driver_alone, list_cap, list_span, lists_by_bucket, matches_sql, matching, page_driver,
    page_sql, rows_needed, walk_on_sql, walks_a_column_index, walks_rather_than_lists, window_events, window_sql,
    Bounds, Driver, Listed, PagePlan, Sql, TextPlan, LIST_BUCKETS_MAX, TEXT_MATCHES_CAP,
};
use crate::rows::{bucket, bucket_start};

async fn tenant_from_row(client: &impl GenericClient, row: &Row) -> Result<Tenant, StoreError> {
    let no: i64 = row.get(0);
    let id: String = row.get(1);
    let aliases = client
        .query("SELECT alias FROM tenant_aliases WHERE tenant_no = $1 ORDER BY alias", &[&no])
        .await
        .map_err(backend)?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    Ok(Tenant {
        id: TenantId::parse(&id).map_err(backend)?,
        name: row.get(2),
        aliases,
        created_at: Timestamp::from_micros(row.get(3)),
    })
}

pub(crate) async fn list_tenants(client: &impl GenericClient) -> Result<Vec<Tenant>, StoreError> {
    let rows = client.query("SELECT no, id, name, created_at FROM tenants ORDER BY id", &[]).await.map_err(backend)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(tenant_from_row(client, row).await?);
    }
    Ok(out)
}

pub(crate) async fn find_tenant(client: &impl GenericClient, id_or_alias: &str) -> Result<Option<Tenant>, StoreError> {
    let row = client
        .query_opt(
            "SELECT no, id, name, created_at FROM tenants
             WHERE id = $1 OR no = (SELECT tenant_no FROM tenant_aliases WHERE alias = $1)
             ORDER BY id = $1 DESC LIMIT 1",
            &[&id_or_alias],
        )
        .await
        .map_err(backend)?;
    match row {
        Some(row) => Ok(Some(tenant_from_row(client, &row).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn get_tenant(client: &impl GenericClient, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
    let row = client
        .query_opt("SELECT no, id, name, created_at FROM tenants WHERE id = $1", &[&id.as_str()])
        .await
        .map_err(backend)?;
    match row {
        Some(row) => Ok(Some(tenant_from_row(client, &row).await?)),
        None => Ok(None),
    }
}

const KEY_COLUMNS: &str = "k.id, t.id, k.name, k.scopes, k.view_filter, k.secret_hash, k.created_at, k.revoked_at
     FROM keys k JOIN tenants t ON t.no = k.tenant_no";

fn key_from_row(row: &Row) -> Result<KeyRecord, StoreError> {
    let id: String = row.get(0);
    let tenant: String = row.get(1);
    let scopes: String = row.get(3);
    let hash: Vec<u8> = row.get(5);
    let scopes: BTreeSet<Scope> = serde_json::from_str(&scopes).map_err(backend)?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| backend("stored key hash has the wrong length"))?;
    Ok(KeyRecord {
        id: KeyId::parse(&id).map_err(backend)?,
        tenant: TenantId::parse(&tenant).map_err(backend)?,
        name: row.get(2),
        scopes,
        view_filter: row.get(4),
        secret_hash: SecretHash(hash),
        created_at: Timestamp::from_micros(row.get(6)),
        revoked_at: row.get::<_, Option<i64>>(7).map(Timestamp::from_micros),
    })
}

pub(crate) async fn key_by_id(client: &impl GenericClient, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
    let row =
        client.query_opt(&format!("SELECT {KEY_COLUMNS} WHERE k.id = $1"), &[&id.as_str()]).await.map_err(backend)?;
    row.as_ref().map(key_from_row).transpose()
}

pub(crate) async fn list_keys(
    client: &impl GenericClient,
    tenant: Option<&TenantId>,
) -> Result<Vec<KeyRecord>, StoreError> {
    let rows = client
        .query(
            &format!("SELECT {KEY_COLUMNS} WHERE $1::text IS NULL OR t.id = $1 ORDER BY t.id, k.created_at, k.id"),
            &[&tenant.map(TenantId::as_str)],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(key_from_row).collect()
}

fn seq_of(n: i64) -> Result<Seq, StoreError> {
    Seq::new(n as u64).map_err(backend)
}

/// The tenant's row number; an unknown tenant is an error, not an empty log.
pub(crate) async fn tenant_no(client: &impl GenericClient, tenant: &TenantId) -> Result<i64, StoreError> {
    client
        .query_opt("SELECT no FROM tenants WHERE id = $1", &[&tenant.as_str()])
        .await
        .map_err(backend)?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))
}

pub(crate) async fn get_event(
    client: &impl GenericClient,
    no: i64,
    id: &EventId,
) -> Result<Option<StoredEvent>, StoreError> {
    let row = client
        .query_opt("SELECT seq, json FROM events WHERE tenant_no = $1 AND id = $2", &[&no, &id.to_string()])
        .await
        .map_err(backend)?;
    row.map(|r| Ok(StoredEvent { seq: seq_of(r.get(0))?, json: r.get(1) })).transpose()
}

/// The tenant's index mark and head ([`Bounds`]).
const BOUNDS: &str =
    "SELECT COALESCE((SELECT seq FROM index_marks WHERE tenant_no = $1), 0), head_seq FROM tenants WHERE no = $1";

/// Runs `read` in a read-only repeatable-read transaction with the tenant's index mark and
/// head read first in its snapshot ([`Bounds`]). `client` is a pooled connection, never a
/// transaction: the transaction is ended here, rolled back when `read` failed (a read that is
/// dropped midway loses its connection instead, `lib.rs::Reader`). The `BEGIN` and the bounds
/// (a statement prepared once per connection) go out together: one round trip.
async fn in_snapshot<T, F>(client: &ClientWrapper, no: i64, read: impl FnOnce(Bounds) -> F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>>,
{
    let result = async {
        let (_, row) =
            tokio::try_join!(client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"), async {
                let bounds = client.prepare_cached(BOUNDS).await?;
                client.query_one(&bounds, &[&no]).await
            })
            .map_err(backend)?;
        read(Bounds { mark: row.get(0), head: row.get(1) }).await
    }
    .await;
    // Also after a failed `BEGIN`: a `ROLLBACK` outside a transaction only warns.
    let end = client.batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }).await.map_err(backend);
    let value = result?;
    end?;
    Ok(value)
}

pub(crate) async fn query(client: &ClientWrapper, no: i64, query: &Query) -> Result<Page, StoreError> {
    in_snapshot(client, no, |bounds| page(client, no, query, bounds)).await
}

/// How the page's indexed arm finds the matches of its driving condition ([`Driver`]: its
/// words, or a `message co` needle it requires), from the data. The first `window` indexed
/// events in the page's order are walked, each tested, until the page's rows are found
/// ([`window_sql`]): if they are, the page walks to them again itself ([`TextPlan::Probe`]: a
/// few events walked again cost less than looking their rows up), or, when the walk to them
/// was long ([`Driver::walked_again_beyond`]), reads the rows found ([`TextPlan::Walked`]).
/// Otherwise the window's matches decide between walking on and listing the matches
/// ([`walks_rather_than_lists`]). A list
/// holds at most as many matches as walking to the page costs ([`list_cap`]): a longer one is
/// left for the walk (a window that held 3 of a word's 11 808 matches had them listed, 160–182
/// ms; words past 20 000 had been left to the planner, 107 ms). Walking on continues after the
/// window (no event is tested twice) up to the rows the page reads, and the page reads just
/// theirs ([`TextPlan::Walked`]); a page reading more than [`TEXT_MATCHES_CAP`] rows, or
/// whose events are cheap to test again ([`Driver::walks_on`]), walks in its own statement
/// instead. Every read runs in the page's snapshot. Listing reads the index's candidates with
/// bitmap scans only (a walk along the documents' primary key looking for a rare word's first
/// rows is what the estimate got wrong to begin with).
async fn page_plan(client: &Client, no: i64, query: &Query, bounds: Bounds) -> Result<PagePlan, StoreError> {
    let Some(driver) = page_driver(query).filter(|_| bounds.mark > 0) else {
        return Ok(PagePlan::default());
    };
    let plan = |how| Ok(PagePlan { driver: Some(driver.clone()), how });
    // (seq, sort key) of each match a walk found.
    let walked = |sql: Sql| async move {
        let rows = client.query(sql.text.as_str(), &sql.refs()).await.map_err(backend)?;
        Ok::<_, StoreError>(rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1))).collect::<Vec<_>>())
    };
    let need = rows_needed(query);
    let alone = driver_alone(query, &driver);
    let window = window_events(alone, need);
    let sql = window_sql(no, query, &driver, bounds, window, need);
    let rows = client.query(sql.text.as_str(), &sql.refs()).await.map_err(backend)?;
    // The matches (seq, time) and the place of the last; the window's first time and its
    // last event (time, seq).
    let (mut found, mut walked_to, mut first, mut end) = (Vec::new(), 0, None, None);
    for r in &rows {
        let (seq, key, place): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
        if place == 1 {
            first = Some(key);
        }
        if place == window {
            end = Some((key, seq));
        }
        if r.get::<_, bool>(3) && (found.len() as i64) < need {
            found.push((seq, key));
            walked_to = place;
        }
    }
    let count = found.len() as i64;
    if count >= need {
        // The page is in the window: walk to it again, or look up the rows found when the
        // walk to them was long.
        if walked_to > driver.walked_again_beyond() {
            return plan(found_rows(found, None));
        }
        return plan(TextPlan::Probe);
    }
    let (Some(first), Some(end)) = (first, end) else {
        // Fewer events than the window: it held every match.
        return plan(found_rows(found, None));
    };
    let window_span = end.0.abs_diff(first).try_into().unwrap_or(i64::MAX);
    let by_bucket = alone && lists_by_bucket(count, need, window, bounds.mark);
    let lists = if by_bucket {
        buckets_rather_than_walks(&driver, count, need - count, window, window_span)
    } else {
        !walks_rather_than_lists(&driver, alone, count, need, window, bounds.mark)
    };
    if lists {
        let cap = list_cap(&driver, alone, need, bounds.mark);
        let by_bucket = if by_bucket {
            let span = list_span(count, need - count, window_span);
            listed_by_bucket(client, (no, query, &driver, bounds), cap, (&found, end), span).await?
        } else {
            Bucketed::Unfinished(Vec::new(), None)
        };
        match by_bucket {
            Bucketed::Page(listed) => return plan(listed),
            Bucketed::TooMany => {}
            Bucketed::Unfinished(mut listed, rest) => {
                let rest = rest.as_deref().unwrap_or(query);
                let left = cap - listed.len() as i64;
                listed.extend(list(client, matches_sql(no, rest, &driver, bounds, left, None)).await?);
                if listed.len() as i64 <= cap {
                    if !alone {
                        return plan(TextPlan::Matches(listed.into_iter().map(|r| r.0).collect()));
                    }
                    return plan(page_of(query, listed, None));
                }
            }
        }
    }
    if need > TEXT_MATCHES_CAP || !driver.walks_on() {
        return plan(TextPlan::Probe);
    }
    let on = walk_on_sql(no, query, &driver, bounds, end, need - count);
    found.extend(walked(on).await?);
    plan(found_rows(found, None))
}

/// What listing a page's matches by time bucket came to ([`listed_by_bucket`]).
enum Bucketed {
    /// The page's rows.
    Page(TextPlan),
    /// More matches than a list holds: walk to them.
    TooMany,
    /// No page within [`LIST_BUCKETS_MAX`] buckets: the matches found (seq, time), and the
    /// page's query over the times not listed yet (`None`: the page's own), whose matches are
    /// listed whole.
    Unfinished(Vec<(i64, i64)>, Option<Box<Query>>),
}

/// A page's matches: the `found` matches of its first window, whose last event is `end`
/// (time, seq), and after it those listed from the time buckets nearest the window's end,
/// asking the index for the keys of the words or trigrams AND those of the buckets, so only
/// the documents (messages) of those buckets are read ([`lists_by_bucket`]). The first list
/// covers `span` µs past the window's end ([`list_span`]); while the matches are fewer than
/// the page's rows and its range goes on, the next reaches where twice the rows still needed
/// match at the rate the lists found (eight times as far if they found none), without the
/// buckets listed already. The page's rows are the first matches in its order once there are
/// that many (every later match is in a later bucket) or the list covers the page's range.
async fn listed_by_bucket(
    client: &Client,
    (no, query, driver, bounds): (i64, &Query, &Driver, Bounds),
    cap: i64,
    (found, end): (&[(i64, i64)], (i64, i64)),
    span: i64,
) -> Result<Bucketed, StoreError> {
    let need = rows_needed(query);
    let towards_older = query.sort.descending;
    let origin = bucket(end.0);
    // The bucket the page's range ends in.
    let range_end = if towards_older {
        query.range.from.map(|f| bucket(f.as_micros()))
    } else {
        query.range.to.map(|t| bucket(t.as_micros().saturating_sub(1)))
    };
    // The page after the window.
    let cursor = Cursor { sort: query.sort.as_text(), values: vec![Value::from(end.0)], seq: end.1.unsigned_abs() };
    let after = Query { page: PageRequest::After(cursor), ..query.clone() };
    // Where the times listed end: the start of the bucket after the nearest not listed
    // (newest first), or the nearest's start.
    let edge = |nearest: i64| bucket_start(if towards_older { nearest + 1 } else { nearest });
    let (mut listed, mut nearest, mut span) = (found.to_vec(), origin, span);
    loop {
        let mut reach = bucket(if towards_older { end.0.saturating_sub(span) } else { end.0.saturating_add(span) });
        // At least the nearest bucket not listed yet: every list moves on, so there are at
        // most `LIST_BUCKETS_MAX` of them.
        reach = if towards_older { reach.min(nearest) } else { reach.max(nearest) };
        if let Some(last) = range_end {
            reach = if towards_older { reach.max(last) } else { reach.min(last) };
        }
        if reach.abs_diff(origin) >= LIST_BUCKETS_MAX as u64 {
            let mut rest = after;
            if nearest != origin {
                // The times of the buckets not listed.
                let listed_to = Timestamp::from_micros(edge(nearest));
                if towards_older {
                    rest.range.to = Some(rest.range.to.map_or(listed_to, |to| to.min(listed_to)));
                } else {
                    rest.range.from = Some(rest.range.from.map_or(listed_to, |from| from.max(listed_to)));
                }
            }
            return Ok(Bucketed::Unfinished(listed, Some(Box::new(rest))));
        }
        let buckets = if towards_older { reach..=nearest } else { nearest..=reach };
        let left = cap - listed.len() as i64;
        listed.extend(list(client, matches_sql(no, &after, driver, bounds, left, Some(buckets))).await?);
        if listed.len() as i64 > cap {
            return Ok(Bucketed::TooMany);
        }
        if listed.len() as i64 >= need || range_end == Some(reach) {
            let buckets = reach.abs_diff(origin) as i64 + 1;
            return Ok(Bucketed::Page(page_of(query, listed, Some(buckets))));
        }
        nearest = if towards_older { reach - 1 } else { reach + 1 };
        // The time listed past the window, and how many matched in it: the next list reaches
        // where twice the rows still needed would match at that rate (eight times as far
        // when none did).
        let covered = edge(nearest).abs_diff(end.0) as f64;
        let (matched, rows) = ((listed.len() - found.len()) as f64, (need - listed.len() as i64) as f64);
        span = if matched > 0.0 { covered + 2.0 * rows * covered / matched } else { covered * 8.0 } as i64;
    }
}

/// The matches (seq, time) of `sql` ([`matches_sql`]), read from the index's bitmaps only
/// (a walk along the documents' primary key looking for a rare word's first rows is what the
/// planner's estimate got wrong to begin with). Prepared first, so that the three statements
/// go out in this order in one round trip (a query of SQL text is sent only once its
/// statement has been prepared).
async fn list(client: &Client, sql: Sql) -> Result<Vec<(i64, i64)>, StoreError> {
    let statement = client.prepare(sql.text.as_str()).await.map_err(backend)?;
    let params = sql.refs();
    let (_, rows, _) = tokio::try_join!(
        client.batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off"),
        client.query(&statement, &params),
        client.batch_execute("SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_indexscan TO DEFAULT"),
    )
    .map_err(backend)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The page's rows among `listed` matches of a driver that is all it tests: the first
/// [`rows_needed`] in its order (only theirs are read).
fn page_of(query: &Query, mut listed: Vec<(i64, i64)>, buckets: Option<i64>) -> TextPlan {
    listed.sort_unstable_by_key(|&(seq, time)| (time, seq));
    if query.sort.descending {
        listed.reverse();
    }
    let matches = listed.len();
    listed.truncate(usize::try_from(rows_needed(query)).unwrap_or(usize::MAX));
    found_rows(listed, Some(Listed { matches, buckets }))
}

/// The plan that reads just the `found` matches' rows (seq, time), in their months.
fn found_rows(found: Vec<(i64, i64)>, listed: Option<Listed>) -> TextPlan {
    let times = found.iter().map(|f| f.1);
    let times = (times.clone().min().unwrap_or_default(), times.max().unwrap_or_default());
    TextPlan::Walked { seqs: found.into_iter().map(|f| f.0).collect(), times, listed }
}

async fn page(client: &Client, no: i64, query: &Query, bounds: Bounds) -> Result<Page, StoreError> {
    let plan = page_plan(client, no, query, bounds).await?;
    let sql = page_sql(no, query, Some(bounds), &plan);
    let limit = query.limit.get() as usize;
    let mut rows = page_statement(client, query, &sql.text, &sql).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = match (more, rows.last()) {
        (true, Some(row)) => {
            let key = if query.sort.is_integer() {
                row.get::<_, Option<i64>>(1).map(Value::from)
            } else {
                row.get::<_, Option<String>>(1).map(Value::from)
            };
            let seq: i64 = row.get(0);
            Some(Cursor { sort: query.sort.as_text(), values: vec![key.unwrap_or(Value::Null)], seq: seq as u64 })
        }
        _ => None,
    };
    let events = rows
        .iter()
        .map(|r| Ok(StoredEvent { seq: seq_of(r.get(0))?, json: r.get(2) }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page { events, next })
}

/// Runs `text` (the page's statement, or its `EXPLAIN`) with the parameters of `sql`, as the
/// last statement of the page's snapshot. A page that an index holds in its order
/// ([`walks_a_column_index`]) is planned without sorts: `SET LOCAL` lasts until the snapshot
/// ends, right after, and goes out in the same round trip, ahead of the statement.
async fn page_statement(client: &Client, query: &Query, text: &str, sql: &Sql) -> Result<Vec<Row>, StoreError> {
    let params = sql.refs();
    if walks_a_column_index(query) {
        let (_, rows) =
            tokio::try_join!(client.batch_execute("SET LOCAL enable_sort = off"), client.query(text, &params))
                .map_err(backend)?;
        return Ok(rows);
    }
    client.query(text, &params).await.map_err(backend)
}

pub(crate) async fn count(client: &impl GenericClient, no: i64, query: &Query) -> Result<u64, StoreError> {
    if query.matches_everything() {
        // The log size (`head_seq`): one row instead of a scan that grows with the log.
        return crate::tree::size(client, no).await;
    }
    let sql = matching(no, query);
    let n: i64 = client
        .query_one(format!("SELECT COUNT(*) FROM {} AS events", sql.text).as_str(), &sql.refs())
        .await
        .map_err(backend)?
        .get(0);
    Ok(n as u64)
}

/// `EXPLAIN` of a page query, one line per plan line, after a line that says how the page's
/// driving condition was read when [`page_plan`] chose it from the data.
pub(crate) async fn explain(client: &ClientWrapper, no: i64, query: &Query) -> Result<Vec<String>, StoreError> {
    in_snapshot(client, no, |bounds| async move {
        let plan = page_plan(client, no, query, bounds).await?;
        let sql = page_sql(no, query, Some(bounds), &plan);
        let rows = page_statement(client, query, &format!("EXPLAIN {}", sql.text), &sql).await?;
        let chosen = match &plan.how {
            TextPlan::Walked { seqs, listed: None, .. } => {
                Some(format!("Stele: {} matches found walking the time index", seqs.len()))
            }
            TextPlan::Walked { seqs, listed: Some(Listed { matches, buckets: None }), .. } => {
                Some(format!("Stele: {matches} matches listed from the index, the first {} read", seqs.len()))
            }
            TextPlan::Walked { seqs, listed: Some(Listed { matches, buckets: Some(b) }), .. } => Some(format!(
                "Stele: {matches} matches listed from the index in {b} time bucket{}, the first {} read",
                if *b == 1 { "" } else { "s" },
                seqs.len()
            )),
            TextPlan::Matches(seqs) => Some(format!("Stele: {} matches listed from the index", seqs.len())),
            TextPlan::Probe => Some("Stele: the page walks the time index, testing each event".to_owned()),
            TextPlan::Planner | TextPlan::Excluded => None,
        };
        Ok(chosen.into_iter().chain(rows.iter().map(|r| r.get::<_, String>(0))).collect())
    })
    .await
}
