//! Deferred indexing (issue #13): the commit only appends; everything a query looks up by
//! value lives in a second database file, `<db>-index`, written by a background indexer.
//!
//! - **The log** (`<db>`): event rows (rowid `pos`, the columns, the JSON, the leaf),
//!   `events_id` and `events_time` (both near-append), Merkle nodes, idempotency records.
//!   This is what a commit writes, and what `stele verify` and every proof read.
//! - **The index** (`<db>-index`): `postings (tenant_no, tid, time, seq)` (one row per
//!   searchable value: `action=…`, `status=…`, `actor.id=…`, `actor.email=…`, and the
//!   `target.*=` / `context.<key>=` terms of [`stele_store::derived::terms`], all ASCII
//!   case-folded, by their ids in the tenant's `dictionary`), the full-text index
//!   `events_fts` (rowid = `pos`), the aligned-trigram index of messages `tri_blocks`
//!   (`message co "…"` finds its candidates there, see [`crate::trigrams`]), and `marks`: per
//!   tenant, the last `seq` whose entries are in the index (the high-water mark).
//!
//! The index is derivable: deleting the file loses nothing (`stele reindex` rebuilds it).
//! A term stays in the dictionary while a posting has it: purges (redaction, retention)
//! remove the terms they leave without one.
//! It is written with `synchronous = NORMAL`: a power cut may lose its last transactions,
//! and the mark goes back with them (they are in one transaction), so indexing resumes from
//! there.
//!
//! **Reads stay exact wherever the mark is.** A query's leaf is the indexed part (`seq ≤
//! mark`, from `postings` / `events_fts`) united with the tail (`seq > mark`, a rowid range
//! of the log) evaluated on the rows with the same semantics: columns compare as they are,
//! terms through [`stele_term`] (the same [`stele_store::derived::terms`] as the indexer),
//! and `q` through a per-connection temporary FTS5 table with the same tokenizer
//! ([`fill_tail`]). The compiler is `compile.rs`; the conformance suite runs with the mark at
//! 0, at the head and at random splits.
//!
//! **Redaction.** The tombstone commit sets `events.redacted`, and every read excludes
//! redacted rows from term and text matches on the row itself, so a read never depends on
//! whether the index was purged yet. The old entries are then purged from the index file
//! before the redaction is answered ([`purge`]); `index_purges` in the log keeps the
//! positions still to purge across a crash (the tenant's index is rebuilt at the next start).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap;
use stele_store::derived::{folded, Indexed};

use crate::rows::{pos, SEQ_BITS};
use crate::trigrams::{self, TriGroup};

/// The index file of the database at `db`.
pub fn index_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-index");
    PathBuf::from(name)
}

/// The index file and its WAL and shared-memory files.
pub fn index_files(db: &Path) -> Vec<PathBuf> {
    let base = index_path(db);
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            let mut name = base.as_os_str().to_owned();
            name.push(s);
            PathBuf::from(name)
        })
        .collect()
}

/// Bumped when the index layout changes: an index of another version is rebuilt. (2: the
/// trigram index of messages; 3: `recent_postings`; 4: a trigram from every second character
/// of a message instead of every third; 5: the action and actor email pair's postings; 6:
/// `spans`; 7: the trigram index `tri_blocks` instead of the FTS5 table `message_tri`; 8:
/// the term `dictionary`, postings keyed by term id.)
const INDEX_VERSION: i64 = 8;

