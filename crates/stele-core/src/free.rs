//! The free-form parts of an event — `request.query`, the request and response bodies,
//! `changes.before`/`after` and `metadata` — held as their canonical JSON text (RFC 8785),
//! [`FreeJson`], instead of `serde_json::Value` trees.
//!
//! Why this is Stele's own code: what ingest keeps of these parts is the canonical text its
//! leaf hash is computed over, and nothing reads them as values on the way in. Building a
//! `Value` tree for them (a map node and a string for every member), walking it to redact, to
//! check numbers and to write canonical JSON, then dropping it, had been about a tenth of the
//! server's CPU under batches (ARCHITECTURE, session 42). The transcoder here does all of that
//! in the one parse, on serde's events, writing canonical bytes as it goes: the members of
//! each object sorted as RFC 8785 asks, a repeated key refused (as
//! [`crate::unique_keys::strict`] does), and — for what a publisher sent ([`FreeInput`]) — a
//! secret's value replaced exactly as [`crate::redact`] replaces it and an integer that JSON
//! numbers cannot hold exactly refused (as [`crate::ijson`] does). The tests check it byte for
//! byte against that `Value` path on generated values.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::ijson::MAX_SAFE_INTEGER;
use crate::integrity::canonical::{self, into_text as text};
use crate::redact::{is_secret_key, redact_value, redacted_string, REDACTED};
use crate::unique_keys::strict::repeated;
use crate::unique_keys::Key;

/// One JSON value as its canonical text (RFC 8785): what is stored and hashed. Reading one
/// (`Deserialize`) writes the canonical form of whatever JSON it is given; serialising one
/// writes the text as it is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FreeJson(String);

impl FreeJson {
    /// The canonical text of `value` (as it is: nothing is redacted or refused).
    pub fn from_value(value: &Value) -> Self {
        let mut out = Vec::with_capacity(64);
        canonical::write(value, &mut out);
        Self(text(out))
    }

    /// A JSON string.
    pub fn string(s: &str) -> Self {
        let mut out = Vec::with_capacity(s.len() + 2);
        canonical::string(s, &mut out);
        Self(text(out))
    }

    /// The canonical JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value, parsed (for the few readers that look inside: views on `metadata`, profiles).
    pub fn to_value(&self) -> Value {
        // The text was written by the canonical writer, so it parses.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for FreeJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for FreeJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Passed through as JSON text (serde_json writes a raw value as it is).
        let raw = serde_json::value::RawValue::from_string(self.0.clone()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FreeJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::with_capacity(64);
        Canon { out: &mut out, members: &mut Vec::new(), sent: false }.deserialize(d)?;
        Ok(Self(text(out)))
    }
}

/// A free-form part of an [`crate::EventInput`].
#[derive(Debug, Clone, PartialEq)]
pub enum FreeInput {
    /// As a publisher sent it, read from JSON text: already canonical, with its secrets
    /// redacted and its numbers checked as it was read.
    Sent(FreeJson),
    /// Built in-process (Stele's own events, such as a SCIM request's): validation checks
    /// its numbers and redacts it as it does a sent one.
    Built(Value),
}

impl From<Value> for FreeInput {
    fn from(value: Value) -> Self {
        Self::Built(value)
    }
}

impl<'de> Deserialize<'de> for FreeInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::with_capacity(256);
        Canon { out: &mut out, members: &mut Vec::new(), sent: true }.deserialize(d)?;
        Ok(Self::Sent(FreeJson(text(out))))
    }
}

impl FreeInput {
    /// The part as stored: a sent one as it was read; a built one checked for numbers JSON
    /// cannot hold exactly (`Err` names the first, under `path`), redacted and made canonical.
    pub fn finish(self, path: &str) -> Result<FreeJson, String> {
        match self {
            Self::Sent(json) => Ok(json),
            Self::Built(mut value) => {
                if let Some(found) = crate::ijson::unsafe_number(&value, path) {
                    return Err(found);
                }
                redact_value(&mut value);
                Ok(FreeJson::from_value(&value))
            }
        }
    }
}

