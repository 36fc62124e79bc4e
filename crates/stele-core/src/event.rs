//! The audit event: what a publisher sends, and what Stele stores and serves.

use std::collections::BTreeMap;

use crate::integrity::{event_leaf, Hash};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::unique_keys::strict::object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub query: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::unique_keys::strict::value")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::unique_keys::strict::value")]
    pub response_body: Option<Value>,
}

/// Before and after images of what changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::unique_keys::strict::value")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::unique_keys::strict::value")]
    pub after: Option<Value>,
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
    pub request: Option<RequestInfo>,
    #[serde(default)]
    pub changes: Option<Changes>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default, deserialize_with = "crate::unique_keys::strict::object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Map<String, Value>>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Map<String, Value>>,
    pub truncated: bool,
}

/// A validated event ready to append: the typed event (backends index its fields), its
/// Merkle leaf hash, and its JSON serialisation with that hash as the last member (what is
/// stored and served), made once on the request path.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event: Event,
    /// `None` only when integrity is switched off (benchmark baseline).
    pub leaf: Option<Hash>,
    pub json: String,
}

impl NewEvent {
    pub fn new(event: Event) -> Self {
        let leaf = event_leaf(&event);
        let mut json = Self::plain_json(&event);
        json.pop();
        json.push_str(",\"hash\":\"");
        json.push_str(&leaf.to_hex());
        json.push_str("\"}");
        Self { event, leaf: Some(leaf), json }
    }

    /// Without a leaf hash: for measuring what integrity costs (`stele bench ingest`).
    pub fn without_integrity(event: Event) -> Self {
        let json = Self::plain_json(&event);
        Self { event, leaf: None, json }
    }

    fn plain_json(event: &Event) -> String {
        // Serialising a struct of strings, maps and `Value`s cannot fail.
        serde_json::to_string(event).unwrap_or_else(|_| String::from("{}"))
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

    #[test]
    fn stored_json_gets_seq_first() {
        let stored = StoredEvent { seq: Seq::FIRST, json: r#"{"action":"a"}"#.into() };
        assert_eq!(stored.to_json(), r#"{"seq":1,"action":"a"}"#);
        let v: Value = serde_json::from_str(&stored.to_json()).expect("valid json");
        assert_eq!(v["seq"], 1);
    }
}
