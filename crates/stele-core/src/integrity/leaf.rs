//! An event's leaf: SHA-256(0x00 ‖ JCS(event)), where the event is the stored event without
//! `seq` (its position is the leaf's index) and without `hash` (the leaf hash itself).

use serde_json::{Map, Value};

use super::canonical::canonical;
use super::hash::{leaf_hash, Hash};
use crate::Event;

/// Members of a served event that are not part of its leaf input.
pub const NOT_HASHED: [&str; 3] = ["seq", "hash", "proof"];

/// The leaf hash of a typed event.
pub fn event_leaf(event: &Event) -> Hash {
    // An event is strings, integers, booleans and JSON values: it always becomes a Value.
    leaf_hash(&canonical(&serde_json::to_value(event).unwrap_or(Value::Null)))
}

/// Why a served event's leaf could not be recomputed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("the event was redacted; its leaf hash is kept but its content is gone")]
    Redacted,
}

/// Recomputes the leaf hash of an event as served (with `seq` and `hash`).
pub fn served_leaf(event: &Value) -> Result<Hash, LeafError> {
    let object = event.as_object().ok_or(LeafError::NotAnObject)?;
    if object.contains_key("redacted") {
        return Err(LeafError::Redacted);
    }
    let content: Map<String, Value> =
        object.iter().filter(|(k, _)| !NOT_HASHED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(leaf_hash(&canonical(&Value::Object(content))))
}
