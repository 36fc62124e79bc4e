//! The audit event: what a publisher sends, and what Stele stores and serves.

use std::collections::BTreeMap;

use crate::free::{FreeInput, FreeJson};
use crate::integrity::{canonical_event, leaf_hash, Hash};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, Seq};
use crate::timestamp::Timestamp;

/// Outcome of the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Success,
    Failure,
    Warning,
    Pending,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Warning => "warning",
            Status::Pending => "pending",
        }
    }
}

/// Where the action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    User,
    Api,
    System,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::User => "user",
            Origin::Api => "api",
            Origin::System => "system",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Actor {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// What it was done to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The request that carried the action, with its (redacted, possibly truncated) bodies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub query: Option<FreeJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub body: Option<FreeJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub response_body: Option<FreeJson>,
}

/// Before and after images of what changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub before: Option<FreeJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub after: Option<FreeJson>,
}

/// [`RequestInfo`] as a publisher sends it: its free-form parts are redacted and checked as
/// they are read ([`FreeInput`]).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "crate::free::sent_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub query: Option<FreeInput>,
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub body: Option<FreeInput>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub response_body: Option<FreeInput>,
}

/// [`Changes`] as a publisher sends them.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangesInput {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub before: Option<FreeInput>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub after: Option<FreeInput>,
}

/// An event as a publisher sends it. Server-assigned fields (`id`, `seq`, `received_at`,
/// `truncated`, `hash`) are not accepted; unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// When it happened; defaults to the time Stele received it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub time: Option<Timestamp>,
    pub action: String,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub actor: Option<Actor>,
    #[serde(default)]
    pub origin: Option<Origin>,
    #[serde(default)]
    pub targets: Option<Vec<Target>>,
    #[serde(default, deserialize_with = "crate::unique_keys::strict::string_map")]
    pub context: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub request: Option<RequestInput>,
    #[serde(default)]
    pub changes: Option<ChangesInput>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default, deserialize_with = "crate::free::sent_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<FreeInput>,
}

/// An event as stored, without its log position (`seq`), which the store assigns.
/// Field order here is the order of the stored JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = "uuid"))]
    pub id: EventId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub time: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub received_at: Timestamp,
    pub action: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// A JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<FreeJson>,
    pub truncated: bool,
}

/// A validated event ready to append: the typed event (backends index its fields), its
/// Merkle leaf hash, and its JSON (what is stored and served), made once on the request path.
/// The JSON is the event's canonical JSON — the leaf's own input — with the hash as its last
/// member, so an event is serialised once: members in canonical (code point) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event: Event,
    /// `None` only when integrity is switched off (benchmark baseline).
    pub leaf: Option<Hash>,
    pub json: String,
}

impl NewEvent {
    pub fn new(event: Event) -> Self {
        let mut json = canonical_event(&event);
        let leaf = leaf_hash(&json);
        json.pop();
        json.extend_from_slice(b",\"hash\":\"");
        leaf.write_hex(&mut json);
        json.extend_from_slice(b"\"}");
        Self { event, leaf: Some(leaf), json: Self::text(json) }
    }

    /// Without a leaf hash: for measuring what integrity costs (`stele bench ingest`).
    pub fn without_integrity(event: Event) -> Self {
        let json = Self::text(canonical_event(&event));
        Self { event, leaf: None, json }
    }

    fn text(mut json: Vec<u8>) -> String {
        // The writer's buffer grew by doubling: up to twice the text, held until the event is
        // stored (a batch of 1 000 ~1.1 KB events kept 2 MB for 1.1 MB of text). An exact copy
        // costs ~0.1 µs; shrinking in place would not free it (the allocator keeps a block
        // that shrinks by less than half).
        if json.capacity() > json.len() + json.len() / 8 {
            json = json.as_slice().to_vec();
        }
        crate::integrity::canonical::into_text(json)
    }
}

/// An event read back from a store: its position and its stored JSON (without `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: Seq,
    pub json: String,
}

impl StoredEvent {
    /// The event as served: the stored JSON object with `seq` as its first member.
    pub fn to_json(&self) -> String {
        let rest = self.json.strip_prefix('{').unwrap_or(&self.json);
        let mut out = String::with_capacity(self.json.len() + 24);
        out.push_str("{\"seq\":");
        out.push_str(&self.seq.get().to_string());
        if rest.trim_start() != "}" {
            out.push(',');
        }
        out.push_str(rest);
        out
    }

    /// The typed event.
    pub fn event(&self) -> Result<Event, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn stored_json_gets_seq_first() {
        let stored = StoredEvent { seq: Seq::FIRST, json: r#"{"action":"a"}"#.into() };
        assert_eq!(stored.to_json(), r#"{"seq":1,"action":"a"}"#);
        let v: Value = serde_json::from_str(&stored.to_json()).expect("valid json");
        assert_eq!(v["seq"], 1);
    }

    #[test]
    fn an_event_is_stored_as_its_canonical_json_with_the_hash_appended() {
        let body = br#"{"time":"2026-06-01T00:00:00Z","status":"success","action":"user.created",
            "actor":{"type":"user","id":"u1"},"metadata":{"b":1.0,"a":[1e2,"\u00e9"]}}"#;
        let now = crate::Timestamp::from_micros(1_780_272_000_000_000);
        let ingested = crate::parse_ingest_body(body, &crate::Limits::default(), now).expect("accepted");
        let new = &ingested.events[0];
        let leaf = new.leaf.expect("hashed");
        let canonical = String::from_utf8(canonical_event(&new.event)).expect("UTF-8");
        assert_eq!(new.json, format!("{},\"hash\":\"{}\"}}", &canonical[..canonical.len() - 1], leaf.to_hex()));
        assert_eq!(leaf, leaf_hash(canonical.as_bytes()));
        // Members in code point order; numbers as RFC 8785 writes them.
        assert!(
            new.json.starts_with(r#"{"action":"user.created","actor":{"id":"u1","type":"user"},"id":"#),
            "{}",
            new.json
        );
        assert!(new.json.contains(r#""metadata":{"a":[100,"é"],"b":1}"#), "{}", new.json);
        // It reads back as an event with the same canonical JSON, so the same leaf.
        let back = StoredEvent { seq: Seq::FIRST, json: new.json.clone() }.event().expect("reads back");
        assert_eq!(canonical_event(&back), canonical.into_bytes());
    }
}