const INDEX_SCHEMA: &str = "
    -- The term dictionary: each tenant's distinct terms (`action=doc.edit`, `target.id=u_7`,
    -- ...), numbered. Postings hold the number: a key of ~20 bytes where the term's text made
    -- it ~42, so a group's inserts and merges write about half the bytes (issue #13,
    -- session 44).
    -- Ranges of terms (`present`, `sw`, `gt`, ...) are ranges of this table, mapped to ids.
    CREATE TABLE IF NOT EXISTS dictionary (
        id        INTEGER PRIMARY KEY,
        tenant_no INTEGER NOT NULL,
        term      TEXT NOT NULL,
        UNIQUE (tenant_no, term)
    );
    CREATE TABLE IF NOT EXISTS postings (
        tenant_no INTEGER NOT NULL,
        tid       INTEGER NOT NULL,
        time      INTEGER NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, tid, time, seq)
    ) WITHOUT ROWID;
    -- The latest groups' postings, the same rows (`Indexer::merge`): small, so a group's
    -- inserts rewrite few pages; moved into `postings` in key order, in large runs. A posting
    -- is in one of the two; reads see both through `all_postings`.
    CREATE TABLE IF NOT EXISTS recent_postings (
        tenant_no INTEGER NOT NULL,
        tid       INTEGER NOT NULL,
        time      INTEGER NOT NULL,
        seq       INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, tid, time, seq)
    ) WITHOUT ROWID;
    CREATE VIEW IF NOT EXISTS all_postings AS
        SELECT tenant_no, tid, time, seq FROM postings
        UNION ALL SELECT tenant_no, tid, time, seq FROM recent_postings;
    -- detail=none: no positions (a third of the cost); words are matched as AND-ed tokens.
    -- Each document starts with its tenant's token so a search intersects with it early.
    CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5 (
        doc, content = '', contentless_delete = 1, detail = none,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE IF NOT EXISTS marks (
        tenant_no INTEGER PRIMARY KEY,
        seq       INTEGER NOT NULL
    );
    -- Per tenant and time span (`time >> SPAN_SHIFT`): how many indexed events have their
    -- time in it and the least and greatest of their seqs, so a window of a page in time
    -- order finds its rowids without walking the time index (`read.rs::spans_window`). Only ever grows:
    -- a redacted or expired event leaves it a superset, which costs a read time, never
    -- exactness (every candidate is checked against the window's bounds).
    CREATE TABLE IF NOT EXISTS spans (
        tenant_no INTEGER NOT NULL,
        span      INTEGER NOT NULL,
        events    INTEGER NOT NULL,
        lo        INTEGER NOT NULL,
        hi        INTEGER NOT NULL,
        PRIMARY KEY (tenant_no, span)
    ) WITHOUT ROWID;
";

/// A time span of the `spans` table is `2^SPAN_SHIFT` µs (~18 minutes): a few hundred events
/// of the benchmark's largest tenant, so a window of 256 to 65 536 events is a handful to a
/// few hundred rows. A span much denser than a window is walked on the time index instead
/// (`read.rs::walked_window`).
pub(crate) const SPAN_SHIFT: u32 = 30;

/// The tokenizer of both full-text tables (the index's and each reader's tail table).
const TAIL_SCHEMA: &str = "
    CREATE VIRTUAL TABLE IF NOT EXISTS temp.tail_fts USING fts5 (
        doc, detail = none, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TABLE IF NOT EXISTS temp.tail_cover (
        tenant_no INTEGER PRIMARY KEY,
        floor     INTEGER NOT NULL,
        upto      INTEGER NOT NULL
    );
";

/// Events indexed in one transaction at most (the indexer's group).
const BATCH_EVENTS: usize = 50_000;

/// Below this many unindexed events, the indexer waits for more commits to join its group…
const GATHER_EVENTS: u64 = 5_000;

/// …for at most this long after the oldest of them was committed. Postings land at scattered
/// keys, so a transaction's page writes grow with its distinct pages, not its events: with
/// single-event requests, 500 ms instead of 200 ms halved the bytes written per event
/// (95 → 53 KB) and gave 30% more events/s (`stele bench ingest`, session 13). 250 ms kept
/// the index within half a second of single-event load (session 20); 400 ms, once the index's
/// checkpoints were small ([`AUTOCHECKPOINT_PAGES`]), gives 12–18% more single events/s for
/// 10% less CPU and a fifth fewer bytes per event, with commit → indexed p99 still ≤ 1 s
/// (issue #13's target; 500 ms reached the 1 s bucket's edge). `wrk` posting single events
/// from 64 connections, 8 s runs, alternated (session 26), both with 4 MiB checkpoints:
/// 250 / 400 ms 6 440, 6 309, 6 319, 6 383 / 7 187, 7 592 requests/s; server CPU 202–209 /
/// 177–188 µs per event; written 16–17 / 13 KB per event; commit → indexed p99 ≤ 0.5–0.75 s
/// / ≤ 0.75, ≤ 1 s.
const GATHER: Duration = Duration::from_millis(400);

/// The index file's page size in bytes. 4 KiB halved the bytes written per single event
/// after long bursts but cost batched events/s and small reads (ARCHITECTURE, session 27).
const PAGE_SIZE: i64 = 16_384;

/// The index file's WAL is checkpointed once it holds this many pages (4 MiB of 16 KiB
/// pages; SQLite's default is 1 000 pages, 16 MiB here). A checkpoint writes the pages into
/// the index file in one burst, and the next fsync of the log — every acknowledged write
/// waits for one — waits behind that burst on this machine's disk (a device flush persists
/// whatever was written before it): with 16 MiB checkpoints, single events' p99 was 67–82
/// ms; with 4 MiB, 42–52 ms, for 2–3 KB more written per event (a page changed between two
/// checkpoints is written twice) and 4–6% fewer events/s at the old gathering window.
/// Index pages of 4 KiB (bursts of 4 MB at the default) did the same (p99 39–46 ms), but index
/// reads looked 10–20% slower with them in one run of `stele bench query --sizes 200000` (a
/// shape that does not read the index moved as much, so not told apart) and 16 KiB stay. The
/// index on a RAM disk gave p99 19–20 ms, and with `synchronous = OFF` (no fsync of the
/// index at all) the p99 stayed at 69–76 ms: it is the bursts' size, not the index's fsyncs.
/// `wrk`, 64 connections posting single events, 8 s runs alternated (session 26).
const AUTOCHECKPOINT_PAGES: i64 = 256;

/// Most tail documents a read connection keeps in its temporary full-text table.
const MAX_TAIL_DOCS: i64 = 400_000;

pub use stele_store::IndexMode;

/// `stele_index_lag_events`: committed events not indexed yet. Label-free, so the
/// closed-label-set rule (clippy.toml, stele-server's `metrics`) has nothing to guard.
#[allow(clippy::disallowed_macros)]
fn record_lag(lag: u64) {
    metrics::gauge!("stele_index_lag_events").set(lag as f64);
}

/// `stele_index_delay_seconds`: from the commit of the oldest event of an indexer group to
/// the group's index commit. Label-free, like [`record_lag`].
#[allow(clippy::disallowed_macros)]
fn record_delay(delay: Duration) {
    metrics::histogram!("stele_index_delay_seconds").record(delay.as_secs_f64());
}

/// Tenant number → the last seq to index and when its oldest unindexed commit happened.
type Work = HashMap<i64, (u64, Instant)>;

/// What the writer and the indexer share: which tenants have events to index, and how many
/// committed events are not indexed yet (the lag that bounds ingest).
#[derive(Default)]
pub(crate) struct Progress {
    /// Tenant number → the last committed seq and when the oldest unindexed commit happened.
    dirty: Mutex<Work>,
    wake: Condvar,
    appended: AtomicU64,
    indexed: AtomicU64,
    stop: AtomicBool,
    /// Appends waiting for the lag to drop (told after each indexer commit).
    pub(crate) gate: stele_store::LagGate,
}

impl Progress {
    /// After a commit: `(tenant_no, seq before, seq after)` of every tenant it appended to.
    pub(crate) fn committed(&self, grown: &[(i64, u64, u64)]) {
        if grown.is_empty() {
            return;
        }
        let Ok(mut dirty) = self.dirty.lock() else { return };
        let now = Instant::now();
        for &(no, before, after) in grown {
            self.appended.fetch_add(after.saturating_sub(before), Ordering::Relaxed);
            dirty.entry(no).and_modify(|e| e.0 = e.0.max(after)).or_insert((after, now));
        }
        drop(dirty);
        self.wake.notify_all();
        record_lag(self.lag());
    }

    /// Committed events not indexed yet.
    pub(crate) fn lag(&self) -> u64 {
        self.appended.load(Ordering::Relaxed).saturating_sub(self.indexed.load(Ordering::Relaxed))
    }

    fn take(&self, wait: Duration) -> Work {
        let Ok(mut dirty) = self.dirty.lock() else { return HashMap::new() };
        if dirty.is_empty() && !self.stop.load(Ordering::Relaxed) {
            dirty = match self.wake.wait_timeout(dirty, wait) {
                Ok((d, _)) => d,
                Err(_) => return HashMap::new(),
            };
        }
        std::mem::take(&mut *dirty)
    }

    fn put_back(&self, left: Work) {
        if let Ok(mut dirty) = self.dirty.lock() {
            for (no, (upto, since)) in left {
                dirty.entry(no).and_modify(|e| e.0 = e.0.max(upto)).or_insert((upto, since));
            }
        }
    }

    /// Whether commits are waiting to be indexed.
    fn has_work(&self) -> bool {
        self.dirty.lock().is_ok_and(|d| !d.is_empty())
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_all();
    }
}

/// The indexer: its connection (the index file, with the log attached as `log`) and the
/// progress it shares with the writer.
pub(crate) struct Indexer {
    pub(crate) conn: Arc<tokio::sync::Mutex<Connection>>,
    /// Reads the log's rows for a group ([`open_log_reader`]); used only under `conn`'s lock.
    log: Mutex<Connection>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) mode: IndexMode,
    /// The state of [`IndexMode::Random`].
    rng: Mutex<u64>,
    /// Rows in `recent_postings` (counted at open and at the end of each merge pass, kept up
    /// to date by the groups and merge steps in between; purges are not subtracted, so it
    /// may be a little high until the pass ends).
    recent: AtomicU64,
    /// Postings the last group added to `recent_postings`: a merge step moves at least as
    /// many, so a merge always gains on the groups.
    last_added: AtomicU64,
    /// A merge pass has started and not reached the end: a step follows each group.
    merging: AtomicBool,
    /// Where the merge pass is: the least key its next step moves.
    cursor: Mutex<Option<PostingKey>>,
}

/// A posting's key: `(tenant_no, tid, time, seq)`.
type PostingKey = (i64, i64, i64, i64);

/// A merge of `recent_postings` into `postings` starts once it holds this many rows, and
/// whenever the indexer is idle. Postings are keyed by term first, so a group's postings of
/// many-valued terms (ids, names, emails of targets) land on as many scattered leaves as it
/// has distinct terms: in `postings`, most of those terms' leaves, rewritten by every group
/// (50–70 KB written per single event after a long burst); in a table of this size, at most
/// its own few hundred leaves — and the merge then rewrites each leaf of `postings` it
/// touches once for many groups.
const MERGE_ROWS: u64 = 400_000;

/// Postings moved per step of a merge (at least; see [`Indexer::last_added`]). Each step is
/// its own transaction, taken after a group, so the groups go on during a merge (commit →
/// indexed stays short), its page writes reach the index file in small checkpoints
/// ([`AUTOCHECKPOINT_PAGES`]), and a redaction waits for one step at most.
const MERGE_STEP: u64 = 50_000;

/// A tenant's postings in one group from this many on go straight into `postings`: so many
/// are dense enough among its leaves (a burst of batches), and through `recent_postings`
/// they would be written twice.
const DIRECT_POSTINGS: usize = 200_000;

/// Deletes the index file of `db` and its WAL and shared-memory files (those missing are
/// fine). No connection may have it open.
pub(crate) fn remove_index_files(db: &Path) -> std::io::Result<()> {
    for file in index_files(db) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens (or creates) the index file of `db` with the index writer's settings.
fn open_index_file(db: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(index_path(db))?;
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
    // 16 MB (it was 64): a group's postings are sorted, so each leaf is written once per
    // group, and pages not in this cache come from the OS's. `stele bench ingest`, two
    // alternated rounds: 64 MB → 16 MB peak RSS 215–233 → 199–219 MiB, the same events/s,
    // commit → indexed p99 2.7–3.5 → 3.3–3.5 s.
    conn.pragma_update(None, "cache_size", -16_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // A purged entry's bytes are overwritten, not left in free pages (see `purge`).
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

/// Opens the index file of `db` for writing (creating or rebuilding it as needed), with the
/// log attached as `log`. The server opens it before any reader attaches it.
///
/// An index of another layout is deleted and made anew (then indexed from the log) rather
/// than its tables dropped: with `secure_delete`, dropping a 10 M-event index wrote its
/// 6 GB of freed pages, zeroed, into the WAL (session 40), and a new file has no free pages
/// that old entries could linger in.
pub(crate) fn open_index_writer(db: &Path) -> rusqlite::Result<Connection> {
    let mut conn = open_index_file(db)?;
    let mut version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != INDEX_VERSION && version != 0 {
        tracing::warn!(found = version, want = INDEX_VERSION, "the index has another layout; rebuilding it");
        drop(conn);
        remove_index_files(db).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("removing the index file of another layout: {e}")),
            )
        })?;
        conn = open_index_file(db)?;
        version = 0;
    }
    if version == 0 {
        conn.execute_batch(INDEX_SCHEMA)?;
        conn.execute_batch(trigrams::SCHEMA)?;
        conn.pragma_update(None, "user_version", INDEX_VERSION)?;
    }
    conn.execute("ATTACH DATABASE ?1 AS log", [db.to_string_lossy()])?;
    conn.execute_batch("PRAGMA log.secure_delete = ON")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A connection that reads the log (attached read-only as `log`, like the index writer's)
/// for the indexer's groups. Each read of a chunk of rows is its own short read transaction:
/// read through the index writer's connection, the log stayed in the group's transaction from
/// its first chunk to its COMMIT (up to seconds), so the checkpointer could never restart the
/// log's WAL meanwhile — its truncating checkpoint held the writer off for its whole 200 ms
/// wait and failed, 18 times in 11 s of `stele bench ingest` batches (session 25). Reading
/// outside the group's transaction is safe because log rows are only ever appended, and
/// redactions and expiries, which rewrite or delete them, take the indexer's lock for their
/// whole course, as a group does.
fn open_log_reader(db: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute("ATTACH DATABASE ?1 AS log", [read_only_uri(db)])?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    Ok(conn)
}

/// `db` as a read-only URI: `%`, `?` and `#` are escaped.
fn read_only_uri(db: &Path) -> String {
    let path = db.to_string_lossy().replace('%', "%25").replace('?', "%3f").replace('#', "%23");
    format!("file:{path}?mode=ro")
}

/// Prepares a read connection of the log: the index attached read-only as `ix`, the
/// temporary tail table, and the [`stele_term`] function.
pub(crate) fn prepare_reader(conn: &Connection, db: &Path) -> rusqlite::Result<()> {
    // A URI, so that the index opens read-only like the log.
    conn.execute("ATTACH DATABASE ?1 AS ix", [read_only_uri(&index_path(db))])?;
    conn.execute_batch(TAIL_SCHEMA)?;
    conn.create_scalar_function(
        "stele_term",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let json = ctx.get_raw(0).as_str().unwrap_or("");
            let prefix: String = ctx.get(1)?;
            let op: String = ctx.get(2)?;
            let value: String = ctx.get(3)?;
            Ok(stele_term(json, &prefix, &op, &value))
        },
    )?;
    Ok(())
}

/// Whether some term of the stored event `json` under `prefix` satisfies `op` against the
/// (ASCII-folded) `value`: exactly what `compile.rs`'s conditions on `postings.term` mean,
/// evaluated on the row, for the tail. `op` is `eq ne co sw ew gt ge lt le pr`.
pub fn stele_term(json: &str, prefix: &str, op: &str, value: &str) -> bool {
    let Some(event) = Indexed::parse(json) else { return false };
    event.terms().iter().filter_map(|t| t.strip_prefix(prefix)).any(|v| match op {
        "eq" => v == value,
        "ne" => v != value,
        "co" => v.contains(value),
        "sw" => v.starts_with(value),
        "ew" => v.ends_with(value),
        "gt" => v > value,
        "ge" => v >= value,
        "lt" => v < value,
        "le" => v <= value,
        _ => true,
    })
}

/// The terms of an indexed column value (`action=…`), ASCII-folded like the column's
/// `COLLATE NOCASE` compares. `None` for columns that have no postings.
pub fn column_term(column: &str, value: &str) -> Option<String> {
    let prefix = match column {
        "action" => "action=",
        "status" => "status=",
        "actor_id" => "actor.id=",
        "actor_email" => "actor.email=",
        _ => return None,
    };
    Some(folded(format!("{prefix}{value}")))
}

/// What a pair posting's term starts with: "one action by one actor" (`action eq … and
/// actor.email eq …`, the benchmark's three-clause shape) walks the pair's postings, adjacent
/// and in time order, instead of one column's postings with a lookup of the other's per
/// posting (PostgreSQL has the same pair as an index, migration 14). `+` sorts before the `=`
/// of `action=`, so no prefix range of another term reaches these.
pub const ACTION_ACTOR_EMAIL: &str = "action+actor.email=";

/// The pair posting's term of an action and an actor email, ASCII-folded as their columns
/// compare: the two values joined by U+001F, a control character that no label holds
/// (`check_label`). Even a collision could only add a candidate: a walked event's row is
/// still checked against the whole filter.
pub fn action_actor_email_term(action: &str, email: &str) -> String {
    folded(format!("{ACTION_ACTOR_EMAIL}{action}\u{1f}{email}"))
}

/// A log row as the indexer reads it.
struct Row {
    seq: i64,
    time: i64,
    action: String,
    status: String,
    actor_id: Option<String>,
    actor_email: Option<String>,
    json: String,
    redacted: bool,
}

/// What the index holds of one event.
struct Entries {
    terms: Vec<String>,
    /// The full-text document.
    doc: Option<String>,
    /// The message, for the trigram index ([`crate::trigrams`]).
    message: Option<String>,
}

/// A row's postings, full-text document and message (none of the event's own values for a
/// tombstone).
fn entries(row: &Row) -> Entries {
    let terms: Vec<String> = [("action", Some(&row.action)), ("status", Some(&row.status))]
        .into_iter()
        .chain([("actor_id", row.actor_id.as_ref()), ("actor_email", row.actor_email.as_ref())])
        .filter_map(|(col, v)| v.and_then(|v| column_term(col, v)))
        .chain(row.actor_email.as_ref().map(|email| action_actor_email_term(&row.action, email)))
        .collect();
    let mut out = Entries { terms, doc: None, message: None };
    if row.redacted {
        return out;
    }
    let Some(event) = Indexed::parse(&row.json) else { return out };
    out.terms.extend(event.terms());
    out.doc = Some(event.search_text());
    out.message = event.message().map(str::to_owned);
    out
}

fn read_rows(conn: &Connection, from: i64, to: i64, limit: usize) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time, action, status, actor_id, actor_email, json, redacted IS NOT NULL
         FROM log.events WHERE pos > ?1 AND pos <= ?2 ORDER BY pos LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![from, to, limit as i64], |r| {
        Ok(Row {
            seq: r.get(0)?,
            time: r.get(1)?,
            action: r.get(2)?,
            status: r.get(3)?,
            actor_id: r.get(4)?,
            actor_email: r.get(5)?,
            json: r.get(6)?,
            redacted: r.get(7)?,
        })
    })?;
    rows.collect()
}

