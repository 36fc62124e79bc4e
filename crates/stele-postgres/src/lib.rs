//! The PostgreSQL backend: a pool of connections for reads, one writer task per process
//! doing group commit, per-tenant serialisation across processes with a head-row lock
//! (`tenants.head_seq … FOR UPDATE`), and `events` partitioned by month. Several
//! `stele serve` nodes may share one database.
//!
//! It implements the same [`Store`] semantics as the SQLite backend, checked by the same
//! conformance suite (`tests/conformance.rs`).

pub mod compile;
mod delivery;
mod directory;
mod index;
pub mod provision;
mod read;
mod retention;
pub mod rows;
pub mod schema;
mod sessions;
mod stats;
mod tenant_update;
pub mod tls;
mod tree;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use stele_core::integrity::{Hash, NodeRead, SignedTreeHead};
use stele_core::{EventId, KeyId, NewEvent, Query, SecretHash, StoredEvent, TenantId, Timestamp};
use stele_store::delivery::{ActiveStream, Stream, StreamId};
use stele_store::directory::{
    Group, GroupId, GroupLookup, GroupOrder, Listing, Member, MemberGroup, MemberId, MemberLookup, MemberOrder,
    RecordChange, ScimConnection, ScimConnectionId,
};
use stele_store::retention::RetentionPolicy;
use stele_store::sessions::{Credential, OidcProvider, Session, ViewerLink};
use stele_store::stats::{Buckets, Facet, FacetValue};
use stele_store::{
    AppendOutcome, DirectoryStore, Grown, GrownLog, Idempotency, KeyRecord, NewKey, NewTenant, Page, Redaction, Store,
    StoreError, Tenant, TenantJwt, TenantUpdate, TreeState,
};
use stele_store::{DeliveryStore, RetentionStore, SessionStore, StatsStore};
use tokio::task::JoinHandle;

use stele_store::write::{FromWritten, Write, WriteQueue};

/// An error with its chain of causes ("error connecting to server: Connection refused").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A failure as a store error: PostgreSQL's `query_canceled` (57014: `statement_timeout`
/// or a cancel request) is [`StoreError::QueryTimeout`], `disk_full` (53100) is
/// [`StoreError::StorageFull`], anything else `Backend`.
pub(crate) fn backend(e: impl std::fmt::Display + 'static) -> StoreError {
    use tokio_postgres::error::SqlState;
    let pg = (&e as &dyn std::any::Any).downcast_ref::<tokio_postgres::Error>();
    // The server's own message ("could not extend file …: No space left on device") is the
    // error's source; its `Display` alone says only "db error". It goes to the log, never to
    // a client.
    let text = pg.map_or_else(|| e.to_string(), |pg| with_causes(pg));
    match pg.and_then(|e| e.code()) {
        Some(c) if *c == SqlState::QUERY_CANCELED => {
            stele_store::count_cancelled_query();
            StoreError::QueryTimeout
        }
        Some(c) if *c == SqlState::DISK_FULL => StoreError::StorageFull(text),
        _ => StoreError::Backend(text),
    }
}

