//! Stream rows on PostgreSQL, mirroring the SQLite backend's `delivery.rs`: the stream
//! changes of [`RecordChange`] inside the writer's group transaction (after the tenant's
//! head row is locked, so two nodes changing one tenant's streams take turns), and the reads
//! of [`stele_store::DeliveryStore`]. The lease columns are what lets one node at a time
//! deliver a stream (see `stele_store::delivery`).

use stele_core::{TenantId, Timestamp};
use stele_store::delivery::{
    ActiveStream, Lease, Stream, StreamId, StreamProgress, StreamRecord, StreamStart, MAX_STREAMS_PER_TENANT,
};
use stele_store::StoreError;
use tokio_postgres::{GenericClient, Row, Transaction};

use crate::backend;
use crate::writer::Fail;

const COLUMNS: &str = "id, name, kind, destination, secrets, filter, paused, version, created_at, updated_at, cursor,
    delivered, last_success, last_error, last_error_at, failures, lease_node, lease_until";

async fn stored_version(tx: &Transaction<'_>, no: i64, id: &StreamId) -> Result<Option<u64>, Fail> {
    Ok(tx
        .query_opt("SELECT version FROM streams WHERE tenant_no = $1 AND id = $2", &[&no, &id.as_str()])
        .await?
        .map(|r| r.get::<_, i64>(0) as u64))
}

