//! The single writer: one thread owns the write connection and applies commands in groups.
//!
//! Every command that is waiting when the writer becomes free joins the same transaction
//! (group commit); each runs inside its own savepoint, so one failing command leaves the
//! others intact, and nobody is answered until the group's COMMIT (fsync'd) has returned.
//! Because there is one writer, each tenant's `seq` is assigned without gaps or races.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Savepoint, TransactionBehavior};
use stele_core::{KeyId, NewEvent, Seq, TenantId, Timestamp};
use stele_store::{
    AppendOutcome, Idempotency, KeyRecord, NewKey, NewTenant, Receipt, StoreError, Tenant, TenantUpdate,
    IDEMPOTENCY_WINDOW_MICROS,
};
use tokio::sync::oneshot;

use crate::rows::insert_event;
use crate::{backend, read};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Largest number of events one group transaction takes on.
const MAX_GROUP_EVENTS: usize = 20_000;

pub(crate) enum Command {
    Append { tenant: TenantId, events: Vec<NewEvent>, idempotency: Option<Idempotency>, reply: Reply<AppendOutcome> },
    CreateTenant { tenant: NewTenant, audit: NewEvent, reply: Reply<Tenant> },
    CreateKey { key: NewKey, audit: NewEvent, reply: Reply<KeyRecord> },
    RevokeKey { tenant: TenantId, id: KeyId, audit: NewEvent, reply: Reply<KeyRecord> },
    UpdateTenant { tenant: TenantId, update: TenantUpdate, audit: NewEvent, reply: Reply<Tenant> },
}

impl Command {
    fn weight(&self) -> usize {
        match self {
            Command::Append { events, .. } => events.len(),
            _ => 1,
        }
    }
}

/// A command's result, held until its group has committed.
enum Done {
    Append(Reply<AppendOutcome>, Result<AppendOutcome, StoreError>),
    Tenant(Reply<Tenant>, Result<Tenant, StoreError>),
    Key(Reply<KeyRecord>, Result<KeyRecord, StoreError>),
}

impl Done {
    /// Answers the caller; if the group's commit failed, every result becomes that failure.
    fn send(self, commit_error: Option<&str>) {
        let fail = |r: &str| StoreError::Backend(format!("commit failed: {r}"));
        // A caller that went away no longer needs its answer; the write stands.
        match (self, commit_error) {
            (Done::Append(tx, r), None) => drop(tx.send(r)),
            (Done::Append(tx, _), Some(e)) => drop(tx.send(Err(fail(e)))),
            (Done::Tenant(tx, r), None) => drop(tx.send(r)),
            (Done::Tenant(tx, _), Some(e)) => drop(tx.send(Err(fail(e)))),
            (Done::Key(tx, r), None) => drop(tx.send(r)),
            (Done::Key(tx, _), Some(e)) => drop(tx.send(Err(fail(e)))),
        }
    }
}

/// Each known tenant's row number and the last `seq` of its log.
#[derive(Default)]
struct Heads(HashMap<TenantId, (i64, u64)>);

impl Heads {
    fn get(&mut self, conn: &Connection, tenant: &TenantId) -> Result<(i64, u64), StoreError> {
        if let Some(h) = self.0.get(tenant) {
            return Ok(*h);
        }
        let no: i64 = conn
            .query_row("SELECT no FROM tenants WHERE id = ?1", [tenant.as_str()], |r| r.get(0))
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))?;
        let last: i64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events WHERE tenant_no = ?1", [no], |r| r.get(0))
            .map_err(backend)?;
        let head = (no, last as u64);
        self.0.insert(tenant.clone(), head);
        Ok(head)
    }
}

