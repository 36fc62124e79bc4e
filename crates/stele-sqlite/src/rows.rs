//! Row-level SQL shared by the writer and by the benchmark's raw-engine baseline, so that
//! both insert exactly the same rows into exactly the same schema.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};
use stele_core::integrity::Hash;
use stele_core::{EventId, NewEvent, Timestamp};

/// Opens (creating if needed) a database file with Stele's pragmas for the single writer:
/// WAL, and `synchronous = FULL` so that every commit is fsync'd before it returns.
/// Automatic checkpoints are off: they would run inside a commit, on the writer's clock;
/// [`crate::checkpoint`] runs them on a thread of their own instead.
pub fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    // 4 KiB pages: since the commit only appends (issue #13), a small commit dirties a few
    // pages, and their size is what it writes. In one run of `stele bench ingest` 4 KiB beat
    // 16 KiB on batches (10.9 k vs 6.2 k events/s) and single events (49 vs 74 KB written
    // per event). Only takes effect on a new file.
    conn.pragma_update(None, "page_size", 4096)?;
    // Pages freed by retention go back to the file system (`redact::reclaim`). Like the page
    // size, this only takes effect on a new file.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    // 8 MB: the commit only appends, so what it reuses is the right edge of a few B-trees.
    // Measured with `stele bench ingest` (issue #13's RSS target): 32 MB let this cache reach
    // ~50 MB of the server's heap (`heaptrack`) and peak RSS 253 MiB; 8 MB gave 221 MiB at the
    // same events/s.
    conn.pragma_update(None, "cache_size", -8_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Deleted content (a redacted event's old row, index entries, full-text segments) is
    // overwritten with zeros rather than left in free space (see `redact`).
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    crate::schema::migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a read-only connection (readers never block the writer under WAL), with the
/// index file attached (`index::prepare_reader`; the index file must exist).
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "cache_size", -8_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    crate::index::prepare_reader(&conn, path)?;
    Ok(conn)
}

/// Bits of `events.pos` that hold the seq; the tenant number sits above them.
pub const SEQ_BITS: u32 = 40;

/// The rowid of a tenant's event: its log in seq order is one contiguous rowid range.
pub fn pos(tenant_no: i64, seq: u64) -> i64 {
    (tenant_no << SEQ_BITS) | seq as i64
}

/// What an event's row in the log holds: its columns, its stored JSON and its Merkle leaf.
/// The store turns each event it is given into one before the write waits for the writer
/// (`SqliteStore::write_only`), so the parsed trees the row does not need (targets, context,
/// bodies, changes, metadata) are freed at once rather than after the group's commit: a batch
/// of 1 000 of the benchmark's ~1.1 KB events is ~8.6 MB parsed, and as rows little more than
/// their JSON (issue #13's RSS target).
#[derive(Debug)]
pub struct EventRow {
    pub id: EventId,
    pub time: Timestamp,
    received_at: Timestamp,
    action: String,
    status: &'static str,
    origin: Option<&'static str>,
    actor: [Option<String>; 5],
    message: Option<String>,
    reason: Option<String>,
    correlation_id: Option<String>,
    request: [Option<String>; 3],
    request_status: Option<u16>,
    json: String,
    pub leaf: Option<Hash>,
}

impl From<NewEvent> for EventRow {
    fn from(new: NewEvent) -> Self {
        let NewEvent { event, leaf, json } = new;
        let actor = event.actor.map_or_else(Default::default, |a| [a.kind, a.id, a.name, a.email, a.ip]);
        let (request, request_status) =
            event.request.map_or_else(Default::default, |r| ([r.id, r.method, r.path], r.status_code));
        EventRow {
            id: event.id,
            time: event.time,
            received_at: event.received_at,
            action: event.action,
            status: event.status.as_str(),
            origin: event.origin.map(|o| o.as_str()),
            actor,
            message: event.message,
            reason: event.reason,
            correlation_id: event.correlation_id,
            request,
            request_status,
            json,
            leaf,
        }
    }
}

/// Inserts one event at the given position of a tenant's log: its row only (the index
/// entries are the indexer's, `index.rs`).
pub fn insert_event(conn: &Connection, tenant_no: i64, seq: u64, e: &EventRow) -> rusqlite::Result<()> {
    let pos = pos(tenant_no, seq);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (pos, tenant_no, seq, id, time, received_at, action, status, origin,
            actor_type, actor_id, actor_name, actor_email, actor_ip, message, reason, correlation_id,
            request_id, request_method, request_path, request_status, json, leaf)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
    )?;
    let [actor_type, actor_id, actor_name, actor_email, actor_ip] = &e.actor;
    let [request_id, request_method, request_path] = &e.request;
    stmt.execute(params![
        pos,
        tenant_no,
        seq as i64,
        e.id.to_string(),
        e.time.as_micros(),
        e.received_at.as_micros(),
        e.action,
        e.status,
        e.origin,
        actor_type,
        actor_id,
        actor_name,
        actor_email,
        actor_ip,
        e.message,
        e.reason,
        e.correlation_id,
        request_id,
        request_method,
        request_path,
        e.request_status,
        e.json,
        e.leaf.as_ref().map(|h| &h.0[..]),
    ])?;
    Ok(())
}
