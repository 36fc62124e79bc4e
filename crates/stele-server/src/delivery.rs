//! Stream delivery: every unpaused stream of every tenant, delivered in seq order, at least
//! once, by one node at a time.
//!
//! A supervisor task reads the active streams every [`Settings::scan`] and keeps one worker
//! task per stream (a changed record — new filter, new settings, paused — restarts it), so
//! streams never wait on each other, and none of this touches the ingest path: a worker
//! only reads the log and writes its own progress row.
//!
//! A worker:
//! 1. takes the stream's **lease** in the store for [`Settings::lease`] (on PostgreSQL with
//!    several nodes, whoever holds an unexpired lease delivers; a dead node's lease runs out
//!    and another node takes the stream over), and renews it at half-time;
//! 2. reads the matching events after the **cursor** in seq order through the one query
//!    model (`routes::tail::window`: the stream's filter AND `cursor < seq ≤ head`), up to
//!    the sink's batch size; a sink that batches by time too (S3: one object per N events or
//!    T seconds) waits until the batch is full or its oldest event waited T;
//! 3. hands the batch to its `stele_streams::Sink` (with a signed head covering it and each
//!    event's inclusion proof, when the sink wants them: S3 objects verify offline);
//! 4. only after the destination acknowledged, moves the cursor (`StreamDelivered`): to
//!    the batch's last seq when the batch was cut by its size, else to the window's end
//!    (the events in between did not match the filter). A failure is recorded
//!    (`StreamFailed`: the kind of failure, shown in the stream's status) and retried after
//!    a capped exponential backoff with full jitter (`stele_streams::Backoff`). The moved
//!    cursor is saved every [`Settings::save`] for all batches acknowledged since (and at
//!    once on a stop or a failure), in one write.
//!
//! So a crash or SIGKILL before the cursor's save re-sends what was acknowledged since the
//! last save (at least once: receivers dedupe by event id or seq), and never skips an event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use stele_core::{PageRequest, Query, TenantId, Timestamp};
use stele_store::delivery::{Stream, StreamId};
use stele_store::directory::RecordChange;
use stele_store::{proofs, Store, StoreError};
use stele_streams::{Backoff, Batch, Item, Sink, SinkContext};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::state::AppState;

/// Events read from the store per page.
const PAGE: u32 = 1000;

/// How delivery runs (`[streams]` in the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// This process's name in leases (unique per process).
    pub node: String,
    /// How long a lease lasts; renewed at half-time.
    pub lease: Duration,
    /// How often a caught-up worker looks for new events.
    pub poll: Duration,
    /// How often the supervisor looks for new, changed or removed streams.
    pub scan: Duration,
    /// How often a delivering worker saves its cursor.
    pub save: Duration,
    /// Per-request timeout of a destination.
    pub timeout: Duration,
    pub backoff: Backoff,
}

impl Settings {
    pub fn from_config(c: &crate::config::Streams, node: String) -> Self {
        Settings {
            node,
            lease: Duration::from_secs(c.lease_seconds),
            poll: Duration::from_millis(c.poll_ms),
            scan: Duration::from_millis(c.scan_ms),
            save: Duration::from_millis(c.cursor_save_ms),
            timeout: Duration::from_millis(c.request_timeout_ms),
            backoff: Backoff {
                base: Duration::from_millis(c.retry_base_ms),
                cap: Duration::from_millis(c.retry_cap_ms),
            },
        }
    }
}

