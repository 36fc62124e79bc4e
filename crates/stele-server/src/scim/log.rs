//! The SCIM audit log event of a request (`profiles.md` A.0): `action` `scim.<Operation>`,
//! `status`, `message` (the error detail), `request.{id, method, path, query, status_code,
//! body, response_body}`, the member or group as the target (with its email),
//! `context.scim_connection_id`. The event goes through the ingest pipeline like any other,
//! so secrets in the bodies (`password`, `token`, …) are replaced by `"[REDACTED]"` and
//! large bodies are truncated exactly as for events products send.

use axum::http::Uri;
use std::collections::BTreeMap;

use serde_json::{Map, Value};
use stele_core::{Actor, EventInput, FreeInput, NewEvent, Origin, RequestInput, Status, Target, Timestamp};
use stele_scim::{ListQuery, ScimError};

use super::{Ctx, Reply, Req};

/// Most query parameters kept (the rest are dropped from the log).
const MAX_QUERY_PARAMS: usize = 32;
/// Longest query value kept, in characters.
const MAX_QUERY_VALUE: usize = 2048;

/// The query string as a map (first value of each name).
pub(crate) fn query_map(uri: &Uri) -> Map<String, Value> {
    let mut out = Map::new();
    let pairs = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes());
    for (name, value) in pairs.take(MAX_QUERY_PARAMS) {
        if !out.contains_key(name.as_ref()) {
            out.insert(name.chars().take(128).collect(), Value::String(value.chars().take(MAX_QUERY_VALUE).collect()));
        }
    }
    out
}

/// The list parameters of a GET (names as RFC 7644 §3.4.2 spells them).
pub(crate) fn list_query(req: &Req) -> ListQuery<'_> {
    ListQuery {
        filter: req.param("filter"),
        start_index: req.param("startIndex"),
        count: req.param("count"),
        sort_by: req.param("sortBy"),
        sort_order: req.param("sortOrder"),
        attributes: req.param("attributes"),
        excluded_attributes: req.param("excludedAttributes"),
    }
}

/// A request body: none, or one JSON value without repeated keys.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Option<Value>, ScimError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))?;
    stele_core::unique_keys::check_unique_keys(bytes).map_err(|e| ScimError::invalid_syntax(e.to_string()))?;
    Ok(Some(value))
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The event recording `req` answered by `reply`.
pub(crate) fn event(ctx: &Ctx, req: &Req, reply: &Reply) -> NewEvent {
    let status = if reply.status < 400 { Status::Success } else { Status::Failure };
    let connection = ctx.conn.id.to_string();
    let mut context = BTreeMap::new();
    context.insert("scim_connection_id".to_owned(), connection.clone());
    let resource_type = stele_scim::operation::resource_type(&req.sub_path).unwrap_or("none");
    context.insert("scim_resource_type".to_owned(), resource_type.to_owned());
    let targets = reply.target.as_ref().map(|t| {
        let cut_opt = |v: &Option<String>| v.as_deref().map(|v| cut(v, 256));
        vec![Target { kind: cut_opt(&t.kind), id: cut_opt(&t.id), name: cut_opt(&t.name), email: cut_opt(&t.email) }]
    });
    let input = |bodies: bool| EventInput {
        time: None,
        action: req.op.action(),
        status: Some(status),
        message: reply.message.as_deref().map(|m| cut(m, 1024)),
        reason: None,
        actor: Some(Actor {
            kind: Some("scim_connection".to_owned()),
            id: Some(connection.clone()),
            name: Some(cut(&ctx.conn.name, 256)),
            ..Actor::default()
        }),
        origin: Some(Origin::Api),
        targets: targets.clone(),
        context: Some(context.clone()),
        request: Some(RequestInput {
            id: Some(ctx.request_id.clone()),
            method: Some(req.method.clone()),
            path: Some(cut(&req.path, 1024)),
            query: (bodies && !req.query.is_empty())
                .then(|| FreeInput::Built(serde_json::Value::Object(req.query.clone()))),
            status_code: Some(reply.status),
            body: req.body.as_ref().filter(|_| bodies).cloned().map(FreeInput::Built),
            response_body: reply.body.as_ref().filter(|_| bodies).cloned().map(FreeInput::Built),
        }),
        changes: None,
        correlation_id: req.correlation_id.clone(),
        metadata: None,
    };
    // The same checks, redaction of secrets and truncation of large bodies as a published
    // event, without a round trip through JSON text.
    let limits = &ctx.state.limits;
    match stele_core::accept_event(input(true), limits, Timestamp::now()) {
        Ok(event) => event,
        Err(e) => {
            // Only a body the limits refuse outright can land here: keep the facts without it.
            tracing::warn!(error = %e, "SCIM log event kept without its bodies");
            stele_core::accept_event(input(false), limits, Timestamp::now())
                .unwrap_or_else(|_| minimal(ctx, req, reply))
        }
    }
}

/// The smallest event that still records the request (built directly: nothing in it comes
/// from the client except the method, cut to a short string).
fn minimal(ctx: &Ctx, req: &Req, reply: &Reply) -> NewEvent {
    let now = Timestamp::now();
    let mut context = std::collections::BTreeMap::new();
    context.insert("scim_connection_id".to_owned(), ctx.conn.id.to_string());
    NewEvent::new(stele_core::Event {
        id: stele_core::EventId::new_v7(),
        time: now,
        received_at: now,
        action: req.op.action(),
        status: if reply.status < 400 { stele_core::Status::Success } else { stele_core::Status::Failure },
        message: None,
        reason: None,
        actor: None,
        origin: Some(stele_core::Origin::Api),
        targets: vec![],
        context,
        request: Some(stele_core::RequestInfo {
            id: Some(ctx.request_id.clone()),
            method: Some(cut(&req.method, 16)),
            status_code: Some(reply.status),
            ..Default::default()
        }),
        changes: None,
        correlation_id: None,
        metadata: None,
        truncated: true,
    })
}
