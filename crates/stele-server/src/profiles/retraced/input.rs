//! A Retraced publisher event: validated with Retraced's rules (`createEvent.ts`) and
//! translated into a native Stele event (contract A.6). Violations use Retraced's wording.

use std::net::IpAddr;

use serde_json::{json, Map, Value};
use stele_core::Timestamp;

/// An actor, target or group: `id` is required when the object is present.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Named {
    pub id: String,
    pub name: Option<String>,
    pub href: Option<String>,
    /// Targets only.
    pub kind: Option<String>,
    pub fields: Option<Vec<(String, String)>>,
}

/// A validated Retraced event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RetracedEvent {
    pub action: String,
    pub crud: String,
    pub group: Option<Named>,
    pub actor: Option<Named>,
    pub target: Option<Named>,
    pub created: Option<Timestamp>,
    pub source_ip: Option<String>,
    pub description: Option<String>,
    pub is_failure: bool,
    pub is_anonymous: bool,
    pub fields: Option<Vec<(String, String)>>,
    pub metadata: Option<Vec<(String, String)>>,
    pub external_id: Option<String>,
    pub component: Option<String>,
    pub version: Option<String>,
    pub display_title: Option<String>,
}

const TOP: &[&str] = &[
    "action",
    "crud",
    "group",
    "displayTitle",
    "created",
    "actor",
    "target",
    "source_ip",
    "description",
    "is_anonymous",
    "is_failure",
    "fields",
    "component",
    "version",
    "external_id",
    "metadata",
];
const CRUD: &[&str] = &["c", "r", "u", "d"];

/// Collects the violations of one event.
struct Check<'a> {
    obj: &'a Map<String, Value>,
    violations: Vec<String>,
}

impl<'a> Check<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.violations.push(format!("Field '{key}' must be a string"));
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.violations.push(format!("Field '{key}' must be a boolean"));
                false
            }
        }
    }

    /// A `{string: string}` object.
    fn string_map(&mut self, key: &str, value: Option<&Value>) -> Option<Vec<(String, String)>> {
        match value.filter(|v| !v.is_null()) {
            None => None,
            Some(Value::Object(map)) => {
                let mut out = Vec::with_capacity(map.len());
                for (k, v) in map {
                    match v {
                        Value::String(s) => out.push((k.clone(), s.clone())),
                        _ => self.violations.push(format!("Field '{key}.{k}' must be a string")),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.violations.push(format!("Field '{key}' must be an object of strings"));
                None
            }
        }
    }

    /// `actor`, `target` or `group`: absent or empty is none; otherwise `id` is required.
    fn named(&mut self, key: &str, allowed: &[&str]) -> Option<Named> {
        let map = match self.get(key) {
            None => return None,
            Some(Value::Object(m)) if m.is_empty() => return None,
            Some(Value::Object(m)) => m,
            Some(_) => {
                self.violations.push(format!("Field '{key}' must be an object"));
                return None;
            }
        };
        let mut inner = Check { obj: map, violations: Vec::new() };
        for k in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            inner.violations.push(format!("Unknown field '{k}'"));
        }
        let id = inner.string("id").filter(|s| !s.is_empty());
        let named = Named {
            id: id.clone().unwrap_or_default(),
            name: inner.string("name"),
            href: inner.string("href"),
            kind: if allowed.contains(&"type") { inner.string("type") } else { None },
            fields: if allowed.contains(&"fields") { inner.string_map("fields", map.get("fields")) } else { None },
        };
        self.violations.extend(inner.violations.into_iter().map(|v| v.replace("Field '", &format!("Field '{key}."))));
        if id.is_none() {
            self.violations.push(format!("Field '{key}.id' is required if '{key}' is present"));
        }
        Some(named)
    }
}

