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
    -- pos = (tenant_no << 40) | seq: the rowid orders each tenant's log by seq, so the log
    -- needs no separate primary-key index. Text columns compare case-insensitively (ASCII),
    -- which is what the filter language's eq/ne/co/sw/ew mean, and lets LIKE use indexes.
    CREATE TABLE events (
        pos            INTEGER PRIMARY KEY,
        tenant_no      INTEGER NOT NULL,
        seq            INTEGER NOT NULL,
        id             TEXT NOT NULL COLLATE NOCASE,
        time           INTEGER NOT NULL,
        received_at    INTEGER NOT NULL,
        action         TEXT NOT NULL COLLATE NOCASE,
        status         TEXT NOT NULL COLLATE NOCASE,
        origin         TEXT COLLATE NOCASE,
        actor_type     TEXT COLLATE NOCASE,
        actor_id       TEXT COLLATE NOCASE,
        actor_name     TEXT COLLATE NOCASE,
        actor_email    TEXT COLLATE NOCASE,
        actor_ip       TEXT COLLATE NOCASE,
        message        TEXT COLLATE NOCASE,
        reason         TEXT COLLATE NOCASE,
        correlation_id TEXT COLLATE NOCASE,
        request_id     TEXT COLLATE NOCASE,
        request_method TEXT COLLATE NOCASE,
        request_path   TEXT COLLATE NOCASE,
        request_status INTEGER,
        json           TEXT NOT NULL
    );
    CREATE UNIQUE INDEX events_id ON events (tenant_no, id);
    CREATE INDEX events_time ON events (tenant_no, time, seq);
    CREATE INDEX events_action ON events (tenant_no, action, time, seq);
    CREATE INDEX events_actor_id ON events (tenant_no, actor_id, time, seq);
    CREATE INDEX events_actor_email ON events (tenant_no, actor_email, time, seq);
    CREATE INDEX events_status ON events (tenant_no, status, time, seq);
    -- Multi-valued and keyed attributes as terms "target.id=u_7", "context.env=prod" (ASCII
    -- case-folded), so that one index answers target.* and context.<key> filters.
    CREATE TABLE event_terms (
        tenant_no INTEGER NOT NULL,
        term      TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, term, seq)
    ) WITHOUT ROWID;
    -- Full-text index over message, action, actor, targets and reason; rowid = events.pos.
    -- Each document starts with a tenant token so a search intersects with the tenant early.
    -- detail=none: no positions (a third of the cost); words are matched as AND-ed tokens.
    CREATE VIRTUAL TABLE events_fts USING fts5 (
        doc, content = '', contentless_delete = 1, detail = none,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE idempotency (
        tenant_no   INTEGER NOT NULL,
        key         TEXT NOT NULL,
        fingerprint BLOB NOT NULL,
        receipts    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, key)
    ) WITHOUT ROWID;
    "#,
    // 2: tamper evidence. Each event's Merkle leaf hash; the hashes of the perfect subtrees
    // at every 4th level (stele_core::integrity::frontier); signed tree heads, all kept.
    r#"
    ALTER TABLE events ADD COLUMN leaf BLOB;
    CREATE TABLE merkle_nodes (
        tenant_no INTEGER NOT NULL,
        level     INTEGER NOT NULL,
        idx       INTEGER NOT NULL,
        hash      BLOB NOT NULL,
        PRIMARY KEY (tenant_no, level, idx)
    ) WITHOUT ROWID;
    CREATE TABLE tree_heads (
        tenant_no INTEGER NOT NULL,
        size      INTEGER NOT NULL,
        root      BLOB NOT NULL,
        time      INTEGER NOT NULL,
        key_id    TEXT NOT NULL,
        signature TEXT NOT NULL,
        PRIMARY KEY (tenant_no, size)
    ) WITHOUT ROWID;
    "#,
    // 3: tenant JWT keys (profiles that verify a tenant's tokens): HS256 secrets only sealed by
    // the server, public keys as PEM.
    r#"
    CREATE TABLE tenant_jwt (
        tenant_no   INTEGER PRIMARY KEY REFERENCES tenants(no),
        alg         TEXT NOT NULL,
        key         BLOB NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    "#,
    // 4: ids and aliases are one namespace (issue #10, finding 11): every tenant id and alias
    // holds one row here, so its primary key refuses a name another tenant already has.
    // Existing names are copied in, ids first (a clash left by older versions keeps the id).
    r#"
    CREATE TABLE tenant_names (
        name        TEXT PRIMARY KEY,
        tenant_no   INTEGER NOT NULL REFERENCES tenants(no)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO tenant_names (name, tenant_no) SELECT id, no FROM tenants;
    INSERT OR IGNORE INTO tenant_names (name, tenant_no) SELECT alias, tenant_no FROM tenant_aliases;
    "#,
    // 5: the issuer and audience a tenant's JWTs must carry, when configured.
    r#"
    ALTER TABLE tenant_jwt ADD COLUMN issuer TEXT;
    ALTER TABLE tenant_jwt ADD COLUMN audience TEXT;
    "#,
    // 6: the directory (issue #11): members, groups and their memberships, SCIM connections.
    // `*_key` columns hold the case-folded value a name is unique and sorted under.
    r#"
    CREATE TABLE members (
        tenant_no     INTEGER NOT NULL REFERENCES tenants(no),
        id            TEXT NOT NULL,
        user_name     TEXT NOT NULL,
        user_name_key TEXT NOT NULL,
        external_id   TEXT,
        display_name  TEXT,
        email         TEXT,
        email_key     TEXT,
        active        INTEGER NOT NULL,
        role          TEXT NOT NULL,
        resource      TEXT NOT NULL,
        version       INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX members_user_name ON members (tenant_no, user_name_key);
    CREATE INDEX members_external_id ON members (tenant_no, external_id);
    CREATE INDEX members_email ON members (tenant_no, email_key);
    CREATE TABLE directory_groups (
        tenant_no     INTEGER NOT NULL REFERENCES tenants(no),
        id            TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        display_key   TEXT NOT NULL,
        external_id   TEXT,
        role          TEXT,
        resource      TEXT NOT NULL,
        version       INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, id)
    ) WITHOUT ROWID;
    CREATE INDEX directory_groups_name ON directory_groups (tenant_no, display_key, id);
    CREATE INDEX directory_groups_external_id ON directory_groups (tenant_no, external_id);
    CREATE TABLE group_members (
        tenant_no     INTEGER NOT NULL,
        group_id      TEXT NOT NULL,
        member_id     TEXT NOT NULL,
        PRIMARY KEY (tenant_no, group_id, member_id)
    ) WITHOUT ROWID;
    CREATE INDEX group_members_member ON group_members (tenant_no, member_id);
    CREATE TABLE scim_connections (
        id            TEXT PRIMARY KEY,
        tenant_no     INTEGER NOT NULL REFERENCES tenants(no),
        name          TEXT NOT NULL,
        token_hash    BLOB NOT NULL,
        version       INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        revoked_at    INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX scim_connections_tenant ON scim_connections (tenant_no);
    "#,
    // 7: deferred indexing (issue #13). A commit only appends: the value indexes, the terms
    // and the full-text index move to the index file (`index.rs`), built in the background
    // from the log. `redacted` marks tombstones for reads; `index_purges` holds redactions
    // whose old index entries are not purged yet.
    r#"
    DROP INDEX IF EXISTS events_action;
    DROP INDEX IF EXISTS events_actor_id;
    DROP INDEX IF EXISTS events_actor_email;
    DROP INDEX IF EXISTS events_status;
    DROP TABLE IF EXISTS event_terms;
    DROP TABLE IF EXISTS events_fts;
    ALTER TABLE events ADD COLUMN redacted INTEGER;
    UPDATE events SET redacted = 1 WHERE json_type(json, '$.redacted') IS NOT NULL;
    CREATE TABLE index_purges (
        pos INTEGER PRIMARY KEY
    );
    "#,
    // 8: viewer sign-in (issue #12): a member's credential (argon2id PHC string, pending
    // invite token hash) and server-side sessions keyed by their token's SHA-256.
    r#"
    CREATE TABLE member_credentials (
        tenant_no     INTEGER NOT NULL REFERENCES tenants(no),
        member_id     TEXT NOT NULL,
        password_hash TEXT,
        invite_hash   BLOB,
        invite_expires_at INTEGER,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, member_id)
    ) WITHOUT ROWID;
    CREATE TABLE viewer_sessions (
        token_hash    BLOB PRIMARY KEY,
        tenant_no     INTEGER NOT NULL REFERENCES tenants(no),
        member_id     TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX viewer_sessions_member ON viewer_sessions (tenant_no, member_id, created_at);
    "#,
    // 9: embed links (single-use; the opened link is its own read-only session) and each
    // tenant's OpenID Connect provider (client secret sealed by the server).
    r#"
    CREATE TABLE viewer_links (
        token_hash    BLOB PRIMARY KEY,
        tenant_no     INTEGER NOT NULL REFERENCES tenants(no),
        key_id        TEXT NOT NULL,
        view_filter   TEXT,
        export        INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        session_hash  BLOB UNIQUE,
        session_expires_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX viewer_links_tenant ON viewer_links (tenant_no, expires_at);
    CREATE TABLE oidc_providers (
        tenant_no     INTEGER PRIMARY KEY REFERENCES tenants(no),
        issuer        TEXT NOT NULL,
        client_id     TEXT NOT NULL,
        client_secret BLOB NOT NULL,
        name          TEXT NOT NULL,
        version       INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    "#,
    // 10: streams (record and delivery progress in one row) and retention policies.
    r#"
    CREATE TABLE streams (
        tenant_no     INTEGER NOT NULL REFERENCES tenants(no),
        id            TEXT NOT NULL,
        name          TEXT NOT NULL,
        kind          TEXT NOT NULL,
        destination   TEXT NOT NULL,
        secrets       BLOB NOT NULL,
        filter        TEXT,
        paused        INTEGER NOT NULL,
        version       INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        cursor        INTEGER NOT NULL,
        delivered     INTEGER NOT NULL DEFAULT 0,
        last_success  INTEGER,
        last_error    TEXT,
        last_error_at INTEGER,
        failures      INTEGER NOT NULL DEFAULT 0,
        lease_node    TEXT,
        lease_until   INTEGER,
        PRIMARY KEY (tenant_no, id)
    ) WITHOUT ROWID;
    CREATE TABLE retention (
        tenant_no     INTEGER PRIMARY KEY REFERENCES tenants(no),
        days          INTEGER,
        legal_hold    INTEGER NOT NULL,
        hold_reason   TEXT,
        version       INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
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
