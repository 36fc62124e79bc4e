//! The writer of one process: a single task owns a write connection and applies commands in
//! groups (group commit), like the SQLite writer.
//!
//! Every command waiting when the writer becomes free joins the same transaction, and nobody
//! is answered before the group's COMMIT has returned (`synchronous_commit` stays on: an
//! answer means durable). A group runs first without savepoints, consecutive appends to one
//! tenant inserted as one; if a command fails, the group is rolled back and redone with each
//! command in its own savepoint, so one failing command leaves the others.
//!
//! Across processes, each tenant's appends are serialised by its row in `tenants`: a command
//! reads `head_seq` with `SELECT … FOR UPDATE`, inserts the events after it and moves it on,
//! all in the group's transaction, so another node's writer waits for the commit and then
//! reads the new head. A group first locks all the tenants it touches in `id` order, so two
//! nodes' groups never deadlock on each other. Idempotency keys are checked after the head
//! lock is held, so a key is honoured across nodes too.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stele_core::integrity::Frontier;
use stele_core::tombstone::tombstone;
use stele_core::{Event, EventId, KeyId, NewEvent, Seq, StoredEvent, TenantId, Timestamp};
use stele_store::write::{Group, Queued, Write, Written};
use stele_store::{
    AppendOutcome, GrownLog, Idempotency, KeyRecord, NewKey, NewTenant, Receipt, Redaction, StoreError, Tenant,
    TreeState, IDEMPOTENCY_WINDOW_MICROS,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, Transaction};

use crate::rows::{insert_events, insert_nodes, Inserts, Nodes};
use crate::{backend, read, schema, tree};

/// How often a group is tried again after a deadlock or serialization failure.
const GROUP_ATTEMPTS: usize = 3;

/// How often the writer makes sure next months' partitions exist.
const PARTITION_CHECK: Duration = Duration::from_secs(3600);

/// How often expired idempotency keys are purged.
const IDEMPOTENCY_PURGE: Duration = Duration::from_secs(60);

/// Why a command failed: its own fault (its savepoint is rolled back and the caller told),
/// or the database's (the whole group fails, and may be tried again).
pub(crate) enum Fail {
    Store(StoreError),
    Pg(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// Each tenant's tree right edge as this writer last left it, by tenant number. An entry is
/// used only while its size equals the tenant's locked head (another node may have appended
/// since), and dropped when a write that moved it is rolled back.
type Trees = HashMap<i64, Frontier>;

/// The writer's connection, its prepared inserts and its tree cache.
struct Conn {
    client: Client,
    inserts: Inserts,
    trees: Trees,
}

async fn connect(config: &Config, tls: &crate::tls::Tls) -> Result<Conn, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls.clone()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL writer connection ended");
        }
    });
    let inserts = Inserts::prepare(&client).await?;
    Ok(Conn { client, inserts, trees: Trees::new() })
}

/// Runs until every sender is gone, then returns after finishing what was queued.
pub(crate) async fn run(config: Config, tls: crate::tls::Tls, rx: flume::Receiver<Queued>, grown: Arc<GrownLog>) {
    let mut conn: Option<Conn> = None;
    let mut last_partition_check = Instant::now();
    let mut last_purge = Instant::now();
    while let Some(group) = Group::next(&rx).await {
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            match connect(&config, &tls).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "cannot connect the PostgreSQL writer");
                    group.fail(&StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        apply_group(c, group, &grown).await;
        if last_partition_check.elapsed() >= PARTITION_CHECK {
            last_partition_check = Instant::now();
            if let Err(e) = schema::ensure_partitions(&mut c.client, time::OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %e, "could not check events partitions");
            }
        }
        if last_purge.elapsed() >= IDEMPOTENCY_PURGE {
            last_purge = Instant::now();
            purge_idempotency(&c.client, Timestamp::now()).await;
        }
    }
    tracing::debug!("PostgreSQL writer stopped");
}

/// Whether a failed group may simply be tried again (nothing of it was committed).
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

