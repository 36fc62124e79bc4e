//! Redaction tombstones: what remains of a redacted event. Its id, times, action and status
//! stay (they place the event and say what kind it was), its leaf hash stays (so the tree
//! still verifies), and `redacted` says when, by whom and why; everything else is gone.

use serde_json::json;

use crate::integrity::Hash;
use crate::{Event, Timestamp};

/// The stored JSON of a tombstone for `event` (without `seq`, like every stored event).
pub fn tombstone(event: &Event, leaf: &Hash, reason: &str, by: &str, at: Timestamp) -> String {
    json!({
        "id": event.id,
        "time": event.time,
        "received_at": event.received_at,
        "action": event.action,
        "status": event.status,
        "truncated": false,
        "redacted": {"at": at, "by": by, "reason": reason},
        "hash": leaf,
    })
    .to_string()
}
