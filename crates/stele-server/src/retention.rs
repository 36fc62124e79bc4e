//! Retention: a background job that turns each tenant's events older than its retention
//! period into tombstones, unless a legal hold suspends it.
//!
//! A run (every `[retention] interval_seconds`, or `POST /v1/tenants/{tenant}/retention/run`)
//! takes, per tenant, the policy's days (else the deployment's `default_days`; neither: keep
//! forever), skips a tenant under legal hold, and expires up to `max_events_per_run` live
//! events older than `now − days`, oldest first, through `Store::expire`: tombstones that
//! keep their leaf (every proof, head and export still verifies and shows where events were
//! removed), their index entries purged, and one `stele.retention.applied` event (first and
//! last seq, count, cut-off) in the same transaction. A tenant with more waiting gets another
//! run at once.
//!
//! **Streams come first.** Retention never expires an event a stream of the tenant has not
//! delivered yet (seq above the lowest cursor, paused streams included): an audit log must
//! not lose an event on its way to the SIEM. Such events wait, and both the retention status
//! (`waiting_for_streams`) and the stream's status (`holds_retention`) say so.
//!
//! After each periodic run over all tenants the job asks the store to reclaim space
//! ([`stele_store::RetentionStore::reclaim`]): on PostgreSQL, a past month whose every event
//! is a tombstone has its partition replaced by a compact copy of the tombstones and dropped.
//!
//! `now` is a parameter of every function here: the job passes the clock, tests pass the
//! instant they want.

use std::time::Duration;

use serde_json::{json, Map};
use stele_core::{Actor, Origin, Status, Target, TenantId, Timestamp};
use stele_store::{Redaction, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::{event_with, What};
use crate::state::AppState;

const DAY_MICROS: i64 = 86_400_000_000;

/// The retention period that applies to a tenant, and why retention is not running.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub days: Option<u32>,
    pub legal_hold: Option<String>,
}

impl Effective {
    /// What is in force under `policy` (else the deployment's `default_days`).
    pub fn of(policy: Option<&stele_store::retention::RetentionPolicy>, default_days: Option<u32>) -> Self {
        Effective {
            days: policy.and_then(|p| p.days).or(default_days),
            legal_hold: policy.and_then(|p| p.legal_hold.as_ref()).map(|h| h.reason.clone()),
        }
    }

    /// The cut-off at `now` while retention runs (a period and no hold).
    pub fn cutoff(&self, now: Timestamp) -> Option<Timestamp> {
        match (self.days, &self.legal_hold) {
            (Some(days), None) => Some(cutoff(now, days)),
            _ => None,
        }
    }
}

/// The period and hold in force for `tenant` (its policy, else the deployment default).
pub async fn effective(
    store: &dyn Store,
    default_days: Option<u32>,
    tenant: &TenantId,
) -> Result<Effective, StoreError> {
    Ok(Effective::of(store.retention(tenant).await?.as_ref(), default_days))
}

/// The cut-off: events before it are past the period.
pub fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    Timestamp::from_micros(now.as_micros().saturating_sub(i64::from(days).saturating_mul(DAY_MICROS)))
}

/// The highest seq retention may expire: the lowest cursor of the tenant's streams.
pub async fn stream_floor(store: &dyn Store, tenant: &TenantId) -> Result<u64, StoreError> {
    let streams = store.streams(tenant).await?;
    Ok(streams.iter().map(|s| s.progress.cursor).min().unwrap_or(u64::MAX))
}

/// Most events [`due_ceiling`] looks at (the oldest past the period).
const DUE_SAMPLE: usize = 10_000;

/// The highest seq among (up to 10 000 of the oldest) live events past the cut-off under
/// `policy` at `now`; `None` while nothing is due or retention does not run. A stream whose
/// cursor is below it holds retention back. Read once per answer, whatever the number of
/// streams it describes.
pub async fn due_ceiling(
    store: &dyn Store,
    tenant: &TenantId,
    policy: &Effective,
    now: Timestamp,
) -> Result<Option<u64>, StoreError> {
    let Some(before) = policy.cutoff(now) else { return Ok(None) };
    Ok(store.expirable(tenant, before, u64::MAX, DUE_SAMPLE).await?.into_iter().map(|(seq, _)| seq).max())
}

/// What one run did for one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub expired: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The tenant is under legal hold (nothing was expired).
    pub held: bool,
    /// Events past the period wait for streams to deliver them.
    pub waiting_for_streams: bool,
    /// More events past the period remain (the run hit its limit).
    pub more: bool,
}