/// Validates one event; the violations in Retraced's words when it is invalid.
pub fn parse_event(value: &Value) -> Result<RetracedEvent, Vec<String>> {
    let Some(obj) = value.as_object() else { return Err(vec!["The event must be a JSON object".into()]) };
    let mut c = Check { obj, violations: Vec::new() };
    for k in obj.keys().filter(|k| !TOP.contains(&k.as_str())) {
        c.violations.push(format!("Unknown field '{k}'"));
    }
    let action = match c.get("action") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            c.violations.push("Missing required field 'action'".into());
            String::new()
        }
    };
    let crud = match c.get("crud") {
        Some(Value::String(s)) if !s.is_empty() => {
            if !CRUD.contains(&s.as_str()) {
                c.violations.push(format!("Invalid value for 'crud' field: {s}"));
            }
            s.clone()
        }
        _ => {
            c.violations.push("Missing required field 'crud'".into());
            String::new()
        }
    };
    let group = c.named("group", &["id", "name"]);
    let actor = c.named("actor", &["id", "name", "href", "fields"]);
    let target = c.named("target", &["id", "name", "href", "type", "fields"]);
    let is_anonymous = c.boolean("is_anonymous");
    let is_failure = c.boolean("is_failure");
    if !is_anonymous && actor.is_none() {
        c.violations.push("Event is not marked anonymous, and missing required field 'actor'".into());
    }
    let created = match c.get("created") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Timestamp::parse(s).ok().or_else(|| {
            c.violations.push(format!("Unable to parse 'created' field as valid time: {s}"));
            None
        }),
        Some(Value::Number(n)) => match n.as_i64().and_then(|ms| Timestamp::from_unix_millis(ms).ok()) {
            Some(t) => Some(t),
            None => {
                c.violations.push(format!("Unable to parse 'created' field as valid time: {n}"));
                None
            }
        },
        Some(other) => {
            c.violations.push(format!("Unable to parse 'created' field as valid time: {other}"));
            None
        }
    };
    let source_ip = c.string("source_ip").filter(|s| !s.is_empty());
    if let Some(ip) = &source_ip {
        if ip.parse::<IpAddr>().is_err() {
            c.violations.push(format!("Unable to parse 'source_ip' field as valid IPV4 or IPV6 address: {ip}"));
        }
    }
    let fields = c.string_map("fields", obj.get("fields"));
    let metadata = c.string_map("metadata", obj.get("metadata"));
    let event = RetracedEvent {
        action,
        crud,
        group,
        actor,
        target,
        created,
        source_ip,
        description: c.string("description"),
        is_failure,
        is_anonymous,
        fields,
        metadata,
        external_id: c.string("external_id"),
        component: c.string("component"),
        version: c.string("version"),
        display_title: c.string("displayTitle"),
    };
    if c.violations.is_empty() {
        Ok(event)
    } else {
        Err(c.violations)
    }
}

fn object(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// Inserts `key: value` when there is a value.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v);
    }
}

/// `href` and `fields` of an actor or target, which Stele's actor and target have no place for.
fn extras(named: &Named) -> Option<Value> {
    let mut m = Map::new();
    put(&mut m, "href", named.href.clone().map(Value::String));
    put(&mut m, "fields", named.fields.as_deref().map(object));
    (!m.is_empty()).then_some(Value::Object(m))
}

