//! An event's leaf: SHA-256(0x00 ‖ JCS(event)), where the event is the stored event without
//! `seq` (its position is the leaf's index) and without `hash` (the leaf hash itself).

use serde_json::{Map, Value};

use std::collections::BTreeMap;

use super::canonical::{self, canonical};
use super::hash::{leaf_hash, Hash};
use crate::{Actor, Changes, Event, FreeJson, RequestInfo, Target};

/// Members of a served event that are not part of its leaf input.
pub const NOT_HASHED: [&str; 3] = ["seq", "hash", "proof"];

/// The leaf hash of a typed event.
pub fn event_leaf(event: &Event) -> Hash {
    leaf_hash(&canonical_event(event))
}

/// The canonical JSON (RFC 8785) of a typed event: the bytes of
/// `canonical(&serde_json::to_value(event))`, written straight from the fields instead of
/// through a `Value` tree (building and dropping that tree had been most of the leaf's cost
/// on the ingest path). This is Stele's own definition of a leaf, so it is written here: the
/// members come in canonical order, free-form parts go through the generic writer, and every
/// struct is destructured whole, so a new field does not compile until it has its place.
/// `tests/integrity.rs` checks it against the generic path on generated events.
pub fn canonical_event(event: &Event) -> Vec<u8> {
    let Event {
        id,
        time,
        received_at,
        action,
        status,
        message,
        reason,
        actor,
        origin,
        targets,
        context,
        request,
        changes,
        correlation_id,
        metadata,
        truncated,
    } = event;
    let mut out = Vec::with_capacity(size_hint(event));
    let mut o = Members::open(&mut out);
    o.str("action", action);
    if let Some(a) = actor {
        actor_json(a, o.key("actor"));
    }
    if let Some(c) = changes {
        changes_json(c, o.key("changes"));
    }
    if !context.is_empty() {
        string_map(context, o.key("context"));
    }
    o.opt_str("correlation_id", correlation_id);
    o.str("id", &id.to_string());
    o.opt_str("message", message);
    if let Some(m) = metadata {
        free(m, o.key("metadata"));
    }
    if let Some(origin) = origin {
        o.str("origin", origin.as_str());
    }
    o.opt_str("reason", reason);
    o.str("received_at", &received_at.to_string());
    if let Some(r) = request {
        request_json(r, o.key("request"));
    }
    o.str("status", status.as_str());
    if !targets.is_empty() {
        canonical::array(targets, o.key("targets"), target_json);
    }
    o.str("time", &time.to_string());
    o.key("truncated").extend_from_slice(if *truncated { b"true" } else { b"false" });
    o.close();
    out
}

/// A little more than the length of an event's canonical JSON with its `hash` member (unless
/// its strings need escapes), so that its buffer is allocated once and fits: the stored text
/// is copied when its buffer has more than an eighth to spare (`NewEvent`).
fn size_hint(event: &Event) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len() + 16);
    let free = |j: &Option<FreeJson>| j.as_ref().map_or(0, |j| j.as_str().len() + 16);
    let actor = event.actor.as_ref().map_or(0, |a| {
        12 + text(&a.kind) + text(&a.id) + text(&a.name) + text(&a.email) + text(&a.ip) + text(&a.user_agent)
    });
    let targets: usize =
        event.targets.iter().map(|t| 4 + text(&t.kind) + text(&t.id) + text(&t.name) + text(&t.email)).sum();
    let context: usize = event.context.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    let request = event.request.as_ref().map_or(0, |r| {
        40 + text(&r.id) + text(&r.method) + text(&r.path) + free(&r.query) + free(&r.body) + free(&r.response_body)
    });
    let changes = event.changes.as_ref().map_or(0, |c| 16 + free(&c.before) + free(&c.after));
    // The fixed members (ids, times, status, truncated, the hash) take under 300 bytes.
    320 + event.action.len()
        + text(&event.message)
        + text(&event.reason)
        + text(&event.correlation_id)
        + actor
        + targets
        + context
        + request
        + changes
        + free(&event.metadata)
}

/// The members of one JSON object, written in the order they are given (canonical order is
/// the caller's to keep).
struct Members<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Members<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Writes the member's name; the caller writes its value into what is returned.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        canonical::string(name, self.out);
        self.out.push(b':');
        self.out
    }

    fn str(&mut self, name: &str, value: &str) {
        canonical::string(value, self.key(name));
    }

    fn opt_str(&mut self, name: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.str(name, v);
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// A free-form part: already canonical text.
fn free(json: &FreeJson, out: &mut Vec<u8>) {
    out.extend_from_slice(json.as_str().as_bytes());
}

fn actor_json(actor: &Actor, out: &mut Vec<u8>) {
    let Actor { kind, id, name, email, ip, user_agent } = actor;
    let mut o = Members::open(out);
    o.opt_str("email", email);
    o.opt_str("id", id);
    o.opt_str("ip", ip);
    o.opt_str("name", name);
    o.opt_str("type", kind);
    o.opt_str("user_agent", user_agent);
    o.close();
}

fn target_json(target: &Target, out: &mut Vec<u8>) {
    let Target { kind, id, name, email } = target;
    let mut o = Members::open(out);
    o.opt_str("email", email);
    o.opt_str("id", id);
    o.opt_str("name", name);
    o.opt_str("type", kind);
    o.close();
}

fn changes_json(changes: &Changes, out: &mut Vec<u8>) {
    let Changes { before, after } = changes;
    let mut o = Members::open(out);
    if let Some(v) = after {
        free(v, o.key("after"));
    }
    if let Some(v) = before {
        free(v, o.key("before"));
    }
    o.close();
}

fn request_json(request: &RequestInfo, out: &mut Vec<u8>) {
    let RequestInfo { id, method, path, query, status_code, body, response_body } = request;
    let mut o = Members::open(out);
    if let Some(v) = body {
        free(v, o.key("body"));
    }
    o.opt_str("id", id);
    o.opt_str("method", method);
    o.opt_str("path", path);
    if let Some(q) = query {
        free(q, o.key("query"));
    }
    if let Some(v) = response_body {
        free(v, o.key("response_body"));
    }
    if let Some(code) = status_code {
        // A u16 is exact as a double and prints as an integer, as RFC 8785 asks.
        o.key("status_code").extend_from_slice(code.to_string().as_bytes());
    }
    o.close();
}

/// A map of strings in canonical order: by UTF-16 code units, which is the map's own (UTF-8
/// byte) order unless a name has characters outside the Basic Multilingual Plane.
fn string_map(map: &BTreeMap<String, String>, out: &mut Vec<u8>) {
    let mut members: Vec<(&String, &String)> = map.iter().collect();
    if !members.iter().all(|(k, _)| k.is_ascii()) {
        members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    let mut o = Members::open(out);
    for (k, v) in members {
        o.str(k, v);
    }
    o.close();
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
