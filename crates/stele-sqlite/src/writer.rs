//! The single writer: one thread owns the write connection and applies commands in groups.
//!
//! Every write that is waiting when the writer becomes free joins the same transaction
//! (group commit, `stele_store::write`), and nobody is answered until the group's COMMIT
//! (fsync'd) has returned. A group first runs without savepoints; if one of its writes
//! fails, the transaction is rolled back and the group redone with each write in its own
//! savepoint, so one failing write leaves the others intact.
//! Because there is one writer, each tenant's `seq` is assigned without gaps or races.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use stele_core::integrity::Frontier;
use stele_core::{KeyId, Seq, TenantId, Timestamp};
use stele_store::write::{Group, Queued, Write, Written};
use stele_store::{
    AppendOutcome, GrownLog, Idempotency, KeyRecord, NewKey, NewTenant, Receipt, StoreError, Tenant, TreeState,
    IDEMPOTENCY_WINDOW_MICROS,
};

use crate::index::Progress;
use crate::rows::{insert_event, EventRow};
use crate::{backend, read, redact, tree};

/// WAL file size past which the writer restarts the WAL itself. The checkpointer's PASSIVE
/// checkpoints copy frames into the database but never catch up with a writer that commits
/// back to back, and SQLite only rewinds the WAL after a checkpoint that caught up: without
/// this, the WAL grows by the whole write volume (11 GB after 700 k events in
/// `stele bench proofs`). A RESTART checkpoint copies the (small) rest and rewinds it; the
/// next commit truncates the file to `journal_size_limit`.
pub const WAL_RESTART_BYTES: u64 = 256 * 1024 * 1024;

/// How long a group waits for more writes when the previous group held several
/// ([`Group::next_blocking`]). In one run of 64 connections reading SCIM users with the SCIM
/// log on (`wrk`), 0.5 ms took groups from 3.4 to 6.5 writes and requests from 2 236/s to
/// 2 580/s; 2 ms made groups larger but no faster. It is a trade: with 8 connections
/// (latency-bound, each waiting for its commit) no lingering is faster, and with 64
/// (CPU-bound) lingering is (session 16, `wrk` reading one of 300 SCIM users, four 5 s runs
/// each, alternating: 8 connections 1 944 → 2 320 requests/s without it, 64 connections
/// 3 141 → 2 888; lingering only while writes keep arriving within 50 µs of each other was
/// in between, 1 960 and 2 937). Kept for the many-client case, where throughput is what
/// runs out.
const LINGER: Duration = Duration::from_micros(500);

/// A known tenant: its row number, the last `seq` of its log, and its tree's right edge
/// (loaded on first use; `None` while unknown or after appends without integrity).
#[derive(Clone)]
pub(crate) struct Head {
    no: i64,
    last: u64,
    tree: Option<Frontier>,
}

#[derive(Default)]
pub(crate) struct Heads(HashMap<TenantId, Head>);

impl Heads {
    pub(crate) fn get(&mut self, conn: &Connection, tenant: &TenantId) -> Result<(i64, u64), StoreError> {
        if let Some(h) = self.0.get(tenant) {
            return Ok((h.no, h.last));
        }
        let no: i64 = conn
            .query_row("SELECT no FROM tenants WHERE id = ?1", [tenant.as_str()], |r| r.get(0))
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))?;
        let last = tree::size(conn, no)?;
        self.0.insert(tenant.clone(), Head { no, last, tree: None });
        Ok((no, last))
    }

    /// The tenant's tree right edge, loaded from its stored nodes if not known.
    fn frontier(&mut self, conn: &Connection, tenant: &TenantId) -> Result<Frontier, StoreError> {
        let (no, last) = self.get(conn, tenant)?;
        if let Some(Head { tree: Some(f), .. }) = self.0.get(tenant) {
            return Ok(f.clone());
        }
        let f = tree::load_frontier(conn, no, last)?;
        if let Some(h) = self.0.get_mut(tenant) {
            h.tree = Some(f.clone());
        }
        Ok(f)
    }
}