/// The running supervisor.
pub struct DeliveryHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl DeliveryHandle {
    /// Stops every worker (a batch in flight is abandoned unacknowledged: it is sent again
    /// after the restart) and waits for them.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// Starts the supervisor.
pub fn spawn(state: AppState, settings: Settings) -> DeliveryHandle {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(supervise(state, Arc::new(settings), stopped));
    DeliveryHandle { stop, task }
}

struct Worker {
    version: u64,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn supervise(state: AppState, settings: Arc<Settings>, mut stopped: watch::Receiver<bool>) {
    let mut workers: HashMap<(TenantId, StreamId), Worker> = HashMap::new();
    loop {
        match state.store.active_streams().await {
            Ok(active) => {
                let wanted: HashMap<(TenantId, StreamId), u64> =
                    active.into_iter().map(|s| ((s.tenant, s.id), s.version)).collect();
                let gone: Vec<_> = workers
                    .iter()
                    .filter(|(k, w)| wanted.get(*k) != Some(&w.version) || w.task.is_finished())
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in gone {
                    if let Some(w) = workers.remove(&key) {
                        w.stop.send_replace(true);
                        let _ = w.task.await;
                    }
                }
                for (key, version) in wanted {
                    if let std::collections::hash_map::Entry::Vacant(slot) = workers.entry(key.clone()) {
                        let (stop, stop_rx) = watch::channel(false);
                        let (tenant, id) = key;
                        let task = tokio::spawn(run(state.clone(), settings.clone(), tenant, id, stop_rx));
                        slot.insert(Worker { version, stop, task });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "streams: could not read the active streams"),
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.scan) => {}
            _ = stopped.changed() => break,
        }
    }
    for w in workers.values() {
        w.stop.send_replace(true);
    }
    for (_, w) in workers {
        let _ = w.task.await;
    }
}

/// Why a worker's round ended.
enum Stop {
    /// Told to stop, or the stream is gone.
    Done,
    /// Another node holds the lease, or this node lost it.
    Lease,
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) if what == "lease" => Stop::Lease,
            StoreError::RecordNotFound(..) => Stop::Done,
            other => Stop::Store(other),
        }
    }
}

/// Sleeps `d`, or less when told to stop; true when told to stop.
async fn pause(d: Duration, stopped: &mut watch::Receiver<bool>) -> bool {
    if *stopped.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stopped.borrow(),
        r = stopped.changed() => r.is_err() || *stopped.borrow(),
    }
}

async fn run(
    state: AppState,
    settings: Arc<Settings>,
    tenant: TenantId,
    id: StreamId,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let wait = match deliver(&state, &settings, &tenant, &id, &mut stopped).await {
            Stop::Done => {
                release(&*state.store, &settings, &tenant, &id).await;
                return;
            }
            Stop::Lease => settings.lease / 2,
            Stop::Store(e) => {
                tracing::warn!(%tenant, stream = %id, error = %e, "stream delivery paused on a store error");
                settings.poll * 8
            }
        };
        if pause(wait, &mut stopped).await {
            return;
        }
    }
}