async fn apply_group(conn: &mut Conn, group: Group, grown: &GrownLog) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_group(conn, &group).await {
            Ok((results, locked)) => {
                for (no, tenant) in locked {
                    if let Some(f) = conn.trees.get(&no) {
                        grown.record(tenant, TreeState { size: f.size(), root: f.root() });
                    }
                }
                group.answer(results, Ok(()));
                return;
            }
            Err(GroupError::BeforeCommit(e)) if retryable(&e) && attempt < GROUP_ATTEMPTS => {
                conn.trees.clear();
                tracing::warn!(error = %e, attempt, "group transaction failed, trying again");
            }
            Err(GroupError::BeforeCommit(e)) | Err(GroupError::Commit(e)) => {
                conn.trees.clear();
                tracing::error!(error = %e, "group commit failed");
                let failure = match backend(e) {
                    StoreError::StorageFull(m) => StoreError::StorageFull(format!("commit failed: {m}")),
                    other => StoreError::Backend(format!("commit failed: {other}")),
                };
                group.fail(&failure);
                return;
            }
        }
    }
}

enum GroupError {
    /// Failed before COMMIT was sent: nothing was stored.
    BeforeCommit(tokio_postgres::Error),
    /// COMMIT itself failed (its outcome may be unknown): never tried again.
    Commit(tokio_postgres::Error),
}

/// A group's results, and the tenants it locked (number, id).
type GroupDone = (Vec<Result<Written, StoreError>>, Vec<(i64, TenantId)>);

/// A group first runs without savepoints, each run of plain appends to one tenant as one
/// insert; if one of its writes fails, the transaction is rolled back and the group redone
/// with each write in its own savepoint (as the SQLite writer does).
async fn try_group(conn: &mut Conn, group: &Group) -> Result<GroupDone, GroupError> {
    if let Some(done) = all_at_once(conn, group).await? {
        return Ok(done);
    }
    conn.trees.clear();
    one_by_one(conn, group).await
}