/// Runs until every sender is gone, then returns after finishing what was queued.
pub(crate) fn run(
    mut conn: Connection,
    rx: flume::Receiver<Queued<EventRow>>,
    checkpoint: flume::Sender<()>,
    grown: Arc<GrownLog>,
    progress: Arc<Progress>,
    wal_restart_bytes: u64,
) {
    let mut heads = Heads::default();
    let mut last_purge = Timestamp::from_micros(0);
    let mut erase_pending = false;
    let mut linger = Duration::ZERO;
    while let Some(group) = Group::next_blocking(&rx, linger) {
        linger = if group.len() > 1 { LINGER } else { Duration::ZERO };
        erase_pending |= !apply_group(&mut conn, &mut heads, group, &grown, &progress);
        if erase_pending && rx.is_empty() {
            erase_pending = !redact::truncate_wal(&conn);
        }
        restart_large_wal(&conn, wal_restart_bytes);
        // A full channel means a checkpoint is already due.
        let _ = checkpoint.try_send(());
        let now = Timestamp::now();
        if now.as_micros() - last_purge.as_micros() > 60_000_000 {
            last_purge = now;
            purge_idempotency(&conn, now);
        }
    }
    tracing::debug!("SQLite writer stopped");
}

/// Why a group's transaction could not begin or commit.
pub(crate) struct CommitError {
    message: String,
    /// `SQLITE_FULL`: no space (disk or `max_page_count`).
    full: bool,
}

impl CommitError {
    fn of(e: &rusqlite::Error) -> Self {
        Self { message: e.to_string(), full: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) }
    }
}

/// Applies and commits a group; false when a redaction committed but its old page images
/// could not yet be wiped from the WAL (see [`redact::truncate_wal`]).
fn apply_group(
    conn: &mut Connection,
    heads: &mut Heads,
    group: Group<EventRow>,
    grown: &GrownLog,
    progress: &Progress,
) -> bool {
    let touched: HashSet<TenantId> = group.writes().map(|w| w.tenant().clone()).collect();
    // Each tenant's last seq before the group (unknown tenants, e.g. being created, are at 0).
    let before: Vec<(TenantId, u64)> =
        touched.iter().map(|t| (t.clone(), heads.get(conn, t).map_or(0, |(_, last)| last))).collect();
    let (results, commit_error) = match all_at_once(conn, heads, &group) {
        Some(done) => done,
        None => one_by_one(conn, heads, &group),
    };
    if let Some(e) = &commit_error {
        // Nothing of the group is stored: forget the heads, they are reloaded from disk.
        tracing::error!(error = %e.message, "group commit failed");
        heads.0.clear();
    } else {
        for t in touched {
            if let Some(Head { last, tree: Some(f), .. }) = heads.0.get(&t) {
                grown.record(t, TreeState { size: *last, root: f.root() });
            }
        }
        let appended: Vec<(i64, u64, u64)> = before
            .iter()
            .filter_map(|(t, b)| heads.0.get(t).map(|h| (h.no, *b, h.last)))
            .filter(|(_, b, a)| a > b)
            .collect();
        progress.committed(&appended);
    }
    // A committed redaction is answered only once the WAL no longer holds the erased words.
    let redacted = commit_error.is_none() && results.iter().any(|r| matches!(r, Ok(Written::Event(_))));
    // Retention freed pages: give them back to the file system (a no-op on files made
    // before incremental auto-vacuum was turned on; new events reuse the pages there).
    if commit_error.is_none() && group.writes().any(|w| matches!(w, Write::Expire { .. })) {
        redact::reclaim(conn);
    }
    let erased = !redacted || redact::truncate_wal(conn);
    let failure = commit_error.map(|e| match e.full {
        true => StoreError::StorageFull(format!("commit failed: {}", e.message)),
        false => StoreError::Backend(format!("commit failed: {}", e.message)),
    });
    group.answer(results, failure.as_ref().map_or(Ok(()), Err));
    erased
}

type GroupDone = (Vec<Result<Written, StoreError>>, Option<CommitError>);