/// Holds the lease and delivers until told to stop or the lease is lost.
async fn deliver(
    state: &AppState,
    settings: &Settings,
    tenant: &TenantId,
    id: &StreamId,
    stopped: &mut watch::Receiver<bool>,
) -> Stop {
    let store = &*state.store;
    let mut lease_until = match claim(store, settings, tenant, id).await {
        Ok(until) => until,
        Err(stop) => return stop,
    };
    let Some(stream) = (match store.stream(tenant, id).await {
        Ok(s) => s,
        Err(e) => return e.into(),
    }) else {
        return Stop::Done;
    };
    let sink = match open_sink(state, settings, tenant, &stream) {
        Ok(sink) => sink,
        Err(detail) => {
            // Settings that cannot be opened (another deployment key?) will not heal by
            // retrying quickly; say so in the status and look again later.
            if let Err(e) = failed(store, settings, tenant, id, &detail).await {
                return e.into();
            }
            return match pause(settings.backoff.cap, stopped).await {
                true => Stop::Done,
                false => Stop::Lease,
            };
        }
    };
    let base = match crate::routes::streams::stream_query(stream.record.filter.clone()) {
        Ok(q) => q,
        Err(e) => {
            let _ = failed(store, settings, tenant, id, &format!("the stream's filter is refused: {}", e.detail)).await;
            return Stop::Done;
        }
    };
    let policy = sink.policy();
    let mut cursor = stream.progress.cursor;
    let mut failures = stream.progress.failures;
    let mut waiting_since: Option<Instant> = None;
    // The cursor of an acknowledged batch is written while the next batch is read and sent
    // (at most one write in flight, awaited before the next): the writer's group commit then
    // costs no round of its own. A failed write (a lost lease) ends the round one batch
    // later, which at worst sends that batch twice — still at least once, never a skip.
    let mut pending: Option<JoinHandle<Result<(), StoreError>>> = None;
    // Acknowledged progress not written yet: saved every `settings.save` (one write for
    // many batches: under load a caught-up stream delivers every poll, and a write per
    // batch made the writer commit more often for the streams than for the ingest), and at
    // once on a stop or a failure.
    let mut unsaved = Unsaved::default();
    loop {
        if *stopped.borrow() {
            let _ = unsaved.save(state, settings, tenant, id, &mut pending).await;
            let _ = settle(&mut pending).await;
            return Stop::Done;
        }
        if Timestamp::now().as_micros() > lease_until.as_micros() - (settings.lease.as_micros() as i64) / 2 {
            lease_until = match claim(store, settings, tenant, id).await {
                Ok(until) => until,
                Err(stop) => return stop,
            };
        }
        let head = match store.tree(tenant).await {
            Ok(t) => t.size,
            Err(e) => return e.into(),
        };
        if head <= cursor {
            if unsaved.due(settings) {
                if let Err(e) = unsaved.save(state, settings, tenant, id, &mut pending).await {
                    return e.into();
                }
            }
            if pause(settings.poll, stopped).await {
                let _ = unsaved.save(state, settings, tenant, id, &mut pending).await;
                let _ = settle(&mut pending).await;
                return Stop::Done;
            }
            continue;
        }
        let (items, window_end) = match read_batch(store, tenant, &base, cursor, head, policy.max_events).await {
            Ok(read) => read,
            Err(e) => return e.into(),
        };
        if items.is_empty() {
            // Nothing in (cursor, head] matches: move past it.
            unsaved.acknowledged(window_end, 0);
            cursor = window_end;
            continue;
        }
        let full = items.len() >= policy.max_events;
        if !full && !policy.max_wait.is_zero() {
            let since = *waiting_since.get_or_insert_with(Instant::now);
            let left = policy.max_wait.saturating_sub(since.elapsed());
            if !left.is_zero() {
                if pause(left.min(settings.poll), stopped).await {
                    return Stop::Done;
                }
                continue;
            }
        }
        let last = items.last().map_or(window_end, |i| i.seq.get());
        let batch = match batch_of(state, tenant, items, policy.needs_proofs).await {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        // The record as committed now: a pause or a change that was answered before this
        // batch was read (it holds an event appended after that answer) must stop delivery
        // here, not when the supervisor next looks; a changed stream restarts with its new
        // settings.
        match store.stream(tenant, id).await {
            Ok(Some(now)) if !now.record.paused && now.record.version == stream.record.version => {}
            Ok(_) => {
                let _ = unsaved.save(state, settings, tenant, id, &mut pending).await;
                let _ = settle(&mut pending).await;
                return Stop::Done;
            }
            Err(e) => return e.into(),
        }
        let count = batch.items.len() as u64;
        let outcome = tokio::select! {
            r = sink.deliver(&batch) => Some(r),
            _ = stopped.changed() => None,
        };
        match outcome {
            None => {
                let _ = unsaved.save(state, settings, tenant, id, &mut pending).await;
                let _ = settle(&mut pending).await;
                return Stop::Done;
            }
            Some(Ok(())) => {
                let to = if full { last } else { window_end };
                unsaved.acknowledged(to, count);
                if unsaved.due(settings) {
                    if let Err(e) = unsaved.save(state, settings, tenant, id, &mut pending).await {
                        return e.into();
                    }
                }
                crate::metrics::stream_delivered(count);
                cursor = to;
                failures = 0;
                waiting_since = None;
            }
            Some(Err(e)) => {
                if let Err(e) = unsaved.save(state, settings, tenant, id, &mut pending).await {
                    return e.into();
                }
                if let Err(e) = settle(&mut pending).await {
                    return e.into();
                }
                crate::metrics::stream_failed();
                tracing::info!(%tenant, stream = %id, error = %e.detail, "stream delivery failed; retrying");
                if let Err(e) = failed(store, settings, tenant, id, &e.detail).await {
                    return e.into();
                }
                failures = failures.saturating_add(1);
                let delay = settings.backoff.delay(failures, &mut rand::thread_rng());
                if pause(delay, stopped).await {
                    return Stop::Done;
                }
            }
        }
    }
}

/// Gives the lease up (it expires now), so another node — or this one after a restart — can
/// take the stream at once. Only the holder's claim changes anything.
async fn release(store: &dyn Store, settings: &Settings, tenant: &TenantId, id: &StreamId) {
    let now = Timestamp::now();
    let change = RecordChange::ClaimStream { id: id.clone(), node: settings.node.clone(), until: now, now };
    match store.change(tenant, change, vec![]).await {
        Ok(()) | Err(StoreError::Conflict(_)) | Err(StoreError::RecordNotFound(..)) => {}
        Err(e) => tracing::debug!(%tenant, stream = %id, error = %e, "could not release a stream's lease"),
    }
}

async fn claim(store: &dyn Store, settings: &Settings, tenant: &TenantId, id: &StreamId) -> Result<Timestamp, Stop> {
    let now = Timestamp::now();
    let until = Timestamp::from_micros(now.as_micros() + settings.lease.as_micros() as i64);
    let change = RecordChange::ClaimStream { id: id.clone(), node: settings.node.clone(), until, now };
    store.change(tenant, change, vec![]).await?;
    Ok(until)
}

/// Records an acknowledged batch (cursor `cursor`, `count` events) in a task of its own.
fn spawn_delivered(
    state: &AppState,
    settings: &Settings,
    tenant: &TenantId,
    id: &StreamId,
    cursor: u64,
    count: u64,
) -> JoinHandle<Result<(), StoreError>> {
    let store = state.store.clone();
    let tenant = tenant.clone();
    let change = RecordChange::StreamDelivered {
        id: id.clone(),
        node: settings.node.clone(),
        cursor,
        delivered: count,
        at: Timestamp::now(),
    };
    tokio::spawn(async move { store.change(&tenant, change, vec![]).await })
}

/// Acknowledged deliveries whose cursor is not written yet.
struct Unsaved {
    /// The cursor to write and the events delivered since the last write.
    progress: Option<(u64, u64)>,
    saved_at: Instant,
}

impl Default for Unsaved {
    fn default() -> Self {
        Unsaved { progress: None, saved_at: Instant::now() }
    }
}

impl Unsaved {
    fn acknowledged(&mut self, cursor: u64, count: u64) {
        let before = self.progress.map_or(0, |(_, n)| n);
        self.progress = Some((cursor, before + count));
    }

    /// Whether there is progress to write and the last write is `settings.save` old.
    fn due(&self, settings: &Settings) -> bool {
        self.progress.is_some() && self.saved_at.elapsed() >= settings.save
    }

    /// Starts writing the progress (after the write in flight, if any, ended).
    async fn save(
        &mut self,
        state: &AppState,
        settings: &Settings,
        tenant: &TenantId,
        id: &StreamId,
        pending: &mut Option<JoinHandle<Result<(), StoreError>>>,
    ) -> Result<(), StoreError> {
        let Some((cursor, count)) = self.progress else { return Ok(()) };
        settle(pending).await?;
        *pending = Some(spawn_delivered(state, settings, tenant, id, cursor, count));
        self.progress = None;
        self.saved_at = Instant::now();
        Ok(())
    }
}

/// Waits for the cursor write in flight, if any.
async fn settle(pending: &mut Option<JoinHandle<Result<(), StoreError>>>) -> Result<(), StoreError> {
    match pending.take() {
        Some(write) => write.await.map_err(|e| StoreError::Backend(format!("cursor write: {e}")))?,
        None => Ok(()),
    }
}

async fn failed(
    store: &dyn Store,
    settings: &Settings,
    tenant: &TenantId,
    id: &StreamId,
    error: &str,
) -> Result<(), StoreError> {
    let change = RecordChange::StreamFailed {
        id: id.clone(),
        node: settings.node.clone(),
        error: error.to_owned(),
        at: Timestamp::now(),
    };
    store.change(tenant, change, vec![]).await
}

/// The stream's sink, from its stored settings and its secrets opened with the deployment key.
fn open_sink(
    state: &AppState,
    settings: &Settings,
    tenant: &TenantId,
    stream: &Stream,
) -> Result<Box<dyn Sink>, String> {
    let record = &stream.record;
    let context = crate::routes::streams::secret_context(tenant, &record.id);
    let clear = state
        .secrets
        .open(&context, &record.secrets_sealed)
        .map_err(|_| "the stream's secrets cannot be opened with this deployment's secret key".to_owned())?;
    let secrets: stele_streams::Secrets =
        serde_json::from_slice(&clear).map_err(|_| "the stream's stored secrets are unreadable".to_owned())?;
    let destination: stele_streams::Destination = serde_json::from_str(&record.destination)
        .map_err(|_| "the stream's stored settings are unreadable".to_owned())?;
    let context = SinkContext { timeout: settings.timeout, user_agent: format!("stele/{}", env!("CARGO_PKG_VERSION")) };
    stele_streams::sink(&destination, &secrets, &context).map_err(|e| e.to_string())
}

/// Up to `max` matching events of `(cursor, head]` in seq order, and where the read window
/// ends: `head`, or the last event read when the batch filled up.
async fn read_batch(
    store: &dyn Store,
    tenant: &TenantId,
    base: &Query,
    cursor: u64,
    head: u64,
    max: usize,
) -> Result<(Vec<stele_core::StoredEvent>, u64), StoreError> {
    let page = PAGE.min(max.max(1) as u32);
    let mut query = crate::routes::tail::window(base, cursor, head, page).map_err(StoreError::Backend)?;
    let mut events = Vec::new();
    loop {
        let got = store.query(tenant, &query).await?;
        events.extend(got.events);
        if events.len() >= max {
            events.truncate(max);
            return Ok((events, head));
        }
        match got.next {
            Some(next) => query.page = PageRequest::After(next),
            None => return Ok((events, head)),
        }
    }
}

/// The batch handed to the sink: each event with its time, and when the sink wants them, a
/// signed head covering the batch and each event's inclusion proof against it.
async fn batch_of(
    state: &AppState,
    tenant: &TenantId,
    events: Vec<stele_core::StoredEvent>,
    proofs_wanted: bool,
) -> Result<Batch, StoreError> {
    let store = &*state.store;
    let head = match proofs_wanted {
        true => crate::integrity::head_covering_now(store, &state.signer, &state.heads_signed, tenant).await?,
        false => None,
    };
    let mut proofs = match &head {
        Some(h) => {
            let indexes: Vec<u64> = events.iter().map(|e| e.seq.get() - 1).collect();
            proofs::inclusions(store, tenant, &indexes, h.head.size).await?
        }
        None => Vec::new(),
    }
    .into_iter();
    let mut items = Vec::with_capacity(events.len());
    for e in events {
        let json = e.to_json();
        let time = event_time(&json);
        let proof = proofs.next().map(|p| serde_json::json!(p));
        items.push(Item { seq: e.seq.get(), time, json, proof });
    }
    let head = head.map(|h| serde_json::to_value(h).unwrap_or_default());
    Ok(Batch { tenant: tenant.to_string(), items, head })
}

/// The `time` of a served event. Stele serialises an event as `{"seq":…,"id":…,"time":…`, so
/// the member is near the front and found without parsing the whole event (a full parse per
/// event and stream was a measurable part of delivery); anything else is parsed. A `"time":"`
/// inside a string value cannot match: its quotes are escaped there.
fn event_time(json: &str) -> String {
    const NEEDLE: &str = "\"time\":\"";
    let front = json.get(..json.len().min(160)).unwrap_or(json);
    if let Some(at) = front.find(NEEDLE) {
        let rest = &json[at + NEEDLE.len()..];
        if let Some(end) = rest.find('"') {
            return rest[..end].to_owned();
        }
    }
    #[derive(Deserialize)]
    struct Time {
        time: String,
    }
    serde_json::from_str::<Time>(json).map(|t| t.time).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::event_time;

    #[test]
    fn the_time_is_found_at_the_front_or_parsed() {
        let served = r#"{"seq":7,"id":"0193","time":"2026-11-30T10:00:00.000000Z","action":"a"}"#;
        assert_eq!(event_time(served), "2026-11-30T10:00:00.000000Z");
        let late = format!(r#"{{"seq":7,"action":"{}","time":"2026-01-01T00:00:00.000000Z"}}"#, "x".repeat(300));
        assert_eq!(event_time(&late), "2026-01-01T00:00:00.000000Z", "parsed when not near the front");
        let tricky = r#"{"seq":7,"message":"a \"time\":\"no\"","time":"2026-02-02T00:00:00.000000Z"}"#;
        assert_eq!(event_time(tricky), "2026-02-02T00:00:00.000000Z", "escaped quotes inside a value do not match");
    }
}
