//! Streams through the real server: `/v1/streams` (records, events, bounds, who may) and
//! webhook delivery to a receiver in this test that checks every signature, fails and times
//! out on purpose and is stopped and started again mid-stream.

use crate::common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use common::{assert_problem, detail, spawn_app_with, Key, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use stele_server::Config;

/// Longest wait for a condition; a failure bound, not a measurement.
const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "whsec_test_0123456789abcdef";

fn fast_streams(c: &mut Config) {
    c.streams.allow_http = true;
    c.streams.poll_ms = 20;
    c.streams.scan_ms = 20;
    c.streams.retry_base_ms = 10;
    c.streams.retry_cap_ms = 100;
    c.streams.request_timeout_ms = 500;
}

/// What the receiver does with the next requests.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Ok,
    Fail,
    Hang,
}

#[derive(Default)]
struct Received {
    /// The answers to give, in order, before answering 200 to everything.
    script: Vec<Answer>,
    /// Every request: its answer and its events' seqs.
    requests: Vec<(Answer, Vec<u64>)>,
    /// Events of acknowledged requests, by seq.
    events: BTreeMap<u64, Value>,
    bad_signatures: usize,
}

type Shared = Arc<Mutex<Received>>;

/// The receiver's side of `Stele-Signature` (Stripe's scheme), written here from the
/// README's description, not with Stele's code.
fn signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers.get("stele-signature").and_then(|v| v.to_str().ok()) else { return false };
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1.push(value.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let Ok(secs) = t.parse::<i64>() else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    if (now - secs).abs() > 300 {
        return false;
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mut signed = t.into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    let expected = hex(ring::hmac::sign(&key, &signed).as_ref());
    v1.contains(&expected)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let events: Vec<Value> = doc["events"].as_array().cloned().unwrap_or_default();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap_or(0)).collect();
    let answer = {
        let mut r = shared.lock().expect("lock");
        if !signature_ok(&headers, &body) {
            r.bad_signatures += 1;
        }
        let answer = if r.script.is_empty() { Answer::Ok } else { r.script.remove(0) };
        r.requests.push((answer, seqs.clone()));
        if answer == Answer::Ok {
            for e in events {
                r.events.insert(e["seq"].as_u64().unwrap_or(0), e);
            }
        }
        answer
    };
    match answer {
        Answer::Ok => AxumStatus::NO_CONTENT.into_response(),
        Answer::Fail => (AxumStatus::INTERNAL_SERVER_ERROR, "receiver-internal-detail: db at 10.0.0.7").into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            AxumStatus::NO_CONTENT.into_response()
        }
    }
}

/// A receiver on `port` (0: any); returns its address and the task serving it.
async fn receiver(shared: Shared, port: u16) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("receiver binds");
    let addr = listener.local_addr().expect("address");
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(shared);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

async fn admin_key(app: &TestApp, tenant: &str) -> Key {
    app.create_tenant(tenant).await;
    app.create_key(tenant, &["events:write", "events:read", "admin"]).await
}