/// The fast way: every write of the group in one transaction without savepoints. A
/// savepoint per write costs page copies, and FTS5 flushes a segment at every savepoint
/// release (one segment per request instead of one per group). `None` when a write failed:
/// the transaction is rolled back and the caller redoes the group write by write.
fn all_at_once(conn: &mut Connection, heads: &mut Heads, group: &Group<EventRow>) -> Option<GroupDone> {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Err(e) => return Some((Vec::new(), Some(CommitError::of(&e)))),
        Ok(tx) => tx,
    };
    let mut results = Vec::with_capacity(group.len());
    for write in group.writes() {
        match apply(&tx, heads, write) {
            Ok(written) => results.push(Ok(written)),
            Err(e) => {
                tracing::debug!(error = %e, "a write failed; the group is redone write by write");
                drop(tx);
                // What the rolled-back writes did to the heads is undone by reloading them.
                heads.0.clear();
                return None;
            }
        }
    }
    let commit_error = tx.commit().err().map(|e| CommitError::of(&e));
    Some((results, commit_error))
}

/// The careful way: each write in its own savepoint, so one failing write leaves the others.
fn one_by_one(conn: &mut Connection, heads: &mut Heads, group: &Group<EventRow>) -> GroupDone {
    let mut results = Vec::with_capacity(group.len());
    let commit_error = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Err(e) => Some(CommitError::of(&e)),
        Ok(mut tx) => {
            for write in group.writes() {
                results.push(apply_one(&mut tx, heads, write));
            }
            // SQLITE_FULL inside a statement may roll the whole transaction back, so the
            // commit then fails with "no transaction is active": still lack of space.
            let full = results.iter().any(|r| matches!(r, Err(StoreError::StorageFull(_))));
            tx.commit().err().map(|e| CommitError { full: full || CommitError::of(&e).full, ..CommitError::of(&e) })
        }
    };
    (results, commit_error)
}

/// Runs one write in its own savepoint; on failure the savepoint and the write's changes
/// to `heads` are rolled back.
fn apply_one(
    tx: &mut rusqlite::Transaction<'_>,
    heads: &mut Heads,
    write: &Write<EventRow>,
) -> Result<Written, StoreError> {
    let tenant = write.tenant().clone();
    let snapshot = heads.0.get(&tenant).cloned();
    let sp = tx.savepoint().map_err(backend)?;
    match apply(&sp, heads, write) {
        Ok(written) => {
            sp.commit().map_err(backend)?;
            Ok(written)
        }
        Err(e) => {
            // Dropping the savepoint rolls it back; the tenant's head goes back too.
            tracing::debug!(error = %e, "write command failed");
            drop(sp);
            match snapshot {
                Some(head) => heads.0.insert(tenant, head),
                None => heads.0.remove(&tenant),
            };
            Err(e)
        }
    }
}

