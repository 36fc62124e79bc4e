//! Fuzzes the Retraced publisher profile's input (`POST …/event` and `…/event/bulk`): the
//! body is checked for repeated keys and parsed as the routes do, and each event validated
//! with Retraced's rules. Parsing must never panic. Every event it accepts must have
//! Retraced's hash, and its native form must be an event native ingest knows: accepted, or
//! refused only for a bound or a value native ingest checks (never as malformed, for an
//! unknown or missing field); accepted, it keeps the action, status, actor, target and time.
//!
//! Run with `cargo +nightly fuzz run retraced_input corpus/retraced_input` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use stele_core::{parse_ingest_body, IngestErrorKind, Limits, Status, Timestamp};
use stele_server::fuzzing::retraced::{hash, parse_event, to_native, RetracedEvent};

/// The server's clock for every run (2026-06-01T00:00:00Z).
const NOW: Timestamp = Timestamp::from_micros(1_780_272_000_000_000);

/// Native ingest of `body`, which must not refuse it as malformed or unknown.
fn ingest(body: &Value, events: &[RetracedEvent]) {
    let text = body.to_string();
    let ingested = match parse_ingest_body(text.as_bytes(), &Limits::default(), NOW) {
        Ok(ingested) => ingested,
        Err(e) => {
            assert!(
                matches!(e.kind, IngestErrorKind::Invalid | IngestErrorKind::EventTooLarge)
                    && e.message != "unknown field"
                    && e.message != "is required"
                    && !e.message.contains("invalid type"),
                "native form {text} refused: {e:?}"
            );
            return;
        }
    };
    assert_eq!(ingested.events.len(), events.len());
    for (new, retraced) in ingested.events.iter().zip(events) {
        let stored = &new.event;
        assert_eq!(stored.action, retraced.action);
        assert_eq!(stored.status, if retraced.is_failure { Status::Failure } else { Status::Success });
        if let Some(created) = retraced.created {
            assert_eq!(stored.time, created);
        }
        let actor_id = stored.actor.as_ref().and_then(|a| a.id.as_deref());
        assert_eq!(actor_id, retraced.actor.as_ref().map(|a| a.id.as_str()));
        let target_id = stored.targets.first().and_then(|t| t.id.as_deref());
        assert_eq!(target_id, retraced.target.as_ref().map(|t| t.id.as_str()));
    }
}

fuzz_target!(|data: &[u8]| {
    if stele_core::check_unique_keys(data).is_err() {
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let (items, batch) = match value.get("events").and_then(Value::as_array) {
        Some(items) => (items.clone(), true),
        None => (vec![value], false),
    };
    let Ok(events) = items.iter().map(parse_event).collect::<Result<Vec<_>, _>>() else { return };
    if events.is_empty() || events.len() > Limits::default().max_batch_events {
        return;
    }
    for e in &events {
        let h = hash(e, "0f8fad5bd9cb469fa16570867728950e");
        assert!(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()), "{h}");
    }
    let natives: Vec<Value> = events.iter().map(to_native).collect();
    if batch {
        ingest(&json!({ "events": natives }), &events);
    } else {
        ingest(&natives[0], &events);
    }
});
