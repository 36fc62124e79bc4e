//! Retention rows (`retention`): the tenant's policy, written by `RecordChange::PutRetention`
//! inside the writer's transaction, and the reads of [`stele_store::RetentionStore`].

use rusqlite::{params, Connection, OptionalExtension};
use stele_core::{EventId, Timestamp};
use stele_store::retention::{LegalHold, RetentionPolicy};
use stele_store::StoreError;

use crate::backend;

pub(crate) fn put(conn: &Connection, no: i64, p: &RetentionPolicy, previous: Option<u64>) -> Result<(), StoreError> {
    let stored: Option<i64> = conn
        .query_row("SELECT version FROM retention WHERE tenant_no = ?1", [no], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    crate::directory::check_version(stored.map(|v| v as u64), previous, "retention policy", "")?;
    conn.execute(
        "INSERT OR REPLACE INTO retention (tenant_no, days, legal_hold, hold_reason, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            no,
            p.days,
            p.legal_hold.is_some(),
            p.legal_hold.as_ref().map(|h| h.reason.as_str()),
            p.version as i64,
            p.updated_at.as_micros()
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn policy(conn: &Connection, no: i64) -> Result<Option<RetentionPolicy>, StoreError> {
    conn.query_row(
        "SELECT days, legal_hold, hold_reason, version, updated_at FROM retention WHERE tenant_no = ?1",
        [no],
        |r| {
            let held: bool = r.get(1)?;
            let reason: Option<String> = r.get(2)?;
            Ok(RetentionPolicy {
                days: r.get(0)?,
                legal_hold: held.then(|| LegalHold { reason: reason.unwrap_or_default() }),
                version: r.get::<_, i64>(3)? as u64,
                updated_at: Timestamp::from_micros(r.get(4)?),
            })
        },
    )
    .optional()
    .map_err(backend)
}

/// Live (not redacted) events older than `before` with `seq <= up_to`, oldest first: the
/// tenant's time index, skipping tombstones.
pub(crate) fn expirable(
    conn: &Connection,
    no: i64,
    before: Timestamp,
    up_to: u64,
    limit: usize,
) -> Result<Vec<(u64, EventId)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, id FROM events WHERE tenant_no = ?1 AND time < ?2 AND seq <= ?3 AND redacted IS NOT 1
             ORDER BY time, seq LIMIT ?4",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![no, before.as_micros(), up_to.min(i64::MAX as u64) as i64, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(backend)?;
    rows.map(|r| {
        let (seq, id) = r.map_err(backend)?;
        Ok((seq as u64, EventId::parse(&id).map_err(backend)?))
    })
    .collect()
}
