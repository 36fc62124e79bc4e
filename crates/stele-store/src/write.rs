//! The one write path of every backend: writes as data ([`Write`]), a bounded queue to the
//! backend's single writer ([`WriteQueue`]), and group commit ([`Group`]).
//!
//! Every write waiting when the writer becomes free joins the same transaction (up to
//! [`MAX_GROUP_EVENTS`] events), and nobody is answered before that transaction's COMMIT has
//! returned: an answer means durable. A backend only supplies how one [`Write`] is applied
//! inside its transaction and how the transaction begins and commits; the queue, the
//! grouping and the answering live here once.
//!
//! A new record type costs a [`RecordChange`] variant and its rows in each backend: it
//! travels as [`Write::Record`], whose audit events every backend appends after the change
//! with the same code as any other write.

use stele_core::integrity::SignedTreeHead;
use stele_core::{EventId, KeyId, NewEvent, StoredEvent, TenantId};
use tokio::sync::oneshot;

use crate::directory::RecordChange;
use crate::{AppendOutcome, Idempotency, KeyRecord, NewKey, NewTenant, Redaction, StoreError, Tenant, TenantUpdate};

/// Largest number of events one group transaction takes on.
pub const MAX_GROUP_EVENTS: usize = 20_000;

/// Queue length of a writer; senders wait (asynchronously) when it is full.
pub const WRITER_QUEUE: usize = 4096;

/// Every write a store performs. `E` is an event as the backend's writer takes it: the
/// parsed [`NewEvent`], or what a backend keeps of it (SQLite's writer takes only the row's
/// columns and JSON, so a batch's parsed trees are freed before it waits for the writer).
pub enum Write<E = NewEvent> {
    Append {
        tenant: TenantId,
        events: Vec<E>,
        idempotency: Option<Idempotency>,
    },
    CreateTenant {
        tenant: NewTenant,
        audit: E,
    },
    UpdateTenant {
        tenant: TenantId,
        update: TenantUpdate,
        audit: E,
    },
    CreateKey {
        key: NewKey,
        audit: E,
    },
    RevokeKey {
        tenant: TenantId,
        id: KeyId,
        audit: E,
    },
    Redact {
        tenant: TenantId,
        id: EventId,
        redaction: Redaction,
        audit: E,
    },
    /// Tombstones for many events at once (retention), answered as the last tombstone.
    Expire {
        tenant: TenantId,
        ids: Vec<EventId>,
        redaction: Redaction,
        audit: E,
    },
    PutHead {
        head: SignedTreeHead,
    },
    /// A directory change and the events that record it.
    Record {
        tenant: TenantId,
        change: RecordChange,
        audit: Vec<E>,
    },
}

impl<E> Write<E> {
    /// The same write with its events converted (each event once, moved).
    pub fn map_events<F>(self, mut f: impl FnMut(E) -> F) -> Write<F> {
        match self {
            Write::Append { tenant, events, idempotency } => {
                Write::Append { tenant, events: events.into_iter().map(f).collect(), idempotency }
            }
            Write::CreateTenant { tenant, audit } => Write::CreateTenant { tenant, audit: f(audit) },
            Write::UpdateTenant { tenant, update, audit } => Write::UpdateTenant { tenant, update, audit: f(audit) },
            Write::CreateKey { key, audit } => Write::CreateKey { key, audit: f(audit) },
            Write::RevokeKey { tenant, id, audit } => Write::RevokeKey { tenant, id, audit: f(audit) },
            Write::Redact { tenant, id, redaction, audit } => Write::Redact { tenant, id, redaction, audit: f(audit) },
            Write::Expire { tenant, ids, redaction, audit } => {
                Write::Expire { tenant, ids, redaction, audit: f(audit) }
            }
            Write::PutHead { head } => Write::PutHead { head },
            Write::Record { tenant, change, audit } => {
                Write::Record { tenant, change, audit: audit.into_iter().map(f).collect() }
            }
        }
    }

