//! Backup and restore of the SQLite database.
//!
//! A backup is `VACUUM INTO`: one read transaction over the live database, so it is a
//! consistent snapshot taken while the server keeps writing (WAL readers never block the
//! writer), compacted, and a complete SQLite file of its own. A restore checks the copy
//! (`integrity_check`, a schema version this build knows) and puts it in place of the
//! database atomically (copy to a temporary file beside it, fsync, rename), dropping the old
//! WAL. The server must be stopped for a restore; an existing database is replaced only
//! when asked to.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose another file")]
    Exists(String),
    #[error("{0} does not exist")]
    Missing(String),
    #[error("{0} is not a sound SQLite database: {1}")]
    Damaged(String, String),
    #[error(
        "{path} has schema version {found}; this build knows versions up to {known} (restore it with a newer Stele)"
    )]
    NewerSchema { path: String, found: usize, known: usize },
    #[error("{0} holds a database; pass --force to replace it (after stopping the server)")]
    WouldReplace(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a database holds: each tenant's log size, by tenant id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub bytes: u64,
    pub tenants: Vec<(String, u64)>,
}

fn summary(path: &Path) -> Result<Summary, BackupError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(
        "SELECT t.id, COALESCE((SELECT MAX(seq) FROM events e WHERE e.tenant_no = t.no), 0) FROM tenants t ORDER BY t.id",
    )?;
    let tenants = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Summary { bytes: std::fs::metadata(path)?.len(), tenants })
}

/// Copies the live database at `db` into `dest` (which must not exist).
pub fn backup(db: &Path, dest: &Path) -> Result<Summary, BackupError> {
    if dest.exists() {
        return Err(BackupError::Exists(dest.display().to_string()));
    }
    if !db.exists() {
        return Err(BackupError::Missing(db.display().to_string()));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    let target = dest.to_str().ok_or_else(|| std::io::Error::other("the backup path is not UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    drop(conn);
    std::fs::File::open(dest)?.sync_all()?;
    summary(dest)
}

/// Puts the backup `from` in place of the database at `db` (the server must be stopped).
pub fn restore(from: &Path, db: &Path, force: bool) -> Result<Summary, BackupError> {
    if !from.exists() {
        return Err(BackupError::Missing(from.display().to_string()));
    }
    let name = from.display().to_string();
    {
        let conn = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| BackupError::Damaged(name.clone(), e.to_string()))?;
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| BackupError::Damaged(name.clone(), e.to_string()))?;
        if check != "ok" {
            return Err(BackupError::Damaged(name, check));
        }
        let found: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = crate::schema::latest_version();
        if found > known {
            return Err(BackupError::NewerSchema { path: name, found, known });
        }
    }
    if db.exists() && !force {
        return Err(BackupError::WouldReplace(db.display().to_string()));
    }
    let dir = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let staging = db.with_extension("restoring");
    std::fs::copy(from, &staging)?;
    std::fs::File::open(&staging)?.sync_all()?;
    // The old WAL belongs to the replaced file; the old index describes the replaced log
    // (it is rebuilt from the restored one at the next start).
    let sides = ["-wal", "-shm"].iter().map(|s| PathBuf::from(format!("{}{s}", db.display())));
    for side in sides.chain(crate::index::index_files(db)) {
        match std::fs::remove_file(&side) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    std::fs::rename(&staging, db)?;
    std::fs::File::open(dir)?.sync_all()?;
    summary(db)
}
