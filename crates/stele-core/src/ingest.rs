//! Parsing and validating an ingest request body: one event, or `{"events": [...]}`.
//!
//! Everything a publisher sends is checked here, before any of it reaches a store, so that a
//! rejected batch stores nothing. Errors name the event's index and the field.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::event::{Changes, ChangesInput, Event, EventInput, NewEvent, RequestInfo, RequestInput, Status};
use crate::free::{FreeInput, FreeJson};
use crate::ids::EventId;
use crate::limits::{Limits, EARLIEST_EVENT_TIME};
use crate::redact::redact_event;
use crate::text::{check_label, check_prose};
use crate::timestamp::Timestamp;
use crate::unique_keys::{check_unique_keys, UniqueKeysError};

/// The validated content of an ingest request.
#[derive(Debug)]
pub struct Ingested {
    pub events: Vec<NewEvent>,
    /// Whether the body was a batch (`{"events": [...]}`): the answer takes the same shape.
    pub batch: bool,
}

/// What kind of problem an ingest body has; the HTTP layer maps each to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestErrorKind {
    /// Not JSON at all, or not UTF-8.
    Syntax,
    /// JSON, but a field is missing, unknown, of the wrong type or out of bounds.
    Invalid,
    /// One event is larger than the limit even after its bodies were truncated.
    EventTooLarge,
    /// More events than a batch may hold, or none.
    BatchSize,
}

/// Why an ingest body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.detail())]
pub struct IngestError {
    pub kind: IngestErrorKind,
    /// Index of the offending event in a batch.
    pub index: Option<usize>,
    /// Dotted path of the offending field (`actor.ip`), empty for the whole body.
    pub field: String,
    pub message: String,
}

impl IngestError {
    fn new(kind: IngestErrorKind, index: Option<usize>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { kind, index, field: field.into(), message: message.into() }
    }

    /// The field with its event index, as a client would write it: `events[3].actor.ip`.
    pub fn location(&self) -> String {
        match (self.index, self.field.is_empty()) {
            (Some(i), true) => format!("events[{i}]"),
            (Some(i), false) => format!("events[{i}].{}", self.field),
            (None, _) => self.field.clone(),
        }
    }

    /// One sentence naming the event, the field and the problem.
    pub fn detail(&self) -> String {
        let location = self.location();
        if location.is_empty() && self.kind == IngestErrorKind::EventTooLarge {
            format!("the event {}", self.message)
        } else if location.is_empty() {
            self.message.clone()
        } else {
            format!("{location}: {}", self.message)
        }
    }
}

const SERVER_ASSIGNED: &[&str] = &["id", "seq", "received_at", "truncated", "hash"];

/// Parses and validates an ingest body. `now` becomes each event's `received_at` (and its
/// `time` where the publisher gave none).
pub fn parse_ingest_body(body: &[u8], limits: &Limits, now: Timestamp) -> Result<Ingested, IngestError> {
    parse_ingest_body_with(body, limits, now, true)
}

/// [`parse_ingest_body`], with `leaf_hashes: false` making events without their Merkle leaf
/// (only for measuring what integrity costs; such events cannot be verified).
pub fn parse_ingest_body_with(
    body: &[u8],
    limits: &Limits,
    now: Timestamp,
    leaf_hashes: bool,
) -> Result<Ingested, IngestError> {
    // The bodies that are accepted are read once: one event, or a batch whose events are each
    // read once more. Parsing refuses a repeated key as it goes (serde in the typed parts,
    // `unique_keys::strict` in the free-form ones), so an accepted body needs no pass of its
    // own for that. A body that parses as neither takes the careful path below, which is what
    // words every error (so the errors do not depend on which read failed first).
    if let Ok(input) = serde_json::from_slice::<EventInput>(body) {
        let event = validate_at(input, None, limits, now, leaf_hashes)?;
        return Ok(Ingested { events: vec![event], batch: false });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    if let Ok(events) = (BatchSeed { limits, now, leaf_hashes }).deserialize(&mut de) {
        if !events.is_empty() && de.end().is_ok() {
            return Ok(Ingested { events, batch: true });
        }
    }
    reject_duplicate_keys(body)?;
    let top: HashMap<String, &RawValue> = serde_json::from_slice(body).map_err(|e| {
        let message = if e.is_data() {
            "expected a JSON object: one event, or {\"events\": [...]}".to_owned()
        } else {
            format!("malformed JSON: {e}")
        };
        IngestError::new(IngestErrorKind::Syntax, None, "", message)
    })?;

    let Some(events_raw) = top.get("events") else {
        let event = parse_event(body, None, limits, now, leaf_hashes)?;
        return Ok(Ingested { events: vec![event], batch: false });
    };
    if let Some(other) = top.keys().find(|k| k.as_str() != "events") {
        return Err(IngestError::new(
            IngestErrorKind::Invalid,
            None,
            other.clone(),
            "unknown field next to \"events\"; a batch is {\"events\": [...]}",
        ));
    }
    let raws: Vec<&RawValue> = serde_json::from_str(events_raw.get())
        .map_err(|_| IngestError::new(IngestErrorKind::Invalid, None, "events", "must be an array of event objects"))?;
    if raws.is_empty() {
        return Err(IngestError::new(IngestErrorKind::BatchSize, None, "events", "must hold at least one event"));
    }
    if raws.len() > limits.max_batch_events {
        return Err(IngestError::new(
            IngestErrorKind::BatchSize,
            None,
            "events",
            format!("holds {} events; a batch holds at most {}", raws.len(), limits.max_batch_events),
        ));
    }
    let events = raws
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_event(raw.get().as_bytes(), Some(i), limits, now, leaf_hashes))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ingested { events, batch: true })
}

