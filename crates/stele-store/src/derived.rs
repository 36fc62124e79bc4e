//! What every backend derives from an event to index it: its terms (for `target.*` and
//! `context.<key>` filters) and its search text (for `q`). One definition, so both backends
//! match the same events.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::IgnoredAny;
use serde::Deserialize;
use stele_core::{Actor, Event, Target};

/// One term per non-empty target field and per context entry, `target.id=u_7` /
/// `context.env=prod`, ASCII case-folded (the filter language compares these
/// case-insensitively; folding once at insert lets indexes compare bytes).
pub fn terms(e: &Event) -> BTreeSet<String> {
    Indexed::terms_of(&e.targets, &e.context)
}

/// The text `q` searches: action, message, reason, actor name and email, target names and
/// emails, separated by spaces.
pub fn search_text(e: &Event) -> String {
    Indexed::search_text_of(&e.action, e.message.as_deref(), e.reason.as_deref(), e.actor.as_ref(), &e.targets)
}

/// The parts of a stored event that indexing reads, parsed from its stored JSON without the
/// rest (bodies, metadata and changes are skipped, not built): an indexer reads every event
/// back, and building the whole event had been a quarter of its work.
#[derive(Debug, Deserialize)]
pub struct Indexed {
    action: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    actor: Option<Actor>,
    #[serde(default)]
    targets: Vec<Target>,
    #[serde(default)]
    context: BTreeMap<String, String>,
    /// Present on tombstones only.
    #[serde(default)]
    redacted: Option<IgnoredAny>,
}

impl Indexed {
    /// The indexed parts of stored event JSON; `None` for a tombstone (or JSON that is not an
    /// event).
    pub fn parse(json: &str) -> Option<Self> {
        serde_json::from_str::<Indexed>(json).ok().filter(|e| e.redacted.is_none())
    }

    /// [`terms`] of the event.
    pub fn terms(&self) -> BTreeSet<String> {
        Self::terms_of(&self.targets, &self.context)
    }

    /// The event's message (what `message co` looks up in a trigram index).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// [`search_text`] of the event.
    pub fn search_text(&self) -> String {
        Self::search_text_of(
            &self.action,
            self.message.as_deref(),
            self.reason.as_deref(),
            self.actor.as_ref(),
            &self.targets,
        )
    }

    fn terms_of(targets: &[Target], context: &BTreeMap<String, String>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for t in targets {
            for (name, value) in [("type", &t.kind), ("id", &t.id), ("name", &t.name), ("email", &t.email)] {
                if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                    out.insert(folded(format!("target.{name}={v}")));
                }
            }
        }
        for (k, v) in context {
            if !v.is_empty() {
                out.insert(folded(format!("context.{k}={v}")));
            }
        }
        out
    }

    fn search_text_of(
        action: &str,
        message: Option<&str>,
        reason: Option<&str>,
        actor: Option<&Actor>,
        targets: &[Target],
    ) -> String {
        let mut parts: Vec<&str> = vec![action];
        parts.extend(message);
        parts.extend(reason);
        if let Some(a) = actor {
            parts.extend(a.name.as_deref());
            parts.extend(a.email.as_deref());
        }
        for t in targets {
            parts.extend(t.name.as_deref());
            parts.extend(t.email.as_deref());
        }
        parts.join(" ")
    }
}

/// `term` ASCII-folded in place, as every term is stored (`str::to_ascii_lowercase` would
/// copy it: one copy per posting of every indexed event).
pub fn folded(mut term: String) -> String {
    term.make_ascii_lowercase();
    term
}

#[cfg(test)]
mod tests {
    use stele_core::{parse_ingest_body, Limits, Timestamp};

    use super::*;

    #[test]
    fn stored_json_gives_what_the_typed_event_gives() {
        let body = br#"{"events": [
            {"action": "user.login", "message": "Signed in", "reason": "SSO",
             "actor": {"type": "user", "id": "u_1", "name": "Ana Lima", "email": "Ana@Acme.io", "ip": "10.0.0.1"},
             "targets": [{"type": "Doc", "id": "D-7", "name": "Plan \"Q3\"", "email": ""}, {"id": "x"}],
             "context": {"env": "Prod", "empty": "", "region": "eu-1"},
             "request": {"method": "post", "path": "/login", "body": {"action": "not a term", "targets": [1]}},
             "metadata": {"context": {"k": "v"}, "message": "no"}},
            {"action": "bare"}
        ]}"#;
        let events = parse_ingest_body(body, &Limits::default(), Timestamp::now()).expect("valid").events;
        for new in &events {
            let indexed = Indexed::parse(&new.json).expect("an event");
            assert_eq!(indexed.terms(), terms(&new.event));
            assert_eq!(indexed.search_text(), search_text(&new.event));
        }
        assert_eq!(terms(&events[0].event).len(), 6, "{:?}", terms(&events[0].event));
        assert!(search_text(&events[0].event).contains("Plan \"Q3\""));
        let tombstone = r#"{"id":"x","action":"user.login","redacted":{"reason":"gdpr"}}"#;
        assert!(Indexed::parse(tombstone).is_none(), "a tombstone has nothing to index");
        assert!(Indexed::parse(r#"{"id":"x","action":"a"}"#).is_some(), "positive control for the tombstone");
    }
}