/// One run for one tenant at `now`.
pub async fn apply(state: &AppState, tenant: &TenantId, now: Timestamp) -> Result<Outcome, StoreError> {
    let store = &*state.store;
    let settings = &state.retention;
    let policy = effective(store, settings.default_days, tenant).await?;
    let Some(days) = policy.days else { return Ok(Outcome::default()) };
    if policy.legal_hold.is_some() {
        return Ok(Outcome { held: true, ..Outcome::default() });
    }
    let before = cutoff(now, days);
    let floor = stream_floor(store, tenant).await?;
    let limit = settings.max_events_per_run.max(1);
    let found = store.expirable(tenant, before, floor, limit).await?;
    // Events past the period beyond the streams' floor: only knowable when this run is not
    // cut by its limit (then the next run tells).
    let waiting = floor != u64::MAX
        && found.len() < limit
        && store.expirable(tenant, before, u64::MAX, limit).await?.len() > found.len();
    let cut = found.len();
    let (found, ranges) = within_ranges(found, MAX_RANGES);
    if found.is_empty() {
        return Ok(Outcome { waiting_for_streams: waiting, ..Outcome::default() });
    }
    let first = found.iter().map(|(s, _)| *s).min();
    let last = found.iter().map(|(s, _)| *s).max();
    let count = found.len() as u64;
    let mut metadata = Map::new();
    metadata.insert("retention_days".into(), json!(days));
    metadata.insert("cutoff".into(), json!(before));
    metadata.insert("count".into(), json!(count));
    metadata.insert("first_seq".into(), json!(first));
    metadata.insert("last_seq".into(), json!(last));
    // Exactly which events became tombstones: `stele verify` accounts for each retention
    // tombstone with these ranges, as it does for a redaction with its event.
    metadata.insert("seqs".into(), json!(ranges));
    let actor = Actor {
        kind: Some("system".into()),
        id: Some("stele.retention".into()),
        name: Some("Retention".into()),
        email: None,
        ip: None,
        user_agent: None,
    };
    let target = Target { kind: Some("tenant".into()), id: Some(tenant.to_string()), name: None, email: None };
    let message = format!(
        "Retention removed {count} events older than {days} days (seqs {} to {})",
        first.unwrap_or(0),
        last.unwrap_or(0)
    );
    let what = What { action: "stele.retention.applied", status: Status::Success, target, message, reason: None };
    let audit = event_with(actor, Origin::System, what, Some(metadata));
    let redaction =
        Redaction { reason: format!("retention: older than {days} days"), by: "stele.retention".into(), at: now };
    store.expire(tenant, found.into_iter().map(|(_, id)| id).collect(), redaction, audit).await?;
    crate::metrics::retention_expired(count);
    Ok(Outcome {
        expired: count,
        first_seq: first,
        last_seq: last,
        held: false,
        waiting_for_streams: waiting,
        more: cut == limit || (count as usize) < cut,
    })
}

/// Most seq ranges one `stele.retention.applied` event lists (keeps the event small when
/// expired events are scattered; the rest wait for the next run).
const MAX_RANGES: usize = 1000;

/// The longest prefix of `found` (oldest first) whose seqs form at most `max` ranges, and
/// those ranges as `[first, last]` pairs in seq order.
fn within_ranges(
    found: Vec<(u64, stele_core::EventId)>,
    max: usize,
) -> (Vec<(u64, stele_core::EventId)>, Vec<[u64; 2]>) {
    let mut seqs = std::collections::BTreeSet::new();
    let mut ranges = 0usize;
    let mut keep = 0;
    for (seq, _) in &found {
        let joins = usize::from(*seq > 0 && seqs.contains(&(seq - 1))) + usize::from(seqs.contains(&(seq + 1)));
        let next = ranges + 1 - joins;
        if next > max {
            break;
        }
        ranges = next;
        seqs.insert(*seq);
        keep += 1;
    }
    let mut out: Vec<[u64; 2]> = Vec::new();
    for s in seqs {
        match out.last_mut() {
            Some(r) if r[1] + 1 == s => r[1] = s,
            _ => out.push([s, s]),
        }
    }
    let mut found = found;
    found.truncate(keep);
    (found, out)
}

/// Runs retention for `tenant` until nothing more is due now (or a store error).
pub async fn apply_all(state: &AppState, tenant: &TenantId, now: Timestamp) -> Result<Vec<Outcome>, StoreError> {
    let mut runs = Vec::new();
    loop {
        let outcome = apply(state, tenant, now).await?;
        let more = outcome.more;
        runs.push(outcome);
        if !more {
            return Ok(runs);
        }
    }
}

/// The running job.
pub struct RetentionHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RetentionHandle {
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// Starts the job: a run over every tenant every `interval`.
pub fn spawn(state: AppState, interval: Duration) -> RetentionHandle {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stopped.changed() => return,
            }
            let tenants = match state.store.list_tenants().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "retention: could not list tenants");
                    continue;
                }
            };
            for t in tenants {
                if *stopped.borrow() {
                    return;
                }
                if let Err(e) = apply_all(&state, &t.id, Timestamp::now()).await {
                    tracing::warn!(tenant = %t.id, error = %e, "retention run failed; retried next time");
                }
            }
            // Months whose every event is now a tombstone give their space back (PostgreSQL).
            match state.store.reclaim(Timestamp::now()).await {
                Ok(dropped) if !dropped.is_empty() => tracing::info!(?dropped, "retention: expired partitions dropped"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention: reclaiming space failed; retried next time"),
            }
        }
    });
    RetentionHandle { stop, task }
}

#[cfg(test)]
mod tests {
    use super::within_ranges;
    use stele_core::EventId;

    fn ids(seqs: &[u64]) -> Vec<(u64, EventId)> {
        seqs.iter().map(|s| (*s, EventId::new_v7())).collect()
    }

    #[test]
    fn ranges_join_neighbours_and_bound_the_run() {
        let (kept, ranges) = within_ranges(ids(&[5, 3, 4, 9, 1]), 10);
        assert_eq!(kept.len(), 5);
        assert_eq!(ranges, [[1, 1], [3, 5], [9, 9]]);
        // At most two ranges: 4 joins 3 and 5 into one, 9 is the second, 1 would be a third
        // (a prefix is kept, in the order found).
        let (kept, ranges) = within_ranges(ids(&[5, 3, 4, 9, 1]), 2);
        assert_eq!(kept.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [5, 3, 4, 9]);
        assert_eq!(ranges, [[3, 5], [9, 9]]);
        // At most one: 3 would be a second range before 4 joins them, so the run stops there.
        let (kept, ranges) = within_ranges(ids(&[5, 3, 4, 9, 1]), 1);
        assert_eq!(kept.len(), 1);
        assert_eq!(ranges, [[5, 5]]);
        // A seq that joins two ranges makes one.
        let (_, ranges) = within_ranges(ids(&[1, 3, 2]), 2);
        assert_eq!(ranges, [[1, 3]]);
    }
}