/// What one write does inside the transaction.
fn apply(sp: &Connection, heads: &mut Heads, write: &Write<EventRow>) -> Result<Written, StoreError> {
    let audit = |sp: &Connection, heads: &mut Heads, tenant: &TenantId, events: &[EventRow]| {
        append_rows(sp, heads, tenant, events).map(drop)
    };
    match write {
        Write::Append { tenant, events, idempotency } => {
            append(sp, heads, tenant, events, idempotency.as_ref()).map(Written::Appended)
        }
        Write::CreateTenant { tenant, audit: event } => {
            create_tenant(sp, heads, tenant, event)?;
            Ok(Written::Tenant(Tenant {
                id: tenant.id.clone(),
                name: tenant.name.clone(),
                aliases: tenant.aliases.clone(),
                created_at: tenant.created_at,
            }))
        }
        Write::CreateKey { key, audit: event } => {
            create_key(sp, heads, key)?;
            audit(sp, heads, &key.tenant, std::slice::from_ref(event))?;
            Ok(Written::Key(KeyRecord {
                id: key.id.clone(),
                tenant: key.tenant.clone(),
                name: key.name.clone(),
                scopes: key.scopes.clone(),
                view_filter: key.view_filter.clone(),
                secret_hash: key.secret_hash,
                created_at: key.created_at,
                revoked_at: None,
            }))
        }
        Write::RevokeKey { tenant, id, audit: event } => {
            let (no, _) = heads.get(sp, tenant)?;
            // Revoking twice changes nothing and records nothing the second time.
            if revoke_key(sp, no, id)? {
                audit(sp, heads, tenant, std::slice::from_ref(event))?;
            }
            read::key_by_id(sp, id)?.ok_or_else(|| StoreError::KeyNotFound(id.clone())).map(Written::Key)
        }
        Write::Redact { tenant, id, redaction, audit: event } => {
            let (no, _) = heads.get(sp, tenant)?;
            let tombstone = redact::redact(sp, no, id, redaction)?;
            audit(sp, heads, tenant, std::slice::from_ref(event))?;
            Ok(Written::Event(tombstone))
        }
        Write::Expire { tenant, ids, redaction, audit: event } => {
            let (no, _) = heads.get(sp, tenant)?;
            let mut last = None;
            for id in ids {
                last = Some(redact::redact(sp, no, id, redaction)?);
            }
            audit(sp, heads, tenant, std::slice::from_ref(event))?;
            last.map(Written::Event).ok_or_else(|| StoreError::Backend("an expiry of no events".into()))
        }
        Write::PutHead { head } => {
            let (no, _) = heads.get(sp, &head.head.tenant)?;
            tree::put_head(sp, no, head).map(Written::Kept)
        }
        Write::UpdateTenant { tenant, update, audit: event } => {
            let (no, _) = heads.get(sp, tenant)?;
            crate::tenant_update::apply(sp, no, update)?;
            audit(sp, heads, tenant, std::slice::from_ref(event))?;
            read::get_tenant(sp, tenant)?.ok_or_else(|| StoreError::UnknownTenant(tenant.clone())).map(Written::Tenant)
        }
        Write::Record { tenant, change, audit: events } => {
            let (no, _) = heads.get(sp, tenant)?;
            crate::directory::apply(sp, no, tenant, change)?;
            audit(sp, heads, tenant, events)?;
            Ok(Written::Changed)
        }
    }
}

