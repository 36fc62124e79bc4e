//! The HTTP sinks against a receiver in the test (axum on 127.0.0.1:0): what arrives, field
//! by field, and how failures are classified — with details that never carry the answer's
//! body.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use stele_streams::{parse, sink, verify_signature, FailureKind, Kind, ParseOptions, Sink, SinkContext};

use crate::common::{batch, free_port};

const SECRET: &str = "whsec-test-0123456789abcdef";
/// What a failing receiver answers: a body that must never reach a delivery error.
const LEAK: &str = "internal: db password hunter2 at 10.1.2.3";

#[derive(Debug, Clone)]
struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

struct Receiver {
    requests: Mutex<Vec<Request>>,
    /// The status to answer; 0: never answer.
    status: AtomicU16,
    answer: &'static str,
}

async fn record(State(r): State<Arc<Receiver>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    r.requests.lock().expect("lock").push(Request { method, path: uri.path().into(), headers, body });
    match r.status.load(Ordering::SeqCst) {
        0 => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        302 => (StatusCode::FOUND, [("location", "http://127.0.0.1:9/elsewhere")], LEAK).into_response(),
        s => (StatusCode::from_u16(s).expect("status"), r.answer).into_response(),
    }
}

async fn receiver(status: u16, answer: &'static str) -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver { requests: Mutex::new(Vec::new()), status: AtomicU16::new(status), answer });
    let app = axum::Router::new().fallback(record).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, format!("http://{addr}"))
}

fn build(kind: Kind, body: Value, ctx: &SinkContext) -> Box<dyn Sink> {
    let Value::Object(fields) = body else { panic!("object") };
    let (destination, secrets) = parse(kind, &fields, ParseOptions { allow_http: true }).expect("parse");
    sink(&destination, &secrets, ctx).expect("sink")
}

fn only(r: &Receiver) -> Request {
    let requests = r.requests.lock().expect("lock");
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests[0].clone()
}

fn header<'a>(req: &'a Request, name: &str) -> &'a str {
    req.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("header {name} in {req:?}"))
}

#[tokio::test]
async fn webhook_batches_arrive_signed_with_the_stored_events() {
    let (r, base) = receiver(204, "").await;
    let s =
        build(Kind::Webhook, json!({"url": format!("{base}/hooks/stele"), "secret": SECRET}), &SinkContext::default());
    let b = batch("acme", 1..=3);
    s.deliver(&b).await.expect("delivered");

    let req = only(&r);
    assert_eq!((&req.method, req.path.as_str()), (&Method::POST, "/hooks/stele"));
    assert_eq!(header(&req, "content-type"), "application/json");
    assert_eq!(header(&req, "stele-batch"), "1-3");
    let body = std::str::from_utf8(&req.body).expect("utf-8");
    let expected: Vec<&str> = b.items.iter().map(|i| i.json.as_str()).collect();
    assert_eq!(body, format!("{{\"events\":[{}]}}", expected.join(",")), "stored JSON verbatim");
    // The signature checks out with the secret, now — and not with another secret, another
    // body, or much later.
    let sig = header(&req, "stele-signature");
    let tol = Duration::from_secs(300);
    let now = SystemTime::now();
    assert!(verify_signature(SECRET, sig, &req.body, now, tol));
    assert!(!verify_signature("whsec-test-another-secret-0", sig, &req.body, now, tol));
    assert!(!verify_signature(SECRET, sig, body.replace("u-1", "u-9").as_bytes(), now, tol));
    assert!(!verify_signature(SECRET, sig, &req.body, now + Duration::from_secs(3600), tol));
    assert!(header(&req, "user-agent").starts_with("stele/"));
    assert!(!s.policy().needs_proofs);
}

