//! Events Stele writes about itself (tenant and key changes) into the tenant's own log.

use stele_core::{Event, EventId, NewEvent, Origin, Status, Target, Timestamp};

use crate::auth::Principal;

/// An event recording that `principal` did `action` to `target`.
pub fn audit_event(principal: &Principal, action: &str, target: Target, message: String) -> NewEvent {
    let now = Timestamp::now();
    NewEvent::new(Event {
        id: EventId::new_v7(),
        time: now,
        received_at: now,
        action: action.to_owned(),
        status: Status::Success,
        message: Some(message),
        reason: None,
        actor: Some(principal.actor()),
        origin: Some(Origin::Api),
        targets: vec![target],
        context: Default::default(),
        request: None,
        changes: None,
        correlation_id: None,
        metadata: None,
        truncated: false,
    })
}
