//! WAL checkpoints on a thread of their own. The writer nudges this thread after each
//! commit; it copies committed pages from the WAL into the database file (PASSIVE: never
//! blocks the writer or readers), so commits only ever append to the WAL.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// WAL size (in pages) past which a nudge triggers a checkpoint at once.
const EAGER_PAGES: i64 = 4096;

/// How long small WALs wait for their checkpoint. The same pages (the right edge of the
/// events table and of the tree) change in commit after commit; a checkpoint writes each
/// once however often it changed, so a longer wait writes (and fsyncs) less per event.
const INTERVAL: Duration = Duration::from_millis(1000);

/// Runs until the writer drops its sender, then checkpoints one last time and truncates the WAL.
pub(crate) fn run(path: &Path, nudges: flume::Receiver<()>) {
    let conn = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "checkpointer cannot open the database; the WAL will grow until restart");
            return;
        }
    };
    let _ = conn.pragma_update(None, "busy_timeout", 5000);
    let mut pending = false;
    loop {
        match nudges.recv_timeout(INTERVAL) {
            Ok(()) => {
                while nudges.try_recv().is_ok() {}
                pending = true;
                // Small WALs wait for the timer, so bursts of tiny commits share one checkpoint.
                if wal_pages(&conn) < EAGER_PAGES {
                    continue;
                }
            }
            Err(flume::RecvTimeoutError::Timeout) if !pending => continue,
            Err(flume::RecvTimeoutError::Timeout) => {}
            Err(flume::RecvTimeoutError::Disconnected) => break,
        }
        pending = false;
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
}

/// Pages currently in the WAL (an estimate; 0 when unknown).
fn wal_pages(conn: &Connection) -> i64 {
    // `wal_checkpoint(NOOP)` is not a pragma; read the WAL's size from the file system instead.
    let path: Option<String> = conn.query_row("PRAGMA database_list", [], |r| r.get(2)).ok();
    path.and_then(|p| std::fs::metadata(format!("{p}-wal")).ok()).map_or(0, |m| (m.len() / 4096) as i64)
}