/// A batch, `{"events": [...]}`, read in one pass: each event is parsed and validated as it
/// is reached (a first pass that only found the events' extents had cost a tenth of the
/// batch's parse). It fails on anything the careful path would refuse — another member, more
/// than `max_batch_events` events (at the first one too many), an event that does not parse
/// or validate — and the careful path then words the error.
struct BatchSeed<'l> {
    limits: &'l Limits,
    now: Timestamp,
    leaf_hashes: bool,
}

impl<'de> DeserializeSeed<'de> for BatchSeed<'_> {
    type Value = Vec<NewEvent>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<NewEvent>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed<'_> {
    type Value = Vec<NewEvent>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a batch of events")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<NewEvent>, A::Error> {
        match map.next_key::<std::borrow::Cow<'de, str>>()? {
            Some(key) if key == "events" => {}
            _ => return Err(de::Error::custom("not a batch")),
        }
        let events = map.next_value_seed(EventsSeed(self))?;
        match map.next_key::<de::IgnoredAny>()? {
            None => Ok(events),
            Some(_) => Err(de::Error::custom("not a batch")),
        }
    }
}

/// The `events` array of a [`BatchSeed`].
struct EventsSeed<'l>(BatchSeed<'l>);

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = Vec<NewEvent>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<NewEvent>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = Vec<NewEvent>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<NewEvent>, A::Error> {
        let BatchSeed { limits, now, leaf_hashes } = self.0;
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(limits.max_batch_events));
        while let Some(input) = seq.next_element::<EventInput>()? {
            if events.len() == limits.max_batch_events {
                return Err(de::Error::custom("too many events"));
            }
            let event = validate_at(input, Some(events.len()), limits, now, leaf_hashes).map_err(de::Error::custom)?;
            events.push(event);
        }
        Ok(events)
    }
}

/// Refuses a body in which any object repeats a key (a syntax error is left to the parse
/// that follows, which words it for a publisher).
fn reject_duplicate_keys(body: &[u8]) -> Result<(), IngestError> {
    match check_unique_keys(body) {
        Err(UniqueKeysError::Duplicate(d)) => Err(IngestError::new(
            IngestErrorKind::Invalid,
            None,
            if d.path.is_empty() { d.key.clone() } else { d.path },
            crate::unique_keys::strict::repeated(&d.key),
        )),
        Ok(()) | Err(UniqueKeysError::Syntax(_)) => Ok(()),
    }
}

/// Checks, redacts and (if need be) truncates one event built in-process — Stele's own
/// events, such as a SCIM request's — exactly as [`parse_ingest_body`] does a published one,
/// without a round trip through JSON text.
pub fn accept_event(input: EventInput, limits: &Limits, now: Timestamp) -> Result<NewEvent, IngestError> {
    validate_at(input, None, limits, now, true)
}

fn parse_event(
    raw: &[u8],
    index: Option<usize>,
    limits: &Limits,
    now: Timestamp,
    leaf_hashes: bool,
) -> Result<NewEvent, IngestError> {
    // Almost every event parses: the path of a failing field is worked out only for one that
    // does not, by parsing it again with path tracking (which costs a third of a parse).
    let input: EventInput = match serde_json::from_slice(raw) {
        Ok(input) => input,
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(raw);
            let error = match serde_path_to_error::deserialize::<_, EventInput>(&mut de) {
                Err(e) => e,
                Ok(_) => return Err(IngestError::new(IngestErrorKind::Invalid, index, "", "is not a valid event")),
            };
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let (field, message) = describe_serde_error(&path, &error.inner().to_string());
            return Err(IngestError::new(IngestErrorKind::Invalid, index, field, message));
        }
    };
    validate_at(input, index, limits, now, leaf_hashes)
}

