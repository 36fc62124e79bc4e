//! The embedded SQLite backend: one database file in WAL mode, one writer thread doing
//! group commit, and a small pool of read-only connections.
//!
//! Every read has a deadline and stops when its caller goes away (issue #10 finding 5): a
//! progress handler, called every [`PROGRESS_OPS`] virtual-machine steps, interrupts the
//! statement once the deadline has passed or the async caller's future was dropped (a drop
//! guard raises a flag). Without it, a request the client abandoned kept a core busy until
//! its query ended.

pub mod backup;
mod checkpoint;
pub mod compile;
mod delivery;
mod directory;
pub mod index;
mod read;
mod redact;
mod retention;
pub mod rows;
pub mod schema;
mod sessions;
mod stats;
mod tenant_update;
mod tree;
mod trigrams;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::Connection;
use stele_core::integrity::{Hash, NodeRead, SignedTreeHead};
use stele_core::{EventId, KeyId, NewEvent, Query, SecretHash, StoredEvent, TenantId, Timestamp};
use stele_store::directory::{
    Group, GroupId, GroupLookup, GroupOrder, Listing, Member, MemberGroup, MemberId, MemberLookup, MemberOrder,
    RecordChange, ScimConnection, ScimConnectionId,
};
use stele_store::{
    AppendOutcome, DirectoryStore, Grown, GrownLog, Idempotency, KeyRecord, NewKey, NewTenant, Page, Redaction, Store,
    StoreError, Tenant, TenantJwt, TenantUpdate, TreeState,
};

use stele_store::delivery::{ActiveStream, Stream, StreamId};
use stele_store::retention::RetentionPolicy;
use stele_store::sessions::{Credential, OidcProvider, Session, ViewerLink};
use stele_store::stats::{Buckets, Facet, FacetValue};
use stele_store::write::{FromWritten, Write, WriteQueue};
use stele_store::{DeliveryStore, RetentionStore, SessionStore, StatsStore};

use index::Indexer;
pub use index::{index_files, index_path, IndexMode};

