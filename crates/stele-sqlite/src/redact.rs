//! Redaction: an event's row keeps its place, id, times, action, status and leaf hash; its
//! JSON becomes a tombstone, every other column is cleared and `redacted` is set.
//!
//! Removed means gone from the files, not only from query results:
//! - the write connection runs with `PRAGMA secure_delete = ON`, so the freed row cells and
//!   pages are overwritten with zeros instead of left in free space;
//! - the event's index entries are purged from the index file before the redaction is
//!   answered (`index::purge`); the tombstone's transaction records the position in
//!   `index_purges` so a crash before the purge is repaired at the next start;
//! - after the commit, [`truncate_wal`] checkpoints the WAL into the database file and
//!   truncates it to zero bytes, so the page images from before the redaction are gone too.

use rusqlite::{params, Connection, OptionalExtension};
use stele_core::integrity::Hash;
use stele_core::tombstone::tombstone;
use stele_core::{Event, EventId, Seq, StoredEvent};
use stele_store::{Redaction, StoreError};

use crate::backend;

pub(crate) fn redact(conn: &Connection, no: i64, id: &EventId, r: &Redaction) -> Result<StoredEvent, StoreError> {
    let row: Option<(i64, i64, String, Option<Vec<u8>>)> = conn
        .prepare_cached("SELECT pos, seq, json, leaf FROM events WHERE tenant_no = ?1 AND id = ?2")
        .and_then(|mut s| {
            s.query_row(params![no, id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()
        })
        .map_err(backend)?;
    let (pos, seq, json, leaf) = row.ok_or(StoreError::EventNotFound(*id))?;
    let value: serde_json::Value = serde_json::from_str(&json).map_err(backend)?;
    if value.get("redacted").is_some() {
        return Err(StoreError::AlreadyRedacted(*id));
    }
    let event: Event = serde_json::from_value(value).map_err(backend)?;
    let leaf = leaf
        .and_then(|b| Hash::from_slice(&b).ok())
        .ok_or_else(|| StoreError::Tree(format!("event {seq} has no leaf hash")))?;
    let stone = tombstone(&event, &leaf, &r.reason, &r.by, r.at);
    conn.prepare_cached(
        "UPDATE events SET json = ?2, origin = NULL, actor_type = NULL, actor_id = NULL, actor_name = NULL,
            actor_email = NULL, actor_ip = NULL, message = NULL, reason = NULL, correlation_id = NULL,
            request_id = NULL, request_method = NULL, request_path = NULL, request_status = NULL, redacted = 1
         WHERE pos = ?1",
    )
    .and_then(|mut s| s.execute(params![pos, stone]))
    .map_err(backend)?;
    conn.prepare_cached("INSERT OR IGNORE INTO index_purges (pos) VALUES (?1)")
        .and_then(|mut s| s.execute([pos]))
        .map_err(backend)?;
    Ok(StoredEvent { seq: Seq::new(seq as u64).map_err(backend)?, json: stone })
}

/// Returns the free pages to the file system (`PRAGMA incremental_vacuum`; the file is
/// made with `auto_vacuum = INCREMENTAL`). A failure is logged: the pages stay free and are
/// reused.
pub(crate) fn reclaim(conn: &Connection) {
    let freed = conn.query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0)).unwrap_or(0);
    let result = conn.prepare("PRAGMA incremental_vacuum").and_then(|mut s| {
        let mut rows = s.query([])?;
        while rows.next()?.is_some() {}
        Ok(())
    });
    match result {
        Ok(()) => tracing::info!(pages = freed, "retention: free pages returned to the file system"),
        Err(e) => tracing::warn!(error = %e, "retention: incremental vacuum failed; the free pages stay for reuse"),
    }
}

/// Checkpoints the whole WAL into the database file and truncates the WAL to zero bytes, so
/// no page image from before a redaction survives in it. False when readers still used the
/// WAL after the busy timeout (the writer retries when it is next idle).
pub(crate) fn truncate_wal(conn: &Connection) -> bool {
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => true,
        Ok(_) => {
            tracing::warn!("redaction: readers still use the WAL; truncating it when the writer is next idle");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "redaction: WAL truncation failed; retrying when the writer is next idle");
            false
        }
    }
}
