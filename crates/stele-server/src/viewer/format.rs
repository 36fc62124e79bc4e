//! Turning served events (their JSON, as `GET /v1/events` answers them) into the
//! already-formatted text of view models. Works on the JSON value rather than `Event`, so a
//! redacted event (a tombstone) shows what is left of it.

use serde_json::{Map, Value};
use stele_viewer::views::{DiffRow, EventRow, Field};

/// Text of a JSON member, if it is a string or a number.
pub fn text(v: &Value, path: &[&str]) -> String {
    let mut at = v;
    for p in path {
        match at.get(p) {
            Some(next) => at = next,
            None => return String::new(),
        }
    }
    match at {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(_) | Value::Bool(_) => at.to_string(),
        other => other.to_string(),
    }
}

/// `2026-11-22 10:15:00` from `2026-11-22T10:15:00.123456Z` (the page says UTC once).
pub fn short_time(iso: &str) -> String {
    match (iso.get(..10), iso.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => iso.to_owned(),
    }
}

/// A badge class for a status.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "success" => "ok",
        "failure" => "fail",
        "warning" => "warn",
        _ => "pending",
    }
}

/// Capitalised status text.
pub fn status_label(status: &str) -> String {
    let mut c = status.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Who did it: name, else email, else id.
pub fn person(v: &Value, key: &str) -> String {
    let name = text(v, &[key, "name"]);
    let email = text(v, &[key, "email"]);
    match (name.is_empty(), email.is_empty()) {
        (false, false) if name != email => format!("{name} <{email}>"),
        (false, _) => name,
        (true, false) => email,
        (true, true) => text(v, &[key, "id"]),
    }
}

/// The first target, as `type name` (and how many more).
pub fn targets(v: &Value) -> String {
    let Some(list) = v.get("targets").and_then(Value::as_array) else { return String::new() };
    let Some(first) = list.first() else { return String::new() };
    let kind = text(first, &["type"]);
    let name = [text(first, &["name"]), text(first, &["email"]), text(first, &["id"])]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let one = [kind, name].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    match list.len() {
        1 => one,
        n => format!("{one} +{}", n - 1),
    }
}

/// A table row of an event.
pub fn event_row(v: &Value, tenant: &str) -> EventRow {
    let status = text(v, &["status"]);
    let time = text(v, &["time"]);
    EventRow {
        href: format!("/t/{tenant}/events/{}", text(v, &["id"])),
        time: short_time(&time),
        time_iso: time,
        action: text(v, &["action"]),
        actor: person(v, "actor"),
        target: targets(v),
        status: status_label(&status),
        status_class: status_class(&status).into(),
        message: text(v, &["message"]),
    }
}

/// Pretty JSON (two-space indent).
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Flattens an object into `a.b.c` paths and scalar text (arrays and scalars are leaves).
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, child, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// `changes.before` / `changes.after` as rows: every path of either side, changed first.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<DiffRow> {
    let mut b = Vec::new();
    let mut a = Vec::new();
    if let Some(v) = before {
        flatten("", v, &mut b);
    }
    if let Some(v) = after {
        flatten("", v, &mut a);
    }
    let mut paths: Vec<String> = b.iter().chain(a.iter()).map(|(p, _)| p.clone()).collect();
    paths.sort();
    paths.dedup();
    let find = |side: &[(String, String)], p: &str| side.iter().find(|(q, _)| q == p).map(|(_, v)| v.clone());
    let mut rows: Vec<DiffRow> = paths
        .into_iter()
        .map(|path| {
            let (old, new) = (find(&b, &path), find(&a, &path));
            let kind = match (&old, &new) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(x), Some(y)) if x == y => "same",
                _ => "changed",
            };
            DiffRow {
                path: if path.is_empty() { "(value)".into() } else { path },
                before: old.unwrap_or_default(),
                after: new.unwrap_or_default(),
                kind: kind.into(),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.kind == "same");
    rows
}

fn field(name: &str, value: String, mono: bool) -> Option<Field> {
    (!value.is_empty()).then(|| Field { name: name.into(), value, mono })
}

