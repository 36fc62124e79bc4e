//! Size limits on what publishers send. Defaults follow the design brief §3; operators can
//! change them in the config file's `[limits]` table.

use serde::{Deserialize, Serialize};

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
        }
    }
}
