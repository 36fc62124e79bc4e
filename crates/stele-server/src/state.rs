//! What every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stele_core::integrity::HeadSigner;
use stele_core::{KeyId, Limits, SecretHash};
use stele_store::{KeyRecord, Store, StoreError};

use crate::secret_key::SecretKey;

/// How long a key record is trusted without re-reading it. Revocations through this node
/// take effect at once (the entry is dropped); through another node within this delay.
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub operator: SecretHash,
    pub limits: Limits,
    /// Seals and opens stored secrets (tenant HS256 JWT secrets).
    pub secrets: SecretKey,
    /// The tree-head signing key (its public half is served at `/v1/integrity/key`).
    pub signer: Arc<HeadSigner>,
    /// Whether events get Merkle leaves (off only for benchmarking).
    pub integrity: bool,
    /// Bumped by the head signer after each head it keeps (long polls wait on it).
    pub heads_signed: tokio::sync::watch::Sender<u64>,
    /// Whether SCIM requests are recorded (off only to measure what that costs).
    pub scim_log: bool,
    /// Failed-authentication and per-key limits.
    pub rates: crate::rate::RateLimiters,
    /// Bytes of ingest bodies in flight (`server.max_inflight_ingest_bytes`).
    pub ingest_budget: crate::routes::events::IngestBudget,
    /// The web viewer's settings and sign-in limiters.
    pub viewer: crate::viewer::ViewerState,
    /// Live tails admitted at once (`server.max_tail_streams`).
    pub tails: crate::routes::tail::TailSlots,
    /// Stream settings handlers read (`[streams]`).
    pub streams: crate::config::Streams,
    /// Retention settings (`[retention]`).
    pub retention: crate::config::Retention,
    /// Raised when the server starts shutting down: long-lived responses (live tails) end.
    pub stopping: tokio::sync::watch::Sender<bool>,
    keys: Mutex<HashMap<KeyId, (KeyRecord, Instant)>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        operator: SecretHash,
        limits: Limits,
        secrets: SecretKey,
        signer: Arc<HeadSigner>,
        integrity: bool,
    ) -> Self {
        let heads_signed = tokio::sync::watch::Sender::new(0);
        Self(Arc::new(Inner {
            store,
            operator,
            limits,
            secrets,
            signer,
            integrity,
            heads_signed,
            scim_log: true,
            rates: crate::rate::RateLimiters::new(&crate::rate::RateLimits::default()),
            ingest_budget: crate::routes::events::IngestBudget::new(
                crate::config::Server::default().max_inflight_ingest_bytes,
            ),
            viewer: crate::viewer::ViewerState::new(&crate::config::Viewer::default()),
            tails: crate::routes::tail::TailSlots::new(&crate::config::Server::default()),
            streams: crate::config::Streams::default(),
            retention: crate::config::Retention::default(),
            stopping: tokio::sync::watch::Sender::new(false),
            keys: Mutex::new(HashMap::new()),
        }))
    }

    /// Applies the settings of `config` that handlers read: rate limits, the ingest budget,
    /// and whether SCIM requests are logged. Takes effect only while this is the state's one
    /// handle (at startup).
    pub fn configured(mut self, config: &crate::Config) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.rates = crate::rate::RateLimiters::new(&config.rate_limits);
            inner.ingest_budget = crate::routes::events::IngestBudget::new(config.server.max_inflight_ingest_bytes);
            inner.scim_log = config.scim.log_requests;
            inner.viewer = crate::viewer::ViewerState::new(&config.viewer);
            inner.tails = crate::routes::tail::TailSlots::new(&config.server);
            inner.streams = config.streams.clone();
            inner.retention = config.retention.clone();
        }
        self
    }

    /// The key record, from the cache while fresh.
    pub async fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        if let Ok(cache) = self.keys.lock() {
            if let Some((record, at)) = cache.get(id) {
                if at.elapsed() < KEY_CACHE_TTL {
                    return Ok(Some(record.clone()));
                }
            }
        }
        let record = self.store.get_key(id).await?;
        if let (Some(r), Ok(mut cache)) = (&record, self.keys.lock()) {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(id.clone(), (r.clone(), Instant::now()));
        }
        Ok(record)
    }

    /// Forgets a cached key (after it was revoked here).
    pub fn forget_key(&self, id: &KeyId) {
        if let Ok(mut cache) = self.keys.lock() {
            cache.remove(id);
        }
    }
}
