//! Projection (`fields=id,time,actor.email`): keep only the named members of served events.

use serde_json::{Map, Value};

/// The top-level members an event can have; a projected field must start with one of them.
const TOP_LEVEL: &[&str] = &[
    "id",
    "seq",
    "time",
    "received_at",
    "action",
    "status",
    "message",
    "reason",
    "actor",
    "origin",
    "targets",
    "context",
    "request",
    "changes",
    "correlation_id",
    "metadata",
    "truncated",
    "hash",
];

/// A validated list of dotted field paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(Vec<Vec<String>>);

/// A projected field that no event can have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown field {0:?}; fields start with one of id, seq, time, received_at, action, status, message, reason, actor, origin, targets, context, request, changes, correlation_id, metadata, truncated, hash")]
pub struct FieldsError(pub String);

impl Fields {
    /// Parses `id,time,actor.email` (blank entries are ignored).
    pub fn parse(text: &str) -> Result<Self, FieldsError> {
        let mut paths = Vec::new();
        for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let path: Vec<String> = field.split('.').map(str::to_owned).collect();
            if !TOP_LEVEL.contains(&path[0].as_str()) || path.iter().any(String::is_empty) || path.len() > 8 {
                return Err(FieldsError(field.to_owned()));
            }
            paths.push(path);
        }
        if paths.is_empty() {
            return Err(FieldsError(text.to_owned()));
        }
        Ok(Self(paths))
    }

    /// The event with only the selected members (absent ones stay absent).
    pub fn project(&self, event: &Value) -> Value {
        let mut out = Map::new();
        for path in &self.0 {
            if let Some(v) = lookup(event, path) {
                insert(&mut out, path, v.clone());
            }
        }
        Value::Object(out)
    }
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

fn insert(out: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            out.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let child = out.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = child {
                insert(map, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_named_paths() {
        let e =
            json!({"id": "x", "seq": 3, "action": "a", "actor": {"email": "e", "name": "n"}, "context": {"k": "v"}});
        let f = Fields::parse("id, actor.email,context.k,reason").expect("valid");
        assert_eq!(f.project(&e), json!({"id": "x", "actor": {"email": "e"}, "context": {"k": "v"}}));
        assert!(Fields::parse("actr.email").is_err());
        assert!(Fields::parse(",").is_err());
        assert!(Fields::parse("actor..email").is_err());
    }
}
