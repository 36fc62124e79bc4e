//! The head signer: a task that signs each grown tenant tree at most once per interval, so
//! every append is covered by a signed head within about one interval. Heads are kept, not
//! replaced. On start, and every few intervals after, it signs trees that outgrew their
//! latest head without it being told (after a crash, or by another node); on stop it signs
//! what is pending, so the last appends are covered too.
//!
//! A reader that must cover everything committed so far (an export) does not wait for the
//! next interval: [`head_covering_now`] signs a head for the tree as it is, on the spot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use stele_core::integrity::{HeadSigner, SignedTreeHead, TreeHead};
use stele_core::{TenantId, Timestamp};
use stele_store::{Store, StoreError, TreeState};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Stops the signer (after it signed what is pending).
pub struct SignerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SignerHandle {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

struct Signer {
    store: Arc<dyn Store>,
    key: Arc<HeadSigner>,
    interval: Duration,
    pending: HashMap<TenantId, TreeState>,
    last: HashMap<TenantId, Instant>,
    signed: tokio::sync::watch::Sender<u64>,
}

impl Signer {
    /// Trees that grew past their latest head without this signer being told (while no
    /// signer ran, or on another node): one read lists their tenants, then each one's tree.
    async fn catch_up(&mut self) {
        let tenants = match self.store.unsigned_tenants().await {
            Ok(t) => t,
            Err(e) => return tracing::warn!(error = %e, "head signer: cannot list unsigned trees"),
        };
        for tenant in tenants {
            match self.store.tree(&tenant).await {
                Ok(tree) => {
                    // Never replace a larger pending tree (from `grown`) by this read.
                    if self.pending.get(&tenant).is_none_or(|p| p.size < tree.size) {
                        self.pending.insert(tenant, tree);
                    }
                }
                Err(e) => tracing::warn!(%tenant, error = %e, "head signer: cannot read tree"),
            }
        }
    }

