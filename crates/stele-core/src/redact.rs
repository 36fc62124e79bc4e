//! Secret redaction: values under keys that name a secret are replaced at ingest, so a
//! secret a publisher copied into an event never reaches storage.
//!
//! Ingest redacts every event (native and every profile, which all go through native ingest)
//! before it is hashed: the free-form parts as they are read ([`crate::free`], or
//! [`crate::FreeInput::finish`] for one built in-process, with [`redact_value`]'s rules), the
//! rest in [`redact_event`]. Together they cover each place a secret can hide in an event: `request.query`, `request.body`,
//! `request.response_body`, `changes.before`/`after`, `metadata` (where profiles put their
//! free-form maps, e.g. Retraced `fields` and `metadata`) and `context` as JSON members whose
//! key names a secret; and inside any string of those, and in `request.path`, `key=value`
//! pairs of a query string or form-encoded body (`/login?token=abc`, `user=a&password=b`) and
//! JSON text. One list of key fragments ([`is_secret_key`]) decides what is a secret.
//! `message` and `reason` are free text and are left as written.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use serde_json::{Map, Value};

use crate::event::Event;

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Fragments that mark a key as naming a secret, compared against the key lower-cased with
/// everything but letters and digits removed (so `API-Key`, `api_key` and `apiKey` all match).
const SECRET_KEY_FRAGMENTS: &[&str] =
    &["password", "passwd", "secret", "token", "authorization", "apikey", "privatekey", "cookie", "credential"];

/// The fragments as one automaton: a key is read once for all of them (ingest checks every
/// key of every event; nine substring searches per key were 4% of the server's CPU).
static SECRET_FRAGMENTS: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| AhoCorasick::new(SECRET_KEY_FRAGMENTS).ok());

/// Whether a JSON object key names a secret.
pub fn is_secret_key(key: &str) -> bool {
    // Non-ASCII characters are removed too: each of their UTF-8 bytes is ≥ 0x80.
    let normalized = key.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase());
    let mut short = [0u8; 64];
    let mut long = Vec::new();
    let text: &[u8] = if key.len() <= short.len() {
        let mut n = 0;
        for b in normalized {
            short[n] = b;
            n += 1;
        }
        &short[..n]
    } else {
        long.extend(normalized);
        &long
    };
    holds_fragment(text, SECRET_FRAGMENTS.as_ref())
}

/// Whether normalised key text holds a fragment. Building the automaton of these fixed
/// fragments does not fail; were it to, the answer stays the same, only slower.
fn holds_fragment(text: &[u8], automaton: Option<&AhoCorasick>) -> bool {
    match automaton {
        Some(fragments) => fragments.is_match(text),
        None => SECRET_KEY_FRAGMENTS.iter().any(|f| text.windows(f.len()).any(|w| w == f.as_bytes())),
    }
}

/// Redacts every place of an event where a secret can hide (see the module documentation).
/// The free-form parts were redacted before: a publisher's as they were read
/// ([`crate::free`]), one built in-process when validation finished it
/// ([`crate::FreeInput::finish`]), both with [`redact_value`]'s rules.
pub fn redact_event(event: &mut Event) {
    if let Some(path) = event.request.as_mut().and_then(|r| r.path.as_mut()) {
        redact_string(path);
    }
    redact_string_map(&mut event.context);
}

/// Replaces, at any depth, the value of every member whose key names a secret, and the
/// secrets inside every string (see [`redact_string`]).
pub fn redact_value(value: &mut Value) {
    match value {
        Value::Object(map) => redact_map(map),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::String(s) => redact_string(s),
        _ => {}
    }
}

/// As [`redact_map`], for a map of strings (`context`).
pub fn redact_string_map(map: &mut BTreeMap<String, String>) {
    for (key, v) in map.iter_mut() {
        if is_secret_key(key) {
            REDACTED.clone_into(v);
        } else {
            redact_string(v);
        }
    }
}

/// Redacts the secrets inside a string: when it is JSON text (an object or array), the
/// members of the parsed value, written back compactly; otherwise every `key=value` pair
/// whose key names a secret, as in a query string, a form-encoded body or a URL.
pub fn redact_string(text: &mut String) {
    if let Some(redacted) = redacted_string(text) {
        *text = redacted;
    }
}

/// [`redact_string`] of a borrowed string: the redacted text, or `None` when it holds no
/// secret (most strings, which are then not copied).
pub fn redacted_string(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(mut parsed) = serde_json::from_str::<Value>(text) {
            let before = parsed.clone();
            redact_value(&mut parsed);
            return (parsed != before).then(|| parsed.to_string());
        }
    }
    redact_pairs(text)
}

/// Characters of a `key` in `key=value` (form and query keys, possibly percent-encoded).
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.%+[]".contains(c)
}

/// Where a `value` in `key=value` ends: the next pair, a fragment, or white space.
fn ends_value(c: char) -> bool {
    c == '&' || c == ';' || c == '#' || c.is_whitespace()
}