/// Runs until every sender is gone, then returns after finishing what was queued.
pub(crate) fn run(mut conn: Connection, rx: flume::Receiver<Command>, checkpoint: flume::Sender<()>) {
    let mut heads = Heads::default();
    let mut last_purge = Timestamp::from_micros(0);
    while let Ok(first) = rx.recv() {
        let mut weight = first.weight();
        let mut group = vec![first];
        while weight < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(cmd) => {
                    weight += cmd.weight();
                    group.push(cmd);
                }
                Err(_) => break,
            }
        }
        let requests = group.len();
        apply_group(&mut conn, &mut heads, group);
        // A full channel means a checkpoint is already due.
        let _ = checkpoint.try_send(());
        metrics::histogram!("stele_writer_batch_events").record(weight as f64);
        metrics::histogram!("stele_writer_batch_requests").record(requests as f64);
        let now = Timestamp::now();
        if now.as_micros() - last_purge.as_micros() > 60_000_000 {
            last_purge = now;
            purge_idempotency(&conn, now);
        }
    }
    tracing::debug!("SQLite writer stopped");
}

fn apply_group(conn: &mut Connection, heads: &mut Heads, group: Vec<Command>) {
    let mut done = Vec::with_capacity(group.len());
    let commit_error = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Err(e) => Some(e.to_string()),
        Ok(mut tx) => {
            for cmd in group {
                done.push(apply_one(&mut tx, heads, cmd));
            }
            tx.commit().err().map(|e| e.to_string())
        }
    };
    if let Some(e) = &commit_error {
        // Nothing of the group is stored: forget the heads, they are reloaded from disk.
        tracing::error!(error = %e, "group commit failed");
        heads.0.clear();
    }
    for d in done {
        d.send(commit_error.as_deref());
    }
}

/// Runs one command in its own savepoint; on failure the savepoint and the command's
/// changes to `heads` are rolled back.
fn apply_one(tx: &mut rusqlite::Transaction<'_>, heads: &mut Heads, cmd: Command) -> Done {
    let tenant = match &cmd {
        Command::Append { tenant, .. } | Command::RevokeKey { tenant, .. } | Command::UpdateTenant { tenant, .. } => {
            tenant.clone()
        }
        Command::CreateTenant { tenant, .. } => tenant.id.clone(),
        Command::CreateKey { key, .. } => key.tenant.clone(),
    };
    let snapshot = heads.0.get(&tenant).copied();
    let mut run = |f: &mut dyn FnMut(&Savepoint<'_>, &mut Heads) -> Result<(), StoreError>| -> Result<(), StoreError> {
        let sp = tx.savepoint().map_err(backend)?;
        let result = f(&sp, heads);
        match result {
            Ok(()) => sp.commit().map_err(backend),
            Err(e) => {
                // Dropping the savepoint rolls it back; the tenant's head goes back too.
                drop(sp);
                match snapshot {
                    Some(head) => heads.0.insert(tenant.clone(), head),
                    None => heads.0.remove(&tenant),
                };
                Err(e)
            }
        }
    };
    match cmd {
        Command::Append { tenant, events, idempotency, reply } => {
            let mut outcome = None;
            let r = run(&mut |sp, heads| {
                outcome = Some(append(sp, heads, &tenant, &events, idempotency.as_ref())?);
                Ok(())
            });
            Done::Append(reply, r.and_then(|()| outcome.take().ok_or_else(|| backend("no outcome"))))
        }
        Command::CreateTenant { tenant, audit, reply } => {
            let r = run(&mut |sp, heads| create_tenant(sp, heads, &tenant, &audit));
            let made = Tenant {
                id: tenant.id.clone(),
                name: tenant.name.clone(),
                aliases: tenant.aliases.clone(),
                created_at: tenant.created_at,
            };
            Done::Tenant(reply, r.map(|()| made))
        }
        Command::CreateKey { key, audit, reply } => {
            let r = run(&mut |sp, heads| create_key(sp, heads, &key, &audit));
            let made = KeyRecord {
                id: key.id.clone(),
                tenant: key.tenant.clone(),
                name: key.name.clone(),
                scopes: key.scopes.clone(),
                view_filter: key.view_filter.clone(),
                secret_hash: key.secret_hash,
                created_at: key.created_at,
                revoked_at: None,
            };
            Done::Key(reply, r.map(|()| made))
        }
        Command::RevokeKey { tenant, id, audit, reply } => {
            let mut record = None;
            let r = run(&mut |sp, heads| {
                record = Some(revoke_key(sp, heads, &tenant, &id, &audit)?);
                Ok(())
            });
            Done::Key(reply, r.and_then(|()| record.take().ok_or_else(|| backend("no record"))))
        }
        Command::UpdateTenant { tenant, update, audit, reply } => {
            let mut updated = None;
            let r = run(&mut |sp, heads| {
                updated = Some(update_tenant(sp, heads, &tenant, &update, &audit)?);
                Ok(())
            });
            Done::Tenant(reply, r.and_then(|()| updated.take().ok_or_else(|| backend("no tenant"))))
        }
    }
}

