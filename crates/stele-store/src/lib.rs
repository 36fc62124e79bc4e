//! The storage contract. Every backend (embedded SQLite, PostgreSQL) implements [`Store`];
//! the [`conformance`] suite holds the tests every backend must pass. This crate knows the
//! records it stores and nothing of SQL or HTTP.

pub mod conformance;
pub mod delivery;
pub mod derived;
pub mod directory;
mod index_mode;
mod lag_gate;
pub mod layout;
pub mod proofs;
mod records;
pub mod retention;
pub mod sessions;
pub mod stats;
mod tenant_update;
pub mod write;

pub use delivery::DeliveryStore;
pub use directory::DirectoryStore;
pub use index_mode::IndexMode;
pub use lag_gate::{LagGate, DEFAULT_INDEX_LAG_WAIT};
pub use records::{
    AppendOutcome, Grown, GrownLog, Idempotency, KeyRecord, NewKey, NewTenant, Page, Receipt, Redaction, Tenant,
    TreeState, IDEMPOTENCY_WINDOW_MICROS,
};
pub use retention::RetentionStore;
pub use sessions::SessionStore;
pub use stats::StatsStore;
pub use tenant_update::{JwtAlg, TenantJwt, TenantUpdate};

use async_trait::async_trait;
use stele_core::integrity::{Hash, NodeRead, SignedTreeHead};
use stele_core::{EventId, KeyId, NewEvent, Query, StoredEvent, TenantId};