#[tokio::test]
async fn splunk_hec_gets_one_envelope_per_event() {
    let (r, base) = receiver(200, r#"{"text":"Success","code":0}"#).await;
    let s = build(
        Kind::SplunkHec,
        json!({"url": base, "token": "hec-token-1234", "index": "audit", "sourcetype": "stele:test"}),
        &SinkContext::default(),
    );
    let b = batch("acme", 5..=6);
    s.deliver(&b).await.expect("delivered");

    let req = only(&r);
    assert_eq!((&req.method, req.path.as_str()), (&Method::POST, "/services/collector/event"));
    assert_eq!(header(&req, "authorization"), "Splunk hec-token-1234");
    let body = std::str::from_utf8(&req.body).expect("utf-8");
    let lines: Vec<Value> = body.split('\n').map(|l| serde_json::from_str(l).expect("envelope")).collect();
    assert_eq!(lines.len(), 2);
    for (line, item) in lines.iter().zip(&b.items) {
        let object = line.as_object().expect("object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["event", "host", "index", "source", "sourcetype", "time"]);
        assert_eq!(line["host"], "acme");
        assert_eq!(line["source"], "stele");
        assert_eq!(line["sourcetype"], "stele:test");
        assert_eq!(line["index"], "audit");
        // 2024-05-01T12:00:05.250Z
        let expected_time = 1_714_564_800.25 + (item.seq % 60) as f64;
        assert_eq!(line["time"].as_f64(), Some(expected_time));
        assert_eq!(line["event"], serde_json::from_str::<Value>(&item.json).expect("event"));
    }
}

#[tokio::test]
async fn datadog_gets_one_log_per_event() {
    let (r, base) = receiver(202, "{}").await;
    let s = build(
        Kind::Datadog,
        json!({"url": base, "api_key": "dd-key-1234", "ddtags": "env:test"}),
        &SinkContext::default(),
    );
    assert_eq!(s.policy().max_events, 1000);
    let b = batch("acme", 1..=2);
    s.deliver(&b).await.expect("delivered");

    let req = only(&r);
    assert_eq!((&req.method, req.path.as_str()), (&Method::POST, "/api/v2/logs"));
    assert_eq!(header(&req, "dd-api-key"), "dd-key-1234");
    assert_eq!(header(&req, "content-type"), "application/json");
    let logs: Vec<Value> = serde_json::from_slice(&req.body).expect("array");
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["ddsource"], "stele");
    assert_eq!(logs[0]["service"], "stele");
    assert_eq!(logs[0]["hostname"], "acme");
    assert_eq!(logs[0]["ddtags"], "env:test,tenant:acme");
    assert_eq!(logs[0]["message"], "user.login by u-1 (success)");
    assert_eq!(logs[1]["message"], "user.login by u-2 (failure)");
    // The test events are from 2024, older than Datadog's 18 hours: dated on arrival.
    assert_eq!(logs[0].get("date"), None);
    assert_eq!(logs[1]["stele"], serde_json::from_str::<Value>(&b.items[1].json).expect("event"));
}

/// Delivers one batch to a webhook at `url` and returns the error.
async fn failure(url: &str, ctx: &SinkContext) -> stele_streams::DeliveryError {
    let s = build(Kind::Webhook, json!({"url": url, "secret": SECRET}), ctx);
    let err = s.deliver(&batch("acme", 1..=1)).await.expect_err("fails");
    assert!(!err.detail.contains("hunter2") && !err.detail.contains("10.1.2.3"), "{err:?}");
    assert!(!err.detail.contains(SECRET), "{err:?}");
    err
}

#[tokio::test]
async fn refusals_are_classified_by_status_without_the_body() {
    let ctx = SinkContext::default();
    for status in [500u16, 503, 401, 404] {
        let (_, base) = receiver(status, LEAK).await;
        let err = failure(&base, &ctx).await;
        assert_eq!(err.kind, FailureKind::Status(status));
        assert_eq!(err.detail, format!("answered HTTP {status}"));
        assert_eq!(err.kind.retryable(), status >= 500);
        // The same for the other HTTP sinks.
        let hec = build(Kind::SplunkHec, json!({"url": base, "token": "t"}), &ctx);
        assert_eq!(hec.deliver(&batch("acme", 1..=1)).await.map_err(|e| e.detail), Err(err.detail.clone()));
        let dd = build(Kind::Datadog, json!({"url": base, "api_key": "k"}), &ctx);
        assert_eq!(dd.deliver(&batch("acme", 1..=1)).await.map_err(|e| e.detail), Err(err.detail));
    }
    // Redirects are not followed: a 302 is a refusal, and its target never sees the batch.
    let (r, base) = receiver(302, LEAK).await;
    let err = failure(&base, &ctx).await;
    assert_eq!(err.kind, FailureKind::Status(302));
    assert_eq!(r.requests.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let (r, base) = receiver(0, "").await;
    let ctx = SinkContext { timeout: Duration::from_millis(300), ..SinkContext::default() };
    let started = std::time::Instant::now();
    let err = failure(&base, &ctx).await;
    assert_eq!(err.kind, FailureKind::Timeout);
    assert_eq!(err.detail, "timed out after 300 ms");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r.requests.lock().expect("lock").len(), 1, "the request did arrive");
}

#[tokio::test]
async fn transport_failures_name_their_kind_only() {
    let ctx = SinkContext { timeout: Duration::from_secs(5), ..SinkContext::default() };
    // Nothing listens on a port that was free a moment ago.
    let err = failure(&format!("http://127.0.0.1:{}/", free_port()), &ctx).await;
    assert_eq!((err.kind, err.detail.as_str()), (FailureKind::ConnectionRefused, "connection refused"));
    // TLS to a plain HTTP server: the handshake fails.
    let (_, base) = receiver(200, "").await;
    let err = failure(&base.replace("http://", "https://"), &ctx).await;
    assert_eq!((err.kind, err.detail.as_str()), (FailureKind::Tls, "TLS handshake failed"));
    // `.invalid` never resolves (RFC 6761).
    let err = failure("https://stele-stream-test.invalid/", &ctx).await;
    assert!(matches!(err.kind, FailureKind::Dns | FailureKind::Timeout), "{err:?}");
    if err.kind == FailureKind::Dns {
        assert_eq!(err.detail, "DNS lookup failed");
    }
}

#[tokio::test]
async fn an_empty_batch_sends_nothing() {
    let (r, base) = receiver(500, LEAK).await;
    let ctx = SinkContext::default();
    for s in [
        build(Kind::Webhook, json!({"url": base, "secret": SECRET}), &ctx),
        build(Kind::SplunkHec, json!({"url": base, "token": "t"}), &ctx),
        build(Kind::Datadog, json!({"url": base, "api_key": "k"}), &ctx),
    ] {
        let empty = stele_streams::Batch { tenant: "acme".into(), items: Vec::new(), head: None };
        s.deliver(&empty).await.expect("nothing to deliver");
    }
    assert!(r.requests.lock().expect("lock").is_empty());
}