/// [`validate`] with its error placed at the event's index.
fn validate_at(
    input: EventInput,
    index: Option<usize>,
    limits: &Limits,
    now: Timestamp,
    leaf_hashes: bool,
) -> Result<NewEvent, IngestError> {
    validate(input, limits, now, leaf_hashes).map_err(|(field, message)| {
        let kind = if field.is_empty() { IngestErrorKind::EventTooLarge } else { IngestErrorKind::Invalid };
        IngestError::new(kind, index, field, message)
    })
}

/// Turns serde's message into (field, message) naming the field the way a client wrote it.
fn describe_serde_error(path: &str, message: &str) -> (String, String) {
    let join = |name: &str| if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some(name) = backticked(message, "unknown field `") {
        // serde_path_to_error's path already ends with the unknown field's name.
        let field = if path.is_empty() { name.to_owned() } else { path.to_owned() };
        if field == name && SERVER_ASSIGNED.contains(&name) {
            return (field, "is assigned by the server and cannot be sent".to_owned());
        }
        return (field, "unknown field".to_owned());
    }
    if let Some(name) = backticked(message, "missing field `") {
        return (join(name), "is required".to_owned());
    }
    (path.to_owned(), message.to_owned())
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

type FieldError = (String, String);

/// A field's name for an error message, made only when there is an error (most names of
/// targets and context entries would be formatted for nothing).
trait FieldName {
    fn name(&self) -> String;
}

impl FieldName for str {
    fn name(&self) -> String {
        self.to_owned()
    }
}

impl<F: Fn() -> String> FieldName for F {
    fn name(&self) -> String {
        self()
    }
}

fn check_len(field: &(impl FieldName + ?Sized), value: &str, max: usize) -> Result<(), FieldError> {
    check_prose(value).map_err(|e| (field.name(), e.to_string()))?;
    // A value has no more characters than bytes: one of at most `max` bytes needs no counting.
    if value.len() <= max {
        return Ok(());
    }
    let chars = value.chars().count();
    if chars > max {
        Err((field.name(), format!("is {chars} characters long; at most {max} are allowed")))
    } else {
        Ok(())
    }
}

fn check_opt(field: &(impl FieldName + ?Sized), value: &Option<String>, max: usize) -> Result<(), FieldError> {
    value.as_deref().map_or(Ok(()), |v| check_len(field, v, max))
}

/// The identifiers and names of an event pass [`check_label`] (prose fields pass
/// [`check_prose`] in [`check_len`]).
fn check_labels(input: &EventInput) -> Result<(), FieldError> {
    let check = |field: &dyn Fn() -> String, value: Option<&str>| {
        value.map_or(Ok(()), |v| check_label(v).map_err(|e| (field(), e.to_string())))
    };
    check(&|| "action".into(), Some(&input.action))?;
    check(&|| "correlation_id".into(), input.correlation_id.as_deref())?;
    if let Some(a) = &input.actor {
        check(&|| "actor.type".into(), a.kind.as_deref())?;
        check(&|| "actor.id".into(), a.id.as_deref())?;
        check(&|| "actor.name".into(), a.name.as_deref())?;
        check(&|| "actor.email".into(), a.email.as_deref())?;
    }
    for (i, t) in input.targets.iter().flatten().enumerate() {
        check(&|| format!("targets[{i}].type"), t.kind.as_deref())?;
        check(&|| format!("targets[{i}].id"), t.id.as_deref())?;
        check(&|| format!("targets[{i}].name"), t.name.as_deref())?;
        check(&|| format!("targets[{i}].email"), t.email.as_deref())?;
    }
    for (k, v) in input.context.iter().flatten() {
        check(&|| format!("context.{}", k.escape_default()), Some(k))?;
        check(&|| format!("context.{k}"), Some(v))?;
    }
    if let Some(r) = &input.request {
        check(&|| "request.id".into(), r.id.as_deref())?;
    }
    Ok(())
}

/// Checks bounds, redacts secrets, truncates oversize bodies and builds the stored event.
fn validate(input: EventInput, limits: &Limits, now: Timestamp, leaf_hashes: bool) -> Result<NewEvent, FieldError> {
    check_labels(&input)?;
    let short = limits.max_short_string;
    let long = limits.max_long_string;
    if input.action.trim().is_empty() {
        return Err(("action".into(), "must not be empty".into()));
    }
    check_len("action", &input.action, short)?;
    check_opt("message", &input.message, long)?;
    check_opt("reason", &input.reason, long)?;
    check_opt("correlation_id", &input.correlation_id, short)?;
    if let Some(actor) = &input.actor {
        check_opt("actor.type", &actor.kind, short)?;
        check_opt("actor.id", &actor.id, short)?;
        check_opt("actor.name", &actor.name, short)?;
        check_opt("actor.email", &actor.email, short)?;
        check_opt("actor.user_agent", &actor.user_agent, long)?;
        if let Some(ip) = &actor.ip {
            if ip.parse::<IpAddr>().is_err() {
                return Err(("actor.ip".into(), format!("{ip:?} is not an IPv4 or IPv6 address")));
            }
        }
    }
    let targets = input.targets.unwrap_or_default();
    if targets.len() > limits.max_targets {
        return Err((
            "targets".into(),
            format!("has {} entries; at most {} are allowed", targets.len(), limits.max_targets),
        ));
    }
    for (i, t) in targets.iter().enumerate() {
        for (name, value) in [("type", &t.kind), ("id", &t.id), ("name", &t.name), ("email", &t.email)] {
            check_opt(&|| format!("targets[{i}].{name}"), value, short)?;
        }
    }
    let context = input.context.unwrap_or_default();
    if context.len() > limits.max_context_entries {
        return Err((
            "context".into(),
            format!("has {} entries; at most {} are allowed", context.len(), limits.max_context_entries),
        ));
    }
    for (k, v) in &context {
        if k.is_empty() || k.len() > 128 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
            return Err((format!("context.{k}"), "keys are 1-128 characters of A-Z, a-z, 0-9, '_', '-' or '.'".into()));
        }
        check_len(&|| format!("context.{k}"), v, short)?;
    }
    let mut request = input.request;
    if let Some(r) = &mut request {
        check_opt("request.id", &r.id, short)?;
        check_opt("request.path", &r.path, long)?;
        if let Some(m) = &mut r.method {
            if m.is_empty() || m.len() > 16 || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(("request.method".into(), format!("{m:?} is not an HTTP method")));
            }
            m.make_ascii_uppercase();
        }
        if let Some(code) = r.status_code {
            if !(100..=599).contains(&code) {
                return Err(("request.status_code".into(), format!("{code} is not an HTTP status code (100-599)")));
            }
        }
    }
    let time = input.time.unwrap_or(now);
    check_time(time, limits, now)?;
    let (request, changes, metadata) = finish_free(request, input.changes, input.metadata)?;
    let mut event = Event {
        id: EventId::new_v7(),
        time,
        received_at: now,
        action: input.action,
        status: input.status.unwrap_or(Status::Success),
        message: input.message,
        reason: input.reason,
        actor: input.actor,
        origin: input.origin,
        targets,
        context,
        request,
        changes,
        correlation_id: input.correlation_id,
        metadata,
        truncated: false,
    };
    redact_event(&mut event);
    fit_to_limit(event, limits.max_event_bytes, leaf_hashes)
}

