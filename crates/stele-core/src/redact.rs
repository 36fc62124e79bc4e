//! Secret redaction: values under keys that name a secret are replaced at ingest, so a
//! secret a publisher copied into a request body never reaches storage.

use serde_json::{Map, Value};

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Fragments that mark a key as naming a secret, compared against the key lower-cased with
/// everything but letters and digits removed (so `API-Key`, `api_key` and `apiKey` all match).
const SECRET_KEY_FRAGMENTS: &[&str] =
    &["password", "passwd", "secret", "token", "authorization", "apikey", "privatekey", "cookie", "credential"];

/// Whether a JSON object key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let normalized: String =
        key.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    SECRET_KEY_FRAGMENTS.iter().any(|f| normalized.contains(f))
}

/// Replaces, at any depth, the value of every member whose key names a secret.
pub fn redact_value(value: &mut Value) {
    match value {
        Value::Object(map) => redact_map(map),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// As [`redact_value`], for an object.
pub fn redact_map(map: &mut Map<String, Value>) {
    for (key, v) in map.iter_mut() {
        if is_secret_key(key) {
            *v = Value::String(REDACTED.to_owned());
        } else {
            redact_value(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_at_any_depth_and_spelling() {
        let mut v = json!({
            "userName": "bo",
            "password": "hunter2",
            "nested": [{"API-Key": "k", "ok": 1}, {"client_secret": {"x": 1}}],
            "Authorization": "Bearer x",
            "refreshToken": "t"
        });
        redact_value(&mut v);
        assert_eq!(
            v,
            json!({
                "userName": "bo",
                "password": REDACTED,
                "nested": [{"API-Key": REDACTED, "ok": 1}, {"client_secret": REDACTED}],
                "Authorization": REDACTED,
                "refreshToken": REDACTED
            })
        );
    }

    #[test]
    fn leaves_ordinary_keys() {
        for k in ["userName", "email", "displayName", "id"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