/// A poisoned lock (a thread panicked while holding it).
pub(crate) fn poisoned<T>(e: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Runs `$body` (a future) with a cancellable pooled connection `$c` and the tenant's row
/// number `$no`: the shape of every read of one tenant.
/// With `pooled`, `$c` is the pool's wrapper of the connection (for its statement cache).
macro_rules! tenant_read {
    ($self:ident, $tenant:expr, |$c:ident, $no:ident| $body:expr) => {
        tenant_read!($self, $tenant, |reader| &**reader, |$c, $no| $body)
    };
    ($self:ident, $tenant:expr, pooled, |$c:ident, $no:ident| $body:expr) => {
        tenant_read!($self, $tenant, |reader| &*reader, |$c, $no| $body)
    };
    ($self:ident, $tenant:expr, |$r:ident| $client:expr, |$c:ident, $no:ident| $body:expr) => {{
        let $r = $self.reader().await?;
        let result = async {
            let $no = $self.tenant_no(&$r, $tenant).await?;
            let $c = $client;
            $body.await
        }
        .await;
        $r.finish(result)
    }};
}

/// A pooled read connection that is cancelled if dropped unfinished: the caller's future was
/// dropped (client gone, request timed out) while PostgreSQL may still be running its
/// statement. The cancel request is sent from a task, and the connection is taken out of the
/// pool first so that the cancel cannot hit another caller's statement.
struct Reader {
    client: Option<deadpool_postgres::Object>,
    token: tokio_postgres::CancelToken,
    tls: tls::Tls,
    finished: bool,
}

impl Reader {
    /// Ends the read normally: the connection goes back to the pool.
    fn finish<T>(mut self, result: T) -> T {
        self.finished = true;
        result
    }
}

impl std::ops::Deref for Reader {
    type Target = deadpool_postgres::ClientWrapper;

    fn deref(&self) -> &Self::Target {
        // `client` is only taken by `drop`.
        self.client.as_deref().expect("a reader holds its client until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Some(client) = self.client.take() else { return };
        let detached = deadpool_postgres::Object::take(client);
        let (token, tls) = (self.token.clone(), self.tls.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            stele_store::count_cancelled_query();
            runtime.spawn(async move {
                let _ = token.cancel_query(tls).await;
                drop(detached);
            });
        }
    }
}

/// Default size of the read pool.
pub const DEFAULT_POOL_SIZE: usize = 16;

pub use index::IndexMode;

/// Un-indexed events (over all tenants) past which appends are refused (`IndexBehind`, 503)
/// until the indexer catches up: reads scan the un-indexed tail, so it is kept bounded.
pub const DEFAULT_MAX_INDEX_LAG: u64 = 100_000;

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Read pool connections.
    pub pool_size: usize,
    /// Reads stop after this long (`statement_timeout` on the read pool's connections).
    pub query_timeout: std::time::Duration,
    /// Who moves the index marks ([`IndexMode::Background`] but in tests).
    pub index: IndexMode,
    /// See [`DEFAULT_MAX_INDEX_LAG`].
    pub max_index_lag: u64,
    /// How long [`Store::admit_appends`] waits for the index to come within the bound (the
    /// lag is measured every 200 ms, so waits end on that beat).
    pub index_lag_wait: std::time::Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: DEFAULT_POOL_SIZE,
            query_timeout: stele_store::DEFAULT_QUERY_TIMEOUT,
            index: IndexMode::Background,
            max_index_lag: DEFAULT_MAX_INDEX_LAG,
            index_lag_wait: stele_store::DEFAULT_INDEX_LAG_WAIT,
        }
    }
}

/// The test modes' and `reindex`'s own connection, and the generator state (see [`IndexMode`]).
struct Stepper {
    config: tokio_postgres::Config,
    client: Option<tokio_postgres::Client>,
    random: u64,
}