fn append_rows(
    conn: &Connection,
    heads: &mut Heads,
    tenant: &TenantId,
    events: &[EventRow],
) -> Result<Vec<Receipt>, StoreError> {
    let (no, mut last) = heads.get(conn, tenant)?;
    // Integrity is all or nothing per append (it is off only in the benchmark's baseline).
    let mut frontier = match events.iter().all(|e| e.leaf.is_some()) {
        true => Some(heads.frontier(conn, tenant)?),
        false => None,
    };
    let mut receipts = Vec::with_capacity(events.len());
    for e in events {
        last += 1;
        insert_event(conn, no, last, e).map_err(backend)?;
        if let (Some(f), Some(leaf)) = (frontier.as_mut(), e.leaf) {
            let mut failed = None;
            f.push(leaf, |id, hash| {
                if failed.is_none() {
                    failed = tree::insert_node(conn, no, id, &hash).err();
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
        }
        let seq = Seq::new(last).map_err(backend)?;
        receipts.push(Receipt { id: e.id, seq, time: e.time });
    }
    heads.0.insert(tenant.clone(), Head { no, last, tree: frontier });
    Ok(receipts)
}

fn append(
    conn: &Connection,
    heads: &mut Heads,
    tenant: &TenantId,
    events: &[EventRow],
    idempotency: Option<&Idempotency>,
) -> Result<AppendOutcome, StoreError> {
    let Some(idem) = idempotency else {
        return append_rows(conn, heads, tenant, events).map(AppendOutcome::Appended);
    };
    let (no, _) = heads.get(conn, tenant)?;
    let earlier: Option<(Vec<u8>, String, i64)> = conn
        .prepare_cached("SELECT fingerprint, receipts, created_at FROM idempotency WHERE tenant_no = ?1 AND key = ?2")
        .and_then(|mut s| s.query_row(params![no, idem.key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
        .map_err(backend)?;
    if let Some((fingerprint, receipts, created_at)) = earlier {
        if idem.now.as_micros() - created_at <= IDEMPOTENCY_WINDOW_MICROS {
            if fingerprint != idem.fingerprint {
                return Err(StoreError::IdempotencyMismatch);
            }
            let receipts: Vec<Receipt> = serde_json::from_str(&receipts).map_err(backend)?;
            return Ok(AppendOutcome::Replayed(receipts));
        }
    }
    let receipts = append_rows(conn, heads, tenant, events)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO idempotency (tenant_no, key, fingerprint, receipts, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            no,
            idem.key,
            &idem.fingerprint[..],
            serde_json::to_string(&receipts).unwrap_or_default(),
            idem.now.as_micros()
        ])
    })
    .map_err(backend)?;
    Ok(AppendOutcome::Appended(receipts))
}

fn create_tenant(conn: &Connection, heads: &mut Heads, t: &NewTenant, audit: &EventRow) -> Result<(), StoreError> {
    let exists: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)", [t.id.as_str()], |r| r.get(0))
        .map_err(backend)?;
    if exists {
        return Err(StoreError::TenantExists(t.id.clone()));
    }
    conn.execute(
        "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![t.id.as_str(), t.name, t.created_at.as_micros()],
    )
    .map_err(backend)?;
    let no = conn.last_insert_rowid();
    crate::tenant_update::claim_name(conn, no, t.id.as_str())?;
    for alias in &t.aliases {
        let taken: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM tenant_aliases WHERE alias = ?1) OR EXISTS (SELECT 1 FROM tenants WHERE id = ?1 AND no <> ?2)",
                params![alias, no],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if taken {
            return Err(StoreError::AliasTaken(alias.clone()));
        }
        crate::tenant_update::claim_name(conn, no, alias)?;
        conn.execute("INSERT INTO tenant_aliases (alias, tenant_no) VALUES (?1, ?2)", params![alias, no])
            .map_err(backend)?;
    }
    heads.0.insert(t.id.clone(), Head { no, last: 0, tree: Some(Frontier::new()) });
    append_rows(conn, heads, &t.id, std::slice::from_ref(audit))?;
    Ok(())
}

fn create_key(conn: &Connection, heads: &mut Heads, k: &NewKey) -> Result<(), StoreError> {
    let (no, _) = heads.get(conn, &k.tenant)?;
    let scopes = serde_json::to_string(&k.scopes).map_err(backend)?;
    conn.execute(
        "INSERT INTO keys (id, tenant_no, name, scopes, view_filter, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![k.id.as_str(), no, k.name, scopes, k.view_filter, &k.secret_hash.0[..], k.created_at.as_micros()],
    )
    .map_err(backend)?;
    Ok(())
}

/// Marks a key revoked; false if it already was.
fn revoke_key(conn: &Connection, no: i64, id: &KeyId) -> Result<bool, StoreError> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM keys WHERE id = ?1 AND tenant_no = ?2)",
            params![id.as_str(), no],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if !exists {
        return Err(StoreError::KeyNotFound(id.clone()));
    }
    let changed = conn
        .execute(
            "UPDATE keys SET revoked_at = ?3 WHERE id = ?1 AND tenant_no = ?2 AND revoked_at IS NULL",
            params![id.as_str(), no, Timestamp::now().as_micros()],
        )
        .map_err(backend)?;
    Ok(changed == 1)
}

fn restart_large_wal(conn: &Connection, limit: u64) {
    let Some(wal) = conn.path().map(|p| format!("{p}-wal")) else { return };
    if std::fs::metadata(&wal).map_or(0, |m| m.len()) <= limit {
        return;
    }
    match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => tracing::debug!("restarted the WAL"),
        Ok(_) => tracing::debug!("WAL restart postponed: readers are still using it"),
        Err(e) => tracing::warn!(error = %e, "WAL restart failed"),
    }
}

fn purge_idempotency(conn: &Connection, now: Timestamp) {
    let cutoff = now.as_micros() - IDEMPOTENCY_WINDOW_MICROS;
    if let Err(e) = conn.execute("DELETE FROM idempotency WHERE created_at < ?1", [cutoff]) {
        tracing::warn!(error = %e, "could not purge expired idempotency keys");
    }
}
