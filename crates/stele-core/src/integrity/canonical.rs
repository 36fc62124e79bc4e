//! RFC 8785 (JCS) canonical JSON of a `serde_json::Value`: object members sorted by the
//! UTF-16 code units of their names, no whitespace, strings escaped as ECMAScript does
//! (serde_json's escaping is that), numbers as ECMAScript prints doubles (`ryu-js`).
//!
//! Why not only `serde_jcs`, the maintained crate: it serialises every member name, parses
//! it back and re-encodes it as UTF-16 to sort, which costs ~20 µs per 1 KiB event — a
//! third of the ingest rate (`stele bench ingest`, integrity on/off). This writer is the
//! same algorithm without those round trips, and the tests check it byte for byte against
//! `serde_jcs` on generated values (including names outside the Basic Multilingual Plane,
//! where UTF-8 and UTF-16 orders differ).

use serde_json::{Map, Number, Value};

/// The canonical bytes of `value`. Fails only on numbers JSON cannot carry.
pub fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write(value, &mut out);
    out
}

pub(crate) fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => array(items, out, write),
        Value::Object(map) => object(map, out),
    }
}

/// A JSON array of `items`, each written by `each`.
pub(crate) fn array<T>(items: &[T], out: &mut Vec<u8>, each: impl Fn(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(item, out);
    }
    out.push(b']');
}

/// RFC 8785 numbers are IEEE 754 doubles: integers beyond 2^53 lose precision, as in
/// ECMAScript (and in `serde_jcs`).
fn number(n: &Number, out: &mut Vec<u8>) {
    let as_double = match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => Some(i as f64),
        (None, Some(u)) => Some(u as f64),
        (None, None) => n.as_f64(),
    };
    match as_double {
        Some(f) => double(f, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A double as ECMAScript prints it (`null` for what JSON cannot hold: serde_json numbers
/// are finite, and the output stays valid JSON regardless).
pub(crate) fn double(f: f64, out: &mut Vec<u8>) {
    if f.is_finite() {
        let mut buffer = ryu_js::Buffer::new();
        out.extend_from_slice(buffer.format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The canonical writer's bytes as text: it copies `&str`s and writes ASCII around them, so
/// they are always UTF-8 (were they not, the text would be repaired rather than lost).
pub(crate) fn into_text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(crate) fn string(s: &str, out: &mut Vec<u8>) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

pub(crate) fn object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    if members.iter().all(|(k, _)| k.is_ascii()) {
        members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    } else {
        members.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    out.push(b'{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(k, out);
        out.push(b':');
        write(v, out);
    }
    out.push(b'}');
}