/// The tenant's mark in the index connection's view (0 when it has none).
fn mark(conn: &Connection, no: i64) -> rusqlite::Result<u64> {
    let seq: Option<i64> =
        conn.prepare_cached("SELECT seq FROM marks WHERE tenant_no = ?1")?.query_row([no], |r| r.get(0)).optional()?;
    Ok(seq.unwrap_or(0) as u64)
}

/// The tenant's mark as a reader sees it (the index attached as `ix`).
pub(crate) fn reader_mark(conn: &Connection, no: i64) -> rusqlite::Result<u64> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM ix.marks WHERE tenant_no = ?1")?
        .query_row([no], |r| r.get(0))
        .optional()?;
    Ok(seq.unwrap_or(0) as u64)
}

/// Whether the tenant has postings in `recent_postings`, as a reader sees it.
pub(crate) fn reader_has_recent(conn: &Connection, no: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM ix.recent_postings WHERE tenant_no = ?1)")?
        .query_row([no], |r| r.get(0))
}

/// The last seq of the tenant's log (0 when empty), from the rowid range.
pub(crate) fn head(conn: &Connection, schema: &str, no: i64) -> rusqlite::Result<u64> {
    let sql = format!("SELECT MAX(pos) FROM {schema}.events WHERE pos > ?1 AND pos < ?2");
    let max: Option<i64> = conn.prepare_cached(&sql)?.query_row(params![pos(no, 0), pos(no + 1, 0)], |r| r.get(0))?;
    Ok(max.map_or(0, |p| (p - pos(no, 0)) as u64))
}

/// Log rows the indexer holds in memory at once: a group of up to [`BATCH_EVENTS`] events is
/// read in chunks of this many, so its JSON is never all in memory together (reading the
/// whole group at once held ~50 MB of JSON per group; issue #13's RSS target).
const READ_CHUNK: usize = 1_000;

/// A group's postings, compact: each distinct term once, each event's (time, seq) once, and
/// each posting as (term number, event number), 8 bytes where (term number, time, seq) took
/// 24 — a group of 50 000 events of the benchmark's corpus has 600 000 postings, a vector of
/// 1 048 576 slots: 8 MB instead of 25 (issue #13's RSS target).
#[derive(Default)]
struct Postings {
    /// Keyed with `FxHash`: one lookup per posting, where SipHash was a fifth of the reading
    /// thread's time under a burst of batches (session 41's profile).
    terms: FxHashMap<String, u32>,
    /// (time, seq) of each event, in the order read.
    events: Vec<(i64, i64)>,
    rows: Vec<(u32, u32)>,
}

/// [`Postings::sorted`]: the terms' ids in the tenant's dictionary in ascending order, the
/// events in (time, seq) order, and the postings as (index into the ids, index into the
/// events), sorted and without duplicates — the key order of the `postings` table.
struct SortedPostings {
    ids: Vec<i64>,
    events: Vec<(i64, i64)>,
    rows: Vec<(u32, u32)>,
}

impl Postings {
    /// Starts the next event's postings; returns its number for [`Postings::add`].
    fn event(&mut self, time: i64, seq: i64) -> u32 {
        self.events.push((time, seq));
        (self.events.len() - 1) as u32
    }