type Free = (Option<RequestInfo>, Option<Changes>, Option<FreeJson>);

/// The free-form parts as stored ([`FreeInput::finish`]): a sent part was redacted and its
/// numbers checked as it was read; a built one is now, and the first integer JSON numbers
/// cannot hold exactly (see [`crate::ijson`]) is refused, naming its field.
fn finish_free(
    request: Option<RequestInput>,
    changes: Option<ChangesInput>,
    metadata: Option<FreeInput>,
) -> Result<Free, FieldError> {
    let part = |free: Option<FreeInput>, path: &str| {
        free.map(|f| f.finish(path)).transpose().map_err(|found| (found, crate::free::unsafe_integer_message()))
    };
    // A sent one was read as an object (`free::sent_object`); a built one is checked here.
    let object = |free: Option<FreeInput>, path: &str| match free {
        Some(FreeInput::Built(v)) if !v.is_object() => Err((path.to_owned(), "must be a JSON object".to_owned())),
        free => part(free, path),
    };
    let request = match request {
        None => None,
        Some(RequestInput { id, method, path, query, status_code, body, response_body }) => Some(RequestInfo {
            query: object(query, "request.query")?,
            body: part(body, "request.body")?,
            response_body: part(response_body, "request.response_body")?,
            id,
            method,
            path,
            status_code,
        }),
    };
    let changes = match changes {
        None => None,
        Some(ChangesInput { before, after }) => {
            Some(Changes { before: part(before, "changes.before")?, after: part(after, "changes.after")? })
        }
    };
    Ok((request, changes, object(metadata, "metadata")?))
}

/// Refuses a `time` outside the accepted window: from [`EARLIEST_EVENT_TIME`] to
/// `max_future_skew_seconds` past `now` (the server's clock, passed in so tests choose it).
fn check_time(time: Timestamp, limits: &Limits, now: Timestamp) -> Result<(), FieldError> {
    let latest = limits.latest_event_time(now);
    if time < EARLIEST_EVENT_TIME {
        return Err(("time".into(), format!("{time} is before {EARLIEST_EVENT_TIME}, the earliest accepted time")));
    }
    if time > latest {
        return Err((
            "time".into(),
            format!(
                "{time} is more than {} seconds ahead of the server's clock ({now}); the latest accepted time is {latest}",
                limits.max_future_skew_seconds
            ),
        ));
    }
    Ok(())
}

/// The bodies that may be cut to make an event fit.
#[derive(Clone, Copy)]
enum Body {
    Request,
    Response,
    Before,
    After,
}