/// A failure as a store error: SQLite's `SQLITE_FULL` (no disk space, or the
/// `max_page_count` cap) is [`StoreError::StorageFull`], anything else `Backend`.
pub(crate) fn backend(e: impl std::fmt::Display + 'static) -> StoreError {
    let full = (&e as &dyn std::any::Any)
        .downcast_ref::<rusqlite::Error>()
        .is_some_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull));
    if full {
        StoreError::StorageFull(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

/// A poisoned lock (a thread panicked while holding it).
pub(crate) fn poisoned<T>(e: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Most reads running at once, each on its own connection (opened once, then kept: a new
/// one attaches the index and prepares its tail tables, which cost more than a point read;
/// before this bound, 64 concurrent SCIM requests spent 5% of the server's CPU opening
/// connections). A read past it waits for a connection to come free; its deadline counts.
const MAX_READERS: usize = 8;

/// Virtual-machine steps between two checks of a read's deadline (a few tens of
/// microseconds of work: the check is a clock read and an atomic load).
const PROGRESS_OPS: i32 = 1000;

/// Raises its flag when dropped: the caller of a read went away (or the read ended).
struct Abandon(Arc<AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open SQLite database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("cannot start the SQLite writer thread: {0}")]
    Thread(std::io::Error),
}

/// Committed events the index may lag behind by default before ingest is refused (503).
pub const DEFAULT_MAX_INDEX_LAG: u64 = 100_000;

/// How a [`SqliteStore`] is opened.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// WAL file size past which the writer restarts the WAL.
    pub wal_restart_bytes: u64,
    /// Caps the database at about this many bytes (SQLite's `max_page_count`): a write past
    /// it fails with [`StoreError::StorageFull`], as on a full disk.
    pub max_bytes: Option<u64>,
    /// How the index follows the log (tests move the mark with the other modes).
    pub index: IndexMode,
    /// Committed but unindexed events past which appends answer [`StoreError::IndexBehind`].
    pub max_index_lag: u64,
    /// How long [`Store::admit_appends`] waits for the index to come within the bound.
    pub index_lag_wait: std::time::Duration,
    /// SQLite's soft heap limit, in bytes: past it, SQLite recycles page-cache pages instead
    /// of allocating more, so that the caches of the writer, the indexer and every reader
    /// together stay near this bound. It is process-wide (the last store opened sets it).
    pub memory_bytes: u64,
}

/// The default [`SqliteOptions::memory_bytes`]: the writer's (8 MB), the indexer's (16 MB)
/// and eight readers' (8 MB each) caches are upper bounds that only fill under long, varied
/// load; this keeps the sum of all connections' caches flat (issue #15's soak showed
/// resident memory still climbing after 12 minutes without it).
pub const DEFAULT_MEMORY_BYTES: u64 = 96 * 1024 * 1024;

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            wal_restart_bytes: writer::WAL_RESTART_BYTES,
            max_bytes: None,
            index: IndexMode::Background,
            max_index_lag: DEFAULT_MAX_INDEX_LAG,
            index_lag_wait: stele_store::DEFAULT_INDEX_LAG_WAIT,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    queue: WriteQueue<rows::EventRow>,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    indexer: Arc<Indexer>,
    indexer_thread: Mutex<Option<JoinHandle<()>>>,
    max_index_lag: u64,
    index_lag_wait: std::time::Duration,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Tenant ids to row numbers, as reads found them.
    tenant_nos: Mutex<std::collections::HashMap<TenantId, i64>>,
    /// One permit per read connection: reads past [`MAX_READERS`] wait for a free one.
    reading: Arc<tokio::sync::Semaphore>,
    grown: Arc<GrownLog>,
    /// Longest a read may run.
    query_timeout: Duration,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`], restarting the WAL once its file is larger than `wal_bytes`.
    pub fn open_with_wal_limit(path: &Path, wal_bytes: u64) -> Result<Self, OpenError> {
        Self::open_with(path, SqliteOptions { wal_restart_bytes: wal_bytes, ..SqliteOptions::default() })
    }

    /// [`SqliteStore::open`] with the database capped at about `max_bytes`.
    pub fn open_capped(path: &Path, max_bytes: Option<u64>) -> Result<Self, OpenError> {
        Self::open_with(path, SqliteOptions { max_bytes, ..SqliteOptions::default() })
    }

    /// Opens the database at `path` (and its index file) with `options`, and starts the
    /// writer, the checkpointer and (in [`IndexMode::Background`]) the indexer.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Self, OpenError> {
        let sqlite = |source| OpenError::Sqlite { path: path.to_owned(), source };
        let conn = rows::open_writer(path).map_err(sqlite)?;
        let limit = i64::try_from(options.memory_bytes).unwrap_or(i64::MAX);
        conn.pragma_update_and_check(None, "soft_heap_limit", limit, |_| Ok(())).map_err(sqlite)?;
        if let Some(bytes) = options.max_bytes {
            let page: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(sqlite)?;
            conn.pragma_update(None, "max_page_count", (bytes / page.max(1)).max(1)).map_err(sqlite)?;
        }
        let indexer = Arc::new(
            Indexer::open(path, options.index)
                .map_err(|source| OpenError::Sqlite { path: index::index_path(path), source })?,
        );
        let (queue, rx) = WriteQueue::new();
        let (nudge, nudges) = flume::bounded(1);
        let grown = Arc::new(GrownLog::default());
        let checkpoint_path = path.to_owned();
        let checkpointer = std::thread::Builder::new()
            .name("stele-sqlite-checkpoint".into())
            .spawn(move || checkpoint::run(&checkpoint_path, nudges))
            .map_err(OpenError::Thread)?;
        let wal_bytes = options.wal_restart_bytes;
        let writer = std::thread::Builder::new()
            .name("stele-sqlite-writer".into())
            .spawn({
                let (grown, progress) = (grown.clone(), indexer.progress.clone());
                move || writer::run(conn, rx, nudge, grown, progress, wal_bytes)
            })
            .map_err(OpenError::Thread)?;
        let indexer_thread = match options.index {
            IndexMode::Background => Some(
                std::thread::Builder::new()
                    .name("stele-sqlite-indexer".into())
                    .spawn({
                        let indexer = indexer.clone();
                        move || indexer.run()
                    })
                    .map_err(OpenError::Thread)?,
            ),
            _ => None,
        };
        Ok(Self {
            path: path.to_owned(),
            queue,
            writer: Mutex::new(Some(writer)),
            checkpointer: Mutex::new(Some(checkpointer)),
            indexer,
            indexer_thread: Mutex::new(indexer_thread),
            max_index_lag: options.max_index_lag,
            index_lag_wait: options.index_lag_wait,
            readers: Arc::new(Mutex::new(Vec::new())),
            tenant_nos: Mutex::new(std::collections::HashMap::new()),
            reading: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            grown,
            query_timeout: stele_store::DEFAULT_QUERY_TIMEOUT,
        })
    }

    /// Indexes everything committed so far, now (tests, benchmarks, `stele reindex`).
    pub async fn catch_up_index(&self) -> Result<(), StoreError> {
        let indexer = self.indexer.clone();
        let conn = self.indexer.conn.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || indexer.catch_up(&conn, |_| ()).map_err(backend)).await.map_err(backend)?
    }

    /// Moves every posting of `recent_postings` into `postings` now, as the background
    /// indexer does when idle (tests, benchmarks, `stele reindex`).
    pub async fn merge_index(&self) -> Result<(), StoreError> {
        let indexer = self.indexer.clone();
        let conn = self.indexer.conn.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || indexer.merge(&conn).map_err(backend)).await.map_err(backend)?
    }

    /// Committed events not indexed yet.
    pub fn index_lag(&self) -> u64 {
        self.indexer.progress.lag()
    }

    /// Rebuilds the index of the database at `path` from its log (the server must not be
    /// running on it): deletes the index file and indexes every event, reporting progress as
    /// `(indexed so far, total)`.
    pub fn reindex(path: &Path, mut on_progress: impl FnMut(u64, u64)) -> Result<u64, OpenError> {
        let sqlite = |source| OpenError::Sqlite { path: path.to_owned(), source };
        // Migrates the log if needed (and makes sure it is a Stele database).
        drop(rows::open_writer(path).map_err(sqlite)?);
        index::remove_index_files(path).map_err(OpenError::Thread)?;
        let indexer = Indexer::open(path, IndexMode::Never).map_err(sqlite)?;
        let total = indexer.progress.lag();
        let conn = indexer.conn.clone();
        // Nobody else has this indexer: the lock is free.
        let conn = conn.try_lock().map_err(|e| OpenError::Thread(std::io::Error::other(e.to_string())))?;
        let mut done = 0u64;
        indexer
            .catch_up(&conn, |n| {
                done += n as u64;
                on_progress(done, total);
            })
            .map_err(sqlite)?;
        indexer.merge(&conn).map_err(sqlite)?;
        conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(sqlite)?;
        Ok(total)
    }

    /// After a write, the test modes move the mark ([`IndexMode::Eager`], [`IndexMode::Random`]).
    async fn settle_index(&self) -> Result<(), StoreError> {
        if matches!(self.indexer.mode, IndexMode::Background | IndexMode::Never) {
            return Ok(());
        }
        let indexer = self.indexer.clone();
        let conn = self.indexer.conn.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || indexer.after_write(&conn).map_err(backend)).await.map_err(backend)?
    }

    /// Sets the deadline of every read (default [`stele_store::DEFAULT_QUERY_TIMEOUT`]).
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Sends a write to the writer and waits for its answer (after the commit).
    async fn write<T: FromWritten>(&self, write: Write) -> Result<T, StoreError> {
        let result = self.write_only(write).await;
        self.settle_index().await?;
        result
    }

    /// [`SqliteStore::write`] without moving the mark in the test modes.
    async fn write_only<T: FromWritten>(&self, write: Write) -> Result<T, StoreError> {
        self.queue.submit(write.map_events(rows::EventRow::from)).await
    }

    /// Runs a read of one tenant's rows (`UnknownTenant` if it does not exist).
    async fn read_tenant<T: Send + 'static>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Tenants are never renumbered or deleted: a number once read is kept (one entry per
        // tenant the operator created; an unknown id is never kept).
        let known = self.tenant_nos.lock().map_err(poisoned)?.get(tenant).copied();
        let no = match known {
            Some(no) => no,
            None => {
                let id = tenant.clone();
                let no = self.read(move |c| read::tenant_no(c, &id)).await?;
                self.tenant_nos.lock().map_err(poisoned)?.insert(tenant.clone(), no);
                no
            }
        };
        self.read(move |c| f(c, no)).await
    }

    /// Runs a read on a pooled read-only connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let deadline = Instant::now() + self.query_timeout;
        let abandoned = Arc::new(AtomicBool::new(false));
        let _abandon = Abandon(abandoned.clone());
        let permit = self.reading.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if abandoned.load(Ordering::Relaxed) {
                stele_store::count_cancelled_query();
                return Err(StoreError::QueryTimeout);
            }
            let pooled = readers.lock().map_err(poisoned)?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => rows::open_reader(&path).map_err(backend)?,
            };
            let stopped = Arc::new(AtomicBool::new(false));
            let handler = {
                let stopped = stopped.clone();
                move || {
                    let stop = abandoned.load(Ordering::Relaxed) || Instant::now() >= deadline;
                    if stop {
                        stopped.store(true, Ordering::Relaxed);
                    }
                    stop
                }
            };
            conn.progress_handler(PROGRESS_OPS, Some(handler));
            let result = f(&conn);
            conn.progress_handler(0, None::<fn() -> bool>);
            let mut idle = readers.lock().map_err(poisoned)?;
            // At most MAX_READERS connections exist (one per permit), so all are kept.
            idle.push(conn);
            if stopped.load(Ordering::Relaxed) {
                stele_store::count_cancelled_query();
                return Err(StoreError::QueryTimeout);
            }
            result
        })
        .await
        .map_err(backend)?
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn change(&self, tenant: &TenantId, change: RecordChange, audit: Vec<NewEvent>) -> Result<(), StoreError> {
        self.write(Write::Record { tenant: tenant.clone(), change, audit }).await
    }

    async fn get_member(&self, tenant: &TenantId, id: &MemberId) -> Result<Option<Member>, StoreError> {
        let id = *id;
        self.read_tenant(tenant, move |c, no| directory::get_member(c, no, &id)).await
    }

    async fn find_members(&self, tenant: &TenantId, lookup: &MemberLookup) -> Result<Vec<Member>, StoreError> {
        let lookup = lookup.clone();
        self.read_tenant(tenant, move |c, no| directory::find_members(c, no, &lookup)).await
    }

    async fn list_members(&self, tenant: &TenantId, listing: &Listing<MemberOrder>) -> Result<Vec<Member>, StoreError> {
        let listing = listing.clone();
        self.read_tenant(tenant, move |c, no| directory::list_members(c, no, &listing)).await
    }

    async fn count_members(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        self.read_tenant(tenant, |c, no| directory::count(c, "members", no)).await
    }

    async fn member_groups(&self, tenant: &TenantId, id: &MemberId) -> Result<Vec<MemberGroup>, StoreError> {
        let id = *id;
        self.read_tenant(tenant, move |c, no| directory::member_groups(c, no, &id)).await
    }

    async fn get_group(&self, tenant: &TenantId, id: &GroupId) -> Result<Option<Group>, StoreError> {
        let id = *id;
        self.read_tenant(tenant, move |c, no| directory::get_group(c, no, &id)).await
    }

    async fn find_groups(&self, tenant: &TenantId, lookup: &GroupLookup) -> Result<Vec<Group>, StoreError> {
        let lookup = lookup.clone();
        self.read_tenant(tenant, move |c, no| directory::find_groups(c, no, &lookup)).await
    }

    async fn list_groups(
        &self,
        tenant: &TenantId,
        listing: &Listing<GroupOrder>,
        with_members: bool,
    ) -> Result<Vec<Group>, StoreError> {
        let listing = listing.clone();
        self.read_tenant(tenant, move |c, no| directory::list_groups(c, no, &listing, with_members)).await
    }

    async fn count_groups(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        self.read_tenant(tenant, |c, no| directory::count(c, "directory_groups", no)).await
    }

    async fn get_scim_connection(&self, id: &ScimConnectionId) -> Result<Option<ScimConnection>, StoreError> {
        let id = *id;
        self.read(move |c| directory::get_scim_connection(c, &id)).await
    }

    async fn list_scim_connections(&self, tenant: &TenantId) -> Result<Vec<ScimConnection>, StoreError> {
        self.read_tenant(tenant, directory::list_scim_connections).await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn credential(&self, tenant: &TenantId, member: &MemberId) -> Result<Option<Credential>, StoreError> {
        let member = *member;
        self.read_tenant(tenant, move |c, no| sessions::credential(c, no, &member)).await
    }

    async fn session(
        &self,
        tenant: &TenantId,
        token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<(Session, Member)>, StoreError> {
        let hash = *token_hash;
        self.read_tenant(tenant, move |c, no| sessions::session(c, no, &hash, now)).await
    }

    async fn count_sessions(&self, tenant: &TenantId, member: &MemberId) -> Result<u64, StoreError> {
        let member = *member;
        self.read_tenant(tenant, move |c, no| sessions::count_sessions(c, no, &member)).await
    }

    async fn link_session(
        &self,
        tenant: &TenantId,
        session_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<ViewerLink>, StoreError> {
        let hash = *session_hash;
        self.read_tenant(tenant, move |c, no| sessions::link_session(c, no, &hash, now)).await
    }

    async fn oidc_provider(&self, tenant: &TenantId) -> Result<Option<OidcProvider>, StoreError> {
        self.read_tenant(tenant, sessions::oidc_provider).await
    }
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn retention(&self, tenant: &TenantId) -> Result<Option<RetentionPolicy>, StoreError> {
        self.read_tenant(tenant, retention::policy).await
    }

    async fn expirable(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<(u64, EventId)>, StoreError> {
        self.read_tenant(tenant, move |c, no| retention::expirable(c, no, before, up_to, limit)).await
    }

    /// Nothing to do: the writer runs `PRAGMA incremental_vacuum` when an expiry commits.
    async fn reclaim(&self, _now: Timestamp) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn streams(&self, tenant: &TenantId) -> Result<Vec<Stream>, StoreError> {
        self.read_tenant(tenant, delivery::streams).await
    }

    async fn stream(&self, tenant: &TenantId, id: &StreamId) -> Result<Option<Stream>, StoreError> {
        let id = id.clone();
        self.read_tenant(tenant, move |c, no| delivery::stream(c, no, &id)).await
    }

    async fn active_streams(&self) -> Result<Vec<ActiveStream>, StoreError> {
        self.read(delivery::active).await
    }
}

#[async_trait]
impl StatsStore for SqliteStore {
    async fn histogram(&self, tenant: &TenantId, query: &Query, buckets: &Buckets) -> Result<Vec<u64>, StoreError> {
        let (query, buckets) = (query.clone(), *buckets);
        self.read_tenant(tenant, move |c, no| stats::histogram(c, no, &query, &buckets)).await
    }

    async fn facet(
        &self,
        tenant: &TenantId,
        query: &Query,
        facet: Facet,
        limit: u32,
    ) -> Result<Vec<FacetValue>, StoreError> {
        let query = query.clone();
        self.read_tenant(tenant, move |c, no| stats::facet(c, no, &query, facet, limit)).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, tenant: NewTenant, audit: NewEvent) -> Result<Tenant, StoreError> {
        self.write(Write::CreateTenant { tenant, audit }).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(read::list_tenants).await
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let id = id.clone();
        self.read(move |c| read::get_tenant(c, &id)).await
    }

    async fn find_tenant(&self, id_or_alias: &str) -> Result<Option<Tenant>, StoreError> {
        let key = id_or_alias.to_owned();
        self.read(move |c| read::find_tenant(c, &key)).await
    }

    async fn update_tenant(&self, id: &TenantId, update: TenantUpdate, audit: NewEvent) -> Result<Tenant, StoreError> {
        let tenant = id.clone();
        self.write(Write::UpdateTenant { tenant, update, audit }).await
    }

    async fn tenant_jwt(&self, id: &TenantId) -> Result<Option<TenantJwt>, StoreError> {
        let id = id.clone();
        self.read(move |c| tenant_update::jwt(c, &id)).await
    }

    async fn create_key(&self, key: NewKey, audit: NewEvent) -> Result<KeyRecord, StoreError> {
        self.write(Write::CreateKey { key, audit }).await
    }

    async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, StoreError> {
        let tenant = tenant.cloned();
        self.read(move |c| read::list_keys(c, tenant.as_ref())).await
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let id = id.clone();
        self.read(move |c| read::key_by_id(c, &id)).await
    }

    async fn revoke_key(&self, tenant: &TenantId, id: &KeyId, audit: NewEvent) -> Result<KeyRecord, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.write(Write::RevokeKey { tenant, id, audit }).await
    }

    fn accepts_appends(&self) -> Result<(), StoreError> {
        StoreError::check_index_lag(self.indexer.progress.lag(), self.max_index_lag)
    }

    async fn admit_appends(&self) -> Result<(), StoreError> {
        let progress = &self.indexer.progress;
        progress.gate.admit(|| progress.lag(), self.max_index_lag, self.index_lag_wait).await
    }

    async fn append(
        &self,
        tenant: &TenantId,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Result<AppendOutcome, StoreError> {
        self.accepts_appends()?;
        let tenant = tenant.clone();
        self.write(Write::Append { tenant, events, idempotency }).await
    }

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        let (tenant, id) = (tenant.clone(), *id);
        self.read(move |c| read::get_event(c, &tenant, &id)).await
    }

    async fn query(&self, tenant: &TenantId, query: &Query) -> Result<Page, StoreError> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.read(move |c| read::query(c, &tenant, &query)).await
    }

    async fn count(&self, tenant: &TenantId, query: &Query) -> Result<u64, StoreError> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.read(move |c| read::count(c, &tenant, &query)).await
    }

    async fn explain(&self, tenant: &TenantId, query: &Query) -> Result<Vec<String>, StoreError> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.read(move |c| read::explain(c, &tenant, &query)).await
    }

    async fn redact(
        &self,
        tenant: &TenantId,
        id: &EventId,
        redaction: Redaction,
        audit: NewEvent,
    ) -> Result<StoredEvent, StoreError> {
        // Under the indexer's lock from before the tombstone until the purge: the indexer
        // cannot index the event's old values in between.
        let conn = self.indexer.conn.clone().lock_owned().await;
        let (t, i) = (tenant.to_string(), id.to_string());
        let (conn, plan) = tokio::task::spawn_blocking(move || {
            let plan = index::plan_purge(&conn, &t, &i).map_err(backend);
            (conn, plan)
        })
        .await
        .map_err(backend)?;
        let plan = plan?;
        let (tenant, id) = (tenant.clone(), *id);
        let tombstone: StoredEvent = self.write_only(Write::Redact { tenant, id, redaction, audit }).await?;
        if let Some(plan) = plan {
            tokio::task::spawn_blocking(move || index::purge(&conn, &plan).map_err(backend))
                .await
                .map_err(backend)??;
        } else {
            drop(conn);
        }
        self.settle_index().await?;
        Ok(tombstone)
    }

    async fn expire(
        &self,
        tenant: &TenantId,
        ids: Vec<EventId>,
        redaction: Redaction,
        audit: NewEvent,
    ) -> Result<(), StoreError> {
        // As `redact`, for many events: under the indexer's lock from before the tombstones
        // until the purge, with one purge transaction for all of them.
        let conn = self.indexer.conn.clone().lock_owned().await;
        let (t, wanted) = (tenant.to_string(), ids.clone());
        let (conn, plans) = tokio::task::spawn_blocking(move || {
            let plans: Result<Vec<_>, _> =
                wanted.iter().map(|id| index::plan_purge(&conn, &t, &id.to_string()).map_err(backend)).collect();
            (conn, plans)
        })
        .await
        .map_err(backend)?;
        let plans: Vec<_> = plans?.into_iter().flatten().collect();
        let tenant = tenant.clone();
        let _: StoredEvent = self.write_only(Write::Expire { tenant, ids, redaction, audit }).await?;
        tokio::task::spawn_blocking(move || index::purge_all(&conn, &plans).map_err(backend))
            .await
            .map_err(backend)??;
        self.settle_index().await?;
        Ok(())
    }

    async fn tree(&self, tenant: &TenantId) -> Result<TreeState, StoreError> {
        let tenant = tenant.clone();
        self.read(move |c| {
            let no = read::tenant_no(c, &tenant)?;
            let size = tree::size(c, no)?;
            let root = tree::load_frontier(c, no, size)?.root();
            Ok(TreeState { size, root })
        })
        .await
    }

    async fn tree_reads(&self, tenant: &TenantId, reads: &[NodeRead]) -> Result<Vec<Vec<Hash>>, StoreError> {
        let (tenant, reads) = (tenant.clone(), reads.to_vec());
        self.read(move |c| {
            let no = read::tenant_no(c, &tenant)?;
            // One read transaction: every hash comes from the same snapshot.
            c.execute_batch("BEGIN").map_err(backend)?;
            let result = tree::read_nodes(c, no, &reads);
            let ended = c.execute_batch("COMMIT").map_err(backend);
            result.and_then(|r| ended.map(|()| r))
        })
        .await
    }

    fn grown(&self) -> Vec<Grown> {
        self.grown.drain()
    }

    async fn put_head(&self, head: &SignedTreeHead) -> Result<bool, StoreError> {
        let head = head.clone();
        self.write(Write::PutHead { head }).await
    }

    async fn latest_head(&self, tenant: &TenantId) -> Result<Option<SignedTreeHead>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |c| tree::latest_head(c, read::tenant_no(c, &tenant)?, &tenant)).await
    }

    async fn unsigned_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.read(tree::unsigned_tenants).await
    }

    async fn heads(
        &self,
        tenant: &TenantId,
        from: u64,
        to: u64,
        limit: u32,
    ) -> Result<Vec<SignedTreeHead>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |c| tree::heads(c, read::tenant_no(c, &tenant)?, &tenant, from, to, limit)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.queue.is_closed() {
            return Err(StoreError::Closed);
        }
        self.queue.check_space()?;
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend)).await
    }

    async fn close(&self) {
        // Dropping the last sender lets the writer drain its queue and stop.
        self.queue.close();
        // The writer stops after its queue is empty; dropping its nudge sender then stops
        // the checkpointer, which truncates the WAL.
        self.indexer.progress.stop();
        for (name, slot) in
            [("writer", &self.writer), ("checkpoint", &self.checkpointer), ("indexer", &self.indexer_thread)]
        {
            let handle = slot.lock().ok().and_then(|mut w| w.take());
            if let Some(handle) = handle {
                let joined = tokio::task::spawn_blocking(move || handle.join()).await;
                if !matches!(joined, Ok(Ok(()))) {
                    tracing::error!("the SQLite {name} thread ended abnormally");
                }
            }
        }
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
    }
}
