//! Histogram and facet counts (`stele_store::StatsStore`): the query's WHERE clause from
//! `compile.rs` (the one a page of events uses, with its terms collected first, as counts
//! do), grouped by time bucket or by one column or term — in one read transaction, with the
//! index's mark like every read (`index.rs`).

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use stele_core::Query;
use stele_store::stats::{fill, Buckets, Facet, FacetValue};
use stele_store::StoreError;

use crate::backend;
use crate::compile::{where_clause, DenseTerms};
use crate::read::{snapshot, split_of};
use crate::rows::pos;

pub(crate) fn histogram(conn: &Connection, no: i64, query: &Query, b: &Buckets) -> Result<Vec<u64>, StoreError> {
    snapshot(conn, || histogram_in(conn, no, query, b))
}

fn histogram_in(conn: &Connection, no: i64, query: &Query, b: &Buckets) -> Result<Vec<u64>, StoreError> {
    let narrowed = b.narrow(query);
    let split = split_of(conn, no, &narrowed)?;
    let w = where_clause(&split, &narrowed, false, &DenseTerms::new());
    let sql = format!("SELECT (time - ?) / ?, COUNT(*) FROM events WHERE {} GROUP BY 1", w.text);
    let mut params = vec![SqlValue::Integer(b.start.as_micros()), SqlValue::Integer(b.width_micros.max(1))];
    params.extend(w.params);
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(fill(rows, b.count))
}

pub(crate) fn facet(
    conn: &Connection,
    no: i64,
    query: &Query,
    facet: Facet,
    limit: u32,
) -> Result<Vec<FacetValue>, StoreError> {
    snapshot(conn, || facet_in(conn, no, query, facet, limit))
}

fn facet_in(
    conn: &Connection,
    no: i64,
    query: &Query,
    facet: Facet,
    limit: u32,
) -> Result<Vec<FacetValue>, StoreError> {
    let split = split_of(conn, no, query)?;
    let w = where_clause(&split, query, false, &DenseTerms::new());
    let mut params = Vec::new();
    let sql = match facet {
        Facet::TargetType => {
            // Indexed events: their postings of the dictionary's terms `target.type=<ASCII-
            // lowercased value>` (`>` sorts right after `=`). The tail: the same values from the
            // rows' targets (each value once per event, empty ones left out, as
            // `stele_store::derived::terms` does).
            params.push(SqlValue::Integer(pos(no, 0)));
            params.extend(w.params.iter().cloned());
            params.extend([SqlValue::Integer(no), SqlValue::Integer(no)]);
            params.extend(w.params.iter().cloned());
            params.extend([SqlValue::Integer(pos(no, split.mark)), SqlValue::Integer(pos(no + 1, 0))]);
            format!(
                "SELECT v, COUNT(*) FROM (
                   SELECT substr(d.term, 13) AS v FROM {postings} p JOIN dictionary d ON d.id = p.tid
                    WHERE ? + p.seq IN (SELECT pos FROM events WHERE {w} AND redacted IS NULL)
                      AND p.tenant_no = ? AND d.tenant_no = ?
                      AND d.term >= 'target.type=' AND d.term < 'target.type>'
                   UNION ALL
                   SELECT v FROM (
                     SELECT DISTINCT e.epos, lower(json_extract(t.value, '$.type')) AS v
                       FROM (SELECT pos AS epos, json AS ejson FROM events
                              WHERE {w} AND redacted IS NULL AND pos > ? AND pos < ?) AS e,
                            json_each(e.ejson, '$.targets') AS t
                      WHERE json_type(t.value, '$.type') = 'text' AND json_extract(t.value, '$.type') <> ''))
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                w = w.text,
                postings = split.postings()
            )
        }
        other => {
            let column = match other {
                Facet::Action => "action",
                Facet::Status => "status",
                _ => "actor_email",
            };
            params.extend(w.params.iter().cloned());
            format!(
                "SELECT {column}, COUNT(*) FROM events WHERE {} AND {column} IS NOT NULL
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                w.text
            )
        }
    };
    params.push(SqlValue::Integer(i64::from(limit)));
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(rows.into_iter().map(|(value, n)| FacetValue { value, count: n as u64 }).collect())
}
