//! What every backend derives from an event to index it: its terms (for `target.*` and
//! `context.<key>` filters) and its search text (for `q`). One definition, so both backends
//! match the same events.

use std::collections::BTreeSet;

use stele_core::Event;

/// One term per non-empty target field and per context entry, `target.id=u_7` /
/// `context.env=prod`, ASCII case-folded (the filter language compares these
/// case-insensitively; folding once at insert lets indexes compare bytes).
pub fn terms(e: &Event) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in &e.targets {
        for (name, value) in [("type", &t.kind), ("id", &t.id), ("name", &t.name), ("email", &t.email)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                out.insert(format!("target.{name}={v}").to_ascii_lowercase());
            }
        }
    }
    for (k, v) in &e.context {
        if !v.is_empty() {
            out.insert(format!("context.{k}={v}").to_ascii_lowercase());
        }
    }
    out
}

/// The text `q` searches: action, message, reason, actor name and email, target names and
/// emails, separated by spaces.
pub fn search_text(e: &Event) -> String {
    let mut parts: Vec<&str> = vec![&e.action];
    parts.extend(e.message.as_deref());
    parts.extend(e.reason.as_deref());
    if let Some(a) = &e.actor {
        parts.extend(a.name.as_deref());
        parts.extend(a.email.as_deref());
    }
    for t in &e.targets {
        parts.extend(t.name.as_deref());
        parts.extend(t.email.as_deref());
    }
    parts.join(" ")
}
