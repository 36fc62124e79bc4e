//! `POST /v1/events` over HTTP: every field round-trips, batches are atomic, retries are
//! idempotent, and every kind of bad input gets its 4xx and stores nothing.

use crate::common;

use common::{assert_problem, detail, id, seq, spawn_app, TestApp, OPERATOR};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `2026-11-22T10:15:00.123456Z`: UTC, six fractional digits.
fn is_normalised_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_round_trips() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let sent = json!({
        "time": "2026-11-22T11:15:00.5+01:00",
        "action": "user.created",
        "status": "failure",
        "message": "Created user bo@acme.io",
        "reason": "ticket SUP-12",
        "actor": {"type": "user", "id": "u_1", "name": "Ana", "email": "ana@acme.io",
                  "ip": "2001:db8::1", "user_agent": "Mozilla/5.0 (X11)"},
        "origin": "api",
        "targets": [{"type": "User", "id": "u_7", "name": "Bo", "email": "bo@acme.io"},
                    {"type": "Group", "id": "g_2", "name": "Admins"}],
        "context": {"product_id": "p_1", "environment_id": "env-prod"},
        "request": {"id": "req_9", "method": "post", "path": "/scim/v2/Users",
                    "query": {"filter": "userName eq \"bo\"", "token": "abc123"},
                    "status_code": 201,
                    "body": {"userName": "bo", "password": "hunter2", "emails": [{"value": "bo@acme.io"}]},
                    "response_body": {"id": "u_7", "meta": {"client_secret": "s3cr3t", "version": 1}}},
        "changes": {"before": {"role": "member"}, "after": {"role": "admin", "apiKey": "k-1"}},
        "correlation_id": "corr-42",
        "metadata": {"plan": "pro", "nested": {"list": [1, 2.5, {"deep": true}], "none": null}}
    });
    let resp = app.ingest(&key.secret, &sent).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(ct.as_deref(), Some("application/json"));
    let receipt: Value = resp.json().await.expect("receipt");
    assert_eq!(receipt.as_object().map(|o| o.len()), Some(3), "receipt is {{id, seq, time}}: {receipt}");
    assert_eq!(receipt["time"], "2026-11-22T10:15:00.500000Z");
    assert_eq!(location.as_deref(), Some(format!("/v1/events/{}", id(&receipt)).as_str()));

    let got: Value = app
        .get(&format!("/v1/events/{}", id(&receipt)), &key.secret)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("event JSON");
    // Field by field first, for readable failures.
    assert_eq!(got["id"], receipt["id"]);
    assert_eq!(got["seq"], receipt["seq"]);
    assert_eq!(got["time"], "2026-11-22T10:15:00.500000Z");
    let received_at = got["received_at"].as_str().expect("received_at present");
    assert!(is_normalised_time(received_at), "received_at {received_at}");
    assert_eq!(got["action"], "user.created");
    assert_eq!(got["status"], "failure");
    assert_eq!(got["message"], sent["message"]);
    assert_eq!(got["reason"], sent["reason"]);
    assert_eq!(got["actor"], sent["actor"]);
    assert_eq!(got["origin"], "api");
    assert_eq!(got["targets"], sent["targets"]);
    assert_eq!(got["context"], sent["context"]);
    assert_eq!(got["request"]["method"], "POST", "method upper-cased");
    assert_eq!(got["request"]["id"], "req_9");
    assert_eq!(got["request"]["path"], "/scim/v2/Users");
    assert_eq!(got["request"]["status_code"], 201);
    assert_eq!(got["request"]["query"], json!({"filter": "userName eq \"bo\"", "token": "[REDACTED]"}));
    assert_eq!(
        got["request"]["body"],
        json!({"userName": "bo", "password": "[REDACTED]", "emails": [{"value": "bo@acme.io"}]})
    );
    assert_eq!(
        got["request"]["response_body"],
        json!({"id": "u_7", "meta": {"client_secret": "[REDACTED]", "version": 1}})
    );
    assert_eq!(
        got["changes"],
        json!({"before": {"role": "member"}, "after": {"role": "admin", "apiKey": "[REDACTED]"}})
    );
    assert_eq!(got["correlation_id"], "corr-42");
    assert_eq!(got["metadata"], sent["metadata"]);
    assert_eq!(got["truncated"], false);
    // Then the whole object: nothing more, nothing less (a leaf `hash` may be added later).
    let mut expected = sent.clone();
    let obj = expected.as_object_mut().expect("object");
    obj.insert("id".into(), receipt["id"].clone());
    obj.insert("seq".into(), receipt["seq"].clone());
    obj.insert("time".into(), json!("2026-11-22T10:15:00.500000Z"));
    obj.insert("received_at".into(), json!(received_at));
    obj.insert("truncated".into(), json!(false));
    obj.insert("request".into(), got["request"].clone());
    obj.insert("changes".into(), got["changes"].clone());
    let mut got_cmp = got.clone();
    got_cmp.as_object_mut().expect("object").remove("hash");
    assert_eq!(got_cmp, expected);
    for secret in ["hunter2", "abc123", "s3cr3t", "k-1"] {
        assert!(!got.to_string().contains(secret), "secret {secret} was stored");
    }

    // The list serves the same event, identical.
    let all = app.all_events("acme").await;
    let listed = all.iter().find(|e| e["id"] == receipt["id"]).expect("listed");
    assert_eq!(listed, &got);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_time_status_and_minimal_event() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let receipt = app.ingest_ok(&key.secret, &json!({"action": "a.b"})).await;
    let got: Value = app
        .get(&format!("/v1/events/{}", id(&receipt)), &key.secret)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(got["status"], "success", "status defaults to success");
    assert_eq!(got["time"], got["received_at"], "time defaults to received_at");
    assert_eq!(got["time"], receipt["time"]);
    assert_eq!(got["truncated"], false);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_is_atomic_and_errors_name_the_event() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let before = app.count("acme").await;
    let mut events: Vec<Value> = (0..5).map(|i| json!({"action": "batch.item", "message": format!("m{i}")})).collect();
    events[3] = json!({"action": "batch.item", "actor": {"ip": "not-an-ip"}});
    let resp = app.ingest(&key.secret, &json!({ "events": events })).await;
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-event").await;
    assert!(detail(&problem).contains("events[3].actor.ip"), "{problem}");
    assert_eq!(problem["errors"][0]["field"], "events[3].actor.ip");
    assert_eq!(problem["errors"][0]["index"], 3);
    assert_eq!(app.count("acme").await, before, "nothing of the rejected batch is stored");

    // A valid batch answers receipts in order with consecutive seqs.
    events[3] = json!({"action": "batch.item", "message": "m3"});
    let resp = app.ingest(&key.secret, &json!({ "events": events })).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().get(LOCATION).is_none(), "no Location for a batch");
    let receipts: Value = resp.json().await.expect("receipts");
    let receipts = receipts["events"].as_array().expect("events").clone();
    assert_eq!(receipts.len(), 5);
    let first = seq(&receipts[0]);
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(seq(r), first + i as u64);
        let got: Value = app
            .get(&format!("/v1/events/{}", id(r)), &key.secret)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert_eq!(got["message"], format!("m{i}"));
        assert_eq!(got["seq"], r["seq"]);
    }
    assert_eq!(app.count("acme").await, before + 5);
    app.shutdown().await;
}

