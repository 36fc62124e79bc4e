//! Row-level SQL shared by the writer and by the benchmark's raw-engine baseline, so that
//! both insert exactly the same rows into exactly the same schema.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};
use stele_core::NewEvent;

/// Opens (creating if needed) a database file with Stele's pragmas for the single writer:
/// WAL, and `synchronous = FULL` so that every commit is fsync'd before it returns.
pub fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    crate::schema::migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a read-only connection (readers never block the writer under WAL).
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "cache_size", -8_000)?;
    Ok(conn)
}

/// Inserts one event row at the given position of a tenant's log.
pub fn insert_event(conn: &Connection, tenant_no: i64, seq: u64, new: &NewEvent) -> rusqlite::Result<()> {
    let e = &new.event;
    let actor = e.actor.as_ref();
    let req = e.request.as_ref();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (tenant_no, seq, id, time, received_at, action, status, origin,
            actor_type, actor_id, actor_name, actor_email, actor_ip, message, reason, correlation_id,
            request_id, request_method, request_path, request_status, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    )?;
    stmt.execute(params![
        tenant_no,
        seq as i64,
        e.id.to_string(),
        e.time.as_micros(),
        e.received_at.as_micros(),
        e.action,
        e.status.as_str(),
        e.origin.map(|o| o.as_str()),
        actor.and_then(|a| a.kind.as_deref()),
        actor.and_then(|a| a.id.as_deref()),
        actor.and_then(|a| a.name.as_deref()),
        actor.and_then(|a| a.email.as_deref()),
        actor.and_then(|a| a.ip.as_deref()),
        e.message,
        e.reason,
        e.correlation_id,
        req.and_then(|r| r.id.as_deref()),
        req.and_then(|r| r.method.as_deref()),
        req.and_then(|r| r.path.as_deref()),
        req.and_then(|r| r.status_code),
        new.json,
    ])?;
    Ok(())
}