/// Why a store operation failed. Messages are for logs; the server maps kinds to statuses
/// and never shows a `Backend` message to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tenant {0} does not exist")]
    UnknownTenant(TenantId),
    #[error("tenant {0} already exists")]
    TenantExists(TenantId),
    /// Ids and aliases are one namespace: the name (an alias, or a new tenant's id) is
    /// already another tenant's id or alias.
    #[error("{0:?} is already the id or an alias of a tenant")]
    AliasTaken(String),
    #[error("key {0} does not exist")]
    KeyNotFound(KeyId),
    #[error("the idempotency key was used with a different request body")]
    IdempotencyMismatch,
    #[error("event {0} does not exist")]
    EventNotFound(EventId),
    #[error("event {0} is already redacted")]
    AlreadyRedacted(EventId),
    #[error("the Merkle tree cannot be read: {0}")]
    Tree(String),
    #[error("the store is shutting down")]
    Closed,
    /// A read ran past its deadline (the `query_timeout` of the backend), or its caller went
    /// away and it was stopped. The server answers 503 `query-timeout`.
    #[error("the read ran past its deadline or its caller went away")]
    QueryTimeout,
    /// The database has no space left (SQLite `SQLITE_FULL`, PostgreSQL `53100 disk_full`):
    /// nothing was written. The server answers 503 `storage-full`.
    #[error("the database has no space left: {0}")]
    StorageFull(String),
    /// A record with this value of a unique attribute (`"userName"`, `"id"`, …) exists.
    #[error("another record has the same {0}")]
    Conflict(String),
    /// A record (`"member"`, `"group"`, …) does not exist in the tenant.
    #[error("{0} {1} does not exist")]
    RecordNotFound(&'static str, String),
    /// The record changed since it was read: its version is now `current`.
    #[error("the record's version is {current}, not the one the change was based on")]
    VersionMismatch { current: u64 },
    /// A group names a member the tenant does not have.
    #[error("member {0} does not exist")]
    UnknownMember(String),
    /// The index lags this many committed events behind the log, more than the backend
    /// allows (SQLite's `max_index_lag`): nothing was written. The server answers 503
    /// `index-behind` with `Retry-After`, so reads of the un-indexed tail stay bounded.
    #[error("the index is {0} events behind the log")]
    IndexBehind(u64),
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl StoreError {
    /// [`StoreError::IndexBehind`] when `lag` un-indexed events are more than `bound`: each
    /// backend's [`Store::accepts_appends`], with the lag as that backend measures it.
    pub fn check_index_lag(lag: u64, bound: u64) -> Result<(), StoreError> {
        match lag > bound {
            true => Err(StoreError::IndexBehind(lag)),
            false => Ok(()),
        }
    }
}

/// Longest a read runs by default before it is stopped with [`StoreError::QueryTimeout`].
pub const DEFAULT_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts a read stopped for its deadline or its departed caller (`stele_queries_cancelled_total`).
/// Label-free: the closed-label-set rule (clippy.toml, stele-server's `metrics`) has nothing
/// to guard here.
#[allow(clippy::disallowed_macros)]
pub fn count_cancelled_query() {
    metrics::counter!("stele_queries_cancelled_total").increment(1);
}

/// A storage backend. Appends to one tenant are serialised by the backend, so each tenant's
/// `seq` is gapless; a successful append is durable (committed and synced) on return.
#[async_trait]
pub trait Store:
    DirectoryStore + SessionStore + StatsStore + DeliveryStore + RetentionStore + Send + Sync + 'static
{
    /// Creates a tenant and appends `audit` (its `stele.tenant.created` event) to its log,
    /// atomically. Ids and aliases share one namespace: an id or alias that is already
    /// another tenant's id or alias is `AliasTaken` (an existing id: `TenantExists`).
    async fn create_tenant(&self, tenant: NewTenant, audit: NewEvent) -> Result<Tenant, StoreError>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;
    /// The tenant that has this id or alias.
    async fn find_tenant(&self, id_or_alias: &str) -> Result<Option<Tenant>, StoreError>;
    /// Changes a tenant's aliases and/or JWT key and appends `audit` (its
    /// `stele.tenant.updated` event) to its log, atomically. A new alias held by another
    /// tenant (or equal to another tenant's id) is `AliasTaken` and changes nothing.
    async fn update_tenant(&self, id: &TenantId, update: TenantUpdate, audit: NewEvent) -> Result<Tenant, StoreError>;
    /// The tenant's JWT key, if one is configured (`UnknownTenant` for no such tenant).
    async fn tenant_jwt(&self, id: &TenantId) -> Result<Option<TenantJwt>, StoreError>;

    /// Stores a key (only its secret's hash) and appends `audit` to its tenant's log.
    async fn create_key(&self, key: NewKey, audit: NewEvent) -> Result<KeyRecord, StoreError>;
    /// Keys of one tenant, or of all tenants.
    async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, StoreError>;
    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;
    /// Marks a key revoked (idempotent) and appends `audit` to its tenant's log.
    async fn revoke_key(&self, tenant: &TenantId, id: &KeyId, audit: NewEvent) -> Result<KeyRecord, StoreError>;

    /// `Ok` while appends are taken; `IndexBehind` while the index lags past its bound.
    /// [`Store::append`] asks this, and answers at once.
    fn accepts_appends(&self) -> Result<(), StoreError>;

    /// Like [`Store::accepts_appends`], but past the bound it waits for the index to come
    /// within it, up to the backend's `index_lag_wait` ([`LagGate`]), before answering
    /// `IndexBehind`. Ingest asks this before it parses a body, so a refused request costs
    /// no parse, and a burst is taken at the indexer's pace.
    async fn admit_appends(&self) -> Result<(), StoreError>;

    /// Appends events to a tenant's log, all or nothing. With `idempotency`, a repeat of an
    /// earlier request (same key, same fingerprint, within 24 h) returns the first receipts
    /// and stores nothing; a different fingerprint is `IdempotencyMismatch`.
    async fn append(
        &self,
        tenant: &TenantId,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Result<AppendOutcome, StoreError>;

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<StoredEvent>, StoreError>;
    async fn query(&self, tenant: &TenantId, query: &Query) -> Result<Page, StoreError>;
    /// Number of events the query matches, ignoring its page and limit.
    async fn count(&self, tenant: &TenantId, query: &Query) -> Result<u64, StoreError>;

    /// The backend's query plan for a page query, one line per step (for index tests and
    /// for operators diagnosing a slow filter).
    async fn explain(&self, tenant: &TenantId, query: &Query) -> Result<Vec<String>, StoreError>;

    /// Replaces an event's content by a tombstone that keeps its id, time, action, status and
    /// leaf hash (so the tree still verifies), removes it from every index, and appends
    /// `audit` (the `stele.event.redacted` event), atomically. Returns the tombstone.
    async fn redact(
        &self,
        tenant: &TenantId,
        id: &EventId,
        redaction: Redaction,
        audit: NewEvent,
    ) -> Result<StoredEvent, StoreError>;

    /// Turns each of `ids` into a tombstone as [`Store::redact`] does (retention), and
    /// appends `audit` (the run's `stele.retention.applied` event), atomically: one that is
    /// already a tombstone or missing fails the whole call and changes nothing.
    async fn expire(
        &self,
        tenant: &TenantId,
        ids: Vec<EventId>,
        redaction: Redaction,
        audit: NewEvent,
    ) -> Result<(), StoreError>;

    /// The tenant's Merkle tree as of now (size = last `seq`).
    async fn tree(&self, tenant: &TenantId) -> Result<TreeState, StoreError>;
    /// Performs tree reads (leaf hashes, stored nodes) for a [`stele_core::integrity::ProofPlan`];
    /// a read that reaches past what is stored is a `Tree` error. See [`proofs`].
    async fn tree_reads(&self, tenant: &TenantId, reads: &[NodeRead]) -> Result<Vec<Vec<Hash>>, StoreError>;
    /// Trees that grew through this store since the last call (drained).
    fn grown(&self) -> Vec<Grown>;
    /// Keeps a signed tree head; `false` if one of that size was already kept.
    async fn put_head(&self, head: &SignedTreeHead) -> Result<bool, StoreError>;
    /// The head with the largest size.
    async fn latest_head(&self, tenant: &TenantId) -> Result<Option<SignedTreeHead>, StoreError>;
    /// Every tenant whose log is longer than its latest head covers (or that has events and
    /// no head), in one read: the head signer's look for trees that grew without it.
    async fn unsigned_tenants(&self) -> Result<Vec<TenantId>, StoreError>;
    /// Heads with `from <= size <= to`, by size, at most `limit`.
    async fn heads(&self, tenant: &TenantId, from: u64, to: u64, limit: u32)
        -> Result<Vec<SignedTreeHead>, StoreError>;

    /// Whether the store can serve requests (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Finishes every accepted write and releases the backend. Later writes fail with `Closed`.
    async fn close(&self);
}
