//! WAL checkpoints on a thread of their own. The writer nudges this thread after each
//! commit; it copies committed pages from the WAL into the database file (PASSIVE: never
//! blocks the writer or readers), so commits only ever append to the WAL.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// WAL size (in pages) past which a nudge triggers a checkpoint at once.
///
/// The size is the WAL *file's*, which SQLite reuses from its start after a checkpoint and
/// does not shrink below `journal_size_limit`: once the file has reached 16 MiB, every
/// commit's nudge runs a checkpoint (two fsyncs, of the WAL and of the database). That was
/// measured against a true count of unchecked frames (`mxFrame − nBackfill` read from the
/// wal-index header), which let them wait for the timer or 512 / 4 096 new frames: with 8
/// clients reading SCIM users with the SCIM log on (`wrk`, three alternating rounds of two
/// 6 s runs each, session 16), requests per second were the same within the noise
/// (≈ 2 090 / 2 080 / 2 040) and p99 grew from 18–48 ms to 55–96 ms (512) and 74–184 ms
/// (4 096): one large fsync of the database file stalls the writer's WAL fsync for up to
/// 100 ms, small frequent ones do not. With one client the frame count was no faster either
/// (p50 1.55–1.87 ms per logged read against 1.98–2.24 ms). So the checkpoint per commit in
/// steady state stays.
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
        bound_wal(&conn);
    }
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
}

/// WAL size past which [`bound_wal`] restarts the WAL.
pub(crate) const WAL_BOUND_BYTES: u64 = 64 << 20;

/// How long [`bound_wal`] waits for readers (and holds off the writer meanwhile).
const BOUND_WAIT_MS: i64 = 200;

/// Keeps the WAL of `conn`'s main database bounded. A PASSIVE checkpoint copies frames back
/// but never moves the WAL's write position to its start while a reader still uses the WAL;
/// under a steady stream of overlapping reads that moment never comes ("checkpoint
/// starvation") and the file grows without limit (the soak benchmark saw 1.3 GB in three
/// minutes). Past [`WAL_BOUND_BYTES`], a TRUNCATE checkpoint waits up to
/// [`BOUND_WAIT_MS`] for the readers of old frames to finish (new readers read the
/// checkpointed database file and do not hold it up), then restarts and truncates the WAL.
/// The writer is held off only for that wait; if readers outlast it, the next call tries
/// again.
pub(crate) fn bound_wal(conn: &Connection) {
    bound_wal_at(conn, WAL_BOUND_BYTES)
}

fn bound_wal_at(conn: &Connection, bound: u64) {
    if wal_bytes(conn) < bound {
        return;
    }
    let _ = conn.pragma_update(None, "busy_timeout", BOUND_WAIT_MS);
    let done = conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
    let _ = conn.pragma_update(None, "busy_timeout", 5000);
    match done {
        Ok(0) => tracing::debug!("WAL over its bound: restarted and truncated"),
        Ok(_) => tracing::debug!("WAL over its bound; readers outlasted the wait, trying again later"),
        Err(e) => tracing::warn!(error = %e, "WAL over its bound; the truncating checkpoint failed"),
    }
}

/// Bytes currently in the WAL of `conn`'s main database (0 when unknown).
fn wal_bytes(conn: &Connection) -> u64 {
    // `wal_checkpoint(NOOP)` is not a pragma; read the WAL's size from the file system instead
    // (`database_list` lists `main` first).
    let path: Option<String> = conn.query_row("PRAGMA database_list", [], |r| r.get(2)).ok();
    path.and_then(|p| std::fs::metadata(format!("{p}-wal")).ok()).map_or(0, |m| m.len())
}

/// Pages currently in the WAL (an estimate; 0 when unknown).
fn wal_pages(conn: &Connection) -> i64 {
    (wal_bytes(conn) / 4096) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Three reader threads run short overlapping read transactions without pause while a
    /// writer appends 1 MiB commits with a PASSIVE checkpoint after each, as the server
    /// does. Without the bound the WAL only grows (no moment without a reader to restart
    /// it); with it the WAL stays near the bound. Returns the WAL's largest size.
    fn largest_wal(bounded: bool) -> u64 {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).expect("open");
        writer.pragma_update(None, "journal_mode", "WAL").expect("wal");
        writer.pragma_update(None, "wal_autocheckpoint", 0).expect("no autocheckpoint");
        writer.execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(10));").expect("schema");
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|n| {
                let (path, stop) = (path.clone(), stop.clone());
                std::thread::spawn(move || {
                    let conn = Connection::open(&path).expect("reader");
                    // Staggered: the three read transactions overlap.
                    std::thread::sleep(Duration::from_millis(n));
                    while !stop.load(Ordering::Relaxed) {
                        let _ = conn.execute_batch("BEGIN; SELECT count(*) FROM t;");
                        // A reader's work (not a wait for a condition): the transaction
                        // stays open this long, as a search's does.
                        std::thread::sleep(Duration::from_millis(3));
                        let _ = conn.execute_batch("COMMIT");
                    }
                })
            })
            .collect();
        let checkpointer = Connection::open(&path).expect("checkpointer");
        let mut largest = 0;
        for _ in 0..60 {
            writer.execute("INSERT INTO t VALUES (zeroblob(1048576))", []).expect("insert");
            let _ = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            if bounded {
                bound_wal_at(&checkpointer, 4 << 20);
            }
            largest = largest.max(wal_bytes(&checkpointer));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().expect("reader joined");
        }
        largest
    }

    #[test]
    fn overlapping_readers_starve_a_passive_checkpoint_and_the_bound_restarts_the_wal() {
        let unbounded = largest_wal(false);
        assert!(unbounded > 24 << 20, "the control: without the bound the WAL grew to {unbounded} bytes");
        let bounded = largest_wal(true);
        assert!(bounded < 12 << 20, "with a 4 MiB bound the WAL stayed at {bounded} bytes");
    }
}
