//! Retention: how long a tenant keeps its events, and the legal hold that suspends it.
//!
//! The policy is a versioned record of the tenant (`RecordChange::PutRetention`, audited
//! like every record). Applying it is not a record change but a rewrite of the log:
//! [`crate::Store::expire`] turns events into tombstones exactly as a redaction does — the
//! leaf stays, so every proof, head and export still verifies and shows where events were
//! removed — and appends the run's `stele.retention.applied` event in the same transaction.
//! The server's retention job picks the events ([`RetentionStore::expirable`]).

use async_trait::async_trait;
use stele_core::{EventId, TenantId, Timestamp};

use crate::StoreError;

/// A tenant's retention policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Events older than this many days are expired; `None`: the deployment default.
    pub days: Option<u32>,
    /// A legal hold suspends retention while it is set.
    pub legal_hold: Option<LegalHold>,
    pub version: u64,
    pub updated_at: Timestamp,
}

/// Why retention is suspended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub reason: String,
}

/// Reads for retention. Part of every [`crate::Store`].
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// The tenant's policy, if one was ever set.
    async fn retention(&self, tenant: &TenantId) -> Result<Option<RetentionPolicy>, StoreError>;

    /// Up to `limit` events of the tenant with `time < before` and `seq <= up_to` that are
    /// not tombstones yet, oldest first, as (seq, id).
    async fn expirable(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<(u64, EventId)>, StoreError>;

    /// Gives the space of expired events back where the backend can do more than at the
    /// expiry's commit, and returns what it dropped (names, for the log). PostgreSQL replaces
    /// each past month's partition that holds only tombstones by a compact copy of them and
    /// drops it; SQLite has nothing to do here (its writer returns the free pages to the file
    /// system when the expiry commits). Every read answers the same before and after.
    async fn reclaim(&self, now: Timestamp) -> Result<Vec<String>, StoreError>;
}
