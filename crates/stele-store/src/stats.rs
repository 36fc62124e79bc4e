//! Counts for the viewer's histogram and facets, under the one query model: every count
//! takes a [`Query`] (filter, view, words, range — the same a page of events takes) and
//! counts exactly the events that query matches, so a histogram or facet never shows an
//! event its reader could not list. Page, sort and limit are ignored.

use async_trait::async_trait;
use stele_core::{Query, TenantId, Timestamp};

use crate::StoreError;

/// Most buckets one histogram has.
pub const MAX_BUCKETS: u32 = 200;
/// Most values one facet answers.
pub const MAX_FACET_VALUES: u32 = 50;

/// Equal time buckets: bucket `i` holds events with `start + i·width ≤ time < start + (i+1)·width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start: Timestamp,
    pub width_micros: i64,
    pub count: u32,
}

impl Buckets {
    /// The instant after the last bucket.
    pub fn end(&self) -> Timestamp {
        let span = self.width_micros.saturating_mul(i64::from(self.count));
        Timestamp::from_micros(self.start.as_micros().saturating_add(span))
    }

    /// `query` with its range narrowed to the buckets (what a backend counts).
    pub fn narrow(&self, query: &Query) -> Query {
        let mut q = query.clone();
        let (start, end) = (self.start, self.end());
        q.range.from = Some(q.range.from.map_or(start, |f| f.max(start)));
        q.range.to = Some(q.range.to.map_or(end, |t| t.min(end)));
        q
    }
}

/// An attribute whose most frequent values a facet counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Facet {
    Action,
    Status,
    /// `actor.email` (events without one are not counted).
    ActorEmail,
    /// `target.type`, ASCII-lowercased (as the index keeps it); an event counts once per type.
    TargetType,
}

impl Facet {
    pub const ALL: [Facet; 4] = [Facet::Action, Facet::Status, Facet::ActorEmail, Facet::TargetType];

    /// The attribute's name in the filter language.
    pub fn attribute(self) -> &'static str {
        match self {
            Facet::Action => "action",
            Facet::Status => "status",
            Facet::ActorEmail => "actor.email",
            Facet::TargetType => "target.type",
        }
    }

    pub fn parse(name: &str) -> Option<Facet> {
        Facet::ALL.into_iter().find(|f| f.attribute() == name)
    }
}

/// One value of a facet and how many events have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

/// Counts by time bucket and by attribute value. Part of every [`crate::Store`].
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// How many events `query` matches in each bucket (`buckets.count` numbers).
    async fn histogram(&self, tenant: &TenantId, query: &Query, buckets: &Buckets) -> Result<Vec<u64>, StoreError>;

    /// The `limit` most frequent values of `facet` among the events `query` matches, most
    /// frequent first (ties by value).
    async fn facet(
        &self,
        tenant: &TenantId,
        query: &Query,
        facet: Facet,
        limit: u32,
    ) -> Result<Vec<FacetValue>, StoreError>;
}

/// Places `(bucket index, count)` rows into `count` numbers (indexes out of range are
/// dropped: they cannot occur for a narrowed query).
pub fn fill(rows: impl IntoIterator<Item = (i64, i64)>, count: u32) -> Vec<u64> {
    let mut out = vec![0u64; count as usize];
    for (i, n) in rows {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            *slot += u64::try_from(n).unwrap_or(0);
        }
    }
    out
}
