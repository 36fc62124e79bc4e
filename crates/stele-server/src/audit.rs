//! Events Stele writes about itself (tenant and key changes) into the tenant's own log.

use stele_core::{Actor, Event, EventId, NewEvent, Origin, Status, Target, Timestamp};

use crate::auth::Principal;

/// An event recording that `principal` did `action` to `target`.
pub fn audit_event(principal: &Principal, action: &str, target: Target, message: String) -> NewEvent {
    let what = What { action, status: Status::Success, target, message, reason: None };
    event(principal.actor(), Origin::Api, what)
}

/// What one of Stele's own events records, besides who did it.
pub struct What<'a> {
    pub action: &'a str,
    pub status: Status,
    pub target: Target,
    pub message: String,
    pub reason: Option<String>,
}

/// One of Stele's own events, now, by `actor` through `origin` (the API, the viewer).
pub fn event(actor: Actor, origin: Origin, what: What<'_>) -> NewEvent {
    let now = Timestamp::now();
    NewEvent::new(Event {
        id: EventId::new_v7(),
        time: now,
        received_at: now,
        action: what.action.to_owned(),
        status: what.status,
        message: Some(what.message),
        reason: what.reason,
        actor: Some(actor),
        origin: Some(origin),
        targets: vec![what.target],
        context: Default::default(),
        request: None,
        changes: None,
        correlation_id: None,
        metadata: None,
        truncated: false,
    })
}