/// Locks every existing tenant of the group in one order, so groups of different nodes
/// wait for each other instead of deadlocking.
async fn lock_tenants(
    tx: &Transaction<'_>,
    inserts: &Inserts,
    group: &Group,
) -> Result<Vec<(i64, TenantId)>, tokio_postgres::Error> {
    let mut ids: Vec<&str> = group.writes().map(|w| w.tenant().as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(tx
        .query(&inserts.lock_group, &[&ids])
        .await?
        .iter()
        .filter_map(|r| Some((r.get::<_, i64>(0), TenantId::parse(r.get::<_, &str>(1)).ok()?)))
        .collect())
}

/// The fast way: no savepoint per write (each costs two round trips), and consecutive
/// appends to one tenant without idempotency keys (concurrent single-event requests) as one
/// insert, one tree update and one head move — a handful of round trips per group instead
/// of seven per request. `None` when a write failed: the transaction is rolled back and the
/// caller redoes the group write by write.
async fn all_at_once(conn: &mut Conn, group: &Group) -> Result<Option<GroupDone>, GroupError> {
    let Conn { client, inserts, trees } = conn;
    let tx = client.transaction().await.map_err(GroupError::BeforeCommit)?;
    let locked = lock_tenants(&tx, inserts, group).await.map_err(GroupError::BeforeCommit)?;
    let writes: Vec<&Write> = group.writes().collect();
    let mut results = Vec::with_capacity(writes.len());
    let mut start = 0;
    while start < writes.len() {
        let end = plain_append_run(&writes, start);
        let done = match &writes[start..end] {
            [one] => apply_one(&tx, inserts, trees, one).await.map(|w| vec![w]),
            run => append_run(&tx, &mut W { inserts, trees }, run).await,
        };
        match done {
            Ok(written) => results.extend(written.into_iter().map(Ok)),
            Err(Fail::Pg(e)) if retryable(&e) || e.is_closed() => return Err(GroupError::BeforeCommit(e)),
            Err(e) => {
                if let Fail::Pg(e) = &e {
                    tracing::debug!(error = %e, "a write failed; the group is redone write by write");
                }
                tx.rollback().await.map_err(GroupError::BeforeCommit)?;
                return Ok(None);
            }
        }
        start = end;
    }
    tx.commit().await.map_err(GroupError::Commit)?;
    Ok(Some((results, locked)))
}

/// The end of the run of plain appends (one tenant, no idempotency key) starting at `start`;
/// `start + 1` when that write is not one.
fn plain_append_run(writes: &[&Write], start: usize) -> usize {
    fn plain(w: &Write) -> Option<&TenantId> {
        match w {
            Write::Append { tenant, idempotency: None, .. } => Some(tenant),
            _ => None,
        }
    }
    let Some(tenant) = plain(writes[start]) else { return start + 1 };
    let more = writes[start + 1..].iter().take_while(|w| plain(w) == Some(tenant)).count();
    start + 1 + more
}

/// Appends a run of plain appends to one tenant as one, and gives each its receipts.
async fn append_run(tx: &Transaction<'_>, w: &mut W<'_>, run: &[&Write]) -> Result<Vec<Written>, Fail> {
    let batches: Vec<&[NewEvent]> = run
        .iter()
        .filter_map(|write| match write {
            Write::Append { events, .. } => Some(events.as_slice()),
            _ => None,
        })
        .collect();
    let tenant = run.first().map(|write| write.tenant()).ok_or_else(|| StoreError::Backend("an empty run".into()))?;
    let (no, head) = lock_head(tx, w.inserts, tenant).await?;
    let events: Vec<&NewEvent> = batches.iter().flat_map(|b| b.iter()).collect();
    let mut receipts = append_rows(tx, w, no, head, &events).await?.into_iter();
    Ok(batches
        .iter()
        .map(|b| Written::Appended(AppendOutcome::Appended(receipts.by_ref().take(b.len()).collect())))
        .collect())
}

/// The careful way: each write in its own savepoint, so one failing write leaves the others.
async fn one_by_one(conn: &mut Conn, group: &Group) -> Result<GroupDone, GroupError> {
    let Conn { client, inserts, trees } = conn;
    let mut tx = client.transaction().await.map_err(GroupError::BeforeCommit)?;
    let locked = lock_tenants(&tx, inserts, group).await.map_err(GroupError::BeforeCommit)?;
    let mut results = Vec::with_capacity(group.len());
    for write in group.writes() {
        let sp = tx.savepoint("cmd").await.map_err(GroupError::BeforeCommit)?;
        // The command's tree entry, to put back if the command is rolled back.
        let no = locked.iter().find(|(_, t)| t == write.tenant()).map(|(n, _)| *n);
        let before = no.and_then(|n| trees.get(&n).cloned());
        let restore = |trees: &mut Trees| match (no, before.clone()) {
            (Some(n), Some(f)) => drop(trees.insert(n, f)),
            (Some(n), None) => drop(trees.remove(&n)),
            (None, _) => {}
        };
        match apply_one(&sp, inserts, trees, write).await {
            Ok(outcome) => {
                sp.commit().await.map_err(GroupError::BeforeCommit)?;
                results.push(Ok(outcome));
            }
            Err(Fail::Store(e)) => {
                restore(trees);
                sp.rollback().await.map_err(GroupError::BeforeCommit)?;
                results.push(Err(e));
            }
            Err(Fail::Pg(e)) if retryable(&e) || e.is_closed() => return Err(GroupError::BeforeCommit(e)),
            Err(Fail::Pg(e)) => {
                restore(trees);
                sp.rollback().await.map_err(GroupError::BeforeCommit)?;
                let e = backend(e);
                tracing::warn!(error = %e, "write command failed");
                results.push(Err(e));
            }
        }
    }
    tx.commit().await.map_err(GroupError::Commit)?;
    Ok((results, locked))
}

async fn apply_one(tx: &Transaction<'_>, inserts: &Inserts, trees: &mut Trees, write: &Write) -> Result<Written, Fail> {
    let w = &mut W { inserts, trees };
    match write {
        Write::Append { tenant, events, idempotency } => {
            Ok(Written::Appended(append(tx, w, tenant, events, idempotency.as_ref()).await?))
        }
        Write::CreateTenant { tenant, audit } => {
            create_tenant(tx, w, tenant, audit).await?;
            Ok(Written::Tenant(Tenant {
                id: tenant.id.clone(),
                name: tenant.name.clone(),
                aliases: tenant.aliases.clone(),
                created_at: tenant.created_at,
            }))
        }
        Write::CreateKey { key, audit } => {
            let (no, head) = lock_head(tx, w.inserts, &key.tenant).await?;
            create_key(tx, no, key).await?;
            append_rows(tx, w, no, head, std::slice::from_ref(audit)).await?;
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
        Write::RevokeKey { tenant, id, audit } => {
            let (no, head) = lock_head(tx, w.inserts, tenant).await?;
            // Revoking twice changes nothing and records nothing the second time.
            if revoke_key(tx, no, id).await? {
                append_rows(tx, w, no, head, std::slice::from_ref(audit)).await?;
            }
            Ok(Written::Key(read::key_by_id(tx, id).await?.ok_or_else(|| StoreError::KeyNotFound(id.clone()))?))
        }
        Write::Redact { tenant, id, redaction, audit } => {
            let (no, head) = lock_head(tx, w.inserts, tenant).await?;
            let tombstone = redact(tx, no, id, redaction).await?;
            append_rows(tx, w, no, head, std::slice::from_ref(audit)).await?;
            Ok(Written::Event(tombstone))
        }
        Write::Expire { tenant, ids, redaction, audit } => {
            let (no, head) = lock_head(tx, w.inserts, tenant).await?;
            let mut last = None;
            for id in ids {
                last = Some(redact(tx, no, id, redaction).await?);
            }
            append_rows(tx, w, no, head, std::slice::from_ref(audit)).await?;
            Ok(Written::Event(last.ok_or_else(|| StoreError::Backend("an expiry of no events".into()))?))
        }
        Write::UpdateTenant { tenant, update, audit } => {
            let (no, head) = lock_head(tx, w.inserts, tenant).await?;
            crate::tenant_update::apply(tx, no, update).await?;
            append_rows(tx, w, no, head, std::slice::from_ref(audit)).await?;
            Ok(Written::Tenant(
                read::get_tenant(tx, tenant).await?.ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))?,
            ))
        }
        Write::PutHead { head } => {
            let no = read::tenant_no(tx, &head.head.tenant).await?;
            Ok(Written::Kept(tree::put_head(tx, no, head).await?))
        }
        Write::Record { tenant, change, audit } => {
            let (no, head) = lock_head(tx, w.inserts, tenant).await?;
            crate::directory::apply(tx, no, tenant, change).await?;
            append_rows(tx, w, no, head, audit).await?;
            Ok(Written::Changed)
        }
    }
}

