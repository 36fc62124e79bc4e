//! Size limits on what publishers send. Defaults follow the design brief §3; operators can
//! change them in the config file's `[limits]` table.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest stored event, in bytes of JSON, after bodies were truncated.
    pub max_event_bytes: usize,
    /// Most events in one request.
    pub max_batch_events: usize,
    /// Largest request body, in bytes.
    pub max_batch_bytes: usize,
    /// Longest id, name, type, email, action, method or correlation id, in characters.
    pub max_short_string: usize,
    /// Longest `message`, `reason` or `request.path`, in characters.
    pub max_long_string: usize,
    /// Most `context` entries.
    pub max_context_entries: usize,
    /// Most targets.
    pub max_targets: usize,
    /// How far an event's `time` may lie ahead of the server's clock, in seconds. Together
    /// with the fixed lower bound [`EARLIEST_EVENT_TIME`] this is the window of accepted
    /// times: a far-future time would land outside every PostgreSQL monthly partition.
    pub max_future_skew_seconds: u64,
}

/// The earliest accepted event `time`: the Unix epoch, 1970-01-01T00:00:00Z.
pub const EARLIEST_EVENT_TIME: Timestamp = Timestamp::from_micros(0);

impl Limits {
    /// The latest event `time` accepted when the server's clock reads `now`.
    pub fn latest_event_time(&self, now: Timestamp) -> Timestamp {
        let skew = i64::try_from(self.max_future_skew_seconds).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        now.plus_micros(skew).min(Timestamp::MAX)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: 64 * 1024,
            max_batch_events: 1000,
            max_batch_bytes: 8 * 1024 * 1024,
            max_short_string: 1024,
            max_long_string: 8192,
            max_context_entries: 64,
            max_targets: 64,
            max_future_skew_seconds: 86_400,
        }
    }
}
