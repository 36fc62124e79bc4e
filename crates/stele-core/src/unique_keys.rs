//! Refusing JSON objects that repeat a key.
//!
//! serde_json keeps the last of repeated keys in maps and `Value`s (typed structs already
//! refuse a repeated field), so `{"role": "reader", "role": "admin"}` means different things
//! to different parsers in a chain. Every JSON body Stele accepts passes
//! [`check_unique_keys`] first. It is one streaming pass with a serde visitor: values are
//! skipped without being built, keys are borrowed from the input where they hold no escapes,
//! so it costs a fraction of the parse that follows.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

/// A key that appears twice in one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}duplicate key {key:?}", if .path.is_empty() { String::new() } else { format!("{}: ", .path) })]
pub struct DuplicateKey {
    /// Where the object is: `events[2].metadata`, empty for the top level.
    pub path: String,
    pub key: String,
}

/// Why a body failed the check.
#[derive(Debug, thiserror::Error)]
pub enum UniqueKeysError {
    #[error(transparent)]
    Duplicate(DuplicateKey),
    /// Not JSON: the caller's own parse reports it in its own words.
    #[error("malformed JSON: {0}")]
    Syntax(serde_json::Error),
}

enum Segment<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

fn render(path: &[Segment<'_>]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

struct State<'de> {
    path: Vec<Segment<'de>>,
    found: Option<DuplicateKey>,
}

/// Fails when any object in `body` repeats a key.
pub fn check_unique_keys(body: &[u8]) -> Result<(), UniqueKeysError> {
    let mut state = State { path: Vec::new(), found: None };
    let mut de = serde_json::Deserializer::from_slice(body);
    let walked = Walk(&mut state).deserialize(&mut de).and_then(|()| de.end());
    match (walked, state.found) {
        (_, Some(dup)) => Err(UniqueKeysError::Duplicate(dup)),
        (Err(e), None) => Err(UniqueKeysError::Syntax(e)),
        (Ok(()), None) => Ok(()),
    }
}

struct Walk<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            self.0.path.push(Segment::Index(i));
            let more = seq.next_element_seed(Walk(&mut *self.0))?;
            self.0.path.pop();
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::default();
        while let Some(key) = map.next_key_seed(Key)? {
            if !seen.insert(key.clone()) {
                self.0.found = Some(DuplicateKey { path: render(&self.0.path), key: key.into_owned() });
                return Err(A::Error::custom("duplicate key"));
            }
            self.0.path.push(Segment::Key(key));
            let walked = map.next_value_seed(Walk(&mut *self.0));
            self.0.path.pop();
            walked?;
        }
        Ok(())
    }
}

/// The keys of one object so far: a list while it is short (most objects have a handful of
/// keys, for which a scan is cheaper than hashing each), a hash set once it is long.
#[derive(Default)]
struct Seen<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Seen<'de> {
    const FEW: usize = 16;

    /// False when `key` was already seen.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if self.few.len() < Self::FEW {
            if self.few.contains(&key) {
                return false;
            }
            self.few.push(key);
            return true;
        }
        if self.many.is_empty() {
            self.many.extend(self.few.iter().cloned());
        }
        self.many.insert(key)
    }
}

/// The `deserialize_with` helper for an event's `context`, which refuses a repeated key while
/// it parses (the other free-form parts are read by [`crate::free`], which does too). The
/// typed parts are structs, in which serde already refuses a repeated field, so an event
/// parsed with these needs no [`check_unique_keys`] pass of its own (a third of the ingest
/// parse's cost had been that pass and the top-level look that chose between one event and a
/// batch).
pub mod strict {
    use std::collections::BTreeMap;
    use std::fmt;

    use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};

    /// What a repeated key is told, here and by the ingest parser's careful path.
    pub fn repeated(key: &str) -> String {
        format!("the key {key:?} appears twice in this object; each key may appear once")
    }

    /// An optional object of strings.
    pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
        Ok(Option::<StrictStrings>::deserialize(d)?.map(|v| v.0))
    }

    struct StrictStrings(BTreeMap<String, String>);

    impl<'de> Deserialize<'de> for StrictStrings {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(StringsVisitor).map(StrictStrings)
        }
    }

    struct StringsVisitor;

    impl<'de> Visitor<'de> for StringsVisitor {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            unique_entries(
                map,
                BTreeMap::new(),
                |m, k| m.contains_key(k),
                |m, k, v: String| {
                    m.insert(k, v);
                },
            )
        }
    }

    /// Reads an object's members into `out`, refusing a key it already holds.
    fn unique_entries<'de, A: MapAccess<'de>, V: Deserialize<'de>, O>(
        mut map: A,
        mut out: O,
        has: fn(&O, &str) -> bool,
        put: fn(&mut O, String, V),
    ) -> Result<O, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if has(&out, &key) {
                return Err(A::Error::custom(repeated(&key)));
            }
            put(&mut out, key, map.next_value::<V>()?);
        }
        Ok(out)
    }
}

/// An object key, borrowed from the input when it holds no escapes.
pub(crate) struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(body: &str) -> Option<DuplicateKey> {
        match check_unique_keys(body.as_bytes()) {
            Err(UniqueKeysError::Duplicate(d)) => Some(d),
            Err(UniqueKeysError::Syntax(e)) => panic!("syntax: {e}"),
            Ok(()) => None,
        }
    }

    #[test]
    fn finds_repeated_keys_at_any_depth() {
        assert_eq!(dup(r#"{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}]}"#), None);
        let d = dup(r#"{"action": "a", "action": "b"}"#).expect("top level");
        assert_eq!((d.path.as_str(), d.key.as_str()), ("", "action"));
        let d = dup(r#"{"events": [{"action": "a"}, {"action": "b", "metadata": {"x": 1, "x": 2}}]}"#).expect("deep");
        assert_eq!((d.path.as_str(), d.key.as_str()), ("events[1].metadata", "x"));
        assert_eq!(d.to_string(), "events[1].metadata: duplicate key \"x\"");
        // An escaped spelling of the same key is the same key.
        let d = dup(r#"{"role": "r", "\u0072ole": "admin"}"#).expect("escaped");
        assert_eq!(d.key, "role");
    }

    #[test]
    fn long_objects_are_checked_as_short_ones() {
        let object = |keys: &[usize]| {
            let members: Vec<String> = keys.iter().map(|k| format!("\"k{k}\": {k}")).collect();
            format!("{{{}}}", members.join(", "))
        };
        let distinct: Vec<usize> = (0..40).collect();
        assert_eq!(dup(&object(&distinct)), None);
        for (first, again) in [(3, 10), (3, 30), (20, 35), (15, 16)] {
            let mut keys = distinct.clone();
            keys.insert(again, first);
            let d = dup(&object(&keys)).unwrap_or_else(|| panic!("k{first} again at {again}"));
            assert_eq!(d.key, format!("k{first}"));
        }
    }

    #[test]
    fn syntax_errors_are_left_to_the_parser() {
        assert!(matches!(check_unique_keys(b"{\"a\":"), Err(UniqueKeysError::Syntax(_))));
        assert!(matches!(check_unique_keys(b"{} x"), Err(UniqueKeysError::Syntax(_))));
        assert!(check_unique_keys(b"[1, \"x\", null, true, 1.5, -3]").is_ok());
    }
}