    /// Signs every pending tree whose tenant's last head is at least an interval old (all
    /// of them when `all`).
    async fn sign_due(&mut self, all: bool) {
        for g in self.store.grown() {
            let newer = self.pending.get(&g.tenant).is_none_or(|p| p.size < g.tree.size);
            if newer {
                self.pending.insert(g.tenant, g.tree);
            }
        }
        let now = Instant::now();
        let due: Vec<TenantId> = self
            .pending
            .keys()
            .filter(|t| all || self.last.get(*t).is_none_or(|at| now.duration_since(*at) >= self.interval))
            .cloned()
            .collect();
        for tenant in due {
            let Some(tree) = self.pending.get(&tenant).copied() else { continue };
            let head = TreeHead { tenant: tenant.clone(), size: tree.size, root: tree.root, time: Timestamp::now() };
            match self.store.put_head(&self.key.sign(head)).await {
                Ok(_) => {
                    crate::metrics::head_signed();
                    self.pending.remove(&tenant);
                    self.last.insert(tenant, now);
                    self.signed.send_modify(|n| *n += 1);
                }
                Err(e) => tracing::warn!(%tenant, error = %e, "head signer: cannot store a signed head"),
            }
        }
    }
}

/// A signed head covering every event of the tenant committed before the call: the latest
/// head when it already does, else one signed now for the current tree and stored (heads of
/// one size are kept once, so racing the signer is harmless). `None` for an empty tree.
pub async fn head_covering_now(
    store: &dyn Store,
    key: &HeadSigner,
    signed: &tokio::sync::watch::Sender<u64>,
    tenant: &TenantId,
) -> Result<Option<SignedTreeHead>, StoreError> {
    let tree = store.tree(tenant).await?;
    let latest = store.latest_head(tenant).await?;
    if latest.as_ref().map_or(0, |h| h.head.size) >= tree.size {
        return Ok(latest);
    }
    let head = key.sign(TreeHead { tenant: tenant.clone(), size: tree.size, root: tree.root, time: Timestamp::now() });
    if store.put_head(&head).await? {
        crate::metrics::head_signed();
        signed.send_modify(|n| *n += 1);
    }
    // The head kept for this size (the signer's, if it stored one first).
    Ok(store.heads(tenant, tree.size, tree.size, 1).await?.pop().or(Some(head)))
}

/// Every this many intervals the signer looks for trees that grew without it being told
/// ([`Signer::catch_up`]): one read, then a tree read for each tenant it lists.
const CATCH_UP_INTERVALS: u32 = 5;

/// Starts the signer.
pub fn spawn_signer(
    store: Arc<dyn Store>,
    key: Arc<HeadSigner>,
    interval: Duration,
    signed: tokio::sync::watch::Sender<u64>,
) -> SignerHandle {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let interval = interval.max(Duration::from_millis(10));
    let mut signer = Signer { store, key, interval, pending: HashMap::new(), last: HashMap::new(), signed };
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval / 10);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Trees grown by appends this signer never heard of: a commit of a node that died
        // (a SIGKILLed server's last commit can land in PostgreSQL after the next server's
        // first look), or of another node that stopped before it signed. The first tick is
        // at once, so this is also the start's catch-up.
        let mut look = tokio::time::interval(interval.saturating_mul(CATCH_UP_INTERVALS));
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = look.tick() => signer.catch_up().await,
                _ = tick.tick() => signer.sign_due(false).await,
            }
        }
        signer.sign_due(true).await;
    });
    SignerHandle { stop: Some(stop), task }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stele_store::NewTenant;

    fn one_event(action: &str) -> Vec<stele_core::NewEvent> {
        let body = serde_json::json!({ "action": action }).to_string();
        stele_core::parse_ingest_body(body.as_bytes(), &stele_core::Limits::default(), Timestamp::now())
            .expect("valid")
            .events
    }

    /// Waits (on the signer's own notifications, at most 20 s) until the latest head of
    /// `tenant` covers `size` events; returns the size it covers then.
    async fn signed_size(
        store: &dyn Store,
        signed: &mut tokio::sync::watch::Receiver<u64>,
        tenant: &TenantId,
        size: u64,
    ) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            signed.borrow_and_update();
            let now = store.latest_head(tenant).await.expect("head").map_or(0, |h| h.head.size);
            if now >= size || tokio::time::timeout_at(deadline, signed.changed()).await.is_err() {
                return now;
            }
        }
    }

    /// A tree that grows without the signer being told (appends of another store on the same
    /// database: another node, or a commit that landed after this server started) is signed
    /// within a few intervals, with no append of this node's after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trees_grown_elsewhere_are_signed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("stele.db");
        let here: Arc<dyn Store> = Arc::new(stele_sqlite::SqliteStore::open(&path).expect("open"));
        let tenant = TenantId::parse("acme").expect("id");
        let new = NewTenant { id: tenant.clone(), name: "Acme".into(), aliases: vec![], created_at: Timestamp::now() };
        here.create_tenant(new, one_event("stele.tenant.created").remove(0)).await.expect("tenant");
        here.append(&tenant, one_event("here.first"), None).await.expect("append");
        let (tx, mut rx) = tokio::sync::watch::channel(0u64);
        let signer = spawn_signer(here.clone(), Arc::new(HeadSigner::generate()), Duration::from_millis(20), tx);
        // Positive control: the start's catch-up signs what was there.
        assert_eq!(signed_size(&*here, &mut rx, &tenant, 2).await, 2);
        let elsewhere = stele_sqlite::SqliteStore::open(&path).expect("a second store on the same file");
        for i in 0..3 {
            elsewhere.append(&tenant, one_event(&format!("elsewhere.{i}")), None).await.expect("append");
        }
        assert_eq!(here.tree(&tenant).await.expect("tree").size, 5, "this store reads the other's appends");
        assert_eq!(signed_size(&*here, &mut rx, &tenant, 5).await, 5, "signed without an append here");
        signer.stop().await;
        elsewhere.close().await;
        here.close().await;
    }
}
