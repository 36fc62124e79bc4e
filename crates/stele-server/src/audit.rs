//! Events Stele writes about itself (tenant and key changes) into the tenant's own log.

use std::collections::BTreeSet;

use stele_core::{Actor, Event, EventId, NewEvent, Origin, Scope, Status, Target, Timestamp, ViewFilter};

use crate::auth::Principal;
use crate::error::ApiError;

/// An event recording that `principal` did `action` to `target`.
pub fn audit_event(principal: &Principal, action: &str, target: Target, message: String) -> NewEvent {
    By::Api(principal).event(action, target, message)
}

/// Who makes an admin change (keys, members, SCIM connections): an API caller, or a viewer
/// member whose effective role is admin or owner. The API handlers and the viewer's admin
/// pages run the same change functions with it, so validation, store changes and events are
/// one code; only the actor, the way in (`Origin::Api` or `Origin::User`) and what the
/// maker may grant differ.
pub enum By<'a> {
    Api(&'a Principal),
    /// A member in the viewer: holds the whole tenant (no view filter) and may grant every
    /// key scope of its own tenant.
    Member(Actor),
}

impl By<'_> {
    pub fn actor(&self) -> Actor {
        match self {
            By::Api(p) => p.actor(),
            By::Member(a) => a.clone(),
        }
    }

    pub fn origin(&self) -> Origin {
        match self {
            By::Api(_) => Origin::Api,
            By::Member(_) => Origin::User,
        }
    }

    /// An event recording that the maker did `action` to `target`.
    pub fn event(&self, action: &str, target: Target, message: String) -> NewEvent {
        let what = What { action, status: Status::Success, target, message, reason: None };
        event(self.actor(), self.origin(), what)
    }

    /// Fails with 403 unless the maker may give a key every one of `scopes`.
    pub fn may_grant(&self, scopes: &BTreeSet<Scope>) -> Result<(), ApiError> {
        match self {
            By::Api(p) => p.may_grant(scopes),
            By::Member(_) => Ok(()),
        }
    }

    /// The maker's own view (a key made by it sees at most that).
    pub fn view(&self) -> Result<Option<ViewFilter>, ApiError> {
        match self {
            By::Api(p) => crate::view_filter::of(p),
            By::Member(_) => Ok(None),
        }
    }
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
    event_with(actor, origin, what, None)
}

/// [`event`] with `metadata` (what a background job did: ranges, counts).
pub fn event_with(
    actor: Actor,
    origin: Origin,
    what: What<'_>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
) -> NewEvent {
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
        metadata: metadata.map(|m| stele_core::FreeJson::from_value(&serde_json::Value::Object(m))),
        truncated: false,
    })
}