impl Stepper {
    async fn client(&mut self, tls: &tls::Tls) -> Result<&mut tokio_postgres::Client, StoreError> {
        if self.client.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
            let (client, connection) = self.config.connect(tls.clone()).await.map_err(backend)?;
            tokio::spawn(connection);
            self.client = Some(client);
        }
        self.client.as_mut().ok_or_else(|| StoreError::Backend("no indexing connection".into()))
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid PostgreSQL URL: {0}")]
    Url(tokio_postgres::Error),
    #[error("PostgreSQL TLS settings: {0}")]
    Tls(tls::TlsError),
    #[error("cannot create the PostgreSQL pool: {0}")]
    Pool(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    #[error("cannot migrate the PostgreSQL schema: {0}")]
    Migrate(tokio_postgres::Error),
}

pub struct PostgresStore {
    pool: Pool,
    tls: tls::Tls,
    queue: WriteQueue,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Tenant ids to row numbers (tenants are never renumbered or deleted).
    tenant_nos: Mutex<HashMap<TenantId, i64>>,
    index_mode: IndexMode,
    lag: Arc<index::Lag>,
    max_index_lag: u64,
    index_lag_wait: std::time::Duration,
    /// Stops the background indexer (dropped or sent to).
    stop_indexer: Mutex<Option<flume::Sender<()>>>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    stepper: tokio::sync::Mutex<Stepper>,
    grown: Arc<GrownLog>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/dbname[?options]`, or a
    /// `key=value` connection string), migrates the schema, creates this and the next months'
    /// partitions and starts the writer. Must be called inside a Tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, DEFAULT_POOL_SIZE).await
    }

    /// [`PostgresStore::connect`] with a read pool of `pool_size` connections.
    pub async fn connect_with(url: &str, pool_size: usize) -> Result<Self, ConnectError> {
        Self::connect_with_timeout(url, pool_size, stele_store::DEFAULT_QUERY_TIMEOUT).await
    }

    /// [`PostgresStore::connect_with`] whose reads stop after `query_timeout`: the read pool's
    /// connections start with `statement_timeout` set (the writer's do not: a group commit is
    /// bounded by its size, and cancelling it would only repeat it).
    pub async fn connect_with_timeout(
        url: &str,
        pool_size: usize,
        query_timeout: std::time::Duration,
    ) -> Result<Self, ConnectError> {
        Self::connect_with_options(url, PostgresOptions { pool_size, query_timeout, ..PostgresOptions::default() })
            .await
    }

    /// Connects with every option (see [`PostgresOptions`]).
    pub async fn connect_with_options(url: &str, options: PostgresOptions) -> Result<Self, ConnectError> {
        let PostgresOptions { pool_size, query_timeout, index: index_mode, max_index_lag, index_lag_wait } = options;
        let (config, tls) = match tls::parse(url) {
            Ok(parsed) => parsed,
            Err(tls::TlsError::Url(e)) => return Err(ConnectError::Url(e)),
            Err(e) => return Err(ConnectError::Tls(e)),
        };
        let mut read_config = config.clone();
        let options = read_config.get_options().unwrap_or_default().to_owned();
        let millis = query_timeout.as_millis().max(1);
        // No JIT for reads: compiling a plan costs 150–200 ms (measured on the 10 M-event
        // corpus: a count of 107 k events 1 300 → 1 140 ms), more than the whole read
        // should take, and reads are short and bounded. First, so an operator's own
        // `options` in the URL can turn it back on.
        read_config.options(format!("-c jit=off {options} -c statement_timeout={millis}").trim());
        let manager =
            Manager::from_config(read_config, tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool =
            Pool::builder(manager).max_size(pool_size.max(1)).build().map_err(|e| ConnectError::Pool(e.to_string()))?;
        {
            let (mut client, connection) =
                config.connect(tls.clone()).await.map_err(|e| ConnectError::Connect(with_causes(&e)))?;
            let driver = tokio::spawn(connection);
            schema::migrate(&mut client).await.map_err(ConnectError::Migrate)?;
            schema::ensure_partitions(&mut client, time::OffsetDateTime::now_utc())
                .await
                .map_err(ConnectError::Migrate)?;
            drop(client);
            let _ = driver.await;
        }
        let (queue, rx) = WriteQueue::new();
        let grown = Arc::new(GrownLog::default());
        let writer = tokio::spawn(writer::run(config.clone(), tls.clone(), rx, grown.clone()));
        let lag = Arc::new(index::Lag::default());
        let (stop_tx, stop_rx) = flume::bounded(1);
        let indexer = (index_mode == IndexMode::Background)
            .then(|| tokio::spawn(index::run(config.clone(), tls.clone(), lag.clone(), stop_rx)));
        let random = match index_mode {
            IndexMode::Random(seed) => seed | 1,
            _ => 1,
        };
        Ok(Self {
            pool,
            tls,
            queue,
            writer: Mutex::new(Some(writer)),
            tenant_nos: Mutex::new(HashMap::new()),
            grown,
            index_mode,
            lag,
            max_index_lag,
            index_lag_wait,
            stop_indexer: Mutex::new(Some(stop_tx)),
            indexer: Mutex::new(indexer),
            stepper: tokio::sync::Mutex::new(Stepper { config, client: None, random }),
        })
    }

    /// Events committed and not yet indexed, as this node last measured (0 but with the
    /// background indexer).
    pub fn index_lag(&self) -> u64 {
        self.lag.get()
    }

    /// Rebuilds the postings from the rows: forgets each tenant's postings and mark, then
    /// indexes every tenant to its head (`stele reindex`). Reads stay exact throughout (the
    /// rows after a mark at 0 are all of them).
    pub async fn reindex(&self) -> Result<(), StoreError> {
        let mut stepper = self.stepper.lock().await;
        let client = stepper.client(&self.tls).await?;
        index::reset(client).await.map_err(backend)?;
        index::catch_up(client).await.map_err(backend)
    }

    /// After a write, the test modes move the marks ([`IndexMode::Eager`], [`IndexMode::Random`]).
    async fn after_write(&self) -> Result<(), StoreError> {
        if matches!(self.index_mode, IndexMode::Background | IndexMode::Never) {
            return Ok(());
        }
        let mut stepper = self.stepper.lock().await;
        let mut random = stepper.random;
        let client = stepper.client(&self.tls).await?;
        let done = match self.index_mode {
            IndexMode::Random(_) => index::random_step(client, &mut random).await,
            _ => index::catch_up(client).await,
        };
        stepper.random = random;
        done.map_err(backend)
    }

    /// Sends a write to the writer and waits for its answer (after the commit).
    async fn write<T: FromWritten>(&self, write: Write) -> Result<T, StoreError> {
        let written = self.queue.submit(write).await;
        self.after_write().await?;
        written
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(backend)
    }

    /// A pooled connection for one read that is cancelled on the server if the caller goes
    /// away before [`Reader::finish`].
    async fn reader(&self) -> Result<Reader, StoreError> {
        let client = self.client().await?;
        Ok(Reader { token: client.cancel_token(), tls: self.tls.clone(), client: Some(client), finished: false })
    }

    /// The tenant's row number (cached), or `UnknownTenant`.
    async fn tenant_no(&self, client: &tokio_postgres::Client, tenant: &TenantId) -> Result<i64, StoreError> {
        if let Some(no) = self.tenant_nos.lock().map_err(poisoned)?.get(tenant) {
            return Ok(*no);
        }
        let no = read::tenant_no(client, tenant).await?;
        self.tenant_nos.lock().map_err(poisoned)?.insert(tenant.clone(), no);
        Ok(no)
    }
}

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn change(&self, tenant: &TenantId, change: RecordChange, audit: Vec<NewEvent>) -> Result<(), StoreError> {
        self.write(Write::Record { tenant: tenant.clone(), change, audit }).await
    }

    async fn get_member(&self, tenant: &TenantId, id: &MemberId) -> Result<Option<Member>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::get_member(c, no, id))
    }

    async fn find_members(&self, tenant: &TenantId, lookup: &MemberLookup) -> Result<Vec<Member>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::find_members(c, no, lookup))
    }

    async fn list_members(&self, tenant: &TenantId, listing: &Listing<MemberOrder>) -> Result<Vec<Member>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::list_members(c, no, listing))
    }

    async fn count_members(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::count(c, "members", no))
    }

    async fn member_groups(&self, tenant: &TenantId, id: &MemberId) -> Result<Vec<MemberGroup>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::member_groups(c, no, id))
    }

    async fn get_group(&self, tenant: &TenantId, id: &GroupId) -> Result<Option<Group>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::get_group(c, no, id))
    }

    async fn find_groups(&self, tenant: &TenantId, lookup: &GroupLookup) -> Result<Vec<Group>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::find_groups(c, no, lookup))
    }

    async fn list_groups(
        &self,
        tenant: &TenantId,
        listing: &Listing<GroupOrder>,
        with_members: bool,
    ) -> Result<Vec<Group>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::list_groups(c, no, listing, with_members))
    }

    async fn count_groups(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::count(c, "directory_groups", no))
    }

    async fn get_scim_connection(&self, id: &ScimConnectionId) -> Result<Option<ScimConnection>, StoreError> {
        let reader = self.reader().await?;
        let result = directory::get_scim_connection(&**reader, id).await;
        reader.finish(result)
    }

    async fn list_scim_connections(&self, tenant: &TenantId) -> Result<Vec<ScimConnection>, StoreError> {
        tenant_read!(self, tenant, |c, no| directory::list_scim_connections(c, no))
    }
}

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn retention(&self, tenant: &TenantId) -> Result<Option<RetentionPolicy>, StoreError> {
        tenant_read!(self, tenant, |c, no| retention::policy(c, no))
    }

    async fn expirable(
        &self,
        tenant: &TenantId,
        before: Timestamp,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<(u64, EventId)>, StoreError> {
        tenant_read!(self, tenant, |c, no| retention::expirable(c, no, before, up_to, limit))
    }

    async fn reclaim(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let mut client = self.pool.get().await.map_err(backend)?;
        let now =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now.as_micros()) * 1000).map_err(backend)?;
        schema::fold_expired_partitions(&mut client, now).await.map_err(backend)
    }
}

#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn streams(&self, tenant: &TenantId) -> Result<Vec<Stream>, StoreError> {
        tenant_read!(self, tenant, |c, no| delivery::streams(c, no))
    }

    async fn stream(&self, tenant: &TenantId, id: &StreamId) -> Result<Option<Stream>, StoreError> {
        tenant_read!(self, tenant, |c, no| delivery::stream(c, no, id))
    }

    async fn active_streams(&self) -> Result<Vec<ActiveStream>, StoreError> {
        let client = self.reader().await?;
        let result = async { delivery::active(&**client).await }.await;
        client.finish(result)
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn credential(&self, tenant: &TenantId, member: &MemberId) -> Result<Option<Credential>, StoreError> {
        tenant_read!(self, tenant, |c, no| sessions::credential(c, no, member))
    }

    async fn session(
        &self,
        tenant: &TenantId,
        token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<(Session, Member)>, StoreError> {
        tenant_read!(self, tenant, |c, no| sessions::session(c, no, token_hash, now))
    }

    async fn count_sessions(&self, tenant: &TenantId, member: &MemberId) -> Result<u64, StoreError> {
        tenant_read!(self, tenant, |c, no| sessions::count_sessions(c, no, member))
    }

    async fn link_session(
        &self,
        tenant: &TenantId,
        session_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<ViewerLink>, StoreError> {
        tenant_read!(self, tenant, |c, no| sessions::link_session(c, no, session_hash, now))
    }

    async fn oidc_provider(&self, tenant: &TenantId) -> Result<Option<OidcProvider>, StoreError> {
        tenant_read!(self, tenant, |c, no| sessions::oidc_provider(c, no))
    }
}

#[async_trait]
impl StatsStore for PostgresStore {
    async fn histogram(&self, tenant: &TenantId, query: &Query, buckets: &Buckets) -> Result<Vec<u64>, StoreError> {
        tenant_read!(self, tenant, |c, no| stats::histogram(c, no, query, buckets))
    }

    async fn facet(
        &self,
        tenant: &TenantId,
        query: &Query,
        facet: Facet,
        limit: u32,
    ) -> Result<Vec<FacetValue>, StoreError> {
        tenant_read!(self, tenant, |c, no| stats::facet(c, no, query, facet, limit))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_tenant(&self, tenant: NewTenant, audit: NewEvent) -> Result<Tenant, StoreError> {
        self.write(Write::CreateTenant { tenant, audit }).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let client = self.reader().await?;
        let result = async { read::list_tenants(&**client).await }.await;
        client.finish(result)
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let client = self.reader().await?;
        let result = async { read::get_tenant(&**client, id).await }.await;
        client.finish(result)
    }

    async fn find_tenant(&self, id_or_alias: &str) -> Result<Option<Tenant>, StoreError> {
        let client = self.reader().await?;
        let result = async { read::find_tenant(&**client, id_or_alias).await }.await;
        client.finish(result)
    }

    async fn update_tenant(&self, id: &TenantId, update: TenantUpdate, audit: NewEvent) -> Result<Tenant, StoreError> {
        let tenant = id.clone();
        self.write(Write::UpdateTenant { tenant, update, audit }).await
    }

    async fn tenant_jwt(&self, id: &TenantId) -> Result<Option<TenantJwt>, StoreError> {
        let client = self.reader().await?;
        let result = async { tenant_update::jwt(&**client, id).await }.await;
        client.finish(result)
    }

    async fn create_key(&self, key: NewKey, audit: NewEvent) -> Result<KeyRecord, StoreError> {
        self.write(Write::CreateKey { key, audit }).await
    }

    async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, StoreError> {
        let client = self.reader().await?;
        let result = async { read::list_keys(&**client, tenant).await }.await;
        client.finish(result)
    }

    async fn get_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let client = self.reader().await?;
        let result = async { read::key_by_id(&**client, id).await }.await;
        client.finish(result)
    }

    async fn revoke_key(&self, tenant: &TenantId, id: &KeyId, audit: NewEvent) -> Result<KeyRecord, StoreError> {
        let (tenant, id) = (tenant.clone(), id.clone());
        self.write(Write::RevokeKey { tenant, id, audit }).await
    }

    fn accepts_appends(&self) -> Result<(), StoreError> {
        StoreError::check_index_lag(self.lag.get(), self.max_index_lag)
    }

    async fn admit_appends(&self) -> Result<(), StoreError> {
        self.lag.gate.admit(|| self.lag.get(), self.max_index_lag, self.index_lag_wait).await
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
        tenant_read!(self, tenant, |c, no| read::get_event(c, no, id))
    }

    async fn query(&self, tenant: &TenantId, query: &Query) -> Result<Page, StoreError> {
        tenant_read!(self, tenant, pooled, |c, no| read::query(c, no, query))
    }

    async fn count(&self, tenant: &TenantId, query: &Query) -> Result<u64, StoreError> {
        tenant_read!(self, tenant, |c, no| read::count(c, no, query))
    }

    async fn explain(&self, tenant: &TenantId, query: &Query) -> Result<Vec<String>, StoreError> {
        tenant_read!(self, tenant, pooled, |c, no| read::explain(c, no, query))
    }

    async fn redact(
        &self,
        tenant: &TenantId,
        id: &EventId,
        redaction: Redaction,
        audit: NewEvent,
    ) -> Result<StoredEvent, StoreError> {
        let (tenant, id) = (tenant.clone(), *id);
        self.write(Write::Redact { tenant, id, redaction, audit }).await
    }

    async fn expire(
        &self,
        tenant: &TenantId,
        ids: Vec<EventId>,
        redaction: Redaction,
        audit: NewEvent,
    ) -> Result<(), StoreError> {
        let tenant = tenant.clone();
        let _: StoredEvent = self.write(Write::Expire { tenant, ids, redaction, audit }).await?;
        Ok(())
    }

    async fn tree(&self, tenant: &TenantId) -> Result<TreeState, StoreError> {
        let mut client = self.client().await?;
        let no = self.tenant_no(&client, tenant).await?;
        // One snapshot: the head and the nodes it covers.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(backend)?;
        let size = tree::size(&*tx, no).await?;
        let root = tree::load_frontier(&*tx, no, size).await?.root();
        tx.commit().await.map_err(backend)?;
        Ok(TreeState { size, root })
    }

    async fn tree_reads(&self, tenant: &TenantId, reads: &[NodeRead]) -> Result<Vec<Vec<Hash>>, StoreError> {
        tenant_read!(self, tenant, |c, no| tree::read_nodes(c, no, reads))
    }

    fn grown(&self) -> Vec<Grown> {
        self.grown.drain()
    }

    async fn put_head(&self, head: &SignedTreeHead) -> Result<bool, StoreError> {
        tenant_read!(self, &head.head.tenant, |c, no| tree::put_head(c, no, head))
    }

    async fn latest_head(&self, tenant: &TenantId) -> Result<Option<SignedTreeHead>, StoreError> {
        let client = self.reader().await?;
        let result = async {
            let no = self.tenant_no(&client, tenant).await?;
            Ok(tree::heads(&**client, no, tenant, 0, u64::MAX, 1, true).await?.pop())
        }
        .await;
        client.finish(result)
    }

    async fn unsigned_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let client = self.reader().await?;
        let result = tree::unsigned_tenants(&**client).await;
        client.finish(result)
    }

    async fn heads(
        &self,
        tenant: &TenantId,
        from: u64,
        to: u64,
        limit: u32,
    ) -> Result<Vec<SignedTreeHead>, StoreError> {
        tenant_read!(self, tenant, |c, no| tree::heads(c, no, tenant, from, to, i64::from(limit), false))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.queue.is_closed() {
            return Err(StoreError::Closed);
        }
        self.queue.check_space()?;
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        let stop = self.stop_indexer.lock().ok().and_then(|mut s| s.take());
        drop(stop);
        let indexer = self.indexer.lock().ok().and_then(|mut i| i.take());
        if let Some(handle) = indexer {
            if handle.await.is_err() {
                tracing::error!("the PostgreSQL indexer task ended abnormally");
            }
        }
        // Dropping the last sender lets the writer drain its queue and stop.
        self.queue.close();
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            if handle.await.is_err() {
                tracing::error!("the PostgreSQL writer task ended abnormally");
            }
        }
    }
}