    fn add(&mut self, term: String, event: u32) {
        let next = self.terms.len() as u32;
        let id = *self.terms.entry(term).or_insert(next);
        self.rows.push((id, event));
    }

    /// Sorted by key, with each term's id from `ids` (given the terms in text order, their
    /// ids in the same order).
    fn sorted(self, ids: impl FnOnce(&[String]) -> rusqlite::Result<Vec<i64>>) -> rusqlite::Result<SortedPostings> {
        let mut by_text: Vec<(String, u32)> = self.terms.into_iter().collect();
        by_text.sort_unstable();
        let texts: Vec<String> = by_text.iter_mut().map(|(t, _)| std::mem::take(t)).collect();
        let found = ids(&texts)?;
        drop(texts);
        let mut by_id: Vec<(i64, u32)> = found.into_iter().zip(by_text.into_iter().map(|(_, n)| n)).collect();
        by_id.sort_unstable();
        let mut term_rank = vec![0u32; by_id.len()];
        for (r, (_, n)) in by_id.iter().enumerate() {
            term_rank[*n as usize] = r as u32;
        }
        // Ranked by (time, seq), an event's number orders its postings as the table's key does.
        let mut order: Vec<u32> = (0..self.events.len() as u32).collect();
        order.sort_unstable_by_key(|e| self.events[*e as usize]);
        let mut event_rank = vec![0u32; order.len()];
        for (r, e) in order.iter().enumerate() {
            event_rank[*e as usize] = r as u32;
        }
        let mut rows = self.rows;
        for row in &mut rows {
            *row = (term_rank[row.0 as usize], event_rank[row.1 as usize]);
        }
        rows.sort_unstable();
        rows.dedup();
        Ok(SortedPostings {
            ids: by_id.into_iter().map(|(id, _)| id).collect(),
            events: order.iter().map(|e| self.events[*e as usize]).collect(),
            rows,
        })
    }
}

/// The ids of the tenant's `terms` (in text order, so the lookups walk the dictionary's
/// index once) in its dictionary, in the same order; the terms new to it are added.
fn dictionary_ids(conn: &Connection, no: i64, terms: &[String]) -> rusqlite::Result<Vec<i64>> {
    let mut add = conn.prepare_cached("INSERT INTO dictionary (tenant_no, term) VALUES (?1, ?2)")?;
    terms
        .iter()
        .map(|term| match dictionary_id(conn, no, term)? {
            Some(id) => Ok(id),
            None => {
                add.execute(params![no, term])?;
                Ok(conn.last_insert_rowid())
            }
        })
        .collect()
}

/// The id of the tenant's `term` in the index's dictionary, as the connection sees it (the
/// index file's own connection, or a reader's with it attached); `None` when no indexed event
/// has the term.
pub(crate) fn dictionary_id(conn: &Connection, no: i64, term: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM dictionary WHERE tenant_no = ?1 AND term = ?2")?
        .query_row(params![no, term], |r| r.get(0))
        .optional()
}

/// What [`index_tenant`] did: the tenant's new mark, the events it indexed and the postings
/// it added to `recent_postings` (none when they went straight into `postings`).
struct TenantGroup {
    mark: u64,
    events: usize,
    recent: u64,
}

/// A chunk's full-text documents, as the reader of a group hands them to its writer:
/// (rowid, words document) per event.
type Documents = Vec<(i64, Option<String>)>;

/// What the reader of a group hands its writer after each chunk: the chunk's documents, and
/// the trigram group it filled, if it did ([`trigrams::FULL_GROUP`]).
struct Chunk {
    documents: Documents,
    grams: Option<TriGroup>,
}

/// What reading a tenant's group gave besides its documents.
struct Read {
    postings: Postings,
    /// The last trigram group's lists (the full ones went with their chunk).
    grams: TriGroup,
    /// Each span's events, least and greatest seq in this group.
    spans: BTreeMap<i64, (i64, i64, i64)>,
    /// The last seq read, and how many events.
    last: u64,
    count: usize,
}

/// Groups of more events than this are read on a second thread while this one writes their
/// documents ([`index_tenant`]); smaller ones are not worth a thread.
const PIPELINE_EVENTS: u64 = READ_CHUNK as u64;

/// Reads the tenant's events after `from` up to `upto` (at most `budget`) in chunks, derives
/// each event's postings (kept) and documents (handed to `write`, chunk by chunk).
fn read_group(
    log: &Connection,
    no: i64,
    (from, upto, budget): (u64, u64, usize),
    mut write: impl FnMut(Chunk) -> rusqlite::Result<()>,
) -> rusqlite::Result<Read> {
    let mut read = Read {
        postings: Postings::default(),
        grams: TriGroup::new(from as i64 + 1),
        spans: BTreeMap::new(),
        last: from,
        count: 0,
    };
    while read.count < budget && read.last < upto {
        let rows = read_rows(log, pos(no, read.last), pos(no, upto), READ_CHUNK.min(budget - read.count))?;
        let Some(end) = rows.last().map(|r| r.seq as u64) else { break };
        let mut documents = Vec::with_capacity(rows.len());
        for row in &rows {
            let span = read.spans.entry(row.time >> SPAN_SHIFT).or_insert((0, row.seq, row.seq));
            *span = (span.0 + 1, span.1.min(row.seq), span.2.max(row.seq));
            let Entries { terms, doc, message } = entries(row);
            let event = read.postings.event(row.time, row.seq);
            for term in terms {
                read.postings.add(term, event);
            }
            read.grams.add(row.seq, message.as_deref());
            documents.push((pos(no, row.seq as u64), doc));
        }
        let n = rows.len();
        drop(rows);
        let grams = read.grams.full().then(|| std::mem::replace(&mut read.grams, TriGroup::new(end as i64 + 1)));
        write(Chunk { documents, grams })?;
        (read.last, read.count) = (end, read.count + n);
    }
    Ok(read)
}

/// Indexes the tenant's events after its mark up to `upto` (at most `budget` events) inside
/// the caller's transaction on `conn`, reading them through `log`. Their postings go to
/// `recent_postings` ([`Indexer::merge`] moves them on), or straight into `postings` from
/// [`DIRECT_POSTINGS`] on.
///
/// A large group is read on a second thread (rows, JSON, terms, documents; [`read_group`])
/// while this one writes the documents into the two full-text tables, whose tokenizing and
/// pending-terms hash are about half of the indexer's work: under a burst of batches the
/// indexer is what holds ingest back (the lag bound), and the reading had been serial with
/// the writing. `stele reindex` of 202 000 events 5.6–7.1 → 4.2–4.5 s; `stele bench ingest`
/// batches median 29.8 → 32.0 k events/s, 503s per run 4 → 0 (ARCHITECTURE, session 38).
fn index_tenant(
    conn: &Connection,
    log: &mut Connection,
    no: i64,
    upto: u64,
    budget: usize,
) -> rusqlite::Result<TenantGroup> {
    let from = mark(conn, no)?;
    if upto <= from || budget == 0 {
        return Ok(TenantGroup { mark: from, events: 0, recent: 0 });
    }
    let mut fts = conn.prepare_cached("INSERT INTO events_fts (rowid, doc) VALUES (?1, ?2)")?;
    let mut write = |chunk: Chunk| -> rusqlite::Result<()> {
        for (rowid, doc) in chunk.documents.into_iter().filter_map(|(rowid, doc)| Some((rowid, doc?))) {
            fts.execute(params![rowid, doc])?;
        }
        chunk.grams.map_or(Ok(()), |grams| grams.write(conn, no, false))
    };
    let range = (from, upto, budget);
    let read = if upto - from <= PIPELINE_EVENTS {
        read_group(log, no, range, write)?
    } else {
        // Two chunks in flight at most: memory stays a few chunks' documents.
        let (send, receive) = std::sync::mpsc::sync_channel::<Chunk>(2);
        let (read, written) = std::thread::scope(|scope| {
            // Named for `top -H` and profiles (a thread name shows its first 15 bytes).
            let reader = std::thread::Builder::new().name("stele-ixreader".into()).spawn_scoped(scope, move || {
                // A send fails only once the writer stopped on an error, which it reports.
                read_group(log, no, range, |chunk| send.send(chunk).map_err(|_| rusqlite::Error::InvalidQuery))
            });
            let Ok(reader) = reader else { return (Err(()), Err(rusqlite::Error::InvalidQuery)) };
            let mut written = Ok(());
            for chunk in receive.iter() {
                written = write(chunk);
                if written.is_err() {
                    break;
                }
            }
            // Dropped, it stops the reader at its next send.
            drop(receive);
            (reader.join().map_err(|_| ()), written)
        });
        written?;
        read.map_err(|_| rusqlite::Error::InvalidQuery)??
    };
    let Read { postings, grams, spans, last, count } = read;
    if count == 0 {
        return Ok(TenantGroup { mark: from, events: 0, recent: 0 });
    }
    grams.write(conn, no, false)?;
    // Sorted by key, the inserts walk the B-tree once instead of jumping around it.
    let postings = postings.sorted(|terms| dictionary_ids(conn, no, terms))?;
    let table = if postings.rows.len() >= DIRECT_POSTINGS { "postings" } else { "recent_postings" };
    // Many rows per statement: a statement's setup and bindings cost as much as a row.
    let mut chunks = postings.rows.chunks_exact(ROWS_PER_INSERT);
    let mut many = conn.prepare_cached(&insert_postings_sql(table, ROWS_PER_INSERT))?;
    let mut added = 0u64;
    for chunk in chunks.by_ref() {
        bind_postings(&mut many, no, &postings, chunk)?;
        added += many.raw_execute()? as u64;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&insert_postings_sql(table, rest.len()))?;
        bind_postings(&mut stmt, no, &postings, rest)?;
        added += stmt.raw_execute()? as u64;
    }
    let mut span = conn.prepare_cached(
        "INSERT INTO spans (tenant_no, span, events, lo, hi) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant_no, span) DO UPDATE SET events = events + excluded.events,
             lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)",
    )?;
    for (at, (events, lo, hi)) in spans {
        span.execute(params![no, at, events, lo, hi])?;
    }
    conn.prepare_cached(
        "INSERT INTO marks (tenant_no, seq) VALUES (?1, ?2) ON CONFLICT (tenant_no) DO UPDATE SET seq = excluded.seq",
    )?
    .execute(params![no, last as i64])?;
    let recent = if table == "recent_postings" { added } else { 0 };
    Ok(TenantGroup { mark: last, events: count, recent })
}

