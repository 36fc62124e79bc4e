//! The SCIM audit log event of a request (`profiles.md` A.0): `action` `scim.<Operation>`,
//! `status`, `message` (the error detail), `request.{id, method, path, query, status_code,
//! body, response_body}`, the member or group as the target (with its email),
//! `context.scim_connection_id`. The event goes through the ingest pipeline like any other,
//! so secrets in the bodies (`password`, `token`, …) are replaced by `"[REDACTED]"` and
//! large bodies are truncated exactly as for events products send.

use axum::http::Uri;
use serde_json::{json, Map, Value};
use stele_core::{NewEvent, Timestamp};
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
    let status = if reply.status < 400 { "success" } else { "failure" };
    let mut request = json!({
        "id": ctx.request_id,
        "method": req.method,
        "path": cut(&req.path, 1024),
        "status_code": reply.status,
    });
    if !req.query.is_empty() {
        request["query"] = Value::Object(req.query.clone());
    }
    if let Some(body) = &req.body {
        request["body"] = body.clone();
    }
    if let Some(body) = &reply.body {
        request["response_body"] = body.clone();
    }
    let mut event = json!({
        "action": req.op.action(),
        "status": status,
        "actor": {"type": "scim_connection", "id": ctx.conn.id.to_string(), "name": cut(&ctx.conn.name, 256)},
        "origin": "api",
        "context": {
            "scim_connection_id": ctx.conn.id.to_string(),
            "scim_resource_type": stele_scim::operation::resource_type(&req.sub_path).unwrap_or("none"),
        },
        "request": request,
    });
    if let Some(message) = &reply.message {
        event["message"] = Value::String(cut(message, 1024));
    }
    if let Some(t) = &reply.target {
        let mut target = Map::new();
        for (key, value) in [("type", &t.kind), ("id", &t.id), ("name", &t.name), ("email", &t.email)] {
            if let Some(v) = value {
                target.insert(key.into(), Value::String(cut(v, 256)));
            }
        }
        event["targets"] = json!([target]);
    }
    if let Some(c) = &req.correlation_id {
        event["correlation_id"] = Value::String(c.clone());
    }
    let limits = &ctx.state.limits;
    match stele_core::parse_ingest_body(event.to_string().as_bytes(), limits, Timestamp::now()) {
        Ok(mut ingested) if ingested.events.len() == 1 => ingested.events.remove(0),
        outcome => {
            // Only a body the limits refuse outright can land here: keep the facts without it.
            tracing::warn!(failed = outcome.is_err(), "SCIM log event kept without its bodies");
            if let Some(r) = event.get_mut("request").and_then(Value::as_object_mut) {
                r.remove("body");
                r.remove("response_body");
                r.remove("query");
            }
            match stele_core::parse_ingest_body(event.to_string().as_bytes(), limits, Timestamp::now()) {
                Ok(mut ingested) if ingested.events.len() == 1 => ingested.events.remove(0),
                _ => minimal(ctx, req, reply),
            }
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