fn append_rows(
    conn: &Connection,
    heads: &mut Heads,
    tenant: &TenantId,
    events: &[NewEvent],
) -> Result<Vec<Receipt>, StoreError> {
    let (no, mut last) = heads.get(conn, tenant)?;
    let mut receipts = Vec::with_capacity(events.len());
    for e in events {
        last += 1;
        insert_event(conn, no, last, e).map_err(backend)?;
        let seq = Seq::new(last).map_err(backend)?;
        receipts.push(Receipt { id: e.event.id, seq, time: e.event.time });
    }
    heads.0.insert(tenant.clone(), (no, last));
    Ok(receipts)
}

fn append(
    conn: &Connection,
    heads: &mut Heads,
    tenant: &TenantId,
    events: &[NewEvent],
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

fn create_tenant(conn: &Connection, heads: &mut Heads, t: &NewTenant, audit: &NewEvent) -> Result<(), StoreError> {
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
        conn.execute("INSERT INTO tenant_aliases (alias, tenant_no) VALUES (?1, ?2)", params![alias, no])
            .map_err(backend)?;
    }
    heads.0.insert(t.id.clone(), (no, 0));
    append_rows(conn, heads, &t.id, std::slice::from_ref(audit))?;
    Ok(())
}

fn create_key(conn: &Connection, heads: &mut Heads, k: &NewKey, audit: &NewEvent) -> Result<(), StoreError> {
    let (no, _) = heads.get(conn, &k.tenant)?;
    let scopes = serde_json::to_string(&k.scopes).map_err(backend)?;
    conn.execute(
        "INSERT INTO keys (id, tenant_no, name, scopes, view_filter, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![k.id.as_str(), no, k.name, scopes, k.view_filter, &k.secret_hash.0[..], k.created_at.as_micros()],
    )
    .map_err(backend)?;
    append_rows(conn, heads, &k.tenant, std::slice::from_ref(audit))?;
    Ok(())
}

fn revoke_key(
    conn: &Connection,
    heads: &mut Heads,
    tenant: &TenantId,
    id: &KeyId,
    audit: &NewEvent,
) -> Result<KeyRecord, StoreError> {
    let (no, _) = heads.get(conn, tenant)?;
    let now = Timestamp::now().as_micros();
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
    // Revoking twice changes nothing and records nothing the second time.
    let changed = conn
        .execute(
            "UPDATE keys SET revoked_at = ?3 WHERE id = ?1 AND tenant_no = ?2 AND revoked_at IS NULL",
            params![id.as_str(), no, now],
        )
        .map_err(backend)?;
    if changed == 1 {
        append_rows(conn, heads, tenant, std::slice::from_ref(audit))?;
    }
    read::key_by_id(conn, id)?.ok_or_else(|| StoreError::KeyNotFound(id.clone()))
}

fn update_tenant(
    conn: &Connection,
    heads: &mut Heads,
    tenant: &TenantId,
    update: &TenantUpdate,
    audit: &NewEvent,
) -> Result<Tenant, StoreError> {
    let (no, _) = heads.get(conn, tenant)?;
    crate::tenant_update::apply(conn, no, update)?;
    append_rows(conn, heads, tenant, std::slice::from_ref(audit))?;
    read::get_tenant(conn, tenant)?.ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))
}

fn purge_idempotency(conn: &Connection, now: Timestamp) {
    let cutoff = now.as_micros() - IDEMPOTENCY_WINDOW_MICROS;
    if let Err(e) = conn.execute("DELETE FROM idempotency WHERE created_at < ?1", [cutoff]) {
        tracing::warn!(error = %e, "could not purge expired idempotency keys");
    }
}
