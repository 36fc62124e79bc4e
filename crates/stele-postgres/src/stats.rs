//! Histogram and facet counts (`stele_store::StatsStore`) on PostgreSQL, mirroring the
//! SQLite backend's `stats.rs`: the query's WHERE clause from `compile.rs`, grouped by time
//! bucket or by one column or term.

use stele_core::Query;
use stele_store::stats::{fill, Buckets, Facet, FacetValue};
use stele_store::StoreError;
use tokio_postgres::GenericClient;

use crate::backend;
use crate::compile::matching;

pub(crate) async fn histogram(
    client: &impl GenericClient,
    no: i64,
    query: &Query,
    b: &Buckets,
) -> Result<Vec<u64>, StoreError> {
    let narrowed = b.narrow(query);
    let mut sql = matching(no, &narrowed);
    let rows = std::mem::take(&mut sql.text);
    sql.bind(b.start.as_micros());
    let start = std::mem::take(&mut sql.text);
    sql.bind(b.width_micros.max(1));
    let width = std::mem::take(&mut sql.text);
    sql.text = format!("SELECT (time - {start}) / {width}, COUNT(*) FROM {rows} AS events GROUP BY 1");
    let rows = client.query(sql.text.as_str(), &sql.refs()).await.map_err(backend)?;
    Ok(fill(rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1))), b.count))
}

pub(crate) async fn facet(
    client: &impl GenericClient,
    no: i64,
    query: &Query,
    facet: Facet,
    limit: u32,
) -> Result<Vec<FacetValue>, StoreError> {
    let mut sql = matching(no, query);
    let rows = std::mem::take(&mut sql.text);
    sql.bind(i64::from(limit));
    let limit = std::mem::take(&mut sql.text);
    sql.text = match facet {
        Facet::TargetType => {
            sql.bind(no);
            let tenant = std::mem::take(&mut sql.text);
            // Terms are `target.type=<lowercased value>`; `>` sorts right after `=` ("C").
            // The postings up to the index mark, the rows' own terms after it.
            let mark = format!("(SELECT COALESCE(max(seq), 0) FROM index_marks WHERE tenant_no = {tenant})");
            format!(
                "SELECT substr(t.term, 13), COUNT(*) FROM (
                     SELECT term, seq FROM event_terms WHERE tenant_no = {tenant} AND seq <= {mark}
                       AND term >= 'target.type=' AND term < 'target.type>'
                     UNION ALL SELECT x.term, e.seq FROM events e, unnest(e.terms) AS x(term)
                     WHERE e.tenant_no = {tenant} AND e.seq > {mark}
                       AND x.term >= 'target.type=' AND x.term < 'target.type>') AS t
                 WHERE t.seq IN (SELECT seq FROM {rows} AS m)
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}"
            )
        }
        other => {
            let column = match other {
                Facet::Action => "action",
                Facet::Status => "status",
                _ => "actor_email",
            };
            format!(
                "SELECT {column}, COUNT(*) FROM {rows} AS events WHERE {column} IS NOT NULL
                 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}"
            )
        }
    };
    let rows = client.query(sql.text.as_str(), &sql.refs()).await.map_err(backend)?;
    Ok(rows.iter().map(|r| FacetValue { value: r.get(0), count: r.get::<_, i64>(1) as u64 }).collect())
}