/// What a command writes with: the prepared inserts and the tree cache.
struct W<'a> {
    inserts: &'a Inserts,
    trees: &'a mut Trees,
}

/// The tenant's row number and head, with its row locked until the transaction ends.
async fn lock_head(tx: &Transaction<'_>, inserts: &Inserts, tenant: &TenantId) -> Result<(i64, i64), Fail> {
    let row = tx.query_opt(&inserts.lock_head, &[&tenant.as_str()]).await?;
    let row = row.ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))?;
    Ok((row.get(0), row.get(1)))
}

/// Appends events after the locked head and moves the head on. The event rows, the tree
/// nodes and the head move are sent together (tokio-postgres pipelines queries polled at
/// once): one round trip's wait instead of four.
async fn append_rows<E: Borrow<NewEvent>>(
    tx: &Transaction<'_>,
    w: &mut W<'_>,
    no: i64,
    head: i64,
    events: &[E],
) -> Result<Vec<Receipt>, Fail> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // Integrity is all or nothing per append (it is off only in the benchmark's baseline).
    let mut nodes = Nodes::default();
    if events.iter().all(|e| e.borrow().leaf.is_some()) {
        let mut f = match w.trees.remove(&no) {
            Some(f) if f.size() == head as u64 => f,
            _ => tree::load_frontier(tx, no, head as u64).await?,
        };
        for leaf in events.iter().filter_map(|e| e.borrow().leaf) {
            nodes.push(0, f.size(), &leaf);
            f.push(leaf, |id, hash| nodes.push(id.level, id.index, &hash));
        }
        w.trees.insert(no, f);
    } else {
        w.trees.remove(&no);
    }
    let last = head + events.len() as i64;
    let head_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&no, &last];
    // All awaited, then the first failure in statement order: once one statement fails,
    // the ones sent after it fail as "transaction aborted", and `try_join!` (which polls in
    // a rotating order) could report that instead of the cause (a full disk is a 503).
    let (rows, nodes, moved) = tokio::join!(
        insert_events(tx, w.inserts, no, head + 1, events),
        insert_nodes(tx, w.inserts, no, &nodes),
        tx.execute(&w.inserts.move_head, &head_params),
    );
    rows?;
    nodes?;
    moved?;
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let seq = Seq::new((head + 1 + i as i64) as u64).map_err(backend)?;
            Ok(Receipt { id: e.borrow().event.id, seq, time: e.borrow().event.time })
        })
        .collect()
}