    /// The tenant whose log (or records) the write changes.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Write::Append { tenant, .. }
            | Write::UpdateTenant { tenant, .. }
            | Write::RevokeKey { tenant, .. }
            | Write::Redact { tenant, .. }
            | Write::Expire { tenant, .. }
            | Write::Record { tenant, .. } => tenant,
            Write::CreateTenant { tenant, .. } => &tenant.id,
            Write::CreateKey { key, .. } => &key.tenant,
            Write::PutHead { head } => &head.head.tenant,
        }
    }

    /// How much of a group the write takes up (its events).
    pub fn weight(&self) -> usize {
        match self {
            Write::Append { events, .. } => events.len(),
            Write::Record { audit, .. } => audit.len().max(1),
            Write::Expire { ids, .. } => ids.len().max(1),
            _ => 1,
        }
    }
}

/// What a write produced.
#[derive(Debug)]
pub enum Written {
    Appended(AppendOutcome),
    Tenant(Tenant),
    Key(KeyRecord),
    Event(StoredEvent),
    /// Whether a head was kept (`PutHead`).
    Kept(bool),
    /// A record change was applied.
    Changed,
}

/// Converts a [`Written`] into the type one store method returns.
pub trait FromWritten: Sized {
    fn from_written(w: Written) -> Option<Self>;
}

