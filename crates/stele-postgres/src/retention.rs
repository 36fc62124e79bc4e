//! Retention rows on PostgreSQL, mirroring the SQLite backend's `retention.rs`: the tenant's
//! policy (`RecordChange::PutRetention`) and the reads of [`stele_store::RetentionStore`].

use stele_core::{EventId, Timestamp};
use stele_store::retention::{LegalHold, RetentionPolicy};
use stele_store::StoreError;
use tokio_postgres::{GenericClient, Transaction};

use crate::backend;
use crate::writer::Fail;

pub(crate) async fn put(tx: &Transaction<'_>, no: i64, p: &RetentionPolicy, previous: Option<u64>) -> Result<(), Fail> {
    let stored = tx
        .query_opt("SELECT version FROM retention WHERE tenant_no = $1", &[&no])
        .await?
        .map(|r| r.get::<_, i64>(0) as u64);
    crate::directory::check_version(stored, previous, "retention policy", "")?;
    let days = p.days.map(|d| d as i32);
    tx.execute(
        "INSERT INTO retention (tenant_no, days, legal_hold, hold_reason, version, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_no) DO UPDATE SET days = EXCLUDED.days, legal_hold = EXCLUDED.legal_hold,
             hold_reason = EXCLUDED.hold_reason, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
        &[
            &no,
            &days,
            &p.legal_hold.is_some(),
            &p.legal_hold.as_ref().map(|h| h.reason.as_str()),
            &(p.version as i64),
            &p.updated_at.as_micros(),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn policy(client: &impl GenericClient, no: i64) -> Result<Option<RetentionPolicy>, StoreError> {
    let row = client
        .query_opt(
            "SELECT days, legal_hold, hold_reason, version, updated_at FROM retention WHERE tenant_no = $1",
            &[&no],
        )
        .await
        .map_err(backend)?;
    Ok(row.map(|r| {
        let held: bool = r.get(1);
        let reason: Option<String> = r.get(2);
        RetentionPolicy {
            days: r.get::<_, Option<i32>>(0).map(|d| d as u32),
            legal_hold: held.then(|| LegalHold { reason: reason.unwrap_or_default() }),
            version: r.get::<_, i64>(3) as u64,
            updated_at: Timestamp::from_micros(r.get(4)),
        }
    }))
}

/// Live (not redacted) events older than `before` with `seq <= up_to`, oldest first.
pub(crate) async fn expirable(
    client: &impl GenericClient,
    no: i64,
    before: Timestamp,
    up_to: u64,
    limit: usize,
) -> Result<Vec<(u64, EventId)>, StoreError> {
    let rows = client
        .query(
            "SELECT seq, id FROM events WHERE tenant_no = $1 AND time < $2 AND seq <= $3 AND NOT redacted
             ORDER BY time, seq LIMIT $4",
            &[&no, &before.as_micros(), &(up_to.min(i64::MAX as u64) as i64), &(limit as i64)],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(|r| Ok((r.get::<_, i64>(0) as u64, EventId::parse(r.get(1)).map_err(backend)?))).collect()
}