async fn append(
    tx: &Transaction<'_>,
    w: &mut W<'_>,
    tenant: &TenantId,
    events: &[NewEvent],
    idempotency: Option<&Idempotency>,
) -> Result<AppendOutcome, Fail> {
    let (no, head) = lock_head(tx, w.inserts, tenant).await?;
    let Some(idem) = idempotency else {
        return Ok(AppendOutcome::Appended(append_rows(tx, w, no, head, events).await?));
    };
    let earlier = tx
        .query_opt(
            "SELECT fingerprint, receipts, created_at FROM idempotency WHERE tenant_no = $1 AND key = $2",
            &[&no, &idem.key],
        )
        .await?;
    if let Some(row) = earlier {
        let (fingerprint, receipts, created_at): (Vec<u8>, String, i64) = (row.get(0), row.get(1), row.get(2));
        if idem.now.as_micros() - created_at <= IDEMPOTENCY_WINDOW_MICROS {
            if fingerprint != idem.fingerprint {
                return Err(StoreError::IdempotencyMismatch.into());
            }
            let receipts: Vec<Receipt> = serde_json::from_str(&receipts).map_err(backend)?;
            return Ok(AppendOutcome::Replayed(receipts));
        }
    }
    let receipts = append_rows(tx, w, no, head, events).await?;
    let text = serde_json::to_string(&receipts).map_err(backend)?;
    tx.execute(
        "INSERT INTO idempotency (tenant_no, key, fingerprint, receipts, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_no, key) DO UPDATE
         SET fingerprint = EXCLUDED.fingerprint, receipts = EXCLUDED.receipts, created_at = EXCLUDED.created_at",
        &[&no, &idem.key, &&idem.fingerprint[..], &text, &idem.now.as_micros()],
    )
    .await?;
    Ok(AppendOutcome::Appended(receipts))
}

async fn create_tenant(tx: &Transaction<'_>, w: &mut W<'_>, t: &NewTenant, audit: &NewEvent) -> Result<(), Fail> {
    // Another node creating the same id at once makes this wait for its commit, then do nothing.
    let row = tx
        .query_opt(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING no",
            &[&t.id.as_str(), &t.name, &t.created_at.as_micros()],
        )
        .await?;
    let no: i64 = row.ok_or_else(|| StoreError::TenantExists(t.id.clone()))?.get(0);
    crate::tenant_update::claim_name(tx, no, t.id.as_str()).await?;
    for alias in &t.aliases {
        let taken: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM tenant_aliases WHERE alias = $1)
                     OR EXISTS (SELECT 1 FROM tenants WHERE id = $1 AND no <> $2)",
                &[alias, &no],
            )
            .await?
            .get(0);
        if taken {
            return Err(StoreError::AliasTaken(alias.clone()).into());
        }
        let inserted = tx
            .execute(
                "INSERT INTO tenant_aliases (alias, tenant_no) VALUES ($1, $2) ON CONFLICT (alias) DO NOTHING",
                &[alias, &no],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::AliasTaken(alias.clone()).into());
        }
        crate::tenant_update::claim_name(tx, no, alias).await?;
    }
    append_rows(tx, w, no, 0, std::slice::from_ref(audit)).await?;
    Ok(())
}