/// Every scalar field of an event, in reading order (bodies, changes and metadata are shown
/// as blocks of their own).
pub fn fields(v: &Value) -> Vec<Field> {
    let mut out: Vec<Option<Field>> = vec![
        field("ID", text(v, &["id"]), true),
        field("Time", text(v, &["time"]), true),
        field("Received", text(v, &["received_at"]), true),
        field("Action", text(v, &["action"]), true),
        field("Status", status_label(&text(v, &["status"])), false),
        field("Message", text(v, &["message"]), false),
        field("Reason", text(v, &["reason"]), false),
        field("Origin", text(v, &["origin"]), false),
        field("Correlation ID", text(v, &["correlation_id"]), true),
    ];
    for key in ["type", "id", "name", "email", "ip", "user_agent"] {
        out.push(field(&format!("Actor {}", key.replace('_', " ")), text(v, &["actor", key]), key != "name"));
    }
    if let Some(list) = v.get("targets").and_then(Value::as_array) {
        for (i, t) in list.iter().enumerate() {
            let one = [text(t, &["type"]), text(t, &["name"]), text(t, &["email"]), text(t, &["id"])]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" · ");
            out.push(field(&format!("Target {}", i + 1), one, false));
        }
    }
    if let Some(Value::Object(context)) = v.get("context") {
        for (k, value) in context {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(field(&format!("context.{k}"), shown, true));
        }
    }
    for key in ["id", "method", "path", "status_code"] {
        out.push(field(&format!("request.{key}"), text(v, &["request", key]), true));
    }
    out.push(field("request.query", query_text(v.get("request").and_then(|r| r.get("query"))), true));
    if v.get("truncated").and_then(Value::as_bool) == Some(true) {
        out.push(field("Truncated", "yes (parts were cut to the ingest limits)".into(), false));
    }
    if v.get("redacted").is_some() {
        out.push(field("Redacted", pretty(v.get("redacted").unwrap_or(&Value::Null)), true));
    }
    out.into_iter().flatten().collect()
}

/// A query map as `a=1&b=two`.
pub fn query_text(query: Option<&Value>) -> String {
    let Some(Value::Object(map)) = query else { return String::new() };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The object of `request` members that describe what was sent.
pub fn request_document(v: &Value) -> Value {
    let r = v.get("request").cloned().unwrap_or(Value::Null);
    let mut doc = Map::new();
    for key in ["method", "path", "query", "body"] {
        if let Some(x) = r.get(key) {
            doc.insert(key.into(), x.clone());
        }
    }
    Value::Object(doc)
}

/// The object of `request` members that describe the answer.
pub fn response_document(v: &Value) -> Value {
    let r = v.get("request").cloned().unwrap_or(Value::Null);
    let mut doc = Map::new();
    for (key, name) in [("status_code", "status_code"), ("response_body", "body")] {
        if let Some(x) = r.get(key) {
            doc.insert(name.into(), x.clone());
        }
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_lists_changed_paths_first() {
        let rows = diff(
            Some(&json!({"role": "member", "name": "Ana"})),
            Some(&json!({"role": "admin", "name": "Ana", "x": 1})),
        );
        let kinds: Vec<(&str, &str)> = rows.iter().map(|r| (r.path.as_str(), r.kind.as_str())).collect();
        assert_eq!(kinds, vec![("role", "changed"), ("x", "added"), ("name", "same")]);
        assert_eq!((rows[0].before.as_str(), rows[0].after.as_str()), ("member", "admin"));
    }

    #[test]
    fn people_and_times_read_well() {
        let v = json!({"actor": {"name": "Ana", "email": "ana@acme.io"}, "targets": [{"type": "user", "name": "Bo"}, {"id": "2"}]});
        assert_eq!(person(&v, "actor"), "Ana <ana@acme.io>");
        assert_eq!(targets(&v), "user Bo +1");
        assert_eq!(short_time("2026-11-22T10:15:00.123456Z"), "2026-11-22 10:15:00");
        assert_eq!(
            query_text(Some(&json!({"filter": "userName eq \"a\"", "count": 5}))),
            "count=5&filter=userName eq \"a\""
        );
    }
}