/// The text with the value of every secret-named `key=value` pair replaced, or `None` when
/// there is none. Keys are percent-decoded (`+` is a space) before the check, so `api%5Fkey`
/// is caught; the rest of the text is kept byte for byte.
fn redact_pairs(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find('=') {
        let eq = from + found;
        // After the last character that is not a key's, whatever its width in bytes.
        let key_start =
            text[..eq].char_indices().rev().find(|(_, c)| !is_key_char(*c)).map_or(0, |(i, c)| i + c.len_utf8());
        let value_start = eq + 1;
        let value_end = text[value_start..].find(ends_value).map_or(text.len(), |i| value_start + i);
        let key = &text[key_start..eq];
        let value = &text[value_start..value_end];
        if !key.is_empty() && value != REDACTED && is_secret_key(&decode_form(key)) {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = value_end;
        }
        from = value_end.max(value_start);
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// A form-encoded key as text (`+` is a space, `%XX` a byte).
fn decode_form(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " ")).decode_utf8_lossy().into_owned()
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
    fn text_without_a_secret_pair_is_not_rewritten() {
        assert_eq!(redact_pairs("/users?filter=userName&count=2"), None);
        assert_eq!(redact_pairs("token=[REDACTED]"), None, "already redacted");
        assert_eq!(redact_pairs("token=x").as_deref(), Some("token=[REDACTED]"), "positive control");
    }

    #[test]
    fn redacts_pairs_in_paths_form_bodies_and_json_text() {
        let cases = [
            ("/login?token=abc&x=1", "/login?token=[REDACTED]&x=1"),
            ("user=a&password=hunter2", "user=a&password=[REDACTED]"),
            ("user=a&pass%77ord=hunter2#f", "user=a&pass%77ord=[REDACTED]#f"),
            (
                "https://cb.example/x?a=1;client_secret=s3 rest",
                "https://cb.example/x?a=1;client_secret=[REDACTED] rest",
            ),
            ("{\"refresh_token\":\"r\",\"n\":1}", "{\"n\":1,\"refresh_token\":\"[REDACTED]\"}"),
            ("/plain/path?x=1&y==2", "/plain/path?x=1&y==2"),
            ("no pairs here", "no pairs here"),
            ("a=b=c&password=x", "a=b=c&password=[REDACTED]"),
            // A key right after a character of several bytes (found by the `ingest` fuzz
            // target: the key's start was taken one byte after that character's first byte).
            ("日本password=hunter2", "日本password=[REDACTED]"),
            ("é=x&ü token=t", "é=x&ü token=[REDACTED]"),
            ("本=x", "本=x"),
        ];
        for (input, want) in cases {
            let mut s = input.to_owned();
            redact_string(&mut s);
            assert_eq!(s, want, "{input}");
        }
    }

    #[test]
    fn ingest_redacts_the_path_metadata_context_and_string_bodies() {
        let body = json!({
            "action": "a",
            "context": {"session_token": "t", "env": "prod"},
            "request": {"path": "/login?token=abc&x=1", "body": "user=a&password=hunter2"},
            "metadata": {"fields": {"apiKey": "k", "ok": "v"}, "note": "x=1&secret=s"}
        });
        let now = crate::Timestamp::from_micros(1_780_272_000_000_000);
        let ingested =
            crate::parse_ingest_body(body.to_string().as_bytes(), &crate::Limits::default(), now).expect("accepted");
        let v: Value = serde_json::from_str(&ingested.events[0].json).expect("json");
        assert_eq!(v["context"], json!({"session_token": REDACTED, "env": "prod"}));
        assert_eq!(v["request"]["path"], "/login?token=[REDACTED]&x=1");
        assert_eq!(v["request"]["body"], "user=a&password=[REDACTED]");
        assert_eq!(v["metadata"], json!({"fields": {"apiKey": REDACTED, "ok": "v"}, "note": "x=1&secret=[REDACTED]"}));
        // An event read back from storage is not redacted again (its hash covers it as stored).
        let mut stored: Event = serde_json::from_str(&ingested.events[0].json).expect("event");
        let before = stored.clone();
        redact_event(&mut stored);
        assert_eq!(stored, before);
    }

    #[test]
    fn leaves_ordinary_keys() {
        for k in ["userName", "email", "displayName", "id"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    /// The definition `is_secret_key` implements: the key lower-cased, without what is not an
    /// ASCII letter or digit, contains one of the fragments.
    fn reference(key: &str) -> bool {
        let normalized: String =
            key.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
        SECRET_KEY_FRAGMENTS.iter().any(|f| normalized.contains(f))
    }

    proptest::proptest! {
        #[test]
        fn a_secret_key_is_one_whose_letters_and_digits_hold_a_fragment(
            key in "[a-zA-Z0-9_. é日-]{0,70}(Pass-Word|api_KEY|toKen|Cookie|credentiaL|x)?[a-z0-9_é-]{0,70}"
        ) {
            proptest::prop_assert_eq!(is_secret_key(&key), reference(&key), "{}", key);
        }
    }

    #[test]
    fn secret_keys_are_found_in_any_spelling_and_length() {
        let long = format!("{}_Refresh-Token", "x".repeat(100));
        for key in ["password", "API-Key", "apiKey", "x_client_secret", "Set-Cookie", "pass日word", long.as_str()] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["", "userName", "pass_wor", "tok", "api", long.trim_end_matches("Token")] {
            assert!(!is_secret_key(key), "{key}");
        }
        // The fallback without the automaton gives the same answers.
        assert!(holds_fragment(b"xrefreshtokenx", None) && holds_fragment(b"password", None));
        assert!(!holds_fragment(b"passwor", None) && !holds_fragment(b"", None));
    }
}