async fn create_key(tx: &Transaction<'_>, no: i64, k: &NewKey) -> Result<(), Fail> {
    let scopes = serde_json::to_string(&k.scopes).map_err(backend)?;
    tx.execute(
        "INSERT INTO keys (id, tenant_no, name, scopes, view_filter, secret_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&k.id.as_str(), &no, &k.name, &scopes, &k.view_filter, &&k.secret_hash.0[..], &k.created_at.as_micros()],
    )
    .await?;
    Ok(())
}

/// Marks a key revoked; false if it already was.
async fn revoke_key(tx: &Transaction<'_>, no: i64, id: &KeyId) -> Result<bool, Fail> {
    let exists: bool = tx
        .query_one("SELECT EXISTS (SELECT 1 FROM keys WHERE id = $1 AND tenant_no = $2)", &[&id.as_str(), &no])
        .await?
        .get(0);
    if !exists {
        return Err(StoreError::KeyNotFound(id.clone()).into());
    }
    let changed = tx
        .execute(
            "UPDATE keys SET revoked_at = $3 WHERE id = $1 AND tenant_no = $2 AND revoked_at IS NULL",
            &[&id.as_str(), &no, &Timestamp::now().as_micros()],
        )
        .await?;
    Ok(changed == 1)
}

/// Replaces an event by its tombstone (see the SQLite backend's `redact`), with its postings
/// if the indexer has made them. The tenant's index lock keeps the indexer from copying the
/// row's terms while this runs (`index.rs`).
async fn redact(tx: &Transaction<'_>, no: i64, id: &EventId, r: &Redaction) -> Result<StoredEvent, Fail> {
    crate::index::lock_tenant(tx, no).await?;
    let row = tx
        .query_opt("SELECT seq, time, json FROM events WHERE tenant_no = $1 AND id = $2", &[&no, &id.to_string()])
        .await?
        .ok_or(StoreError::EventNotFound(*id))?;
    let (seq, time, json): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
    let value: serde_json::Value = serde_json::from_str(&json).map_err(backend)?;
    if value.get("redacted").is_some() {
        return Err(StoreError::AlreadyRedacted(*id).into());
    }
    let event: Event = serde_json::from_value(value).map_err(backend)?;
    let leaf = tree::leaf(tx, no, seq as u64).await?;
    let stone = tombstone(&event, &leaf, &r.reason, &r.by, r.at);
    tx.execute(
        "UPDATE events SET json = $4, origin = NULL, actor_type = NULL, actor_id = NULL, actor_name = NULL,
            actor_email = NULL, actor_ip = NULL, message = NULL, reason = NULL, correlation_id = NULL,
            request_id = NULL, request_method = NULL, request_path = NULL, request_status = NULL,
            metadata = NULL, search = '', terms = '{}', redacted = true
         WHERE tenant_no = $1 AND seq = $2 AND time = $3",
        &[&no, &seq, &time, &stone],
    )
    .await?;
    let terms: Vec<String> = stele_store::derived::terms(&event).into_iter().collect();
    tx.execute("DELETE FROM event_terms WHERE tenant_no = $1 AND seq = $2 AND term = ANY($3)", &[&no, &seq, &terms])
        .await?;
    tx.execute("DELETE FROM event_docs WHERE tenant_no = $1 AND seq = $2", &[&no, &seq]).await?;
    tx.execute("DELETE FROM event_messages WHERE tenant_no = $1 AND seq = $2", &[&no, &seq]).await?;
    Ok(StoredEvent { seq: Seq::new(seq as u64).map_err(backend)?, json: stone })
}

async fn purge_idempotency(client: &Client, now: Timestamp) {
    let cutoff = now.as_micros() - IDEMPOTENCY_WINDOW_MICROS;
    if let Err(e) = client.execute("DELETE FROM idempotency WHERE created_at < $1", &[&cutoff]).await {
        tracing::warn!(error = %e, "could not purge expired idempotency keys");
    }
}