async fn make_stream(app: &TestApp, key: &Key, body: Value) -> Value {
    let resp = app.post_json("/v1/streams", &key.secret, &body).send().await.expect("request sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str(&text).expect("stream JSON")
}

async fn ingest_actions(app: &TestApp, key: &Key, actions: &[String]) -> Vec<u64> {
    let events: Vec<Value> = actions.iter().map(|a| json!({"action": a})).collect();
    let receipts = app.ingest_ok(&key.secret, &json!({ "events": events })).await;
    receipts["events"].as_array().expect("receipts").iter().map(common::seq).collect()
}

async fn stream_status(app: &TestApp, key: &Key, id: &str) -> Value {
    let resp = app.get(&format!("/v1/streams/{id}"), &key.secret).send().await.expect("request sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("stream JSON")
}

/// Waits until `done` holds for the receiver's state, or fails after [`WAIT`].
async fn until(shared: &Shared, what: &str, done: impl Fn(&Received) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if done(&shared.lock().expect("lock")) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_webhook_gets_every_matching_event_in_order_through_failures_timeouts_and_a_receiver_restart() {
    let app = spawn_app_with(fast_streams).await;
    let key = admin_key(&app, "acme").await;
    let shared: Shared = Arc::new(Mutex::new(Received {
        script: vec![Answer::Fail, Answer::Fail, Answer::Hang],
        ..Received::default()
    }));
    let (addr, task) = receiver(shared.clone(), 0).await;
    let url = format!("http://{addr}/hook");
    let made = make_stream(
        &app,
        &key,
        json!({"name": "siem", "kind": "webhook", "url": url, "secret": SECRET, "filter": "action sw \"user.\"", "start": "beginning"}),
    )
    .await;
    let id = made["id"].as_str().expect("id").to_owned();
    assert!(!made.to_string().contains(SECRET), "the secret is never answered: {made}");
    assert_eq!(made["destination"]["url"], url);

    let mut expected = Vec::new();
    for round in 0..3 {
        let actions: Vec<String> = (0..12)
            .map(|i| if i % 3 == 0 { format!("billing.paid.{round}.{i}") } else { format!("user.seen.{round}.{i}") })
            .collect();
        let seqs = ingest_actions(&app, &key, &actions).await;
        expected.extend(seqs.iter().zip(&actions).filter(|(_, a)| a.starts_with("user.")).map(|(s, _)| *s));
    }
    until(&shared, "the first events after two failures and a timeout", |r| {
        r.requests.len() >= 4 && !r.events.is_empty()
    })
    .await;
    let status = stream_status(&app, &key, &id).await;
    let error = status["status"]["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("500") || error.contains("timed out"), "the status names the failure: {status}");
    assert!(!status.to_string().contains("receiver-internal-detail"), "never the receiver's body: {status}");

    // The receiver goes away mid-stream; events keep coming; it comes back on its port.
    until(&shared, "everything so far", |r| expected.iter().all(|s| r.events.contains_key(s))).await;
    task.abort();
    let _ = task.await;
    let mut more = Vec::new();
    for round in 3..5 {
        let actions: Vec<String> = (0..10).map(|i| format!("user.late.{round}.{i}")).collect();
        more.extend(ingest_actions(&app, &key, &actions).await);
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = stream_status(&app, &key, &id).await;
        if s["state"] == "failing" && s["status"]["lag_events"].as_u64() > Some(0) {
            assert!(s["status"]["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{s}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the stream never showed the dead receiver: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, task) = receiver(shared.clone(), addr.port()).await;
    expected.extend(more);
    until(&shared, "every matching event", |r| expected.iter().all(|s| r.events.contains_key(s))).await;

    {
        let r = shared.lock().expect("lock");
        assert_eq!(r.bad_signatures, 0, "every request is signed with the stream's secret");
        let got: Vec<u64> = r.events.keys().copied().collect();
        let mut want = expected.clone();
        want.sort_unstable();
        assert_eq!(got, want, "exactly the matching events (the billing ones are filtered out)");
        assert!(
            r.events.values().all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64)),
            "stored events, with hashes"
        );
        // In seq order: the acknowledged requests, concatenated, never go backwards.
        let acked: Vec<u64> =
            r.requests.iter().filter(|(a, _)| *a == Answer::Ok).flat_map(|(_, s)| s.clone()).collect();
        assert!(acked.windows(2).all(|w| w[0] < w[1]), "acknowledged batches in seq order, no repeats: {acked:?}");
        // Duplicates only across failures: a seq sent more than once was in an unacknowledged request.
        let failed: HashSet<u64> =
            r.requests.iter().filter(|(a, _)| *a != Answer::Ok).flat_map(|(_, s)| s.clone()).collect();
        assert!(!failed.is_empty(), "positive control: the failures were seen");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = stream_status(&app, &key, &id).await;
        if s["status"]["lag_events"] == 0 {
            assert_eq!(s["state"], "active", "{s}");
            assert_eq!(s["status"]["failures"], 0, "{s}");
            assert!(s["status"]["last_success"].is_string(), "{s}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the stream never caught up: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    app.shutdown().await;
}

#[tokio::test]
async fn a_stream_resumes_after_a_restart_and_pause_holds_delivery() {
    let app = spawn_app_with(fast_streams).await;
    let key = admin_key(&app, "acme").await;
    let shared: Shared = Arc::new(Mutex::new(Received::default()));
    let (addr, _task) = receiver(shared.clone(), 0).await;
    let made = make_stream(
        &app,
        &key,
        json!({"name": "siem", "kind": "webhook", "url": format!("http://{addr}/hook"), "secret": SECRET}),
    )
    .await;
    let id = made["id"].as_str().expect("id").to_owned();
    let (cursor, head) = (made["status"]["cursor"].as_u64(), made["status"]["head"].as_u64());
    assert_eq!(cursor.map(|c| c + 1), head, "starts now by default: its own creation event comes first");
    let first = ingest_actions(&app, &key, &["user.a".into(), "user.b".into()]).await;
    until(&shared, "the first events", |r| first.iter().all(|s| r.events.contains_key(s))).await;

    // Paused: nothing more arrives, the lag shows; resumed: the rest arrives.
    let resp = app.post_json(&format!("/v1/streams/{id}/pause"), &key.secret, &json!({})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let held = ingest_actions(&app, &key, &["user.c".into()]).await;
    let paused = stream_status(&app, &key, &id).await;
    assert_eq!(paused["state"], "paused");
    assert!(paused["status"]["lag_events"].as_u64() >= Some(1), "{paused}");
    // Give a running worker every chance to (wrongly) deliver: the scan and poll are 20 ms.
    let (before, mut ticks) = (shared.lock().expect("lock").requests.len(), 0);
    while ticks < 25 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ticks += 1;
    }
    {
        let r = shared.lock().expect("lock");
        assert!(!held.iter().any(|s| r.events.contains_key(s)), "nothing is delivered while paused");
        assert!(r.requests.len() <= before + 1, "at most a batch that was in flight when pausing");
    }

    // Restarted (same database): the stream resumes from its cursor once resumed.
    let app = app.restart_with(|_| {}).await;
    let resp = app.post_json(&format!("/v1/streams/{id}/resume"), &key.secret, &json!({})).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let after = ingest_actions(&app, &key, &["user.d".into()]).await;
    until(&shared, "held and new events", |r| held.iter().chain(&after).all(|s| r.events.contains_key(s))).await;
    let actions: Vec<String> = app
        .all_events("acme")
        .await
        .iter()
        .filter_map(|e| e["action"].as_str().filter(|a| a.starts_with("stele.stream.")).map(str::to_owned))
        .collect();
    assert_eq!(
        actions,
        ["stele.stream.resumed", "stele.stream.paused", "stele.stream.created"],
        "each change is an event"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn stream_requests_are_checked_and_a_refused_one_changes_nothing() {
    let app = spawn_app_with(|c| c.streams.allow_http = false).await;
    let key = admin_key(&app, "acme").await;
    let before = app.count("acme").await;
    let cases = [
        (json!({"kind": "webhook", "url": "https://x.example/h", "secret": SECRET}), "name"),
        (json!({"name": "a", "kind": "carrier-pigeon"}), "kind"),
        (json!({"name": "a", "kind": "webhook", "url": "http://x.example/h", "secret": SECRET}), "url"),
        (json!({"name": "a", "kind": "webhook", "url": "https://x.example/h", "secret": "short"}), "secret"),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://x.example/h", "secret": SECRET, "colour": 1}),
            "colour",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://x.example/h", "secret": SECRET, "filter": "action eq"}),
            "filter",
        ),
        (
            json!({"name": "a", "kind": "webhook", "url": "https://x.example/h", "secret": SECRET, "start": "yesterday"}),
            "start",
        ),
        (json!({"name": "a", "kind": "splunk_hec", "url": "https://splunk.example:8088"}), "token"),
        (
            json!({"name": "a", "kind": "s3", "endpoint": "https://s3.example", "access_key_id": "k", "secret_access_key": "s"}),
            "bucket",
        ),
    ];
    for (body, field) in cases {
        let resp = app.post_json("/v1/streams", &key.secret, &body).send().await.expect("sent");
        let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
        assert!(detail(&problem).contains(field), "{body} → {problem} names {field}");
    }
    let listed: Value = app.get("/v1/streams", &key.secret).send().await.expect("sent").json().await.expect("JSON");
    assert_eq!(listed["streams"], json!([]), "nothing of a refused request is stored");
    assert_eq!(app.count("acme").await, before, "and no event was written");

    // Positive control: the same https body is accepted, shown without its secret.
    let made = make_stream(
        &app,
        &key,
        json!({"name": "a", "kind": "webhook", "url": "https://x.example/h", "secret": SECRET}),
    )
    .await;
    let id = made["id"].as_str().expect("id");
    let shown = app.get("/v1/streams", &key.secret).send().await.expect("sent").text().await.expect("text");
    assert!(shown.contains(id) && !shown.contains(SECRET), "{shown}");

    // Who may: not a key without admin, not a filtered admin key, not another tenant.
    let reader = app.create_key("acme", &["events:read"]).await;
    let resp = app.get("/v1/streams", &reader.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = app
        .post_json(
            "/v1/keys",
            &key.secret,
            &json!({"name": "blue", "scopes": ["admin", "events:read"], "view_filter": "context.team eq \"blue\""}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let blue: Value = resp.json().await.expect("key");
    let resp = app.get("/v1/streams", blue["secret"].as_str().expect("secret")).send().await.expect("sent");
    let problem = assert_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(detail(&problem).contains("view filter"), "{problem}");
    let other = admin_key(&app, "globex").await;
    let resp = app.get(&format!("/v1/streams/{id}"), &other.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    let resp = app.op_get(&format!("/v1/streams/{id}"), "acme").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "the operator names the tenant");

    // Updates: rename and refilter; a bad filter changes nothing.
    let path = format!("/v1/streams/{id}");
    let resp = app.patch_json(&path, &key.secret, &json!({"filter": "action eq"})).send().await.expect("sent");
    assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    let resp = app
        .patch_json(&path, &key.secret, &json!({"name": "b", "filter": "status eq \"failure\""}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let changed: Value = resp.json().await.expect("JSON");
    assert_eq!(
        (changed["name"].as_str(), changed["filter"].as_str(), changed["version"].as_u64()),
        (Some("b"), Some("status eq \"failure\""), Some(2))
    );
    let resp = app.http.delete(app.url(&path)).bearer_auth(&key.secret).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app.get(&path, &key.secret).send().await.expect("sent");
    assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_dead_destination_holds_back_neither_ingest_nor_another_stream() {
    let app = spawn_app_with(fast_streams).await;
    let key = admin_key(&app, "acme").await;
    let hanging: Shared = Arc::new(Mutex::new(Received { script: vec![Answer::Hang; 1000], ..Received::default() }));
    let healthy: Shared = Arc::new(Mutex::new(Received::default()));
    let (dead_addr, _dead) = receiver(hanging.clone(), 0).await;
    let (ok_addr, _ok) = receiver(healthy.clone(), 0).await;
    let dead = make_stream(
        &app,
        &key,
        json!({"name": "dead", "kind": "webhook", "url": format!("http://{dead_addr}/hook"), "secret": SECRET}),
    )
    .await;
    make_stream(
        &app,
        &key,
        json!({"name": "ok", "kind": "webhook", "url": format!("http://{ok_addr}/hook"), "secret": SECRET}),
    )
    .await;
    let mut expected = Vec::new();
    for round in 0..5 {
        let actions: Vec<String> = (0..20).map(|i| format!("user.{round}.{i}")).collect();
        expected.extend(ingest_actions(&app, &key, &actions).await);
    }
    until(&healthy, "every event at the healthy destination", |r| expected.iter().all(|s| r.events.contains_key(s)))
        .await;
    let status = stream_status(&app, &key, dead["id"].as_str().expect("id")).await;
    assert!(hanging.lock().expect("lock").events.is_empty(), "positive control: the dead one acknowledged nothing");
    assert!(status["status"]["lag_events"].as_u64() >= Some(100), "the dead stream is behind: {status}");
    app.shutdown().await;
}
