//! Histogram and facet counts (`stele_store::StatsStore`): the query's WHERE clause from
//! `compile.rs` (the one a page of events uses, with its terms collected first, as counts
//! do), grouped by time bucket or by one column or term.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use stele_core::Query;
use stele_store::stats::{fill, Buckets, Facet, FacetValue};
use stele_store::StoreError;

use crate::backend;
use crate::compile::{where_clause, DenseTerms};

pub(crate) fn histogram(conn: &Connection, no: i64, query: &Query, b: &Buckets) -> Result<Vec<u64>, StoreError> {
    let narrowed = b.narrow(query);
    let w = where_clause(no, &narrowed, false, &DenseTerms::new());
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
    let w = where_clause(no, query, false, &DenseTerms::new());
    let mut params = Vec::new();
    let sql = match facet {
        Facet::TargetType => {
            // Terms are `target.type=<lowercased value>`; `>` sorts right after `=`.
            params.push(SqlValue::Integer(no));
            format!(
                "SELECT substr(t.term, 13), COUNT(*) FROM event_terms t
                 WHERE t.tenant_no = ? AND t.term >= 'target.type=' AND t.term < 'target.type>'
                   AND t.seq IN (SELECT seq FROM events WHERE {})
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                w.text
            )
        }
        other => {
            let column = match other {
                Facet::Action => "action",
                Facet::Status => "status",
                _ => "actor_email",
            };
            format!(
                "SELECT {column}, COUNT(*) FROM events WHERE {} AND {column} IS NOT NULL
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                w.text
            )
        }
    };
    params.extend(w.params);
    params.push(SqlValue::Integer(i64::from(limit)));
    let mut stmt = conn.prepare(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    Ok(rows.into_iter().map(|(value, n)| FacetValue { value, count: n as u64 }).collect())
}
