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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_ingest_body, Limits};

    /// What stays and what goes (found by `cargo mutants`: only the stores' tests used to
    /// look at a tombstone).
    #[test]
    fn a_tombstone_keeps_the_place_and_the_leaf_and_nothing_else() {
        let body = br#"{"action":"user.login","status":"failure","message":"secret plans","actor":{"id":"u1","email":"a@b.c"},"metadata":{"k":"v"}}"#;
        let now = Timestamp::from_micros(1_700_000_000_000_000);
        let new = parse_ingest_body(body, &Limits::default(), now).expect("valid").events.remove(0);
        let leaf = new.leaf.expect("leaf");
        let at = Timestamp::from_micros(1_800_000_000_000_000);
        let text = tombstone(&new.event, &leaf, "GDPR erasure", "key_1", at);
        let stone: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let stored: serde_json::Value = serde_json::from_str(&new.json).expect("JSON");
        for kept in ["id", "time", "received_at", "action", "status"] {
            assert_eq!(stone[kept], stored[kept], "{kept} stays");
        }
        assert_eq!(stone["hash"], serde_json::to_value(leaf).expect("hash"));
        assert_eq!(stone["redacted"], json!({"at": at, "by": "key_1", "reason": "GDPR erasure"}));
        assert_eq!(stone["truncated"], false);
        let keys: Vec<&String> = stone.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 8, "nothing else: {keys:?}");
        // Positive control: the original held what the tombstone drops.
        assert_eq!(stored["message"], "secret plans");
        assert!(!text.contains("secret plans") && !text.contains("a@b.c"));
    }
}