fn body_slot(event: &mut Event, which: Body) -> Option<&mut FreeJson> {
    match which {
        Body::Request => event.request.as_mut()?.body.as_mut(),
        Body::Response => event.request.as_mut()?.response_body.as_mut(),
        Body::Before => event.changes.as_mut()?.before.as_mut(),
        Body::After => event.changes.as_mut()?.after.as_mut(),
    }
}

/// Truncates the largest bodies first until the event fits, replacing each cut body by a
/// string holding the start of its JSON text followed by "…", and sets `truncated`.
fn fit_to_limit(event: Event, max: usize, leaf_hashes: bool) -> Result<NewEvent, FieldError> {
    let make = if leaf_hashes { NewEvent::new } else { NewEvent::without_integrity };
    // Almost every event fits: it is serialised once and not copied. One that does not is
    // taken back and cut.
    let mut new = make(event);
    if new.json.len() <= max {
        return Ok(new);
    }
    let mut event = new.event;
    event.truncated = true;
    let mut bodies: Vec<(usize, Body, String)> = [Body::Request, Body::Response, Body::Before, Body::After]
        .into_iter()
        .filter_map(|b| {
            let text = body_slot(&mut event, b)?.as_str().to_owned();
            Some((text.len(), b, text))
        })
        .collect();
    bodies.sort_by_key(|b| std::cmp::Reverse(b.0));
    for (_, which, text) in bodies {
        let mut keep = text.len();
        loop {
            new = make(event.clone());
            if new.json.len() <= max {
                return Ok(new);
            }
            if keep == 0 {
                break;
            }
            keep = keep.saturating_sub(new.json.len() - max + 16);
            let mut cut = keep;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            if let Some(slot) = body_slot(&mut event, which) {
                *slot = FreeJson::string(&format!("{}…", &text[..cut]));
            }
        }
    }
    new = NewEvent::new(event);
    if new.json.len() <= max {
        return Ok(new);
    }
    Err((
        String::new(),
        format!("is {} bytes even with its bodies truncated; an event holds at most {max} bytes", new.json.len()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(v: Value) -> Result<Ingested, IngestError> {
        parse_ingest_body(v.to_string().as_bytes(), &Limits::default(), Timestamp::from_micros(1_700_000_000_000_000))
    }

    #[test]
    fn lengths_count_characters_and_errors_name_the_field() {
        let max = Limits::default().max_short_string;
        let accented = |n: usize| "é".repeat(n);
        parse(json!({"action": "a", "actor": {"name": accented(max)}}))
            .expect("twice as many bytes, as many characters");
        let e =
            parse(json!({"action": "a", "actor": {"name": accented(max + 1)}})).expect_err("one character too many");
        assert_eq!(
            (e.field.as_str(), e.message.contains(&format!("{} characters", max + 1))),
            ("actor.name", true),
            "{e}"
        );
        let e = parse(json!({"action": "a", "context": {"env": "x".repeat(max + 1)}})).expect_err("too long");
        assert_eq!(e.field, "context.env");
        let e = parse(json!({"action": "a", "targets": [{}, {"email": "x".repeat(max + 1)}]})).expect_err("too long");
        assert_eq!(e.field, "targets[1].email");
    }

    #[test]
    fn single_and_batch() {
        let one = parse(json!({"action": "user.created"})).expect("valid");
        assert!(!one.batch);
        assert_eq!(one.events[0].event.action, "user.created");
        assert_eq!(one.events[0].event.time, one.events[0].event.received_at);
        let many = parse(json!({"events": [{"action": "a"}, {"action": "b"}]})).expect("valid");
        assert!(many.batch);
        assert_eq!(many.events.len(), 2);
    }

    #[test]
    fn errors_name_index_and_field() {
        let e = parse(json!({"events": [{"action": "a"}, {"action": "b", "actor": {"nme": "x"}}]})).unwrap_err();
        assert_eq!(e.location(), "events[1].actor.nme");
        assert_eq!(e.message, "unknown field");
        let e = parse(json!({"events": [{"action": 5}]})).unwrap_err();
        assert_eq!(e.location(), "events[0].action");
        assert!(e.message.contains("expected a string"), "{}", e.message);
        let e = parse(json!({"message": "no action"})).unwrap_err();
        assert_eq!((e.location().as_str(), e.message.as_str()), ("action", "is required"));
        let e = parse(json!({"action": "a", "seq": 3})).unwrap_err();
        assert_eq!(e.location(), "seq");
        assert!(e.message.contains("assigned by the server"));
        let e = parse(json!({"action": "a", "actor": {"ip": "999.1.1.1"}})).unwrap_err();
        assert_eq!(e.location(), "actor.ip");
        let e = parse(json!({"action": "a", "time": "yesterday"})).unwrap_err();
        assert_eq!(e.location(), "time");
    }

    #[test]
    fn syntax_and_batch_size() {
        let e = parse_ingest_body(b"{\"action\":", &Limits::default(), Timestamp::now()).unwrap_err();
        assert_eq!(e.kind, IngestErrorKind::Syntax);
        let e = parse(json!([{"action": "a"}])).unwrap_err();
        assert_eq!(e.kind, IngestErrorKind::Syntax);
        let e = parse(json!({"events": []})).unwrap_err();
        assert_eq!(e.kind, IngestErrorKind::BatchSize);
        let too_many: Vec<Value> = (0..1001).map(|_| json!({"action": "a"})).collect();
        let e = parse(json!({ "events": too_many })).unwrap_err();
        assert_eq!(e.kind, IngestErrorKind::BatchSize);
    }

    /// Found by the `ingest` fuzz target: a fraction whose double is an integer beyond 2^53
    /// was stored as that integer, and the stored content was then refused when sent again.
    #[test]
    fn a_number_stored_as_an_unsafe_integer_is_refused_as_one() {
        let now = Timestamp::from_micros(1_780_272_000_000_000);
        let body =
            br#"{"action": "invoice.paid", "metadata": {"n": 1, "big": 222222000000000000.000000000000757207215}}"#;
        let e = parse_ingest_body(body, &Limits::default(), now).expect_err("refused");
        assert_eq!((e.kind, e.location().as_str()), (IngestErrorKind::Invalid, "metadata.big"));
        // Its positive control: the same number as a string is kept as sent.
        let body =
            br#"{"action": "invoice.paid", "metadata": {"n": 1, "big": "222222000000000000.000000000000757207215"}}"#;
        let stored = parse_ingest_body(body, &Limits::default(), now).expect("accepted").events.remove(0).json;
        assert!(stored.contains(r#""big":"222222000000000000.000000000000757207215""#), "{stored}");
    }

    #[test]
    fn a_built_event_is_checked_and_redacted_as_a_sent_one() {
        let now = Timestamp::from_micros(1_780_272_000_000_000);
        let input = |metadata: Value, body: Value| EventInput {
            action: "a".into(),
            metadata: Some(FreeInput::Built(metadata)),
            request: Some(RequestInput { body: Some(FreeInput::Built(body)), ..RequestInput::default() }),
            ..serde_json::from_value(json!({"action": "a"})).expect("an event")
        };
        let stored = accept_event(input(json!({"token": "t", "b": 1}), json!("password=p")), &Limits::default(), now);
        let stored = stored.expect("accepted");
        let v: Value = serde_json::from_str(&stored.json).expect("json");
        assert_eq!(v["metadata"], json!({"b": 1, "token": crate::redact::REDACTED}));
        assert_eq!(v["request"]["body"], "password=[REDACTED]");
        for (metadata, body, location, wanted) in [
            (json!([1]), json!(null), "metadata", "must be a JSON object"),
            (json!({}), json!({"n": [9_007_199_254_740_993u64]}), "request.body.n[0]", "cannot hold exactly"),
        ] {
            let e = accept_event(input(metadata, body), &Limits::default(), now).expect_err(location);
            assert_eq!(e.location(), location);
            assert!(e.message.contains(wanted), "{e}");
        }
    }

    #[test]
    fn a_batch_is_read_in_one_pass_up_to_its_bound_and_anything_else_is_worded_by_the_careful_path() {
        let limits = Limits { max_batch_events: 3, ..Limits::default() };
        let now = Timestamp::from_micros(1_780_272_000_000_000);
        let events = |n: usize| (0..n).map(|i| format!(r#"{{"action": "a{i}"}}"#)).collect::<Vec<_>>().join(", ");
        let got = parse_ingest_body(format!(r#"{{"events": [{}]}}"#, events(3)).as_bytes(), &limits, now);
        let got = got.expect("three events fit");
        assert!(got.batch);
        let actions: Vec<&str> = got.events.iter().map(|e| e.event.action.as_str()).collect();
        assert_eq!(actions, ["a0", "a1", "a2"]);
        for (body, kind, location) in [
            (format!(r#"{{"events": [{}]}}"#, events(4)), IngestErrorKind::BatchSize, "events"),
            (format!(r#"{{"events": [{}], "more": 1}}"#, events(1)), IngestErrorKind::Invalid, "more"),
            (format!(r#"{{"events": [{}], "events": []}}"#, events(1)), IngestErrorKind::Invalid, "events"),
            (
                r#"{"events": [{"action": "a"}, {"action": ""}]}"#.to_owned(),
                IngestErrorKind::Invalid,
                "events[1].action",
            ),
            (format!(r#"{{"events": [{}]}} x"#, events(1)), IngestErrorKind::Syntax, ""),
        ] {
            let e = parse_ingest_body(body.as_bytes(), &limits, now).expect_err(&body);
            assert_eq!((e.kind, e.location().as_str()), (kind, location), "{body}: {e}");
        }
    }

    #[test]
    fn redacts_and_truncates() {
        let big = "x".repeat(100 * 1024);
        let got = parse(json!({
            "action": "a",
            "request": {"method": "post", "body": {"password": "p", "blob": big}, "query": {"token": "t"}}
        }))
        .expect("valid");
        let e = &got.events[0];
        assert!(e.event.truncated);
        assert!(e.json.len() <= Limits::default().max_event_bytes);
        let req = e.event.request.as_ref().expect("request kept");
        assert_eq!(req.method.as_deref(), Some("POST"));
        assert_eq!(req.query.as_ref().expect("query").to_value()["token"], "[REDACTED]");
        let body = req.body.as_ref().map(FreeJson::to_value);
        let body = body.as_ref().and_then(Value::as_str).expect("body became a preview string");
        assert!(
            body.starts_with("{\"blob\":\"xxx") || body.starts_with("{\"password\":\"[REDACTED]\""),
            "{}",
            &body[..40]
        );
        assert!(!body.contains("\"p\""));
        assert!(body.ends_with('…'));
    }

    #[test]
    fn times_outside_the_window_are_refused_with_their_index() {
        let now = Timestamp::parse("2026-11-22T10:00:00Z").expect("valid");
        let at = |t: &str| json!({"action": "a", "time": t});
        let body = |events: Vec<Value>| json!({ "events": events }).to_string();
        let limits = Limits::default();
        let ok = parse_ingest_body(
            body(vec![at("2026-11-23T10:00:00Z"), at("1970-01-01T00:00:00Z")]).as_bytes(),
            &limits,
            now,
        );
        assert!(ok.is_ok(), "{ok:?}");
        let e = parse_ingest_body(
            body(vec![at("2026-11-22T10:00:00Z"), at("2026-11-23T10:00:00.000001Z")]).as_bytes(),
            &limits,
            now,
        )
        .unwrap_err();
        assert_eq!((e.kind, e.location().as_str()), (IngestErrorKind::Invalid, "events[1].time"));
        assert!(e.message.contains("86400 seconds ahead"), "{}", e.message);
        let e = parse_ingest_body(body(vec![at("1969-12-31T23:59:59Z")]).as_bytes(), &limits, now).unwrap_err();
        assert_eq!(e.location(), "events[0].time");
        let tight = Limits { max_future_skew_seconds: 0, ..Limits::default() };
        let e = parse_ingest_body(at("2026-11-22T10:00:01Z").to_string().as_bytes(), &tight, now).unwrap_err();
        assert_eq!(e.location(), "time");
    }

    #[test]
    fn repeated_keys_and_control_characters_are_refused() {
        let now = Timestamp::now();
        let body = br#"{"events": [{"action": "a"}, {"action": "b", "context": {"role": "r", "role": "admin"}}]}"#;
        let e = parse_ingest_body(body, &Limits::default(), now).unwrap_err();
        assert_eq!(e.location(), "events[1].context");
        assert!(e.message.contains("\"role\" appears twice"), "{}", e.message);
        let e = parse(json!({"action": "user.\u{202E}detaerc"})).unwrap_err();
        assert_eq!(e.location(), "action");
        let e = parse(json!({"action": "a", "actor": {"name": "a\u{0}b"}})).unwrap_err();
        assert_eq!(e.location(), "actor.name");
        assert!(parse(json!({"action": "a", "message": "two\nlines\tand a tab"})).is_ok());
        let e = parse(json!({"action": "a", "message": "nul\u{0}"})).unwrap_err();
        assert_eq!(e.location(), "message");
    }

    /// An accepted body is parsed without a separate repeated-key pass, so every object an
    /// event can hold must refuse a repeated key while it is parsed. Each body here is
    /// accepted as written (the positive control) and refused, naming the same place as
    /// `check_unique_keys` does, once one of its keys is repeated.
    #[test]
    fn a_repeated_key_is_refused_wherever_an_event_holds_an_object() {
        let event = r#"{"action": "a", "actor": {"id": "u", "name": "n"}, "targets": [{"id": "t", "type": "doc"}],
            "context": {"product_id": "p", "region": "eu"}, "metadata": {"k": 1, "deep": {"x": [1, {"y": 2, "z": 3}]}},
            "request": {"method": "GET", "query": {"q": "a", "more": {"page": 2, "size": 3}},
                        "body": {"list": [{"b": 1, "c": 2}]}, "response_body": {"ok": true, "why": "fine"}},
            "changes": {"before": {"role": "reader", "team": "x"}, "after": [{"role": "admin", "team": "y"}]}}"#;
        let cases: [(&str, &str, &str); 14] = [
            (r#""action": "a""#, r#""action": "a", "action": "b""#, "action"),
            (r#""name": "n""#, r#""name": "n", "name": "m""#, "actor"),
            (r#""type": "doc""#, r#""type": "doc", "type": "x""#, "targets[0]"),
            (r#""region": "eu""#, r#""region": "eu", "region": "us""#, "context"),
            (r#""k": 1"#, r#""k": 1, "k": 2"#, "metadata"),
            (r#""z": 3"#, r#""z": 3, "y": 4"#, "metadata.deep.x[1]"),
            (r#""q": "a""#, r#""q": "a", "q": "b""#, "request.query"),
            (r#""size": 3"#, r#""size": 3, "page": 4"#, "request.query.more"),
            (r#""method": "GET""#, r#""method": "GET", "method": "PUT""#, "request"),
            (r#""c": 2"#, r#""c": 2, "b": 3"#, "request.body.list[0]"),
            (r#""why": "fine""#, r#""why": "fine", "ok": false"#, "request.response_body"),
            (r#""team": "x""#, r#""team": "x", "role": "admin""#, "changes.before"),
            (r#""team": "y""#, r#""team": "y", "\u0072ole": "reader""#, "changes.after[0]"),
            (r#""before""#, r#""after": null, "before""#, "changes"),
        ];
        let now = Timestamp::from_micros(1_700_000_000_000_000);
        let limits = Limits::default();
        for (single, body) in
            [(true, event.to_owned()), (false, format!(r#"{{"events": [{{"action": "z"}}, {event}]}}"#))]
        {
            let accepted = parse_ingest_body(body.as_bytes(), &limits, now).expect("the body as written is accepted");
            assert_eq!(accepted.batch, !single);
            for (member, repeated, place) in cases {
                assert_eq!(body.matches(member).count(), 1, "{member} is in the body once");
                let bad = body.replace(member, repeated);
                let e = parse_ingest_body(bad.as_bytes(), &limits, now).expect_err(repeated);
                let place = match (single, place) {
                    (true, p) => p.to_owned(),
                    (false, "action") => "events[1]".to_owned(),
                    (false, p) => format!("events[1].{p}"),
                };
                assert_eq!((e.kind, e.location()), (IngestErrorKind::Invalid, place), "{repeated}");
                assert!(e.message.contains("appears twice"), "{}", e.message);
                // The one read an accepted body gets refuses it too.
                let raw = if single {
                    bad.clone()
                } else {
                    bad[bad.find("{\"action\": \"a\"").expect("event 1")..bad.len() - 2].to_owned()
                };
                assert!(serde_json::from_slice::<EventInput>(raw.as_bytes()).is_err(), "{raw}");
            }
        }
        let batch = format!(r#"{{"events": [{event}], "events": [{event}]}}"#);
        let e = parse_ingest_body(batch.as_bytes(), &limits, now).unwrap_err();
        assert_eq!((e.kind, e.location().as_str()), (IngestErrorKind::Invalid, "events"));
    }

    proptest::proptest! {
        /// The free-form parts are read by `crate::free` straight to what is stored: what
        /// serde_json's value of them, checked, redacted and written canonically, would be —
        /// and an event whose value that refuses is refused as it is read.
        #[test]
        fn free_form_parts_are_stored_as_their_values_would_be(value in json_value()) {
            let body = serde_json::json!({"action": "a", "metadata": {"v": value.clone()}, "request": {"body": value.clone()},
                "changes": {"before": value}}).to_string();
            let plain: Value = serde_json::from_str(&body).expect("parses");
            let built = |v: &Value, path: &str| FreeInput::Built(v.clone()).finish(path);
            let want_metadata = built(&plain["metadata"], "metadata");
            match serde_json::from_str::<EventInput>(&body) {
                Ok(read) => {
                    let read_part = |part: Option<FreeInput>| part.map(|p| p.finish("")).transpose();
                    proptest::prop_assert_eq!(read_part(read.metadata), want_metadata.map(Some));
                    let request = read.request.expect("request");
                    let want = plain["request"].get("body").filter(|v| !v.is_null()).map(|v| built(v, "")).transpose();
                    proptest::prop_assert_eq!(read_part(request.body), want);
                    let changes = read.changes.expect("changes");
                    let want = plain["changes"].get("before").filter(|v| !v.is_null()).map(|v| built(v, "")).transpose();
                    proptest::prop_assert_eq!(read_part(changes.before), want);
                }
                Err(e) => {
                    proptest::prop_assert!(e.to_string().contains("cannot hold exactly"), "{}", e);
                    proptest::prop_assert!(want_metadata.is_err(), "refused only what the value path refuses");
                }
            }
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn too_large_without_bodies() {
        let huge: serde_json::Map<String, Value> =
            (0..200).map(|i| (format!("k{i}"), json!("y".repeat(1000)))).collect();
        let e = parse(json!({"action": "a", "metadata": huge})).unwrap_err();
        assert_eq!(e.kind, IngestErrorKind::EventTooLarge);
    }
}