/// `deserialize_with` of a free-form part that must be a JSON object (`request.query`,
/// `metadata`), as a publisher sends it.
pub fn sent_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FreeInput>, D::Error> {
    Ok(Option::<SentObject>::deserialize(d)?.map(|o| FreeInput::Sent(o.0)))
}

struct SentObject(FreeJson);

impl<'de> Deserialize<'de> for SentObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::with_capacity(256);
        d.deserialize_map(ObjectOnly(Canon { out: &mut out, members: &mut Vec::new(), sent: true }))?;
        Ok(Self(FreeJson(text(out))))
    }
}

/// What an integer beyond ±(2^53 − 1) in a sent part is told (the field's path comes with it).
pub fn unsafe_integer_message() -> String {
    format!(
        "is an integer beyond ±{MAX_SAFE_INTEGER}, which JSON numbers (I-JSON, RFC 7493) cannot hold exactly; send it as a string"
    )
}

/// A member of an object being read: its name and where its value's canonical text is in
/// the output.
type Member<'de> = (Cow<'de, str>, usize, usize);

/// Writes the canonical form of the value it reads at the end of `out`. `members` holds the
/// members of the objects being read, innermost last (shared, so reading a value allocates
/// little more than its output). `sent`: the value is a publisher's, so secrets are redacted
/// and unsafe integers refused as it is read.
struct Canon<'o, 'de> {
    out: &'o mut Vec<u8>,
    members: &'o mut Vec<Member<'de>>,
    sent: bool,
}

impl Canon<'_, '_> {
    fn integer<E: de::Error>(self, magnitude: u64, as_double: f64) -> Result<(), E> {
        if self.sent && magnitude > MAX_SAFE_INTEGER {
            return Err(E::custom(unsafe_integer_message()));
        }
        canonical::double(as_double, self.out);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Canon<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canon<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out.extend_from_slice(if b { b"true" } else { b"false" });
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.integer(n.unsigned_abs(), n as f64)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.integer(n, n as f64)
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        if self.sent && !crate::ijson::is_safe_double(n) {
            return Err(E::custom(unsafe_integer_message()));
        }
        // JSON text has no NaN or infinity; a `Value` would hold such a number as null.
        if n.is_finite() {
            canonical::double(n, self.out);
        } else {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        match if self.sent { redacted_string(s) } else { None } {
            Some(redacted) => canonical::string(&redacted, self.out),
            None => canonical::string(s, self.out),
        }
        Ok(())
    }
    // JSON's `null` (serde_json calls `visit_unit` for it; `visit_none` and `visit_some` come
    // only from `Option`'s own visitor, which wraps this one).
    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let before = self.out.len();
            if !first {
                self.out.push(b',');
            }
            let element = Canon { out: &mut *self.out, members: &mut *self.members, sent: self.sent };
            if seq.next_element_seed(element)?.is_none() {
                self.out.truncate(before);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        object(map, self)
    }
}

/// [`Canon`] for a value that must be an object.
struct ObjectOnly<'o, 'de>(Canon<'o, 'de>);

impl<'de> Visitor<'de> for ObjectOnly<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        object(map, self.0)
    }
}