macro_rules! from_written {
    ($t:ty, $variant:ident) => {
        impl FromWritten for $t {
            fn from_written(w: Written) -> Option<Self> {
                match w {
                    Written::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    };
}
from_written!(AppendOutcome, Appended);
from_written!(Tenant, Tenant);
from_written!(KeyRecord, Key);
from_written!(StoredEvent, Event);
from_written!(bool, Kept);

impl FromWritten for () {
    fn from_written(w: Written) -> Option<Self> {
        matches!(w, Written::Changed).then_some(())
    }
}

/// A write waiting for the writer, with the way back to its caller.
pub struct Queued<E = NewEvent> {
    pub write: Write<E>,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// The sending side of a backend's writer queue. Closing it lets the writer finish what
/// was queued and stop.
pub struct WriteQueue<E = NewEvent> {
    sender: std::sync::Mutex<Option<flume::Sender<Queued<E>>>>,
    /// The last write that appends events failed for lack of space (cleared by the next one
    /// that succeeds); `/readyz` reports it through [`WriteQueue::check_space`].
    full: std::sync::atomic::AtomicBool,
}

impl<E> WriteQueue<E> {
    /// A queue and the receiver the backend's writer reads.
    pub fn new() -> (Self, flume::Receiver<Queued<E>>) {
        let (tx, rx) = flume::bounded(WRITER_QUEUE);
        (Self { sender: std::sync::Mutex::new(Some(tx)), full: std::sync::atomic::AtomicBool::new(false) }, rx)
    }

    /// Queues a write and waits until its group has committed.
    pub async fn submit<T: FromWritten>(&self, write: Write<E>) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering;
        // A signed head is a few bytes: its success says nothing about room for events, so
        // only writes that append events clear the "full" state (else `/readyz` flapped
        // back to ready whenever the signer stored a head).
        let appends = !matches!(write, Write::PutHead { .. });
        let result = self.submit_inner(write).await;
        match &result {
            Ok(_) if appends => self.full.store(false, Ordering::Relaxed),
            Err(StoreError::StorageFull(_)) => self.full.store(true, Ordering::Relaxed),
            _ => {}
        }
        result
    }

    /// `StorageFull` while the last write that appends events found no space.
    pub fn check_space(&self) -> Result<(), StoreError> {
        match self.full.load(std::sync::atomic::Ordering::Relaxed) {
            true => Err(StoreError::StorageFull("the last write found no space left".into())),
            false => Ok(()),
        }
    }

    async fn submit_inner<T: FromWritten>(&self, write: Write<E>) -> Result<T, StoreError> {
        let sender =
            self.sender.lock().map_err(|e| StoreError::Backend(e.to_string()))?.clone().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender.send_async(Queued { write, reply }).await.map_err(|_| StoreError::Closed)?;
        let written = answer.await.map_err(|_| StoreError::Closed)??;
        T::from_written(written).ok_or_else(|| StoreError::Backend("the writer answered with the wrong kind".into()))
    }

    pub fn is_closed(&self) -> bool {
        self.sender.lock().map_or(true, |s| s.is_none())
    }

    /// Stops taking writes; the writer drains the queue and ends.
    pub fn close(&self) {
        let sender = self.sender.lock().ok().and_then(|mut s| s.take());
        drop(sender);
    }
}

/// Writes taken together into one transaction.
pub struct Group<E = NewEvent> {
    items: Vec<Queued<E>>,
    weight: usize,
}

impl<E> Group<E> {
    /// Waits (blocking the thread) for a write, then takes every one already waiting, and
    /// then, for up to `linger`, every one that arrives. `None` once the queue is closed
    /// and empty.
    ///
    /// Lingering is PostgreSQL's `commit_delay` idea: when many small writes arrive at
    /// once, a commit that waits a fraction of a millisecond for the writes that are on
    /// their way serves them all with one fsync and one set of page writes instead of one
    /// each. A writer lingers only when its previous group held more than one write (so a
    /// lone caller never waits) and never past `MAX_GROUP_EVENTS`.
    pub fn next_blocking(rx: &flume::Receiver<Queued<E>>, linger: std::time::Duration) -> Option<Group<E>> {
        let mut group = Self::gather(rx.recv().ok()?, rx);
        if linger.is_zero() {
            return Some(group);
        }
        let deadline = std::time::Instant::now() + linger;
        while group.weight < MAX_GROUP_EVENTS {
            match rx.recv_deadline(deadline) {
                Ok(q) => group.push(q),
                Err(_) => break,
            }
        }
        Some(group)
    }

    /// Like [`Group::next_blocking`], waiting asynchronously.
    pub async fn next(rx: &flume::Receiver<Queued<E>>) -> Option<Group<E>> {
        rx.recv_async().await.ok().map(|first| Self::gather(first, rx))
    }

    fn gather(first: Queued<E>, rx: &flume::Receiver<Queued<E>>) -> Group<E> {
        let mut group = Group { weight: first.write.weight(), items: vec![first] };
        while group.weight < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(q) => group.push(q),
                Err(_) => break,
            }
        }
        group
    }

    fn push(&mut self, q: Queued<E>) {
        self.weight += q.write.weight();
        self.items.push(q);
    }

    pub fn writes(&self) -> impl Iterator<Item = &Write<E>> {
        self.items.iter().map(|q| &q.write)
    }

    /// Events in the group.
    pub fn weight(&self) -> usize {
        self.weight
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Answers every caller once the group's transaction has ended: each its own result if
    /// the commit succeeded (`results` in the group's order), else the commit's failure.
    pub fn answer(self, results: Vec<Result<Written, StoreError>>, commit: Result<(), &StoreError>) {
        record_batch(self.weight, self.items.len());
        let mut results = results.into_iter();
        for q in self.items {
            let result = match commit {
                Ok(()) => results.next().unwrap_or_else(|| Err(StoreError::Backend("the writer lost a result".into()))),
                Err(e) => Err(e.same()),
            };
            // A caller that went away no longer needs its answer; the write stands.
            let _ = q.reply.send(result);
        }
    }

    /// Answers every caller with the same failure (nothing of the group was stored).
    pub fn fail(self, error: &StoreError) {
        self.answer(Vec::new(), Err(error))
    }
}

impl StoreError {
    /// The same failure again, for each caller of a failed group (the variants that a
    /// commit can fail with keep their kind; any other becomes `Backend`).
    pub fn same(&self) -> StoreError {
        match self {
            StoreError::StorageFull(m) => StoreError::StorageFull(m.clone()),
            StoreError::Closed => StoreError::Closed,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// Batch-size histograms. Label-free, so the closed-label-set rule (clippy.toml's
/// disallowed macros; stele-server's `metrics` module) has nothing to guard here.
#[allow(clippy::disallowed_macros)]
fn record_batch(weight: usize, requests: usize) {
    metrics::histogram!("stele_writer_batch_events").record(weight as f64);
    metrics::histogram!("stele_writer_batch_requests").record(requests as f64);
}
