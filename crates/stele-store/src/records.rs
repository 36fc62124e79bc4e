//! The records a store keeps besides events.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use stele_core::{Cursor, EventId, KeyId, Scope, SecretHash, Seq, StoredEvent, TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: String,
    pub aliases: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub aliases: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub id: KeyId,
    pub tenant: TenantId,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub view_filter: Option<String>,
    pub secret_hash: SecretHash,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub tenant: TenantId,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub view_filter: Option<String>,
    pub secret_hash: SecretHash,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// What an append assigned to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: EventId,
    pub seq: Seq,
    pub time: Timestamp,
}

/// An idempotency key and the fingerprint (SHA-256) of the request body it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: [u8; 32],
    /// Entries older than 24 h before this instant are forgotten.
    pub now: Timestamp,
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_WINDOW_MICROS: i64 = 24 * 3600 * 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events were appended with these receipts.
    Appended(Vec<Receipt>),
    /// The request repeated an earlier one; these are the earlier receipts.
    Replayed(Vec<Receipt>),
}

impl AppendOutcome {
    pub fn receipts(&self) -> &[Receipt] {
        match self {
            AppendOutcome::Appended(r) | AppendOutcome::Replayed(r) => r,
        }
    }
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Why and by whom an event is redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    pub reason: String,
    pub by: String,
    pub at: Timestamp,
}

/// A tenant's Merkle tree at one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeState {
    pub size: u64,
    pub root: stele_core::integrity::Hash,
}

/// A tree that grew: which tenant, and its new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grown {
    pub tenant: TenantId,
    pub tree: TreeState,
}

/// Trees grown by committed appends, waiting for [`crate::Store::grown`] to drain them (the
/// head signer's feed). Only the newest state of each tenant is kept.
#[derive(Debug, Default)]
pub struct GrownLog(std::sync::Mutex<std::collections::HashMap<TenantId, TreeState>>);

impl GrownLog {
    pub fn record(&self, tenant: TenantId, tree: TreeState) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(tenant, tree);
        }
    }

    pub fn drain(&self) -> Vec<Grown> {
        match self.0.lock() {
            Ok(mut map) => map.drain().map(|(tenant, tree)| Grown { tenant, tree }).collect(),
            Err(_) => Vec::new(),
        }
    }
}
