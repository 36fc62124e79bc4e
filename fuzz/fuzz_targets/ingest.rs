//! Fuzzes ingest validation (`stele_core::parse_ingest_body`, what `POST /v1/events` and
//! every ingest profile run on a body), under the default limits and under tight ones that
//! make truncation and the bounds easy to reach. It must never panic, and every event it
//! accepts must
//!
//! - come from a body in which no object repeats a key (the parser refuses a repeated key
//!   while it parses, without the separate pass `check_unique_keys` makes);
//! - fit the event size limit, with its leaf hash being the hash of the typed event;
//! - be stored as its canonical JSON with the hash appended, and read back from it as an event
//!   with the same canonical JSON (numbers are written as RFC 8785 writes them, so `1.0`
//!   reads back as `1`: the same number, the same leaf);
//! - verify: the leaf recomputed from the served JSON through canonical JSON (what
//!   `stele verify` and any client do) is the leaf it was stored with;
//! - be accepted again when its content is published again (what validation makes of an
//!   event is valid input), but for the string lengths: they are checked on what the
//!   publisher sent, and redaction can make a value longer (`token=x` → `token=[REDACTED]`).
//!
//! Run with `cargo +nightly fuzz run ingest corpus/ingest` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stele_core::integrity::leaf::{canonical_event, event_leaf, served_leaf};
use stele_core::{parse_ingest_body, Event, Limits, Seq, StoredEvent, Timestamp};

/// The server's clock for every run (2026-06-01T00:00:00Z): runs are reproducible.
const NOW: Timestamp = Timestamp::from_micros(1_780_272_000_000_000);

fn tight() -> Limits {
    Limits {
        max_event_bytes: 1024,
        max_batch_events: 4,
        max_batch_bytes: 64 * 1024,
        max_short_string: 16,
        max_long_string: 64,
        max_context_entries: 4,
        max_targets: 2,
        max_future_skew_seconds: 60,
    }
}

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::default(), tight()] {
        let Ok(ingested) = parse_ingest_body(data, &limits, NOW) else { continue };
        assert!(!ingested.events.is_empty() && ingested.events.len() <= limits.max_batch_events);
        assert!(ingested.batch || ingested.events.len() == 1);
        if let Err(stele_core::UniqueKeysError::Duplicate(d)) = stele_core::check_unique_keys(data) {
            panic!("accepted a body that repeats a key: {d}");
        }
        for new in &ingested.events {
            assert!(new.json.len() <= limits.max_event_bytes, "{} bytes: {}", new.json.len(), new.json);
            let leaf = new.leaf.unwrap_or_else(|| panic!("no leaf: {}", new.json));
            assert_eq!(leaf, event_leaf(&new.event), "leaf of {}", new.json);

            let stored = StoredEvent { seq: Seq::FIRST, json: new.json.clone() };
            let typed: Event =
                stored.event().unwrap_or_else(|e| panic!("stored JSON {} does not read back: {e}", new.json));
            let canonical = canonical_event(&new.event);
            let hash_member = format!(",\"hash\":\"{}\"}}", leaf.to_hex());
            assert_eq!(
                new.json.strip_suffix(&hash_member).map(str::as_bytes),
                canonical.strip_suffix(b"}"),
                "stored JSON {} is not the canonical JSON with the hash appended",
                new.json
            );
            assert_eq!(canonical_event(&typed), canonical, "typed round trip of {}", new.json);

            let served: Value = serde_json::from_str(&stored.to_json()).unwrap_or_else(|e| panic!("served JSON: {e}"));
            assert_eq!(served_leaf(&served).ok(), Some(leaf), "leaf recomputed from {}", stored.to_json());
            assert_eq!(served.get("hash").and_then(Value::as_str), Some(leaf.to_hex().as_str()));

            let Value::Object(mut content) = served else { panic!("served JSON is not an object") };
            for server_assigned in ["seq", "id", "received_at", "truncated", "hash"] {
                content.remove(server_assigned);
            }
            let again = Value::Object(content).to_string();
            let lengths_unbounded =
                Limits { max_short_string: usize::MAX, max_long_string: usize::MAX, ..limits.clone() };
            if let Err(e) = parse_ingest_body(again.as_bytes(), &lengths_unbounded, NOW) {
                panic!("stored content {again} is refused when published again: {e}");
            }
        }
    }
});