/// Merges one window of the tenant's small trigram groups ([`trigrams::merge_window`]) into
/// one group, in its own transaction on `conn`; returns whether there was one. The window's
/// messages are read again from the log through `log`: what the blocks hold is derived from
/// them, a redacted event's message is gone from both, and an expired event's row too. (The
/// caller holds the indexer's lock, which redactions and expiries take.)
fn merge_trigram_groups(conn: &Connection, log: &Connection, no: i64) -> rusqlite::Result<bool> {
    let Some((first, last)) = trigrams::merge_window(conn, no)? else { return Ok(false) };
    let mut group = TriGroup::new(first);
    let mut at = first - 1;
    loop {
        let rows = read_rows(log, pos(no, at as u64), pos(no, last as u64), READ_CHUNK)?;
        let Some(end) = rows.last().map(|r| r.seq) else { break };
        for row in &rows {
            let event = if row.redacted { None } else { Indexed::parse(&row.json) };
            group.add(row.seq, event.as_ref().and_then(Indexed::message));
        }
        at = end;
    }
    // The window's seqs, whatever rows of them expired.
    group.last = last;
    conn.execute_batch("BEGIN")?;
    match group.write(conn, no, true) {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(true)
}

/// Postings inserted by one statement.
const ROWS_PER_INSERT: usize = 128;

/// `table` is `postings` or `recent_postings`.
fn insert_postings_sql(table: &str, rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?)"; rows].join(", ");
    format!("INSERT OR IGNORE INTO {table} (tenant_no, tid, time, seq) VALUES {values}")
}

fn bind_postings(
    stmt: &mut rusqlite::CachedStatement<'_>,
    no: i64,
    postings: &SortedPostings,
    rows: &[(u32, u32)],
) -> rusqlite::Result<()> {
    for (i, (term, event)) in rows.iter().enumerate() {
        let (time, seq) = &postings.events[*event as usize];
        stmt.raw_bind_parameter(4 * i + 1, no)?;
        stmt.raw_bind_parameter(4 * i + 2, postings.ids[*term as usize])?;
        stmt.raw_bind_parameter(4 * i + 3, time)?;
        stmt.raw_bind_parameter(4 * i + 4, seq)?;
    }
    Ok(())
}

impl Indexer {
    /// Opens the index of `db`, repairs what a crash during a redaction left (see
    /// [`recover_purges`]) and counts what is left to index.
    pub(crate) fn open(db: &Path, mode: IndexMode) -> rusqlite::Result<Self> {
        let conn = open_index_writer(db)?;
        recover_purges(&conn)?;
        let progress = Arc::new(Progress::default());
        let tenants: Vec<i64> =
            conn.prepare("SELECT no FROM log.tenants")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let (mut appended, mut indexed) = (0u64, 0u64);
        {
            let mut dirty = progress.dirty.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
            for no in tenants {
                let (head, mark) = (head(&conn, "log", no)?, mark(&conn, no)?);
                appended += head;
                indexed += mark.min(head);
                if head > mark {
                    dirty.insert(no, (head, Instant::now()));
                }
            }
        }
        progress.appended.store(appended, Ordering::Relaxed);
        progress.indexed.store(indexed, Ordering::Relaxed);
        let recent: i64 = conn.query_row("SELECT COUNT(*) FROM recent_postings", [], |r| r.get(0))?;
        Ok(Self {
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
            log: Mutex::new(open_log_reader(db)?),
            progress,
            mode,
            rng: Mutex::new(mode_seed(mode)),
            recent: AtomicU64::new(recent as u64),
            last_added: AtomicU64::new(0),
            merging: AtomicBool::new(false),
            cursor: Mutex::new(None),
        })
    }