pub(crate) async fn put(
    tx: &Transaction<'_>,
    no: i64,
    s: &StreamRecord,
    previous: Option<u64>,
    start: StreamStart,
) -> Result<(), Fail> {
    let stored = stored_version(tx, no, &s.id).await?;
    crate::directory::check_version(stored, previous, "stream", s.id.as_str())?;
    // A new stream: the bound, and where its cursor starts. A replaced one keeps its progress
    // (the upsert below sets only the record's columns on conflict).
    let mut cursor = 0i64;
    if stored.is_none() {
        let count: i64 = tx.query_one("SELECT COUNT(*) FROM streams WHERE tenant_no = $1", &[&no]).await?.get(0);
        if count as u64 >= MAX_STREAMS_PER_TENANT {
            return Err(StoreError::Conflict("streams".into()).into());
        }
        if start == StreamStart::Now {
            cursor = tx.query_one("SELECT head_seq FROM tenants WHERE no = $1", &[&no]).await?.get(0);
        }
    }
    tx.execute(
        "INSERT INTO streams (tenant_no, id, name, kind, destination, secrets, filter, paused, version, created_at,
             updated_at, cursor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (tenant_no, id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
             destination = EXCLUDED.destination, secrets = EXCLUDED.secrets, filter = EXCLUDED.filter,
             paused = EXCLUDED.paused, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
        &[
            &no,
            &s.id.as_str(),
            &s.name,
            &s.kind,
            &s.destination,
            &s.secrets_sealed,
            &s.filter,
            &s.paused,
            &(s.version as i64),
            &s.created_at.as_micros(),
            &s.updated_at.as_micros(),
            &cursor,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn delete(tx: &Transaction<'_>, no: i64, id: &StreamId, previous: u64) -> Result<(), Fail> {
    crate::directory::check_version(stored_version(tx, no, id).await?, Some(previous), "stream", id.as_str())?;
    tx.execute("DELETE FROM streams WHERE tenant_no = $1 AND id = $2", &[&no, &id.as_str()]).await?;
    Ok(())
}

async fn lease_of(tx: &Transaction<'_>, no: i64, id: &StreamId) -> Result<(Option<String>, Option<i64>), Fail> {
    let row = tx
        .query_opt("SELECT lease_node, lease_until FROM streams WHERE tenant_no = $1 AND id = $2", &[&no, &id.as_str()])
        .await?
        .ok_or_else(|| StoreError::RecordNotFound("stream", id.to_string()))?;
    Ok((row.get(0), row.get(1)))
}

pub(crate) async fn claim(
    tx: &Transaction<'_>,
    no: i64,
    id: &StreamId,
    node: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<(), Fail> {
    let (holder, held_until) = lease_of(tx, no, id).await?;
    let free = holder.as_deref().is_none_or(|h| h == node) || held_until.is_none_or(|u| u <= now.as_micros());
    if !free {
        return Err(StoreError::Conflict("lease".into()).into());
    }
    tx.execute(
        "UPDATE streams SET lease_node = $3, lease_until = $4 WHERE tenant_no = $1 AND id = $2",
        &[&no, &id.as_str(), &node, &until.as_micros()],
    )
    .await?;
    Ok(())
}

async fn check_holder(tx: &Transaction<'_>, no: i64, id: &StreamId, node: &str) -> Result<(), Fail> {
    match lease_of(tx, no, id).await?.0 {
        Some(holder) if holder == node => Ok(()),
        _ => Err(StoreError::Conflict("lease".into()).into()),
    }
}

pub(crate) async fn delivered(
    tx: &Transaction<'_>,
    no: i64,
    id: &StreamId,
    node: &str,
    cursor: u64,
    count: u64,
    at: Timestamp,
) -> Result<(), Fail> {
    check_holder(tx, no, id, node).await?;
    tx.execute(
        "UPDATE streams SET cursor = GREATEST(cursor, $3), delivered = delivered + $4, last_success = $5, failures = 0
         WHERE tenant_no = $1 AND id = $2",
        &[&no, &id.as_str(), &(cursor as i64), &(count as i64), &at.as_micros()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn failed(
    tx: &Transaction<'_>,
    no: i64,
    id: &StreamId,
    node: &str,
    error: &str,
    at: Timestamp,
) -> Result<(), Fail> {
    check_holder(tx, no, id, node).await?;
    tx.execute(
        "UPDATE streams SET last_error = $3, last_error_at = $4, failures = failures + 1
         WHERE tenant_no = $1 AND id = $2",
        &[&no, &id.as_str(), &error, &at.as_micros()],
    )
    .await?;
    Ok(())
}

fn stream_row(r: &Row) -> Result<Stream, StoreError> {
    let id: String = r.get(0);
    let id = id.parse::<StreamId>().map_err(backend)?;
    let micros = |v: Option<i64>| v.map(Timestamp::from_micros);
    let lease = match (r.get::<_, Option<String>>(16), r.get::<_, Option<i64>>(17)) {
        (Some(node), Some(until)) => Some(Lease { node, until: Timestamp::from_micros(until) }),
        _ => None,
    };
    Ok(Stream {
        record: StreamRecord {
            id,
            name: r.get(1),
            kind: r.get(2),
            destination: r.get(3),
            secrets_sealed: r.get(4),
            filter: r.get(5),
            paused: r.get(6),
            version: r.get::<_, i64>(7) as u64,
            created_at: Timestamp::from_micros(r.get(8)),
            updated_at: Timestamp::from_micros(r.get(9)),
        },
        progress: StreamProgress {
            cursor: r.get::<_, i64>(10) as u64,
            delivered: r.get::<_, i64>(11) as u64,
            last_success: micros(r.get(12)),
            last_error: r.get(13),
            last_error_at: micros(r.get(14)),
            failures: r.get::<_, i32>(15) as u32,
            lease,
        },
    })
}

pub(crate) async fn streams(client: &impl GenericClient, no: i64) -> Result<Vec<Stream>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM streams WHERE tenant_no = $1 ORDER BY created_at, id");
    let rows = client.query(&sql, &[&no]).await.map_err(backend)?;
    rows.iter().map(stream_row).collect()
}

pub(crate) async fn stream(client: &impl GenericClient, no: i64, id: &StreamId) -> Result<Option<Stream>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM streams WHERE tenant_no = $1 AND id = $2");
    let row = client.query_opt(&sql, &[&no, &id.as_str()]).await.map_err(backend)?;
    row.as_ref().map(stream_row).transpose()
}

pub(crate) async fn active(client: &impl GenericClient) -> Result<Vec<ActiveStream>, StoreError> {
    let rows = client
        .query(
            "SELECT t.id, s.id, s.version FROM streams s JOIN tenants t ON t.no = s.tenant_no
             WHERE NOT s.paused ORDER BY t.id, s.id",
            &[],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|r| {
            Ok(ActiveStream {
                tenant: TenantId::parse(r.get(0)).map_err(backend)?,
                id: r.get::<_, &str>(1).parse().map_err(backend)?,
                version: r.get::<_, i64>(2) as u64,
            })
        })
        .collect()
}