/// Reads an object's members, each value written canonically at the end of the output as it
/// is read, then writes them in canonical order where the object started: by the UTF-16 code
/// units of their names, which is their UTF-8 byte order unless a name has characters outside
/// the Basic Multilingual Plane.
fn object<'de, A: MapAccess<'de>>(mut map: A, into: Canon<'_, 'de>) -> Result<(), A::Error> {
    let Canon { out, members, sent } = into;
    let (start, first) = (out.len(), members.len());
    // A repeated key is looked for among the object's members so far while they are few, and
    // in a set once they are many.
    let mut many: Option<HashSet<Cow<'de, str>>> = None;
    while let Some(key) = map.next_key_seed(Key)? {
        let repeated_key = match &mut many {
            Some(set) => !set.insert(key.clone()),
            None => {
                let ours = &members[first..];
                let seen = ours.iter().any(|m| m.0 == key);
                if !seen && ours.len() >= MANY {
                    many = Some(ours.iter().map(|m| m.0.clone()).chain([key.clone()]).collect());
                }
                seen
            }
        };
        if repeated_key {
            return Err(de::Error::custom(repeated(&key)));
        }
        let at = out.len();
        // A secret's value is read whole first: it is checked as any other before it goes.
        map.next_value_seed(Canon { out: &mut *out, members: &mut *members, sent })?;
        if sent && is_secret_key(&key) {
            out.truncate(at);
            canonical::string(REDACTED, out);
        }
        members.push((key, at, out.len()));
    }
    let ours = &mut members[first..];
    if ours.iter().all(|m| m.0.is_ascii()) {
        ours.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    } else {
        ours.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    // The object is written after its members' values, then moved down over them.
    let written = out.len();
    out.push(b'{');
    for (i, (key, from, to)) in ours.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        canonical::string(key, out);
        out.push(b':');
        out.extend_from_within(*from..*to);
    }
    out.push(b'}');
    out.copy_within(written.., start);
    out.truncate(start + (out.len() - written));
    members.truncate(first);
    Ok(())
}