async fn post_idem(app: &TestApp, secret: &str, key: &str, body: &Value) -> reqwest::Response {
    app.post_json("/v1/events", secret, body).header("Idempotency-Key", key).send().await.expect("sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let before = app.count("acme").await;

    // One event.
    let body = json!({"action": "invoice.paid", "metadata": {"n": 1}});
    let first = post_idem(&app, &key.secret, "idem-1", &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_loc = first.headers().get(LOCATION).cloned();
    let first: Value = first.json().await.expect("receipt");
    let second = post_idem(&app, &key.secret, "idem-1", &body).await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(second.headers().get(LOCATION).cloned(), first_loc);
    let second: Value = second.json().await.expect("receipt");
    assert_eq!(first, second, "a replay answers the first receipt");
    assert_eq!(app.count("acme").await, before + 1, "stored once");

    // Same key, different body: 422, nothing stored.
    let resp = post_idem(&app, &key.secret, "idem-1", &json!({"action": "invoice.paid", "metadata": {"n": 2}})).await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused").await;
    assert_eq!(app.count("acme").await, before + 1);

    // A batch.
    let batch = json!({"events": [{"action": "b.one"}, {"action": "b.two"}, {"action": "b.three"}]});
    let r1 = post_idem(&app, &key.secret, "idem-batch", &batch).await;
    assert_eq!(r1.status(), StatusCode::CREATED);
    let r1: Value = r1.json().await.expect("receipts");
    let r2 = post_idem(&app, &key.secret, "idem-batch", &batch).await;
    assert_eq!(r2.status(), StatusCode::CREATED);
    assert_eq!(r2.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let r2: Value = r2.json().await.expect("receipts");
    assert_eq!(r1, r2);
    assert_eq!(r1["events"].as_array().map(Vec::len), Some(3));
    assert_eq!(app.count("acme").await, before + 4);
    let resp = post_idem(&app, &key.secret, "idem-batch", &json!({"events": [{"action": "b.one"}]})).await;
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused").await;
    assert_eq!(app.count("acme").await, before + 4);

    // Keys are per tenant: another tenant's identical key and body is a new request.
    let other = app.tenant_with_key("other").await;
    let other_before = app.count("other").await;
    let r3 = post_idem(&app, &other.secret, "idem-1", &body).await;
    assert_eq!(r3.status(), StatusCode::CREATED);
    assert!(r3.headers().get("idempotent-replayed").is_none());
    let r3: Value = r3.json().await.expect("receipt");
    assert_ne!(r3["id"], first["id"]);
    assert_eq!(app.count("other").await, other_before + 1);

    // A malformed Idempotency-Key header is refused.
    let resp = post_idem(&app, &key.secret, "has space", &body).await;
    let problem = assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-header").await;
    assert!(detail(&problem).contains("Idempotency-Key"));
    assert_eq!(app.count("acme").await, before + 4);
    app.shutdown().await;
}

/// Sends a raw body and checks the problem; then checks nothing was stored.
async fn rejected(
    app: &TestApp,
    secret: &str,
    ct: Option<&str>,
    body: Vec<u8>,
    status: StatusCode,
    slug: &str,
    names: &str,
) -> Value {
    let before = app.count("acme").await;
    let resp = app.post_raw("/v1/events", secret, ct, body).send().await.expect("sent");
    let problem = assert_problem(resp, status, slug).await;
    assert!(detail(&problem).contains(names), "detail should name {names:?}: {problem}");
    assert_eq!(app.count("acme").await, before, "a rejected request stores nothing");
    problem
}

async fn rejected_json(app: &TestApp, secret: &str, body: Value, slug: &str, field: &str) -> Value {
    let problem = rejected(
        app,
        secret,
        Some("application/json"),
        body.to_string().into_bytes(),
        StatusCode::BAD_REQUEST,
        slug,
        field,
    )
    .await;
    if !field.is_empty() {
        assert_eq!(problem["errors"][0]["field"], field, "errors[0].field: {problem}");
    }
    problem
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let s = key.secret.as_str();
    let json_ct = Some("application/json");

    // Not JSON / not UTF-8.
    rejected(&app, s, json_ct, b"{\"action\": ".to_vec(), StatusCode::BAD_REQUEST, "malformed-json", "JSON").await;
    rejected(&app, s, json_ct, b"{\"action\": \"a\",}".to_vec(), StatusCode::BAD_REQUEST, "malformed-json", "JSON")
        .await;
    let mut not_utf8 = b"{\"action\": \"caf".to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe]);
    not_utf8.extend_from_slice(b"\"}");
    rejected(&app, s, json_ct, not_utf8, StatusCode::BAD_REQUEST, "malformed-json", "JSON").await;
    rejected(&app, s, json_ct, b"[{\"action\":\"a\"}]".to_vec(), StatusCode::BAD_REQUEST, "malformed-json", "object")
        .await;

    // Wrong types.
    rejected_json(&app, s, json!({"action": 5}), "invalid-event", "action").await;
    rejected_json(&app, s, json!({"action": "a", "targets": "x"}), "invalid-event", "targets").await;
    rejected_json(
        &app,
        s,
        json!({"action": "a", "request": {"status_code": "201"}}),
        "invalid-event",
        "request.status_code",
    )
    .await;
    rejected_json(&app, s, json!({"action": "a", "context": {"k": 1}}), "invalid-event", "context.k").await;
    rejected_json(&app, s, json!({"action": "a", "time": "yesterday"}), "invalid-event", "time").await;
    // Unknown and server-assigned fields.
    let p = rejected_json(&app, s, json!({"action": "a", "colour": "red"}), "invalid-event", "colour").await;
    assert!(detail(&p).contains("unknown"), "{p}");
    rejected_json(&app, s, json!({"action": "a", "actor": {"nickname": "x"}}), "invalid-event", "actor.nickname").await;
    for field in ["seq", "id", "received_at", "truncated", "hash"] {
        let mut body = json!({"action": "a"});
        body[field] = json!(1);
        let p = rejected_json(&app, s, body, "invalid-event", field).await;
        assert!(detail(&p).contains("assigned by the server"), "{p}");
    }
    // Missing, empty, too long.
    let p = rejected_json(&app, s, json!({"message": "no action"}), "invalid-event", "action").await;
    assert!(detail(&p).contains("required"), "{p}");
    rejected_json(&app, s, json!({"action": ""}), "invalid-event", "action").await;
    rejected_json(&app, s, json!({"action": "   "}), "invalid-event", "action").await;
    rejected_json(&app, s, json!({"action": "a".repeat(1025)}), "invalid-event", "action").await;
    rejected_json(&app, s, json!({"action": "a", "actor": {"id": "x".repeat(1025)}}), "invalid-event", "actor.id")
        .await;
    rejected_json(
        &app,
        s,
        json!({"action": "a", "targets": [{"id": "t"}, {"name": "n".repeat(1025)}]}),
        "invalid-event",
        "targets[1].name",
    )
    .await;
    // Bad values.
    rejected_json(&app, s, json!({"action": "a", "actor": {"ip": "999.1.1.1"}}), "invalid-event", "actor.ip").await;
    rejected_json(&app, s, json!({"action": "a", "status": "done"}), "invalid-event", "status").await;
    rejected_json(&app, s, json!({"action": "a", "origin": "moon"}), "invalid-event", "origin").await;
    rejected_json(
        &app,
        s,
        json!({"action": "a", "request": {"status_code": 99}}),
        "invalid-event",
        "request.status_code",
    )
    .await;
    rejected_json(&app, s, json!({"action": "a", "request": {"method": "GE T"}}), "invalid-event", "request.method")
        .await;
    // Batches.
    rejected_json(&app, s, json!({"events": []}), "invalid-batch", "events").await;
    rejected_json(&app, s, json!({"events": "x"}), "invalid-event", "events").await;
    rejected_json(&app, s, json!({"events": [{"action": "a"}], "extra": 1}), "invalid-event", "extra").await;
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"action": "a"})).collect();
    let p = rejected_json(&app, s, json!({ "events": too_many }), "invalid-batch", "events").await;
    assert!(detail(&p).contains("1000"), "{p}");
    let p = rejected_json(
        &app,
        s,
        json!({"events": [{"action": "a"}, {"action": 5}]}),
        "invalid-event",
        "events[1].action",
    )
    .await;
    assert_eq!(p["errors"][0]["index"], 1);

    // Media type.
    let body = br#"{"action":"a"}"#.to_vec();
    rejected(
        &app,
        s,
        Some("text/plain"),
        body.clone(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "text/plain",
    )
    .await;
    rejected(&app, s, None, body.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Content-Type")
        .await;
    // A JSON suffix type and parameters are fine.
    let resp = app
        .post_raw("/v1/events", s, Some("application/json; charset=utf-8"), body.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Size limits.
    // (Bodies over 8 MiB: see `body_over_the_limit_is_413`.)
    let huge: serde_json::Map<String, Value> = (0..100).map(|i| (format!("k{i}"), json!("y".repeat(1000)))).collect();
    let p = rejected_json(&app, s, json!({"action": "a", "metadata": huge}), "event-too-large", "").await;
    assert!(detail(&p).contains("65536"), "{p}");
    let p = rejected_json(
        &app,
        s,
        json!({"events": [{"action": "ok"}, {"action": "a", "metadata": huge}]}),
        "event-too-large",
        "events[1]",
    )
    .await;
    assert_eq!(p["errors"][0]["index"], 1);

    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_truncated_not_refused() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let big = "z".repeat(200 * 1024);
    let receipt = app
        .ingest_ok(
            &key.secret,
            &json!({"action": "upload", "request": {"method": "put", "body": {"token": "tok-1", "blob": big}}}),
        )
        .await;
    let resp = app.get(&format!("/v1/events/{}", id(&receipt)), &key.secret).send().await.expect("sent");
    let text = resp.text().await.expect("body");
    assert!(text.len() <= 64 * 1024 + 64, "served event is {} bytes", text.len());
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(got["truncated"], true);
    assert_eq!(got["request"]["method"], "PUT");
    let body = got["request"]["body"].as_str().expect("a cut body becomes a preview string");
    assert!(body.ends_with('…'), "{}", &body[body.len().saturating_sub(20)..]);
    assert!(!text.contains("tok-1"), "the secret survived truncation");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_to_unknown_tenant_is_404() {
    let app = spawn_app().await;
    let resp =
        app.post_json("/v1/events", OPERATOR, &json!({"action": "a"})).header("x-stele-tenant", "ghost").send().await;
    let resp = resp.expect("sent");
    let p = assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
    assert!(detail(&p).contains("ghost"), "{p}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_idempotency_key_store_once() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let before = app.count("acme").await;
    let body = json!({"events": [{"action": "pay.one"}, {"action": "pay.two"}]});
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (url, secret, body) = (app.url("/v1/events"), key.secret.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(secret)
                .header("Idempotency-Key", "same-retry")
                .json(&body)
                .send()
                .await
                .expect("sent");
            assert_eq!(resp.status(), StatusCode::CREATED);
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            (replayed, resp.json::<Value>().await.expect("receipts"))
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    assert_eq!(answers.iter().filter(|(replayed, _)| !replayed).count(), 1, "exactly one original answer");
    assert!(answers.iter().all(|(_, r)| *r == answers[0].1), "every retry gets the same receipts");
    assert_eq!(app.count("acme").await, before + 2, "stored once");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_does_not_consume_its_idempotency_key() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let bad = app
        .post_json("/v1/events", &key.secret, &json!({"action": ""}))
        .header("Idempotency-Key", "k-1")
        .send()
        .await
        .expect("sent");
    assert_problem(bad, StatusCode::BAD_REQUEST, "invalid-event").await;
    let good = app
        .post_json("/v1/events", &key.secret, &json!({"action": "fixed"}))
        .header("Idempotency-Key", "k-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(good.status(), StatusCode::CREATED);
    assert!(good.headers().get("idempotent-replayed").is_none());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_a_clear_400() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let before = app.count("acme").await;
    let depth = 5000;
    let body = format!("{{\"action\":\"a\",\"metadata\":{}1{}}}", "{\"x\":".repeat(depth), "}".repeat(depth));
    let resp = app
        .post_raw("/v1/events", &key.secret, Some("application/json"), body.into_bytes())
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    common::assert_no_internals(&text);
    assert_eq!(app.count("acme").await, before);
    app.shutdown().await;
}

/// A body over 8 MiB, declared by Content-Length or sent chunked: 413 problem, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let key = app.tenant_with_key("acme").await;
    let before = app.count("acme").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut json = br#"{"action":"a","metadata":{"x":""#.to_vec();
    json.resize(9 * 1024 * 1024, b'x');
    json.extend_from_slice(b"\"}}");
    let head = |framing: String| {
        format!(
            "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n",
            key.secret
        )
    };
    let mut chunked = Vec::new();
    for part in json.chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let cases = [
        (head(format!("Content-Length: {}", json.len())), json.clone()),
        (head("Transfer-Encoding: chunked".to_owned()), chunked),
    ];
    for (head, body) in cases {
        let (status, ct, text) = common::raw_exchange(&addr, head, body).await;
        assert_eq!(status, 413, "{text}");
        assert_eq!(ct, "application/problem+json");
        let p: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(p["type"], "urn:stele:problem:payload-too-large");
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("8388608")), "{p}");
        assert_eq!(app.count("acme").await, before);
    }
    app.shutdown().await;
}
