//! Retraced's event hash (contract Part C), which its official clients recompute for every
//! event they send and compare with the server's answer.

use sha2::{Digest, Sha256};

use super::input::RetracedEvent;

/// `%` → `%25`, `:` → `%3A` (every part).
fn pass_one(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A")
}

/// `=` → `%3D`, `;` → `%3B` (keys and values of `fields` and `metadata`, after pass one).
fn pass_two(s: &str) -> String {
    s.replace('=', "%3D").replace(';', "%3B")
}

/// `key=value;` for each entry, in JavaScript's default sort order of the keys (UTF-16 code
/// units).
fn pairs(map: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = map.iter().collect();
    sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    sorted.iter().map(|(k, v)| format!("{}={};", pass_two(&pass_one(k)), pass_two(&pass_one(v)))).collect()
}

/// The canonical string the hash is taken of.
pub fn canonical(event: &RetracedEvent, id: &str) -> String {
    let part = |v: Option<&str>| v.map(pass_one).unwrap_or_default();
    let mut s = String::new();
    for p in [
        Some(id),
        Some(event.action.as_str()),
        event.target.as_ref().map(|t| t.id.as_str()),
        event.actor.as_ref().map(|a| a.id.as_str()),
        event.group.as_ref().map(|g| g.id.as_str()),
        event.source_ip.as_deref(),
    ] {
        s.push_str(&part(p));
        s.push(':');
    }
    s.push_str(if event.is_failure { "1:" } else { "0:" });
    s.push_str(if event.is_anonymous { "1:" } else { "0:" });
    match &event.fields {
        None => s.push(':'),
        Some(fields) => s.push_str(&pairs(fields)),
    }
    if let Some(external_id) = event.external_id.as_deref().filter(|e| !e.is_empty()) {
        s.push(':');
        s.push_str(&pass_one(external_id));
    }
    if let Some(metadata) = &event.metadata {
        s.push(':');
        s.push_str(&pairs(metadata));
    }
    s
}

/// `sha256_hex` of the canonical string.
pub fn hash(event: &RetracedEvent, id: &str) -> String {
    hex::encode(Sha256::digest(canonical(event, id).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::retraced::input::parse_event;
    use serde_json::json;

    fn event(v: serde_json::Value) -> RetracedEvent {
        parse_event(&v).unwrap_or_else(|e| panic!("valid: {e:?}"))
    }

    #[test]
    fn minimal_event() {
        let e = event(json!({"action": "a.b", "crud": "c", "is_anonymous": true}));
        assert_eq!(canonical(&e, "abc"), "abc:a.b:::::0:1::");
    }

    #[test]
    fn escapes_and_sorted_fields() {
        let e = event(json!({
            "action": "x:y%z", "crud": "u", "actor": {"id": "ac:1"}, "target": {"id": "t%1"},
            "group": {"id": "g"}, "source_ip": "::1", "is_failure": true,
            "fields": {"b": "v=1;2", "a:k": "%", "B": ""},
            "external_id": "ext:9", "metadata": {"m;": "x=y"}
        }));
        assert_eq!(
            canonical(&e, "id1"),
            "id1:x%3Ay%25z:t%251:ac%3A1:g:%3A%3A1:1:0:B=;a%3Ak=%25;b=v%3D1%3B2;:ext%3A9:m%3B=x%3Dy;"
        );
        // The canonical strings here and the digest were checked with the official client's
        // `buildHashTarget` and Node's crypto.
        assert_eq!(hash(&e, "id1"), "5573c69133b0e0b866473b77761c5e76be6e7a4aac7a399161775f28a5959d89");
    }

    #[test]
    fn empty_fields_and_metadata_still_count() {
        let e = event(json!({"action": "a", "crud": "r", "actor": {"id": "1"}, "fields": {}, "metadata": {}}));
        assert_eq!(canonical(&e, "i"), "i:a::1:::0:0::");
    }
}