/// Members from which a repeated key is looked for in a hash set rather than by a scan.
const MANY: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn sent(text: &str) -> Result<FreeJson, String> {
        match serde_json::from_str::<FreeInput>(text).map_err(|e| e.to_string())? {
            FreeInput::Sent(json) => Ok(json),
            FreeInput::Built(_) => Err("built".into()),
        }
    }

    /// What the `Value` path stores: parsed, checked, redacted, written canonically.
    fn through_value(text: &str) -> Result<String, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        FreeInput::Built(value).finish("").map(|j| j.0)
    }

    #[test]
    fn a_sent_value_is_canonical_redacted_and_checked_as_it_is_read() {
        let text = r#"{"z": [1e2, -0.5, "x"], "a": {"Api-Key": {"deep": 1}, "q": "user=a&password=b"},
            "\u00e9": null, "token": [1, 2], "ok": true}"#;
        let got = sent(text).expect("accepted");
        assert_eq!(
            got.as_str(),
            r#"{"a":{"Api-Key":"[REDACTED]","q":"user=a&password=[REDACTED]"},"ok":true,"token":"[REDACTED]","z":[100,-0.5,"x"],"é":null}"#
        );
        assert_eq!(Ok(got.0), through_value(text));
        // Stored text read back is kept as it is, and nothing in it is redacted again.
        let stored: FreeJson = serde_json::from_str(r#"{"password":"[REDACTED]","b":"password=x"}"#).expect("reads");
        assert_eq!(stored.as_str(), r#"{"b":"password=x","password":"[REDACTED]"}"#);
    }

    #[test]
    fn a_repeated_key_or_an_unsafe_integer_is_refused_even_under_a_secret() {
        for (text, wanted) in [
            (r#"{"a": 1, "a": 2}"#, "appears twice"),
            (r#"{"password": {"x": 1, "x": 1}}"#, "appears twice"),
            (r#"{"n": 9007199254740992}"#, "cannot hold exactly"),
            (r#"{"secret": [-9007199254740992]}"#, "cannot hold exactly"),
            // Stored as the integer 222222000000000000, which would be refused when sent.
            (r#"{"f": 222222000000000000.000000000000757207215}"#, "cannot hold exactly"),
            (r#"{"f": -1e20}"#, "cannot hold exactly"),
        ] {
            let error = sent(text).expect_err(text);
            assert!(error.contains(wanted), "{text}: {error}");
        }
        // Their positive controls: the same shapes without the repetition or the overflow.
        for text in [
            r#"{"a": 1, "b": 2}"#,
            r#"{"n": 9007199254740991}"#,
            r#"{"secret": [-9007199254740991]}"#,
            r#"{"f": 9007199254740991.0, "g": 1e21, "h": 222222000000000000.5e-3, "i": -1.5e300}"#,
        ] {
            assert!(sent(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn a_large_object_is_sorted_and_its_repeated_key_found_past_the_scan() {
        let keys: Vec<String> = (0..40).rev().map(|i| format!("k{i:02}")).collect();
        let object = |extra: &str| {
            let members: Vec<String> =
                keys.iter().map(|k| format!(r#""{k}": {{"in": [1, {{"b": 2, "a": 1}}]}}"#)).collect();
            format!("{{{}{extra}}}", members.join(", "))
        };
        let got = sent(&object("")).expect("no repetition");
        assert_eq!(Ok(got.0.clone()), through_value(&object("")));
        assert!(got.0.starts_with(r#"{"k00":{"in":[1,{"a":1,"b":2}]},"k01":"#), "{}", &got.0[..40]);
        // The 41st member repeats the 30th: found in the set the scan gave way to.
        let error = sent(&object(r#", "k30": 0"#)).expect_err("repeated");
        assert!(error.contains(r#"the key "k30" appears twice"#), "{error}");
    }

    #[test]
    fn an_object_only_part_refuses_anything_else() {
        #[derive(serde::Deserialize)]
        struct Holder {
            #[serde(default, deserialize_with = "sent_object")]
            m: Option<FreeInput>,
        }
        let error = serde_json::from_str::<Holder>(r#"{"m": [1]}"#).err().expect("refused").to_string();
        assert!(error.contains("expected a map"), "{error}");
        let held = serde_json::from_str::<Holder>(r#"{"m": {"b": 1, "a": 2}}"#).expect("object");
        assert_eq!(held.m, Some(FreeInput::Sent(FreeJson(r#"{"a":2,"b":1}"#.into()))));
        assert!(serde_json::from_str::<Holder>(r#"{"m": null}"#).expect("null").m.is_none());
    }

    #[test]
    fn serialising_writes_the_text_as_it_is() {
        let json = FreeJson::from_value(&json!({"b": [1.5, {"y": 2, "x": 1}], "a": "é"}));
        assert_eq!(json.as_str(), r#"{"a":"é","b":[1.5,{"x":1,"y":2}]}"#);
        assert_eq!(serde_json::to_string(&json!({"v": json.to_value()})).ok(), Some(format!(r#"{{"v":{}}}"#, json.0)));
        assert_eq!(serde_json::to_string(&json).ok().as_deref(), Some(json.as_str()));
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("password".to_owned()),
            Just("a".to_owned()),
            Just("B".to_owned()),
            Just("\u{1F600}".to_owned()),
            Just("\u{FB01}".to_owned()),
            "[a-zA-Z_é-]{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            "[a-z=&{}\\[\\]\"é ]{0,12}".prop_map(Value::String),
            Just(json!("token=abc&x=1")),
            Just(json!("{\"secret\": 1, \"n\": 2}")),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The transcoder stores exactly what parsing to a `Value`, checking its numbers,
        /// redacting it and writing it canonically stores — or refuses what that refuses.
        #[test]
        fn transcoding_matches_the_value_path(value in arbitrary_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) };
            let text = text.expect("writes");
            match (sent(&text), through_value(&text)) {
                (Ok(json), Ok(want)) => prop_assert_eq!(json.0, want),
                (Err(e), Err(_)) => prop_assert!(e.contains("cannot hold exactly"), "{}", e),
                (got, want) => prop_assert!(false, "{text}: {got:?} vs {want:?}"),
            }
            // Read back as stored text, canonical text is a fixed point.
            if let Ok(json) = sent(&text) {
                let again: FreeJson = serde_json::from_str(json.as_str()).expect("reads");
                prop_assert_eq!(again, json);
            }
        }
    }
}
