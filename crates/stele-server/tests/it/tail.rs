//! `GET /v1/events/tail`: live events as Server-Sent Events, read with `eventsource-stream`
//! (what a client library parses), against the real server.

use crate::common;

use std::time::Duration;

use common::{assert_problem, seq, spawn_app, spawn_app_with, Key, TestApp, OPERATOR};
use eventsource_stream::{Event, EventStream, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Longest wait for one message; a failure bound, not a measurement (events arrive within
/// the tail's 250 ms poll).
const WAIT: Duration = Duration::from_secs(15);

type Body = std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>;
type Messages = EventStream<Body>;

/// Opens a tail with `query` (and `Last-Event-ID` when given) and checks its first message
/// is `ready`; returns the stream and the seq it starts after.
async fn open(app: &TestApp, secret: &str, query: &[(&str, &str)], last: Option<&str>) -> (Messages, u64) {
    let mut request = app.get("/v1/events/tail", secret).query(query);
    if let Some(l) = last {
        request = request.header("Last-Event-ID", l);
    }
    let response = request.send().await.expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"].to_str().expect("content type").to_owned();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    let stream: Body = Box::pin(response.bytes_stream());
    let mut messages = stream.eventsource();
    let ready = next(&mut messages).await;
    assert_eq!(ready.event, "ready");
    let after: u64 = ready.id.parse().expect("ready carries a seq");
    assert_eq!(serde_json::from_str::<Value>(&ready.data).expect("JSON")["after"], after);
    (messages, after)
}

async fn next(messages: &mut Messages) -> Event {
    tokio::time::timeout(WAIT, messages.next())
        .await
        .expect("a message within the wait")
        .expect("the stream is open")
        .expect("a well-formed message")
}

/// The next `event` message, as (seq from its id, the event).
async fn next_event(messages: &mut Messages) -> (u64, Value) {
    let m = next(messages).await;
    assert_eq!(m.event, "event", "{m:?}");
    let event: Value = serde_json::from_str(&m.data).expect("event JSON");
    let id: u64 = m.id.parse().expect("id is a seq");
    assert_eq!(id, seq(&event), "the message id is the event's seq");
    (id, event)
}

async fn ingest(app: &TestApp, key: &Key, actions: &[&str]) -> Vec<u64> {
    let events: Vec<Value> = actions.iter().map(|a| json!({"action": a, "context": {"team": "blue"}})).collect();
    let receipts = app.ingest_ok(&key.secret, &json!({ "events": events })).await;
    receipts["events"].as_array().expect("receipts").iter().map(seq).collect()
}

#[tokio::test]
async fn a_tail_sends_new_matching_events_in_seq_order() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    ingest(&app, &key, &["user.created"]).await;
    let (mut tail, after) = open(&app, &key.secret, &[("filter", r#"action sw "user.""#)], None).await;
    assert!(after >= 2, "starts at the head (the tenant's own events and one user event)");
    let seqs = ingest(&app, &key, &["user.deleted", "billing.paid", "user.renamed"]).await;
    let (s1, e1) = next_event(&mut tail).await;
    let (s2, e2) = next_event(&mut tail).await;
    assert_eq!((s1, e1["action"].as_str()), (seqs[0], Some("user.deleted")), "nothing from before the head");
    assert_eq!((s2, e2["action"].as_str()), (seqs[2], Some("user.renamed")), "billing.paid is filtered out");
    assert!(e1["hash"].as_str().is_some_and(|h| h.len() == 64), "stored events, with their leaf hash");

    // A q search narrows the same way.
    let (mut words, _) = open(&app, &key.secret, &[("q", "renamed")], None).await;
    let events = json!({"events": [{"action": "user.created", "message": "Ana created Bo"},
        {"action": "user.renamed", "message": "Ana renamed Bo"}]});
    app.ingest_ok(&key.secret, &events).await;
    assert_eq!(next_event(&mut words).await.1["action"], "user.renamed");
    app.shutdown().await;
}

#[tokio::test]
async fn last_event_id_resumes_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let seqs = ingest(&app, &key, &["a.one", "a.two", "a.three"]).await;
    let (mut tail, after) =
        open(&app, &key.secret, &[("filter", r#"action sw "a.""#)], Some(&seqs[0].to_string())).await;
    assert_eq!(after, seqs[0]);
    assert_eq!(next_event(&mut tail).await.0, seqs[1]);
    assert_eq!(next_event(&mut tail).await.0, seqs[2]);
    // `after=` does the same for clients that cannot set headers.
    let from = seqs[1].to_string();
    let (mut again, _) = open(&app, &key.secret, &[("after", &from)], None).await;
    assert_eq!(next_event(&mut again).await.0, seqs[2]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_view_filter_and_the_tenant_bound_what_a_tail_sees() {
    let app = spawn_app().await;
    let writer = app.tenant_with_key("acme").await;
    let other = app.tenant_with_key("globex").await;
    let scoped = app
        .post_json(
            "/v1/keys",
            OPERATOR,
            &json!({"tenant": "acme", "name": "red only", "scopes": ["events:read"], "view_filter": r#"context.team eq "red""#}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(scoped.status(), StatusCode::CREATED);
    let scoped: Value = scoped.json().await.expect("key");
    let scoped = scoped["secret"].as_str().expect("secret").to_owned();
    let (mut red, _) = open(&app, &scoped, &[], None).await;
    let (mut all, _) = open(&app, &writer.secret, &[("filter", r#"action sw "x.""#)], None).await;
    // Another tenant's event first, then a blue one, then a red one.
    ingest(&app, &other, &["x.globex"]).await;
    ingest(&app, &writer, &["x.blue"]).await;
    let red_event = json!({"events": [{"action": "x.red", "context": {"team": "red"}}]});
    app.ingest_ok(&writer.secret, &red_event).await;
    // Positive control: the unscoped key sees both of its tenant's events, not globex's.
    assert_eq!(next_event(&mut all).await.1["action"], "x.blue");
    assert_eq!(next_event(&mut all).await.1["action"], "x.red");
    // The scoped key's first event is the red one: neither blue nor globex's reached it.
    assert_eq!(next_event(&mut red).await.1["action"], "x.red");
    app.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_refused_before_streaming() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let write_only = app.create_key("acme", &["events:write"]).await;
    let r = app.get("/v1/events/tail", &write_only.secret).send().await.expect("sent");
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.get("/v1/events/tail", "wrong-key").send().await.expect("sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.get("/v1/events/tail", &key.secret).query(&[("filter", "action eq")]).send().await.expect("sent");
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-filter").await;
    let r = app.get("/v1/events/tail", &key.secret).header("Last-Event-ID", "abc").send().await.expect("sent");
    let p = assert_problem(r, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    assert!(p["detail"].as_str().is_some_and(|d| d.contains("Last-Event-ID")), "{p}");
    let r = app.get("/v1/events/tail", &key.secret).query(&[("after", "18446744073709551615")]).send().await;
    assert_problem(r.expect("sent"), StatusCode::BAD_REQUEST, "invalid-parameter").await;
    let r = app.get("/v1/events/tail", &key.secret).query(&[("since", "1")]).send().await.expect("sent");
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid-parameter").await;
    app.shutdown().await;
}

#[tokio::test]
async fn tails_are_bounded_in_number_and_in_lag() {
    let app = spawn_app_with(|c| {
        c.server.max_tail_streams = 1;
        c.server.tail_max_behind = 3;
    })
    .await;
    let key = app.tenant_with_key("acme").await;
    ingest(&app, &key, &["a.1", "a.2", "a.3", "a.4"]).await;
    let (first, _) = open(&app, &key.secret, &[], None).await;
    let r = app.get("/v1/events/tail", &key.secret).send().await.expect("sent");
    assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().ok()), Some(Some("5")));
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "tail-busy").await;
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(metrics.contains(r#"stele_rate_limited_total{reason="tail_busy"} 1"#), "{metrics}");
    // The slot comes back once the first client goes (noticed at its next poll).
    drop(first);
    let mut reopened = None;
    for _ in 0..100 {
        let r = app.get("/v1/events/tail", &key.secret).query(&[("after", "0")]).send().await.expect("sent");
        if r.status() == StatusCode::OK {
            reopened = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Resuming from 0 is more than 3 events behind: told, then cut.
    let stream: Body = Box::pin(reopened.expect("the slot came back").bytes_stream());
    let mut messages = stream.eventsource();
    assert_eq!(next(&mut messages).await.event, "ready");
    let cut = next(&mut messages).await;
    assert_eq!(cut.event, "error");
    let detail: Value = serde_json::from_str(&cut.data).expect("JSON");
    assert_eq!(detail["type"], "too-slow", "{detail}");
    let ended = tokio::time::timeout(WAIT, messages.next()).await.expect("the stream ends");
    assert!(ended.is_none(), "nothing after the error: {ended:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_tails_with_a_message() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let (mut tail, _) = open(&app, &key.secret, &[], None).await;
    let stopping = tokio::spawn(app.shutdown());
    let m = next(&mut tail).await;
    assert_eq!(m.event, "error");
    assert_eq!(serde_json::from_str::<Value>(&m.data).expect("JSON")["type"], "shutdown");
    tokio::time::timeout(WAIT, stopping).await.expect("shutdown finishes").expect("no panic");
}
