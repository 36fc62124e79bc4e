//! Streams: a tenant's standing orders to push its log to a destination (a webhook, Splunk,
//! Datadog, syslog, S3), and each stream's delivery progress.
//!
//! A stream is two things kept apart:
//! - its **record** ([`StreamRecord`]): name, kind, the destination's settings (JSON the
//!   server validated; the store does not read it), the destination's secrets sealed by the
//!   server, an optional filter and whether it is paused. It is versioned and every change
//!   is an event of the tenant's log (`RecordChange::PutStream`, `DeleteStream`), like
//!   members and groups;
//! - its **progress** ([`StreamProgress`]): the cursor (the last seq the destination
//!   acknowledged), counts, the last success and failure, and the delivery **lease**. These
//!   change on every batch, are not audit events, and only the node holding the lease may
//!   move them (`ClaimStream`, `StreamDelivered`, `StreamFailed`): on PostgreSQL with several
//!   nodes, each stream is delivered by one node at a time, and another node takes it over
//!   once the lease has run out. The cursor never moves backwards, so a node whose lease
//!   was taken cannot undo the new holder's progress.
//!
//! Delivery is at least once: the cursor moves only after the destination acknowledged, in
//! the same store as the events, so a restart resumes after the last acknowledged seq.

use async_trait::async_trait;
use stele_core::{TenantId, Timestamp};

use crate::StoreError;

/// Most streams one tenant may have (a new one past it is `Conflict("streams")`).
pub const MAX_STREAMS_PER_TENANT: u64 = 20;

/// A stream's id: `st_` and 32 lowercase hex digits (a UUIDv7, so ids sort by creation),
/// made by the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

/// Not a stream id.
#[derive(Debug, thiserror::Error)]
#[error("not a stream id (st_ and 32 lowercase hex digits)")]
pub struct BadStreamId;

impl StreamId {
    /// A fresh id.
    pub fn generate() -> Self {
        StreamId(format!("st_{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for StreamId {
    type Err = BadStreamId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let tail = s.strip_prefix("st_").ok_or(BadStreamId)?;
        if tail.len() == 32 && tail.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(StreamId(s.to_owned()))
        } else {
            Err(BadStreamId)
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a stream is (its versioned, audited part).
#[derive(Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub id: StreamId,
    pub name: String,
    /// The destination's kind (`webhook`, `splunk_hec`, …), as the server names it.
    pub kind: String,
    /// The destination's settings as JSON text (no secrets).
    pub destination: String,
    /// The destination's secrets, sealed by the server (never in clear).
    pub secrets_sealed: Vec<u8>,
    /// Filter text in the one filter language; `None` streams every event.
    pub filter: Option<String>,
    pub paused: bool,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for StreamRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("destination", &self.destination)
            .field("secrets_sealed", &"..")
            .field("filter", &self.filter)
            .field("paused", &self.paused)
            .field("version", &self.version)
            .finish()
    }
}

/// Where a new stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// With the tenant's first event.
    Beginning,
    /// After the tenant's newest event when the stream is made (its own `stele.stream.created`
    /// event is the first it delivers).
    Now,
}

/// Which node delivers a stream, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub node: String,
    pub until: Timestamp,
}

/// How far a stream got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamProgress {
    /// The last seq the destination acknowledged (everything up to it was delivered or
    /// did not match the filter); 0 before the first.
    pub cursor: u64,
    /// Events the destination acknowledged, in all.
    pub delivered: u64,
    pub last_success: Option<Timestamp>,
    /// The last failure, as the destination's kind of failure (no secrets, no response body).
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// Failures since the last success.
    pub failures: u32,
    pub lease: Option<Lease>,
}

/// A stream with its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub record: StreamRecord,
    pub progress: StreamProgress,
}

/// A stream that should be delivered: not paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveStream {
    pub tenant: TenantId,
    pub id: StreamId,
    pub version: u64,
}

/// Reads of streams. Part of every [`crate::Store`]. Changes go through
/// [`crate::DirectoryStore::change`].
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// The tenant's streams, oldest first.
    async fn streams(&self, tenant: &TenantId) -> Result<Vec<Stream>, StoreError>;
    async fn stream(&self, tenant: &TenantId, id: &StreamId) -> Result<Option<Stream>, StoreError>;
    /// Every tenant's unpaused streams (what the delivery supervisor runs).
    async fn active_streams(&self) -> Result<Vec<ActiveStream>, StoreError>;
}
