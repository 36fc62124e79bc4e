//! The SQLite schema and its migrations, applied in order and recorded in `user_version`.
//!
//! A dozen lines of our own instead of a migration crate: the crates that run SQLite
//! migrations pin `rusqlite` versions, and this list is all the machinery needed.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tenants, aliases, keys, events, idempotency.
    r#"
    CREATE TABLE tenants (
        no          INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        name        TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE tenant_aliases (
        alias       TEXT PRIMARY KEY,
        tenant_no   INTEGER NOT NULL REFERENCES tenants(no)
    ) WITHOUT ROWID;
    CREATE TABLE keys (
        id          TEXT PRIMARY KEY,
        tenant_no   INTEGER NOT NULL REFERENCES tenants(no),
        name        TEXT NOT NULL,
        scopes      TEXT NOT NULL,
        view_filter TEXT,
        secret_hash BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX keys_tenant ON keys (tenant_no);
    CREATE TABLE events (
        tenant_no      INTEGER NOT NULL,
        seq            INTEGER NOT NULL,
        id             TEXT NOT NULL,
        time           INTEGER NOT NULL,
        received_at    INTEGER NOT NULL,
        action         TEXT NOT NULL,
        status         TEXT NOT NULL,
        origin         TEXT,
        actor_type     TEXT,
        actor_id       TEXT,
        actor_name     TEXT,
        actor_email    TEXT,
        actor_ip       TEXT,
        message        TEXT,
        reason         TEXT,
        correlation_id TEXT,
        request_id     TEXT,
        request_method TEXT,
        request_path   TEXT,
        request_status INTEGER,
        json           TEXT NOT NULL,
        PRIMARY KEY (tenant_no, seq)
    );
    CREATE UNIQUE INDEX events_id ON events (tenant_no, id);
    CREATE INDEX events_time ON events (tenant_no, time, seq);
    CREATE TABLE idempotency (
        tenant_no   INTEGER NOT NULL,
        key         TEXT NOT NULL,
        fingerprint BLOB NOT NULL,
        receipts    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, key)
    ) WITHOUT ROWID;
    "#,
];

/// Brings the database to the newest schema version.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "applied SQLite migration");
    }
    Ok(())
}

/// The schema version this build writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}