    /// Moves up to `limit` postings of `recent_postings`, in key order from `from` (from the
    /// least if `None`), into `postings`, in one transaction on `conn`. Returns how many moved
    /// and the first key left after them (`None` once it reached the end).
    fn merge_step(
        &self,
        conn: &Connection,
        from: Option<&PostingKey>,
        limit: u64,
    ) -> rusqlite::Result<(u64, Option<PostingKey>)> {
        // No posting has a tenant number this small: the least bound.
        let (no, tid, time, seq) = from.copied().unwrap_or((i64::MIN, i64::MIN, i64::MIN, i64::MIN));
        let key = "(tenant_no, tid, time, seq)";
        conn.execute_batch("BEGIN")?;
        let moved = (|| {
            let next: Option<PostingKey> = conn
                .prepare_cached(&format!(
                    "SELECT tenant_no, tid, time, seq FROM recent_postings WHERE {key} >= (?1, ?2, ?3, ?4)
                     ORDER BY tenant_no, tid, time, seq LIMIT 1 OFFSET ?5"
                ))?
                .query_row(params![no, tid, time, seq, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            // From `from` up to the first key left (to the end when there is none).
            let mut range = format!(" WHERE {key} >= (?1, ?2, ?3, ?4)");
            let mut args: Vec<&dyn rusqlite::ToSql> = vec![&no, &tid, &time, &seq];
            if let Some((no2, tid2, time2, seq2)) = &next {
                range.push_str(&format!(" AND {key} < (?5, ?6, ?7, ?8)"));
                args.extend([no2 as &dyn rusqlite::ToSql, tid2, time2, seq2]);
            }
            conn.prepare_cached(&format!(
                "INSERT OR IGNORE INTO postings (tenant_no, tid, time, seq)
                 SELECT tenant_no, tid, time, seq FROM recent_postings{range}"
            ))?
            .execute(args.as_slice())?;
            let moved =
                conn.prepare_cached(&format!("DELETE FROM recent_postings{range}"))?.execute(args.as_slice())?;
            Ok::<_, rusqlite::Error>((moved as u64, next))
        })();
        match moved {
            Ok((moved, next)) => {
                conn.execute_batch("COMMIT")?;
                let _ =
                    self.recent.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| Some(r.saturating_sub(moved)));
                Ok((moved, next))
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Moves every recent posting into `postings`, [`MERGE_STEP`] at a time, each step its
    /// own transaction followed by the index WAL's bound.
    pub(crate) fn merge(&self, conn: &Connection) -> rusqlite::Result<()> {
        let mut from = None;
        loop {
            let (_, next) = self.merge_step(conn, from.as_ref(), MERGE_STEP)?;
            crate::checkpoint::bound_wal(conn);
            if next.is_none() {
                // The caller holds the indexer's lock: no group added any meanwhile.
                self.recent.store(0, Ordering::Relaxed);
                return Ok(());
            }
            from = next;
        }
    }

    /// One step of a merge pass from the background loop (under the indexer's lock for that
    /// step only), from where the pass is. A pass goes through the keys once: postings that
    /// groups add behind it wait for the next pass, so each leaf of `postings` is rewritten
    /// once per pass (steps that each took the least keys rewrote the first leaves at every
    /// step). Returns whether the pass reached the end.
    fn merge_some(&self) -> bool {
        let limit = MERGE_STEP.max(self.last_added.load(Ordering::Relaxed));
        let conn = self.conn.blocking_lock();
        let Ok(mut cursor) = self.cursor.lock() else { return true };
        match self.merge_step(&conn, cursor.as_ref(), limit) {
            Ok((_, next)) => {
                crate::checkpoint::bound_wal(&conn);
                let done = next.is_none();
                if done {
                    // Counted again once per pass: what groups added behind it, exactly (purges
                    // are not subtracted as they go).
                    match conn.query_row("SELECT COUNT(*) FROM recent_postings", [], |r| r.get::<_, i64>(0)) {
                        Ok(n) => self.recent.store(n as u64, Ordering::Relaxed),
                        Err(e) => tracing::error!(error = %e, "counting recent postings failed"),
                    }
                }
                *cursor = next;
                self.merging.store(!done, Ordering::Relaxed);
                done
            }
            Err(e) => {
                // The postings stay in `recent_postings`, where reads find them too.
                tracing::error!(error = %e, "merging recent postings failed; retrying later");
                true
            }
        }
    }

    /// Indexes what `work` names (tenant → up to which seq), in one transaction of at most
    /// [`BATCH_EVENTS`] events. Returns the tenants not finished and the events indexed.
    fn index(&self, conn: &Connection, work: Work) -> rusqlite::Result<(Work, usize)> {
        // Tenants in order: the same order on every run, and rows of one file region together.
        let work: BTreeMap<i64, (u64, Instant)> = work.into_iter().collect();
        let mut left = HashMap::new();
        let mut budget = BATCH_EVENTS;
        let mut oldest: Option<Instant> = None;
        let mut log = self.log.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
        let mut grown = Vec::new();
        conn.execute_batch("BEGIN")?;
        let done = (|| {
            let mut added = 0u64;
            for (&no, &(upto, since)) in &work {
                let group = index_tenant(conn, &mut log, no, upto, budget)?;
                budget -= group.events;
                added += group.recent;
                if group.events > 0 {
                    oldest = Some(oldest.map_or(since, |o| o.min(since)));
                    grown.push(no);
                }
                if group.mark < upto {
                    left.insert(no, (upto, since));
                }
            }
            Ok::<_, rusqlite::Error>((BATCH_EVENTS - budget, added))
        })();
        match done {
            Ok((n, added)) => {
                conn.execute_batch("COMMIT")?;
                self.recent.fetch_add(added, Ordering::Relaxed);
                self.last_added.store(added, Ordering::Relaxed);
                self.progress.indexed.fetch_add(n as u64, Ordering::Relaxed);
                self.progress.gate.advanced();
                if let Some(since) = oldest {
                    record_delay(since.elapsed());
                }
                record_lag(self.progress.lag());
                // After the group's commit (the marks are already where reads see them): the
                // grown tenants' small trigram groups merged, a window each at most. A failed
                // merge leaves the groups as they were, which reads handle the same.
                for no in grown {
                    if let Err(e) = merge_trigram_groups(conn, &log, no) {
                        tracing::error!(error = %e, tenant_no = no, "merging trigram groups failed");
                    }
                }
                Ok((left, n))
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The background loop: waits for commits, indexes them in groups, until stopped.
    pub(crate) fn run(&self) {
        // Stopping leaves what is not indexed yet to the next start.
        while !self.progress.stop.load(Ordering::Relaxed) {
            let mut work = self.progress.take(Duration::from_secs(1));
            // Set here too: the writer's and this thread's settings may land out of order.
            record_lag(self.progress.lag());
            if work.is_empty() {
                // Idle: the recent postings join the others (reads then find them in one
                // place), step by step while no commit comes.
                while self.recent.load(Ordering::Relaxed) > 0 && !self.progress.has_work() && !self.merge_some() {}
                continue;
            }
            // Few events: let more commits join, so that a transaction (a full-text segment,
            // pages of postings) serves many of them — but never hold the oldest back longer
            // than GATHER.
            let oldest = work.values().map(|(_, since)| *since).min();
            if let Some(oldest) = oldest.filter(|_| self.progress.lag() < GATHER_EVENTS) {
                if let Some(wait) = GATHER.checked_sub(oldest.elapsed()) {
                    // Not a test wait: a deliberate batching window, bounded by GATHER.
                    std::thread::sleep(wait);
                    let more = self.progress.take(Duration::ZERO);
                    for (no, (upto, since)) in more {
                        work.entry(no).and_modify(|e| e.0 = e.0.max(upto)).or_insert((upto, since));
                    }
                }
            }
            let conn = self.conn.blocking_lock();
            match self.index(&conn, work.clone()) {
                Ok((left, _)) => {
                    self.progress.put_back(left);
                    // The index file's WAL, bounded the same way as the log's.
                    crate::checkpoint::bound_wal(&conn);
                    drop(conn);
                    if self.merging.load(Ordering::Relaxed) || self.recent.load(Ordering::Relaxed) >= MERGE_ROWS {
                        self.merge_some();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "indexing failed; retrying");
                    self.progress.put_back(work);
                    drop(conn);
                    // Not a test wait: a failing disk is retried once a second, not in a spin.
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    /// Indexes everything committed so far (the test modes, `stele reindex`, benchmarks).
    /// The work is read from the files, not taken from the writer's notes: the background
    /// thread may hold notes it has not acted on yet (it waits for this connection's lock).
    pub(crate) fn catch_up(&self, conn: &Connection, mut on_progress: impl FnMut(usize)) -> rusqlite::Result<()> {
        loop {
            let tenants: Vec<i64> = conn
                .prepare_cached("SELECT no FROM log.tenants")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut work = HashMap::new();
            for no in tenants {
                let head = head(conn, "log", no)?;
                if head > mark(conn, no)? {
                    work.insert(no, (head, Instant::now()));
                }
            }
            if work.is_empty() {
                return Ok(());
            }
            let (_, n) = self.index(conn, work)?;
            on_progress(n);
            if self.recent.load(Ordering::Relaxed) >= MERGE_ROWS {
                self.merge(conn)?;
            }
        }
    }

    /// After a write in a test mode: moves the marks where the mode puts them.
    pub(crate) fn after_write(&self, conn: &Connection) -> rusqlite::Result<()> {
        match self.mode {
            IndexMode::Background | IndexMode::Never => Ok(()),
            IndexMode::Eager => self.catch_up(conn, |_| ()),
            IndexMode::Random(_) => {
                let work = {
                    let Ok(mut dirty) = self.progress.dirty.lock() else { return Err(rusqlite::Error::InvalidQuery) };
                    std::mem::take(&mut *dirty)
                };
                let mut partial = HashMap::new();
                for (no, (upto, since)) in &work {
                    let from = mark(conn, *no)?;
                    let span = upto.saturating_sub(from);
                    let cut = from + self.next_random() % (span + 1);
                    partial.insert(*no, (cut, *since));
                }
                self.index(conn, partial)?;
                // A random part of the recent postings moves on: reads must not be able to
                // tell which of the two tables a posting is in either.
                let recent = self.recent.load(Ordering::Relaxed);
                self.merge_step(conn, None, self.next_random() % (recent + 2))?;
                // What was not indexed stays to do.
                let mut rest = HashMap::new();
                for (no, entry) in work {
                    if mark(conn, no)? < entry.0 {
                        rest.insert(no, entry);
                    }
                }
                self.progress.put_back(rest);
                Ok(())
            }
        }
    }

    fn next_random(&self) -> u64 {
        // splitmix64: a tiny, well-known generator; the split points only need to vary.
        let Ok(mut state) = self.rng.lock() else { return 0 };
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn mode_seed(mode: IndexMode) -> u64 {
    match mode {
        IndexMode::Random(seed) => seed,
        _ => 0,
    }
}

/// What a redaction must remove from the index: the event's position and its entries as
/// they were before the tombstone (read under the indexer's lock, so the indexer cannot add
/// them again meanwhile).
pub(crate) struct PurgePlan {
    no: i64,
    seq: i64,
    time: i64,
    terms: Vec<String>,
    has_doc: bool,
    /// The distinct trigrams of its message.
    grams: Vec<i64>,
}

/// Reads the entries an event has in the index now (`None` when the event is unknown).
pub(crate) fn plan_purge(conn: &Connection, tenant: &str, id: &str) -> rusqlite::Result<Option<PurgePlan>> {
    let found: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT e.tenant_no, e.seq FROM log.events e JOIN log.tenants t ON t.no = e.tenant_no
             WHERE t.id = ?1 AND e.id = ?2",
        )?
        .query_row(params![tenant, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((no, seq)) = found else { return Ok(None) };
    let p = pos(no, seq as u64);
    let rows = read_rows(conn, p - 1, p, 1)?;
    let Some(row) = rows.first() else { return Ok(None) };
    let Entries { mut terms, doc, message } = entries(row);
    // The tombstone keeps its action and status (and their postings).
    terms.retain(|t| !t.starts_with("action=") && !t.starts_with("status="));
    let grams = message.as_deref().map(trigrams::message_gram_set).unwrap_or_default();
    Ok(Some(PurgePlan { no, seq, time: row.time, terms, has_doc: doc.is_some(), grams }))
}

/// Removes a redacted event's entries from the index file (if it was indexed), wipes their
/// bytes (`secure_delete`, a full-text `optimize`, a WAL truncation) and clears its
/// `index_purges` row in the log.
pub(crate) fn purge(conn: &Connection, plan: &PurgePlan) -> rusqlite::Result<()> {
    purge_all(conn, std::slice::from_ref(plan))
}

/// [`purge`] for many events (retention) in one transaction, with one `optimize` and one
/// WAL truncation.
pub(crate) fn purge_all(conn: &Connection, plans: &[PurgePlan]) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mut merge = false;
        // Per tenant and trigram, the indexed seqs to remove: each block is rewritten once.
        let mut grams: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
        // The (tenant, id) of the terms whose postings were removed: those left with none
        // leave the dictionary, so a redacted or expired value is not kept there either.
        let mut touched: BTreeSet<(i64, i64)> = BTreeSet::new();
        for plan in plans {
            if plan.seq as u64 <= mark(conn, plan.no)? {
                for term in &plan.terms {
                    let Some(id) = dictionary_id(conn, plan.no, term)? else { continue };
                    for table in ["postings", "recent_postings"] {
                        // The table names are constants.
                        conn.prepare_cached(&format!(
                            "DELETE FROM {table} WHERE tenant_no = ?1 AND tid = ?2 AND time = ?3 AND seq = ?4"
                        ))?
                        .execute(params![plan.no, id, plan.time, plan.seq])?;
                    }
                    touched.insert((plan.no, id));
                }
                if plan.has_doc {
                    conn.execute("DELETE FROM events_fts WHERE rowid = ?1", [pos(plan.no, plan.seq as u64)])?;
                    merge = true;
                }
                for &gram in &plan.grams {
                    grams.entry((plan.no, gram)).or_default().push(plan.seq);
                }
            }
        }
        for ((no, gram), seqs) in grams {
            trigrams::remove(conn, no, gram, seqs)?;
        }
        let mut unused = conn.prepare_cached(
            "DELETE FROM dictionary WHERE id = ?2
               AND NOT EXISTS (SELECT 1 FROM postings WHERE tenant_no = ?1 AND tid = ?2)
               AND NOT EXISTS (SELECT 1 FROM recent_postings WHERE tenant_no = ?1 AND tid = ?2)",
        )?;
        for (no, id) in touched {
            unused.execute(params![no, id])?;
        }
        if merge {
            // A contentless delete only records a tombstone; the words stay in the
            // segments until they are merged.
            optimize(conn)?;
        }
        Ok::<_, rusqlite::Error>(())
    })();
    if let Err(e) = result {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    conn.execute_batch("COMMIT")?;
    conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let mut done = conn.prepare_cached("DELETE FROM log.index_purges WHERE pos = ?1")?;
    for plan in plans {
        done.execute([pos(plan.no, plan.seq as u64)])?;
    }
    Ok(())
}

/// Merges the full-text index's segments, so deleted documents' tokens are gone from them.
fn optimize(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("INSERT INTO events_fts (events_fts) VALUES ('optimize')", [])?;
    Ok(())
}

/// Positions in `index_purges` are redactions whose index entries may not have been purged
/// (a crash between the tombstone's commit and the purge). Their old values are gone from
/// the log, so the entries cannot be named: each such tenant's index is rebuilt.
fn recover_purges(conn: &Connection) -> rusqlite::Result<()> {
    let tenants: Vec<i64> = conn
        .prepare("SELECT DISTINCT pos >> ?1 FROM log.index_purges")?
        .query_map([SEQ_BITS], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for no in tenants {
        tracing::warn!(tenant_no = no, "a redaction's index purge was interrupted; rebuilding the tenant's index");
        conn.execute_batch("BEGIN")?;
        conn.execute("DELETE FROM postings WHERE tenant_no = ?1", [no])?;
        conn.execute("DELETE FROM recent_postings WHERE tenant_no = ?1", [no])?;
        conn.execute("DELETE FROM dictionary WHERE tenant_no = ?1", [no])?;
        conn.execute("DELETE FROM events_fts WHERE rowid > ?1 AND rowid < ?2", params![pos(no, 0), pos(no + 1, 0)])?;
        conn.execute("DELETE FROM tri_blocks WHERE tenant_no = ?1", [no])?;
        conn.execute("DELETE FROM tri_groups WHERE tenant_no = ?1", [no])?;
        optimize(conn)?;
        conn.execute("DELETE FROM marks WHERE tenant_no = ?1", [no])?;
        conn.execute("DELETE FROM spans WHERE tenant_no = ?1", [no])?;
        conn.execute_batch("COMMIT")?;
        conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.execute("DELETE FROM log.index_purges WHERE pos > ?1 AND pos < ?2", params![pos(no, 0), pos(no + 1, 0)])?;
    }
    Ok(())
}

/// Brings the reader's temporary full-text table up to date for the tenant's tail (`seq >
/// mark`, up to `head`), so `q` can match the tail with the same tokenizer as the index.
/// Each read connection keeps the documents it made (`tail_cover` says which), so a query
/// only adds what was committed since its connection's last one.
pub(crate) fn fill_tail(conn: &Connection, no: i64, mark: u64, head: u64) -> rusqlite::Result<()> {
    let cover: Option<(i64, i64)> = conn
        .prepare_cached("SELECT floor, upto FROM temp.tail_cover WHERE tenant_no = ?1")?
        .query_row([no], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let mark = mark as i64;
    let total: i64 = conn.query_row("SELECT COALESCE(SUM(upto - floor), 0) FROM temp.tail_cover", [], |r| r.get(0))?;
    let (mut floor, mut upto) = match cover {
        // The mark went back (a rebuilt index): documents between it and the floor are missing.
        Some((floor, _)) if mark < floor => (None, mark),
        Some(c) if total > MAX_TAIL_DOCS => (None, c.1.max(mark)),
        Some((floor, upto)) => (Some(floor), upto.max(mark)),
        None => (None, mark),
    };
    if floor.is_none() || total > MAX_TAIL_DOCS {
        let range = if total > MAX_TAIL_DOCS { (i64::MIN, i64::MAX) } else { (pos(no, 0), pos(no + 1, 0)) };
        conn.execute("DELETE FROM temp.tail_fts WHERE rowid > ?1 AND rowid < ?2", params![range.0, range.1])?;
        if total > MAX_TAIL_DOCS {
            conn.execute("DELETE FROM temp.tail_cover", [])?;
        }
        floor = Some(mark);
        upto = mark;
    }
    let floor = floor.unwrap_or(mark);
    if floor < mark {
        conn.execute(
            "DELETE FROM temp.tail_fts WHERE rowid > ?1 AND rowid <= ?2",
            params![pos(no, floor as u64), pos(no, mark as u64)],
        )?;
    }
    if (head as i64) > upto {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, json FROM events WHERE pos > ?1 AND pos <= ?2 AND redacted IS NULL ORDER BY pos",
        )?;
        let rows = stmt.query_map(params![pos(no, upto as u64), pos(no, head)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut insert = conn.prepare_cached("INSERT INTO temp.tail_fts (rowid, doc) VALUES (?1, ?2)")?;
        for row in rows {
            let (seq, json) = row?;
            if let Some(event) = Indexed::parse(&json) {
                insert.execute(params![pos(no, seq as u64), event.search_text()])?;
            }
        }
        upto = head as i64;
    }
    conn.prepare_cached(
        "INSERT INTO temp.tail_cover (tenant_no, floor, upto) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_no) DO UPDATE SET floor = excluded.floor, upto = excluded.upto",
    )?
    .execute(params![no, mark.max(floor), upto])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a truncating checkpoint of the log at `db` goes through at once (no reader
    /// holds frames of its WAL). It empties the WAL when it does.
    fn log_truncates(db: &Path) -> bool {
        let conn = Connection::open(db).expect("open");
        conn.pragma_update(None, "busy_timeout", 0).expect("no waiting");
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).expect("checkpoint");
        busy == 0
    }

    /// Puts a frame in the log's WAL that no checkpoint has copied yet.
    fn touch_log(db: &Path) {
        let conn = Connection::open(db).expect("open");
        conn.pragma_update(None, "wal_autocheckpoint", 0).expect("no autocheckpoint");
        conn.execute("UPDATE tenants SET name = name || 'x'", []).expect("write");
    }

    /// A log at `<dir>/stele.db` of tenant `acme` (tenant number 1) with `n` events, none indexed.
    async fn log_with_events(dir: &Path, n: u64) -> PathBuf {
        use stele_core::NewEvent;
        use stele_store::{NewTenant, Store};
        let db = dir.join("stele.db");
        let options = crate::SqliteOptions { index: IndexMode::Never, ..Default::default() };
        let store = crate::SqliteStore::open_with(&db, options).expect("store");
        let tenant = stele_core::TenantId::parse("acme").expect("id");
        let created = NewTenant {
            id: tenant.clone(),
            name: "acme".into(),
            aliases: vec![],
            created_at: stele_core::Timestamp::now(),
        };
        store.create_tenant(created, stele_store::conformance::event("t", 1)).await.expect("tenant");
        let events: Vec<NewEvent> =
            (0..n).map(|i| stele_store::conformance::event("doc.edit", 10 + i as i64)).collect();
        store.append(&tenant, events, None).await.expect("append");
        store.close().await;
        db
    }

    /// Indexes the whole log at `db` into a new index file in one group (with SQLite's
    /// default checkpoint threshold of 1 000 pages if `default_checkpoints`); returns the
    /// sizes of the index file and of its WAL right after the group's COMMIT.
    fn one_group(db: &Path, default_checkpoints: bool) -> (u64, u64) {
        let index = index_path(db);
        let wal = PathBuf::from(format!("{}-wal", index.display()));
        for f in [&index, &wal] {
            let _ = std::fs::remove_file(f);
        }
        let (conn, mut log) = (open_index_writer(db).expect("index"), open_log_reader(db).expect("log reader"));
        if default_checkpoints {
            conn.pragma_update(None, "wal_autocheckpoint", 1000).expect("autocheckpoint");
        }
        conn.execute_batch("BEGIN").expect("begin");
        let upto: u64 = log.query_row("SELECT MAX(seq) FROM log.events", [], |r| r.get(0)).expect("head");
        index_tenant(&conn, &mut log, 1, upto, BATCH_EVENTS).expect("group");
        conn.execute_batch("COMMIT").expect("commit");
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        (len(&index), len(&wal))
    }

    /// The index is checkpointed once its WAL holds [`AUTOCHECKPOINT_PAGES`] (4 MiB), not at
    /// SQLite's 16 MiB: a group that wrote more has its pages in the index file when its
    /// COMMIT returns, so no checkpoint burst holds up the log's fsync for long.
    #[tokio::test]
    async fn a_group_past_four_mib_is_checkpointed_at_its_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let db = log_with_events(dir.path(), 40_000).await;
        let threshold = (AUTOCHECKPOINT_PAGES * PAGE_SIZE) as u64;
        let (file, wal) = one_group(&db, false);
        assert!(wal > threshold, "the group wrote {wal} bytes of WAL, past the threshold ({threshold})");
        assert!(file >= threshold, "its pages were copied into the index file ({file} bytes) at COMMIT");
        // Positive control: with SQLite's default threshold the same group stays in the WAL,
        // for a later, larger burst; the index file holds only its empty schema.
        let (file, wal) = one_group(&db, true);
        assert!(wal > threshold && file <= 64 * 1024, "the control: file {file} bytes, WAL {wal}");
    }

    /// An indexer group reads the log in short read transactions of its own: with the
    /// group's transaction still open, the checkpointer can restart the log's WAL (it could
    /// not while the group read the log inside its transaction, and held the writer off).
    #[tokio::test]
    async fn an_open_group_does_not_hold_the_logs_wal() {
        let dir = tempfile::tempdir().expect("dir");
        let db = log_with_events(dir.path(), 2500).await;
        let (conn, mut log) = (open_index_writer(&db).expect("index"), open_log_reader(&db).expect("log reader"));
        touch_log(&db);
        conn.execute_batch("BEGIN").expect("begin");
        let group = index_tenant(&conn, &mut log, 1, 2501, BATCH_EVENTS).expect("group");
        assert_eq!(
            (group.mark, group.events),
            (2501, 2501),
            "the group read every event, in {} chunks",
            2501_usize.div_ceil(READ_CHUNK)
        );
        assert!(log_truncates(&db), "the open group holds no read transaction of the log");
        // Positive control: a read of the log inside the group's transaction (how groups
        // read it before) holds the WAL until the group commits.
        touch_log(&db);
        let _: i64 = conn.query_row("SELECT COUNT(*) FROM log.events", [], |r| r.get(0)).expect("read");
        assert!(!log_truncates(&db), "the control: a read inside the group's transaction holds the WAL");
        conn.execute_batch("COMMIT").expect("commit");
        assert!(log_truncates(&db), "and lets go of it at COMMIT");
    }

    /// Every row of one postings table (or the view of both), in key order.
    fn rows_of(conn: &Connection, table: &str) -> Vec<PostingKey> {
        let sql = format!("SELECT tenant_no, tid, time, seq FROM {table} ORDER BY tenant_no, tid, time, seq");
        let mut stmt = conn.prepare(&sql).expect("prepare");
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).expect("rows");
        rows.collect::<Result<_, _>>().expect("read")
    }

    /// Groups write their postings to `recent_postings`; a merge step moves exactly the least
    /// keys into `postings`, and a whole merge moves the rest: no posting is lost, repeated
    /// or left behind, and the two tables together always hold the same rows.
    #[tokio::test]
    async fn merges_move_recent_postings_in_key_order_and_lose_none() {
        let dir = tempfile::tempdir().expect("dir");
        let db = log_with_events(dir.path(), 2500).await;
        let indexer = Indexer::open(&db, IndexMode::Never).expect("indexer");
        let conn = indexer.conn.clone();
        let conn = conn.try_lock().expect("nobody else has it");
        indexer.catch_up(&conn, |_| ()).expect("indexed");
        let all = rows_of(&conn, "recent_postings");
        assert!(all.len() > 2500, "the groups wrote {} postings, to the recent table", all.len());
        assert!(rows_of(&conn, "postings").is_empty(), "and none to the merged one before a merge");
        assert_eq!(indexer.recent.load(Ordering::Relaxed), all.len() as u64, "the count of recent postings");
        let (moved, next) = indexer.merge_step(&conn, None, 1000).expect("step");
        assert_eq!((moved, next.as_ref()), (1000, Some(&all[1000])), "a step moves 1 000, says where it stopped");
        assert_eq!(rows_of(&conn, "postings"), all[..1000], "the step moved the 1 000 least keys");
        assert_eq!(rows_of(&conn, "recent_postings"), all[1000..], "and left the rest");
        // A step from a key moves the keys from there on only.
        let (moved, next) = indexer.merge_step(&conn, Some(&all[1500]), 500).expect("step");
        assert_eq!((moved, next.as_ref()), (500, Some(&all[2000])));
        assert_eq!(rows_of(&conn, "postings"), [&all[..1000], &all[1500..2000]].concat());
        assert_eq!(rows_of(&conn, "all_postings"), all, "all_postings sees both tables");
        indexer.merge(&conn).expect("merge");
        assert_eq!(rows_of(&conn, "postings"), all, "a whole merge moved the rest");
        assert!(rows_of(&conn, "recent_postings").is_empty());
        assert_eq!(indexer.recent.load(Ordering::Relaxed), 0);
    }

    /// A tenant's group of [`DIRECT_POSTINGS`] postings or more (a burst of batches) is
    /// written straight into `postings`, once; smaller groups go through `recent_postings`
    /// (the control is the test above, whose group of 2 500 events did).
    #[tokio::test]
    async fn a_burst_sized_group_goes_straight_into_postings() {
        let dir = tempfile::tempdir().expect("dir");
        let db = log_with_events(dir.path(), 30_000).await;
        let (conn, mut log) = (open_index_writer(&db).expect("index"), open_log_reader(&db).expect("log reader"));
        conn.execute_batch("BEGIN").expect("begin");
        let group = index_tenant(&conn, &mut log, 1, 30_001, BATCH_EVENTS).expect("group");
        conn.execute_batch("COMMIT").expect("commit");
        assert_eq!((group.events, group.recent), (30_001, 0), "the whole group, none of it to the recent table");
        let merged = rows_of(&conn, "postings").len();
        assert!(merged >= DIRECT_POSTINGS, "{merged} postings, at least the threshold");
        assert!(rows_of(&conn, "recent_postings").is_empty());
        // Its trigram lists were cut into groups of about FULL_GROUP events, adjacent, covering
        // the whole group.
        let groups: Vec<(i64, i64, i64)> = conn
            .prepare("SELECT first, last, events FROM tri_groups ORDER BY first")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .expect("groups");
        assert_eq!(groups.len(), 30_001 / (trigrams::FULL_GROUP as usize + READ_CHUNK) + 1, "{groups:?}");
        assert_eq!((groups[0].0, groups[groups.len() - 1].1), (1, 30_001), "{groups:?}");
        assert!(groups.windows(2).all(|w| w[1].0 == w[0].1 + 1), "{groups:?}");
        assert_eq!(groups.iter().map(|g| g.2).sum::<i64>(), 30_001);
        assert!(groups[..groups.len() - 1].iter().all(|g| g.2 >= trigrams::FULL_GROUP), "{groups:?}");
    }
}