/// The event in Stele's native ingest form (contract A.6).
pub fn to_native(e: &RetracedEvent) -> Value {
    let mut ev = Map::new();
    ev.insert("action".into(), json!(e.action));
    put(&mut ev, "time", e.created.map(|t| json!(t.to_string())));
    ev.insert("status".into(), json!(if e.is_failure { "failure" } else { "success" }));
    put(&mut ev, "message", e.description.clone().map(Value::String));
    let mut actor = Map::new();
    if let Some(a) = &e.actor {
        actor.insert("id".into(), json!(a.id));
        put(&mut actor, "name", a.name.clone().map(Value::String));
    }
    put(&mut actor, "ip", e.source_ip.clone().map(Value::String));
    if !actor.is_empty() {
        ev.insert("actor".into(), Value::Object(actor));
    }
    if let Some(t) = &e.target {
        let mut target = Map::new();
        target.insert("id".into(), json!(t.id));
        put(&mut target, "name", t.name.clone().map(Value::String));
        put(&mut target, "type", t.kind.clone().map(Value::String));
        ev.insert("targets".into(), json!([target]));
    }
    if let Some(g) = &e.group {
        let mut context = Map::new();
        context.insert("group_id".into(), json!(g.id));
        put(&mut context, "group_name", g.name.clone().map(Value::String));
        ev.insert("context".into(), Value::Object(context));
    }
    put(&mut ev, "correlation_id", e.external_id.clone().filter(|x| !x.is_empty()).map(Value::String));
    let mut meta = Map::new();
    meta.insert("crud".into(), json!(e.crud));
    put(&mut meta, "fields", e.fields.as_deref().map(object));
    put(&mut meta, "component", e.component.clone().map(Value::String));
    put(&mut meta, "version", e.version.clone().map(Value::String));
    put(&mut meta, "metadata", e.metadata.as_deref().map(object));
    put(&mut meta, "display_title", e.display_title.clone().map(Value::String));
    if e.is_anonymous {
        meta.insert("is_anonymous".into(), json!(true));
    }
    put(&mut meta, "actor", e.actor.as_ref().and_then(extras));
    put(&mut meta, "target", e.target.as_ref().and_then(extras));
    ev.insert("metadata".into(), Value::Object(meta));
    Value::Object(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_as_the_contract_says() {
        let e = parse_event(&json!({
            "action": "doc.update", "crud": "u", "created": "2026-11-22T10:15:00Z",
            "actor": {"id": "u1", "name": "Ana", "href": "https://x/u1"}, "target": {"id": "d7", "name": "Q3", "type": "doc"},
            "group": {"id": "g1", "name": "Acme"}, "source_ip": "203.0.113.9", "description": "edited",
            "is_failure": true, "fields": {"k": "v"}, "component": "api", "version": "abc", "external_id": "req-1"
        }))
        .unwrap_or_else(|v| panic!("{v:?}"));
        assert_eq!(
            to_native(&e),
            json!({
                "action": "doc.update", "time": "2026-11-22T10:15:00.000000Z", "status": "failure", "message": "edited",
                "actor": {"id": "u1", "name": "Ana", "ip": "203.0.113.9"},
                "targets": [{"id": "d7", "name": "Q3", "type": "doc"}],
                "context": {"group_id": "g1", "group_name": "Acme"},
                "correlation_id": "req-1",
                "metadata": {"crud": "u", "fields": {"k": "v"}, "component": "api", "version": "abc",
                             "actor": {"href": "https://x/u1"}}
            })
        );
    }

    #[test]
    fn retraced_rules() {
        let v = parse_event(&json!({"group": {"name": "x"}, "crud": "x", "source_ip": "nope", "created": "soon"}))
            .expect_err("invalid");
        for needle in [
            "Missing required field 'action'",
            "Invalid value for 'crud' field: x",
            "Field 'group.id' is required if 'group' is present",
            "Event is not marked anonymous, and missing required field 'actor'",
            "Unable to parse 'source_ip' field as valid IPV4 or IPV6 address: nope",
            "Unable to parse 'created' field as valid time: soon",
        ] {
            assert!(v.iter().any(|m| m == needle), "{needle} in {v:?}");
        }
        let v = parse_event(&json!({"action": "a", "is_anonymous": true, "fields": {"n": 5}, "extra": 1}))
            .expect_err("invalid");
        assert!(v.contains(&"Missing required field 'crud'".to_owned()), "{v:?}");
        assert!(v.contains(&"Field 'fields.n' must be a string".to_owned()), "{v:?}");
        assert!(v.contains(&"Unknown field 'extra'".to_owned()), "{v:?}");
        assert!(parse_event(&json!({"action": "a", "crud": "c", "is_anonymous": true})).is_ok());
    }

    #[test]
    fn created_outside_the_representable_range_is_a_violation() {
        for created in [json!(i64::MAX), json!(i64::MIN), json!(1e300), json!("10000-01-01T00:00:00Z")] {
            let v = parse_event(&json!({"action": "a", "crud": "c", "is_anonymous": true, "created": created}))
                .expect_err("out of range");
            assert!(v.iter().any(|m| m.starts_with("Unable to parse 'created' field as valid time")), "{v:?}");
        }
        let ok =
            parse_event(&json!({"action": "a", "crud": "c", "is_anonymous": true, "created": 1_465_790_400_000_i64}))
                .expect("in range");
        assert_eq!(ok.created.map(|t| t.to_string()).as_deref(), Some("2016-06-13T04:00:00.000000Z"));
    }
}
