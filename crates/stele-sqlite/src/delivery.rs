//! Stream rows (`streams`): how the stream changes of [`RecordChange`] are written inside
//! the writer's transaction, and the reads of [`stele_store::DeliveryStore`]. A stream's
//! record and its progress share one row; the record's columns change only through
//! `PutStream` (versioned, audited), the progress columns only through the lease holder's
//! `ClaimStream`/`StreamDelivered`/`StreamFailed` (see `stele_store::delivery`).

use rusqlite::{params, Connection, OptionalExtension, Row};
use stele_core::{TenantId, Timestamp};
use stele_store::delivery::{
    ActiveStream, Lease, Stream, StreamId, StreamProgress, StreamRecord, StreamStart, MAX_STREAMS_PER_TENANT,
};
use stele_store::StoreError;

use crate::backend;

const COLUMNS: &str = "id, name, kind, destination, secrets, filter, paused, version, created_at, updated_at, cursor,
    delivered, last_success, last_error, last_error_at, failures, lease_node, lease_until";

fn stored_version(conn: &Connection, no: i64, id: &StreamId) -> Result<Option<u64>, StoreError> {
    conn.query_row("SELECT version FROM streams WHERE tenant_no = ?1 AND id = ?2", params![no, id.as_str()], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
    .map(|v| v.map(|v| v as u64))
    .map_err(backend)
}

pub(crate) fn put(
    conn: &Connection,
    no: i64,
    s: &StreamRecord,
    previous: Option<u64>,
    start: StreamStart,
) -> Result<(), StoreError> {
    let stored = stored_version(conn, no, &s.id)?;
    crate::directory::check_version(stored, previous, "stream", s.id.as_str())?;
    // A new stream: the bound, and where its cursor starts. A replaced one keeps its progress
    // (the upsert below sets only the record's columns on conflict).
    let mut cursor = 0i64;
    if stored.is_none() {
        let count: i64 =
            conn.query_row("SELECT COUNT(*) FROM streams WHERE tenant_no = ?1", [no], |r| r.get(0)).map_err(backend)?;
        if count as u64 >= MAX_STREAMS_PER_TENANT {
            return Err(StoreError::Conflict("streams".into()));
        }
        if start == StreamStart::Now {
            // The tenant's log is one rowid range: pos = (tenant_no << 40) | seq.
            cursor = conn
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE pos BETWEEN ?1 AND ?2",
                    params![no << 40, (no << 40) | ((1 << 40) - 1)],
                    |r| r.get(0),
                )
                .map_err(backend)?;
        }
    }
    conn.execute(
        "INSERT INTO streams (tenant_no, id, name, kind, destination, secrets, filter, paused, version, created_at,
             updated_at, cursor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (tenant_no, id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
             destination = excluded.destination, secrets = excluded.secrets, filter = excluded.filter,
             paused = excluded.paused, version = excluded.version, updated_at = excluded.updated_at",
        params![
            no,
            s.id.as_str(),
            s.name,
            s.kind,
            s.destination,
            s.secrets_sealed,
            s.filter,
            s.paused,
            s.version as i64,
            s.created_at.as_micros(),
            s.updated_at.as_micros(),
            cursor
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, no: i64, id: &StreamId, previous: u64) -> Result<(), StoreError> {
    crate::directory::check_version(stored_version(conn, no, id)?, Some(previous), "stream", id.as_str())?;
    conn.execute("DELETE FROM streams WHERE tenant_no = ?1 AND id = ?2", params![no, id.as_str()]).map_err(backend)?;
    Ok(())
}

/// The lease holder, or why there is none to act for.
fn lease_of(conn: &Connection, no: i64, id: &StreamId) -> Result<(Option<String>, Option<i64>), StoreError> {
    conn.query_row(
        "SELECT lease_node, lease_until FROM streams WHERE tenant_no = ?1 AND id = ?2",
        params![no, id.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(backend)?
    .ok_or_else(|| StoreError::RecordNotFound("stream", id.to_string()))
}

pub(crate) fn claim(
    conn: &Connection,
    no: i64,
    id: &StreamId,
    node: &str,
    until: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (holder, held_until) = lease_of(conn, no, id)?;
    let free = holder.as_deref().is_none_or(|h| h == node) || held_until.is_none_or(|u| u <= now.as_micros());
    if !free {
        return Err(StoreError::Conflict("lease".into()));
    }
    conn.execute(
        "UPDATE streams SET lease_node = ?3, lease_until = ?4 WHERE tenant_no = ?1 AND id = ?2",
        params![no, id.as_str(), node, until.as_micros()],
    )
    .map_err(backend)?;
    Ok(())
}

fn check_holder(conn: &Connection, no: i64, id: &StreamId, node: &str) -> Result<(), StoreError> {
    match lease_of(conn, no, id)?.0 {
        Some(holder) if holder == node => Ok(()),
        _ => Err(StoreError::Conflict("lease".into())),
    }
}

pub(crate) fn delivered(
    conn: &Connection,
    no: i64,
    id: &StreamId,
    node: &str,
    cursor: u64,
    count: u64,
    at: Timestamp,
) -> Result<(), StoreError> {
    check_holder(conn, no, id, node)?;
    conn.execute(
        "UPDATE streams SET cursor = MAX(cursor, ?3), delivered = delivered + ?4, last_success = ?5, failures = 0
         WHERE tenant_no = ?1 AND id = ?2",
        params![no, id.as_str(), cursor as i64, count as i64, at.as_micros()],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn failed(
    conn: &Connection,
    no: i64,
    id: &StreamId,
    node: &str,
    error: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    check_holder(conn, no, id, node)?;
    conn.execute(
        "UPDATE streams SET last_error = ?3, last_error_at = ?4, failures = failures + 1
         WHERE tenant_no = ?1 AND id = ?2",
        params![no, id.as_str(), error, at.as_micros()],
    )
    .map_err(backend)?;
    Ok(())
}

fn stream_row(r: &Row<'_>) -> rusqlite::Result<Result<Stream, StoreError>> {
    let id: String = r.get(0)?;
    let Ok(id) = id.parse::<StreamId>() else {
        return Ok(Err(StoreError::Backend(format!("stored stream id {id:?} is malformed"))));
    };
    let micros = |v: Option<i64>| v.map(Timestamp::from_micros);
    let lease = match (r.get::<_, Option<String>>(16)?, r.get::<_, Option<i64>>(17)?) {
        (Some(node), Some(until)) => Some(Lease { node, until: Timestamp::from_micros(until) }),
        _ => None,
    };
    Ok(Ok(Stream {
        record: StreamRecord {
            id,
            name: r.get(1)?,
            kind: r.get(2)?,
            destination: r.get(3)?,
            secrets_sealed: r.get(4)?,
            filter: r.get(5)?,
            paused: r.get(6)?,
            version: r.get::<_, i64>(7)? as u64,
            created_at: Timestamp::from_micros(r.get(8)?),
            updated_at: Timestamp::from_micros(r.get(9)?),
        },
        progress: StreamProgress {
            cursor: r.get::<_, i64>(10)? as u64,
            delivered: r.get::<_, i64>(11)? as u64,
            last_success: micros(r.get(12)?),
            last_error: r.get(13)?,
            last_error_at: micros(r.get(14)?),
            failures: r.get::<_, i64>(15)? as u32,
            lease,
        },
    }))
}

pub(crate) fn streams(conn: &Connection, no: i64) -> Result<Vec<Stream>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM streams WHERE tenant_no = ?1 ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt.query_map([no], stream_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend).and_then(|r| r)).collect()
}

pub(crate) fn stream(conn: &Connection, no: i64, id: &StreamId) -> Result<Option<Stream>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM streams WHERE tenant_no = ?1 AND id = ?2");
    conn.query_row(&sql, params![no, id.as_str()], stream_row).optional().map_err(backend)?.transpose()
}

pub(crate) fn active(conn: &Connection) -> Result<Vec<ActiveStream>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT t.id, s.id, s.version FROM streams s JOIN tenants t ON t.no = s.tenant_no
             WHERE NOT s.paused ORDER BY t.id, s.id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
        .map_err(backend)?;
    rows.map(|r| {
        let (tenant, id, version) = r.map_err(backend)?;
        Ok(ActiveStream {
            tenant: TenantId::parse(&tenant).map_err(backend)?,
            id: id.parse().map_err(backend)?,
            version: version as u64,
        })
    })
    .collect()
}
